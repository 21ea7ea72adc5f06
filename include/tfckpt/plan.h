// Plans: what an operation (merge, transfer, edit) will write, built and checked completely
// before any byte moves, printable as a dry run, then carried out by ExecutePlan.
//
// A Plan owns the checkpoints it reads (shared with the Tensors it may hand out).
//
// Thread-safety: building and executing a plan are single-threaded; a finished Plan is
// immutable and may be described from any thread.

#ifndef TFCKPT_PLAN_H_
#define TFCKPT_PLAN_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tfckpt/checkpoint.h"
#include "tfckpt/progress.h"
#include "tfckpt/status.h"
#include "tfckpt/writer.h"

namespace tfckpt {

// One input of a plan.
struct PlanSource {
  std::string label;  // the path as the user gave it
  std::shared_ptr<Checkpoint> ckpt;
  std::string saved_model_dir;  // non-empty when the input is a SavedModel
};

// Where some bytes of an output tensor come from: a whole source tensor, or one stored slice of a
// partitioned source tensor.
struct PieceSource {
  int source = -1;                     // index into Plan::sources
  const TensorInfo* tensor = nullptr;  // the source tensor
  const SlicePart* part = nullptr;     // the stored slice, or null for the whole tensor
};

// Methods that compute an output tensor from several inputs (average, model merging).
enum class BlendMethod { kLinear, kTaskArithmetic, kSlerp, kTies, kDare };
std::string_view BlendMethodName(BlendMethod method);
// "linear", "task_arithmetic", "slerp", "ties", "dare".
std::span<const std::string_view> BlendMethodNames();
// One of BlendMethodNames(); else InvalidArgument "method='TEXT': it must be 'linear', ...".
Status ParseBlendMethod(std::string_view text, BlendMethod* method);

// What a computed tensor is made of (see docs/METHODS.md for the exact arithmetic).
struct ComputeSpec {
  BlendMethod method = BlendMethod::kLinear;
  bool has_base = false;        // pieces[0] of the tensor is the base model
  std::vector<double> weights;  // one per model (after the base)
  double lambda = 1, t = 0.5, density = 0.5, p = 0.5;
  uint64_t seed = 0;
  bool normalize = true;
};

// One tensor of the output.
struct PlannedTensor {
  enum class Action {
    kCopy,      // bytes pass through unchanged (whole tensor, or stored slices)
    kKeep,      // like kCopy, from the --into target: its own value is kept
    kAssemble,  // a partitioned source written whole
    kReslice,   // written as `out_slices`, cut from the (assembled) source tensor
    kReplace,   // a new value computed by the planner (`replacement`)
    kCompute,   // computed element-wise from `pieces` (whole source tensors) by `compute`
  };
  std::string name;
  DType dtype = DType::kInvalid;
  Shape shape;
  Action action = Action::kCopy;
  std::vector<PieceSource> pieces;      // kCopy/kKeep: every piece; else pieces[0] is the source
  std::vector<TensorSlice> out_slices;  // kReslice
  std::shared_ptr<const std::string> replacement;  // kReplace: a scalar string's value
  std::shared_ptr<const ComputeSpec> compute;      // kCompute
  int64_t bytes() const;
};

std::string_view ActionName(PlannedTensor::Action action);

struct Plan {
  std::string operation;  // "merge", "transfer", "edit", "average", "blend (ties)", "to_tf1", ...
  std::string output;     // a prefix, or a SavedModel directory when saved_model_from is set
  std::vector<PlanSource> sources;
  std::vector<PlannedTensor> tensors;  // in output key order
  int saved_model_from = -1;           // index of the SavedModel source the output copies
  bool move_sources = false;           // merge --move: data files are moved, sources consumed
  // A Keras output (the output ends in .keras, .weights.h5, .weights.json or .h5): the Keras source
  // whose layout it takes, its weights replaced by the tensors; -1 for a TensorFlow checkpoint.
  int keras_template = -1;
  // Sharded Keras weights (an output ending in .weights.json): each .weights.h5 shard holds at
  // most this many bytes (SetMaxShardBytes).
  int64_t max_shard_bytes = 0;
  std::vector<std::string> notes;  // one line each, for the summary

