// Fuzzes the .index table reader (LevelDB's Table with TensorFlow's options, CRCs checked).

#include "format/index_table.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = tfckpt::fuzz::ScratchDir() + "/table.index";
  tfckpt::fuzz::WriteFile(path, data, size);
  size_t entries = 0;
  (void)tfckpt::ForEachIndexEntry(path, [&](std::string_view, std::string_view) {
    entries++;
    return tfckpt::Status::OK();
  });
  return 0;
}
