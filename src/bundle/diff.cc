#include "tfckpt/diff.h"

#include <cmath>
#include <complex>
#include <cstring>
#include <limits>

#include "tfckpt/values.h"

namespace tfckpt {
namespace {

bool SameBytes(const Checkpoint& a, const TensorInfo& ta, const Checkpoint& b,
               const TensorInfo& tb) {
  if (ta.partitioned() || tb.partitioned()) return false;
  // (Bytes of another byte order or format are other values; those are compared as values.)
  if (!a.values_as_stored() || !b.values_as_stored()) return false;
  if (ta.location.size != tb.location.size ||
      ta.location.masked_crc32c != tb.location.masked_crc32c) {
    return false;
  }
  std::span<const uint8_t> x, y;
  std::shared_ptr<const void> hold_x, hold_y;
  if (!a.RawBytes(ta.location, &x, &hold_x).ok() || !b.RawBytes(tb.location, &y, &hold_y).ok()) {
    return false;
  }
  return std::memcmp(x.data(), y.data(), x.size()) == 0;
}

// |a - b| for element i, exact for integers.
double AbsDiff(DType dtype, const uint8_t* x, const uint8_t* y, int64_t i, double* ref) {
  switch (KindOf(dtype)) {
    case ValueKind::kSigned: {
      int64_t a = ElementAsInt(dtype, x, i), b = ElementAsInt(dtype, y, i);
      *ref = std::fabs(static_cast<double>(b));
      return a >= b ? static_cast<double>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b))
                    : static_cast<double>(static_cast<uint64_t>(b) - static_cast<uint64_t>(a));
    }
    case ValueKind::kUnsigned:
    case ValueKind::kBool: {
      uint64_t a = ElementAsUInt(dtype, x, i), b = ElementAsUInt(dtype, y, i);
      *ref = static_cast<double>(b);
      return static_cast<double>(a >= b ? a - b : b - a);
    }
    case ValueKind::kComplex: {
      std::complex<double> a = ElementAsComplex(dtype, x, i), b = ElementAsComplex(dtype, y, i);
      *ref = std::abs(b);
      bool a_nan = std::isnan(a.real()) || std::isnan(a.imag());
      bool b_nan = std::isnan(b.real()) || std::isnan(b.imag());
      if (a_nan && b_nan) return 0;
      // Component by component, so that equal infinities differ by 0, not by NaN.
      auto part = [](double x, double y) { return x == y ? 0.0 : std::fabs(x - y); };
      return std::hypot(part(a.real(), b.real()), part(a.imag(), b.imag()));
    }
    default: {
      double a = ElementAsDouble(dtype, x, i), b = ElementAsDouble(dtype, y, i);
      *ref = std::fabs(b);
      if (std::isnan(a) && std::isnan(b)) return 0;
      if (a == b) return 0;  // equal infinities
      return std::fabs(a - b);
    }
  }
}

// A Euclidean norm accumulated with a running scale (as BLAS's nrm2), so that values beyond
// 1e154 do not overflow the sum of squares.
struct Norm2 {
  double scale = 0, ssq = 1;
  void Add(double x) {
    x = std::fabs(x);
    if (x == 0 || std::isinf(scale)) return;
    if (std::isinf(x)) {
      scale = x;
    } else if (scale < x) {
      ssq = 1 + ssq * (scale / x) * (scale / x);
      scale = x;
    } else {
      ssq += (x / scale) * (x / scale);
    }
  }
  double Value() const { return scale * std::sqrt(ssq); }
};

// ||x|| over x's finite elements, and ||y - x|| over every element (a NaN in both counts as
// equal; a NaN or infinity in one only makes the difference infinite).
void Norms(const Tensor& x, const Tensor& y, TensorNorms* out) {
  const int64_t n = x.num_elements();
  const DType dtype = x.dtype();
  const uint8_t* a = x.bytes().data();
  const uint8_t* b = y.bytes().data();
  Norm2 aa, dd;
  const bool complex = KindOf(dtype) == ValueKind::kComplex;
  for (int64_t i = 0; i < n; i++) {
    const double m =
        complex ? std::abs(ElementAsComplex(dtype, a, i)) : std::fabs(ElementAsDouble(dtype, a, i));
    if (std::isfinite(m)) aa.Add(m);
    if (b != a) {
      double ref = 0;
      double d = AbsDiff(dtype, a, b, i, &ref);
      if (std::isnan(d)) d = std::numeric_limits<double>::infinity();
      dd.Add(d);
    }
  }
  out->a_l2 = aa.Value();
  out->diff_l2 = dd.Value();
}

