// The text-format `checkpoint` state file: reading, writing, and finding the checkpoints it lists
// (tfckpt/paths.h, format/checkpoint_state.h).

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <map>

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <fmt/format.h>

#include "format/checkpoint_state.h"
#include "format/v1_files.h"
#include "io/byte_source.h"
#include "io/commit.h"
#include "io/file_util.h"
#include "tfckpt.pb.h"
#include "tfckpt/paths.h"
#include "tfckpt/remote.h"

namespace tfckpt {
namespace {

std::string StateFile(const std::string& dir) { return file::Join(dir, "checkpoint"); }

bool CheckpointExists(const std::string& prefix) {
  return file::Exists(prefix + ".index") || v1_files::Exists(prefix);
}

// Where a checkpoint the state file lists is: at the path written (relative to `dir`), or, when
// that is gone, beside the state file (TF1 Savers write absolute paths, and the directory may have
// been moved since). The path as written when neither exists.
std::string Locate(const std::string& dir, const std::string& listed) {
  std::string written = file::Join(dir, listed);
  std::string beside = file::Join(dir, file::Basename(listed));
  // (A state file in a bucket that names a path of the machine that wrote it means the
  // checkpoint beside it, never a file of this machine; and a local state file never sends a
  // read to the network.)
  if (IsRemotePath(dir) != IsRemotePath(written)) return beside;
  if (CheckpointExists(written)) return written;
  return CheckpointExists(beside) ? beside : written;
}

// Compares names by their runs of digits as numbers and the rest as text ("m.9" < "m.10").
bool NaturalLess(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = std::isdigit(static_cast<unsigned char>(a[i])) != 0;
    const bool db = std::isdigit(static_cast<unsigned char>(b[j])) != 0;
    if (da && db) {
      size_t ei = i, ej = j;
      while (ei < a.size() && std::isdigit(static_cast<unsigned char>(a[ei]))) ei++;
      while (ej < b.size() && std::isdigit(static_cast<unsigned char>(b[ej]))) ej++;
      std::string_view x(a.data() + i, ei - i), y(b.data() + j, ej - j);
      while (x.size() > 1 && x.front() == '0') x.remove_prefix(1);
      while (y.size() > 1 && y.front() == '0') y.remove_prefix(1);
      if (x.size() != y.size()) return x.size() < y.size();
      if (x != y) return x < y;
      i = ei;
      j = ej;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      i++;
      j++;
    }
  }
  return a.size() - i < b.size() - j || (a.size() - i == b.size() - j && a < b);
}

// The Keras files a ModelCheckpoint callback left in `dir` (one kind: .keras, .weights.h5 or
// other .h5), oldest first: by the numbers in their names (the epoch) when every name has one,
// else by modification time. Empty when `dir` holds none.
Status KerasCheckpointFiles(const std::string& dir, std::vector<std::string>* files,
                            std::string* order) {
  files->clear();
  std::vector<std::string> names;
  if (!file::ListDirectory(dir, &names).ok()) return Status::OK();
  std::map<std::string, std::vector<std::string>> by_kind;
  for (const std::string& n : names) {
    if (n.find(file::kTempMarker) != std::string::npos) continue;
    const char* kind = n.ends_with(".keras")                        ? ".keras"
                       : n.ends_with(".weights.h5")                 ? ".weights.h5"
                       : n.ends_with(".h5") || n.ends_with(".hdf5") ? ".h5"
                                                                    : nullptr;
    if (kind != nullptr && file::IsRegularFile(file::Join(dir, n))) by_kind[kind].push_back(n);
  }
  if (by_kind.empty()) return Status::OK();
  if (by_kind.size() > 1) {
    std::string kinds;
    for (const auto& [kind, list] : by_kind) kinds += (kinds.empty() ? "" : " and ") + kind;
    return Status::InvalidArgument(fmt::format(
        "'{}' holds Keras files of several kinds ({}); pass the files to use instead of the "
        "directory",
        dir, kinds));
  }
  names = by_kind.begin()->second;
  // (Without the kind's extension, whose ".h5" holds a digit.)
  const std::string kind = by_kind.begin()->first;
  auto stem = [&](const std::string& n) {
    return n.ends_with(".hdf5") ? n.substr(0, n.size() - 5) : n.substr(0, n.size() - kind.size());
  };
  const bool numbered = std::all_of(names.begin(), names.end(), [&](const std::string& full) {
    const std::string n = stem(full);
    return std::any_of(n.begin(), n.end(),
                       [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  });
  if (numbered) {
    std::sort(names.begin(), names.end(), [&](const std::string& a, const std::string& b) {
      return NaturalLess(stem(a), stem(b)) || (stem(a) == stem(b) && a < b);
    });
    *order = "by the numbers in their names (the epoch)";
  } else {
    std::vector<std::pair<int64_t, std::string>> timed;
    for (const std::string& n : names) {
      struct stat st;
      int64_t t = 0;
      if (::stat(file::Join(dir, n).c_str(), &st) == 0) {
        t = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
      }
      timed.emplace_back(t, n);
    }
    std::sort(timed.begin(), timed.end());
    names.clear();
    for (auto& [t, n] : timed) names.push_back(std::move(n));
    *order = "by modification time (their names hold no epoch number)";
  }
  for (const std::string& n : names) files->push_back(file::Join(dir, n));
  return Status::OK();
}

}  // namespace

std::optional<int64_t> StepOfPrefix(std::string_view prefix_in) {
  // The pattern of a sharded V1 checkpoint, "model.ckpt-1000-?????-of-00003", has its step
  // before the shard part.
  std::string base;
  int shards = 0;
  std::string_view prefix = prefix_in;
  if (v1_files::SplitShardName(std::string(prefix_in), &base, &shards)) {
    prefix = prefix_in.substr(0, base.size());
  }
  size_t dash = prefix.rfind('-');
  if (dash == std::string_view::npos) return std::nullopt;
  std::string_view digits = prefix.substr(dash + 1);
  if (digits.empty() || digits.size() > 18 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return std::isdigit(c); })) {
    return std::nullopt;
  }
  return std::stoll(std::string(digits));
}

