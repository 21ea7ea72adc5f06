// Checkpoint: a read-only view of a TensorFlow checkpoint: a V2 "tensor bundle" (PREFIX.index and
// PREFIX.data-NNNNN-of-MMMMM files), or a legacy V1 checkpoint (below).
//
// Open() accepts whatever a user points at (see ResolveCheckpointPath in tfckpt/paths.h), reads the
// whole index into memory (metadata only; a V1 checkpoint's string tensors are decoded to learn
// their size), and opens every data file as a byte source (a local
// file is memory-mapped). Reading a tensor from a mapped file then costs no copy for fixed-size
// types: the Tensor is a view on the mapping; from a source without a mapping, it is read once.
//
// A checkpoint whose index names data files that do not exist (a copy or a download still in
// progress) opens, as TensorFlow's reader opens it: its names, dtypes and shapes are all there,
// values in the files present read as usual, and reading a value from a missing file fails
// naming that file (missing_data_files()).
//
// A checkpoint written on a big-endian machine (its header says so) reads as TensorFlow reads it:
// each value's CRC32C is checked over the bytes as stored, then fixed-size values are byte-swapped
// into a copy (no zero-copy view) and string lengths checksummed in big-endian order; variant
// tensors and the dtypes TensorFlow cannot swap are refused (format/byte_order.h). RawBytes stays
// the bytes as stored.
//
// A V1 checkpoint (TensorFlow's TensorSlice format, written before 2016 and still by
// tf.compat.v1.train.Saver(write_version=SaverDef.V1)) opens too, from its file, its shard
// pattern ("model.ckpt-?????-of-00003"), one shard's name or its directory: prefix() is then
// that file or pattern, num_shards() the number of files, and data_path(i) file i. Its values
// are protos, not raw arrays: Read decodes them into new bytes (never a view on the file), and
// RawBytes refuses. Slices of partitioned variables assemble as a V2 bundle's do.
//
// A Keras model file (a Keras 3 `.keras` archive or its unzipped directory, a `.weights.h5`, or a
// legacy HDF5 `.h5`; recognised by content) opens as a checkpoint too: prefix() is the path given,
// its weights are the tensors under the names README.md's "Keras files" section describes,
// data_path(0) is the file that holds them and reading a value is a view on it (data file 1 holds
// the few bytes of values HDF5 keeps in its headers). HDF5 as Keras writes it has no
// checksums (VerifyCheckpoint checks a `.keras` archive's CRC-32 of its weights member).
//
// Thread-safety: after Open() returns, a Checkpoint is immutable; all const methods may be called
// from many threads at once.

#ifndef TFCKPT_CHECKPOINT_H_
#define TFCKPT_CHECKPOINT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tfckpt/status.h"
#include "tfckpt/tensor.h"

namespace tfckpt {

class ByteSource;
namespace keras {
struct File;
}
struct VerifyOptions;
struct VerifyReport;

struct OpenOptions {
  // Pick the listed checkpoint whose prefix ends in "-<step>" when the path is a directory with a
  // `checkpoint` state file (same as a "@<step>" suffix on the path).
  std::optional<int64_t> step;
};

struct ReadOptions {
  // Check each piece of data read against the CRC32C stored in the index (as TensorFlow does).
  bool verify_checksums = true;
};

class Checkpoint {
 public:
  static Status Open(const std::string& path, const OpenOptions& options,
                     std::unique_ptr<Checkpoint>* result);
  static Status Open(const std::string& path, std::unique_ptr<Checkpoint>* result) {
    return Open(path, OpenOptions(), result);
  }
  ~Checkpoint();

  Checkpoint(const Checkpoint&) = delete;
  Checkpoint& operator=(const Checkpoint&) = delete;

  // How the checkpoint is stored: a V2 tensor bundle (PREFIX.index and data files), or a V1
  // checkpoint (one table file per shard, values in protos). Every writer writes V2.
  // A Keras model file is kKeras.
  enum class Format { kBundleV2, kTensorSliceV1, kKeras };
  Format format() const { return format_; }

  // The resolved prefix (no ".index"); for a V1 checkpoint its file or shard pattern.
  const std::string& prefix() const { return prefix_; }
  // The index file; for a V1 checkpoint its first file (each of its files holds metadata).
  std::string index_path() const;
  std::string data_path(int shard_id) const;
  int num_shards() const { return num_shards_; }
  // Written on a big-endian machine: values are stored in big-endian byte order.
  bool big_endian() const { return big_endian_; }
  // True when every stored piece's bytes are its value as a little-endian V2 bundle stores it, so
  // that pieces may be copied, linked and compared byte for byte. False for a big-endian bundle
  // and a V1 checkpoint: their values are read (swapped, decoded) into new bytes.
  bool values_as_stored() const { return format_ == Format::kBundleV2 && !big_endian_; }
  // Read from object storage (s3://, gs://, https://): every byte costs a request, so writers read
  // each piece once (checking it as it is read) rather than copying and checking it apart.
  bool remote() const { return remote_; }
  // Size in bytes of a data file; -1 for a shard that does not exist or whose file is missing.
  int64_t data_file_size(int shard_id) const;

