#include <sys/stat.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bundle/entry_codec.h"
#include "io/file_util.h"
#include "plan/object_graph.h"
#include "plan/plan_util.h"
#include "tfckpt/name_pattern.h"
#include "tfckpt/paths.h"

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

// An optimizer slot of the variable a single-name rename `from=to` renames, under its new name:
// TF1 "from/Adam" -> "to/Adam"; TF2 "P/.OPTIMIZER_SLOT/..." -> "P'/.OPTIMIZER_SLOT/..." where P
// and P' are the object paths of "P/.ATTRIBUTES/VARIABLE_VALUE" and its new key.
std::optional<std::string> SlotFollows(const std::string& name, const std::string& from,
                                       const std::string& to, const OptimizerFilter& optimizer) {
  if (optimizer.object_graph().empty()) {
    if (name.size() > from.size() && name.compare(0, from.size(), from) == 0 &&
        name[from.size()] == '/' && optimizer.IsOptimizer(name)) {
      return to + name.substr(from.size());
    }
    return std::nullopt;
  }
  static constexpr std::string_view kValue = kVariableValueSuffix;
  auto path_of = [](const std::string& key) -> std::optional<std::string> {
    if (key.size() <= kValue.size() ||
        key.compare(key.size() - kValue.size(), kValue.size(), kValue.data(), kValue.size()) != 0) {
      return std::nullopt;
    }
    return key.substr(0, key.size() - kValue.size());
  };
  std::optional<std::string> old_path = path_of(from), new_path = path_of(to);
  if (!old_path || !new_path) return std::nullopt;
  const std::string marker = *old_path + std::string(kSlotMarker);
  if (name.compare(0, marker.size(), marker) != 0) return std::nullopt;
  return *new_path + name.substr(old_path->size());
}

// Whether two tensors of one checkpoint hold the same value: same dtype and shape, and the same
// stored bytes (compared by CRC first, then byte for byte). Partitioned tensors never count as
// the same.
bool SameStoredValue(const Checkpoint& ckpt, const TensorInfo& a, const TensorInfo& b) {
  if (a.dtype != b.dtype || a.shape != b.shape || a.partitioned() || b.partitioned()) return false;
  if (a.location.size != b.location.size || a.location.masked_crc32c != b.location.masked_crc32c) {
    return false;
  }
  std::span<const uint8_t> x, y;
  std::shared_ptr<const void> hold_x, hold_y;
  if (!ckpt.RawBytes(a.location, &x, &hold_x).ok() ||
      !ckpt.RawBytes(b.location, &y, &hold_y).ok()) {
    return false;
  }
  return x.size() == y.size() && std::equal(x.begin(), x.end(), y.begin());
}

}  // namespace

std::string_view BlendMethodName(BlendMethod method) {
  switch (method) {
    case BlendMethod::kLinear:
      return "linear";
    case BlendMethod::kTaskArithmetic:
      return "task_arithmetic";
    case BlendMethod::kSlerp:
      return "slerp";
    case BlendMethod::kTies:
      return "ties";
    case BlendMethod::kDare:
      return "dare";
  }
  return "?";
}

std::span<const std::string_view> BlendMethodNames() {
  static constexpr std::string_view kNames[] = {"linear", "task_arithmetic", "slerp", "ties",
                                                "dare"};
  return kNames;
}

Status ParseBlendMethod(std::string_view text, BlendMethod* method) {
  for (BlendMethod m : {BlendMethod::kLinear, BlendMethod::kTaskArithmetic, BlendMethod::kSlerp,
                        BlendMethod::kTies, BlendMethod::kDare}) {
    if (BlendMethodName(m) == text) {
      *method = m;
      return Status::OK();
    }
  }
  return Status::InvalidArgument(
      fmt::format("method='{}': it must be {}", text, OneOf(BlendMethodNames(), "'")));
}

std::string_view OnConflictName(MergeOptions::OnConflict on_conflict) {
  switch (on_conflict) {
    case MergeOptions::OnConflict::kError:
      return "error";
    case MergeOptions::OnConflict::kFirst:
      return "first";
    case MergeOptions::OnConflict::kLast:
      return "last";
  }
  return "?";
}

std::span<const std::string_view> OnConflictNames() {
  static constexpr std::string_view kNames[] = {"error", "first", "last"};
  return kNames;
}

Status ParseOnConflict(std::string_view text, MergeOptions::OnConflict* on_conflict) {
  using C = MergeOptions::OnConflict;
  for (C c : {C::kError, C::kFirst, C::kLast}) {
    if (OnConflictName(c) == text) {
      *on_conflict = c;
      return Status::OK();
    }
  }
  return Status::InvalidArgument(
      fmt::format("on_conflict='{}': it must be {}", text, OneOf(OnConflictNames(), "'")));
}

