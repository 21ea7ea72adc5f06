#include "io/remote_config.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>

#include <fmt/format.h>

namespace tfckpt {
namespace {

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) b++;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) e--;
  return std::string(s.substr(b, e - b));
}

// The sections of an INI file as AWS writes them: "[name]" (credentials) or "[profile name]"
// (config; "[default]" in both), "key = value" lines, '#' and ';' comments.
using Ini = std::map<std::string, std::map<std::string, std::string>>;

bool ReadIni(const std::string& path, bool config_file, Ini* ini) {
  std::ifstream in(path);
  if (!in) return false;
  std::string line, section;
  while (std::getline(in, line)) {
    std::string t = Trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t.front() == '[' && t.back() == ']') {
      section = Trim(std::string_view(t).substr(1, t.size() - 2));
      if (config_file && StartsWith(section, "profile ")) section = Trim(section.substr(8));
      continue;
    }
    size_t eq = t.find('=');
    if (eq == std::string::npos || section.empty()) continue;
    (*ini)[section][Trim(std::string_view(t).substr(0, eq))] =
        Trim(std::string_view(t).substr(eq + 1));
  }
  return true;
}

std::string Get(const Ini& ini, const std::string& section, const std::string& key) {
  auto s = ini.find(section);
  if (s == ini.end()) return "";
  auto k = s->second.find(key);
  return k == s->second.end() ? "" : k->second;
}

std::string NonEmpty(const EnvLookup& env, const char* name) {
  std::optional<std::string> v = env(name);
  return v ? *v : "";
}

std::string StripSlashes(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

bool IsUnreserved(unsigned char c) {
  return std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

}  // namespace

bool IsRemotePath(std::string_view path) {
  return StartsWith(path, "s3://") || StartsWith(path, "gs://") || StartsWith(path, "http://") ||
         StartsWith(path, "https://");
}

bool SameObjectStore(std::string_view a, std::string_view b) {
  return (StartsWith(a, "s3://") && StartsWith(b, "s3://")) ||
         (StartsWith(a, "gs://") && StartsWith(b, "gs://"));
}

Status CheckOutputAddress(const std::string& output) {
  if (!StartsWith(output, "http://") && !StartsWith(output, "https://")) return Status::OK();
  return Status::Unsupported(fmt::format(
      "'{}' is a web address, which tfckpt only reads; write to a local path, s3:// or gs://",
      output));
}

std::string PercentEncode(std::string_view text, bool keep_slash) {
  std::string out;
  for (unsigned char ch : text) {
    if (IsUnreserved(ch) || (keep_slash && ch == '/')) {
      out.push_back(static_cast<char>(ch));
    } else {
      out += fmt::format("%{:02X}", ch);
    }
  }
  return out;
}

Status ParseRemoteAddress(std::string_view path, RemoteAddress* address) {
  *address = RemoteAddress();
  if (StartsWith(path, "http://") || StartsWith(path, "https://")) {
    address->kind = RemoteAddress::Kind::kHttp;
    address->url = std::string(path);
    const size_t host = path.find("://") + 3;
    if (host >= path.size() || path[host] == '/') {
      return Status::InvalidArgument(fmt::format("'{}' names no host", path));
    }
    return Status::OK();
  }
  std::string_view rest;
  if (StartsWith(path, "s3://")) {
    address->kind = RemoteAddress::Kind::kS3;
    rest = path.substr(5);
  } else if (StartsWith(path, "gs://")) {
    address->kind = RemoteAddress::Kind::kGs;
    rest = path.substr(5);
  } else {
    return Status::InvalidArgument(fmt::format(
        "'{}' is not a remote address (s3://BUCKET/KEY, gs://BUCKET/KEY or https://...)", path));
  }
  const size_t slash = rest.find('/');
  address->bucket = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) address->key = std::string(rest.substr(slash + 1));
  const std::string& b = address->bucket;
  bool valid = b.size() >= 3 && b.size() <= 63;
  for (char c : b) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_')) {
      valid = false;
    }
  }
  if (!valid) {
    return Status::InvalidArgument(fmt::format(
        "'{}' does not name a valid bucket ('{}': 3 to 63 lower-case letters, digits, '-', '.'); "
        "write {}://BUCKET/KEY",
        path, b, address->kind == RemoteAddress::Kind::kS3 ? "s3" : "gs"));
  }
  return Status::OK();
}

