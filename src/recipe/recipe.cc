#include "tfckpt/recipe.h"

#include <yaml-cpp/yaml.h>

#include <unistd.h>

#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>

#include "io/file_util.h"
#include "tfckpt/convert.h"
#include "tfckpt/paths.h"

namespace tfckpt {
namespace {

// A recipe being read: knows its file, to point errors at lines.
class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)), dir_(file::Dirname(path_)) {}

  Status Error(const YAML::Node& node, const std::string& message) const {
    const YAML::Mark mark = node.Mark();
    if (mark.line < 0) return Status::InvalidArgument(fmt::format("{}: {}", path_, message));
    return Status::InvalidArgument(fmt::format("{}:{}: {}", path_, mark.line + 1, message));
  }

  // Rejects keys outside `allowed`.
  Status Keys(const YAML::Node& map, const std::set<std::string>& allowed,
              const std::string& what) const {
    if (!map.IsMap())
      return Error(map, fmt::format("{} must be a mapping of keys to values", what));
    for (const auto& kv : map) {
      if (!kv.first.IsScalar())
        return Error(kv.first, fmt::format("a key in {} is not a name", what));
      std::string key = kv.first.as<std::string>();
      if (!allowed.count(key)) {
        return Error(kv.first, fmt::format("unknown key '{}' in {} (expected one of: {})", key,
                                           what, fmt::join(allowed, ", ")));
      }
    }
    return Status::OK();
  }

  template <typename T>
  Status Scalar(const YAML::Node& node, const std::string& what, T* out) const {
    if (!node.IsScalar()) return Error(node, fmt::format("{} must be a single value", what));
    try {
      *out = node.as<T>();
    } catch (const YAML::Exception&) {
      return Error(node, fmt::format("{} has the wrong type ('{}')", what, node.Scalar()));
    }
    return Status::OK();
  }

  Status Numbers(const YAML::Node& node, const std::string& what, std::vector<double>* out) const {
    if (!node.IsSequence()) return Error(node, fmt::format("{} must be a list of numbers", what));
    out->clear();
    for (const auto& item : node) {
      double v = 0;
      TFCKPT_RETURN_IF_ERROR(Scalar(item, what, &v));
      out->push_back(v);
    }
    return Status::OK();
  }

  Status Strings(const YAML::Node& node, const std::string& what,
                 std::vector<std::string>* out) const {
    if (!node.IsSequence()) return Error(node, fmt::format("{} must be a list", what));
    out->clear();
    for (const auto& item : node) {
      std::string v;
      TFCKPT_RETURN_IF_ERROR(Scalar(item, what, &v));
      out->push_back(v);
    }
    return Status::OK();
  }

  // Ordered (key, value) string pairs from a mapping, or from a list of one-key mappings.
  Status Pairs(const YAML::Node& node, const std::string& what,
               std::vector<std::pair<std::string, std::string>>* out) const {
    auto add = [&](const YAML::Node& map) -> Status {
      for (const auto& kv : map) {
        std::string k, v;
        TFCKPT_RETURN_IF_ERROR(Scalar(kv.first, what, &k));
        TFCKPT_RETURN_IF_ERROR(Scalar(kv.second, what, &v));
        out->emplace_back(k, v);
      }
      return Status::OK();
    };
    if (node.IsMap()) return add(node);
    if (node.IsSequence()) {
      for (const auto& item : node) {
        if (!item.IsMap()) return Error(item, fmt::format("{} entries must be OLD: NEW", what));
        TFCKPT_RETURN_IF_ERROR(add(item));
      }
      return Status::OK();
    }
    return Error(node, fmt::format("{} must be a mapping of names", what));
  }

  // A path written in the recipe, relative to its directory.
  std::string Path(const std::string& p) const {
    return p.empty() || p[0] == '/' ? p : file::Join(dir_, p);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string dir_;
};

// The keys each kind of step takes.
const std::map<std::string, std::set<std::string>>& StepKeys() {
  static const auto* keys = new std::map<std::string, std::set<std::string>>{
      {"merge", {"sources", "on_conflict", "move"}},
      {"transfer", {"into", "from", "tf2_names", "include_optimizer"}},
      {"edit", {"source", "rename", "keep", "drop", "strip_optimizer"}},
      {"average",
       {"sources", "last", "weights", "normalize", "take_nonfloat_from", "keep_optimizer"}},
      {"blend",
       {"method", "base", "models", "weights", "lambda", "t", "density", "p", "seed", "normalize",
        "keep_optimizer", "per_tensor"}},
  };
  return *keys;
}

