#include "tfckpt/dtype.h"

#include <gtest/gtest.h>

namespace tfckpt {
namespace {

TEST(DType, NamesRoundTrip) {
  for (int n = 1; n <= 33; n++) {
    DType d = static_cast<DType>(n);
    auto back = DTypeFromName(DTypeName(d));
    ASSERT_TRUE(back.has_value()) << n;
    EXPECT_EQ(*back, d);
  }
  EXPECT_EQ(DTypeName(DType::kHalf), "float16");
  EXPECT_EQ(DTypeName(DType::kFloat), "float32");
  EXPECT_EQ(DTypeName(static_cast<DType>(99)), "dtype_99");
  EXPECT_EQ(DTypeFromName("DT_BFLOAT16"), DType::kBFloat16);
  EXPECT_FALSE(DTypeFromName("float33").has_value());
}

TEST(DType, Sizes) {
  EXPECT_EQ(DTypeSize(DType::kFloat), 4);
  EXPECT_EQ(DTypeSize(DType::kComplex128), 16);
  EXPECT_EQ(DTypeSize(DType::kBool), 1);
  EXPECT_EQ(DTypeSize(DType::kBFloat16), 2);
  EXPECT_EQ(DTypeSize(DType::kString), 0);
  EXPECT_EQ(DTypeSize(DType::kResource), 0);
  EXPECT_FALSE(IsStorable(DType::kResource));
  EXPECT_TRUE(IsStorable(DType::kVariant));
  EXPECT_TRUE(IsFloating(DType::kFloat8E4M3FN));
  EXPECT_FALSE(IsFloating(DType::kInt4));
}

}  // namespace
}  // namespace tfckpt
