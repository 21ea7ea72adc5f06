#include "tfckpt/writer.h"

#include <regex>

#include <fmt/format.h>

#include "bundle/entry_codec.h"
#include "bundle/shard_output.h"
#include "bundle/slice_registry.h"
#include "format/crc32c.h"
#include "format/index_table.h"
#include "format/slice_key.h"
#include "format/string_tensor.h"
#include "format/v1_files.h"
#include "io/byte_source.h"
#include "io/commit.h"
#include "io/file_util.h"
#include "tfckpt.pb.h"
#include "tfckpt/remote.h"

namespace tfckpt {

std::string_view LinkModeName(LinkMode mode) {
  switch (mode) {
    case LinkMode::kAuto:
      return "auto";
    case LinkMode::kCopy:
      return "copy";
    case LinkMode::kHardlink:
      return "hardlink";
    case LinkMode::kMove:
      return "move";
  }
  return "?";
}

std::span<const std::string_view> LinkModeNames() {
  static constexpr std::string_view kNames[] = {"auto", "copy", "hardlink"};
  return kNames;
}

Status ParseLinkMode(std::string_view text, LinkMode* mode) {
  for (LinkMode m : {LinkMode::kAuto, LinkMode::kCopy, LinkMode::kHardlink}) {
    if (LinkModeName(m) == text) {
      *mode = m;
      return Status::OK();
    }
  }
  return Status::InvalidArgument(
      fmt::format("link='{}': it must be {}", text, OneOf(LinkModeNames(), "'")));
}

// The writer's state: the data files (ShardOutput), the partitioned tensors (SliceRegistry), the
// index entries, and the one commit every file appears through.
struct BundleWriter::Impl {
  Impl(const std::string& prefix, const WriterOptions& o)
      : options(o),
        commit(o.sync),
        shards(prefix, &commit, o.max_shard_bytes, o.sync, o.data_file_head, o.data_file_crc32) {}

  WriterOptions options;
  FileCommit commit;  // declared before `shards`, which writes its temporaries
  ShardOutput shards;
  SliceRegistry slices;
  std::map<std::string, pb::BundleEntryProto> entries;  // bytewise key order
  // The tensor being streamed.
  bool streaming = false;
  std::string stream_name;
  pb::BundleEntryProto stream_entry;
  int64_t stream_left = 0;
  uint32_t stream_crc = 0;
  bool finished = false;

  bool closed() const { return finished || shards.failed(); }

  // Checks that a fixed-size tensor of `dtype` and `shape` takes `size` bytes.
  Status CheckFixedSize(std::string_view name, DType dtype, const Shape& shape,
                        int64_t size) const {
    if (!NumElements(shape)) {
      return Status::InvalidArgument(fmt::format("tensor '{}' has an invalid shape {}",
                                                 PrintableKey(name), ShapeToString(shape)));
    }
    if (!IsFixedSize(dtype)) {
      return Status::InvalidArgument(fmt::format("tensor '{}': dtype {} is not a fixed-size type",
                                                 PrintableKey(name), DTypeName(dtype)));
    }
    const std::optional<int64_t> want = NumBytes(dtype, shape);
    if (!want) {
      return Status::InvalidArgument(fmt::format("tensor '{}' of shape {} is too large to store",
                                                 PrintableKey(name), ShapeToString(shape)));
    }
    if (size != *want) {
      return Status::InvalidArgument(
          fmt::format("tensor '{}' of dtype {} and shape {} takes {} bytes, but {} were given",
                      PrintableKey(name), DTypeName(dtype), ShapeToString(shape), *want, size));
    }
    return Status::OK();
  }

