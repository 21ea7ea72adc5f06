#include "tfckpt/writer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "format/crc32c.h"
#include "format/zip.h"
#include "io/byte_source.h"
#include "testing/test_util.h"
#include "tfckpt/checkpoint.h"
#include "tfckpt/verify.h"

namespace tfckpt {
namespace {

using testing::AsBytes;
using testing::ReadAll;
using testing::TempDir;

using ::tfckpt::testing::Hex;

WriterOptions Fast() {
  WriterOptions o;
  o.sync = false;
  return o;
}

// Four tensors whose encoding was worked out by hand from the format's definition.
void WriteSmall(const std::string& prefix) {
  std::unique_ptr<BundleWriter> w;
  ASSERT_OK(BundleWriter::Create(prefix, Fast(), &w));
  std::vector<float> aw = {1, 2};
  std::vector<int64_t> step = {7};
  std::vector<std::string_view> s = {"hi", ""};
  ASSERT_OK(testing::AddBytes(*w, "a/w", DType::kFloat, {2}, AsBytes(aw)));
  ASSERT_OK(testing::AddBytes(*w, "step", DType::kInt64, {}, AsBytes(step)));
  ASSERT_OK(testing::AddStrings(*w, "s", {2}, s));
  ASSERT_OK(testing::AddBytes(*w, "z", DType::kFloat, {0, 3}, {}));
  ASSERT_OK(w->Finish());
}

TEST(Writer, SmallBundleBytes) {
  std::string prefix = TempDir() + "/small";
  ASSERT_NO_FATAL_FAILURE(WriteSmall(prefix));
  EXPECT_EQ(Hex(ReadAll(prefix + ".data-00000-of-00001")),
            "00 00 80 3f 00 00 00 40 07 00 00 00 00 00 00 00 02 00 78 27 0b 34 68 69");
  std::string index = ReadAll(prefix + ".index");
  EXPECT_EQ(index.size(), 184u);
  // The header entry comes first: key "" with value 08 01 1a 02 08 01.
  EXPECT_EQ(Hex(index.substr(0, 9)), "00 00 06 08 01 1a 02 08 01");
  EXPECT_EQ(Hex(index.substr(index.size() - 8)), "57 fb 80 8b 24 75 47 db");
}

TEST(Writer, ReadBackEveryForm) {
  std::string prefix = TempDir() + "/small";
  ASSERT_NO_FATAL_FAILURE(WriteSmall(prefix));
  std::unique_ptr<Checkpoint> c;
  ASSERT_OK(Checkpoint::Open(prefix, &c));
  ASSERT_EQ(c->tensors().size(), 4u);
  EXPECT_EQ(c->tensors()[0].name, "a/w");
  Tensor t;
  ASSERT_OK(c->Read("a/w", &t));
  EXPECT_TRUE(t.zero_copy());
  ASSERT_EQ(t.bytes().size(), 8u);
  float v[2];
  std::memcpy(v, t.bytes().data(), 8);
  EXPECT_EQ(v[1], 2.0f);
  ASSERT_OK(c->Read("s", &t));
  ASSERT_EQ(t.elements().size(), 2u);
  EXPECT_EQ(t.elements()[0], "hi");
  EXPECT_EQ(t.elements()[1], "");
  ASSERT_OK(c->Read("z", &t));
  EXPECT_EQ(t.num_elements(), 0);
  VerifyReport r;
  ASSERT_OK(VerifyCheckpoint(*c, VerifyOptions(), &r));
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.tensors_checked, 4);
}

TEST(Writer, PartitionedRoundTrip) {
  std::string prefix = TempDir() + "/part";
  std::unique_ptr<BundleWriter> w;
  ASSERT_OK(BundleWriter::Create(prefix, Fast(), &w));
  // A [5,2] int32 tensor 0..9 in two row slices [0,3) and [3,5).
  std::vector<int32_t> top = {0, 1, 2, 3, 4, 5}, bottom = {6, 7, 8, 9};
  TensorSlice s0{{SliceExtent{0, 3}, SliceExtent{0, 2}}},
      s1{{SliceExtent{3, 2}, SliceExtent{0, 2}}};
  ASSERT_OK(testing::AddSlice(*w, "emb", {5, 2}, s1, DType::kInt32, AsBytes(bottom)));
  ASSERT_OK(testing::AddSlice(*w, "emb", {5, 2}, s0, DType::kInt32, AsBytes(top)));
  ASSERT_OK(w->Finish());
  std::unique_ptr<Checkpoint> c;
  ASSERT_OK(Checkpoint::Open(prefix, &c));
  ASSERT_EQ(c->tensors().size(), 1u);
  const TensorInfo& info = c->tensors()[0];
  EXPECT_TRUE(info.partitioned());
  EXPECT_EQ(info.shape, (Shape{5, 2}));
  Tensor t;
  ASSERT_OK(c->Read(info, ReadOptions(), &t));
  ASSERT_EQ(t.bytes().size(), 40u);
  std::vector<int32_t> full(10);
  std::memcpy(full.data(), t.bytes().data(), 40);
  for (int i = 0; i < 10; i++) EXPECT_EQ(full[i], i);
}

TEST(Writer, ColumnSlicesAssemble) {
  std::string prefix = TempDir() + "/cols";
  std::unique_ptr<BundleWriter> w;
  ASSERT_OK(BundleWriter::Create(prefix, Fast(), &w));
  // [2,3] float: column 0 alone, columns 1..2 together.
  std::vector<float> c0 = {0, 3}, c12 = {1, 2, 4, 5};
  ASSERT_OK(testing::AddSlice(*w, "m", {2, 3}, TensorSlice{{SliceExtent{0, -1}, SliceExtent{0, 1}}},
                              DType::kFloat, AsBytes(c0)));
  ASSERT_OK(testing::AddSlice(*w, "m", {2, 3}, TensorSlice{{SliceExtent{0, -1}, SliceExtent{1, 2}}},
                              DType::kFloat, AsBytes(c12)));
  ASSERT_OK(w->Finish());
  std::unique_ptr<Checkpoint> c;
  ASSERT_OK(Checkpoint::Open(prefix, &c));
  Tensor t;
  ASSERT_OK(c->Read("m", &t));
  ASSERT_EQ(t.bytes().size(), 24u);
  std::vector<float> full(6);
  std::memcpy(full.data(), t.bytes().data(), 24);
  for (int i = 0; i < 6; i++) EXPECT_EQ(full[i], static_cast<float>(i));
}

TEST(Writer, MissingSliceIsAnErrorNotGarbage) {
  std::string prefix = TempDir() + "/half";
  std::unique_ptr<BundleWriter> w;
  ASSERT_OK(BundleWriter::Create(prefix, Fast(), &w));
  std::vector<float> top = {1, 2};
  ASSERT_OK(testing::AddSlice(*w, "m", {2, 2}, TensorSlice{{SliceExtent{0, 1}, SliceExtent{0, -1}}},
                              DType::kFloat, AsBytes(top)));
  ASSERT_OK(w->Finish());
  std::unique_ptr<Checkpoint> c;
  ASSERT_OK(Checkpoint::Open(prefix, &c));
  Tensor t;
  EXPECT_STATUS(c->Read("m", &t), Status::Code::kCorruption, "'m'");
}

// Writes float32 tensors of 80 bytes each with a shard limit of 100 bytes: one per data file.
void WriteOnePerShard(const std::string& prefix, const std::vector<std::string>& names) {
  WriterOptions o = Fast();
  o.max_shard_bytes = 100;
  std::unique_ptr<BundleWriter> w;
  ASSERT_OK(BundleWriter::Create(prefix, o, &w));
  std::vector<float> x(20, 1.5f);
  for (const std::string& name : names) {
    ASSERT_OK(testing::AddBytes(*w, name, DType::kFloat, {20}, AsBytes(x)));
  }
  ASSERT_OK(w->Finish());
}

// Ranges copied from other files: the ones that follow each other in one source go in one copy
// (ShardOutput joins them), interleaved with written bytes and ranges of another source; every
// tensor reads back with its own bytes.
TEST(Writer, CopiedRangesJoinAndInterleave) {
  std::vector<float> a(16), b(4);
  for (int i = 0; i < 16; i++) a[i] = static_cast<float>(i);
  for (int i = 0; i < 4; i++) b[i] = static_cast<float>(100 + i);
  const std::string dir = TempDir();
  std::shared_ptr<const ByteSource> src_a, src_b;
  {
    std::ofstream(dir + "/a.bin", std::ios::binary)
        .write(reinterpret_cast<const char*>(a.data()), 64);
    std::ofstream(dir + "/b.bin", std::ios::binary)
        .write(reinterpret_cast<const char*>(b.data()), 16);
  }
  ASSERT_OK(OpenByteSource(dir + "/a.bin", &src_a));
  ASSERT_OK(OpenByteSource(dir + "/b.bin", &src_b));
  auto range = [](const std::vector<float>& v, int64_t first, int64_t n) {
    const auto* p = reinterpret_cast<const uint8_t*>(v.data()) + first * 4;
    return DataLocation{0, first * 4, n * 4, crc32c::Mask(crc32c::Value(p, n * 4))};
  };
  const std::string prefix = dir + "/joined";
  std::unique_ptr<BundleWriter> w;
  ASSERT_OK(BundleWriter::Create(prefix, Fast(), &w));
  ASSERT_OK(w->Add({"t0", DType::kFloat, {2}}, PieceBytes::Copied(src_a, range(a, 0, 2))));
  ASSERT_OK(w->Add({"t1", DType::kFloat, {3}}, PieceBytes::Copied(src_a, range(a, 2, 3))));
  ASSERT_OK(w->Add({"t2", DType::kFloat, {2}}, PieceBytes::Copied(src_a, range(a, 8, 2))));
  std::vector<float> mem = {-1, -2};
  ASSERT_OK(testing::AddBytes(*w, "t3", DType::kFloat, {2}, AsBytes(mem)));
  ASSERT_OK(w->Add({"t4", DType::kFloat, {2}}, PieceBytes::Copied(src_a, range(a, 10, 2))));
  ASSERT_OK(w->Add({"t5", DType::kFloat, {4}}, PieceBytes::Copied(src_b, range(b, 0, 4))));
  ASSERT_OK(w->Add({"t6", DType::kFloat, {4}}, PieceBytes::Copied(src_a, range(a, 12, 4))));
  ASSERT_OK(w->Finish());
  EXPECT_EQ(w->stats().ranges_copied, 6);
  EXPECT_EQ(w->stats().bytes_range_copied, 4 * (2 + 3 + 2 + 2 + 4 + 4));
  std::unique_ptr<Checkpoint> c;
  ASSERT_OK(Checkpoint::Open(prefix, &c));
  const std::vector<std::pair<std::string, std::vector<float>>> want = {
      {"t0", {0, 1}},          {"t1", {2, 3, 4}}, {"t2", {8, 9}},
      {"t3", {-1, -2}},        {"t4", {10, 11}},  {"t5", {100, 101, 102, 103}},
      {"t6", {12, 13, 14, 15}}};
  for (const auto& [name, values] : want) {
    Tensor t;
    ASSERT_OK(c->Read(name, &t));
    ASSERT_EQ(t.bytes().size(), values.size() * 4) << name;
    EXPECT_EQ(std::memcmp(t.bytes().data(), values.data(), values.size() * 4), 0) << name;
  }
  VerifyReport r;
  ASSERT_OK(VerifyCheckpoint(*c, VerifyOptions(), &r));
  EXPECT_TRUE(r.ok());
}

// The zip CRC-32 of a data file's bytes after its head, computed as they are written; unknown
// once a range is copied in by the kernel (this writer does not see those bytes).
TEST(Writer, DataFileCrc32OfTheBytesAfterTheHead) {
  const std::string dir = TempDir();
  WriterOptions o = Fast();
  o.data_file_head = 24;
  o.data_file_crc32 = true;
  std::unique_ptr<BundleWriter> w;
  ASSERT_OK(BundleWriter::Create(dir + "/crc", o, &w));
  std::vector<float> a = {1, 2, 3};
  std::vector<int64_t> b = {7, 8};
  ASSERT_OK(testing::AddBytes(*w, "a", DType::kFloat, {3}, AsBytes(a)));
  ASSERT_OK(testing::AddBytes(*w, "b", DType::kInt64, {2}, AsBytes(b)));
  ASSERT_OK(w->Finish());
  const std::string data = ReadAll(dir + "/crc.data-00000-of-00001");
  ASSERT_EQ(data.size(), 24u + 12 + 16);
  EXPECT_EQ(data.substr(0, 24), std::string(24, '\0'));
  uint32_t crc = 0;
  ASSERT_TRUE(w->DataFileCrc32(0, &crc));
  EXPECT_EQ(crc, zip::Crc32(0, data.data() + 24, data.size() - 24));
  EXPECT_FALSE(w->DataFileCrc32(1, &crc));
  // (and joined with the CRC-32 of what goes before and after, as a zip member's)
  EXPECT_EQ(zip::Crc32Combine(zip::Crc32(0, data.data(), 24), crc, 28),
            zip::Crc32(0, data.data(), data.size()));

  std::ofstream(dir + "/src.bin", std::ios::binary)
      .write(reinterpret_cast<const char*>(a.data()), 12);
  std::shared_ptr<const ByteSource> src;
  ASSERT_OK(OpenByteSource(dir + "/src.bin", &src));
  ASSERT_OK(BundleWriter::Create(dir + "/copied", o, &w));
  ASSERT_OK(w->Add(
      {"a", DType::kFloat, {3}},
      PieceBytes::Copied(
          src, DataLocation{0, 0, 12,
                            crc32c::Mask(crc32c::Value(ReadAll(dir + "/src.bin").data(), 12))})));
  ASSERT_OK(w->Finish());
  EXPECT_FALSE(w->DataFileCrc32(0, &crc));
  // Not asked for: not computed.
  ASSERT_OK(BundleWriter::Create(dir + "/plain", Fast(), &w));
  ASSERT_OK(testing::AddBytes(*w, "a", DType::kFloat, {3}, AsBytes(a)));
  ASSERT_OK(w->Finish());
  EXPECT_FALSE(w->DataFileCrc32(0, &crc));
}

TEST(Writer, ShardsBySize) {
  std::string prefix = TempDir() + "/sharded";
  WriteOnePerShard(prefix, {"t0", "t1", "t2"});
  std::unique_ptr<Checkpoint> c;
  ASSERT_OK(Checkpoint::Open(prefix, &c));
  EXPECT_EQ(c->num_shards(), 3);
  EXPECT_TRUE(file::Exists(prefix + ".data-00002-of-00003"));
  VerifyReport r;
  ASSERT_OK(VerifyCheckpoint(*c, VerifyOptions(), &r));
  EXPECT_TRUE(r.ok());
}

TEST(Checkpoint, IncompleteOpensAndNamesTheMissingFile) {
  std::string prefix = TempDir() + "/incomplete";
  WriteOnePerShard(prefix, {"t0", "t1"});
  const std::string missing = prefix + ".data-00001-of-00002";
  ASSERT_EQ(std::remove(missing.c_str()), 0);
  std::unique_ptr<Checkpoint> c;
  ASSERT_OK(Checkpoint::Open(prefix, &c));
  EXPECT_EQ(c->tensors().size(), 2u);
  EXPECT_EQ(c->missing_data_files(), std::vector<std::string>{missing});
  EXPECT_NE(c->DescribeIncomplete().find(missing), std::string::npos) << c->DescribeIncomplete();
  EXPECT_EQ(c->data_file(1), nullptr);
  EXPECT_EQ(c->data_file_size(1), -1);
  Tensor t;
  ASSERT_OK(c->Read("t0", &t));
  EXPECT_EQ(t.bytes().size(), 80u);
  EXPECT_STATUS(c->Read("t1", &t), Status::Code::kNotFound, missing);
  EXPECT_STATUS(c->Read("t1", &t), Status::Code::kNotFound, "'t1'");
  VerifyReport r;
  ASSERT_OK(VerifyCheckpoint(*c, VerifyOptions(), &r));
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].file, missing);
  EXPECT_EQ(r.tensors_checked, 1);
}

