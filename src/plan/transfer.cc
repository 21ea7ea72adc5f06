// PlanTransfer: tf.compat.v1.train.init_from_checkpoint without TensorFlow. Each assignment group
// is one init_from_checkpoint(source, map) call; the --into checkpoint plays the variable store.
// Every problem is collected and reported together before anything is written.

#include <algorithm>
#include <map>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "bundle/entry_codec.h"
#include "plan/name_view.h"
#include "plan/object_graph.h"
#include "plan/optimizer_filter.h"
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

// The state of one PlanTransfer: the inputs, the variable store (the model), the assignments made
// so far and every problem found.
struct Transfer {
  Transfer(const TransferOptions& o, Plan* p) : options(o), plan(p) {}
  const TransferOptions& options;
  Plan* plan;
  int into = -1;                  // index of the --into source, or -1
  std::vector<int> group_source;  // source index of each group
  bool full_names = false;        // TF2 checkpoints addressed by full names in every group
  std::vector<TensorInfo> model;  // the in-memory model, sorted by name
  bool has_store = false;
  NameView store_keys, store_full;  // the store by key and (TF2 --into) by full name
  OptimizerFilter store_optimizer;
  std::map<std::string, Assignment> assigned;  // target key (or name, without a model) -> source
  std::vector<std::string> errors;

  bool IsTf2(int s) const { return plan->sources[s].ckpt->Find(kObjectGraphKey) != nullptr; }
  const NameView& Store(bool by_full) const {
    return by_full && into >= 0 && IsTf2(into) ? store_full : store_keys;
  }
  // Optimizer state of the model that scope maps and by-name matches leave alone.
  bool KeepsOwnValue(const TensorInfo& t) const {
    return !options.include_optimizer && store_optimizer.IsOptimizer(t.name);
  }
};

Status OpenInputs(Transfer* tr) {
  Plan* plan = tr->plan;
  if (tr->options.into) {
    PlanSource src;
    TFCKPT_RETURN_IF_ERROR(OpenPlanSource(*tr->options.into, &src));
    tr->into = 0;
    if (!src.saved_model_dir.empty()) plan->saved_model_from = 0;
    plan->sources.push_back(std::move(src));
  }
  for (const AssignmentGroup& group : tr->options.groups) {
    PlanSource src;
    TFCKPT_RETURN_IF_ERROR(OpenPlanSource(group.source, &src));
    tr->group_source.push_back(static_cast<int>(plan->sources.size()));
    plan->sources.push_back(std::move(src));
  }
  // Name TF2 checkpoints by full name when TF1 and TF2 checkpoints meet in one transfer.
  tr->full_names = tr->options.tf2_names == Tf2Names::kFullNames;
  if (tr->options.tf2_names == Tf2Names::kAuto && tr->into >= 0) {
    bool tf1 = false, tf2 = false;
    for (int s = 0; s < static_cast<int>(plan->sources.size()); s++)
      (tr->IsTf2(s) ? tf2 : tf1) = true;
    tr->full_names = tf1 && tf2;
  }
  if (tr->full_names) {
    plan->notes.push_back("TF2 checkpoints are addressed by their variables' full names");
  }
  return Status::OK();
}