struct Step {
  std::string op;
  std::string name;
  YAML::Node body;
  YAML::Node node;
};

// Whether a path names something a checkpoint can be opened from (a prefix, a file, a directory,
// or a directory with an "@step" suffix).
bool Present(const std::string& path) {
  std::string resolved;  // (also V1 names: a shard pattern, the prefix before the shards)
  if (file::Exists(path) || file::Exists(path + ".index") ||
      ResolveCheckpointPath(path, std::nullopt, &resolved).ok()) {
    return true;
  }
  size_t at = path.rfind('@');
  return at != std::string::npos && file::IsDirectory(path.substr(0, at));
}

// Turns references into paths: an input's name, an earlier step's name, or a path.
struct Refs {
  const Reader* reader;
  std::map<std::string, std::string> inputs;        // name -> path
  std::map<std::string, std::string> step_outputs;  // name -> path
  std::string previous;                             // the previous step's output
  std::map<std::string, size_t> later;              // name -> step number, of steps not yet read

  Status Resolve(const YAML::Node& node, const std::string& what, std::string* path) const {
    std::string ref;
    TFCKPT_RETURN_IF_ERROR(reader->Scalar(node, what, &ref));
    if (auto it = inputs.find(ref); it != inputs.end()) {
      *path = it->second;
    } else if (auto st = step_outputs.find(ref); st != step_outputs.end()) {
      *path = st->second;
    } else if (Present(reader->Path(ref))) {
      *path = reader->Path(ref);
    } else if (auto lt = later.find(ref); lt != later.end()) {
      return reader->Error(node, fmt::format("'{}' is the name of a later step (step {}); a step "
                                             "can use the inputs and the results of earlier steps",
                                             ref, lt->second));
    } else if (ref.find('/') != std::string::npos) {
      return reader->Error(node, fmt::format("no checkpoint at '{}' (relative paths are relative "
                                             "to the recipe's directory){}",
                                             reader->Path(ref), file::WindowsPathHint(ref)));
    } else {
      return reader->Error(node, fmt::format("'{}' is neither an input, an earlier step's name, "
                                             "nor an existing path{}",
                                             ref, file::WindowsPathHint(ref)));
    }
    return Status::OK();
  }
  Status List(const YAML::Node& node, const std::string& what,
              std::vector<std::string>* paths) const {
    if (!node.IsSequence()) return reader->Error(node, fmt::format("{} must be a list", what));
    paths->clear();
    for (const auto& item : node) {
      std::string p;
      TFCKPT_RETURN_IF_ERROR(Resolve(item, what, &p));
      paths->push_back(p);
    }
    return Status::OK();
  }
  // Whether `path` is the result of an earlier step (which exists only once that step ran).
  bool Produced(const std::string& path) const {
    if (path == previous) return true;
    for (const auto& [name, out] : step_outputs) {
      if (out == path) return true;
    }
    return false;
  }
  // The step's single input: `key` if present, else the previous step's output.
  Status InputOr(const YAML::Node& body, const std::string& key, const YAML::Node& step,
                 std::string* path) const {
    if (body[key]) return Resolve(body[key], key, path);
    if (previous.empty()) {
      return reader->Error(step,
                           fmt::format("this step needs '{}' (there is no previous step)", key));
    }
    *path = previous;
    return Status::OK();
  }
};

// Builds a step's plan for the output it is given, once the inputs it reads exist.
using Planner = std::function<Status(const std::string& output, Plan* plan)>;

