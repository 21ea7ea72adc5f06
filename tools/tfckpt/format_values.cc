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

// The shortest decimal that reads back to the same 16-bit float.
std::string Shortest16(float v, uint16_t (*to16)(float), std::chars_format fmt) {
  uint16_t bits = to16(v);
  for (int p = 1; p <= 9; p++) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v, fmt, p);
    std::string s(buf, r.ptr);
    float back = 0;
    std::from_chars(s.data(), s.data() + s.size(), back);
    if (to16(back) == bits) return s;
  }
  return Shortest(v, fmt);
}

// Shortest text of element i of a real floating tensor, in `fmt`.
std::string FloatText(DType dtype, const uint8_t* data, int64_t i, std::chars_format fmt) {
  double v = ElementAsDouble(dtype, data, i);
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  switch (dtype) {
    case DType::kDouble:
      return Shortest(v, fmt);
    case DType::kHalf:
      return Shortest16(static_cast<float>(v), FloatToHalf, fmt);
    case DType::kBFloat16:
      return Shortest16(static_cast<float>(v), FloatToBFloat16, fmt);
    default:
      return Shortest(static_cast<float>(v), fmt);
  }
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
      for (int64_t i : shown) {
        std::string s = Text(i);
        size_t dot = s.find('.');
        size_t e = s.find('e');
        if (dot == std::string::npos) {
          int_w_ = std::max(int_w_, s.size());
          continue;
        }
        int_w_ = std::max(int_w_, dot);
        frac_w_ = std::max(frac_w_, (e == std::string::npos ? s.size() : e) - dot - 1);
        if (e != std::string::npos) exp_w_ = std::max(exp_w_, s.size() - e);
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
    if (dot == std::string::npos) {  // nan, inf
      return std::string(int_w_ - std::min(int_w_, s.size()), ' ') + s +
             std::string(frac_w_ + 1 + exp_w_, ' ');
    }
    size_t e = s.find('e');
    std::string mant = e == std::string::npos ? s : s.substr(0, e);
    std::string exp = e == std::string::npos ? "" : s.substr(e);
    std::string out(int_w_ - std::min(int_w_, dot), ' ');
    out += mant;
    out += std::string(frac_w_ - (mant.size() - dot - 1), scientific_ ? '0' : ' ');
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
        std::string re = ComponentText(dtype, c.real()), im = ComponentText(dtype, c.imag());
        if (im[0] != '-') im = "+" + im;
        return re + im + "j";
      }
      case ValueKind::kFloat:
        break;
    }
    std::string s = FloatText(
        dtype, data, i, scientific_ ? std::chars_format::scientific : std::chars_format::fixed);
    if (s == "nan" || s == "inf" || s == "-inf") return s;
    size_t e = s.find('e');
    if (scientific_) {
      std::string mant = s.substr(0, e), exp = s.substr(e + 1);
      if (mant.find('.') == std::string::npos) mant += ".";
      char sign = exp[0] == '-' ? '-' : '+';
      std::string digits = exp.substr(exp[0] == '-' || exp[0] == '+' ? 1 : 0);
      if (digits.size() < 2) digits = "0" + digits;
      return mant + "e" + sign + digits;
    }
    if (s.find('.') == std::string::npos) s += ".";
    return s;
  }

 private:
  const Tensor& t_;
  ValueKind kind_;
  bool scientific_ = false;
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
  if (shape.empty()) return f.Text(0);
  if (n == 0) return "[]";
  std::string out;
  NestedText(f, shape, summarise, 0, 0, "", &out);
  return out;
}

}  // namespace tfckpt::cli