// The variable store: the --into checkpoint's tensors, or the variables given in memory.
Status BuildStore(Transfer* tr) {
  tr->model = tr->options.model;
  std::sort(tr->model.begin(), tr->model.end(),
            [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
  if (tr->into >= 0) {
    const PlanSource& src = tr->plan->sources[tr->into];
    TFCKPT_RETURN_IF_ERROR(NameView::KeysOf(*src.ckpt, &tr->store_keys));
    if (tr->IsTf2(tr->into)) {
      TFCKPT_RETURN_IF_ERROR(NameView::FullNames(*src.ckpt, src.label, &tr->store_full));
    }
    TFCKPT_RETURN_IF_ERROR(OptimizerFilter::Create(*src.ckpt, &tr->store_optimizer));
    tr->has_store = true;
  } else if (!tr->model.empty()) {
    tr->store_keys = NameView::Keys(tr->model);
    tr->has_store = true;
  }
  return Status::OK();
}

// How source `s` is addressed: by full names (a TF2 checkpoint) or by keys; with a model, its
// bookkeeping is hidden.
Status SourceView(const Transfer& tr, int s, bool by_full, NameView* view) {
  const PlanSource& src = tr.plan->sources[s];
  if (by_full && tr.IsTf2(s)) return NameView::FullNames(*src.ckpt, src.label, view);
  if (tr.has_store) return NameView::KeysOf(*src.ckpt, view);
  *view = NameView::Keys(src.ckpt->tensors());
  return Status::OK();
}

// The distinct names of the store's variables that by-name and scope matches may fill.
std::vector<std::string> FillableNames(const Transfer& tr, const NameView& store) {
  std::vector<std::string> names;
  for (const auto& [name, t] : store.entries()) {
    if (tr.KeepsOwnValue(*t) || (!names.empty() && names.back() == name)) continue;
    names.push_back(name);
  }
  return names;
}

int CountFound(const std::vector<std::string>& names, const NameView& view) {
  int n = 0;
  for (const std::string& name : names) n += view.Find(name) != nullptr;
  return n;
}

std::string Examples(const std::vector<std::string>& names) {
  std::vector<std::string> shown;
  for (size_t i = 0; i < names.size() && i < 3; i++) shown.push_back("'" + names[i] + "'");
  return fmt::format("{}{}", fmt::join(shown, ", "), names.size() > 3 ? ", ..." : "");
}

// One init_from_checkpoint(source, map) call.
class GroupPlanner {
 public:
  GroupPlanner(Transfer* tr, size_t g)
      : tr_(*tr),
        group_(tr->options.groups[g]),
        s_(tr->group_source[g]),
        label_(tr->plan->sources[s_].label) {}

  Status Run() {
    bool by_full = tr_.full_names;
    if (group_.map.empty() && tr_.has_store && !by_full &&
        tr_.options.tf2_names == Tf2Names::kAuto && tr_.into >= 0 && tr_.IsTf2(tr_.into) &&
        tr_.IsTf2(s_)) {
      // Two TF2 checkpoints: by key, unless full names match more (they were saved through
      // different objects, e.g. a Checkpoint of the model and the model's SavedModel export).
      NameView keys, full;
      TFCKPT_RETURN_IF_ERROR(SourceView(tr_, s_, false, &keys));
      TFCKPT_RETURN_IF_ERROR(SourceView(tr_, s_, true, &full));
      // When neither matches, full names make the clearer message.
      int by_key = CountFound(FillableNames(tr_, tr_.Store(false)), keys);
      by_full = CountFound(FillableNames(tr_, tr_.Store(true)), full) > by_key || by_key == 0;
    }
    TFCKPT_RETURN_IF_ERROR(SourceView(tr_, s_, by_full, &ckpt_));
    store_ = tr_.has_store ? &tr_.Store(by_full) : nullptr;
    naming_ = ckpt_.by_full_name() || (store_ && store_->by_full_name()) ? "full name" : "name";
    if (group_.map.empty()) {
      MatchByName();
      return Status::OK();
    }
    // Like init_from_checkpoint, process the map sorted by the names in the checkpoint.
    auto map = group_.map;
    std::stable_sort(map.begin(), map.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [ckpt_name, target] : map) MapOne(ckpt_name, target);
    return Status::OK();
  }

 private:
  void Error(std::string message) { tr_.errors.push_back(std::move(message)); }

  // Assigns checkpoint tensor `name` to the store's variable(s) `target` (every copy of it), or
  // to the new tensor `target` without a store.
  void Assign(const std::string& target, const std::string& name) {
    const TensorInfo* st = ckpt_.Find(name);
    std::string ambiguous = ckpt_.Ambiguity(name);
    if (ambiguous.empty() && store_) ambiguous = store_->Ambiguity(target);
    if (!ambiguous.empty()) return Error(ambiguous);
    if (store_ == nullptr) {
      tr_.assigned[target] = Assignment{s_, st};
      return;
    }
    for (const TensorInfo* t : store_->FindAll(target)) {
      CheckPair(target, t, name, *st, label_, &tr_.errors);
      tr_.assigned[t->name] = Assignment{s_, st};
    }
  }

  // No map: every variable of the model that the source has, by name.
  void MatchByName() {
    if (store_ == nullptr) {
      return Error(fmt::format(
          "the source {} (`source`) has no assignment map after it (`map` CKPT=TARGET)", label_));
    }
    std::vector<std::string> wanted = FillableNames(tr_, *store_), missing;
    int matched = 0;
    for (const std::string& name : wanted) {
      if (ckpt_.Find(name) == nullptr) {
        missing.push_back(name);
        continue;
      }
      matched++;
      Assign(name, name);
    }
    if (matched == 0) {
      std::vector<std::string> have;
      for (const auto& [name, t] : ckpt_.entries()) have.push_back(name);
      return Error(fmt::format(
          "no variable of the model is in {}: compared the {} variable {}s of the model "
          "({}) with the {} of {} ({}){}; map names with an assignment map (`map` CKPT=TARGET)",
          label_, wanted.size(), naming_, Examples(wanted), have.size(), label_, Examples(have),
          tr_.IsTf2(s_) && tr_.into >= 0 && tr_.IsTf2(tr_.into) &&
                  tr_.options.tf2_names == Tf2Names::kAuto
              ? " (by key and by full name)"
              : ""));
    }
    tr_.plan->notes.push_back(fmt::format(
        "{} tensor(s) matched by {} in {}{}", matched, naming_, label_,
        missing.empty()
            ? ""
            : fmt::format("; {} not found there (e.g. {})", missing.size(), missing[0])));
  }

  // One --map CKPT=TARGET rule: a name to a name, or a scope to a scope.
  void MapOne(const std::string& ckpt_name, const std::string& target) {
    const TensorInfo* direct = store_ ? store_->Find(target) : nullptr;
    if (store_ && direct == nullptr && RefusedTarget(ckpt_name, target)) return;
    bool scope_form = store_ ? direct == nullptr : EndsWith(ckpt_name, "/");
    if (!scope_form) {
      if (ckpt_.Find(ckpt_name) == nullptr) {
        return Error(fmt::format("Tensor {} is not found in {} checkpoint", ckpt_name, label_));
      }
      return Assign(target, ckpt_name);
    }
    // Scope form: 'scope/': 'other_scope/', '/': 'scope/', 'scope/': '/'.
    std::string scopes =
        target.find('/') != std::string::npos ? target.substr(0, target.rfind('/')) : "";
    if (!EndsWith(ckpt_name, "/")) {
      return Error(fmt::format(
          "Assignment map with scope only name {} should map to scope only {}. Should be "
          "'scope/': 'other_scope/'. (The target '{}' is not a variable of the model, so it is "
          "taken as a scope.)",
          scopes, ckpt_name, target));
    }
    if (store_) return MapScopeToModel(ckpt_name, target, scopes);
    MapScopeToNames(ckpt_name, target);
  }

  // Whether `target`, no variable of the model, is a name a map must not aim at (one partition of
  // a partitioned variable, or the object graph's bookkeeping); if so, reports why.
  bool RefusedTarget(const std::string& ckpt_name, const std::string& target) {
    static const std::regex kPart(R"((.*)/part_(\d+))");
    std::smatch m;
    if (std::regex_match(target, m, kPart) && store_->Find(m[1].str()) &&
        store_->Find(m[1].str())->partitioned()) {
      Error(
          fmt::format("target {} is one partition of the partitioned variable {}; map the whole "
                      "variable ({}={}) instead",
                      target, m[1].str(), ckpt_name, m[1].str()));
      return true;
    }
    for (const TensorInfo* h : store_->hidden()) {
      if (h->name == target && !EndsWith(ckpt_name, "/")) {
        Error(fmt::format(
            "target {} is not a variable of the model but its object-graph bookkeeping, "
            "which the output keeps as it is in the model",
            target));
        return true;
      }
    }
    return false;
  }

  // A scope rule with a model: the model's variables under the target scope (`scopes`, without
  // its trailing '/'), each looked up under the checkpoint scope.
  void MapScopeToModel(const std::string& ckpt_name, const std::string& target,
                       const std::string& scopes) {
    int matched = 0;
    for (const std::string& var_name : FillableNames(tr_, *store_)) {
      if (!scopes.empty() && var_name.rfind(scopes + "/", 0) != 0) continue;
      std::string full = var_name.substr(scopes.size());
      if (target != "/") full = full.substr(1);
      if (ckpt_name != "/") full = ckpt_name + full;
      if (EndsWith(full, "/")) full.pop_back();
      matched++;
      if (ckpt_.Find(full) == nullptr) {
        Error(fmt::format("Tensor {} ({} in {}) is not found in {} checkpoint", full,
                          var_name.size() > scopes.size() ? var_name.substr(scopes.size() + 1) : "",
                          ckpt_name, label_));
        continue;
      }
      Assign(var_name, full);
    }
    if (matched == 0) {
      Error(fmt::format(
          "the mapping {}={} (from {}) matches no variable of the model: it has no variable {}{}",
          ckpt_name, target, label_, scopes.empty() ? "at all" : "under '" + scopes + "/'",
          tr_.options.include_optimizer ? "" : " (optimizer state is not mapped by scope)"));
    }
  }

  // A scope rule without a model: every checkpoint tensor under the checkpoint scope goes under
  // the target one.
  void MapScopeToNames(const std::string& ckpt_name, const std::string& target) {
    if (!EndsWith(target, "/")) {
      return Error(fmt::format(
          "Assignment map with scope only name {} should map to scope only {}. Should be "
          "'scope/': 'other_scope/'.",
          ckpt_name, target));
    }
    int matched = 0;
    for (const auto& [name, t] : ckpt_.entries()) {
      if (ckpt_name != "/" && name.rfind(ckpt_name, 0) != 0) continue;
      std::string rest = ckpt_name == "/" ? name : name.substr(ckpt_name.size());
      std::string tgt = target == "/" ? rest : target + rest;
      if (tgt.empty()) continue;
      matched++;
      Assign(tgt, name);
    }
    if (matched == 0) {
      Error(fmt::format("the mapping {}={} matches no tensor of {}", ckpt_name, target, label_));
    }
  }

  Transfer& tr_;
  const AssignmentGroup& group_;
  const int s_;
  const std::string& label_;
  NameView ckpt_;
  const NameView* store_ = nullptr;
  std::string naming_;
};

// The problems found, one line each and each once (an ambiguous name is met once per use).
Status ReportProblems(const Transfer& tr) {
  if (tr.errors.empty()) return Status::OK();
  std::vector<std::string> unique;
  std::set<std::string> seen;
  for (const std::string& e : tr.errors) {
    if (seen.insert(e).second) unique.push_back(e);
  }
  const std::string& op = tr.plan->operation;
  return Status::InvalidArgument(
      fmt::format("{} cannot be done ({} problem{}); nothing was written:\n  {}",
                  op == "transfer" ? "the transfer" : "`" + op + "`", unique.size(),
                  unique.size() == 1 ? "" : "s", fmt::join(unique, "\n  ")));
}

// One output tensor: `target` (the model's variable, or null without a model) from `a`.
PlannedTensor Assigned(const std::string& name, const TensorInfo* t, const Assignment& a) {
  const TensorInfo& s = *a.tensor;
  PlannedTensor p;
  p.name = name;
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
  return p;
}

// The output: every tensor of the --into model (assigned or kept), or the assigned variables of
// the in-memory model, or every mapped target.
Status BuildOutput(Transfer* tr) {
  Plan* plan = tr->plan;
  int kept = 0;
  if (tr->into >= 0) {
    for (const TensorInfo& t : plan->sources[tr->into].ckpt->tensors()) {
      auto it = tr->assigned.find(t.name);
      if (it != tr->assigned.end()) {
        plan->tensors.push_back(Assigned(t.name, &t, it->second));
        continue;
      }
      PlannedTensor p;
      p.name = t.name;
      p.dtype = t.dtype;
      p.shape = t.shape;
      p.action = PlannedTensor::Action::kKeep;
      p.pieces = PiecesOf(tr->into, t);
      plan->tensors.push_back(std::move(p));
      kept++;
    }
  } else if (!tr->model.empty()) {
    for (const TensorInfo& t : tr->model) {
      auto it = tr->assigned.find(t.name);
      if (it != tr->assigned.end()) plan->tensors.push_back(Assigned(t.name, &t, it->second));
    }
  } else {
    for (const auto& [name, a] : tr->assigned) {
      plan->tensors.push_back(Assigned(name, nullptr, a));
    }
  }
  std::sort(plan->tensors.begin(), plan->tensors.end(),
            [](const PlannedTensor& a, const PlannedTensor& b) { return a.name < b.name; });
  for (size_t i = 1; i < plan->tensors.size(); i++) {
    if (plan->tensors[i].name == plan->tensors[i - 1].name) {
      return Status::InvalidArgument(fmt::format(
          "two targets would both be written as '{}'; check the assignment maps (`map`)",
          PrintableKey(plan->tensors[i].name)));
    }
  }
  if (tr->into >= 0) {
    plan->notes.push_back(fmt::format("{} tensor(s) mapped, {} kept from {}", tr->assigned.size(),
                                      kept, plan->sources[tr->into].label));
  }
  return Status::OK();
}

}  // namespace

static Status BuildTransfer(const TransferOptions& options, const std::string& output, Plan* plan) {
  if (plan->operation.empty()) plan->operation = "transfer";
  plan->output = output;
  if (options.groups.empty()) {
    return Status::InvalidArgument(
        "transfer needs at least one source (`source`) with its assignment map (`map` "
        "CKPT=TARGET)");
  }
  Transfer tr(options, plan);
  TFCKPT_RETURN_IF_ERROR(OpenInputs(&tr));
  SetPlanOutput(output, options.into ? *options.into : options.groups[0].source, plan);
  TFCKPT_RETURN_IF_ERROR(BuildStore(&tr));
  for (size_t g = 0; g < options.groups.size(); g++) {
    TFCKPT_RETURN_IF_ERROR(GroupPlanner(&tr, g).Run());
  }
  if (tr.errors.empty() && tr.assigned.empty()) {
    tr.errors.push_back("no tensor is mapped: the output would only repeat its inputs");
  }
  TFCKPT_RETURN_IF_ERROR(ReportProblems(tr));
  TFCKPT_RETURN_IF_ERROR(CheckSources(plan));
  return BuildOutput(&tr);
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
  plan->operation = "to_tf1";
  TFCKPT_RETURN_IF_ERROR(PlanConversion(
      options, output,
      fmt::format("{} is already name-based (a TF1 checkpoint: no object graph); `to_tf1` "
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
  options.include_optimizer = true;  // a conversion: optimizer state comes along
  plan->operation = "to_tf2";
  TFCKPT_RETURN_IF_ERROR(PlanConversion(
      options, output,
      fmt::format("the template {} is name-based (no object graph); `to_tf2` needs a TF2 "
                  "checkpoint or SavedModel of the model, e.g. one written by "
                  "tf.train.Checkpoint(model=model).save()",
                  tf2_template),
      plan));
  return Status::OK();
}

Status InitFromCheckpoint(const std::string& ckpt,
                          const std::vector<std::pair<std::string, std::string>>& assignment_map,
                          const std::vector<TargetVariable>& variables, TensorSink* sink,
                          std::vector<std::pair<std::string, std::string>>* assigned,
                          Tf2Names tf2_names, bool include_optimizer) {
  if (variables.empty()) return Status::InvalidArgument("there are no variables to fill");
  TransferOptions options;
  options.tf2_names = tf2_names;
  options.include_optimizer = include_optimizer;
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

Status PlanTransfer(const TransferOptions& options, const std::string& output, Plan* plan) {
  TFCKPT_RETURN_IF_ERROR(BuildTransfer(options, output, plan));
  return CheckKerasOutput(plan);
}

}  // namespace tfckpt
