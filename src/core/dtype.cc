#include "tfckpt/dtype.h"

#include <array>
#include <string>

namespace tfckpt {
namespace {

struct DTypeFacts {
  DType dtype;
  const char* name;     // numpy / tf.DType.name spelling
  const char* tf_name;  // DataType enum spelling
  int size;             // bytes per element; 0 = variable length or never stored
};

constexpr std::array<DTypeFacts, 33> kFacts = {{
    {DType::kFloat, "float32", "DT_FLOAT", 4},
    {DType::kDouble, "float64", "DT_DOUBLE", 8},
    {DType::kInt32, "int32", "DT_INT32", 4},
    {DType::kUInt8, "uint8", "DT_UINT8", 1},
    {DType::kInt16, "int16", "DT_INT16", 2},
    {DType::kInt8, "int8", "DT_INT8", 1},
    {DType::kString, "string", "DT_STRING", 0},
    {DType::kComplex64, "complex64", "DT_COMPLEX64", 8},
    {DType::kInt64, "int64", "DT_INT64", 8},
    {DType::kBool, "bool", "DT_BOOL", 1},
    {DType::kQInt8, "qint8", "DT_QINT8", 1},
    {DType::kQUInt8, "quint8", "DT_QUINT8", 1},
    {DType::kQInt32, "qint32", "DT_QINT32", 4},
    {DType::kBFloat16, "bfloat16", "DT_BFLOAT16", 2},
    {DType::kQInt16, "qint16", "DT_QINT16", 2},
    {DType::kQUInt16, "quint16", "DT_QUINT16", 2},
    {DType::kUInt16, "uint16", "DT_UINT16", 2},
    {DType::kComplex128, "complex128", "DT_COMPLEX128", 16},
    {DType::kHalf, "float16", "DT_HALF", 2},
    {DType::kResource, "resource", "DT_RESOURCE", 0},
    {DType::kVariant, "variant", "DT_VARIANT", 0},
    {DType::kUInt32, "uint32", "DT_UINT32", 4},
    {DType::kUInt64, "uint64", "DT_UINT64", 8},
    {DType::kFloat8E5M2, "float8_e5m2", "DT_FLOAT8_E5M2", 1},
    {DType::kFloat8E4M3FN, "float8_e4m3fn", "DT_FLOAT8_E4M3FN", 1},
    {DType::kFloat8E4M3FNUZ, "float8_e4m3fnuz", "DT_FLOAT8_E4M3FNUZ", 1},
    {DType::kFloat8E4M3B11FNUZ, "float8_e4m3b11fnuz", "DT_FLOAT8_E4M3B11FNUZ", 1},
    {DType::kFloat8E5M2FNUZ, "float8_e5m2fnuz", "DT_FLOAT8_E5M2FNUZ", 1},
    {DType::kInt4, "int4", "DT_INT4", 1},
    {DType::kUInt4, "uint4", "DT_UINT4", 1},
    {DType::kInt2, "int2", "DT_INT2", 1},
    {DType::kUInt2, "uint2", "DT_UINT2", 1},
    {DType::kFloat4E2M1FN, "float4_e2m1fn", "DT_FLOAT4_E2M1FN", 1},
}};

const DTypeFacts* FactsOf(DType dtype) {
  int n = static_cast<int>(dtype);
  if (n < 1 || n > static_cast<int>(kFacts.size())) return nullptr;
  return &kFacts[n - 1];
}

}  // namespace

int DTypeSize(DType dtype) {
  const DTypeFacts* f = FactsOf(dtype);
  return f ? f->size : 0;
}

bool IsStorable(DType dtype) {
  return IsFixedSize(dtype) || dtype == DType::kString || dtype == DType::kVariant;
}

bool IsComplex(DType dtype) { return dtype == DType::kComplex64 || dtype == DType::kComplex128; }

bool IsFloating(DType dtype) {
  switch (dtype) {
    case DType::kFloat:
    case DType::kDouble:
    case DType::kHalf:
    case DType::kBFloat16:
    case DType::kComplex64:
    case DType::kComplex128:
    case DType::kFloat8E5M2:
    case DType::kFloat8E4M3FN:
    case DType::kFloat8E4M3FNUZ:
    case DType::kFloat8E4M3B11FNUZ:
    case DType::kFloat8E5M2FNUZ:
    case DType::kFloat4E2M1FN:
      return true;
    default:
      return false;
  }
}

std::string DTypeName(DType dtype) {
  const DTypeFacts* f = FactsOf(dtype);
  if (f) return f->name;
  return "dtype_" + std::to_string(static_cast<int>(dtype));
}

std::optional<DType> DTypeFromName(std::string_view name) {
  if (name == "half") return DType::kHalf;
  if (name == "float") return DType::kFloat;
  if (name == "double") return DType::kDouble;
  for (const DTypeFacts& f : kFacts) {
    if (name == f.name || name == f.tf_name) return f.dtype;
  }
  return std::nullopt;
}

}  // namespace tfckpt
