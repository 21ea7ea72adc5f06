// The tfckpt subcommands. Each Register* adds one subcommand to the CLI11 app; its callback runs
// the command over the library and stores the process exit code.
//
// Exit codes: 0 success; 1 the command ran and found a problem or a difference (verify, diff,
// stats --check-finite);
// 2 bad input or usage (the message says what to do); 3 an internal error.

#ifndef TFCKPT_TOOLS_COMMANDS_H_
#define TFCKPT_TOOLS_COMMANDS_H_

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tfckpt/checkpoint.h"
#include "tfckpt/status.h"

namespace tfckpt::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFound = 1;
inline constexpr int kExitError = 2;
inline constexpr int kExitInternal = 3;

// Where callbacks leave the exit code.
int& ExitCode();

// Set by --quiet: NoteResolution says nothing.
bool& Quiet();

// A library message in command-line terms: the options and operations it names between
// backquotes (RespellOptions) as the flags and commands that set them ("`on_conflict`" becomes
// "--on-conflict", "`overwrite`" becomes "--force"). Knows the flags of `app` once LearnFlags ran.
void LearnFlags(const CLI::App& app);
std::string ForCommandLine(std::string_view message);

// Prints "tfckpt: error: <message>" (ForCommandLine) to stderr and sets the exit code to
// kExitError.
void ReportError(const Status& status);

// Opens a checkpoint for a command, reporting failures. Returns nullptr on error (and sets
// `*why`, when given, to it).
std::unique_ptr<Checkpoint> OpenOrReport(const std::string& path, std::optional<int64_t> step,
                                         Status* why = nullptr);

// When `path` was a directory, says on stderr which of its checkpoints `ckpt` is ("tfckpt: listing
// DIR/ckpt-2, the latest checkpoint listed in 'DIR/checkpoint'"); stdout stays the command's own.
void NoteResolution(const std::string& path, std::optional<int64_t> step, const Checkpoint& ckpt,
                    std::string_view verb);

void RegisterLs(CLI::App& app);
void RegisterShow(CLI::App& app);
void RegisterVerify(CLI::App& app);
void RegisterStats(CLI::App& app);
void RegisterDiff(CLI::App& app);
void RegisterMerge(CLI::App& app);
void RegisterTransfer(CLI::App& app);
void RegisterEdit(CLI::App& app);
void RegisterAverage(CLI::App& app);
void RegisterBlend(CLI::App& app);
void RegisterApply(CLI::App& app);
void RegisterConvert(CLI::App& app);
// `completion` and `man`, made from every command registered before them.
void RegisterCompletion(CLI::App& app);

}  // namespace tfckpt::cli

#endif  // TFCKPT_TOOLS_COMMANDS_H_
