// tfckpt ls: list a checkpoint's tensors.

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "tfckpt/name_pattern.h"

namespace tfckpt::cli {
namespace {

struct LsArgs {
  std::string path;
  std::optional<int64_t> step;
  bool json = false;
  std::string filter;
};

void RunLs(const LsArgs& args) {
  std::unique_ptr<Checkpoint> ckpt = OpenOrReport(args.path, args.step);
  if (!ckpt) return;
  std::optional<NamePattern> filter;
  if (!args.filter.empty()) {
    Status s = NamePattern::Compile(args.filter, "--filter", &filter.emplace());
    if (!s.ok()) {
      ReportError(s);
      return;
    }
  }
  std::vector<const TensorInfo*> shown;
  for (const TensorInfo& t : ckpt->tensors()) {
    if (!filter || filter->Search(t.name)) shown.push_back(&t);
  }
  int64_t params = 0, bytes = 0;
  for (const TensorInfo* t : shown) {
    params += t->num_elements();
    bytes += t->stored_bytes();
  }
  if (args.json) {
    nlohmann::ordered_json out;
    out["prefix"] = ckpt->prefix();
    out["num_shards"] = ckpt->num_shards();
    nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
    for (const TensorInfo* t : shown) {
      nlohmann::ordered_json j;
      j["name"] = t->name;
      j["dtype"] = DTypeName(t->dtype);
      j["shape"] = t->shape;
      j["bytes"] = t->stored_bytes();
      j["partitioned"] = t->partitioned();
      j["slices"] = t->slices.size();
      if (!t->partitioned()) {
        j["shard"] = t->location.shard_id;
        j["offset"] = t->location.offset;
      }
      tensors.push_back(std::move(j));
    }
    out["tensors"] = std::move(tensors);
    out["totals"] = {{"tensors", shown.size()}, {"parameters", params}, {"bytes", bytes}};
    fmt::print("{}\n", out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
    return;
  }
  size_t name_w = 4, dtype_w = 5, shape_w = 5;
  for (const TensorInfo* t : shown) {
    name_w = std::max(name_w, t->name.size());
    dtype_w = std::max(dtype_w, DTypeName(t->dtype).size());
    shape_w = std::max(shape_w, ShapeToString(t->shape).size());
  }
  std::string out = fmt::format("{:<{}}  {:<{}}  {:<{}}  {:>12}\n", "NAME", name_w, "DTYPE",
                                dtype_w, "SHAPE", shape_w, "BYTES");
  for (const TensorInfo* t : shown) {
    out += fmt::format("{:<{}}  {:<{}}  {:<{}}  {:>12}", t->name, name_w, DTypeName(t->dtype),
                       dtype_w, ShapeToString(t->shape), shape_w, t->stored_bytes());
    if (t->partitioned()) out += fmt::format("  ({} slices)", t->slices.size());
    out += "\n";
  }
  out += fmt::format("{} tensors, {} parameters, {} bytes in {} data file{}\n", shown.size(),
                     params, bytes, ckpt->num_shards(), ckpt->num_shards() == 1 ? "" : "s");
  fmt::print("{}", out);
}

}  // namespace

void RegisterLs(CLI::App& app) {
  auto args = std::make_shared<LsArgs>();
  CLI::App* cmd = app.add_subcommand("ls", "List tensors: name, dtype, shape, bytes; then totals.");
  cmd->add_option("CKPT", args->path, "Checkpoint to list")->required();
  cmd->add_option("--step", args->step, "Pick the listed checkpoint of this step in a directory");
  cmd->add_flag("--json", args->json, "Print one JSON object");
  cmd->add_option("--filter", args->filter, "Only tensors whose name matches this regex");
  cmd->callback([args] { RunLs(*args); });
}

}  // namespace tfckpt::cli
