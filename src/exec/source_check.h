// Checking what a plan takes from its sources before anything is committed: every stored piece
// that passes through unchanged (copied by range, reflinked or copied as part of a whole file) is
// read through the source's mapping and its CRC32C compared with the source's index, so that a
// damaged source (a flipped bit, an index from another checkpoint beside the data) never becomes
// an output that TensorFlow refuses. Pieces that pass through a hard link or a move are not read
// unless asked: sharing or moving bytes without reading them is the point of those modes.
//
// Thread-safety: CheckSourcePieces may be called from any thread; it uses its own workers.

#ifndef TFCKPT_EXEC_SOURCE_CHECK_H_
#define TFCKPT_EXEC_SOURCE_CHECK_H_

#include <functional>

#include "core/progress_meter.h"
#include "tfckpt/plan.h"

namespace tfckpt {

// Checks every piece of the plan's kCopy/kKeep tensors for which `skip` is false, on `threads`
// workers (0: one per core), adding the bytes of each piece checked to `meter` (may be null).
// Fails with every damaged piece named (tensor, file, offset).
Status CheckSourcePieces(const Plan& plan, const std::function<bool(const PieceSource&)>& skip,
                         int threads, ProgressMeter* meter);

// The bytes CheckSourcePieces reads (each stored piece once).
int64_t SourcePieceBytes(const Plan& plan, const std::function<bool(const PieceSource&)>& skip);

}  // namespace tfckpt

#endif  // TFCKPT_EXEC_SOURCE_CHECK_H_
