// Converting between TensorFlow checkpoints and safetensors (single files and Hugging Face's
// sharded form) or NumPy .npz files, in both directions, with the name options of `edit`; and
// between Keras files and all of those (a Keras output takes its layout from a template).
// Tensor bytes are copied in the kernel (copy_file_range) wherever both layouts hold the raw
// little-endian array; memory stays bounded except for partitioned, compressed or string tensors.
//
// Thread-safety: Convert is self-contained.

#ifndef TFCKPT_CONVERT_H_
#define TFCKPT_CONVERT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tfckpt/plan.h"
#include "tfckpt/status.h"

namespace tfckpt {

struct ConvertOptions {
  EditOptions names;              // rename / keep / drop / strip-optimizer, as for edit
  bool skip_unsupported = false;  // leave out tensors the target format cannot hold
  // safetensors output: shard at this size (0: one file); a Keras .weights.json output: its
  // shards' size (needed there).
  int64_t max_shard_bytes = 0;
  bool overwrite = false;
  bool sync = true;
  ProgressFn progress;  // through the bytes of the tensors converted (tfckpt/progress.h)
  // A Keras output (OUT ending in .keras, .weights.h5 or .h5): the Keras file of the same model
  // whose layout it takes; every weight SRC holds under the same name replaces the template's.
  std::string keras_template;
};

struct ConvertReport {
  std::string from, to;              // "tensorflow", "safetensors", "npz", "keras"
  std::vector<std::string> outputs;  // files written
  int64_t tensors = 0;
  int64_t bytes = 0;
  std::vector<std::pair<std::string, DType>> skipped;
  std::vector<std::string> notes;
  // One JSON object: {"schema_version", "from", "to", "outputs", "tensors", "bytes", "skipped":
  // [{"name", "dtype"}], "notes"} (docs/JSON.md).
  std::string ToJson() const;
};

// SRC: a TF checkpoint (any form ResolveCheckpointPath takes), a Keras file, a .safetensors
// file, a *.safetensors.index.json, a directory holding one of those, or a .npz file. OUT: a
// path ending in .safetensors or .npz for a TF or Keras source; a Keras file (.keras,
// .weights.h5, .h5: with `keras_template`) for any source; else a TF checkpoint prefix.
Status Convert(const std::string& src, const std::string& out, const ConvertOptions& options,
               ConvertReport* report);

// "5GB", "500MiB", "1048576" -> bytes.
Status ParseByteSize(const std::string& text, int64_t* bytes);

}  // namespace tfckpt

#endif  // TFCKPT_CONVERT_H_
