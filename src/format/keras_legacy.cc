#include "format/keras_legacy.h"

#include <algorithm>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace tfckpt::keras {
namespace {

using Ordered = nlohmann::ordered_json;

// Keras' legacy writer splits a list attribute larger than this (its HDF5_OBJECT_HEADER_LIMIT).
constexpr size_t kHeaderLimit = 64512;

// Datatype messages as h5py writes them: a variable-length string (over 1-byte unsigned
// integers) in ASCII or UTF-8, a fixed-length null-padded ASCII string, a little-endian
// IEEE double.
std::string VariableStringType(bool utf8) {
  return std::string("\x19\x01", 2) + (utf8 ? '\x01' : '\x00') + std::string("\x00", 1) +
         std::string("\x10\x00\x00\x00\x10\x00\x00\x00\x01\x00\x00\x00\x00\x00\x08\x00", 16);
}
std::string FixedStringType(uint32_t size) {
  std::string t("\x13\x01\x00\x00", 4);
  for (int i = 0; i < 4; i++) t.push_back(static_cast<char>((size >> (8 * i)) & 0xff));
  return t;
}
const std::string kDoubleType(
    "\x11\x20\x3f\x00\x08\x00\x00\x00\x00\x00\x40\x00\x34\x0b\x00\x34\xff\x03\x00\x00", 20);

hdf5::Attribute StringAttribute(const std::string& name, const std::string& value, bool utf8) {
  hdf5::Attribute a;
  a.name = name;
  a.kind = hdf5::Attribute::Kind::kStrings;
  a.strings = {value};
  a.scalar = true;
  a.type_class = 9;
  a.raw_type = VariableStringType(utf8);
  return a;
}

void Erase(Ordered* object, std::initializer_list<const char*> keys) {
  for (const char* k : keys) object->erase(k);
}

// Drops the keys the legacy form does not have from a model's or layer's entry and from the
// entries of the layers its config lists.
void LegacyEntry(Ordered* entry, int depth) {
  if (!entry->is_object() || depth > 64) return;
  Erase(entry, {"module", "registered_name", "build_config", "compile_config"});
  auto config = entry->find("config");
  if (config == entry->end() || !config->is_object()) return;
  auto layers = config->find("layers");
  if (layers == config->end() || !layers->is_array()) return;
  for (Ordered& layer : *layers) LegacyEntry(&layer, depth + 1);
}

void DropSharedIds(Ordered* j, int depth) {
  if (depth > 256) return;
  if (j->is_object()) {
    j->erase("shared_object_id");
    for (auto& [key, value] : j->items()) DropSharedIds(&value, depth + 1);
  } else if (j->is_array()) {
    for (Ordered& value : *j) DropSharedIds(&value, depth + 1);
  }
}

std::string Dump(const Ordered& j) {
  // (As Python's json.dumps: non-ASCII characters escaped.)
  return j.dump(-1, ' ', true, Ordered::error_handler_t::replace);
}

// The child `name` of group `parent`, made (a group, or a dataset like `like`) when missing; null
// when a node of the other kind is there.
hdf5::Node* Place(hdf5::Node* parent, const std::string& name, const hdf5::Node* like) {
  for (hdf5::Node& c : parent->children) {
    if (c.name == name) return (c.group && like == nullptr) ? &c : nullptr;
  }
  hdf5::Node n;
  if (like != nullptr) n = *like;
  n.name = name;
  n.attributes.clear();
  if (like == nullptr) {
    n.group = true;
    n.children.clear();
  }
  parent->children.push_back(std::move(n));
  return &parent->children.back();
}

// Children and attributes in name order, as hdf5::Read gives them.
void Sort(hdf5::Node* node) {
  std::sort(node->children.begin(), node->children.end(),
            [](const hdf5::Node& a, const hdf5::Node& b) { return a.name < b.name; });
  std::sort(node->attributes.begin(), node->attributes.end(),
            [](const hdf5::Attribute& a, const hdf5::Attribute& b) { return a.name < b.name; });
  for (hdf5::Node& c : node->children) Sort(&c);
}

}  // namespace

std::string LegacyModelConfig(const std::string& config_json) {
  Ordered config = Ordered::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) return "";
  LegacyEntry(&config, 0);
  DropSharedIds(&config, 0);
  return Dump(config);
}

