// The average and blend kernels (exec/compute.cc), run through the public plan API, against
// values computed here by plain loops in float64 and rounded once to the tensor's dtype.

#include "exec/compute.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "testing/test_util.h"
#include "tfckpt/plan.h"
#include "tfckpt/values.h"

namespace tfckpt {
namespace {

using testing::MakeTensor;
using testing::ReadValues;
using testing::TempDir;
using testing::TestTensor;
using testing::WriteCheckpoint;

// More elements than one chunk (4096), so the work is split across the pool.
constexpr int kN = 10000;

ExecuteOptions Options(int threads) {
  ExecuteOptions o;
  o.sync = false;
  o.threads = threads;
  o.chunk_elements = 4096;
  return o;
}

std::vector<float> RandomFloats(uint32_t seed, int n, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

// The half / bfloat16 bit pattern nearest to `v`, ties to the even pattern, found by trying
// every finite positive pattern up to `max_finite` (no rounding code of the library involved).
uint16_t NearestEven(double v, float (*decode)(uint16_t), uint16_t max_finite) {
  const double a = std::fabs(v);
  uint16_t best = 0;
  double best_err = a;
  for (uint32_t p = 1; p <= max_finite; p++) {
    double err = std::fabs(static_cast<double>(decode(static_cast<uint16_t>(p))) - a);
    if (err < best_err || (err == best_err && (p & 1) == 0)) {
      best = static_cast<uint16_t>(p);
      best_err = err;
    }
  }
  return static_cast<uint16_t>(best | (std::signbit(v) ? 0x8000 : 0));
}

Status Execute(const Plan& plan, int threads) {
  ExecuteReport r;
  return ExecutePlan(plan, Options(threads), &r);
}

class Average : public ::testing::TestWithParam<int> {};

TEST_P(Average, Float32MatchesALoopAndIntegersComeFromTheNewest) {
  const int threads = GetParam();
  std::string d = TempDir();
  std::vector<std::vector<float>> in;
  for (int s = 0; s < 3; s++) {
    in.push_back(RandomFloats(11 + s, kN, 1.0f + s));
    ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(
        d + "/c" + std::to_string(s),
        {MakeTensor("w", DType::kFloat, {100, 100}, in[s]),
         MakeTensor("b", DType::kFloat, {}, std::vector<float>{static_cast<float>(s) + 0.5f}),
         MakeTensor("global_step", DType::kInt64, {}, std::vector<int64_t>{100 * (s + 1)})}));
  }
  Plan plan;
  ASSERT_OK(PlanAverage({d + "/c0", d + "/c1", d + "/c2"}, d + "/avg", AverageOptions(), &plan));
  ASSERT_OK(Execute(plan, threads));
  std::vector<float> got = ReadValues<float>(d + "/avg", "w");
  ASSERT_EQ(got.size(), static_cast<size_t>(kN));
  int wrong = 0;
  for (int i = 0; i < kN; i++) {
    double acc = 0;
    for (int s = 0; s < 3; s++) acc += 1.0 * in[s][i];
    float want = static_cast<float>(acc / 3.0);
    if (std::memcmp(&got[i], &want, 4) != 0 && wrong++ < 5) {
      ADD_FAILURE() << "element " << i << ": " << got[i] << " != " << want;
    }
  }
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(ReadValues<float>(d + "/avg", "b"), std::vector<float>{1.5f});
  EXPECT_EQ(ReadValues<int64_t>(d + "/avg", "global_step"), std::vector<int64_t>{300});
}

INSTANTIATE_TEST_SUITE_P(Threads, Average, ::testing::Values(1, 2));

// Tensors of every size in one stream: empty, scalar, smaller than a chunk, several chunks; the
// pool computes chunks of later tensors while earlier ones are written.
TEST(AverageKernel, ManyTensorsStreamAcrossThePool) {
  std::string d = TempDir();
  const std::vector<int> sizes = {0, 1, 7, 4096, 4097, 3 * 4096 + 5, 0, 300, 2 * 4096};
  std::vector<std::vector<std::vector<double>>> in(2);  // [checkpoint][tensor]
  for (int c = 0; c < 2; c++) {
    std::vector<TestTensor> tensors;
    for (size_t t = 0; t < sizes.size(); t++) {
      std::string name = fmt::format("t{:02}", t);
      std::vector<float> f = RandomFloats(100 * c + static_cast<uint32_t>(t), sizes[t]);
      in[c].emplace_back(f.begin(), f.end());
      if (t % 3 == 2) {  // some in float64
        tensors.push_back(MakeTensor(name, DType::kDouble, {sizes[t]}, in[c].back()));
      } else {
        tensors.push_back(MakeTensor(name, DType::kFloat, {sizes[t]}, f));
      }
    }
    ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(d + "/c" + std::to_string(c), tensors));
  }
  for (int threads : {1, 2, 3}) {
    std::string out = d + "/avg" + std::to_string(threads);
    Plan plan;
    ASSERT_OK(PlanAverage({d + "/c0", d + "/c1"}, out, AverageOptions(), &plan));
    ASSERT_OK(Execute(plan, threads));
    for (size_t t = 0; t < sizes.size(); t++) {
      std::string name = fmt::format("t{:02}", t);
      std::vector<double> want(static_cast<size_t>(sizes[t]));
      for (size_t i = 0; i < want.size(); i++) want[i] = (in[0][t][i] + in[1][t][i]) / 2.0;
      if (t % 3 == 2) {
        EXPECT_EQ(ReadValues<double>(out, name), want) << name << ", threads " << threads;
      } else {
        std::vector<float> wantf(want.begin(), want.end());
        EXPECT_EQ(ReadValues<float>(out, name), wantf) << name << ", threads " << threads;
      }
    }
  }
}

// Small tensors of 2-byte dtypes between float32 ones share a group's buffer: every tensor must
// still be computed in place at an offset aligned for its dtype (the sanitizer build checks the
// alignment), and read back right.
TEST(AverageKernel, GroupsMixDtypesOfOddSizes) {
  std::string d = TempDir();
  std::vector<std::vector<float>> f = {RandomFloats(40, 5), RandomFloats(41, 5)};
  for (int c = 0; c < 2; c++) {
    std::vector<uint16_t> h = {FloatToBFloat16(1.0f + c), FloatToBFloat16(2.0f),
                               FloatToBFloat16(-4.0f * c)};
    ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(
        d + "/c" + std::to_string(c),
        {MakeTensor("a", DType::kBFloat16, {3}, h), MakeTensor("b", DType::kFloat, {5}, f[c]),
         MakeTensor("c", DType::kHalf, {1}, std::vector<uint16_t>{FloatToHalf(0.5f * (c + 1))}),
         MakeTensor("d", DType::kFloat, {5}, f[1 - c])}));
  }
  Plan plan;
  ASSERT_OK(PlanAverage({d + "/c0", d + "/c1"}, d + "/avg", AverageOptions(), &plan));
  ASSERT_OK(Execute(plan, 2));
  std::vector<float> want;
  for (int i = 0; i < 5; i++) {
    want.push_back(static_cast<float>((static_cast<double>(f[0][i]) + f[1][i]) / 2.0));
  }
  EXPECT_EQ(ReadValues<float>(d + "/avg", "b"), want);
  EXPECT_EQ(ReadValues<float>(d + "/avg", "d"), want);
  std::vector<uint16_t> a = ReadValues<uint16_t>(d + "/avg", "a");
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(BFloat16ToFloat(a[0]), 1.5f);
  EXPECT_EQ(BFloat16ToFloat(a[1]), 2.0f);
  EXPECT_EQ(BFloat16ToFloat(a[2]), -2.0f);
  EXPECT_EQ(ReadValues<uint16_t>(d + "/avg", "c"), std::vector<uint16_t>{FloatToHalf(0.75f)});
}

