#include "format/byte_order.h"

#include <algorithm>

#include <fmt/format.h>

namespace tfckpt::byte_order {

int SwapUnit(DType dtype) {
  switch (dtype) {
    case DType::kBool:
    case DType::kInt8:
    case DType::kUInt8:
    case DType::kQInt8:
    case DType::kQUInt8:
      return 1;
    case DType::kBFloat16:
    case DType::kHalf:
    case DType::kQInt16:
    case DType::kQUInt16:
    case DType::kUInt16:
    case DType::kInt16:
      return 2;
    case DType::kFloat:
    case DType::kInt32:
    case DType::kQInt32:
    case DType::kUInt32:
    case DType::kComplex64:  // two floats
      return 4;
    case DType::kInt64:
    case DType::kDouble:
    case DType::kUInt64:
    case DType::kComplex128:  // two doubles
      return 8;
    default:
      return 0;
  }
}

Status ToLittleEndian(DType dtype, std::span<const uint8_t> stored, std::vector<uint8_t>* out) {
  const int unit = SwapUnit(dtype);
  if (unit == 0) {
    return Status::Unsupported(
        fmt::format("its dtype {} cannot be read from a checkpoint written on a big-endian machine "
                    "(TensorFlow does not byte-swap it either)",
                    DTypeName(dtype)));
  }
  if (stored.size() % unit != 0) {
    return Status::Corruption(
        fmt::format("{} bytes are not a whole number of {}-byte units", stored.size(), unit));
  }
  out->assign(stored.begin(), stored.end());
  if (unit == 1) return Status::OK();
  for (size_t i = 0; i < out->size(); i += unit) {
    std::reverse(out->begin() + i, out->begin() + i + unit);
  }
  return Status::OK();
}

}  // namespace tfckpt::byte_order
