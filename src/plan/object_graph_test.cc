#include "plan/object_graph.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "testing/test_util.h"
#include "tfckpt.pb.h"

namespace tfckpt {
namespace {

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

  TrackableGraph parsed;
  ASSERT_OK(ParseTrackableGraph(serialized, &parsed));
  const std::set<std::string> opt_keys = OptimizerKeys(parsed);
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
  EXPECT_STATUS(s, Status::Code::kInvalidArgument, "(`names`)");
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

TEST(ObjectGraph, GarbageIsRefusedAsCorruption) {
  const std::string garbage = "\x0a\x05\x0a";  // a node whose bytes end early
  std::string out;
  bool changed = false;
  auto same = [](const std::string& k) { return std::optional<std::string>(k); };
  EXPECT_STATUS(RewriteObjectGraph(garbage, same, &out, &changed), Status::Code::kCorruption,
                "not a valid TrackableObjectGraph");
  TrackableGraph parsed;  // (the key queries take only a graph this accepted)
  EXPECT_STATUS(ParseTrackableGraph(garbage, &parsed), Status::Code::kCorruption,
                "not a valid TrackableObjectGraph");
  std::vector<GraphPart> parts(1);
  parts[0].label = "broken";
  parts[0].serialized = garbage;
  parts[0].key_map = same;
  EXPECT_STATUS(MergeObjectGraphs(parts, &out), Status::Code::kCorruption, "(in 'broken')");
}

TEST(ObjectGraph, KeyQueries) {
  pb::TrackableObjectGraph g;
  ASSERT_TRUE(g.ParseFromString(SmallGraph()));
  g.mutable_nodes(3)->mutable_attributes(0)->set_full_name("dense/kernel");
  const std::string serialized = g.SerializeAsString();

  TrackableGraph parsed;
  ASSERT_OK(ParseTrackableGraph(serialized, &parsed));
  EXPECT_EQ(AttributeKeys(parsed),
            (std::set<std::string>{"model/w/.ATTRIBUTES/VARIABLE_VALUE",
                                   "model/w/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE",
                                   "save_counter/.ATTRIBUTES/VARIABLE_VALUE"}));
  EXPECT_EQ(SaveCounterKeys(parsed),
            std::vector<std::string>{"save_counter/.ATTRIBUTES/VARIABLE_VALUE"});
  const auto names = FullNameKeys(parsed);
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names[0].first, "dense/kernel");
  EXPECT_EQ(names[0].second, "model/w/.ATTRIBUTES/VARIABLE_VALUE");
}

TEST(ObjectGraph, OwningAttributeIsTheLongestPrefix) {
  const std::set<std::string> keys = {"table/.ATTRIBUTES/table", "table/.ATTRIBUTES/table-x",
                                      "w/.ATTRIBUTES/VARIABLE_VALUE"};
  EXPECT_EQ(OwningAttribute(keys, "w/.ATTRIBUTES/VARIABLE_VALUE"), "w/.ATTRIBUTES/VARIABLE_VALUE");
  EXPECT_EQ(OwningAttribute(keys, "table/.ATTRIBUTES/table-keys"), "table/.ATTRIBUTES/table");
  EXPECT_EQ(OwningAttribute(keys, "table/.ATTRIBUTES/table-x-values"), "table/.ATTRIBUTES/table-x");
  EXPECT_EQ(OwningAttribute(keys, "table/.ATTRIBUTES/tabl"), std::nullopt);
  EXPECT_EQ(OwningAttribute(keys, "other"), std::nullopt);
  EXPECT_EQ(OwningAttribute({}, "w"), std::nullopt);
}

TEST(ObjectGraph, ScopeEscapesTheScopeAndLeavesOtherKeys) {
  EXPECT_EQ(ScopeObjectKey("a.b/c", "w/.ATTRIBUTES/VARIABLE_VALUE"),
            "a..b.Sc/w/.ATTRIBUTES/VARIABLE_VALUE");
  EXPECT_EQ(ScopeObjectKey("s", "save_counter/.ATTRIBUTES/VARIABLE_VALUE"),
            "s/save_counter/.ATTRIBUTES/VARIABLE_VALUE");
  // Both the variable's and the optimizer's path move under the scope.
  EXPECT_EQ(ScopeObjectKey("s", "m/w/.OPTIMIZER_SLOT/opt/v/.ATTRIBUTES/VARIABLE_VALUE"),
            "s/m/w/.OPTIMIZER_SLOT/s/opt/v/.ATTRIBUTES/VARIABLE_VALUE");
}

TEST(ObjectGraph, CompactDropsUnreachableAndOptionallyValueless) {
  // root -> model (1) -> w (2, value); root -> empty (3); 4 holds a value but is unreachable.
  pb::TrackableObjectGraph g;
  for (int i = 0; i < 5; i++) g.add_nodes();
  auto edge = [&](int from, int to, const char* name) {
    auto* c = g.mutable_nodes(from)->add_children();
    c->set_node_id(to);
    c->set_local_name(name);
  };
  edge(0, 1, "model");
  edge(1, 2, "w");
  edge(0, 3, "empty");
  g.mutable_nodes(2)->add_attributes()->set_checkpoint_key("model/w/.ATTRIBUTES/VARIABLE_VALUE");
  g.mutable_nodes(4)->add_attributes()->set_checkpoint_key("lost/.ATTRIBUTES/VARIABLE_VALUE");
  g.mutable_nodes(1)->mutable_has_checkpoint_values()->set_value(false);

  std::string out;
  ASSERT_OK(CompactObjectGraph(g, /*prune_valueless=*/false, &out));
  pb::TrackableObjectGraph kept;
  ASSERT_TRUE(kept.ParseFromString(out));
  ASSERT_EQ(kept.nodes_size(), 4);  // 4 is gone, "empty" stays
  ASSERT_EQ(kept.nodes(0).children_size(), 2);
  EXPECT_EQ(kept.nodes(0).children(1).local_name(), "empty");
  EXPECT_EQ(kept.nodes(0).children(1).node_id(), 3);
  EXPECT_FALSE(kept.nodes(1).has_checkpoint_values().value());

  ASSERT_OK(CompactObjectGraph(g, /*prune_valueless=*/true, &out));
  pb::TrackableObjectGraph pruned;
  ASSERT_TRUE(pruned.ParseFromString(out));
  ASSERT_EQ(pruned.nodes_size(), 3);  // root, model, w
  ASSERT_EQ(pruned.nodes(0).children_size(), 1);
  EXPECT_EQ(pruned.nodes(0).children(0).local_name(), "model");
  ASSERT_EQ(pruned.nodes(1).children_size(), 1);
  EXPECT_EQ(pruned.nodes(1).children(0).node_id(), 2);
  EXPECT_EQ(pruned.nodes(2).attributes(0).checkpoint_key(), "model/w/.ATTRIBUTES/VARIABLE_VALUE");
  // What is left holds values, and says so where the flag was set.
  EXPECT_TRUE(pruned.nodes(1).has_checkpoint_values().value());
}

TEST(ObjectGraph, DroppingAVariableDropsItsSlotReference) {
  std::string out;
  bool changed = false;
  auto drop_w = [](const std::string& k) -> std::optional<std::string> {
    if (k == "model/w/.ATTRIBUTES/VARIABLE_VALUE") return std::nullopt;
    return k;
  };
  ASSERT_OK(RewriteObjectGraph(SmallGraph(), drop_w, &out, &changed));
  EXPECT_TRUE(changed);
  pb::TrackableObjectGraph g;
  ASSERT_TRUE(g.ParseFromString(out));
  // model and w are gone; the slot, without its variable, is no longer reachable or referenced.
  EXPECT_EQ(Keys(g), std::vector<std::string>{"save_counter/.ATTRIBUTES/VARIABLE_VALUE"});
  int slots = 0;
  for (const auto& n : g.nodes()) slots += n.slot_variables_size();
  EXPECT_EQ(slots, 0);
  std::vector<std::string> root;
  for (const auto& c : g.nodes(0).children()) root.push_back(c.local_name());
  EXPECT_EQ(root, std::vector<std::string>{"save_counter"});
}

TEST(ObjectGraph, MergeUnnamedLiftsChildrenAndRefusesScopedRegisteredSavers) {
  // Two sources with different objects under their roots merge without names.
  pb::TrackableObjectGraph a, b;
  for (auto* g : {&a, &b}) {
    g->add_nodes();
    g->add_nodes();
  }
  auto* ea = a.mutable_nodes(0)->add_children();
  ea->set_node_id(1);
  ea->set_local_name("encoder");
  a.mutable_nodes(1)->add_attributes()->set_checkpoint_key("encoder/.ATTRIBUTES/VARIABLE_VALUE");
  auto* eb = b.mutable_nodes(0)->add_children();
  eb->set_node_id(1);
  eb->set_local_name("decoder");
  b.mutable_nodes(1)->add_attributes()->set_checkpoint_key("decoder/.ATTRIBUTES/VARIABLE_VALUE");
  std::vector<GraphPart> parts(2);
  parts[0] = {"a", a.SerializeAsString(), "", [](const std::string& k) { return k; }, false};
  parts[1] = {"b", b.SerializeAsString(), "", [](const std::string& k) { return k; }, false};
  std::string merged;
  ASSERT_OK(MergeObjectGraphs(parts, &merged));
  pb::TrackableObjectGraph g;
  ASSERT_TRUE(g.ParseFromString(merged));
  ASSERT_EQ(g.nodes_size(), 3);  // the sources' roots are not kept
  ASSERT_EQ(g.nodes(0).children_size(), 2);
  EXPECT_EQ(g.nodes(0).children(0).local_name(), "encoder");
  EXPECT_EQ(g.nodes(0).children(1).local_name(), "decoder");
  EXPECT_EQ(g.nodes(g.nodes(0).children(1).node_id()).attributes(0).checkpoint_key(),
            "decoder/.ATTRIBUTES/VARIABLE_VALUE");

  // A registered saver cannot move under a scope.
  b.mutable_nodes(1)->mutable_registered_saver()->set_name("tf_saver");
  parts[1].serialized = b.SerializeAsString();
  parts[1].scope = "dec";
  EXPECT_STATUS(MergeObjectGraphs(parts, &merged), Status::Code::kInvalidArgument,
                "'b' holds an object saved by the registered saver 'tf_saver'");
}

TEST(ObjectGraph, OptimizerKeysLeaveTheModelsOwnVariables) {
  // root -> model (1) -> w (2); root -> optimizer (3) -> iter (4), and the optimizer also tracks
  // w (as Keras 3 optimizers do) and its slot m (5) of w.
  pb::TrackableObjectGraph g;
  for (int i = 0; i < 6; i++) g.add_nodes();
  auto edge = [&](int from, int to, const char* name) {
    auto* c = g.mutable_nodes(from)->add_children();
    c->set_node_id(to);
    c->set_local_name(name);
  };
  edge(0, 1, "model");
  edge(1, 2, "w");
  edge(0, 3, "optimizer");
  edge(3, 4, "iter");
  edge(3, 2, "_trainable_variables");
  edge(3, 5, "m_w");
  g.mutable_nodes(2)->add_attributes()->set_checkpoint_key("model/w/.ATTRIBUTES/VARIABLE_VALUE");
  g.mutable_nodes(4)->add_attributes()->set_checkpoint_key(
      "optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE");
  g.mutable_nodes(5)->add_attributes()->set_checkpoint_key(
      "optimizer/m_w/.ATTRIBUTES/VARIABLE_VALUE");
  TrackableGraph parsed;
  ASSERT_OK(ParseTrackableGraph(g.SerializeAsString(), &parsed));
  EXPECT_EQ(OptimizerKeys(parsed),
            (std::set<std::string>{"optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE",
                                   "optimizer/m_w/.ATTRIBUTES/VARIABLE_VALUE"}));
}
}  // namespace
}  // namespace tfckpt