TEST(AverageKernel, WeightsWithAndWithoutNormalizing) {
  std::string d = TempDir();
  std::vector<double> a = {1, 2, -3, 1e300}, b = {4, -8, 0.5, -1e300};
  ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(d + "/a", {MakeTensor("x", DType::kDouble, {4}, a)}));
  ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(d + "/b", {MakeTensor("x", DType::kDouble, {4}, b)}));
  for (bool normalize : {true, false}) {
    AverageOptions o;
    o.weights = {0.25, 2};
    o.normalize = normalize;
    Plan plan;
    std::string out = d + (normalize ? "/norm" : "/sum");
    ASSERT_OK(PlanAverage({d + "/a", d + "/b"}, out, o, &plan));
    ASSERT_OK(Execute(plan, 1));
    std::vector<double> got = ReadValues<double>(out, "x");
    ASSERT_EQ(got.size(), 4u);
    for (size_t i = 0; i < 4; i++) {
      double want = 0.25 * a[i] + 2 * b[i];
      if (normalize) want /= 2.25;
      EXPECT_EQ(got[i], want) << i << (normalize ? " normalized" : " summed");
    }
  }
  // Weights that add up to 0 cannot be normalized; a weight per source is required.
  AverageOptions zero;
  zero.weights = {1, -1};
  Plan plan;
  EXPECT_STATUS(PlanAverage({d + "/a", d + "/b"}, d + "/z", zero, &plan),
                Status::Code::kInvalidArgument, "add up to 0");
  AverageOptions one;
  one.weights = {1};
  EXPECT_STATUS(PlanAverage({d + "/a", d + "/b"}, d + "/z", one, &plan),
                Status::Code::kInvalidArgument, "`weights` has 1 value(s) for 2 source(s)");
}

