// Helpers shared by the library's unit tests: Status assertions (ASSERT_OK, EXPECT_OK,
// EXPECT_STATUS, ASSERT_STATUS), scratch directories (removed when the test program exits), file
// contents, hex dumps, and small checkpoints written and read back. Every helper reports a wrong
// value through gtest; none crashes on one.
//
// Thread-safety: TempDir may be called from one thread at a time; the others are pure.

#ifndef TFCKPT_TESTING_TEST_UTIL_H_
#define TFCKPT_TESTING_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/byte_source.h"
#include "io/file_util.h"
#include "tfckpt/checkpoint.h"
#include "tfckpt/status.h"
#include "tfckpt/writer.h"

namespace tfckpt::testing {

// The enumerator's name, for failure messages.
inline const char* CodeName(Status::Code code) {
  switch (code) {
    case Status::Code::kOk:
      return "kOk";
    case Status::Code::kNotFound:
      return "kNotFound";
    case Status::Code::kInvalidArgument:
      return "kInvalidArgument";
    case Status::Code::kCorruption:
      return "kCorruption";
    case Status::Code::kIOError:
      return "kIOError";
    case Status::Code::kUnsupported:
      return "kUnsupported";
    case Status::Code::kAlreadyExists:
      return "kAlreadyExists";
    case Status::Code::kFailedPrecondition:
      return "kFailedPrecondition";
    case Status::Code::kDataLoss:
      return "kDataLoss";
  }
  return "(unknown code)";
}

// Predicate-formatters behind the macros below: on failure they print the expression, the code
// and the whole message.
inline ::testing::AssertionResult StatusIsOk(const char* expr, const Status& s) {
  if (s.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << expr << " failed with " << CodeName(s.code()) << ": " << s.message();
}

inline ::testing::AssertionResult StatusIs(const char* expr, const char* /*code_expr*/,
                                           const char* /*substr_expr*/, const Status& s,
                                           Status::Code code, std::string_view substr) {
  if (s.ok()) {
    return ::testing::AssertionFailure() << expr << " succeeded; expected " << CodeName(code)
                                         << " with a message containing '" << substr << "'";
  }
  if (s.code() != code) {
    return ::testing::AssertionFailure() << expr << " failed with " << CodeName(s.code())
                                         << ", expected " << CodeName(code) << ": " << s.message();
  }
  if (s.message().find(substr) == std::string::npos) {
    return ::testing::AssertionFailure()
           << expr << " failed with " << CodeName(code)
           << " as expected, but its message does not contain '" << substr << "': " << s.message();
  }
  return ::testing::AssertionSuccess();
}

}  // namespace tfckpt::testing

// The Status `expr` is OK; else the failure shows its code and message.
#define ASSERT_OK(expr) ASSERT_PRED_FORMAT1(::tfckpt::testing::StatusIsOk, (expr))
#define EXPECT_OK(expr) EXPECT_PRED_FORMAT1(::tfckpt::testing::StatusIsOk, (expr))
// The Status `expr` has code `code` (a Status::Code) and a message containing `substr` ("" for
// any message).
#define EXPECT_STATUS(expr, code, substr) \
  EXPECT_PRED_FORMAT3(::tfckpt::testing::StatusIs, (expr), (code), (substr))
#define ASSERT_STATUS(expr, code, substr) \
  ASSERT_PRED_FORMAT3(::tfckpt::testing::StatusIs, (expr), (code), (substr))

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
  EXPECT_OK(ReadWholeSource(path, &s)) << path;
  return s;
}

// Replaces the file at `path` with `bytes`.
inline void WriteAll(const std::string& path, std::string_view bytes) {
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << "cannot create " << path;
  EXPECT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size()) << path;
  EXPECT_EQ(std::fclose(f), 0) << path;
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

// One tensor of a checkpoint written by WriteCheckpoint: raw little-endian element bytes.
struct TestTensor {
  std::string name;
  DType dtype = DType::kFloat;
  Shape shape;
  std::vector<uint8_t> bytes;
};

template <typename T>
TestTensor MakeTensor(std::string name, DType dtype, Shape shape, const std::vector<T>& values) {
  std::span<const uint8_t> b = AsBytes(values);
  return {std::move(name), dtype, std::move(shape), std::vector<uint8_t>(b.begin(), b.end())};
}

// Shorthands for BundleWriter::Add: a whole fixed-size tensor, a DT_STRING tensor, one slice.
inline Status AddBytes(BundleWriter& w, std::string_view name, DType dtype, const Shape& shape,
                       std::span<const uint8_t> bytes) {
  return w.Add({name, dtype, shape}, PieceBytes::InMemory(bytes));
}
inline Status AddStrings(BundleWriter& w, std::string_view name, const Shape& shape,
                         std::span<const std::string_view> values) {
  return w.AddTensor(
      name, Tensor::Elements(DType::kString, shape, {values.begin(), values.end()}, nullptr));
}
inline Status AddSlice(BundleWriter& w, std::string_view name, const Shape& shape,
                       const TensorSlice& slice, DType dtype, std::span<const uint8_t> bytes) {
  return w.Add({name, dtype, shape, &slice}, PieceBytes::InMemory(bytes));
}

// Writes `tensors` (without fsync) as the checkpoint `prefix`. Check with
// ASSERT_NO_FATAL_FAILURE.
inline void WriteCheckpoint(const std::string& prefix, const std::vector<TestTensor>& tensors) {
  std::unique_ptr<BundleWriter> w;
  WriterOptions o;
  o.sync = false;
  ASSERT_OK(BundleWriter::Create(prefix, o, &w));
  for (const TestTensor& t : tensors)
    ASSERT_OK(w->Add({t.name, t.dtype, t.shape}, PieceBytes::InMemory(t.bytes))) << t.name;
  ASSERT_OK(w->Finish());
}

// The elements of tensor `name` of the checkpoint at `prefix` as T (whose size must be the
// dtype's); empty, with a failure reported, when it cannot be read.
template <typename T>
std::vector<T> ReadValues(const std::string& prefix, const std::string& name) {
  std::unique_ptr<Checkpoint> c;
  Status s = Checkpoint::Open(prefix, &c);
  EXPECT_OK(s) << prefix;
  if (!s.ok()) return {};
  Tensor t;
  s = c->Read(name, &t);
  EXPECT_OK(s) << name;
  if (!s.ok()) return {};
  EXPECT_EQ(static_cast<size_t>(DTypeSize(t.dtype())), sizeof(T)) << name;
  if (t.bytes().size() % sizeof(T) != 0 || static_cast<size_t>(DTypeSize(t.dtype())) != sizeof(T)) {
    return {};
  }
  std::vector<T> out(t.bytes().size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), t.bytes().data(), t.bytes().size());
  return out;
}

// The tensor names of the checkpoint at `prefix`, in index order; empty (with a failure) when
// it cannot be opened.
inline std::vector<std::string> TensorNames(const std::string& prefix) {
  std::unique_ptr<Checkpoint> c;
  Status s = Checkpoint::Open(prefix, &c);
  EXPECT_OK(s) << prefix;
  std::vector<std::string> out;
  if (!s.ok()) return out;
  for (const TensorInfo& t : c->tensors()) out.push_back(t.name);
  return out;
}

}  // namespace tfckpt::testing

#endif  // TFCKPT_TESTING_TEST_UTIL_H_
