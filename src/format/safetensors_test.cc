#include "format/safetensors.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "testing/test_util.h"

namespace tfckpt::safetensors {
namespace {

// A safetensors file: the 8-byte little-endian length of `header`, `header`, then `data`.
std::string File(const std::string& header, const std::string& data = "") {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; i++) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

Status ParseText(const std::string& file, std::vector<Entry>* entries,
                 std::map<std::string, std::string>* metadata) {
  return Parse(Bytes(file), "model.safetensors", entries, metadata);
}

// Parses a file with one header and `data_size` zero bytes of data.
Status ParseHeader(const std::string& header, size_t data_size = 16) {
  std::vector<Entry> entries;
  std::map<std::string, std::string> metadata;
  return ParseText(File(header, std::string(data_size, '\0')), &entries, &metadata);
}

TEST(Safetensors, DTypeCodes) {
  EXPECT_EQ(DTypeCode(DType::kFloat), "F32");
  EXPECT_EQ(DTypeCode(DType::kBFloat16), "BF16");
  EXPECT_EQ(DTypeCode(DType::kHalf), "F16");
  EXPECT_EQ(DTypeCode(DType::kBool), "BOOL");
  EXPECT_EQ(DTypeCode(DType::kFloat8E4M3FN), "F8_E4M3");
  EXPECT_EQ(DTypeCode(DType::kString), std::nullopt);
  EXPECT_EQ(DTypeCode(DType::kComplex128), std::nullopt);
  EXPECT_EQ(DTypeFromCode("I64"), DType::kInt64);
  EXPECT_EQ(DTypeFromCode("f32"), std::nullopt);  // codes are upper case
  EXPECT_EQ(DTypeFromCode("F128"), std::nullopt);
  for (DType d : {DType::kBool, DType::kUInt8, DType::kInt8, DType::kInt16, DType::kUInt16,
                  DType::kInt32, DType::kUInt32, DType::kInt64, DType::kUInt64, DType::kHalf,
                  DType::kBFloat16, DType::kFloat, DType::kDouble, DType::kComplex64,
                  DType::kFloat8E5M2, DType::kFloat8E4M3FN}) {
    auto code = DTypeCode(d);
    ASSERT_TRUE(code.has_value()) << DTypeName(d);
    EXPECT_EQ(DTypeFromCode(*code), d) << *code;
  }
}

TEST(Safetensors, HeaderThenParse) {
  std::vector<Entry> written = {{"b.weight", DType::kFloat, {2, 3}, 0, 24},
                                {"a.bias", DType::kBFloat16, {4}, 0, 8},
                                {"empty", DType::kInt64, {0}, 0, 0},
                                {"flag", DType::kBool, {}, 0, 1}};
  std::map<std::string, std::string> meta = {{"format", "pt"}};
  std::string header = Header(written, meta);
  ASSERT_GE(header.size(), 8u);
  // The data starts at a multiple of 8; the JSON is padded with spaces.
  EXPECT_EQ(header.size() % 8, 0u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | static_cast<uint8_t>(header[i]);
  EXPECT_EQ(n, header.size() - 8);
  EXPECT_EQ(header.substr(8, 15), "{\"__metadata__\"");
  EXPECT_NE(header.find("\"b.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}"),
            std::string::npos)
      << header;

  std::string file = header + std::string(33, 'x');
  std::vector<Entry> entries;
  std::map<std::string, std::string> metadata;
  ASSERT_OK(ParseText(file, &entries, &metadata));
  EXPECT_EQ(metadata, meta);
  ASSERT_EQ(entries.size(), 4u);
  // In data order: the order written, the empty tensor at its neighbour's offset.
  const int64_t start = static_cast<int64_t>(header.size());
  EXPECT_EQ(entries[0].name, "b.weight");
  EXPECT_EQ(entries[0].dtype, DType::kFloat);
  EXPECT_EQ(entries[0].shape, (Shape{2, 3}));
  EXPECT_EQ(entries[0].offset, start);
  EXPECT_EQ(entries[0].size, 24);
  EXPECT_EQ(entries[1].name, "a.bias");
  EXPECT_EQ(entries[1].offset, start + 24);
  EXPECT_EQ(entries[1].size, 8);
  EXPECT_EQ(entries[2].name, "empty");
  EXPECT_EQ(entries[2].offset, start + 32);
  EXPECT_EQ(entries[2].size, 0);
  EXPECT_EQ(entries[3].name, "flag");
  EXPECT_EQ(entries[3].shape, Shape{});
  EXPECT_EQ(entries[3].offset, start + 32);
  EXPECT_EQ(entries[3].size, 1);
}

TEST(Safetensors, MetadataKeepsOnlyStrings) {
  std::vector<Entry> entries;
  std::map<std::string, std::string> metadata;
  ASSERT_OK(
      ParseText(File(R"({"__metadata__": {"a": "1", "n": 2, "l": [1]}})"), &entries, &metadata));
  EXPECT_TRUE(entries.empty());
  EXPECT_EQ(metadata, (std::map<std::string, std::string>{{"a", "1"}}));
}

TEST(Safetensors, RefusesBadFraming) {
  std::vector<Entry> entries;
  std::map<std::string, std::string> metadata;
  EXPECT_STATUS(ParseText("1234567", &entries, &metadata), Status::Code::kCorruption,
                "'model.safetensors' is not a valid safetensors file: it is shorter than 8 bytes");
  std::string past = File("{}");
  past[0] = 3;  // 3 bytes of header, only 2 present
  EXPECT_STATUS(ParseText(past, &entries, &metadata), Status::Code::kCorruption,
                "the header length runs past the end of the file");
  std::string huge = File("{}");
  for (int i = 0; i < 8; i++) huge[i] = '\xff';  // 2^64 - 1: no overflow of 8 + n
  EXPECT_STATUS(ParseText(huge, &entries, &metadata), Status::Code::kCorruption,
                "the header length runs past the end of the file");
}

TEST(Safetensors, RefusesBadJson) {
  EXPECT_STATUS(ParseHeader("{\"a\": "), Status::Code::kCorruption, "the header is not JSON");
  EXPECT_STATUS(ParseHeader(""), Status::Code::kCorruption, "the header is not JSON");
  EXPECT_STATUS(ParseHeader("[1, 2]"), Status::Code::kCorruption,
                "the header is not a JSON object");
  EXPECT_STATUS(ParseHeader(R"({"__metadata__": [1]})"), Status::Code::kCorruption,
                "__metadata__ is not an object");
  EXPECT_STATUS(ParseHeader(R"({"t": 5})"), Status::Code::kCorruption,
                "the entry of tensor 't' is malformed");
  EXPECT_STATUS(ParseHeader(R"({"t": {"dtype": "F32", "data_offsets": [0, 4]}})"),
                Status::Code::kCorruption, "the entry of tensor 't' is malformed");
  EXPECT_STATUS(ParseHeader(R"({"t": {"dtype": 1, "shape": [1], "data_offsets": [0, 4]}})"),
                Status::Code::kCorruption, "the entry of tensor 't' is malformed");
  EXPECT_STATUS(ParseHeader(R"({"t": {"dtype": "F32", "shape": ["a"], "data_offsets": [0, 4]}})"),
                Status::Code::kCorruption, "the entry of tensor 't' is malformed");
  EXPECT_STATUS(ParseHeader(R"({"t": {"dtype": "X9", "shape": [1], "data_offsets": [0, 4]}})"),
                Status::Code::kCorruption, "tensor 't' has dtype X9, which tfckpt does not know");
}

TEST(Safetensors, RefusesOffsetsOutOfRange) {
  const std::string kOutside = "tensor 't' has data offsets outside the file";
  // 16 bytes of data follow the header.
  EXPECT_OK(ParseHeader(R"({"t": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})"));
  EXPECT_STATUS(ParseHeader(R"({"t": {"dtype": "F32", "shape": [5], "data_offsets": [0, 20]}})"),
                Status::Code::kCorruption, kOutside);
  EXPECT_STATUS(ParseHeader(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [16, 20]}})"),
                Status::Code::kCorruption, kOutside);
  EXPECT_STATUS(ParseHeader(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})"),
                Status::Code::kCorruption, kOutside);
  EXPECT_STATUS(ParseHeader(R"({"t": {"dtype": "F32", "shape": [0], "data_offsets": [8, 4]}})"),
                Status::Code::kCorruption, kOutside);
  EXPECT_STATUS(ParseHeader(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})"),
                Status::Code::kCorruption, kOutside);
  EXPECT_STATUS(ParseHeader(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}})"),
                Status::Code::kCorruption, kOutside);
}

