// What every plan builder shares (defined in plan.cc): opening inputs, naming the output and
// keeping it off the inputs, the pieces of a source tensor, and the check that several inputs
// have the same layout. The names a plan addresses tensors by are name_view.h; optimizer state is
// optimizer_filter.h; the renames and filters of an edit are name_mapper.h.
//
// Thread-safety: free functions; safe from any thread (SetPlanOutput and CheckSources look at the
// file system).

#ifndef TFCKPT_PLAN_PLAN_UTIL_H_
#define TFCKPT_PLAN_PLAN_UTIL_H_

#include <functional>
#include <string>
#include <vector>

#include "format/keras_writer.h"
#include "tfckpt/plan.h"

namespace tfckpt {

// Opens `path` (any form ResolveCheckpointPath accepts) as a plan input.
Status OpenPlanSource(const std::string& path, PlanSource* source);

// Sets plan->output from what the user gave. An existing directory or a path ending in '/' is
// where the output goes, not the output: it is written in it as DIR/NAME, NAME the name of the
// input `named_after` (as the user gave it: the basename of its prefix, or of its directory for a
// SavedModel), and a note says so. The exception is a SavedModel output (saved_model_from set)
// given an existing SavedModel directory: that is the output (replaced only when allowed). Call it
// once the plan knows whether it writes a SavedModel.
void SetPlanOutput(const std::string& output, const std::string& named_after, Plan* plan);

// Refuses an output that is, or would overwrite, one of the plan's inputs; notes each input that
// is incomplete (its plan can be shown, but ExecutePlan refuses to write from it).
Status CheckSources(Plan* plan);

// A plan whose output names a Keras file (.keras, .weights.h5, .h5): checks that its first Keras
// input (the model of a transfer) can give the output its layout, with every tensor in place,
// and records it as the plan's `keras_template`. Called once the plan's tensors are known.
Status CheckKerasOutput(Plan* plan);
// The layout of the Keras output of a plan whose `keras_template` is set: that source's layout
// or, for a merge of several Keras 3 files into a .weights.h5, their object trees joined.
Status KerasOutputLayout(const Plan& plan, keras::Output* out);

// Pass-through pieces of a source tensor: the whole tensor, or every stored slice.
std::vector<PieceSource> PiecesOf(int source, const TensorInfo& tensor);

// A printable source reference: "label : name".
std::string SourceRef(const Plan& plan, const PieceSource& piece);

// Checks that every listed input has the same tensor names, dtypes and shapes (names for which
// `skip` is true are ignored); lists every disagreement.
Status CheckSameLayout(const Plan& plan, const std::vector<int>& inputs,
                       const std::function<bool(const std::string&)>& skip);

}  // namespace tfckpt

#endif  // TFCKPT_PLAN_PLAN_UTIL_H_
