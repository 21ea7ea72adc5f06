#include "format/index_table.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <vector>

#include <fmt/format.h>
#include <leveldb/env.h>
#include <leveldb/iterator.h>
#include <leveldb/options.h>
#include <leveldb/table.h>
#include <leveldb/table_builder.h>

#include "format/varint.h"
#include "io/byte_source.h"
#include "io/file_util.h"

namespace tfckpt {
namespace {

constexpr size_t kBlockSize = 256 * 1024;  // TensorFlow's table_options.h
constexpr int kRestartInterval = 16;
constexpr uint8_t kTableMagic[8] = {0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb};

// A LevelDB RandomAccessFile over a byte source: views on its mapping where it has one, else
// reads into LevelDB's scratch buffer.
class SourceRandomAccessFile : public leveldb::RandomAccessFile {
 public:
  explicit SourceRandomAccessFile(const ByteSource& file) : file_(file) {
    mapped_ = file_.Mapping(&whole_);
  }
  leveldb::Status Read(uint64_t offset, size_t n, leveldb::Slice* result,
                       char* scratch) const override {
    const uint64_t size = static_cast<uint64_t>(file_.size());
    if (offset > size) {
      *result = leveldb::Slice();
      return leveldb::Status::InvalidArgument("read past the end of the file");
    }
    size_t avail = static_cast<size_t>(std::min<uint64_t>(n, size - offset));
    if (mapped_) {
      *result = leveldb::Slice(reinterpret_cast<const char*>(whole_.data()) + offset, avail);
      return leveldb::Status::OK();
    }
    Status s = file_.ReadAt(static_cast<int64_t>(offset), static_cast<int64_t>(avail), scratch);
    if (!s.ok()) return leveldb::Status::IOError(file_.name(), s.message());
    *result = leveldb::Slice(scratch, avail);
    return leveldb::Status::OK();
  }

 private:
  const ByteSource& file_;
  bool mapped_ = false;
  std::span<const uint8_t> whole_;
};

// A LevelDB WritableFile over a file descriptor, buffered.
class FdWritableFile : public leveldb::WritableFile {
 public:
  FdWritableFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~FdWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  leveldb::Status Append(const leveldb::Slice& data) override {
    buf_.append(data.data(), data.size());
    if (buf_.size() >= (1 << 16)) return Flush();
    return leveldb::Status::OK();
  }
  leveldb::Status Flush() override {
    Status s = file::WriteAll(fd_, buf_.data(), buf_.size(), path_);
    buf_.clear();
    return s.ok() ? leveldb::Status::OK() : leveldb::Status::IOError(s.message());
  }
  leveldb::Status Sync() override {
    leveldb::Status s = Flush();
    if (s.ok() && ::fsync(fd_) != 0) return leveldb::Status::IOError(path_, std::strerror(errno));
    return s;
  }
  leveldb::Status Close() override {
    leveldb::Status s = Flush();
    if (::close(fd_) != 0 && s.ok()) s = leveldb::Status::IOError(path_, std::strerror(errno));
    fd_ = -1;
    return s;
  }