// float16 and bfloat16: the mean is computed in float64 and rounded once, to nearest even. The
// first elements are exact ties between two representable values.
void CheckSmallFloatAverage(DType dtype, float (*decode)(uint16_t), uint16_t (*encode)(float),
                            uint16_t max_finite) {
  std::string d = TempDir();
  std::vector<uint16_t> a, b, c;
  // (1, 1 + ulp) / 2 is a tie: to even (1). (1 + ulp, 1 + 2 ulp) / 2: to even (1 + 2 ulp).
  a = {0x3c00, 0x3c01, 0x3c03, 0xbc01};
  b = {0x3c01, 0x3c02, 0x3c04, 0xbc02};
  if (dtype == DType::kBFloat16) {
    a = {0x3f80, 0x3f81, 0x3f83, 0xbf81};
    b = {0x3f81, 0x3f82, 0x3f84, 0xbf82};
  }
  std::vector<float> ra = RandomFloats(5, 2000, 3.0f), rb = RandomFloats(6, 2000, 0.01f),
                     rc = RandomFloats(7, 2000, 100.0f);
  for (size_t i = 0; i < ra.size(); i++) {
    a.push_back(encode(ra[i]));
    b.push_back(encode(rb[i]));
  }
  c = a;  // a third input: a, plus a small change in the random part
  for (size_t i = 4; i < c.size(); i++) c[i] = encode(decode(a[i]) + rc[i - 4] * 1e-3f);
  const Shape shape = {static_cast<int64_t>(a.size())};
  ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(d + "/a", {MakeTensor("h", dtype, shape, a)}));
  ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(d + "/b", {MakeTensor("h", dtype, shape, b)}));
  ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(d + "/c", {MakeTensor("h", dtype, shape, c)}));

  Plan two;
  ASSERT_OK(PlanAverage({d + "/a", d + "/b"}, d + "/two", AverageOptions(), &two));
  ASSERT_OK(Execute(two, 2));
  std::vector<uint16_t> got = ReadValues<uint16_t>(d + "/two", "h");
  ASSERT_EQ(got.size(), a.size());
  for (size_t i = 0; i < a.size(); i++) {
    double mean = (static_cast<double>(decode(a[i])) + decode(b[i])) / 2;
    ASSERT_EQ(got[i], NearestEven(mean, decode, max_finite))
        << DTypeName(dtype) << " element " << i << ": mean " << mean;
  }
  // The ties, spelled out.
  if (dtype == DType::kHalf) {
    EXPECT_EQ(got[0], 0x3c00);
    EXPECT_EQ(got[1], 0x3c02);
    EXPECT_EQ(got[2], 0x3c04);
    EXPECT_EQ(got[3], 0xbc02);
  } else {
    EXPECT_EQ(got[0], 0x3f80);
    EXPECT_EQ(got[1], 0x3f82);
    EXPECT_EQ(got[2], 0x3f84);
    EXPECT_EQ(got[3], 0xbf82);
  }

  Plan three;
  ASSERT_OK(PlanAverage({d + "/a", d + "/b", d + "/c"}, d + "/three", AverageOptions(), &three));
  ASSERT_OK(Execute(three, 1));
  got = ReadValues<uint16_t>(d + "/three", "h");
  ASSERT_EQ(got.size(), a.size());
  for (size_t i = 0; i < a.size(); i++) {
    double mean =
        (static_cast<double>(decode(a[i])) + decode(b[i]) + static_cast<double>(decode(c[i]))) / 3;
    ASSERT_EQ(got[i], NearestEven(mean, decode, max_finite))
        << DTypeName(dtype) << " element " << i << ": mean " << mean;
  }
}