// A merge step: sources (a list, or {name: source} for named sources) and on_conflict.
Status ParseMerge(const Reader& r, const Refs& refs, const YAML::Node& b, Planner* planner) {
  TFCKPT_RETURN_IF_ERROR(r.Keys(b, {"sources", "on_conflict", "move"}, "a merge step"));
  if (!b["sources"]) return r.Error(b, "a merge step needs 'sources'");
  std::vector<std::string> sources;
  MergeOptions mo;
  if (b["sources"].IsMap()) {  // {name: source, ...}: each under its own name
    for (const auto& kv : b["sources"]) {
      std::string name, path;
      TFCKPT_RETURN_IF_ERROR(r.Scalar(kv.first, "a source's name", &name));
      if (name.empty() || name.find('/') != std::string::npos) {
        return r.Error(kv.first, "a source's name is one plain name (no '/'), e.g. encoder");
      }
      TFCKPT_RETURN_IF_ERROR(refs.Resolve(kv.second, "sources", &path));
      mo.names.push_back(name);
      sources.push_back(path);
    }
  } else {
    TFCKPT_RETURN_IF_ERROR(refs.List(b["sources"], "sources", &sources));
  }
  if (b["on_conflict"]) {
    std::string c;
    TFCKPT_RETURN_IF_ERROR(r.Scalar(b["on_conflict"], "on_conflict", &c));
    if (!ParseOnConflict(c, &mo.on_conflict).ok()) {
      return r.Error(b["on_conflict"], "on_conflict must be " + OneOf(OnConflictNames()));
    }
  }
  *planner = [sources, mo](const std::string& output, Plan* plan) {
    return PlanMerge(sources, output, mo, plan);
  };
  return Status::OK();
}

// A transfer step: into, tf2_names, include_optimizer, and the 'from' groups.
Status ParseTransfer(const Reader& r, const Refs& refs, const YAML::Node& b, Planner* planner) {
  TFCKPT_RETURN_IF_ERROR(
      r.Keys(b, {"into", "from", "tf2_names", "include_optimizer"}, "a transfer step"));
  TransferOptions to;
  if (b["include_optimizer"]) {
    TFCKPT_RETURN_IF_ERROR(
        r.Scalar(b["include_optimizer"], "include_optimizer", &to.include_optimizer));
  }
  if (b["tf2_names"]) {
    std::string names;
    TFCKPT_RETURN_IF_ERROR(r.Scalar(b["tf2_names"], "tf2_names", &names));
    if (!ParseTf2Names(names, &to.tf2_names).ok()) {
      return r.Error(b["tf2_names"], "tf2_names must be " + OneOf(Tf2NamesNames()));
    }
  }
  if (b["into"]) {
    std::string into;
    TFCKPT_RETURN_IF_ERROR(refs.Resolve(b["into"], "into", &into));
    to.into = into;
  }
  if (!b["from"] || !b["from"].IsSequence()) {
    return r.Error(b, "a transfer step needs 'from': a list of {source: ..., map: {CKPT: TARGET}}");
  }
  for (const auto& g : b["from"]) {
    TFCKPT_RETURN_IF_ERROR(r.Keys(g, {"source", "map"}, "a transfer 'from' entry"));
    if (!g["source"] || (!g["map"] && !b["into"])) {
      return r.Error(g, "each 'from' entry needs 'source' and (without 'into') 'map'");
    }
    AssignmentGroup group;
    TFCKPT_RETURN_IF_ERROR(refs.Resolve(g["source"], "source", &group.source));
    if (g["map"]) TFCKPT_RETURN_IF_ERROR(r.Pairs(g["map"], "map", &group.map));
    to.groups.push_back(std::move(group));
  }
  *planner = [to](const std::string& output, Plan* plan) { return PlanTransfer(to, output, plan); };
  return Status::OK();
}

// An edit step: its source (else the previous step's output), rename, keep, drop,
// strip_optimizer.
Status ParseEdit(const Reader& r, const Refs& refs, const Step& step, Planner* planner) {
  const YAML::Node& b = step.body;
  TFCKPT_RETURN_IF_ERROR(
      r.Keys(b, {"source", "rename", "keep", "drop", "strip_optimizer"}, "an edit step"));
  std::string source;
  TFCKPT_RETURN_IF_ERROR(refs.InputOr(b, "source", step.node, &source));
  EditOptions eo;
  if (b["rename"]) TFCKPT_RETURN_IF_ERROR(r.Pairs(b["rename"], "rename", &eo.renames));
  if (b["keep"]) TFCKPT_RETURN_IF_ERROR(r.Strings(b["keep"], "keep", &eo.keep));
  if (b["drop"]) TFCKPT_RETURN_IF_ERROR(r.Strings(b["drop"], "drop", &eo.drop));
  if (b["strip_optimizer"]) {
    TFCKPT_RETURN_IF_ERROR(r.Scalar(b["strip_optimizer"], "strip_optimizer", &eo.strip_optimizer));
  }
  *planner = [source, eo](const std::string& output, Plan* plan) {
    return PlanEdit(source, output, eo, plan);
  };
  return Status::OK();
}

