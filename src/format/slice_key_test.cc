#include "format/slice_key.h"

#include <gtest/gtest.h>

#include "testing/test_util.h"

#include <limits>
#include <string>

namespace tfckpt::slice_key {
namespace {

using ::tfckpt::testing::Hex;

std::string Signed(int64_t v) {
  std::string s;
  AppendSignedNumIncreasing(&s, v);
  return Hex(s);
}

// Expected bytes are the ordered-code values worked out by hand from the encoding's definition.
TEST(SliceKey, SignedNumbers) {
  EXPECT_EQ(Signed(0), "80");
  EXPECT_EQ(Signed(1), "81");
  EXPECT_EQ(Signed(63), "bf");
  EXPECT_EQ(Signed(64), "c0 40");
  EXPECT_EQ(Signed(100), "c0 64");
  EXPECT_EQ(Signed(-1), "7f");
  EXPECT_EQ(Signed(-64), "40");
  EXPECT_EQ(Signed(-65), "3f bf");
  EXPECT_EQ(Signed(-100), "3f 9c");
}

TEST(SliceKey, SignedRoundTripAndOrder) {
  std::vector<int64_t> values = {std::numeric_limits<int64_t>::min(),
                                 -(int64_t{1} << 40),
                                 -8193,
                                 -8192,
                                 -65,
                                 -64,
                                 -1,
                                 0,
                                 1,
                                 63,
                                 64,
                                 8191,
                                 8192,
                                 int64_t{1} << 40,
                                 int64_t{1} << 62,
                                 std::numeric_limits<int64_t>::max()};
  std::string prev;
  for (size_t i = 0; i < values.size(); i++) {
    std::string enc;
    AppendSignedNumIncreasing(&enc, values[i]);
    std::string_view in = enc;
    int64_t back = 0;
    ASSERT_TRUE(ReadSignedNumIncreasing(&in, &back)) << values[i];
    EXPECT_EQ(back, values[i]);
    EXPECT_TRUE(in.empty());
    if (i > 0) {
      EXPECT_LT(prev, enc) << "order broken at " << values[i];
    }
    prev = enc;
  }
}

TEST(SliceKey, UnsignedNumbers) {
  std::string s;
  AppendNumIncreasing(&s, 0);
  AppendNumIncreasing(&s, 2);
  AppendNumIncreasing(&s, 300);
  EXPECT_EQ(Hex(s), "00 01 02 02 01 2c");
}

TEST(SliceKey, FullKeyExample) {
  // name "foo", dim 0 whole, dim 1 = [0, 1).
  TensorSlice slice{{SliceExtent{0, -1}, SliceExtent{0, 1}}};
  EXPECT_EQ(Hex(Encode("foo", slice)), "00 66 6f 6f 00 01 01 02 80 7f 80 81");
}

TEST(SliceKey, RoundTripWithEscapes) {
  std::string name("a\0b\xff/c", 6);
  TensorSlice slice{{SliceExtent{5, 10}, SliceExtent{0, -1}, SliceExtent{1000000, 3}}};
  std::string key = Encode(name, slice);
  std::string back_name;
  TensorSlice back;
  ASSERT_TRUE(Decode(key, &back_name, &back));
  EXPECT_EQ(back_name, name);
  EXPECT_EQ(back, slice);
}

TEST(SliceKey, RejectsMalformed) {
  std::string name;
  TensorSlice slice;
  EXPECT_FALSE(Decode("", &name, &slice));
  EXPECT_FALSE(Decode("plain_name", &name, &slice));
  EXPECT_FALSE(Decode(std::string("\0foo", 4), &name, &slice));  // no terminator
  std::string key = Encode("foo", TensorSlice{{SliceExtent{0, 2}}});
  EXPECT_FALSE(Decode(key.substr(0, key.size() - 1), &name, &slice));
  EXPECT_FALSE(Decode(key + "x", &name, &slice));
}

}  // namespace
}  // namespace tfckpt::slice_key