TEST(AverageKernel, Float16RoundsOnceToNearestEven) {
  CheckSmallFloatAverage(DType::kHalf, HalfToFloat, FloatToHalf, 0x7bff);
}

TEST(AverageKernel, BFloat16RoundsOnceToNearestEven) {
  CheckSmallFloatAverage(DType::kBFloat16, BFloat16ToFloat, FloatToBFloat16, 0x7f7f);
}

TEST(AverageKernel, Complex64) {
  std::string d = TempDir();
  std::vector<std::complex<float>> a = {{1, 2}, {-3, 0.5f}}, b = {{2, -2}, {0.25f, 7}};
  ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(d + "/a", {MakeTensor("z", DType::kComplex64, {2}, a)}));
  ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(d + "/b", {MakeTensor("z", DType::kComplex64, {2}, b)}));
  Plan plan;
  ASSERT_OK(PlanAverage({d + "/a", d + "/b"}, d + "/out", AverageOptions(), &plan));
  ASSERT_OK(Execute(plan, 1));
  std::vector<std::complex<float>> got = ReadValues<std::complex<float>>(d + "/out", "z");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], std::complex<float>(1.5f, 0.0f));
  EXPECT_EQ(got[1], std::complex<float>(-1.375f, 3.75f));
}

// A base and two models of one float32 tensor "w" (kN elements) and an int32 "n".
struct Models {
  std::string dir;
  std::vector<float> base, m1, m2;
};

void WriteModels(Models* m) {
  m->dir = TempDir();
  m->base = RandomFloats(21, kN);
  m->m1 = RandomFloats(22, kN);
  m->m2 = RandomFloats(23, kN);
  for (int i = 0; i < kN; i++) {  // fine-tuned: close to the base
    m->m1[i] = m->base[i] + 0.1f * m->m1[i];
    m->m2[i] = m->base[i] + 0.1f * m->m2[i];
  }
  int k = 0;
  for (const auto* v : {&m->base, &m->m1, &m->m2}) {
    ASSERT_NO_FATAL_FAILURE(
        WriteCheckpoint(m->dir + "/" + std::to_string(k),
                        {MakeTensor("w", DType::kFloat, {kN}, *v),
                         MakeTensor("n", DType::kInt32, {}, std::vector<int32_t>{k + 1})}));
    k++;
  }
}

std::vector<float> Blend(const Models& m, BlendOptions o, const std::string& name, int threads) {
  if (o.method != BlendMethod::kLinear) o.base = m.dir + "/0";
  if (o.models.empty()) o.models = {m.dir + "/1", m.dir + "/2"};
  Plan plan;
  const std::string out = m.dir + "/" + name;
  Status s = PlanBlend(o, out, &plan);
  EXPECT_OK(s);
  if (!s.ok()) return {};
  s = Execute(plan, threads);
  EXPECT_OK(s);
  if (!s.ok()) return {};
  return ReadValues<float>(out, "w");
}