Status CheckpointFromState(const std::string& dir, std::optional<int64_t> step,
                           std::string* prefix) {
  CheckpointState state;
  TFCKPT_RETURN_IF_ERROR(ReadCheckpointState(dir, &state));
  std::string chosen = state.model_checkpoint_path;
  if (step) {
    chosen.clear();
    std::vector<std::string> listed = state.all_model_checkpoint_paths;
    listed.push_back(state.model_checkpoint_path);
    for (const std::string& p : listed) {
      if (StepOfPrefix(p) == step) chosen = p;
    }
    if (chosen.empty()) {
      std::vector<std::string> names;
      for (const std::string& p : state.all_model_checkpoint_paths)
        names.push_back(file::Basename(p));
      return Status::NotFound(fmt::format(
          "no checkpoint of step {} is listed in '{}' (listed: {}); pick one of those steps", *step,
          StateFile(dir), fmt::join(names, ", ")));
    }
  }
  std::string resolved = Locate(dir, chosen);
  if (!CheckpointExists(resolved)) {
    return Status::NotFound(fmt::format(
        "'{}' names checkpoint '{}', but '{}.index' does not exist (nor a V1 checkpoint of that "
        "name); the checkpoint was deleted or moved (pass its prefix directly)",
        StateFile(dir), chosen, resolved));
  }
  *prefix = resolved;
  return Status::OK();
}

Status ListedCheckpoints(const std::string& dir, std::vector<std::string>* prefixes) {
  CheckpointState state;
  TFCKPT_RETURN_IF_ERROR(ReadCheckpointState(dir, &state));
  std::vector<std::string> listed = state.all_model_checkpoint_paths;
  if (listed.empty() || listed.back() != state.model_checkpoint_path) {
    listed.push_back(state.model_checkpoint_path);
  }
  prefixes->clear();
  for (const std::string& path : listed) prefixes->push_back(Locate(dir, path));
  return Status::OK();
}