 private:
  int fd_;
  std::string path_;
  std::string buf_;
};

leveldb::Options TableOptions() {
  leveldb::Options options;
  options.block_size = kBlockSize;
  options.block_restart_interval = kRestartInterval;
  options.compression = leveldb::kNoCompression;
  options.paranoid_checks = true;
  return options;
}

}  // namespace

bool HasTableMagic(const std::string& path) {
  std::shared_ptr<const ByteSource> file;
  if (!OpenByteSource(path, &file).ok() || file->size() < 48) return false;
  uint8_t magic[8];
  return file->ReadAt(file->size() - 8, 8, magic).ok() && std::memcmp(magic, kTableMagic, 8) == 0;
}

Status ForEachIndexEntry(
    const std::string& path,
    const std::function<Status(std::string_view key, std::string_view value)>& fn) {
  std::shared_ptr<const ByteSource> file;
  TFCKPT_RETURN_IF_ERROR(OpenByteSource(path, &file));
  return ForEachIndexEntry(*file, fn);
}

Status ForEachIndexEntry(
    const ByteSource& file,
    const std::function<Status(std::string_view key, std::string_view value)>& fn) {
  // (The table only borrows the source: it does not outlive this call.)
  std::shared_ptr<const ByteSource> borrowed(&file, [](const ByteSource*) {});
  std::unique_ptr<IndexTable> table;
  TFCKPT_RETURN_IF_ERROR(IndexTable::Open(std::move(borrowed), &table));
  return table->ForEach(fn);
}

struct IndexTable::Impl {
  std::shared_ptr<const ByteSource> file;
  std::unique_ptr<SourceRandomAccessFile> raf;
  std::unique_ptr<leveldb::Table> table;
};

IndexTable::IndexTable() : impl_(new Impl) {}
IndexTable::~IndexTable() = default;

const std::string& IndexTable::name() const { return impl_->file->name(); }

Status IndexTable::Open(std::shared_ptr<const ByteSource> source,
                        std::unique_ptr<IndexTable>* result) {
  std::span<const uint8_t> whole;
  if (!source->Mapping(&whole) && source->size() >= 48) {
    // (A remote index: one read of all of it, in parallel parts, rather than a request per block.)
    auto bytes = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(source->size()));
    TFCKPT_RETURN_IF_ERROR(source->ReadAt(0, source->size(), bytes->data()));
    auto memory = MemorySource(*bytes, source->name());
    source = std::shared_ptr<const ByteSource>(memory.get(), [memory, bytes](const ByteSource*) {});
  }
  const ByteSource& file = *source;
  const std::string& path = file.name();
  if (file.size() < 48) {
    return Status::Corruption(fmt::format(
        "'{}' is {} bytes, too short to be a checkpoint index (at least 48 bytes); the file is "
        "truncated or not an index",
        path, file.size()));
  }
  // The footer is not covered by any CRC: check its block handles before LevelDB allocates
  // buffers of the sizes they claim.
  {
    char bytes[48];
    TFCKPT_RETURN_IF_ERROR(file.ReadAt(file.size() - 48, 48, bytes));
    std::string_view footer(bytes, 48);
    if (std::memcmp(footer.data() + 40, kTableMagic, 8) != 0) {
      return Status::Corruption(fmt::format(
          "'{}' is not a checkpoint index or V1 checkpoint file (its last 8 bytes are not the "
          "table magic number); the file is damaged, truncated or of another kind",
          path));
    }
    const uint64_t limit = static_cast<uint64_t>(file.size()) - 48;
    for (const char* what : {"metaindex", "index"}) {
      uint64_t offset = 0, size = 0;
      if (!ReadVarint64(&footer, &offset) || !ReadVarint64(&footer, &size) || offset > limit ||
          size > limit - offset || limit - offset - size < 5) {
        return Status::Corruption(fmt::format(
            "'{}' is damaged: its footer points its {} block outside the file", path, what));
      }
    }
  }
  std::unique_ptr<IndexTable> t(new IndexTable());
  t->impl_->file = std::move(source);
  t->impl_->raf = std::make_unique<SourceRandomAccessFile>(*t->impl_->file);
  leveldb::Table* raw = nullptr;
  leveldb::Status ls;
  try {
    ls = leveldb::Table::Open(TableOptions(), t->impl_->raf.get(),
                              static_cast<uint64_t>(file.size()), &raw);
  } catch (const std::bad_alloc&) {
    return Status::Corruption(
        fmt::format("'{}' is damaged: it claims a block larger than memory", path));
  }
  if (!ls.ok()) {
    return Status::Corruption(
        fmt::format("'{}' is not a readable checkpoint table: {}", path, ls.ToString()));
  }
  t->impl_->table.reset(raw);
  *result = std::move(t);
  return Status::OK();
}

