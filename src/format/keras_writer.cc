#include "format/keras_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "format/hdf5_writer.h"
#include "format/keras_legacy.h"
#include "format/zip.h"
#include "io/file_util.h"

namespace tfckpt::keras {
namespace {

constexpr std::string_view kWeightsMember = "model.weights.h5";
constexpr int64_t kMaxInflatedAsset = int64_t{1} << 30;  // a deflated asset is inflated in memory

std::string_view KindName(File::Kind kind) {
  switch (kind) {
    case File::Kind::kArchive:
      return "a .keras archive";
    case File::Kind::kDirectory:
      return "an unzipped .keras directory";
    case File::Kind::kWeightsH5:
      return "a Keras 3 .weights.h5 file";
    case File::Kind::kLegacyH5:
      return "a legacy Keras .h5 file";
    case File::Kind::kSharded:
      return "a set of sharded Keras 3 weights";
  }
  return "a Keras file";
}

// The group of a template's optimizer state ("" when the layout has none).
std::string_view OptimizerGroup(const File& f) {
  return f.kind == File::Kind::kLegacyH5 ? "optimizer_weights" : "optimizer";
}

hdf5::Node* Find(hdf5::Node* root, const std::string& path) {
  hdf5::Node* node = root;
  size_t start = 0;
  while (node != nullptr && start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(start, end - start);
    hdf5::Node* next = nullptr;
    for (hdf5::Node& c : node->children) {
      if (c.name == part) next = &c;
    }
    node = next;
    start = end + 1;
  }
  return node;
}

// Every dataset under `node`, by path.
void Datasets(const hdf5::Node& node, const std::string& path, std::vector<std::string>* out) {
  for (const hdf5::Node& c : node.children) {
    const std::string p = path.empty() ? c.name : path + "/" + c.name;
    if (c.group) {
      Datasets(c, p, out);
    } else {
      out->push_back(p);
    }
  }
}

std::string List(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < 5; i++) s += (i ? ", '" : "'") + names[i] + "'";
  if (names.size() > 5) s += fmt::format(" and {} more", names.size() - 5);
  return s;
}

// The bytes of a dataset's values as the output stores them.
int64_t ValueBytes(const hdf5::Dataset& d) {
  return d.element_size * std::max<int64_t>(0, NumElements(d.shape).value_or(0));
}

// Where the HDF5 file starts in the output: after the weights member's zip header in an archive.
int64_t Hdf5Start(const Output& out) {
  return out.kind == OutputKind::kArchive ? out.head - hdf5::kSuperblockSize : 0;
}

// Sets the size of `out`'s head and of its HDF5 structures, found with every value given a
// place (their size does not depend on it).
Status Measure(Output* out) {
  out->head = hdf5::kSuperblockSize;
  std::map<std::string, int64_t> anywhere;
  for (const auto& [name, dataset] : out->dataset_of) anywhere[name] = out->head;
  std::string superblock, metadata;
  TFCKPT_RETURN_IF_ERROR(BuildHdf5(*out, anywhere, &superblock, &metadata));
  out->metadata_size = static_cast<int64_t>(metadata.size());
  if (out->kind == OutputKind::kArchive) {
    const uint64_t member = static_cast<uint64_t>(out->head + out->values + out->metadata_size);
    out->head += static_cast<int64_t>(zip::LocalHeader(kWeightsMember, 0, member, 0).size());
  }
  return Status::OK();
}

}  // namespace

OutputKind OutputKindOf(std::string_view path) {
  if (path.ends_with(".keras")) return OutputKind::kArchive;
  if (path.ends_with(".weights.h5")) return OutputKind::kWeightsH5;
  if (path.ends_with(".weights.json")) return OutputKind::kSharded;
  if (path.ends_with(".h5") || path.ends_with(".hdf5")) return OutputKind::kLegacyH5;
  return OutputKind::kNone;
}