// An average step: 'sources' or the 'last' n checkpoints of a directory (read when the step runs
// if an earlier step writes that directory), and the averaging options.
Status ParseAverage(const Reader& r, const Refs& refs, const YAML::Node& b, Planner* planner) {
  TFCKPT_RETURN_IF_ERROR(
      r.Keys(b, {"sources", "last", "weights", "normalize", "take_nonfloat_from", "keep_optimizer"},
             "an average step"));
  std::vector<std::string> sources;
  int last_n = 0;
  std::string last_dir;      // set when the directory is an earlier step's and read only then
  std::string ao_selection;  // how LastCheckpoints chose the sources
  if (b["sources"] && b["last"]) return r.Error(b, "give either 'sources' or 'last', not both");
  if (b["sources"]) {
    TFCKPT_RETURN_IF_ERROR(refs.List(b["sources"], "sources", &sources));
  } else if (b["last"]) {
    TFCKPT_RETURN_IF_ERROR(r.Keys(b["last"], {"n", "dir"}, "'last'"));
    std::string dir;
    if (!b["last"]["n"] || !b["last"]["dir"]) return r.Error(b["last"], "'last' needs n and dir");
    TFCKPT_RETURN_IF_ERROR(r.Scalar(b["last"]["n"], "n", &last_n));
    TFCKPT_RETURN_IF_ERROR(refs.Resolve(b["last"]["dir"], "dir", &dir));
    if (refs.Produced(dir)) {
      last_dir = dir;
    } else {
      Status s = LastCheckpoints(dir, last_n, &sources, &ao_selection);
      if (!s.ok()) return r.Error(b["last"], s.message());
    }
  } else {
    return r.Error(b, "an average step needs 'sources' or 'last'");
  }
  AverageOptions ao;
  ao.selection = ao_selection;
  if (b["weights"]) TFCKPT_RETURN_IF_ERROR(r.Numbers(b["weights"], "weights", &ao.weights));
  if (b["normalize"]) TFCKPT_RETURN_IF_ERROR(r.Scalar(b["normalize"], "normalize", &ao.normalize));
  if (b["take_nonfloat_from"]) {
    TFCKPT_RETURN_IF_ERROR(
        r.Scalar(b["take_nonfloat_from"], "take_nonfloat_from", &ao.take_nonfloat_from));
  }
  if (b["keep_optimizer"]) {
    TFCKPT_RETURN_IF_ERROR(r.Scalar(b["keep_optimizer"], "keep_optimizer", &ao.keep_optimizer));
  }
  *planner = [sources, last_n, last_dir, ao](const std::string& output, Plan* plan) {
    std::vector<std::string> inputs = sources;
    AverageOptions options = ao;
    if (!last_dir.empty()) {
      TFCKPT_RETURN_IF_ERROR(LastCheckpoints(last_dir, last_n, &inputs, &options.selection));
    }
    return PlanAverage(inputs, output, options, plan);
  };
  return Status::OK();
}

// One rule of a blend step's per_tensor list: a match (a regex) and the values it overrides.
Status ParseBlendOverride(const Reader& r, const YAML::Node& rule, BlendOverride* o) {
  TFCKPT_RETURN_IF_ERROR(
      r.Keys(rule, {"match", "weights", "lambda", "t", "density", "p"}, "a per_tensor rule"));
  if (!rule["match"]) return r.Error(rule, "a per_tensor rule needs 'match' (a regex)");
  TFCKPT_RETURN_IF_ERROR(r.Scalar(rule["match"], "match", &o->pattern));
  if (rule["weights"]) {
    std::vector<double> w;
    TFCKPT_RETURN_IF_ERROR(r.Numbers(rule["weights"], "weights", &w));
    o->weights = w;
  }
  for (auto [key, field] : {std::pair{"lambda", &o->lambda}, std::pair{"t", &o->t},
                            std::pair{"density", &o->density}, std::pair{"p", &o->p}}) {
    if (rule[key]) {
      double v = 0;
      TFCKPT_RETURN_IF_ERROR(r.Scalar(rule[key], key, &v));
      *field = v;
    }
  }
  return Status::OK();
}

