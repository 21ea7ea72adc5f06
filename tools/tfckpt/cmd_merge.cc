// tfckpt merge: whole checkpoints into one prefix.

#include <unistd.h>

#include <cctype>

#include <fmt/format.h>

#include "commands.h"
#include "ops_common.h"
#include "tfckpt/plan.h"

namespace tfckpt::cli {
namespace {

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

}  // namespace tfckpt::cli