std::string_view OutputKindName(OutputKind kind) {
  switch (kind) {
    case OutputKind::kArchive:
      return "a .keras archive";
    case OutputKind::kWeightsH5:
      return "a Keras 3 .weights.h5 file";
    case OutputKind::kLegacyH5:
      return "a legacy Keras .h5 file";
    case OutputKind::kSharded:
      return "sharded Keras 3 weights (a .weights.json and its .weights.h5 shards)";
    case OutputKind::kNone:
      break;
  }
  return "not a Keras file";
}

Status PlanOutput(const File& tmpl, const std::string& label, const std::string& path,
                  const std::vector<OutputTensor>& tensors, Output* out) {
  *out = Output();
  out->kind = OutputKindOf(path);
  const bool archive_template =
      tmpl.kind == File::Kind::kArchive || tmpl.kind == File::Kind::kDirectory;
  const bool fits = out->kind == OutputKind::kArchive ? archive_template
                    : out->kind == OutputKind::kWeightsH5 || out->kind == OutputKind::kSharded
                        ? tmpl.kind != File::Kind::kLegacyH5
                    : out->kind == OutputKind::kLegacyH5
                        ? tmpl.kind != File::Kind::kWeightsH5 && tmpl.kind != File::Kind::kSharded
                        : false;
  if (!fits) {
    return Status::Unsupported(fmt::format(
        "'{}' would be {}, which is written laid out as a Keras file of that kind; its "
        "template '{}' is {}. Give a template that fits (a .keras file for a .keras output, a "
        "Keras 3 file for a .weights.h5 or .weights.json, a .keras or legacy .h5 for a .h5): a "
        "Keras 3 layout is not known from a legacy file, nor a legacy one from Keras 3 weights "
        "without the model's config.json",
        path, OutputKindName(out->kind), label, KindName(tmpl.kind)));
  }
  if (!tmpl.tree)
    return Status::InvalidArgument(fmt::format("'{}' was read without its tree", label));
  std::vector<std::string> problems;
  std::map<std::string, const Variable*, std::less<>> vars;
  for (const Variable& v : tmpl.variables) vars.emplace(v.name, &v);
  std::set<std::string> given;
  for (const OutputTensor& t : tensors) {
    given.insert(t.name);
    auto it = vars.find(t.name);
    if (it == vars.end()) {
      problems.push_back(
          fmt::format("'{}' is no weight of the model in '{}' (a Keras output holds its template's "
                      "weights, by their names, which `ls` lists)",
                      t.name, label));
      continue;
    }
    const Variable& v = *it->second;
    if (v.dtype != t.dtype || v.shape != t.shape) {
      problems.push_back(fmt::format("'{}' is {}{} but the model in '{}' holds {}{}", t.name,
                                     DTypeName(t.dtype), ShapeToString(t.shape), label,
                                     DTypeName(v.dtype), ShapeToString(v.shape)));
      continue;
    }
    out->dataset_of.emplace(t.name, v.dataset_path);
    out->values += t.bytes;
  }
  const std::string optimizer(OptimizerGroup(tmpl));
  std::vector<std::string> missing, optimizer_missing;
  size_t optimizer_vars = 0;
  for (const Variable& v : tmpl.variables) {
    const bool opt = v.dataset_path.starts_with(optimizer + "/");
    optimizer_vars += opt;
    if (given.count(v.name)) continue;
    (opt ? optimizer_missing : missing).push_back(v.name);
  }
  out->optimizer_left_out = !optimizer_missing.empty();
  if (out->optimizer_left_out && optimizer_missing.size() != optimizer_vars) {
    problems.push_back(fmt::format(
        "the output leaves out part of the optimizer state of '{}' ({}): Keras loads all of it "
        "or none; keep it all or leave it all out (strip the optimizer)",
        label, List(optimizer_missing)));
  }
  if (!missing.empty()) {
    problems.push_back(fmt::format(
        "the output leaves out weights of the model in '{}' ({}): Keras could not load it", label,
        List(missing)));
  }
  if (!problems.empty()) {
    std::string all = fmt::format("'{}' cannot be written as {}:", path, OutputKindName(out->kind));
    for (const std::string& p : problems) all += "\n  " + p;
    return Status::InvalidArgument(all);
  }
  // A legacy file of a Keras 3 model: the layout Keras' legacy writer gives it.
  const bool legacy_of_keras3 =
      out->kind == OutputKind::kLegacyH5 && tmpl.kind != File::Kind::kLegacyH5;
  if (legacy_of_keras3) {
    TFCKPT_RETURN_IF_ERROR(
        LegacyTree(tmpl, label, !out->optimizer_left_out, &out->dataset_of, &out->tree));
  } else {
    out->tree = *tmpl.tree;
  }
  if (out->optimizer_left_out && !legacy_of_keras3) {
    auto& c = out->tree.children;
    c.erase(std::remove_if(c.begin(), c.end(),
                           [&](const hdf5::Node& n) { return n.name == optimizer; }),
            c.end());
    auto& a = out->tree.attributes;
    a.erase(std::remove_if(a.begin(), a.end(),
                           [](const hdf5::Attribute& x) { return x.name == "training_config"; }),
            a.end());
  }
  // Every dataset left must be one of the output's tensors.
  std::vector<std::string> datasets, unknown;
  Datasets(out->tree, "", &datasets);
  std::set<std::string> mapped;
  for (const auto& [name, dataset] : out->dataset_of) mapped.insert(dataset);
  for (const std::string& d : datasets) {
    if (!mapped.count(d)) unknown.push_back(d);
  }
  if (!unknown.empty()) {
    return Status::Unsupported(fmt::format(
        "'{}' holds datasets that are no weight tfckpt names ({}); it cannot be written again",
        label, List(unknown)));
  }
  // The values are written little-endian: a template's big-endian numbers say so no more.
  for (const auto& [name, dataset] : out->dataset_of) {
    hdf5::Node* node = Find(&out->tree, dataset);
    if (node == nullptr || node->group) {
      return Status::Unsupported(
          fmt::format("weight '{}' of '{}' lies at '{}', a path this writer cannot find again",
                      name, label, dataset));
    }
    std::string& type = node->dataset.raw_type;
    if (type.size() >= 2 && ((type[0] & 0x0f) == 0 || (type[0] & 0x0f) == 1)) type[1] &= ~1;
  }
  if (out->kind == OutputKind::kArchive) {
    const nlohmann::json config = nlohmann::json::parse(tmpl.config, nullptr, false);
    if (!config.is_object()) {
      return Status::Unsupported(fmt::format(
          "'{}' has no config.json describing its model (or one that is no JSON object): it "
          "cannot be the template of a .keras file; write a .weights.h5 instead",
          label));
    }
    if (!tmpl.assets_problem.empty()) {
      return Status::Unsupported(fmt::format(
          "'{}' cannot be the template of a .keras file: {}; or write a .weights.h5 (weights "
          "only)",
          label, tmpl.assets_problem));
    }
    out->metadata = tmpl.metadata;
    out->config = tmpl.config;
    out->assets = tmpl.assets;
    if (out->optimizer_left_out) {
      nlohmann::json config = nlohmann::json::parse(tmpl.config, nullptr, false);
      if (config.is_object()) {
        config.erase("compile_config");
        out->config = config.dump();
      }
    }
  }
  return Measure(out);
}