// A blend step: method, base, models, the method's parameters and per_tensor overrides.
Status ParseBlend(const Reader& r, const Refs& refs, const YAML::Node& b, Planner* planner) {
  TFCKPT_RETURN_IF_ERROR(r.Keys(b,
                                {"method", "base", "models", "weights", "lambda", "t", "density",
                                 "p", "seed", "normalize", "keep_optimizer", "per_tensor"},
                                "a blend step"));
  BlendOptions bo;
  std::string method;
  if (!b["method"]) return r.Error(b, "a blend step needs 'method'");
  TFCKPT_RETURN_IF_ERROR(r.Scalar(b["method"], "method", &method));
  if (!ParseBlendMethod(method, &bo.method).ok()) {
    return r.Error(b["method"], fmt::format("unknown method '{}' ({})", method,
                                            fmt::join(BlendMethodNames(), ", ")));
  }
  if (b["base"]) {
    std::string base;
    TFCKPT_RETURN_IF_ERROR(refs.Resolve(b["base"], "base", &base));
    bo.base = base;
  }
  if (!b["models"]) return r.Error(b, "a blend step needs 'models'");
  TFCKPT_RETURN_IF_ERROR(refs.List(b["models"], "models", &bo.models));
  if (b["weights"]) TFCKPT_RETURN_IF_ERROR(r.Numbers(b["weights"], "weights", &bo.weights));
  for (auto [key, field] : {std::pair{"lambda", &bo.lambda}, std::pair{"t", &bo.t},
                            std::pair{"density", &bo.density}, std::pair{"p", &bo.p}}) {
    if (b[key]) TFCKPT_RETURN_IF_ERROR(r.Scalar(b[key], key, field));
  }
  if (b["seed"]) TFCKPT_RETURN_IF_ERROR(r.Scalar(b["seed"], "seed", &bo.seed));
  if (b["normalize"]) TFCKPT_RETURN_IF_ERROR(r.Scalar(b["normalize"], "normalize", &bo.normalize));
  if (b["keep_optimizer"]) {
    TFCKPT_RETURN_IF_ERROR(r.Scalar(b["keep_optimizer"], "keep_optimizer", &bo.keep_optimizer));
  }
  if (b["per_tensor"]) {
    if (!b["per_tensor"].IsSequence()) return r.Error(b["per_tensor"], "per_tensor must be a list");
    for (const auto& rule : b["per_tensor"]) {
      BlendOverride o;
      TFCKPT_RETURN_IF_ERROR(ParseBlendOverride(r, rule, &o));
      bo.overrides.push_back(std::move(o));
    }
  }
  *planner = [bo](const std::string& output, Plan* plan) { return PlanBlend(bo, output, plan); };
  return Status::OK();
}

// Reads a step: every key, value and reference (resolved to a path), without running anything.
Status ParseStep(const Reader& r, const Refs& refs, const Step& step, Planner* planner) {
  if (step.op == "merge") return ParseMerge(r, refs, step.body, planner);
  if (step.op == "transfer") return ParseTransfer(r, refs, step.body, planner);
  if (step.op == "edit") return ParseEdit(r, refs, step, planner);
  if (step.op == "average") return ParseAverage(r, refs, step.body, planner);
  return ParseBlend(r, refs, step.body, planner);
}

// A recipe read whole: where its result goes, its steps, and each step's output and planner.
struct Recipe {
  std::string output;       // the final step's output
  std::string output_note;  // "output: ... is a directory ..." when the output was one, else ""
  std::string scratch;      // the directory of the intermediate results
  std::vector<Step> steps;
  std::vector<std::string> outs;  // each step's output
  std::vector<Planner> planners;  // each step's plan builder
  int64_t max_shard_bytes = 0;    // the output's shards (sharded Keras weights), 0: none given
};

