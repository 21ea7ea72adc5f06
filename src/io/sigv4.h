// SigV4: AWS Signature Version 4 for one S3 request, computed here for the requests that
// libcurl signs wrongly. libcurl before 8.10 sorts the canonical headers by whole "name:value"
// lines, not by name, so a request with two x-amz- headers of which one name begins the other
// (x-amz-copy-source with x-amz-copy-source-range or x-amz-copy-source-if-match: every copy
// inside the store) is refused with SignatureDoesNotMatch. Every other request is signed by libcurl
// (CURLOPT_AWS_SIGV4).
//
// Thread-safety: pure functions.

#ifndef TFCKPT_IO_SIGV4_H_
#define TFCKPT_IO_SIGV4_H_

#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace tfckpt {

struct SigV4Request {
  std::string method;  // "PUT"
  std::string host;    // as in the Host header: "bucket.s3.amazonaws.com", "127.0.0.1:8333"
  std::string path;    // as sent (percent-encoded): "/bucket/key"
  std::string query;   // as sent, without "?": "partNumber=1&uploadId=..."
  std::vector<std::string> headers;  // "Name: value" lines to sign besides Host and X-Amz-Date
  std::string payload_hash;          // hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
};

struct SigV4Key {
  std::string access_key, secret_key, region;
  std::string service = "s3";
};

// Sets request->host, path and query to those of `url` (scheme://host[:port]/path?query), as
// libcurl sends them (the path "/" when the URL has none).
void SetSigV4Target(std::string_view url, SigV4Request* request);

// The header lines that sign `request` at time `now` (UTC): "X-Amz-Date: ...",
// "X-Amz-Content-Sha256: ..." and "Authorization: AWS4-HMAC-SHA256 ...". The request must send
// its Host and `headers` exactly as given.
std::vector<std::string> SignV4(const SigV4Request& request, const SigV4Key& key, std::time_t now);

// True when libcurl's signature of a request with these extra header lines would be wrong (see
// above).
bool CurlMissignsHeaders(const std::vector<std::string>& headers);

// Hex SHA-256 of `data`.
std::string Sha256Hex(const std::string& data);

}  // namespace tfckpt

#endif  // TFCKPT_IO_SIGV4_H_