EnvLookup ProcessEnvironment() {
  return [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
}

Status LoadRemoteConfig(RemoteAddress::Kind kind, const std::string& endpoint_override,
                        const EnvLookup& env, RemoteConfig* config) {
  *config = RemoteConfig();
  if (kind == RemoteAddress::Kind::kHttp) return Status::OK();

  const std::string home = NonEmpty(env, "HOME");
  std::string profile = NonEmpty(env, "AWS_PROFILE");
  const bool profile_named = !profile.empty();
  if (profile.empty()) profile = "default";
  std::string credentials_file = NonEmpty(env, "AWS_SHARED_CREDENTIALS_FILE");
  if (credentials_file.empty() && !home.empty()) credentials_file = home + "/.aws/credentials";
  std::string config_file = NonEmpty(env, "AWS_CONFIG_FILE");
  if (config_file.empty() && !home.empty()) config_file = home + "/.aws/config";
  Ini credentials_ini, config_ini;
  const bool have_credentials_file = ReadIni(credentials_file, false, &credentials_ini);
  const bool have_config_file = ReadIni(config_file, true, &config_ini);
  if (profile_named && !credentials_ini.count(profile) && !config_ini.count(profile)) {
    return Status::InvalidArgument(fmt::format(
        "AWS_PROFILE names profile '{}', which is in neither '{}'{} nor '{}'{}; name a profile "
        "those files have, or unset AWS_PROFILE",
        profile, credentials_file, have_credentials_file ? "" : " (absent)", config_file,
        have_config_file ? "" : " (absent)"));
  }

  // Credentials.
  RemoteCredentials& c = config->credentials;
  if (kind == RemoteAddress::Kind::kGs && !NonEmpty(env, "GS_ACCESS_KEY_ID").empty()) {
    c.access_key = NonEmpty(env, "GS_ACCESS_KEY_ID");
    c.secret_key = NonEmpty(env, "GS_SECRET_ACCESS_KEY");
    c.source = "the environment (GS_ACCESS_KEY_ID and GS_SECRET_ACCESS_KEY)";
  } else if (!NonEmpty(env, "AWS_ACCESS_KEY_ID").empty()) {
    c.access_key = NonEmpty(env, "AWS_ACCESS_KEY_ID");
    c.secret_key = NonEmpty(env, "AWS_SECRET_ACCESS_KEY");
    c.session_token = NonEmpty(env, "AWS_SESSION_TOKEN");
    c.source = "the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)";
  } else {
    for (const auto& [ini, path] :
         {std::pair<const Ini&, const std::string&>(credentials_ini, credentials_file),
          {config_ini, config_file}}) {
      if (Get(ini, profile, "aws_access_key_id").empty()) continue;
      c.access_key = Get(ini, profile, "aws_access_key_id");
      c.secret_key = Get(ini, profile, "aws_secret_access_key");
      c.session_token = Get(ini, profile, "aws_session_token");
      c.source = fmt::format("profile '{}' of '{}'", profile, path);
      break;
    }
  }
  if (!c.access_key.empty() && c.secret_key.empty()) {
    return Status::InvalidArgument(
        fmt::format("{} gives an access key id but no secret access key; set both", c.source));
  }

  // Region.
  config->region = NonEmpty(env, "AWS_REGION");
  if (config->region.empty()) config->region = NonEmpty(env, "AWS_DEFAULT_REGION");
  if (config->region.empty()) config->region = Get(config_ini, profile, "region");
  if (config->region.empty()) config->region = "us-east-1";
  if (kind == RemoteAddress::Kind::kGs) config->region = "auto";

  // Endpoint.
  if (!endpoint_override.empty()) {
    config->endpoint = endpoint_override;
    config->endpoint_source = "`endpoint`";
  } else if (kind == RemoteAddress::Kind::kGs) {
    config->endpoint = "https://storage.googleapis.com";
    config->endpoint_source = "Google Cloud Storage";
  } else if (!NonEmpty(env, "AWS_ENDPOINT_URL_S3").empty()) {
    config->endpoint = NonEmpty(env, "AWS_ENDPOINT_URL_S3");
    config->endpoint_source = "AWS_ENDPOINT_URL_S3";
  } else if (!NonEmpty(env, "AWS_ENDPOINT_URL").empty()) {
    config->endpoint = NonEmpty(env, "AWS_ENDPOINT_URL");
    config->endpoint_source = "AWS_ENDPOINT_URL";
  } else if (!Get(config_ini, profile, "endpoint_url").empty()) {
    config->endpoint = Get(config_ini, profile, "endpoint_url");
    config->endpoint_source = fmt::format("profile '{}' of '{}'", profile, config_file);
  } else {
    config->endpoint = fmt::format("https://s3.{}.amazonaws.com", config->region);
    config->endpoint_source = fmt::format("AWS S3 in region {}", config->region);
    config->path_style = false;
  }
  config->endpoint = StripSlashes(config->endpoint);
  if (!StartsWith(config->endpoint, "http://") && !StartsWith(config->endpoint, "https://")) {
    return Status::InvalidArgument(
        fmt::format("the endpoint '{}' (from {}) must start with http:// or https://",
                    config->endpoint, config->endpoint_source));
  }
  return Status::OK();
}

std::string ObjectUrl(const RemoteConfig& config, const RemoteAddress& address) {
  if (address.kind == RemoteAddress::Kind::kHttp) return address.url;
  const std::string key = PercentEncode(address.key, true);
  // Virtual-host style needs a bucket name that is a valid host label (no dots under TLS).
  if (!config.path_style && address.bucket.find('.') == std::string::npos &&
      address.bucket.find('_') == std::string::npos) {
    const size_t host = config.endpoint.find("://") + 3;
    return fmt::format("{}{}.{}/{}", config.endpoint.substr(0, host), address.bucket,
                       config.endpoint.substr(host), key);
  }
  return fmt::format("{}/{}/{}", config.endpoint, address.bucket, key);
}

std::string DescribeAddress(const RemoteAddress& address) {
  switch (address.kind) {
    case RemoteAddress::Kind::kHttp:
      return address.url;
    case RemoteAddress::Kind::kGs:
      return fmt::format("gs://{}/{}", address.bucket, address.key);
    case RemoteAddress::Kind::kS3:
      break;
  }
  return fmt::format("s3://{}/{}", address.bucket, address.key);
}

}  // namespace tfckpt
