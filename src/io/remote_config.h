// Remote addresses and how to reach them: parsing s3://, gs:// and http(s):// paths, and finding
// the endpoint, region and credentials for them the way AWS tools do (environment variables, then
// the shared credentials and config files of the chosen profile).
//
// Thread-safety: pure functions of their arguments (the environment is read through `env`).

#ifndef TFCKPT_IO_REMOTE_CONFIG_H_
#define TFCKPT_IO_REMOTE_CONFIG_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "tfckpt/remote.h"
#include "tfckpt/status.h"

namespace tfckpt {

struct RemoteAddress {
  enum class Kind { kS3, kGs, kHttp };
  Kind kind = Kind::kS3;
  std::string bucket;  // s3 and gs
  std::string key;     // s3 and gs: the object key, without a leading '/'
  std::string url;     // http(s): the address as given
};

// Parses "s3://bucket/key", "gs://bucket/key", "http(s)://host/path". A bucket without a key is
// accepted (key empty).
Status ParseRemoteAddress(std::string_view path, RemoteAddress* address);

// Where the credentials came from, named for messages; never the secret itself.
struct RemoteCredentials {
  std::string access_key;
  std::string secret_key;
  std::string session_token;
  std::string source;  // e.g. "the environment (AWS_ACCESS_KEY_ID)"; empty: anonymous
};

struct RemoteConfig {
  std::string endpoint;         // scheme://host[:port], no trailing '/'
  std::string endpoint_source;  // where it came from, for messages
  bool path_style = true;       // endpoint/bucket/key rather than bucket.host/key
  std::string region;
  RemoteCredentials credentials;  // empty access_key: unsigned requests
};

// The environment as a function (tests pass their own).
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;
EnvLookup ProcessEnvironment();

// The configuration for addresses of `kind`: `endpoint_override` first (RemoteOptions), then the
// environment and the profile (AWS_PROFILE, else "default") of AWS_SHARED_CREDENTIALS_FILE (else
// ~/.aws/credentials) and AWS_CONFIG_FILE (else ~/.aws/config). gs:// takes GS_ACCESS_KEY_ID /
// GS_SECRET_ACCESS_KEY (HMAC keys) before the AWS chain, and storage.googleapis.com as endpoint.
Status LoadRemoteConfig(RemoteAddress::Kind kind, const std::string& endpoint_override,
                        const EnvLookup& env, RemoteConfig* config);

// The URL of an object: path-style or virtual-host, its key percent-encoded as SigV4 wants it
// (every byte but unreserved characters and '/').
std::string ObjectUrl(const RemoteConfig& config, const RemoteAddress& address);

// `text` percent-encoded as SigV4 wants it: every byte but unreserved characters (and '/' with
// `keep_slash`).
std::string PercentEncode(std::string_view text, bool keep_slash);

// The address as a user would write it, for messages ("s3://bucket/key").
std::string DescribeAddress(const RemoteAddress& address);

}  // namespace tfckpt

#endif  // TFCKPT_IO_REMOTE_CONFIG_H_
