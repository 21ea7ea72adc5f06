// SliceRegistry: the partitioned tensors of a bundle being written. Each slice added is checked
// against its tensor (rank and bounds; dtype and shape as the earlier slices said; not added
// twice) and recorded; at the end every partitioned tensor gets its full index entry, which lists
// its slices (each slice's bytes lie under its own slice key).
//
// Thread-safety: used by one thread at a time.

#ifndef TFCKPT_BUNDLE_SLICE_REGISTRY_H_
#define TFCKPT_BUNDLE_SLICE_REGISTRY_H_

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tfckpt.pb.h"
#include "tfckpt/status.h"
#include "tfckpt/tensor.h"

namespace tfckpt {

class SliceRegistry {
 public:
  // Checks `slice` of the tensor `full_name` and records it, giving its index key and shape.
  // Sets *whole (and records nothing) when the slice covers the whole tensor, which is then
  // stored as a plain tensor (as TensorFlow does). `in_index(key)` tells whether the index
  // already holds an entry under a key.
  Status Register(std::string_view full_name, const Shape& full_shape, const TensorSlice& slice,
                  DType dtype, const std::function<bool(const std::string&)>& in_index,
                  std::string* key, Shape* slice_shape, bool* whole);
  // True when `name` is a partitioned tensor with slices recorded.
  bool Has(const std::string& name) const { return partitioned_.count(name) > 0; }
  // Adds the full entry of every partitioned tensor to `entries`.
  void AddFullEntries(std::map<std::string, pb::BundleEntryProto>* entries) const;

 private:
  struct Partitioned {
    DType dtype;
    Shape shape;
    std::vector<TensorSlice> slices;
  };
  std::map<std::string, Partitioned> partitioned_;
};

}  // namespace tfckpt

#endif  // TFCKPT_BUNDLE_SLICE_REGISTRY_H_
