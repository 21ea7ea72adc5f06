// Rewriting the object graph of a TF2 object-based checkpoint (the serialized
// TrackableObjectGraph under _CHECKPOINTABLE_OBJECT_GRAPH) when keys are renamed or dropped, so
// that tf.train.Checkpoint.restore still matches every remaining object.
//
// Thread-safety: pure functions; safe from any thread.

#ifndef TFCKPT_PLAN_OBJECT_GRAPH_H_
#define TFCKPT_PLAN_OBJECT_GRAPH_H_

#include <functional>
#include <optional>
#include <set>
#include <string>

#include "tfckpt/status.h"

namespace tfckpt {

inline constexpr std::string_view kObjectGraphKey = "_CHECKPOINTABLE_OBJECT_GRAPH";

// `key_map` gives, for each checkpoint key, its new key, or nullopt when the key is dropped.
// Attributes of dropped keys are removed; objects left without values are pruned (with the edges
// and slot references that named them) and nodes renumbered. `*changed` tells whether anything
// differs from `serialized`.
Status RewriteObjectGraph(
    const std::string& serialized,
    const std::function<std::optional<std::string>(const std::string&)>& key_map,
    std::string* rewritten, bool* changed);

// The checkpoint keys held by optimizers: the attributes of every object that holds slot
// variables or is a child named "optimizer" of the root, and of everything below them that the
// root does not also reach without passing through an optimizer (the model's own variables), and
// of every slot variable.
Status OptimizerKeys(const std::string& serialized, std::set<std::string>* keys);

}  // namespace tfckpt

#endif  // TFCKPT_PLAN_OBJECT_GRAPH_H_
