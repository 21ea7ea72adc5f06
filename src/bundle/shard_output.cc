#include "bundle/shard_output.h"

#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "format/zip.h"
#include "io/file_util.h"
#include "io/remote_upload.h"
#include "tfckpt/remote.h"

namespace tfckpt {
namespace {

constexpr size_t kBufferSize = 8 << 20;  // as TensorFlow's bundle writer
// A range waiting to be joined is copied once it is this long (so that progress and errors are
// never far behind the calls).
constexpr int64_t kMaxPendingCopy = int64_t{128} << 20;

}  // namespace

ShardOutput::ShardOutput(std::string prefix, FileCommit* commit, int64_t max_shard_bytes, bool sync,
                         int64_t head, bool crc32)
    : prefix_(std::move(prefix)),
      commit_(commit),
      max_shard_bytes_(max_shard_bytes),
      sync_(sync),
      head_(head),
      crc32_(crc32) {
  buffer_.reserve(kBufferSize);
}

ShardOutput::~ShardOutput() {
  if (fd_ >= 0) ::close(fd_);  // (the commit removes the temporary files)
}

std::string ShardOutput::DataName(int shard, int num_shards) const {
  return fmt::format("{}.data-{:05d}-of-{:05d}", prefix_, shard, num_shards);
}

Status ShardOutput::NewTemporary(std::string* path) {
  return commit_->NewTemporary(fmt::format("{}.data-{}", prefix_, shards_.size()), path);
}

Status ShardOutput::OpenShard() {
  std::string path;
  TFCKPT_RETURN_IF_ERROR(NewTemporary(&path));
  TFCKPT_RETURN_IF_ERROR(file::CreateNewFile(path, &fd_));
  shards_.push_back({path, "", "", "", 0, {}, 0, crc32_});
  current_ = static_cast<int>(shards_.size()) - 1;
  if (head_ > 0) return Write(std::string(static_cast<size_t>(head_), '\0').data(), head_);
  return Status::OK();
}

Status ShardOutput::CloseShard() {
  if (fd_ < 0) return Status::OK();
  Status s = FlushCopy();
  if (s.ok()) s = Flush();
  Shard& sh = shards_[current_];
  if (s.ok() && !sh.ranges.empty() && ::ftruncate(fd_, sh.bytes) != 0) {  // (it may end in a hole)
    s = Status::FromErrno(fmt::format("cannot extend '{}'", sh.temp_path), errno);
  }
  Status closed = file::SyncAndClose(fd_, sync_ && s.ok(), sh.temp_path);
  if (s.ok()) s = closed;
  if (!s.ok()) failed_ = true;
  fd_ = -1;
  current_ = -1;
  return s;
}

Status ShardOutput::WriteOut(const char* p, size_t n) {
  Status s = file::WriteAll(fd_, p, n, shards_[current_].temp_path);
  if (!s.ok()) failed_ = true;
  return s;
}

Status ShardOutput::Flush() {
  Status s = WriteOut(buffer_.data(), buffer_.size());
  buffer_.clear();
  return s;
}

Status ShardOutput::RecordStoreRange(const PendingCopy& p, bool* recorded) {
  *recorded = false;
  Shard& sh = shards_[current_];
  // Local bytes between two ranges go up as parts of their own, at least kMinStorePart long:
  // fewer are completed with the first bytes of this range, fetched.
  const int64_t last = sh.ranges.empty() ? 0 : sh.ranges.back().offset + sh.ranges.back().size;
  const int64_t gap = p.at - last;
  const int64_t fetch = gap > 0 && gap < kMinStorePart ? kMinStorePart - gap : 0;
  if (p.size - fetch < kMinStorePart || sh.ranges.size() >= kMaxStoreRanges) return Status::OK();
  if (fetch > 0) {
    TFCKPT_RETURN_IF_ERROR(CopyFromSource(*p.src, p.offset, fetch, fd_, sh.temp_path));
    stats_.bytes_written += fetch;
  }
  if (::lseek(fd_, p.size - fetch, SEEK_CUR) < 0) {  // (a hole the store fills)
    return Status::FromErrno(fmt::format("cannot extend '{}'", sh.temp_path), errno);
  }
  sh.ranges.push_back(
      {p.at + fetch, p.src->name(), p.src->version(), p.offset + fetch, p.size - fetch});
  stats_.ranges_copied_in_store++;
  stats_.bytes_range_copied_in_store += p.size - fetch;
  *recorded = true;
  return Status::OK();
}

Status ShardOutput::FlushCopy() {
  if (pending_.src == nullptr) return Status::OK();
  const PendingCopy p = std::move(pending_);
  pending_ = PendingCopy();
  bool recorded = false;
  Status s;
  if (p.store) s = RecordStoreRange(p, &recorded);
  if (s.ok() && !recorded) {
    s = CopyFromSource(*p.src, p.offset, p.size, fd_, shards_[current_].temp_path);
    if (!p.store) {
      stats_.ranges_copied += p.pieces;
      stats_.bytes_range_copied += p.size;
    } else {  // (fetched and written here)
      stats_.bytes_written += p.size;
    }
  }
  if (!s.ok()) failed_ = true;
  return s;
}

Status ShardOutput::Reserve(int64_t size, int* shard, int64_t* offset) {
  if (current_ >= 0 && max_shard_bytes_ > 0 && shards_[current_].bytes > head_ &&
      shards_[current_].bytes + size > max_shard_bytes_) {
    TFCKPT_RETURN_IF_ERROR(CloseShard());
  }
  if (current_ < 0) TFCKPT_RETURN_IF_ERROR(OpenShard());
  *shard = current_;
  *offset = shards_[current_].bytes;
  return Status::OK();
}

Status ShardOutput::Write(const void* data, size_t n) {
  TFCKPT_RETURN_IF_ERROR(FlushCopy());  // (what was copied in comes first)
  const char* p = static_cast<const char*>(data);
  if (Shard& sh = shards_[current_]; sh.crc32_known) {
    const int64_t skip = std::clamp<int64_t>(head_ - sh.bytes, 0, static_cast<int64_t>(n));
    sh.crc32 = zip::Crc32(sh.crc32, p + skip, n - static_cast<size_t>(skip));
  }
  if (buffer_.size() + n <= kBufferSize) {
    buffer_.append(p, n);
  } else {
    TFCKPT_RETURN_IF_ERROR(Flush());
    if (n >= kBufferSize) {
      TFCKPT_RETURN_IF_ERROR(WriteOut(p, n));
    } else {
      buffer_.append(p, n);
    }
  }
  shards_[current_].bytes += static_cast<int64_t>(n);
  stats_.bytes_written += static_cast<int64_t>(n);
  return Status::OK();
}

Status ShardOutput::CopyIn(std::shared_ptr<const ByteSource> src, int64_t offset, int64_t size) {
  if (pending_.src == src && pending_.offset + pending_.size == offset) {
    pending_.size += size;  // (continues the range waiting: one copy for both)
    pending_.pieces++;
  } else {
    TFCKPT_RETURN_IF_ERROR(FlushCopy());
    TFCKPT_RETURN_IF_ERROR(Flush());
    const bool store = StoreCopiesRanges(prefix_) && IsRemotePath(src->name()) &&
                       SameObjectStore(src->name(), prefix_);
    pending_ = {std::move(src), offset, size, shards_[current_].bytes, 1, store};
  }
  shards_[current_].bytes += size;
  shards_[current_].crc32_known = false;  // (bytes this writer does not see)
  if (!pending_.store && pending_.size >= kMaxPendingCopy) return FlushCopy();
  return Status::OK();
}

bool ShardOutput::Crc32(int shard, uint32_t* crc) const {
  if (shard < 0 || shard >= static_cast<int>(shards_.size()) || !shards_[shard].crc32_known) {
    return false;
  }
  *crc = shards_[shard].crc32;
  return true;
}

bool ShardOutput::Holds(int shard, int64_t offset, int64_t size) const {
  if (shard < 0 || shard >= static_cast<int>(shards_.size()) || offset < 0 || size < 0) {
    return false;
  }
  const int64_t bytes = shards_[shard].bytes;
  return offset <= bytes && size <= bytes - offset;
}

Status ShardOutput::Adopt(const ByteSource& src, LinkMode how, int* shard_id) {
  TFCKPT_RETURN_IF_ERROR(CloseShard());  // later written tensors go to a new shard
  const std::string& path = src.name();
  Shard shard;
  shard.bytes = src.size();
  if ((how == LinkMode::kMove || how == LinkMode::kHardlink) && src.local_path().empty()) {
    return Status::Unsupported(fmt::format(
        "'{}' is not a local file holding the bytes that were read (another file may have taken "
        "its name since): its bytes can be copied, not {}",
        path, how == LinkMode::kMove ? "moved" : "hard-linked"));
  }
  if (IsRemotePath(prefix_) && SameObjectStore(path, prefix_) &&
      (how == LinkMode::kAuto || how == LinkMode::kCopy)) {
    shard.copy_from = path;  // copied by the store at the commit: no byte passes through here
    shard.copy_version = src.version();
    stats_.files_copied_in_store++;
    stats_.bytes_copied_in_store += shard.bytes;
    shards_.push_back(shard);
    *shard_id = static_cast<int>(shards_.size()) - 1;
    return Status::OK();
  }
  if (how == LinkMode::kMove) {
    shard.move_from = src.local_path();  // renamed into place at the commit
    stats_.files_moved++;
    stats_.bytes_moved += shard.bytes;
    shards_.push_back(shard);
    *shard_id = static_cast<int>(shards_.size()) - 1;
    return Status::OK();
  }
  TFCKPT_RETURN_IF_ERROR(NewTemporary(&shard.temp_path));
  if (how == LinkMode::kHardlink) {
    if (::link(src.local_path().c_str(), shard.temp_path.c_str()) != 0) {
      return Status::FromErrno(fmt::format("cannot hard-link '{}' into the output (a hard link "
                                           "needs the same filesystem; set `link` to auto)",
                                           path),
                               errno);
    }
    stats_.files_linked++;
    stats_.bytes_linked += shard.bytes;
    shards_.push_back(shard);
    *shard_id = static_cast<int>(shards_.size()) - 1;
    return Status::OK();
  }
  int dst = -1;
  TFCKPT_RETURN_IF_ERROR(file::CreateNewFile(shard.temp_path, &dst));
  shards_.push_back(shard);
  Status s;
  if (how == LinkMode::kAuto && src.kernel_fd() >= 0 &&
      ::ioctl(dst, FICLONE, src.kernel_fd()) == 0) {
    stats_.files_reflinked++;
    stats_.bytes_reflinked += shard.bytes;
  } else {
    // kCopy asks for bytes of its own (no extent shared with the source, as copy_file_range
    // may share them): sendfile, or a copy through a buffer where there is no file to send.
    s = how == LinkMode::kCopy && src.kernel_fd() >= 0
            ? file::CopyBytes(src.kernel_fd(), src.name(), 0, shard.bytes, dst, shard.temp_path)
            : CopyFromSource(src, 0, shard.bytes, dst, shard.temp_path);
    stats_.files_copied++;
    stats_.bytes_copied += shard.bytes;
  }
  Status closed = file::SyncAndClose(dst, sync_ && s.ok(), shard.temp_path);
  if (s.ok()) s = closed;
  if (!s.ok()) {
    failed_ = true;
    return s;
  }
  *shard_id = static_cast<int>(shards_.size()) - 1;
  return Status::OK();
}

Status ShardOutput::Close(int* num_shards) {
  TFCKPT_RETURN_IF_ERROR(CloseShard());
  if (shards_.empty()) {  // an empty checkpoint still has one (empty) data file
    TFCKPT_RETURN_IF_ERROR(OpenShard());
    TFCKPT_RETURN_IF_ERROR(CloseShard());
  }
  *num_shards = static_cast<int>(shards_.size());
  for (int i = 0; i < *num_shards; i++) {
    const Shard& sh = shards_[i];
    if (!sh.move_from.empty()) {
      commit_->Move(sh.move_from, DataName(i, *num_shards));
    } else if (!sh.copy_from.empty()) {
      commit_->CopyInStore(sh.copy_from, sh.copy_version, DataName(i, *num_shards));
    } else {
      commit_->Place(sh.temp_path, DataName(i, *num_shards), sh.ranges);
    }
  }
  return Status::OK();
}

}  // namespace tfckpt
