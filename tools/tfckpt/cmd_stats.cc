// tfckpt stats: per tensor min, max, mean, std, L2 norm and the counts of NaN, Inf and zeros;
// --check-finite finds the tensors (and, with --all, the first checkpoint of a training
// directory) that hold NaN or Inf.

#include <cmath>
#include <regex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "ops_common.h"
#include "progress_bar.h"
#include "svg_plot.h"
#include "tfckpt/name_pattern.h"
#include "tfckpt/paths.h"
#include "tfckpt/stats.h"
#include "tfckpt/version.h"

namespace tfckpt::cli {
namespace {

struct StatsArgs {
  std::string path;
  std::vector<std::string> names;
  std::optional<int64_t> step;
  std::string filter;
  bool json = false;
  bool quiet = false;
  bool check_finite = false;
  bool all = false;
  int threads = 0;
  std::string plot;
  int bins = 0;
};

nlohmann::ordered_json Number(const std::optional<double>& v) {
  if (!v || !std::isfinite(*v)) return nullptr;
  return *v;
}

nlohmann::ordered_json ToJson(const TensorStats& s) {
  nlohmann::ordered_json j;
  j["name"] = s.name;
  j["dtype"] = DTypeName(s.dtype);
  j["shape"] = s.shape;
  j["count"] = s.count;
  if (!s.error.ok()) {
    j["error"] = ForCommandLine(s.error.message());
    return j;
  }
  if (s.numeric) {
    j["min"] = s.min_int    ? nlohmann::ordered_json(*s.min_int)
               : s.min_uint ? nlohmann::ordered_json(*s.min_uint)
                            : Number(s.min);
    j["max"] = s.max_int    ? nlohmann::ordered_json(*s.max_int)
               : s.max_uint ? nlohmann::ordered_json(*s.max_uint)
                            : Number(s.max);
    j["mean"] = Number(s.mean);
    j["std"] = Number(s.std);
    j["l2"] = Number(s.l2);
    j["nan"] = s.nan;
    j["inf"] = s.inf;
    j["zeros"] = s.zeros;
    if (!s.histogram.empty()) {
      j["histogram"] = {
          {"low", s.histogram_low}, {"high", s.histogram_high}, {"counts", s.histogram}};
    } else if (!s.histogram_note.empty()) {
      j["histogram_note"] = s.histogram_note;
    }
  }
  return j;
}

std::string Cell(const std::optional<double>& v) { return v ? fmt::format("{:.6g}", *v) : "-"; }

// min or max: exact for integers.
std::string Extreme(const std::optional<double>& v, const std::optional<int64_t>& i,
                    const std::optional<uint64_t>& u) {
  if (i) return fmt::format("{}", *i);
  if (u) return fmt::format("{}", *u);
  return Cell(v);
}

void PrintTable(const std::vector<TensorStats>& stats) {
  size_t name_w = 4, type_w = 5, shape_w = 5;
  for (const TensorStats& s : stats) {
    name_w = std::max(name_w, s.name.size());
    type_w = std::max(type_w, DTypeName(s.dtype).size());
    shape_w = std::max(shape_w, ShapeToString(s.shape).size());
  }
  std::string out = fmt::format(
      "{:<{}}  {:<{}}  {:<{}}  {:>12}  {:>12}  {:>12}  {:>12}  {:>12}  "
      "{:>6}  {:>6}  {:>8}\n",
      "NAME", name_w, "DTYPE", type_w, "SHAPE", shape_w, "MIN", "MAX", "MEAN", "STD", "L2", "NAN",
      "INF", "ZEROS");
  for (const TensorStats& s : stats) {
    out += fmt::format("{:<{}}  {:<{}}  {:<{}}", s.name, name_w, DTypeName(s.dtype), type_w,
                       ShapeToString(s.shape), shape_w);
    if (!s.error.ok()) {
      out += "  (could not be read: see the error)\n";
      continue;
    }
    if (!s.numeric) {
      out += fmt::format("  ({} elements, not numbers)\n", s.count);
      continue;
    }
    out += fmt::format("  {:>12}  {:>12}  {:>12}  {:>12}  {:>12}  {:>6}  {:>6}  {:>8}\n",
                       Extreme(s.min, s.min_int, s.min_uint), Extreme(s.max, s.max_int, s.max_uint),
                       Cell(s.mean), Cell(s.std), Cell(s.l2), s.nan, s.inf, s.zeros);
  }
  fmt::print("{}", out);
}

// The checkpoints to describe: the one named, or every one a directory's `checkpoint` lists.
Status Targets(const StatsArgs& args, std::vector<std::string>* paths) {
  if (!args.all) {
    paths->push_back(args.path);
    return Status::OK();
  }
  return ListedCheckpoints(args.path, paths);
}

void RunStats(const StatsArgs& args) {
  if (!args.plot.empty() && args.all) {
    ReportError(Status::InvalidArgument("--plot draws one checkpoint; drop --all"));
    return;
  }
  if (!args.filter.empty() && !args.names.empty()) {
    ReportError(Status::InvalidArgument(
        "give tensor names or --filter, not both (--filter chooses among all tensors)"));
    return;
  }
  constexpr int kMaxBins = 100000;
  if (args.bins < 0 || args.bins > kMaxBins) {
    ReportError(Status::InvalidArgument(
        fmt::format("--bins must be between 1 and {} (it is {})", kMaxBins, args.bins)));
    return;
  }
  if (args.all && args.step) {
    ReportError(Status::InvalidArgument("--all describes every listed checkpoint; drop --step"));
    return;
  }
  std::optional<NamePattern> filter;
  if (!args.filter.empty()) {
    Status s = NamePattern::Compile(args.filter, "--filter", &filter.emplace());
    if (!s.ok()) {
      ReportError(s);
      return;
    }
  }
  std::vector<std::string> paths;
  Status s = Targets(args, &paths);
  if (!s.ok()) {
    ReportError(s);
    return;
  }
  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  std::string first_nonfinite;
  bool any_nonfinite = false;
  bool any_unread = false;  // a checkpoint or tensor skipped: nothing can be said to be finite
  for (const std::string& path : paths) {
    // (With --all, a checkpoint that cannot be described is reported, listed in --json with its
    // error, and the others are still described; without, stdout stays empty.)
    Status why;
    std::unique_ptr<Checkpoint> ckpt =
        OpenOrReport(path, args.all ? std::nullopt : args.step, &why);
    if (!ckpt) {
      any_unread = true;
      if (args.json && args.all) {
        results.push_back({{"path", path}, {"error", ForCommandLine(why.message())}});
      }
      continue;
    }
    if (!args.all) NoteResolution(path, args.step, *ckpt, "describing");
    StatsOptions options;
    options.names = args.names;
    options.threads = args.threads;
    if (!args.plot.empty() || args.bins > 0)
      options.histogram_bins = args.bins > 0 ? args.bins : 30;
    if (filter && options.names.empty()) {
      for (const TensorInfo& t : ckpt->tensors()) {
        if (filter->Search(t.name)) options.names.push_back(t.name);
      }
      if (options.names.empty()) {  // (with --all: a tensor added later in training)
        s = Status::NotFound(
            fmt::format("no tensor of '{}' matches --filter '{}'", ckpt->prefix(), args.filter));
        ReportError(s);
        any_unread = true;
        if (args.json && args.all) {
          results.push_back({{"prefix", ckpt->prefix()}, {"error", ForCommandLine(s.message())}});
        }
        continue;
      }
    }
    std::vector<TensorStats> stats;
    {
      ProgressBar bar("stats", !args.json && !args.quiet);
      options.progress = bar.fn();
      s = ComputeStats(*ckpt, options, &stats);
    }
    if (!s.ok()) {  // (e.g. a name this checkpoint lacks)
      ReportError(s);
      any_unread = true;
      if (args.json && args.all) {
        results.push_back({{"prefix", ckpt->prefix()}, {"error", ForCommandLine(s.message())}});
      }
      continue;
    }
    if (!args.plot.empty()) {
      s = WriteSvg(args.plot, HistogramsSvg(ckpt->prefix(), stats));
      if (!s.ok()) {
        ReportError(s);
        return;
      }
    }
    std::vector<const TensorStats*> bad;
    size_t unread = 0;
    for (const TensorStats& t : stats) {
      if (!t.error.ok()) {
        ReportError(t.error);  // (exit 2 at the end; the others go on)
        unread++;
      }
      if (!t.all_finite()) bad.push_back(&t);
    }
    any_unread = any_unread || unread > 0;
    if (!bad.empty() && !any_nonfinite) {
      any_nonfinite = true;
      first_nonfinite = ckpt->prefix();
    }
    if (args.json) {
      nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
      for (const TensorStats& t : stats) tensors.push_back(ToJson(t));
      nlohmann::ordered_json nonfinite = nlohmann::ordered_json::array();
      for (const TensorStats* t : bad) nonfinite.push_back(t->name);
      results.push_back({{"prefix", ckpt->prefix()},
                         {"tensors", std::move(tensors)},
                         {"nonfinite", std::move(nonfinite)}});
      continue;
    }
    if (args.all) fmt::print("== {}\n", ckpt->prefix());
    if (!args.check_finite) PrintTable(stats);
    for (const TensorStats* t : bad) {
      fmt::print("NONFINITE tensor '{}' in '{}': {} NaN, {} Inf of {} elements\n", t->name,
                 ckpt->prefix(), t->nan, t->inf, t->count);
    }
    if (args.check_finite && bad.empty()) {
      if (unread == 0) {
        fmt::print("ok {}: {} tensor(s), all finite\n", ckpt->prefix(), stats.size());
      } else {
        fmt::print("{}: {} of {} tensor(s) finite; {} could not be read\n", ckpt->prefix(),
                   stats.size() - unread, stats.size(), unread);
      }
    }
  }
  if (args.json) {
    if (results.empty()) return;
    nlohmann::ordered_json out;
    out["schema_version"] = TFCKPT_JSON_SCHEMA_VERSION;
    if (args.all) {
      out["checkpoints"] = std::move(results);
      out["first_nonfinite"] =
          any_nonfinite ? nlohmann::ordered_json(first_nonfinite) : nlohmann::ordered_json();
    } else {
      out.update(results[0]);
    }
    fmt::print("{}\n", out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
  } else if (args.all && args.check_finite) {
    fmt::print("{}\n", any_nonfinite
                           ? fmt::format("first checkpoint with NaN or Inf: {}", first_nonfinite)
                       : any_unread ? std::string("no NaN or Inf in what could be read")
                                    : std::string("every listed checkpoint is finite"));
  }
  if (args.check_finite && any_nonfinite && ExitCode() == kExitOk) ExitCode() = kExitFound;
}

}  // namespace

void RegisterStats(CLI::App& app) {
  auto args = std::make_shared<StatsArgs>();
  CLI::App* cmd = app.add_subcommand(
      "stats",
      "Per tensor: min, max, mean, std and L2 norm (over the finite elements, in float64) and the "
      "numbers of NaN, Inf and zeros.");
  cmd->add_option("CKPT", args->path, "Checkpoint (or, with --all, a training directory)")
      ->required();
  cmd->add_option("NAME", args->names, "Tensors to describe (default: all)");
  cmd->add_option("--step", args->step, "Pick the listed checkpoint of this step in a directory");
  cmd->add_option("--filter", args->filter, "Only tensors whose name matches this regex");
  cmd->add_flag("--json", args->json,
                "Print one JSON object (with --all, a report per checkpoint); numbers that are not "
                "finite are null");
  cmd->add_flag("--check-finite", args->check_finite,
                "Name every tensor holding NaN or Inf and exit 1 if there is one");
  cmd->add_flag("--all", args->all,
                "Describe every checkpoint the directory's `checkpoint` file lists, oldest first");
  cmd->add_option("--threads", args->threads, "Worker threads (default: one per core)");
  AddQuiet(cmd, &args->quiet);
  cmd->add_option("--plot", args->plot, "Draw a histogram of each tensor as SVG");
  cmd->add_option("--bins", args->bins,
                  "Histogram bins between each tensor's min and max, as numpy.histogram bins "
                  "the values taken as float64 (default 30 with --plot; in --json too)");
  cmd->callback([args] { RunStats(*args); });
}

}  // namespace tfckpt::cli
