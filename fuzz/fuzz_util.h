// Helpers for the libFuzzer targets: a private scratch directory per process.

#ifndef TFCKPT_FUZZ_FUZZ_UTIL_H_
#define TFCKPT_FUZZ_FUZZ_UTIL_H_

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace tfckpt::fuzz {

inline const std::string& ScratchDir() {
  static const std::string dir = [] {
    std::string tmpl = "/tmp/tfckpt-fuzz-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    return tmpl;
  }();
  return dir;
}

inline void WriteFile(const std::string& path, const uint8_t* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

}  // namespace tfckpt::fuzz

#endif  // TFCKPT_FUZZ_FUZZ_UTIL_H_
