// BundleWriter: writes a new TensorFlow V2 checkpoint, streaming tensor bytes to the data file(s)
// through a fixed-size buffer, so memory stays bounded by the buffer plus the index metadata.
//
// Output is atomic: data and index go to temporary files ("<name>.tfckpt-tmp-<token>"), are
// fsync'ed, then the data files are renamed to their final names before the index is (as
// TensorFlow does), so an existing PREFIX.index always implies complete data. Until Finish()
// succeeds nothing exists under the final names; destroying an unfinished writer removes its
// temporary files. (The renames are the library's one commit protocol, io/commit.h.)
//
// For the same tensors added in the same order, the .index and .data files are byte-identical to
// those written by TensorFlow's own BundleWriter (e.g. a non-sharded tf.compat.v1.train.Saver).
//
// Thread-safety: a BundleWriter must be used from one thread at a time.

#ifndef TFCKPT_WRITER_H_
#define TFCKPT_WRITER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tfckpt/status.h"
#include "tfckpt/tensor.h"

namespace tfckpt {

class ByteSource;

// How a whole existing data file becomes a data file of the output.
enum class LinkMode {
  kAuto,      // reflink (FICLONE) where the filesystem can, else copy_file_range
  kCopy,      // whole files copied byte by byte (sendfile, else read/write): no shared extent
  kHardlink,  // a hard link: no bytes move, the output shares the input's inode
  kMove,      // rename: the input loses its data file (TensorFlow's merge behaviour)
};
std::string_view LinkModeName(LinkMode mode);
// The modes a user may ask for, by name: "auto", "copy", "hardlink" (kMove comes only with a
// plan that consumes its sources).
std::span<const std::string_view> LinkModeNames();
// One of LinkModeNames(); else InvalidArgument "link='TEXT': it must be 'auto', 'copy' or
// 'hardlink'".
Status ParseLinkMode(std::string_view text, LinkMode* mode);

// The way bytes actually moved, as reported after Finish().
struct TransferStats {
  int files_reflinked = 0, files_copied = 0, files_linked = 0, files_moved = 0;
  int64_t bytes_reflinked = 0, bytes_copied = 0, bytes_linked = 0, bytes_moved = 0;
  int64_t ranges_copied = 0;  // single tensors copied with copy_file_range
  int64_t bytes_range_copied = 0;
  int64_t bytes_written = 0;  // bytes that this process wrote (not copied in the kernel or store)
  // Data files the object store copied from a source object itself (s3:// to s3://): no byte
  // passed through this machine.
  int files_copied_in_store = 0;
  int64_t bytes_copied_in_store = 0;
  // Byte ranges of source objects (tensors stored one after the other, at least 5 MiB in all)
  // that the store copied into a data object of the output (UploadPartCopy).
  int64_t ranges_copied_in_store = 0;
  int64_t bytes_range_copied_in_store = 0;
};

struct WriterOptions {
  // Start a new data file once the current one holds this many bytes (0: a single data file).
  // A tensor is never split across files.
  int64_t max_shard_bytes = 0;
  // Every data file starts with this many zero bytes, room for a header that a later step writes
  // over them (a Keras output's HDF5 superblock); they count towards max_shard_bytes.
  int64_t data_file_head = 0;
  // Compute each data file's zip CRC-32 (the gzip polynomial) of the bytes after its head as they
  // are written (BundleWriter::DataFileCrc32): a Keras archive's weights member needs it.
  bool data_file_crc32 = false;
  // Replace an existing checkpoint at the prefix. Without it, an existing PREFIX.index is an error.
  bool overwrite = false;
  // fsync files and the directory before committing (turn off only for scratch output in tests).
  bool sync = true;
};

// Where one stored piece of the output goes: a whole tensor, or one slice of a partitioned one.
struct PieceTarget {
  std::string_view name;  // the tensor's name (for a slice: the partitioned tensor's)
  DType dtype = DType::kInvalid;
  Shape shape;                         // the tensor's whole shape
  const TensorSlice* slice = nullptr;  // the slice the piece holds; null: the whole tensor
};

// Where a piece's bytes come from.
struct PieceBytes {
  enum class Kind {
    kInMemory,  // `bytes`, in the on-disk form (strings and variants serialized); CRC computed
    kCopied,    // `location` of the data file `file`, copied (in the kernel where it can be;
                // ranges that follow each other join one copy, made later)
    kAdopted,   // `location` in a data file taken whole by AdoptDataFile (its shard id)
  };
  Kind kind = Kind::kInMemory;
  std::span<const uint8_t> bytes;
  std::shared_ptr<const ByteSource> file;
  DataLocation location;  // copied and adopted pieces keep its stored CRC

  static PieceBytes InMemory(std::span<const uint8_t> bytes) {
    return {Kind::kInMemory, bytes, nullptr, {}};
  }
  static PieceBytes Copied(std::shared_ptr<const ByteSource> file, const DataLocation& location) {
    return {Kind::kCopied, {}, std::move(file), location};
  }
  static PieceBytes Adopted(const DataLocation& location) {
    return {Kind::kAdopted, {}, nullptr, location};
  }
};

class BundleWriter {
 public:
  static Status Create(const std::string& prefix, const WriterOptions& options,
                       std::unique_ptr<BundleWriter>* writer);
  ~BundleWriter();  // aborts (removes temporary files) if Finish() did not succeed

  BundleWriter(const BundleWriter&) = delete;
  BundleWriter& operator=(const BundleWriter&) = delete;

  // Adds one stored piece: a whole tensor, or one slice of a partitioned tensor (whose full
  // entry then lists every slice added), with its bytes from memory, from a range of a data file,
  // or already in an adopted data file. See PieceTarget and PieceBytes.
  Status Add(const PieceTarget& target, const PieceBytes& bytes);
  // Adds one value (owned or viewed) in whatever form it has: strings and variants are
  // serialized first. AddValue puts it where `target` says (a whole tensor, or one slice).
  Status AddTensor(std::string_view name, const Tensor& tensor);
  Status AddValue(const PieceTarget& target, const Tensor& value);

  // Takes a whole existing data file as one data file of the output (`how` says by what means;
  // kAuto and kCopy copy at once, kHardlink links at once and kMove renames at Finish(); those
  // two need a local file). Returns its shard id for PieceBytes::Adopted. Bytes are not checked;
  // the pieces added for it keep their CRCs.
  Status AdoptDataFile(const ByteSource& file, LinkMode how, int* shard_id);

  // Streaming form for a fixed-size tensor produced chunk by chunk (`size` bytes in total).
  Status BeginTensor(std::string_view name, DType dtype, const Shape& shape, int64_t size);
  Status Append(std::span<const uint8_t> chunk);
  Status EndTensor();

  // Writes the index and commits all files under their final names.
  Status Finish();
  // Removes every temporary file; the writer is unusable afterwards.
  void Abort();

  const std::string& prefix() const { return prefix_; }
  int64_t bytes_written() const { return total_bytes_; }
  const TransferStats& stats() const;
  // The zip CRC-32 of the bytes after the head of data file `shard`, as written, when
  // `data_file_crc32` was asked for and every byte of the file passed through the writer (not
  // a file adopted, nor one with ranges the kernel or the store copied in): false otherwise.
  bool DataFileCrc32(int shard, uint32_t* crc) const;

 private:
  struct Impl;
  BundleWriter() = default;
  std::string prefix_;
  int64_t total_bytes_ = 0;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tfckpt

#endif  // TFCKPT_WRITER_H_
