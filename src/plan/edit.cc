// PlanEdit: rename, filter and strip optimizer state from one checkpoint, keeping a TF2 object
// graph consistent with the keys that remain.

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "bundle/entry_codec.h"
#include "plan/name_mapper.h"
#include "plan/object_graph.h"
#include "plan/optimizer_filter.h"
#include "plan/plan_util.h"

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
        "the rename {}={} (`renames`): in a TF2 checkpoint a rename moves an object (with its "
        "values and "
        "optimizer slots); give object paths (model/dense/=model/encoder/) or two value keys "
        "(model/w/.ATTRIBUTES/VARIABLE_VALUE=model/kernel/.ATTRIBUTES/VARIABLE_VALUE)",
        from, to));
  }
  return Status::OK();
}

// The state of one PlanEdit: the name rules, a TF2 checkpoint's old and new object graph, and the
// tensors kept with the counts the notes give.
struct Edit {
  NameMapper mapper;
  OptimizerFilter optimizer;
  // New name of every key, or nullopt when it is dropped.
  std::function<std::optional<std::string>(const std::string&)> new_name;
  std::string new_graph;
  bool graph_changed = false;
  std::set<std::string> old_attrs, new_attrs;  // the attribute keys of the old and new graph
  std::vector<std::pair<std::string, const TensorInfo*>> kept;  // (new name, tensor)
  int dropped = 0, renamed = 0, orphaned = 0;
};

// TF2 renames as object moves: the graph with the objects moved, every key following the new
// object paths; values the filters drop leave the moved graph too.
Status MoveRenamedObjects(const std::string& source, const EditOptions& options, Edit* e,
                          Plan* plan) {
  std::vector<std::pair<std::string, std::string>> moves;
  for (const auto& [from, to] : options.renames) {
    std::string a, b;
    TFCKPT_RETURN_IF_ERROR(ObjectRename(from, to, &a, &b));
    moves.emplace_back(a, b);
  }
  std::string moved;
  std::map<std::string, std::string> rekeyed;  // old attribute key -> new
  Status s = MoveObjects(e->optimizer.object_graph(), moves, &moved, &rekeyed);
  if (!s.ok()) return Status::InvalidArgument(fmt::format("{}: {}", source, s.message()));
  EditOptions filters = options;
  filters.renames.clear();
  TFCKPT_RETURN_IF_ERROR(NameMapper::Create(filters, &e->mapper));
  e->new_name = [e, rekeyed](const std::string& name) -> std::optional<std::string> {
    if (!e->mapper.Map(name, e->optimizer)) return std::nullopt;
    std::optional<std::string> attr = OwningAttribute(e->old_attrs, name);
    if (!attr || !rekeyed.count(*attr)) return name;
    return rekeyed.at(*attr) + name.substr(attr->size());
  };
  // Values the filters drop leave the moved graph too.
  std::map<std::string, std::string> old_of;
  for (const auto& [from, to] : rekeyed) old_of[to] = from;
  auto keep = [&](const std::string& key) -> std::optional<std::string> {
    auto it = old_of.find(key);
    if (it != old_of.end() && !e->mapper.Map(it->second, e->optimizer)) return std::nullopt;
    return key;
  };
  TFCKPT_RETURN_IF_ERROR(RewriteObjectGraph(moved, keep, &e->new_graph, &e->graph_changed));
  e->graph_changed = true;
  plan->notes.push_back("TF2 objects moved as renamed; every key follows the new object paths");
  return Status::OK();
}

// A TF2 checkpoint gets a new object graph: renames move objects (and every key follows the new
// structure), dropped values leave it, and so do the objects left empty with their slots.
Status RewriteGraph(const std::string& source, const EditOptions& options, Edit* e, Plan* plan) {
  TrackableGraph g;
  TFCKPT_RETURN_IF_ERROR(ParseTrackableGraph(e->optimizer.object_graph(), &g));
  e->old_attrs = AttributeKeys(g);
  if (!options.renames.empty()) {
    TFCKPT_RETURN_IF_ERROR(MoveRenamedObjects(source, options, e, plan));
  } else {
    TFCKPT_RETURN_IF_ERROR(RewriteObjectGraph(e->optimizer.object_graph(), e->new_name,
                                              &e->new_graph, &e->graph_changed));
    if (e->graph_changed) {
      plan->notes.push_back("the TF2 object graph was rewritten to match the remaining keys");
    }
  }
  TFCKPT_RETURN_IF_ERROR(ParseTrackableGraph(e->new_graph, &g));
  e->new_attrs = AttributeKeys(g);
  return Status::OK();
}

