// The read-only object-graph API (tfckpt/objects.h) and its JSON.

#include <algorithm>
#include <functional>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bundle/trackable_graph.h"
#include "format/keras.h"
#include "tfckpt/objects.h"
#include "tfckpt/version.h"

namespace tfckpt {

bool IsObjectBased(const Checkpoint& ckpt) { return ckpt.Find(kObjectGraphKey) != nullptr; }

namespace {

// A Keras file's object tree, as keras.saving.KerasFileEditor shows it: every group of its
// weights but the `vars` groups is an object (the root is the model), its children the groups
// below it, its values the datasets of its `vars` group, named by their position there ("0",
// "1", ...; full_name and key: the tensor's name).
Status KerasObjectGraph(const Checkpoint& ckpt, ObjectGraph* graph) {
  const keras::File& f = *ckpt.keras_file();
  if (f.kind == keras::File::Kind::kLegacyH5) {
    return Status::NotFound(fmt::format(
        "{} is a legacy Keras file: its weights hang under their layers, without an object tree",
        ckpt.prefix()));
  }
  std::map<std::string, const keras::Variable*> by_dataset;
  for (const keras::Variable& v : f.variables) by_dataset[v.dataset_path] = &v;
  graph->nodes.clear();
  std::function<int(const hdf5::Node&, const std::string&, int, const std::string&)> add =
      [&](const hdf5::Node& n, const std::string& path, int parent, const std::string& local) {
        const int id = static_cast<int>(graph->nodes.size());
        graph->nodes.emplace_back();
        {
          ObjectNode& o = graph->nodes.back();
          o.path = path;
          o.reached = true;
          o.parent = parent;
          o.local_name = local;
        }
        bool holds = false;
        if (const hdf5::Node* vars = n.Child("vars"); vars != nullptr && vars->group) {
          for (const hdf5::Node& d : vars->children) {
            auto it = by_dataset.find((path.empty() ? "" : path + "/") + "vars/" + d.name);
            if (d.group || it == by_dataset.end()) continue;
            graph->nodes[id].attributes.push_back({d.name, it->second->name, it->second->name});
            holds = true;
          }
        }
        for (const hdf5::Node& c : n.children) {
          if (!c.group || c.name == "vars") continue;
          const int child = add(c, path.empty() ? c.name : path + "/" + c.name, id, c.name);
          graph->nodes[id].children.emplace_back(c.name, child);
          holds = holds || graph->nodes[child].holds_values;
        }
        graph->nodes[id].holds_values = holds;
        return id;
      };
  add(*f.tree, "", -1, "");
  return Status::OK();
}

}  // namespace

Status ReadObjectGraph(const Checkpoint& ckpt, ObjectGraph* graph) {
  if (ckpt.format() == Checkpoint::Format::kKeras) return KerasObjectGraph(ckpt, graph);
  std::string bytes;
  TFCKPT_RETURN_IF_ERROR(ReadObjectGraphBytes(ckpt, &bytes));
  if (bytes.empty()) {
    return Status::NotFound(
        fmt::format("{} is a name-based (TF1) checkpoint: it has no object graph, its keys are the "
                    "variables' names",
                    ckpt.prefix()));
  }
  TrackableGraph g;
  Status parsed = ParseTrackableGraph(bytes, &g);
  if (!parsed.ok())
    return Status::Corruption(fmt::format("{}: {}", ckpt.prefix(), parsed.message()));
  ObjectPaths paths;
  Status computed = ComputeObjectPaths(g, bytes.size(), &paths);
  if (!computed.ok()) {
    return Status::Corruption(fmt::format("{}: {}", ckpt.prefix(), computed.message()));
  }
  std::vector<bool> holds = HoldsValues(g);
  graph->nodes.assign(g.nodes_size(), ObjectNode());
  for (int i = 0; i < g.nodes_size(); i++) {
    ObjectNode& node = graph->nodes[i];
    node.reached = paths.path[i].has_value();
    node.path = paths.path[i].value_or("");
    node.parent = paths.parent[i];
    node.local_name = paths.local_name[i];
    node.holds_values = holds[i];
    for (const auto& c : g.nodes(i).children()) {
      node.children.emplace_back(c.local_name(), c.node_id());
    }
    for (const auto& a : g.nodes(i).attributes()) {
      node.attributes.push_back({a.name(), a.full_name(), a.checkpoint_key()});
    }
    for (const auto& s : g.nodes(i).slot_variables()) {
      node.slots.push_back(
          {s.original_variable_node_id(), s.slot_name(), s.slot_variable_node_id()});
    }
  }
  return Status::OK();
}

std::vector<const TensorInfo*> AttributeTensors(const Checkpoint& ckpt,
                                                const ObjectAttribute& attribute) {
  const std::string& key = attribute.checkpoint_key;
  if (const TensorInfo* t = ckpt.Find(key)) return {t};
  std::vector<const TensorInfo*> out;
  const auto& all = ckpt.tensors();
  auto it = std::lower_bound(all.begin(), all.end(), key,
                             [](const TensorInfo& t, const std::string& k) { return t.name < k; });
  for (; it != all.end() && it->name.compare(0, key.size(), key) == 0; ++it) out.push_back(&*it);
  return out;
}

std::string ObjectGraphJson(const Checkpoint& ckpt, const ObjectGraph& g) {
  const int n = static_cast<int>(g.nodes.size());
  nlohmann::ordered_json out;
  out["schema_version"] = TFCKPT_JSON_SCHEMA_VERSION;
  out["prefix"] = ckpt.prefix();
  nlohmann::ordered_json objects = nlohmann::ordered_json::array();
  for (int i = 0; i < n; i++) {
    const ObjectNode& node = g.nodes[i];
    nlohmann::ordered_json j;
    j["id"] = i;
    j["path"] = node.reached ? nlohmann::ordered_json(node.path) : nlohmann::ordered_json();
    nlohmann::ordered_json children = nlohmann::ordered_json::array();
    for (const auto& [name, c] : node.children) children.push_back({{"name", name}, {"node", c}});
    j["children"] = std::move(children);
    nlohmann::ordered_json attrs = nlohmann::ordered_json::array();
    for (const ObjectAttribute& a : node.attributes) {
      nlohmann::ordered_json aj;
      aj["name"] = a.name;
      aj["full_name"] = a.full_name;
      aj["key"] = a.checkpoint_key;
      std::vector<const TensorInfo*> values = AttributeTensors(ckpt, a);
      if (values.size() == 1 && values[0]->name == a.checkpoint_key) {
        aj["dtype"] = DTypeName(values[0]->dtype);
        aj["shape"] = values[0]->shape;
      } else {
        nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
        for (const TensorInfo* t : values) {
          tensors.push_back(
              {{"key", t->name}, {"dtype", DTypeName(t->dtype)}, {"shape", t->shape}});
        }
        aj["tensors"] = std::move(tensors);
      }
      attrs.push_back(std::move(aj));
    }
    j["attributes"] = std::move(attrs);
    nlohmann::ordered_json slots = nlohmann::ordered_json::array();
    for (const ObjectSlot& s : node.slots) {
      slots.push_back({{"variable", s.variable}, {"slot_name", s.slot_name}, {"slot", s.slot}});
    }
    j["slot_variables"] = std::move(slots);
    objects.push_back(std::move(j));
  }
  out["objects"] = std::move(objects);
  return out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace tfckpt
