// Statistics of a checkpoint's tensors: count, min, max, mean, standard deviation, L2 norm and the
// numbers of NaN, infinite and zero elements, for the question after a diverged run ("which
// tensor, which checkpoint first holds NaN?") and before a merge ("how large are these weights?").
//
// Everything is accumulated in float64, except the min and max of integer tensors, which are
// also given exactly (min_int / max_int; numpy gives them exactly too). min, max, mean and std
// (the population standard
// deviation, numpy's default ddof=0) are over the finite elements only (numpy's
// x[np.isfinite(x)]), and are absent when a tensor has none; the L2 norm is over those too.
// (They can still be infinite where float64 overflows: a sum of squares of values beyond 1e154,
// as numpy's.)
// Integers and bools count as their values (a bool's mean is the fraction of true). Complex
// tensors have only counts and the L2 norm (sqrt of the sum of |z|^2; an element with a NaN or
// infinite part counts as NaN or infinite). String and variant tensors have only their count.
//
// Tensors are cut into chunks of fixed size that threads reduce independently; the partial
// results are merged in chunk order (Chan et al.'s pairwise update of mean and squared
// deviations), so the numbers do not depend on the number of threads.
//
// Thread-safety: ComputeStats only reads the checkpoint; it uses `threads` worker threads of its
// own.

#ifndef TFCKPT_STATS_H_
#define TFCKPT_STATS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tfckpt/checkpoint.h"
#include "tfckpt/progress.h"
#include "tfckpt/status.h"

namespace tfckpt {

struct StatsOptions {
  std::vector<std::string> names;  // the tensors to describe; empty: all of them
  int threads = 0;                 // 0: one per core
  // Count the finite elements of real numeric tensors into this many equal bins between their
  // min and max (TensorStats::histogram), binned exactly as
  // numpy.histogram(x.astype(numpy.float64), bins, (min, max)) bins them; 0: no histogram.
  int histogram_bins = 0;
  ProgressFn progress;  // through the bytes of the tensors described (tfckpt/progress.h)
};

struct TensorStats {
  std::string name;
  DType dtype = DType::kInvalid;
  Shape shape;
  int64_t count = 0;    // elements
  bool numeric = true;  // false for strings and variants (only `count` is set)
  int64_t nan = 0, inf = 0, zeros = 0;
  int64_t finite = 0;  // elements neither NaN nor infinite
  // Over the finite elements; empty when there are none (and for complex tensors).
  std::optional<double> min, max, mean, std;
  // Integer and bool tensors: min and max exactly (uint64 values above 2^63 as their bits, in
  // max_uint / min_uint).
  std::optional<int64_t> min_int, max_int;
  std::optional<uint64_t> min_uint, max_uint;
  double l2 = 0;  // sqrt of the sum of squares of the finite elements (|z|^2 for complex)
  // With StatsOptions::histogram_bins: the counts per bin, and the bins' range (numpy's: [min,
  // max], widened by 0.5 each way when min == max). Empty without finite elements.
  std::vector<int64_t> histogram;
  double histogram_low = 0, histogram_high = 0;
  // Why there is no histogram where one was asked for (bins narrower than float64 can tell
  // apart, e.g. a constant 1e17; numpy refuses those too).
  std::string histogram_note;
  // The tensor could not be read (a damaged value, a missing data file): nothing else is set.
  // The other tensors are still described.
  Status error;
  bool all_finite() const { return nan == 0 && inf == 0; }
};

// Statistics of every tensor named in `options` (all when none), in the checkpoint's order, each
// once (partitioned tensors assembled). A name that is not in the checkpoint is kNotFound; a
// tensor that cannot be read gets its TensorStats::error, and the others are still described.
Status ComputeStats(const Checkpoint& checkpoint, const StatsOptions& options,
                    std::vector<TensorStats>* stats);

}  // namespace tfckpt

#endif  // TFCKPT_STATS_H_
