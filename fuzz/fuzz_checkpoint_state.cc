// Fuzzes the text-format `checkpoint` state file and the path resolution that reads it.

#include "fuzz/fuzz_util.h"
#include "tfckpt/paths.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& dir = tfckpt::fuzz::ScratchDir();
  tfckpt::fuzz::WriteFile(dir + "/checkpoint", data, size);
  tfckpt::CheckpointState state;
  (void)tfckpt::ReadCheckpointState(dir, &state);
  std::string prefix;
  (void)tfckpt::ResolveCheckpointPath(dir, std::nullopt, &prefix);
  (void)tfckpt::ResolveCheckpointPath(dir, 7, &prefix);
  return 0;
}
