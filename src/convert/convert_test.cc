#include "tfckpt/convert.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "format/npz.h"
#include "format/safetensors.h"
#include "io/file_util.h"
#include "testing/test_util.h"
#include "tfckpt/writer.h"

namespace tfckpt {
namespace {

using testing::MakeTensor;
using testing::ReadAll;
using testing::ReadValues;
using testing::TempDir;
using testing::TensorNames;
using testing::WriteCheckpoint;

ConvertOptions Fast() {
  ConvertOptions o;
  o.sync = false;
  return o;
}

const std::vector<float> kW = {1, 2, 3, 4, 5, 6};
const std::vector<uint16_t> kBf16 = {0x3f80, 0xc000};
const std::vector<int64_t> kStep = {1234567890123};
const std::vector<uint8_t> kFlags = {1, 0, 1};

void WriteSource(const std::string& prefix) {
  WriteCheckpoint(prefix, {MakeTensor("dense/kernel", DType::kFloat, {2, 3}, kW),
                           MakeTensor("global_step", DType::kInt64, {}, kStep),
                           MakeTensor("mask", DType::kBool, {3}, kFlags)});
}

void ExpectSource(const std::string& prefix, std::vector<std::string> more = {}) {
  std::vector<std::string> names = {"dense/kernel", "global_step", "mask"};
  names.insert(names.end(), more.begin(), more.end());
  EXPECT_EQ(TensorNames(prefix), names);
  EXPECT_EQ(ReadValues<float>(prefix, "dense/kernel"), kW);
  EXPECT_EQ(ReadValues<int64_t>(prefix, "global_step"), kStep);
  EXPECT_EQ(ReadValues<uint8_t>(prefix, "mask"), kFlags);
  std::unique_ptr<Checkpoint> c;
  ASSERT_OK(Checkpoint::Open(prefix, &c));
  const TensorInfo* k = c->Find("dense/kernel");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->shape, (Shape{2, 3}));
  ASSERT_NE(c->Find("mask"), nullptr);
  EXPECT_EQ(c->Find("mask")->dtype, DType::kBool);
}

TEST(Convert, SafetensorsRoundTrip) {
  std::string d = TempDir();
  ASSERT_NO_FATAL_FAILURE(WriteSource(d + "/src"));
  ConvertReport r;
  ASSERT_OK(Convert(d + "/src", d + "/model.safetensors", Fast(), &r));
  EXPECT_EQ(r.from, "tensorflow");
  EXPECT_EQ(r.to, "safetensors");
  EXPECT_EQ(r.tensors, 3);
  EXPECT_EQ(r.bytes, 24 + 8 + 3);
  EXPECT_EQ(r.outputs, std::vector<std::string>{d + "/model.safetensors"});

  // The file itself: the header names every tensor, the bytes follow.
  std::string file = ReadAll(d + "/model.safetensors");
  std::vector<safetensors::Entry> entries;
  std::map<std::string, std::string> metadata;
  ASSERT_OK(safetensors::Parse({reinterpret_cast<const uint8_t*>(file.data()), file.size()},
                               "model", &entries, &metadata));
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].name, "dense/kernel");
  EXPECT_EQ(entries[0].dtype, DType::kFloat);
  EXPECT_EQ(file.substr(static_cast<size_t>(entries[0].offset), 24),
            std::string(reinterpret_cast<const char*>(kW.data()), 24));
  EXPECT_EQ(entries[2].name, "mask");
  EXPECT_EQ(entries[2].dtype, DType::kBool);
  EXPECT_EQ(metadata["source"], d + "/src");

  ConvertReport back;
  ASSERT_OK(Convert(d + "/model.safetensors", d + "/back", Fast(), &back));
  EXPECT_EQ(back.from, "safetensors");
  EXPECT_EQ(back.to, "tensorflow");
  EXPECT_EQ(back.tensors, 3);
  ExpectSource(d + "/back");
}