TEST(Writer, AbortLeavesNothingAndExistingIsRefused) {
  std::string dir = TempDir();
  {
    std::unique_ptr<BundleWriter> w;
    ASSERT_OK(BundleWriter::Create(dir + "/x", Fast(), &w));
    std::vector<float> x = {1};
    ASSERT_OK(testing::AddBytes(*w, "x", DType::kFloat, {1}, AsBytes(x)));
    // destroyed without Finish()
  }
  std::vector<std::string> names;
  ASSERT_OK(file::ListDirectory(dir, &names));
  EXPECT_TRUE(names.empty());
  ASSERT_NO_FATAL_FAILURE(WriteSmall(dir + "/y"));
  std::unique_ptr<BundleWriter> w;
  EXPECT_STATUS(BundleWriter::Create(dir + "/y", Fast(), &w), Status::Code::kAlreadyExists,
                dir + "/y");
  WriterOptions o = Fast();
  o.overwrite = true;
  ASSERT_OK(BundleWriter::Create(dir + "/y", o, &w));
  std::vector<double> d = {2.5};
  ASSERT_OK(testing::AddBytes(*w, "only", DType::kDouble, {}, AsBytes(d)));
  ASSERT_OK(w->Finish());
  std::unique_ptr<Checkpoint> c;
  ASSERT_OK(Checkpoint::Open(dir + "/y", &c));
  ASSERT_EQ(c->tensors().size(), 1u);
}