// Bit-for-bit equality, reporting the first few differences.
void ExpectSame(const std::vector<float>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  int wrong = 0;
  for (size_t i = 0; i < got.size(); i++) {
    float w = static_cast<float>(want[i]);
    if (std::memcmp(&got[i], &w, 4) != 0 && wrong++ < 5) {
      ADD_FAILURE() << "element " << i << ": " << got[i] << " != " << w;
    }
  }
  EXPECT_EQ(wrong, 0);
}

TEST(BlendKernel, LinearAndTaskArithmetic) {
  Models m;
  ASSERT_NO_FATAL_FAILURE(WriteModels(&m));
  BlendOptions linear;
  linear.method = BlendMethod::kLinear;
  linear.models = {m.dir + "/0", m.dir + "/1", m.dir + "/2"};
  linear.weights = {1, 2, 0.5};
  std::vector<double> want(kN);
  for (int i = 0; i < kN; i++) {
    double acc = 1.0 * m.base[i];
    acc += 2.0 * m.m1[i];
    acc += 0.5 * m.m2[i];
    want[i] = acc / 3.5;
  }
  ExpectSame(Blend(m, linear, "linear", 2), want);
  // The integer comes from the first model.
  EXPECT_EQ(ReadValues<int32_t>(m.dir + "/linear", "n"), std::vector<int32_t>{1});

  BlendOptions task;
  task.method = BlendMethod::kTaskArithmetic;
  task.weights = {0.7, 0.3};
  task.lambda = 1.5;
  for (int i = 0; i < kN; i++) {
    double b = m.base[i];
    double acc = 0.7 * (m.m1[i] - b);
    acc += 0.3 * (m.m2[i] - b);
    want[i] = b + 1.5 * acc;
  }
  ExpectSame(Blend(m, task, "task", 2), want);
  EXPECT_EQ(ReadValues<int32_t>(m.dir + "/task", "n"), std::vector<int32_t>{1});  // the base's
}

TEST(BlendKernel, Slerp) {
  Models m;
  ASSERT_NO_FATAL_FAILURE(WriteModels(&m));
  for (double t : {0.0, 0.3, 1.0}) {
    BlendOptions o;
    o.method = BlendMethod::kSlerp;
    o.models = {m.dir + "/1"};
    o.t = t;
    double n0 = 0, n1 = 0;
    for (int i = 0; i < kN; i++) {
      n0 += static_cast<double>(m.base[i]) * m.base[i];
      n1 += static_cast<double>(m.m1[i]) * m.m1[i];
    }
    n0 = std::sqrt(n0);
    n1 = std::sqrt(n1);
    double dot = 0;
    for (int i = 0; i < kN; i++) dot += (m.base[i] / n0) * (m.m1[i] / n1);
    ASSERT_LT(std::fabs(dot), 0.9995);  // the spherical branch
    const double theta = std::acos(dot);
    const double s0 = std::sin(theta - theta * t) / std::sin(theta);
    const double s1 = std::sin(theta * t) / std::sin(theta);
    std::vector<double> want(kN);
    for (int i = 0; i < kN; i++) want[i] = s0 * m.base[i] + s1 * m.m1[i];
    std::vector<float> got = Blend(m, o, "slerp" + std::to_string(t), 2);
    ExpectSame(got, want);
    if (t == 0.0) {
      EXPECT_EQ(got, m.base);
    }
  }
  // Nearly parallel: the linear branch.
  std::vector<float> scaled = m.base;
  for (float& x : scaled) x *= 2;
  ASSERT_NO_FATAL_FAILURE(
      WriteCheckpoint(m.dir + "/scaled", {MakeTensor("w", DType::kFloat, {kN}, scaled),
                                          MakeTensor("n", DType::kInt32, {}, std::vector{9})}));
  BlendOptions o;
  o.method = BlendMethod::kSlerp;
  o.models = {m.dir + "/scaled"};
  o.t = 0.25;
  std::vector<double> want(kN);
  for (int i = 0; i < kN; i++) want[i] = 0.75 * m.base[i] + 0.25 * scaled[i];
  ExpectSame(Blend(m, o, "slerp_parallel", 1), want);
}

