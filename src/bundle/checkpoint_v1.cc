// Checkpoint (tfckpt/checkpoint.h) over a V1 checkpoint: its files' metadata merged into one
// list of tensors at Open, values looked up by slice key and decoded when read.

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "bundle/entry_codec.h"
#include "bundle/v1_reader.h"
#include "format/index_table.h"
#include "format/slice_key.h"
#include "format/v1_files.h"
#include "io/byte_source.h"
#include "tfckpt/checkpoint.h"

namespace tfckpt {

struct Checkpoint::V1 {
  std::vector<std::string> files;
  std::vector<std::unique_ptr<IndexTable>> tables;
  // The slice key of every stored piece; a piece's DataLocation is (file, index in this list).
  std::vector<std::string> keys;
};

// (Defined here, where V1 is complete.)
Checkpoint::Checkpoint() = default;
Checkpoint::~Checkpoint() = default;

std::string Checkpoint::V1FilePath(int shard_id) const {
  if (!v1_ || shard_id < 0 || shard_id >= static_cast<int>(v1_->files.size())) {
    return fmt::format("{} (file {})", prefix_, shard_id);
  }
  return v1_->files[static_cast<size_t>(shard_id)];
}

std::string Checkpoint::DescribeV1Location(const DataLocation& loc) const {
  if (loc.offset < 0 || loc.offset >= static_cast<int64_t>(v1_->keys.size())) {
    return fmt::format("'{}' (piece {})", V1FilePath(loc.shard_id), loc.offset);
  }
  std::string name;
  TensorSlice slice;
  if (!slice_key::Decode(v1_->keys[static_cast<size_t>(loc.offset)], &name, &slice)) {
    return fmt::format("'{}'", V1FilePath(loc.shard_id));
  }
  return fmt::format("'{}', slice [{}] of '{}'", V1FilePath(loc.shard_id), slice.ToString(),
                     PrintableKey(name));
}

Status Checkpoint::LoadV1(const std::string& name) {
  format_ = Format::kTensorSliceV1;
  prefix_ = name;
  v1_ = std::make_unique<V1>();
  std::vector<std::string> missing;
  v1_files::Files(name, &v1_->files, &missing);
  if (!missing.empty()) {
    const size_t n = missing.size();
    constexpr size_t kNamed = 3;  // a damaged name may promise 99999 files: list a few
    std::string named = fmt::format(
        "'{}'",
        fmt::join(missing.begin(),
                  missing.begin() + static_cast<std::ptrdiff_t>(std::min(n, kNamed)), "', '"));
    if (n > kNamed) named += fmt::format(" and {} more", n - kNamed);
    return Status::NotFound(fmt::format(
        "V1 checkpoint '{}' is incomplete: {} of its {} files {} missing ({}); each file lists "
        "only its own tensors, so none can be listed with certainty; copy the missing file{} "
        "next to the others",
        name, n, n + v1_->files.size(), n == 1 ? "is" : "are", named, n == 1 ? "" : "s"));
  }
  num_shards_ = static_cast<int>(v1_->files.size());

  struct Pending {
    TensorInfo info;
    std::string first_file;
    std::vector<SlicePart> parts;
    std::set<std::string> keys;
  };
  std::map<std::string, Pending, std::less<>> by_name;
  for (int i = 0; i < num_shards_; i++) {
    const std::string& path = v1_->files[static_cast<size_t>(i)];
    std::shared_ptr<const ByteSource> source;
    TFCKPT_RETURN_IF_ERROR(OpenByteSource(path, &source));
    std::unique_ptr<IndexTable> table;
    TFCKPT_RETURN_IF_ERROR(IndexTable::Open(source, &table));
    bool found = false;
    std::string_view value;
    std::shared_ptr<const void> hold;
    TFCKPT_RETURN_IF_ERROR(table->Get("", &found, &value, &hold));
    if (!found) {
      return Status::Corruption(fmt::format(
          "'{}' has no metadata (no entry under the empty key): it is damaged or is not a "
          "TensorFlow checkpoint",
          path));
    }
    std::vector<v1::TensorMeta> metas;
    TFCKPT_RETURN_IF_ERROR(v1::ParseMeta(value, path, &metas));
    for (v1::TensorMeta& m : metas) {
      auto [it, inserted] = by_name.try_emplace(m.name);
      Pending& p = it->second;
      if (inserted) {
        p.info.name = m.name;
        p.info.dtype = m.dtype;
        p.info.shape = m.shape;
        p.first_file = path;
      } else if (p.info.dtype != m.dtype || p.info.shape != m.shape) {
        return Status::Corruption(fmt::format(
            "tensor '{}' is {} {} in '{}' but {} {} in '{}': the files are not one checkpoint",
            PrintableKey(m.name), DTypeName(p.info.dtype), ShapeToString(p.info.shape),
            p.first_file, DTypeName(m.dtype), ShapeToString(m.shape), path));
      }
      for (TensorSlice& slice : m.slices) {
        SlicePart part;
        part.key = slice_key::Encode(m.name, slice);
        if (!p.keys.insert(part.key).second) {
          return Status::Corruption(fmt::format("tensor '{}': slice [{}] is listed twice",
                                                PrintableKey(m.name), slice.ToString()));
        }
        part.shape = slice.SliceShape(m.shape);
        part.slice = std::move(slice);
        const int64_t bytes = NumBytes(m.dtype, part.shape).value_or(0);
        part.location = DataLocation{i, static_cast<int64_t>(v1_->keys.size()),
                                     IsFixedSize(m.dtype) ? bytes : 0, 0};
        v1_->keys.push_back(part.key);
        p.parts.push_back(std::move(part));
      }
    }
    data_files_.push_back(std::move(source));
    v1_->tables.push_back(std::move(table));
  }

  for (auto& [tensor_name, p] : by_name) {
    if (p.parts.empty()) {
      return Status::Corruption(fmt::format("tensor '{}' is listed in '{}' with no stored slice",
                                            PrintableKey(tensor_name), p.first_file));
    }
    // The size of a string piece is known once its values are: read them now (string tensors
    // are vocabularies and labels, small), so that sizes are those a V2 bundle would store. A
    // value that does not decode keeps size 0 here and fails when it is read.
    if (p.info.dtype == DType::kString) {
      for (SlicePart& part : p.parts) {
        Tensor value;
        if (!ReadV1Piece(tensor_name, p.info.dtype, part.shape, part.location, &value).ok()) {
          continue;
        }
        int64_t size = 4;  // the lengths' checksum
        for (std::string_view e : value.elements()) {
          size += static_cast<int64_t>(e.size()) + 1;
          for (uint64_t n = e.size(); n >= 0x80; n >>= 7) size++;  // the varint's other bytes
        }
        part.location.size = size;
      }
    }
    const bool whole = p.parts.size() == 1 &&
                       std::all_of(p.parts[0].slice.extents.begin(), p.parts[0].slice.extents.end(),
                                   [](const SliceExtent& e) { return e.full(); });
    if (whole) {
      p.info.location = p.parts[0].location;
    } else {
      std::sort(p.parts.begin(), p.parts.end(),
                [](const SlicePart& a, const SlicePart& b) { return a.key < b.key; });
      p.info.slices = std::move(p.parts);
    }
    tensors_.push_back(std::move(p.info));
  }
  return Status::OK();
}

Status Checkpoint::ReadV1Piece(std::string_view name, DType dtype, const Shape& shape,
                               const DataLocation& loc, Tensor* tensor) const {
  if (loc.shard_id < 0 || loc.shard_id >= num_shards_ || loc.offset < 0 ||
      loc.offset >= static_cast<int64_t>(v1_->keys.size())) {
    return Status::Corruption(fmt::format("tensor '{}': no such stored piece in checkpoint '{}'",
                                          PrintableKey(name), prefix_));
  }
  const std::string& key = v1_->keys[static_cast<size_t>(loc.offset)];
  TensorSlice slice;
  std::string key_name;
  if (!slice_key::Decode(key, &key_name, &slice)) {
    return Status::Corruption("its slice key does not decode");
  }
  bool found = false;
  std::string_view value;
  std::shared_ptr<const void> hold;
  Status s = v1_->tables[static_cast<size_t>(loc.shard_id)]->Get(key, &found, &value, &hold);
  if (!s.ok()) return Status::DataLoss(s.message());
  if (!found) {
    return Status::DataLoss(
        "the file's metadata lists this slice but the file does not store it; the file is "
        "damaged");
  }
  return v1::DecodeSlice(value, key_name, slice, dtype, shape, tensor);
}

}  // namespace tfckpt
