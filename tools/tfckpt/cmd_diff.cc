// tfckpt diff: compare two checkpoints.

#include <fmt/format.h>

#include "commands.h"
#include "format_values.h"
#include "svg_plot.h"
#include "tfckpt/diff.h"
#include "tfckpt/version.h"

namespace tfckpt::cli {
namespace {

struct DiffArgs {
  std::string a, b;
  bool json = false;
  double atol = 0, rtol = 0;
  bool names_only = false;
  bool norms = false;
  std::string plot;
};

std::string JsonNames(const std::vector<std::string>& names) {
  std::string out = "[";
  for (size_t i = 0; i < names.size(); i++) out += (i ? ", " : "") + JsonString(names[i]);
  return out + "]";
}

std::string JsonMeta(DType dtype, const Shape& shape) {
  return fmt::format("{{\"dtype\": \"{}\", \"shape\": [{}]}}", DTypeName(dtype),
                     fmt::join(shape, ", "));
}

void RunDiff(const DiffArgs& args) {
  std::unique_ptr<Checkpoint> a = OpenOrReport(args.a, std::nullopt);
  if (!a) return;
  std::unique_ptr<Checkpoint> b = OpenOrReport(args.b, std::nullopt);
  if (!b) return;
  NoteResolution(args.a, std::nullopt, *a, "comparing A =");
  NoteResolution(args.b, std::nullopt, *b, "comparing B =");
  DiffOptions options;
  options.atol = args.atol;
  options.rtol = args.rtol;
  options.names_only = args.names_only;
  options.norms = args.norms || !args.plot.empty();
  if (options.norms && args.names_only) {
    ReportError(Status::InvalidArgument(
        "--names-only reads no value, so it measures no change; drop --plot and --norms, or "
        "--names-only"));
    return;
  }
  DiffReport r;
  Status s = DiffCheckpoints(*a, *b, options, &r);
  if (!s.ok()) {
    ReportError(s);
    return;
  }
  if (!args.plot.empty()) {
    s = WriteSvg(args.plot,
                 RelativeChangeSvg(fmt::format("{}  ->  {}", a->prefix(), b->prefix()), r.norms));
    if (!s.ok()) {
      ReportError(s);
      return;
    }
  }
  if (args.json) {
    std::string changed, values;
    for (const TensorChange& c : r.changed) {
      changed += fmt::format("{}{{\"name\": {}, \"a\": {}, \"b\": {}}}",
                             changed.empty() ? "" : ", ", JsonString(c.name),
                             JsonMeta(c.a_dtype, c.a_shape), JsonMeta(c.b_dtype, c.b_shape));
    }
    for (const ValueDiff& v : r.values_differ) {
      values +=
          fmt::format("{}{{\"name\": {}, \"differing\": {}, \"max_abs\": {}, \"max_rel\": {}}}",
                      values.empty() ? "" : ", ", JsonString(v.name), v.differing,
                      JsonDouble(v.max_abs), JsonDouble(v.max_rel));
    }
    std::string norms;
    if (options.norms) {
      for (const TensorNorms& t : r.norms) {
        norms += fmt::format("{}{{\"name\": {}, \"a_l2\": {}, \"diff_l2\": {}, \"relative\": {}}}",
                             norms.empty() ? "" : ", ", JsonString(t.name), JsonDouble(t.a_l2),
                             JsonDouble(t.diff_l2), JsonDouble(t.relative()));
      }
      norms = fmt::format(", \"relative_change\": [{}]", norms);
    }
    fmt::print(
        "{{\"schema_version\": {}, \"a\": {}, \"b\": {}, \"only_in_a\": {}, \"only_in_b\": {}, "
        "\"changed\": [{}], "
        "\"values_differ\": [{}], \"identical\": {}, \"values_not_compared\": {}{}}}\n",
        TFCKPT_JSON_SCHEMA_VERSION, JsonString(a->prefix()), JsonString(b->prefix()),
        JsonNames(r.only_in_a), JsonNames(r.only_in_b), changed, values, r.identical,
        r.values_not_compared, norms);
  } else {
    std::string out;
    for (const std::string& n : r.only_in_a) out += fmt::format("- {}  (only in A)\n", n);
    for (const std::string& n : r.only_in_b) out += fmt::format("+ {}  (only in B)\n", n);
    for (const TensorChange& c : r.changed) {
      out += fmt::format("~ {}  {} {} -> {} {}\n", c.name, DTypeName(c.a_dtype),
                         ShapeToString(c.a_shape), DTypeName(c.b_dtype), ShapeToString(c.b_shape));
    }
    for (const ValueDiff& v : r.values_differ) {
      out += fmt::format("! {}  {} element(s) differ, max abs {}, max rel {}\n", v.name,
                         v.differing, JsonDouble(v.max_abs), JsonDouble(v.max_rel));
    }
    out += args.names_only ? fmt::format("{} alike in dtype and shape (values not compared), ",
                                         r.values_not_compared)
                           : fmt::format("{} identical, {} with other values, ", r.identical,
                                         r.values_differ.size());
    out += fmt::format("{} with other dtype/shape, {} only in A, {} only in B\n", r.changed.size(),
                       r.only_in_a.size(), r.only_in_b.size());
    fmt::print("{}", out);
  }
  if (!r.same()) ExitCode() = kExitFound;
}

}  // namespace

void RegisterDiff(CLI::App& app) {
  auto args = std::make_shared<DiffArgs>();
  CLI::App* cmd = app.add_subcommand(
      "diff", "Compare two checkpoints; exit 0 when equal, 1 when they differ, 2 on error.");
  cmd->add_option("A", args->a, "First checkpoint")->required();
  cmd->add_option("B", args->b, "Second checkpoint")->required();
  cmd->add_flag("--json", args->json, "Print one JSON object");
  cmd->add_option("--atol", args->atol, "Absolute tolerance (default 0)");
  cmd->add_option("--rtol", args->rtol, "Relative tolerance (default 0)");
  cmd->add_flag("--names-only", args->names_only,
                "Compare names, dtypes and shapes only, reading no value (works on checkpoints "
                "whose data files are missing)");
  cmd->add_flag("--norms", args->norms,
                "Also give ||A||, ||B-A|| and the relative change per tensor (in --json)");
  cmd->add_option("--plot", args->plot,
                  "Draw the relative change ||B-A||/||A|| per tensor, grouped by layer, as SVG");
  cmd->callback([args] { RunDiff(*args); });
}

}  // namespace tfckpt::cli
