// tfckpt merge / transfer / edit: build a plan, print it (--dry-run) or execute it.

#include <unistd.h>

#include <cctype>
#include <cstdio>

#include <fmt/format.h>

#include "commands.h"

#include "tfckpt/convert.h"
#include "tfckpt/paths.h"
#include "tfckpt/plan.h"
#include "tfckpt/recipe.h"

namespace tfckpt::cli {
namespace {

// CLI11's check that an option's value is one of a vocabulary of the library's.
CLI::IsMember OneOfNames(std::span<const std::string_view> names) {
  return CLI::IsMember(std::vector<std::string>(names.begin(), names.end()));
}

// A progress bar on stderr, redrawn in place: "[=====     ]  50% 1.00/2.00 GB".
void DrawProgress(int64_t done, int64_t total) {
  int width = 40, filled = static_cast<int>(width * done / total);
  std::fprintf(stderr, "\r[%s%s] %3d%% %.2f/%.2f GB", std::string(filled, '=').c_str(),
               std::string(width - filled, ' ').c_str(), static_cast<int>(100 * done / total),
               done / 1e9, total / 1e9);
  if (done == total) std::fprintf(stderr, "\n");
}

struct CommonArgs {
  std::string output;
  bool force = false;
  bool dry_run = false;
  bool json = false;
  bool no_sync = false;
  bool verify = false;
  std::string link = "auto";
};

// `named_after`: which input names the output written in a directory ("the first SRC").
void AddCommon(CLI::App* cmd, CommonArgs* args, const std::string& what,
               const std::string& named_after) {
  cmd->add_option("-o,--output", args->output,
                  fmt::format("Output {}; or a directory (an existing one, or a path ending in "
                              "'/') to write it in, named after {}",
                              what, named_after))
      ->required();
  cmd->add_flag("--force", args->force, "Replace an existing output (atomically)");
  cmd->add_flag("--dry-run", args->dry_run, "Print the plan; write nothing");
  cmd->add_flag("--json", args->json, "Print the plan or the summary as one JSON object");
  cmd->add_flag("--no-sync", args->no_sync,
                "Skip fsync of the output (faster; a crash may then lose or damage it)");
  cmd->add_option("--link", args->link,
                  "How whole data files are taken: auto (reflink where the filesystem can, "
                  "else copy_file_range), copy (plain copies) or hardlink (shares the inputs' "
                  "inodes without reading them: their CRCs are not checked unless --verify)")
      ->check(OneOfNames(LinkModeNames()));
  cmd->add_flag("--verify", args->verify,
                "Also check the CRC32C of data files that --link hardlink or --move take "
                "without reading them (every other byte taken from an input is always checked)");
}

std::string Summary(const Plan& plan, const ExecuteReport& r) {
  const TransferStats& s = r.stats;
  std::vector<std::string> how;
  if (s.files_reflinked) how.push_back(fmt::format("{} file(s) reflinked", s.files_reflinked));
  if (s.files_copied) {
    how.push_back(fmt::format("{} file(s) copied ({} bytes)", s.files_copied, s.bytes_copied));
  }
  if (s.files_linked) how.push_back(fmt::format("{} file(s) hard-linked", s.files_linked));
  if (s.files_moved) how.push_back(fmt::format("{} file(s) moved", s.files_moved));
  if (s.ranges_copied) {
    how.push_back(fmt::format("{} tensor(s) copied with copy_file_range ({} bytes)",
                              s.ranges_copied, s.bytes_range_copied));
  }
  if (s.bytes_written) how.push_back(fmt::format("{} bytes written", s.bytes_written));
  std::string out = fmt::format("{} -> {}: {} tensors, {} bytes\n", plan.operation, plan.output,
                                r.tensors, r.bytes);
  if (!how.empty()) out += fmt::format("data: {}\n", fmt::join(how, ", "));
  for (const std::string& n : plan.notes) out += "note: " + n + "\n";
  return out;
}

void Run(const Status& built, const Plan& plan, const CommonArgs& args, int threads = 0) {
  if (!built.ok()) {
    ReportError(built);
    return;
  }
  if (args.dry_run) {
    fmt::print("{}", args.json ? plan.DescribeJson(false, nullptr) + "\n" : plan.Describe());
    return;
  }
  ExecuteOptions eo;
  eo.overwrite = args.force;
  eo.sync = !args.no_sync;
  if (::isatty(STDERR_FILENO) && !args.json) eo.progress = DrawProgress;
  eo.threads = threads;
  eo.verify_linked = args.verify;
  Status s = ParseLinkMode(args.link, &eo.link);
  ExecuteReport report;
  if (s.ok()) s = ExecutePlan(plan, eo, &report);
  if (!s.ok()) {
    ReportError(s);
    return;
  }
  fmt::print("{}",
             args.json ? plan.DescribeJson(true, &report.stats) + "\n" : Summary(plan, report));
}

bool SplitMapping(const std::string& text, const char* flag,
                  std::pair<std::string, std::string>* out) {
  size_t eq = text.find('=');
  if (eq == std::string::npos) {
    ReportError(Status::InvalidArgument(
        fmt::format("{} '{}' needs the form OLD=NEW (e.g. scope/=other_scope/ or name=other_name)",
                    flag, text)));
    return false;
  }
  *out = {text.substr(0, eq), text.substr(eq + 1)};
  return true;
}

// "NAME=SRC" -> (NAME, SRC) when NAME looks like a name and the whole argument is not an
// existing path; else ("", arg).
void SplitNamedSource(const std::string& arg, std::string* name, std::string* path) {
  name->clear();
  *path = arg;
  size_t eq = arg.find('=');
  if (eq == std::string::npos || eq == 0 || ::access(arg.c_str(), F_OK) == 0 ||
      ::access((arg + ".index").c_str(), F_OK) == 0) {
    return;
  }
  for (char c : arg.substr(0, eq)) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') return;
  }
  *name = arg.substr(0, eq);
  *path = arg.substr(eq + 1);
}

}  // namespace

