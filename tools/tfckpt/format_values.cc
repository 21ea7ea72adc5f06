#include "format_values.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <complex>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "tfckpt/values.h"

namespace tfckpt::cli {
namespace {

// Strict UTF-8, as Python decodes it (no overlong forms, no surrogates).
bool ValidUtf8(std::string_view s) {
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t extra;
    if (c < 0x80) {
      extra = 0;
    } else if (c >= 0xc2 && c <= 0xdf) {
      extra = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      extra = 2;
    } else if (c >= 0xf0 && c <= 0xf4) {
      extra = 3;
    } else {
      return false;
    }
    if (n - i < extra + 1) return false;
    for (size_t k = 1; k <= extra; k++) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    unsigned char c1 = extra > 0 ? static_cast<unsigned char>(s[i + 1]) : 0;
    if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 >= 0xa0) || (c == 0xf0 && c1 < 0x90) ||
        (c == 0xf4 && c1 >= 0x90)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

std::string Base64(std::string_view in) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out.push_back(tbl[(v >> k) & 63]);
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += {tbl[(v >> 18) & 63], tbl[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {tbl[(v >> 18) & 63], tbl[(v >> 12) & 63], tbl[(v >> 6) & 63], '='};
  }
  return out;
}

template <typename T>
std::string Shortest(T v, std::chars_format fmt = std::chars_format::general) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, fmt);
  return std::string(buf, r.ptr);
}

// The shortest decimal (in `fmt`) that reads back to the same value in `dtype`.
std::string FloatDigits(DType dtype, double v, std::chars_format fmt) {
  if (dtype == DType::kHalf || dtype == DType::kBFloat16) {
    uint16_t (*to16)(float) = dtype == DType::kHalf ? FloatToHalf : FloatToBFloat16;
    float f = static_cast<float>(v);
    for (int p = 0; p <= 9; p++) {
      char buf[64];
      auto r = std::to_chars(buf, buf + sizeof buf, f, fmt, p);
      std::string cand(buf, r.ptr);
      float back = 0;
      std::from_chars(cand.data(), cand.data() + cand.size(), back);
      if (to16(back) == to16(f)) return cand;
    }
    return Shortest(f, fmt);
  }
  if (dtype == DType::kDouble || dtype == DType::kComplex128) return Shortest(v, fmt);
  return Shortest(static_cast<float>(v), fmt);
}

// Text of element i of a real floating tensor, for JSON (exact round trip).
std::string FloatText(DType dtype, const uint8_t* data, int64_t i, std::chars_format fmt) {
  double v = ElementAsDouble(dtype, data, i);
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return FloatDigits(dtype, v, fmt);
}

