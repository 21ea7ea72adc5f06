// DType: TensorFlow's DataType enum as stored in checkpoints, with the facts tfckpt needs about
// each type (element size, numpy-style name). Values are TensorFlow's enum numbers.
//
// Thread-safety: free functions over constants; safe from any thread.

#ifndef TFCKPT_DTYPE_H_
#define TFCKPT_DTYPE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tfckpt {

enum class DType : int32_t {
  kInvalid = 0,
  kFloat = 1,
  kDouble = 2,
  kInt32 = 3,
  kUInt8 = 4,
  kInt16 = 5,
  kInt8 = 6,
  kString = 7,
  kComplex64 = 8,
  kInt64 = 9,
  kBool = 10,
  kQInt8 = 11,
  kQUInt8 = 12,
  kQInt32 = 13,
  kBFloat16 = 14,
  kQInt16 = 15,
  kQUInt16 = 16,
  kUInt16 = 17,
  kComplex128 = 18,
  kHalf = 19,
  kResource = 20,
  kVariant = 21,
  kUInt32 = 22,
  kUInt64 = 23,
  kFloat8E5M2 = 24,
  kFloat8E4M3FN = 25,
  kFloat8E4M3FNUZ = 26,
  kFloat8E4M3B11FNUZ = 27,
  kFloat8E5M2FNUZ = 28,
  kInt4 = 29,
  kUInt4 = 30,
  kInt2 = 31,
  kUInt2 = 32,
  kFloat4E2M1FN = 33,
};

// Bytes per element in a checkpoint's data file for types stored as a raw array ("memcpy-able"
// types), 0 for types with a variable-length encoding (string, variant) and for types that can
// never be stored (invalid, resource, unknown numbers). Sub-byte types take one byte per element.
int DTypeSize(DType dtype);

// True for types whose bytes are a raw little-endian element array.
inline bool IsFixedSize(DType dtype) { return DTypeSize(dtype) > 0; }

// True for every type a checkpoint may legitimately hold.
bool IsStorable(DType dtype);

// Floating-point types, real or complex (the ones an average or a merge method may combine).
bool IsFloating(DType dtype);
bool IsComplex(DType dtype);

// The numpy / tf.DType.name spelling: "float32", "float16", "bfloat16", "string", "variant", ...
// Unknown numbers give "dtype_<n>".
std::string DTypeName(DType dtype);

// Inverse of DTypeName; also accepts TensorFlow's enum spellings ("DT_FLOAT", "DT_HALF", ...) and
// the aliases "half" and "float"/"double".
std::optional<DType> DTypeFromName(std::string_view name);

}  // namespace tfckpt

#endif  // TFCKPT_DTYPE_H_
