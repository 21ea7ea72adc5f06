// Small filesystem helpers: path pieces, existence checks, whole writes and reads of descriptors,
// temporary names, directory locks, kernel copies. Outputs appear through io/commit.h.
//
// Thread-safety: free functions; safe from any thread.

#ifndef TFCKPT_IO_FILE_UTIL_H_
#define TFCKPT_IO_FILE_UTIL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "tfckpt/status.h"

namespace tfckpt::file {

std::string Dirname(std::string_view path);  // "." when there is no slash
std::string Basename(std::string_view path);
std::string Join(std::string_view dir, std::string_view name);

bool Exists(const std::string& path);

// For a path that was not found: a hint (starting with "; ") when it looks like a Windows path
// (a drive letter, backslashes), which a POSIX system reads as one odd file name; else "".
std::string WindowsPathHint(std::string_view path);
bool IsDirectory(const std::string& path);
bool IsRegularFile(const std::string& path);
int64_t FileSize(const std::string& path);  // -1 if it cannot be stat'ed

// Names of the entries of a directory (no "." or ".."), sorted.
Status ListDirectory(const std::string& dir, std::vector<std::string>* names);

// Writes all `n` bytes to `fd` (retrying short writes and EINTR); `name` is for messages.
Status WriteAll(int fd, const void* data, size_t n, const std::string& name);
// The same at `offset` of the file (pwrite; the file offset does not move).
Status PWriteAll(int fd, const void* data, size_t n, int64_t offset, const std::string& name);
// Creates the new file `path` for writing (it must not exist).
Status CreateNewFile(const std::string& path, int* fd);
// Creates the new file `path` holding `contents`, fsync'ed when `sync`.
Status WriteNewFile(const std::string& path, std::string_view contents, bool sync);
// fsyncs (with `sync`) and closes `fd`, a file written at `name`; the first error wins.
Status SyncAndClose(int fd, bool sync, const std::string& name);
// Reads exactly `n` bytes at `offset` of `fd` (retrying short reads and EINTR); a file that ends
// first is kCorruption.
Status PreadAll(int fd, void* out, size_t n, int64_t offset, const std::string& name);

// Creates `dir` and its missing parents.
Status CreateDirectories(const std::string& dir);

// A random token for temporary file names.
std::string RandomToken();

// The marker in every temporary file name tfckpt creates, so leftovers are obvious.
inline constexpr std::string_view kTempMarker = ".tfckpt-tmp-";

Status SyncDirectory(const std::string& dir);

// Removes the temporary files and directories "*.tfckpt-tmp-<pid>-..." in the prefix's directory
// that processes which no longer exist left behind (a killed run); those of live processes are
// left alone.
void RemoveStaleTemporaries(const std::string& prefix);

// An exclusive lock (flock) on a directory, released when the object goes away.
class DirectoryLock {
 public:
  DirectoryLock() = default;
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;
  Status Acquire(const std::string& dir);

 private:
  int fd_ = -1;
};
Status Rename(const std::string& from, const std::string& to);
void RemoveQuietly(const std::string& path);

// Copies [offset, offset + size) of `src_fd` to the current position of `dst_fd` in the kernel
// (copy_file_range), falling back to read/write where the kernel cannot. Paths are for messages.
Status CopyRange(int src_fd, const std::string& src, int64_t offset, int64_t size, int dst_fd,
                 const std::string& dst);

// Like CopyRange, but every byte becomes new data of `dst_fd`: sendfile(2) copies in the kernel
// (copy_file_range may share extents instead, on a filesystem that can reflink), falling back
// to read/write where the kernel cannot.
Status CopyBytes(int src_fd, const std::string& src, int64_t offset, int64_t size, int dst_fd,
                 const std::string& dst);

// Copies a directory tree (files and subdirectories), skipping entries for which `skip(relative
// path)` is true. Files are copied with CopyRange and fsync'ed when `sync`.
Status CopyTree(const std::string& src, const std::string& dst,
                const std::function<bool(const std::string&)>& skip, bool sync);

// Removes a directory tree; errors are ignored.
void RemoveTree(const std::string& path);

}  // namespace tfckpt::file

#endif  // TFCKPT_IO_FILE_UTIL_H_
