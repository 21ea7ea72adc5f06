#include "format/hdf5_writer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "format/hdf5.h"
#include "format/zip.h"
#include "io/byte_source.h"
#include "testing/test_util.h"

namespace tfckpt {
namespace {

std::shared_ptr<const ByteSource> Source(const std::string& bytes, const char* name) {
  return MemorySource({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, name);
}

// Little-endian IEEE float32, as HDF5's datatype message states it.
std::string Float32Type() {
  return std::string(
      "\x11\x20\x1f\x00\x04\x00\x00\x00\x00\x00\x20\x00\x17\x08\x00\x17\x7f\x00"
      "\x00\x00",
      20);
}

hdf5::Attribute VlenStrings(const std::string& name, std::vector<std::string> values, bool scalar) {
  hdf5::Attribute a;
  a.name = name;
  a.kind = hdf5::Attribute::Kind::kStrings;
  a.type_class = 9;
  // Variable-length string (type 1), UTF-8, of 1-byte characters.
  a.raw_type = std::string("\x19\x01\x01\x00\x10\x00\x00\x00\x13\x00\x00\x00\x01\x00\x00\x00", 16);
  if (!scalar) a.dims = {static_cast<int64_t>(values.size())};
  a.strings = std::move(values);
  return a;
}

hdf5::Node Dataset(const std::string& name, Shape shape, int64_t offset) {
  hdf5::Node n;
  n.name = name;
  n.group = false;
  n.dataset.raw_type = Float32Type();
  n.dataset.shape = shape;
  n.dataset.offset = offset;
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  n.dataset.size = 4 * count;
  return n;
}

// A tree as Keras lays one out: many groups (more members in one group than one symbol node
// holds), string attributes, datasets whose values the caller placed after the superblock.
TEST(Hdf5Writer, WhatItWritesReadsBackTheSame) {
  std::string values;
  hdf5::Node root;
  root.attributes.push_back(VlenStrings("keras_version", {"3.15.1"}, true));
  hdf5::Node layers;
  layers.name = "layers";
  for (int i = 0; i < 40; i++) {
    hdf5::Node layer;
    layer.name = "dense_" + std::to_string(i) + std::string(static_cast<size_t>(i), 'x');
    hdf5::Node vars;
    vars.name = "vars";
    vars.attributes.push_back(VlenStrings("name", {"layer" + std::to_string(i)}, true));
    const int64_t at = hdf5::kSuperblockSize + static_cast<int64_t>(values.size());
    for (int k = 0; k < 6; k++) {
      const float f = static_cast<float>(i * 10 + k);
      values.append(reinterpret_cast<const char*>(&f), 4);
    }
    vars.children.push_back(Dataset("0", {2, 3}, at));
    vars.children.push_back(Dataset("1", {0}, -1));
    layer.children.push_back(std::move(vars));
    layers.children.push_back(std::move(layer));
  }
  std::sort(layers.children.begin(), layers.children.end(),
            [](const hdf5::Node& a, const hdf5::Node& b) { return a.name < b.name; });
  root.children.push_back(std::move(layers));
  const uint64_t at = hdf5::kSuperblockSize + values.size();
  std::string superblock, metadata, sized_superblock, sized;
  ASSERT_OK(hdf5::BuildMetadata(root, at, &superblock, &metadata));
  ASSERT_OK(hdf5::BuildMetadata(root, 12345, &sized_superblock, &sized));
  EXPECT_EQ(sized.size(), metadata.size());  // (the size is known before the values are placed)
  ASSERT_EQ(superblock.size(), static_cast<size_t>(hdf5::kSuperblockSize));
  const std::string file = superblock + values + metadata;

  hdf5::Node back;
  ASSERT_OK(hdf5::Read(*Source(file, "w.h5"), &back));
  const hdf5::Attribute* version = back.FindAttribute("keras_version");
  ASSERT_NE(version, nullptr);
  EXPECT_EQ(version->strings, std::vector<std::string>{"3.15.1"});
  EXPECT_TRUE(version->scalar);
  const hdf5::Node* got_layers = back.Child("layers");
  ASSERT_NE(got_layers, nullptr);
  ASSERT_EQ(got_layers->children.size(), 40u);
  for (const hdf5::Node& layer : got_layers->children) {
    const hdf5::Node* vars = layer.Child("vars");
    ASSERT_NE(vars, nullptr) << layer.name;
    const hdf5::Node* d = vars->Child("0");
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->dataset.dtype, DType::kFloat);
    EXPECT_EQ(d->dataset.shape, (Shape{2, 3}));
    const int i = std::stoi(layer.name.substr(6));
    float first;
    std::memcpy(&first, file.data() + d->dataset.offset, 4);
    EXPECT_EQ(first, static_cast<float>(i * 10)) << layer.name;
    EXPECT_EQ(vars->FindAttribute("name")->strings,
              std::vector<std::string>{"layer" + std::to_string(i)});
    const hdf5::Node* empty = vars->Child("1");
    ASSERT_NE(empty, nullptr);
    EXPECT_EQ(empty->dataset.shape, (Shape{0}));
    EXPECT_TRUE(empty->dataset.unsupported.empty()) << empty->dataset.unsupported;
  }
}

// A group of more members than one B-tree node's symbol nodes hold: a B-tree of two levels.
TEST(Hdf5Writer, LargeGroupsGetTallerBTrees) {
  hdf5::Node root;
  for (int i = 0; i < 2000; i++) {
    hdf5::Node g;
    g.name = "g" + std::to_string(100000 + i);
    root.children.push_back(std::move(g));
  }
  std::string superblock, metadata;
  ASSERT_OK(hdf5::BuildMetadata(root, hdf5::kSuperblockSize, &superblock, &metadata));
  hdf5::Node back;
  ASSERT_OK(hdf5::Read(*Source(superblock + metadata, "tall.h5"), &back));
  ASSERT_EQ(back.children.size(), 2000u);
  for (int i = 0; i < 2000; i++) EXPECT_EQ(back.children[i].name, root.children[i].name);
  EXPECT_LT(metadata.size(), size_t{2000} * 700);  // (linear in the members)
}

TEST(Hdf5Writer, RefusesWhatWouldPointIntoTheOldFile) {
  hdf5::Node root;
  hdf5::Attribute reference;
  reference.name = "ref";
  reference.type_class = 7;  // object references hold addresses of the file they came from
  root.attributes.push_back(reference);
  std::string superblock, metadata;
  EXPECT_STATUS(hdf5::BuildMetadata(root, 96, &superblock, &metadata), Status::Code::kUnsupported,
                "attribute 'ref'");
  hdf5::Node unplaced;
  unplaced.children.push_back(Dataset("d", {3}, -1));
  EXPECT_STATUS(hdf5::BuildMetadata(unplaced, 96, &superblock, &metadata),
                Status::Code::kUnsupported, "'/d'");
}

TEST(ZipWriter, WhatItWritesListsBack) {
  std::string archive;
  std::vector<zip::Written> written;
  for (const auto& [name, data] : std::vector<std::pair<std::string, std::string>>{
           {"model.weights.h5", std::string(1000, 'w')}, {"config.json", "{}"}}) {
    const uint32_t crc = zip::Crc32(0, data.data(), data.size());
    written.push_back({name, crc, data.size(), archive.size()});
    archive += zip::LocalHeader(name, crc, data.size(), archive.size()) + data;
  }
  archive += zip::CentralDirectory(written, archive.size());
  std::vector<zip::Member> members;
  ASSERT_OK(zip::List(*Source(archive, "m.keras"), ".keras file", &members));
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0].name, "model.weights.h5");
  EXPECT_EQ(members[0].raw_size, 1000);
  EXPECT_EQ(archive.substr(static_cast<size_t>(members[1].data_offset), 2), "{}");
  EXPECT_EQ(members[1].crc32, zip::Crc32(0, "{}", 2));
  // Past 4 GiB a member needs ZIP64 fields, and its local header says so in its size.
  EXPECT_EQ(zip::LocalHeader("a", 0, uint64_t{5} << 30, 0).size(), 30u + 1 + 20);
  EXPECT_EQ(zip::LocalHeader("a", 0, 100, 0).size(), 30u + 1);
}

}  // namespace
}  // namespace tfckpt
