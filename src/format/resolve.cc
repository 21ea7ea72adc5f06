// ResolveCheckpointPath (tfckpt/paths.h): from what a user typed to a checkpoint prefix.

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "format/checkpoint_state.h"
#include "format/index_table.h"
#include "format/v1_files.h"
#include "io/file_util.h"
#include "io/remote_source.h"
#include "tfckpt/paths.h"
#include "tfckpt/remote.h"

namespace tfckpt {
namespace {

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(c); });
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

Status FromDirectory(const std::string& dir, std::optional<int64_t> step, std::string* prefix) {
  std::string variables = file::Join(dir, "variables/variables");
  if (file::Exists(variables + ".index") || file::Exists(file::Join(dir, "saved_model.pb"))) {
    if (step) {
      return Status::InvalidArgument(
          fmt::format("'{}' is a SavedModel, which holds one checkpoint; drop the step", dir));
    }
    if (!file::Exists(variables + ".index")) {
      return Status::NotFound(
          fmt::format("SavedModel '{}' has no variables (no variables/variables.index)", dir));
    }
    *prefix = variables;
    return Status::OK();
  }
  if (file::Exists(file::Join(dir, "checkpoint"))) return CheckpointFromState(dir, step, prefix);
  std::vector<std::string> names, indexes;
  TFCKPT_RETURN_IF_ERROR(file::ListDirectory(dir, &names));
  for (const std::string& n : names) {
    if (EndsWith(n, ".index") && n.find(file::kTempMarker) == std::string::npos) {
      indexes.push_back(n.substr(0, n.size() - 6));
    }
  }
  if (step) {
    std::erase_if(indexes, [&](const std::string& p) { return StepOfPrefix(p) != step; });
  }
  if (indexes.size() == 1) {
    *prefix = file::Join(dir, indexes[0]);
    return Status::OK();
  }
  if (indexes.empty()) {
    // V1 checkpoints: single table files, or sets of shards known by their pattern.
    std::set<std::string> v1;
    for (const std::string& n : names) {
      if (n.find(file::kTempMarker) != std::string::npos) continue;
      std::string name = v1_files::CheckpointOf(file::Join(dir, n));
      if (!name.empty() && (!step || StepOfPrefix(name) == step)) v1.insert(std::move(name));
    }
    if (v1.size() == 1) {
      *prefix = *v1.begin();
      return Status::OK();
    }
    if (v1.size() > 1) {
      return Status::InvalidArgument(fmt::format(
          "directory '{}' holds {} V1 checkpoints ({}) and no `checkpoint` state file to say "
          "which is latest; pass one of them",
          dir, v1.size(), fmt::join(v1, ", ")));
    }
    return Status::NotFound(fmt::format(
        "directory '{}' holds no checkpoint (no `checkpoint` state file, no *.index file, no "
        "SavedModel); pass the checkpoint prefix, e.g. {}/model.ckpt-1000",
        dir, dir));
  }
  return Status::InvalidArgument(fmt::format(
      "directory '{}' holds {} checkpoints ({}) and no `checkpoint` state file to say which is "
      "latest; pass one prefix",
      dir, indexes.size(), fmt::join(indexes, ", ")));
}

// The prefix `path` names if it is an index or a data file ("x.index", "x.data-00000-of-00002":
// "x"); else `path` itself.
std::string PrefixOfFile(const std::string& path) {
  static const std::regex kDataFile(R"((.*)\.data-\d{5,}-of-\d{5,})");
  std::smatch m;
  if (EndsWith(path, ".index")) return path.substr(0, path.size() - 6);
  if (std::regex_match(path, m, kDataFile)) return m[1].str();
  return path;
}

