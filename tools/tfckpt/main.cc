// tfckpt: inspect, verify and compare TensorFlow checkpoints without TensorFlow.

#include <algorithm>
#include <cstdio>
#include <exception>
#include <map>
#include <set>
#include <string>

#include <fmt/format.h>

#include "commands.h"
#include "tfckpt/paths.h"
#include "tfckpt/remote.h"
#include "tfckpt/version.h"

namespace tfckpt::cli {

int& ExitCode() {
  static int code = kExitOk;
  return code;
}

bool& Quiet() {
  static bool quiet = false;
  return quiet;
}

namespace {

std::set<std::string>& Flags() {
  static std::set<std::string> flags;
  return flags;
}

}  // namespace

void LearnFlags(const CLI::App& app) {
  for (const CLI::App* cmd : app.get_subcommands({})) {
    for (const CLI::Option* option : cmd->get_options()) {
      for (const std::string& name : option->get_lnames()) Flags().insert("--" + name);
    }
  }
}

std::string ForCommandLine(std::string_view message) {
  return RespellOptions(message, [](std::string_view name) -> std::string {
    // The library's names that the command line spells otherwise.
    static const std::map<std::string_view, std::string_view> kOther = {
        {"overwrite", "--force"},
        {"renames", "--rename"},
        {"overrides", "--set"},
        {"source", "--from"},
        {"names", "NAME=SRC"},
        {"objects", "`tfckpt ls --objects`"},
        {"ls", "`tfckpt ls`"},
        {"edit", "`tfckpt edit`"},
        {"verify", "`tfckpt verify`"},
        {"to_tf1", "convert --to-tf1"},
        {"to_tf2", "convert --to-tf2"},
        {"keras_template", "--template"},
        {"transfer", "`tfckpt transfer`"}};
    if (auto it = kOther.find(name); it != kOther.end()) return std::string(it->second);
    std::string flag = "--" + std::string(name);
    std::replace(flag.begin(), flag.end(), '_', '-');
    return Flags().count(flag) ? flag : "";
  });
}

void ReportError(const Status& status) {
  fmt::print(stderr, "tfckpt: error: {}\n", ForCommandLine(status.message()));
  ExitCode() = kExitError;
}

std::unique_ptr<Checkpoint> OpenOrReport(const std::string& path, std::optional<int64_t> step,
                                         Status* why) {
  OpenOptions options;
  options.step = step;
  std::unique_ptr<Checkpoint> ckpt;
  Status s = Checkpoint::Open(path, options, &ckpt);
  if (!s.ok()) {
    ReportError(s);
    if (why) *why = s;
    return nullptr;
  }
  if (std::string why = ckpt->DescribeIncomplete(); !why.empty()) {
    fmt::print(stderr, "tfckpt: warning: {}\n", ForCommandLine(why));
  }
  return ckpt;
}

void NoteResolution(const std::string& path, std::optional<int64_t> step, const Checkpoint& ckpt,
                    std::string_view verb) {
  std::string why = DescribeResolution(path, step, ckpt.prefix());
  if (why.empty() || Quiet()) return;
  fmt::print(stderr, "tfckpt: {} {}, {}\n", verb, ckpt.prefix(), why);
}

}  // namespace tfckpt::cli

int main(int argc, char** argv) {
  using namespace tfckpt::cli;
  CLI::App app{
      "tfckpt: inspect, verify, compare, merge, transfer and edit TensorFlow checkpoints without\n"
      "TensorFlow.\n"
      "CKPT may be a prefix (model.ckpt-1000), its .index or .data file, a training directory\n"
      "with a `checkpoint` file (DIR@STEP picks a listed step), a SavedModel directory, or a V1\n"
      "checkpoint (its file, or the model.ckpt-\?\?\?\?\?-of-NNNNN pattern of a sharded one).\n"
      "Any of these may be remote: s3://BUCKET/KEY, gs://BUCKET/KEY or https://HOST/PATH, and\n"
      "outputs s3:// or gs:// (AWS credentials and AWS_ENDPOINT_URL as the AWS tools take them)."};
  app.set_version_flag("--version", "tfckpt " TFCKPT_VERSION);
  app.require_subcommand(1);
  // Options of every command: how remote checkpoints (s3://, gs://, https://) are reached. They
  // take effect as they are parsed, before the command runs.
  app.fallthrough();
  tfckpt::RemoteOptions remote;
  app.add_option_function<std::string>(
         "--endpoint",
         [&remote](const std::string& url) {
           remote.endpoint = url;
           tfckpt::SetRemoteOptions(remote);
         },
         "S3 endpoint for s3:// paths, e.g. http://127.0.0.1:8333 (default: AWS_ENDPOINT_URL, "
         "else AWS)")
      ->trigger_on_parse();
  app.add_option_function<int>(
         "--remote-concurrency",
         [&remote](int n) {
           remote.concurrency = n;
           tfckpt::SetRemoteOptions(remote);
         },
         "Most ranged GETs in flight at once when reading remote checkpoints (default 16)")
      ->check(CLI::PositiveNumber)
      ->trigger_on_parse();
  RegisterLs(app);
  RegisterShow(app);
  RegisterVerify(app);
  RegisterStats(app);
  RegisterDiff(app);
  RegisterMerge(app);
  RegisterTransfer(app);
  RegisterEdit(app);
  RegisterAverage(app);
  RegisterBlend(app);
  RegisterApply(app);
  RegisterConvert(app);
  RegisterCompletion(app);
  LearnFlags(app);
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
