// What the commands that write (merge, transfer, edit, average, blend, convert, apply) share:
// their common options, and running a plan: printing it (--dry-run) or executing it and printing
// a summary.

#ifndef TFCKPT_TOOLS_OPS_COMMON_H_
#define TFCKPT_TOOLS_OPS_COMMON_H_

#include <CLI/CLI.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tfckpt/plan.h"
#include "tfckpt/status.h"

namespace tfckpt::cli {

// CLI11's check that an option's value is one of a vocabulary of the library's.
CLI::IsMember OneOfNames(std::span<const std::string_view> names);

// The options of every command that writes through a plan.
struct CommonArgs {
  std::string output;
  bool force = false;
  bool dry_run = false;
  bool json = false;
  bool no_sync = false;
  bool verify = false;
  bool quiet = false;
  std::string link = "auto";
  std::string max_shard_size;
};

// -q/--quiet: sets `*quiet` and Quiet() (no progress line, no notes on stderr).
void AddQuiet(CLI::App* cmd, bool* quiet);

// -o/--output, --force, --dry-run, --json, --no-sync, --link, --quiet and --verify. `what`: the
// kind of output; `named_after`: which input names the output written in a directory ("the first
// SRC").
void AddCommon(CLI::App* cmd, CommonArgs* args, const std::string& what,
               const std::string& named_after);

// Reports a failed build; else prints the plan (--dry-run) or executes it and prints a summary
// (text or --json), its operation and notes in command-line terms. `threads`: for computed
// tensors (0: one per core).
void Run(const Status& built, Plan& plan, const CommonArgs& args, int threads = 0);

// "OLD=NEW" -> (OLD, NEW); else reports an error naming `flag` and returns false.
bool SplitMapping(const std::string& text, const char* flag,
                  std::pair<std::string, std::string>* out);

// "0.2,0.3" -> {0.2, 0.3}; else reports an error naming `flag` and returns false.
bool ParseList(const std::string& text, const char* flag, std::vector<double>* out);

}  // namespace tfckpt::cli

#endif  // TFCKPT_TOOLS_OPS_COMMON_H_
