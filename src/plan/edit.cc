// PlanEdit: rename, filter and strip optimizer state from one checkpoint, keeping a TF2 object
// graph consistent with the keys that remain.

#include <functional>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "bundle/entry_codec.h"
#include "plan/name_mapper.h"
#include "plan/object_graph.h"
#include "plan/optimizer_filter.h"
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
    size_t attr = path.find(kAttributesMarker);
    if (attr != std::string::npos) path = path.substr(0, attr);
    return path;
  };
  *old_path = object_of(from);
  *new_path = object_of(to);
  bool from_attr = from.find(kAttributesMarker) != std::string::npos;
  bool to_attr = to.find(kAttributesMarker) != std::string::npos;
  if (from_attr != to_attr || from.find(kSlotMarker) != std::string::npos ||
      to.find(kSlotMarker) != std::string::npos) {
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
  SetPlanOutput(output, source, plan);
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
  // A TF2 checkpoint gets a new object graph: renames move objects (and every key follows the
  // new structure), dropped values leave it, and so do the objects left empty with their slots.
  std::string new_graph;
  bool graph_changed = false;
  std::set<std::string> old_attrs, new_attrs;
  if (!graph.empty()) {
    TFCKPT_RETURN_IF_ERROR(AttributeKeys(graph, &old_attrs));
    if (!options.renames.empty()) {
      std::vector<std::pair<std::string, std::string>> moves;
      for (const auto& [from, to] : options.renames) {
        std::string a, b;
        TFCKPT_RETURN_IF_ERROR(ObjectRename(from, to, &a, &b));
        moves.emplace_back(a, b);
      }
      std::string moved;
      std::map<std::string, std::string> rekeyed;  // old attribute key -> new
      Status s = MoveObjects(graph, moves, &moved, &rekeyed);
      if (!s.ok()) return Status::InvalidArgument(fmt::format("{}: {}", source, s.message()));
      EditOptions filters = options;
      filters.renames.clear();
      TFCKPT_RETURN_IF_ERROR(NameMapper::Create(filters, &mapper));
      new_name = [&, rekeyed](const std::string& name) -> std::optional<std::string> {
        if (!mapper.Map(name, optimizer)) return std::nullopt;
        std::optional<std::string> attr = OwningAttribute(old_attrs, name);
        if (!attr || !rekeyed.count(*attr)) return name;
        return rekeyed.at(*attr) + name.substr(attr->size());
      };
      // Values the filters drop leave the moved graph too.
      std::map<std::string, std::string> old_of;
      for (const auto& [from, to] : rekeyed) old_of[to] = from;
      auto keep = [&](const std::string& key) -> std::optional<std::string> {
        auto it = old_of.find(key);
        if (it != old_of.end() && !mapper.Map(it->second, optimizer)) return std::nullopt;
        return key;
      };
      TFCKPT_RETURN_IF_ERROR(RewriteObjectGraph(moved, keep, &new_graph, &graph_changed));
      graph_changed = true;
      plan->notes.push_back("TF2 objects moved as renamed; every key follows the new object paths");
    } else {
      TFCKPT_RETURN_IF_ERROR(RewriteObjectGraph(graph, new_name, &new_graph, &graph_changed));
      if (graph_changed) {
        plan->notes.push_back("the TF2 object graph was rewritten to match the remaining keys");
      }
    }
    TFCKPT_RETURN_IF_ERROR(AttributeKeys(new_graph, &new_attrs));
  }

  std::map<std::string, std::string> taken;  // new name -> old name
  std::vector<std::string> clashes;
  int dropped = 0, renamed = 0, orphaned = 0;
  std::vector<std::pair<std::string, const TensorInfo*>> kept;
  for (const TensorInfo& t : ckpt.tensors()) {
    std::optional<std::string> to = new_name(t.name);
    if (!to) {
      dropped++;
      continue;
    }
    // A value of an object the new graph no longer holds (the slot of a dropped variable).
    if (graph_changed && &t != graph_info && OwningAttribute(old_attrs, t.name) &&
        !OwningAttribute(new_attrs, *to)) {
      orphaned++;
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
    if (t == graph_info && graph_changed) {
      p.action = PlannedTensor::Action::kReplace;
      p.replacement = std::make_shared<const std::string>(new_graph);
    }
    plan->tensors.push_back(std::move(p));
  }
  if (orphaned) {
    plan->notes.push_back(fmt::format(
        "{} value(s) of objects the object graph no longer holds (e.g. the optimizer slots of "
        "dropped variables) dropped with them",
        orphaned));
  }
  std::sort(plan->tensors.begin(), plan->tensors.end(),
            [](const PlannedTensor& a, const PlannedTensor& b) { return a.name < b.name; });
  plan->notes.push_back(fmt::format("{} tensor(s) kept ({} renamed), {} dropped", kept.size(),
                                    renamed, dropped + orphaned));
  return Status::OK();
}

}  // namespace tfckpt
