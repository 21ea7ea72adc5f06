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
namespace {

// The state of one PlanMerge: the sources' names, their TF2 object graphs, and the output
// tensors gathered so far with the conflicts met.
struct Merge {
  Merge(const MergeOptions& o, Plan* p) : options(o), plan(p) {}
  const MergeOptions& options;
  Plan* plan;
  int n = 0;                       // the number of sources
  std::vector<std::string> names;  // each source's name, "" when it has none

  // TF2 inputs: their object graphs, and whether the output needs a new one.
  std::vector<std::string> graphs;              // serialized; "" for a name-based source
  std::vector<std::set<std::string>> counters;  // each source's save_counter key(s)
  int object_based = 0, counter_source = -1, first_graph = -1;
  bool new_graph = false;

  struct Output {
    PlannedTensor tensor;
    int owner = 0;  // the source it was first taken from
  };
  std::map<std::string, Output> out;  // output tensors by name
  std::vector<std::string> conflicts;
  int dropped = 0;

  // The output key of source `s`'s key, or nullopt when it is left out.
  std::optional<std::string> OutputKey(int s, const std::string& key) const {
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
  }
};

// Opens every source, refusing one given twice.
Status OpenSources(const std::vector<std::string>& sources, Plan* plan) {
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
  return Status::OK();
}

// Takes the sources' names (one per source, possibly empty, or none at all): each a plain name
// that becomes a child of the root or a scope, and no two alike.
Status NameSources(Merge* m) {
  m->names = m->options.names;
  if (!m->names.empty() && static_cast<int>(m->names.size()) != m->n) {
    return Status::InvalidArgument("merge: give one name (possibly empty) per source");
  }
  m->names.resize(m->n);
  std::set<std::string> seen_names;
  for (int s = 0; s < m->n; s++) {
    const std::string& name = m->names[s];
    if (name.empty()) continue;
    if (name.find('/') != std::string::npos || name == kSaveCounterName ||
        name == kObjectGraphKey) {
      return Status::InvalidArgument(fmt::format(
          "'{}={}': a source's name becomes one child of the root (TF2) or one scope (TF1); use "
          "a plain name such as 'encoder', without '/', other than 'save_counter'",
          name, m->plan->sources[s].label));
    }
    if (!seen_names.insert(name).second) {
      return Status::InvalidArgument(
          fmt::format("the name '{}' is given to two sources; give each its own", name));
    }
  }
  return Status::OK();
}

// Reads the object graph and save_counter keys of every TF2 source; the output needs a new graph
// when several sources are object-based or one of them is named.
Status ReadGraphs(Merge* m) {
  m->graphs.resize(m->n);
  m->counters.resize(m->n);
  bool named_graph = false;
  for (int s = 0; s < m->n; s++) {
    TFCKPT_RETURN_IF_ERROR(ReadObjectGraphBytes(*m->plan->sources[s].ckpt, &m->graphs[s]));
    if (m->graphs[s].empty()) continue;
    m->object_based++;
    if (m->first_graph < 0) m->first_graph = s;
    named_graph = named_graph || !m->names[s].empty();
    TrackableGraph g;
    TFCKPT_RETURN_IF_ERROR(ParseTrackableGraph(m->graphs[s], &g));
    const std::vector<std::string> keys = SaveCounterKeys(g);
    m->counters[s].insert(keys.begin(), keys.end());
    if (m->counter_source < 0 && !keys.empty()) m->counter_source = s;
  }
  m->new_graph = m->object_based > 1 || named_graph;
  return Status::OK();
}

// The new object graph, as a `replace` tensor: each TF2 source's graph under its name (or side by
// side), with one save_counter.
Status PlanMergedGraph(Merge* m) {
  Plan* plan = m->plan;
  std::vector<GraphPart> parts;
  for (int s = 0; s < m->n; s++) {
    if (m->graphs[s].empty()) continue;
    GraphPart part;
    part.label = plan->sources[s].label;
    part.serialized = m->graphs[s];
    part.scope = m->names[s];
    part.key_map = [m, s](const std::string& key) { return m->OutputKey(s, key); };
    part.keep_save_counter = s == m->counter_source;
    parts.push_back(std::move(part));
  }
  std::string merged;
  TFCKPT_RETURN_IF_ERROR(MergeObjectGraphs(parts, &merged));
  PlannedTensor g;
  g.name = std::string(kObjectGraphKey);
  g.dtype = DType::kString;
  g.action = PlannedTensor::Action::kReplace;
  g.pieces = PiecesOf(m->first_graph, *plan->sources[m->first_graph].ckpt->Find(kObjectGraphKey));
  g.replacement = std::make_shared<const std::string>(std::move(merged));
  plan->tensors.push_back(std::move(g));
  int dropped_counters = 0;
  for (int s = 0; s < m->n; s++) {
    if (s != m->counter_source) dropped_counters += static_cast<int>(m->counters[s].size());
  }
  plan->notes.push_back(
      fmt::format("one TF2 object graph for {} object-based source(s){}", m->object_based,
                  m->counter_source < 0
                      ? std::string()
                      : fmt::format("; save_counter taken from '{}' ({} other(s) left out)",
                                    plan->sources[m->counter_source].label, dropped_counters)));
  return Status::OK();
}

// Whether `t` holds slices of the partitioned tensor `have` that none of its pieces holds: slices
// of one partitioned tensor spread over several sources combine into one entry.
bool Combinable(const PlannedTensor& have, const TensorInfo& t) {
  bool combinable = t.partitioned() && have.pieces[0].part != nullptr && have.dtype == t.dtype &&
                    have.shape == t.shape;
  for (size_t i = 0; combinable && i < have.pieces.size(); i++) {
    for (const SlicePart& part : t.slices) {
      if (SlicesIntersect(part.slice, have.pieces[i].part->slice, t.shape)) combinable = false;
    }
  }
  return combinable;
}

// Adds source `s`'s tensor `t` to the output under `key`: a new name, more slices of a
// partitioned tensor, or a conflict (which --on-conflict last resolves for `t`).
void AddTensor(Merge* m, int s, const std::string& key, const TensorInfo& t) {
  auto [it, added] = m->out.try_emplace(key);
  if (added) {
    PlannedTensor& p = it->second.tensor;
    p.name = key;
    p.dtype = t.dtype;
    p.shape = t.shape;
    p.pieces = PiecesOf(s, t);
    it->second.owner = s;
    return;
  }
  PlannedTensor& have = it->second.tensor;
  if (Combinable(have, t)) {
    for (const PieceSource& p : PiecesOf(s, t)) have.pieces.push_back(p);
    return;
  }
  const std::string& first = m->plan->sources[it->second.owner].label;
  m->conflicts.push_back(fmt::format("tensor '{}' is in both '{}' and '{}'", PrintableKey(key),
                                     first, m->plan->sources[s].label));
  m->dropped++;
  if (m->options.on_conflict == MergeOptions::OnConflict::kLast) {
    have.dtype = t.dtype;
    have.shape = t.shape;
    have.pieces = PiecesOf(s, t);
    it->second.owner = s;
  }
}

// Refuses the conflicts met unless --on-conflict chose a side without --move; else notes them.
Status ReportConflicts(const Merge& m) {
  if (m.conflicts.empty()) return Status::OK();
  const std::vector<std::string>& conflicts = m.conflicts;
  if (m.options.on_conflict == MergeOptions::OnConflict::kError) {
    std::string hint =
        m.object_based > 0
            ? " To keep sources apart, give each a name (`names`): each then goes under its own "
              "scope (TF1) or child of the root (TF2)."
            : "";
    return Status::InvalidArgument(fmt::format(
        "{} name{} present in more than one source:\n  {}\n{}Set `on_conflict` to first or "
        "last to choose which source wins, or drop or rename them first (`edit`).",
        conflicts.size(), conflicts.size() == 1 ? " is" : "s are", fmt::join(conflicts, "\n  "),
        hint.empty() ? "" : hint.substr(1) + "\n"));
  }
  if (m.options.move) {
    return Status::InvalidArgument(fmt::format(
        "moving the sources (`move`) consumes them, but {} tensor(s) would be lost to conflicts "
        "(first: {}); merge without `move`",
        m.dropped, conflicts[0]));
  }
  m.plan->notes.push_back(fmt::format("{} conflicting name(s) resolved with `on_conflict` {}",
                                      conflicts.size(), OnConflictName(m.options.on_conflict)));
  return Status::OK();
}

}  // namespace

