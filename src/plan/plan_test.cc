#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "plan/object_graph.h"
#include "testing/test_util.h"
#include "tfckpt.pb.h"
#include "tfckpt/plan.h"
#include "tfckpt/writer.h"

namespace tfckpt {
namespace {

// Writes a float32 checkpoint with the given scalar tensors.
void Write(const std::string& prefix, const std::vector<std::pair<std::string, float>>& values) {
  std::vector<testing::TestTensor> tensors;
  for (const auto& [name, v] : values) {
    tensors.push_back(testing::MakeTensor(name, DType::kFloat, {}, std::vector<float>{v}));
  }
  ASSERT_NO_FATAL_FAILURE(testing::WriteCheckpoint(prefix, tensors));
}

// The scalar float `name` of `prefix`; NaN (with a failure reported) when it cannot be read.
float Value(const std::string& prefix, const std::string& name) {
  std::vector<float> v = testing::ReadValues<float>(prefix, name);
  EXPECT_EQ(v.size(), 1u) << name;
  return v.size() == 1 ? v[0] : std::nanf("");
}

std::vector<std::string> Names(const std::string& prefix) { return testing::TensorNames(prefix); }

TEST(Merge, UnionConflictsAndChoice) {
  std::string d = testing::TempDir();
  ASSERT_NO_FATAL_FAILURE(Write(d + "/a", {{"x", 1}, {"shared", 2}}));
  ASSERT_NO_FATAL_FAILURE(Write(d + "/b", {{"y", 3}, {"shared", 4}}));
  Plan plan;
  Status s = PlanMerge({d + "/a", d + "/b"}, d + "/out", MergeOptions(), &plan);
  ASSERT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("'shared'"), std::string::npos);
  EXPECT_NE(s.message().find(d + "/a"), std::string::npos);
  EXPECT_NE(s.message().find(d + "/b"), std::string::npos);
  for (auto [policy, want] : {std::pair{MergeOptions::OnConflict::kFirst, 2.0f},
                              std::pair{MergeOptions::OnConflict::kLast, 4.0f}}) {
    Plan p;
    MergeOptions mo;
    mo.on_conflict = policy;
    std::string out = d + "/out" + std::to_string(static_cast<int>(policy));
    ASSERT_OK(PlanMerge({d + "/a", d + "/b"}, out, mo, &p));
    ExecuteReport r;
    ASSERT_OK(ExecutePlan(p, ExecuteOptions(), &r));
    EXPECT_EQ(Names(out), (std::vector<std::string>{"shared", "x", "y"}));
    EXPECT_EQ(Value(out, "shared"), want);
    // Partly used sources are copied tensor by tensor, fully used ones whole.
    EXPECT_EQ(r.stats.files_copied + r.stats.files_reflinked, 1);
    EXPECT_EQ(r.stats.ranges_copied, 1);
  }
}

TEST(Merge, RefusesOutputEqualToInput) {
  std::string d = testing::TempDir();
  ASSERT_NO_FATAL_FAILURE(Write(d + "/a", {{"x", 1}}));
  ASSERT_NO_FATAL_FAILURE(Write(d + "/b", {{"y", 1}}));
  Plan plan;
  EXPECT_STATUS(PlanMerge({d + "/a", d + "/b"}, d + "/a", MergeOptions(), &plan),
                Status::Code::kInvalidArgument, d + "/a");
}

TEST(Transfer, AssignmentMapForms) {
  std::string d = testing::TempDir();
  ASSERT_NO_FATAL_FAILURE(
      Write(d + "/model", {{"enc/w", 0}, {"enc/b", 0}, {"dec/w", 0}, {"head", 0}}));
  ASSERT_NO_FATAL_FAILURE(
      Write(d + "/src", {{"encoder/w", 1}, {"encoder/b", 2}, {"w", 3}, {"h", 4}}));
  TransferOptions to;
  to.into = d + "/model";
  to.groups.push_back({d + "/src", {{"encoder/", "enc/"}, {"h", "head"}}});
  Plan plan;
  ASSERT_OK(PlanTransfer(to, d + "/out", &plan));
  ExecuteReport r;
  ASSERT_OK(ExecutePlan(plan, ExecuteOptions(), &r));
  EXPECT_EQ(Value(d + "/out", "enc/w"), 1);
  EXPECT_EQ(Value(d + "/out", "enc/b"), 2);
  EXPECT_EQ(Value(d + "/out", "head"), 4);
  EXPECT_EQ(Value(d + "/out", "dec/w"), 0);  // kept
}

TEST(Transfer, AllProblemsReportedTogether) {
  std::string d = testing::TempDir();
  ASSERT_NO_FATAL_FAILURE(Write(d + "/model", {{"a", 0}, {"s/x", 0}}));
  ASSERT_NO_FATAL_FAILURE(Write(d + "/src", {{"a", 1}}));
  TransferOptions to;
  to.into = d + "/model";
  to.groups.push_back({d + "/src", {{"missing", "a"}, {"a", "s/"}, {"q/", "s/"}}});
  Plan plan;
  Status s = PlanTransfer(to, d + "/out", &plan);
  ASSERT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("Tensor missing is not found"), std::string::npos);
  EXPECT_NE(s.message().find("should map to scope only a"), std::string::npos);
  EXPECT_NE(s.message().find("Tensor q/x (x in q/) is not found"), std::string::npos);
  EXPECT_FALSE(file::Exists(d + "/out.index"));
}

