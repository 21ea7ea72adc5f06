#include "bundle/slices.h"

#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "bundle/entry_codec.h"

namespace tfckpt {
namespace {

void Bounds(const SliceExtent& e, int64_t dim, int64_t* begin, int64_t* end) {
  *begin = e.full() ? 0 : e.start;
  *end = e.full() ? dim : e.start + e.length;
}

}  // namespace

bool SlicesIntersect(const TensorSlice& a, const TensorSlice& b, const Shape& full) {
  for (size_t d = 0; d < full.size(); d++) {
    int64_t a0, a1, b0, b1;
    Bounds(a.extents[d], full[d], &a0, &a1);
    Bounds(b.extents[d], full[d], &b0, &b1);
    if (a1 <= b0 || b1 <= a0) return false;
  }
  return true;
}

Status CheckSliceLayout(const TensorInfo& info) {
  const std::string name = PrintableKey(info.name);
  int64_t covered = 0;
  for (size_t i = 0; i < info.slices.size(); i++) {
    const SlicePart& part = info.slices[i];
    if (part.slice.extents.size() != info.shape.size()) {
      return Status::Corruption(fmt::format("slice [{}] of '{}' has rank {} but the tensor has {}",
                                            part.slice.ToString(), name, part.slice.extents.size(),
                                            info.shape.size()));
    }
    for (size_t d = 0; d < info.shape.size(); d++) {
      const SliceExtent& e = part.slice.extents[d];
      if (!e.full() && (e.start < 0 || e.length < 0 || e.start > info.shape[d] ||
                        e.length > info.shape[d] - e.start)) {
        return Status::Corruption(fmt::format("slice [{}] of '{}' lies outside its shape {}",
                                              part.slice.ToString(), name,
                                              ShapeToString(info.shape)));
      }
    }
    Shape expected = part.slice.SliceShape(info.shape);
    if (expected != part.shape) {
      return Status::Corruption(fmt::format(
          "slice [{}] of '{}' is stored with shape {} instead of {}", part.slice.ToString(), name,
          ShapeToString(part.shape), ShapeToString(expected)));
    }
    for (size_t j = 0; j < i; j++) {
      if (SlicesIntersect(part.slice, info.slices[j].slice, info.shape) &&
          NumElements(expected).value_or(0) > 0) {
        return Status::Corruption(fmt::format("slices [{}] and [{}] of '{}' overlap",
                                              info.slices[j].slice.ToString(),
                                              part.slice.ToString(), name));
      }
    }
    covered += NumElements(expected).value_or(0);
  }
  if (covered != info.num_elements()) {
    return Status::Corruption(fmt::format(
        "the slices of partitioned tensor '{}' hold {} of its {} elements; the checkpoint is "
        "missing slices (merge the other parts in) or is damaged",
        name, covered, info.num_elements()));
  }
  return Status::OK();
}

namespace {

// Calls fn(offset_in_full_elements, run_bytes) for every row-major run of the slice.
template <typename Fn>
void ForEachRun(const Shape& full, const TensorSlice& slice, int64_t esize, Fn fn) {
  const size_t rank = full.size();
  if (rank == 0) return;
  Shape start(rank), len(rank);
  for (size_t d = 0; d < rank; d++) {
    int64_t end;
    Bounds(slice.extents[d], full[d], &start[d], &end);
    len[d] = end - start[d];
    if (len[d] == 0) return;
  }
  std::vector<int64_t> stride(rank, 1);  // strides of the full tensor, in elements
  for (size_t d = rank - 1; d > 0; d--) stride[d - 1] = stride[d] * full[d];
  const size_t run = static_cast<size_t>(len[rank - 1] * esize);
  std::vector<int64_t> idx(rank, 0);  // position in the slice; the last dim is one run
  while (true) {
    int64_t off = 0;
    for (size_t d = 0; d < rank; d++) off += (start[d] + idx[d]) * stride[d];
    fn(off * esize, run);
    size_t d = rank - 1;
    while (true) {
      if (d == 0) return;
      d--;
      if (++idx[d] < len[d]) break;
      idx[d] = 0;
    }
  }
}

}  // namespace

void CopySliceIntoFull(const uint8_t* src, const Shape& full, const TensorSlice& slice,
                       int64_t esize, uint8_t* dst) {
  ForEachRun(full, slice, esize, [&](int64_t off, size_t run) {
    std::memcpy(dst + off, src, run);
    src += run;
  });
}

void CopySliceFromFull(const uint8_t* full_data, const Shape& full, const TensorSlice& slice,
                       int64_t esize, uint8_t* dst) {
  ForEachRun(full, slice, esize, [&](int64_t off, size_t run) {
    std::memcpy(dst, full_data + off, run);
    dst += run;
  });
}

}  // namespace tfckpt