// Gives every tensor its new name, or drops it (also the values of objects the new graph no longer
// holds); refuses, all together, names that would be empty or taken twice.
Status RenameTensors(const Checkpoint& ckpt, const TensorInfo* graph_info, Edit* e) {
  std::map<std::string, std::string> taken;  // new name -> old name
  std::vector<std::string> clashes;
  for (const TensorInfo& t : ckpt.tensors()) {
    std::optional<std::string> to = e->new_name(t.name);
    if (!to) {
      e->dropped++;
      continue;
    }
    // A value of an object the new graph no longer holds (the slot of a dropped variable).
    if (e->graph_changed && &t != graph_info && OwningAttribute(e->old_attrs, t.name) &&
        !OwningAttribute(e->new_attrs, *to)) {
      e->orphaned++;
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
    if (*to != t.name) e->renamed++;
    e->kept.emplace_back(*to, &t);
  }
  if (!clashes.empty()) {
    return Status::InvalidArgument(
        fmt::format("the renames clash; nothing was written:\n  {}", fmt::join(clashes, "\n  ")));
  }
  return Status::OK();
}

// The output: every kept tensor under its new name (the object graph replaced when it changed),
// sorted, with the notes.
void PlanKept(const Edit& e, const TensorInfo* graph_info, Plan* plan) {
  for (const auto& [name, t] : e.kept) {
    PlannedTensor p;
    p.name = name;
    p.dtype = t->dtype;
    p.shape = t->shape;
    p.pieces = PiecesOf(0, *t);
    if (t == graph_info && e.graph_changed) {
      p.action = PlannedTensor::Action::kReplace;
      p.replacement = std::make_shared<const std::string>(e.new_graph);
    }
    plan->tensors.push_back(std::move(p));
  }
  if (e.orphaned) {
    plan->notes.push_back(fmt::format(
        "{} value(s) of objects the object graph no longer holds (e.g. the optimizer slots of "
        "dropped variables) dropped with them",
        e.orphaned));
  }
  std::sort(plan->tensors.begin(), plan->tensors.end(),
            [](const PlannedTensor& a, const PlannedTensor& b) { return a.name < b.name; });
  plan->notes.push_back(fmt::format("{} tensor(s) kept ({} renamed), {} dropped", e.kept.size(),
                                    e.renamed, e.dropped + e.orphaned));
}

}  // namespace

static Status BuildEdit(const std::string& source, const std::string& output,
                        const EditOptions& options, Plan* plan) {
  plan->operation = "edit";
  SetPlanOutput(output, source, plan);
  Edit e;
  TFCKPT_RETURN_IF_ERROR(NameMapper::Create(options, &e.mapper));
  PlanSource src;
  TFCKPT_RETURN_IF_ERROR(OpenPlanSource(source, &src));
  plan->sources.push_back(std::move(src));
  TFCKPT_RETURN_IF_ERROR(CheckSources(plan));
  const Checkpoint& ckpt = *plan->sources[0].ckpt;

  TFCKPT_RETURN_IF_ERROR(OptimizerFilter::Create(ckpt, &e.optimizer));
  const bool tf2 = !e.optimizer.object_graph().empty();
  const TensorInfo* graph_info = tf2 ? ckpt.Find(kObjectGraphKey) : nullptr;
  e.new_name = [&e](const std::string& name) { return e.mapper.Map(name, e.optimizer); };
  if (tf2) TFCKPT_RETURN_IF_ERROR(RewriteGraph(source, options, &e, plan));
  TFCKPT_RETURN_IF_ERROR(RenameTensors(ckpt, graph_info, &e));
  PlanKept(e, graph_info, plan);
  return Status::OK();
}

Status PlanEdit(const std::string& source, const std::string& output, const EditOptions& options,
                Plan* plan) {
  TFCKPT_RETURN_IF_ERROR(BuildEdit(source, output, options, plan));
  return CheckKerasOutput(plan);
}

}  // namespace tfckpt
