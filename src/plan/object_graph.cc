#include "plan/object_graph.h"

#include <algorithm>
#include <deque>
#include <map>
#include <vector>

#include <fmt/format.h>

#include "tfckpt.pb.h"
#include "tfckpt/objects.h"

namespace tfckpt {
namespace {

using Graph = TrackableGraph;

void CollectSubtree(const Graph& g, int node, std::vector<bool>* seen) {
  std::vector<int> stack = {node};
  while (!stack.empty()) {
    int i = stack.back();
    stack.pop_back();
    if ((*seen)[i]) continue;
    (*seen)[i] = true;
    for (const auto& c : g.nodes(i).children()) stack.push_back(c.node_id());
  }
}

// Rewrites or removes attributes by `key_map`; tells whether anything changed.
bool MapKeys(Graph* g,
             const std::function<std::optional<std::string>(const std::string&)>& key_map) {
  bool changed = false;
  for (auto& node : *g->mutable_nodes()) {
    auto* attrs = node.mutable_attributes();
    for (int i = attrs->size() - 1; i >= 0; i--) {
      auto* a = attrs->Mutable(i);
      std::optional<std::string> to = key_map(a->checkpoint_key());
      if (!to) {
        attrs->DeleteSubrange(i, 1);
        changed = true;
      } else if (*to != a->checkpoint_key()) {
        a->set_checkpoint_key(*to);
        changed = true;
      }
    }
  }
  return changed;
}

}  // namespace

// Keeps the objects reachable from the root (through children, and through the slot references
// of kept optimizers to kept variables) and, with `prune_valueless`, only those holding values
// or leading to some; renumbers the nodes.
Status CompactObjectGraph(const TrackableGraph& g, bool prune_valueless, std::string* serialized) {
  const int n = g.nodes_size();
  std::vector<bool> alive =
      prune_valueless ? HoldsValues(g) : std::vector<bool>(static_cast<size_t>(n), true);
  std::vector<std::vector<std::pair<int, int>>> refs_by_variable(n);  // (optimizer, slot)
  for (int i = 0; i < n; i++) {
    for (const auto& s : g.nodes(i).slot_variables()) {
      refs_by_variable[s.original_variable_node_id()].emplace_back(i, s.slot_variable_node_id());
    }
  }
  std::vector<bool> keep(n, false);
  std::vector<int> work;
  auto visit = [&](int i) {
    if (!keep[i] && alive[i]) {
      keep[i] = true;
      work.push_back(i);
    }
  };
  keep[0] = true;
  work.push_back(0);
  while (!work.empty()) {
    int i = work.back();
    work.pop_back();
    for (const auto& c : g.nodes(i).children()) visit(c.node_id());
    // Slots become reachable once both their optimizer and their variable are.
    for (const auto& s : g.nodes(i).slot_variables()) {
      if (keep[s.original_variable_node_id()]) visit(s.slot_variable_node_id());
    }
    for (const auto& [optimizer, slot] : refs_by_variable[i]) {
      if (keep[optimizer]) visit(slot);
    }
  }
  std::vector<int> new_id(n, -1);
  int next = 0;
  for (int i = 0; i < n; i++) {
    if (keep[i]) new_id[i] = next++;
  }
  TrackableGraph out;
  for (int i = 0; i < n; i++) {
    if (!keep[i]) continue;
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
    if (prune_valueless && node->has_has_checkpoint_values()) {
      node->mutable_has_checkpoint_values()->set_value(true);  // all that is left holds values
    }
  }
  if (!out.SerializeToString(serialized)) {
    return Status::Corruption("cannot serialize the rewritten object graph");
  }
  return Status::OK();
}

Status RewriteObjectGraph(
    const std::string& serialized,
    const std::function<std::optional<std::string>(const std::string&)>& key_map,
    std::string* rewritten, bool* changed) {
  Graph g;
  TFCKPT_RETURN_IF_ERROR(ParseTrackableGraph(serialized, &g));
  *changed = MapKeys(&g, key_map);
  if (!*changed) {
    *rewritten = serialized;
    return Status::OK();
  }
  return CompactObjectGraph(g, /*prune_valueless=*/true, rewritten);
}

std::set<std::string> OptimizerKeys(const TrackableGraph& g) {
  std::set<std::string> out;
  std::set<std::string>* keys = &out;
  const int n = g.nodes_size();
  // Optimizer objects: those holding slot variables, and every object tracked under the name
  // "optimizer" (tf.train.Checkpoint(optimizer=...), a Keras model's optimizer, and so also
  // after a merge put them under a scope).
  std::vector<bool> is_optimizer(n, false);
  for (int i = 0; i < n; i++) is_optimizer[i] = g.nodes(i).slot_variables_size() > 0;
  for (int i = 0; i < n; i++) {
    for (const auto& c : g.nodes(i).children()) {
      if (c.local_name() == "optimizer" && c.node_id() != 0) is_optimizer[c.node_id()] = true;
    }
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
  return out;
}

std::string ScopeObjectKey(std::string_view scope, const std::string& key) {
  const std::string prefix = EscapeLocalName(scope) + "/";
  size_t slot = key.find(kSlotMarker);
  if (slot == std::string::npos) return prefix + key;
  return prefix + key.substr(0, slot + kSlotMarker.size()) + prefix +
         key.substr(slot + kSlotMarker.size());
}

std::set<std::string> AttributeKeys(const TrackableGraph& g) {
  std::set<std::string> keys;
  for (const auto& node : g.nodes()) {
    for (const auto& a : node.attributes()) keys.insert(a.checkpoint_key());
  }
  return keys;
}

std::optional<std::string> OwningAttribute(const std::set<std::string>& keys,
                                           const std::string& tensor_key) {
  for (size_t n = tensor_key.size(); n > 0; n--) {
    auto it = keys.find(tensor_key.substr(0, n));
    if (it != keys.end()) return *it;
  }
  return std::nullopt;
}

std::vector<std::string> SaveCounterKeys(const TrackableGraph& g) {
  std::vector<std::string> keys;
  for (const auto& c : g.nodes(0).children()) {
    if (c.local_name() != kSaveCounterName) continue;
    for (const auto& a : g.nodes(c.node_id()).attributes()) keys.push_back(a.checkpoint_key());
  }
  return keys;
}

std::vector<std::pair<std::string, std::string>> FullNameKeys(const TrackableGraph& g) {
  std::vector<std::pair<std::string, std::string>> names;
  for (const auto& node : g.nodes()) {
    for (const auto& a : node.attributes()) {
      if (!a.full_name().empty()) names.emplace_back(a.full_name(), a.checkpoint_key());
    }
  }
  return names;
}

Status MergeObjectGraphs(const std::vector<GraphPart>& parts, std::string* merged) {
  Graph out;
  out.add_nodes()->mutable_has_checkpoint_values()->set_value(true);
  std::map<std::string, std::string> owner;  // child of the merged root -> source label
  auto add_root_child = [&](const std::string& name, int node, const std::string& label) {
    auto [it, inserted] = owner.emplace(name, label);
    if (!inserted) {
      return Status::InvalidArgument(fmt::format(
          "the TF2 checkpoints '{}' and '{}' both have an object '{}' under their root, so their "
          "object graphs cannot be united; give each source a name (`names`) to put each under "
          "its own child of the root",
          it->second, label, name));
    }
    auto* e = out.mutable_nodes(0)->add_children();
    e->set_local_name(name);
    e->set_node_id(node);
    return Status::OK();
  };
  for (const GraphPart& part : parts) {
    Graph g;
    Status parsed = ParseTrackableGraph(part.serialized, &g);
    if (!parsed.ok()) {
      return Status::Corruption(fmt::format("{} (in '{}')", parsed.message(), part.label));
    }
    for (const auto& node : g.nodes()) {
      if (node.has_registered_saver() && !part.scope.empty()) {
        return Status::InvalidArgument(fmt::format(
            "'{}' holds an object saved by the registered saver '{}', whose keys cannot be "
            "moved under '{}'; merge it without a name",
            part.label, node.registered_saver().name(), part.scope));
      }
    }
    MapKeys(&g, part.key_map);
    const int offset = out.nodes_size();
    for (const auto& node : g.nodes()) {
      auto* copy = out.add_nodes();
      *copy = node;
      for (auto& c : *copy->mutable_children()) c.set_node_id(c.node_id() + offset);
      for (auto& s : *copy->mutable_slot_variables()) {
        s.set_original_variable_node_id(s.original_variable_node_id() + offset);
        s.set_slot_variable_node_id(s.slot_variable_node_id() + offset);
      }
    }
    auto* root = out.mutable_nodes(offset);
    auto* children = root->mutable_children();
    for (int i = children->size() - 1; i >= 0; i--) {
      if (children->Get(i).local_name() != kSaveCounterName) continue;
      if (part.keep_save_counter) {
        TFCKPT_RETURN_IF_ERROR(
            add_root_child(std::string(kSaveCounterName), children->Get(i).node_id(), part.label));
      }
      children->DeleteSubrange(i, 1);
    }
    if (!part.scope.empty()) {
      TFCKPT_RETURN_IF_ERROR(add_root_child(part.scope, offset, part.label));
      continue;
    }
    for (const auto& c : root->children()) {
      TFCKPT_RETURN_IF_ERROR(add_root_child(c.local_name(), c.node_id(), part.label));
    }
    for (const auto& a : root->attributes()) *out.mutable_nodes(0)->add_attributes() = a;
    for (const auto& s : root->slot_variables()) *out.mutable_nodes(0)->add_slot_variables() = s;
  }
  return CompactObjectGraph(out, /*prune_valueless=*/false, merged);
}

}  // namespace tfckpt
