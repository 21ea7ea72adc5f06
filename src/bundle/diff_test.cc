#include "tfckpt/diff.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "testing/test_util.h"
#include "tfckpt/writer.h"

namespace tfckpt {
namespace {

using testing::MakeTensor;
using testing::TempDir;
using testing::WriteCheckpoint;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::unique_ptr<Checkpoint> Open(const std::string& prefix) {
  std::unique_ptr<Checkpoint> c;
  EXPECT_OK(Checkpoint::Open(prefix, &c));
  return c;
}

const ValueDiff* FindDiff(const DiffReport& r, const std::string& name) {
  for (const ValueDiff& d : r.values_differ) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

TEST(Diff, IdenticalCheckpoints) {
  std::string d = TempDir();
  std::vector<testing::TestTensor> t = {
      MakeTensor("w", DType::kFloat, {3}, std::vector<float>{1, kNaN, -kInf}),
      MakeTensor("step", DType::kInt64, {}, std::vector<int64_t>{5})};
  ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(d + "/a", t));
  ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(d + "/b", t));
  auto a = Open(d + "/a"), b = Open(d + "/b");
  ASSERT_TRUE(a && b);
  DiffReport r;
  ASSERT_OK(DiffCheckpoints(*a, *b, DiffOptions(), &r));
  EXPECT_TRUE(r.same());
  EXPECT_EQ(r.identical, 2);
}

TEST(Diff, NamesDTypesShapesAndValues) {
  std::string d = TempDir();
  ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(
      d + "/a", {MakeTensor("a_only", DType::kFloat, {}, std::vector<float>{0}),
                 MakeTensor("dtype", DType::kFloat, {1}, std::vector<float>{0}),
                 MakeTensor("shape", DType::kFloat, {2}, std::vector<float>{0, 0}),
                 MakeTensor("v", DType::kFloat, {4}, std::vector<float>{1, 2, 3, -7}),
                 MakeTensor("zero", DType::kFloat, {2}, std::vector<float>{0.5f, 1})}));
  ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(
      d + "/b", {MakeTensor("b_only", DType::kFloat, {}, std::vector<float>{0}),
                 MakeTensor("dtype", DType::kDouble, {1}, std::vector<double>{0}),
                 MakeTensor("shape", DType::kFloat, {1, 2}, std::vector<float>{0, 0}),
                 MakeTensor("v", DType::kFloat, {4}, std::vector<float>{1, 2.5f, 2, -7}),
                 MakeTensor("zero", DType::kFloat, {2}, std::vector<float>{0, 1})}));
  auto a = Open(d + "/a"), b = Open(d + "/b");
  ASSERT_TRUE(a && b);
  DiffReport r;
  ASSERT_OK(DiffCheckpoints(*a, *b, DiffOptions(), &r));
  EXPECT_FALSE(r.same());
  EXPECT_EQ(r.only_in_a, std::vector<std::string>{"a_only"});
  EXPECT_EQ(r.only_in_b, std::vector<std::string>{"b_only"});
  ASSERT_EQ(r.changed.size(), 2u);
  EXPECT_EQ(r.changed[0].name, "dtype");
  EXPECT_EQ(r.changed[0].a_dtype, DType::kFloat);
  EXPECT_EQ(r.changed[0].b_dtype, DType::kDouble);
  EXPECT_EQ(r.changed[1].name, "shape");
  EXPECT_EQ(r.changed[1].a_shape, Shape{2});
  EXPECT_EQ(r.changed[1].b_shape, (Shape{1, 2}));
  ASSERT_EQ(r.values_differ.size(), 2u);
  const ValueDiff* v = FindDiff(r, "v");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->differing, 2);         // 2 vs 2.5 and 3 vs 2
  EXPECT_DOUBLE_EQ(v->max_abs, 1.0);  // |3 - 2|
  EXPECT_DOUBLE_EQ(v->max_rel, 0.5);  // |3 - 2| / 2
  const ValueDiff* z = FindDiff(r, "zero");
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(z->differing, 1);
  EXPECT_DOUBLE_EQ(z->max_abs, 0.5);
  EXPECT_TRUE(std::isinf(z->max_rel));  // b == 0 != a
  EXPECT_EQ(r.identical, 0);
}