std::string LegacyTrainingConfig(const std::string& config_json) {
  const Ordered config = Ordered::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) return "";
  auto compile = config.find("compile_config");
  if (compile == config.end() || !compile->is_object()) return "";
  Ordered training = *compile;
  Ordered optimizer = training.contains("optimizer") ? training["optimizer"] : Ordered();
  training.erase("optimizer");
  if (optimizer.is_object()) {
    // (Keras names the class as registered: a custom optimizer's "package>Name".)
    Ordered cls = optimizer.contains("registered_name") && optimizer["registered_name"].is_string()
                      ? optimizer["registered_name"]
                      : optimizer.value("class_name", Ordered());
    training["optimizer_config"] = {{"class_name", cls},
                                    {"config", optimizer.value("config", Ordered())}};
  }
  return Dump(training);
}

Status StringListAttributes(const std::string& name, const std::vector<std::string>& strings,
                            std::vector<hdf5::Attribute>* out) {
  out->clear();
  hdf5::Attribute a;
  a.name = name;
  if (strings.empty()) {
    // (numpy's empty list: float64, no elements.)
    a.kind = hdf5::Attribute::Kind::kNumbers;
    a.type_class = 1;
    a.raw_type = kDoubleType;
    a.dims = {0};
    out->push_back(std::move(a));
    return Status::OK();
  }
  size_t longest = 1;
  for (const std::string& s : strings) {
    if (s.size() > kHeaderLimit) {
      return Status::Unsupported(
          fmt::format("'{}...' ({} bytes) is longer than a name a legacy file can list ({} bytes)",
                      s.substr(0, 40), s.size(), kHeaderLimit));
    }
    longest = std::max(longest, s.size());
  }
  const size_t n = strings.size();
  if (n * longest <= kHeaderLimit) {
    a.kind = hdf5::Attribute::Kind::kStrings;
    a.strings = strings;
    a.type_class = 9;
    a.raw_type = VariableStringType(false);
    a.dims = {static_cast<int64_t>(n)};
    out->push_back(std::move(a));
    return Status::OK();
  }
  // As numpy's array_split into the fewest parts that fit: the first n % k parts one longer.
  size_t k = 2;
  while ((n / k + (n % k ? 1 : 0)) * longest > kHeaderLimit) k++;
  size_t at = 0;
  for (size_t i = 0; i < k; i++) {
    const size_t count = n / k + (i < n % k ? 1 : 0);
    hdf5::Attribute p;
    p.name = fmt::format("{}{}", name, i);
    p.kind = hdf5::Attribute::Kind::kStrings;
    p.type_class = 3;
    p.raw_type = FixedStringType(static_cast<uint32_t>(longest));
    p.dims = {static_cast<int64_t>(count)};
    for (size_t j = 0; j < count; j++, at++) {
      p.strings.push_back(strings[at]);
      std::string padded = strings[at];
      padded.resize(longest, '\0');
      p.raw_values += padded;
    }
    out->push_back(std::move(p));
  }
  return Status::OK();
}

