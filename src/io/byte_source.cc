#include "io/byte_source.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "io/file_util.h"
#include "io/mapped_file.h"
#include "io/remote_source.h"
#include "tfckpt/remote.h"

namespace tfckpt {

const std::string& ByteSource::local_path() const {
  static const std::string kNone;
  return kNone;
}

const std::string& ByteSource::version() const {
  static const std::string kNone;
  return kNone;
}

namespace {

class Memory : public ByteSource {
 public:
  Memory(std::span<const uint8_t> bytes, std::string name)
      : bytes_(bytes), name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  int64_t size() const override { return static_cast<int64_t>(bytes_.size()); }
  Status ReadAt(int64_t offset, int64_t n, void* out) const override {
    if (offset < 0 || n < 0 || offset > size() || n > size() - offset) {
      return Status::Corruption(fmt::format("bytes {}..{} lie outside '{}', which has {} bytes",
                                            offset, offset + n, name_, size()));
    }
    if (n > 0) std::memcpy(out, bytes_.data() + offset, static_cast<size_t>(n));
    return Status::OK();
  }
  bool Mapping(std::span<const uint8_t>* whole) const override {
    *whole = bytes_;
    return true;
  }

 private:
  std::span<const uint8_t> bytes_;
  std::string name_;
};

// A Memory over bytes it owns.
class OwnedMemory : public Memory {
 public:
  OwnedMemory(std::unique_ptr<std::string> bytes, std::string name)
      : Memory({reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()}, std::move(name)),
        bytes_(std::move(bytes)) {}

 private:
  std::unique_ptr<std::string> bytes_;  // (a pointer: the view above stays valid when moved)
};

// A range of another source.
class Slice : public ByteSource {
 public:
  Slice(std::shared_ptr<const ByteSource> parent, int64_t offset, int64_t size, std::string name)
      : parent_(std::move(parent)), offset_(offset), size_(size), name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  int64_t size() const override { return size_; }
  Status ReadAt(int64_t offset, int64_t n, void* out) const override {
    if (offset < 0 || n < 0 || offset > size_ || n > size_ - offset) {
      return Status::Corruption(fmt::format("bytes {}..{} lie outside '{}', which has {} bytes",
                                            offset, offset + n, name_, size_));
    }
    return parent_->ReadAt(offset_ + offset, n, out);
  }
  bool Mapping(std::span<const uint8_t>* whole) const override {
    std::span<const uint8_t> all;
    if (!parent_->Mapping(&all)) return false;
    *whole = all.subspan(static_cast<size_t>(offset_), static_cast<size_t>(size_));
    return true;
  }
  const std::string& version() const override { return parent_->version(); }
  void Release(int64_t offset, int64_t n) const override { parent_->Release(offset_ + offset, n); }

 private:
  std::shared_ptr<const ByteSource> parent_;
  int64_t offset_, size_;
  std::string name_;
};

}  // namespace

Status SliceSource(std::shared_ptr<const ByteSource> parent, int64_t offset, int64_t size,
                   std::string name, std::shared_ptr<const ByteSource>* slice) {
  if (offset < 0 || size < 0 || offset > parent->size() || size > parent->size() - offset) {
    return Status::Corruption(fmt::format("bytes {}..{} lie outside '{}', which has {} bytes",
                                          offset, offset + size, parent->name(), parent->size()));
  }
  *slice = std::make_shared<Slice>(std::move(parent), offset, size, std::move(name));
  return Status::OK();
}

std::shared_ptr<const ByteSource> OwnedMemorySource(std::string bytes, std::string name) {
  return std::make_shared<OwnedMemory>(std::make_unique<std::string>(std::move(bytes)),
                                       std::move(name));
}

std::shared_ptr<const ByteSource> MemorySource(std::span<const uint8_t> bytes, std::string name) {
  return std::make_shared<Memory>(bytes, std::move(name));
}

Status OpenByteSource(const std::string& path, std::shared_ptr<const ByteSource>* source) {
  if (IsRemotePath(path)) return RemoteSource::Open(path, source);
  std::shared_ptr<MappedFile> file;
  TFCKPT_RETURN_IF_ERROR(MappedFile::Open(path, &file));
  *source = std::move(file);
  return Status::OK();
}

Status ViewRange(const std::shared_ptr<const ByteSource>& source, int64_t offset, int64_t n,
                 std::span<const uint8_t>* bytes, std::shared_ptr<const void>* keepalive) {
  const int64_t size = source->size();
  if (offset < 0 || n < 0 || offset > size || n > size - offset) {
    return Status::Corruption(fmt::format(
        "bytes {}..{} lie outside '{}', which has {} bytes (the file is truncated or the index is "
        "damaged)",
        offset, offset + n, source->name(), size));
  }
  std::span<const uint8_t> whole;
  if (source->Mapping(&whole)) {
    *bytes = whole.subspan(static_cast<size_t>(offset), static_cast<size_t>(n));
    *keepalive = source;
    return Status::OK();
  }
  auto buffer = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(n));
  TFCKPT_RETURN_IF_ERROR(source->ReadAt(offset, n, buffer->data()));
  *bytes = std::span<const uint8_t>(buffer->data(), buffer->size());
  *keepalive = std::move(buffer);
  return Status::OK();
}

Status CopyFromSource(const ByteSource& source, int64_t offset, int64_t size, int dst_fd,
                      const std::string& dst) {
  if (source.kernel_fd() >= 0) {
    return file::CopyRange(source.kernel_fd(), source.name(), offset, size, dst_fd, dst);
  }
  std::vector<uint8_t> buffer(static_cast<size_t>(std::min<int64_t>(size, int64_t{1} << 20)));
  for (int64_t done = 0; done < size;) {
    const int64_t n = std::min<int64_t>(size - done, static_cast<int64_t>(buffer.size()));
    TFCKPT_RETURN_IF_ERROR(source.ReadAt(offset + done, n, buffer.data()));
    TFCKPT_RETURN_IF_ERROR(file::WriteAll(dst_fd, buffer.data(), static_cast<size_t>(n), dst));
    done += n;
  }
  return Status::OK();
}

Status ReadWholeSource(const std::string& path, std::string* contents) {
  std::shared_ptr<const ByteSource> source;
  TFCKPT_RETURN_IF_ERROR(OpenByteSource(path, &source));
  contents->resize(static_cast<size_t>(source->size()));
  return source->ReadAt(0, source->size(), contents->data());
}

}  // namespace tfckpt
