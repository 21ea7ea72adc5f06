// Checkpoints in object storage: every path the library reads may be an address instead of a
// local path:
//   s3://BUCKET/KEY     Amazon S3 or any S3-compatible server (AWS_ENDPOINT_URL), signed with
//                       AWS Signature V4 from the usual AWS credentials, or unsigned without them;
//   gs://BUCKET/KEY     Google Cloud Storage through its S3-compatible XML API (HMAC keys);
//   https://HOST/PATH   any web server that answers ranged GETs (public buckets), unsigned.
// Only the byte ranges a command needs are fetched, by ranged GETs run in parallel, retried with
// exponential backoff on server errors, throttling and dropped connections; a read that breaks
// resumes where it stopped. Outputs may be s3:// or gs:// too: written to a local staging
// directory, then uploaded data first and index last (io/remote_upload.h); web addresses are
// read only.
//
// Thread-safety: SetRemoteOptions is for start-up, before any remote read; everything else may be
// called from any thread.

#ifndef TFCKPT_REMOTE_H_
#define TFCKPT_REMOTE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "tfckpt/status.h"

namespace tfckpt {

// How remote sources are reached. Zero or empty fields keep their defaults.
struct RemoteOptions {
  // The S3 endpoint, e.g. "http://127.0.0.1:8333" (default: AWS_ENDPOINT_URL_S3,
  // AWS_ENDPOINT_URL, the profile's endpoint_url, else AWS itself).
  std::string endpoint;
  // The most ranged GETs in flight at once, over all sources (default 16).
  int concurrency = 0;
  // Attempts per request before giving up (default 8); waits between them double from 50 ms, up
  // to 5 s, with jitter.
  int max_attempts = 0;
  // Bytes per ranged GET of a large read (default 8 MiB).
  int64_t part_size = 0;
  // Refuse every remote path without a request (for sandboxes and fuzzing).
  bool offline = false;
};
void SetRemoteOptions(const RemoteOptions& options);

// True for the addresses above (s3://, gs://, http://, https://).
bool IsRemotePath(std::string_view path);

// True when `a` and `b` lie in one object store that can copy between them itself (both s3:// or
// both gs://).
bool SameObjectStore(std::string_view a, std::string_view b);

// OK for an output that can be written: a local path, s3:// or gs://; a web address (http(s)://)
// is refused, as read only.
Status CheckOutputAddress(const std::string& output);

// What the remote reads of this process have done so far (for benchmarks and tests).
struct RemoteCounters {
  int64_t requests = 0;  // HTTP requests sent, retries included
  int64_t retries = 0;   // requests that were attempts after a failure
  int64_t bytes = 0;     // body bytes received
};
RemoteCounters GetRemoteCounters();

}  // namespace tfckpt

#endif  // TFCKPT_REMOTE_H_
