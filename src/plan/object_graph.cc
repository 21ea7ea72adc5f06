#include "plan/object_graph.h"

#include <algorithm>
#include <deque>
#include <map>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "plan/plan_util.h"
#include "tfckpt.pb.h"
#include "tfckpt/objects.h"

namespace tfckpt {
namespace {

using Graph = pb::TrackableObjectGraph;

constexpr int kMaxDepth = 1000;

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
      if (depth[c.node_id()] > kMaxDepth) {
        return Status::Corruption(
            fmt::format("the object graph is more than {} objects deep; it is damaged", kMaxDepth));
      }
      queue.push_back(c.node_id());
    }
  }
  return Status::OK();
}

// Whether each node holds values or leads to some: through children, or as an optimizer through
// a slot reference whose variable and slot both do. Worked backwards from the holders, so it
// costs O(nodes + edges).
std::vector<bool> HoldsValues(const Graph& g) {
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

// Keeps the objects reachable from the root (through children, and through the slot references
// of kept optimizers to kept variables) and, with `prune_valueless`, only those holding values
// or leading to some; renumbers the nodes.
Status Compact(const Graph& g, bool prune_valueless, std::string* serialized) {
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
  Graph out;
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

constexpr std::string_view kSlotMarker = "/.OPTIMIZER_SLOT/";

}  // namespace

Status RewriteObjectGraph(
    const std::string& serialized,
    const std::function<std::optional<std::string>(const std::string&)>& key_map,
    std::string* rewritten, bool* changed) {
  Graph g;
  TFCKPT_RETURN_IF_ERROR(Parse(serialized, &g));
  *changed = MapKeys(&g, key_map);
  if (!*changed) {
    *rewritten = serialized;
    return Status::OK();
  }
  return Compact(g, /*prune_valueless=*/true, rewritten);
}

Status OptimizerKeys(const std::string& serialized, std::set<std::string>* keys) {
  Graph g;
  TFCKPT_RETURN_IF_ERROR(Parse(serialized, &g));
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

std::string ScopeObjectKey(std::string_view scope, const std::string& key) {
  const std::string prefix = EscapeLocalName(scope) + "/";
  size_t slot = key.find(kSlotMarker);
  if (slot == std::string::npos) return prefix + key;
  return prefix + key.substr(0, slot + kSlotMarker.size()) + prefix +
         key.substr(slot + kSlotMarker.size());
}

Status AttributeKeys(const std::string& serialized, std::set<std::string>* keys) {
  Graph g;
  TFCKPT_RETURN_IF_ERROR(Parse(serialized, &g));
  for (const auto& node : g.nodes()) {
    for (const auto& a : node.attributes()) keys->insert(a.checkpoint_key());
  }
  return Status::OK();
}

std::optional<std::string> OwningAttribute(const std::set<std::string>& keys,
                                           const std::string& tensor_key) {
  for (size_t n = tensor_key.size(); n > 0; n--) {
    auto it = keys.find(tensor_key.substr(0, n));
    if (it != keys.end()) return *it;
  }
  return std::nullopt;
}

Status SaveCounterKeys(const std::string& serialized, std::vector<std::string>* keys) {
  Graph g;
  TFCKPT_RETURN_IF_ERROR(Parse(serialized, &g));
  for (const auto& c : g.nodes(0).children()) {
    if (c.local_name() != "save_counter") continue;
    for (const auto& a : g.nodes(c.node_id()).attributes()) keys->push_back(a.checkpoint_key());
  }
  return Status::OK();
}

Status FullNameKeys(const std::string& serialized,
                    std::vector<std::pair<std::string, std::string>>* names) {
  Graph g;
  TFCKPT_RETURN_IF_ERROR(Parse(serialized, &g));
  for (const auto& node : g.nodes()) {
    for (const auto& a : node.attributes()) {
      if (!a.full_name().empty()) names->emplace_back(a.full_name(), a.checkpoint_key());
    }
  }
  return Status::OK();
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
          "object graphs cannot be united; give each source a name (NAME=SRC) to put each under "
          "its own child of the root, e.g. `tfckpt merge a={} b={} -o OUT`",
          it->second, label, name, it->second, label));
    }
    auto* e = out.mutable_nodes(0)->add_children();
    e->set_local_name(name);
    e->set_node_id(node);
    return Status::OK();
  };
  for (const GraphPart& part : parts) {
    Graph g;
    Status parsed = Parse(part.serialized, &g);
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
      if (children->Get(i).local_name() != "save_counter") continue;
      if (part.keep_save_counter) {
        TFCKPT_RETURN_IF_ERROR(
            add_root_child("save_counter", children->Get(i).node_id(), part.label));
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
  return Compact(out, /*prune_valueless=*/false, merged);
}

namespace {

// The node at `path` (escaped local names joined by '/'; "" is the root), or -1.
int Resolve(const Graph& g, const std::string& path) {
  int node = 0;
  size_t start = 0;
  while (start < path.size()) {
    size_t slash = path.find('/', start);
    std::string part =
        path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    int next = -1;
    for (const auto& c : g.nodes(node).children()) {
      if (EscapeLocalName(c.local_name()) == part) {
        next = c.node_id();
        break;
      }
    }
    if (next < 0) return -1;
    node = next;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return node;
}

std::string Unescape(const std::string& part) {
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

std::pair<std::string, std::string> SplitParent(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

// The node at `path`, created (as an empty object) with its missing ancestors.
int Ensure(Graph* g, const std::string& path) {
  if (path.empty()) return 0;
  int node = Resolve(*g, path);
  if (node >= 0) return node;
  auto [parent_path, last] = SplitParent(path);
  int parent = Ensure(g, parent_path);
  auto* created = g->add_nodes();
  created->mutable_has_checkpoint_values()->set_value(true);
  auto* e = g->mutable_nodes(parent)->add_children();
  e->set_local_name(Unescape(last));
  e->set_node_id(g->nodes_size() - 1);
  return g->nodes_size() - 1;
}

Status AddChild(Graph* g, int parent, const std::string& escaped_name, int child,
                const std::string& where) {
  for (const auto& c : g->nodes(parent).children()) {
    if (EscapeLocalName(c.local_name()) == escaped_name) {
      return Status::InvalidArgument(
          fmt::format("there is already an object at '{}'; rename or drop it first", where));
    }
  }
  auto* e = g->mutable_nodes(parent)->add_children();
  e->set_local_name(Unescape(escaped_name));
  e->set_node_id(child);
  return Status::OK();
}

}  // namespace

namespace {

// Objects' paths as TensorFlow names them in keys: breadth first from the root along children,
// then slot variables as VARIABLE/.OPTIMIZER_SLOT/OPTIMIZER/SLOT; nullopt for objects not reached.
struct ObjectPaths {
  std::vector<std::optional<std::string>> path;
  std::vector<int> parent;              // the object the path passes through last, or -1
  std::vector<std::string> local_name;  // the name under `parent`
};

Status ComputePaths(const Graph& g, size_t serialized_size, ObjectPaths* out) {
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
      if (!set(slot, *out->path[v] + std::string(kSlotMarker) + *out->path[i] + "/" +
                         EscapeLocalName(s.slot_name()))) {
        return Status::Corruption("the object graph's paths are absurdly long; it is damaged");
      }
    }
  }
  return Status::OK();
}

// An object path as --rename takes it: local names escaped as in keys ('.' as "..", '/' as
// ".S"), joined by '/'; "" is the root.
Status CheckObjectPath(const std::string& path) {
  if (path.empty()) return Status::OK();
  bool empty_part =
      path.front() == '/' || path.back() == '/' || path.find("//") != std::string::npos;
  bool bad_dot = false;
  for (size_t i = 0; i < path.size(); i++) {
    if (path[i] != '.') continue;
    if (i + 1 < path.size() && (path[i + 1] == '.' || path[i + 1] == 'S')) {
      i++;
    } else {
      bad_dot = true;
    }
  }
  if (empty_part || bad_dot) {
    return Status::InvalidArgument(fmt::format(
        "'{}' is not an object path: write local names as keys do, joined by '/', with '.' "
        "doubled ('a.b' as 'a..b') and a '/' inside a name as '.S' (see `tfckpt ls --objects`)",
        path));
  }
  return Status::OK();
}

}  // namespace

Status MoveObjects(const std::string& serialized,
                   const std::vector<std::pair<std::string, std::string>>& moves,
                   std::string* rewritten, std::map<std::string, std::string>* renamed) {
  Graph g;
  TFCKPT_RETURN_IF_ERROR(Parse(serialized, &g));
  for (const auto& node : g.nodes()) {
    if (node.has_registered_saver()) {
      return Status::InvalidArgument(fmt::format(
          "the checkpoint holds an object saved by the registered saver '{}', which names its "
          "own keys; its objects cannot be moved",
          node.registered_saver().name()));
    }
  }
  for (const auto& [from, to] : moves) {
    TFCKPT_RETURN_IF_ERROR(CheckObjectPath(from));
    TFCKPT_RETURN_IF_ERROR(CheckObjectPath(to));
    const int node = Resolve(g, from);
    if (node < 0) {
      return Status::InvalidArgument(fmt::format(
          "there is no object at '{}': in a TF2 checkpoint --rename moves objects, so its names "
          "are object paths (see `tfckpt ls --objects`), e.g. model/dense/=model/encoder/",
          from));
    }
    if (from == to) continue;
    if (!from.empty() && !to.empty() && to.rfind(from + "/", 0) == 0) {
      return Status::InvalidArgument(
          fmt::format("cannot move the object at '{}' inside itself ('{}')", from, to));
    }
    // The edges to move: the object itself, or (from the root) the root's children.
    std::vector<std::pair<std::string, int>> edges;
    if (from.empty()) {
      auto* children = g.mutable_nodes(0)->mutable_children();
      for (int i = children->size() - 1; i >= 0; i--) {
        // save_counter stays with the root, and so do edges back to the root itself.
        if (children->Get(i).local_name() == "save_counter" || children->Get(i).node_id() == 0) {
          continue;
        }
        edges.insert(edges.begin(), {children->Get(i).local_name(), children->Get(i).node_id()});
        children->DeleteSubrange(i, 1);
      }
    } else {
      const auto& moved = g.nodes(node);
      if (to.empty() && (moved.attributes_size() > 0 || moved.slot_variables_size() > 0)) {
        return Status::InvalidArgument(fmt::format(
            "the object at '{}' holds values itself, so it cannot be dissolved into the root "
            "('{}/=/' lifts its children); move it under a name instead, e.g. '{}/=x/'",
            from, from, from));
      }
      auto [parent_path, last] = SplitParent(from);
      auto* children = g.mutable_nodes(Resolve(g, parent_path))->mutable_children();
      for (int i = 0; i < children->size(); i++) {
        if (EscapeLocalName(children->Get(i).local_name()) == last) {
          children->DeleteSubrange(i, 1);
          break;
        }
      }
      if (to.empty()) {
        for (const auto& c : g.nodes(node).children())
          edges.emplace_back(c.local_name(), c.node_id());
        g.mutable_nodes(node)->clear_children();
      }
    }
    if (from.empty()) {
      int target = Ensure(&g, to);
      for (const auto& [name, child] : edges) {
        std::string escaped = EscapeLocalName(name);
        TFCKPT_RETURN_IF_ERROR(AddChild(&g, target, escaped, child, to + "/" + escaped));
      }
    } else if (to.empty()) {
      for (const auto& [name, child] : edges) {
        TFCKPT_RETURN_IF_ERROR(
            AddChild(&g, 0, EscapeLocalName(name), child, EscapeLocalName(name)));
      }
    } else {
      auto [parent_path, last] = SplitParent(to);
      TFCKPT_RETURN_IF_ERROR(AddChild(&g, Ensure(&g, parent_path), last, node, to));
    }
  }
  // Key every value as TensorFlow does.
  ObjectPaths paths;
  TFCKPT_RETURN_IF_ERROR(ComputePaths(g, serialized.size(), &paths));
  for (int i = 1; i < g.nodes_size(); i++) {
    if (!paths.path[i]) continue;  // unreachable now: dropped by Compact below
    for (auto& a : *g.mutable_nodes(i)->mutable_attributes()) {
      std::string key = *paths.path[i] + "/.ATTRIBUTES/" + EscapeLocalName(a.name());
      (*renamed)[a.checkpoint_key()] = key;
      a.set_checkpoint_key(key);
    }
  }
  return Compact(g, /*prune_valueless=*/true, rewritten);
}

bool IsObjectBased(const Checkpoint& ckpt) { return ckpt.Find(kObjectGraphKey) != nullptr; }

Status ReadObjectGraph(const Checkpoint& ckpt, ObjectGraph* graph) {
  std::string bytes;
  TFCKPT_RETURN_IF_ERROR(ReadObjectGraphBytes(ckpt, &bytes));
  if (bytes.empty()) {
    return Status::NotFound(
        fmt::format("{} is a name-based (TF1) checkpoint: it has no object graph, its keys are the "
                    "variables' names",
                    ckpt.prefix()));
  }
  Graph g;
  Status parsed = Parse(bytes, &g);
  if (!parsed.ok())
    return Status::Corruption(fmt::format("{}: {}", ckpt.prefix(), parsed.message()));
  ObjectPaths paths;
  Status computed = ComputePaths(g, bytes.size(), &paths);
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
