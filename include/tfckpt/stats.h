// Statistics of a checkpoint's tensors: count, min, max, mean, standard deviation, L2 norm and the
// numbers of NaN, infinite and zero elements, for the question after a diverged run ("which
// tensor, which checkpoint first holds NaN?") and before a merge ("how large are these weights?").
//
// Everything is accumulated in float64. min, max, mean and std (the population standard
// deviation, numpy's default ddof=0) are over the finite elements only (numpy's
// x[np.isfinite(x)]), and are absent when a tensor has none; the L2 norm is over those too.
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
#include "tfckpt/status.h"

namespace tfckpt {

struct StatsOptions {
  std::vector<std::string> names;  // the tensors to describe; empty: all of them
  int threads = 0;                 // 0: one per core
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
  double l2 = 0;  // sqrt of the sum of squares of the finite elements (|z|^2 for complex)
  bool all_finite() const { return nan == 0 && inf == 0; }
};

// Statistics of every tensor named in `options` (all when none), in the checkpoint's order
// (partitioned tensors assembled). A name that is not in the checkpoint is kNotFound.
Status ComputeStats(const Checkpoint& checkpoint, const StatsOptions& options,
                    std::vector<TensorStats>* stats);

}  // namespace tfckpt

#endif  // TFCKPT_STATS_H_
