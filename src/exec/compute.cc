#include "exec/compute.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstring>
#include <deque>
#include <exception>
#include <memory>

#include <fmt/format.h>

#include "tfckpt/values.h"

namespace tfckpt {
namespace {

constexpr int64_t kBlock = 4096;  // elements converted to double at a time

uint64_t Fnv1a64(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

// The splitmix64 output after `steps` + 1 calls of next() from `state`.
inline uint64_t SplitMixAt(uint64_t state, uint64_t steps) {
  uint64_t z = state + (steps + 1) * kGolden;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void LoadReal(DType dtype, const uint8_t* data, int64_t begin, int64_t count, double* out) {
  if (dtype == DType::kFloat) {
    const uint8_t* p = data + begin * 4;  // (as stored: maybe not aligned for float)
    for (int64_t j = 0; j < count; j++) {
      float v;
      std::memcpy(&v, p + j * 4, 4);
      out[j] = v;
    }
  } else if (dtype == DType::kDouble) {
    std::memcpy(out, data + begin * 8, static_cast<size_t>(count) * 8);
  } else {
    for (int64_t j = 0; j < count; j++) out[j] = ElementAsDouble(dtype, data, begin + j);
  }
}

void StoreReal(DType dtype, const double* in, int64_t count, uint8_t* out) {
  if (dtype == DType::kFloat) {
    float* p = reinterpret_cast<float*>(out);
    for (int64_t j = 0; j < count; j++) p[j] = static_cast<float>(in[j]);
  } else if (dtype == DType::kDouble) {
    std::memcpy(out, in, static_cast<size_t>(count) * 8);
  } else {
    const int64_t es = DTypeSize(dtype);
    for (int64_t j = 0; j < count; j++) StoreDouble(dtype, in[j], out + j * es);
  }
}

// acc[k] += w * x[k] in float64: linear's inner loop. Built for AVX2 as well as the baseline,
// chosen at load time. The file is compiled without fused multiply-add, so every element is
// rounded as numpy rounds it.
#if defined(__x86_64__)
__attribute__((target_clones("avx2", "default")))
#endif
void AddScaled(const uint8_t* x, double w, int64_t count, double* acc) {
  for (int64_t k = 0; k < count; k++) {
    float v;  // (the input as stored: maybe not aligned for float)
    std::memcpy(&v, x + k * 4, 4);
    acc[k] += w * static_cast<double>(v);
  }
}

int Sign(double x) { return (x > 0) - (x < 0); }

// Everything a tensor's chunks share, computed once per tensor.
struct Prepared {
  const PlannedTensor* t = nullptr;
  const ComputeSpec* spec = nullptr;
  std::vector<Tensor> values;  // base first when spec->has_base, then the models
  int64_t n = 0;
  double weight_sum = 0;
  double s0 = 0, s1 = 0;                // slerp coefficients
  std::vector<std::vector<bool>> keep;  // ties: kept elements per model
  std::vector<uint64_t> dare_state;     // dare: stream state per model
  const uint8_t* data(size_t i) const { return values[i].bytes().data(); }
  size_t models() const { return values.size() - (spec->has_base ? 1 : 0); }
  size_t model(size_t i) const { return i + (spec->has_base ? 1 : 0); }
};

// Whole-tensor passes some methods need before any chunk can be computed.
Status Prepare(Prepared* p) {
  const ComputeSpec& s = *p->spec;
  const DType dtype = p->t->dtype;
  for (double w : s.weights) p->weight_sum += w;
  if (IsComplex(dtype) && s.method != BlendMethod::kLinear &&
      s.method != BlendMethod::kTaskArithmetic) {
    return Status::Unsupported(fmt::format(
        "'{}' is {}: {} works on real tensors only (linear and task_arithmetic handle complex)",
        p->t->name, DTypeName(dtype), BlendMethodName(s.method)));
  }
  std::vector<double> a(kBlock), b(kBlock);
  if (s.method == BlendMethod::kSlerp) {
    double n0 = 0, n1 = 0;
    for (int64_t j = 0; j < p->n; j += kBlock) {
      int64_t c = std::min(kBlock, p->n - j);
      LoadReal(dtype, p->data(0), j, c, a.data());
      LoadReal(dtype, p->data(1), j, c, b.data());
      for (int64_t k = 0; k < c; k++) {
        n0 += a[k] * a[k];
        n1 += b[k] * b[k];
      }
    }
    n0 = std::sqrt(n0);
    n1 = std::sqrt(n1);
    const double d0 = n0 > 1e-8 ? n0 : 1.0, d1 = n1 > 1e-8 ? n1 : 1.0;
    double dot = 0;
    for (int64_t j = 0; j < p->n; j += kBlock) {
      int64_t c = std::min(kBlock, p->n - j);
      LoadReal(dtype, p->data(0), j, c, a.data());
      LoadReal(dtype, p->data(1), j, c, b.data());
      for (int64_t k = 0; k < c; k++) dot += (a[k] / d0) * (b[k] / d1);
    }
    dot = std::clamp(dot, -1.0, 1.0);
    if (std::fabs(dot) > 0.9995) {
      p->s0 = 1 - s.t;
      p->s1 = s.t;
    } else {
      double theta0 = std::acos(dot), theta_t = theta0 * s.t, sin0 = std::sin(theta0);
      p->s0 = std::sin(theta0 - theta_t) / sin0;
      p->s1 = std::sin(theta_t) / sin0;
    }
  }
  if (s.method == BlendMethod::kTies) {
    const int64_t k = static_cast<int64_t>(std::floor(s.density * static_cast<double>(p->n)));
    std::vector<double> mag(static_cast<size_t>(p->n));
    for (size_t m = 0; m < p->models(); m++) {
      for (int64_t j = 0; j < p->n; j += kBlock) {
        int64_t c = std::min(kBlock, p->n - j);
        LoadReal(dtype, p->data(0), j, c, a.data());
        LoadReal(dtype, p->data(p->model(m)), j, c, b.data());
        for (int64_t q = 0; q < c; q++) {
          double d = std::fabs(b[q] - a[q]);
          mag[j + q] = std::isnan(d) ? -1.0 : d;  // NaN sorts last, as in numpy
        }
      }
      std::vector<bool> keep(static_cast<size_t>(p->n), false);
      if (k >= p->n) {
        keep.assign(static_cast<size_t>(p->n), true);
      } else if (k > 0) {
        std::vector<double> sorted = mag;
        std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(),
                         std::greater<double>());
        const double thr = sorted[k - 1];
        int64_t above = 0;
        for (double v : mag) above += v > thr;
        int64_t ties = k - above;  // elements equal to the threshold kept, lowest index first
        for (int64_t j = 0; j < p->n; j++) {
          keep[j] = mag[j] > thr || (mag[j] == thr && ties-- > 0);
        }
      }
      p->keep.push_back(std::move(keep));
    }
  }
  if (s.method == BlendMethod::kDare) {
    const uint64_t h = Fnv1a64(p->t->name);
    for (size_t m = 0; m < p->models(); m++) {
      p->dare_state.push_back(s.seed ^ h ^ ((m + 1) * kGolden));
    }
  }
  return Status::OK();
}

// Computes elements [begin, begin + count) into `out` (count * element size bytes).
void ComputeChunk(const Prepared& p, int64_t begin, int64_t count, uint8_t* out) {
  const ComputeSpec& s = *p.spec;
  const DType dtype = p.t->dtype;
  const size_t nm = p.models();
  const int64_t es = DTypeSize(dtype);
  if (IsComplex(dtype)) {
    for (int64_t j = begin; j < begin + count; j++) {
      std::complex<double> base = s.has_base ? ElementAsComplex(dtype, p.data(0), j) : 0.0;
      std::complex<double> acc = 0;
      for (size_t m = 0; m < nm; m++) {
        std::complex<double> x = ElementAsComplex(dtype, p.data(p.model(m)), j);
        acc += s.weights[m] * (s.method == BlendMethod::kLinear ? x : x - base);
      }
      std::complex<double> r = s.method == BlendMethod::kLinear
                                   ? (s.normalize ? acc / p.weight_sum : acc)
                                   : base + s.lambda * acc;
      StoreComplex(dtype, r, out + (j - begin) * es);
    }
    return;
  }
  const size_t b = static_cast<size_t>(std::min(kBlock, count));
  std::vector<double> base(b), acc(b), x(b), num(b), den(b), sum(b);
  for (int64_t j0 = 0; j0 < count; j0 += kBlock) {
    const int64_t c = std::min(kBlock, count - j0);
    const int64_t g = begin + j0;  // global index of the block's first element
    if (s.has_base) LoadReal(dtype, p.data(0), g, c, base.data());
    std::fill(acc.begin(), acc.begin() + c, 0.0);
    switch (s.method) {
      case BlendMethod::kLinear:
        for (size_t m = 0; m < nm; m++) {
          const double w = s.weights[m];
          if (dtype == DType::kFloat) {  // (the common case: no float64 copy of the input)
            AddScaled(p.data(p.model(m)) + g * 4, w, c, acc.data());
            continue;
          }
          LoadReal(dtype, p.data(p.model(m)), g, c, x.data());
          for (int64_t k = 0; k < c; k++) acc[k] += w * x[k];
        }
        if (s.normalize) {
          for (int64_t k = 0; k < c; k++) acc[k] /= p.weight_sum;
        }
        break;
      case BlendMethod::kTaskArithmetic:
        for (size_t m = 0; m < nm; m++) {
          LoadReal(dtype, p.data(p.model(m)), g, c, x.data());
          const double w = s.weights[m];
          for (int64_t k = 0; k < c; k++) acc[k] += w * (x[k] - base[k]);
        }
        for (int64_t k = 0; k < c; k++) acc[k] = base[k] + s.lambda * acc[k];
        break;
      case BlendMethod::kSlerp:
        LoadReal(dtype, p.data(1), g, c, x.data());
        for (int64_t k = 0; k < c; k++) acc[k] = p.s0 * base[k] + p.s1 * x[k];
        break;
      case BlendMethod::kDare: {
        const double keep_fraction = 1.0 - s.p;
        for (size_t m = 0; m < nm; m++) {
          LoadReal(dtype, p.data(p.model(m)), g, c, x.data());
          const double w = s.weights[m];
          for (int64_t k = 0; k < c; k++) {
            double u = static_cast<double>(SplitMixAt(p.dare_state[m], g + k) >> 11) * 0x1.0p-53;
            double kept = u < s.p ? 0.0 : (x[k] - base[k]) / keep_fraction;
            acc[k] += w * kept;
          }
        }
        for (int64_t k = 0; k < c; k++) acc[k] = base[k] + s.lambda * acc[k];
        break;
      }
      case BlendMethod::kTies: {
        // Pass 1: the elected sign of the weighted, trimmed deltas.
        std::fill(sum.begin(), sum.begin() + c, 0.0);
        std::fill(num.begin(), num.begin() + c, 0.0);
        std::fill(den.begin(), den.begin() + c, 0.0);
        for (size_t m = 0; m < nm; m++) {
          LoadReal(dtype, p.data(p.model(m)), g, c, x.data());
          for (int64_t k = 0; k < c; k++) {
            double d = p.keep[m][g + k] ? x[k] - base[k] : 0.0;
            sum[k] += s.weights[m] * d;
          }
        }
        // Pass 2: the mean of the deltas that agree with it.
        for (size_t m = 0; m < nm; m++) {
          LoadReal(dtype, p.data(p.model(m)), g, c, x.data());
          for (int64_t k = 0; k < c; k++) {
            double d = p.keep[m][g + k] ? x[k] - base[k] : 0.0;
            if (d != 0 && Sign(d) == Sign(sum[k])) {
              num[k] += s.weights[m] * d;
              den[k] += s.weights[m];
            }
          }
        }
        for (int64_t k = 0; k < c; k++) {
          double merged = s.normalize ? num[k] / (den[k] == 0 ? 1.0 : den[k]) : num[k];
          acc[k] = base[k] + s.lambda * merged;
        }
        break;
      }
    }
    StoreReal(dtype, acc.data(), c, out + j0 * es);
  }
}

// The inputs' pages are not needed again: keep resident memory bounded.
void ReleaseInputs(const Plan& plan, const PlannedTensor& t) {
  for (const PieceSource& piece : t.pieces) {
    const Checkpoint& c = *plan.sources[piece.source].ckpt;
    if (!piece.tensor->partitioned()) {
      c.Release(piece.tensor->location);
    } else {
      for (const SlicePart& part : piece.tensor->slices) c.Release(part.location);
    }
  }
}

// Reads the tensor's inputs (their CRC32C checked) and makes the whole-tensor passes: all a
// tensor's chunks need before they can be computed.
Status Load(const Plan& plan, Prepared* p) {
  for (const PieceSource& piece : p->t->pieces) {
    Tensor v;
    TFCKPT_RETURN_IF_ERROR(plan.sources[piece.source].ckpt->Read(*piece.tensor, ReadOptions(), &v));
    p->values.push_back(std::move(v));
  }
  return Prepare(p);
}

// One computed tensor on its way through the pipeline.
struct Job {
  Prepared p;
  Status loaded;  // written by the load task, read after `ready`
  std::shared_future<void> ready;
  int64_t chunks = 0;  // at least one (an empty tensor has one empty chunk)
  int64_t submitted = 0;
  size_t offset = 0;  // a tensor of one chunk: where it lies in its group's buffer
  // What a task of this job threw (e.g. std::bad_alloc), rethrown by the caller's thread once
  // nothing is in flight.
  std::exception_ptr thrown;
};

// Runs fn, keeping what it throws in `job` (a pool task must not throw past its job: the caller
// would unwind while other tasks still use the jobs).
template <typename Fn>
void Guarded(Job* job, Fn&& fn) {
  try {
    fn();
  } catch (...) {
    job->thrown = std::current_exception();
    job->loaded = Status::IOError("interrupted by an exception");  // (never reported: rethrown)
  }
}

// Offsets in a group's buffer are aligned for every dtype.
constexpr size_t kGroupAlign = 16;

// Tensors of one chunk are computed in groups (loads and all) by one task each, packed in one
// output buffer: per-task costs would otherwise dominate checkpoints of many small tensors.
constexpr size_t kMaxGroup = 4096;

}  // namespace

Status WriteComputedTensors(const Plan& plan, const std::vector<const PlannedTensor*>& tensors,
                            ThreadPool* pool, int64_t chunk_elements, BundleWriter* writer,
                            const std::function<void(int64_t)>& progress) {
  const int64_t chunk = std::max<int64_t>(kBlock, chunk_elements);
  auto start = [&](const PlannedTensor* t, Job* job) {
    job->p.t = t;
    job->p.spec = t->compute.get();
    job->p.n = NumElements(t->shape).value_or(0);
    job->chunks = std::max<int64_t>(1, (job->p.n + chunk - 1) / chunk);
  };
  auto chunk_range = [&](const Job& job, int64_t c) {
    const int64_t begin = c * chunk;
    return std::pair<int64_t, int64_t>(begin,
                                       std::max<int64_t>(0, std::min(chunk, job.p.n - begin)));
  };
  if (pool == nullptr || pool->size() <= 1) {
    std::vector<uint8_t> out;
    for (const PlannedTensor* t : tensors) {
      Job job;
      start(t, &job);
      TFCKPT_RETURN_IF_ERROR(Load(plan, &job.p));
      const int64_t es = DTypeSize(t->dtype);
      out.resize(static_cast<size_t>(std::min(job.p.n, chunk) * es));
      TFCKPT_RETURN_IF_ERROR(writer->BeginTensor(t->name, t->dtype, t->shape, job.p.n * es));
      for (int64_t c = 0; c < job.chunks; c++) {
        auto [begin, count] = chunk_range(job, c);
        if (count == 0) continue;
        ComputeChunk(job.p, begin, count, out.data());
        TFCKPT_RETURN_IF_ERROR(writer->Append({out.data(), static_cast<size_t>(count * es)}));
        progress(count * es);
      }
      ReleaseInputs(plan, *t);
      TFCKPT_RETURN_IF_ERROR(writer->EndTensor());
    }
    return Status::OK();
  }
  // One stream of chunks across tensors, so that both small and large tensors keep every worker
  // busy: a large tensor's inputs are loaded (and their CRC32C checked) by a task of the pool,
  // its chunks are computed by later tasks (which wait for that load, already running or done
  // since the pool takes tasks in order); tensors of one chunk go in groups, loaded and computed
  // by one task per group. This thread appends the results in order. A window of (threads x 2)
  // chunks or groups is in flight; output buffers are reused.
  struct Pending {
    Job* job;  // one chunk of this tensor...
    int64_t index;
    std::vector<Job*> group;  // ...or these whole tensors, packed
    uint8_t* out;
    std::future<void> done;
  };
  const size_t max_window = static_cast<size_t>(pool->size()) * 2;
  int64_t max_es = 1;
  for (const PlannedTensor* t : tensors) max_es = std::max<int64_t>(max_es, DTypeSize(t->dtype));
  const size_t buffer_bytes = static_cast<size_t>(chunk * max_es);
  std::vector<std::unique_ptr<uint8_t[]>> buffers;
  std::vector<uint8_t*> free_buffers;
  for (size_t i = 0; i < max_window; i++) {
    buffers.emplace_back(new uint8_t[buffer_bytes]);
    free_buffers.push_back(buffers.back().get());
  }
  std::deque<std::unique_ptr<Job>> jobs;  // started and not yet written, in order
  std::deque<Pending> window;
  size_t next_tensor = 0;
  auto new_job = [&] {
    jobs.push_back(std::make_unique<Job>());
    start(tensors[next_tensor++], jobs.back().get());
    return jobs.back().get();
  };
  std::exception_ptr thrown;  // rethrown once nothing is in flight
  auto one_chunk = [&](const PlannedTensor* t) {
    return NumElements(t->shape).value_or(0) <= chunk;
  };
  Status status;
  while (true) {
    while (status.ok() && window.size() < max_window) {
      if (jobs.empty() || jobs.back()->submitted == jobs.back()->chunks) {
        if (next_tensor == tensors.size()) break;
        if (one_chunk(tensors[next_tensor])) {
          std::vector<Job*> group;
          size_t bytes = 0;
          while (next_tensor < tensors.size() && group.size() < kMaxGroup &&
                 one_chunk(tensors[next_tensor])) {
            const PlannedTensor* t = tensors[next_tensor];
            const size_t size =
                static_cast<size_t>(NumElements(t->shape).value_or(0) * DTypeSize(t->dtype));
            const size_t offset = (bytes + kGroupAlign - 1) / kGroupAlign * kGroupAlign;
            if (offset + size > buffer_bytes) break;  // (the first always fits, at offset 0)
            Job* j = new_job();
            j->offset = offset;
            j->submitted = 1;
            bytes = offset + size;
            group.push_back(j);
          }
          uint8_t* dst = free_buffers.back();
          free_buffers.pop_back();
          std::future<void> done = pool->Submit([&plan, group, dst] {
            for (Job* j : group) {
              Guarded(j, [&] {
                j->loaded = Load(plan, &j->p);
                if (j->loaded.ok()) ComputeChunk(j->p, 0, j->p.n, dst + j->offset);
              });
            }
          });
          window.push_back({nullptr, 0, std::move(group), dst, std::move(done)});
          continue;
        }
        Job* j = new_job();
        j->ready = pool->Submit([&plan, j] { Guarded(j, [&] { j->loaded = Load(plan, &j->p); }); })
                       .share();
      }
      Job* j = jobs.back().get();
      const std::pair<int64_t, int64_t> range = chunk_range(*j, j->submitted);
      const int64_t begin = range.first, count = range.second;  // (lambdas capture these)
      uint8_t* dst = free_buffers.back();
      free_buffers.pop_back();
      std::shared_future<void> ready = j->ready;
      window.push_back({j, j->submitted++, {}, dst, pool->Submit([j, ready, begin, count, dst] {
                          ready.wait();
                          if (j->loaded.ok()) {
                            // (a chunk throws nothing: ComputeChunk's buffers are small)
                            ComputeChunk(j->p, begin, count, dst);
                          }
                        })});
    }
    if (window.empty()) break;
    Pending front = std::move(window.front());
    window.pop_front();
    front.done.get();
    free_buffers.push_back(front.out);
    // Appends elements [begin, begin + count) of `j` from `data`; the first chunk begins the
    // tensor, the last ends it.
    auto append = [&](Job& j, int64_t index, int64_t count, const uint8_t* data) {
      if (j.thrown) {
        thrown = j.thrown;
        status = j.loaded;
        return;
      }
      const PlannedTensor& t = *j.p.t;
      const int64_t es = DTypeSize(t.dtype);
      if (index == 0) {
        status = j.loaded;
        if (status.ok()) status = writer->BeginTensor(t.name, t.dtype, t.shape, j.p.n * es);
        if (!status.ok()) return;
      }
      if (count > 0) status = writer->Append({data, static_cast<size_t>(count * es)});
      progress(count * es);
      if (status.ok() && index + 1 == j.chunks) {
        ReleaseInputs(plan, t);
        status = writer->EndTensor();
        jobs.pop_front();  // (its last chunk: nothing in flight refers to it)
      }
    };
    if (front.job != nullptr) {
      if (status.ok()) {
        append(*front.job, front.index, chunk_range(*front.job, front.index).second, front.out);
      }
    } else {
      for (Job* j : front.group) {
        if (status.ok()) append(*j, 0, j->p.n, front.out + j->offset);
      }
    }
  }
  // Every task that refers to a job has finished: the window is empty, and each load finished
  // before its first chunk did.
  for (const auto& job : jobs) {
    if (job->ready.valid()) job->ready.wait();
  }
  if (thrown) std::rethrow_exception(thrown);
  return status;
}

}  // namespace tfckpt
