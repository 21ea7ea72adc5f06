// PlanEdit: rename, filter and strip optimizer state from one checkpoint, keeping a TF2 object
// graph consistent with the keys that remain.

#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "bundle/entry_codec.h"
#include "plan/object_graph.h"
#include "plan/plan_util.h"
#include "tfckpt/name_pattern.h"

namespace tfckpt {

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
  auto new_name = [&](const std::string& name) { return mapper.Map(name, optimizer); };

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
      TFCKPT_RETURN_IF_ERROR(RewriteObjectGraph(graph, new_name, &rewritten, &changed));
      if (changed) {
        p.action = PlannedTensor::Action::kReplace;
        p.replacement = std::make_shared<const std::string>(std::move(rewritten));
        plan->notes.push_back("the TF2 object graph was rewritten to match the remaining keys");
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