  // The data files the index names that are missing, in shard order (empty when complete), and
  // a sentence for people that says so ("" when complete).
  const std::vector<std::string>& missing_data_files() const { return missing_data_files_; }
  std::string DescribeIncomplete() const;

  // Every tensor, in index key order; partitioned tensors once, under their full name and shape.
  // Per-slice keys are not listed here (they are inside TensorInfo::slices).
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* Find(std::string_view name) const;

  // The data file of a shard, as a byte source (nullptr for a shard that does not exist or whose
  // file is missing).
  std::shared_ptr<const ByteSource> data_file(int shard_id) const;

  // The serialized bytes of one stored piece, exactly as in the data file (no checks): a view on
  // the data file's mapping, or a buffer read from it; `*keepalive` keeps either valid.
  Status RawBytes(const DataLocation& location, std::span<const uint8_t>* bytes,
                  std::shared_ptr<const void>* keepalive) const;

  // Reads a tensor's value. Partitioned tensors are assembled into one full tensor.
  Status Read(const TensorInfo& info, const ReadOptions& options, Tensor* tensor) const;
  Status Read(std::string_view name, Tensor* tensor) const;

  // Reads one stored piece of data of the given dtype and shape (a whole tensor or one slice).
  Status ReadPiece(std::string_view name, DType dtype, const Shape& shape,
                   const DataLocation& location, const ReadOptions& options, Tensor* tensor) const;

  // Lets go of the memory pages of a piece this process has read (they stay in the page cache).
  // Readers that stream through a whole checkpoint call it to keep resident memory bounded;
  // views on the piece stay valid (a later access maps the pages again).
  void Release(const DataLocation& location) const;

  // The Keras file behind a kKeras checkpoint, else null: what a Keras output takes its layout
  // from (the library's own use; src/format/keras.h).
  const keras::File* keras_file() const;

  // A short human description of a location, e.g. "model.ckpt.data-00000-of-00001 at 1024".
  std::string DescribeLocation(const DataLocation& location) const;

 private:
  Checkpoint();
  Status Load(const std::string& prefix);
  Status LoadV1(const std::string& name);
  // Whether `path` holds a Keras file; `*source` is then the file, opened (null for a directory).
  static bool LooksLikeKeras(const std::string& path, std::shared_ptr<const ByteSource>* source);
  Status LoadKeras(const std::string& path, std::shared_ptr<const ByteSource> source);
  // The file of data file `shard_id` (a shard of sharded weights), else the weights' file.
  const std::string& KerasSourcePath(int shard_id = -1) const;
  // OK, or why the stored value of a Keras weight cannot be read (cut short, big-endian...).
  Status KerasUnreadable(std::string_view name) const;
  // A `.keras` archive records the CRC-32 of its weights member: OK when the bytes match it (or
  // there is none), else kDataLoss saying so.
  Status KerasCheckArchive() const;
  // (The reason alone, without the tensor and file ReadPiece adds; verify names them itself.)
  Status ReadV1Piece(std::string_view name, DType dtype, const Shape& shape,
                     const DataLocation& location, Tensor* tensor) const;
  friend Status VerifyCheckpoint(const Checkpoint&, const VerifyOptions&, VerifyReport*);

  std::string V1FilePath(int shard_id) const;
  std::string DescribeV1Location(const DataLocation& location) const;

  struct V1;     // a V1 checkpoint's tables and piece keys (src/bundle/checkpoint_v1.cc)
  struct Keras;  // a Keras file's reader state (src/bundle/checkpoint_keras.cc)

  Format format_ = Format::kBundleV2;
  std::unique_ptr<V1> v1_;
  std::shared_ptr<const Keras> keras_;  // (shared: its type is complete in one file only)
  std::string prefix_;
  int num_shards_ = 0;
  bool big_endian_ = false;
  bool remote_ = false;
  std::vector<TensorInfo> tensors_;
  std::vector<std::shared_ptr<const ByteSource>> data_files_;  // nullptr where missing
  std::vector<std::string> missing_data_files_;
};

// "v2", "v1" or "keras": the format as `ls --json` and Python's `Checkpoint.format` name it.
const char* FormatName(Checkpoint::Format format);

}  // namespace tfckpt

#endif  // TFCKPT_CHECKPOINT_H_
