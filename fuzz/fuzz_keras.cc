// Fuzzes the Keras file reader: the zip directory of a `.keras` archive, the HDF5 object tree
// (superblocks, object headers, B-trees, heaps, attributes, layouts) and the naming of weights,
// read through a byte source without a mapping (ReadAt only), then every located value read.

#include <cstdlib>
#include <vector>

#include "format/keras.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto source = std::make_shared<tfckpt::fuzz::ReadOnlySource>(data, size, "fuzz.keras");
  tfckpt::keras::File file;
  if (!tfckpt::keras::OpenSource(source, "fuzz.keras", &file).ok()) return 0;
  for (const tfckpt::keras::Variable& v : file.variables) {
    if (!v.unsupported.empty()) continue;
    if (v.size < 0) std::abort();  // (a readable weight has a size)
    if (v.offset < 0) continue;    // (compact: its values are in memory)
    std::vector<char> bytes(static_cast<size_t>(std::min<int64_t>(v.size, 1 << 20)));
    (void)file.weights->ReadAt(v.offset, static_cast<int64_t>(bytes.size()), bytes.data());
  }
  return 0;
}
