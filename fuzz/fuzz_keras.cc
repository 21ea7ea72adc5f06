// Fuzzes the Keras file reader: the zip directory of a `.keras` archive, the HDF5 object tree
// (superblocks, object headers, B-trees, heaps, attributes, layouts) and the naming of weights,
// read through a byte source without a mapping (ReadAt only), then every located value read.
// Every file that reads is then written again as a Keras output of its own weights (the HDF5
// writer over whatever tree the reader accepted; a Keras 3 file also as a legacy file where its
// layout is known, and as sharded weights), and what was written must read back as the same
// tree.

#include <cstdlib>
#include <map>
#include <vector>

#include "format/hdf5.h"
#include "format/keras.h"
#include "format/keras_writer.h"
#include "fuzz/fuzz_util.h"
#include "io/byte_source.h"

namespace {

// The tree written and the tree read back agree: names, attributes, datasets' types and shapes.
void Same(const tfckpt::hdf5::Node& a, const tfckpt::hdf5::Node& b) {
  if (a.name != b.name || a.group != b.group || a.children.size() != b.children.size() ||
      a.attributes.size() != b.attributes.size()) {
    std::abort();
  }
  for (size_t i = 0; i < a.attributes.size(); i++) {
    if (a.attributes[i].name != b.attributes[i].name ||
        a.attributes[i].strings != b.attributes[i].strings) {
      std::abort();
    }
  }
  if (!a.group &&
      (a.dataset.raw_type != b.dataset.raw_type || a.dataset.shape != b.dataset.shape)) {
    std::abort();
  }
  for (size_t i = 0; i < a.children.size(); i++) Same(a.children[i], b.children[i]);
}

// Writes `tensors` as the Keras output `path` laid out as `file`, when it plans, and checks that
// it reads back as the tree planned. False when it does not plan.
bool WriteAndReadBack(const tfckpt::keras::File& file,
                      const std::vector<tfckpt::keras::OutputTensor>& tensors,
                      const std::string& path) {
  using namespace tfckpt;
  keras::Output out;
  if (!keras::PlanOutput(file, "fuzz.keras", path, tensors, &out).ok()) return false;
  if (out.values > (int64_t{16} << 20)) return true;
  std::map<std::string, int64_t> offsets;
  int64_t at = out.head;
  for (const keras::OutputTensor& t : tensors) {
    offsets[t.name] = at;
    at += t.bytes;
  }
  std::string superblock, metadata;
  if (!keras::BuildHdf5(out, offsets, &superblock, &metadata).ok()) return true;
  const std::string bytes =
      superblock + std::string(static_cast<size_t>(out.values), '\0') + metadata;
  hdf5::Node again;
  if (!hdf5::Read(*MemorySource({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()},
                                "again.h5"),
                  &again)
           .ok()) {
    std::abort();
  }
  Same(out.tree, again);
  return true;
}

void WriteAgain(const tfckpt::keras::File& file) {
  using namespace tfckpt;
  std::vector<keras::OutputTensor> tensors;
  for (const keras::Variable& v : file.variables) {
    tensors.push_back({v.name, v.dtype, v.shape, v.size});
  }
  if (file.kind == keras::File::Kind::kLegacyH5) {
    WriteAndReadBack(file, tensors, "out.h5");
    return;
  }
  if (!WriteAndReadBack(file, tensors, "out.weights.h5")) return;
  // The model of a Keras 3 file in the legacy layout, where it is known.
  WriteAndReadBack(file, tensors, "out.h5");
  // The same weights as sharded weights, one tensor in three per shard: every shard is built.
  keras::Output sharded;
  if (!keras::PlanOutput(file, "fuzz.keras", "out.weights.json", tensors, &sharded).ok()) {
    std::abort();  // (it fits wherever the .weights.h5 did)
  }
  std::map<std::string, int> shard_of;
  int i = 0;
  for (const keras::OutputTensor& t : tensors) shard_of[t.name] = i++ % 3;
  std::vector<keras::Output> shards;
  std::string map;
  if (!keras::SplitShards(sharded, "out.weights.json", shard_of, 3, &shards, &map).ok()) return;
  size_t placed = 0;
  for (const keras::Output& o : shards) placed += o.dataset_of.size();
  if (shards.size() != 3 || placed != sharded.dataset_of.size()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto source = std::make_shared<tfckpt::fuzz::ReadOnlySource>(data, size, "fuzz.keras");
  tfckpt::keras::File file;
  if (!tfckpt::keras::OpenSource(source, "fuzz.keras", &file).ok()) return 0;
  for (const tfckpt::keras::Variable& v : file.variables) {
    if (!v.unsupported.empty()) continue;
    if (v.size < 0) std::abort();  // (a readable weight has a size)
    if (v.offset < 0) continue;    // (compact: its values are in memory)
    std::vector<char> bytes(static_cast<size_t>(std::min<int64_t>(v.size, 1 << 20)));
    (void)file.weights->ReadAt(v.offset, static_cast<int64_t>(bytes.size()), bytes.data());
  }
  WriteAgain(file);
  return 0;
}
