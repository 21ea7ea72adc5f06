#include "io/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <utility>

#include <fmt/format.h>

namespace tfckpt {
namespace {

std::string Hex(const unsigned char* p, size_t n) {
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; i++) out += fmt::format("{:02x}", p[i]);
  return out;
}

std::string Hmac(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &n);
  return std::string(reinterpret_cast<const char*>(out), n);
}

std::string Trim(std::string s) {
  auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  s.erase(s.begin(), std::find_if_not(s.begin(), s.end(), space));
  s.erase(std::find_if_not(s.rbegin(), s.rend(), space).base(), s.end());
  return s;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// (name in lower case, value trimmed) of a "Name: value" line.
std::pair<std::string, std::string> SplitHeader(const std::string& line) {
  const size_t colon = line.find(':');
  if (colon == std::string::npos) return {Lower(Trim(line)), ""};
  return {Lower(Trim(line.substr(0, colon))), Trim(line.substr(colon + 1))};
}

}  // namespace

std::string Sha256Hex(const std::string& data) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return Hex(out, sizeof(out));
}

void SetSigV4Target(std::string_view url, SigV4Request* request) {
  const size_t scheme = url.find("://");
  const size_t host_begin = scheme == std::string_view::npos ? 0 : scheme + 3;
  const size_t path_begin = std::min(url.find('/', host_begin), url.size());
  const size_t query_begin = std::min(url.find('?', path_begin), url.size());
  request->host = std::string(url.substr(host_begin, path_begin - host_begin));
  request->path =
      std::string(path_begin < query_begin ? url.substr(path_begin, query_begin - path_begin)
                                           : std::string_view("/"));
  request->query =
      std::string(query_begin < url.size() ? url.substr(query_begin + 1) : std::string_view());
}

std::vector<std::string> SignV4(const SigV4Request& request, const SigV4Key& key, std::time_t now) {
  std::tm t{};
  gmtime_r(&now, &t);
  char stamp[32], day[16];
  std::strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &t);
  std::strftime(day, sizeof(day), "%Y%m%d", &t);

  // Canonical headers: names in lower case, sorted by name (only), values trimmed.
  std::vector<std::pair<std::string, std::string>> headers = {
      {"host", request.host},
      {"x-amz-content-sha256", request.payload_hash},
      {"x-amz-date", stamp}};
  for (const std::string& line : request.headers) headers.push_back(SplitHeader(line));
  std::stable_sort(headers.begin(), headers.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string canonical_headers, signed_headers;
  for (const auto& [name, value] : headers) {
    canonical_headers += name + ":" + value + "\n";
    signed_headers += (signed_headers.empty() ? "" : ";") + name;
  }
  // Canonical query: the parameters (already encoded) sorted by name, then value.
  std::vector<std::pair<std::string, std::string>> params;
  for (size_t begin = 0; begin < request.query.size();) {
    size_t end = request.query.find('&', begin);
    if (end == std::string::npos) end = request.query.size();
    const std::string p = request.query.substr(begin, end - begin);
    const size_t eq = p.find('=');
    if (!p.empty()) {
      params.emplace_back(p.substr(0, eq), eq == std::string::npos ? "" : p.substr(eq + 1));
    }
    begin = end + 1;
  }
  std::sort(params.begin(), params.end());
  std::string query;
  for (const auto& [name, value] : params) {
    query += (query.empty() ? "" : "&") + name + "=" + value;
  }
  const std::string canonical_request =
      fmt::format("{}\n{}\n{}\n{}\n{}\n{}", request.method, request.path, query, canonical_headers,
                  signed_headers, request.payload_hash);
  const std::string scope = fmt::format("{}/{}/{}/aws4_request", day, key.region, key.service);
  const std::string to_sign =
      fmt::format("AWS4-HMAC-SHA256\n{}\n{}\n{}", stamp, scope, Sha256Hex(canonical_request));
  std::string k = Hmac("AWS4" + key.secret_key, day);
  k = Hmac(k, key.region);
  k = Hmac(k, key.service);
  k = Hmac(k, "aws4_request");
  const std::string mac = Hmac(k, to_sign);
  const std::string signature = Hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
  return {fmt::format("X-Amz-Date: {}", stamp),
          fmt::format("X-Amz-Content-Sha256: {}", request.payload_hash),
          fmt::format("Authorization: AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={}, "
                      "Signature={}",
                      key.access_key, scope, signed_headers, signature)};
}

bool CurlMissignsHeaders(const std::vector<std::string>& headers) {
  std::vector<std::string> names;
  for (const std::string& line : headers) names.push_back(SplitHeader(line).first);
  for (const std::string& a : names) {
    for (const std::string& b : names) {
      // `a` begins `b` and goes on with a character that sorts before ':'.
      if (a.size() < b.size() && b.compare(0, a.size(), a) == 0 &&
          static_cast<unsigned char>(b[a.size()]) < ':') {
        return true;
      }
    }
  }
  return false;
}

}  // namespace tfckpt
