// The `checkpoint` state file TensorFlow keeps in a training directory: which checkpoints it lists
// and where they are. The file's format and LastCheckpoints are public (tfckpt/paths.h); this is
// what path resolution adds.
//
// Thread-safety: free functions; they only read the filesystem.

#ifndef TFCKPT_FORMAT_CHECKPOINT_STATE_H_
#define TFCKPT_FORMAT_CHECKPOINT_STATE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tfckpt/paths.h"

namespace tfckpt {

// The step number at the end of a prefix: "model.ckpt-1000" -> 1000; nullopt without one.
std::optional<int64_t> StepOfPrefix(std::string_view prefix);

// The prefix the state file of `dir` names as latest or, with `step`, the listed one whose prefix
// ends in "-<step>". NotFound when there is none or its index is missing.
Status CheckpointFromState(const std::string& dir, std::optional<int64_t> step,
                           std::string* prefix);

}  // namespace tfckpt

#endif  // TFCKPT_FORMAT_CHECKPOINT_STATE_H_
