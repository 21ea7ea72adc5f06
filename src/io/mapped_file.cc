#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

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
}

void MappedFile::AdviseSequential(int64_t offset, int64_t n) const {
  if (data_ == nullptr || n <= 0) return;
  long page = ::sysconf(_SC_PAGESIZE);
  uintptr_t begin = reinterpret_cast<uintptr_t>(data_) + offset;
  uintptr_t aligned = begin & ~static_cast<uintptr_t>(page - 1);
  size_t len = static_cast<size_t>(n) + (begin - aligned);
  ::madvise(reinterpret_cast<void*>(aligned), len, MADV_SEQUENTIAL);
  ::madvise(reinterpret_cast<void*>(aligned), len, MADV_WILLNEED);
}

}  // namespace tfckpt
