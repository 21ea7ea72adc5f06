// tfckpt ls: list a checkpoint's tensors, or (--objects) the object tree of a TF2 checkpoint.

#include <algorithm>
#include <iterator>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "tfckpt/name_pattern.h"
#include "tfckpt/objects.h"
#include "tfckpt/version.h"

namespace tfckpt::cli {
namespace {

struct LsArgs {
  std::string path;
  std::optional<int64_t> step;
  bool json = false;
  bool objects = false;
  std::string filter;
};

// Appends `s` left-aligned in a column of `width`, as fmt's "{:<{}}" does (which pads by display
// width); ASCII text, the common case, without decoding it (`ls` of a million tensors).
void AppendPadded(std::string* out, std::string_view s, size_t width) {
  if (!std::all_of(s.begin(), s.end(),
                   [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    fmt::format_to(std::back_inserter(*out), "{:<{}}", s, width);
    return;
  }
  out->append(s);
  if (s.size() < width) out->append(width - s.size(), ' ');
}

// "float32 [3,4]", or for a value held in several tensors (a lookup table) each of them.
std::string Describe(const Checkpoint& ckpt, const ObjectAttribute& a) {
  std::vector<const TensorInfo*> values = AttributeTensors(ckpt, a);
  if (values.empty()) return "(missing from the index)";
  if (values.size() == 1 && values[0]->name == a.checkpoint_key) {
    return fmt::format("{} {}", DTypeName(values[0]->dtype), ShapeToString(values[0]->shape));
  }
  std::vector<std::string> parts;
  for (const TensorInfo* t : values) {
    parts.push_back(fmt::format("{} {} {}", t->name.substr(a.checkpoint_key.size()),
                                DTypeName(t->dtype), ShapeToString(t->shape)));
  }
  return fmt::format("{{{}}}", fmt::join(parts, ", "));
}

// The object tree, depth first in child order, each object under the path its keys are named
// by (escaped as in keys); other edges to it are shown as references. Objects with no value
// anywhere below them are counted, not shown.
void RunLsObjects(const Checkpoint& ckpt, const ObjectGraph& g, bool json) {
  if (json) {
    fmt::print("{}\n", ObjectGraphJson(ckpt, g));
    return;
  }
  const int n = static_cast<int>(g.nodes.size());
  // Slots by the variable they belong to: (optimizer node, slot).
  std::vector<std::vector<std::pair<int, const ObjectSlot*>>> slots_of(n);
  for (int i = 0; i < n; i++) {
    for (const ObjectSlot& s : g.nodes[i].slots) slots_of[s.variable].emplace_back(i, &s);
  }
  auto value_text = [&](const ObjectAttribute& a) {
    std::string text = Describe(ckpt, a);
    if (!a.full_name.empty()) text += fmt::format("  ({})", a.full_name);
    return text;
  };
  auto path_text = [&](int i) {
    return g.nodes[i].path.empty() ? std::string("(root)") : g.nodes[i].path;
  };
  // One line per entry: a slot, a reference, or an object to descend into.
  struct Line {
    std::string head;
    int child = -1;
  };
  auto lines_of = [&](int i, std::vector<bool>* hidden) {
    std::vector<Line> lines;
    for (const auto& [optimizer, s] : slots_of[i]) {
      std::string text = fmt::format("slot {} of {}", s->slot_name, path_text(optimizer));
      for (const ObjectAttribute& a : g.nodes[s->slot].attributes) text += ": " + value_text(a);
      lines.push_back({text});
    }
    for (const auto& [name, c] : g.nodes[i].children) {
      std::string escaped = EscapeLocalName(name);
      if (!g.nodes[c].holds_values) {
        (*hidden)[c] = true;
        continue;
      }
      if (g.nodes[c].parent != i || g.nodes[c].local_name != name) {
        lines.push_back({fmt::format("{} -> {}", escaped, path_text(c))});
        continue;
      }
      const auto& attrs = g.nodes[c].attributes;
      std::string head = escaped;
      if (attrs.size() == 1 && attrs[0].name == "VARIABLE_VALUE") {
        head += ": " + value_text(attrs[0]);
      } else {
        for (const ObjectAttribute& a : attrs) {
          head += fmt::format(" [{}: {}]", a.name, value_text(a));
        }
      }
      lines.push_back({head, c});
    }
    return lines;
  };
  std::string out = "(root)\n";
  std::vector<bool> hidden(n, false);
  struct Frame {
    std::vector<Line> lines;
    size_t next = 0;
    std::string indent;
  };
  std::vector<Frame> stack;
  stack.push_back({lines_of(0, &hidden), 0, ""});
  while (!stack.empty()) {
    Frame& f = stack.back();
    if (f.next == f.lines.size()) {
      stack.pop_back();
      continue;
    }
    const Line line = f.lines[f.next++];
    const bool last = f.next == f.lines.size();
    out += f.indent + (last ? "└─ " : "├─ ") + line.head + "\n";
    if (line.child >= 0) {
      std::string indent = f.indent + (last ? "   " : "│  ");
      stack.push_back({lines_of(line.child, &hidden), 0, std::move(indent)});
    }
  }
  int hidden_count = 0;
  for (int i = 0; i < n; i++) hidden_count += hidden[i] ? 1 : 0;
  if (hidden_count) out += fmt::format("({} object(s) without values not shown)\n", hidden_count);
  fmt::print("{}", out);
}

void RunLs(const LsArgs& args) {
  std::unique_ptr<Checkpoint> ckpt = OpenOrReport(args.path, args.step);
  if (!ckpt) return;
  NoteResolution(args.path, args.step, *ckpt, "listing");
  if (args.objects) {
    ObjectGraph graph;
    Status s = ReadObjectGraph(*ckpt, &graph);
    if (!s.ok()) {
      ReportError(
          s.code() == Status::Code::kNotFound
              ? Status::InvalidArgument(s.message() + "; list its tensors with `tfckpt ls` instead")
              : s);
      return;
    }
    RunLsObjects(*ckpt, graph, args.json);
    return;
  }
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
    out["schema_version"] = TFCKPT_JSON_SCHEMA_VERSION;
    out["prefix"] = ckpt->prefix();
    out["format"] = FormatName(ckpt->format());
    out["num_shards"] = ckpt->num_shards();
    out["missing_data_files"] = ckpt->missing_data_files();
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
        // (A V1 value is a table entry, at no offset of its own.)
        if (ckpt->format() != Checkpoint::Format::kTensorSliceV1) j["offset"] = t->location.offset;
      }
      tensors.push_back(std::move(j));
    }
    out["tensors"] = std::move(tensors);
    out["totals"] = {{"tensors", shown.size()}, {"parameters", params}, {"bytes", bytes}};
    fmt::print("{}\n", out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
    return;
  }
  size_t name_w = 4, dtype_w = 5, shape_w = 5;
  std::vector<std::string> shapes;
  shapes.reserve(shown.size());
  for (const TensorInfo* t : shown) {
    name_w = std::max(name_w, t->name.size());
    dtype_w = std::max(dtype_w, DTypeName(t->dtype).size());
    shapes.push_back(ShapeToString(t->shape));
    shape_w = std::max(shape_w, shapes.back().size());
  }
  std::string out = fmt::format("{:<{}}  {:<{}}  {:<{}}  {:>12}\n", "NAME", name_w, "DTYPE",
                                dtype_w, "SHAPE", shape_w, "BYTES");
  for (size_t i = 0; i < shown.size(); i++) {
    const TensorInfo* t = shown[i];
    AppendPadded(&out, t->name, name_w + 2);
    AppendPadded(&out, DTypeName(t->dtype), dtype_w + 2);
    AppendPadded(&out, shapes[i], shape_w + 2);
    const fmt::format_int bytes_text(t->stored_bytes());
    out.append(bytes_text.size() < 12 ? 12 - bytes_text.size() : 0, ' ');
    out.append(bytes_text.data(), bytes_text.size());
    if (t->partitioned()) out += fmt::format("  ({} slices)", t->slices.size());
    out += "\n";
  }
  const bool v1 = ckpt->format() == Checkpoint::Format::kTensorSliceV1;
  if (ckpt->format() == Checkpoint::Format::kKeras) {
    out += fmt::format(
        "{} tensors, {} parameters, {} bytes in a Keras file (an output named .keras, "
        ".weights.h5, .weights.json or .h5 is written as one; any other name makes a "
        "TensorFlow checkpoint)\n",
        shown.size(), params, bytes);
    fmt::print("{}", out);
    return;
  }
  out +=
      fmt::format("{} tensors, {} parameters, {} bytes in {} {}file{}{}\n", shown.size(), params,
                  bytes, ckpt->num_shards(), v1 ? "" : "data ", ckpt->num_shards() == 1 ? "" : "s",
                  v1 ? " (a V1 checkpoint; writing commands write V2)" : "");
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
  cmd->add_flag("--objects", args->objects,
                "TF2 checkpoints: print the object tree (objects, their values, optimizer slots) "
                "that tf.train.Checkpoint restores by; Keras 3 files: their object tree, as "
                "keras.saving.KerasFileEditor shows it");
  cmd->callback([args] { RunLs(*args); });
}

}  // namespace tfckpt::cli