Status LegacyTree(const File& tmpl, const std::string& label, bool optimizer,
                  std::map<std::string, std::string>* dataset_of, hdf5::Node* tree) {
  const LegacyLayout& layout = tmpl.legacy;
  if (!layout.problem.empty()) {
    return Status::Unsupported(fmt::format(
        "the legacy layout of the model in '{}' is not known: {}. Write a .keras or .weights.h5 "
        "file instead (Keras 3 loads both)",
        label, layout.problem));
  }
  if (!tmpl.tree) {
    return Status::InvalidArgument(fmt::format("'{}' was read without its tree", label));
  }
  std::map<std::string, std::string> name_of;  // template dataset path -> tensor name
  for (const auto& [name, dataset] : *dataset_of) name_of.emplace(dataset, name);
  for (const Variable& v : tmpl.variables) {
    if (v.dtype == DType::kBFloat16 && name_of.count(v.dataset_path)) {
      return Status::Unsupported(fmt::format(
          "'{}' is bfloat16, which a legacy .h5 file cannot hold (h5py has no such type; Keras' "
          "legacy writer stores untyped bytes that Keras cannot load again): write a .keras or "
          ".weights.h5 file",
          v.name));
    }
  }
  const std::string keras_version = tmpl.keras_version.empty() ? "3" : tmpl.keras_version;
  const std::string model_config = LegacyModelConfig(tmpl.config);
  if (model_config.empty()) {
    return Status::Unsupported(fmt::format(
        "'{}' has no config.json describing its model: a legacy .h5 file holds one", label));
  }
  std::map<std::string, std::string> placed;  // tensor name -> dataset path in `tree`
  std::string problem;
  // Puts the weights at `paths` (template datasets) into `group` under their tensors' names;
  // returns their names.
  auto put = [&](hdf5::Node* group, const std::string& group_path,
                 const std::vector<std::string>& paths) {
    std::vector<std::string> names;
    for (const std::string& path : paths) {
      auto it = name_of.find(path);
      if (it == name_of.end()) continue;  // (an optimizer left out)
      const std::string& name = it->second;
      const hdf5::Node* like = tmpl.tree->Descendant(path);
      if (like == nullptr || like->group) {
        problem = fmt::format("weight '{}' lies at '{}', which was not found again", name, path);
        return names;
      }
      if (name.empty() || name.front() == '/' || name.back() == '/' ||
          name.find("//") != std::string::npos) {
        problem = fmt::format("weight '{}' has a name no HDF5 path can be", name);
        return names;
      }
      hdf5::Node* node = group;
      size_t start = 0;
      while (node != nullptr) {
        const size_t end = name.find('/', start);
        const bool last = end == std::string::npos;
        node = Place(node, name.substr(start, last ? std::string::npos : end - start),
                     last ? like : nullptr);
        if (last) break;
        start = end + 1;
      }
      if (node == nullptr || !placed.emplace(name, group_path + "/" + name).second) {
        problem =
            fmt::format("weight '{}' cannot be placed under that name in a legacy file", name);
        return names;
      }
      names.push_back(name);
    }
    return names;
  };
  hdf5::Node root;
  root.attributes.push_back(StringAttribute("keras_version", keras_version, true));
  root.attributes.push_back(StringAttribute("backend", "tensorflow", true));
  root.attributes.push_back(StringAttribute("model_config", model_config, false));
  const std::string training = optimizer ? LegacyTrainingConfig(tmpl.config) : "";
  if (!training.empty()) {
    root.attributes.push_back(StringAttribute("training_config", training, false));
  }
  hdf5::Node weights;
  weights.name = "model_weights";
  TFCKPT_RETURN_IF_ERROR(
      StringListAttributes("layer_names", layout.layer_names, &weights.attributes));
  weights.attributes.push_back(StringAttribute("backend", "tensorflow", false));
  weights.attributes.push_back(StringAttribute("keras_version", keras_version, false));
  std::set<std::string> layers(layout.layer_names.begin(), layout.layer_names.end());
  if (layers.size() != layout.layer_names.size() || layers.count("top_level_model_weights")) {
    return Status::Unsupported(fmt::format(
        "the layer names of the model in '{}' repeat or name the group a legacy file keeps for "
        "the model's own weights",
        label));
  }
  std::map<std::string, std::vector<std::string>> weights_of;
  for (const auto& [layer, paths] : layout.layers) weights_of[layer] = paths;
  for (const std::string& layer : layout.layer_names) {
    hdf5::Node* group = Place(&weights, layer, nullptr);
    const std::vector<std::string> names = put(group, "model_weights/" + layer, weights_of[layer]);
    TFCKPT_RETURN_IF_ERROR(StringListAttributes("weight_names", names, &group->attributes));
  }
  hdf5::Node* top = Place(&weights, "top_level_model_weights", nullptr);
  TFCKPT_RETURN_IF_ERROR(StringListAttributes(
      "weight_names", put(top, "model_weights/top_level_model_weights", layout.model),
      &top->attributes));
  root.children.push_back(std::move(weights));
  if (optimizer && !layout.optimizer.empty()) {
    hdf5::Node state;
    state.name = "optimizer_weights";
    TFCKPT_RETURN_IF_ERROR(StringListAttributes(
        "weight_names", put(&state, "optimizer_weights", layout.optimizer), &state.attributes));
    root.children.push_back(std::move(state));
  }
  if (!problem.empty()) {
    return Status::Unsupported(
        fmt::format("'{}' cannot be laid out as a legacy file: {}", label, problem));
  }
  for (const auto& [name, dataset] : *dataset_of) {
    if (!placed.count(name)) {
      return Status::Unsupported(fmt::format(
          "weight '{}' of '{}' has no place in a legacy file: it belongs to no layer the model "
          "lists",
          name, label));
    }
  }
  Sort(&root);
  *dataset_of = std::move(placed);
  *tree = std::move(root);
  return Status::OK();
}

}  // namespace tfckpt::keras
