// Geometry of partitioned tensors: checking that stored slices tile their tensor exactly, and
// copying a slice's elements into the full tensor.
//
// Thread-safety: pure functions; safe from any thread.

#ifndef TFCKPT_BUNDLE_SLICES_H_
#define TFCKPT_BUNDLE_SLICES_H_

#include <cstdint>

#include "tfckpt/status.h"
#include "tfckpt/tensor.h"

namespace tfckpt {

// OK when every slice of `info` lies inside its shape, is stored with the slice's shape, no two
// slices overlap, and together they cover every element. The error names the tensor and slice.
Status CheckSliceLayout(const TensorInfo& info);

// True when two slices of a tensor of shape `full` share at least one element.
bool SlicesIntersect(const TensorSlice& a, const TensorSlice& b, const Shape& full);

// Copies a slice's row-major elements (`esize` bytes each) to their place in the full tensor.
void CopySliceIntoFull(const uint8_t* src, const Shape& full, const TensorSlice& slice,
                       int64_t esize, uint8_t* dst);
// The reverse: gathers a slice's elements out of the full tensor, row-major.
void CopySliceFromFull(const uint8_t* full_data, const Shape& full, const TensorSlice& slice,
                       int64_t esize, uint8_t* dst);

}  // namespace tfckpt

#endif  // TFCKPT_BUNDLE_SLICES_H_
