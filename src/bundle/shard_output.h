// ShardOutput: the data files of a bundle being written. Tensor bytes are appended to the current
// data file through an 8 MiB buffer (larger spans bypass it), byte ranges of other files are
// copied in (in the kernel where they are local; a range that continues the previous one of the
// same file joins it, so that tensors stored one after the other go in one copy), and whole
// existing data files are adopted (reflink, copy, hard link, or a move at the commit). Into a
// remote output, ranges and whole files of objects of the same store are copied by the store at
// the commit (a joined range of at least io/remote_upload.h's kMinStorePart; the staged file has
// a hole there). A new data file starts when the next piece
// would overflow the size limit; a piece is never split across files. Every file lies at a
// temporary name of the given FileCommit until the owner commits it.
//
// Thread-safety: used by one thread at a time.

#ifndef TFCKPT_BUNDLE_SHARD_OUTPUT_H_
#define TFCKPT_BUNDLE_SHARD_OUTPUT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/byte_source.h"
#include "io/commit.h"
#include "io/remote_upload.h"
#include "tfckpt/status.h"
#include "tfckpt/tensor.h"
#include "tfckpt/writer.h"

namespace tfckpt {

class ShardOutput {
 public:
  // Data files are named "<prefix>.data-NNNNN-of-MMMMM" at the commit. `max_shard_bytes` 0: one
  // data file (and one more after each adopted file). Every data file written (not adopted)
  // starts with `head` zero bytes. With `crc32`, the zip CRC-32 of each data file's bytes after
  // the head is computed as they are written (Crc32).
  ShardOutput(std::string prefix, FileCommit* commit, int64_t max_shard_bytes, bool sync,
              int64_t head = 0, bool crc32 = false);
  ~ShardOutput();
  ShardOutput(const ShardOutput&) = delete;
  ShardOutput& operator=(const ShardOutput&) = delete;

  // Makes room for a piece of `size` bytes (starting a new data file at the limit) and gives the
  // shard and offset where it will lie.
  Status Reserve(int64_t size, int* shard, int64_t* offset);
  // Appends bytes to the current data file (after Reserve).
  Status Write(const void* data, size_t n);
  // Appends `size` bytes at `offset` of `src` to the current data file (after Reserve). The copy
  // may wait for a later call (to join a range that follows; up to 128 MiB wait, without limit
  // for a range the store copies).
  Status CopyIn(std::shared_ptr<const ByteSource> src, int64_t offset, int64_t size);
  // Takes `src` whole as the next data file (see BundleWriter::AdoptDataFile).
  Status Adopt(const ByteSource& src, LinkMode how, int* shard_id);
  // True when [offset, offset + size) lies inside data file `shard`.
  bool Holds(int shard, int64_t offset, int64_t size) const;
  // The zip CRC-32 of the bytes after the head of data file `shard`, when they were all written
  // through Write (asked for at construction); false otherwise.
  bool Crc32(int shard, uint32_t* crc) const;

  // Closes the current data file (an empty bundle still gets one, empty) and places every data
  // file at its final name in the commit. Returns the number of data files.
  Status Close(int* num_shards);
  // The final name of data file `shard` of `num_shards`.
  std::string DataName(int shard, int num_shards) const;

  // True after a failed write or copy: the output is unusable.
  bool failed() const { return failed_; }
  const TransferStats& stats() const { return stats_; }

 private:
  struct Shard {
    std::string temp_path;     // where it lies until the commit (empty for a pending move)
    std::string move_from;     // an input renamed into place at the commit
    std::string copy_from;     // a remote object the store copies into place at the commit
    std::string copy_version;  // its ETag when it was read (the copy must be of that version)
    int64_t bytes = 0;
    std::vector<StoreRange> ranges;  // copied into it by the store at the commit (sorted)
    // The CRC-32 of its bytes after the head, while every one of them passed through Write.
    uint32_t crc32 = 0;
    bool crc32_known = false;
  };
  Status NewTemporary(std::string* path);
  Status OpenShard();
  Status CloseShard();
  Status WriteOut(const char* p, size_t n);
  Status Flush();
  Status FlushCopy();

  std::string prefix_;
  FileCommit* commit_;
  int64_t max_shard_bytes_;
  bool sync_;
  int64_t head_;
  bool crc32_;
  std::vector<Shard> shards_;
  int current_ = -1;  // the shard being written, if any
  int fd_ = -1;       // its descriptor
  std::string buffer_;
  // A range of another file still to be copied to the end of the current data file (after what
  // the buffer held when it began; nothing is buffered while it waits).
  struct PendingCopy {
    std::shared_ptr<const ByteSource> src;
    int64_t offset = 0;
    int64_t size = 0;
    int64_t at = 0;      // where it goes in the current data file
    int64_t pieces = 0;  // the calls it joins
    bool store = false;  // the object store may copy it
  };
  // Records the pending range `p` for the store to copy (true), or false where S3's part limits
  // do not allow it.
  Status RecordStoreRange(const PendingCopy& p, bool* recorded);
  PendingCopy pending_;
  TransferStats stats_;
  bool failed_ = false;
};

}  // namespace tfckpt

#endif  // TFCKPT_BUNDLE_SHARD_OUTPUT_H_
