// The options and the plan runner the commands that write share (ops_common.h).

#include "ops_common.h"

#include <cstdio>
#include <exception>
#include <stdexcept>

#include <fmt/format.h>

#include "commands.h"
#include "progress_bar.h"
#include "tfckpt/convert.h"

namespace tfckpt::cli {
namespace {

std::string Summary(const Plan& plan, const ExecuteReport& r) {
  const TransferStats& s = r.stats;
  std::vector<std::string> how;
  if (s.files_reflinked) how.push_back(fmt::format("{} file(s) reflinked", s.files_reflinked));
  if (s.files_copied) {
    how.push_back(fmt::format("{} file(s) copied ({} bytes)", s.files_copied, s.bytes_copied));
  }
  if (s.files_copied_in_store) {
    how.push_back(fmt::format("{} file(s) copied inside the object store ({} bytes)",
                              s.files_copied_in_store, s.bytes_copied_in_store));
  }
  if (s.ranges_copied_in_store) {
    how.push_back(fmt::format("{} range(s) copied inside the object store ({} bytes)",
                              s.ranges_copied_in_store, s.bytes_range_copied_in_store));
  }
  if (s.files_linked) how.push_back(fmt::format("{} file(s) hard-linked", s.files_linked));
  if (s.files_moved) how.push_back(fmt::format("{} file(s) moved", s.files_moved));
  if (s.ranges_copied) {
    how.push_back(fmt::format("{} tensor(s) copied with copy_file_range ({} bytes)",
                              s.ranges_copied, s.bytes_range_copied));
  }
  if (s.bytes_written) how.push_back(fmt::format("{} bytes written", s.bytes_written));
  std::string out = fmt::format("{} -> {}: {} tensors, {} bytes\n", plan.operation, plan.output,
                                r.tensors, r.bytes);
  if (!how.empty()) out += fmt::format("data: {}\n", fmt::join(how, ", "));
  for (const std::string& n : plan.notes) out += "note: " + n + "\n";
  return out;
}

}  // namespace

// CLI11's check that an option's value is one of a vocabulary of the library's.
CLI::IsMember OneOfNames(std::span<const std::string_view> names) {
  return CLI::IsMember(std::vector<std::string>(names.begin(), names.end()));
}

// `named_after`: which input names the output written in a directory ("the first SRC").
void AddCommon(CLI::App* cmd, CommonArgs* args, const std::string& what,
               const std::string& named_after) {
  cmd->add_option("-o,--output", args->output,
                  fmt::format("Output {}; or a directory (an existing one, or a path ending in "
                              "'/') to write it in, named after {}",
                              what, named_after))
      ->required();
  cmd->add_flag("--force", args->force, "Replace an existing output (atomically)");
  cmd->add_flag("--dry-run", args->dry_run, "Print the plan; write nothing");
  cmd->add_flag("--json", args->json, "Print the plan or the summary as one JSON object");
  cmd->add_flag("--no-sync", args->no_sync,
                "Skip fsync of the output (faster; a crash may then lose or damage it)");
  cmd->add_option("--link", args->link,
                  "How whole data files are taken: auto (reflink where the filesystem can, "
                  "else copy_file_range), copy (byte by byte: no extent shared) or hardlink "
                  "(shares the inputs' "
                  "inodes without reading them: their CRCs are not checked unless --verify)")
      ->check(OneOfNames(LinkModeNames()));
  cmd->add_option("--max-shard-size", args->max_shard_size,
                  "An output of sharded Keras weights (X.weights.json): the largest size of its "
                  ".weights.h5 shards (e.g. 2GB, 500MiB)");
  AddQuiet(cmd, &args->quiet);
  cmd->add_flag("--verify", args->verify,
                "Also check the CRC32C of what is taken without being read: data files that "
                "--link hardlink or --move take, and what an object store copies itself (every "
                "other byte taken from an input is always checked)");
}

void AddQuiet(CLI::App* cmd, bool* quiet) {
  cmd->add_flag("-q,--quiet", *quiet,
                "No progress line and no notes on standard error (errors and warnings still)")
      ->each([quiet](const std::string&) { Quiet() = true; });
}

void Run(const Status& built, Plan& plan, const CommonArgs& args, int threads) {
  if (!built.ok()) {
    ReportError(built);
    return;
  }
  int64_t shard_bytes = 0;
  Status sized =
      args.max_shard_size.empty() ? Status::OK() : ParseByteSize(args.max_shard_size, &shard_bytes);
  if (sized.ok()) sized = SetMaxShardBytes(&plan, shard_bytes);
  if (!sized.ok()) {
    ReportError(sized);
    return;
  }
  for (std::string& note : plan.notes) note = ForCommandLine(note);
  // An operation the command line runs under another name (to_tf1: convert --to-tf1).
  if (std::string op = ForCommandLine("`" + plan.operation + "`"); op[0] != '`') {
    plan.operation = op;
  }
  if (args.dry_run) {
    fmt::print("{}", args.json ? plan.DescribeJson(false, nullptr) + "\n" : plan.Describe());
    return;
  }
  ExecuteOptions eo;
  eo.overwrite = args.force;
  eo.sync = !args.no_sync;
  eo.threads = threads;
  eo.verify_linked = args.verify;
  Status s = ParseLinkMode(args.link, &eo.link);
  ExecuteReport report;
  if (s.ok()) {
    ProgressBar bar(plan.operation, !args.json && !args.quiet);  // (gone before any message)
    eo.progress = bar.fn();
    s = ExecutePlan(plan, eo, &report);
  }
  if (!s.ok()) {
    ReportError(s);
    return;
  }
  fmt::print("{}",
             args.json ? plan.DescribeJson(true, &report.stats) + "\n" : Summary(plan, report));
}

bool SplitMapping(const std::string& text, const char* flag,
                  std::pair<std::string, std::string>* out) {
  size_t eq = text.find('=');
  if (eq == std::string::npos) {
    ReportError(Status::InvalidArgument(
        fmt::format("{} '{}' needs the form OLD=NEW (e.g. scope/=other_scope/ or name=other_name)",
                    flag, text)));
    return false;
  }
  *out = {text.substr(0, eq), text.substr(eq + 1)};
  return true;
}

// "0.2,0.3" -> {0.2, 0.3}
bool ParseList(const std::string& text, const char* flag, std::vector<double>* out) {
  out->clear();
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string item =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    try {
      size_t used = 0;
      out->push_back(std::stod(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      ReportError(Status::InvalidArgument(fmt::format(
          "{} '{}': '{}' is not a number; give numbers separated by commas", flag, text, item)));
      return false;
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return true;
}

}  // namespace tfckpt::cli
