// PlanEdit: rename, filter and strip optimizer state from one checkpoint, keeping a TF2 object
// graph consistent with the keys that remain.

#include <functional>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "bundle/entry_codec.h"
#include "plan/object_graph.h"
#include "plan/plan_util.h"
#include "tfckpt/name_pattern.h"

namespace tfckpt {
namespace {

// A --rename rule of a TF2 checkpoint as an object move: "a/b/=c/" moves the object at a/b to c,
// "/" is the root, and a key "P/.ATTRIBUTES/NAME" stands for its object P.
Status ObjectRename(const std::string& from, const std::string& to, std::string* old_path,
                    std::string* new_path) {
  auto object_of = [](const std::string& name) {
    std::string path = name;
    if (!path.empty() && path.back() == '/') path.pop_back();
    size_t attr = path.find("/.ATTRIBUTES/");
    if (attr != std::string::npos) path = path.substr(0, attr);
    return path;
  };
  *old_path = object_of(from);
  *new_path = object_of(to);
  bool from_attr = from.find("/.ATTRIBUTES/") != std::string::npos;
  bool to_attr = to.find("/.ATTRIBUTES/") != std::string::npos;
  if (from_attr != to_attr || from.find("/.OPTIMIZER_SLOT/") != std::string::npos ||
      to.find("/.OPTIMIZER_SLOT/") != std::string::npos) {
    return Status::InvalidArgument(fmt::format(
        "--rename {}={}: in a TF2 checkpoint a rename moves an object (with its values and "
        "optimizer slots); give object paths (model/dense/=model/encoder/) or two value keys "
        "(model/w/.ATTRIBUTES/VARIABLE_VALUE=model/kernel/.ATTRIBUTES/VARIABLE_VALUE)",
        from, to));
  }
  return Status::OK();
}

}  // namespace

Status PlanEdit(const std::string& source, const std::string& output, const EditOptions& options,
                Plan* plan) {
  plan->operation = "edit";
  plan->output = output;
  NameMapper mapper;
  TFCKPT_RETURN_IF_ERROR(NameMapper::Create(options, &mapper));
  PlanSource src;
  TFCKPT_RETURN_IF_ERROR(OpenPlanSource(source, &src));
  plan->sources.push_back(std::move(src));
  TFCKPT_RETURN_IF_ERROR(CheckOutputIsNotAnInput(*plan));
  const Checkpoint& ckpt = *plan->sources[0].ckpt;

  OptimizerFilter optimizer;
  TFCKPT_RETURN_IF_ERROR(OptimizerFilter::Create(ckpt, &optimizer));
  const std::string& graph = optimizer.object_graph();
  const TensorInfo* graph_info = graph.empty() ? nullptr : ckpt.Find(kObjectGraphKey);

  // New name of every key, or nullopt when it is dropped.
  std::function<std::optional<std::string>(const std::string&)> new_name =
      [&](const std::string& name) { return mapper.Map(name, optimizer); };
  // In a TF2 checkpoint, renames move objects, and keys follow the new structure.
  std::string moved_graph;
  std::map<std::string, std::string> rekeyed;
  if (!graph.empty() && !options.renames.empty()) {
    std::vector<std::pair<std::string, std::string>> moves;
    for (const auto& [from, to] : options.renames) {
      std::string a, b;
      TFCKPT_RETURN_IF_ERROR(ObjectRename(from, to, &a, &b));
      moves.emplace_back(a, b);
    }
    Status moved = MoveObjects(graph, moves, &moved_graph, &rekeyed);
    if (!moved.ok()) {
      return Status::InvalidArgument(fmt::format("{}: {}", source, moved.message()));
    }
    EditOptions filters = options;
    filters.renames.clear();
    TFCKPT_RETURN_IF_ERROR(NameMapper::Create(filters, &mapper));
    new_name = [&](const std::string& name) -> std::optional<std::string> {
      std::optional<std::string> kept = mapper.Map(name, optimizer);
      if (!kept) return std::nullopt;
      auto it = rekeyed.find(name);
      return it == rekeyed.end() ? name : it->second;
    };
  }

  std::map<std::string, std::string> taken;  // new name -> old name
  std::vector<std::string> clashes;
  int dropped = 0, renamed = 0;
  std::vector<std::pair<std::string, const TensorInfo*>> kept;
  for (const TensorInfo& t : ckpt.tensors()) {
    std::optional<std::string> to = new_name(t.name);
    if (!to) {
      dropped++;
      continue;
    }
    if (to->empty()) {
      clashes.push_back(
          fmt::format("'{}' would be renamed to an empty name", PrintableKey(t.name)));
      continue;
    }
    auto [it, inserted] = taken.emplace(*to, t.name);
    if (!inserted) {
      clashes.push_back(fmt::format("'{}' and '{}' would both be named '{}'",
                                    PrintableKey(it->second), PrintableKey(t.name),
                                    PrintableKey(*to)));
      continue;
    }
    if (*to != t.name) renamed++;
    kept.emplace_back(*to, &t);
  }
  if (!clashes.empty()) {
    return Status::InvalidArgument(
        fmt::format("the renames clash; nothing was written:\n  {}", fmt::join(clashes, "\n  ")));
  }
  for (const auto& [name, t] : kept) {
    PlannedTensor p;
    p.name = name;
    p.dtype = t->dtype;
    p.shape = t->shape;
    p.pieces = PiecesOf(0, *t);
    if (t == graph_info) {
      std::string rewritten;
      bool changed = false;
      if (moved_graph.empty()) {
        TFCKPT_RETURN_IF_ERROR(RewriteObjectGraph(graph, new_name, &rewritten, &changed));
      } else {
        // The moved graph holds the new keys; drop the values whose old keys are dropped.
        std::map<std::string, std::string> old_of;
        for (const auto& [from, to] : rekeyed) old_of[to] = from;
        auto keep_new = [&](const std::string& key) -> std::optional<std::string> {
          auto it = old_of.find(key);
          if (it != old_of.end() && !new_name(it->second)) return std::nullopt;
          return key;
        };
        TFCKPT_RETURN_IF_ERROR(RewriteObjectGraph(moved_graph, keep_new, &rewritten, &changed));
        changed = true;
      }
      if (changed) {
        p.action = PlannedTensor::Action::kReplace;
        p.replacement = std::make_shared<const std::string>(std::move(rewritten));
        plan->notes.push_back(
            moved_graph.empty()
                ? "the TF2 object graph was rewritten to match the remaining keys"
                : "TF2 objects moved as renamed; every key follows the new object paths");
      }
    }
    plan->tensors.push_back(std::move(p));
  }
  std::sort(plan->tensors.begin(), plan->tensors.end(),
            [](const PlannedTensor& a, const PlannedTensor& b) { return a.name < b.name; });
  plan->notes.push_back(
      fmt::format("{} tensor(s) kept ({} renamed), {} dropped", kept.size(), renamed, dropped));
  return Status::OK();
}

}  // namespace tfckpt