std::string_view Tf2NamesName(Tf2Names names) {
  switch (names) {
    case Tf2Names::kAuto:
      return "auto";
    case Tf2Names::kKeys:
      return "keys";
    case Tf2Names::kFullNames:
      return "full";
  }
  return "?";
}

std::span<const std::string_view> Tf2NamesNames() {
  static constexpr std::string_view kNames[] = {"auto", "keys", "full"};
  return kNames;
}

Status ParseTf2Names(std::string_view text, Tf2Names* names) {
  for (Tf2Names n : {Tf2Names::kAuto, Tf2Names::kKeys, Tf2Names::kFullNames}) {
    if (Tf2NamesName(n) == text) {
      *names = n;
      return Status::OK();
    }
  }
  return Status::InvalidArgument(fmt::format(
      "tf2_names='{}': it must be '{}', '{}' (checkpoint keys) or '{}' (the variables' full "
      "names)",
      text, Tf2NamesName(Tf2Names::kAuto), Tf2NamesName(Tf2Names::kKeys),
      Tf2NamesName(Tf2Names::kFullNames)));
}

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
  if (action == Action::kAssemble || action == Action::kReslice || action == Action::kCompute) {
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
  // A SavedModel is named by its directory, a checkpoint by its prefix.
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

Status CheckOutputIsNotAnInput(const Plan& plan) {
  const std::string out = Canonical(plan.output_prefix());
  for (const PlanSource& src : plan.sources) {
    const Checkpoint& c = *src.ckpt;
    bool same = Canonical(c.prefix()) == out || SameFile(out + ".index", c.index_path());
    for (int i = 0; !same && i < c.num_shards(); i++) {
      same =
          SameFile(fmt::format("{}.data-{:05d}-of-{:05d}", out, i, c.num_shards()), c.data_path(i));
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
                 {"bytes_written", stats->bytes_written}};
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

// Optimizer state of TF1 name-based checkpoints: slots named after their variable, and the
// optimizers' own variables.
const NamePattern& Tf1OptimizerPattern() {
  static const NamePattern* pattern = [] {
    auto* p = new NamePattern();
    Status s = NamePattern::Compile(
        R"((^|/)(Adam|Adam_\d+|AdamW|AdamW_\d+|LazyAdam|LazyAdam_\d+|Momentum|RMSProp|RMSProp_\d+|)"
        R"(Adagrad|AdagradDA|AdagradDA_\d+|Adadelta|Adadelta_\d+|Ftrl|Ftrl_\d+|ProximalAdagrad|)"
        R"(ProximalGradientDescent|LAMB|LAMB_\d+|adam_m|adam_v|beta1_power|beta2_power)$|)"
        // Keras 3 optimizers' variables under their full names (adam/iteration,
        // adam/dense_kernel_momentum, ...), as convert --to-tf1 keys them.
        R"(^(adam|adamw|adamax|nadam|sgd|rmsprop|adagrad|adadelta|ftrl|lion|lamb|adafactor|)"
        R"(loss_scale_optimizer)(_\d+)?/)",
        "the optimizer pattern", p);
    (void)s;
    return p;
  }();
  return *pattern;
}

}  // namespace

Status NameView::FullNames(const Checkpoint& ckpt, const std::string& label, NameView* view) {
  *view = NameView();
  view->by_full_name_ = true;
  std::string graph;
  TFCKPT_RETURN_IF_ERROR(ReadObjectGraphBytes(ckpt, &graph));
  if (graph.empty()) return Status::OK();
  std::vector<std::pair<std::string, std::string>> names;
  TFCKPT_RETURN_IF_ERROR(FullNameKeys(graph, &names));
  std::set<std::string> named_keys;
  std::map<std::string, std::vector<const TensorInfo*>> tensors_of;
  for (const auto& [full, key] : names) {
    const TensorInfo* t = ckpt.Find(key);
    if (t == nullptr) continue;  // a value the object graph promises but the index lacks
    if (!named_keys.insert(key).second) continue;
    tensors_of[full].push_back(t);
    view->entries_.emplace_back(full, t);
  }
  for (const auto& [full, tensors] : tensors_of) {
    if (tensors.size() < 2) continue;
    bool copies = true;
    for (size_t i = 1; i < tensors.size() && copies; i++) {
      copies = SameStoredValue(ckpt, *tensors[0], *tensors[i]);
    }
    if (copies) continue;
    std::vector<std::string> keys;
    for (const TensorInfo* t : tensors) keys.push_back(t->name);
    view->ambiguous_[full] = fmt::format(
        "the full name '{}' belongs to {} tensors of {} ('{}') that hold different values, so it "
        "cannot say which one is meant; give the variables distinct names (tf.Variable(..., "
        "name=...)) and save "
        "again, or map them by key (transfer --tf2-names keys)",
        full, keys.size(), label, fmt::join(keys, "', '"));
  }
  std::stable_sort(view->entries_.begin(), view->entries_.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const TensorInfo& t : ckpt.tensors()) {
    if (!named_keys.count(t.name)) view->hidden_.push_back(&t);
  }
  return Status::OK();
}

NameView NameView::Keys(const std::vector<TensorInfo>& tensors,
                        const std::set<std::string>& hidden) {
  NameView view;
  for (const TensorInfo& t : tensors) {
    if (hidden.count(t.name)) {
      view.hidden_.push_back(&t);
    } else {
      view.entries_.emplace_back(t.name, &t);
    }
  }
  return view;
}

Status NameView::KeysOf(const Checkpoint& ckpt, NameView* view) {
  std::set<std::string> bookkeeping;
  TFCKPT_RETURN_IF_ERROR(BookkeepingKeys(ckpt, &bookkeeping));
  *view = Keys(ckpt.tensors(), bookkeeping);
  return Status::OK();
}

const TensorInfo* NameView::Find(std::string_view name) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const auto& e, std::string_view n) { return e.first < n; });
  return it != entries_.end() && it->first == name ? it->second : nullptr;
}

