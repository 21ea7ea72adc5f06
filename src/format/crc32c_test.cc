#include "format/crc32c.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tfckpt::crc32c {
namespace {

TEST(Crc32c, StandardCheckValue) { EXPECT_EQ(Value("123456789", 9), 0xE3069283u); }

TEST(Crc32c, KnownVectors) {
  // RFC 3720 B.4: 32 bytes of zeros, 32 bytes of 0xff, 0..31.
  std::vector<uint8_t> zeros(32, 0), ones(32, 0xff), inc(32);
  for (int i = 0; i < 32; i++) inc[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(Value(zeros), 0x8A9136AAu);
  EXPECT_EQ(Value(ones), 0x62A8AB43u);
  EXPECT_EQ(Value(inc), 0x46DD794Eu);
  EXPECT_EQ(Value("", 0), 0u);
}

TEST(Crc32c, ExtendEqualsWhole) {
  std::string a = "hello, ", b = "world";
  EXPECT_EQ(Extend(Value(a.data(), a.size()), b.data(), b.size()),
            Value((a + b).data(), a.size() + b.size()));
}

TEST(Crc32c, MaskRoundTripAndConstant) {
  EXPECT_EQ(Mask(0), 0xA282EAD8u);
  for (uint32_t v : {0u, 1u, 0xE3069283u, 0xFFFFFFFFu, 0x12345678u}) {
    EXPECT_EQ(Unmask(Mask(v)), v);
    EXPECT_NE(Mask(v), v);
  }
}

}  // namespace
}  // namespace tfckpt::crc32c
