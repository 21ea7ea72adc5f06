// PlanTransfer: tf.compat.v1.train.init_from_checkpoint without TensorFlow. Each assignment group
// is one init_from_checkpoint(source, map) call; the --into checkpoint plays the variable store.
// Every problem is collected and reported together before anything is written.

#include <algorithm>
#include <map>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "bundle/entry_codec.h"
#include "plan/object_graph.h"
#include "plan/plan_util.h"

namespace tfckpt {
namespace {

struct Assignment {
  int source;
  const TensorInfo* tensor;
};

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool SameSlices(const TensorInfo& a, const TensorInfo& b) {
  if (a.slices.size() != b.slices.size()) return false;
  for (const SlicePart& pa : a.slices) {
    bool found = false;
    for (const SlicePart& pb : b.slices) found = found || pa.slice == pb.slice;
    if (!found) return false;
  }
  return true;
}

// Checks one (target, source tensor) pair the way restoring it would; appends problems.
void CheckPair(const std::string& target, const TensorInfo* t, const std::string& ckpt_name,
               const TensorInfo& s, const std::string& src_label,
               std::vector<std::string>* errors) {
  if (t == nullptr) return;
  if (t->shape != s.shape) {
    errors->push_back(fmt::format(
        "Shape of variable {} ({}) doesn't match with shape of tensor {} ({}) from checkpoint "
        "{}.",
        target, ShapeToString(t->shape), ckpt_name, ShapeToString(s.shape), src_label));
  }
  if (t->dtype != s.dtype) {
    errors->push_back(fmt::format(
        "dtype of variable {} ({}) doesn't match dtype of tensor {} ({}) in checkpoint {}; "
        "TensorFlow would fail when restoring it.",
        target, DTypeName(t->dtype), ckpt_name, DTypeName(s.dtype), src_label));
  }
}

}  // namespace

Status PlanTransfer(const TransferOptions& options, const std::string& output, Plan* plan) {
  if (plan->operation.empty()) plan->operation = "transfer";
  plan->output = output;
  if (options.groups.empty()) {
    return Status::InvalidArgument("transfer needs at least one --from SRC with --map CKPT=TARGET");
  }
  int into = -1;
  if (options.into) {
    PlanSource src;
    TFCKPT_RETURN_IF_ERROR(OpenPlanSource(*options.into, &src));
    into = 0;
    if (!src.saved_model_dir.empty()) plan->saved_model_from = 0;
    plan->sources.push_back(std::move(src));
  }
  SetPlanOutput(output, options.into ? *options.into : options.groups[0].source, plan);
  std::vector<int> group_source;
  for (const AssignmentGroup& group : options.groups) {
    PlanSource src;
    TFCKPT_RETURN_IF_ERROR(OpenPlanSource(group.source, &src));
    group_source.push_back(static_cast<int>(plan->sources.size()));
    plan->sources.push_back(std::move(src));
  }
  // Name TF2 checkpoints by full name when TF1 and TF2 checkpoints meet in one transfer.
  bool full_names = options.tf2_names == Tf2Names::kFullNames;
  if (options.tf2_names == Tf2Names::kAuto && into >= 0) {
    bool tf1 = false, tf2 = false;
    for (const PlanSource& src : plan->sources) {
      (src.ckpt->Find(kObjectGraphKey) ? tf2 : tf1) = true;
    }
    full_names = tf1 && tf2;
  }
  auto view_of = [&](int s, NameView* view) -> Status {
    const Checkpoint& ckpt = *plan->sources[s].ckpt;
    if (full_names && ckpt.Find(kObjectGraphKey)) {
      return NameView::FullNames(ckpt, plan->sources[s].label, view);
    }
    *view = NameView::Keys(ckpt.tensors());
    return Status::OK();
  };
  if (full_names) {
    plan->notes.push_back("TF2 checkpoints are addressed by their variables' full names");
  }

  // The variable store: the --into checkpoint's tensors, or the variables given in memory.
  std::vector<TensorInfo> model = options.model;
  std::sort(model.begin(), model.end(),
            [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
  NameView store_view;
  const NameView* store = nullptr;
  if (into >= 0) {
    TFCKPT_RETURN_IF_ERROR(view_of(into, &store_view));
    store = &store_view;
  } else if (!model.empty()) {
    store_view = NameView::Keys(model);
    store = &store_view;
  }

  std::map<std::string, Assignment> assigned;  // target name -> source tensor
  std::vector<std::string> errors;
  static const std::regex kPart(R"((.*)/part_(\d+))");
  for (size_t g = 0; g < options.groups.size(); g++) {
    const AssignmentGroup& group = options.groups[g];
    const int s = group_source[g];
    NameView ckpt;
    TFCKPT_RETURN_IF_ERROR(view_of(s, &ckpt));
    const std::string& label = plan->sources[s].label;
    auto assign = [&](const std::string& tgt, const TensorInfo* t, const std::string& name) {
      const TensorInfo* st = ckpt.Find(name);
      std::string ambiguous = ckpt.Ambiguity(name);
      if (ambiguous.empty() && store) ambiguous = store->Ambiguity(tgt);
      if (!ambiguous.empty()) {
        errors.push_back(ambiguous);
        return;
      }
      CheckPair(tgt, t, name, *st, label, &errors);
      assigned[tgt] = Assignment{s, st};
    };
    if (group.map.empty()) {
      if (store == nullptr) {
        errors.push_back(fmt::format("--from {} has no --map CKPT=TARGET after it", label));
        continue;
      }
      // No map: match by name.
      int matched = 0, missing = 0;
      std::string first_missing;
      for (const auto& [name, t] : store->entries()) {
        if (ckpt.Find(name) == nullptr) {
          if (missing++ == 0) first_missing = name;
          continue;
        }
        matched++;
        assign(name, t, name);
      }
      if (matched == 0) {
        errors.push_back(fmt::format(
            "no {} of the model is in {}; map names with --map CKPT=TARGET",
            ckpt.by_full_name() || store->by_full_name() ? "full name" : "tensor name", label));
      }
      plan->notes.push_back(fmt::format(
          "{} tensor(s) matched by {} in {}{}", matched,
          ckpt.by_full_name() || store->by_full_name() ? "full name" : "name", label,
          missing ? fmt::format("; {} not found there (e.g. {})", missing, first_missing) : ""));
      continue;
    }
    // Like init_from_checkpoint, process the map sorted by the names in the checkpoint.
    auto map = group.map;
    std::stable_sort(map.begin(), map.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [ckpt_name, target] : map) {
      const TensorInfo* direct = store ? store->Find(target) : nullptr;
      if (store && direct == nullptr) {
        std::smatch m;
        if (std::regex_match(target, m, kPart) && store->Find(m[1].str()) &&
            store->Find(m[1].str())->partitioned()) {
          errors.push_back(fmt::format(
              "target {} is one partition of the partitioned variable {}; map the whole "
              "variable ({}={}) instead",
              target, m[1].str(), ckpt_name, m[1].str()));
          continue;
        }
      }
      bool scope_form = store ? direct == nullptr : EndsWith(ckpt_name, "/");
      if (!scope_form) {
        if (ckpt.Find(ckpt_name) == nullptr) {
          errors.push_back(
              fmt::format("Tensor {} is not found in {} checkpoint", ckpt_name, label));
          continue;
        }
        assign(target, direct, ckpt_name);
        continue;
      }
      // Scope form: 'scope/': 'other_scope/', '/': 'scope/', 'scope/': '/'.
      std::string scopes =
          target.find('/') != std::string::npos ? target.substr(0, target.rfind('/')) : "";
      if (!EndsWith(ckpt_name, "/")) {
        errors.push_back(fmt::format(
            "Assignment map with scope only name {} should map to scope only {}. Should be "
            "'scope/': 'other_scope/'. (The target '{}' is not a variable of the model, so it is "
            "taken as a scope.)",
            scopes, ckpt_name, target));
        continue;
      }
      int matched = 0;
      if (store) {
        // The model's variables under the target scope, looked up under the checkpoint scope.
        for (const auto& [var_name, var] : store->entries()) {
          if (!scopes.empty() && var_name.rfind(scopes + "/", 0) != 0) continue;
          std::string full = var_name.substr(scopes.size());
          if (target != "/") full = full.substr(1);
          if (ckpt_name != "/") full = ckpt_name + full;
          if (EndsWith(full, "/")) full.pop_back();
          matched++;
          if (ckpt.Find(full) == nullptr) {
            errors.push_back(fmt::format(
                "Tensor {} ({} in {}) is not found in {} checkpoint", full,
                var_name.size() > scopes.size() ? var_name.substr(scopes.size() + 1) : "",
                ckpt_name, label));
            continue;
          }
          assign(var_name, var, full);
        }
      } else {
        // No model: every checkpoint tensor under the checkpoint scope goes under the target one.
        if (!EndsWith(target, "/")) {
          errors.push_back(fmt::format(
              "Assignment map with scope only name {} should map to scope only {}. Should be "
              "'scope/': 'other_scope/'.",
              ckpt_name, target));
          continue;
        }
        for (const auto& [name, t] : ckpt.entries()) {
          if (ckpt_name != "/" && name.rfind(ckpt_name, 0) != 0) continue;
          std::string rest = ckpt_name == "/" ? name : name.substr(ckpt_name.size());
          std::string tgt = target == "/" ? rest : target + rest;
          if (tgt.empty()) continue;
          matched++;
          assign(tgt, nullptr, name);
        }
      }
      if (matched == 0) {
        plan->notes.push_back(
            fmt::format("--map {}={} (from {}) matched no tensor", ckpt_name, target, label));
      }
    }
  }
  if (!errors.empty()) {
    // One line per problem, each once (an ambiguous name is met once per use).
    std::vector<std::string> unique;
    std::set<std::string> seen;
    for (std::string& e : errors) {
      if (seen.insert(e).second) unique.push_back(std::move(e));
    }
    return Status::InvalidArgument(
        fmt::format("{} cannot be done ({} problem{}); nothing was written:\n  {}",
                    plan->operation == "transfer" ? "the transfer" : "`" + plan->operation + "`",
                    unique.size(), unique.size() == 1 ? "" : "s", fmt::join(unique, "\n  ")));
  }
  if (into >= 0) TFCKPT_RETURN_IF_ERROR(CheckOutputIsNotAnInput(*plan));

  // The output: every variable of the model (or every mapped target), then the model's tensors
  // that have no full name, under their own keys.
  // (Every target is a variable of the model when there is one; several variables may share a
  // full name, and then none of them was assigned.)
  std::vector<std::pair<std::string, const TensorInfo*>> targets;
  if (store) {
    targets = store->entries();
  } else {
    for (const auto& [name, a] : assigned) targets.emplace_back(name, nullptr);
  }
  int kept = 0;
  for (const auto& [name, t] : targets) {
    PlannedTensor p;
    p.name = t && into >= 0 ? t->name : name;  // a model variable keeps its key
    auto it = assigned.find(name);
    if (it == assigned.end()) {
      p.dtype = t->dtype;
      p.shape = t->shape;
      p.action = PlannedTensor::Action::kKeep;
      if (into < 0) continue;  // an in-memory variable keeps its own value
      p.pieces = PiecesOf(into, *t);
      kept++;
    } else {
      const Assignment& a = it->second;
      const TensorInfo& s = *a.tensor;
      p.dtype = s.dtype;
      p.shape = s.shape;
      if (t == nullptr || (!t->partitioned() && !s.partitioned()) ||
          (t->partitioned() && s.partitioned() && SameSlices(*t, s))) {
        p.action = PlannedTensor::Action::kCopy;
        p.pieces = PiecesOf(a.source, s);
      } else if (t->partitioned()) {
        p.action = PlannedTensor::Action::kReslice;
        p.pieces = {PieceSource{a.source, &s, nullptr}};
        for (const SlicePart& part : t->slices) p.out_slices.push_back(part.slice);
      } else {
        p.action = PlannedTensor::Action::kAssemble;
        p.pieces = {PieceSource{a.source, &s, nullptr}};
      }
    }
    plan->tensors.push_back(std::move(p));
  }
  if (store) {
    for (const TensorInfo* t : store->hidden()) {
      PlannedTensor p;
      p.name = t->name;
      p.dtype = t->dtype;
      p.shape = t->shape;
      p.action = PlannedTensor::Action::kKeep;
      p.pieces = PiecesOf(into, *t);
      kept++;
      plan->tensors.push_back(std::move(p));
    }
  }
  std::sort(plan->tensors.begin(), plan->tensors.end(),
            [](const PlannedTensor& a, const PlannedTensor& b) { return a.name < b.name; });
  for (size_t i = 1; i < plan->tensors.size(); i++) {
    if (plan->tensors[i].name == plan->tensors[i - 1].name) {
      return Status::InvalidArgument(
          fmt::format("two targets would both be written as '{}'; check the --map rules",
                      PrintableKey(plan->tensors[i].name)));
    }
  }
  if (into >= 0) {
    plan->notes.push_back(fmt::format("{} tensor(s) mapped, {} kept from {}", assigned.size(), kept,
                                      plan->sources[into].label));
  }
  if (into < 0 && !plan->output.empty()) TFCKPT_RETURN_IF_ERROR(CheckOutputIsNotAnInput(*plan));
  return Status::OK();
}

namespace {

// PlanTransfer for a conversion whose first input (the TF2 source, or the TF2 template) must be
// object-based: when it is not, that is the problem to report, whatever else the plan found.
Status PlanConversion(const TransferOptions& options, const std::string& output,
                      const std::string& not_object_based, Plan* plan) {
  Status s = PlanTransfer(options, output, plan);
  if (!plan->sources.empty() && plan->sources[0].ckpt->Find(kObjectGraphKey) == nullptr) {
    return Status::InvalidArgument(not_object_based);
  }
  return s;
}

}  // namespace

Status PlanToTf1(const std::string& source, const std::string& output, Plan* plan) {
  TransferOptions options;
  options.groups.push_back({source, {{"/", "/"}}});
  options.tf2_names = Tf2Names::kFullNames;
  plan->operation = "convert --to-tf1";
  TFCKPT_RETURN_IF_ERROR(PlanConversion(
      options, output,
      fmt::format("{} is already name-based (a TF1 checkpoint: no object graph); --to-tf1 "
                  "converts object-based TF2 checkpoints",
                  source),
      plan));
  // Say what has no full name and so no place in a name-based checkpoint.
  std::set<std::string> written;
  for (const PlannedTensor& t : plan->tensors) written.insert(t.pieces[0].tensor->name);
  std::vector<std::string> left;
  for (const TensorInfo& t : plan->sources[0].ckpt->tensors()) {
    if (t.name != kObjectGraphKey && !written.count(t.name)) left.push_back(PrintableKey(t.name));
  }
  if (!left.empty()) {
    plan->notes.push_back(fmt::format(
        "{} tensor(s) without a full name left out (TF1 names only variables): {}{}", left.size(),
        fmt::join(left.begin(), left.begin() + std::min<size_t>(left.size(), 5), ", "),
        left.size() > 5 ? ", ..." : ""));
  }
  return Status::OK();
}

Status PlanToTf2(const std::string& source, const std::string& tf2_template,
                 const std::string& output, Plan* plan) {
  return PlanToTf2(source, tf2_template, {}, output, plan);
}

Status PlanToTf2(const std::string& source, const std::string& tf2_template,
                 const std::vector<std::pair<std::string, std::string>>& map,
                 const std::string& output, Plan* plan) {
  TransferOptions options;
  options.into = tf2_template;
  options.groups.push_back({source, map});
  options.tf2_names = Tf2Names::kFullNames;
  plan->operation = "convert --to-tf2";
  TFCKPT_RETURN_IF_ERROR(PlanConversion(
      options, output,
      fmt::format("the template {} is name-based (no object graph); --to-tf2 needs a TF2 "
                  "checkpoint or SavedModel of the model, e.g. one written by "
                  "tf.train.Checkpoint(model=model).save()",
                  tf2_template),
      plan));
  return Status::OK();
}

Status InitFromCheckpoint(const std::string& ckpt,
                          const std::vector<std::pair<std::string, std::string>>& assignment_map,
                          const std::vector<TargetVariable>& variables, TensorSink* sink,
                          std::vector<std::pair<std::string, std::string>>* assigned) {
  if (variables.empty()) return Status::InvalidArgument("there are no variables to fill");
  TransferOptions options;
  for (const TargetVariable& v : variables) {
    TensorInfo t;
    t.name = v.name;
    t.dtype = v.dtype;
    t.shape = v.shape;
    options.model.push_back(std::move(t));
  }
  options.groups.push_back({ckpt, assignment_map});
  Plan plan;
  TFCKPT_RETURN_IF_ERROR(PlanTransfer(options, "", &plan));
  for (const PlannedTensor& t : plan.tensors) {
    const PieceSource& p = t.pieces[0];
    Tensor value;
    TFCKPT_RETURN_IF_ERROR(plan.sources[p.source].ckpt->Read(*p.tensor, ReadOptions(), &value));
    TFCKPT_RETURN_IF_ERROR(sink->Assign(t.name, value));
    if (assigned) assigned->emplace_back(t.name, p.tensor->name);
  }
  return Status::OK();
}

}  // namespace tfckpt
