// Tensor metadata (TensorInfo, as listed by a checkpoint's index) and tensor values (Tensor, as
// read from its data files).
//
// A Tensor read from a checkpoint usually does not own its bytes: for fixed-size types it is a view
// on the memory-mapped data file, kept alive by a shared handle inside the Tensor. Tensors that had
// to be assembled (partitioned variables) own a buffer instead. Either way the bytes are read-only.
//
// Thread-safety: both are values; a const Tensor may be read from many threads at once.

#ifndef TFCKPT_TENSOR_H_
#define TFCKPT_TENSOR_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tfckpt/dtype.h"

namespace tfckpt {

using Shape = std::vector<int64_t>;

// Number of elements of a shape; nullopt if a dimension is negative or the product overflows.
std::optional<int64_t> NumElements(std::span<const int64_t> shape);
// Bytes a tensor of a fixed-size dtype and this shape takes; nullopt if the shape is invalid or
// the count overflows.
std::optional<int64_t> NumBytes(DType dtype, std::span<const int64_t> shape);

// "[2,3]" ; "[]" for a scalar.
std::string ShapeToString(std::span<const int64_t> shape);

// One dimension of a slice: elements [start, start + length). length == -1 means the whole
// dimension (TensorFlow's kFullExtent).
struct SliceExtent {
  int64_t start = 0;
  int64_t length = -1;
  bool full() const { return length < 0; }
  bool operator==(const SliceExtent&) const = default;
};

// A rectangular part of a tensor, one extent per dimension.
struct TensorSlice {
  std::vector<SliceExtent> extents;
  bool operator==(const TensorSlice&) const = default;
  // The shape of the part, given the full tensor's shape. Assumes the slice fits.
  Shape SliceShape(std::span<const int64_t> full_shape) const;
  // TensorFlow's spelling: "0,5:-" (start,length per dim; "-" for a full dim).
  std::string ToString() const;
};

// Where one stored piece of tensor data lives.
struct DataLocation {
  int32_t shard_id = 0;
  int64_t offset = 0;
  int64_t size = 0;
  uint32_t masked_crc32c = 0;
};

// One stored slice of a partitioned tensor: the slice and the entry that holds its bytes.
struct SlicePart {
  TensorSlice slice;
  std::string key;  // the encoded slice key in the index
  Shape shape;      // the slice's own shape, as stored in its entry
  DataLocation location;
};

// What the index says about one tensor.
struct TensorInfo {
  std::string name;
  DType dtype = DType::kInvalid;
  Shape shape;
  DataLocation location;          // meaningless for partitioned tensors
  std::vector<SlicePart> slices;  // non-empty exactly for partitioned tensors

  bool partitioned() const { return !slices.empty(); }
  int64_t num_elements() const { return NumElements(shape).value_or(0); }
  // Bytes the tensor occupies in the data files (all its slices for a partitioned tensor).
  int64_t stored_bytes() const;
};

// A tensor value.
class Tensor {
 public:
  Tensor() = default;

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t num_elements() const { return NumElements(shape_).value_or(0); }

  // Fixed-size types: the element array (row-major, little-endian).
  std::span<const uint8_t> bytes() const { return bytes_; }
  // DT_STRING: one view per element. DT_VARIANT: one view per element on its serialized bytes.
  const std::vector<std::string_view>& elements() const { return elements_; }

  // True when bytes() points into a memory-mapped file rather than an owned buffer.
  bool zero_copy() const { return owned_ == nullptr && !bytes_.empty(); }

  // Builders used by readers and tests.
  static Tensor View(DType dtype, Shape shape, std::span<const uint8_t> bytes,
                     std::shared_ptr<const void> keepalive);
  static Tensor Owned(DType dtype, Shape shape, std::vector<uint8_t> bytes);
  static Tensor Elements(DType dtype, Shape shape, std::vector<std::string_view> elements,
                         std::shared_ptr<const void> keepalive);

 private:
  DType dtype_ = DType::kInvalid;
  Shape shape_;
  std::span<const uint8_t> bytes_;
  std::vector<std::string_view> elements_;
  std::shared_ptr<const void> keepalive_;              // mapped file the views point into
  std::shared_ptr<const std::vector<uint8_t>> owned_;  // owned storage, when assembled
};

}  // namespace tfckpt

#endif  // TFCKPT_TENSOR_H_
