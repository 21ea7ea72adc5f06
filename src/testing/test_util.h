// Helpers shared by the library's unit tests: scratch directories (removed when the test
// program exits), file contents, hex dumps.
//
// Thread-safety: TempDir may be called from one thread at a time; the others are pure.

#ifndef TFCKPT_TESTING_TEST_UTIL_H_
#define TFCKPT_TESTING_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "io/byte_source.h"
#include "io/file_util.h"

namespace tfckpt::testing {

// A new empty directory; every one made is removed (with its contents) at exit.
inline std::string TempDir() {
  struct Made {
    std::vector<std::string> dirs;
    ~Made() {
      std::error_code ignored;
      for (const std::string& d : dirs) std::filesystem::remove_all(d, ignored);
    }
  };
  static Made made;
  std::string tmpl = ::testing::TempDir() + "tfckpt_test_XXXXXX";
  char* d = ::mkdtemp(tmpl.data());
  EXPECT_NE(d, nullptr) << "cannot create a directory in " << ::testing::TempDir();
  if (d == nullptr) return std::string();
  made.dirs.emplace_back(d);
  return made.dirs.back();
}

inline std::string ReadAll(const std::string& path) {
  std::string s;
  EXPECT_TRUE(ReadWholeSource(path, &s).ok()) << path;
  return s;
}

// "08 01 1a" for the bytes 0x08 0x01 0x1a.
inline std::string Hex(const std::string& s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (!out.empty()) out.push_back(' ');
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

template <typename T>
std::span<const uint8_t> AsBytes(const std::vector<T>& v) {
  return {reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(T)};
}

}  // namespace tfckpt::testing

#endif  // TFCKPT_TESTING_TEST_UTIL_H_
