// Fuzzes parsing of the header, entry and object-graph protos and their conversion to tfckpt's
// types (shape validation, slices), and the object-graph rewrite, merge and object moves.

#include "bundle/entry_codec.h"
#include "plan/object_graph.h"
#include "tfckpt.pb.h"

#include <map>
#include <vector>

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
  tfckpt::TrackableGraph parsed;
  if (tfckpt::ParseTrackableGraph(bytes, &parsed).ok()) {
    (void)tfckpt::OptimizerKeys(parsed);
    (void)tfckpt::AttributeKeys(parsed);
    std::string out;
    bool changed = false;
    (void)tfckpt::RewriteObjectGraph(
        bytes,
        [](const std::string& k) -> std::optional<std::string> {
          if (k.size() % 2) return std::nullopt;
          return k + "x";
        },
        &out, &changed);
    (void)tfckpt::SaveCounterKeys(parsed);
    (void)tfckpt::FullNameKeys(parsed);
    std::vector<tfckpt::GraphPart> parts(2);
    for (int i = 0; i < 2; i++) {
      parts[i].label = std::to_string(i);
      parts[i].serialized = bytes;
      parts[i].scope = i == 0 ? "a" : "";
      parts[i].keep_save_counter = i == 0;
      parts[i].key_map = [i](const std::string& k) -> std::optional<std::string> {
        return i == 0 ? tfckpt::ScopeObjectKey("a", k) : k;
      };
    }
    (void)tfckpt::MergeObjectGraphs(parts, &out);
    // Move the first object found, the root, and back.
    std::map<std::string, std::string> renamed;
    tfckpt::pb::TrackableObjectGraph g;
    std::string first;
    if (g.ParseFromString(bytes) && g.nodes_size() > 0 && g.nodes(0).children_size() > 0) {
      first = tfckpt::EscapeLocalName(g.nodes(0).children(0).local_name());
    }
    (void)tfckpt::MoveObjects(bytes, {{first, "x/y"}, {"", "s"}, {"s", ""}}, &out, &renamed);
  }
  return 0;
}
