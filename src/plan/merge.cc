// PlanMerge: the union of several checkpoints, as MergeV2Checkpoints makes it, without its traps
// (inputs are kept unless --move; conflicts are reported, or resolved by choice; num_shards is the
// number of data files written).

#include <map>

#include <fmt/format.h>

#include "bundle/entry_codec.h"
#include "bundle/slices.h"
#include "plan/plan_util.h"

namespace tfckpt {

Status PlanMerge(const std::vector<std::string>& sources, const std::string& output,
                 const MergeOptions& options, Plan* plan) {
  plan->operation = "merge";
  plan->output = output;
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

  std::map<std::string, PlannedTensor> out;
  std::map<std::string, int> owner;  // which source a name was first taken from
  std::vector<std::string> conflicts;
  int dropped = 0;
  for (int s = 0; s < static_cast<int>(plan->sources.size()); s++) {
    for (const TensorInfo& t : plan->sources[s].ckpt->tensors()) {
      auto it = out.find(t.name);
      if (it == out.end()) {
        PlannedTensor p;
        p.name = t.name;
        p.dtype = t.dtype;
        p.shape = t.shape;
        p.pieces = PiecesOf(s, t);
        out.emplace(t.name, std::move(p));
        owner[t.name] = s;
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
      const std::string& first = plan->sources[owner[t.name]].label;
      conflicts.push_back(fmt::format("tensor '{}' is in both '{}' and '{}'", PrintableKey(t.name),
                                      first, plan->sources[s].label));
      dropped++;
      if (options.on_conflict == MergeOptions::OnConflict::kLast) {
        have.dtype = t.dtype;
        have.shape = t.shape;
        have.pieces = PiecesOf(s, t);
        owner[t.name] = s;
      }
    }
  }
  if (!conflicts.empty()) {
    if (options.on_conflict == MergeOptions::OnConflict::kError) {
      std::string hint =
          out.count("_CHECKPOINTABLE_OBJECT_GRAPH")
              ? " Several sources are TF2 object-based checkpoints: each has its own object graph "
                "and save_counter, so they cannot be merged by union."
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
    plan->notes.push_back(
        fmt::format("{} conflicting name(s) resolved with --on-conflict {}", conflicts.size(),
                    options.on_conflict == MergeOptions::OnConflict::kFirst ? "first" : "last"));
  }
  for (auto& [name, p] : out) plan->tensors.push_back(std::move(p));
  if (options.move) {
    plan->notes.push_back(
        "--move: the sources' data files are moved into the output and their .index files "
        "deleted");
  }
  return Status::OK();
}

}  // namespace tfckpt
