#include "tfckpt/tensor.h"

#include <fmt/format.h>

namespace tfckpt {

std::optional<int64_t> NumElements(std::span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (d != 0 && n > INT64_MAX / d) return std::nullopt;
    n *= d;
  }
  return n;
}

std::optional<int64_t> NumBytes(DType dtype, std::span<const int64_t> shape) {
  const std::optional<int64_t> n = NumElements(shape);
  const int64_t size = DTypeSize(dtype);
  if (!n || size <= 0 || *n > INT64_MAX / size) return std::nullopt;
  return *n * size;
}

std::string ShapeToString(std::span<const int64_t> shape) {
  return fmt::format("[{}]", fmt::join(shape, ","));
}

Shape TensorSlice::SliceShape(std::span<const int64_t> full_shape) const {
  Shape out(full_shape.begin(), full_shape.end());
  for (size_t d = 0; d < extents.size() && d < out.size(); d++) {
    if (!extents[d].full()) out[d] = extents[d].length;
  }
  return out;
}

std::string TensorSlice::ToString() const {
  std::string out;
  for (size_t d = 0; d < extents.size(); d++) {
    if (d > 0) out.push_back(':');
    if (extents[d].full()) {
      out.push_back('-');
    } else {
      out += fmt::format("{},{}", extents[d].start, extents[d].length);
    }
  }
  return out;
}

int64_t TensorInfo::stored_bytes() const {
  if (!partitioned()) return location.size;
  int64_t total = 0;
  for (const SlicePart& p : slices) total += p.location.size;
  return total;
}

Tensor Tensor::View(DType dtype, Shape shape, std::span<const uint8_t> bytes,
                    std::shared_ptr<const void> keepalive) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.bytes_ = bytes;
  t.keepalive_ = std::move(keepalive);
  return t;
}

Tensor Tensor::Owned(DType dtype, Shape shape, std::vector<uint8_t> bytes) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  auto owned = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
  t.bytes_ = std::span<const uint8_t>(owned->data(), owned->size());
  t.owned_ = std::move(owned);
  return t;
}

Tensor Tensor::Elements(DType dtype, Shape shape, std::vector<std::string_view> elements,
                        std::shared_ptr<const void> keepalive) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.elements_ = std::move(elements);
  t.keepalive_ = std::move(keepalive);
  return t;
}

}  // namespace tfckpt
