#include "plan/optimizer_filter.h"

#include "bundle/trackable_graph.h"
#include "format/keras.h"
#include "plan/object_graph.h"
#include "tfckpt/name_pattern.h"

namespace tfckpt {
namespace {

// Optimizer state of TF1 name-based checkpoints: slots named after their variable, and the
// optimizers' own variables.
const NamePattern& Tf1OptimizerPattern() {
  static const NamePattern* pattern = [] {
    auto* p = new NamePattern();
    Status s = NamePattern::Compile(
        R"((^|/)(Adam|Adam_\d+|AdamW|AdamW_\d+|LazyAdam|LazyAdam_\d+|Momentum|RMSProp|RMSProp_\d+|)"
        R"(Adagrad|AdagradDA|AdagradDA_\d+|Adadelta|Adadelta_\d+|Ftrl|Ftrl_\d+|ProximalAdagrad|)"
        R"(ProximalGradientDescent|LAMB|LAMB_\d+|adam_m|adam_v|beta1_power|beta2_power)$|)"
        // Keras 3 optimizers' variables under their full names (adam/iteration,
        // adam/dense_kernel_momentum, ...), as convert --to-tf1 keys them.
        R"(^(adam|adamw|adamax|nadam|sgd|rmsprop|adagrad|adadelta|ftrl|lion|lamb|adafactor|)"
        R"(loss_scale_optimizer)(_\d+)?/)",
        "the optimizer pattern", p);
    (void)s;
    return p;
  }();
  return *pattern;
}

}  // namespace

Status OptimizerFilter::Create(const Checkpoint& ckpt, OptimizerFilter* out) {
  out->keys_.clear();
  out->keras_ = ckpt.keras_file() != nullptr;
  if (out->keras_) {  // what the file keeps in its optimizer's group
    for (const keras::Variable& v : ckpt.keras_file()->variables) {
      if (v.dataset_path.starts_with("optimizer/") ||
          v.dataset_path.starts_with("optimizer_weights/")) {
        out->keys_.insert(v.name);
      }
    }
    return Status::OK();
  }
  TFCKPT_RETURN_IF_ERROR(ReadObjectGraphBytes(ckpt, &out->graph_));
  if (!out->graph_.empty()) {
    TrackableGraph g;
    TFCKPT_RETURN_IF_ERROR(ParseTrackableGraph(out->graph_, &g));
    out->keys_ = OptimizerKeys(g);
  }
  return Status::OK();
}

bool OptimizerFilter::IsOptimizer(const std::string& name) const {
  if (keras_) return keys_.count(name) > 0;
  if (name.find(kSlotMarker) != std::string::npos || keys_.count(name)) return true;
  return graph_.empty() && Tf1OptimizerPattern().Search(name);
}

}  // namespace tfckpt
