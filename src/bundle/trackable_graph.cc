// The TF2 object graph and its key grammar (bundle/trackable_graph.h).

#include "bundle/trackable_graph.h"

#include <deque>

#include <fmt/format.h>

#include "tfckpt/objects.h"

namespace tfckpt {

Status ParseTrackableGraph(const std::string& serialized, TrackableGraph* graph) {
  if (!graph->ParseFromString(serialized) || graph->nodes_size() == 0) {
    return Status::Corruption(
        "the _CHECKPOINTABLE_OBJECT_GRAPH tensor is not a valid TrackableObjectGraph");
  }
  for (const auto& node : graph->nodes()) {
    for (const auto& c : node.children()) {
      if (c.node_id() < 0 || c.node_id() >= graph->nodes_size()) {
        return Status::Corruption("the object graph has an edge to a node that does not exist");
      }
    }
    for (const auto& s : node.slot_variables()) {
      if (s.original_variable_node_id() < 0 ||
          s.original_variable_node_id() >= graph->nodes_size() || s.slot_variable_node_id() < 0 ||
          s.slot_variable_node_id() >= graph->nodes_size()) {
        return Status::Corruption("the object graph has a slot reference to a missing node");
      }
    }
  }
  // Depth (breadth first from the root): TensorFlow's graphs are a few dozen objects deep; a
  // graph far deeper is damaged, and would make every path quadratic in size.
  std::vector<int> depth(graph->nodes_size(), -1);
  std::deque<int> queue = {0};
  depth[0] = 0;
  while (!queue.empty()) {
    int i = queue.front();
    queue.pop_front();
    for (const auto& c : graph->nodes(i).children()) {
      if (depth[c.node_id()] >= 0) continue;
      depth[c.node_id()] = depth[i] + 1;
      if (depth[c.node_id()] > kMaxObjectDepth) {
        return Status::Corruption(fmt::format(
            "the object graph is more than {} objects deep; it is damaged", kMaxObjectDepth));
      }
      queue.push_back(c.node_id());
    }
  }
  return Status::OK();
}

Status ReadObjectGraphBytes(const Checkpoint& ckpt, std::string* graph) {
  graph->clear();
  const TensorInfo* info = ckpt.Find(kObjectGraphKey);
  if (info == nullptr) return Status::OK();
  if (info->dtype != DType::kString || !info->shape.empty()) {
    return Status::Corruption(fmt::format(
        "{}: {} is a {} {}, not a scalar string; the checkpoint is damaged", ckpt.prefix(),
        kObjectGraphKey, DTypeName(info->dtype), ShapeToString(info->shape)));
  }
  Tensor t;
  TFCKPT_RETURN_IF_ERROR(ckpt.Read(*info, ReadOptions(), &t));
  *graph = std::string(t.elements()[0]);
  return Status::OK();
}

std::string EscapeLocalName(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == '.') {
      out += "..";
    } else if (c == '/') {
      out += ".S";
    } else {
      out += c;
    }
  }
  return out;
}

std::string UnescapeLocalName(std::string_view part) {
  std::string out;
  for (size_t i = 0; i < part.size(); i++) {
    if (part[i] == '.' && i + 1 < part.size() && (part[i + 1] == '.' || part[i + 1] == 'S')) {
      out += part[i + 1] == '.' ? '.' : '/';
      i++;
    } else {
      out += part[i];
    }
  }
  return out;
}

std::string AttributeKey(std::string_view object_path, std::string_view attribute) {
  return std::string(object_path) + std::string(kAttributesMarker) + EscapeLocalName(attribute);
}

std::string SlotVariablePath(std::string_view variable_path, std::string_view optimizer_path,
                             std::string_view slot_name) {
  return std::string(variable_path) + std::string(kSlotMarker) + std::string(optimizer_path) + "/" +
         EscapeLocalName(slot_name);
}

Status ComputeObjectPaths(const TrackableGraph& g, size_t serialized_size, ObjectPaths* out) {
  const int n = g.nodes_size();
  // Paths of a sound graph are about as long as its keys; a damaged one could make them quadratic.
  const size_t budget = (size_t{64} << 20) + 16 * serialized_size;
  size_t used = 0;
  out->path.assign(n, std::nullopt);
  out->parent.assign(n, -1);
  out->local_name.assign(n, "");
  auto set = [&](int i, std::string p) {
    used += p.size();
    out->path[i] = std::move(p);
    return used <= budget;
  };
  out->path[0] = "";
  std::deque<int> queue = {0};
  while (!queue.empty()) {
    int i = queue.front();
    queue.pop_front();
    for (const auto& c : g.nodes(i).children()) {
      if (out->path[c.node_id()]) continue;
      out->parent[c.node_id()] = i;
      out->local_name[c.node_id()] = c.local_name();
      if (!set(c.node_id(),
               (i == 0 ? "" : *out->path[i] + "/") + EscapeLocalName(c.local_name()))) {
        return Status::Corruption("the object graph's paths are absurdly long; it is damaged");
      }
      queue.push_back(c.node_id());
    }
  }
  for (int i = 0; i < n; i++) {
    if (!out->path[i]) continue;
    for (const auto& s : g.nodes(i).slot_variables()) {
      int v = s.original_variable_node_id(), slot = s.slot_variable_node_id();
      if (out->path[slot] || !out->path[v]) continue;
      if (!set(slot, SlotVariablePath(*out->path[v], *out->path[i], s.slot_name()))) {
        return Status::Corruption("the object graph's paths are absurdly long; it is damaged");
      }
    }
  }
  return Status::OK();
}

// Worked backwards from the holders, so it costs O(nodes + edges).
std::vector<bool> HoldsValues(const TrackableGraph& g) {
  const int n = g.nodes_size();
  std::vector<bool> alive(n, false);
  std::vector<std::vector<int>> parents(n);
  struct Ref {
    int optimizer, variable, slot;
  };
  std::vector<std::vector<Ref>> refs_of(n);  // by variable and by slot
  std::vector<int> work;
  for (int i = 0; i < n; i++) {
    for (const auto& c : g.nodes(i).children()) parents[c.node_id()].push_back(i);
    for (const auto& s : g.nodes(i).slot_variables()) {
      Ref r{i, s.original_variable_node_id(), s.slot_variable_node_id()};
      refs_of[r.variable].push_back(r);
      if (r.slot != r.variable) refs_of[r.slot].push_back(r);
    }
    if (g.nodes(i).attributes_size() > 0 || g.nodes(i).has_registered_saver()) {
      alive[i] = true;
      work.push_back(i);
    }
  }
  auto mark = [&](int i) {
    if (!alive[i]) {
      alive[i] = true;
      work.push_back(i);
    }
  };
  while (!work.empty()) {
    int x = work.back();
    work.pop_back();
    for (int p : parents[x]) mark(p);
    for (const Ref& r : refs_of[x]) {
      if (alive[r.variable] && alive[r.slot]) mark(r.optimizer);
    }
  }
  return alive;
}

}  // namespace tfckpt