// Loads the recipe's YAML.
Status LoadRecipe(const std::string& path, YAML::Node* root) {
  try {
    *root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return Status::NotFound(fmt::format("cannot read recipe '{}'", path));
  } catch (const YAML::ParserException& e) {
    return Status::InvalidArgument(
        fmt::format("{}:{}: not valid YAML: {}", path, e.mark.line + 1, e.msg));
  }
  return Status::OK();
}

// The recipe's named inputs, each a checkpoint that exists.
Status ReadInputs(const Reader& r, const YAML::Node& root, Refs* refs) {
  if (!root["inputs"]) return Status::OK();
  if (!root["inputs"].IsMap()) return r.Error(root["inputs"], "inputs must map names to paths");
  for (const auto& kv : root["inputs"]) {
    std::string name, p;
    TFCKPT_RETURN_IF_ERROR(r.Scalar(kv.first, "an input name", &name));
    TFCKPT_RETURN_IF_ERROR(r.Scalar(kv.second, "an input path", &p));
    if (!Present(r.Path(p))) {
      return r.Error(kv.second, fmt::format("input '{}': no checkpoint at '{}' (relative paths "
                                            "are relative to the recipe's directory){}",
                                            name, r.Path(p), file::WindowsPathHint(p)));
    }
    refs->inputs[name] = r.Path(p);
  }
  return Status::OK();
}

// Where the result goes: -o, else the recipe's 'output' (relative to its directory). A directory
// (existing, or written with a trailing '/') gets the result named after the recipe
// (jobs/finetune.yaml -> DIR/finetune), and a note says so; an existing SavedModel directory is
// the output.
std::string InRecipeTerms(const std::string& message);

Status ReadOutput(const Reader& r, const YAML::Node& root, const RecipeOptions& options,
                  Recipe* recipe) {
  std::string& output = recipe->output;
  if (options.output) {
    output = *options.output;
  } else if (root["output"]) {
    TFCKPT_RETURN_IF_ERROR(r.Scalar(root["output"], "output", &output));
    output = r.Path(output);
  } else {
    return r.Error(root, "the recipe has no 'output' (or pass -o)");
  }
  if (output.empty()) return r.Error(root, "the recipe's output is empty");
  if (root["max_shard_size"]) {
    std::string size;
    TFCKPT_RETURN_IF_ERROR(r.Scalar(root["max_shard_size"], "max_shard_size", &size));
    if (Status s = ParseByteSize(size, &recipe->max_shard_bytes); !s.ok()) {
      return r.Error(root["max_shard_size"], s.message());
    }
  }
  // (Checked before any step runs: sharded Keras weights need the size, other outputs refuse it.)
  Plan probe;
  probe.output = output;
  if (Status s = SetMaxShardBytes(&probe, recipe->max_shard_bytes); !s.ok()) {
    return r.Error(root["max_shard_size"] ? root["max_shard_size"] : root,
                   InRecipeTerms(s.message()));
  }
  if (output.back() == '/' ||
      (file::IsDirectory(output) && !file::Exists(file::Join(output, "saved_model.pb")))) {
    std::string name = file::Basename(r.path());
    for (std::string_view ext : {".yaml", ".yml"}) {
      if (name.size() > ext.size() && name.ends_with(ext)) name.resize(name.size() - ext.size());
    }
    const std::string dir = output;
    output = file::Join(dir, name);
    recipe->output_note = fmt::format(
        "output: '{}' is a directory: the result is written in it as '{}'\n", dir, output);
  }
  return Status::OK();
}