void RegisterMerge(CLI::App& app) {
  struct Args : CommonArgs {
    std::vector<std::string> sources;
    std::string on_conflict = "error";
    bool move = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "merge", "Merge whole checkpoints into one prefix that restores in one go.");
  cmd->add_option("SRC", args->sources,
                  "Checkpoints to merge; NAME=SRC puts a source under its own scope (TF1) or "
                  "child of the root (TF2)")
      ->required();
  AddCommon(cmd, args.get(), "checkpoint prefix", "the first SRC");
  cmd->add_option("--on-conflict", args->on_conflict,
                  "A name in several sources: error (default), first or last wins")
      ->check(OneOfNames(OnConflictNames()));
  cmd->add_flag("--move", args->move,
                "Move the sources' data files into the output and delete the sources (as "
                "TensorFlow's merge does); saves space, consumes the inputs; moved files are "
                "not read, so their CRCs are not checked unless --verify");
  cmd->callback([args] {
    MergeOptions mo;
    mo.move = args->move;
    if (Status s = ParseOnConflict(args->on_conflict, &mo.on_conflict); !s.ok()) {
      ReportError(s);
      return;
    }
    std::vector<std::string> sources;
    for (const std::string& arg : args->sources) {
      std::string name, path;
      SplitNamedSource(arg, &name, &path);
      mo.names.push_back(name);
      sources.push_back(path);
    }
    Plan plan;
    Status s = PlanMerge(sources, args->output, mo, &plan);
    Run(s, plan, *args);
  });
}