Status IndexTable::ForEach(
    const std::function<Status(std::string_view key, std::string_view value)>& fn) const {
  const std::string& path = name();
  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  ro.fill_cache = false;
  std::unique_ptr<leveldb::Iterator> it(impl_->table->NewIterator(ro));
  try {
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      leveldb::Slice k = it->key(), v = it->value();
      TFCKPT_RETURN_IF_ERROR(
          fn(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size())));
    }
  } catch (const std::bad_alloc&) {
    return Status::Corruption(
        fmt::format("'{}' is damaged: it claims a block larger than memory", path));
  }
  if (!it->status().ok()) {
    return Status::Corruption(fmt::format("'{}' is damaged: {}", path, it->status().ToString()));
  }
  return Status::OK();
}

Status IndexTable::Get(std::string_view key, bool* found, std::string_view* value,
                       std::shared_ptr<const void>* keepalive) const {
  *found = false;
  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  ro.fill_cache = false;
  // The value is a view into the iterator's block: the iterator is what keeps it alive.
  std::shared_ptr<leveldb::Iterator> it(impl_->table->NewIterator(ro));
  try {
    it->Seek(leveldb::Slice(key.data(), key.size()));
  } catch (const std::bad_alloc&) {
    return Status::Corruption(
        fmt::format("'{}' is damaged: it claims a block larger than memory", name()));
  }
  if (!it->status().ok()) {
    return Status::Corruption(fmt::format("'{}' is damaged: {}", name(), it->status().ToString()));
  }
  if (!it->Valid() || std::string_view(it->key().data(), it->key().size()) != key) {
    return Status::OK();
  }
  *found = true;
  *value = std::string_view(it->value().data(), it->value().size());
  *keepalive = std::move(it);
  return Status::OK();
}

struct IndexTableWriter::Impl {
  std::string path;
  leveldb::Options options = TableOptions();
  std::unique_ptr<FdWritableFile> file;
  std::unique_ptr<leveldb::TableBuilder> builder;
};

IndexTableWriter::IndexTableWriter() : impl_(new Impl) {}
IndexTableWriter::~IndexTableWriter() {
  if (impl_->builder) impl_->builder->Abandon();
}

Status IndexTableWriter::Create(const std::string& path,
                                std::unique_ptr<IndexTableWriter>* writer) {
  int fd = -1;
  TFCKPT_RETURN_IF_ERROR(file::CreateNewFile(path, &fd));
  std::unique_ptr<IndexTableWriter> w(new IndexTableWriter());
  w->impl_->path = path;
  w->impl_->file = std::make_unique<FdWritableFile>(fd, path);
  w->impl_->builder =
      std::make_unique<leveldb::TableBuilder>(w->impl_->options, w->impl_->file.get());
  *writer = std::move(w);
  return Status::OK();
}

Status IndexTableWriter::Add(std::string_view key, std::string_view value) {
  leveldb::TableBuilder* b = impl_->builder.get();
  // TensorFlow's table builder starts a new block before an entry of at least two blocks.
  if (b->NumEntries() > 0 && key.size() + value.size() >= 2 * kBlockSize) b->Flush();
  b->Add(leveldb::Slice(key.data(), key.size()), leveldb::Slice(value.data(), value.size()));
  if (!b->status().ok()) {
    return Status::IOError(
        fmt::format("cannot write index '{}': {}", impl_->path, b->status().ToString()));
  }
  return Status::OK();
}

Status IndexTableWriter::Finish(bool sync) {
  leveldb::Status s = impl_->builder->Finish();
  impl_->builder.reset();
  if (s.ok() && sync) s = impl_->file->Sync();
  if (s.ok()) s = impl_->file->Close();
  if (!s.ok()) {
    return Status::IOError(fmt::format("cannot write index '{}': {}", impl_->path, s.ToString()));
  }
  return Status::OK();
}

}  // namespace tfckpt
