// MoveObjects (plan/object_graph.h): renames in a TF2 checkpoint move objects, then every value is
// keyed again as TensorFlow keys it.

#include <fmt/format.h>

#include "plan/object_graph.h"

namespace tfckpt {

namespace {

// The node at `path` (escaped local names joined by '/'; "" is the root), or -1.
int Resolve(const TrackableGraph& g, const std::string& path) {
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

std::pair<std::string, std::string> SplitParent(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

// The node at `path`, created (as an empty object) with its missing ancestors.
int Ensure(TrackableGraph* g, const std::string& path) {
  if (path.empty()) return 0;
  int node = Resolve(*g, path);
  if (node >= 0) return node;
  auto [parent_path, last] = SplitParent(path);
  int parent = Ensure(g, parent_path);
  auto* created = g->add_nodes();
  created->mutable_has_checkpoint_values()->set_value(true);
  auto* e = g->mutable_nodes(parent)->add_children();
  e->set_local_name(UnescapeLocalName(last));
  e->set_node_id(g->nodes_size() - 1);
  return g->nodes_size() - 1;
}

Status AddChild(TrackableGraph* g, int parent, const std::string& escaped_name, int child,
                const std::string& where) {
  for (const auto& c : g->nodes(parent).children()) {
    if (EscapeLocalName(c.local_name()) == escaped_name) {
      return Status::InvalidArgument(
          fmt::format("there is already an object at '{}'; rename or drop it first", where));
    }
  }
  auto* e = g->mutable_nodes(parent)->add_children();
  e->set_local_name(UnescapeLocalName(escaped_name));
  e->set_node_id(child);
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
        "doubled ('a.b' as 'a..b') and a '/' inside a name as '.S' (the object listing, `objects`, "
        "shows them)",
        path));
  }
  return Status::OK();
}

}  // namespace

Status MoveObjects(const std::string& serialized,
                   const std::vector<std::pair<std::string, std::string>>& moves,
                   std::string* rewritten, std::map<std::string, std::string>* renamed) {
  TrackableGraph g;
  TFCKPT_RETURN_IF_ERROR(ParseTrackableGraph(serialized, &g));
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
          "there is no object at '{}': in a TF2 checkpoint a rename (`renames`) moves objects, so "
          "its names are object paths (the object listing, `objects`, shows them), e.g. "
          "model/dense/=model/encoder/",
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
        if (children->Get(i).local_name() == kSaveCounterName || children->Get(i).node_id() == 0) {
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
  TFCKPT_RETURN_IF_ERROR(ComputeObjectPaths(g, serialized.size(), &paths));
  for (int i = 1; i < g.nodes_size(); i++) {
    if (!paths.path[i]) continue;  // unreachable now: dropped by Compact below
    for (auto& a : *g.mutable_nodes(i)->mutable_attributes()) {
      std::string key = AttributeKey(*paths.path[i], a.name());
      (*renamed)[a.checkpoint_key()] = key;
      a.set_checkpoint_key(key);
    }
  }
  return CompactObjectGraph(g, /*prune_valueless=*/true, rewritten);
}

}  // namespace tfckpt
