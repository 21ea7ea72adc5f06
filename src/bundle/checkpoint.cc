#include "tfckpt/checkpoint.h"

#include <algorithm>
#include <cstring>
#include <map>

#include <fmt/format.h>

#include "bundle/entry_codec.h"
#include "bundle/slices.h"
#include "format/byte_order.h"
#include "format/crc32c.h"
#include "format/index_table.h"
#include "format/slice_key.h"
#include "format/string_tensor.h"
#include "format/v1_files.h"
#include "io/byte_source.h"
#include "io/file_util.h"
#include "io/remote_source.h"
#include "tfckpt/paths.h"
#include "tfckpt/remote.h"

namespace tfckpt {
namespace {

constexpr int kBundleVersion = 1;  // the consumer version tfckpt reads as

Status CheckHeader(const pb::BundleHeaderProto& header, const std::string& index) {
  if (header.num_shards() <= 0 || header.num_shards() > 1000000) {
    return Status::Corruption(
        fmt::format("'{}' says the checkpoint has {} data files; the index is damaged", index,
                    header.num_shards()));
  }
  if (header.endianness() != pb::BundleHeaderProto::LITTLE &&
      header.endianness() != pb::BundleHeaderProto::BIG) {
    return Status::Corruption(fmt::format("'{}' names an unknown byte order ({})", index,
                                          static_cast<int>(header.endianness())));
  }
  const pb::VersionDef& v = header.version();
  if (v.producer() < 0 || v.min_consumer() > kBundleVersion) {
    return Status::Unsupported(fmt::format(
        "'{}' needs a reader of version {} or newer (producer {}); tfckpt reads version {}", index,
        v.min_consumer(), v.producer(), kBundleVersion));
  }
  for (int bad : v.bad_consumers()) {
    if (bad == kBundleVersion) {
      return Status::Unsupported(
          fmt::format("'{}' disallows readers of version {}", index, kBundleVersion));
    }
  }
  return Status::OK();
}

DataLocation LocationFromProto(const pb::BundleEntryProto& e) {
  return DataLocation{e.shard_id(), e.offset(), e.size(), e.crc32c()};
}

}  // namespace

const char* FormatName(Checkpoint::Format format) {
  switch (format) {
    case Checkpoint::Format::kTensorSliceV1:
      return "v1";
    case Checkpoint::Format::kKeras:
      return "keras";
    default:
      return "v2";
  }
}

std::string Checkpoint::data_path(int shard_id) const {
  if (format_ == Format::kTensorSliceV1) return V1FilePath(shard_id);
  if (format_ == Format::kKeras) return KerasSourcePath(shard_id);
  return fmt::format("{}.data-{:05d}-of-{:05d}", prefix_, shard_id, num_shards_);
}

std::string Checkpoint::index_path() const {
  if (format_ == Format::kKeras) return prefix_;
  return format_ == Format::kTensorSliceV1 ? data_path(0) : prefix_ + ".index";
}

int64_t Checkpoint::data_file_size(int shard_id) const {
  if (shard_id < 0 || shard_id >= static_cast<int>(data_files_.size())) return -1;
  return data_files_[shard_id] ? data_files_[shard_id]->size() : -1;
}

std::string Checkpoint::DescribeIncomplete() const {
  if (missing_data_files_.empty()) return "";
  const size_t n = missing_data_files_.size();
  constexpr size_t kNamed = 3;  // a damaged header may name a million files: list a few
  const auto last = missing_data_files_.begin() + static_cast<std::ptrdiff_t>(std::min(n, kNamed));
  std::string named = fmt::format("'{}'", fmt::join(missing_data_files_.begin(), last, "', '"));
  if (n > kNamed) named += fmt::format(" and {} more", n - kNamed);
  return fmt::format(
      "checkpoint '{}' is incomplete: {} of its {} data file{} {} missing ({}); its names, "
      "dtypes and shapes are all known, but values stored in {} cannot be read until {} copied "
      "next to the index",
      prefix_, n, num_shards_, num_shards_ == 1 ? "" : "s", n == 1 ? "is" : "are", named,
      n == 1 ? "it" : "them", n == 1 ? "it is" : "they are");
}

Status Checkpoint::Open(const std::string& path, const OpenOptions& options,
                        std::unique_ptr<Checkpoint>* result) {
  std::unique_ptr<Checkpoint> ckpt(new Checkpoint());
  std::shared_ptr<const ByteSource> keras;  // (opened once: to recognise it, then to read it)
  if (!IsRemotePath(path) && !options.step && LooksLikeKeras(path, &keras)) {
    TFCKPT_RETURN_IF_ERROR(ckpt->LoadKeras(path, std::move(keras)));
    *result = std::move(ckpt);
    return Status::OK();
  }
  std::string prefix;
  Status resolved = ResolveCheckpointPath(path, options.step, &prefix);
  if (!resolved.ok() && IsRemotePath(path) && !options.step && LooksLikeKeras(path, &keras)) {
    TFCKPT_RETURN_IF_ERROR(ckpt->LoadKeras(path, std::move(keras)));
    *result = std::move(ckpt);
    return Status::OK();
  }
  TFCKPT_RETURN_IF_ERROR(resolved);
  TFCKPT_RETURN_IF_ERROR(ckpt->Load(prefix));
  *result = std::move(ckpt);
  return Status::OK();
}

Status Checkpoint::Load(const std::string& prefix) {
  if (!file::Exists(prefix + ".index") && v1_files::Exists(prefix)) return LoadV1(prefix);
  prefix_ = prefix;
  const std::string index = index_path();
  bool first = true;
  std::map<std::string, pb::BundleEntryProto, std::less<>> slice_entries;
  std::vector<std::pair<size_t, pb::BundleEntryProto>> sliced;  // (tensor, entry listing slices)

  Status s = ForEachIndexEntry(index, [&](std::string_view key, std::string_view value) -> Status {
    if (first) {
      first = false;
      if (!key.empty()) {
        return Status::Corruption(fmt::format(
            "'{}' has no header entry (the empty key must come first): it is damaged or is not a "
            "TensorFlow V2 checkpoint index",
            index));
      }
      pb::BundleHeaderProto header;
      if (!header.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
        return Status::Corruption(fmt::format("the header of '{}' is not parseable", index));
      }
      TFCKPT_RETURN_IF_ERROR(CheckHeader(header, index));
      num_shards_ = header.num_shards();
      big_endian_ = header.endianness() == pb::BundleHeaderProto::BIG;
      return Status::OK();
    }
    pb::BundleEntryProto entry;
    if (!entry.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      return Status::Corruption(fmt::format("the entry of tensor '{}' in '{}' is not parseable",
                                            PrintableKey(key), index));
    }
    if (slice_key::LooksLikeSliceKey(key)) {
      slice_entries.emplace(std::string(key), std::move(entry));
      return Status::OK();
    }
    TensorInfo info;
    info.name = std::string(key);
    info.dtype = static_cast<DType>(entry.dtype());
    Status shape_status = ShapeFromProto(entry.shape(), &info.shape);
    if (!shape_status.ok()) {
      return Status::Corruption(
          fmt::format("tensor '{}' in '{}': {}", PrintableKey(key), index, shape_status.message()));
    }
    info.location = LocationFromProto(entry);
    if (entry.slices_size() > 0) sliced.emplace_back(tensors_.size(), std::move(entry));
    tensors_.push_back(std::move(info));
    return Status::OK();
  });
  TFCKPT_RETURN_IF_ERROR(s);
  if (first) {
    return Status::Corruption(fmt::format("'{}' is an empty table: it has no header entry", index));
  }

  // Attach the stored slices of partitioned tensors to their full entries.
  for (const auto& [i, entry] : sliced) {
    TensorInfo& info = tensors_[i];
    for (const pb::TensorSliceProto& sp : entry.slices()) {
      SlicePart part;
      part.slice = SliceFromProto(sp);
      if (part.slice.extents.size() != info.shape.size()) {
        return Status::Corruption(fmt::format(
            "partitioned tensor '{}' in '{}' lists a slice of rank {} for a tensor of rank {}",
            PrintableKey(info.name), index, part.slice.extents.size(), info.shape.size()));
      }
      part.key = slice_key::Encode(info.name, part.slice);
      auto it = slice_entries.find(part.key);
      if (it == slice_entries.end()) {
        return Status::Corruption(fmt::format(
            "partitioned tensor '{}' in '{}' lists slice [{}] but the index has no entry for it",
            PrintableKey(info.name), index, part.slice.ToString()));
      }
      Status shape_status = ShapeFromProto(it->second.shape(), &part.shape);
      if (!shape_status.ok() || static_cast<DType>(it->second.dtype()) != info.dtype) {
        return Status::Corruption(
            fmt::format("slice [{}] of partitioned tensor '{}' in '{}' has a bad shape or dtype",
                        part.slice.ToString(), PrintableKey(info.name), index));
      }
      part.location = LocationFromProto(it->second);
      info.slices.push_back(std::move(part));
    }
  }

  // Open (map) every data file there is.
  remote_ = IsRemotePath(prefix_);
  data_files_.resize(num_shards_);
  for (int i = 0; i < num_shards_; i++) {
    std::string path = data_path(i);
    if (IsRemotePath(path)) {  // (one request, not two)
      Status s = OpenByteSource(path, &data_files_[i]);
      if (IsMissingObject(s)) {
        missing_data_files_.push_back(std::move(path));
        continue;
      }
      TFCKPT_RETURN_IF_ERROR(s);
      continue;
    }
    if (!file::Exists(path)) {
      missing_data_files_.push_back(std::move(path));
      continue;
    }
    TFCKPT_RETURN_IF_ERROR(OpenByteSource(path, &data_files_[i]));
  }
  return Status::OK();
}

const TensorInfo* Checkpoint::Find(std::string_view name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const TensorInfo& t, std::string_view n) { return t.name < n; });
  if (it == tensors_.end() || it->name != name) return nullptr;
  return &*it;
}

