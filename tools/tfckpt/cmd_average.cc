// tfckpt average: checkpoints averaged tensor by tensor (e.g. the last N of a run).

#include <fmt/format.h>

#include "commands.h"
#include "ops_common.h"
#include "tfckpt/paths.h"
#include "tfckpt/plan.h"

namespace tfckpt::cli {

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
    std::string selection;
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
      Status s = LastCheckpoints(args->last[1], n, &sources, &selection);
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
    ao.selection = selection;
    Plan plan;
    Status s = PlanAverage(sources, args->output, ao, &plan);
    Run(s, plan, *args, args->threads);
  });
}

}  // namespace tfckpt::cli
