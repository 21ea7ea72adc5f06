#include "format/keras_writer.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "format/hdf5.h"
#include "format/hdf5_writer.h"

namespace tfckpt::keras {
namespace {

hdf5::Node Group(const std::string& name, std::vector<hdf5::Node> children = {}) {
  hdf5::Node n;
  n.name = name;
  n.children = std::move(children);
  return n;
}

hdf5::Node Float32(const std::string& name, int64_t elements) {
  hdf5::Node n;
  n.name = name;
  n.group = false;
  n.dataset.raw_type = std::string(
      "\x11\x20\x1f\x00\x04\x00\x00\x00\x00\x00\x20\x00\x17\x08\x00\x17\x7f\x00\x00\x00", 20);
  n.dataset.element_size = 4;
  n.dataset.shape = {elements};
  return n;
}

const hdf5::Node* At(const hdf5::Node& root, const std::vector<std::string>& path) {
  const hdf5::Node* node = &root;
  for (const std::string& part : path) {
    const hdf5::Node* next = nullptr;
    for (const hdf5::Node& c : node->children) {
      if (c.name == part) next = &c;
    }
    if (next == nullptr) return nullptr;
    node = next;
  }
  return node;
}

TEST(KerasWriter, ShardsAreNamedAsKerasNamesThem) {
  EXPECT_EQ(ShardName("out/model.weights.json", 0), "model_00000.weights.h5");
  EXPECT_EQ(ShardName("m.weights.json", 12), "m_00012.weights.h5");
  EXPECT_EQ(OutputKindOf("a/m.weights.json"), OutputKind::kSharded);
  // Keras: Path(p).stem.replace(".weights", "").
  EXPECT_EQ(ShardName("run.weights.v2.weights.json", 3), "run.v2_00003.weights.h5");
  EXPECT_EQ(ShardIndex("d/m.weights.json", "m_00042.weights.h5"), 42);
  EXPECT_EQ(ShardIndex("d/m.weights.json", "m_best.weights.h5"), -1);
  EXPECT_EQ(ShardIndex("d/m.weights.json", "m_0004x.weights.h5"), -1);
  EXPECT_EQ(ShardIndex("d/m.weights.json", "n_00000.weights.h5"), -1);
}

// The first shard keeps every group and attribute (the empty `vars` of a layer without
// weights too); the others only the groups above their datasets, without attributes. The map
// names, for each `vars` group, every shard that holds part of it.
TEST(KerasWriter, SplitShardsKeepsWhatKerasLooksFor) {
  Output whole;
  whole.kind = OutputKind::kSharded;
  hdf5::Node dense_vars = Group("vars", {Float32("0", 6), Float32("1", 2)});
  hdf5::Attribute name;
  name.name = "name";
  name.kind = hdf5::Attribute::Kind::kStrings;
  name.type_class = 9;  // a variable-length UTF-8 string, as h5py writes Keras' names
  name.raw_type =
      std::string("\x19\x01\x01\x00\x10\x00\x00\x00\x13\x00\x00\x00\x01\x00\x00\x00", 16);
  name.strings = {"enc1"};
  dense_vars.attributes.push_back(name);
  whole.tree =
      Group("", {Group("layers", {Group("dense", {dense_vars}), Group("dropout", {Group("vars")})}),
                 Group("optimizer", {Group("vars", {Float32("0", 1)})})});
  whole.dataset_of = {{"enc1/kernel", "layers/dense/vars/0"},
                      {"enc1/bias", "layers/dense/vars/1"},
                      {"adam/iteration", "optimizer/vars/0"}};
  const std::map<std::string, int> shard_of = {
      {"enc1/kernel", 0}, {"enc1/bias", 1}, {"adam/iteration", 1}};
  std::vector<Output> shards;
  std::string map;
  const Status s = SplitShards(whole, "d/m.weights.json", shard_of, 2, &shards, &map);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(shards.size(), 2u);
  EXPECT_EQ(shards[0].kind, OutputKind::kWeightsH5);
  EXPECT_EQ(shards[0].values, 24);
  EXPECT_EQ(shards[1].values, 12);
  EXPECT_GT(shards[0].metadata_size, 0);
  EXPECT_EQ(shards[0].head, hdf5::kSuperblockSize);
  const hdf5::Node& first = shards[0].tree;
  ASSERT_NE(At(first, {"layers", "dense", "vars", "0"}), nullptr);
  EXPECT_EQ(At(first, {"layers", "dense", "vars", "1"}), nullptr);
  ASSERT_NE(At(first, {"layers", "dropout", "vars"}), nullptr);
  ASSERT_NE(At(first, {"optimizer", "vars"}), nullptr);
  EXPECT_EQ(At(first, {"layers", "dense", "vars"})->attributes.size(), 1u);
  const hdf5::Node& second = shards[1].tree;
  EXPECT_EQ(At(second, {"layers", "dropout"}), nullptr);
  ASSERT_NE(At(second, {"layers", "dense", "vars", "1"}), nullptr);
  ASSERT_NE(At(second, {"optimizer", "vars", "0"}), nullptr);
  EXPECT_TRUE(At(second, {"layers", "dense", "vars"})->attributes.empty());
  EXPECT_EQ(shards[1].dataset_of.size(), 2u);
  const nlohmann::json json = nlohmann::json::parse(map);
  EXPECT_EQ(json["metadata"]["total_size"].get<double>(), 36.0);
  EXPECT_EQ(json["weight_map"],
            nlohmann::json::parse(R"({"/layers/dense/vars": ["m_00000.weights.h5",
                                                            "m_00001.weights.h5"],
                                      "/optimizer/vars": ["m_00001.weights.h5"]})"));
  // A tensor placed in no shard is an error, not a file without it.
  EXPECT_FALSE(SplitShards(whole, "m.weights.json", {{"enc1/kernel", 0}}, 2, &shards, &map).ok());
}

}  // namespace
}  // namespace tfckpt::keras
