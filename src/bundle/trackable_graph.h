// The TF2 object graph as TensorFlow stores it, a serialized TrackableObjectGraph under the key
// _CHECKPOINTABLE_OBJECT_GRAPH, and the grammar of the keys it gives the values: the one home of
// both for readers (objects.h) and for the plans that rewrite graphs (plan/object_graph.h).
//
// A key is an object's path (local names escaped, joined by '/') + "/.ATTRIBUTES/" + the
// attribute's escaped name; a slot variable's path is VARIABLE/.OPTIMIZER_SLOT/OPTIMIZER/SLOT.
//
// Thread-safety: pure functions over values; safe from any thread.

#ifndef TFCKPT_BUNDLE_TRACKABLE_GRAPH_H_
#define TFCKPT_BUNDLE_TRACKABLE_GRAPH_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tfckpt.pb.h"
#include "tfckpt/checkpoint.h"
#include "tfckpt/status.h"

namespace tfckpt {

inline constexpr std::string_view kObjectGraphKey = "_CHECKPOINTABLE_OBJECT_GRAPH";
// The root's child that counts saves (tf.train.Checkpoint.save_counter): bookkeeping, not a
// variable of the model.
inline constexpr std::string_view kSaveCounterName = "save_counter";
inline constexpr std::string_view kAttributesMarker = "/.ATTRIBUTES/";
inline constexpr std::string_view kSlotMarker = "/.OPTIMIZER_SLOT/";
// The end of a variable's key: its one attribute.
inline constexpr std::string_view kVariableValueSuffix = "/.ATTRIBUTES/VARIABLE_VALUE";
// TensorFlow's graphs are a few dozen objects deep; one far deeper is damaged.
inline constexpr int kMaxObjectDepth = 1000;

using TrackableGraph = pb::TrackableObjectGraph;

// Parses `serialized` and checks it once for everything the walks below rely on: at least a
// root, every edge and slot reference naming a node that exists, no object deeper than
// kMaxObjectDepth. Corruption otherwise.
Status ParseTrackableGraph(const std::string& serialized, TrackableGraph* graph);

// The serialized object graph of a checkpoint, or "" for a name-based (TF1) one; Corruption when
// the tensor is not a scalar string.
Status ReadObjectGraphBytes(const Checkpoint& ckpt, std::string* graph);

// The inverse of EscapeLocalName (objects.h): ".." -> '.', ".S" -> '/'.
std::string UnescapeLocalName(std::string_view escaped);

// The key TensorFlow gives attribute `attribute` (unescaped) of the object at `object_path`.
std::string AttributeKey(std::string_view object_path, std::string_view attribute);

// The path of the slot `slot_name` (unescaped) that the optimizer at `optimizer_path` keeps for
// the variable at `variable_path`.
std::string SlotVariablePath(std::string_view variable_path, std::string_view optimizer_path,
                             std::string_view slot_name);

// Objects' paths as TensorFlow names them in keys: breadth first from the root along children,
// then slot variables as VARIABLE/.OPTIMIZER_SLOT/OPTIMIZER/SLOT; nullopt for objects not reached.
struct ObjectPaths {
  std::vector<std::optional<std::string>> path;
  std::vector<int> parent;              // the object the path passes through last, or -1
  std::vector<std::string> local_name;  // the name under `parent`
};

// Computes them for a parsed graph; Corruption when they would be absurdly long (a damaged graph
// can make them quadratic in `serialized_size`).
Status ComputeObjectPaths(const TrackableGraph& g, size_t serialized_size, ObjectPaths* out);

// Whether each node holds values or leads to some: through children, or as an optimizer through
// a slot reference whose variable and slot both do.
std::vector<bool> HoldsValues(const TrackableGraph& g);

}  // namespace tfckpt

#endif  // TFCKPT_BUNDLE_TRACKABLE_GRAPH_H_
