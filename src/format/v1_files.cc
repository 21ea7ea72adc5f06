#include "format/v1_files.h"

#include <cctype>

#include <fmt/format.h>

#include "format/index_table.h"
#include "io/file_util.h"

namespace tfckpt::v1_files {
namespace {

constexpr size_t kSuffix = 15;  // "-?????-of-NNNNN"

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool IsTableFile(const std::string& path) {
  return !EndsWith(path, ".index") && file::IsRegularFile(path) && HasTableMagic(path);
}

}  // namespace

bool SplitShardName(const std::string& path, std::string* base, int* num_shards) {
  if (path.size() <= kSuffix) return false;
  std::string_view s = std::string_view(path).substr(path.size() - kSuffix);
  if (s[0] != '-' || s.substr(6, 4) != "-of-") return false;
  const std::string_view shard = s.substr(1, 5), total = s.substr(10, 5);
  const bool pattern = shard == "?????";
  for (char c : shard) {
    if (!pattern && !std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  int n = 0;
  for (char c : total) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    n = n * 10 + (c - '0');
  }
  if (n <= 0) return false;
  if (!pattern && std::stoi(std::string(shard)) >= n) return false;
  *base = path.substr(0, path.size() - kSuffix);
  *num_shards = n;
  return true;
}

std::string Pattern(const std::string& base, int num_shards) {
  return fmt::format("{}-{}-of-{:05d}", base, std::string(5, '?'), num_shards);
}

std::string ShardPath(const std::string& base, int shard, int num_shards) {
  return fmt::format("{}-{:05d}-of-{:05d}", base, shard, num_shards);
}

std::string CheckpointOf(const std::string& path) {
  if (!IsTableFile(path)) return "";
  std::string base;
  int n = 0;
  return SplitShardName(path, &base, &n) ? Pattern(base, n) : path;
}

void Files(const std::string& name, std::vector<std::string>* files,
           std::vector<std::string>* missing) {
  files->clear();
  missing->clear();
  std::string base;
  int n = 0;
  if (name.find('?') == std::string::npos || !SplitShardName(name, &base, &n)) {
    files->push_back(name);
    return;
  }
  for (int i = 0; i < n; i++) {
    std::string shard = ShardPath(base, i, n);
    (file::Exists(shard) ? files : missing)->push_back(std::move(shard));
  }
}

bool Exists(const std::string& name) {
  std::vector<std::string> files, missing;
  Files(name, &files, &missing);
  for (const std::string& f : files) {
    if (file::Exists(f) && IsTableFile(f)) return true;
  }
  return false;
}

}  // namespace tfckpt::v1_files
