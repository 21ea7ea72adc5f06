// Fuzzes opening, reading and verifying a (mutated) V1 checkpoint: the input is the one table
// file of a V1 checkpoint (metadata under the empty key, a SavedTensorSlices per slice).

#include "fuzz/fuzz_util.h"
#include "tfckpt/checkpoint.h"
#include "tfckpt/verify.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = tfckpt::fuzz::ScratchDir() + "/model.ckpt";
  tfckpt::fuzz::WriteFile(path, data, size);
  std::unique_ptr<tfckpt::Checkpoint> ckpt;
  if (!tfckpt::Checkpoint::Open(path, &ckpt).ok()) return 0;
  for (const tfckpt::TensorInfo& t : ckpt->tensors()) {
    tfckpt::Tensor value;
    (void)ckpt->Read(t, tfckpt::ReadOptions(), &value);
  }
  tfckpt::VerifyReport report;
  tfckpt::VerifyOptions options;
  options.threads = 1;
  (void)tfckpt::VerifyCheckpoint(*ckpt, options, &report);
  return 0;
}
