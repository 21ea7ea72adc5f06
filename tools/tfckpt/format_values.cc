#include "format_values.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
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

// Number of digits after the decimal point in a formatted number's mantissa.
int FractionDigits(const std::string& s) {
  size_t dot = s.find('.');
  if (dot == std::string::npos) return 0;
  size_t e = s.find('e');
  return static_cast<int>((e == std::string::npos ? s.size() : e) - dot - 1);
}

// Removes trailing zeros of the mantissa (keeping the decimal point).
std::string TrimZeros(const std::string& s) {
  size_t e = s.find('e');
  std::string mant = e == std::string::npos ? s : s.substr(0, e);
  std::string exp = e == std::string::npos ? "" : s.substr(e);
  if (mant.find('.') != std::string::npos) {
    while (mant.back() == '0') mant.pop_back();
  }
  return mant + exp;
}

// The shortest decimal (in `fmt`) that reads back to the same value in `dtype`; with
// max_frac >= 0, rounded to at most that many fraction digits, as numpy's printer does.
std::string FloatDigits(DType dtype, double v, std::chars_format fmt, int max_frac) {
  std::string s;
  if (dtype == DType::kHalf || dtype == DType::kBFloat16) {
    uint16_t (*to16)(float) = dtype == DType::kHalf ? FloatToHalf : FloatToBFloat16;
    float f = static_cast<float>(v);
    for (int p = 0; p <= 9 && s.empty(); p++) {
      char buf[64];
      auto r = std::to_chars(buf, buf + sizeof buf, f, fmt, p);
      std::string cand(buf, r.ptr);
      float back = 0;
      std::from_chars(cand.data(), cand.data() + cand.size(), back);
      if (to16(back) == to16(f)) s = cand;
    }
    if (s.empty()) s = Shortest(f, fmt);
  } else if (dtype == DType::kDouble || dtype == DType::kComplex128) {
    s = Shortest(v, fmt);
  } else {
    s = Shortest(static_cast<float>(v), fmt);
  }
  if (max_frac >= 0 && FractionDigits(s) > max_frac) {
    char buf[512];
    auto r = std::to_chars(buf, buf + sizeof buf, v, fmt, max_frac);
    s = TrimZeros(std::string(buf, r.ptr));
  }
  return s;
}

// Text of element i of a real floating tensor, for JSON (exact round trip).
std::string FloatText(DType dtype, const uint8_t* data, int64_t i, std::chars_format fmt) {
  double v = ElementAsDouble(dtype, data, i);
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return FloatDigits(dtype, v, fmt, -1);
}

// "1.5e-5" -> "1.5e-05": a decimal point in the mantissa, a signed exponent of two digits or more.
std::string ExponentForm(const std::string& s) {
  size_t e = s.find('e');
  std::string mant = s.substr(0, e), exp = s.substr(e + 1);
  if (mant.find('.') == std::string::npos) mant += ".";
  char sign = exp[0] == '-' ? '-' : '+';
  std::string digits = exp.substr(exp[0] == '-' || exp[0] == '+' ? 1 : 0);
  if (digits.size() < 2) digits = "0" + digits;
  return mant + "e" + sign + digits;
}

// numpy's text for one float in positional (or scientific) mode: "1.", "-0.5", "1.5e-05".
std::string NumpyFloat(DType dtype, double v, bool scientific) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::string s = FloatDigits(
      dtype, v, scientific ? std::chars_format::scientific : std::chars_format::fixed, 8);
  if (scientific) return ExponentForm(s);
  return s.find('.') == std::string::npos ? s + "." : s;
}