TEST(Writer, RejectsBadInput) {
  std::string dir = TempDir();
  std::unique_ptr<BundleWriter> w;
  ASSERT_OK(BundleWriter::Create(dir + "/bad", Fast(), &w));
  std::vector<float> x = {1, 2};
  EXPECT_STATUS(testing::AddBytes(*w, "", DType::kFloat, {2}, AsBytes(x)),
                Status::Code::kInvalidArgument, "non-empty name");
  EXPECT_STATUS(testing::AddBytes(*w, "x", DType::kFloat, {3}, AsBytes(x)),
                Status::Code::kInvalidArgument, "'x'");
  EXPECT_STATUS(testing::AddBytes(*w, "r", DType::kResource, {}, {}),
                Status::Code::kInvalidArgument, "'r'");
  EXPECT_STATUS(testing::AddBytes(*w, std::string("\0x", 2), DType::kFloat, {2}, AsBytes(x)),
                Status::Code::kInvalidArgument, "zero byte");
  EXPECT_STATUS(testing::AddBytes(*w, "neg", DType::kFloat, {-1}, {}),
                Status::Code::kInvalidArgument, "invalid shape");
  ASSERT_OK(testing::AddBytes(*w, "x", DType::kFloat, {2}, AsBytes(x)));
  EXPECT_STATUS(testing::AddBytes(*w, "x", DType::kFloat, {2}, AsBytes(x)),
                Status::Code::kAlreadyExists, "'x' was added twice");
  ASSERT_OK(w->Finish());
  EXPECT_STATUS(testing::AddBytes(*w, "late", DType::kFloat, {2}, AsBytes(x)),
                Status::Code::kFailedPrecondition, "closed");
}

TEST(Verify, DetectsFlippedByte) {
  std::string prefix = TempDir() + "/flip";
  ASSERT_NO_FATAL_FAILURE(WriteSmall(prefix));
  std::string data_path = prefix + ".data-00000-of-00001";
  std::string data = ReadAll(data_path);
  data[9] ^= 0x40;  // inside "step"
  std::ofstream(data_path, std::ios::binary | std::ios::trunc) << data;
  std::unique_ptr<Checkpoint> c;
  ASSERT_OK(Checkpoint::Open(prefix, &c));
  VerifyReport r;
  ASSERT_OK(VerifyCheckpoint(*c, VerifyOptions(), &r));
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].tensor, "step");
  EXPECT_EQ(r.problems[0].file, data_path);
  Tensor t;
  EXPECT_STATUS(c->Read("step", &t), Status::Code::kDataLoss, "step");
}

}  // namespace
}  // namespace tfckpt
