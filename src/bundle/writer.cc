#include "tfckpt/writer.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <regex>

#include <fmt/format.h>

#include "bundle/entry_codec.h"
#include "format/crc32c.h"
#include "format/index_table.h"
#include "format/slice_key.h"
#include "format/string_tensor.h"
#include "io/byte_source.h"
#include "io/commit.h"
#include "io/file_util.h"
#include "tfckpt.pb.h"

namespace tfckpt {
namespace {

constexpr size_t kBufferSize = 8 << 20;  // as TensorFlow's bundle writer

std::string DataName(const std::string& prefix, int shard, int num_shards) {
  return fmt::format("{}.data-{:05d}-of-{:05d}", prefix, shard, num_shards);
}

}  // namespace

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

struct BundleWriter::Impl {
  // One data file of the output.
  struct Shard {
    std::string temp_path;  // where it lies until the commit (empty for a pending move)
    std::string move_from;  // a source file renamed into place at the commit
    int64_t bytes = 0;
  };
  WriterOptions options;
  std::string prefix;
  std::unique_ptr<FileCommit> commit;  // every file of the output appears through it
  std::vector<Shard> shards;
  int current = -1;  // the shard being written, if any
  int fd = -1;       // its descriptor
  std::string buffer;
  TransferStats stats;
  std::map<std::string, pb::BundleEntryProto> entries;  // bytewise key order
  struct Partitioned {
    DType dtype;
    Shape shape;
    std::vector<TensorSlice> slices;
  };
  std::map<std::string, Partitioned> partitioned;
  // The tensor being streamed.
  bool streaming = false;
  std::string stream_name;
  pb::BundleEntryProto stream_entry;
  int64_t stream_left = 0;
  uint32_t stream_crc = 0;
  bool finished = false;
  bool failed = false;

  Status NewTempPath(std::string* path) {
    return commit->NewTemporary(fmt::format("{}.data-{}", prefix, shards.size()), path);
  }

  Status OpenShard() {
    std::string path;
    TFCKPT_RETURN_IF_ERROR(NewTempPath(&path));
    TFCKPT_RETURN_IF_ERROR(file::CreateNewFile(path, &fd));
    shards.push_back({path, "", 0});
    current = static_cast<int>(shards.size()) - 1;
    return Status::OK();
  }

  int64_t& shard_bytes() { return shards[current].bytes; }

  // Records an entry whose bytes already lie in an adopted data file.
  Status AddEntryAt(std::string key, DType dtype, const Shape& shape, const DataLocation& loc) {
    const int n = static_cast<int>(shards.size());
    const int64_t bytes = loc.shard_id >= 0 && loc.shard_id < n ? shards[loc.shard_id].bytes : 0;
    if (loc.shard_id < 0 || loc.shard_id >= n || loc.offset < 0 || loc.size < 0 ||
        loc.offset > bytes || loc.size > bytes - loc.offset) {
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

  // Validates a slice of a partitioned tensor and records it; gives its index key and shape.
  // Sets *whole (and records nothing) when the slice is the whole tensor.
  Status RegisterSlice(std::string_view full_name, const Shape& full_shape,
                       const TensorSlice& slice, DType dtype, std::string* key, Shape* slice_shape,
                       bool* whole);

  Status WriteAll(const char* p, size_t n) {
    Status s = file::WriteAll(fd, p, n, shards[current].temp_path);
    if (!s.ok()) failed = true;
    return s;
  }

  Status FlushBuffer() {
    Status s = WriteAll(buffer.data(), buffer.size());
    buffer.clear();
    return s;
  }

  // Appends data bytes to the current shard.
  Status Write(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    if (buffer.size() + n <= kBufferSize) {
      buffer.append(p, n);
    } else {
      TFCKPT_RETURN_IF_ERROR(FlushBuffer());
      if (n >= kBufferSize) {
        TFCKPT_RETURN_IF_ERROR(WriteAll(p, n));
      } else {
        buffer.append(p, n);
      }
    }
    shard_bytes() += static_cast<int64_t>(n);
    stats.bytes_written += static_cast<int64_t>(n);
    return Status::OK();
  }

  Status CloseShard() {
    if (fd < 0) return Status::OK();
    Status s = FlushBuffer();
    Status closed = file::SyncAndClose(fd, options.sync && s.ok(), shards[current].temp_path);
    if (s.ok()) s = closed;
    fd = -1;
    current = -1;
    return s;
  }

  // Makes sure a shard is open for the next `size` bytes, starting a new one when they would
  // overflow the current one.
  Status MaybeStartShard(int64_t size) {
    if (current >= 0 && options.max_shard_bytes > 0 && shard_bytes() > 0 &&
        shard_bytes() + size > options.max_shard_bytes) {
      TFCKPT_RETURN_IF_ERROR(CloseShard());
    }
    if (current < 0) TFCKPT_RETURN_IF_ERROR(OpenShard());
    return Status::OK();
  }

  // Copies a byte range of a source file to the end of the current shard.
  Status CopyIn(const ByteSource& src, const DataLocation& loc) {
    TFCKPT_RETURN_IF_ERROR(MaybeStartShard(loc.size));
    TFCKPT_RETURN_IF_ERROR(FlushBuffer());
    Status s = CopyFromSource(src, loc.offset, loc.size, fd, shards[current].temp_path);
    if (!s.ok()) {
      failed = true;
      return s;
    }
    shard_bytes() += loc.size;
    stats.ranges_copied++;
    stats.bytes_range_copied += loc.size;
    return Status::OK();
  }

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
    if (entries.count(std::string(name)) || partitioned.count(std::string(name))) {
      return Status::AlreadyExists(
          fmt::format("tensor '{}' was added twice to the checkpoint", PrintableKey(name)));
    }
    return Status::OK();
  }

  pb::BundleEntryProto NewEntry(DType dtype, const Shape& shape, int64_t size) {
    pb::BundleEntryProto e;
    e.set_dtype(static_cast<int32_t>(dtype));
    ShapeToProto(shape, e.mutable_shape());
    e.set_shard_id(current);
    e.set_offset(shard_bytes());
    e.set_size(size);
    return e;
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
        "replacing it (--force)",
        prefix, prefix));
  }
  TFCKPT_RETURN_IF_ERROR(file::CreateDirectories(file::Dirname(prefix)));
  std::unique_ptr<BundleWriter> w(new BundleWriter());
  w->prefix_ = prefix;
  w->impl_ = std::make_unique<Impl>();
  w->impl_->options = options;
  w->impl_->prefix = prefix;
  w->impl_->commit = std::make_unique<FileCommit>(options.sync);
  w->impl_->buffer.reserve(kBufferSize);
  *writer = std::move(w);
  return Status::OK();
}

