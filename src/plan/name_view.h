// NameView: the names by which a plan addresses a checkpoint's tensors: their keys, or (for a TF2
// checkpoint) the full names its object graph records, which are what a TF1 Saver would have
// keyed. BookkeepingKeys: the keys of a checkpoint that are not variables.
//
// Thread-safety: a NameView is immutable once made; its const methods are safe from any thread
// while the Checkpoint it points into lives. The factories and BookkeepingKeys are free of shared
// state.

#ifndef TFCKPT_PLAN_NAME_VIEW_H_
#define TFCKPT_PLAN_NAME_VIEW_H_

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tfckpt/checkpoint.h"
#include "tfckpt/status.h"

namespace tfckpt {

// Bookkeeping (a TF2 checkpoint's object graph and its root's save_counter) is never a variable:
// KeysOf and FullNames list it in hidden(), never in entries().
class NameView {
 public:
  // Every tensor by its key (`tensors` sorted by name, as Checkpoint::tensors() is); the keys in
  // `hidden` go to hidden() instead.
  static NameView Keys(const std::vector<TensorInfo>& tensors,
                       const std::set<std::string>& hidden = {});
  // The tensors of `ckpt` by key, its bookkeeping hidden.
  static Status KeysOf(const Checkpoint& ckpt, NameView* view);
  // The tensors of a TF2 checkpoint that have a full name, by that name; the others (the object
  // graph, save_counter's own, Keras metadata) are listed in hidden(). Several tensors under one
  // full name are one variable saved more than once (Keras' export tracks each variable in two
  // lists) when they have the same dtype, shape and stored bytes; otherwise the name is ambiguous.
  static Status FullNames(const Checkpoint& ckpt, const std::string& label, NameView* view);

  // The first tensor of that name, or null.
  const TensorInfo* Find(std::string_view name) const;
  // Every tensor of that name (several: copies of one variable), empty when there is none.
  std::vector<const TensorInfo*> FindAll(std::string_view name) const;
  // (name, tensor), sorted by name; copies of one variable are adjacent.
  const std::vector<std::pair<std::string, const TensorInfo*>>& entries() const { return entries_; }
  const std::vector<const TensorInfo*>& hidden() const { return hidden_; }
  bool by_full_name() const { return by_full_name_; }
  // A full name that several different tensors share: a message naming them, else "".
  std::string Ambiguity(const std::string& name) const;

 private:
  std::vector<std::pair<std::string, const TensorInfo*>> entries_;
  std::vector<const TensorInfo*> hidden_;
  std::map<std::string, std::string> ambiguous_;
  bool by_full_name_ = false;
};

// The keys of a checkpoint that are bookkeeping, not variables: the TF2 object graph and the
// root's save_counter. Empty for a name-based (TF1) checkpoint.
Status BookkeepingKeys(const Checkpoint& ckpt, std::set<std::string>* keys);

}  // namespace tfckpt

#endif  // TFCKPT_PLAN_NAME_VIEW_H_
