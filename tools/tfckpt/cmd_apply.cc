// tfckpt apply: run a recipe.

#include <fmt/format.h>

#include "commands.h"
#include "ops_common.h"
#include "progress_bar.h"
#include "tfckpt/recipe.h"

namespace tfckpt::cli {

void RegisterApply(CLI::App& app) {
  struct Args {
    std::string recipe, output, link = "auto";
    bool dry_run = false, force = false, no_sync = false, quiet = false;
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
  AddQuiet(cmd, &args->quiet);
  cmd->callback([args] {
    RecipeOptions ro;
    if (!args->output.empty()) ro.output = args->output;
    ro.dry_run = args->dry_run;
    ro.execute.overwrite = args->force;
    ro.execute.sync = !args->no_sync;
    if (Status s = ParseLinkMode(args->link, &ro.execute.link); !s.ok()) {
      ReportError(s);
      return;
    }
    std::string report;
    Status s;
    {
      ProgressBar bar("apply", !args->quiet);  // (gone before any message)
      ro.execute.progress = bar.fn();
      s = ApplyRecipe(args->recipe, ro, &report);
    }
    fmt::print("{}", report);
    if (!s.ok()) ReportError(s);
  });
}

}  // namespace tfckpt::cli