Status LastCheckpoints(const std::string& dir, int n, std::vector<std::string>* prefixes,
                       std::string* how) {
  if (n <= 0) {
    return Status::InvalidArgument(
        fmt::format("the number of last checkpoints to take must be positive, not {}", n));
  }
  std::vector<std::string> listed;
  if (how) how->clear();
  if (!IsRemotePath(dir) && !file::Exists(StateFile(dir))) {
    std::string order;
    TFCKPT_RETURN_IF_ERROR(KerasCheckpointFiles(dir, &listed, &order));
    if (!listed.empty()) {
      if (static_cast<int>(listed.size()) < n) {
        return Status::InvalidArgument(fmt::format(
            "the last {} checkpoints were asked for, but '{}' holds only {} Keras file(s)", n, dir,
            listed.size()));
      }
      prefixes->assign(listed.end() - n, listed.end());
      if (how) {
        *how = fmt::format("the last {} of the {} Keras files in '{}', ordered {}", n,
                           listed.size(), dir, order);
      }
      return Status::OK();
    }
  }
  TFCKPT_RETURN_IF_ERROR(ListedCheckpoints(dir, &listed));
  if (static_cast<int>(listed.size()) < n) {
    return Status::InvalidArgument(
        fmt::format("the last {} checkpoints were asked for, but '{}' "
                    "lists only {} checkpoint(s)",
                    n, StateFile(dir), listed.size()));
  }
  prefixes->assign(listed.end() - n, listed.end());
  if (how) *how = fmt::format("the last {} checkpoints listed in '{}'", n, StateFile(dir));
  return Status::OK();
}

Status ReadCheckpointState(const std::string& dir, CheckpointState* state) {
  std::string path = StateFile(dir);
  std::string text;
  TFCKPT_RETURN_IF_ERROR(ReadWholeSource(path, &text));
  pb::CheckpointState proto;
  // Collects parse errors silently; the message below says what to do.
  class Quiet : public google::protobuf::io::ErrorCollector {
   public:
    void AddError(int, int, const std::string&) override {}
  } quiet;
  google::protobuf::TextFormat::Parser parser;
  parser.AllowUnknownField(true);
  parser.RecordErrorsTo(&quiet);
  if (!parser.ParseFromString(text, &proto)) {
    return Status::Corruption(fmt::format(
        "the checkpoint state file '{}' is not valid text format; fix or delete it, or pass a "
        "checkpoint prefix instead of the directory",
        path));
  }
  if (proto.model_checkpoint_path().empty()) {
    return Status::Corruption(fmt::format(
        "the checkpoint state file '{}' names no model_checkpoint_path; pass a checkpoint prefix "
        "instead of the directory",
        path));
  }
  state->model_checkpoint_path = proto.model_checkpoint_path();
  state->all_model_checkpoint_paths.assign(proto.all_model_checkpoint_paths().begin(),
                                           proto.all_model_checkpoint_paths().end());
  state->all_model_checkpoint_timestamps.assign(proto.all_model_checkpoint_timestamps().begin(),
                                                proto.all_model_checkpoint_timestamps().end());
  if (proto.last_preserved_timestamp() != 0) {
    state->last_preserved_timestamp = proto.last_preserved_timestamp();
  } else {
    state->last_preserved_timestamp.reset();
  }
  return Status::OK();
}

Status WriteCheckpointState(const std::string& dir, const CheckpointState& state) {
  if (state.model_checkpoint_path.empty()) {
    return Status::InvalidArgument("a checkpoint state needs a model_checkpoint_path");
  }
  pb::CheckpointState proto;
  proto.set_model_checkpoint_path(state.model_checkpoint_path);
  for (const std::string& p : state.all_model_checkpoint_paths) {
    proto.add_all_model_checkpoint_paths(p);
  }
  if (state.all_model_checkpoint_paths.empty() ||
      state.all_model_checkpoint_paths.back() != state.model_checkpoint_path) {
    proto.add_all_model_checkpoint_paths(state.model_checkpoint_path);
  }
  for (double t : state.all_model_checkpoint_timestamps)
    proto.add_all_model_checkpoint_timestamps(t);
  if (state.last_preserved_timestamp) {
    proto.set_last_preserved_timestamp(*state.last_preserved_timestamp);
  }
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(proto, &text)) {
    return Status::InvalidArgument("cannot format the checkpoint state");
  }
  TFCKPT_RETURN_IF_ERROR(file::CreateDirectories(dir));
  return WriteFileAtomically(StateFile(dir), text);
}

}  // namespace tfckpt