void RegisterTransfer(CLI::App& app) {
  struct Args : CommonArgs {
    std::string into;
    std::vector<std::string> from, map;
    std::string tf2_names = "auto";
    bool include_optimizer = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "transfer",
      "Fill a model's tensors from other checkpoints, as tf.compat.v1.train.init_from_checkpoint "
      "does: each --map belongs to the --from before it.");
  cmd->add_option("--into", args->into,
                  "The model: a checkpoint or SavedModel whose names, dtypes and shapes the "
                  "output has; its values stay where no mapping applies");
  CLI::Option* from = cmd->add_option("--from", args->from, "A checkpoint to take tensors from")
                          ->expected(1)
                          ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
                          ->required();
  CLI::Option* map =
      cmd->add_option("--map", args->map,
                      "CKPT=TARGET: scope/=other/, /=scope/, scope/=/ or a=b; a --from without "
                      "--map takes every tensor of --into that it has, by name")
          ->expected(1)
          ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--tf2-names", args->tf2_names,
                  "How TF2 checkpoints' tensors are named in the maps: keys (object paths), "
                  "full (the variables' full names, as TF1 names them) or auto (full when TF1 "
                  "and TF2 checkpoints meet, the default)")
      ->check(OneOfNames(Tf2NamesNames()));
  cmd->add_flag("--include-optimizer", args->include_optimizer,
                "Scope maps and by-name matches also fill the model's optimizer state (slots, "
                "optimizer variables); by default it keeps the model's values, as when "
                "init_from_checkpoint runs before the optimizer exists");
  AddCommon(cmd, args.get(), "checkpoint prefix (a SavedModel directory when --into is one)",
            "--into (else the first --from)");
  cmd->callback([args, cmd, from, map] {
    TransferOptions to;
    to.include_optimizer = args->include_optimizer;
    if (Status s = ParseTf2Names(args->tf2_names, &to.tf2_names); !s.ok()) {
      ReportError(s);
      return;
    }
    if (!args->into.empty()) to.into = args->into;
    size_t next_from = 0, next_map = 0;
    for (CLI::Option* opt : cmd->parse_order()) {
      if (opt == from) {
        to.groups.push_back({args->from[next_from++], {}});
      } else if (opt == map) {
        std::pair<std::string, std::string> m;
        if (!SplitMapping(args->map[next_map++], "--map", &m)) return;
        if (to.groups.empty()) {
          ReportError(Status::InvalidArgument(
              "--map must follow the --from it belongs to: --from SRC --map CKPT=TARGET"));
          return;
        }
        to.groups.back().map.push_back(m);
      }
    }
    Plan plan;
    Status s = PlanTransfer(to, args->output, &plan);
    Run(s, plan, *args);
  });
}

void RegisterEdit(CLI::App& app) {
  struct Args : CommonArgs {
    std::string source;
    std::vector<std::string> rename, keep, drop;
    bool strip = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "edit", "Rename, filter, or strip optimizer state, writing a new checkpoint.");
  cmd->add_option("SRC", args->source, "Checkpoint to edit")->required();
  AddCommon(cmd, args.get(), "checkpoint prefix", "SRC");
  cmd->add_option("--rename", args->rename,
                  "OLD=NEW: scope/=other/, /=scope/, scope/=/ or a=b; the first rule that "
                  "matches a name applies (TF2: object paths, moved one rule after another)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--keep", args->keep, "Keep only names matching this regex (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--drop", args->drop, "Drop names matching this regex (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_flag("--strip-optimizer", args->strip,
                "Drop optimizer slots and the optimizers' own variables (TF1 and TF2)");
  cmd->callback([args] {
    EditOptions eo;
    for (const std::string& r : args->rename) {
      std::pair<std::string, std::string> m;
      if (!SplitMapping(r, "--rename", &m)) return;
      eo.renames.push_back(m);
    }
    eo.keep = args->keep;
    eo.drop = args->drop;
    eo.strip_optimizer = args->strip;
    Plan plan;
    Status s = PlanEdit(args->source, args->output, eo, &plan);
    Run(s, plan, *args);
  });
}

