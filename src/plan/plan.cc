// The Plan's own code: its tensors' byte counts, the dry run (text and JSON), and what every plan
// builder shares (plan_util.h): opening inputs, naming the output, keeping it off the inputs,
// the pieces of a source tensor, and the check that several inputs have the same layout.

#include <sys/stat.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bundle/entry_codec.h"
#include "format/keras_writer.h"
#include "format/v1_files.h"
#include "io/file_util.h"
#include "plan/plan_util.h"
#include "tfckpt/paths.h"
#include "tfckpt/remote.h"
#include "tfckpt/version.h"

namespace tfckpt {
namespace {

// An absolute, symlink-free spelling of a path whose last component may not exist yet.
std::string Canonical(const std::string& path) {
  std::string dir = file::Dirname(path), base = file::Basename(path);
  char buf[PATH_MAX];
  if (::realpath(dir.c_str(), buf) != nullptr) return file::Join(buf, base);
  return path;
}

bool SameFile(const std::string& a, const std::string& b) {
  struct stat sa, sb;
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

}  // namespace

std::string_view ActionName(PlannedTensor::Action action) {
  switch (action) {
    case PlannedTensor::Action::kCopy:
      return "copy";
    case PlannedTensor::Action::kKeep:
      return "keep";
    case PlannedTensor::Action::kAssemble:
      return "assemble";
    case PlannedTensor::Action::kReslice:
      return "reslice";
    case PlannedTensor::Action::kReplace:
      return "replace";
    case PlannedTensor::Action::kCompute:
      return "compute";
  }
  return "?";
}

int64_t PlannedTensor::bytes() const {
  if (action == Action::kReplace) {  // a scalar string: varint length, length checksum, bytes
    int64_t n = replacement ? static_cast<int64_t>(replacement->size()) : 0;
    int64_t varint = 1;
    for (uint64_t v = static_cast<uint64_t>(n); v >= 0x80; v >>= 7) varint++;
    return varint + 4 + n;
  }
  if ((action == Action::kAssemble || action == Action::kReslice || action == Action::kCompute) &&
      IsFixedSize(dtype)) {
    return NumBytes(dtype, shape).value_or(0);
  }
  int64_t total = 0;
  for (const PieceSource& p : pieces) {
    total += p.part ? p.part->location.size : p.tensor->stored_bytes();
  }
  return total;
}

Status OpenPlanSource(const std::string& path, PlanSource* source) {
  source->label = path;
  std::unique_ptr<Checkpoint> ckpt;
  TFCKPT_RETURN_IF_ERROR(Checkpoint::Open(path, &ckpt));
  std::string dir = path;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (file::IsDirectory(dir) && file::Exists(file::Join(dir, "saved_model.pb"))) {
    source->saved_model_dir = dir;
  }
  source->ckpt = std::move(ckpt);
  return Status::OK();
}

std::vector<PieceSource> PiecesOf(int source, const TensorInfo& tensor) {
  std::vector<PieceSource> pieces;
  if (!tensor.partitioned()) {
    pieces.push_back({source, &tensor, nullptr});
  } else {
    for (const SlicePart& part : tensor.slices) pieces.push_back({source, &tensor, &part});
  }
  return pieces;
}

std::string SourceRef(const Plan& plan, const PieceSource& piece) {
  std::string ref =
      fmt::format("{} : {}", plan.sources[piece.source].label, PrintableKey(piece.tensor->name));
  if (piece.part) ref += "[" + piece.part->slice.ToString() + "]";
  return ref;
}

std::string Plan::output_prefix() const {
  return saved_model_from >= 0 ? file::Join(output, "variables/variables") : output;
}

void SetPlanOutput(const std::string& output, const std::string& named_after, Plan* plan) {
  plan->output = output;
  if (output.empty() || named_after.empty()) return;
  const bool slash = output.back() == '/';
  if (!slash && !file::IsDirectory(output)) return;
  if (!slash && plan->saved_model_from >= 0 && file::Exists(file::Join(output, "saved_model.pb"))) {
    return;
  }
  std::string prefix;
  if (!ResolveCheckpointPath(named_after, std::nullopt, &prefix).ok()) return;
  // A SavedModel is named by its directory, a checkpoint by its prefix (a sharded V1 one by the
  // prefix before its shard numbers).
  std::string base;
  int shards = 0;
  if (prefix.find('?') != std::string::npos && v1_files::SplitShardName(prefix, &base, &shards)) {
    prefix = base;
  }
  std::string name = file::Basename(prefix);
  if (name == "variables" && file::Basename(file::Dirname(prefix)) == "variables") {
    char buf[PATH_MAX];
    std::string dir = file::Dirname(file::Dirname(prefix));
    name = file::Basename(::realpath(dir.c_str(), buf) != nullptr ? std::string(buf) : dir);
  }
  if (name.empty() || name == "." || name == ".." || name == "/") return;
  plan->output = file::Join(output, name);
  plan->notes.push_back(fmt::format(
      "'{}' is a directory: the {} is written in it as '{}' (named after {})", output,
      plan->saved_model_from >= 0 ? "SavedModel" : "checkpoint", plan->output, named_after));
}

Status CheckSources(Plan* p) {
  const Plan& plan = *p;
  for (const PlanSource& src : plan.sources) {
    if (std::string why = src.ckpt->DescribeIncomplete(); !why.empty()) {
      p->notes.push_back(why + "; this plan can be shown but not carried out");
    }
  }
  if (plan.output.empty()) return Status::OK();
  TFCKPT_RETURN_IF_ERROR(CheckOutputAddress(plan.output));
  if (plan.move_sources && IsRemotePath(plan.output)) {
    return Status::Unsupported(fmt::format(
        "the sources' files cannot be moved into object storage ('{}'); copy them (drop `move`)",
        plan.output));
  }
  const std::string out = Canonical(plan.output_prefix());
  for (const PlanSource& src : plan.sources) {
    const Checkpoint& c = *src.ckpt;
    bool same = Canonical(c.prefix()) == out || SameFile(out + ".index", c.index_path());
    for (int i = 0; !same && i < c.num_shards(); i++) {
      same =
          SameFile(fmt::format("{}.data-{:05d}-of-{:05d}", out, i, c.num_shards()), c.data_path(i));
    }
    for (int i = 0; c.format() == Checkpoint::Format::kKeras && i < c.num_shards(); i++) {
      same = same || SameFile(plan.output, c.data_path(i));  // (every shard, and the map)
    }
    if (c.format() == Checkpoint::Format::kKeras) same = same || SameFile(plan.output, c.prefix());
    // (Sharded Keras weights: the output's shards are named "<base>_NNNNN.weights.h5".)
    for (int i = 0; keras::OutputKindOf(plan.output) == keras::OutputKind::kSharded &&
                    c.format() == Checkpoint::Format::kKeras && i < c.num_shards();
         i++) {
      same = same ||
             (keras::ShardIndex(plan.output, file::Basename(c.data_path(i))) >= 0 &&
              Canonical(file::Dirname(c.data_path(i))) == Canonical(file::Dirname(plan.output)));
    }
    if (!src.saved_model_dir.empty() && plan.saved_model_from >= 0 &&
        Canonical(plan.output) == Canonical(src.saved_model_dir)) {
      same = true;
    }
    if (same) {
      return Status::InvalidArgument(fmt::format(
          "the output '{}' is the input '{}'; tfckpt never writes over its inputs: choose another "
          "output",
          plan.output, src.label));
    }
  }
  return Status::OK();
}

Status KerasOutputLayout(const Plan& plan, keras::Output* out) {
  const PlanSource& src = plan.sources[static_cast<size_t>(plan.keras_template)];
  std::vector<keras::OutputTensor> tensors;
  for (const PlannedTensor& t : plan.tensors) {
    if (!t.out_slices.empty()) {
      return Status::Unsupported(
          fmt::format("'{}' would be written in slices, which a Keras file cannot hold", t.name));
    }
    tensors.push_back({t.name, t.dtype, t.shape, t.bytes()});
  }
  const keras::File& first = *src.ckpt->keras_file();
  // A merge of Keras 3 weights files whose layers differ: their trees joined.
  std::vector<const PlanSource*> others;
  for (const PlanSource& o : plan.sources) {
    if (&o != &src && o.ckpt->format() == Checkpoint::Format::kKeras) others.push_back(&o);
  }
  if (plan.operation != "merge" || others.empty()) {
    return keras::PlanOutput(first, src.label, plan.output, tensors, out);
  }
  const keras::OutputKind kind = keras::OutputKindOf(plan.output);
  if ((kind != keras::OutputKind::kWeightsH5 && kind != keras::OutputKind::kSharded) ||
      first.kind == keras::File::Kind::kLegacyH5) {
    return Status::Unsupported(fmt::format(
        "a merge of several Keras files is written as Keras 3 weights, a .weights.h5 or "
        ".weights.json ('{}' is neither): "
        "a .keras or legacy file describes one model; to put the layers of several files into "
        "one model, `transfer` them into a Keras file of that model (`into`)",
        plan.output));
  }
  keras::File joined = first;
  auto tree = std::make_shared<hdf5::Node>(*first.tree);
  std::set<std::string> paths;
  for (const keras::Variable& v : first.variables) paths.insert(v.dataset_path);
  for (const PlanSource* o : others) {
    const keras::File& f = *o->ckpt->keras_file();
    if (f.kind == keras::File::Kind::kLegacyH5) {
      return Status::Unsupported(fmt::format(
          "'{}' is a legacy Keras file: it cannot be merged into a Keras 3 .weights.h5", o->label));
    }
    for (const keras::Variable& v : f.variables) {
      if (!paths.insert(v.dataset_path).second) {
        if (std::none_of(joined.variables.begin(), joined.variables.end(),
                         [&](const keras::Variable& w) {
                           return w.dataset_path == v.dataset_path && w.name == v.name;
                         })) {
          return Status::InvalidArgument(fmt::format(
              "'{}' and '{}' both hold '{}' (as '{}' in the second): Keras files merge when their "
              "layers differ (leave the optimizer state out of all but one: `strip_optimizer`)",
              src.label, o->label, v.dataset_path, v.name));
        }
        continue;
      }
      joined.variables.push_back(v);
    }
    hdf5::JoinTrees(*f.tree, tree.get());
  }
  joined.tree = tree;
  std::sort(joined.variables.begin(), joined.variables.end(),
            [](const keras::Variable& a, const keras::Variable& b) { return a.name < b.name; });
  return keras::PlanOutput(joined, src.label, plan.output, tensors, out);
}

Status SetMaxShardBytes(Plan* plan, int64_t bytes) {
  const bool sharded = keras::OutputKindOf(plan->output) == keras::OutputKind::kSharded;
  if (bytes < 0) {
    return Status::InvalidArgument(fmt::format("a shard size of {} bytes is no size", bytes));
  }
  if (sharded && bytes == 0) {
    return Status::InvalidArgument(
        fmt::format("'{}' names sharded Keras weights: give the largest size of a shard "
                    "(`max_shard_size`), or name the output .weights.h5 for one file",
                    plan->output));
  }
  if (!sharded && bytes > 0) {
    return Status::InvalidArgument(fmt::format(
        "`max_shard_size` shapes sharded Keras weights (an output ending in .weights.json) and "
        "safetensors outputs of `convert`; '{}' is neither",
        plan->output));
  }
  plan->max_shard_bytes = bytes;
  if (sharded) {
    plan->notes.push_back(fmt::format(
        "the weights are written as .weights.h5 shards of at most {} bytes each (a larger tensor "
        "gets a shard of its own), named after '{}' beside it",
        bytes, file::Basename(plan->output)));
  }
  return Status::OK();
}

Status CheckKerasOutput(Plan* p) {
  Plan& plan = *p;
  const keras::OutputKind kind = keras::OutputKindOf(plan.output);
  if (kind == keras::OutputKind::kNone) return Status::OK();
  int from = -1;
  for (size_t i = 0; i < plan.sources.size() && from < 0; i++) {
    if (plan.sources[i].ckpt->format() == Checkpoint::Format::kKeras) from = static_cast<int>(i);
  }
  if (plan.saved_model_from >= 0) {
    return Status::Unsupported(fmt::format(
        "'{}' would be {}, but the plan writes a SavedModel (its model is one): give a Keras "
        "file as the model (`into`) to write a Keras file",
        plan.output, keras::OutputKindName(kind)));
  }
  if (from < 0) {
    return Status::Unsupported(fmt::format(
        "'{}' would be {}, which takes its layout from a Keras model, and no input is one: give "
        "a Keras file as the model (`into`) or as the first input, or name the output without "
        "its Keras extension to write a TensorFlow checkpoint",
        plan.output, keras::OutputKindName(kind)));
  }
  plan.keras_template = from;
  keras::Output out;
  const Status s = KerasOutputLayout(plan, &out);
  if (!s.ok()) {
    plan.keras_template = -1;
    return s;
  }
  const PlanSource& src = plan.sources[static_cast<size_t>(from)];
  const auto keras_inputs = std::count_if(
      plan.sources.begin(), plan.sources.end(),
      [](const PlanSource& o) { return o.ckpt->format() == Checkpoint::Format::kKeras; });
  const std::string layout = plan.operation == "merge" && keras_inputs > 1
                                 ? std::string("the merged files' layers")
                                 : fmt::format("'{}'", src.label);
  plan.notes.push_back(
      fmt::format("the output is {} laid out as {}{}", keras::OutputKindName(kind), layout,
                  out.optimizer_left_out ? ", without its optimizer state nor its compile "
                                           "configuration (Keras loads it uncompiled)"
                                         : ""));
  return Status::OK();
}

std::string Plan::Describe() const {
  int64_t total = 0;
  size_t name_w = 4;
  for (const PlannedTensor& t : tensors) {
    total += t.bytes();
    name_w = std::max(name_w, PrintableKey(t.name).size());
  }
  std::string out =
      fmt::format("{} -> {}: {} tensors, {} bytes\n", operation, output, tensors.size(), total);
  for (const PlannedTensor& t : tensors) {
    std::string from;
    if (t.action == PlannedTensor::Action::kReplace) {
      from = "(rewritten)";
    } else if (!t.pieces.empty()) {
      from = "<- " + SourceRef(*this, t.pieces[0]);
      if (t.pieces.size() > 1) {
        from += fmt::format(" (+{} more {})", t.pieces.size() - 1,
                            t.action == PlannedTensor::Action::kCompute ? "inputs" : "slices");
      }
    }
    out += fmt::format("  {:<{}}  {:<9} {:<12} {:>12}  {:<8} {}\n", PrintableKey(t.name), name_w,
                       DTypeName(t.dtype), ShapeToString(t.shape), t.bytes(), ActionName(t.action),
                       from);
  }
  for (const std::string& n : notes) out += "note: " + n + "\n";
  return out;
}

std::string Plan::DescribeJson(bool executed, const TransferStats* stats) const {
  using json = nlohmann::ordered_json;
  json j;
  j["schema_version"] = TFCKPT_JSON_SCHEMA_VERSION;
  j["operation"] = operation;
  j["output"] = output;
  j["dry_run"] = !executed;
  json srcs = json::array();
  for (const PlanSource& s : sources) {
    srcs.push_back({{"path", s.label}, {"prefix", s.ckpt->prefix()}});
  }
  j["sources"] = std::move(srcs);
  json ts = json::array();
  int64_t total = 0;
  for (const PlannedTensor& t : tensors) {
    json from = json::array();
    for (const PieceSource& p : t.pieces) {
      json f = {{"source", sources[p.source].label}, {"key", p.tensor->name}};
      if (p.part) f["slice"] = p.part->slice.ToString();
      from.push_back(std::move(f));
    }
    ts.push_back({{"name", t.name},
                  {"dtype", DTypeName(t.dtype)},
                  {"shape", t.shape},
                  {"bytes", t.bytes()},
                  {"action", ActionName(t.action)},
                  {"from", std::move(from)}});
    total += t.bytes();
  }
  j["tensors"] = std::move(ts);
  j["totals"] = {{"tensors", tensors.size()}, {"bytes", total}};
  j["notes"] = notes;
  if (stats) {
    j["data"] = {{"files_reflinked", stats->files_reflinked},
                 {"files_copied", stats->files_copied},
                 {"files_linked", stats->files_linked},
                 {"files_moved", stats->files_moved},
                 {"ranges_copied", stats->ranges_copied},
                 {"bytes_reflinked", stats->bytes_reflinked},
                 {"bytes_copied", stats->bytes_copied},
                 {"bytes_linked", stats->bytes_linked},
                 {"bytes_moved", stats->bytes_moved},
                 {"bytes_range_copied", stats->bytes_range_copied},
                 {"bytes_written", stats->bytes_written},
                 {"files_copied_in_store", stats->files_copied_in_store},
                 {"bytes_copied_in_store", stats->bytes_copied_in_store},
                 {"ranges_copied_in_store", stats->ranges_copied_in_store},
                 {"bytes_range_copied_in_store", stats->bytes_range_copied_in_store}};
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Status CheckSameLayout(const Plan& plan, const std::vector<int>& inputs,
                       const std::function<bool(const std::string&)>& skip) {
  std::vector<std::string> problems;
  const Checkpoint& first = *plan.sources[inputs[0]].ckpt;
  const std::string& first_label = plan.sources[inputs[0]].label;
  for (size_t k = 1; k < inputs.size(); k++) {
    const Checkpoint& other = *plan.sources[inputs[k]].ckpt;
    const std::string& label = plan.sources[inputs[k]].label;
    for (const TensorInfo& t : first.tensors()) {
      if (skip(t.name)) continue;
      const TensorInfo* o = other.Find(t.name);
      if (o == nullptr) {
        problems.push_back(fmt::format("tensor '{}' is in '{}' but not in '{}'",
                                       PrintableKey(t.name), first_label, label));
      } else if (o->dtype != t.dtype || o->shape != t.shape) {
        problems.push_back(fmt::format("tensor '{}' is {} {} in '{}' but {} {} in '{}'",
                                       PrintableKey(t.name), DTypeName(t.dtype),
                                       ShapeToString(t.shape), first_label, DTypeName(o->dtype),
                                       ShapeToString(o->shape), label));
      }
    }
    for (const TensorInfo& o : other.tensors()) {
      if (!skip(o.name) && first.Find(o.name) == nullptr) {
        problems.push_back(fmt::format("tensor '{}' is in '{}' but not in '{}'",
                                       PrintableKey(o.name), label, first_label));
      }
    }
  }
  if (problems.empty()) return Status::OK();
  return Status::InvalidArgument(fmt::format(
      "the inputs do not have the same tensors ({} problem{}); nothing was written:\n  {}",
      problems.size(), problems.size() == 1 ? "" : "s", fmt::join(problems, "\n  ")));
}

}  // namespace tfckpt
