// Keras model files read as checkpoints: a Keras 3 `.keras` archive (a zip of metadata.json,
// config.json and model.weights.h5) or the directory it unzips to, a Keras 3 `.weights.h5`, and
// the legacy HDF5 files of Keras 1 and 2, tf.keras and Keras 3's legacy writer (`model.h5`,
// `save_weights("w.h5")`). Files are recognised by their content, not by their extension.
//
// Each weight becomes a variable named as Keras 3 names it (`variable.path`), the layer's name
// first: the names of the objects that hold it (the `name` attribute Keras writes on each `vars`
// group, or the layer names of config.json) joined with the variable's own name (`kernel`,
// `moving_mean`), which the layer's class determines. Where the class is not one whose variable
// order is known, a variable is named by position, `LAYER/vars/N`. The optimizer's variables
// are `OPTIMIZER/iteration`, `OPTIMIZER/learning_rate` and, where config.json gives the layer
// order, `OPTIMIZER/<variable with "/" as "_">_<slot>` (`adam/enc1_kernel_momentum`), else
// `OPTIMIZER/vars/N`. A legacy file names its weights itself ("d1/kernel:0"): the name without
// ":0", starting at the layer's name. The scheme is the README's "Keras files" section.
//
// Values are located, not read: a contiguous little-endian dataset is a range of `weights`, a
// source over the HDF5 bytes (inside the archive when it is stored uncompressed), which callers
// view in its mapping without a copy.
//
// Thread-safety: Open is a pure function; a File is a value.

#ifndef TFCKPT_FORMAT_KERAS_H_
#define TFCKPT_FORMAT_KERAS_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "format/hdf5.h"
#include "format/zip.h"
#include "io/byte_source.h"
#include "tfckpt/status.h"
#include "tfckpt/tensor.h"

namespace tfckpt::keras {

struct Variable {
  std::string name;          // as described above
  std::string dataset_path;  // in the HDF5 file: layers/dense/vars/0
  std::string object_path;   // Keras' object path: layers/dense
  DType dtype = DType::kInvalid;
  Shape shape;
  // Where the values lie in `File::files[file]` (offset -1: in `compact`, a few bytes kept in
  // memory).
  int file = 0;
  int64_t offset = -1;
  int64_t size = 0;
  std::string compact;
  // Why the values cannot be read, empty when they can.
  std::string unsupported;
};

// A file that goes with a model (a vocabulary under assets/): a member of an archive, or a
// regular file of a directory.
struct Asset {
  // Its member name ("assets/layers/string_lookup/vocabulary.txt"), method and sizes, and for a
  // member of `source` where its bytes lie and their CRC-32; a directory's file is stored.
  zip::Member member;
  std::string path;  // a directory's file; empty for a member of `source`
  std::shared_ptr<const ByteSource> source;
};

// How Keras' legacy writer (`model.save("m.h5")`) lays out the model of a Keras 3 file: what a
// legacy .h5 written from it holds. Weights are named by their dataset paths in the Keras 3 file.
struct LegacyLayout {
  std::vector<std::string> layer_names;  // the model's `layers`, in order
  // Each layer that has weights: its name and its weights in the order Keras loads a legacy file
  // (by position: the layer's trainable weights, then the others).
  std::vector<std::pair<std::string, std::vector<std::string>>> layers;
  std::vector<std::string> model;      // the model's own weights (top_level_model_weights)
  std::vector<std::string> optimizer;  // the optimizer's, in its order
  // Why the layout is not known (then the rest is empty), empty when it is.
  std::string problem;
};

struct File {
  // kSharded: Keras 3's sharded weights, a `.weights.json` map and the `.weights.h5` shards
  // beside it that it names.
  enum class Kind { kArchive, kDirectory, kWeightsH5, kLegacyH5, kSharded };
  Kind kind = Kind::kWeightsH5;
  std::string path;
  std::shared_ptr<const ByteSource> weights;  // the HDF5 bytes (of a sharded set: the first)
  std::string weights_name;                   // names them in messages
  // Every HDF5 file of the weights (one, or the shards of a sharded set) and their paths.
  std::vector<std::shared_ptr<const ByteSource>> files;
  std::vector<std::string> file_paths;
  std::string config;         // config.json (a legacy file's `model_config`), "" when there is none
  std::string metadata;       // metadata.json, "" when there is none
  std::string keras_version;  // metadata.json's keras_version, "" when it has none
  // An archive's record of the weights member's CRC-32 (zip's), when it is stored uncompressed
  // (a compressed one is checked as it is decompressed).
  std::optional<uint32_t> weights_crc32;
  std::vector<Variable> variables;  // sorted by name
  // The HDF5 object tree of the weights (what a Keras output written after this file copies).
  std::shared_ptr<const hdf5::Node> tree;
  // Members of an archive besides metadata.json, config.json and the weights (the files under
  // a directory's assets/): the model's assets, which a .keras output copies as they are.
  std::vector<Asset> assets;
  // Why the assets cannot be copied into an output, empty when they can.
  std::string assets_problem;
  // A Keras 3 file's model as a legacy file lays it out (problem set for a legacy file).
  LegacyLayout legacy;
};

// True when `source` holds a Keras file: HDF5 bytes or a zip archive.
bool LooksLikeKerasFile(const ByteSource& source);
// True when `path` is a local directory holding a unzipped `.keras` (model.weights.h5).
bool IsKerasDirectory(const std::string& path);
// True when `path` names Keras 3's map of sharded weights (`*.weights.json`).
bool IsShardedWeights(const std::string& path);

// Opens the Keras file at `path` (a local path or a remote address).
Status Open(const std::string& path, File* file);
// The same over a source already open (an archive or a `.weights.h5`), named `path` in messages.
Status OpenSource(std::shared_ptr<const ByteSource> source, const std::string& path, File* file);

}  // namespace tfckpt::keras

#endif  // TFCKPT_FORMAT_KERAS_H_
