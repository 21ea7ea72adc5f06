// Helpers shared by the plan builders: opening inputs, keeping outputs away from inputs, and
// the assignment-map prefix forms used by transfer and edit.
//
// Thread-safety: free functions; safe from any thread.

#ifndef TFCKPT_PLAN_PLAN_UTIL_H_
#define TFCKPT_PLAN_PLAN_UTIL_H_

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "bundle/trackable_graph.h"
#include "tfckpt/name_pattern.h"
#include "tfckpt/plan.h"

namespace tfckpt {

// Opens `path` (any form ResolveCheckpointPath accepts) as a plan input.
Status OpenPlanSource(const std::string& path, PlanSource* source);

// The names by which a plan addresses a checkpoint's tensors: their keys, or (for a TF2 checkpoint)
// the full names its object graph records, which are what a TF1 Saver would have keyed.
//
// Bookkeeping (a TF2 checkpoint's object graph and its root's save_counter) is never a variable:
// a view made with `hide_bookkeeping` lists it in hidden(), never in entries().
class NameView {
 public:
  // Every tensor by its key (`tensors` sorted by name, as Checkpoint::tensors() is); the keys in
  // `hidden` go to hidden() instead.
  static NameView Keys(const std::vector<TensorInfo>& tensors,
                       const std::set<std::string>& hidden = {});
  // The tensors of `ckpt` by key, its bookkeeping hidden.
  static Status KeysOf(const Checkpoint& ckpt, NameView* view);
  // The tensors of a TF2 checkpoint that have a full name, by that name; the others (the object
  // graph, save_counter's own, Keras metadata) are listed in hidden(). Several tensors under one
  // full name are one variable saved more than once (Keras' export tracks each variable in two
  // lists) when they have the same dtype, shape and stored bytes; otherwise the name is ambiguous.
  static Status FullNames(const Checkpoint& ckpt, const std::string& label, NameView* view);

  // The first tensor of that name, or null.
  const TensorInfo* Find(std::string_view name) const;
  // Every tensor of that name (several: copies of one variable), empty when there is none.
  std::vector<const TensorInfo*> FindAll(std::string_view name) const;
  // (name, tensor), sorted by name; copies of one variable are adjacent.
  const std::vector<std::pair<std::string, const TensorInfo*>>& entries() const { return entries_; }
  const std::vector<const TensorInfo*>& hidden() const { return hidden_; }
  bool by_full_name() const { return by_full_name_; }
  // A full name that several different tensors share: a message naming them, else "".
  std::string Ambiguity(const std::string& name) const;

 private:
  std::vector<std::pair<std::string, const TensorInfo*>> entries_;
  std::vector<const TensorInfo*> hidden_;
  std::map<std::string, std::string> ambiguous_;
  bool by_full_name_ = false;
};

// The keys of a checkpoint that are bookkeeping, not variables: the TF2 object graph and the
// root's save_counter. Empty for a name-based (TF1) checkpoint.
Status BookkeepingKeys(const Checkpoint& ckpt, std::set<std::string>* keys);

// Sets plan->output from what the user gave. An existing directory or a path ending in '/' is
// where the output goes, not the output: it is written in it as DIR/NAME, NAME the name of the
// input `named_after` (as the user gave it: the basename of its prefix, or of its directory for a
// SavedModel), and a note says so. The exception is a SavedModel output (saved_model_from set)
// given an existing SavedModel directory: that is the output (replaced only when allowed). Call it
// once the plan knows whether it writes a SavedModel.
void SetPlanOutput(const std::string& output, const std::string& named_after, Plan* plan);

// Refuses an output that is, or would overwrite, one of the plan's inputs.
Status CheckOutputIsNotAnInput(const Plan& plan);

// Pass-through pieces of a source tensor: the whole tensor, or every stored slice.
std::vector<PieceSource> PiecesOf(int source, const TensorInfo& tensor);

// A printable source reference: "label : name".
std::string SourceRef(const Plan& plan, const PieceSource& piece);

// Which keys of a checkpoint are optimizer state: in a TF2 checkpoint, slot variables and the
// optimizer objects' own variables (found through the object graph) and any key with
// "/.OPTIMIZER_SLOT/"; in a TF1 checkpoint, the slot and variable names TF1 optimizers use.
class OptimizerFilter {
 public:
  static Status Create(const Checkpoint& ckpt, OptimizerFilter* out);
  bool IsOptimizer(const std::string& name) const;
  // The serialized object graph, empty for a name-based (TF1) checkpoint.
  const std::string& object_graph() const { return graph_; }

 private:
  std::string graph_;
  std::set<std::string> keys_;
};

// The name part of an edit: keep, drop, strip optimizer state, then the first matching rename.
class NameMapper {
 public:
  static Status Create(const EditOptions& options, NameMapper* out);
  // The new name of a key, or nullopt when it is dropped. The object-graph key is never dropped
  // or renamed here (it is rewritten, or left out, by the caller).
  std::optional<std::string> Map(const std::string& name, const OptimizerFilter& optimizer) const;

 private:
  EditOptions options_;
  std::vector<NamePattern> keep_, drop_;
};

// Checks that every listed input has the same tensor names, dtypes and shapes (names for which
// `skip` is true are ignored); lists every disagreement.
Status CheckSameLayout(const Plan& plan, const std::vector<int>& inputs,
                       const std::function<bool(const std::string&)>& skip);

}  // namespace tfckpt

#endif  // TFCKPT_PLAN_PLAN_UTIL_H_