std::string ShardName(std::string_view path, int index) {
  // (Keras: the name without its last extension, every ".weights" in it taken out.)
  std::string base(path.substr(path.rfind('/') + 1));
  if (const size_t dot = base.rfind('.'); dot != std::string::npos && dot > 0) base.resize(dot);
  for (size_t at = 0; (at = base.find(".weights", at)) != std::string::npos;) base.erase(at, 8);
  return fmt::format("{}_{:05}.weights.h5", base, index);
}

int ShardIndex(std::string_view path, std::string_view name) {
  const std::string first = ShardName(path, 0);
  const size_t digits = first.size() - std::string_view("00000.weights.h5").size();
  if (name.size() != first.size() || name.substr(0, digits) != first.substr(0, digits) ||
      !name.ends_with(".weights.h5")) {
    return -1;
  }
  int index = 0;
  for (char c : name.substr(digits, 5)) {
    if (c < '0' || c > '9') return -1;
    index = index * 10 + (c - '0');
  }
  return index;
}

Status SplitShards(const Output& whole, std::string_view path,
                   const std::map<std::string, int>& shard_of, int num_shards,
                   std::vector<Output>* shards, std::string* map) {
  if (num_shards < 1) return Status::InvalidArgument("a sharded output has at least one shard");
  std::map<std::string, int> shard_of_dataset;
  for (const auto& [name, dataset] : whole.dataset_of) {
    auto it = shard_of.find(name);
    if (it == shard_of.end() || it->second < 0 || it->second >= num_shards) {
      return Status::IOError(fmt::format("the values of '{}' were not placed in a shard", name));
    }
    shard_of_dataset[dataset] = it->second;
  }
  shards->assign(static_cast<size_t>(num_shards), Output());
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  std::map<std::string, std::set<int>> files_of_group;
  double total = 0;
  for (int i = 0; i < num_shards; i++) {
    Output& o = (*shards)[static_cast<size_t>(i)];
    o.kind = OutputKind::kWeightsH5;
    // The template's tree, keeping this shard's datasets; the first shard keeps every group and
    // attribute, the others only the groups above their datasets.
    std::function<bool(hdf5::Node*, const std::string&)> keep = [&](hdf5::Node* n,
                                                                    const std::string& at) {
      auto& c = n->children;
      c.erase(std::remove_if(c.begin(), c.end(),
                             [&](hdf5::Node& child) {
                               const std::string p =
                                   at.empty() ? child.name : at + "/" + child.name;
                               if (!child.group) {
                                 auto s = shard_of_dataset.find(p);
                                 return s == shard_of_dataset.end() || s->second != i;
                               }
                               return !keep(&child, p);
                             }),
              c.end());
      if (i > 0) n->attributes.clear();
      return i == 0 || !c.empty();
    };
    o.tree = whole.tree;
    keep(&o.tree, "");
    for (const auto& [name, dataset] : whole.dataset_of) {
      if (shard_of_dataset[dataset] != i) continue;
      o.dataset_of.emplace(name, dataset);
      hdf5::Node* node = Find(&o.tree, dataset);
      if (node == nullptr) return Status::IOError(fmt::format("'{}' was lost", dataset));
      const int64_t bytes = ValueBytes(node->dataset);
      o.values += bytes;
      total += static_cast<double>(bytes);
      const size_t slash = dataset.rfind('/');
      std::string group = "/";  // (the `vars` group holding the dataset, as Keras names it)
      if (slash != std::string::npos) group.append(dataset, 0, slash);
      files_of_group[group].insert(i);
    }
    TFCKPT_RETURN_IF_ERROR(Measure(&o));
  }
  for (const auto& [group, files] : files_of_group) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (int f : files) list.push_back(ShardName(path, f));
    weight_map[group] = list;
  }
  nlohmann::ordered_json json = nlohmann::ordered_json::object();
  json["metadata"] = {{"total_size", total}};
  json["weight_map"] = weight_map;
  try {
    *map = json.dump(4);
  } catch (const nlohmann::json::exception&) {
    return Status::Unsupported(fmt::format(
        "'{}' cannot be written: the template's groups have names that are not UTF-8, which "
        "the map of sharded weights (JSON) cannot hold; write a .weights.h5 instead",
        path));
  }
  return Status::OK();
}