  // The output checkpoint prefix (inside the directory for a SavedModel output).
  std::string output_prefix() const;
  // A dry-run description: one line per output tensor, then notes.
  std::string Describe() const;
  // The same as one JSON object, as docs/JSON.md states it ("data": `stats`, when executed).
  std::string DescribeJson(bool executed, const TransferStats* stats) const;
};

// --- merge ---
struct MergeOptions {
  enum class OnConflict { kError, kFirst, kLast };
  OnConflict on_conflict = OnConflict::kError;
  bool move = false;
  // One per source, or empty. A named source goes under its own scope: in a TF2 source, its root
  // becomes the child NAME of the output's root (keys "NAME/..."); in a TF1 source, every key
  // gets the prefix "NAME/". Empty names leave a source's keys as they are.
  std::vector<std::string> names;
};
std::string_view OnConflictName(MergeOptions::OnConflict on_conflict);
// "error", "first", "last".
std::span<const std::string_view> OnConflictNames();
// One of OnConflictNames(); else InvalidArgument "on_conflict='TEXT': it must be 'error', ...".
Status ParseOnConflict(std::string_view text, MergeOptions::OnConflict* on_conflict);
Status PlanMerge(const std::vector<std::string>& sources, const std::string& output,
                 const MergeOptions& options, Plan* plan);

// --- transfer (init_from_checkpoint) ---
struct AssignmentGroup {
  std::string source;                                    // like init_from_checkpoint's first arg
  std::vector<std::pair<std::string, std::string>> map;  // (name in checkpoint, target)
};
// How the tensors of a TF2 (object-based) checkpoint are named in a transfer: by checkpoint key
// ("model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE") or by the full name its object graph records
// for each variable ("dense/kernel": the name a TF1 Saver would have used). kAuto: full names
// when the model (--into) and the sources mix name-based and object-based checkpoints, else keys.
enum class Tf2Names { kAuto, kKeys, kFullNames };
std::string_view Tf2NamesName(Tf2Names names);
// "auto", "keys", "full".
std::span<const std::string_view> Tf2NamesNames();
// One of Tf2NamesNames(); else InvalidArgument "tf2_names='TEXT': it must be 'auto', ...".
Status ParseTf2Names(std::string_view text, Tf2Names* names);

struct TransferOptions {
  std::optional<std::string> into;  // the model: a checkpoint or a SavedModel
  std::vector<TensorInfo> model;    // or the model's variables (names, dtypes, shapes) in memory
  // A group with an empty map and a model matches by name: every variable of the model that the
  // source has is taken from it; the others keep their value. Between two TF2 checkpoints (under
  // Tf2Names::kAuto) names are their keys or their variables' full names, whichever matches more
  // of the model's variables. A TF2 checkpoint's object graph and save_counter are never
  // variables: the model keeps its own.
  std::vector<AssignmentGroup> groups;
  Tf2Names tf2_names = Tf2Names::kAuto;
  // Scope maps and by-name matches fill the model's variables only: its optimizer state (slots,
  // optimizer variables) keeps the model's values, as in TF1 where init_from_checkpoint runs
  // before the optimizer creates its slots. True: optimizer state is mapped like any variable.
  // (A single-name map always applies.)
  bool include_optimizer = false;
};
Status PlanTransfer(const TransferOptions& options, const std::string& output, Plan* plan);

// TF2 -> TF1: the object-based checkpoint `source` as a name-based one, each variable keyed by
// the full name its object graph records (the object graph and metadata without a full name are
// left out).
Status PlanToTf1(const std::string& source, const std::string& output, Plan* plan);
// TF1 (or TF2) -> TF2: `tf2_template`, a TF2 checkpoint or SavedModel of the model, with every
// variable whose full name `source` holds taken from `source` (by key in a TF1 source, by full
// name in a TF2 one); the rest, object graph included, as in the template.
Status PlanToTf2(const std::string& source, const std::string& tf2_template,
                 const std::string& output, Plan* plan);
// The same when the names differ: `map` assigns `source`'s names to the template's full names,
// in the forms of an assignment map (scope/=other_scope/, name=other_name, ...); empty: by name.
Status PlanToTf2(const std::string& source, const std::string& tf2_template,
                 const std::vector<std::pair<std::string, std::string>>& map,
                 const std::string& output, Plan* plan);

// init_from_checkpoint for variables that are not TensorFlow's: a custom storage, another
// framework's parameters, a dict of arrays. The variables are described by name, dtype and shape;
// each value the assignment map gives them is handed to the sink, after every check has passed.
struct TargetVariable {
  std::string name;
  DType dtype = DType::kInvalid;
  Shape shape;
};
class TensorSink {
 public:
  virtual ~TensorSink() = default;
  // Receives the value for `target`; the tensor's bytes may be a view on the mapped checkpoint,
  // valid while `value` (or a copy of it) lives.
  virtual Status Assign(const std::string& target, const Tensor& value) = 0;
};
// One call of init_from_checkpoint(ckpt, assignment_map). `assigned`, if given, receives
// (target, checkpoint tensor) for every assignment made. `tf2_names` says how a TF2 `ckpt`'s
// tensors are named in the map (kAuto is kKeys here, as in TensorFlow's init_from_checkpoint:
// the variables are not a checkpoint to compare with; kFullNames for the variables' full names).
// Each value is checked against its CRC32C as it is read (a mismatch is kDataLoss).
Status InitFromCheckpoint(const std::string& ckpt,
                          const std::vector<std::pair<std::string, std::string>>& assignment_map,
                          const std::vector<TargetVariable>& variables, TensorSink* sink,
                          std::vector<std::pair<std::string, std::string>>* assigned,
                          Tf2Names tf2_names = Tf2Names::kAuto, bool include_optimizer = false);

// --- edit ---
struct EditOptions {
  std::vector<std::pair<std::string, std::string>> renames;  // assignment-map forms
  std::vector<std::string> keep;                             // regexes (search)
  std::vector<std::string> drop;                             // regexes (search)
  bool strip_optimizer = false;
};
Status PlanEdit(const std::string& source, const std::string& output, const EditOptions& options,
                Plan* plan);

// --- average ---
struct AverageOptions {
  std::vector<double> weights;  // one per source; empty: equal weights
  bool normalize = true;        // divide the weights by their sum
  int take_nonfloat_from = -1;  // integer/bool/string/variant tensors come from this source
                                // (0-based; negative counts from the end)
  bool keep_optimizer = false;  // else optimizer slots and variables are dropped
  // How the sources were chosen (LastCheckpoints' `how`): noted in the plan with their list.
  std::string selection;
};
Status PlanAverage(const std::vector<std::string>& sources, const std::string& output,
                   const AverageOptions& options, Plan* plan);

// --- model-merge methods ---
// Parameters that may differ per tensor: a rule applies to the tensors its pattern matches; the
// last matching rule wins for each parameter it sets.
struct BlendOverride {
  std::string pattern;  // RE2, searched in the tensor name
  std::optional<std::vector<double>> weights;
  std::optional<double> lambda, t, density, p;
};
struct BlendOptions {
  BlendMethod method = BlendMethod::kLinear;
  std::optional<std::string> base;
  std::vector<std::string> models;
  std::vector<double> weights;  // empty: 1 each
  double lambda = 1, t = 0.5, density = 0.5, p = 0.5;
  uint64_t seed = 0;
  bool normalize = true;
  bool keep_optimizer = false;
  std::vector<BlendOverride> overrides;
};
Status PlanBlend(const BlendOptions& options, const std::string& output, Plan* plan);

// --- execution ---
// Sets `plan->max_shard_bytes`, which only an output of sharded Keras weights (ending in
// .weights.json) takes and which it needs, as Keras' save_weights(max_shard_size=) does: each
// shard is started once the next tensor would take it past `bytes` (a larger tensor gets a shard
// of its own). `bytes` 0 on another output is nothing to set; anything else is InvalidArgument
// saying what is wrong.
Status SetMaxShardBytes(Plan* plan, int64_t bytes);

struct ExecuteOptions {
  LinkMode link = LinkMode::kAuto;  // how whole data files are taken (kMove only via the plan)
  bool overwrite = false;
  bool sync = true;
  int threads = 0;                   // for computed tensors; 0: one per core
  int64_t chunk_elements = 1 << 20;  // computed tensors are processed in chunks of this size
  // Progress through the output's bytes (tfckpt/progress.h); reading the sources to check them
  // counts as part of the work. Last called with done == total once the output is written (a
  // SavedModel output is then still to be moved into place).
  ProgressFn progress;
  // Every byte taken from a source is checked against its CRC32C before anything is committed;
  // data files taken whole by a hard link or a move are not read, unless this is set.
  bool verify_linked = false;
};
struct ExecuteReport {
  TransferStats stats;
  int64_t tensors = 0;
  int64_t bytes = 0;
};
Status ExecutePlan(const Plan& plan, const ExecuteOptions& options, ExecuteReport* report);

}  // namespace tfckpt

#endif  // TFCKPT_PLAN_H_