std::string ComponentText(DType dtype, double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  std::string s = dtype == DType::kComplex64 ? Shortest(static_cast<float>(v)) : Shortest(v);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string ElementJson(const Tensor& t, int64_t i) {
  const DType dtype = t.dtype();
  if (dtype == DType::kString) {
    std::string_view s = t.elements()[i];
    if (ValidUtf8(s)) return JsonString(s);
    return "{\"base64\": \"" + Base64(s) + "\"}";
  }
  if (dtype == DType::kVariant) return "{\"base64\": \"" + Base64(t.elements()[i]) + "\"}";
  const uint8_t* data = t.bytes().data();
  switch (KindOf(dtype)) {
    case ValueKind::kBool:
      return data[i] ? "true" : "false";
    case ValueKind::kSigned:
      return std::to_string(ElementAsInt(dtype, data, i));
    case ValueKind::kUnsigned:
      return std::to_string(ElementAsUInt(dtype, data, i));
    case ValueKind::kComplex: {
      auto c = ElementAsComplex(dtype, data, i);
      return "[" + ComponentText(dtype, c.real()) + ", " + ComponentText(dtype, c.imag()) + "]";
    }
    case ValueKind::kFloat: {
      std::string s = FloatText(dtype, data, i, std::chars_format::general);
      if (s == "nan") return "NaN";
      if (s == "inf") return "Infinity";
      if (s == "-inf") return "-Infinity";
      if (s.find_first_of(".e") == std::string::npos) s += ".0";
      return s;
    }
    case ValueKind::kOther:
      break;
  }
  return "null";
}

void NestedJson(const Tensor& t, size_t dim, int64_t* index, std::string* out) {
  const Shape& shape = t.shape();
  if (dim == shape.size()) {
    *out += ElementJson(t, (*index)++);
    return;
  }
  out->push_back('[');
  for (int64_t k = 0; k < shape[dim]; k++) {
    if (k > 0) *out += ", ";
    NestedJson(t, dim + 1, index, out);
  }
  out->push_back(']');
}

// ---- numpy-style text ----

// ---- numbers as numpy prints them ----
//
// numpy's array printer (arrayprint.FloatingFormat and its dragon4 digits) with its default
// options: precision 8, floatmode 'maxprec', no suppression of small numbers, sign '-', line
// width 75, 3 edge items; and numpy's str() of a scalar for 0-d tensors.

// (neg ? -1 : 1) × d1.d2d3... × 10^exp; `digits` has no leading or trailing zeros ("0" for zero).
struct Decimal {
  bool neg = false;
  std::string digits = "0";
  int exp = 0;
};

// Parses what std::to_chars writes: "-1.25e-05", "123.5", "0.001", "7".
Decimal ParseDecimal(std::string_view s) {
  Decimal d;
  size_t i = 0;
  if (i < s.size() && s[i] == '-') {
    d.neg = true;
    i++;
  }
  std::string digits;
  int point = -1;
  for (; i < s.size() && s[i] != 'e'; i++) {
    if (s[i] == '.') {
      point = static_cast<int>(digits.size());
    } else {
      digits.push_back(s[i]);
    }
  }
  if (point < 0) point = static_cast<int>(digits.size());
  int e10 = 0;
  if (i < s.size()) {
    size_t j = i + 1;
    if (j < s.size() && s[j] == '+') j++;
    std::from_chars(s.data() + j, s.data() + s.size(), e10);
  }
  size_t lead = digits.find_first_not_of('0');
  if (lead == std::string::npos) return d;  // zero (keeping its sign)
  digits.erase(0, lead);
  digits.erase(digits.find_last_not_of('0') + 1);
  d.digits = digits;
  d.exp = point - static_cast<int>(lead) - 1 + e10;
  return d;
}

// `v` in `fmt` with `precision` digits after the point, or (-1) the shortest round trip.
template <typename T>
Decimal ToDecimal(T v, std::chars_format fmt, int precision) {
  char buf[1200];
  auto r = precision < 0 ? std::to_chars(buf, buf + sizeof buf, v, fmt)
                         : std::to_chars(buf, buf + sizeof buf, v, fmt, precision);
  return ParseDecimal(std::string_view(buf, r.ptr - buf));
}

// Compares |a| and |b|.
int CompareMagnitude(const Decimal& a, const Decimal& b) {
  const bool za = a.digits == "0", zb = b.digits == "0";
  if (za || zb) return za == zb ? 0 : za ? -1 : 1;
  if (a.exp != b.exp) return a.exp < b.exp ? -1 : 1;
  for (size_t k = 0; k < std::max(a.digits.size(), b.digits.size()); k++) {
    char ca = k < a.digits.size() ? a.digits[k] : '0';
    char cb = k < b.digits.size() ? b.digits[k] : '0';
    if (ca != cb) return ca < cb ? -1 : 1;
  }
  return 0;
}

// `d` (of at most p + 1 significant digits) plus or minus one unit in its (p + 1)th digit.
Decimal StepLastDigit(Decimal d, int p, int dir) {
  std::string n = d.digits;
  n.resize(p + 1, '0');
  int k = p;
  if (dir > 0) {
    while (k >= 0 && n[k] == '9') n[k--] = '0';
    if (k < 0) {
      n = std::string(1, '1') + n;  // (GCC 12 at -O3 misreads insert(0, ...) as overlapping)
      d.exp++;
    } else {
      n[k]++;
    }
  } else {
    while (k >= 0 && n[k] == '0') n[k--] = '9';
    if (k < 0) return Decimal();
    n[k]--;
    if (n[0] == '0') {
      n.erase(0, 1);
      d.exp--;
    }
  }
  size_t last = n.find_last_not_of('0');
  if (last == std::string::npos) return Decimal();
  n.erase(last + 1);
  d.digits = n;
  return d;
}

// The shortest digits that tell `v` (finite, > 0) apart from its neighbours in a float format
// narrower than float (half, bfloat16, float8, float4): of the fewest digits that lie in its
// rounding interval (its ends included when the last mantissa bit is even, as IEEE rounding
// goes), the closest to v. numpy's dragon4 (and std::to_chars for float and double) do the same.
Decimal ShortestNarrow(DType dtype, double v) {
  uint8_t buf[2] = {0, 0};
  StoreDouble(dtype, v, buf);
  const uint32_t bits = DTypeSize(dtype) == 2 ? (buf[0] | (buf[1] << 8)) : buf[0];
  auto decode = [&](uint32_t b) {
    uint8_t raw[2] = {static_cast<uint8_t>(b), static_cast<uint8_t>(b >> 8)};
    return ElementAsDouble(dtype, raw, 0);
  };
  const double prev = bits > 0 ? decode(bits - 1) : 0;
  double next = decode(bits + 1);
  if (!std::isfinite(next) || next <= v) next = v + (v - prev);  // past the largest value
  // The interval's ends are exact in double (narrow formats have short mantissas).
  const Decimal lo = ToDecimal((prev + v) / 2, std::chars_format::scientific, 800);
  const Decimal hi = ToDecimal((v + next) / 2, std::chars_format::scientific, 800);
  const bool inclusive = (bits & 1) == 0;
  auto inside = [&](const Decimal& d) {
    int a = CompareMagnitude(d, lo), b = CompareMagnitude(d, hi);
    return inclusive ? a >= 0 && b <= 0 : a > 0 && b < 0;
  };
  for (int p = 0; p <= 17; p++) {
    Decimal c = ToDecimal(v, std::chars_format::scientific, p);
    if (inside(c)) return c;
    // Below a power of two the interval is narrower: the other neighbour of v may fit.
    for (int dir : {1, -1}) {
      Decimal n = StepLastDigit(c, p, dir);
      if (inside(n)) return n;
    }
  }
  return ToDecimal(v, std::chars_format::scientific, -1);
}

// The shortest digits that identify `v` (finite) among the values of `dtype` (for complex
// dtypes, of their components).
Decimal ShortestDecimal(DType dtype, double v) {
  if (v == 0) {
    Decimal zero;
    zero.neg = std::signbit(v);
    return zero;
  }
  if (dtype == DType::kDouble || dtype == DType::kComplex128) {
    return ToDecimal(v, std::chars_format::scientific, -1);
  }
  if (dtype == DType::kFloat || dtype == DType::kComplex64) {
    return ToDecimal(static_cast<float>(v), std::chars_format::scientific, -1);
  }
  Decimal d = ShortestNarrow(dtype, std::fabs(v));
  d.neg = v < 0;
  return d;
}

int SciFraction(const Decimal& d) { return static_cast<int>(d.digits.size()) - 1; }
int PosFraction(const Decimal& d) {
  return std::max(0, static_cast<int>(d.digits.size()) - 1 - d.exp);
}

// dragon4 with unique=True and precision=8: the shortest digits, cut (correctly rounded) to at
// most 8 digits after the point, in positional or scientific notation.
Decimal MaxPrec(DType dtype, double v, bool sci) {
  Decimal d = ShortestDecimal(dtype, v);
  if ((sci ? SciFraction(d) : PosFraction(d)) > 8) {
    d = ToDecimal(v, sci ? std::chars_format::scientific : std::chars_format::fixed, 8);
  }
  return d;
}

// Positional pieces: "-12" and "5" for -12.5; "0" and "" for 0.
std::string IntPart(const Decimal& d, bool plus) {
  std::string s = d.neg ? "-" : plus ? "+" : "";
  if (d.exp < 0) return s + "0";
  std::string ip = d.digits.substr(0, std::min<size_t>(d.digits.size(), d.exp + 1));
  ip.resize(d.exp + 1, '0');
  return s + ip;
}
std::string FracPart(const Decimal& d) {
  if (d.digits == "0") return "";
  if (d.exp < 0) return std::string(-d.exp - 1, '0') + d.digits;
  return d.digits.size() > static_cast<size_t>(d.exp) + 1 ? d.digits.substr(d.exp + 1) : "";
}

// "e-05", "e+300": a sign and at least `width` digits.
std::string ExponentText(int exp, int width) {
  std::string digits = std::to_string(std::abs(exp));
  if (static_cast<int>(digits.size()) < width) digits.insert(0, width - digits.size(), '0');
  return std::string("e") + (exp < 0 ? '-' : '+') + digits;
}

DType RealPart(DType dtype) {
  return dtype == DType::kComplex64    ? DType::kFloat
         : dtype == DType::kComplex128 ? DType::kDouble
                                       : dtype;
}

// `x` rounded to `dtype`, as numpy turns a Python float into a scalar of the array's type before
// comparing or dividing.
double InDtype(DType dtype, double x) {
  if (dtype == DType::kDouble) return x;
  if (dtype == DType::kFloat) return static_cast<float>(x);
  uint8_t buf[2] = {0, 0};
  StoreDouble(dtype, x, buf);
  return ElementAsDouble(dtype, buf, 0);
}

// Decimal digits of precision (numpy's finfo(dtype).precision).
int Precision(DType dtype) {
  switch (dtype) {
    case DType::kDouble:
      return 15;
    case DType::kFloat:
      return 6;
    case DType::kHalf:
      return 3;
    case DType::kBFloat16:
      return 2;
    case DType::kFloat4E2M1FN:
      return 0;
    default:  // float8
      return 1;
  }
}

// numpy's formatter of a whole array of reals (or of complex numbers' real or imaginary parts):
// scientific notation when the largest magnitude reaches 10^min(8, precision of the dtype), the
// smallest is below 1e-4 or they are more than 1000 apart; positional otherwise; each number
// padded to the widest integer and fraction parts, with every exponent as wide as the widest.
class FloatFormat {
 public:
  // `plus`: every number carries its sign (the imaginary parts of complex numbers).
  FloatFormat(DType dtype, const std::vector<double>& values, bool plus)
      : dtype_(dtype), plus_(plus) {
    std::vector<double> finite;
    for (double v : values) {
      if (std::isfinite(v)) finite.push_back(v);
    }
    double max_abs = 0, min_abs = INFINITY;
    for (double v : finite) {
      if (v == 0) continue;
      max_abs = std::max(max_abs, std::fabs(v));
      min_abs = std::min(min_abs, std::fabs(v));
    }
    if (max_abs > 0) {
      // Divided in the dtype (numpy divides half scalars in float and rounds to half).
      const float ratio32 = static_cast<float>(max_abs) / static_cast<float>(min_abs);
      const double ratio = dtype == DType::kDouble ? max_abs / min_abs : InDtype(dtype, ratio32);
      exp_ = max_abs >= std::pow(10.0, std::min(8, Precision(dtype))) ||
             min_abs < InDtype(dtype, 1e-4) || ratio > 1000;
    }
    int left = 0, right = 0;
    if (exp_) {
      for (double v : finite) {
        Decimal d = MaxPrec(dtype, v, true);
        precision_ = std::max(precision_, SciFraction(d));
        const int exp_digits = static_cast<int>(std::to_string(std::abs(d.exp)).size());
        exp_size_ = std::max({exp_size_, 2, exp_digits});
        left = std::max(left, d.neg || plus_ ? 2 : 1);
      }
      right = finite.empty() ? 0 : exp_size_ + 2 + precision_;
    } else {
      for (double v : finite) {
        Decimal d = MaxPrec(dtype, v, false);
        left = std::max(left, static_cast<int>(IntPart(d, plus_).size()));
        right = std::max(right, static_cast<int>(FracPart(d).size()));
      }
    }
    if (finite.size() != values.size()) {
      // Room for nan and inf (with its sign) in the integer part.
      bool neginf = plus_;
      for (double v : values) neginf = neginf || v == -INFINITY;
      left = std::max({left, 3 - (right + 1), 3 + (neginf ? 1 : 0) - (right + 1)});
    }
    pad_left_ = left;
    pad_right_ = right;
  }

  std::string operator()(double v) const {
    if (!std::isfinite(v)) {
      std::string ret = std::isnan(v) ? (plus_ ? "+nan" : "nan")
                        : v < 0       ? "-inf"
                                      : (plus_ ? "+inf" : "inf");
      int pad = pad_left_ + pad_right_ + 1 - static_cast<int>(ret.size());
      return std::string(std::max(0, pad), ' ') + ret;
    }
    if (exp_) {
      // Every mantissa gets `precision_` digits: the shortest if it has that many, else the
      // value correctly rounded to them.
      Decimal d = MaxPrec(dtype_, v, true);
      if (SciFraction(d) != precision_) {
        d = ToDecimal(v, std::chars_format::scientific, precision_);
      }
      std::string digits = d.digits;
      digits.resize(precision_ + 1, '0');
      std::string mant = d.neg ? "-" : plus_ ? "+" : "";
      mant += digits[0] + ("." + digits.substr(1));
      std::string head(std::max(0, pad_left_ - static_cast<int>(mant.size()) + precision_ + 1),
                       ' ');
      return head + mant + ExponentText(d.exp, exp_size_);
    }
    Decimal d = MaxPrec(dtype_, v, false);
    std::string ip = IntPart(d, plus_), fp = FracPart(d);
    return std::string(std::max(0, pad_left_ - static_cast<int>(ip.size())), ' ') + ip + "." + fp +
           std::string(std::max(0, pad_right_ - static_cast<int>(fp.size())), ' ');
  }

 private:
  DType dtype_;
  bool plus_;
  bool exp_ = false;
  int precision_ = 0;  // scientific: digits after the point in every mantissa
  int exp_size_ = 0;   // scientific: digits in every exponent
  int pad_left_ = 0, pad_right_ = 0;
};

// numpy's str() of a float scalar: the shortest digits, positional between 1e-4 and
// 10^precision of the dtype (1e16 for float64), else scientific ("1e-05", "1.5e+16").
std::string NumpyScalar(DType dtype, double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  const double a = std::fabs(v);
  const double cutoff = dtype == DType::kDouble ? 1e16 : std::pow(10.0, Precision(dtype));
  Decimal d = ShortestDecimal(dtype, v);
  if (a == 0 || (a >= 1e-4 && a < cutoff)) {
    std::string fp = FracPart(d);
    return IntPart(d, false) + "." + (fp.empty() ? "0" : fp);
  }
  std::string mant = std::string(d.neg ? "-" : "") + d.digits[0];
  if (d.digits.size() > 1) mant += "." + d.digits.substr(1);
  return mant + ExponentText(d.exp, 2);
}

// numpy's str() of a complex scalar: "(1+2j)", "(1.5-0j)", "2j", "(nan+infj)".
std::string NumpyComplexScalar(DType dtype, std::complex<double> c) {
  auto part = [&](double x) {
    std::string s = NumpyScalar(RealPart(dtype), x);
    if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
    return s;
  };
  std::string im = part(c.imag());
  if (c.real() == 0 && !std::signbit(c.real())) return im + "j";
  if (im[0] != '-') im = "+" + im;
  return "(" + part(c.real()) + im + "j)";
}

std::string PyBytesRepr(std::string_view s) {
  bool has_single = s.find('\'') != std::string_view::npos;
  bool has_double = s.find('"') != std::string_view::npos;
  char quote = has_single && !has_double ? '"' : '\'';
  std::string out = "b";
  out.push_back(quote);
  for (unsigned char c : s) {
    if (c == static_cast<unsigned char>(quote) || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back(quote);
  return out;
}

// Element strings as numpy's array printer makes them: one formatter for the shown elements.
class ElementFormatter {
 public:
  ElementFormatter(const Tensor& t, const std::vector<int64_t>& shown) : t_(t) {
    const DType dtype = t.dtype();
    kind_ = dtype == DType::kString || dtype == DType::kVariant ? ValueKind::kOther : KindOf(dtype);
    const uint8_t* data = t.bytes().data();
    if (kind_ == ValueKind::kFloat) {
      std::vector<double> values;
      for (int64_t i : shown) values.push_back(ElementAsDouble(dtype, data, i));
      real_.emplace(dtype, values, false);
    } else if (kind_ == ValueKind::kComplex) {
      std::vector<double> re, im;
      for (int64_t i : shown) {
        std::complex<double> c = ElementAsComplex(dtype, data, i);
        re.push_back(c.real());
        im.push_back(c.imag());
      }
      real_.emplace(RealPart(dtype), re, false);
      imag_.emplace(RealPart(dtype), im, true);
    } else if (kind_ == ValueKind::kSigned || kind_ == ValueKind::kUnsigned) {
      for (int64_t i : shown) width_ = std::max(width_, Plain(i).size());
    }
  }

  std::string Format(int64_t i) const {
    const DType dtype = t_.dtype();
    const uint8_t* data = t_.bytes().data();
    switch (kind_) {
      case ValueKind::kOther:
        return PyBytesRepr(t_.elements()[i]);
      case ValueKind::kBool:
        return data[i] ? " True" : "False";
      case ValueKind::kSigned:
      case ValueKind::kUnsigned: {
        std::string s = Plain(i);
        return std::string(width_ - std::min(width_, s.size()), ' ') + s;
      }
      case ValueKind::kComplex: {
        std::complex<double> c = ElementAsComplex(dtype, data, i);
        std::string im = (*imag_)(c.imag());
        size_t end = im.find_last_not_of(' ') + 1;  // the "j" goes before the padding
        return (*real_)(c.real()) + im.substr(0, end) + "j" + im.substr(end);
      }
      case ValueKind::kFloat:
        break;
    }
    return (*real_)(ElementAsDouble(dtype, data, i));
  }

  // A 0-d tensor: as numpy's str() of the scalar.
  std::string Scalar() const {
    const DType dtype = t_.dtype();
    const uint8_t* data = t_.bytes().data();
    switch (kind_) {
      case ValueKind::kOther:
        return PyBytesRepr(t_.elements()[0]);
      case ValueKind::kBool:
        return data[0] ? "True" : "False";
      case ValueKind::kSigned:
      case ValueKind::kUnsigned:
        return Plain(0);
      case ValueKind::kComplex:
        return NumpyComplexScalar(dtype, ElementAsComplex(dtype, data, 0));
      case ValueKind::kFloat:
        break;
    }
    return NumpyScalar(dtype, ElementAsDouble(dtype, data, 0));
  }

 private:
  std::string Plain(int64_t i) const {
    const uint8_t* data = t_.bytes().data();
    return kind_ == ValueKind::kSigned ? std::to_string(ElementAsInt(t_.dtype(), data, i))
                                       : std::to_string(ElementAsUInt(t_.dtype(), data, i));
  }

  const Tensor& t_;
  ValueKind kind_;
  std::optional<FloatFormat> real_, imag_;
  size_t width_ = 0;
};

constexpr int64_t kEdgeItems = 3;
constexpr size_t kLineWidth = 75;

// The flat indices numpy would show (all, or edge items of every dim when summarising).
void ShownIndices(const Shape& shape, bool summarise, size_t dim, int64_t base,
                  std::vector<int64_t>* out) {
  if (dim == shape.size()) {
    out->push_back(base);
    return;
  }
  int64_t inner = 1;
  for (size_t d = dim + 1; d < shape.size(); d++) inner *= shape[d];
  for (int64_t k = 0; k < shape[dim]; k++) {
    if (summarise && shape[dim] > 2 * kEdgeItems && k == kEdgeItems) k = shape[dim] - kEdgeItems;
    ShownIndices(shape, summarise, dim + 1, base + k * inner, out);
  }
}

// numpy's _formatArray: the row of dimension `dim` starts at column `dim` (after the brackets or
// the indentation of the outer rows); elements are separated by a space and wrapped so that a
// line, with the row's closing bracket, stays within 75 - dim columns.
void NestedText(const ElementFormatter& f, const Shape& shape, bool summarise, size_t dim,
                int64_t base, std::string* out) {
  const size_t rank = shape.size();
  int64_t inner = 1;
  for (size_t d = dim + 1; d < rank; d++) inner *= shape[d];
  out->push_back('[');
  const std::string indent(dim + 1, ' ');
  if (dim + 1 == rank) {
    const size_t width = kLineWidth - dim - 1;  // for the elements, before the ']'
    size_t column = dim + 1;
    bool first = true;
    for (int64_t k = 0; k < shape[dim]; k++) {
      std::string item;
      if (summarise && shape[dim] > 2 * kEdgeItems && k == kEdgeItems) {
        item = "...";
        k = shape[dim] - kEdgeItems - 1;
      } else {
        item = f.Format(base + k);
      }
      if (!first) {
        out->push_back(' ');
        column++;
        if (column + item.size() > width) {
          while (out->back() == ' ') out->pop_back();
          *out += "\n" + indent;
          column = indent.size();
        }
      }
      *out += item;
      column += item.size();
      first = false;
    }
  } else {
    const std::string sep = std::string(rank - dim - 1, '\n') + indent;
    for (int64_t k = 0; k < shape[dim]; k++) {
      if (k > 0) *out += sep;
      if (summarise && shape[dim] > 2 * kEdgeItems && k == kEdgeItems) {
        *out += "...";
        k = shape[dim] - kEdgeItems - 1;
        continue;
      }
      NestedText(f, shape, summarise, dim + 1, base + k * inner, out);
    }
  }
  out->push_back(']');
}

}  // namespace

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
  if (!ValidUtf8(s)) {
    // Replace invalid bytes so the document stays valid JSON.
    std::string fixed = "\"";
    for (unsigned char c : out.substr(1, out.size() - 2)) {
      fixed += c < 0x80 ? std::string(1, static_cast<char>(c)) : std::string("\\ufffd");
    }
    return fixed + "\"";
  }
  return out;
}

std::string JsonDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  std::string s = Shortest(v);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string ValuesToJson(const Tensor& t, int64_t limit, bool* truncated) {
  *truncated = false;
  const int64_t n = t.num_elements();
  std::string out;
  if (limit >= 0 && n > limit) {
    *truncated = true;
    out.push_back('[');
    for (int64_t i = 0; i < limit; i++) {
      if (i > 0) out += ", ";
      out += ElementJson(t, i);
    }
    out.push_back(']');
    return out;
  }
  int64_t index = 0;
  NestedJson(t, 0, &index, &out);
  return out;
}

std::string ValuesToText(const Tensor& t, int64_t threshold) {
  const Shape& shape = t.shape();
  const int64_t n = t.num_elements();
  bool summarise = threshold >= 0 && n > threshold;
  std::vector<int64_t> shown;
  ShownIndices(shape, summarise, 0, 0, &shown);
  if (n == 0) shown.clear();
  ElementFormatter f(t, shown);
  if (shape.empty()) return f.Scalar();
  if (n == 0) return "[]";
  std::string out;
  NestedText(f, shape, summarise, 0, 0, &out);
  return out;
}

}  // namespace tfckpt::cli
