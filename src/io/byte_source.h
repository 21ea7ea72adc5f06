// ByteSource: the bytes of one input file, wherever they are kept. Every reader of the library
// (the index table, data files, the `checkpoint` state file, safetensors, npz) reads its input
// through this interface and never asks which kind of source it has; it asks for capabilities
// instead: a zero-copy mapping of the whole source, or a local file the kernel can copy from.
//
// The implementations: a local file mapped read-only (io/mapped_file.h) and an object in object
// storage read by ranged GETs (io/remote_source.h).
//
// Thread-safety: a ByteSource is immutable once opened; every method may be called from many
// threads at once.

#ifndef TFCKPT_IO_BYTE_SOURCE_H_
#define TFCKPT_IO_BYTE_SOURCE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "tfckpt/status.h"

namespace tfckpt {

class ByteSource {
 public:
  virtual ~ByteSource() = default;

  // The path or address of the source, for messages.
  virtual const std::string& name() const = 0;
  virtual int64_t size() const = 0;

  // Copies the `n` bytes at `offset` to `out`. A range that does not lie inside the source is
  // kCorruption (a file shorter than its index says).
  virtual Status ReadAt(int64_t offset, int64_t n, void* out) const = 0;

  // The whole source in memory without a copy, where the source can give it: sets *whole and
  // returns true. The span stays valid as long as the source lives.
  virtual bool Mapping(std::span<const uint8_t>* whole) const { return false; }

  // The path of a local file holding exactly these bytes, for hard links and moves; empty when
  // there is none (also when the path has come to name another file since the source opened).
  virtual const std::string& local_path() const;
  // A read-only descriptor of that local file, for copies the kernel makes (copy_file_range,
  // FICLONE); owned by the source. -1 when there is none.
  virtual int kernel_fd() const { return -1; }

  // The version of the source that was opened, where the store names one (a remote object's
  // ETag); empty otherwise.
  virtual const std::string& version() const;

  // A hint that [offset, offset + n) will not be read again soon: a mapping gives back its pages
  // (a later read maps them again).
  virtual void Release(int64_t offset, int64_t n) const {}
};

// Opens the source at `path`: a local file, mapped read-only, or a remote object (s3://, gs://,
// http(s)://; io/remote_source.h). A file that cannot be opened is kIOError with the system's
// reason; a directory or special file is kInvalidArgument; a missing remote object kNotFound.
Status OpenByteSource(const std::string& path, std::shared_ptr<const ByteSource>* source);

// A source over bytes already in memory (not copied: they must outlive the source), named
// `name` in messages. For parsers handed a buffer, and for tests.
std::shared_ptr<const ByteSource> MemorySource(std::span<const uint8_t> bytes, std::string name);

// A source that owns `bytes` (a member decompressed into memory), named `name` in messages.
std::shared_ptr<const ByteSource> OwnedMemorySource(std::string bytes, std::string name);

// The `size` bytes at `offset` of `parent` as a source of their own (a member stored in an
// archive), named `name`: no local file (it is not a whole file), a mapping where the parent has
// one. A range outside the parent is kCorruption.
Status SliceSource(std::shared_ptr<const ByteSource> parent, int64_t offset, int64_t size,
                   std::string name, std::shared_ptr<const ByteSource>* slice);

// The `n` bytes at `offset` of `source`: a view on its mapping where it has one, else a buffer
// read from it, which `*keepalive` then owns (otherwise `*keepalive` holds the source). Checks
// that the range lies inside the source.
Status ViewRange(const std::shared_ptr<const ByteSource>& source, int64_t offset, int64_t n,
                 std::span<const uint8_t>* bytes, std::shared_ptr<const void>* keepalive);

// Copies `size` bytes at `offset` of `source` to the current position of `dst_fd`: in the kernel
// where the source has a local file (no pass through user space), else through a buffer.
Status CopyFromSource(const ByteSource& source, int64_t offset, int64_t size, int dst_fd,
                      const std::string& dst);

// The whole contents of the source at `path`, for small files (the `checkpoint` state file, a
// safetensors index).
Status ReadWholeSource(const std::string& path, std::string* contents);

}  // namespace tfckpt

#endif  // TFCKPT_IO_BYTE_SOURCE_H_