TEST(Diff, Tolerances) {
  std::string d = TempDir();
  ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(
      d + "/a", {MakeTensor("v", DType::kDouble, {3}, std::vector<double>{1.0, 100.0, -3.0}),
                 MakeTensor("n", DType::kFloat, {1}, std::vector<float>{kNaN})}));
  ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(
      d + "/b", {MakeTensor("v", DType::kDouble, {3}, std::vector<double>{1.001, 101.0, -3.0}),
                 MakeTensor("n", DType::kFloat, {1}, std::vector<float>{1})}));
  auto a = Open(d + "/a"), b = Open(d + "/b");
  ASSERT_TRUE(a && b);
  struct Case {
    double atol, rtol;
    int64_t differing;
  };
  // |a - b| <= atol + rtol * |b|: 0.001 vs 1.001; 1 vs 101.
  for (Case c : {Case{0, 0, 2}, Case{0.002, 0, 1}, Case{0.002, 0.01, 0}, Case{0, 0.001, 1}}) {
    DiffOptions o;
    o.atol = c.atol;
    o.rtol = c.rtol;
    DiffReport r;
    ASSERT_OK(DiffCheckpoints(*a, *b, o, &r));
    const ValueDiff* v = FindDiff(r, "v");
    if (c.differing == 0) {
      EXPECT_EQ(v, nullptr) << c.atol << " " << c.rtol;
    } else {
      ASSERT_NE(v, nullptr) << c.atol << " " << c.rtol;
      EXPECT_EQ(v->differing, c.differing) << c.atol << " " << c.rtol;
      EXPECT_NEAR(v->max_abs, 1.0, 1e-12);
    }
    // NaN against a number differs whatever the tolerance, by an infinite amount.
    const ValueDiff* n = FindDiff(r, "n");
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->differing, 1);
    EXPECT_TRUE(std::isinf(n->max_abs));
  }
}

// DiffOptions promises that NaN equals NaN (and equal infinities are equal): their difference is
// 0, but the tolerance atol + rtol * |b| is NaN for such a b (0 * inf, or |NaN|), so `d <= NaN`
// fails and they are counted as differing whenever the tensors' bytes differ elsewhere.
TEST(Diff, EqualNaNsAndInfinitiesAreNotDifferences) {
  std::string d = TempDir();
  ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(
      d + "/a", {MakeTensor("v", DType::kFloat, {3}, std::vector<float>{kNaN, kInf, 1})}));
  ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(
      d + "/b", {MakeTensor("v", DType::kFloat, {3}, std::vector<float>{kNaN, kInf, 2})}));
  auto a = Open(d + "/a"), b = Open(d + "/b");
  ASSERT_TRUE(a && b);
  DiffReport r;
  ASSERT_OK(DiffCheckpoints(*a, *b, DiffOptions(), &r));
  const ValueDiff* v = FindDiff(r, "v");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->differing, 1);  // only 1 vs 2
}

TEST(Diff, IntegersExactlyAndStrings) {
  std::string d = TempDir();
  const int64_t big = int64_t{1} << 60;
  WriterOptions wo;
  wo.sync = false;
  for (int k = 0; k < 2; k++) {
    std::unique_ptr<BundleWriter> w;
    ASSERT_OK(BundleWriter::Create(d + (k == 0 ? "/a" : "/b"), wo, &w));
    // big and big + 1 are the same double, but not the same integer.
    std::vector<int64_t> i = {big + k, -5};
    ASSERT_OK(testing::AddBytes(*w, "i", DType::kInt64, {2}, testing::AsBytes(i)));
    std::vector<uint8_t> u = {static_cast<uint8_t>(k == 0 ? 0 : 255)};
    ASSERT_OK(testing::AddBytes(*w, "u", DType::kUInt8, {1}, testing::AsBytes(u)));
    std::vector<std::string_view> s = {"same", k == 0 ? "left" : "right"};
    ASSERT_OK(testing::AddStrings(*w, "s", {2}, s));
    ASSERT_OK(w->Finish());
  }
  auto a = Open(d + "/a"), b = Open(d + "/b");
  ASSERT_TRUE(a && b);
  DiffReport r;
  DiffOptions o;
  o.atol = 0.5;
  ASSERT_OK(DiffCheckpoints(*a, *b, o, &r));
  const ValueDiff* i = FindDiff(r, "i");
  ASSERT_NE(i, nullptr);
  EXPECT_EQ(i->differing, 1);
  EXPECT_EQ(i->max_abs, 1.0);
  const ValueDiff* u = FindDiff(r, "u");
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->max_abs, 255.0);  // unsigned, no wrap-around
  const ValueDiff* s = FindDiff(r, "s");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->differing, 1);
  EXPECT_TRUE(std::isnan(s->max_abs));
  EXPECT_TRUE(std::isnan(s->max_rel));
}

TEST(Diff, DamagedBytesAreReported) {
  std::string d = TempDir();
  ASSERT_NO_FATAL_FAILURE(
      WriteCheckpoint(d + "/a", {MakeTensor("v", DType::kFloat, {2}, std::vector<float>{1, 2})}));
  ASSERT_NO_FATAL_FAILURE(
      WriteCheckpoint(d + "/b", {MakeTensor("v", DType::kFloat, {2}, std::vector<float>{1, 3})}));
  std::string data = testing::ReadAll(d + "/b.data-00000-of-00001");
  ASSERT_EQ(data.size(), 8u);
  data[0] ^= 1;
  ASSERT_NO_FATAL_FAILURE(testing::WriteAll(d + "/b.data-00000-of-00001", data));
  auto a = Open(d + "/a"), b = Open(d + "/b");
  ASSERT_TRUE(a && b);
  DiffReport r;
  EXPECT_STATUS(DiffCheckpoints(*a, *b, DiffOptions(), &r), Status::Code::kDataLoss, "'v'");
}

}  // namespace
}  // namespace tfckpt
