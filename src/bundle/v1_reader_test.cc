#include "bundle/v1_reader.h"

#include <gtest/gtest.h>

#include <cstring>

#include "format/v1_files.h"
#include "testing/test_util.h"
#include "tfckpt.pb.h"

namespace tfckpt {
namespace {

std::string Meta(const std::string& name, int dtype, std::vector<int64_t> shape,
                 int min_consumer = 0) {
  pb::SavedTensorSlices sts;
  auto* t = sts.mutable_meta()->add_tensor();
  t->set_name(name);
  t->set_type(dtype);
  auto* slice = t->add_slice();
  for (int64_t d : shape) {
    t->mutable_shape()->add_dim()->set_size(d);
    slice->add_extent();  // whole dimension
  }
  sts.mutable_meta()->mutable_versions()->set_producer(1);
  sts.mutable_meta()->mutable_versions()->set_min_consumer(min_consumer);
  return sts.SerializeAsString();
}

// A stored slice of `name` covering all of a tensor of rank `rank`.
pb::SavedTensorSlices Data(const std::string& name, int rank) {
  pb::SavedTensorSlices sts;
  sts.mutable_data()->set_name(name);
  for (int i = 0; i < rank; i++) sts.mutable_data()->mutable_slice()->add_extent();
  return sts;
}

TensorSlice Whole(int rank) { return TensorSlice{std::vector<SliceExtent>(rank)}; }

TEST(V1Reader, Meta) {
  std::vector<v1::TensorMeta> metas;
  ASSERT_OK(v1::ParseMeta(Meta("w", 1, {2, 3}), "f", &metas));
  ASSERT_EQ(metas.size(), 1u);
  EXPECT_EQ(metas[0].name, "w");
  EXPECT_EQ(metas[0].dtype, DType::kFloat);
  EXPECT_EQ(metas[0].shape, (Shape{2, 3}));
  ASSERT_EQ(metas[0].slices.size(), 1u);
  EXPECT_EQ(metas[0].slices[0], Whole(2));
  // A newer format, and a value that is not the metadata.
  EXPECT_EQ(v1::ParseMeta(Meta("w", 1, {2}, 2), "f", &metas).code(), Status::Code::kUnsupported);
  EXPECT_EQ(v1::ParseMeta("\xff\xff", "f", &metas).code(), Status::Code::kCorruption);
  pb::SavedTensorSlices bad;
  bad.ParseFromString(Meta("w", 1, {4}));
  auto* e = bad.mutable_meta()->mutable_tensor(0)->mutable_slice(0)->mutable_extent(0);
  e->set_start(3);
  e->set_length(2);  // [3, 5) of a dimension of 4
  Status s = v1::ParseMeta(bad.SerializeAsString(), "f", &metas);
  EXPECT_EQ(s.code(), Status::Code::kCorruption);
  EXPECT_NE(s.message().find("outside"), std::string::npos) << s.message();
}

TEST(V1Reader, DecodesEveryField) {
  Tensor t;
  {  // int8 in int_val: the low byte, as TensorFlow casts it
    pb::SavedTensorSlices sts = Data("x", 1);
    for (int v : {-128, -1, 127}) sts.mutable_data()->mutable_data()->add_int_val(v);
    ASSERT_OK(v1::DecodeSlice(sts.SerializeAsString(), "x", Whole(1), DType::kInt8, {3}, &t));
    const auto* p = reinterpret_cast<const int8_t*>(t.bytes().data());
    EXPECT_EQ(p[0], -128);
    EXPECT_EQ(p[1], -1);
    EXPECT_EQ(p[2], 127);
  }
  {  // float16 bits in half_val
    pb::SavedTensorSlices sts = Data("h", 0);
    sts.mutable_data()->mutable_data()->add_half_val(0x3c00);  // 1.0
    ASSERT_OK(v1::DecodeSlice(sts.SerializeAsString(), "h", Whole(0), DType::kHalf, {}, &t));
    uint16_t bits = 0;
    std::memcpy(&bits, t.bytes().data(), 2);
    EXPECT_EQ(bits, 0x3c00);
  }
  {  // complex64: real and imaginary in turn
    pb::SavedTensorSlices sts = Data("c", 1);
    for (float v : {1.0f, 2.0f, -3.0f, 4.5f})
      sts.mutable_data()->mutable_data()->add_scomplex_val(v);
    ASSERT_OK(v1::DecodeSlice(sts.SerializeAsString(), "c", Whole(1), DType::kComplex64, {2}, &t));
    ASSERT_EQ(t.bytes().size(), 16u);
    float f[4];
    std::memcpy(f, t.bytes().data(), 16);
    EXPECT_EQ(f[2], -3.0f);
    EXPECT_EQ(f[3], 4.5f);
  }
  {  // strings
    pb::SavedTensorSlices sts = Data("s", 1);
    sts.mutable_data()->mutable_data()->add_string_val(std::string("a\0b", 3));
    sts.mutable_data()->mutable_data()->add_string_val("");
    ASSERT_OK(v1::DecodeSlice(sts.SerializeAsString(), "s", Whole(1), DType::kString, {2}, &t));
    ASSERT_EQ(t.elements().size(), 2u);
    EXPECT_EQ(t.elements()[0], std::string_view("a\0b", 3));
    EXPECT_EQ(t.elements()[1], "");
  }
}

TEST(V1Reader, RefusesWhatDoesNotMatch) {
  Tensor t;
  pb::SavedTensorSlices sts = Data("x", 1);
  sts.mutable_data()->mutable_data()->add_float_val(1.0f);
  const std::string one = sts.SerializeAsString();
  // Too few values for the shape.
  Status s = v1::DecodeSlice(one, "x", Whole(1), DType::kFloat, {2}, &t);
  EXPECT_EQ(s.code(), Status::Code::kDataLoss);
  EXPECT_NE(s.message().find("1 values"), std::string::npos) << s.message();
  // Another tensor's value under this key.
  EXPECT_EQ(v1::DecodeSlice(one, "y", Whole(1), DType::kFloat, {1}, &t).code(),
            Status::Code::kDataLoss);
  // Values in another field than the dtype's.
  EXPECT_EQ(v1::DecodeSlice(one, "x", Whole(1), DType::kDouble, {1}, &t).code(),
            Status::Code::kDataLoss);
  // Not a message at all.
  EXPECT_EQ(v1::DecodeSlice("\x0a\xff", "x", Whole(1), DType::kFloat, {1}, &t).code(),
            Status::Code::kDataLoss);
  // A dtype no V1 checkpoint holds.
  EXPECT_EQ(v1::DecodeSlice(one, "x", Whole(1), DType::kVariant, {1}, &t).code(),
            Status::Code::kUnsupported);
}

TEST(V1Files, ShardNames) {
  const std::string q(5, '?');  // (five question marks in a literal would make trigraphs)
  std::string base;
  int n = 0;
  ASSERT_TRUE(v1_files::SplitShardName("d/model.ckpt-7-" + q + "-of-00003", &base, &n));
  EXPECT_EQ(base, "d/model.ckpt-7");
  EXPECT_EQ(n, 3);
  ASSERT_TRUE(v1_files::SplitShardName("d/model.ckpt-00002-of-00003", &base, &n));
  EXPECT_EQ(base, "d/model.ckpt");
  EXPECT_FALSE(v1_files::SplitShardName("d/model.ckpt-00003-of-00003", &base, &n));
  EXPECT_FALSE(v1_files::SplitShardName("d/model.ckpt-00000-of-00000", &base, &n));
  EXPECT_FALSE(v1_files::SplitShardName("d/model.ckpt-1000", &base, &n));
  EXPECT_EQ(v1_files::Pattern("m", 2), "m-" + q + "-of-00002");
  EXPECT_EQ(v1_files::ShardPath("m", 1, 2), "m-00001-of-00002");
}

}  // namespace
}  // namespace tfckpt