// numpy's text for a float scalar (0-d array): the shortest round trip, like Python's repr.
std::string NumpyScalar(DType dtype, double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  double a = std::fabs(v);
  if (a != 0 && (a < 1e-4 || a >= 1e16)) {
    std::string s = ExponentForm(FloatDigits(dtype, v, std::chars_format::scientific, -1));
    size_t dot = s.find(".e");  // Python's repr has no bare point: "1e-05"
    return dot == std::string::npos ? s : s.erase(dot, 1);
  }
  std::string s = FloatDigits(dtype, v, std::chars_format::fixed, -1);
  return s.find('.') == std::string::npos ? s + ".0" : s;
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

// Element strings padded to a common width, as numpy's array printer does.
class ElementFormatter {
 public:
  ElementFormatter(const Tensor& t, const std::vector<int64_t>& shown) : t_(t) {
    const DType dtype = t.dtype();
    kind_ = dtype == DType::kString || dtype == DType::kVariant ? ValueKind::kOther : KindOf(dtype);
    const uint8_t* data = t.bytes().data();
    if (kind_ == ValueKind::kFloat) {
      double max_abs = 0, min_abs = INFINITY;
      for (int64_t i : shown) {
        double v = std::fabs(ElementAsDouble(dtype, data, i));
        if (!std::isfinite(v) || v == 0) continue;
        max_abs = std::max(max_abs, v);
        min_abs = std::min(min_abs, v);
      }
      scientific_ = max_abs >= 1e8 || (max_abs > 0 && (min_abs < 1e-4 || max_abs / min_abs > 1e3));
      if (scientific_) {
        // numpy prints every mantissa with as many digits as the longest shortest form needs,
        // each correctly rounded (not zero-padded).
        for (int64_t i : shown) {
          double v = ElementAsDouble(dtype, data, i);
          if (std::isfinite(v)) {
            sci_digits_ =
                std::max(sci_digits_,
                         FractionDigits(FloatDigits(dtype, v, std::chars_format::scientific, 8)));
          }
        }
      }
      for (int64_t i : shown) {
        std::string s = Text(i);
        size_t dot = s.find('.');
        size_t e = s.find('e');
        if (dot == std::string::npos) continue;  // nan, inf: below
        int_w_ = std::max(int_w_, dot);
        frac_w_ = std::max(frac_w_, (e == std::string::npos ? s.size() : e) - dot - 1);
        if (e != std::string::npos) exp_w_ = std::max(exp_w_, s.size() - e);
      }
      // Non-finite values widen the integer part so they fit (numpy's rule).
      for (int64_t i : shown) {
        std::string s = Text(i);
        if (s.find('.') == std::string::npos && s.size() > frac_w_ + 1) {
          int_w_ = std::max(int_w_, s.size() - frac_w_ - 1);
        }
      }
    } else {
      for (int64_t i : shown) width_ = std::max(width_, Text(i).size());
    }
  }

  std::string Format(int64_t i) const {
    std::string s = Text(i);
    if (kind_ != ValueKind::kFloat) {
      if (kind_ == ValueKind::kOther) return s;
      return std::string(width_ - std::min(width_, s.size()), ' ') + s;
    }
    size_t dot = s.find('.');
    if (dot == std::string::npos) {  // nan, inf: right-aligned to the whole width
      size_t width = int_w_ + 1 + frac_w_ + exp_w_;
      return std::string(width - std::min(width, s.size()), ' ') + s;
    }
    size_t e = s.find('e');
    std::string mant = e == std::string::npos ? s : s.substr(0, e);
    std::string exp = e == std::string::npos ? "" : s.substr(e);
    std::string out(int_w_ - std::min(int_w_, dot), ' ');
    out += mant;
    out += std::string(frac_w_ - (mant.size() - dot - 1), ' ');
    out += exp;
    return out;
  }

  std::string Text(int64_t i) const {
    const DType dtype = t_.dtype();
    const uint8_t* data = t_.bytes().data();
    switch (kind_) {
      case ValueKind::kOther:
        return PyBytesRepr(t_.elements()[i]);
      case ValueKind::kBool:
        return data[i] ? "True" : "False";
      case ValueKind::kSigned:
        return std::to_string(ElementAsInt(dtype, data, i));
      case ValueKind::kUnsigned:
        return std::to_string(ElementAsUInt(dtype, data, i));
      case ValueKind::kComplex: {
        auto c = ElementAsComplex(dtype, data, i);
        std::string re = NumpyFloat(dtype, c.real(), false);
        std::string im = NumpyFloat(dtype, c.imag(), false);
        if (im[0] != '-') im = "+" + im;
        return re + im + "j";
      }
      case ValueKind::kFloat:
        break;
    }
    double v = ElementAsDouble(dtype, data, i);
    if (scientific_ && std::isfinite(v)) {
      char buf[512];
      auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific, sci_digits_);
      return ExponentForm(std::string(buf, r.ptr));
    }
    return NumpyFloat(dtype, v, scientific_);
  }

 private:
  const Tensor& t_;
  ValueKind kind_;
  bool scientific_ = false;
  int sci_digits_ = 0;
  size_t width_ = 0, int_w_ = 0, frac_w_ = 0, exp_w_ = 0;
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

void NestedText(const ElementFormatter& f, const Shape& shape, bool summarise, size_t dim,
                int64_t base, const std::string& indent, std::string* out) {
  const size_t rank = shape.size();
  int64_t inner = 1;
  for (size_t d = dim + 1; d < rank; d++) inner *= shape[d];
  out->push_back('[');
  std::string next_indent = indent + " ";
  if (dim + 1 == rank) {
    // Innermost: elements separated by spaces, wrapped at the line width.
    size_t line = indent.size() + 1;
    for (int64_t k = 0; k < shape[dim]; k++) {
      std::string item;
      if (summarise && shape[dim] > 2 * kEdgeItems && k == kEdgeItems) {
        item = "...";
        k = shape[dim] - kEdgeItems - 1;
      } else {
        item = f.Format(base + k);
      }
      bool first = out->back() == '[';
      if (!first) {
        if (line + 1 + item.size() + 1 > kLineWidth) {
          while (out->back() == ' ') out->pop_back();
          *out += "\n" + next_indent;
          line = next_indent.size();
        } else {
          out->push_back(' ');
          line += 1;
        }
      }
      *out += item;
      line += item.size();
    }
  } else {
    std::string sep = std::string(rank - dim - 1, '\n') + next_indent;
    for (int64_t k = 0; k < shape[dim]; k++) {
      if (k > 0) *out += sep;
      if (summarise && shape[dim] > 2 * kEdgeItems && k == kEdgeItems) {
        *out += "...";
        k = shape[dim] - kEdgeItems - 1;
        continue;
      }
      NestedText(f, shape, summarise, dim + 1, base + k * inner, next_indent, out);
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
  if (shape.empty()) {
    if (KindOf(t.dtype()) == ValueKind::kFloat) {
      return NumpyScalar(t.dtype(), ElementAsDouble(t.dtype(), t.bytes().data(), 0));
    }
    return f.Text(0);
  }
  if (n == 0) return "[]";
  std::string out;
  NestedText(f, shape, summarise, 0, 0, "", &out);
  return out;
}

}  // namespace tfckpt::cli