  // Checks the in-memory bytes of a whole tensor (strings and variants must parse) and gives
  // their CRC32C.
  Status CheckTensorBytes(std::string_view name, DType dtype, const Shape& shape,
                          std::span<const uint8_t> bytes, uint32_t* crc) const {
    if (IsFixedSize(dtype)) {
      TFCKPT_RETURN_IF_ERROR(
          CheckFixedSize(name, dtype, shape, static_cast<int64_t>(bytes.size())));
      *crc = crc32c::Value(bytes);
      return Status::OK();
    }
    auto n = NumElements(shape);
    if (!n) {
      return Status::InvalidArgument(
          fmt::format("tensor '{}' has an invalid shape", PrintableKey(name)));
    }
    std::vector<std::string_view> elements;
    Status s;
    if (dtype == DType::kString) {
      s = string_tensor::ParseStrings(bytes, *n, &elements, crc);
    } else if (dtype == DType::kVariant) {
      s = string_tensor::ParseVariants(bytes, *n, &elements, crc);
    } else {
      return Status::InvalidArgument(fmt::format("tensor '{}': dtype {} cannot be stored",
                                                 PrintableKey(name), DTypeName(dtype)));
    }
    if (!s.ok()) {
      return Status::InvalidArgument(
          fmt::format("tensor '{}' is not a valid serialized {} tensor: {}", PrintableKey(name),
                      DTypeName(dtype), s.message()));
    }
    return Status::OK();
  }

  // Checks the in-memory bytes of one slice (of shape `slice_shape`) and gives their CRC32C.
  Status CheckSliceBytes(const PieceTarget& target, const Shape& slice_shape,
                         std::span<const uint8_t> bytes, uint32_t* crc) const {
    if (target.dtype == DType::kString) {  // must parse as that many strings
      std::vector<std::string_view> elements;
      Status s =
          string_tensor::ParseStrings(bytes, NumElements(slice_shape).value_or(0), &elements, crc);
      if (!s.ok()) {
        return Status::InvalidArgument(
            fmt::format("slice [{}] of '{}' is not a valid serialized "
                        "string tensor: {}",
                        target.slice->ToString(), PrintableKey(target.name), s.message()));
      }
      return Status::OK();
    }
    const int64_t want = NumBytes(target.dtype, slice_shape).value_or(-1);
    if (static_cast<int64_t>(bytes.size()) != want) {
      return Status::InvalidArgument(fmt::format("slice [{}] of '{}' needs {} bytes, got {}",
                                                 target.slice->ToString(),
                                                 PrintableKey(target.name), want, bytes.size()));
    }
    *crc = crc32c::Value(bytes);
    return Status::OK();
  }

  Status CheckName(std::string_view name) const {
    if (name.empty()) {
      return Status::InvalidArgument(
          "a tensor needs a non-empty name (the empty key is the header)");
    }
    if (slice_key::LooksLikeSliceKey(name)) {
      return Status::InvalidArgument(
          fmt::format("tensor name '{}' starts with a zero byte, which is reserved for slice keys",
                      PrintableKey(name)));
    }
    if (entries.count(std::string(name)) || slices.Has(std::string(name))) {
      return Status::AlreadyExists(
          fmt::format("tensor '{}' was added twice to the checkpoint", PrintableKey(name)));
    }
    return Status::OK();
  }

  // An index entry for `size` bytes at the next position of the data files.
  Status NewEntry(DType dtype, const Shape& shape, int64_t size, pb::BundleEntryProto* e) {
    int shard = 0;
    int64_t offset = 0;
    TFCKPT_RETURN_IF_ERROR(shards.Reserve(size, &shard, &offset));
    e->set_dtype(static_cast<int32_t>(dtype));
    ShapeToProto(shape, e->mutable_shape());
    e->set_shard_id(shard);
    e->set_offset(offset);
    e->set_size(size);
    return Status::OK();
  }

