// RemoteSource: the ByteSource of an object in object storage or on a web server (s3://, gs://,
// http(s)://). A read is split into parts of RemoteOptions::part_size fetched by parallel ranged
// GETs (io/remote_client.h); nothing is cached and no mapping is offered, so readers fetch exactly
// the ranges they read.
//
// Thread-safety: immutable once opened; reads may run from many threads at once.

#ifndef TFCKPT_IO_REMOTE_SOURCE_H_
#define TFCKPT_IO_REMOTE_SOURCE_H_

#include <memory>
#include <string>

#include "io/byte_source.h"
#include "io/remote_client.h"
#include "tfckpt/status.h"

namespace tfckpt {

class RemoteSource : public ByteSource {
 public:
  // Finds the object at `path` (one HEAD request). kNotFound when it does not exist.
  static Status Open(const std::string& path, std::shared_ptr<const ByteSource>* source);

  const std::string& name() const override { return object_.name; }
  int64_t size() const override { return object_.size; }
  Status ReadAt(int64_t offset, int64_t n, void* out) const override;
  const std::string& version() const override { return object_.etag; }

 private:
  explicit RemoteSource(RemoteObject object) : object_(std::move(object)) {}
  RemoteObject object_;
};

// True for the error of an object that does not exist (not for a bucket that does not).
bool IsMissingObject(const Status& status);

// Whether the remote object at `path` exists: *exists is false only when the server says so
// (404); refused access, an unreachable server and bad addresses are errors.
Status RemoteObjectExists(const std::string& path, bool* exists);

}  // namespace tfckpt

#endif  // TFCKPT_IO_REMOTE_SOURCE_H_
