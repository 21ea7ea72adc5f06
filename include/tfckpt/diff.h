// Comparing two checkpoints: tensors only in one, dtype or shape changes, and value differences
// with the largest absolute and relative difference.
//
// Thread-safety: DiffCheckpoints only reads both checkpoints.

#ifndef TFCKPT_DIFF_H_
#define TFCKPT_DIFF_H_

#include <cstdint>
#include <string>
#include <vector>

#include "tfckpt/checkpoint.h"

namespace tfckpt {

struct DiffOptions {
  // Values a (from A) and b (from B) count as equal when |a - b| <= atol + rtol * |b|, as in
  // numpy.isclose; NaN equals NaN. The defaults ask for exact equality.
  double atol = 0;
  double rtol = 0;
  // Compare names, dtypes and shapes only: no value is read (an incomplete checkpoint can be
  // compared so). Tensors alike in dtype and shape are then counted in values_not_compared.
  bool names_only = false;
  // Also measure, for every tensor of a numeric dtype whose values are compared (identical ones
  // too), the L2 norms of A and of B - A (DiffReport::norms): the relative change ||B-A||/||A||
  // people look at before merging fine-tuned models.
  bool norms = false;
};

struct TensorNorms {
  std::string name;
  double a_l2 = 0;     // ||A|| over A's finite elements (float64, scaled: no overflow)
  double diff_l2 = 0;  // ||B - A||; infinite where an element is NaN or infinite in only one
  // ||B-A|| / ||A||: 0 when equal, infinite when A is all zeros and B is not.
  double relative() const;
};

struct TensorChange {
  std::string name;
  DType a_dtype, b_dtype;
  Shape a_shape, b_shape;
};

struct ValueDiff {
  std::string name;
  int64_t differing = 0;  // elements outside the tolerance
  double max_abs = 0;     // largest |a - b| (NaN for strings and variants)
  double max_rel = 0;     // largest |a - b| / |b| (infinite where b == 0 != a)
};

struct DiffReport {
  std::vector<std::string> only_in_a, only_in_b;
  std::vector<TensorChange> changed;     // same name, other dtype or shape
  std::vector<ValueDiff> values_differ;  // same dtype and shape, other values
  int64_t identical = 0;                 // equal within the tolerance
  int64_t values_not_compared = 0;       // same dtype and shape; values not read (names_only)
  std::vector<TensorNorms> norms;        // with DiffOptions::norms, in name order
  bool same() const {
    return only_in_a.empty() && only_in_b.empty() && changed.empty() && values_differ.empty();
  }
};

Status DiffCheckpoints(const Checkpoint& a, const Checkpoint& b, const DiffOptions& options,
                       DiffReport* report);

}  // namespace tfckpt

#endif  // TFCKPT_DIFF_H_