TEST(BlendKernel, TiesByHand) {
  std::string d = TempDir();
  ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(
      d + "/base", {MakeTensor("w", DType::kFloat, {4}, std::vector<float>{0, 0, 0, 0})}));
  ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(
      d + "/m1", {MakeTensor("w", DType::kFloat, {4}, std::vector<float>{1, -2, 3, 0.5f})}));
  ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(
      d + "/m2", {MakeTensor("w", DType::kFloat, {4}, std::vector<float>{-3, 1, 1, 0.25f})}));
  BlendOptions o;
  o.method = BlendMethod::kTies;
  o.base = d + "/base";
  o.models = {d + "/m1", d + "/m2"};
  o.density = 0.5;  // keep 2 of 4
  // m1 keeps 3 and -2; m2 keeps -3 and, of the tie |1| = |1|, the lower index: [0, -2, 3, 0] and
  // [-3, 1, 0, 0]. Signs elected: -, -, +, none. Means of the agreeing deltas: -3, -2, 3, 0.
  Plan plan;
  ASSERT_OK(PlanBlend(o, d + "/ties", &plan));
  ASSERT_OK(Execute(plan, 1));
  EXPECT_EQ(ReadValues<float>(d + "/ties", "w"), (std::vector<float>{-3, -2, 3, 0}));
  // Unnormalized, with weights and lambda: sums of the agreeing weighted deltas, times lambda.
  o.normalize = false;
  o.weights = {2, 1};
  o.lambda = 0.5;
  // Weighted sums: -3, -4 + 1 = -3, 6, 0: signs -, -, +; agreeing: -3, -4, 6, 0.
  Plan p2;
  ASSERT_OK(PlanBlend(o, d + "/ties2", &p2));
  ASSERT_OK(Execute(p2, 1));
  EXPECT_EQ(ReadValues<float>(d + "/ties2", "w"), (std::vector<float>{-1.5f, -2, 3, 0}));
}

TEST(BlendKernel, DareDropsAndRescalesReproducibly) {
  Models m;
  ASSERT_NO_FATAL_FAILURE(WriteModels(&m));
  BlendOptions o;
  o.method = BlendMethod::kDare;
  o.models = {m.dir + "/1"};
  o.p = 0.0;  // nothing dropped: task arithmetic
  std::vector<double> want(kN);
  for (int i = 0; i < kN; i++) {
    double b = m.base[i];
    want[i] = b + 1.0 * (1.0 * ((m.m1[i] - b) / 1.0));
  }
  ExpectSame(Blend(m, o, "dare0", 2), want);

  o.p = 0.5;
  o.seed = 7;
  std::vector<float> a = Blend(m, o, "dare_a", 2);
  std::vector<float> again = Blend(m, o, "dare_b", 1);
  ASSERT_EQ(a.size(), static_cast<size_t>(kN));
  EXPECT_EQ(a, again);  // the same seed, any number of threads
  int dropped = 0, wrong = 0;
  for (int i = 0; i < kN; i++) {
    const double b = m.base[i];
    const float kept = static_cast<float>(b + (m.m1[i] - b) / 0.5);
    const float base = m.base[i];
    if (a[i] == base && kept != base) {
      dropped++;
    } else if (a[i] != kept && wrong++ < 5) {
      ADD_FAILURE() << "element " << i << " is " << a[i] << ": neither " << base << " nor " << kept;
    }
  }
  EXPECT_EQ(wrong, 0);
  EXPECT_GT(dropped, kN * 4 / 10);
  EXPECT_LT(dropped, kN * 6 / 10);
  o.seed = 8;
  EXPECT_NE(Blend(m, o, "dare_c", 2), a);
}

