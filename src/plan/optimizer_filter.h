// OptimizerFilter: which keys of a checkpoint are optimizer state. In a TF2 checkpoint, slot
// variables and the optimizer objects' own variables (found through the object graph) and any key
// with "/.OPTIMIZER_SLOT/"; in a TF1 checkpoint, the slot and variable names TF1 optimizers use;
// in a Keras file, what it keeps in its optimizer's group.
//
// Thread-safety: immutable once created; const methods are safe from any thread.

#ifndef TFCKPT_PLAN_OPTIMIZER_FILTER_H_
#define TFCKPT_PLAN_OPTIMIZER_FILTER_H_

#include <set>
#include <string>

#include "tfckpt/checkpoint.h"
#include "tfckpt/status.h"

namespace tfckpt {

class OptimizerFilter {
 public:
  static Status Create(const Checkpoint& ckpt, OptimizerFilter* out);
  bool IsOptimizer(const std::string& name) const;
  // The serialized object graph, empty for a name-based (TF1) checkpoint.
  const std::string& object_graph() const { return graph_; }

 private:
  std::string graph_;
  std::set<std::string> keys_;
  bool keras_ = false;
};

}  // namespace tfckpt

#endif  // TFCKPT_PLAN_OPTIMIZER_FILTER_H_
