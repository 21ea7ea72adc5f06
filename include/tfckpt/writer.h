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
  kCopy,      // plain read/write copy
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
  int64_t bytes_written = 0;  // bytes that went through the writer's buffer
};

struct WriterOptions {
  // Start a new data file once the current one holds this many bytes (0: a single data file).
  // A tensor is never split across files.
  int64_t max_shard_bytes = 0;
  // Replace an existing checkpoint at the prefix. Without it, an existing PREFIX.index is an error.
  bool overwrite = false;
  // fsync files and the directory before committing (turn off only for scratch output in tests).
  bool sync = true;
};

class BundleWriter {
 public:
  static Status Create(const std::string& prefix, const WriterOptions& options,
                       std::unique_ptr<BundleWriter>* writer);
  ~BundleWriter();  // aborts (removes temporary files) if Finish() did not succeed

  BundleWriter(const BundleWriter&) = delete;
  BundleWriter& operator=(const BundleWriter&) = delete;

  // Adds a fixed-size tensor from its raw element bytes.
  Status Add(std::string_view name, DType dtype, const Shape& shape,
             std::span<const uint8_t> bytes);
  // Adds a DT_STRING tensor.
  Status AddStrings(std::string_view name, const Shape& shape,
                    std::span<const std::string_view> values);
  // Adds any tensor (any dtype, incl. variant) whose bytes are already in the serialized on-disk
  // form, e.g. copied from another checkpoint. The CRC is computed while copying.
  Status AddSerialized(std::string_view name, DType dtype, const Shape& shape,
                       std::span<const uint8_t> serialized);
  // Adds one value (owned or viewed) in whatever form it has.
  Status AddTensor(std::string_view name, const Tensor& tensor);
  // Adds one slice of a partitioned tensor `full_name` (of full shape `full_shape`): the slice's
  // bytes go under the encoded slice key, and the full entry lists every slice added.
  Status AddSlice(std::string_view full_name, const Shape& full_shape, const TensorSlice& slice,
                  DType dtype, std::span<const uint8_t> serialized);

  // Takes a whole existing data file as one data file of the output (`how` says by what means;
  // kAuto and kCopy copy at once, kHardlink links at once and kMove renames at Finish(); those
  // two need a local file). Returns its shard id for AddExisting. Bytes are not checked; the
  // entries added for it keep their CRCs.
  Status AdoptDataFile(const ByteSource& file, LinkMode how, int* shard_id);
  // Registers a tensor, or one slice of a partitioned tensor, whose bytes lie in an adopted file.
  Status AddExisting(std::string_view name, DType dtype, const Shape& shape,
                     const DataLocation& location);
  Status AddExistingSlice(std::string_view full_name, const Shape& full_shape,
                          const TensorSlice& slice, DType dtype, const DataLocation& location);
  // Copies `location.size` bytes at `location.offset` of the data file `src` into the output
  // (with copy_file_range where it is a local file: no pass through user space), keeping the
  // stored CRC.
  Status AddCopiedRange(std::string_view name, DType dtype, const Shape& shape,
                        const ByteSource& src, const DataLocation& location);
  Status AddCopiedSlice(std::string_view full_name, const Shape& full_shape,
                        const TensorSlice& slice, DType dtype, const ByteSource& src,
                        const DataLocation& location);

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

 private:
  struct Impl;
  BundleWriter() = default;
  std::string prefix_;
  int64_t total_bytes_ = 0;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tfckpt

#endif  // TFCKPT_WRITER_H_
