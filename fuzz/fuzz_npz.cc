// Fuzzes the .npz reader: the zip directory, ZIP64 records, member headers, npy headers and
// deflated members, read through a byte source without a mapping (ReadAt only).

#include "format/npz.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tfckpt::fuzz::ReadOnlySource file(data, size, "fuzz.npz");
  std::vector<tfckpt::npz::Member> members;
  if (!tfckpt::npz::List(file, &members).ok()) return 0;
  for (const tfckpt::npz::Member& m : members) {
    if (!m.deflated) continue;
    std::string array;
    (void)tfckpt::npz::Inflate(file, m, &array);
  }
  return 0;
}