  // An index entry for bytes that already lie in an adopted data file.
  Status AddAdopted(std::string key, DType dtype, const Shape& shape, const DataLocation& loc) {
    if (!shards.Holds(loc.shard_id, loc.offset, loc.size)) {
      return Status::InvalidArgument(
          fmt::format("tensor '{}': bytes {}..{} of shard {} are not in an adopted data file",
                      PrintableKey(key), loc.offset, loc.offset + loc.size, loc.shard_id));
    }
    pb::BundleEntryProto e;
    e.set_dtype(static_cast<int32_t>(dtype));
    ShapeToProto(shape, e.mutable_shape());
    e.set_shard_id(loc.shard_id);
    e.set_offset(loc.offset);
    e.set_size(loc.size);
    e.set_crc32c(loc.masked_crc32c);
    entries.emplace(std::move(key), std::move(e));
    return Status::OK();
  }
};

Status BundleWriter::Create(const std::string& prefix, const WriterOptions& options,
                            std::unique_ptr<BundleWriter>* writer) {
  if (prefix.empty() || prefix.back() == '/') {
    return Status::InvalidArgument(fmt::format(
        "output prefix '{}' names a directory; give a prefix such as out/model.ckpt", prefix));
  }
  if (file::IsDirectory(prefix)) {
    return Status::InvalidArgument(fmt::format(
        "output prefix '{}' is an existing directory; give a prefix inside it, such as {}/model",
        prefix, prefix));
  }
  if (!options.overwrite && file::Exists(prefix + ".index")) {
    return Status::AlreadyExists(fmt::format(
        "a checkpoint already exists at '{}' ({}.index); choose another output or allow "
        "replacing it (`overwrite`)",
        prefix, prefix));
  }
  if (v1_files::Exists(prefix)) {  // (a V2 bundle beside it would hide it from every reader)
    return Status::AlreadyExists(fmt::format(
        "a V1 checkpoint exists at '{}'; a V2 checkpoint of the same prefix would hide it from "
        "TensorFlow and tfckpt alike; choose another output",
        prefix));
  }
  TFCKPT_RETURN_IF_ERROR(file::CreateDirectories(file::Dirname(prefix)));
  std::unique_ptr<BundleWriter> w(new BundleWriter());
  w->prefix_ = prefix;
  WriterOptions staged = options;
  // (A remote output is staged locally and uploaded at once: its staged files need no fsync.)
  if (IsRemotePath(prefix)) staged.sync = false;
  w->impl_ = std::make_unique<Impl>(prefix, staged);
  *writer = std::move(w);
  return Status::OK();
}

BundleWriter::~BundleWriter() {
  if (impl_ && !impl_->finished) Abort();
}

void BundleWriter::Abort() {
  if (!impl_) return;
  impl_->commit.Abort();  // removes every temporary file
  impl_->finished = true;
}

Status BundleWriter::BeginTensor(std::string_view name, DType dtype, const Shape& shape,
                                 int64_t size) {
  Impl& m = *impl_;
  if (m.closed()) return Status::FailedPrecondition("the writer is closed");
  if (m.streaming) return Status::FailedPrecondition("another tensor is still being written");
  TFCKPT_RETURN_IF_ERROR(m.CheckName(name));
  TFCKPT_RETURN_IF_ERROR(m.CheckFixedSize(name, dtype, shape, size));
  TFCKPT_RETURN_IF_ERROR(m.NewEntry(dtype, shape, size, &m.stream_entry));
  m.streaming = true;
  m.stream_name = std::string(name);
  m.stream_left = size;
  m.stream_crc = 0;
  return Status::OK();
}

Status BundleWriter::Append(std::span<const uint8_t> chunk) {
  Impl& m = *impl_;
  if (!m.streaming) return Status::FailedPrecondition("Append() without BeginTensor()");
  if (static_cast<int64_t>(chunk.size()) > m.stream_left) {
    return Status::InvalidArgument(fmt::format("tensor '{}' got more bytes than its shape holds",
                                               PrintableKey(m.stream_name)));
  }
  m.stream_crc = crc32c::Extend(m.stream_crc, chunk.data(), chunk.size());
  m.stream_left -= static_cast<int64_t>(chunk.size());
  total_bytes_ += static_cast<int64_t>(chunk.size());
  return m.shards.Write(chunk.data(), chunk.size());
}

Status BundleWriter::EndTensor() {
  Impl& m = *impl_;
  if (!m.streaming) return Status::FailedPrecondition("EndTensor() without BeginTensor()");
  if (m.stream_left != 0) {
    return Status::InvalidArgument(
        fmt::format("tensor '{}' is missing {} bytes", PrintableKey(m.stream_name), m.stream_left));
  }
  m.stream_entry.set_crc32c(crc32c::Mask(m.stream_crc));
  m.entries.emplace(std::move(m.stream_name), std::move(m.stream_entry));
  m.streaming = false;
  return Status::OK();
}

Status BundleWriter::Add(const PieceTarget& target, const PieceBytes& bytes) {
  Impl& m = *impl_;
  if (m.closed()) return Status::FailedPrecondition("the writer is closed");
  if (m.streaming) return Status::FailedPrecondition("another tensor is still being written");
  // The index key and the stored shape: the tensor's own, or its slice's.
  std::string key(target.name);
  Shape shape = target.shape;
  bool whole = target.slice == nullptr;
  if (!whole) {
    auto in_index = [&m](const std::string& k) { return m.entries.count(k) > 0; };
    TFCKPT_RETURN_IF_ERROR(m.slices.Register(target.name, target.shape, *target.slice, target.dtype,
                                             in_index, &key, &shape, &whole));
  }
  if (whole) {  // (a slice that covers the tensor is stored as the tensor, as TensorFlow does)
    TFCKPT_RETURN_IF_ERROR(m.CheckName(target.name));
    key = std::string(target.name);
    shape = target.shape;
  }
  if (bytes.kind == PieceBytes::Kind::kAdopted) {
    return m.AddAdopted(std::move(key), target.dtype, shape, bytes.location);
  }
  int64_t size = bytes.location.size;
  uint32_t masked_crc = bytes.location.masked_crc32c;
  if (bytes.kind == PieceBytes::Kind::kInMemory) {
    size = static_cast<int64_t>(bytes.bytes.size());
    uint32_t crc = 0;
    TFCKPT_RETURN_IF_ERROR(
        whole ? m.CheckTensorBytes(target.name, target.dtype, shape, bytes.bytes, &crc)
              : m.CheckSliceBytes(target, shape, bytes.bytes, &crc));
    masked_crc = crc32c::Mask(crc);
  }
  pb::BundleEntryProto e;
  TFCKPT_RETURN_IF_ERROR(m.NewEntry(target.dtype, shape, size, &e));
  e.set_crc32c(masked_crc);
  if (bytes.kind == PieceBytes::Kind::kCopied) {
    TFCKPT_RETURN_IF_ERROR(m.shards.CopyIn(bytes.file, bytes.location.offset, bytes.location.size));
  } else {
    TFCKPT_RETURN_IF_ERROR(m.shards.Write(bytes.bytes.data(), bytes.bytes.size()));
    total_bytes_ += size;
  }
  m.entries.emplace(std::move(key), std::move(e));
  return Status::OK();
}

Status BundleWriter::AddTensor(std::string_view name, const Tensor& tensor) {
  return AddValue({name, tensor.dtype(), tensor.shape()}, tensor);
}

Status BundleWriter::AddValue(const PieceTarget& target, const Tensor& tensor) {
  if (IsFixedSize(tensor.dtype())) return Add(target, PieceBytes::InMemory(tensor.bytes()));
  auto n = NumElements(tensor.shape());
  if (!n || *n != static_cast<int64_t>(tensor.elements().size())) {
    return Status::InvalidArgument(fmt::format(
        "tensor '{}' has shape {} but {} elements were given", PrintableKey(target.name),
        ShapeToString(tensor.shape()), tensor.elements().size()));
  }
  std::string serialized;
  if (tensor.dtype() == DType::kString) {
    string_tensor::SerializeStrings(tensor.elements(), &serialized);
  } else {
    string_tensor::SerializeVariants(tensor.elements(), &serialized);
  }
  return Add(target, PieceBytes::InMemory(
                         {reinterpret_cast<const uint8_t*>(serialized.data()), serialized.size()}));
}

Status BundleWriter::AdoptDataFile(const ByteSource& file, LinkMode how, int* shard_id) {
  Impl& m = *impl_;
  if (m.closed()) return Status::FailedPrecondition("the writer is closed");
  if (m.streaming) return Status::FailedPrecondition("another tensor is still being written");
  return m.shards.Adopt(file, how, shard_id);
}

Status BundleWriter::Finish() {
  Impl& m = *impl_;
  if (m.finished) return Status::FailedPrecondition("the writer is already finished");
  if (m.streaming) {
    Abort();
    return Status::FailedPrecondition(
        fmt::format("tensor '{}' was not completed", PrintableKey(m.stream_name)));
  }
  auto fail = [&](Status s) {
    Abort();
    return s;
  };
  if (m.shards.failed()) {
    return fail(Status::FailedPrecondition(
        fmt::format("'{}' is not written: writing its data failed earlier", prefix_)));
  }
  int num_shards = 0;
  Status s = m.shards.Close(&num_shards);  // (places the data files in the commit)
  if (!s.ok()) return fail(s);
  m.slices.AddFullEntries(&m.entries);

  // The index, at a temporary name.
  std::string index_temp;
  s = m.commit.NewTemporary(prefix_ + ".index", &index_temp);
  if (!s.ok()) return fail(s);
  std::unique_ptr<IndexTableWriter> table;
  s = IndexTableWriter::Create(index_temp, &table);
  if (!s.ok()) return fail(s);
  pb::BundleHeaderProto header;
  header.set_num_shards(num_shards);
  header.set_endianness(pb::BundleHeaderProto::LITTLE);
  header.mutable_version()->set_producer(1);
  std::string value;
  header.SerializeToString(&value);
  s = table->Add("", value);
  for (auto it = m.entries.begin(); s.ok() && it != m.entries.end(); ++it) {
    value.clear();
    it->second.SerializeToString(&value);
    s = table->Add(it->first, value);
  }
  if (s.ok()) s = table->Finish(m.options.sync);
  table.reset();
  if (!s.ok()) return fail(s);

  // Commit: data files first, then the index. An index being replaced goes before any new data
  // file appears (so a crash leaves no index naming new data), and so do its data files that the
  // new checkpoint does not overwrite. Under the directory lock, so two writers of the same
  // output never leave a mix of both.
  s = m.commit.Lock();
  if (!s.ok()) return fail(s);
  const std::string index_final = prefix_ + ".index";
  if (file::Exists(index_final)) {
    if (!m.options.overwrite) {
      return fail(Status::AlreadyExists(fmt::format(
          "a checkpoint appeared at '{}' while this one was written; choose another output or "
          "allow replacing it (`overwrite`)",
          prefix_)));
    }
    m.commit.ReplaceFirst(index_final);
    std::vector<std::string> names;
    std::string dir = file::Dirname(prefix_), base = file::Basename(prefix_);
    static const std::regex kData(R"(\.data-\d{5,}-of-\d{5,})");
    if (file::ListDirectory(dir, &names).ok()) {
      for (const std::string& n : names) {
        if (n.rfind(base, 0) != 0 || !std::regex_match(n.substr(base.size()), kData)) continue;
        const std::string old = file::Join(dir, n);
        bool overwritten = false;
        for (int i = 0; i < num_shards; i++) overwritten |= old == m.shards.DataName(i, num_shards);
        if (!overwritten) m.commit.ReplaceFirst(old);
      }
    }
  }
  m.commit.Place(index_temp, index_final);
  s = m.commit.Commit();
  if (!s.ok()) return fail(s);
  m.finished = true;
  return Status::OK();
}

const TransferStats& BundleWriter::stats() const { return impl_->shards.stats(); }

bool BundleWriter::DataFileCrc32(int shard, uint32_t* crc) const {
  return impl_->shards.Crc32(shard, crc);
}

}  // namespace tfckpt
