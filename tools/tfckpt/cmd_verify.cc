// tfckpt verify: check structure and every CRC32C of one or more checkpoints.

#include <chrono>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "ops_common.h"
#include "progress_bar.h"
#include "tfckpt/verify.h"
#include "tfckpt/version.h"

namespace tfckpt::cli {
namespace {

struct VerifyArgs {
  std::vector<std::string> paths;
  std::optional<int64_t> step;
  bool json = false;
  bool quiet = false;
  bool structure_only = false;
  int threads = 0;
};

void RunVerify(const VerifyArgs& args) {
  bool all_ok = true;
  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  for (const std::string& path : args.paths) {
    auto start = std::chrono::steady_clock::now();
    OpenOptions oo;
    oo.step = args.step;
    std::unique_ptr<Checkpoint> ckpt;
    Status s = Checkpoint::Open(path, oo, &ckpt);
    VerifyReport report;
    if (s.ok()) {
      VerifyOptions vo;
      vo.check_data = !args.structure_only;
      vo.threads = args.threads;
      ProgressBar bar("verify", !args.json && !args.quiet);
      vo.progress = bar.fn();
      s = VerifyCheckpoint(*ckpt, vo, &report);
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!s.ok()) {
      // Cannot even be opened: an error (exit 2), reported on stderr; other paths still run.
      ReportError(s);
      if (args.json) {
        results.push_back({{"path", path}, {"ok", false}, {"error", ForCommandLine(s.message())}});
      }
      continue;
    }
    all_ok = all_ok && report.ok();
    if (args.json) {
      nlohmann::ordered_json problems = nlohmann::ordered_json::array();
      for (const VerifyProblem& p : report.problems) {
        problems.push_back({{"tensor", p.tensor}, {"file", p.file}, {"message", p.message}});
      }
      results.push_back({{"path", path},
                         {"prefix", ckpt->prefix()},
                         {"ok", report.ok()},
                         {"tensors_checked", report.tensors_checked},
                         {"bytes_checked", report.bytes_checked},
                         {"seconds", secs},
                         {"problems", std::move(problems)}});
      continue;
    }
    for (const VerifyProblem& p : report.problems) {
      if (p.tensor.empty()) {
        fmt::print("FAIL {}: {}\n", p.file, p.message);
      } else {
        fmt::print("FAIL tensor '{}' in '{}': {}\n", p.tensor, p.file, p.message);
      }
    }
    fmt::print(
        "{} {}: {} tensors ({} data entries), {} bytes checked in {:.3f} s ({:.2f} GB/s){}\n",
        report.ok() ? "ok" : "FAILED", ckpt->prefix(), ckpt->tensors().size(),
        report.tensors_checked, report.bytes_checked, secs,
        secs > 0 ? report.bytes_checked / secs / 1e9 : 0.0,
        report.ok() ? "" : fmt::format(", {} problem(s)", report.problems.size()));
  }
  if (args.json) {
    nlohmann::ordered_json out;
    out["schema_version"] = TFCKPT_JSON_SCHEMA_VERSION;
    out["ok"] = all_ok && ExitCode() == kExitOk;
    out["checkpoints"] = std::move(results);
    fmt::print("{}\n", out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
  }
  if (!all_ok && ExitCode() == kExitOk) ExitCode() = kExitFound;
}

}  // namespace

void RegisterVerify(CLI::App& app) {
  auto args = std::make_shared<VerifyArgs>();
  CLI::App* cmd = app.add_subcommand(
      "verify", "Check structure and every tensor's CRC32C; exit 0 only when all is well.");
  cmd->add_option("CKPT", args->paths, "Checkpoints to verify")->required();
  cmd->add_option("--step", args->step, "Pick the listed checkpoint of this step in a directory");
  cmd->add_flag("--json", args->json, "Print one JSON object: a report per checkpoint");
  cmd->add_flag("--structure-only", args->structure_only, "Skip reading tensor data");
  cmd->add_option("--threads", args->threads, "Worker threads (default: one per core)");
  AddQuiet(cmd, &args->quiet);
  cmd->callback([args] { RunVerify(*args); });
}

}  // namespace tfckpt::cli