// Reads every step's shape first (one operation and its keys, an optional name used once), so a
// typo late in the file fails before any work; names of steps are recorded as later steps.
Status ReadSteps(const Reader& r, const YAML::Node& root, Refs* refs, Recipe* recipe) {
  if (!root["steps"]) {
    return r.Error(root,
                   "the recipe needs 'steps': a list of merge / transfer / edit / average / "
                   "blend steps");
  }
  if (!root["steps"].IsSequence() || root["steps"].size() == 0) {
    return r.Error(root["steps"],
                   "'steps' must be a list of steps, each starting with '- ' (e.g. "
                   "'- merge: {sources: [a, b]}')");
  }
  std::set<std::string> kOps;
  for (const auto& [op, keys] : StepKeys()) kOps.insert(op);
  std::set<std::string> names;
  const YAML::Node step_list = root["steps"];
  for (size_t n = 0; n < step_list.size(); n++) {
    const YAML::Node node = step_list[n];
    if (!node.IsMap()) return r.Error(node, "each step is a mapping such as {merge: {...}}");
    Step step;
    step.node = node;
    for (const auto& kv : node) {
      std::string key = kv.first.as<std::string>();
      if (key == "name") {
        TFCKPT_RETURN_IF_ERROR(r.Scalar(kv.second, "name", &step.name));
        if (!names.insert(step.name).second || refs->inputs.count(step.name)) {
          return r.Error(kv.second, fmt::format("the name '{}' is already used", step.name));
        }
      } else if (kOps.count(key)) {
        if (!step.op.empty()) return r.Error(kv.first, "a step does exactly one thing");
        step.op = key;
        step.body = kv.second;
      } else {
        return r.Error(kv.first, fmt::format("unknown step '{}' (expected one of: {}, name)", key,
                                             fmt::join(kOps, ", ")));
      }
    }
    if (step.op.empty()) return r.Error(node, "this step names no operation");
    const std::string what =
        (step.op == "edit" || step.op == "average" ? "an " : "a ") + step.op + " step";
    TFCKPT_RETURN_IF_ERROR(r.Keys(step.body, StepKeys().at(step.op), what));
    if (!step.name.empty()) refs->later[step.name] = n + 1;
    recipe->steps.push_back(std::move(step));
  }
  return Status::OK();
}

// Then every step's values and references, in order, before the first step runs: a bad reference
// late in the file fails before anything is written. Each step but the last writes in the scratch
// directory.
Status ParseSteps(const Reader& r, Refs* refs, Recipe* recipe) {
  recipe->scratch =
      recipe->output + std::string(file::kTempMarker) + file::RandomToken() + "-steps";
  const std::vector<Step>& steps = recipe->steps;
  for (size_t i = 0; i < steps.size(); i++) {
    const Step& step = steps[i];
    if (!step.name.empty()) refs->later.erase(step.name);
    Planner planner;
    TFCKPT_RETURN_IF_ERROR(ParseStep(r, *refs, step, &planner));
    std::string out = i + 1 == steps.size()
                          ? recipe->output
                          : file::Join(recipe->scratch, fmt::format("step{}/ckpt", i + 1));
    refs->previous = out;
    if (!step.name.empty()) refs->step_outputs[step.name] = out;
    recipe->outs.push_back(out);
    recipe->planners.push_back(std::move(planner));
  }
  return Status::OK();
}

// A step's message in a recipe's terms: the options it names (RespellOptions) as the recipe keys
// that set them; the others (`overwrite`, ...) are left to the face that runs the recipe.
std::string InRecipeTerms(const std::string& message) {
  return RespellOptions(message, [](std::string_view option) -> std::string {
    static const std::map<std::string_view, std::string_view> kOther = {
        {"renames", "the key 'rename'"},
        {"overrides", "the key 'per_tensor'"},
        {"source", "the key 'from'"},
        {"names", "'sources' as a mapping of names to sources"}};
    static const std::set<std::string_view> kSame = {"on_conflict",
                                                     "move",
                                                     "keep",
                                                     "drop",
                                                     "keep_optimizer",
                                                     "weights",
                                                     "base",
                                                     "map",
                                                     "tf2_names",
                                                     "take_nonfloat_from",
                                                     "normalize",
                                                     "include_optimizer",
                                                     "strip_optimizer",
                                                     "max_shard_size"};
    if (auto it = kOther.find(option); it != kOther.end()) return std::string(it->second);
    return kSame.count(option) ? fmt::format("the key '{}'", option) : "";
  });
}