std::vector<const TensorInfo*> NameView::FindAll(std::string_view name) const {
  std::vector<const TensorInfo*> out;
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const auto& e, std::string_view n) { return e.first < n; });
  for (; it != entries_.end() && it->first == name; ++it) out.push_back(it->second);
  return out;
}

Status BookkeepingKeys(const Checkpoint& ckpt, std::set<std::string>* keys) {
  keys->clear();
  std::string graph;
  TFCKPT_RETURN_IF_ERROR(ReadObjectGraphBytes(ckpt, &graph));
  if (graph.empty()) return Status::OK();
  keys->insert(std::string(kObjectGraphKey));
  std::vector<std::string> counter;
  TFCKPT_RETURN_IF_ERROR(SaveCounterKeys(graph, &counter));
  keys->insert(counter.begin(), counter.end());
  return Status::OK();
}

std::string NameView::Ambiguity(const std::string& name) const {
  auto it = ambiguous_.find(name);
  return it == ambiguous_.end() ? "" : it->second;
}

Status OptimizerFilter::Create(const Checkpoint& ckpt, OptimizerFilter* out) {
  out->keys_.clear();
  TFCKPT_RETURN_IF_ERROR(ReadObjectGraphBytes(ckpt, &out->graph_));
  if (!out->graph_.empty()) TFCKPT_RETURN_IF_ERROR(OptimizerKeys(out->graph_, &out->keys_));
  return Status::OK();
}

bool OptimizerFilter::IsOptimizer(const std::string& name) const {
  if (name.find(kSlotMarker) != std::string::npos || keys_.count(name)) return true;
  return graph_.empty() && Tf1OptimizerPattern().Search(name);
}

Status NameMapper::Create(const EditOptions& options, NameMapper* out) {
  for (const auto& [from, to] : options.renames) {
    bool scope_from = !from.empty() && from.back() == '/';
    bool scope_to = !to.empty() && to.back() == '/';
    if (from.empty() || to.empty() || scope_from != scope_to) {
      return Status::InvalidArgument(fmt::format(
          "--rename {}={}: a scope maps to a scope ('scope/=other/', '/=scope/', 'scope/=/') and "
          "a name to a name ('a=b')",
          from, to));
    }
  }
  out->options_ = options;
  for (const std::string& p : options.keep) {
    TFCKPT_RETURN_IF_ERROR(NamePattern::Compile(p, "--keep", &out->keep_.emplace_back()));
  }
  for (const std::string& p : options.drop) {
    TFCKPT_RETURN_IF_ERROR(NamePattern::Compile(p, "--drop", &out->drop_.emplace_back()));
  }
  return Status::OK();
}

std::optional<std::string> NameMapper::Map(const std::string& name,
                                           const OptimizerFilter& optimizer) const {
  auto any = [&](const std::vector<NamePattern>& ps) {
    for (const NamePattern& p : ps) {
      if (p.Search(name)) return true;
    }
    return false;
  };
  if (name != kObjectGraphKey) {
    if (!keep_.empty() && !any(keep_)) return std::nullopt;
    if (any(drop_)) return std::nullopt;
    if (options_.strip_optimizer && optimizer.IsOptimizer(name)) return std::nullopt;
  }
  for (const auto& [from, to] : options_.renames) {
    if (from.back() == '/') {
      if (from == "/") return to == "/" ? name : to + name;
      if (name.rfind(from, 0) == 0) {
        std::string rest = name.substr(from.size());
        return to == "/" ? rest : to + rest;
      }
    } else if (name == from) {
      return to;
    } else if (std::optional<std::string> slot = SlotFollows(name, from, to, optimizer)) {
      return slot;
    }
  }
  return name;
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