TEST(Safetensors, RefusesSizesThatDoNotMatchTheShape) {
  EXPECT_STATUS(ParseHeader(R"({"t": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}})"),
                Status::Code::kCorruption, "tensor 't': 16 bytes do not hold shape [3] of F32");
  EXPECT_STATUS(ParseHeader(R"({"t": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}})"),
                Status::Code::kCorruption, "do not hold shape [-4] of F32");
  // A shape whose element count overflows int64.
  EXPECT_STATUS(ParseHeader(R"({"t": {"dtype": "U8", "shape": [4294967296, 4294967296],
                                      "data_offsets": [0, 0]}})"),
                Status::Code::kCorruption, "do not hold shape");
}

// The byte count of a shape is its element count times the dtype's size: a count that fits in
// int64 but whose byte count does not (2^61 float64 elements are 2^64 bytes) must not wrap around
// to the size of the (empty) data. Parse computes the product in int64 without an overflow check
// (signed overflow; the product wraps to 0 in practice, so the header is accepted).
TEST(Safetensors, RefusesAByteCountThatOverflows) {
  EXPECT_STATUS(
      ParseHeader(
          R"({"t": {"dtype": "F64", "shape": [2305843009213693952], "data_offsets": [0, 0]}})"),
      Status::Code::kCorruption, "'t'");
}

TEST(Safetensors, RefusesOverlappingTensorsButNotEmptyOnes) {
  EXPECT_STATUS(ParseHeader(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})"),
                Status::Code::kCorruption, "tensors 'a' and 'b' overlap");
  // The same range twice.
  EXPECT_STATUS(ParseHeader(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                "b": {"dtype": "I32", "shape": [2], "data_offsets": [0, 8]}})"),
                Status::Code::kCorruption, "overlap");
  // Adjacent ranges, and an empty tensor inside another's range, are fine.
  std::vector<Entry> entries;
  std::map<std::string, std::string> metadata;
  ASSERT_OK(ParseText(File(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                 "e": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]},
                                 "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
                           std::string(16, '\0')),
                      &entries, &metadata));
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].name, "a");
  EXPECT_EQ(entries[1].name, "e");
  EXPECT_EQ(entries[2].name, "b");
}

}  // namespace
}  // namespace tfckpt::safetensors