TEST(Edit, RenameFormsAndClashes) {
  std::string d = testing::TempDir();
  ASSERT_NO_FATAL_FAILURE(Write(d + "/src", {{"old/a", 1}, {"old/b", 2}, {"c", 3}}));
  EditOptions eo;
  eo.renames = {{"old/", "new/"}, {"c", "d"}};
  Plan plan;
  ASSERT_OK(PlanEdit(d + "/src", d + "/out", eo, &plan));
  ExecuteReport r;
  ASSERT_OK(ExecutePlan(plan, ExecuteOptions(), &r));
  EXPECT_EQ(Names(d + "/out"), (std::vector<std::string>{"d", "new/a", "new/b"}));
  EXPECT_EQ(Value(d + "/out", "new/b"), 2);
  // Every tensor kept and renamed: the data file is taken whole.
  EXPECT_EQ(r.stats.files_copied + r.stats.files_reflinked, 1);

  EditOptions clash;
  clash.renames = {{"old/a", "c"}};
  Plan p2;
  EXPECT_STATUS(PlanEdit(d + "/src", d + "/out2", clash, &p2), Status::Code::kInvalidArgument,
                "would both be named 'c'");
}

TEST(ObjectGraph, DropPrunesAndRenumbers) {
  // root -> model -> w (VARIABLE_VALUE), root -> opt (slots of w: m), root -> counter.
  pb::TrackableObjectGraph g;
  auto* root = g.add_nodes();
  auto* model = g.add_nodes();
  auto* w = g.add_nodes();
  auto* opt = g.add_nodes();
  auto* m = g.add_nodes();
  auto* counter = g.add_nodes();
  auto edge = [](pb::TrackableObjectGraph::TrackableObject* n, int id, const char* name) {
    auto* c = n->add_children();
    c->set_node_id(id);
    c->set_local_name(name);
  };
  auto attr = [](pb::TrackableObjectGraph::TrackableObject* n, const std::string& key) {
    auto* a = n->add_attributes();
    a->set_name("VARIABLE_VALUE");
    a->set_checkpoint_key(key);
  };
  edge(root, 1, "model");
  edge(root, 3, "optimizer");
  edge(root, 5, "save_counter");
  edge(model, 2, "w");
  attr(w, "model/w/.ATTRIBUTES/VARIABLE_VALUE");
  auto* slot = opt->add_slot_variables();
  slot->set_original_variable_node_id(2);
  slot->set_slot_name("m");
  slot->set_slot_variable_node_id(4);
  attr(m, "model/w/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE");
  attr(counter, "save_counter/.ATTRIBUTES/VARIABLE_VALUE");
  std::string serialized = g.SerializeAsString();

  std::set<std::string> opt_keys;
  ASSERT_OK(OptimizerKeys(serialized, &opt_keys));
  EXPECT_EQ(
      opt_keys,
      (std::set<std::string>{"model/w/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE"}));

  std::string out;
  bool changed = false;
  auto map = [&](const std::string& k) -> std::optional<std::string> {
    if (opt_keys.count(k)) return std::nullopt;
    if (k == "model/w/.ATTRIBUTES/VARIABLE_VALUE") return std::string("model/w2/.ATTRIBUTES/V");
    return k;
  };
  ASSERT_OK(RewriteObjectGraph(serialized, map, &out, &changed));
  ASSERT_TRUE(changed);
  pb::TrackableObjectGraph r;
  ASSERT_TRUE(r.ParseFromString(out));
  // opt and m are gone: root, model, w, counter remain, renumbered 0..3.
  ASSERT_EQ(r.nodes_size(), 4);
  ASSERT_EQ(r.nodes(0).children_size(), 2);
  EXPECT_EQ(r.nodes(0).children(1).local_name(), "save_counter");
  EXPECT_EQ(r.nodes(0).children(1).node_id(), 3);
  EXPECT_EQ(r.nodes(2).attributes(0).checkpoint_key(), "model/w2/.ATTRIBUTES/V");

  // No change: the bytes are given back as they were.
  ASSERT_OK(RewriteObjectGraph(
      serialized, [](const std::string& k) { return std::optional<std::string>(k); }, &out,
      &changed));
  EXPECT_FALSE(changed);
  EXPECT_EQ(out, serialized);
}