// A remote path: object storage has no directories to list, so a "directory" is found by what it
// holds (a `checkpoint` state file, a SavedModel's variables).
Status ResolveRemote(std::string path, std::optional<int64_t> step, std::string* prefix) {
  const std::string candidate = PrefixOfFile(path);
  const bool bucket_only = path.find('/', path.find("://") + 3) == std::string::npos;
  bool exists = false;
  if (!step && !bucket_only) {
    TFCKPT_RETURN_IF_ERROR(RemoteObjectExists(candidate + ".index", &exists));
    if (exists) {
      if (candidate != path) {
        TFCKPT_RETURN_IF_ERROR(RemoteObjectExists(path, &exists));
        if (!exists) {
          return Status::NotFound(fmt::format(
              "'{}' does not exist; the checkpoint '{}' beside it does: pass its prefix", path,
              candidate));
        }
      }
      *prefix = candidate;
      return Status::OK();
    }
    if (candidate != path) {
      return Status::NotFound(
          fmt::format("no checkpoint at '{}': '{}.index' does not exist", path, candidate));
    }
  }
  const std::string variables = path + "/variables/variables";
  TFCKPT_RETURN_IF_ERROR(RemoteObjectExists(variables + ".index", &exists));
  if (exists) {
    if (step) {
      return Status::InvalidArgument(
          fmt::format("'{}' is a SavedModel, which holds one checkpoint; drop the step", path));
    }
    *prefix = variables;
    return Status::OK();
  }
  TFCKPT_RETURN_IF_ERROR(RemoteObjectExists(path + "/checkpoint", &exists));
  if (exists) return CheckpointFromState(path, step, prefix);
  if (step) {
    return Status::NotFound(fmt::format(
        "a step can only be chosen in a directory with a `checkpoint` file, and '{}/checkpoint' "
        "does not exist",
        path));
  }
  return Status::NotFound(fmt::format(
      "no checkpoint at '{}': none of '{}.index', '{}/checkpoint' and '{}.index' exists; pass a "
      "checkpoint prefix (s3://BUCKET/dir/model.ckpt-1000), its .index, a directory with a "
      "`checkpoint` file or a SavedModel (object storage has no directories to search)",
      path, path, path, variables));
}

}  // namespace

