// Conversion between the index's protobuf messages and tfckpt's TensorInfo pieces, with the
// validation TensorFlow applies to shapes.
//
// Thread-safety: pure functions; safe from any thread.

#ifndef TFCKPT_BUNDLE_ENTRY_CODEC_H_
#define TFCKPT_BUNDLE_ENTRY_CODEC_H_

#include <string>

#include "tfckpt.pb.h"
#include "tfckpt/status.h"
#include "tfckpt/tensor.h"

namespace tfckpt {

// Fails when a dimension is negative, the rank exceeds 254 or the element count overflows.
Status ShapeFromProto(const pb::TensorShapeProto& proto, Shape* shape);
void ShapeToProto(const Shape& shape, pb::TensorShapeProto* proto);

TensorSlice SliceFromProto(const pb::TensorSliceProto& proto);
void SliceToProto(const TensorSlice& slice, pb::TensorSliceProto* proto);

// A key made printable for messages: slice keys are shown as "name[slice]", other bytes escaped.
std::string PrintableKey(std::string_view key);

}  // namespace tfckpt

#endif  // TFCKPT_BUNDLE_ENTRY_CODEC_H_
