// Small filesystem helpers: path pieces, existence checks, whole-file reads, fsync'ed writes,
// temporary names and atomic replacement.
//
// Thread-safety: free functions; safe from any thread.

#ifndef TFCKPT_IO_FILE_UTIL_H_
#define TFCKPT_IO_FILE_UTIL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tfckpt/status.h"

namespace tfckpt::file {

std::string Dirname(std::string_view path);  // "." when there is no slash
std::string Basename(std::string_view path);
std::string Join(std::string_view dir, std::string_view name);

bool Exists(const std::string& path);
bool IsDirectory(const std::string& path);
bool IsRegularFile(const std::string& path);
int64_t FileSize(const std::string& path);  // -1 if it cannot be stat'ed

// Names of the entries of a directory (no "." or ".."), sorted.
Status ListDirectory(const std::string& dir, std::vector<std::string>* names);

Status ReadFile(const std::string& path, std::string* contents);

// Creates `dir` and its missing parents.
Status CreateDirectories(const std::string& dir);

// A random token for temporary file names.
std::string RandomToken();

// The marker in every temporary file name tfckpt creates, so leftovers are obvious.
inline constexpr std::string_view kTempMarker = ".tfckpt-tmp-";

Status SyncDirectory(const std::string& dir);
Status Rename(const std::string& from, const std::string& to);
void RemoveQuietly(const std::string& path);

// Writes `contents` to a temporary file beside `path`, fsyncs it, and renames it over `path`.
Status WriteFileAtomically(const std::string& path, std::string_view contents, bool sync = true);

}  // namespace tfckpt::file

#endif  // TFCKPT_IO_FILE_UTIL_H_
