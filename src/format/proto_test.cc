// The protobuf messages serialize to the exact bytes TensorFlow writes (worked out from the field
// numbers and wire types; the Python oracle tests compare whole files with TensorFlow's).

#include <gtest/gtest.h>

#include "testing/test_util.h"

#include "tfckpt.pb.h"

namespace tfckpt {
namespace {

using ::tfckpt::testing::Hex;

TEST(Proto, HeaderOneShard) {
  pb::BundleHeaderProto h;
  h.set_num_shards(1);
  h.set_endianness(pb::BundleHeaderProto::LITTLE);
  h.mutable_version()->set_producer(1);
  EXPECT_EQ(Hex(h.SerializeAsString()), "08 01 1a 02 08 01");
}

TEST(Proto, FloatVectorEntry) {
  pb::BundleEntryProto e;
  e.set_dtype(1);
  e.mutable_shape()->add_dim()->set_size(2);
  e.set_shard_id(0);
  e.set_offset(0);
  e.set_size(8);
  e.set_crc32c(0x35e53c59);
  // crc32c is fixed32: tag 0x35 and four little-endian bytes.
  EXPECT_EQ(Hex(e.SerializeAsString()), "08 01 12 04 12 02 08 02 28 08 35 59 3c e5 35");
}

TEST(Proto, ScalarKeepsEmptyShapeAndZeroDimIsEmptyDim) {
  pb::BundleEntryProto scalar;
  scalar.set_dtype(9);
  scalar.mutable_shape();
  EXPECT_EQ(Hex(scalar.SerializeAsString()), "08 09 12 00");
  pb::TensorShapeProto zero;
  zero.add_dim()->set_size(0);
  zero.add_dim()->set_size(3);
  EXPECT_EQ(Hex(zero.SerializeAsString()), "12 00 12 02 08 03");
}

TEST(Proto, SliceExtentLengthIsAlwaysWrittenWhenSet) {
  pb::TensorSliceProto s;
  auto* e = s.add_extent();
  e->set_start(0);
  e->set_length(0);  // a oneof member: present even when zero
  s.add_extent();    // a full dimension: empty extent
  EXPECT_EQ(Hex(s.SerializeAsString()), "0a 02 10 00 0a 00");
}

}  // namespace
}  // namespace tfckpt