namespace {

// "0.2,0.3" -> {0.2, 0.3}
bool ParseList(const std::string& text, const char* flag, std::vector<double>* out) {
  out->clear();
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string item =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    try {
      size_t used = 0;
      out->push_back(std::stod(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      ReportError(Status::InvalidArgument(fmt::format(
          "{} '{}': '{}' is not a number; give numbers separated by commas", flag, text, item)));
      return false;
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return true;
}

}  // namespace

void RegisterAverage(CLI::App& app) {
  struct Args : CommonArgs {
    std::vector<std::string> sources;
    std::string weights;
    bool no_normalize = false;
    std::vector<std::string> last;
    int take_nonfloat_from = -1;
    bool keep_optimizer = false;
    int threads = 0;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "average",
      "Average checkpoints tensor by tensor, keeping every dtype (e.g. the last N of a "
      "training run).");
  cmd->add_option("SRC", args->sources, "Checkpoints to average");
  AddCommon(cmd, args.get(), "checkpoint prefix",
            "the source its integers come from (the newest, by default)");
  cmd->add_option("--weights", args->weights, "w1,w2,...: one weight per source (default equal)");
  cmd->add_flag("--no-normalize", args->no_normalize,
                "Use the weights as given (no division by "
                "their sum)");
  cmd->add_option("--last", args->last, "N DIR: the last N checkpoints listed in DIR/checkpoint")
      ->expected(2);
  cmd->add_option("--take-nonfloat-from", args->take_nonfloat_from,
                  "Integer, bool, string and variant tensors come from this source (0-based; "
                  "-1, the default, is the last/newest)");
  cmd->add_flag("--keep-optimizer", args->keep_optimizer,
                "Keep (and average) optimizer slots; by default they are dropped");
  cmd->add_option("--threads", args->threads, "Worker threads (default: one per core)");
  cmd->callback([args] {
    std::vector<std::string> sources = args->sources;
    if (!args->last.empty()) {
      if (!sources.empty()) {
        ReportError(Status::InvalidArgument("give either SRC... or --last N DIR, not both"));
        return;
      }
      int n = 0;
      try {
        n = std::stoi(args->last[0]);
      } catch (const std::exception&) {
        ReportError(Status::InvalidArgument(fmt::format(
            "--last '{}': the first value is the number of checkpoints", args->last[0])));
        return;
      }
      Status s = LastCheckpoints(args->last[1], n, &sources);
      if (!s.ok()) {
        ReportError(s);
        return;
      }
    }
    if (sources.empty()) {
      ReportError(Status::InvalidArgument("give the checkpoints to average, or --last N DIR"));
      return;
    }
    AverageOptions ao;
    if (!args->weights.empty() && !ParseList(args->weights, "--weights", &ao.weights)) return;
    ao.normalize = !args->no_normalize;
    ao.take_nonfloat_from = args->take_nonfloat_from;
    ao.keep_optimizer = args->keep_optimizer;
    Plan plan;
    Status s = PlanAverage(sources, args->output, ao, &plan);
    Run(s, plan, *args, args->threads);
  });
}

void RegisterBlend(CLI::App& app) {
  struct Args : CommonArgs {
    std::string method;
    std::string base;
    std::vector<std::string> models;
    std::string weights;
    std::optional<double> lambda, t, density, p;
    uint64_t seed = 0;
    std::vector<std::string> sets;
    bool no_normalize = false;
    bool keep_optimizer = false;
    int threads = 0;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("blend", fmt::format("Merge same-architecture models: {}.",
                                                          fmt::join(BlendMethodNames(), ", ")));
  cmd->add_option("METHOD", args->method, fmt::format("{}", fmt::join(BlendMethodNames(), " | ")))
      ->required()
      ->check(OneOfNames(BlendMethodNames()));
  cmd->add_option("MODEL", args->models, "Models to combine")->required();
  AddCommon(cmd, args.get(), "checkpoint prefix", "--base (else the first MODEL)");
  cmd->add_option("--base", args->base, "The base model the others were fine-tuned from");
  cmd->add_option("--weights", args->weights, "w1,w2,...: one weight per model (default 1 each)");
  cmd->add_option("--lambda", args->lambda, "Scale of the merged task vector (default 1)");
  cmd->add_option("--t", args->t, "slerp: 0 gives the base, 1 the model (default 0.5)");
  cmd->add_option("--density", args->density, "ties: fraction of each delta kept (default 0.5)");
  cmd->add_option("--p", args->p, "dare: drop probability (default 0.5)");
  cmd->add_option("--seed", args->seed, "dare: random seed (default 0); same seed, same output");
  cmd->add_option("--set", args->sets,
                  "REGEX:KEY=VALUE: for tensors matching REGEX use another weights, lambda, t, "
                  "density or p (the last matching --set wins)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_flag("--no-normalize", args->no_normalize,
                "linear: do not divide by the sum of weights; ties: sum instead of mean");
  cmd->add_flag("--keep-optimizer", args->keep_optimizer, "Keep optimizer slots (else dropped)");
  cmd->add_option("--threads", args->threads, "Worker threads (default: one per core)");
  cmd->callback([args] {
    BlendOptions bo;
    if (Status s = ParseBlendMethod(args->method, &bo.method); !s.ok()) {
      ReportError(s);
      return;
    }
    if (!args->base.empty()) bo.base = args->base;
    bo.models = args->models;
    if (!args->weights.empty() && !ParseList(args->weights, "--weights", &bo.weights)) return;
    if (args->lambda) bo.lambda = *args->lambda;
    if (args->t) bo.t = *args->t;
    if (args->density) bo.density = *args->density;
    if (args->p) bo.p = *args->p;
    bo.seed = args->seed;
    bo.normalize = !args->no_normalize;
    bo.keep_optimizer = args->keep_optimizer;
    for (const std::string& set : args->sets) {
      size_t colon = set.rfind(':');
      size_t eq = colon == std::string::npos ? std::string::npos : set.find('=', colon);
      if (eq == std::string::npos) {
        ReportError(Status::InvalidArgument(fmt::format(
            "--set '{}' needs the form REGEX:KEY=VALUE, e.g. 'attention:density=0.7'", set)));
        return;
      }
      BlendOverride o;
      o.pattern = set.substr(0, colon);
      std::string key = set.substr(colon + 1, eq - colon - 1), value = set.substr(eq + 1);
      std::vector<double> nums;
      if (!ParseList(value, "--set", &nums)) return;
      if (key == "weights") {
        o.weights = nums;
      } else if (nums.size() != 1) {
        ReportError(
            Status::InvalidArgument(fmt::format("--set '{}': {} takes one number", set, key)));
        return;
      } else if (key == "lambda") {
        o.lambda = nums[0];
      } else if (key == "t") {
        o.t = nums[0];
      } else if (key == "density") {
        o.density = nums[0];
      } else if (key == "p") {
        o.p = nums[0];
      } else {
        ReportError(Status::InvalidArgument(fmt::format(
            "--set '{}': unknown parameter '{}' (weights, lambda, t, density or p)", set, key)));
        return;
      }
      bo.overrides.push_back(std::move(o));
    }
    Plan plan;
    Status s = PlanBlend(bo, args->output, &plan);
    Run(s, plan, *args, args->threads);
  });
}

void RegisterConvert(CLI::App& app) {
  struct Args {
    std::string src, out, output, max_shard_size, to_tf2;
    std::vector<std::string> rename, keep, drop, map;
    bool strip = false, skip = false, force = false, json = false, no_sync = false;
    bool to_tf1 = false, to_tf2_flag = false, dry_run = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "convert",
      "Convert a TensorFlow checkpoint to safetensors or .npz (OUT ending in .safetensors or "
      ".npz), or back (SRC a .safetensors file, a *.safetensors.index.json, a directory of "
      "them, or a .npz).");
  cmd->add_option("SRC", args->src, "What to convert")->required();
  cmd->add_option("OUT", args->out, "Where to write it (or -o OUT)");
  cmd->add_option("-o,--output", args->output,
                  "Where to write it: a .safetensors or .npz file, or a checkpoint prefix; with "
                  "--to-tf1/--to-tf2 also a directory (an existing one, or a path ending in '/') "
                  "to write it in, named after SRC (--to-tf1) or --template (--to-tf2)");
  cmd->add_flag("--to-tf1", args->to_tf1,
                "TF2 checkpoint -> name-based checkpoint keyed by the variables' full names");
  cmd->add_flag("--to-tf2", args->to_tf2_flag,
                "Name-based (or TF2) SRC -> a TF2 checkpoint shaped like --template");
  cmd->add_option("--template", args->to_tf2,
                  "With --to-tf2: a TF2 checkpoint (or SavedModel) of the model; the output is it "
                  "with every variable whose full name SRC has taken from SRC");
  cmd->add_option("--map", args->map,
                  "With --to-tf2, when the names differ: CKPT=TARGET maps SRC's names to the "
                  "template's full names, as transfer's --map does (scope/=other/, a=b, ...)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--rename", args->rename, "OLD=NEW, as for edit")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--keep", args->keep, "Keep only names matching this regex")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--drop", args->drop, "Drop names matching this regex")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_flag("--strip-optimizer", args->strip, "Drop optimizer slots and variables");
  cmd->add_flag("--skip-unsupported", args->skip,
                "Leave out tensors the target format cannot hold (listed in the summary)");
  cmd->add_option("--max-shard-size", args->max_shard_size,
                  "safetensors: write Hugging Face's sharded form with shards of at most this "
                  "size (e.g. 5GB, 500MiB)");
  cmd->add_flag("--dry-run", args->dry_run,
                "With --to-tf1/--to-tf2: print the plan; write nothing");
  cmd->add_flag("--force", args->force, "Replace existing outputs");
  cmd->add_flag("--json", args->json, "Print the summary as JSON");
  cmd->add_flag("--no-sync", args->no_sync, "Skip fsync of the outputs");
  cmd->callback([args] {
    if (!args->output.empty() && !args->out.empty()) {
      ReportError(Status::InvalidArgument("give the output once: OUT or -o OUT"));
      return;
    }
    const std::string output = args->out.empty() ? args->output : args->out;
    if (output.empty()) {
      ReportError(Status::InvalidArgument("convert needs an output: OUT or -o OUT"));
      return;
    }
    if (!args->to_tf2_flag && !args->to_tf2.empty()) {
      ReportError(Status::InvalidArgument(
          "--template goes with --to-tf2: tfckpt convert --to-tf2 --template TF2_CKPT SRC -o OUT"));
      return;
    }
    if (args->to_tf2_flag && args->to_tf2.empty()) {
      ReportError(Status::InvalidArgument(
          "--to-tf2 needs --template TF2_CKPT: a TF2 checkpoint (or SavedModel) of the model, "
          "e.g. written by tf.train.Checkpoint(model=model).save(...)"));
      return;
    }
    if (!args->map.empty() && !args->to_tf2_flag) {
      ReportError(Status::InvalidArgument(
          "--map goes with --to-tf2: tfckpt convert --to-tf2 --template TF2_CKPT SRC --map "
          "CKPT=TARGET -o OUT (or tfckpt transfer --into MODEL --from SRC --map CKPT=TARGET -o "
          "OUT)"));
      return;
    }
    if (args->to_tf1 || !args->to_tf2.empty()) {
      if (!args->rename.empty() || !args->keep.empty() || !args->drop.empty() || args->strip ||
          args->skip || !args->max_shard_size.empty()) {
        ReportError(Status::InvalidArgument(
            "--to-tf1/--to-tf2 take no name options; run `tfckpt edit` on the result"));
        return;
      }
      CommonArgs common;
      common.output = output;
      common.force = args->force;
      common.json = args->json;
      common.no_sync = args->no_sync;
      common.dry_run = args->dry_run;
      std::vector<std::pair<std::string, std::string>> map;
      for (const std::string& m : args->map) {
        if (!SplitMapping(m, "--map", &map.emplace_back())) return;
      }
      Plan plan;
      Status s = args->to_tf1 && args->to_tf2_flag
                     ? Status::InvalidArgument("give --to-tf1 or --to-tf2, not both")
                 : args->to_tf1 ? PlanToTf1(args->src, output, &plan)
                                : PlanToTf2(args->src, args->to_tf2, map, output, &plan);
      Run(s, plan, common);
      return;
    }
    if (args->dry_run) {
      ReportError(Status::InvalidArgument(
          "--dry-run applies to --to-tf1 and --to-tf2; `tfckpt ls SRC` shows what a format "
          "conversion would write"));
      return;
    }
    ConvertOptions co;
    for (const std::string& r : args->rename) {
      std::pair<std::string, std::string> m;
      if (!SplitMapping(r, "--rename", &m)) return;
      co.names.renames.push_back(m);
    }
    co.names.keep = args->keep;
    co.names.drop = args->drop;
    co.names.strip_optimizer = args->strip;
    co.skip_unsupported = args->skip;
    co.overwrite = args->force;
    co.sync = !args->no_sync;
    if (!args->max_shard_size.empty()) {
      Status s = ParseByteSize(args->max_shard_size, &co.max_shard_bytes);
      if (!s.ok()) {
        ReportError(s);
        return;
      }
    }
    ConvertReport r;
    Status s = Convert(args->src, output, co, &r);
    if (!s.ok()) {
      ReportError(s);
      return;
    }
    if (args->json) {
      fmt::print("{}\n", r.ToJson());
      return;
    }
    std::string out =
        fmt::format("convert {} -> {}: {} tensors, {} bytes\n", r.from, r.to, r.tensors, r.bytes);
    for (const std::string& o : r.outputs) out += "wrote " + o + "\n";
    for (const auto& [name, dtype] : r.skipped) {
      out += fmt::format("skipped {} ({})\n", name, DTypeName(dtype));
    }
    for (const std::string& n : r.notes) out += "note: " + n + "\n";
    fmt::print("{}", out);
  });
}

void RegisterApply(CLI::App& app) {
  struct Args {
    std::string recipe, output, link = "auto";
    bool dry_run = false, force = false, no_sync = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "apply",
      "Run a recipe: one YAML file describing inputs, a pipeline of steps and the output.");
  cmd->add_option("RECIPE", args->recipe, "The recipe (.yaml)")->required();
  cmd->add_option("-o,--output", args->output,
                  "Write here instead of the recipe's output; or a directory (an existing one, "
                  "or a path ending in '/') to write it in, named after the recipe");
  cmd->add_flag("--dry-run", args->dry_run, "Print every step's resolved plan; write nothing");
  cmd->add_flag("--force", args->force, "Replace an existing output");
  cmd->add_flag("--no-sync", args->no_sync, "Skip fsync of the outputs");
  cmd->add_option("--link", args->link, "auto, copy or hardlink (as for merge)")
      ->check(OneOfNames(LinkModeNames()));
  cmd->callback([args] {
    RecipeOptions ro;
    if (!args->output.empty()) ro.output = args->output;
    ro.dry_run = args->dry_run;
    ro.execute.overwrite = args->force;
    ro.execute.sync = !args->no_sync;
    if (::isatty(STDERR_FILENO)) ro.execute.progress = DrawProgress;
    if (Status s = ParseLinkMode(args->link, &ro.execute.link); !s.ok()) {
      ReportError(s);
      return;
    }
    std::string report;
    Status s = ApplyRecipe(args->recipe, ro, &report);
    fmt::print("{}", report);
    if (!s.ok()) ReportError(s);
  });
}

}  // namespace tfckpt::cli
