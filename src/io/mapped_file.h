// MappedFile: a local file mapped read-only into memory, the ByteSource of files on this machine.
// Tensors read from a checkpoint are views into these mappings and hold a shared_ptr to keep them
// alive.
//
// Thread-safety: immutable after Open(); safe to read from many threads.

#ifndef TFCKPT_IO_MAPPED_FILE_H_
#define TFCKPT_IO_MAPPED_FILE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "io/byte_source.h"
#include "tfckpt/status.h"

namespace tfckpt {

class MappedFile : public ByteSource {
 public:
  // Maps `path`. An empty file gives an empty span (no mapping).
  static Status Open(const std::string& path, std::shared_ptr<MappedFile>* file);
  ~MappedFile() override;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  std::span<const uint8_t> data() const { return {data_, size_}; }

  // ByteSource:
  const std::string& name() const override { return path_; }
  int64_t size() const override { return static_cast<int64_t>(size_); }
  Status ReadAt(int64_t offset, int64_t n, void* out) const override;
  bool Mapping(std::span<const uint8_t>* whole) const override;
  const std::string& local_path() const override;
  // Opened on first use and kept until the MappedFile goes; -1 when the path no longer names the
  // file that was mapped (copies then read from the mapping).
  int kernel_fd() const override;
  // Unmaps the whole pages inside [offset, offset + n) from this process (they stay in the page
  // cache, and a later read maps them again): keeps resident memory bounded when a process reads
  // through files larger than memory.
  void Release(int64_t offset, int64_t n) const override;

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  mutable std::once_flag fd_once_;
  mutable int fd_ = -1;
  uint64_t device_ = 0, inode_ = 0;
};

}  // namespace tfckpt

#endif  // TFCKPT_IO_MAPPED_FILE_H_
