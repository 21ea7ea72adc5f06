#include <gtest/gtest.h>

#include "bundle/test_util.h"
#include "plan/object_graph.h"
#include "tfckpt.pb.h"
#include "tfckpt/plan.h"
#include "tfckpt/writer.h"

namespace tfckpt {
namespace {

using testing::AsBytes;

// Writes a float32 checkpoint with the given scalar tensors.
void Write(const std::string& prefix, const std::vector<std::pair<std::string, float>>& values) {
  std::unique_ptr<BundleWriter> w;
  WriterOptions o;
  o.sync = false;
  ASSERT_TRUE(BundleWriter::Create(prefix, o, &w).ok());
  for (const auto& [name, v] : values) {
    std::vector<float> x = {v};
    ASSERT_TRUE(w->Add(name, DType::kFloat, {}, AsBytes(x)).ok());
  }
  ASSERT_TRUE(w->Finish().ok());
}

float Value(const std::string& prefix, const std::string& name) {
  std::unique_ptr<Checkpoint> c;
  EXPECT_TRUE(Checkpoint::Open(prefix, &c).ok());
  Tensor t;
  EXPECT_TRUE(c->Read(name, &t).ok()) << name;
  float v = 0;
  std::memcpy(&v, t.bytes().data(), 4);
  return v;
}

std::vector<std::string> Names(const std::string& prefix) {
  std::unique_ptr<Checkpoint> c;
  EXPECT_TRUE(Checkpoint::Open(prefix, &c).ok());
  std::vector<std::string> out;
  for (const TensorInfo& t : c->tensors()) out.push_back(t.name);
  return out;
}

TEST(Merge, UnionConflictsAndChoice) {
  std::string d = testing::TempDir();
  Write(d + "/a", {{"x", 1}, {"shared", 2}});
  Write(d + "/b", {{"y", 3}, {"shared", 4}});
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
    ASSERT_TRUE(PlanMerge({d + "/a", d + "/b"}, out, mo, &p).ok());
    ExecuteReport r;
    ASSERT_TRUE(ExecutePlan(p, ExecuteOptions(), &r).ok());
    EXPECT_EQ(Names(out), (std::vector<std::string>{"shared", "x", "y"}));
    EXPECT_EQ(Value(out, "shared"), want);
    // Partly used sources are copied tensor by tensor, fully used ones whole.
    EXPECT_EQ(r.stats.files_copied + r.stats.files_reflinked, 1);
    EXPECT_EQ(r.stats.ranges_copied, 1);
  }
}

TEST(Merge, RefusesOutputEqualToInput) {
  std::string d = testing::TempDir();
  Write(d + "/a", {{"x", 1}});
  Write(d + "/b", {{"y", 1}});
  Plan plan;
  Status s = PlanMerge({d + "/a", d + "/b"}, d + "/a", MergeOptions(), &plan);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
}

TEST(Transfer, AssignmentMapForms) {
  std::string d = testing::TempDir();
  Write(d + "/model", {{"enc/w", 0}, {"enc/b", 0}, {"dec/w", 0}, {"head", 0}});
  Write(d + "/src", {{"encoder/w", 1}, {"encoder/b", 2}, {"w", 3}, {"h", 4}});
  TransferOptions to;
  to.into = d + "/model";
  to.groups.push_back({d + "/src", {{"encoder/", "enc/"}, {"h", "head"}}});
  Plan plan;
  ASSERT_TRUE(PlanTransfer(to, d + "/out", &plan).ok());
  ExecuteReport r;
  ASSERT_TRUE(ExecutePlan(plan, ExecuteOptions(), &r).ok());
  EXPECT_EQ(Value(d + "/out", "enc/w"), 1);
  EXPECT_EQ(Value(d + "/out", "enc/b"), 2);
  EXPECT_EQ(Value(d + "/out", "head"), 4);
  EXPECT_EQ(Value(d + "/out", "dec/w"), 0);  // kept
}

TEST(Transfer, AllProblemsReportedTogether) {
  std::string d = testing::TempDir();
  Write(d + "/model", {{"a", 0}, {"s/x", 0}});
  Write(d + "/src", {{"a", 1}});
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
  Write(d + "/src", {{"old/a", 1}, {"old/b", 2}, {"c", 3}});
  EditOptions eo;
  eo.renames = {{"old/", "new/"}, {"c", "d"}};
  Plan plan;
  ASSERT_TRUE(PlanEdit(d + "/src", d + "/out", eo, &plan).ok());
  ExecuteReport r;
  ASSERT_TRUE(ExecutePlan(plan, ExecuteOptions(), &r).ok());
  EXPECT_EQ(Names(d + "/out"), (std::vector<std::string>{"d", "new/a", "new/b"}));
  EXPECT_EQ(Value(d + "/out", "new/b"), 2);
  // Every tensor kept and renamed: the data file is taken whole.
  EXPECT_EQ(r.stats.files_copied + r.stats.files_reflinked, 1);

  EditOptions clash;
  clash.renames = {{"old/a", "c"}};
  Plan p2;
  Status s = PlanEdit(d + "/src", d + "/out2", clash, &p2);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("would both be named 'c'"), std::string::npos);
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
  ASSERT_TRUE(OptimizerKeys(serialized, &opt_keys).ok());
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
  ASSERT_TRUE(RewriteObjectGraph(serialized, map, &out, &changed).ok());
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
  ASSERT_TRUE(RewriteObjectGraph(
                  serialized, [](const std::string& k) { return std::optional<std::string>(k); },
                  &out, &changed)
                  .ok());
  EXPECT_FALSE(changed);
  EXPECT_EQ(out, serialized);
}

}  // namespace
}  // namespace tfckpt
