// MappedFile: a whole file mapped read-only into memory. Tensors read from a checkpoint are views
// into these mappings and hold a shared_ptr to keep them alive.
//
// Thread-safety: immutable after Open(); safe to read from many threads.

#ifndef TFCKPT_IO_MAPPED_FILE_H_
#define TFCKPT_IO_MAPPED_FILE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "tfckpt/status.h"

namespace tfckpt {

class MappedFile {
 public:
  // Maps `path`. An empty file gives an empty span (no mapping).
  static Status Open(const std::string& path, std::shared_ptr<MappedFile>* file);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  std::span<const uint8_t> data() const { return {data_, size_}; }
  int64_t size() const { return static_cast<int64_t>(size_); }
  // Unmaps the whole pages inside [offset, offset + n) from this process (they stay in the page
  // cache, and a later read maps them again): keeps resident memory bounded when a process reads
  // through files larger than memory.
  void Release(int64_t offset, int64_t n) const;

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace tfckpt

#endif  // TFCKPT_IO_MAPPED_FILE_H_
