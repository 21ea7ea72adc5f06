#include "format/string_tensor.h"

#include <gtest/gtest.h>

#include "format/crc32c.h"
#include "testing/test_util.h"

namespace tfckpt::string_tensor {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(StringTensor, LayoutOfTwoElements) {
  std::vector<std::string_view> values = {"hi", ""};
  std::string out;
  uint32_t crc = SerializeStrings(values, &out);
  // varint lengths 02 00, then Mask(crc32c of the lengths as two uint32), then "hi".
  const char lengths[8] = {2, 0, 0, 0, 0, 0, 0, 0};
  uint32_t lcrc = crc32c::Value(lengths, 8);
  ASSERT_EQ(out.size(), 2u + 4u + 2u);
  EXPECT_EQ(out[0], 2);
  EXPECT_EQ(out[1], 0);
  uint32_t stored = 0;
  for (int i = 3; i >= 0; i--) stored = (stored << 8) | static_cast<uint8_t>(out[2 + i]);
  EXPECT_EQ(stored, crc32c::Mask(lcrc));
  EXPECT_EQ(out.substr(6), "hi");
  // The entry CRC covers fixed-width lengths, the checksum bytes and the payload.
  std::string covered(lengths, 8);
  covered += out.substr(2, 4) + "hi";
  EXPECT_EQ(crc, crc32c::Value(covered.data(), covered.size()));
}

TEST(StringTensor, RoundTripBinaryAndEmpty) {
  std::string binary("\0\xff\x80zz", 5);
  std::string big(300, 'x');
  std::vector<std::string_view> values = {"", binary, big, "unicode \xc3\xa9"};
  std::string out;
  uint32_t crc = SerializeStrings(values, &out);
  std::vector<std::string_view> back;
  uint32_t crc2 = 0;
  ASSERT_OK(ParseStrings(Bytes(out), 4, &back, &crc2));
  EXPECT_EQ(crc, crc2);
  ASSERT_EQ(back.size(), 4u);
  for (size_t i = 0; i < 4; i++) EXPECT_EQ(back[i], values[i]);
}

TEST(StringTensor, BigEndianLengthChecksum) {
  // As a big-endian machine writes "hi", "": the same varints and bytes; the lengths checksummed
  // as big-endian uint32s, and the checksum stored big-endian.
  const char lengths[8] = {0, 0, 0, 2, 0, 0, 0, 0};
  const uint32_t lcrc = crc32c::Value(lengths, 8);
  const uint32_t masked = crc32c::Mask(lcrc);
  std::string stored = {2, 0};
  for (int shift = 24; shift >= 0; shift -= 8) stored.push_back(static_cast<char>(masked >> shift));
  stored += "hi";
  std::vector<std::string_view> back;
  uint32_t crc = 0;
  ASSERT_OK(ParseStrings(Bytes(stored), 2, &back, &crc, /*big_endian=*/true));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0], "hi");
  EXPECT_EQ(back[1], "");
  std::string covered(lengths, 8);
  covered += stored.substr(2);
  EXPECT_EQ(crc, crc32c::Value(covered.data(), covered.size()));
  // The same bytes read as little-endian do not check out.
  EXPECT_STATUS(ParseStrings(Bytes(stored), 2, &back, &crc), Status::Code::kDataLoss,
                "length checksum");
}

TEST(StringTensor, ZeroElements) {
  std::string out;
  uint32_t crc = SerializeStrings({}, &out);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(crc, crc32c::Value(out.data(), 4));
  std::vector<std::string_view> back;
  uint32_t crc2 = 0;
  ASSERT_OK(ParseStrings(Bytes(out), 0, &back, &crc2));
  EXPECT_TRUE(back.empty());
}

TEST(StringTensor, DetectsCorruption) {
  std::vector<std::string_view> values = {"abc", "de"};
  std::string out;
  SerializeStrings(values, &out);
  std::vector<std::string_view> back;
  uint32_t crc = 0;
  std::string bad = out;
  bad[0] = 4;  // length changed: checksum of lengths no longer matches
  EXPECT_STATUS(ParseStrings(Bytes(bad), 2, &back, &crc), Status::Code::kDataLoss,
                "length checksum does not match");
  EXPECT_STATUS(ParseStrings(Bytes(out.substr(0, out.size() - 1)), 2, &back, &crc),
                Status::Code::kDataLoss,
                "string data is 4 bytes but the element lengths add up to 5");
  EXPECT_STATUS(ParseStrings(Bytes(out + "x"), 2, &back, &crc), Status::Code::kDataLoss,
                "string data is 6 bytes but the element lengths add up to 5");
  // A third length read from the checksum bytes: the checksum no longer matches.
  EXPECT_STATUS(ParseStrings(Bytes(out), 3, &back, &crc), Status::Code::kDataLoss, "");
  EXPECT_STATUS(ParseStrings(Bytes(std::string(3, '\xff')), 1, &back, &crc),
                Status::Code::kDataLoss, "length of string element 0 is unreadable");
  EXPECT_STATUS(ParseStrings(Bytes(out), 100, &back, &crc), Status::Code::kDataLoss,
                "100 elements cannot fit");
}

TEST(VariantTensor, RoundTrip) {
  std::vector<std::string_view> elements = {"first", "", std::string_view("\0\x01", 2)};
  std::string out;
  uint32_t crc = SerializeVariants(elements, &out);
  std::vector<std::string_view> back;
  uint32_t crc2 = 0;
  ASSERT_OK(ParseVariants(Bytes(out), 3, &back, &crc2));
  EXPECT_EQ(crc, crc2);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[0], "first");
  std::string bad = out;
  bad[2] ^= 1;
  EXPECT_STATUS(ParseVariants(Bytes(bad), 3, &back, &crc2), Status::Code::kDataLoss,
                "variant element 0 checksum does not match");
  EXPECT_STATUS(ParseVariants(Bytes(out.substr(0, out.size() - 1)), 3, &back, &crc2),
                Status::Code::kDataLoss, "variant element 2 is truncated");
  EXPECT_STATUS(ParseVariants(Bytes(out + "z"), 3, &back, &crc2), Status::Code::kDataLoss,
                "1 bytes follow the last variant element");
}

}  // namespace
}  // namespace tfckpt::string_tensor
