#include "tfckpt/values.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace tfckpt {
namespace {

template <typename T>
T Load(const uint8_t* data, int64_t index) {
  T v;
  std::memcpy(&v, data + index * static_cast<int64_t>(sizeof(T)), sizeof(T));
  return v;
}

// A small float format: `ebits` exponent bits, `mbits` mantissa bits, exponent `bias`.
float DecodeSmallFloat(uint32_t bits, int ebits, int mbits, int bias) {
  uint32_t sign = (bits >> (ebits + mbits)) & 1;
  uint32_t exp = (bits >> mbits) & ((1u << ebits) - 1);
  uint32_t mant = bits & ((1u << mbits) - 1);
  float v;
  if (exp == 0) {
    v = std::ldexp(static_cast<float>(mant), 1 - bias - mbits);
  } else {
    v = std::ldexp(1.0f + std::ldexp(static_cast<float>(mant), -mbits),
                   static_cast<int>(exp) - bias);
  }
  return sign ? -v : v;
}

}  // namespace

float HalfToFloat(uint16_t h) {
  uint32_t exp = (h >> 10) & 0x1f;
  if (exp == 0x1f) {
    uint32_t mant = h & 0x3ff;
    float inf = std::numeric_limits<float>::infinity();
    float v = mant ? std::numeric_limits<float>::quiet_NaN() : inf;
    return (h & 0x8000) ? -v : v;
  }
  return DecodeSmallFloat(h, 5, 10, 15);
}

