// tfckpt edit: rename, filter or strip optimizer state into a new checkpoint.

#include <fmt/format.h>

#include "commands.h"
#include "ops_common.h"
#include "tfckpt/plan.h"

namespace tfckpt::cli {

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

}  // namespace tfckpt::cli
