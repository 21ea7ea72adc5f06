// The object graph of a TF2 object-based checkpoint (tf.train.Checkpoint, Keras, SavedModel
// variables): which Python objects the checkpoint holds, how they hang together, which checkpoint
// key holds each of their values, and which optimizer slots belong to which variable.
//
// TensorFlow restores such a checkpoint by walking this graph from the root, matching children by
// name; the keys themselves are only labels. A checkpoint without the graph (written by a TF1
// Saver) is name-based: its keys are the variables' names.
//
// Thread-safety: an ObjectGraph is a value; ReadObjectGraph only reads the checkpoint.

#ifndef TFCKPT_OBJECTS_H_
#define TFCKPT_OBJECTS_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tfckpt/checkpoint.h"
#include "tfckpt/status.h"

namespace tfckpt {

struct ObjectAttribute {
  std::string name;            // usually "VARIABLE_VALUE"
  std::string full_name;       // the variable's own name (what a TF1 Saver would have keyed)
  std::string checkpoint_key;  // where the value is stored
};

struct ObjectSlot {
  int variable = -1;      // node of the variable the slot belongs to
  std::string slot_name;  // "m", "v", "momentum", ...
  int slot = -1;          // node of the slot variable
};

struct ObjectNode {
  // The object's path from the root (local names, escaped as in checkpoint keys, joined by '/'),
  // along the first path a breadth-first walk finds; "" for the root.
  // Slot variables that are no object's child are named VARIABLE/.OPTIMIZER_SLOT/OPTIMIZER/SLOT.
  std::string path;
  bool reached = false;       // false: no path from the root leads here (the path is "")
  int parent = -1;            // the object that path passes through last (-1: root, slots)
  std::string local_name;     // this object's name under `parent`
  bool holds_values = false;  // it, or something below it or in its slots, has values
  std::vector<std::pair<std::string, int>> children;  // (local name, node)
  std::vector<ObjectAttribute> attributes;
  std::vector<ObjectSlot> slots;  // slot variables this object (an optimizer) holds
};

struct ObjectGraph {
  std::vector<ObjectNode> nodes;  // nodes[0] is the root
};

// One local name escaped as TensorFlow writes it in keys and paths ('.' -> "..", '/' -> ".S").
std::string EscapeLocalName(std::string_view name);

// True when the checkpoint is object-based (holds _CHECKPOINTABLE_OBJECT_GRAPH).
bool IsObjectBased(const Checkpoint& ckpt);

// Reads and checks the object graph. NotFound for a name-based checkpoint. For a Keras 3 file,
// its Keras object tree (the groups of its weights, as keras.saving.KerasFileEditor shows them):
// each object's values are named by their position in its `vars` ("0", "1", ...), their full
// name and key being the tensor's name.
Status ReadObjectGraph(const Checkpoint& ckpt, ObjectGraph* graph);

// The tensors holding an attribute's value: the one under its key or, for objects TensorFlow
// saves as several tensors under one attribute (lookup tables: "KEY-keys", "KEY-values"), those
// whose keys extend it. Empty when the index lacks them.
std::vector<const TensorInfo*> AttributeTensors(const Checkpoint& ckpt,
                                                const ObjectAttribute& attribute);

// The graph as one JSON object (docs/JSON.md): {"schema_version", "prefix", "objects": [{"id",
// "path", "children": [{"name", "node"}], "attributes": [{"name", "full_name", "key", "dtype",
// "shape"} or, for a value held in several tensors, {"name", "full_name", "key", "tensors":
// [{"key", "dtype", "shape"}]}], "slot_variables":
// [{"variable", "slot_name", "slot"}]}]}; node ids index "objects"; "path" is null for an
// object no path from the root reaches.
std::string ObjectGraphJson(const Checkpoint& ckpt, const ObjectGraph& graph);

}  // namespace tfckpt

#endif  // TFCKPT_OBJECTS_H_
