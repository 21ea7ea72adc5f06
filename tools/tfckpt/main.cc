// tfckpt: inspect, verify and compare TensorFlow checkpoints without TensorFlow.

#include <cstdio>
#include <exception>

#include <fmt/format.h>

#include "commands.h"
#include "tfckpt/paths.h"
#include "tfckpt/version.h"

namespace tfckpt::cli {

int& ExitCode() {
  static int code = kExitOk;
  return code;
}

void ReportError(const Status& status) {
  fmt::print(stderr, "tfckpt: error: {}\n", status.message());
  ExitCode() = kExitError;
}

std::unique_ptr<Checkpoint> OpenOrReport(const std::string& path, std::optional<int64_t> step) {
  OpenOptions options;
  options.step = step;
  std::unique_ptr<Checkpoint> ckpt;
  Status s = Checkpoint::Open(path, options, &ckpt);
  if (!s.ok()) {
    ReportError(s);
    return nullptr;
  }
  return ckpt;
}

void NoteResolution(const std::string& path, std::optional<int64_t> step, const Checkpoint& ckpt,
                    std::string_view verb) {
  std::string why = DescribeResolution(path, step, ckpt.prefix());
  if (why.empty()) return;
  fmt::print(stderr, "tfckpt: {} {}, {}\n", verb, ckpt.prefix(), why);
}

}  // namespace tfckpt::cli

int main(int argc, char** argv) {
  using namespace tfckpt::cli;
  CLI::App app{
      "tfckpt: inspect, verify, compare, merge, transfer and edit TensorFlow checkpoints without\n"
      "TensorFlow.\n"
      "CKPT may be a prefix (model.ckpt-1000), its .index or .data file, a training directory\n"
      "with a `checkpoint` file (DIR@STEP picks a listed step), or a SavedModel directory."};
  app.set_version_flag("--version", "tfckpt " TFCKPT_VERSION);
  app.require_subcommand(1);
  RegisterLs(app);
  RegisterShow(app);
  RegisterVerify(app);
  RegisterDiff(app);
  RegisterMerge(app);
  RegisterTransfer(app);
  RegisterEdit(app);
  RegisterAverage(app);
  RegisterBlend(app);
  RegisterApply(app);
  RegisterConvert(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitError;
  } catch (const std::exception& e) {
    fmt::print(stderr, "tfckpt: internal error: {}; please report it with the command you ran\n",
               e.what());
    return kExitInternal;
  }
  std::fflush(stdout);
  return ExitCode();
}
