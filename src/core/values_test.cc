#include "tfckpt/values.h"

#include <gtest/gtest.h>

#include <cmath>

namespace tfckpt {
namespace {

TEST(Values, HalfKnownBits) {
  EXPECT_EQ(HalfToFloat(0x3c00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xc000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(HalfToFloat(0x7c00)));
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7e00)));
}

TEST(Values, HalfRoundTripEveryValue) {
  for (uint32_t b = 0; b < 0x10000; b++) {
    uint16_t h = static_cast<uint16_t>(b);
    float f = HalfToFloat(h);
    if (std::isnan(f)) continue;
    EXPECT_EQ(FloatToHalf(f), h) << std::hex << b;
  }
}

TEST(Values, HalfRoundsToNearestEven) {
  // 1 + 2^-11 lies exactly between 1 and the next half (1 + 2^-10): ties go to even (1.0).
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  // 1 + 3 * 2^-11 lies between 1 + 2^-10 (odd) and 1 + 2^-9 (even): goes up.
  EXPECT_EQ(FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(FloatToHalf(70000.0f), 0x7c00);
}

TEST(Values, BFloat16) {
  EXPECT_EQ(BFloat16ToFloat(0x3f80), 1.0f);
  EXPECT_EQ(FloatToBFloat16(1.0f), 0x3f80);
  EXPECT_EQ(FloatToBFloat16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);      // tie to even
  EXPECT_EQ(FloatToBFloat16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);  // tie to even (up)
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(FloatToBFloat16(NAN))));
}

TEST(Values, Float8) {
  EXPECT_EQ(Float8ToFloat(DType::kFloat8E4M3FN, 0x38), 1.0f);
  EXPECT_EQ(Float8ToFloat(DType::kFloat8E4M3FN, 0x7e), 448.0f);
  EXPECT_TRUE(std::isnan(Float8ToFloat(DType::kFloat8E4M3FN, 0x7f)));
  EXPECT_EQ(Float8ToFloat(DType::kFloat8E5M2, 0x3c), 1.0f);
  EXPECT_TRUE(std::isinf(Float8ToFloat(DType::kFloat8E5M2, 0x7c)));
  EXPECT_EQ(Float8ToFloat(DType::kFloat8E4M3FNUZ, 0x40), 1.0f);
  EXPECT_TRUE(std::isnan(Float8ToFloat(DType::kFloat8E4M3FNUZ, 0x80)));
  EXPECT_EQ(Float8ToFloat(DType::kFloat8E5M2FNUZ, 0x40), 1.0f);
  EXPECT_EQ(Float8ToFloat(DType::kFloat8E4M3B11FNUZ, 0x58), 1.0f);
  EXPECT_EQ(Float8ToFloat(DType::kFloat4E2M1FN, 0x7), 6.0f);
  EXPECT_EQ(Float8ToFloat(DType::kFloat4E2M1FN, 0x1), 0.5f);
}

TEST(Values, SubByteIntegers) {
  uint8_t data[] = {0x0f, 0x08, 0x07, 0xff};
  EXPECT_EQ(ElementAsInt(DType::kInt4, data, 0), -1);
  EXPECT_EQ(ElementAsInt(DType::kInt4, data, 1), -8);
  EXPECT_EQ(ElementAsInt(DType::kInt4, data, 2), 7);
  EXPECT_EQ(ElementAsUInt(DType::kUInt4, data, 0), 15u);
  EXPECT_EQ(ElementAsInt(DType::kInt2, data, 3), -1);
}

// Rounding from double goes straight to the narrow format: every value that lies exactly halfway
// between two neighbours rounds to the even one, and every representable value is exact.
TEST(Values, StoreDoubleRoundTripsAndRoundsToEven) {
  for (DType d : {DType::kHalf, DType::kBFloat16}) {
    for (uint32_t b = 0; b < 0x10000; b += 7) {
      uint16_t bits = static_cast<uint16_t>(b);
      double v = d == DType::kHalf ? HalfToFloat(bits) : BFloat16ToFloat(bits);
      if (std::isnan(v)) continue;
      uint8_t out[2];
      StoreDouble(d, v, out);
      uint16_t back = static_cast<uint16_t>(out[0] | (out[1] << 8));
      EXPECT_EQ(back, bits) << std::hex << b;
    }
  }
  uint8_t out[2];
  // Halfway between 1 and 1 + 2^-10 (half): ties to even, i.e. 1.0.
  StoreDouble(DType::kHalf, 1.0 + std::ldexp(1.0, -11), out);
  EXPECT_EQ(out[0] | (out[1] << 8), 0x3c00);
  // Slightly above halfway: up. (double rounding through float would lose this.)
  StoreDouble(DType::kHalf, 1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40), out);
  EXPECT_EQ(out[0] | (out[1] << 8), 0x3c01);
  StoreDouble(DType::kHalf, 1e6, out);
  EXPECT_EQ(out[0] | (out[1] << 8), 0x7c00);
  for (DType d : {DType::kFloat8E5M2, DType::kFloat8E4M3FN, DType::kFloat8E4M3FNUZ,
                  DType::kFloat8E4M3B11FNUZ, DType::kFloat8E5M2FNUZ, DType::kFloat4E2M1FN}) {
    for (int b = 0; b < (d == DType::kFloat4E2M1FN ? 16 : 256); b++) {
      float v = Float8ToFloat(d, static_cast<uint8_t>(b));
      if (std::isnan(v) || std::isinf(v)) continue;
      uint8_t o = 0;
      StoreDouble(d, v, &o);
      if (v == 0 && b != 0) continue;  // negative zero
      EXPECT_EQ(o, b) << DTypeName(d) << " " << b;
    }
  }
  uint8_t o = 0;
  StoreDouble(DType::kFloat8E4M3FN, 1000.0, &o);
  EXPECT_EQ(o, 0x7f);  // no infinity: NaN
}

}  // namespace
}  // namespace tfckpt
