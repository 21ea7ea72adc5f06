// Fuzzes opening, reading and verifying a (mutated) V1 checkpoint: the input is the one table
// file of a V1 checkpoint (metadata under the empty key, a SavedTensorSlices per slice).

#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = tfckpt::fuzz::ScratchDir() + "/model.ckpt";
  tfckpt::fuzz::WriteFile(path, data, size);
  tfckpt::fuzz::OpenReadAndVerify(path);
  return 0;
}
