// Helpers shared by the plan builders: opening inputs, keeping outputs away from inputs, and
// the assignment-map prefix forms used by transfer and edit.
//
// Thread-safety: free functions; safe from any thread.

#ifndef TFCKPT_PLAN_PLAN_UTIL_H_
#define TFCKPT_PLAN_PLAN_UTIL_H_

#include <optional>
#include <string>

#include "tfckpt/plan.h"

namespace tfckpt {

// Opens `path` (any form ResolveCheckpointPath accepts) as a plan input.
Status OpenPlanSource(const std::string& path, PlanSource* source);

// Refuses an output that is, or would overwrite, one of the plan's inputs.
Status CheckOutputIsNotAnInput(const Plan& plan);

// Pass-through pieces of a source tensor: the whole tensor, or every stored slice.
std::vector<PieceSource> PiecesOf(int source, const TensorInfo& tensor);

// A printable source reference: "label : name".
std::string SourceRef(const Plan& plan, const PieceSource& piece);

}  // namespace tfckpt

#endif  // TFCKPT_PLAN_PLAN_UTIL_H_
