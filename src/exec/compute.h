// Computing kCompute tensors (average and the model-merge methods) element-wise, chunk by chunk
// across a thread pool as one stream over all the tensors, each chunk appended to the writer in
// order. Memory stays bounded by (threads x 2) chunks of output plus what the method needs per
// tensor in flight (TIES keeps one bit per element and model; partitioned inputs are assembled).
//
// Thread-safety: one call at a time per writer.

#ifndef TFCKPT_EXEC_COMPUTE_H_
#define TFCKPT_EXEC_COMPUTE_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "exec/thread_pool.h"
#include "tfckpt/plan.h"

namespace tfckpt {

// Writes each of `tensors` (all kCompute, of `plan`), in order; `progress` is called with the
// bytes of each chunk written.
Status WriteComputedTensors(const Plan& plan, const std::vector<const PlannedTensor*>& tensors,
                            ThreadPool* pool, int64_t chunk_elements, BundleWriter* writer,
                            const std::function<void(int64_t bytes)>& progress);

}  // namespace tfckpt

#endif  // TFCKPT_EXEC_COMPUTE_H_
