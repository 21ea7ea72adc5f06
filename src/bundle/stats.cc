#include "tfckpt/stats.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "bundle/entry_codec.h"
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

  // Chan et al.: the union of two runs.
  void Merge(const Acc& o) {
    nan += o.nan;
    inf += o.inf;
    zeros += o.zeros;
    sumsq += o.sumsq;
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

template <typename T>
Acc ReduceAs(const uint8_t* data, int64_t begin, int64_t end) {
  const T* p = reinterpret_cast<const T*>(data);
  return Reduce(begin, end, [p](int64_t i) { return static_cast<double>(p[i]); });
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
  stats->assign(chosen.size(), TensorStats());
  const int threads = options.threads > 0
                          ? options.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

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
    TFCKPT_RETURN_IF_ERROR(ckpt.Read(info, ReadOptions(), &value));
    const uint8_t* data = value.bytes().data();
    const int64_t n = st.count;
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    std::vector<Acc> parts(static_cast<size_t>(chunks));
    std::atomic<int64_t> next{0};
    auto work = [&] {
      for (int64_t c = next++; c < chunks; c = next++) {
        parts[static_cast<size_t>(c)] =
            ReduceChunk(info.dtype, data, c * kChunk, std::min(n, (c + 1) * kChunk));
      }
    };
    const int use = static_cast<int>(std::min<int64_t>(threads, std::max<int64_t>(1, chunks)));
    std::vector<std::thread> pool;
    for (int i = 1; i < use; i++) pool.emplace_back(work);
    work();
    for (std::thread& t : pool) t.join();
    Acc all;
    for (const Acc& p : parts) all.Merge(p);
    for (const DataLocation* loc : {&info.location}) {
      if (!info.partitioned()) ckpt.Release(*loc);
    }
    st.nan = all.nan;
    st.inf = all.inf;
    st.zeros = all.zeros;
    st.l2 = std::sqrt(all.sumsq);
    const bool complex = info.dtype == DType::kComplex64 || info.dtype == DType::kComplex128;
    st.finite = st.count - st.nan - st.inf;
    if (!complex && all.n > 0) {
      st.min = all.min;
      st.max = all.max;
      st.mean = all.mean;
      st.std = std::sqrt(all.m2 / static_cast<double>(all.n));
    }
  }
  return Status::OK();
}

}  // namespace tfckpt
