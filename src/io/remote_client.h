// RemoteClient: the HTTP requests of remote reads, over libcurl. Stats an object (HEAD) and reads
// byte ranges of it (ranged GET), signing with AWS Signature V4 where there are credentials
// (libcurl's CURLOPT_AWS_SIGV4). Every request is retried with exponential backoff and jitter on
// 5xx, 429, SlowDown and dropped or stalled connections; a GET that breaks mid-body asks for the
// rest only. Reads of an object pin its ETag (If-Match), so an object replaced while it is read
// is an error, not a mix of two versions. Errors name the object, the HTTP status, the S3 error
// code and the next step, and never a secret.
//
// Thread-safety: all functions may be called from any thread. Connections are pooled and reused;
// at most RemoteOptions::concurrency requests are in flight at once in the process.

#ifndef TFCKPT_IO_REMOTE_CLIENT_H_
#define TFCKPT_IO_REMOTE_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/remote_config.h"
#include "tfckpt/remote.h"
#include "tfckpt/status.h"

namespace tfckpt {

// One remote object as found by StatRemoteObject.
struct RemoteObject {
  std::string name;  // as the user wrote it, for messages
  RemoteAddress address;
  std::shared_ptr<const RemoteConfig> config;
  std::string url;
  int64_t size = -1;
  std::string etag;  // empty when the server gives none
};

// In the message of every error of an object that does not exist (and of no other error).
inline constexpr std::string_view kMissingObjectMark = "does not exist: no object has that key";

// The options SetRemoteOptions set, with defaults filled in.
RemoteOptions CurrentRemoteOptions();

// Finds the object at `path` (s3://, gs://, http(s)://). kNotFound when it does not exist; other
// failures (refused access, an unreachable endpoint) carry their own code and message.
Status StatRemoteObject(const std::string& path, RemoteObject* object);

// Reads the `n` bytes at `offset` of `object` into `out` with one ranged GET (resumed and retried
// as above).
Status ReadRemoteRange(const RemoteObject& object, int64_t offset, int64_t n, void* out);

// Runs fn(0) ... fn(parts - 1) on up to RemoteOptions::concurrency threads (the calling one
// among them); after a failure no new part starts. Returns the error of the lowest failed part.
Status ForEachPart(int64_t parts, const std::function<Status(int64_t part)>& fn);

// The object at `path` as a target of writes: its address, configuration and URL, without a
// request (size -1).
Status PrepareRemoteObject(const std::string& path, RemoteObject* object);

// A request that writes: PUT of a file's range, POST of a small body, DELETE.
struct RemoteRequest {
  std::string method;     // "PUT", "POST" or "DELETE"
  std::string query;      // e.g. "uploads", "partNumber=1&uploadId=..." (already encoded)
  std::string_view body;  // POST
  int body_fd = -1;       // PUT: `body_size` bytes of this file from `body_offset`
  int64_t body_offset = 0;
  int64_t body_size = 0;
  std::vector<std::string> headers;  // more headers ("x-amz-copy-source: ...")
};
struct RemoteAnswer {
  long status = 0;
  std::string body;  // the answer's body (an XML document for S3's multipart calls)
  std::string etag;
};
// Sends `request` to `object`, retried as reads are (a 200 whose body is an S3 error, as
// CompleteMultipartUpload may answer, counts as that error).
Status SendRemoteRequest(const RemoteObject& object, const RemoteRequest& request,
                         RemoteAnswer* answer);

// The text of the first element named `name` of an XML document ("" when there is none).
std::string XmlElementText(const std::string& xml, const std::string& name);

}  // namespace tfckpt

#endif  // TFCKPT_IO_REMOTE_CLIENT_H_