TEST(Convert, ShardedSafetensorsAndRenames) {
  std::string d = TempDir();
  ASSERT_NO_FATAL_FAILURE(WriteSource(d + "/src"));
  ConvertOptions o = Fast();
  o.max_shard_bytes = 20;  // the kernel (24 bytes) alone, then the rest
  ConvertReport r;
  ASSERT_OK(Convert(d + "/src", d + "/out/model.safetensors", o, &r));
  EXPECT_EQ(r.outputs, (std::vector<std::string>{d + "/out/model-00001-of-00002.safetensors",
                                                 d + "/out/model-00002-of-00002.safetensors",
                                                 d + "/out/model.safetensors.index.json"}));
  std::string index = ReadAll(d + "/out/model.safetensors.index.json");
  EXPECT_NE(index.find("\"total_size\": 35"), std::string::npos) << index;
  EXPECT_NE(index.find("\"global_step\": \"model-00002-of-00002.safetensors\""), std::string::npos)
      << index;

  // Back from the index (and from the directory holding it), renaming on the way.
  ConvertOptions rename = Fast();
  rename.names.renames = {{"dense/", "layer/"}};
  rename.names.drop = {"^mask$"};
  ConvertReport back;
  ASSERT_OK(Convert(d + "/out/model.safetensors.index.json", d + "/back", rename, &back));
  EXPECT_EQ(TensorNames(d + "/back"), (std::vector<std::string>{"global_step", "layer/kernel"}));
  EXPECT_EQ(ReadValues<float>(d + "/back", "layer/kernel"), kW);
  ConvertReport dir;
  ASSERT_OK(Convert(d + "/out", d + "/fromdir", Fast(), &dir));
  ExpectSource(d + "/fromdir");
}

TEST(Convert, NpzRoundTripWithStrings) {
  std::string d = TempDir();
  {
    std::unique_ptr<BundleWriter> w;
    WriterOptions wo;
    wo.sync = false;
    ASSERT_OK(BundleWriter::Create(d + "/src", wo, &w));
    ASSERT_OK(testing::AddBytes(*w, "dense/kernel", DType::kFloat, {2, 3}, testing::AsBytes(kW)));
    ASSERT_OK(testing::AddBytes(*w, "global_step", DType::kInt64, {}, testing::AsBytes(kStep)));
    ASSERT_OK(testing::AddBytes(*w, "mask", DType::kBool, {3}, testing::AsBytes(kFlags)));
    std::vector<std::string_view> vocab = {"a", "", "longer"};
    ASSERT_OK(testing::AddStrings(*w, "vocab", {3}, vocab));
    ASSERT_OK(w->Finish());
  }
  ConvertReport r;
  ASSERT_OK(Convert(d + "/src", d + "/arrays.npz", Fast(), &r));
  EXPECT_EQ(r.to, "npz");
  EXPECT_EQ(r.tensors, 4);
  std::string file = ReadAll(d + "/arrays.npz");
  std::vector<npz::Member> members;
  ASSERT_OK(npz::List({reinterpret_cast<const uint8_t*>(file.data()), file.size()}, "arrays.npz",
                      &members));
  ASSERT_EQ(members.size(), 4u);
  EXPECT_EQ(members[3].name, "vocab");
  EXPECT_EQ(members[3].dtype, DType::kString);
  EXPECT_EQ(members[3].string_width, 6);

  ConvertReport back;
  ASSERT_OK(Convert(d + "/arrays.npz", d + "/back", Fast(), &back));
  EXPECT_EQ(back.from, "npz");
  ExpectSource(d + "/back", {"vocab"});
  std::unique_ptr<Checkpoint> c;
  ASSERT_OK(Checkpoint::Open(d + "/back", &c));
  Tensor t;
  ASSERT_OK(c->Read("vocab", &t));
  ASSERT_EQ(t.elements().size(), 3u);
  EXPECT_EQ(t.elements()[0], "a");
  EXPECT_EQ(t.elements()[1], "");
  EXPECT_EQ(t.elements()[2], "longer");
}

