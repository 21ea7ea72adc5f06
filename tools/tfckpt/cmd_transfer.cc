// tfckpt transfer: a model's tensors filled from other checkpoints (init_from_checkpoint).

#include <fmt/format.h>

#include "commands.h"
#include "ops_common.h"
#include "tfckpt/plan.h"

namespace tfckpt::cli {

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

}  // namespace tfckpt::cli
