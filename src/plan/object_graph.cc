#include "plan/object_graph.h"

#include <vector>

#include "tfckpt.pb.h"

namespace tfckpt {
namespace {

using Graph = pb::TrackableObjectGraph;

Status Parse(const std::string& serialized, Graph* graph) {
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
  return Status::OK();
}

void CollectSubtree(const Graph& g, int node, std::vector<bool>* seen) {
  if ((*seen)[node]) return;
  (*seen)[node] = true;
  for (const auto& c : g.nodes(node).children()) CollectSubtree(g, c.node_id(), seen);
}

}  // namespace

Status RewriteObjectGraph(
    const std::string& serialized,
    const std::function<std::optional<std::string>(const std::string&)>& key_map,
    std::string* rewritten, bool* changed) {
  Graph g;
  TFCKPT_RETURN_IF_ERROR(Parse(serialized, &g));
  *changed = false;
  const int n = g.nodes_size();
  // Rewrite or remove attributes.
  for (auto& node : *g.mutable_nodes()) {
    auto* attrs = node.mutable_attributes();
    for (int i = attrs->size() - 1; i >= 0; i--) {
      auto* a = attrs->Mutable(i);
      std::optional<std::string> to = key_map(a->checkpoint_key());
      if (!to) {
        attrs->DeleteSubrange(i, 1);
        *changed = true;
      } else if (*to != a->checkpoint_key()) {
        a->set_checkpoint_key(*to);
        *changed = true;
      }
    }
  }
  if (!*changed) {
    *rewritten = serialized;
    return Status::OK();
  }
  // Objects still holding values: those with attributes or a registered saver, and everything on
  // a path to them.
  std::vector<bool> alive(n, false);
  for (int i = 0; i < n; i++) {
    alive[i] = g.nodes(i).attributes_size() > 0 || g.nodes(i).has_registered_saver();
  }
  for (bool grew = true; grew;) {
    grew = false;
    for (int i = 0; i < n; i++) {
      if (alive[i]) continue;
      for (const auto& c : g.nodes(i).children()) {
        if (alive[c.node_id()]) {
          alive[i] = grew = true;
          break;
        }
      }
    }
  }
  alive[0] = true;
  std::vector<int> new_id(n, -1);
  int next = 0;
  for (int i = 0; i < n; i++) {
    if (alive[i]) new_id[i] = next++;
  }
  Graph out;
  for (int i = 0; i < n; i++) {
    if (!alive[i]) continue;
    auto* node = out.add_nodes();
    *node = g.nodes(i);
    node->clear_children();
    for (const auto& c : g.nodes(i).children()) {
      if (new_id[c.node_id()] < 0) continue;
      auto* e = node->add_children();
      *e = c;
      e->set_node_id(new_id[c.node_id()]);
    }
    node->clear_slot_variables();
    for (const auto& s : g.nodes(i).slot_variables()) {
      int orig = new_id[s.original_variable_node_id()];
      int slot = new_id[s.slot_variable_node_id()];
      if (orig < 0 || slot < 0) continue;
      auto* r = node->add_slot_variables();
      *r = s;
      r->set_original_variable_node_id(orig);
      r->set_slot_variable_node_id(slot);
    }
    if (node->has_has_checkpoint_values()) {
      node->mutable_has_checkpoint_values()->set_value(true);
    }
  }
  if (!out.SerializeToString(rewritten)) {
    return Status::Corruption("cannot serialize the rewritten object graph");
  }
  return Status::OK();
}

Status OptimizerKeys(const std::string& serialized, std::set<std::string>* keys) {
  Graph g;
  TFCKPT_RETURN_IF_ERROR(Parse(serialized, &g));
  const int n = g.nodes_size();
  // Optimizer objects: those holding slot variables, and the root's child named "optimizer".
  std::vector<bool> is_optimizer(n, false);
  for (int i = 0; i < n; i++) is_optimizer[i] = g.nodes(i).slot_variables_size() > 0;
  for (const auto& c : g.nodes(0).children()) {
    if (c.local_name() == "optimizer") is_optimizer[c.node_id()] = true;
  }
  // Objects the model reaches without going through an optimizer (an optimizer may track the
  // model's variables it trains, as Keras 3 optimizers do): never optimizer state.
  std::vector<bool> model(n, false);
  std::vector<int> stack = {0};
  while (!stack.empty()) {
    int i = stack.back();
    stack.pop_back();
    if (model[i] || is_optimizer[i]) continue;
    model[i] = true;
    for (const auto& c : g.nodes(i).children()) stack.push_back(c.node_id());
  }
  std::vector<bool> optimizer(n, false);
  for (int i = 0; i < n; i++) {
    if (is_optimizer[i]) CollectSubtree(g, i, &optimizer);
  }
  for (int i = 0; i < n; i++) {
    for (const auto& s : g.nodes(i).slot_variables()) {
      for (const auto& a : g.nodes(s.slot_variable_node_id()).attributes()) {
        keys->insert(a.checkpoint_key());
      }
    }
    if (!optimizer[i] || model[i]) continue;
    for (const auto& a : g.nodes(i).attributes()) keys->insert(a.checkpoint_key());
  }
  return Status::OK();
}

}  // namespace tfckpt
