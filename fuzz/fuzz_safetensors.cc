// Fuzzes the safetensors header parser (length, JSON, dtypes, shapes, offsets, overlaps).

#include "format/safetensors.h"
#include "io/byte_source.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<tfckpt::safetensors::Entry> entries;
  std::map<std::string, std::string> metadata;
  (void)tfckpt::safetensors::Parse({data, size}, "fuzz.safetensors", &entries, &metadata);
  return 0;
}
