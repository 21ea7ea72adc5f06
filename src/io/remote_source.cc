#include "io/remote_source.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include <fmt/format.h>

namespace tfckpt {

Status RemoteSource::Open(const std::string& path, std::shared_ptr<const ByteSource>* source) {
  RemoteObject object;
  TFCKPT_RETURN_IF_ERROR(StatRemoteObject(path, &object));
  source->reset(new RemoteSource(std::move(object)));
  return Status::OK();
}

Status RemoteSource::ReadAt(int64_t offset, int64_t n, void* out) const {
  if (offset < 0 || n < 0 || offset > size() || n > size() - offset) {
    return Status::Corruption(fmt::format(
        "bytes {}..{} lie outside '{}', which has {} bytes (the object is truncated or the index "
        "is damaged)",
        offset, offset + n, name(), size()));
  }
  const RemoteOptions options = CurrentRemoteOptions();
  const int64_t part = options.part_size;
  const int64_t parts = (n + part - 1) / part;
  if (parts <= 1) return ReadRemoteRange(object_, offset, n, out);

  // Parts in parallel; the process-wide limit on requests in flight bounds them all.
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::vector<Status> errors(static_cast<size_t>(parts));
  auto work = [&] {
    for (int64_t i = next++; i < parts && !failed; i = next++) {
      const int64_t begin = i * part;
      const int64_t size = std::min(part, n - begin);
      Status s = ReadRemoteRange(object_, offset + begin, size, static_cast<char*>(out) + begin);
      if (!s.ok()) {
        errors[static_cast<size_t>(i)] = std::move(s);
        failed = true;
      }
    }
  };
  const int64_t threads = std::min<int64_t>(parts, options.concurrency);
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < threads; t++) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  for (Status& s : errors) {
    if (!s.ok()) return s;
  }
  return Status::OK();
}

bool IsMissingObject(const Status& status) {
  return status.code() == Status::Code::kNotFound &&
         status.message().find(kMissingObjectMark) != std::string::npos;
}

Status RemoteObjectExists(const std::string& path, bool* exists) {
  RemoteObject object;
  Status s = StatRemoteObject(path, &object);
  *exists = s.ok();
  return IsMissingObject(s) ? Status::OK() : s;
}

}  // namespace tfckpt
