// Fuzzes opening, reading and verifying a whole (mutated) checkpoint. The input is an index and
// a data file: a 2-byte little-endian length of the index, the index, then the data.

#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  size_t n = data[0] | (data[1] << 8);
  if (n > size - 2) n = size - 2;
  const std::string prefix = tfckpt::fuzz::ScratchDir() + "/ckpt";
  tfckpt::fuzz::WriteFile(prefix + ".index", data + 2, n);
  tfckpt::fuzz::WriteFile(prefix + ".data-00000-of-00001", data + 2 + n, size - 2 - n);
  tfckpt::fuzz::OpenReadAndVerify(prefix);
  return 0;
}
