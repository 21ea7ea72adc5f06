// Fuzzes the DT_STRING and DT_VARIANT decoders; the first byte picks the element count.

#include "format/string_tensor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int64_t n = data[0];
  std::span<const uint8_t> rest(data + 1, size - 1);
  std::vector<std::string_view> values;
  uint32_t crc = 0;
  if (tfckpt::string_tensor::ParseStrings(rest, n, &values, &crc).ok()) {
    // What parses must serialise back to the same bytes.
    std::string again;
    tfckpt::string_tensor::SerializeStrings(values, &again);
    if (again != std::string_view(reinterpret_cast<const char*>(rest.data()), rest.size())) {
      // Varints may have non-minimal forms; lengths and payload must still agree.
      if (again.size() > rest.size()) __builtin_trap();
    }
  }
  (void)tfckpt::string_tensor::ParseVariants(rest, n, &values, &crc);
  return 0;
}
