// Rewriting the object graph of a TF2 object-based checkpoint (the serialized
// TrackableObjectGraph under _CHECKPOINTABLE_OBJECT_GRAPH) when keys are renamed or dropped, when
// checkpoints are merged and when objects move, so that tf.train.Checkpoint.restore still matches
// every remaining object; and the key queries the plans ask of a graph. object_graph.cc rewrites,
// merges and answers; object_move.cc moves. The graph itself and its key grammar are
// bundle/trackable_graph.h.
//
// Thread-safety: pure functions; safe from any thread.

#ifndef TFCKPT_PLAN_OBJECT_GRAPH_H_
#define TFCKPT_PLAN_OBJECT_GRAPH_H_

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "bundle/trackable_graph.h"
#include "tfckpt/objects.h"
#include "tfckpt/status.h"

namespace tfckpt {

// `key_map` gives, for each checkpoint key, its new key, or nullopt when the key is dropped.
// Attributes of dropped keys are removed; objects left without values are pruned (with the edges
// and slot references that named them) and nodes renumbered. `*changed` tells whether anything
// differs from `serialized`.
Status RewriteObjectGraph(
    const std::string& serialized,
    const std::function<std::optional<std::string>(const std::string&)>& key_map,
    std::string* rewritten, bool* changed);

// Keeps the objects reachable from the root (through children, and through the slot references
// of kept optimizers to kept variables) and, with `prune_valueless`, only those holding values or
// leading to some; renumbers the nodes and serializes the result.
Status CompactObjectGraph(const TrackableGraph& g, bool prune_valueless, std::string* serialized);

// One input of MergeObjectGraphs.
struct GraphPart {
  std::string label;       // the source as the user named it, for messages
  std::string serialized;  // its object graph
  // The child of the merged root that the source's root becomes; empty: the source root's
  // children become children of the merged root.
  std::string scope;
  // New key of each of the source's keys, or nullopt to leave the value out.
  std::function<std::optional<std::string>(const std::string&)> key_map;
  // The source's "save_counter" becomes the merged root's (at most one part sets this); every
  // other part's save_counter is left out.
  bool keep_save_counter = false;
};

// One object graph holding several: a new root with each part hung under it. Node ids, children,
// slot-variable references and checkpoint keys are rewritten; objects no longer reachable are
// dropped. Fails naming both sources when two parts put the same child under the root.
Status MergeObjectGraphs(const std::vector<GraphPart>& parts, std::string* merged);

// Renames in a TF2 checkpoint move objects: each (old path, new path) pair, in order, hangs the
// object at the old path (local names escaped as in keys, joined by '/'; "" is the root) at the
// new path, creating empty objects on the way; moving the root moves its children (except
// save_counter), and moving to the root lifts the object's children. Then every value is keyed as
// TensorFlow keys it for the new structure, slot variables included. `renamed` receives old key
// -> new key for every value the graph names.
Status MoveObjects(const std::string& serialized,
                   const std::vector<std::pair<std::string, std::string>>& moves,
                   std::string* rewritten, std::map<std::string, std::string>* renamed);

// The key a value of a checkpoint gets when its root becomes the child `scope` of a new root:
// the object path is prefixed, and so is the optimizer path inside a slot variable's key.
std::string ScopeObjectKey(std::string_view scope, const std::string& key);

// The key queries below answer over a graph parsed (and so checked) once by ParseTrackableGraph.

// The checkpoint keys every attribute of the graph names.
std::set<std::string> AttributeKeys(const TrackableGraph& g);

// The attribute key among `keys` that a tensor key belongs to: the key itself, or the longest
// one it extends (a value TensorFlow saves as several tensors, "KEY-keys" and "KEY-values").
std::optional<std::string> OwningAttribute(const std::set<std::string>& keys,
                                           const std::string& tensor_key);

// The checkpoint keys of the root's "save_counter" child.
std::vector<std::string> SaveCounterKeys(const TrackableGraph& g);

// (full name, checkpoint key) of every attribute that records a full name, in graph order.
std::vector<std::pair<std::string, std::string>> FullNameKeys(const TrackableGraph& g);

// The checkpoint keys held by optimizers: the attributes of every object that holds slot
// variables or is tracked under the name "optimizer" (at any depth), and of everything below them
// that the root does not also reach without passing through an optimizer (the model's own
// variables), and of every slot variable.
std::set<std::string> OptimizerKeys(const TrackableGraph& g);

}  // namespace tfckpt

#endif  // TFCKPT_PLAN_OBJECT_GRAPH_H_