// root -> model -> w; root -> optimizer (slot m of w, no values of its own); root -> save_counter.
std::string SmallGraph(const std::string& prefix = "") {
  pb::TrackableObjectGraph g;
  for (int i = 0; i < 6; i++) g.add_nodes();  // root, model, optimizer, w, save_counter, m
  auto edge = [&](int from, int to, const char* name) {
    auto* c = g.mutable_nodes(from)->add_children();
    c->set_node_id(to);
    c->set_local_name(name);
  };
  auto attr = [&](int node, const std::string& key) {
    auto* a = g.mutable_nodes(node)->add_attributes();
    a->set_name("VARIABLE_VALUE");
    a->set_checkpoint_key(prefix + key);
  };
  edge(0, 1, "model");
  edge(0, 2, "optimizer");
  edge(0, 4, "save_counter");
  edge(1, 3, "w");
  auto* slot = g.mutable_nodes(2)->add_slot_variables();
  slot->set_original_variable_node_id(3);
  slot->set_slot_name("m");
  slot->set_slot_variable_node_id(5);
  attr(3, "model/w/.ATTRIBUTES/VARIABLE_VALUE");
  attr(5, "model/w/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE");
  attr(4, "save_counter/.ATTRIBUTES/VARIABLE_VALUE");
  return g.SerializeAsString();
}

