#include "io/remote_source.h"

#include <algorithm>

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
  return ForEachPart(parts, [&](int64_t i) {
    const int64_t begin = i * part;
    return ReadRemoteRange(object_, offset + begin, std::min(part, n - begin),
                           static_cast<char*>(out) + begin);
  });
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
