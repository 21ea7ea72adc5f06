// Checkpoint (tfckpt/checkpoint.h) over a Keras model file (format/keras.h): its weights listed
// as tensors at Open; values are views on the HDF5 bytes (data file 0) or, for the few bytes of a
// compact dataset, on a buffer of them (data file 1). HDF5 as Keras writes it has no checksums;
// a `.keras` archive's CRC-32 of the weights member is checked by KerasCheckArchive.

#include <algorithm>
#include <map>
#include <span>
#include <vector>

#include <fmt/format.h>

#include "format/keras.h"
#include "format/zip.h"
#include "io/byte_source.h"
#include "io/file_util.h"
#include "tfckpt/checkpoint.h"
#include "tfckpt/remote.h"

namespace tfckpt {

struct Checkpoint::Keras {
  keras::File file;
  std::string source_path;  // the file holding the weights, for output checks and messages
  std::vector<std::string> file_paths;  // of each data file but the compact values
  std::string compact;                  // the values of compact datasets, data file 1
  std::map<std::string, std::string, std::less<>> unsupported;  // tensor -> why unreadable
};

bool Checkpoint::LooksLikeKeras(const std::string& path,
                                std::shared_ptr<const ByteSource>* source) {
  source->reset();
  if (path.ends_with(".index")) return false;
  if (keras::IsShardedWeights(path)) return IsRemotePath(path) || file::IsRegularFile(path);
  if (IsRemotePath(path)) {
    if (path.ends_with("/")) return false;
  } else {
    if (keras::IsKerasDirectory(path)) return true;
    if (!file::IsRegularFile(path)) return false;
  }
  return OpenByteSource(path, source).ok() && keras::LooksLikeKerasFile(**source);
}

Status Checkpoint::LoadKeras(const std::string& path, std::shared_ptr<const ByteSource> source) {
  format_ = Format::kKeras;
  prefix_ = path;
  remote_ = IsRemotePath(path);
  auto state = std::make_shared<Keras>();
  keras_ = state;
  keras::File& f = state->file;
  TFCKPT_RETURN_IF_ERROR(source ? keras::OpenSource(std::move(source), path, &f)
                                : keras::Open(path, &f));
  state->source_path =
      f.kind == keras::File::Kind::kDirectory ? file::Join(path, "model.weights.h5") : path;
  state->file_paths = f.file_paths;
  const int compact_file = static_cast<int>(f.files.size());
  num_shards_ = compact_file + 1;
  data_files_ = f.files;
  for (const keras::Variable& v : f.variables) {
    if (v.dtype == DType::kInvalid) {
      return Status::Unsupported(fmt::format("weight '{}' ({}) of '{}' cannot be read: {}", v.name,
                                             v.dataset_path, f.weights_name, v.unsupported));
    }
    TensorInfo t;
    t.name = v.name;
    t.dtype = v.dtype;
    t.shape = v.shape;
    t.location.size = v.size;
    if (!v.unsupported.empty()) {  // (an empty range: it is never read)
      t.location = DataLocation{compact_file, 0, 0, 0};
      state->unsupported.emplace(
          v.name, fmt::format("weight '{}' ({}) of '{}' cannot be read: {}", v.name, v.dataset_path,
                              f.weights_name, v.unsupported));
    } else if (v.offset < 0) {
      t.location.shard_id = compact_file;
      t.location.offset = static_cast<int64_t>(state->compact.size());
      state->compact += v.compact;
    } else {
      t.location.shard_id = v.file;
      t.location.offset = v.offset;
    }
    tensors_.push_back(std::move(t));
  }
  data_files_.push_back(
      MemorySource({reinterpret_cast<const uint8_t*>(state->compact.data()), state->compact.size()},
                   f.weights_name + " (compact values)"));
  return Status::OK();
}

const keras::File* Checkpoint::keras_file() const {
  return format_ == Format::kKeras ? &keras_->file : nullptr;
}

const std::string& Checkpoint::KerasSourcePath(int shard_id) const {
  const auto& paths = keras_->file_paths;
  return shard_id >= 0 && static_cast<size_t>(shard_id) < paths.size() ? paths[shard_id]
                                                                       : keras_->source_path;
}

Status Checkpoint::KerasCheckArchive() const {
  const keras::File& f = keras_->file;
  if (!f.weights_crc32) return Status::OK();
  const ByteSource& w = *f.weights;
  uint32_t crc = 0;
  std::span<const uint8_t> whole;
  if (w.Mapping(&whole)) {
    crc = zip::Crc32(0, whole.data(), whole.size());
  } else {
    std::vector<char> buffer(size_t{8} << 20);
    for (int64_t at = 0; at < w.size();) {
      const int64_t n = std::min<int64_t>(static_cast<int64_t>(buffer.size()), w.size() - at);
      TFCKPT_RETURN_IF_ERROR(w.ReadAt(at, n, buffer.data()));
      crc = zip::Crc32(crc, buffer.data(), static_cast<size_t>(n));
      at += n;
    }
  }
  if (crc != *f.weights_crc32) {
    return Status::DataLoss(fmt::format(
        "{} does not match the CRC-32 the archive records for it ({:#010x}, found {:#010x}): "
        "the file is damaged",
        f.weights_name, *f.weights_crc32, crc));
  }
  return Status::OK();
}

Status Checkpoint::KerasUnreadable(std::string_view name) const {
  auto it = keras_->unsupported.find(name);
  if (it == keras_->unsupported.end()) return Status::OK();
  return Status::Unsupported(it->second);
}

}  // namespace tfckpt
