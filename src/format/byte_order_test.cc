#include "format/byte_order.h"

#include <gtest/gtest.h>

#include "testing/test_util.h"

namespace tfckpt::byte_order {
namespace {

TEST(ByteOrder, ReversesEachUnitOfTheDType) {
  const std::vector<uint8_t> stored = {1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<uint8_t> out;
  ASSERT_OK(ToLittleEndian(DType::kInt16, stored, &out));
  EXPECT_EQ(out, (std::vector<uint8_t>{2, 1, 4, 3, 6, 5, 8, 7}));
  ASSERT_OK(ToLittleEndian(DType::kFloat, stored, &out));
  EXPECT_EQ(out, (std::vector<uint8_t>{4, 3, 2, 1, 8, 7, 6, 5}));
  ASSERT_OK(ToLittleEndian(DType::kComplex64, stored, &out));  // real and imaginary apart
  EXPECT_EQ(out, (std::vector<uint8_t>{4, 3, 2, 1, 8, 7, 6, 5}));
  ASSERT_OK(ToLittleEndian(DType::kInt64, stored, &out));
  EXPECT_EQ(out, (std::vector<uint8_t>{8, 7, 6, 5, 4, 3, 2, 1}));
  ASSERT_OK(ToLittleEndian(DType::kUInt8, stored, &out));
  EXPECT_EQ(out, stored);
}

TEST(ByteOrder, RefusesWhatTensorFlowCannotSwap) {
  const std::vector<uint8_t> stored = {1, 2};
  std::vector<uint8_t> out;
  EXPECT_STATUS(ToLittleEndian(DType::kFloat8E4M3FN, stored, &out), Status::Code::kUnsupported,
                "float8_e4m3fn");
  EXPECT_STATUS(ToLittleEndian(DType::kInt4, stored, &out), Status::Code::kUnsupported, "int4");
  EXPECT_EQ(SwapUnit(DType::kVariant), 0);
  EXPECT_STATUS(ToLittleEndian(DType::kInt32, stored, &out), Status::Code::kCorruption,
                "not a whole number");
}

}  // namespace
}  // namespace tfckpt::byte_order