static Status BuildMerge(const std::vector<std::string>& sources, const std::string& output,
                         const MergeOptions& options, Plan* plan) {
  plan->operation = "merge";
  SetPlanOutput(output, sources.empty() ? "" : sources[0], plan);
  plan->move_sources = options.move;
  if (sources.empty()) return Status::InvalidArgument("merge needs at least one source");
  TFCKPT_RETURN_IF_ERROR(OpenSources(sources, plan));
  TFCKPT_RETURN_IF_ERROR(CheckSources(plan));
  if (options.move) {
    for (const PlanSource& src : plan->sources) {
      if (!src.ckpt->values_as_stored()) {
        return Status::InvalidArgument(fmt::format(
            "moving the sources (`move`) moves their data files into the output, but '{}' is "
            "{}: its values are rewritten as a little-endian V2 bundle, not moved, so nothing "
            "would be saved and the original would be deleted; merge without `move` (and delete "
            "it yourself once the output is checked)",
            src.ckpt->prefix(),
            src.ckpt->format() == Checkpoint::Format::kTensorSliceV1 ? "a V1 checkpoint"
            : src.ckpt->format() == Checkpoint::Format::kKeras
                ? "a Keras file"
                : "a checkpoint written on a big-endian machine"));
      }
    }
  }
  Merge m(options, plan);
  m.n = static_cast<int>(plan->sources.size());
  TFCKPT_RETURN_IF_ERROR(NameSources(&m));
  TFCKPT_RETURN_IF_ERROR(ReadGraphs(&m));
  if (m.new_graph) TFCKPT_RETURN_IF_ERROR(PlanMergedGraph(&m));
  for (int s = 0; s < m.n; s++) {
    for (const TensorInfo& t : plan->sources[s].ckpt->tensors()) {
      if (std::optional<std::string> key = m.OutputKey(s, t.name)) AddTensor(&m, s, *key, t);
    }
  }
  TFCKPT_RETURN_IF_ERROR(ReportConflicts(m));
  plan->tensors.reserve(plan->tensors.size() + m.out.size());
  for (auto& [name, o] : m.out) plan->tensors.push_back(std::move(o.tensor));
  auto by_name = [](const PlannedTensor& a, const PlannedTensor& b) { return a.name < b.name; };
  if (!std::is_sorted(plan->tensors.begin(), plan->tensors.end(), by_name)) {  // (a new graph)
    std::sort(plan->tensors.begin(), plan->tensors.end(), by_name);
  }
  if (options.move) {
    plan->notes.push_back(
        "`move`: the sources' data files are moved into the output and their .index files "
        "deleted");
  }
  return Status::OK();
}

Status PlanMerge(const std::vector<std::string>& sources, const std::string& output,
                 const MergeOptions& options, Plan* plan) {
  TFCKPT_RETURN_IF_ERROR(BuildMerge(sources, output, options, plan));
  return CheckKerasOutput(plan);
}

}  // namespace tfckpt
