// tfckpt show: print tensor values.

#include <fmt/format.h>

#include "commands.h"
#include "format_values.h"
#include "tfckpt/version.h"

namespace tfckpt::cli {
namespace {

struct ShowArgs {
  std::string path;
  std::vector<std::string> names;
  std::optional<int64_t> step;
  bool json = false;
  std::optional<int64_t> limit;
};

std::string NotFoundHint(const Checkpoint& ckpt, const std::string& name) {
  std::vector<std::string> similar;
  for (const TensorInfo& t : ckpt.tensors()) {
    if (t.name.find(name) != std::string::npos || name.find(t.name) != std::string::npos) {
      similar.push_back(t.name);
      if (similar.size() == 5) break;
    }
  }
  if (similar.empty()) return fmt::format("run `tfckpt ls {}` to see its tensors", ckpt.prefix());
  return fmt::format("similar names: {}", fmt::join(similar, ", "));
}

void RunShow(const ShowArgs& args) {
  std::unique_ptr<Checkpoint> ckpt = OpenOrReport(args.path, args.step);
  if (!ckpt) return;
  NoteResolution(args.path, args.step, *ckpt, "reading");
  // Look every name up first, so a typo fails before anything is printed.
  std::vector<const TensorInfo*> infos;
  for (const std::string& name : args.names) {
    std::string key = name.size() > 2 && name.ends_with(":0") && !ckpt->Find(name)
                          ? name.substr(0, name.size() - 2)
                          : name;
    const TensorInfo* info = ckpt->Find(key);
    if (info == nullptr) {
      ReportError(Status::NotFound(fmt::format("tensor '{}' is not in checkpoint '{}'; {}", name,
                                               ckpt->prefix(), NotFoundHint(*ckpt, name))));
      return;
    }
    infos.push_back(info);
  }
  std::string out = args.json
                        ? fmt::format("{{\"schema_version\": {}, \"prefix\": {}, \"tensors\": [",
                                      TFCKPT_JSON_SCHEMA_VERSION, JsonString(ckpt->prefix()))
                        : "";
  for (size_t k = 0; k < infos.size(); k++) {
    const TensorInfo& info = *infos[k];
    Tensor t;
    Status s = ckpt->Read(info, ReadOptions(), &t);
    if (!s.ok()) {
      ReportError(s);
      return;
    }
    if (args.json) {
      bool truncated = false;
      std::string values = ValuesToJson(t, args.limit.value_or(-1), &truncated);
      out += fmt::format("{}{{\"name\": {}, \"dtype\": \"{}\", \"shape\": [{}], \"values\": {}{}}}",
                         k > 0 ? ", " : "", JsonString(info.name), DTypeName(info.dtype),
                         fmt::join(info.shape, ", "), values,
                         truncated ? ", \"truncated\": true" : "");
    } else {
      out += fmt::format("{} ({} {})\n{}\n", info.name, DTypeName(info.dtype),
                         ShapeToString(info.shape), ValuesToText(t, args.limit.value_or(1000)));
    }
  }
  if (args.json) out += "]}\n";
  fmt::print("{}", out);
}

}  // namespace

void RegisterShow(CLI::App& app) {
  auto args = std::make_shared<ShowArgs>();
  CLI::App* cmd = app.add_subcommand("show", "Print the values of tensors.");
  cmd->add_option("CKPT", args->path, "Checkpoint")->required();
  cmd->add_option("NAME", args->names, "Tensor names")->required();
  cmd->add_option("--step", args->step, "Pick the listed checkpoint of this step in a directory");
  cmd->add_flag("--json", args->json,
                "Print a JSON list of {name, dtype, shape, values}; numbers read back exactly");
  cmd->add_option("--limit", args->limit,
                  "Text: summarise arrays of more elements than this, as numpy does (default "
                  "1000). JSON: emit only the first N elements, flat, with \"truncated\": true");
  cmd->callback([args] { RunShow(*args); });
}

}  // namespace tfckpt::cli
