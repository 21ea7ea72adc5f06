// Element access for every dtype: decoding the narrow float formats (half, bfloat16, float8,
// float4) and sub-byte integers to wider C++ types, for printing and comparing values.
//
// Thread-safety: free functions; safe from any thread.

#ifndef TFCKPT_VALUES_H_
#define TFCKPT_VALUES_H_

#include <complex>
#include <cstdint>

#include "tfckpt/dtype.h"

namespace tfckpt {

float HalfToFloat(uint16_t bits);
float BFloat16ToFloat(uint16_t bits);
// Round to nearest even; NaN stays NaN.
uint16_t FloatToHalf(float value);
uint16_t FloatToBFloat16(float value);
// One-byte float formats: float8_e5m2, float8_e4m3fn, float8_e4m3fnuz, float8_e4m3b11fnuz,
// float8_e5m2fnuz, float4_e2m1fn.
float Float8ToFloat(DType dtype, uint8_t bits);

// Kind of scalar an element decodes to.
enum class ValueKind { kBool, kSigned, kUnsigned, kFloat, kComplex, kOther };
ValueKind KindOf(DType dtype);

// Reads element `index` of a fixed-size array. The caller picks the accessor matching KindOf().
int64_t ElementAsInt(DType dtype, const uint8_t* data, int64_t index);
uint64_t ElementAsUInt(DType dtype, const uint8_t* data, int64_t index);
// For kFloat types, the exact value widened to double; for integers and bool, the value as double.
double ElementAsDouble(DType dtype, const uint8_t* data, int64_t index);
std::complex<double> ElementAsComplex(DType dtype, const uint8_t* data, int64_t index);

// Writes `value` as one element of a real floating dtype, rounded to nearest even directly from
// double (no double rounding). Out of range: infinity where the format has one, else NaN (float8
// formats) or the largest finite value (float4_e2m1fn).
void StoreDouble(DType dtype, double value, uint8_t* dst);
// Complex dtypes: both components rounded like their real type.
void StoreComplex(DType dtype, std::complex<double> value, uint8_t* dst);

}  // namespace tfckpt

#endif  // TFCKPT_VALUES_H_
