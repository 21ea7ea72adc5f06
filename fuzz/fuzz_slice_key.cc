// Fuzzes the ordered-code slice-key decoder.

#include "format/slice_key.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view key(reinterpret_cast<const char*>(data), size);
  std::string name;
  tfckpt::TensorSlice slice;
  if (tfckpt::slice_key::Decode(key, &name, &slice)) {
    // A decoded key re-encodes to a key that decodes to the same thing.
    std::string again = tfckpt::slice_key::Encode(name, slice);
    std::string name2;
    tfckpt::TensorSlice slice2;
    if (!tfckpt::slice_key::Decode(again, &name2, &slice2) || name2 != name || !(slice2 == slice)) {
      __builtin_trap();
    }
  }
  return 0;
}
