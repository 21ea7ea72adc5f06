// Fuzzes parsing of the header, entry and object-graph protos and their conversion to tfckpt's
// types (shape validation, slices), and the object-graph rewrite.

#include "bundle/entry_codec.h"
#include "plan/object_graph.h"
#include "tfckpt.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  tfckpt::pb::BundleHeaderProto header;
  (void)header.ParseFromString(bytes);
  tfckpt::pb::BundleEntryProto entry;
  if (entry.ParseFromString(bytes)) {
    tfckpt::Shape shape;
    (void)tfckpt::ShapeFromProto(entry.shape(), &shape);
    for (const auto& s : entry.slices()) (void)tfckpt::SliceFromProto(s).ToString();
  }
  std::set<std::string> keys;
  if (tfckpt::OptimizerKeys(bytes, &keys).ok()) {
    std::string out;
    bool changed = false;
    (void)tfckpt::RewriteObjectGraph(
        bytes,
        [](const std::string& k) -> std::optional<std::string> {
          if (k.size() % 2) return std::nullopt;
          return k + "x";
        },
        &out, &changed);
  }
  return 0;
}
