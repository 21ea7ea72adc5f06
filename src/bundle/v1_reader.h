// The contents of a V1 checkpoint file (TensorFlow's TensorSlice format; the files themselves:
// format/v1_files.h). Each file is a LevelDB table. Its empty key holds a SavedTensorSlices
// whose `meta` lists the tensors (name, dtype, full shape) and the slices of each that this
// file stores; every other key is the slice key of one (name, slice) (format/slice_key.h, the
// same encoding a V2 index uses for partitioned tensors) and holds a SavedTensorSlices whose
// `data` carries the slice's values in the typed repeated fields of a TensorProto: float_val,
// double_val, int64_val, bool_val, string_val, int_val (int32 and the narrower integers),
// half_val (float16 as its bits), scomplex_val / dcomplex_val (real and imaginary in turn),
// uint32_val, uint64_val. A tensor that is not partitioned is one slice covering everything.
//
// Thread-safety: pure functions; safe from any thread.

#ifndef TFCKPT_BUNDLE_V1_READER_H_
#define TFCKPT_BUNDLE_V1_READER_H_

#include <string>
#include <string_view>
#include <vector>

#include "tfckpt/status.h"
#include "tfckpt/tensor.h"

namespace tfckpt::v1 {

// One tensor as one file's metadata lists it.
struct TensorMeta {
  std::string name;
  DType dtype = DType::kInvalid;
  Shape shape;
  std::vector<TensorSlice> slices;  // those stored in this file, as recorded (full extents too)
};

// Parses the value of a file's empty key. `file` is for messages.
Status ParseMeta(std::string_view value, const std::string& file, std::vector<TensorMeta>* out);

// Decodes the value stored under the key of (name, slice): checks that it is that slice and
// that it holds exactly the elements of `shape` (the slice's own shape), and makes a tensor of
// `dtype`. Fixed-size values whose stored array is already the tensor's layout are views on the
// parsed message (which the tensor keeps alive); the others are converted into a buffer.
Status DecodeSlice(std::string_view value, std::string_view name, const TensorSlice& slice,
                   DType dtype, const Shape& shape, Tensor* tensor);

// Whether a V1 checkpoint can hold `dtype` (the dtypes TensorFlow's V1 reader maps to a field).
bool Readable(DType dtype);

}  // namespace tfckpt::v1

#endif  // TFCKPT_BUNDLE_V1_READER_H_