TEST(BlendKernel, ComplexOnlyForLinearMethods) {
  std::string d = TempDir();
  std::vector<std::complex<float>> z = {{1, 1}};
  ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(d + "/b", {MakeTensor("z", DType::kComplex64, {1}, z)}));
  ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(d + "/m", {MakeTensor("z", DType::kComplex64, {1}, z)}));
  BlendOptions o;
  o.method = BlendMethod::kSlerp;
  o.base = d + "/b";
  o.models = {d + "/m"};
  Plan plan;
  ASSERT_OK(PlanBlend(o, d + "/out", &plan));
  EXPECT_STATUS(Execute(plan, 1), Status::Code::kUnsupported,
                "'z' is complex64: slerp works on real tensors only");
  EXPECT_FALSE(file::Exists(d + "/out.index"));

  o.method = BlendMethod::kTaskArithmetic;
  o.lambda = 2;
  Plan task;
  ASSERT_OK(PlanBlend(o, d + "/task", &task));
  ASSERT_OK(Execute(task, 1));
  EXPECT_EQ(ReadValues<std::complex<float>>(d + "/task", "z"), z);  // no delta
}

// A tensor that cannot be computed in the middle of the stream: the error, and no output,
// whatever the number of threads.
TEST(BlendKernel, AnErrorMidStreamLeavesNoOutput) {
  std::string d = TempDir();
  std::vector<float> big = RandomFloats(5, 3 * 4096);
  std::vector<std::complex<float>> z = {{1, 1}};
  for (const char* c : {"/b", "/m"}) {
    ASSERT_NO_FATAL_FAILURE(
        WriteCheckpoint(d + c, {MakeTensor("a", DType::kFloat, {3 * 4096}, big),
                                MakeTensor("m", DType::kComplex64, {1}, z),
                                MakeTensor("z", DType::kFloat, {3 * 4096}, big)}));
  }
  BlendOptions o;
  o.method = BlendMethod::kSlerp;
  o.base = d + "/b";
  o.models = {d + "/m"};
  for (int threads : {1, 2, 4}) {
    Plan plan;
    std::string out = d + "/out" + std::to_string(threads);
    ASSERT_OK(PlanBlend(o, out, &plan));
    EXPECT_STATUS(Execute(plan, threads), Status::Code::kUnsupported,
                  "'m' is complex64: slerp works on real tensors only");
    EXPECT_FALSE(file::Exists(out + ".index"));
    EXPECT_FALSE(file::Exists(out + ".data-00000-of-00001"));
  }
}

TEST(BlendKernel, PlanRefusesBadParameters) {
  Models m;
  ASSERT_NO_FATAL_FAILURE(WriteModels(&m));
  auto plan = [&](const BlendOptions& o) {
    Plan p;
    return PlanBlend(o, m.dir + "/x", &p);
  };
  BlendOptions o;
  o.method = BlendMethod::kTies;
  o.models = {m.dir + "/1"};
  EXPECT_STATUS(plan(o), Status::Code::kInvalidArgument, "ties needs a base model (`base`");
  o.base = m.dir + "/0";
  o.density = 1.5;
  EXPECT_STATUS(plan(o), Status::Code::kInvalidArgument, "density 1.5 is not in [0, 1]");
  o.density = 0.5;
  o.weights = {1, 2};
  EXPECT_STATUS(plan(o), Status::Code::kInvalidArgument, "2 weight(s) given for 1 model(s)");
  o.weights.clear();
  o.overrides.push_back({"^w$", std::nullopt, std::nullopt, std::nullopt, std::nullopt, 1.0});
  o.method = BlendMethod::kDare;
  EXPECT_STATUS(plan(o), Status::Code::kInvalidArgument, "p 1 is not in [0, 1) (for 'w')");
  EXPECT_FALSE(file::Exists(m.dir + "/x.index"));
}

}  // namespace
}  // namespace tfckpt