BundleWriter::~BundleWriter() {
  if (impl_ && !impl_->finished) Abort();
}

void BundleWriter::Abort() {
  if (!impl_) return;
  if (impl_->fd >= 0) {
    ::close(impl_->fd);
    impl_->fd = -1;
  }
  impl_->commit->Abort();  // removes every temporary file
  impl_->shards.clear();
  impl_->finished = true;
}

Status BundleWriter::BeginTensor(std::string_view name, DType dtype, const Shape& shape,
                                 int64_t size) {
  Impl& m = *impl_;
  if (m.finished || m.failed) return Status::FailedPrecondition("the writer is closed");
  if (m.streaming) return Status::FailedPrecondition("another tensor is still being written");
  TFCKPT_RETURN_IF_ERROR(m.CheckName(name));
  TFCKPT_RETURN_IF_ERROR(m.CheckFixedSize(name, dtype, shape, size));
  TFCKPT_RETURN_IF_ERROR(m.MaybeStartShard(size));
  m.streaming = true;
  m.stream_name = std::string(name);
  m.stream_entry = m.NewEntry(dtype, shape, size);
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
  return m.Write(chunk.data(), chunk.size());
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
  if (m.finished || m.failed) return Status::FailedPrecondition("the writer is closed");
  if (m.streaming) return Status::FailedPrecondition("another tensor is still being written");
  // The index key and the stored shape: the tensor's own, or its slice's.
  std::string key(target.name);
  Shape shape = target.shape;
  bool whole = target.slice == nullptr;
  if (!whole) {
    TFCKPT_RETURN_IF_ERROR(m.RegisterSlice(target.name, target.shape, *target.slice, target.dtype,
                                           &key, &shape, &whole));
  }
  if (whole) {  // (a slice that covers the tensor is stored as the tensor, as TensorFlow does)
    TFCKPT_RETURN_IF_ERROR(m.CheckName(target.name));
    key = std::string(target.name);
    shape = target.shape;
  }
  if (bytes.kind == PieceBytes::Kind::kAdopted) {
    return m.AddEntryAt(std::move(key), target.dtype, shape, bytes.location);
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
  TFCKPT_RETURN_IF_ERROR(m.MaybeStartShard(size));
  pb::BundleEntryProto e = m.NewEntry(target.dtype, shape, size);
  e.set_crc32c(masked_crc);
  if (bytes.kind == PieceBytes::Kind::kCopied) {
    TFCKPT_RETURN_IF_ERROR(m.CopyIn(*bytes.file, bytes.location));
  } else {
    TFCKPT_RETURN_IF_ERROR(m.Write(bytes.bytes.data(), bytes.bytes.size()));
    total_bytes_ += size;
  }
  m.entries.emplace(std::move(key), std::move(e));
  return Status::OK();
}

Status BundleWriter::AddTensor(std::string_view name, const Tensor& tensor) {
  PieceTarget target{name, tensor.dtype(), tensor.shape()};
  if (IsFixedSize(tensor.dtype())) return Add(target, PieceBytes::InMemory(tensor.bytes()));
  auto n = NumElements(tensor.shape());
  if (!n || *n != static_cast<int64_t>(tensor.elements().size())) {
    return Status::InvalidArgument(
        fmt::format("tensor '{}' has shape {} but {} elements were given", PrintableKey(name),
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

Status BundleWriter::Impl::RegisterSlice(std::string_view full_name, const Shape& full_shape,
                                         const TensorSlice& slice, DType dtype, std::string* key,
                                         Shape* slice_shape, bool* whole) {
  if (slice.extents.size() != full_shape.size()) {
    return Status::InvalidArgument(fmt::format("slice [{}] of '{}' does not match its rank {}",
                                               slice.ToString(), PrintableKey(full_name),
                                               full_shape.size()));
  }
  *whole = true;
  for (size_t d = 0; d < full_shape.size(); d++) {
    const SliceExtent& e = slice.extents[d];
    if (!e.full() && (e.start < 0 || e.length < 0 || e.start > full_shape[d] ||
                      e.length > full_shape[d] - e.start)) {
      return Status::InvalidArgument(fmt::format("slice [{}] lies outside '{}' of shape {}",
                                                 slice.ToString(), PrintableKey(full_name),
                                                 ShapeToString(full_shape)));
    }
    if (!e.full()) *whole = false;  // as TensorFlow: only kFullExtent counts as whole
  }
  // A slice that is the whole tensor is stored as a plain tensor (as TensorFlow does).
  if (*whole) return Status::OK();
  if (!IsFixedSize(dtype)) {
    return Status::Unsupported(
        fmt::format("'{}': only fixed-size dtypes can be stored in slices, not {}",
                    PrintableKey(full_name), DTypeName(dtype)));
  }
  std::string name(full_name);
  auto it = partitioned.find(name);
  if (it == partitioned.end()) {
    if (entries.count(name)) {
      return Status::AlreadyExists(
          fmt::format("tensor '{}' was added whole and as a slice", PrintableKey(full_name)));
    }
    it = partitioned.emplace(name, Partitioned{dtype, full_shape, {}}).first;
  } else if (it->second.dtype != dtype || it->second.shape != full_shape) {
    return Status::InvalidArgument(fmt::format("slices of '{}' disagree: {} {} before, {} {} now",
                                               PrintableKey(full_name), DTypeName(it->second.dtype),
                                               ShapeToString(it->second.shape), DTypeName(dtype),
                                               ShapeToString(full_shape)));
  }
  *key = slice_key::Encode(full_name, slice);
  if (entries.count(*key)) {
    return Status::AlreadyExists(fmt::format("slice [{}] of '{}' was added twice", slice.ToString(),
                                             PrintableKey(full_name)));
  }
  *slice_shape = slice.SliceShape(full_shape);
  it->second.slices.push_back(slice);
  return Status::OK();
}

Status BundleWriter::AdoptDataFile(const ByteSource& src, LinkMode how, int* shard_id) {
  Impl& m = *impl_;
  if (m.finished || m.failed) return Status::FailedPrecondition("the writer is closed");
  TFCKPT_RETURN_IF_ERROR(m.CloseShard());  // later written tensors go to a new shard
  const std::string& path = src.name();
  Impl::Shard shard;
  shard.bytes = src.size();
  if ((how == LinkMode::kMove || how == LinkMode::kHardlink) && src.local_path().empty()) {
    return Status::Unsupported(
        fmt::format("'{}' is not a local file: its bytes can be copied, not {}", path,
                    how == LinkMode::kMove ? "moved" : "hard-linked"));
  }
  if (how == LinkMode::kMove) {
    shard.move_from = src.local_path();  // renamed into place at the commit
    m.stats.files_moved++;
    m.stats.bytes_moved += shard.bytes;
    m.shards.push_back(shard);
    *shard_id = static_cast<int>(m.shards.size()) - 1;
    return Status::OK();
  }
  TFCKPT_RETURN_IF_ERROR(m.NewTempPath(&shard.temp_path));
  if (how == LinkMode::kHardlink) {
    if (::link(src.local_path().c_str(), shard.temp_path.c_str()) != 0) {
      return Status::FromErrno(fmt::format("cannot hard-link '{}' into the output (a hard link "
                                           "needs the same filesystem; use --link auto)",
                                           path),
                               errno);
    }
    m.stats.files_linked++;
    m.stats.bytes_linked += shard.bytes;
    m.shards.push_back(shard);
    *shard_id = static_cast<int>(m.shards.size()) - 1;
    return Status::OK();
  }
  int dst = -1;
  TFCKPT_RETURN_IF_ERROR(file::CreateNewFile(shard.temp_path, &dst));
  m.shards.push_back(shard);
  Status s;
  if (how == LinkMode::kAuto && src.kernel_fd() >= 0 &&
      ::ioctl(dst, FICLONE, src.kernel_fd()) == 0) {
    m.stats.files_reflinked++;
    m.stats.bytes_reflinked += shard.bytes;
  } else if (how == LinkMode::kAuto) {
    s = CopyFromSource(src, 0, shard.bytes, dst, shard.temp_path);
    m.stats.files_copied++;
    m.stats.bytes_copied += shard.bytes;
  } else {
    // Plain copy through user space.
    std::vector<char> buf(1 << 20);
    for (int64_t off = 0; s.ok() && off < shard.bytes;) {
      const int64_t n = std::min<int64_t>(shard.bytes - off, static_cast<int64_t>(buf.size()));
      s = src.ReadAt(off, n, buf.data());
      if (s.ok()) s = file::WriteAll(dst, buf.data(), static_cast<size_t>(n), shard.temp_path);
      off += n;
    }
    m.stats.files_copied++;
    m.stats.bytes_copied += shard.bytes;
  }
  Status closed = file::SyncAndClose(dst, m.options.sync && s.ok(), shard.temp_path);
  if (s.ok()) s = closed;
  if (!s.ok()) {
    m.failed = true;
    return s;
  }
  *shard_id = static_cast<int>(m.shards.size()) - 1;
  return Status::OK();
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
  Status s = m.CloseShard();
  if (!s.ok()) return fail(s);
  if (m.shards.empty()) {  // an empty checkpoint still has one (empty) data file
    s = m.OpenShard();
    if (s.ok()) s = m.CloseShard();
    if (!s.ok()) return fail(s);
  }
  const int num_shards = static_cast<int>(m.shards.size());

  // Full entries of partitioned tensors.
  for (auto& [name, p] : m.partitioned) {
    pb::BundleEntryProto e;
    e.set_dtype(static_cast<int32_t>(p.dtype));
    ShapeToProto(p.shape, e.mutable_shape());
    for (const TensorSlice& slice : p.slices) SliceToProto(slice, e.add_slices());
    m.entries.emplace(name, std::move(e));
  }

  // The index, at a temporary name.
  std::string index_temp;
  s = m.commit->NewTemporary(prefix_ + ".index", &index_temp);
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
  s = m.commit->Lock();
  if (!s.ok()) return fail(s);
  const std::string index_final = prefix_ + ".index";
  if (file::Exists(index_final)) {
    if (!m.options.overwrite) {
      return fail(Status::AlreadyExists(fmt::format(
          "a checkpoint appeared at '{}' while this one was written; choose another output or "
          "allow replacing it (--force)",
          prefix_)));
    }
    m.commit->ReplaceFirst(index_final);
    std::vector<std::string> names;
    std::string dir = file::Dirname(prefix_), base = file::Basename(prefix_);
    static const std::regex kData(R"(\.data-\d{5,}-of-\d{5,})");
    if (file::ListDirectory(dir, &names).ok()) {
      for (const std::string& n : names) {
        if (n.rfind(base, 0) != 0 || !std::regex_match(n.substr(base.size()), kData)) continue;
        const std::string old = file::Join(dir, n);
        bool overwritten = false;
        for (int i = 0; i < num_shards; i++) overwritten |= old == DataName(prefix_, i, num_shards);
        if (!overwritten) m.commit->ReplaceFirst(old);
      }
    }
  }
  for (int i = 0; i < num_shards; i++) {
    const Impl::Shard& sh = m.shards[i];
    const std::string fin = DataName(prefix_, i, num_shards);
    if (!sh.move_from.empty()) {
      m.commit->Move(sh.move_from, fin);
    } else {
      m.commit->Place(sh.temp_path, fin);
    }
  }
  m.commit->Place(index_temp, index_final);
  s = m.commit->Commit();
  if (!s.ok()) return fail(s);
  m.finished = true;
  m.shards.clear();
  return Status::OK();
}

const TransferStats& BundleWriter::stats() const { return impl_->stats; }

}  // namespace tfckpt
