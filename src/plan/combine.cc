// PlanAverage and PlanBlend: tensors computed element-wise from several same-shaped inputs.
// Floating tensors are computed (docs/METHODS.md); every other tensor is copied from one input.

#include <cmath>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "bundle/entry_codec.h"
#include "io/file_util.h"
#include "plan/name_view.h"
#include "plan/object_graph.h"
#include "plan/optimizer_filter.h"
#include "plan/plan_util.h"
#include "tfckpt/name_pattern.h"
#include "tfckpt/paths.h"

namespace tfckpt {
namespace {

// Each reference tensor's counterpart in every input, for TF2 inputs whose keys differ although
// they hold the same variables: Keras 3 keys a model's weights under
// optimizer/_trainable_variables/N when its optimizer is saved too, and under the model's own
// path when it is not. Variables are matched by the full name their object graph records;
// tensors without one (Keras metadata) by key. Optimizer state (of the reference, and of each
// input) is ignored unless kept. Fails with every disagreement listed.
using Counterparts = std::map<std::pair<int, std::string>, const TensorInfo*>;

Status MatchByFullName(const Plan& plan, const std::vector<int>& inputs, int ref,
                       bool keep_optimizer, Counterparts* out) {
  std::map<int, NameView> views;
  std::map<int, OptimizerFilter> optimizers;
  for (int s : inputs) {
    const PlanSource& src = plan.sources[s];
    if (src.ckpt->Find(kObjectGraphKey) == nullptr) {
      return Status::InvalidArgument("not every input is object-based");
    }
    TFCKPT_RETURN_IF_ERROR(NameView::FullNames(*src.ckpt, src.label, &views[s]));
    TFCKPT_RETURN_IF_ERROR(OptimizerFilter::Create(*src.ckpt, &optimizers[s]));
  }
  auto ignored = [&](int s, const TensorInfo& t) {
    return !keep_optimizer && optimizers[s].IsOptimizer(t.name);
  };
  std::vector<std::string> problems;
  const std::string& ref_label = plan.sources[ref].label;
  const NameView& ref_view = views[ref];
  for (int s : inputs) {
    if (s == ref) continue;
    const NameView& view = views[s];
    const std::string& label = plan.sources[s].label;
    for (const auto& [full, t] : ref_view.entries()) {
      if (ignored(ref, *t)) continue;
      std::string ambiguous = ref_view.Ambiguity(full);
      if (ambiguous.empty()) ambiguous = view.Ambiguity(full);
      const TensorInfo* c = view.Find(full);
      if (!ambiguous.empty()) {
        problems.push_back(ambiguous);
      } else if (c == nullptr || ignored(s, *c)) {
        problems.push_back(
            fmt::format("variable '{}' is in '{}' but not in '{}'", full, ref_label, label));
      } else if (c->dtype != t->dtype || c->shape != t->shape) {
        problems.push_back(fmt::format("variable '{}' is {} {} in '{}' but {} {} in '{}'", full,
                                       DTypeName(t->dtype), ShapeToString(t->shape), ref_label,
                                       DTypeName(c->dtype), ShapeToString(c->shape), label));
      } else {
        (*out)[{s, t->name}] = c;
      }
    }
    for (const auto& [full, c] : view.entries()) {
      if (!ignored(s, *c) && ref_view.Find(full) == nullptr) {
        problems.push_back(
            fmt::format("variable '{}' is in '{}' but not in '{}'", full, label, ref_label));
      }
    }
    // Floating tensors without a full name are computed too: by key.
    for (const TensorInfo* t : ref_view.hidden()) {
      if (!IsFloating(t->dtype) || ignored(ref, *t)) continue;
      const TensorInfo* c = plan.sources[s].ckpt->Find(t->name);
      if (c == nullptr || c->dtype != t->dtype || c->shape != t->shape) {
        problems.push_back(
            fmt::format("tensor '{}' of '{}' has no full name and no counterpart "
                        "of the same key, dtype and shape in '{}'",
                        PrintableKey(t->name), ref_label, label));
      } else {
        (*out)[{s, t->name}] = c;
      }
    }
  }
  if (problems.empty()) return Status::OK();
  return Status::InvalidArgument(fmt::format("by full name: {}", fmt::join(problems, "; ")));
}

// Shared by average and blend: inputs already opened in plan->sources; `computed` builds the
// spec of a floating tensor; non-floating tensors come from source `copy_from`.
Status BuildComputed(Plan* plan, const std::vector<int>& inputs, int copy_from, bool keep_optimizer,
                     const std::function<Status(const std::string&,
                                                std::shared_ptr<const ComputeSpec>*)>& spec_for) {
  OptimizerFilter optimizer;
  TFCKPT_RETURN_IF_ERROR(OptimizerFilter::Create(*plan->sources[copy_from].ckpt, &optimizer));
  auto dropped = [&](const std::string& name) {
    return !keep_optimizer && optimizer.IsOptimizer(name);
  };
  // The same keys in every input, or else (TF2 inputs saved through different objects) the same
  // variables by full name.
  std::optional<Counterparts> by_full_name;
  if (Status same = CheckSameLayout(*plan, inputs, dropped); !same.ok()) {
    Counterparts matched;
    if (!MatchByFullName(*plan, inputs, copy_from, keep_optimizer, &matched).ok()) return same;
    by_full_name = std::move(matched);
    plan->notes.push_back(
        "the inputs' keys differ; their variables were matched by full name and the output "
        "has the layout of '" +
        plan->sources[copy_from].label + "'");
  }
  auto counterpart = [&](int s, const TensorInfo& t) -> const TensorInfo* {
    if (s == copy_from) return &t;
    if (!by_full_name) return plan->sources[s].ckpt->Find(t.name);
    auto it = by_full_name->find({s, t.name});
    return it == by_full_name->end() ? nullptr : it->second;
  };
  const Checkpoint& reference = *plan->sources[copy_from].ckpt;
  int computed = 0, copied = 0, removed = 0;
  for (const TensorInfo& t : reference.tensors()) {
    if (dropped(t.name)) {
      removed++;
      continue;
    }
    PlannedTensor p;
    p.name = t.name;
    p.dtype = t.dtype;
    p.shape = t.shape;
    if (IsFloating(t.dtype)) {
      p.action = PlannedTensor::Action::kCompute;
      for (int s : inputs) {
        const TensorInfo* c = counterpart(s, t);
        if (c == nullptr) {
          return Status::FailedPrecondition(fmt::format(
              "no counterpart of '{}' in '{}'", PrintableKey(t.name), plan->sources[s].label));
        }
        p.pieces.push_back(PieceSource{s, c, nullptr});
      }
      TFCKPT_RETURN_IF_ERROR(spec_for(t.name, &p.compute));
      computed++;
    } else if (t.name == kObjectGraphKey && removed > 0) {
      // Filled in below, once every dropped key is known.
      p.pieces = PiecesOf(copy_from, t);
      copied++;
    } else {
      p.pieces = PiecesOf(copy_from, t);
      copied++;
    }
    plan->tensors.push_back(std::move(p));
  }
  if (removed > 0 && !optimizer.object_graph().empty()) {
    for (PlannedTensor& p : plan->tensors) {
      if (p.name != kObjectGraphKey) continue;
      std::string rewritten;
      bool changed = false;
      TFCKPT_RETURN_IF_ERROR(RewriteObjectGraph(
          optimizer.object_graph(),
          [&](const std::string& k) -> std::optional<std::string> {
            if (dropped(k)) return std::nullopt;
            return k;
          },
          &rewritten, &changed));
      if (changed) {
        p.action = PlannedTensor::Action::kReplace;
        p.replacement = std::make_shared<const std::string>(std::move(rewritten));
      }
    }
  }
  plan->notes.push_back(fmt::format(
      "{} floating tensor(s) computed; {} other tensor(s) (integers, bools, strings, variants) "
      "copied unchanged from '{}'",
      computed, copied, plan->sources[copy_from].label));
  if (removed > 0) {
    plan->notes.push_back(
        fmt::format("{} optimizer tensor(s) dropped (keep them with `keep_optimizer`)", removed));
  }
  return Status::OK();
}

Status OpenAll(Plan* plan, const std::vector<std::string>& paths, std::vector<int>* indexes) {
  for (const std::string& path : paths) {
    PlanSource src;
    TFCKPT_RETURN_IF_ERROR(OpenPlanSource(path, &src));
    indexes->push_back(static_cast<int>(plan->sources.size()));
    plan->sources.push_back(std::move(src));
  }
  return Status::OK();
}

}  // namespace

static Status BuildAverage(const std::vector<std::string>& sources, const std::string& output,
                           const AverageOptions& options, Plan* plan) {
  plan->operation = "average";
  plan->output = output;
  if (sources.empty()) return Status::InvalidArgument("average needs at least one source");
  const int n = static_cast<int>(sources.size());
  if (!options.weights.empty() && static_cast<int>(options.weights.size()) != n) {
    return Status::InvalidArgument(
        fmt::format("`weights` has {} value(s) for {} source(s)", options.weights.size(), n));
  }
  std::vector<double> w = options.weights.empty() ? std::vector<double>(n, 1.0) : options.weights;
  if (options.normalize) {
    double sum = 0;
    for (double x : w) sum += x;
    if (sum == 0 || !std::isfinite(sum)) {
      return Status::InvalidArgument(
          "the weights add up to 0 (or are not finite): cannot normalize");
    }
  }
  int k =
      options.take_nonfloat_from < 0 ? n + options.take_nonfloat_from : options.take_nonfloat_from;
  if (k < 0 || k >= n) {
    return Status::InvalidArgument(fmt::format(
        "`take_nonfloat_from` {} is not one of the {} sources (0..{}, or -1 for the last)",
        options.take_nonfloat_from, n, n - 1));
  }
  // Named after the input whose integers (global_step) the output takes: by default the newest.
  SetPlanOutput(output, sources[k], plan);
  if (!options.selection.empty()) {
    plan->notes.push_back(fmt::format("{}: {}", options.selection, fmt::join(sources, ", ")));
  }
  std::vector<int> inputs;
  TFCKPT_RETURN_IF_ERROR(OpenAll(plan, sources, &inputs));
  TFCKPT_RETURN_IF_ERROR(CheckSources(plan));
  auto spec = std::make_shared<ComputeSpec>();
  spec->method = BlendMethod::kLinear;
  spec->weights = w;
  // Divide the weighted sum by the sum of the weights at the end (not each weight first): with
  // equal weights this is sum / n, correctly rounded, so exact ties round to even.
  spec->normalize = options.normalize;
  return BuildComputed(plan, inputs, inputs[k], options.keep_optimizer,
                       [&](const std::string&, std::shared_ptr<const ComputeSpec>* out) {
                         *out = spec;
                         return Status::OK();
                       });
}

static Status BuildBlend(const BlendOptions& options, const std::string& output, Plan* plan) {
  plan->operation = fmt::format("blend ({})", BlendMethodName(options.method));
  std::string named_after = options.models.empty() ? "" : options.models[0];
  SetPlanOutput(output, options.base ? *options.base : named_after, plan);
  const bool needs_base = options.method != BlendMethod::kLinear;
  if (needs_base && !options.base) {
    return Status::InvalidArgument(
        fmt::format("{} needs a base model (`base`: the model the others were "
                    "fine-tuned from)",
                    BlendMethodName(options.method)));
  }
  if (!needs_base && options.base) {
    return Status::InvalidArgument(
        "linear takes no base model (`base`): list every model to combine");
  }
  if (options.models.empty()) return Status::InvalidArgument("blend needs at least one model");
  if (options.method == BlendMethod::kSlerp && options.models.size() != 1) {
    return Status::InvalidArgument(
        "slerp interpolates between the base model (`base`) and exactly one model");
  }
  const size_t n = options.models.size();
  std::vector<int> inputs;
  std::vector<std::string> paths;
  if (options.base) paths.push_back(*options.base);
  paths.insert(paths.end(), options.models.begin(), options.models.end());
  TFCKPT_RETURN_IF_ERROR(OpenAll(plan, paths, &inputs));
  TFCKPT_RETURN_IF_ERROR(CheckSources(plan));

  std::vector<NamePattern> patterns(options.overrides.size());
  for (size_t i = 0; i < options.overrides.size(); i++) {
    TFCKPT_RETURN_IF_ERROR(
        NamePattern::Compile(options.overrides[i].pattern, "`overrides`", &patterns[i]));
  }
  auto check = [&](const ComputeSpec& s, const std::string& name) -> Status {
    std::string where = name.empty() ? "" : fmt::format(" (for '{}')", PrintableKey(name));
    if (s.weights.size() != n) {
      return Status::InvalidArgument(
          fmt::format("{} weight(s) given for {} model(s){}", s.weights.size(), n, where));
    }
    if (s.density < 0 || s.density > 1) {
      return Status::InvalidArgument(
          fmt::format("density {} is not in [0, 1]{}", s.density, where));
    }
    if (s.p < 0 || s.p >= 1) {
      return Status::InvalidArgument(fmt::format("p {} is not in [0, 1){}", s.p, where));
    }
    return Status::OK();
  };
  ComputeSpec global;
  global.method = options.method;
  global.has_base = needs_base;
  global.weights = options.weights.empty() ? std::vector<double>(n, 1.0) : options.weights;
  global.lambda = options.lambda;
  global.t = options.t;
  global.density = options.density;
  global.p = options.p;
  global.seed = options.seed;
  global.normalize = options.normalize;
  TFCKPT_RETURN_IF_ERROR(check(global, ""));
  auto shared_global = std::make_shared<const ComputeSpec>(global);
  return BuildComputed(
      plan, inputs, inputs[0], options.keep_optimizer,
      [&](const std::string& name, std::shared_ptr<const ComputeSpec>* out) -> Status {
        ComputeSpec s = global;
        bool changed = false;
        for (size_t i = 0; i < patterns.size(); i++) {
          if (!patterns[i].Search(name)) continue;
          const BlendOverride& o = options.overrides[i];
          if (o.weights) s.weights = *o.weights;
          if (o.lambda) s.lambda = *o.lambda;
          if (o.t) s.t = *o.t;
          if (o.density) s.density = *o.density;
          if (o.p) s.p = *o.p;
          changed = true;
        }
        if (!changed) {
          *out = shared_global;
          return Status::OK();
        }
        TFCKPT_RETURN_IF_ERROR(check(s, name));
        *out = std::make_shared<const ComputeSpec>(std::move(s));
        return Status::OK();
      });
}

Status PlanAverage(const std::vector<std::string>& sources, const std::string& output,
                   const AverageOptions& options, Plan* plan) {
  TFCKPT_RETURN_IF_ERROR(BuildAverage(sources, output, options, plan));
  return CheckKerasOutput(plan);
}

Status PlanBlend(const BlendOptions& options, const std::string& output, Plan* plan) {
  TFCKPT_RETURN_IF_ERROR(BuildBlend(options, output, plan));
  return CheckKerasOutput(plan);
}

}  // namespace tfckpt
