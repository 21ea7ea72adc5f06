#include "bundle/trackable_graph.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "testing/test_util.h"
#include "tfckpt/objects.h"
#include "tfckpt/writer.h"

namespace tfckpt {
namespace {

using Node = pb::TrackableObjectGraph::TrackableObject;

void Edge(TrackableGraph* g, int from, int to, const std::string& name) {
  auto* c = g->mutable_nodes(from)->add_children();
  c->set_node_id(to);
  c->set_local_name(name);
}

void Attr(TrackableGraph* g, int node, const std::string& key, const std::string& full = "") {
  auto* a = g->mutable_nodes(node)->add_attributes();
  a->set_name("VARIABLE_VALUE");
  a->set_full_name(full);
  a->set_checkpoint_key(key);
}

void Slot(TrackableGraph* g, int optimizer, int variable, const std::string& name, int slot) {
  auto* s = g->mutable_nodes(optimizer)->add_slot_variables();
  s->set_original_variable_node_id(variable);
  s->set_slot_name(name);
  s->set_slot_variable_node_id(slot);
}

TrackableGraph Nodes(int n) {
  TrackableGraph g;
  for (int i = 0; i < n; i++) g.add_nodes();
  return g;
}

TEST(KeyGrammar, EscapeAndUnescapeLocalNames) {
  EXPECT_EQ(EscapeLocalName("plain"), "plain");
  EXPECT_EQ(EscapeLocalName("a.b/c"), "a..b.Sc");
  EXPECT_EQ(EscapeLocalName("../"), ".....S");
  EXPECT_EQ(EscapeLocalName(""), "");
  for (std::string name : {"a.b/c", "../", ".S", "x..y//z.", "layer_with_weights-0"}) {
    EXPECT_EQ(UnescapeLocalName(EscapeLocalName(name)), name) << name;
  }
  // A '.' not followed by '.' or 'S' is kept as it is, also at the end.
  EXPECT_EQ(UnescapeLocalName("a.b."), "a.b.");
  EXPECT_EQ(UnescapeLocalName("..S"), ".S");
  EXPECT_EQ(UnescapeLocalName(".S.S"), "//");
}

TEST(KeyGrammar, AttributeKeysAndSlotPaths) {
  EXPECT_EQ(AttributeKey("model/dense/kernel", "VARIABLE_VALUE"),
            "model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE");
  EXPECT_EQ(AttributeKey("model/w", "VARIABLE_VALUE"),
            "model/w" + std::string(kVariableValueSuffix));
  // The attribute's name is escaped like a local name; the object path is taken as given.
  EXPECT_EQ(AttributeKey("a..b", "x.y/z"), "a..b/.ATTRIBUTES/x..y.Sz");
  EXPECT_EQ(SlotVariablePath("model/w", "optimizer", "m"), "model/w/.OPTIMIZER_SLOT/optimizer/m");
  EXPECT_EQ(SlotVariablePath("model/w", "opt", "a/b.c"), "model/w/.OPTIMIZER_SLOT/opt/a.Sb..c");
  EXPECT_EQ(AttributeKey(SlotVariablePath("v", "optimizer", "momentum"), "VARIABLE_VALUE"),
            "v/.OPTIMIZER_SLOT/optimizer/momentum/.ATTRIBUTES/VARIABLE_VALUE");
}

TEST(ParseTrackableGraph, AcceptsASoundGraph) {
  TrackableGraph g = Nodes(3);
  Edge(&g, 0, 1, "a");
  Edge(&g, 1, 2, "b");
  Edge(&g, 2, 0, "back_to_root");  // cycles are allowed
  Attr(&g, 2, "a/b/.ATTRIBUTES/VARIABLE_VALUE");
  TrackableGraph parsed;
  ASSERT_OK(ParseTrackableGraph(g.SerializeAsString(), &parsed));
  ASSERT_EQ(parsed.nodes_size(), 3);
  EXPECT_EQ(parsed.nodes(2).attributes(0).checkpoint_key(), "a/b/.ATTRIBUTES/VARIABLE_VALUE");
}

TEST(ParseTrackableGraph, RefusesDamagedGraphs) {
  TrackableGraph parsed;
  EXPECT_STATUS(ParseTrackableGraph("\xff\xff\xff", &parsed), Status::Code::kCorruption,
                "not a valid TrackableObjectGraph");
  EXPECT_STATUS(ParseTrackableGraph("", &parsed), Status::Code::kCorruption,
                "not a valid TrackableObjectGraph");  // no root

  TrackableGraph edge = Nodes(2);
  Edge(&edge, 0, 2, "missing");
  EXPECT_STATUS(ParseTrackableGraph(edge.SerializeAsString(), &parsed), Status::Code::kCorruption,
                "edge to a node that does not exist");
  TrackableGraph negative = Nodes(2);
  Edge(&negative, 0, -1, "negative");
  EXPECT_STATUS(ParseTrackableGraph(negative.SerializeAsString(), &parsed),
                Status::Code::kCorruption, "edge to a node that does not exist");

  for (auto [variable, slot] : {std::pair{5, 1}, std::pair{1, 5}, std::pair{-1, 1}}) {
    TrackableGraph g = Nodes(2);
    Edge(&g, 0, 1, "v");
    Slot(&g, 0, variable, "m", slot);
    EXPECT_STATUS(ParseTrackableGraph(g.SerializeAsString(), &parsed), Status::Code::kCorruption,
                  "slot reference to a missing node")
        << variable << " " << slot;
  }
}

TEST(ParseTrackableGraph, RefusesAGraphDeeperThanTheLimit) {
  // A chain root -> 1 -> 2 -> ...: kMaxObjectDepth levels are fine, one more is not.
  auto chain = [](int depth) {
    TrackableGraph g = Nodes(depth + 1);
    for (int i = 0; i < depth; i++) Edge(&g, i, i + 1, "c");
    return g.SerializeAsString();
  };
  TrackableGraph parsed;
  EXPECT_OK(ParseTrackableGraph(chain(kMaxObjectDepth), &parsed));
  EXPECT_STATUS(ParseTrackableGraph(chain(kMaxObjectDepth + 1), &parsed), Status::Code::kCorruption,
                "more than 1000 objects deep");
}

TEST(ComputeObjectPaths, BreadthFirstEscapedAndSlots) {
  // root -> "a.b" (1) -> "c/d" (2, a variable); root -> optimizer (3), slot "m" of 2 is 4;
  // root -> short (5) -> 2 again (a longer path is not taken); 6 is unreachable.
  TrackableGraph g = Nodes(7);
  Edge(&g, 0, 1, "a.b");
  Edge(&g, 1, 2, "c/d");
  Edge(&g, 0, 3, "optimizer");
  Edge(&g, 0, 5, "short");
  Edge(&g, 5, 2, "again");
  Slot(&g, 3, 2, "m", 4);
  ObjectPaths p;
  ASSERT_OK(ComputeObjectPaths(g, g.ByteSizeLong(), &p));
  ASSERT_EQ(p.path.size(), 7u);
  EXPECT_EQ(p.path[0], "");
  EXPECT_EQ(p.path[1], "a..b");
  EXPECT_EQ(p.path[2], "a..b/c.Sd");
  EXPECT_EQ(p.parent[2], 1);
  EXPECT_EQ(p.local_name[2], "c/d");  // unescaped
  EXPECT_EQ(p.path[3], "optimizer");
  EXPECT_EQ(p.path[4], "a..b/c.Sd/.OPTIMIZER_SLOT/optimizer/m");
  EXPECT_EQ(p.parent[4], -1);
  EXPECT_EQ(p.path[5], "short");
  EXPECT_FALSE(p.path[6].has_value());
  EXPECT_EQ(p.parent[6], -1);
}

TEST(ComputeObjectPaths, SlotOfAnUnreachedVariableHasNoPath) {
  TrackableGraph g = Nodes(4);
  Edge(&g, 0, 1, "optimizer");
  Slot(&g, 1, 2, "m", 3);  // variable 2 is not reached
  ObjectPaths p;
  ASSERT_OK(ComputeObjectPaths(g, g.ByteSizeLong(), &p));
  EXPECT_EQ(p.path[1], "optimizer");
  EXPECT_FALSE(p.path[2].has_value());
  EXPECT_FALSE(p.path[3].has_value());
}

TEST(HoldsValues, ThroughChildrenAndSlots) {
  // root -> model (1) -> w (2, value); root -> empty (3) -> nothing (4);
  // root -> optimizer (5): slot of w is 6 (value); root -> opt2 (7): slot of w is 8 (no value).
  TrackableGraph g = Nodes(9);
  Edge(&g, 0, 1, "model");
  Edge(&g, 1, 2, "w");
  Edge(&g, 0, 3, "empty");
  Edge(&g, 3, 4, "nothing");
  Edge(&g, 0, 5, "optimizer");
  Edge(&g, 0, 7, "opt2");
  Attr(&g, 2, "model/w/.ATTRIBUTES/VARIABLE_VALUE");
  Attr(&g, 6, "model/w/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE");
  Slot(&g, 5, 2, "m", 6);
  Slot(&g, 7, 2, "m", 8);
  std::vector<bool> holds = HoldsValues(g);
  EXPECT_EQ(holds, (std::vector<bool>{true, true, true, false, false, true, true, false, false}));

  // A registered saver holds values without attributes.
  TrackableGraph r = Nodes(2);
  Edge(&r, 0, 1, "table");
  r.mutable_nodes(1)->mutable_registered_saver()->set_name("saver");
  EXPECT_EQ(HoldsValues(r), (std::vector<bool>{true, true}));
}

TEST(ReadObjectGraphBytes, NameBasedTypedAndDamaged) {
  std::string dir = testing::TempDir();
  std::string graph = Nodes(1).SerializeAsString() + std::string("\0x", 2);
  WriterOptions o;
  o.sync = false;
  {
    std::unique_ptr<BundleWriter> w;
    ASSERT_OK(BundleWriter::Create(dir + "/tf2", o, &w));
    std::vector<std::string_view> v = {graph};
    ASSERT_OK(testing::AddStrings(*w, kObjectGraphKey, {}, v));
    ASSERT_OK(w->Finish());
  }
  ASSERT_NO_FATAL_FAILURE(testing::WriteCheckpoint(
      dir + "/tf1", {testing::MakeTensor("x", DType::kFloat, {}, std::vector<float>{1})}));
  ASSERT_NO_FATAL_FAILURE(testing::WriteCheckpoint(
      dir + "/bad", {testing::MakeTensor(std::string(kObjectGraphKey), DType::kFloat, {1},
                                         std::vector<float>{1})}));
  std::unique_ptr<Checkpoint> c;
  std::string bytes = "left over";
  ASSERT_OK(Checkpoint::Open(dir + "/tf2", &c));
  EXPECT_TRUE(IsObjectBased(*c));
  ASSERT_OK(ReadObjectGraphBytes(*c, &bytes));
  EXPECT_EQ(bytes, graph);
  ASSERT_OK(Checkpoint::Open(dir + "/tf1", &c));
  EXPECT_FALSE(IsObjectBased(*c));
  ASSERT_OK(ReadObjectGraphBytes(*c, &bytes));
  EXPECT_EQ(bytes, "");
  ASSERT_OK(Checkpoint::Open(dir + "/bad", &c));
  EXPECT_STATUS(ReadObjectGraphBytes(*c, &bytes), Status::Code::kCorruption,
                "is a float32 [1], not a scalar string");
}

TEST(ReadObjectGraph, PathsAttributesAndSlots) {
  TrackableGraph g = Nodes(5);
  Edge(&g, 0, 1, "model");
  Edge(&g, 1, 2, "w");
  Edge(&g, 0, 3, "optimizer");
  Attr(&g, 2, "model/w/.ATTRIBUTES/VARIABLE_VALUE", "dense/kernel");
  Attr(&g, 4, "model/w/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE");
  Slot(&g, 3, 2, "m", 4);
  std::string dir = testing::TempDir();
  std::string serialized = g.SerializeAsString();
  {
    std::unique_ptr<BundleWriter> w;
    WriterOptions o;
    o.sync = false;
    ASSERT_OK(BundleWriter::Create(dir + "/c", o, &w));
    std::vector<std::string_view> v = {serialized};
    ASSERT_OK(testing::AddStrings(*w, kObjectGraphKey, {}, v));
    std::vector<float> x = {1};
    ASSERT_OK(testing::AddBytes(*w, "model/w/.ATTRIBUTES/VARIABLE_VALUE", DType::kFloat, {},
                                testing::AsBytes(x)));
    ASSERT_OK(w->Finish());
  }
  std::unique_ptr<Checkpoint> c;
  ASSERT_OK(Checkpoint::Open(dir + "/c", &c));
  ObjectGraph og;
  ASSERT_OK(ReadObjectGraph(*c, &og));
  ASSERT_EQ(og.nodes.size(), 5u);
  EXPECT_EQ(og.nodes[2].path, "model/w");
  EXPECT_TRUE(og.nodes[2].reached);
  EXPECT_EQ(og.nodes[2].parent, 1);
  ASSERT_EQ(og.nodes[2].attributes.size(), 1u);
  EXPECT_EQ(og.nodes[2].attributes[0].full_name, "dense/kernel");
  EXPECT_EQ(AttributeTensors(*c, og.nodes[2].attributes[0]).size(), 1u);
  EXPECT_EQ(og.nodes[4].path, "model/w/.OPTIMIZER_SLOT/optimizer/m");
  ASSERT_EQ(og.nodes[3].slots.size(), 1u);
  EXPECT_EQ(og.nodes[3].slots[0].variable, 2);
  EXPECT_EQ(og.nodes[3].slots[0].slot, 4);
  EXPECT_EQ(og.nodes[3].slots[0].slot_name, "m");
  // The slot's value is missing from the index.
  ASSERT_EQ(og.nodes[4].attributes.size(), 1u);
  EXPECT_TRUE(AttributeTensors(*c, og.nodes[4].attributes[0]).empty());

  std::unique_ptr<Checkpoint> tf1;
  ASSERT_NO_FATAL_FAILURE(testing::WriteCheckpoint(
      dir + "/tf1", {testing::MakeTensor("x", DType::kFloat, {}, std::vector<float>{1})}));
  ASSERT_OK(Checkpoint::Open(dir + "/tf1", &tf1));
  EXPECT_STATUS(ReadObjectGraph(*tf1, &og), Status::Code::kNotFound, "");
}

}  // namespace
}  // namespace tfckpt