TEST(Convert, BigEndianNpzMembersAreSwapped) {
  std::string d = TempDir();
  const std::string be("\x00\x00\x01\x02\xff\xff\xff\xfe", 8);  // 258, -2 as >i4
  {
    std::unique_ptr<npz::Writer> w;
    ASSERT_OK(npz::Writer::Create(d + "/be.npz", &w));
    int fd = -1;
    ASSERT_OK(w->Begin("x", ">i4", {2}, 8, npz::Crc32(0, be.data(), 8), &fd));
    ASSERT_OK(w->Append({reinterpret_cast<const uint8_t*>(be.data()), 8}));
    ASSERT_OK(w->End());
    ASSERT_OK(w->Finish(false));
  }
  ConvertReport r;
  ASSERT_OK(Convert(d + "/be.npz", d + "/out", Fast(), &r));
  EXPECT_EQ(ReadValues<int32_t>(d + "/out", "x"), (std::vector<int32_t>{258, -2}));
}

TEST(Convert, Refusals) {
  std::string d = TempDir();
  {
    std::unique_ptr<BundleWriter> w;
    WriterOptions wo;
    wo.sync = false;
    ASSERT_OK(BundleWriter::Create(d + "/src", wo, &w));
    ASSERT_OK(
        testing::AddBytes(*w, "w", DType::kFloat, {2}, testing::AsBytes(std::vector<float>{1, 2})));
    std::vector<std::string_view> s = {"x"};
    ASSERT_OK(testing::AddStrings(*w, "names", {1}, s));
    ASSERT_OK(w->Finish());
  }
  ConvertReport r;
  // Strings have no safetensors dtype: refused, or left out when asked.
  EXPECT_STATUS(Convert(d + "/src", d + "/m.safetensors", Fast(), &r),
                Status::Code::kInvalidArgument,
                "1 tensor(s) cannot be stored in safetensors: 'names' (string)");
  EXPECT_FALSE(file::Exists(d + "/m.safetensors"));
  ConvertOptions skip = Fast();
  skip.skip_unsupported = true;
  ConvertReport skipped;
  ASSERT_OK(Convert(d + "/src", d + "/m.safetensors", skip, &skipped));
  ASSERT_EQ(skipped.skipped.size(), 1u);
  EXPECT_EQ(skipped.skipped[0].first, "names");
  EXPECT_EQ(skipped.tensors, 1);
  // An existing output is kept unless overwriting is allowed.
  EXPECT_STATUS(Convert(d + "/src", d + "/m.safetensors", skip, &r), Status::Code::kAlreadyExists,
                d + "/m.safetensors");
  skip.overwrite = true;
  EXPECT_OK(Convert(d + "/src", d + "/m.safetensors", skip, &r));
  // Neither end is a foreign format, or both are.
  EXPECT_STATUS(Convert(d + "/src", d + "/other", Fast(), &r), Status::Code::kInvalidArgument,
                "cannot tell the direction");
  EXPECT_STATUS(Convert(d + "/m.safetensors", d + "/x.npz", Fast(), &r),
                Status::Code::kInvalidArgument, "give a TensorFlow checkpoint prefix");
  EXPECT_STATUS(Convert(d + "/none.npz", d + "/x", Fast(), &r), Status::Code::kNotFound,
                "no file at '" + d + "/none.npz'");
  // A damaged source.
  ASSERT_NO_FATAL_FAILURE(
      testing::WriteAll(d + "/bad.safetensors", std::string("\x02\0\0\0\0\0\0\0{", 9)));
  EXPECT_STATUS(Convert(d + "/bad.safetensors", d + "/x", Fast(), &r), Status::Code::kCorruption,
                "'" + d + "/bad.safetensors' is not a valid safetensors file");
  EXPECT_FALSE(file::Exists(d + "/x.index"));
}

TEST(Convert, ParseByteSize) {
  int64_t n = 0;
  ASSERT_OK(ParseByteSize("5GB", &n));
  EXPECT_EQ(n, 5000000000);
  ASSERT_OK(ParseByteSize("2MiB", &n));
  EXPECT_EQ(n, 2 * 1048576);
  ASSERT_OK(ParseByteSize("1048576", &n));
  EXPECT_EQ(n, 1048576);
  ASSERT_OK(ParseByteSize("1.5K", &n));
  EXPECT_EQ(n, 1500);
  for (std::string bad : {"", "GB", "5XB", "-1MB", "0", "inf"}) {
    EXPECT_STATUS(ParseByteSize(bad, &n), Status::Code::kInvalidArgument,
                  "'" + bad + "' is not a size")
        << bad;
  }
}

}  // namespace
}  // namespace tfckpt
