// Turning what a user typed into a checkpoint prefix, and the `checkpoint` state file that
// TensorFlow keeps in a training directory.
//
// Thread-safety: free functions; safe from any thread (they only read the filesystem, except
// WriteCheckpointState, which replaces one file atomically).

#ifndef TFCKPT_PATHS_H_
#define TFCKPT_PATHS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tfckpt/status.h"

namespace tfckpt {

// Resolves a user's path to a checkpoint prefix. Accepted forms:
//   - a prefix: "model.ckpt-1000", "dir/ckpt-3";
//   - the index or a data file: "model.ckpt-1000.index", "x.data-00000-of-00002";
//   - a directory with a `checkpoint` state file: its latest checkpoint, or with `step` (or a
//     "@<step>" suffix, "dir@1000") the listed checkpoint whose prefix ends in "-<step>";
//   - a SavedModel directory (its variables/variables), or a directory holding one checkpoint.
// A legacy V1 checkpoint is recognised and refused with a message that says so.
Status ResolveCheckpointPath(const std::string& path, std::optional<int64_t> step,
                             std::string* prefix);

// Which checkpoint of a directory `path` (as given to ResolveCheckpointPath, with `step`) resolved
// to `prefix`, in words: "the latest checkpoint listed in DIR/checkpoint", "the one checkpoint in
// DIR", "the variables of the SavedModel DIR", ... Empty when `path` names the checkpoint itself
// (its prefix, its index or a data file).
std::string DescribeResolution(const std::string& path, std::optional<int64_t> step,
                               const std::string& prefix);

// The `checkpoint` state file's contents. Paths are as written in the file (maybe relative).
struct CheckpointState {
  std::string model_checkpoint_path;
  std::vector<std::string> all_model_checkpoint_paths;
  std::vector<double> all_model_checkpoint_timestamps;
  std::optional<double> last_preserved_timestamp;
};

// Parses the text-format state file `<dir>/checkpoint`.
Status ReadCheckpointState(const std::string& dir, CheckpointState* state);

// Every checkpoint listed in `dir`'s `checkpoint` state file, oldest first (the latest last, also
// when the file's list lacks it), each found as ResolveCheckpointPath finds a listed one.
Status ListedCheckpoints(const std::string& dir, std::vector<std::string>* prefixes);

// The last `n` checkpoints listed in `dir`'s `checkpoint` state file, oldest first (the latest
// last), each found as ResolveCheckpointPath finds a listed one. A local `dir` without a state
// file that holds Keras files (what a ModelCheckpoint callback leaves: model.{epoch:02d}.keras,
// *.weights.h5, all of one kind) gives the last `n` of them, ordered by the numbers in their
// names (natural order: model.9.keras before model.10.keras) when every name has one, else by
// modification time. `*how`, when given, says which files these are and how they were ordered.
Status LastCheckpoints(const std::string& dir, int n, std::vector<std::string>* prefixes,
                       std::string* how = nullptr);

// Writes `<dir>/checkpoint` atomically (temporary file, fsync, rename), in the text format that
// TensorFlow writes and reads. The latest path is appended to the list if missing.
Status WriteCheckpointState(const std::string& dir, const CheckpointState& state);

}  // namespace tfckpt

#endif  // TFCKPT_PATHS_H_
