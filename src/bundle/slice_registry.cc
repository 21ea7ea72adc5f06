#include "bundle/slice_registry.h"

#include <fmt/format.h>

#include "bundle/entry_codec.h"
#include "format/slice_key.h"

namespace tfckpt {

Status SliceRegistry::Register(std::string_view full_name, const Shape& full_shape,
                               const TensorSlice& slice, DType dtype,
                               const std::function<bool(const std::string&)>& in_index,
                               std::string* key, Shape* slice_shape, bool* whole) {
  if (slice.extents.size() != full_shape.size()) {
    return Status::InvalidArgument(fmt::format("slice [{}] of '{}' does not match its rank {}",
                                               slice.ToString(), PrintableKey(full_name),
                                               full_shape.size()));
  }
  *whole = true;
  for (size_t d = 0; d < full_shape.size(); d++) {
    const SliceExtent& e = slice.extents[d];
    if (!e.full() && (e.start < 0 || e.length < 0 || e.start > full_shape[d] ||
                      e.length > full_shape[d] - e.start)) {
      return Status::InvalidArgument(fmt::format("slice [{}] lies outside '{}' of shape {}",
                                                 slice.ToString(), PrintableKey(full_name),
                                                 ShapeToString(full_shape)));
    }
    if (!e.full()) *whole = false;  // as TensorFlow: only kFullExtent counts as whole
  }
  if (*whole) return Status::OK();
  if (!IsFixedSize(dtype) && dtype != DType::kString) {
    return Status::Unsupported(
        fmt::format("'{}': only fixed-size dtypes and strings can be stored in slices, not {}",
                    PrintableKey(full_name), DTypeName(dtype)));
  }
  std::string name(full_name);
  auto it = partitioned_.find(name);
  if (it == partitioned_.end()) {
    if (in_index(name)) {
      return Status::AlreadyExists(
          fmt::format("tensor '{}' was added whole and as a slice", PrintableKey(full_name)));
    }
    it = partitioned_.emplace(name, Partitioned{dtype, full_shape, {}}).first;
  } else if (it->second.dtype != dtype || it->second.shape != full_shape) {
    return Status::InvalidArgument(fmt::format("slices of '{}' disagree: {} {} before, {} {} now",
                                               PrintableKey(full_name), DTypeName(it->second.dtype),
                                               ShapeToString(it->second.shape), DTypeName(dtype),
                                               ShapeToString(full_shape)));
  }
  *key = slice_key::Encode(full_name, slice);
  if (in_index(*key)) {
    return Status::AlreadyExists(fmt::format("slice [{}] of '{}' was added twice", slice.ToString(),
                                             PrintableKey(full_name)));
  }
  *slice_shape = slice.SliceShape(full_shape);
  it->second.slices.push_back(slice);
  return Status::OK();
}

void SliceRegistry::AddFullEntries(std::map<std::string, pb::BundleEntryProto>* entries) const {
  for (const auto& [name, p] : partitioned_) {
    pb::BundleEntryProto e;
    e.set_dtype(static_cast<int32_t>(p.dtype));
    ShapeToProto(p.shape, e.mutable_shape());
    for (const TensorSlice& slice : p.slices) SliceToProto(slice, e.add_slices());
    entries->emplace(name, std::move(e));
  }
}

}  // namespace tfckpt