// Plans and runs (in a dry run: describes) each step in order, reporting each; removes the
// intermediate results at the end, and on failure names them by their step in the message.
Status RunSteps(const Reader& r, const RecipeOptions& options, const Recipe& recipe,
                std::string* report) {
  *report += recipe.output_note;
  const std::string out_dir = file::Dirname(recipe.output);
  const bool out_dir_existed = file::IsDirectory(out_dir);
  std::vector<std::pair<std::string, std::string>> labels;  // intermediate path -> its step
  auto cleanup = [&](Status s) {
    file::RemoveTree(recipe.scratch);
    if (!out_dir_existed) ::rmdir(out_dir.c_str());  // only if still empty
    if (s.ok()) return s;
    // Name intermediate results by their step, not by their temporary path.
    std::string msg = s.message();
    for (const auto& [p, label] : labels) {
      for (size_t at = msg.find(p); at != std::string::npos; at = msg.find(p, at + label.size())) {
        msg.replace(at, p.size(), label);
      }
    }
    return s.WithMessage(msg);
  };
  // Progress through every step: the bytes of the steps done, then those of the current one (the
  // total grows as each step begins).
  int64_t earlier = 0;
  ExecuteOptions execute = options.execute;
  if (options.execute.progress) {
    execute.progress = [&earlier, &options](int64_t done, int64_t total) {
      options.execute.progress(earlier + done, earlier + total);
    };
  }
  for (size_t i = 0; i < recipe.steps.size(); i++) {
    const Step& step = recipe.steps[i];
    const std::string& out = recipe.outs[i];
    Plan plan;
    Status s = recipe.planners[i](out, &plan);
    // (Only the last step writes the output: sharded Keras weights take the size of a shard.)
    if (s.ok() && out == recipe.output) s = SetMaxShardBytes(&plan, recipe.max_shard_bytes);
    *report +=
        fmt::format("step {} ({}{}):\n", i + 1, step.op, step.name.empty() ? "" : ", " + step.name);
    if (!s.ok()) {
      // An input written by an earlier step does not exist during a dry run.
      bool waits = options.dry_run && s.code() == Status::Code::kNotFound;
      if (!waits) {
        if (s.message().rfind(r.path(), 0) != 0) {
          s = s.WithMessage(r.Error(step.node, InRecipeTerms(s.message())).message());
        }
        return cleanup(s);
      }
      *report += "  (its plan depends on an earlier step's output, made when the recipe runs)\n";
    } else if (options.dry_run) {
      for (std::string& note : plan.notes) note = InRecipeTerms(note);
      *report += plan.Describe();
    } else {
      ExecuteReport er;
      s = ExecutePlan(plan, execute, &er);
      if (!s.ok()) return cleanup(s.WithMessage(InRecipeTerms(s.message())));
      earlier += er.bytes;
      *report += fmt::format("  {} tensors, {} bytes -> {}\n", er.tensors, er.bytes, plan.output);
    }
    labels.emplace_back(out, step.name.empty() ? fmt::format("(result of step {})", i + 1)
                                               : fmt::format("(step '{}')", step.name));
  }
  file::RemoveTree(recipe.scratch);
  return Status::OK();
}

// Reads the whole recipe, checking every step before the first one runs, then runs them.
Status ApplyRecipeChecked(const std::string& path, const RecipeOptions& options,
                          std::string* report) {
  Reader r(path);
  YAML::Node root;
  TFCKPT_RETURN_IF_ERROR(LoadRecipe(path, &root));
  TFCKPT_RETURN_IF_ERROR(
      r.Keys(root, {"inputs", "steps", "output", "max_shard_size"}, "the recipe"));
  Refs refs{&r, {}, {}, "", {}};
  Recipe recipe;
  TFCKPT_RETURN_IF_ERROR(ReadInputs(r, root, &refs));
  TFCKPT_RETURN_IF_ERROR(ReadOutput(r, root, options, &recipe));
  TFCKPT_RETURN_IF_ERROR(ReadSteps(r, root, &refs, &recipe));
  TFCKPT_RETURN_IF_ERROR(ParseSteps(r, &refs, &recipe));
  return RunSteps(r, options, recipe, report);
}

}  // namespace

Status ApplyRecipe(const std::string& path, const RecipeOptions& options, std::string* report) {
  // yaml-cpp reports some malformed shapes by throwing; they are recipe errors like the others.
  try {
    return ApplyRecipeChecked(path, options, report);
  } catch (const YAML::Exception& e) {
    if (e.mark.line >= 0) {
      return Status::InvalidArgument(fmt::format("{}:{}: {}", path, e.mark.line + 1, e.msg));
    }
    return Status::InvalidArgument(fmt::format("{}: {}", path, e.msg));
  }
}

}  // namespace tfckpt