Status BuildHdf5(const Output& out, const std::map<std::string, int64_t>& offsets,
                 std::string* superblock, std::string* metadata) {
  const int64_t start = Hdf5Start(out);
  const int64_t data_end = out.head + out.values;
  hdf5::Node tree = out.tree;
  for (const auto& [name, dataset] : out.dataset_of) {
    auto at = offsets.find(name);
    hdf5::Node* node = Find(&tree, dataset);
    if (at == offsets.end() || node == nullptr || node->group) {
      return Status::IOError(fmt::format("the values of '{}' were not placed", name));
    }
    const int64_t bytes = ValueBytes(node->dataset);
    node->dataset.offset = bytes > 0 ? at->second - start : -1;
    node->dataset.size = bytes;
    node->dataset.compact = false;
    node->dataset.compact_bytes.clear();
  }
  return hdf5::BuildMetadata(tree, static_cast<uint64_t>(data_end - start), superblock, metadata);
}

namespace {

// Appends `asset` to the archive `fd` (named `file`) at *pos as a stored member: its bytes
// copied (a deflated member inflated), their CRC-32 checked against the one the template
// recorded, then its local header written before them.
Status CopyAsset(const Asset& asset, int fd, const std::string& file, int64_t* pos,
                 std::vector<zip::Written>* written) {
  const std::string where = asset.path.empty()
                                ? fmt::format("member '{}' of '{}'", asset.member.name,
                                              asset.source ? asset.source->name() : std::string())
                                : fmt::format("'{}'", asset.path);
  const uint64_t size = static_cast<uint64_t>(asset.member.raw_size);
  const int64_t header = static_cast<int64_t>(
      zip::LocalHeader(asset.member.name, 0, size, static_cast<uint64_t>(*pos)).size());
  uint32_t crc = 0;
  int64_t at = *pos + header;
  auto put = [&](const char* data, size_t n) {
    crc = zip::Crc32(crc, data, n);
    Status s = file::PWriteAll(fd, data, n, at, file);
    at += static_cast<int64_t>(n);
    return s;
  };
  if (asset.member.method == 8) {
    if (asset.member.raw_size > kMaxInflatedAsset) {
      return Status::Unsupported(fmt::format(
          "{} is a compressed asset of {} bytes, more than tfckpt inflates in memory; store it "
          "uncompressed in the template (Keras writes .keras members stored)",
          where, asset.member.raw_size));
    }
    std::string raw;  // (Inflate checks its size and CRC)
    TFCKPT_RETURN_IF_ERROR(zip::Inflate(*asset.source, asset.member, &raw));
    TFCKPT_RETURN_IF_ERROR(put(raw.data(), raw.size()));
  } else {
    // A directory's file is opened without following a link (one may have replaced it since
    // the template was read) and must still have its size.
    int in = -1;
    if (!asset.path.empty()) {
      in = ::open(asset.path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      struct stat st;
      if (in < 0 || ::fstat(in, &st) != 0 || !S_ISREG(st.st_mode) ||
          st.st_size != asset.member.raw_size) {
        if (in >= 0) ::close(in);
        return Status::IOError(
            fmt::format("{} is no longer the file of {} bytes read as the template's asset", where,
                        asset.member.raw_size));
      }
    } else if (asset.source == nullptr ||
               asset.source->size() < asset.member.data_offset + asset.member.raw_size) {
      return Status::Corruption(fmt::format("{} lies outside its archive", where));
    }
    std::vector<char> buffer(
        static_cast<size_t>(std::min<int64_t>(asset.member.raw_size, 8 << 20)));
    Status s;
    for (int64_t done = 0; done < asset.member.raw_size && s.ok();) {
      const int64_t n =
          std::min<int64_t>(static_cast<int64_t>(buffer.size()), asset.member.raw_size - done);
      s = in >= 0 ? file::PreadAll(in, buffer.data(), static_cast<size_t>(n), done, asset.path)
                  : asset.source->ReadAt(asset.member.data_offset + done, n, buffer.data());
      if (s.ok()) s = put(buffer.data(), static_cast<size_t>(n));
      done += n;
    }
    if (in >= 0) ::close(in);
    TFCKPT_RETURN_IF_ERROR(s);
    if (asset.path.empty() && crc != asset.member.crc32) {
      return Status::Corruption(fmt::format(
          "{} does not match the CRC-32 its archive records: the template is damaged", where));
    }
  }
  const std::string local =
      zip::LocalHeader(asset.member.name, crc, size, static_cast<uint64_t>(*pos));
  TFCKPT_RETURN_IF_ERROR(file::PWriteAll(fd, local.data(), local.size(), *pos, file));
  written->push_back({asset.member.name, crc, size, static_cast<uint64_t>(*pos)});
  *pos = at;
  return Status::OK();
}

}  // namespace

Status FinishOutput(const Output& out, const std::string& file,
                    const std::map<std::string, int64_t>& offsets, bool sync,
                    std::optional<uint32_t> values_crc32) {
  const int64_t start = Hdf5Start(out);
  const int64_t data_end = out.head + out.values;
  std::string superblock, metadata;
  TFCKPT_RETURN_IF_ERROR(BuildHdf5(out, offsets, &superblock, &metadata));
  const int fd = ::open(file.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(fmt::format("cannot open '{}'", file), errno);
  auto fail = [fd](Status s) {
    ::close(fd);
    return s;
  };
  struct stat st;
  if (::fstat(fd, &st) != 0 || st.st_size != data_end ||
      static_cast<int64_t>(metadata.size()) != out.metadata_size) {
    return fail(Status::IOError(fmt::format(
        "'{}' holds {} bytes where its layout expects {} (metadata {} of {})", file,
        static_cast<int64_t>(st.st_size), data_end, metadata.size(), out.metadata_size)));
  }
  Status s = file::PWriteAll(fd, metadata.data(), metadata.size(), data_end, file);
  if (s.ok()) s = file::PWriteAll(fd, superblock.data(), superblock.size(), start, file);
  if (!s.ok()) return fail(s);
  if (out.kind == OutputKind::kArchive) {
    // The weights member's CRC-32: the superblock's, the values' and the structures' joined, or
    // read back from the page cache when the values' is not known.
    const int64_t member = data_end - start + static_cast<int64_t>(metadata.size());
    uint32_t crc = 0;
    if (values_crc32) {
      crc = zip::Crc32(0, superblock.data(), superblock.size());
      crc = zip::Crc32Combine(crc, *values_crc32, data_end - out.head);
      crc = zip::Crc32Combine(crc, zip::Crc32(0, metadata.data(), metadata.size()),
                              static_cast<int64_t>(metadata.size()));
    } else {
      std::vector<char> buffer(size_t{8} << 20);
      for (int64_t at = 0; at < member;) {
        const size_t n = static_cast<size_t>(
            std::min<int64_t>(static_cast<int64_t>(buffer.size()), member - at));
        s = file::PreadAll(fd, buffer.data(), n, start + at, file);
        if (!s.ok()) return fail(s);
        crc = zip::Crc32(crc, buffer.data(), n);
        at += static_cast<int64_t>(n);
      }
    }
    const std::string local =
        zip::LocalHeader(kWeightsMember, crc, static_cast<uint64_t>(member), 0);
    if (static_cast<int64_t>(local.size()) != start) {
      return fail(Status::IOError("the weights member's header changed size"));
    }
    s = file::PWriteAll(fd, local.data(), local.size(), 0, file);
    std::vector<zip::Written> written{
        {std::string(kWeightsMember), crc, static_cast<uint64_t>(member), 0}};
    int64_t pos = start + member;
    std::string tail;
    for (const auto& [name, bytes] :
         {std::pair<const char*, const std::string*>{"metadata.json", &out.metadata},
          {"config.json", &out.config}}) {
      const uint32_t c = zip::Crc32(0, bytes->data(), bytes->size());
      const std::string h = zip::LocalHeader(name, c, bytes->size(), static_cast<uint64_t>(pos));
      written.push_back({name, c, bytes->size(), static_cast<uint64_t>(pos)});
      tail += h;
      tail += *bytes;
      pos += static_cast<int64_t>(h.size() + bytes->size());
    }
    if (s.ok()) s = file::PWriteAll(fd, tail.data(), tail.size(), start + member, file);
    for (size_t i = 0; i < out.assets.size() && s.ok(); i++) {
      s = CopyAsset(out.assets[i], fd, file, &pos, &written);
    }
    const std::string directory = zip::CentralDirectory(written, static_cast<uint64_t>(pos));
    if (s.ok()) s = file::PWriteAll(fd, directory.data(), directory.size(), pos, file);
    if (!s.ok()) return fail(s);
  }
  return file::SyncAndClose(fd, sync, file);
}

}  // namespace tfckpt::keras
