#include "tfckpt/convert.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bundle/entry_codec.h"
#include "core/progress_meter.h"
#include "format/crc32c.h"
#include "format/keras_writer.h"
#include "format/npz.h"
#include "format/safetensors.h"
#include "io/byte_source.h"
#include "io/commit.h"
#include "io/file_util.h"
#include "plan/name_mapper.h"
#include "plan/name_view.h"
#include "plan/object_graph.h"
#include "plan/optimizer_filter.h"
#include "tfckpt/checkpoint.h"
#include "tfckpt/version.h"
#include "tfckpt/writer.h"

namespace tfckpt {
namespace {

constexpr const char* kVersion = "tfckpt " TFCKPT_VERSION;

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// A new file written at a temporary name of a FileCommit.
struct OutputFile {
  std::string temp_path;
  int fd = -1;
  Status Open(FileCommit* commit, const std::string& path) {
    TFCKPT_RETURN_IF_ERROR(commit->Add(path, &temp_path));
    return file::CreateNewFile(temp_path, &fd);
  }
  Status Write(std::string_view bytes) {
    return file::WriteAll(fd, bytes.data(), bytes.size(), temp_path);
  }
  Status Close(bool sync) {
    Status s = file::SyncAndClose(fd, sync, temp_path);
    fd = -1;
    return s;
  }
  ~OutputFile() {
    if (fd >= 0) ::close(fd);
  }
};

// Outputs that must not exist unless they may be replaced.
Status CheckAbsent(const std::vector<std::string>& paths, bool overwrite) {
  for (const std::string& path : paths) {
    if (!overwrite && file::Exists(path)) {
      return Status::AlreadyExists(fmt::format(
          "'{}' already exists; choose another output or allow replacing it (`overwrite`)", path));
    }
  }
  return Status::OK();
}

// One tensor of a TF source on its way out.
struct Outgoing {
  std::string name;
  const TensorInfo* info;
  int64_t bytes;
};

// Copies a TF tensor's array bytes to `fd` (in the kernel when it is stored whole), after
// checking its CRC.
Status CopyTensorTo(const Checkpoint& ckpt, const TensorInfo& info, int fd, const std::string& dst,
                    uint32_t* zip_crc) {
  Tensor t;
  TFCKPT_RETURN_IF_ERROR(ckpt.Read(info, ReadOptions(), &t));
  if (zip_crc) *zip_crc = npz::Crc32(0, t.bytes().data(), t.bytes().size());
  if (info.partitioned() || !ckpt.values_as_stored()) {  // assembled, swapped, decoded: in memory
    return file::WriteAll(fd, t.bytes().data(), t.bytes().size(), dst);
  }
  Status s = CopyFromSource(*ckpt.data_file(info.location.shard_id), info.location.offset,
                            info.location.size, fd, dst);
  ckpt.Release(info.location);
  return s;
}

Status ToSafetensors(const Checkpoint& ckpt, const std::vector<Outgoing>& tensors,
                     const std::string& out, const ConvertOptions& options, ConvertReport* report) {
  // Group into shards.
  std::vector<std::vector<const Outgoing*>> shards(1);
  int64_t in_shard = 0, total = 0;
  for (const Outgoing& t : tensors) {
    if (options.max_shard_bytes > 0 && in_shard > 0 &&
        in_shard + t.bytes > options.max_shard_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(&t);
    in_shard += t.bytes;
    total += t.bytes;
  }
  const bool sharded = options.max_shard_bytes > 0;
  const std::string dir = file::Dirname(out);
  const std::string stem = file::Basename(out).substr(0, file::Basename(out).size() - 12);
  std::vector<std::string> names;
  for (size_t i = 0; i < shards.size(); i++) {
    names.push_back(sharded
                        ? fmt::format("{}-{:05d}-of-{:05d}.safetensors", stem, i + 1, shards.size())
                        : file::Basename(out));
  }
  const std::string index_path = file::Join(dir, stem + ".safetensors.index.json");
  std::vector<std::string> paths;
  for (const std::string& n : names) paths.push_back(file::Join(dir, n));
  TFCKPT_RETURN_IF_ERROR(CheckAbsent(paths, options.overwrite));
  std::map<std::string, std::string> metadata = {{"source", ckpt.prefix()},
                                                 {"converted_by", kVersion}};
  FileCommit commit(options.sync);
  ProgressMeter meter(options.progress, total);
  std::vector<std::string> outputs;
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  for (size_t i = 0; i < shards.size(); i++) {
    std::vector<safetensors::Entry> entries;
    for (const Outgoing* t : shards[i]) {
      entries.push_back({t->name, t->info->dtype, t->info->shape, 0, t->bytes});
      weight_map[t->name] = names[i];
    }
    OutputFile f;
    outputs.push_back(file::Join(dir, names[i]));
    TFCKPT_RETURN_IF_ERROR(f.Open(&commit, outputs.back()));
    TFCKPT_RETURN_IF_ERROR(f.Write(safetensors::Header(entries, metadata)));
    for (const Outgoing* t : shards[i]) {
      TFCKPT_RETURN_IF_ERROR(CopyTensorTo(ckpt, *t->info, f.fd, f.temp_path, nullptr));
      meter.Add(t->bytes);
    }
    TFCKPT_RETURN_IF_ERROR(f.Close(options.sync));
  }
  if (sharded) {
    nlohmann::ordered_json index = {{"metadata", {{"total_size", total}}},
                                    {"weight_map", weight_map}};
    OutputFile f;
    outputs.push_back(index_path);
    TFCKPT_RETURN_IF_ERROR(f.Open(&commit, index_path));
    TFCKPT_RETURN_IF_ERROR(f.Write(index.dump(2) + "\n"));
    TFCKPT_RETURN_IF_ERROR(f.Close(options.sync));
  }
  TFCKPT_RETURN_IF_ERROR(commit.Lock());
  TFCKPT_RETURN_IF_ERROR(CheckAbsent(outputs, options.overwrite));
  TFCKPT_RETURN_IF_ERROR(commit.Commit());
  meter.Finish();
  report->outputs = outputs;
  report->bytes = total;
  return Status::OK();
}

Status ToNpz(const Checkpoint& ckpt, const std::vector<Outgoing>& tensors, const std::string& out,
             const ConvertOptions& options, ConvertReport* report) {
  TFCKPT_RETURN_IF_ERROR(CheckAbsent({out}, options.overwrite));
  FileCommit commit(options.sync);
  std::string temp;
  TFCKPT_RETURN_IF_ERROR(commit.Add(out, &temp));
  std::unique_ptr<npz::Writer> w;
  TFCKPT_RETURN_IF_ERROR(npz::Writer::Create(temp, &w));
  int64_t total = 0;
  for (const Outgoing& t : tensors) total += t.bytes;
  ProgressMeter meter(options.progress, total);
  for (const Outgoing& t : tensors) {
    const TensorInfo& info = *t.info;
    int fd = -1;
    if (info.dtype == DType::kString) {
      Tensor v;
      TFCKPT_RETURN_IF_ERROR(ckpt.Read(info, ReadOptions(), &v));
      size_t width = 1;
      for (std::string_view e : v.elements()) width = std::max(width, e.size());
      std::string buf(width * v.elements().size(), '\0');
      for (size_t i = 0; i < v.elements().size(); i++) {
        std::memcpy(buf.data() + i * width, v.elements()[i].data(), v.elements()[i].size());
      }
      TFCKPT_RETURN_IF_ERROR(w->Begin(t.name, fmt::format("|S{}", width), info.shape,
                                      static_cast<int64_t>(buf.size()),
                                      npz::Crc32(0, buf.data(), buf.size()), &fd));
      TFCKPT_RETURN_IF_ERROR(w->Append({reinterpret_cast<const uint8_t*>(buf.data()), buf.size()}));
      TFCKPT_RETURN_IF_ERROR(w->End());
      report->bytes += static_cast<int64_t>(buf.size());
      meter.Add(t.bytes);
      continue;
    }
    // The zip CRC precedes the data: read the tensor once for it, then copy it in the kernel.
    Tensor v;
    TFCKPT_RETURN_IF_ERROR(ckpt.Read(info, ReadOptions(), &v));
    uint32_t crc = npz::Crc32(0, v.bytes().data(), v.bytes().size());
    TFCKPT_RETURN_IF_ERROR(
        w->Begin(t.name, *npz::Descr(info.dtype), info.shape, t.bytes, crc, &fd));
    TFCKPT_RETURN_IF_ERROR(CopyTensorTo(ckpt, info, fd, temp, nullptr));
    TFCKPT_RETURN_IF_ERROR(w->End());
    report->bytes += t.bytes;
    meter.Add(t.bytes);
  }
  TFCKPT_RETURN_IF_ERROR(w->Finish(options.sync));
  TFCKPT_RETURN_IF_ERROR(commit.Lock());
  TFCKPT_RETURN_IF_ERROR(CheckAbsent({out}, options.overwrite));
  TFCKPT_RETURN_IF_ERROR(commit.Commit());
  meter.Finish();
  report->outputs.push_back(out);
  return Status::OK();
}

// Strings can go to .npz only when no element ends with a NUL byte (numpy strips those).
bool NpzStringsLossless(const Checkpoint& ckpt, const TensorInfo& info) {
  Tensor v;
  if (!ckpt.Read(info, ReadOptions(), &v).ok()) return false;
  for (std::string_view e : v.elements()) {
    if (!e.empty() && e.back() == '\0') return false;
  }
  return true;
}

Status FromTensorFlow(const std::string& src, const std::string& out, bool to_npz,
                      const ConvertOptions& options, ConvertReport* report) {
  std::unique_ptr<Checkpoint> ckpt;
  TFCKPT_RETURN_IF_ERROR(Checkpoint::Open(src, &ckpt));
  if (std::string why = ckpt->DescribeIncomplete(); !why.empty()) {
    return Status::NotFound(why + "; nothing was written");
  }
  OptimizerFilter optimizer;
  TFCKPT_RETURN_IF_ERROR(OptimizerFilter::Create(*ckpt, &optimizer));
  NameMapper mapper;
  TFCKPT_RETURN_IF_ERROR(NameMapper::Create(options.names, &mapper));
  // A TF2 checkpoint's variables are named by the full names its object graph records (the
  // variables' paths, "dense/kernel"), not by keys, which depend on the objects the checkpoint
  // was saved through. Copies of one variable are written once; tensors without a full name,
  // or whose full name is shared by different values, keep their keys.
  std::map<std::string, std::string> full_name_of;
  std::set<std::string> copies;
  if (!optimizer.object_graph().empty()) {
    NameView view;
    TFCKPT_RETURN_IF_ERROR(NameView::FullNames(*ckpt, src, &view));
    for (const auto& [full, t] : view.entries()) {
      if (!view.Ambiguity(full).empty()) continue;
      if (!full_name_of.emplace(t->name, full).second) continue;
      if (view.FindAll(full).front() != t) copies.insert(t->name);
    }
  }
  std::vector<Outgoing> tensors;
  std::vector<std::string> unsupported;
  std::map<std::string, std::string> taken;
  for (const TensorInfo& t : ckpt->tensors()) {
    if (t.name == kObjectGraphKey) {
      report->notes.push_back(
          "the TF2 object graph (_CHECKPOINTABLE_OBJECT_GRAPH) is TensorFlow "
          "bookkeeping and was left out");
      continue;
    }
    if (copies.count(t.name)) continue;
    if (options.names.strip_optimizer && optimizer.IsOptimizer(t.name)) continue;
    auto full = full_name_of.find(t.name);
    auto name = mapper.Map(full == full_name_of.end() ? t.name : full->second, optimizer);
    if (!name) continue;
    bool ok = to_npz ? (npz::Descr(t.dtype).has_value() ||
                        (t.dtype == DType::kString && NpzStringsLossless(*ckpt, t)))
                     : safetensors::DTypeCode(t.dtype).has_value();
    if (!ok) {
      if (options.skip_unsupported) {
        report->skipped.emplace_back(t.name, t.dtype);
      } else {
        unsupported.push_back(fmt::format("'{}' ({})", PrintableKey(t.name), DTypeName(t.dtype)));
      }
      continue;
    }
    if (auto [it, inserted] = taken.emplace(*name, t.name); !inserted) {
      return Status::InvalidArgument(
          fmt::format("'{}' and '{}' would both be named '{}'", it->second, t.name, *name));
    }
    tensors.push_back({*name, &t, t.num_elements() * DTypeSize(t.dtype)});
  }
  if (!unsupported.empty()) {
    return Status::InvalidArgument(fmt::format(
        "{} tensor(s) cannot be stored in {}: {}; leave them out with `skip_unsupported`, or "
        "drop them by name (`drop`)",
        unsupported.size(), to_npz ? ".npz" : "safetensors", fmt::join(unsupported, ", ")));
  }
  report->from = ckpt->format() == Checkpoint::Format::kKeras ? "keras" : "tensorflow";
  report->to = to_npz ? "npz" : "safetensors";
  report->tensors = static_cast<int64_t>(tensors.size());
  return to_npz ? ToNpz(*ckpt, tensors, out, options, report)
                : ToSafetensors(*ckpt, tensors, out, options, report);
}

// One tensor of a foreign source.
struct Incoming {
  std::string name;
  DType dtype;
  Shape shape;
  std::shared_ptr<const ByteSource> file;
  int64_t offset = 0, size = 0;
  const npz::Member* member = nullptr;  // npz members that need decoding
  std::string unsupported;
};

Status ReadSafetensorsSources(const std::string& src, std::vector<Incoming>* out,
                              std::string* label) {
  std::vector<std::string> files;
  std::string index;
  if (file::IsDirectory(src)) {
    std::vector<std::string> names, indexes, singles;
    TFCKPT_RETURN_IF_ERROR(file::ListDirectory(src, &names));
    for (const std::string& n : names) {
      if (EndsWith(n, ".safetensors.index.json")) indexes.push_back(n);
      if (EndsWith(n, ".safetensors")) singles.push_back(n);
    }
    if (indexes.size() == 1) {
      index = file::Join(src, indexes[0]);
    } else if (indexes.empty() && singles.size() == 1) {
      files.push_back(file::Join(src, singles[0]));
    } else {
      return Status::InvalidArgument(fmt::format(
          "directory '{}' holds {} safetensors index file(s) and {} safetensors file(s); pass "
          "the one to convert",
          src, indexes.size(), singles.size()));
    }
  } else if (EndsWith(src, ".json")) {
    index = src;
  } else {
    files.push_back(src);
  }
  if (!index.empty()) {
    std::string text;
    TFCKPT_RETURN_IF_ERROR(ReadWholeSource(index, &text));
    std::set<std::string> shard_names;
    try {
      auto j = nlohmann::json::parse(text);
      for (auto& [name, shard] : j.at("weight_map").items())
        shard_names.insert(shard.get<std::string>());
    } catch (const nlohmann::json::exception& e) {
      return Status::Corruption(
          fmt::format("'{}' is not a safetensors index: {}", index, e.what()));
    }
    for (const std::string& s : shard_names) files.push_back(file::Join(file::Dirname(index), s));
  }
  *label = index.empty() ? files[0] : index;
  for (const std::string& f : files) {
    std::shared_ptr<const ByteSource> mf;
    TFCKPT_RETURN_IF_ERROR(OpenByteSource(f, &mf));
    std::vector<safetensors::Entry> entries;
    std::map<std::string, std::string> metadata;
    TFCKPT_RETURN_IF_ERROR(safetensors::Parse(*mf, &entries, &metadata));
    for (const auto& e : entries) {
      out->push_back({e.name, e.dtype, e.shape, mf, e.offset, e.size, nullptr, ""});
    }
  }
  return Status::OK();
}

// Column-major elements to row-major.
std::vector<uint8_t> FortranToC(const std::vector<uint8_t>& in, const Shape& shape, int64_t es) {
  std::vector<uint8_t> out(in.size());
  const size_t rank = shape.size();
  std::vector<int64_t> fstride(rank, 1), idx(rank, 0);
  for (size_t d = 1; d < rank; d++) fstride[d] = fstride[d - 1] * shape[d - 1];
  const int64_t n = NumElements(shape).value_or(0);
  for (int64_t c = 0; c < n; c++) {
    int64_t f = 0;
    for (size_t d = 0; d < rank; d++) f += idx[d] * fstride[d];
    std::memcpy(out.data() + c * es, in.data() + f * es, static_cast<size_t>(es));
    for (size_t d = rank; d-- > 0;) {  // the next row-major index
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

Status FromForeign(const std::string& src, const std::string& out, bool npz_source,
                   const ConvertOptions& options, ConvertReport* report) {
  std::vector<Incoming> tensors;
  std::vector<npz::Member> members;
  std::string label = src;
  if (npz_source) {
    std::shared_ptr<const ByteSource> mf;
    TFCKPT_RETURN_IF_ERROR(OpenByteSource(src, &mf));
    TFCKPT_RETURN_IF_ERROR(npz::List(*mf, &members));
    for (const npz::Member& m : members) {
      Incoming in{m.name, m.dtype, m.shape, mf, m.data_offset, m.data_size, &m, m.unsupported};
      tensors.push_back(std::move(in));
    }
  } else {
    TFCKPT_RETURN_IF_ERROR(ReadSafetensorsSources(src, &tensors, &label));
  }
  NameMapper mapper;
  TFCKPT_RETURN_IF_ERROR(NameMapper::Create(options.names, &mapper));
  OptimizerFilter optimizer;  // no object graph: name-based rules
  std::vector<std::string> unsupported;
  std::map<std::string, std::string> taken;
  std::vector<std::pair<std::string, const Incoming*>> kept;
  for (const Incoming& t : tensors) {
    auto name = mapper.Map(t.name, optimizer);
    if (!name) continue;
    if (!t.unsupported.empty()) {
      if (!options.skip_unsupported) {
        unsupported.push_back(fmt::format("'{}': {}", t.name, t.unsupported));
      } else {
        report->skipped.emplace_back(t.name, DType::kInvalid);
      }
      continue;
    }
    if (auto [it, inserted] = taken.emplace(*name, t.name); !inserted) {
      return Status::InvalidArgument(
          fmt::format("'{}' and '{}' would both be named '{}'", it->second, t.name, *name));
    }
    kept.emplace_back(*name, &t);
  }
  if (!unsupported.empty()) {
    return Status::InvalidArgument(
        fmt::format("{} array(s) cannot become TensorFlow tensors: {}; leave them out with "
                    "`skip_unsupported`",
                    unsupported.size(), fmt::join(unsupported, ", ")));
  }
  WriterOptions wo;
  wo.overwrite = options.overwrite;
  wo.sync = options.sync;
  std::unique_ptr<BundleWriter> w;
  TFCKPT_RETURN_IF_ERROR(BundleWriter::Create(out, wo, &w));
  int64_t total = 0;
  for (const auto& [name, t] : kept) total += t->size;
  ProgressMeter meter(options.progress, total);
  for (const auto& [name, t] : kept) {
    std::span<const uint8_t> bytes;
    std::shared_ptr<const void> hold;
    std::string inflated;
    if (t->member && t->member->deflated) {
      TFCKPT_RETURN_IF_ERROR(npz::Inflate(*t->file, *t->member, &inflated));
      bytes = {reinterpret_cast<const uint8_t*>(inflated.data()), inflated.size()};
    } else {
      TFCKPT_RETURN_IF_ERROR(ViewRange(t->file, t->offset, t->size, &bytes, &hold));
    }
    if (t->dtype == DType::kString) {
      const int64_t width = t->member->string_width;
      const int64_t n = NumElements(t->shape).value_or(0);
      if (n > 0 && (width > INT64_MAX / n || width * n != static_cast<int64_t>(bytes.size()))) {
        return Status::Corruption(fmt::format("array '{}' has the wrong size", t->name));
      }
      std::vector<std::string_view> values;
      for (int64_t i = 0; i < n; i++) {
        std::string_view e(reinterpret_cast<const char*>(bytes.data()) + i * width, width);
        while (!e.empty() && e.back() == '\0') e.remove_suffix(1);
        values.push_back(e);
      }
      TFCKPT_RETURN_IF_ERROR(w->AddTensor(
          name, Tensor::Elements(DType::kString, t->shape, std::move(values), nullptr)));
    } else if (t->member && (t->member->byteswap || t->member->deflated || t->member->fortran)) {
      std::vector<uint8_t> copy(bytes.begin(), bytes.end());
      if (static_cast<int64_t>(copy.size()) != NumBytes(t->dtype, t->shape).value_or(-1)) {
        return Status::Corruption(fmt::format("array '{}' has the wrong size", t->name));
      }
      if (t->member->byteswap) {
        const int es = IsComplex(t->dtype) ? DTypeSize(t->dtype) / 2 : DTypeSize(t->dtype);
        for (size_t i = 0; i + es <= copy.size(); i += es) std::reverse(&copy[i], &copy[i] + es);
      }
      if (t->member->fortran) copy = FortranToC(copy, t->shape, DTypeSize(t->dtype));
      TFCKPT_RETURN_IF_ERROR(w->Add({name, t->dtype, t->shape}, PieceBytes::InMemory(copy)));
    } else {
      if (NumBytes(t->dtype, t->shape).value_or(-1) != t->size) {
        return Status::Corruption(fmt::format("array '{}' has the wrong size", t->name));
      }
      DataLocation loc{0, t->offset, t->size, crc32c::Mask(crc32c::Value(bytes))};
      TFCKPT_RETURN_IF_ERROR(w->Add({name, t->dtype, t->shape}, PieceBytes::Copied(t->file, loc)));
      t->file->Release(t->offset, t->size);
    }
    report->bytes += t->size;
    meter.Add(t->size);
  }
  TFCKPT_RETURN_IF_ERROR(w->Finish());
  meter.Finish();
  report->from = npz_source ? "npz" : "safetensors";
  report->to = "tensorflow";
  report->tensors = static_cast<int64_t>(kept.size());
  report->outputs.push_back(out);
  report->notes.push_back(fmt::format("converted from '{}'", label));
  return Status::OK();
}

// Carries out `plan` as a conversion: the report's counts and notes are the plan's.
Status ExecuteConversion(const Plan& plan, const ConvertOptions& options, ConvertReport* report) {
  ExecuteOptions eo;
  eo.overwrite = options.overwrite;
  eo.sync = options.sync;
  eo.progress = options.progress;
  ExecuteReport er;
  TFCKPT_RETURN_IF_ERROR(ExecutePlan(plan, eo, &er));
  report->outputs.push_back(plan.output_prefix());
  report->tensors = er.tensors;
  report->bytes = er.bytes;
  report->notes = plan.notes;
  return Status::OK();
}

// SRC (a checkpoint, a Keras file, or through a scratch checkpoint safetensors / .npz) into the
// Keras file OUT laid out as the template: a transfer by name into it.
Status ToKeras(const std::string& src, const std::string& out, int foreign,
               const ConvertOptions& options, ConvertReport* report) {
  if (options.keras_template.empty()) {
    return Status::InvalidArgument(fmt::format(
        "'{}' would be {}, which takes its layout from a Keras model of the same architecture: "
        "give one as the template (`keras_template`), e.g. the .keras file the weights came "
        "from",
        out, keras::OutputKindName(keras::OutputKindOf(out))));
  }
  const EditOptions& n = options.names;
  if (!n.renames.empty() || !n.keep.empty() || !n.drop.empty() || n.strip_optimizer) {
    return Status::InvalidArgument(
        "a Keras output takes its weights from SRC by name and holds every weight of its "
        "template: to map other names, `transfer` SRC into the template with a map; to leave "
        "the optimizer out, `edit` the result (`strip_optimizer`)");
  }
  FileCommit scratch(/*sync=*/false);
  std::string from = src;
  if (foreign > 0) {
    std::string dir;
    TFCKPT_RETURN_IF_ERROR(scratch.NewTemporary(out, &dir));
    TFCKPT_RETURN_IF_ERROR(file::CreateDirectories(dir));
    from = file::Join(dir, "converted");
    ConvertOptions o;
    o.sync = false;
    ConvertReport inner;
    TFCKPT_RETURN_IF_ERROR(FromForeign(src, from, foreign == 2, o, &inner));
  }
  TransferOptions to;
  to.into = options.keras_template;
  to.groups.push_back({from, {}});
  to.include_optimizer = true;  // (a conversion takes every weight SRC holds)
  Plan plan;
  TFCKPT_RETURN_IF_ERROR(PlanTransfer(to, out, &plan));
  TFCKPT_RETURN_IF_ERROR(SetMaxShardBytes(&plan, options.max_shard_bytes));
  TFCKPT_RETURN_IF_ERROR(ExecuteConversion(plan, options, report));
  report->from =
      foreign == 2   ? "npz"
      : foreign == 1 ? "safetensors"
      : plan.sources.size() > 1 && plan.sources[1].ckpt->format() == Checkpoint::Format::kKeras
          ? "keras"
          : "tensorflow";
  report->to = "keras";
  for (std::string& note : report->notes) {
    if (foreign > 0) {  // (the scratch checkpoint is SRC to the user)
      for (size_t at; (at = note.find(from)) != std::string::npos;) {
        note.replace(at, from.size(), src);
      }
    }
  }
  return Status::OK();
}

// A Keras file SRC as the TensorFlow checkpoint OUT: edit's plan.
Status KerasToTensorFlow(const std::string& src, const std::string& out,
                         const ConvertOptions& options, ConvertReport* report) {
  Plan plan;
  TFCKPT_RETURN_IF_ERROR(PlanEdit(src, out, options.names, &plan));
  TFCKPT_RETURN_IF_ERROR(SetMaxShardBytes(&plan, options.max_shard_bytes));
  TFCKPT_RETURN_IF_ERROR(ExecuteConversion(plan, options, report));
  report->from = "keras";
  report->to = "tensorflow";
  return Status::OK();
}

}  // namespace

std::string ConvertReport::ToJson() const {
  nlohmann::ordered_json j;
  j["schema_version"] = TFCKPT_JSON_SCHEMA_VERSION;
  j["from"] = from;
  j["to"] = to;
  j["outputs"] = outputs;
  j["tensors"] = tensors;
  j["bytes"] = bytes;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto& [name, dtype] : skipped) {
    list.push_back({{"name", name}, {"dtype", DTypeName(dtype)}});
  }
  j["skipped"] = std::move(list);
  j["notes"] = notes;
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

Status ParseByteSize(const std::string& text, int64_t* bytes) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = text.substr(used);
  static const std::map<std::string, double> kUnits = {{"", 1},
                                                       {"B", 1},
                                                       {"KB", 1e3},
                                                       {"MB", 1e6},
                                                       {"GB", 1e9},
                                                       {"TB", 1e12},
                                                       {"KiB", 1024.0},
                                                       {"MiB", 1048576.0},
                                                       {"GiB", 1073741824.0},
                                                       {"TiB", 1099511627776.0},
                                                       {"K", 1e3},
                                                       {"M", 1e6},
                                                       {"G", 1e9}};
  auto it = kUnits.find(unit);
  const double size = it == kUnits.end() ? 0 : value * it->second;
  if (used == 0 || it == kUnits.end() || !(size >= 1) || size > 9e18) {
    return Status::InvalidArgument(
        fmt::format("'{}' is not a size; write e.g. 5GB, 500MB, 2GiB or a number of bytes", text));
  }
  *bytes = static_cast<int64_t>(size);
  return Status::OK();
}

Status Convert(const std::string& src, const std::string& out, const ConvertOptions& options,
               ConvertReport* report) {
  std::string s = src;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  const bool npz_source = EndsWith(s, ".npz");
  bool st_source = EndsWith(s, ".safetensors") || EndsWith(s, ".safetensors.index.json");
  if (!st_source && file::IsDirectory(s) && !file::Exists(file::Join(s, "checkpoint")) &&
      !file::Exists(file::Join(s, "saved_model.pb"))) {
    std::vector<std::string> names;
    if (file::ListDirectory(s, &names).ok()) {
      for (const std::string& n : names) st_source = st_source || EndsWith(n, ".safetensors");
    }
  }
  if (keras::OutputKindOf(out) != keras::OutputKind::kNone) {
    if ((npz_source || st_source) && !file::Exists(s)) {
      return Status::NotFound(fmt::format("no file at '{}'{}", s, file::WindowsPathHint(s)));
    }
    return ToKeras(s, out, npz_source ? 2 : st_source ? 1 : 0, options, report);
  }
  if (!options.keras_template.empty()) {
    return Status::InvalidArgument(fmt::format(
        "`keras_template` goes with a Keras output (a path ending in .keras, .weights.h5, "
        ".weights.json or .h5), "
        "and '{}' is none",
        out));
  }
  if (npz_source || st_source) {
    if (!file::Exists(s)) {
      return Status::NotFound(fmt::format("no file at '{}'; pass the {} file to convert{}", s,
                                          npz_source ? ".npz" : "safetensors",
                                          file::WindowsPathHint(s)));
    }
    if (EndsWith(out, ".safetensors") || EndsWith(out, ".npz")) {
      return Status::InvalidArgument(
          "convert goes between TensorFlow and safetensors or .npz: give a TensorFlow checkpoint "
          "prefix as the output");
    }
    return FromForeign(s, out, npz_source, options, report);
  }
  if (EndsWith(out, ".safetensors")) return FromTensorFlow(s, out, false, options, report);
  if (EndsWith(out, ".npz")) return FromTensorFlow(s, out, true, options, report);
  std::unique_ptr<Checkpoint> ckpt;
  const Status opened = Checkpoint::Open(s, &ckpt);
  if (opened.ok() && ckpt->format() == Checkpoint::Format::kKeras) {
    return KerasToTensorFlow(s, out, options, report);
  }
  if (!opened.ok() && keras::OutputKindOf(s) != keras::OutputKind::kNone) return opened;
  return Status::InvalidArgument(fmt::format(
      "cannot tell the direction: '{}' should end in .safetensors or .npz (from a TensorFlow "
      "checkpoint), or '{}' should be a .safetensors, .safetensors.index.json or .npz file",
      out, src));
}

}  // namespace tfckpt
