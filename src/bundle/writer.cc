#include "tfckpt/writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <regex>

#include <fmt/format.h>

#include "bundle/entry_codec.h"
#include "format/crc32c.h"
#include "format/index_table.h"
#include "format/slice_key.h"
#include "format/string_tensor.h"
#include "io/file_util.h"
#include "tfckpt.pb.h"

namespace tfckpt {
namespace {

constexpr size_t kBufferSize = 8 << 20;  // as TensorFlow's bundle writer

std::string DataName(const std::string& prefix, int shard, int num_shards) {
  return fmt::format("{}.data-{:05d}-of-{:05d}", prefix, shard, num_shards);
}

}  // namespace

struct BundleWriter::Impl {
  WriterOptions options;
  std::string token;
  std::string temp_base;  // "<prefix>.tfckpt-tmp-<token>"
  std::vector<std::string> shard_temps;
  int fd = -1;
  int64_t shard_bytes = 0;  // bytes in the current shard
  std::string buffer;
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

  Status OpenShard() {
    std::string path = fmt::format("{}.data-{}", temp_base, shard_temps.size());
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) return Status::FromErrno(fmt::format("cannot create '{}'", path), errno);
    shard_temps.push_back(path);
    shard_bytes = 0;
    return Status::OK();
  }

  Status WriteAll(const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = ::write(fd, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        failed = true;
        return Status::FromErrno(fmt::format("cannot write '{}'", shard_temps.back()), errno);
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
    return Status::OK();
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
    shard_bytes += static_cast<int64_t>(n);
    return Status::OK();
  }

  Status CloseShard() {
    if (fd < 0) return Status::OK();
    Status s = FlushBuffer();
    if (s.ok() && options.sync && ::fsync(fd) != 0) {
      s = Status::FromErrno(fmt::format("cannot sync '{}'", shard_temps.back()), errno);
    }
    if (::close(fd) != 0 && s.ok()) {
      s = Status::FromErrno(fmt::format("cannot close '{}'", shard_temps.back()), errno);
    }
    fd = -1;
    return s;
  }

  // Moves to a new shard when the next `size` bytes would overflow the current one.
  Status MaybeStartShard(int64_t size) {
    if (options.max_shard_bytes > 0 && shard_bytes > 0 &&
        shard_bytes + size > options.max_shard_bytes) {
      TFCKPT_RETURN_IF_ERROR(CloseShard());
      TFCKPT_RETURN_IF_ERROR(OpenShard());
    }
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
    e.set_shard_id(static_cast<int32_t>(shard_temps.size() - 1));
    e.set_offset(shard_bytes);
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
  w->impl_->token = file::RandomToken();
  w->impl_->temp_base = prefix + std::string(file::kTempMarker) + w->impl_->token;
  w->impl_->buffer.reserve(kBufferSize);
  TFCKPT_RETURN_IF_ERROR(w->impl_->OpenShard());
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
  for (const std::string& t : impl_->shard_temps) file::RemoveQuietly(t);
  file::RemoveQuietly(impl_->temp_base + ".index");
  impl_->shard_temps.clear();
  impl_->finished = true;
}

Status BundleWriter::BeginTensor(std::string_view name, DType dtype, const Shape& shape,
                                 int64_t size) {
  Impl& m = *impl_;
  if (m.finished || m.failed) return Status::FailedPrecondition("the writer is closed");
  if (m.streaming) return Status::FailedPrecondition("another tensor is still being written");
  TFCKPT_RETURN_IF_ERROR(m.CheckName(name));
  auto n = NumElements(shape);
  if (!n)
    return Status::InvalidArgument(fmt::format("tensor '{}' has an invalid shape {}",
                                               PrintableKey(name), ShapeToString(shape)));
  if (!IsFixedSize(dtype)) {
    return Status::InvalidArgument(fmt::format("tensor '{}': dtype {} is not a fixed-size type",
                                               PrintableKey(name), DTypeName(dtype)));
  }
  if (size != *n * DTypeSize(dtype)) {
    return Status::InvalidArgument(fmt::format(
        "tensor '{}' of dtype {} and shape {} takes {} bytes, but {} were given",
        PrintableKey(name), DTypeName(dtype), ShapeToString(shape), *n * DTypeSize(dtype), size));
  }
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

Status BundleWriter::Add(std::string_view name, DType dtype, const Shape& shape,
                         std::span<const uint8_t> bytes) {
  TFCKPT_RETURN_IF_ERROR(BeginTensor(name, dtype, shape, static_cast<int64_t>(bytes.size())));
  TFCKPT_RETURN_IF_ERROR(Append(bytes));
  return EndTensor();
}

Status BundleWriter::AddSerialized(std::string_view name, DType dtype, const Shape& shape,
                                   std::span<const uint8_t> serialized) {
  if (IsFixedSize(dtype)) return Add(name, dtype, shape, serialized);
  Impl& m = *impl_;
  if (m.finished || m.failed) return Status::FailedPrecondition("the writer is closed");
  if (m.streaming) return Status::FailedPrecondition("another tensor is still being written");
  TFCKPT_RETURN_IF_ERROR(m.CheckName(name));
  auto n = NumElements(shape);
  if (!n)
    return Status::InvalidArgument(
        fmt::format("tensor '{}' has an invalid shape", PrintableKey(name)));
  std::vector<std::string_view> elements;
  uint32_t crc = 0;
  Status s;
  if (dtype == DType::kString) {
    s = string_tensor::ParseStrings(serialized, *n, &elements, &crc);
  } else if (dtype == DType::kVariant) {
    s = string_tensor::ParseVariants(serialized, *n, &elements, &crc);
  } else {
    return Status::InvalidArgument(fmt::format("tensor '{}': dtype {} cannot be stored",
                                               PrintableKey(name), DTypeName(dtype)));
  }
  if (!s.ok()) {
    return Status::InvalidArgument(
        fmt::format("tensor '{}' is not a valid serialized {} tensor: {}", PrintableKey(name),
                    DTypeName(dtype), s.message()));
  }
  TFCKPT_RETURN_IF_ERROR(m.MaybeStartShard(static_cast<int64_t>(serialized.size())));
  pb::BundleEntryProto e = m.NewEntry(dtype, shape, static_cast<int64_t>(serialized.size()));
  e.set_crc32c(crc32c::Mask(crc));
  TFCKPT_RETURN_IF_ERROR(m.Write(serialized.data(), serialized.size()));
  total_bytes_ += static_cast<int64_t>(serialized.size());
  m.entries.emplace(std::string(name), std::move(e));
  return Status::OK();
}

Status BundleWriter::AddStrings(std::string_view name, const Shape& shape,
                                std::span<const std::string_view> values) {
  auto n = NumElements(shape);
  if (!n || *n != static_cast<int64_t>(values.size())) {
    return Status::InvalidArgument(fmt::format("tensor '{}' has shape {} but {} strings were given",
                                               PrintableKey(name), ShapeToString(shape),
                                               values.size()));
  }
  std::string serialized;
  string_tensor::SerializeStrings(values, &serialized);
  return AddSerialized(name, DType::kString, shape,
                       {reinterpret_cast<const uint8_t*>(serialized.data()), serialized.size()});
}

Status BundleWriter::AddTensor(std::string_view name, const Tensor& tensor) {
  if (IsFixedSize(tensor.dtype())) return Add(name, tensor.dtype(), tensor.shape(), tensor.bytes());
  if (tensor.dtype() == DType::kString) return AddStrings(name, tensor.shape(), tensor.elements());
  std::string serialized;
  string_tensor::SerializeVariants(tensor.elements(), &serialized);
  return AddSerialized(name, tensor.dtype(), tensor.shape(),
                       {reinterpret_cast<const uint8_t*>(serialized.data()), serialized.size()});
}

Status BundleWriter::AddSlice(std::string_view full_name, const Shape& full_shape,
                              const TensorSlice& slice, DType dtype,
                              std::span<const uint8_t> serialized) {
  Impl& m = *impl_;
  if (slice.extents.size() != full_shape.size()) {
    return Status::InvalidArgument(fmt::format("slice [{}] of '{}' does not match its rank {}",
                                               slice.ToString(), PrintableKey(full_name),
                                               full_shape.size()));
  }
  bool whole = true;
  for (size_t d = 0; d < full_shape.size(); d++) {
    const SliceExtent& e = slice.extents[d];
    if (!e.full() && (e.start < 0 || e.length < 0 || e.start > full_shape[d] ||
                      e.length > full_shape[d] - e.start)) {
      return Status::InvalidArgument(fmt::format("slice [{}] lies outside '{}' of shape {}",
                                                 slice.ToString(), PrintableKey(full_name),
                                                 ShapeToString(full_shape)));
    }
    if (!e.full()) whole = false;
  }
  // A slice that is the whole tensor is stored as a plain tensor (as TensorFlow does).
  if (whole) return AddSerialized(full_name, dtype, full_shape, serialized);
  std::string key(full_name);
  auto it = m.partitioned.find(key);
  if (it == m.partitioned.end()) {
    if (m.entries.count(key)) {
      return Status::AlreadyExists(
          fmt::format("tensor '{}' was added whole and as a slice", PrintableKey(full_name)));
    }
    it = m.partitioned.emplace(key, Impl::Partitioned{dtype, full_shape, {}}).first;
  } else if (it->second.dtype != dtype || it->second.shape != full_shape) {
    return Status::InvalidArgument(fmt::format("slices of '{}' disagree: {} {} before, {} {} now",
                                               PrintableKey(full_name), DTypeName(it->second.dtype),
                                               ShapeToString(it->second.shape), DTypeName(dtype),
                                               ShapeToString(full_shape)));
  }
  std::string skey = slice_key::Encode(full_name, slice);
  if (m.entries.count(skey)) {
    return Status::AlreadyExists(fmt::format("slice [{}] of '{}' was added twice", slice.ToString(),
                                             PrintableKey(full_name)));
  }
  // Slice entries are added under their binary key; bypass the name check for them.
  Shape slice_shape = slice.SliceShape(full_shape);
  if (IsFixedSize(dtype)) {
    auto n = NumElements(slice_shape);
    if (static_cast<int64_t>(serialized.size()) != n.value_or(-1) * DTypeSize(dtype)) {
      return Status::InvalidArgument(fmt::format(
          "slice [{}] of '{}' needs {} bytes, got {}", slice.ToString(), PrintableKey(full_name),
          n.value_or(-1) * DTypeSize(dtype), serialized.size()));
    }
    TFCKPT_RETURN_IF_ERROR(m.MaybeStartShard(static_cast<int64_t>(serialized.size())));
    pb::BundleEntryProto e =
        m.NewEntry(dtype, slice_shape, static_cast<int64_t>(serialized.size()));
    e.set_crc32c(crc32c::Mask(crc32c::Value(serialized)));
    TFCKPT_RETURN_IF_ERROR(m.Write(serialized.data(), serialized.size()));
    total_bytes_ += static_cast<int64_t>(serialized.size());
    m.entries.emplace(std::move(skey), std::move(e));
  } else {
    return Status::Unsupported(
        fmt::format("'{}': only fixed-size dtypes can be stored in slices, not {}",
                    PrintableKey(full_name), DTypeName(dtype)));
  }
  it->second.slices.push_back(slice);
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
  const int num_shards = static_cast<int>(m.shard_temps.size());

  // Full entries of partitioned tensors.
  for (auto& [name, p] : m.partitioned) {
    pb::BundleEntryProto e;
    e.set_dtype(static_cast<int32_t>(p.dtype));
    ShapeToProto(p.shape, e.mutable_shape());
    for (const TensorSlice& slice : p.slices) SliceToProto(slice, e.add_slices());
    m.entries.emplace(name, std::move(e));
  }

  // The index, at a temporary name.
  const std::string index_temp = m.temp_base + ".index";
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

  // Commit: an existing index goes first (so a crash leaves no index pointing at new data), then
  // data files, then the new index.
  const std::string index_final = prefix_ + ".index";
  std::vector<std::string> old_data;
  if (m.options.overwrite && file::Exists(index_final)) {
    std::vector<std::string> names;
    std::string dir = file::Dirname(prefix_), base = file::Basename(prefix_);
    static const std::regex kData(R"(\.data-\d{5,}-of-\d{5,})");
    if (file::ListDirectory(dir, &names).ok()) {
      for (const std::string& n : names) {
        if (n.rfind(base, 0) == 0 && std::regex_match(n.substr(base.size()), kData)) {
          old_data.push_back(file::Join(dir, n));
        }
      }
    }
    if (::unlink(index_final.c_str()) != 0) {
      return fail(Status::FromErrno(fmt::format("cannot replace '{}'", index_final), errno));
    }
  }
  std::vector<std::string> finals;
  for (int i = 0; i < num_shards; i++) {
    finals.push_back(DataName(prefix_, i, num_shards));
    s = file::Rename(m.shard_temps[i], finals.back());
    if (!s.ok()) return fail(s);
  }
  s = file::Rename(index_temp, index_final);
  if (!s.ok()) {
    for (const std::string& f : finals) file::RemoveQuietly(f);
    return fail(s);
  }
  m.finished = true;
  m.shard_temps.clear();
  for (const std::string& old : old_data) {
    if (std::find(finals.begin(), finals.end(), old) == finals.end()) file::RemoveQuietly(old);
  }
  if (m.options.sync) TFCKPT_RETURN_IF_ERROR(file::SyncDirectory(file::Dirname(prefix_)));
  return Status::OK();
}

}  // namespace tfckpt