void CompareValues(const Tensor& x, const Tensor& y, const DiffOptions& options, ValueDiff* out) {
  const int64_t n = x.num_elements();
  const DType dtype = x.dtype();
  if (!IsFixedSize(dtype)) {
    for (int64_t i = 0; i < n; i++) {
      if (x.elements()[i] != y.elements()[i]) out->differing++;
    }
    if (out->differing) out->max_abs = out->max_rel = std::numeric_limits<double>::quiet_NaN();
    return;
  }
  const uint8_t* a = x.bytes().data();
  const uint8_t* b = y.bytes().data();
  for (int64_t i = 0; i < n; i++) {
    double ref = 0;
    double d = AbsDiff(dtype, a, b, i, &ref);
    if (std::isnan(d)) d = std::numeric_limits<double>::infinity();
    // (d == 0 first: equal NaNs or infinities have an infinite or NaN tolerance.)
    if (d != 0 && !(d <= options.atol + options.rtol * ref)) out->differing++;
    out->max_abs = std::max(out->max_abs, d);
    if (d > 0) {
      double rel = ref > 0 ? d / ref : std::numeric_limits<double>::infinity();
      out->max_rel = std::max(out->max_rel, rel);
    }
  }
}

}  // namespace

double TensorNorms::relative() const {
  if (diff_l2 == 0) return 0;
  return a_l2 > 0 ? diff_l2 / a_l2 : std::numeric_limits<double>::infinity();
}

Status DiffCheckpoints(const Checkpoint& a, const Checkpoint& b, const DiffOptions& options,
                       DiffReport* report) {
  const auto& ta = a.tensors();
  const auto& tb = b.tensors();
  size_t i = 0, j = 0;
  while (i < ta.size() || j < tb.size()) {
    if (j == tb.size() || (i < ta.size() && ta[i].name < tb[j].name)) {
      report->only_in_a.push_back(ta[i++].name);
      continue;
    }
    if (i == ta.size() || tb[j].name < ta[i].name) {
      report->only_in_b.push_back(tb[j++].name);
      continue;
    }
    const TensorInfo& x = ta[i++];
    const TensorInfo& y = tb[j++];
    if (x.dtype != y.dtype || x.shape != y.shape) {
      report->changed.push_back({x.name, x.dtype, y.dtype, x.shape, y.shape});
      continue;
    }
    if (options.names_only) {
      report->values_not_compared++;
      continue;
    }
    const bool measure = options.norms && IsFixedSize(x.dtype) && x.dtype != DType::kBool;
    if (SameBytes(a, x, b, y)) {
      report->identical++;
      if (measure) {  // ||B - A|| is 0; ||A|| is still to be read
        Tensor vx;
        TFCKPT_RETURN_IF_ERROR(a.Read(x, ReadOptions(), &vx));
        TensorNorms t;
        t.name = x.name;
        Norms(vx, vx, &t);
        report->norms.push_back(std::move(t));
      }
      continue;
    }
    Tensor vx, vy;
    TFCKPT_RETURN_IF_ERROR(a.Read(x, ReadOptions(), &vx));
    TFCKPT_RETURN_IF_ERROR(b.Read(y, ReadOptions(), &vy));
    if (measure) {
      TensorNorms t;
      t.name = x.name;
      Norms(vx, vy, &t);
      report->norms.push_back(std::move(t));
    }
    ValueDiff d;
    d.name = x.name;
    CompareValues(vx, vy, options, &d);
    if (d.differing > 0) {
      report->values_differ.push_back(std::move(d));
    } else {
      report->identical++;
    }
  }
  return Status::OK();
}

}  // namespace tfckpt