Status ResolveCheckpointPath(const std::string& path_in, std::optional<int64_t> step,
                             std::string* prefix) {
  if (path_in.empty()) return Status::InvalidArgument("the checkpoint path is empty");
  std::string path = path_in;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const bool remote = IsRemotePath(path);

  // "dir@1000" picks a step, unless a file of that exact name exists.
  size_t at = path.rfind('@');
  if (at != std::string::npos && (remote || !file::Exists(path)) &&
      !file::Exists(path + ".index") && AllDigits(std::string_view(path).substr(at + 1))) {
    if (step) {
      return Status::InvalidArgument(
          fmt::format("'{}' names a step with '@' and another one was given too", path));
    }
    step = std::stoll(path.substr(at + 1));
    path = path.substr(0, at);
  }

  if (remote) return ResolveRemote(path, step, prefix);
  if (file::IsDirectory(path)) return FromDirectory(path, step, prefix);
  if (step) {
    return Status::InvalidArgument(fmt::format(
        "a step can only be chosen for a directory with a `checkpoint` file; '{}' is not a "
        "directory",
        path));
  }

  static const std::regex kDataSuffix(R"(\.data-\d{5,}-of-\d{5,})");
  const std::string candidate = PrefixOfFile(path);
  if (candidate != path && !file::Exists(path) && file::Exists(candidate + ".index")) {
    // A named file must exist, even when the checkpoint it would belong to does.
    std::vector<std::string> names, files;
    if (file::ListDirectory(file::Dirname(candidate), &names).ok()) {
      const std::string base = file::Basename(candidate);
      for (const std::string& n : names) {
        if (n.rfind(base, 0) == 0 && std::regex_match(n.substr(base.size()), kDataSuffix)) {
          files.push_back(n);
        }
      }
    }
    return Status::NotFound(fmt::format(
        "'{}' does not exist; the checkpoint '{}' beside it has {}; pass its prefix '{}' (or a "
        "file it has)",
        path, candidate,
        files.empty() ? std::string("an index and no data file")
                      : fmt::format("the data file(s) {}", fmt::join(files, ", ")),
        candidate));
  }
  if (file::Exists(candidate + ".index")) {
    if (file::IsDirectory(candidate + ".index")) {
      return Status::InvalidArgument(
          fmt::format("'{}.index' is a directory, not a checkpoint index", candidate));
    }
    *prefix = candidate;
    return Status::OK();
  }
  // A V1 checkpoint: one of its files, or the pattern of a sharded one.
  if (std::string v1 = v1_files::CheckpointOf(path); !v1.empty()) {
    *prefix = v1;
    return Status::OK();
  }
  if (path.find('?') != std::string::npos && v1_files::Exists(path)) {
    *prefix = path;
    return Status::OK();
  }
  if (file::IsRegularFile(path)) {
    return Status::InvalidArgument(fmt::format(
        "'{}' is not a TensorFlow checkpoint: there is no '{}.index' beside it and it is not a "
        "checkpoint file; pass a checkpoint prefix such as model.ckpt-1000",
        path, candidate));
  }
  // A V1 checkpoint sharded under this prefix?
  std::string dir = file::Dirname(candidate), base = file::Basename(candidate);
  std::vector<std::string> names;
  if (file::IsDirectory(dir) && file::ListDirectory(dir, &names).ok()) {
    static const std::regex kV1Shard(R"(-\d{5}-of-\d{5})");
    std::vector<std::string> similar;
    std::set<std::string> v1;
    for (const std::string& n : names) {
      if (n.rfind(base, 0) != 0) continue;
      std::string rest = n.substr(base.size());
      if (std::regex_match(rest, kV1Shard)) {
        if (std::string name = v1_files::CheckpointOf(file::Join(dir, n)); !name.empty()) {
          v1.insert(std::move(name));
        }
      }
      if (EndsWith(n, ".index") && n.find(file::kTempMarker) == std::string::npos) {
        similar.push_back(file::Join(dir, n.substr(0, n.size() - 6)));
      }
    }
    if (v1.size() == 1) {
      *prefix = *v1.begin();
      return Status::OK();
    }
    if (v1.size() > 1) {
      return Status::InvalidArgument(
          fmt::format("'{}' is the prefix of {} sharded V1 checkpoints ({}); pass one of them",
                      path, v1.size(), fmt::join(v1, ", ")));
    }
    if (!similar.empty()) {
      return Status::NotFound(fmt::format("no checkpoint at '{}'; did you mean {}?{}", path,
                                          fmt::join(similar, " or "),
                                          file::WindowsPathHint(path_in)));
    }
  }
  return Status::NotFound(fmt::format(
      "no checkpoint at '{}': neither '{}.index' nor a directory exists; pass a checkpoint prefix "
      "(e.g. model.ckpt-1000), its .index file, a checkpoint directory or a SavedModel "
      "directory{}",
      path, candidate, file::WindowsPathHint(path_in)));
}

std::string DescribeResolution(const std::string& path_in, std::optional<int64_t> step,
                               const std::string& prefix) {
  std::string path = path_in;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  size_t at = path.rfind('@');
  if (at != std::string::npos && !file::Exists(path) && !file::Exists(path + ".index") &&
      AllDigits(std::string_view(path).substr(at + 1))) {
    step = std::stoll(path.substr(at + 1));
    path = path.substr(0, at);
  }
  const bool remote = IsRemotePath(path);
  if (remote ? prefix.rfind(path + "/", 0) != 0 : !file::IsDirectory(path)) return "";
  if (prefix == file::Join(path, "variables/variables")) {
    return fmt::format("the variables of the SavedModel '{}'", path);
  }
  if (remote || file::Exists(file::Join(path, "checkpoint"))) {
    const std::string state = file::Join(path, "checkpoint");
    if (step) return fmt::format("the checkpoint of step {} listed in '{}'", *step, state);
    return fmt::format("the latest checkpoint listed in '{}'", state);
  }
  if (step) return fmt::format("the one checkpoint of step {} in '{}'", *step, path);
  return fmt::format("the one checkpoint in '{}'", path);
}

}  // namespace tfckpt
