#include "io/file_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <random>

#include <fmt/format.h>

#include "io/remote_source.h"
#include "tfckpt/remote.h"

namespace tfckpt::file {

std::string Dirname(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

std::string Basename(std::string_view path) {
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string WindowsPathHint(std::string_view path) {
  const bool drive = path.size() >= 2 && std::isalpha(static_cast<unsigned char>(path[0])) &&
                     path[1] == ':' && (path.size() == 2 || path[2] == '\\' || path[2] == '/');
  if (!drive && path.find('\\') == std::string_view::npos) return "";
  std::string posix(path);
  std::replace(posix.begin(), posix.end(), '\\', '/');
  if (drive) {
    posix = fmt::format("/mnt/{}{}", static_cast<char>(std::tolower(path[0])), posix.substr(2));
  }
  return fmt::format(
      "; '{}' looks like a Windows path: tfckpt takes paths with '/' between directories{}, "
      "e.g. '{}'",
      path, drive ? " (under WSL, drive C: is /mnt/c)" : "", posix);
}

std::string Join(std::string_view dir, std::string_view name) {
  if (dir.empty() || dir == ".") return std::string(name);
  if ((!name.empty() && name[0] == '/') || IsRemotePath(name)) return std::string(name);
  std::string out(dir);
  if (out.back() != '/') out.push_back('/');
  out.append(name);
  return out;
}

bool Exists(const std::string& path) {
  if (IsRemotePath(path)) {
    bool exists = false;
    return RemoteObjectExists(path, &exists).ok() && exists;
  }
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool IsRegularFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

int64_t FileSize(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return -1;
  return st.st_size;
}

Status ListDirectory(const std::string& dir, std::vector<std::string>* names) {
  names->clear();
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Status::FromErrno(fmt::format("cannot list directory '{}'", dir), errno);
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names->push_back(std::move(name));
  }
  ::closedir(d);
  std::sort(names->begin(), names->end());
  return Status::OK();
}

Status WriteAll(int fd, const void* data, size_t n, const std::string& name) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return Status::FromErrno(fmt::format("cannot write '{}'", name), errno);
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::OK();
}

Status PWriteAll(int fd, const void* data, size_t n, int64_t offset, const std::string& name) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(offset));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return Status::FromErrno(fmt::format("cannot write '{}'", name), errno);
    p += w;
    n -= static_cast<size_t>(w);
    offset += w;
  }
  return Status::OK();
}

Status CreateNewFile(const std::string& path, int* fd) {
  *fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (*fd < 0) return Status::FromErrno(fmt::format("cannot create '{}'", path), errno);
  return Status::OK();
}

Status WriteNewFile(const std::string& path, std::string_view contents, bool sync) {
  int fd = -1;
  TFCKPT_RETURN_IF_ERROR(CreateNewFile(path, &fd));
  Status s = WriteAll(fd, contents.data(), contents.size(), path);
  Status closed = SyncAndClose(fd, sync && s.ok(), path);
  return s.ok() ? closed : s;
}

Status SyncAndClose(int fd, bool sync, const std::string& name) {
  Status s;
  if (sync && ::fsync(fd) != 0) s = Status::FromErrno(fmt::format("cannot sync '{}'", name), errno);
  if (::close(fd) != 0 && s.ok()) {
    s = Status::FromErrno(fmt::format("cannot close '{}'", name), errno);
  }
  return s;
}

Status PreadAll(int fd, void* out, size_t n, int64_t offset, const std::string& name) {
  char* p = static_cast<char*>(out);
  const int64_t end = offset + static_cast<int64_t>(n);
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, offset);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status::FromErrno(fmt::format("cannot read '{}'", name), errno);
    if (r == 0) return Status::Corruption(fmt::format("'{}' ends before byte {}", name, end));
    p += r;
    offset += r;
    n -= static_cast<size_t>(r);
  }
  return Status::OK();
}

Status CreateDirectories(const std::string& dir) {
  // (Object storage has no directories: a remote one needs nothing.)
  if (dir.empty() || IsRemotePath(dir) || IsDirectory(dir)) return Status::OK();
  std::string parent = Dirname(dir);
  if (parent != dir) TFCKPT_RETURN_IF_ERROR(CreateDirectories(parent));
  if (::mkdir(dir.c_str(), 0777) != 0 && errno != EEXIST) {
    return Status::FromErrno(fmt::format("cannot create directory '{}'", dir), errno);
  }
  return Status::OK();
}

std::string RandomToken() {
  static thread_local std::mt19937_64 rng(std::random_device{}() ^
                                          (static_cast<uint64_t>(::getpid()) << 32));
  return fmt::format("{}-{:016x}", ::getpid(), rng());
}

Status SyncDirectory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(fmt::format("cannot open directory '{}'", dir), errno);
  int rc = ::fsync(fd);
  int e = errno;
  ::close(fd);
  if (rc != 0 && e != EINVAL) {
    return Status::FromErrno(fmt::format("cannot sync directory '{}'", dir), e);
  }
  return Status::OK();
}

