#include "tfckpt/stats.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>
#include <type_traits>

#include <fmt/format.h>

#include "bundle/entry_codec.h"
#include "core/progress_meter.h"
#include "tfckpt/values.h"

namespace tfckpt {
namespace {

constexpr int64_t kChunk = 1 << 16;  // elements reduced by one task

// The partial statistics of a run of elements.
struct Acc {
  int64_t n = 0;  // finite elements
  double mean = 0, m2 = 0, sumsq = 0;
  double min = INFINITY, max = -INFINITY;
  int64_t nan = 0, inf = 0, zeros = 0;
  // Integer tensors: the extremes exactly.
  int64_t imin = INT64_MAX, imax = INT64_MIN;
  uint64_t umin = UINT64_MAX, umax = 0;

  // Chan et al.: the union of two runs.
  void Merge(const Acc& o) {
    nan += o.nan;
    inf += o.inf;
    zeros += o.zeros;
    sumsq += o.sumsq;
    imin = std::min(imin, o.imin);
    imax = std::max(imax, o.imax);
    umin = std::min(umin, o.umin);
    umax = std::max(umax, o.umax);
    if (o.n == 0) return;
    min = std::min(min, o.min);
    max = std::max(max, o.max);
    if (n == 0) {
      n = o.n;
      mean = o.mean;
      m2 = o.m2;
      return;
    }
    const double total = static_cast<double>(n + o.n);
    const double delta = o.mean - mean;
    mean += delta * static_cast<double>(o.n) / total;
    m2 += o.m2 + delta * delta * static_cast<double>(n) * static_cast<double>(o.n) / total;
    n += o.n;
  }
};

// Reduces elements [begin, end) read by `get` (element -> double): one pass for counts, sum,
// extremes and squares, a second (on data still in cache) for the squared deviations.
template <typename Get>
Acc Reduce(int64_t begin, int64_t end, Get get) {
  Acc a;
  double sum = 0;
  for (int64_t i = begin; i < end; i++) {
    const double x = get(i);
    if (std::isnan(x)) {
      a.nan++;
      continue;
    }
    if (std::isinf(x)) {
      a.inf++;
      continue;
    }
    if (x == 0) a.zeros++;
    a.n++;
    sum += x;
    a.sumsq += x * x;
    a.min = std::min(a.min, x);
    a.max = std::max(a.max, x);
  }
  if (a.n == 0) return a;
  a.mean = sum / static_cast<double>(a.n);
  if (std::isinf(a.mean)) {  // the sum overflowed (values near the largest double): a running
    a.mean = 0;              // mean, slower but finite
    int64_t k = 0;
    for (int64_t i = begin; i < end; i++) {
      const double x = get(i);
      if (std::isfinite(x)) a.mean += (x - a.mean) / static_cast<double>(++k);
    }
  }
  for (int64_t i = begin; i < end; i++) {
    const double x = get(i);
    if (std::isfinite(x)) a.m2 += (x - a.mean) * (x - a.mean);
  }
  return a;
}

Acc ReduceComplex(DType dtype, const uint8_t* data, int64_t begin, int64_t end) {
  Acc a;
  for (int64_t i = begin; i < end; i++) {
    const std::complex<double> z = ElementAsComplex(dtype, data, i);
    if (std::isnan(z.real()) || std::isnan(z.imag())) {
      a.nan++;
    } else if (std::isinf(z.real()) || std::isinf(z.imag())) {
      a.inf++;
    } else {
      if (z == 0.0) a.zeros++;
      a.sumsq += std::norm(z);
    }
  }
  return a;
}

// Element i of an array of T at any alignment (a view on a file may be unaligned).
template <typename T>
T Load(const uint8_t* data, int64_t i) {
  T v;
  std::memcpy(&v, data + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
  return v;
}

template <typename T>
Acc ReduceAs(const uint8_t* data, int64_t begin, int64_t end) {
  Acc a = Reduce(begin, end, [data](int64_t i) { return static_cast<double>(Load<T>(data, i)); });
  if constexpr (std::is_integral_v<T>) {
    for (int64_t i = begin; i < end; i++) {
      const T v = Load<T>(data, i);
      if constexpr (std::is_signed_v<T>) {
        a.imin = std::min<int64_t>(a.imin, v);
        a.imax = std::max<int64_t>(a.imax, v);
      } else {
        a.umin = std::min<uint64_t>(a.umin, v);
        a.umax = std::max<uint64_t>(a.umax, v);
      }
    }
  }
  return a;
}

Acc ReduceChunk(DType dtype, const uint8_t* data, int64_t begin, int64_t end) {
  switch (dtype) {
    case DType::kFloat:
      return ReduceAs<float>(data, begin, end);
    case DType::kDouble:
      return ReduceAs<double>(data, begin, end);
    case DType::kInt8:
    case DType::kQInt8:
      return ReduceAs<int8_t>(data, begin, end);
    case DType::kUInt8:
    case DType::kQUInt8:
      return ReduceAs<uint8_t>(data, begin, end);
    case DType::kInt16:
    case DType::kQInt16:
      return ReduceAs<int16_t>(data, begin, end);
    case DType::kUInt16:
    case DType::kQUInt16:
      return ReduceAs<uint16_t>(data, begin, end);
    case DType::kInt32:
    case DType::kQInt32:
      return ReduceAs<int32_t>(data, begin, end);
    case DType::kUInt32:
      return ReduceAs<uint32_t>(data, begin, end);
    case DType::kInt64:
      return ReduceAs<int64_t>(data, begin, end);
    case DType::kUInt64:
      return ReduceAs<uint64_t>(data, begin, end);
    case DType::kBool:
      return ReduceAs<uint8_t>(data, begin, end);
    case DType::kComplex64:
    case DType::kComplex128:
      return ReduceComplex(dtype, data, begin, end);
    default:
      return Reduce(begin, end,
                    [dtype, data](int64_t i) { return ElementAsDouble(dtype, data, i); });
  }
}

// numpy.histogram's binning of x into `bins` equal bins over [low, high]: the bin from the
// scaled offset, then corrected against the edges numpy.linspace gives.
struct Binner {
  double low, high, norm, step;
  int bins;
  Binner(double lo, double hi, int n) : low(lo), high(hi), bins(n) {
    norm = n / (hi - lo);
    step = (hi - lo) / n;
  }
  double Edge(int i) const { return i == bins ? high : i * step + low; }
  // Whether the bins can be told apart (numpy refuses otherwise: "Too many bins for data
  // range"): every edge finite and above the one before.
  bool Usable() const {
    if (!std::isfinite(norm) || !std::isfinite(step) || !std::isfinite(high - low)) return false;
    for (int i = 0; i < bins; i++) {
      if (!(Edge(i) < Edge(i + 1))) return false;
    }
    return true;
  }
  // -1 outside [low, high].
  int Index(double x) const {
    if (!(x >= low && x <= high)) return -1;
    const double f = (x - low) * norm;
    int i = f >= 0 && f < bins ? static_cast<int>(f) : bins - 1;
    if (i >= bins) i = bins - 1;
    if (x < Edge(i)) {
      i--;
    } else if (i != bins - 1 && x >= Edge(i + 1)) {
      i++;
    }
    return i;
  }
};

// Runs `work` on min(threads, tasks) threads (this one included), joining them all.
template <typename Work>
void RunOnThreads(int threads, int64_t tasks, Work& work) {
  const int use = static_cast<int>(std::min<int64_t>(threads, std::max<int64_t>(1, tasks)));
  std::vector<std::thread> pool;
  try {
    for (int i = 1; i < use; i++) pool.emplace_back(work);
  } catch (const std::system_error&) {
    // (fewer threads than asked for: the ones started and this one do the work)
  }
  work();
  for (std::thread& t : pool) t.join();
}

void Histogram(DType dtype, const uint8_t* data, int64_t n, const Binner& binner, int threads,
               std::vector<int64_t>* counts) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<std::vector<int64_t>> parts(static_cast<size_t>(chunks));
  std::atomic<int64_t> next{0};
  auto work = [&] {
    for (int64_t c = next++; c < chunks; c = next++) {
      std::vector<int64_t>& part = parts[static_cast<size_t>(c)];
      part.assign(static_cast<size_t>(binner.bins), 0);
      for (int64_t i = c * kChunk; i < std::min(n, (c + 1) * kChunk); i++) {
        const int b = binner.Index(ElementAsDouble(dtype, data, i));
        if (b >= 0) part[static_cast<size_t>(b)]++;
      }
    }
  };
  RunOnThreads(threads, chunks, work);
  counts->assign(static_cast<size_t>(binner.bins), 0);
  for (const std::vector<int64_t>& part : parts) {
    for (size_t b = 0; b < part.size(); b++) (*counts)[b] += part[b];
  }
}

}  // namespace

Status ComputeStats(const Checkpoint& ckpt, const StatsOptions& options,
                    std::vector<TensorStats>* stats) {
  std::vector<const TensorInfo*> chosen;
  if (options.names.empty()) {
    for (const TensorInfo& t : ckpt.tensors()) chosen.push_back(&t);
  } else {
    std::vector<std::string> missing;
    for (const std::string& n : options.names) {
      const TensorInfo* t = ckpt.Find(n);
      if (t == nullptr) {
        missing.push_back(PrintableKey(n));
      } else {
        chosen.push_back(t);
      }
    }
    if (!missing.empty()) {
      return Status::NotFound(fmt::format(
          "checkpoint '{}' has no tensor named '{}'; list its tensors (`ls`) to see the names it "
          "has",
          ckpt.prefix(), fmt::join(missing, "', '")));
    }
  }
  // In the checkpoint's order, each once (TensorInfo pointers are in that order).
  std::sort(chosen.begin(), chosen.end());
  chosen.erase(std::unique(chosen.begin(), chosen.end()), chosen.end());
  stats->assign(chosen.size(), TensorStats());
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = options.threads > 0 ? std::min(options.threads, 4 * cores) : cores;

  int64_t total = 0;
  for (const TensorInfo* t : chosen) {
    if (IsFixedSize(t->dtype)) total += t->stored_bytes();
  }
  ProgressMeter meter(options.progress, total);
  // One tensor at a time (its value in memory, or a view on the file), its chunks on every
  // thread; the partial results merged in chunk order.
  for (size_t k = 0; k < chosen.size(); k++) {
    const TensorInfo& info = *chosen[k];
    TensorStats& st = (*stats)[k];
    st.name = info.name;
    st.dtype = info.dtype;
    st.shape = info.shape;
    st.count = info.num_elements();
    if (!IsFixedSize(info.dtype)) {
      st.numeric = false;
      continue;
    }
    Tensor value;
    st.error = ckpt.Read(info, ReadOptions(), &value);
    if (!st.error.ok()) continue;
    const uint8_t* data = value.bytes().data();
    const int64_t n = st.count;
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    std::vector<Acc> parts(static_cast<size_t>(chunks));
    std::atomic<int64_t> next{0};
    auto work = [&] {
      for (int64_t c = next++; c < chunks; c = next++) {
        parts[static_cast<size_t>(c)] =
            ReduceChunk(info.dtype, data, c * kChunk, std::min(n, (c + 1) * kChunk));
        meter.Add((std::min(n, (c + 1) * kChunk) - c * kChunk) * DTypeSize(info.dtype));
      }
    };
    RunOnThreads(threads, chunks, work);
    Acc all;
    for (const Acc& p : parts) all.Merge(p);
    st.nan = all.nan;
    st.inf = all.inf;
    st.zeros = all.zeros;
    st.l2 = std::sqrt(all.sumsq);
    const ValueKind kind = KindOf(info.dtype);
    st.finite = st.count - st.nan - st.inf;
    if (kind != ValueKind::kComplex && all.n > 0) {
      st.min = all.min;
      st.max = all.max;
      st.mean = all.mean;
      st.std = std::sqrt(all.m2 / static_cast<double>(all.n));
      // (Tracked for the integer types read natively; sub-byte ones are exact as doubles.)
      if (kind == ValueKind::kSigned && all.imin <= all.imax) {
        st.min_int = all.imin;
        st.max_int = all.imax;
      } else if ((kind == ValueKind::kUnsigned || kind == ValueKind::kBool) &&
                 all.umin <= all.umax) {
        st.min_uint = all.umin;
        st.max_uint = all.umax;
      }
      if (options.histogram_bins > 0) {
        st.histogram_low = all.min;
        st.histogram_high = all.max;
        if (all.min == all.max) {  // numpy widens an empty range
          st.histogram_low -= 0.5;
          st.histogram_high += 0.5;
        }
        const Binner binner(st.histogram_low, st.histogram_high, options.histogram_bins);
        if (binner.Usable()) {
          Histogram(info.dtype, data, n, binner, threads, &st.histogram);
        } else {
          st.histogram_note =
              fmt::format("no histogram: {} bins cannot be told apart between {} and {} in float64",
                          options.histogram_bins, st.histogram_low, st.histogram_high);
        }
      }
    }
    // Streaming: the pages read go back (they stay in the page cache).
    if (info.partitioned()) {
      for (const SlicePart& part : info.slices) ckpt.Release(part.location);
    } else {
      ckpt.Release(info.location);
    }
  }
  meter.Finish();
  return Status::OK();
}

}  // namespace tfckpt
