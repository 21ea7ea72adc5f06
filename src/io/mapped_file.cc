#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace tfckpt {

Status MappedFile::Open(const std::string& path, std::shared_ptr<MappedFile>* file) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(fmt::format("cannot open '{}'", path), errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return Status::FromErrno(fmt::format("cannot stat '{}'", path), e);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument(fmt::format("'{}' is not a regular file", path));
  }
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->size_ = static_cast<size_t>(st.st_size);
  f->device_ = static_cast<uint64_t>(st.st_dev);
  f->inode_ = static_cast<uint64_t>(st.st_ino);
  if (f->size_ > 0) {
    void* p = ::mmap(nullptr, f->size_, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      return Status::FromErrno(fmt::format("cannot map '{}' into memory", path), e);
    }
    f->data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  *file = std::move(f);
  return Status::OK();
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
  if (fd_ >= 0) ::close(fd_);
}

const std::string& MappedFile::local_path() const {
  static const std::string kNone;
  struct stat st;
  if (::stat(path_.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_dev) != device_ ||
      static_cast<uint64_t>(st.st_ino) != inode_) {
    return kNone;
  }
  return path_;
}

int MappedFile::kernel_fd() const {
  std::call_once(fd_once_, [this] {
    int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && (::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_dev) != device_ ||
                    static_cast<uint64_t>(st.st_ino) != inode_)) {
      ::close(fd);
      fd = -1;
    }
    fd_ = fd;
  });
  return fd_;
}

Status MappedFile::ReadAt(int64_t offset, int64_t n, void* out) const {
  if (offset < 0 || n < 0 || offset > size() || n > size() - offset) {
    return Status::Corruption(
        fmt::format("bytes {}..{} lie outside '{}', which has {} bytes (the file is truncated)",
                    offset, offset + n, path_, size_));
  }
  if (n > 0) std::memcpy(out, data_ + offset, static_cast<size_t>(n));
  return Status::OK();
}

bool MappedFile::Mapping(std::span<const uint8_t>* whole) const {
  *whole = data();
  return true;
}

void MappedFile::Release(int64_t offset, int64_t n) const {
  if (data_ == nullptr || offset < 0 || n <= 0 || offset >= size()) return;
  n = std::min<int64_t>(n, size() - offset);
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  uintptr_t begin = reinterpret_cast<uintptr_t>(data_) + static_cast<uintptr_t>(offset);
  uintptr_t end = begin + static_cast<uintptr_t>(n);
  begin = (begin + page - 1) & ~(page - 1);
  end &= ~(page - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace tfckpt
