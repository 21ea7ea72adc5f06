// PlanMerge: the union of several checkpoints, as MergeV2Checkpoints makes it, without its traps
// (inputs are kept unless --move; conflicts are reported, or resolved by choice; num_shards is the
// number of data files written). TF2 object-based inputs get one object graph: each named source
// under its own child of the root, unnamed ones side by side, with a single save_counter.

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "bundle/entry_codec.h"
#include "bundle/slices.h"
#include "plan/object_graph.h"
#include "plan/plan_util.h"

namespace tfckpt {

Status PlanMerge(const std::vector<std::string>& sources, const std::string& output,
                 const MergeOptions& options, Plan* plan) {
  plan->operation = "merge";
  SetPlanOutput(output, sources.empty() ? "" : sources[0], plan);
  plan->move_sources = options.move;
  if (sources.empty()) return Status::InvalidArgument("merge needs at least one source");
  for (const std::string& path : sources) {
    PlanSource src;
    TFCKPT_RETURN_IF_ERROR(OpenPlanSource(path, &src));
    for (const PlanSource& other : plan->sources) {
      if (other.ckpt->prefix() == src.ckpt->prefix()) {
        return Status::InvalidArgument(fmt::format(
            "'{}' and '{}' are the same checkpoint; give each source once", other.label, path));
      }
    }
    plan->sources.push_back(std::move(src));
  }
  TFCKPT_RETURN_IF_ERROR(CheckOutputIsNotAnInput(*plan));
  const int n = static_cast<int>(plan->sources.size());
  std::vector<std::string> names = options.names;
  if (!names.empty() && static_cast<int>(names.size()) != n) {
    return Status::InvalidArgument("merge: give one name (possibly empty) per source");
  }
  names.resize(n);
  std::set<std::string> seen_names;
  for (int s = 0; s < n; s++) {
    const std::string& name = names[s];
    if (name.empty()) continue;
    if (name.find('/') != std::string::npos || name == kSaveCounterName ||
        name == kObjectGraphKey) {
      return Status::InvalidArgument(fmt::format(
          "'{}={}': a source's name becomes one child of the root (TF2) or one scope (TF1); use "
          "a plain name such as 'encoder', without '/', other than 'save_counter'",
          name, plan->sources[s].label));
    }
    if (!seen_names.insert(name).second) {
      return Status::InvalidArgument(
          fmt::format("the name '{}' is given to two sources; give each its own", name));
    }
  }

  // TF2 inputs: their object graphs, and whether the output needs a new one.
  std::vector<std::string> graphs(n);
  std::vector<std::set<std::string>> counters(n);
  int object_based = 0, counter_source = -1, first_graph = -1;
  bool named_graph = false;
  for (int s = 0; s < n; s++) {
    TFCKPT_RETURN_IF_ERROR(ReadObjectGraphBytes(*plan->sources[s].ckpt, &graphs[s]));
    if (graphs[s].empty()) continue;
    object_based++;
    if (first_graph < 0) first_graph = s;
    named_graph = named_graph || !names[s].empty();
    std::vector<std::string> keys;
    TFCKPT_RETURN_IF_ERROR(SaveCounterKeys(graphs[s], &keys));
    counters[s].insert(keys.begin(), keys.end());
    if (counter_source < 0 && !keys.empty()) counter_source = s;
  }
  const bool new_graph = object_based > 1 || named_graph;
  // The output key of each input key, or nullopt when it is left out.
  auto output_key = [&](int s, const std::string& key) -> std::optional<std::string> {
    if (new_graph && !graphs[s].empty()) {
      if (key == kObjectGraphKey) return std::nullopt;
      if (counters[s].count(key)) {
        if (s == counter_source) return key;
        return std::nullopt;
      }
    }
    if (names[s].empty()) return key;
    if (!graphs[s].empty()) return ScopeObjectKey(names[s], key);
    return names[s] + "/" + key;
  };
  if (new_graph) {
    std::vector<GraphPart> parts;
    for (int s = 0; s < n; s++) {
      if (graphs[s].empty()) continue;
      GraphPart part;
      part.label = plan->sources[s].label;
      part.serialized = graphs[s];
      part.scope = names[s];
      part.key_map = [&output_key, s](const std::string& key) { return output_key(s, key); };
      part.keep_save_counter = s == counter_source;
      parts.push_back(std::move(part));
    }
    std::string merged;
    TFCKPT_RETURN_IF_ERROR(MergeObjectGraphs(parts, &merged));
    PlannedTensor g;
    g.name = std::string(kObjectGraphKey);
    g.dtype = DType::kString;
    g.action = PlannedTensor::Action::kReplace;
    g.pieces = PiecesOf(first_graph, *plan->sources[first_graph].ckpt->Find(kObjectGraphKey));
    g.replacement = std::make_shared<const std::string>(std::move(merged));
    plan->tensors.push_back(std::move(g));
    int dropped_counters = 0;
    for (int s = 0; s < n; s++) {
      if (s != counter_source) dropped_counters += static_cast<int>(counters[s].size());
    }
    plan->notes.push_back(fmt::format(
        "one TF2 object graph for {} object-based source(s){}", object_based,
        counter_source < 0 ? std::string()
                           : fmt::format("; save_counter taken from '{}' ({} other(s) left out)",
                                         plan->sources[counter_source].label, dropped_counters)));
  }

  std::map<std::string, PlannedTensor> out;
  std::map<std::string, int> owner;  // which source a name was first taken from
  std::vector<std::string> conflicts;
  int dropped = 0;
  for (int s = 0; s < n; s++) {
    for (const TensorInfo& t : plan->sources[s].ckpt->tensors()) {
      std::optional<std::string> key = output_key(s, t.name);
      if (!key) continue;
      auto it = out.find(*key);
      if (it == out.end()) {
        PlannedTensor p;
        p.name = *key;
        p.dtype = t.dtype;
        p.shape = t.shape;
        p.pieces = PiecesOf(s, t);
        out.emplace(*key, std::move(p));
        owner[*key] = s;
        continue;
      }
      PlannedTensor& have = it->second;
      // Slices of one partitioned tensor spread over several sources combine into one entry.
      bool combinable = t.partitioned() && have.pieces[0].part != nullptr &&
                        have.dtype == t.dtype && have.shape == t.shape;
      for (size_t i = 0; combinable && i < have.pieces.size(); i++) {
        for (const SlicePart& part : t.slices) {
          if (SlicesIntersect(part.slice, have.pieces[i].part->slice, t.shape)) combinable = false;
        }
      }
      if (combinable) {
        for (const PieceSource& p : PiecesOf(s, t)) have.pieces.push_back(p);
        continue;
      }
      const std::string& first = plan->sources[owner[*key]].label;
      conflicts.push_back(fmt::format("tensor '{}' is in both '{}' and '{}'", PrintableKey(*key),
                                      first, plan->sources[s].label));
      dropped++;
      if (options.on_conflict == MergeOptions::OnConflict::kLast) {
        have.dtype = t.dtype;
        have.shape = t.shape;
        have.pieces = PiecesOf(s, t);
        owner[*key] = s;
      }
    }
  }
  if (!conflicts.empty()) {
    if (options.on_conflict == MergeOptions::OnConflict::kError) {
      std::string hint =
          object_based > 0
              ? " To keep sources apart, name them: `tfckpt merge a=SRC1 b=SRC2 -o OUT` puts "
                "each under its own scope (TF1) or child of the root (TF2)."
              : "";
      return Status::InvalidArgument(fmt::format(
          "{} name{} present in more than one source:\n  {}\n{}Pass --on-conflict first or "
          "--on-conflict last to choose which source wins, or drop or rename them first with "
          "`tfckpt edit`.",
          conflicts.size(), conflicts.size() == 1 ? " is" : "s are", fmt::join(conflicts, "\n  "),
          hint.empty() ? "" : hint.substr(1) + "\n"));
    }
    if (options.move) {
      return Status::InvalidArgument(fmt::format(
          "--move consumes the sources, but {} tensor(s) would be lost to conflicts (first: {}); "
          "merge without --move",
          dropped, conflicts[0]));
    }
    plan->notes.push_back(fmt::format("{} conflicting name(s) resolved with --on-conflict {}",
                                      conflicts.size(), OnConflictName(options.on_conflict)));
  }
  for (auto& [name, p] : out) plan->tensors.push_back(std::move(p));
  std::sort(plan->tensors.begin(), plan->tensors.end(),
            [](const PlannedTensor& a, const PlannedTensor& b) { return a.name < b.name; });
  if (options.move) {
    plan->notes.push_back(
        "--move: the sources' data files are moved into the output and their .index files "
        "deleted");
  }
  return Status::OK();
}

}  // namespace tfckpt
