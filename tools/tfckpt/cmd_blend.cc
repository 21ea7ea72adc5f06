// tfckpt blend: same-architecture models merged by a model-merging method.

#include <fmt/format.h>

#include "commands.h"
#include "ops_common.h"
#include "tfckpt/plan.h"

namespace tfckpt::cli {

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

}  // namespace tfckpt::cli
