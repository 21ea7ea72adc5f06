#include "format/keras_legacy.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "format/hdf5.h"
#include "format/hdf5_writer.h"
#include "io/byte_source.h"

namespace tfckpt::keras {
namespace {

// Writes a file whose root holds `attributes` and reads its tree back.
hdf5::Node RoundTrip(const std::vector<hdf5::Attribute>& attributes) {
  hdf5::Node root;
  root.attributes = attributes;
  std::string superblock, metadata;
  EXPECT_TRUE(BuildMetadata(root, hdf5::kSuperblockSize, &superblock, &metadata).ok());
  hdf5::Node back;
  EXPECT_TRUE(hdf5::Read(*OwnedMemorySource(superblock + metadata, "t.h5"), &back).ok());
  return back;
}

TEST(KerasLegacy, StringListsAreStoredAsKerasStoresThem) {
  // Empty: numpy's empty list (float64, no elements).
  std::vector<hdf5::Attribute> empty, few, split;
  ASSERT_TRUE(StringListAttributes("weight_names", {}, &empty).ok());
  ASSERT_EQ(empty.size(), 1u);
  EXPECT_EQ(empty[0].type_class, 1);
  EXPECT_EQ(empty[0].dims, Shape({0}));
  // A few: one attribute of variable-length strings.
  ASSERT_TRUE(StringListAttributes("layer_names", {"x", "enc1", "head"}, &few).ok());
  ASSERT_EQ(few.size(), 1u);
  EXPECT_EQ(few[0].type_class, 9);
  hdf5::Node back = RoundTrip({empty[0], few[0]});
  const hdf5::Attribute* a = back.FindAttribute("layer_names");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->strings, std::vector<std::string>({"x", "enc1", "head"}));
  ASSERT_NE(back.FindAttribute("weight_names"), nullptr);
  EXPECT_EQ(back.FindAttribute("weight_names")->dims, Shape({0}));
  // More than an object header holds (2,001 names of 40 bytes: 80,040 > 64,512): split as
  // numpy's array_split does into the fewest parts that fit, the first one longer.
  std::vector<std::string> many;
  for (int i = 0; i < 2001; i++) many.push_back(std::string(36, 'l') + std::to_string(1000 + i));
  ASSERT_TRUE(StringListAttributes("layer_names", many, &split).ok());
  ASSERT_EQ(split.size(), 2u);
  EXPECT_EQ(split[0].name, "layer_names0");
  EXPECT_EQ(split[1].name, "layer_names1");
  EXPECT_EQ(split[0].dims, Shape({1001}));
  EXPECT_EQ(split[1].dims, Shape({1000}));
  EXPECT_EQ(split[0].raw_values.size(), 1001u * 40);
  back = RoundTrip(split);
  std::vector<std::string> joined;
  for (const char* name : {"layer_names0", "layer_names1"}) {
    const hdf5::Attribute* part = back.FindAttribute(name);
    ASSERT_NE(part, nullptr);
    ASSERT_EQ(part->kind, hdf5::Attribute::Kind::kStrings);
    joined.insert(joined.end(), part->strings.begin(), part->strings.end());
  }
  EXPECT_EQ(joined, many);
  // One name longer than an object header: refused (Keras refuses it too), not split forever.
  const Status s = StringListAttributes("layer_names", {"a", std::string(70000, 'x')}, &split);
  EXPECT_EQ(s.code(), Status::Code::kUnsupported);
  EXPECT_NE(s.message().find("70000 bytes"), std::string::npos) << s.message();
}

TEST(KerasLegacy, ConfigurationsTakeTheLegacyForm) {
  const std::string config = R"({"module": "keras.src.models.functional",
    "class_name": "Functional", "config": {"name": "m", "layers": [
      {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d",
        "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
                  "registered_name": null, "shared_object_id": 7}},
       "registered_name": null, "build_config": {"input_shape": [null, 4]}, "name": "d"}]},
    "registered_name": "Functional", "build_config": {}, "compile_config": {"loss": "mse",
      "optimizer": {"module": "keras.optimizers", "class_name": "Adam", "config": {"name": "adam"},
                    "registered_name": null}}})";
  const auto legacy = nlohmann::json::parse(LegacyModelConfig(config));
  EXPECT_EQ(legacy, nlohmann::json::parse(R"({"class_name": "Functional", "config": {"name": "m",
    "layers": [{"class_name": "Dense", "config": {"name": "d", "dtype": {"module": "keras",
      "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}},
      "name": "d"}]}})"));
  EXPECT_EQ(nlohmann::json::parse(LegacyTrainingConfig(config)),
            nlohmann::json::parse(R"({"loss": "mse", "optimizer_config": {"class_name": "Adam",
              "config": {"name": "adam"}}})"));
  EXPECT_EQ(LegacyModelConfig("not json"), "");
  EXPECT_EQ(LegacyTrainingConfig(R"({"class_name": "Functional"})"), "");
}

}  // namespace
}  // namespace tfckpt::keras
