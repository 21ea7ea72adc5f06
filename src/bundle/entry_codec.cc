#include "bundle/entry_codec.h"

#include <fmt/format.h>

#include "format/slice_key.h"

namespace tfckpt {

Status ShapeFromProto(const pb::TensorShapeProto& proto, Shape* shape) {
  if (proto.dim_size() > 254) {
    return Status::Corruption(
        fmt::format("the shape has {} dimensions (at most 254 are allowed)", proto.dim_size()));
  }
  shape->clear();
  for (const auto& d : proto.dim()) {
    if (d.size() < 0) {
      return Status::Corruption(fmt::format("the shape has a negative dimension ({})", d.size()));
    }
    shape->push_back(d.size());
  }
  if (!NumElements(*shape)) {
    return Status::Corruption(
        fmt::format("the shape {} has more elements than fit in 64 bits", ShapeToString(*shape)));
  }
  return Status::OK();
}

void ShapeToProto(const Shape& shape, pb::TensorShapeProto* proto) {
  proto->Clear();
  for (int64_t d : shape) proto->add_dim()->set_size(d);
}

TensorSlice SliceFromProto(const pb::TensorSliceProto& proto) {
  TensorSlice slice;
  for (const auto& e : proto.extent()) {
    if (e.has_length_case() == pb::TensorSliceProto::Extent::kLength) {
      slice.extents.push_back(SliceExtent{e.start(), e.length()});
    } else {
      slice.extents.push_back(SliceExtent{0, -1});
    }
  }
  return slice;
}

void SliceToProto(const TensorSlice& slice, pb::TensorSliceProto* proto) {
  proto->Clear();
  for (const SliceExtent& e : slice.extents) {
    auto* x = proto->add_extent();
    if (!e.full()) {
      x->set_start(e.start);
      x->set_length(e.length);
    }
  }
}

std::string PrintableKey(std::string_view key) {
  std::string name;
  TensorSlice slice;
  if (slice_key::LooksLikeSliceKey(key) && slice_key::Decode(key, &name, &slice)) {
    return fmt::format("{}[{}]", PrintableKey(name), slice.ToString());
  }
  std::string out;
  for (unsigned char c : key) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else if (c >= 0x80) {
      out.push_back(static_cast<char>(c));  // keep UTF-8 as is
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  return out;
}

}  // namespace tfckpt