void RemoveStaleTemporaries(const std::string& prefix) {
  const std::string dir = Dirname(prefix);
  std::vector<std::string> names;
  if (!ListDirectory(dir, &names).ok()) return;
  for (const std::string& n : names) {
    size_t at = n.find(kTempMarker);
    if (at == std::string::npos) continue;
    long pid = std::strtol(n.c_str() + at + kTempMarker.size(), nullptr, 10);
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      const std::string path = Join(dir, n);
      if (IsDirectory(path)) {
        RemoveTree(path);
      } else {
        RemoveQuietly(path);
      }
    }
  }
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the lock
}

Status DirectoryLock::Acquire(const std::string& dir) {
  fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd_ < 0) return Status::FromErrno(fmt::format("cannot open directory '{}'", dir), errno);
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno != EINTR) {
      return Status::FromErrno(fmt::format("cannot lock directory '{}'", dir), errno);
    }
  }
  return Status::OK();
}

Status Rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return Status::FromErrno(fmt::format("cannot rename '{}' to '{}'", from, to), errno);
  }
  return Status::OK();
}

void RemoveQuietly(const std::string& path) { ::unlink(path.c_str()); }

// Copies [offset, offset + size) of `src_fd` to the current position of `dst_fd` in the kernel
// (copy_file_range), falling back to read/write where the kernel cannot.
namespace {

// One kernel copy of at most `left` bytes from `src_fd` at `*off` (advanced) to `dst_fd`.
using KernelCopy = ssize_t (*)(int src_fd, loff_t* off, int dst_fd, int64_t left);

// The copy loop of CopyRange and CopyBytes: `kernel` while it can, then through a buffer.
Status CopyLoop(KernelCopy kernel, int src_fd, const std::string& src, int64_t offset, int64_t size,
                int dst_fd, const std::string& dst) {
  loff_t off = offset;
  int64_t left = size;
  std::vector<char> buf;
  while (left > 0) {
    if (kernel != nullptr) {
      ssize_t n = kernel(src_fd, &off, dst_fd, left);
      if (n > 0) {
        left -= n;
        continue;
      }
      if (n == 0) {
        return Status::Corruption(fmt::format("'{}' ends before byte {}", src, offset + size));
      }
      if (errno == EINTR) continue;
      if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP &&
          errno != EBADF) {
        return Status::FromErrno(fmt::format("cannot copy from '{}' to '{}'", src, dst), errno);
      }
      kernel = nullptr;
      buf.resize(static_cast<size_t>(std::min<int64_t>(left, 8 << 20)));
    }
    const size_t n = static_cast<size_t>(std::min<int64_t>(left, static_cast<int64_t>(buf.size())));
    TFCKPT_RETURN_IF_ERROR(PreadAll(src_fd, buf.data(), n, off, src));
    TFCKPT_RETURN_IF_ERROR(WriteAll(dst_fd, buf.data(), n, dst));
    off += static_cast<loff_t>(n);
    left -= static_cast<int64_t>(n);
  }
  return Status::OK();
}

// (sendfile moves at most 0x7ffff000 bytes per call.)
constexpr int64_t kMaxKernelCopy = 0x7ffff000;

}  // namespace

Status CopyRange(int src_fd, const std::string& src, int64_t offset, int64_t size, int dst_fd,
                 const std::string& dst) {
  return CopyLoop(
      [](int in, loff_t* off, int out, int64_t left) {
        return ::copy_file_range(in, off, out, nullptr,
                                 static_cast<size_t>(std::min(left, kMaxKernelCopy)), 0);
      },
      src_fd, src, offset, size, dst_fd, dst);
}

Status CopyBytes(int src_fd, const std::string& src, int64_t offset, int64_t size, int dst_fd,
                 const std::string& dst) {
  return CopyLoop(
      [](int in, loff_t* off, int out, int64_t left) {
        return ::sendfile(out, in, off, static_cast<size_t>(std::min(left, kMaxKernelCopy)));
      },
      src_fd, src, offset, size, dst_fd, dst);
}

Status CopyTree(const std::string& src, const std::string& dst,
                const std::function<bool(const std::string&)>& skip, bool sync) {
  std::function<Status(const std::string&)> walk = [&](const std::string& rel) -> Status {
    std::string from = rel.empty() ? src : Join(src, rel);
    std::string to = rel.empty() ? dst : Join(dst, rel);
    if (IsDirectory(from)) {
      TFCKPT_RETURN_IF_ERROR(CreateDirectories(to));
      std::vector<std::string> names;
      TFCKPT_RETURN_IF_ERROR(ListDirectory(from, &names));
      for (const std::string& n : names) {
        std::string child = rel.empty() ? n : Join(rel, n);
        if (!skip(child)) TFCKPT_RETURN_IF_ERROR(walk(child));
      }
      return Status::OK();
    }
    int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) return Status::FromErrno(fmt::format("cannot open '{}'", from), errno);
    int out = -1;
    Status s = CreateNewFile(to, &out);
    if (!s.ok()) {
      ::close(in);
      return s;
    }
    s = CopyRange(in, from, 0, FileSize(from), out, to);
    ::close(in);
    Status closed = SyncAndClose(out, sync && s.ok(), to);
    return s.ok() ? closed : s;
  };
  return walk("");
}

void RemoveTree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    std::vector<std::string> names;
    if (ListDirectory(path, &names).ok()) {
      for (const std::string& n : names) RemoveTree(Join(path, n));
    }
    ::rmdir(path.c_str());
  } else {
    ::unlink(path.c_str());
  }
}

}  // namespace tfckpt::file