std::string Checkpoint::DescribeLocation(const DataLocation& loc) const {
  if (format_ == Format::kTensorSliceV1) return DescribeV1Location(loc);
  std::string file = loc.shard_id >= 0 && loc.shard_id < num_shards_
                         ? (format_ == Format::kKeras ? data_files_[loc.shard_id]->name()
                                                      : data_path(loc.shard_id))
                         : fmt::format("{}.data-? (shard {})", prefix_, loc.shard_id);
  return fmt::format("'{}' at offset {}, {} bytes", file, loc.offset, loc.size);
}

void Checkpoint::Release(const DataLocation& loc) const {
  if (format_ == Format::kTensorSliceV1) return;  // (its values were decoded into new memory)
  if (loc.shard_id >= 0 && loc.shard_id < num_shards_ && data_files_[loc.shard_id]) {
    data_files_[loc.shard_id]->Release(loc.offset, loc.size);
  }
}

std::shared_ptr<const ByteSource> Checkpoint::data_file(int shard_id) const {
  if (shard_id < 0 || shard_id >= static_cast<int>(data_files_.size())) return nullptr;
  return data_files_[shard_id];
}

Status Checkpoint::RawBytes(const DataLocation& loc, std::span<const uint8_t>* bytes,
                            std::shared_ptr<const void>* keepalive) const {
  if (loc.shard_id < 0 || loc.shard_id >= num_shards_) {
    return Status::Corruption(
        fmt::format("shard {} does not exist (the checkpoint has {})", loc.shard_id, num_shards_));
  }
  if (format_ == Format::kTensorSliceV1) {
    return Status::Unsupported(
        fmt::format("'{}' is a V1 checkpoint: its values are stored as protos, not as the bytes "
                    "of a tensor; read the tensor instead",
                    prefix_));
  }
  if (!data_files_[loc.shard_id]) {
    return Status::NotFound(fmt::format(
        "it is stored in '{}', which is missing: the index names {} data file{}; copy the missing "
        "file next to the index",
        data_path(loc.shard_id), num_shards_, num_shards_ == 1 ? "" : "s"));
  }
  return ViewRange(data_files_[loc.shard_id], loc.offset, loc.size, bytes, keepalive);
}