std::vector<std::string> Keys(const pb::TrackableObjectGraph& g) {
  std::vector<std::string> keys;
  for (const auto& n : g.nodes()) {
    for (const auto& a : n.attributes()) keys.push_back(a.checkpoint_key());
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

TEST(ObjectGraph, EscapesAndScopesKeys) {
  EXPECT_EQ(EscapeLocalName("a.b/c"), "a..b.Sc");
  EXPECT_EQ(ScopeObjectKey("enc", "model/w/.ATTRIBUTES/VARIABLE_VALUE"),
            "enc/model/w/.ATTRIBUTES/VARIABLE_VALUE");
  EXPECT_EQ(ScopeObjectKey("enc", "model/w/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/X"),
            "enc/model/w/.OPTIMIZER_SLOT/enc/optimizer/m/.ATTRIBUTES/X");
}

TEST(ObjectGraph, MergeNamedSourcesKeepsOneSaveCounter) {
  std::vector<GraphPart> parts(2);
  for (int i = 0; i < 2; i++) {
    parts[i].label = i == 0 ? "a" : "b";
    parts[i].serialized = SmallGraph();
    parts[i].scope = parts[i].label;
    parts[i].keep_save_counter = i == 0;
    parts[i].key_map = [i](const std::string& k) -> std::optional<std::string> {
      if (k.rfind("save_counter/", 0) == 0)
        return i == 0 ? std::optional<std::string>(k) : std::nullopt;
      return ScopeObjectKey(i == 0 ? "a" : "b", k);
    };
  }
  std::string merged;
  ASSERT_OK(MergeObjectGraphs(parts, &merged));
  pb::TrackableObjectGraph g;
  ASSERT_TRUE(g.ParseFromString(merged));
  std::vector<std::string> root;
  for (const auto& c : g.nodes(0).children()) root.push_back(c.local_name());
  EXPECT_EQ(root, (std::vector<std::string>{"save_counter", "a", "b"}));
  EXPECT_EQ(Keys(g), (std::vector<std::string>{
                         "a/model/w/.ATTRIBUTES/VARIABLE_VALUE",
                         "a/model/w/.OPTIMIZER_SLOT/a/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE",
                         "b/model/w/.ATTRIBUTES/VARIABLE_VALUE",
                         "b/model/w/.OPTIMIZER_SLOT/b/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE",
                         "save_counter/.ATTRIBUTES/VARIABLE_VALUE"}));
  // Every slot reference points at the slot holding that source's key.
  int slots = 0;
  for (const auto& n : g.nodes()) {
    for (const auto& s : n.slot_variables()) {
      const std::string& var =
          g.nodes(s.original_variable_node_id()).attributes(0).checkpoint_key();
      const std::string& slot = g.nodes(s.slot_variable_node_id()).attributes(0).checkpoint_key();
      EXPECT_EQ(var.substr(0, 2), slot.substr(0, 2));
      slots++;
    }
  }
  EXPECT_EQ(slots, 2);

  // Unnamed, the same roots collide: the message names the object and the way out.
  for (GraphPart& p : parts) p.scope.clear();
  Status s = MergeObjectGraphs(parts, &merged);
  EXPECT_STATUS(s, Status::Code::kInvalidArgument, "'model'");
  EXPECT_STATUS(s, Status::Code::kInvalidArgument, "NAME=SRC");
}

TEST(ObjectGraph, MovedObjectsTakeTheirSlotsAlong) {
  std::string out;
  std::map<std::string, std::string> renamed;
  ASSERT_OK(MoveObjects(SmallGraph(), {{"model/w", "net/kernel"}}, &out, &renamed));
  EXPECT_EQ(renamed["model/w/.ATTRIBUTES/VARIABLE_VALUE"], "net/kernel/.ATTRIBUTES/VARIABLE_VALUE");
  EXPECT_EQ(renamed["model/w/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE"],
            "net/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE");
  pb::TrackableObjectGraph g;
  ASSERT_TRUE(g.ParseFromString(out));
  // "model" held nothing else: it is gone; the optimizer, holding only a slot, stays.
  std::vector<std::string> root;
  for (const auto& c : g.nodes(0).children()) root.push_back(c.local_name());
  EXPECT_EQ(root, (std::vector<std::string>{"optimizer", "save_counter", "net"}));

  EXPECT_STATUS(MoveObjects(SmallGraph(), {{"model/nothing", "x"}}, &out, &renamed),
                Status::Code::kInvalidArgument, "no object at 'model/nothing'");
  EXPECT_STATUS(MoveObjects(SmallGraph(), {{"model", "optimizer"}}, &out, &renamed),
                Status::Code::kInvalidArgument, "already an object at 'optimizer'");
}

TEST(ObjectGraph, OptimizerHoldingOnlySlotsSurvivesARename) {
  std::string out;
  bool changed = false;
  auto map = [](const std::string& k) -> std::optional<std::string> {
    return k == "model/w/.ATTRIBUTES/VARIABLE_VALUE" ? "model/v/.ATTRIBUTES/VARIABLE_VALUE" : k;
  };
  ASSERT_OK(RewriteObjectGraph(SmallGraph(), map, &out, &changed));
  pb::TrackableObjectGraph g;
  ASSERT_TRUE(g.ParseFromString(out));
  int slots = 0;
  for (const auto& n : g.nodes()) slots += n.slot_variables_size();
  EXPECT_EQ(slots, 1);
}

}  // namespace
}  // namespace tfckpt
