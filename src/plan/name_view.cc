#include "plan/name_view.h"

#include <algorithm>
#include <memory>
#include <span>

#include <fmt/format.h>

#include "bundle/trackable_graph.h"
#include "plan/object_graph.h"

namespace tfckpt {
namespace {

// Whether two tensors of one checkpoint hold the same value: same dtype and shape, and the same
// stored bytes (compared by CRC first, then byte for byte). Partitioned tensors never count as
// the same.
bool SameStoredValue(const Checkpoint& ckpt, const TensorInfo& a, const TensorInfo& b) {
  if (a.dtype != b.dtype || a.shape != b.shape || a.partitioned() || b.partitioned()) return false;
  if (a.location.size != b.location.size || a.location.masked_crc32c != b.location.masked_crc32c) {
    return false;
  }
  std::span<const uint8_t> x, y;
  std::shared_ptr<const void> hold_x, hold_y;
  if (!ckpt.RawBytes(a.location, &x, &hold_x).ok() ||
      !ckpt.RawBytes(b.location, &y, &hold_y).ok()) {
    return false;
  }
  return x.size() == y.size() && std::equal(x.begin(), x.end(), y.begin());
}

}  // namespace

Status NameView::FullNames(const Checkpoint& ckpt, const std::string& label, NameView* view) {
  *view = NameView();
  view->by_full_name_ = true;
  std::string graph;
  TFCKPT_RETURN_IF_ERROR(ReadObjectGraphBytes(ckpt, &graph));
  if (graph.empty()) return Status::OK();
  TrackableGraph g;
  TFCKPT_RETURN_IF_ERROR(ParseTrackableGraph(graph, &g));
  const std::vector<std::pair<std::string, std::string>> names = FullNameKeys(g);
  std::set<std::string> named_keys;
  std::map<std::string, std::vector<const TensorInfo*>> tensors_of;
  for (const auto& [full, key] : names) {
    const TensorInfo* t = ckpt.Find(key);
    if (t == nullptr) continue;  // a value the object graph promises but the index lacks
    if (!named_keys.insert(key).second) continue;
    tensors_of[full].push_back(t);
    view->entries_.emplace_back(full, t);
  }
  for (const auto& [full, tensors] : tensors_of) {
    if (tensors.size() < 2) continue;
    bool copies = true;
    for (size_t i = 1; i < tensors.size() && copies; i++) {
      copies = SameStoredValue(ckpt, *tensors[0], *tensors[i]);
    }
    if (copies) continue;
    std::vector<std::string> keys;
    for (const TensorInfo* t : tensors) keys.push_back(t->name);
    view->ambiguous_[full] = fmt::format(
        "the full name '{}' belongs to {} tensors of {} ('{}') that hold different values, so it "
        "cannot say which one is meant; give the variables distinct names (tf.Variable(..., "
        "name=...)) and save "
        "again, or map them by key (`tf2_names` keys)",
        full, keys.size(), label, fmt::join(keys, "', '"));
  }
  std::stable_sort(view->entries_.begin(), view->entries_.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const TensorInfo& t : ckpt.tensors()) {
    if (!named_keys.count(t.name)) view->hidden_.push_back(&t);
  }
  return Status::OK();
}

NameView NameView::Keys(const std::vector<TensorInfo>& tensors,
                        const std::set<std::string>& hidden) {
  NameView view;
  for (const TensorInfo& t : tensors) {
    if (hidden.count(t.name)) {
      view.hidden_.push_back(&t);
    } else {
      view.entries_.emplace_back(t.name, &t);
    }
  }
  return view;
}

Status NameView::KeysOf(const Checkpoint& ckpt, NameView* view) {
  std::set<std::string> bookkeeping;
  TFCKPT_RETURN_IF_ERROR(BookkeepingKeys(ckpt, &bookkeeping));
  *view = Keys(ckpt.tensors(), bookkeeping);
  return Status::OK();
}

const TensorInfo* NameView::Find(std::string_view name) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const auto& e, std::string_view n) { return e.first < n; });
  return it != entries_.end() && it->first == name ? it->second : nullptr;
}

std::vector<const TensorInfo*> NameView::FindAll(std::string_view name) const {
  std::vector<const TensorInfo*> out;
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const auto& e, std::string_view n) { return e.first < n; });
  for (; it != entries_.end() && it->first == name; ++it) out.push_back(it->second);
  return out;
}

std::string NameView::Ambiguity(const std::string& name) const {
  auto it = ambiguous_.find(name);
  return it == ambiguous_.end() ? "" : it->second;
}

Status BookkeepingKeys(const Checkpoint& ckpt, std::set<std::string>* keys) {
  keys->clear();
  std::string graph;
  TFCKPT_RETURN_IF_ERROR(ReadObjectGraphBytes(ckpt, &graph));
  if (graph.empty()) return Status::OK();
  keys->insert(std::string(kObjectGraphKey));
  TrackableGraph g;
  TFCKPT_RETURN_IF_ERROR(ParseTrackableGraph(graph, &g));
  const std::vector<std::string> counter = SaveCounterKeys(g);
  keys->insert(counter.begin(), counter.end());
  return Status::OK();
}

}  // namespace tfckpt