float BFloat16ToFloat(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

uint16_t FloatToBFloat16(float value) {
  uint32_t bits = std::bit_cast<uint32_t>(value);
  if (std::isnan(value)) return static_cast<uint16_t>((bits >> 16) | 0x40);
  uint32_t rounding = 0x7fff + ((bits >> 16) & 1);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

uint16_t FloatToHalf(float value) {
  uint32_t f = std::bit_cast<uint32_t>(value);
  uint16_t sign = static_cast<uint16_t>((f >> 16) & 0x8000);
  uint32_t abs = f & 0x7fffffff;
  if (abs >= 0x7f800000) {  // inf or NaN
    return static_cast<uint16_t>(sign | 0x7c00 | (abs > 0x7f800000 ? 0x200 : 0));
  }
  if (abs >= 0x477ff000) return static_cast<uint16_t>(sign | 0x7c00);  // rounds to inf
  if (abs < 0x38800000) {
    // Subnormal half (or zero): scale so the result's ulp is 1 and round to nearest even.
    float a = std::bit_cast<float>(abs);
    float scaled = a * 16777216.0f;    // 2^24: half subnormal ulp is 2^-24
    float r = std::nearbyint(scaled);  // default rounding mode: nearest even
    return static_cast<uint16_t>(sign | static_cast<uint16_t>(r));
  }
  // Normal: rebias exponent and round the 13 dropped mantissa bits to nearest even.
  uint32_t mant_odd = (abs >> 13) & 1;
  abs += 0xfff + mant_odd;
  abs -= (127 - 15) << 23;
  return static_cast<uint16_t>(sign | (abs >> 13));
}

float Float8ToFloat(DType dtype, uint8_t bits) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  switch (dtype) {
    case DType::kFloat8E5M2:
      if (((bits >> 2) & 0x1f) == 0x1f) {
        float v = (bits & 3) ? nan : std::numeric_limits<float>::infinity();
        return (bits & 0x80) ? -v : v;
      }
      return DecodeSmallFloat(bits, 5, 2, 15);
    case DType::kFloat8E4M3FN:
      if ((bits & 0x7f) == 0x7f) return nan;
      return DecodeSmallFloat(bits, 4, 3, 7);
    case DType::kFloat8E4M3FNUZ:
      if (bits == 0x80) return nan;
      return DecodeSmallFloat(bits, 4, 3, 8);
    case DType::kFloat8E4M3B11FNUZ:
      if (bits == 0x80) return nan;
      return DecodeSmallFloat(bits, 4, 3, 11);
    case DType::kFloat8E5M2FNUZ:
      if (bits == 0x80) return nan;
      return DecodeSmallFloat(bits, 5, 2, 16);
    case DType::kFloat4E2M1FN:
      return DecodeSmallFloat(bits & 0x0f, 2, 1, 1);
    default:
      return nan;
  }
}

ValueKind KindOf(DType dtype) {
  switch (dtype) {
    case DType::kBool:
      return ValueKind::kBool;
    case DType::kInt8:
    case DType::kInt16:
    case DType::kInt32:
    case DType::kInt64:
    case DType::kQInt8:
    case DType::kQInt16:
    case DType::kQInt32:
    case DType::kInt4:
    case DType::kInt2:
      return ValueKind::kSigned;
    case DType::kUInt8:
    case DType::kUInt16:
    case DType::kUInt32:
    case DType::kUInt64:
    case DType::kQUInt8:
    case DType::kQUInt16:
    case DType::kUInt4:
    case DType::kUInt2:
      return ValueKind::kUnsigned;
    case DType::kComplex64:
    case DType::kComplex128:
      return ValueKind::kComplex;
    default:
      return IsFloating(dtype) ? ValueKind::kFloat : ValueKind::kOther;
  }
}

int64_t ElementAsInt(DType dtype, const uint8_t* data, int64_t i) {
  switch (dtype) {
    case DType::kInt8:
    case DType::kQInt8:
      return Load<int8_t>(data, i);
    case DType::kInt16:
    case DType::kQInt16:
      return Load<int16_t>(data, i);
    case DType::kInt32:
    case DType::kQInt32:
      return Load<int32_t>(data, i);
    case DType::kInt64:
      return Load<int64_t>(data, i);
    case DType::kInt4:  // one byte per element; the value is in the low nibble
      return static_cast<int8_t>(static_cast<uint8_t>(data[i] << 4)) >> 4;
    case DType::kInt2:
      return static_cast<int8_t>(static_cast<uint8_t>(data[i] << 6)) >> 6;
    case DType::kBool:
      return data[i] != 0;
    default:
      return static_cast<int64_t>(ElementAsUInt(dtype, data, i));
  }
}

uint64_t ElementAsUInt(DType dtype, const uint8_t* data, int64_t i) {
  switch (dtype) {
    case DType::kUInt8:
    case DType::kQUInt8:
      return data[i];
    case DType::kUInt16:
    case DType::kQUInt16:
      return Load<uint16_t>(data, i);
    case DType::kUInt32:
      return Load<uint32_t>(data, i);
    case DType::kUInt64:
      return Load<uint64_t>(data, i);
    case DType::kUInt4:
      return data[i] & 0x0f;
    case DType::kUInt2:
      return data[i] & 0x03;
    case DType::kBool:
      return data[i] != 0;
    default:
      return static_cast<uint64_t>(ElementAsInt(dtype, data, i));
  }
}

double ElementAsDouble(DType dtype, const uint8_t* data, int64_t i) {
  switch (dtype) {
    case DType::kFloat:
      return Load<float>(data, i);
    case DType::kDouble:
      return Load<double>(data, i);
    case DType::kHalf:
      return HalfToFloat(Load<uint16_t>(data, i));
    case DType::kBFloat16:
      return BFloat16ToFloat(Load<uint16_t>(data, i));
    case DType::kFloat8E5M2:
    case DType::kFloat8E4M3FN:
    case DType::kFloat8E4M3FNUZ:
    case DType::kFloat8E4M3B11FNUZ:
    case DType::kFloat8E5M2FNUZ:
    case DType::kFloat4E2M1FN:
      return Float8ToFloat(dtype, data[i]);
    case DType::kComplex64:
    case DType::kComplex128:
      return ElementAsComplex(dtype, data, i).real();
    default:
      if (KindOf(dtype) == ValueKind::kUnsigned)
        return static_cast<double>(ElementAsUInt(dtype, data, i));
      return static_cast<double>(ElementAsInt(dtype, data, i));
  }
}

std::complex<double> ElementAsComplex(DType dtype, const uint8_t* data, int64_t i) {
  if (dtype == DType::kComplex64) return {Load<float>(data, 2 * i), Load<float>(data, 2 * i + 1)};
  if (dtype == DType::kComplex128)
    return {Load<double>(data, 2 * i), Load<double>(data, 2 * i + 1)};
  return {ElementAsDouble(dtype, data, i), 0.0};
}

namespace {

// A binary floating-point format narrower than double.
struct SmallFormat {
  int ebits, mbits, bias;
  bool ieee;               // the top exponent field is reserved for inf/NaN
  bool fn;                 // (e4m3fn) only all-ones exponent and mantissa is NaN
  bool unsigned_zero_nan;  // (fnuz) 0x80 is NaN, there is no negative zero
  bool has_nan;
};

SmallFormat FormatOf(DType dtype) {
  switch (dtype) {
    case DType::kHalf:
      return {5, 10, 15, true, false, false, true};
    case DType::kBFloat16:
      return {8, 7, 127, true, false, false, true};
    case DType::kFloat8E5M2:
      return {5, 2, 15, true, false, false, true};
    case DType::kFloat8E4M3FN:
      return {4, 3, 7, false, true, false, true};
    case DType::kFloat8E4M3FNUZ:
      return {4, 3, 8, false, false, true, true};
    case DType::kFloat8E4M3B11FNUZ:
      return {4, 3, 11, false, false, true, true};
    case DType::kFloat8E5M2FNUZ:
      return {5, 2, 16, false, false, true, true};
    default:
      return {2, 1, 1, false, false, false, false};  // float4_e2m1fn
  }
}

// Rounds to the format with round-to-nearest-even and returns its bit pattern.
uint32_t RoundToSmall(const SmallFormat& f, double v) {
  const uint32_t sign_bit = 1u << (f.ebits + f.mbits);
  const uint32_t max_field = (1u << f.ebits) - 1;
  const uint32_t mant_all = (1u << f.mbits) - 1;
  auto nan_bits = [&]() -> uint32_t {
    if (f.unsigned_zero_nan) return sign_bit;
    return (max_field << f.mbits) | mant_all;
  };
  if (std::isnan(v)) return f.has_nan ? nan_bits() : 0;
  const bool neg = std::signbit(v);
  double a = std::fabs(v);
  // Largest finite value.
  uint32_t top_field = f.ieee ? max_field - 1 : max_field;
  uint32_t top_mant = f.fn ? mant_all - 1 : mant_all;
  double max_finite = std::ldexp(1.0 + std::ldexp(static_cast<double>(top_mant), -f.mbits),
                                 static_cast<int>(top_field) - f.bias);
  const int emin = 1 - f.bias;
  uint32_t bits = 0;
  if (a != 0 && !std::isinf(a)) {
    int e = std::ilogb(a);
    double quantum = std::ldexp(1.0, std::max(e, emin) - f.mbits);
    a = std::nearbyint(a / quantum) * quantum;  // exact scaling; RNE in the default mode
  }
  if (a > max_finite) {
    if (f.ieee) return (neg ? sign_bit : 0) | (max_field << f.mbits);
    if (f.has_nan) return nan_bits();
    a = max_finite;
  }
  if (a == 0) {
    bits = 0;
  } else if (a < std::ldexp(1.0, emin)) {
    bits = static_cast<uint32_t>(std::ldexp(a, f.mbits - emin));  // subnormal
  } else {
    int e = std::ilogb(a);
    uint32_t mant = static_cast<uint32_t>(std::ldexp(a, f.mbits - e)) & mant_all;
    bits = (static_cast<uint32_t>(e + f.bias) << f.mbits) | mant;
  }
  if (neg && !(f.unsigned_zero_nan && bits == 0)) bits |= sign_bit;
  return bits;
}

}  // namespace

void StoreDouble(DType dtype, double value, uint8_t* dst) {
  switch (dtype) {
    case DType::kFloat: {
      float f = static_cast<float>(value);
      std::memcpy(dst, &f, 4);
      return;
    }
    case DType::kDouble:
      std::memcpy(dst, &value, 8);
      return;
    case DType::kHalf:
    case DType::kBFloat16: {
      uint16_t b = static_cast<uint16_t>(RoundToSmall(FormatOf(dtype), value));
      std::memcpy(dst, &b, 2);
      return;
    }
    default:
      *dst = static_cast<uint8_t>(RoundToSmall(FormatOf(dtype), value));
  }
}

void StoreComplex(DType dtype, std::complex<double> value, uint8_t* dst) {
  if (dtype == DType::kComplex64) {
    float c[2] = {static_cast<float>(value.real()), static_cast<float>(value.imag())};
    std::memcpy(dst, c, 8);
  } else {
    double c[2] = {value.real(), value.imag()};
    std::memcpy(dst, c, 16);
  }
}

}  // namespace tfckpt