Status Checkpoint::ReadPiece(std::string_view name, DType dtype, const Shape& shape,
                             const DataLocation& loc, const ReadOptions& options,
                             Tensor* tensor) const {
  auto fail = [&](const Status& s) {
    if (s.code() == Status::Code::kNotFound) {  // its data file is missing
      return s.WithMessage(fmt::format("cannot read tensor '{}' of checkpoint '{}': {}",
                                       PrintableKey(name), prefix_, s.message()));
    }
    if (s.code() != Status::Code::kCorruption && s.code() != Status::Code::kDataLoss) return s;
    return s.WithMessage(fmt::format("tensor '{}' in {}: {}", PrintableKey(name),
                                     DescribeLocation(loc), s.message()));
  };
  if (format_ == Format::kTensorSliceV1) {
    Status s = ReadV1Piece(name, dtype, shape, loc, tensor);
    if (s.ok()) return s;
    return s.WithMessage(fmt::format("tensor '{}' in V1 checkpoint {}: {}", PrintableKey(name),
                                     DescribeLocation(loc), s.message()));
  }
  if (format_ == Format::kKeras) TFCKPT_RETURN_IF_ERROR(KerasUnreadable(name));
  std::span<const uint8_t> bytes;
  std::shared_ptr<const void> keepalive;
  Status s = RawBytes(loc, &bytes, &keepalive);
  if (!s.ok()) return fail(s);
  const int64_t n = NumElements(shape).value_or(-1);
  if (IsFixedSize(dtype)) {
    const int64_t expected = NumBytes(dtype, shape).value_or(-1);
    if (expected < 0 || loc.size != expected) {
      return fail(
          Status::Corruption(fmt::format("the entry says {} bytes but {} {} elements take {} bytes",
                                         loc.size, n, DTypeName(dtype), expected)));
    }
    if (options.verify_checksums && format_ != Format::kKeras) {  // (HDF5 has none)
      uint32_t crc = crc32c::Mask(crc32c::Value(bytes));
      if (crc != loc.masked_crc32c) {
        return fail(Status::DataLoss(
            fmt::format("checksum mismatch: the index expects {:#010x}, the data gives {:#010x}",
                        loc.masked_crc32c, crc)));
      }
    }
    if (big_endian_ && byte_order::SwapUnit(dtype) != 1) {
      std::vector<uint8_t> swapped;
      s = byte_order::ToLittleEndian(dtype, bytes, &swapped);
      if (!s.ok()) {
        return s.WithMessage(fmt::format("tensor '{}' of checkpoint '{}': {}", PrintableKey(name),
                                         prefix_, s.message()));
      }
      *tensor = Tensor::Owned(dtype, shape, std::move(swapped));
      return Status::OK();
    }
    *tensor = Tensor::View(dtype, shape, bytes, std::move(keepalive));
    return Status::OK();
  }
  if (dtype == DType::kVariant && big_endian_) {
    return Status::Unsupported(
        fmt::format("variant tensor '{}' of checkpoint '{}' cannot be read: the checkpoint was "
                    "written on a big-endian machine, and variants cannot be byte-swapped "
                    "(TensorFlow refuses them too)",
                    PrintableKey(name), prefix_));
  }
  if (dtype == DType::kString || dtype == DType::kVariant) {
    std::vector<std::string_view> elements;
    uint32_t crc = 0;
    s = dtype == DType::kString
            ? string_tensor::ParseStrings(bytes, n, &elements, &crc, big_endian_)
            : string_tensor::ParseVariants(bytes, n, &elements, &crc);
    if (!s.ok()) return fail(s);
    if (options.verify_checksums && crc32c::Mask(crc) != loc.masked_crc32c) {
      return fail(Status::DataLoss(
          fmt::format("checksum mismatch: the index expects {:#010x}, the data gives {:#010x}",
                      loc.masked_crc32c, crc32c::Mask(crc))));
    }
    *tensor = Tensor::Elements(dtype, shape, std::move(elements), std::move(keepalive));
    return Status::OK();
  }
  return Status::Unsupported(fmt::format("tensor '{}' has dtype {}, which a checkpoint cannot hold",
                                         PrintableKey(name), DTypeName(dtype)));
}

