// Keras model files written: a `.keras` archive, a Keras 3 `.weights.h5` or a legacy `.h5`, laid
// out as a Keras file read before (the template: format/keras.h) with new values for its
// weights. The template gives everything but the values: the HDF5 object tree with its
// attributes, and for an archive config.json and metadata.json. An output holds every weight of
// its template, except that it may leave out the whole optimizer state (a model for serving:
// the optimizer's group goes, and so does the compile configuration, so that Keras loads the
// model uncompiled).
//
// The values are written first, by the caller, after `Output::head` reserved bytes (so that a
// checkpoint writer streams them as it streams a data file); FinishOutput then adds the HDF5
// structures after them and fills in the head: the HDF5 superblock, preceded in an archive by
// the weights member's zip header, whose CRC-32 it computes over the member. An archive's other
// members and its directory follow.
//
// Thread-safety: pure functions over their arguments and the file they finish.

#ifndef TFCKPT_FORMAT_KERAS_WRITER_H_
#define TFCKPT_FORMAT_KERAS_WRITER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "format/hdf5.h"
#include "format/keras.h"
#include "tfckpt/status.h"
#include "tfckpt/tensor.h"

namespace tfckpt::keras {

// What an output path asks for by its name: ".keras", ".weights.h5", another ".h5" or ".hdf5"
// (legacy), ".weights.json" (Keras 3's sharded weights: the map and `.weights.h5` shards beside
// it), or kNone.
enum class OutputKind { kNone, kArchive, kWeightsH5, kLegacyH5, kSharded };
OutputKind OutputKindOf(std::string_view path);
// "a .keras archive", "a Keras 3 .weights.h5 file", "a legacy Keras .h5 file", "sharded Keras 3
// weights (...)".
std::string_view OutputKindName(OutputKind kind);

struct OutputTensor {
  std::string name;
  DType dtype = DType::kInvalid;
  Shape shape;
  int64_t bytes = 0;
};

// A checked Keras output: what it holds and how its bytes are laid out.
struct Output {
  OutputKind kind = OutputKind::kNone;
  hdf5::Node tree;                                // the template's, less what is left out
  std::map<std::string, std::string> dataset_of;  // tensor name -> dataset path in `tree`
  std::string config, metadata;                   // an archive's config.json and metadata.json
  std::vector<Asset> assets;                      // an archive's other members, copied
  int64_t head = 0;                               // bytes reserved before the values
  int64_t values = 0;                             // bytes of all values
  int64_t metadata_size = 0;                      // bytes of HDF5 structures after the values
  bool optimizer_left_out = false;
};

// Checks that an output at `path` can hold `tensors` laid out as `tmpl` (named `label` in
// messages) and lays it out; every problem found is listed in the error.
Status PlanOutput(const File& tmpl, const std::string& label, const std::string& path,
                  const std::vector<OutputTensor>& tensors, Output* out);

// The HDF5 superblock and structures of the output whose tensor `name` lies at `offsets[name]`
// (every tensor of the output), in the file FinishOutput completes.
Status BuildHdf5(const Output& out, const std::map<std::string, int64_t>& offsets,
                 std::string* superblock, std::string* metadata);

// The name of shard `index` of the sharded output at `path`, as Keras names them:
// "m.weights.json" -> "m_00000.weights.h5".
std::string ShardName(std::string_view path, int index);
// The index of the shard named `name` (a file name) of the sharded output at `path`, -1 when it
// is none of its names.
int ShardIndex(std::string_view path, std::string_view name);
// Splits the sharded output `whole` (kSharded) where its values were written: tensor `name` in
// data file `shard_of[name]`, of `num_shards`. Each shard is a `.weights.h5` output holding its
// tensors and the groups above them; the first also holds every other group and attribute of
// the template, as Keras writes them. `map` is the `.weights.json` that names the shards
// (ShardName of `path`).
Status SplitShards(const Output& whole, std::string_view path,
                   const std::map<std::string, int>& shard_of, int num_shards,
                   std::vector<Output>* shards, std::string* map);
// Completes the output in `file`, which holds `out.head` reserved bytes followed by the values,
// tensor `name` at `offsets[name]` (every tensor of the output). fsyncs it when `sync`. An
// archive's weights member needs the CRC-32 of the values: given as `values_crc32` (computed
// as they were written), else read back from the file.
Status FinishOutput(const Output& out, const std::string& file,
                    const std::map<std::string, int64_t>& offsets, bool sync,
                    std::optional<uint32_t> values_crc32 = std::nullopt);

}  // namespace tfckpt::keras

#endif  // TFCKPT_FORMAT_KERAS_WRITER_H_