Status Checkpoint::Read(const TensorInfo& info, const ReadOptions& options, Tensor* tensor) const {
  if (!info.partitioned()) {
    return ReadPiece(info.name, info.dtype, info.shape, info.location, options, tensor);
  }
  if (!IsFixedSize(info.dtype) && info.dtype != DType::kString) {
    return Status::Unsupported(fmt::format(
        "partitioned tensor '{}' has dtype {}; only fixed-size dtypes and strings can be "
        "assembled from slices",
        PrintableKey(info.name), DTypeName(info.dtype)));
  }
  TFCKPT_RETURN_IF_ERROR(CheckSliceLayout(info));
  // Every piece is read (a view, or decoded) before the full tensor is allocated, so that its
  // size is bounded by data that exists, not by what a damaged index claims.
  const std::optional<int64_t> total = NumElements(info.shape);
  const std::optional<int64_t> full_bytes =
      info.dtype == DType::kString ? total : NumBytes(info.dtype, info.shape);
  if (!total || !full_bytes) {
    return Status::Corruption(
        fmt::format("partitioned tensor '{}' of checkpoint '{}' claims a "
                    "shape {} too large to hold in memory",
                    PrintableKey(info.name), prefix_, ShapeToString(info.shape)));
  }
  auto pieces = std::make_shared<std::vector<Tensor>>(info.slices.size());
  for (size_t i = 0; i < info.slices.size(); i++) {
    const SlicePart& part = info.slices[i];
    TFCKPT_RETURN_IF_ERROR(
        ReadPiece(info.name, info.dtype, part.shape, part.location, options, &(*pieces)[i]));
  }
  if (info.dtype == DType::kString) {
    // The elements are views: gather them (as arrays of views) and keep every piece alive.
    std::vector<std::string_view> full(static_cast<size_t>(*total));
    for (size_t i = 0; i < info.slices.size(); i++) {
      CopySliceIntoFull(reinterpret_cast<const uint8_t*>((*pieces)[i].elements().data()),
                        info.shape, info.slices[i].slice, sizeof(std::string_view),
                        reinterpret_cast<uint8_t*>(full.data()));
    }
    *tensor = Tensor::Elements(info.dtype, info.shape, std::move(full), std::move(pieces));
    return Status::OK();
  }
  const int64_t esize = DTypeSize(info.dtype);
  std::vector<uint8_t> full(static_cast<size_t>(*full_bytes));
  for (size_t i = 0; i < info.slices.size(); i++) {
    CopySliceIntoFull((*pieces)[i].bytes().data(), info.shape, info.slices[i].slice, esize,
                      full.data());
  }
  *tensor = Tensor::Owned(info.dtype, info.shape, std::move(full));
  return Status::OK();
}

Status Checkpoint::Read(std::string_view name, Tensor* tensor) const {
  const TensorInfo* info = Find(name);
  if (info == nullptr) {
    return Status::NotFound(fmt::format(
        "tensor '{}' is not in checkpoint '{}'; list its tensors (`ls`) to see the names it has",
        PrintableKey(name), prefix_));
  }
  return Read(*info, ReadOptions(), tensor);
}

}  // namespace tfckpt
