#include "io/remote_client.h"

#include <curl/curl.h>
#include <expat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>

#include "io/sigv4.h"

namespace tfckpt {
namespace {

constexpr int kDefaultConcurrency = 16;
constexpr int kDefaultMaxAttempts = 8;
constexpr int64_t kDefaultPartSize = int64_t{8} << 20;
constexpr size_t kMaxErrorBody = 64 * 1024;

// Process-wide state: the options, the configuration of each kind of address, idle connections,
// the request limiter and the counters.
struct Global {
  std::mutex mu;
  RemoteOptions options;
  std::map<RemoteAddress::Kind, std::shared_ptr<const RemoteConfig>> configs;
  std::vector<CURL*> idle;
  std::condition_variable slot_free;
  int in_flight = 0;
  std::atomic<int64_t> requests{0}, retries{0}, bytes{0};
};

Global& G() {
  static Global* g = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return new Global();  // never destroyed: requests may run while the process exits
  }();
  return *g;
}

RemoteOptions Filled(RemoteOptions o) {
  if (o.concurrency <= 0) o.concurrency = kDefaultConcurrency;
  if (o.max_attempts <= 0) o.max_attempts = kDefaultMaxAttempts;
  if (o.part_size <= 0) o.part_size = kDefaultPartSize;
  return o;
}

Status ConfigFor(RemoteAddress::Kind kind, std::shared_ptr<const RemoteConfig>* config) {
  Global& g = G();
  std::lock_guard<std::mutex> lock(g.mu);
  auto it = g.configs.find(kind);
  if (it != g.configs.end()) {
    *config = it->second;
    return Status::OK();
  }
  auto c = std::make_shared<RemoteConfig>();
  TFCKPT_RETURN_IF_ERROR(LoadRemoteConfig(kind, g.options.endpoint, ProcessEnvironment(), c.get()));
  g.configs[kind] = c;
  *config = std::move(c);
  return Status::OK();
}

// A pooled connection and a slot of the limiter, held for one request.
class Connection {
 public:
  Connection() {
    Global& g = G();
    std::unique_lock<std::mutex> lock(g.mu);
    const int limit = Filled(g.options).concurrency;
    g.slot_free.wait(lock, [&] { return g.in_flight < limit; });
    g.in_flight++;
    if (!g.idle.empty()) {
      handle_ = g.idle.back();
      g.idle.pop_back();
    }
    lock.unlock();
    if (handle_ == nullptr) {
      handle_ = curl_easy_init();
    } else {
      curl_easy_reset(handle_);  // (keeps the open connection and the DNS cache)
    }
  }
  ~Connection() {
    Global& g = G();
    std::lock_guard<std::mutex> lock(g.mu);
    if (handle_ != nullptr) g.idle.push_back(handle_);
    g.in_flight--;
    g.slot_free.notify_one();
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  CURL* get() const { return handle_; }

 private:
  CURL* handle_ = nullptr;
};

// One request's outcome.
struct Response {
  CURLcode curl = CURLE_OK;
  std::string curl_error;
  long status = 0;
  int64_t content_length = -1;
  std::string content_range, etag;
  std::string body;  // of an error answer
  // A GET's payload goes to out[0, capacity).
  char* out = nullptr;
  int64_t capacity = 0;
  int64_t received = 0;
  bool overflow = false;
  CURL* handle = nullptr;
};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* r = static_cast<Response*>(user);
  std::string_view line(data, size * count);
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    if (line.substr(0, 5) == "HTTP/") {  // a new answer (after a 100 or a redirect)
      r->content_length = -1;
      r->content_range.clear();
      r->etag.clear();
    }
    return size * count;
  }
  const std::string name = Lower(std::string(line.substr(0, colon)));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
    value.remove_suffix(1);
  }
  if (name == "content-length") {
    r->content_length = std::strtoll(std::string(value).c_str(), nullptr, 10);
  } else if (name == "content-range") {
    r->content_range = std::string(value);
  } else if (name == "etag") {
    r->etag = std::string(value);
  }
  return size * count;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* r = static_cast<Response*>(user);
  const size_t n = size * count;
  long status = 0;
  curl_easy_getinfo(r->handle, CURLINFO_RESPONSE_CODE, &status);
  if ((status == 200 || status == 206) && r->out != nullptr) {
    if (static_cast<int64_t>(n) > r->capacity - r->received) {
      r->overflow = true;
      return 0;  // aborts the transfer
    }
    std::memcpy(r->out + r->received, data, n);
    r->received += static_cast<int64_t>(n);
    G().bytes += static_cast<int64_t>(n);
    return n;
  }
  if (r->body.size() < kMaxErrorBody) r->body.append(data, std::min(n, kMaxErrorBody));
  return n;
}

// The body of a PUT read from a file, for libcurl.
struct FileBody {
  int fd;
  int64_t offset, size, sent = 0;
};

int SeekFileBody(void* user, curl_off_t offset, int origin) {
  auto* b = static_cast<FileBody*>(user);
  if (origin != SEEK_SET || offset < 0 || offset > b->size) return CURL_SEEKFUNC_FAIL;
  b->sent = offset;  // (libcurl sends the body again, on another connection)
  return CURL_SEEKFUNC_OK;
}

size_t ReadFileBody(char* buffer, size_t size, size_t count, void* user) {
  auto* b = static_cast<FileBody*>(user);
  const size_t n =
      static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(size * count), b->size - b->sent));
  if (n == 0) return 0;
  const ssize_t got = ::pread(b->fd, buffer, n, b->offset + b->sent);
  if (got <= 0) return CURL_READFUNC_ABORT;
  b->sent += got;
  return static_cast<size_t>(got);
}

// Sends one request: with `req`, its method and body; else HEAD when `out` is null and
// `range_size` < 0, or a GET of [range_begin, range_begin + range_size) into `out`. Answer bodies
// that do not go to `out` are kept in r->body.
void Perform(const RemoteObject& o, const std::string& url, bool head, int64_t range_begin,
             int64_t range_size, bool pin_etag, char* out, Response* r,
             const RemoteRequest* req = nullptr) {
  Connection conn;
  CURL* h = conn.get();
  if (h == nullptr) {
    r->curl = CURLE_FAILED_INIT;
    r->curl_error = "cannot start an HTTP client";
    return;
  }
  r->handle = h;
  r->out = out;
  r->capacity = range_size;
  const RemoteConfig& c = *o.config;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);  // (a key's "./" and "../" are its own)
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);  // stalled for 30 s: give up and retry
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 30L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
  if (o.address.kind == RemoteAddress::Kind::kHttp) {
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
  }
  if (head) curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  struct curl_slist* headers = nullptr;
  FileBody file_body{-1, 0, 0};
  std::string full_url;
  // (Signed here where libcurl would sign wrongly; see io/sigv4.h.)
  const bool own_signature =
      !c.credentials.access_key.empty() && req != nullptr && CurlMissignsHeaders(req->headers);
  if (req != nullptr) {
    full_url = req->query.empty() ? url : url + "?" + req->query;
    curl_easy_setopt(h, CURLOPT_URL, full_url.c_str());
    if (req->method == "PUT") {
      file_body = FileBody{req->body_fd, req->body_offset, req->body_size};
      curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req->body_size));
      curl_easy_setopt(h, CURLOPT_READFUNCTION, ReadFileBody);
      curl_easy_setopt(h, CURLOPT_READDATA, &file_body);
      curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, SeekFileBody);
      curl_easy_setopt(h, CURLOPT_SEEKDATA, &file_body);
      // (The payload is not hashed: signing it would read every part twice.)
      if (!own_signature) {
        headers = curl_slist_append(headers, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
      }
      // (libcurl asks for "100 Continue" before a large body; removing the header would break
      // the signature, which covers it, so the wait is bounded instead.)
      curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 300L);
    } else if (req->method == "POST") {
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body.data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req->body.size()));
      headers = curl_slist_append(headers, "Content-Type: application/xml");
      // (libcurl 7.88 signs a POST body's hash wrongly: the hash is given, unsigned, as for PUT.)
      if (!own_signature) {
        headers = curl_slist_append(headers, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
      }
    } else {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method.c_str());
    }
    for (const std::string& header : req->headers) {
      headers = curl_slist_append(headers, header.c_str());
    }
    if (req->body_fd < 0) {
      // A copy inside the store or the completion of an upload: the server may work for
      // minutes sending nothing but spaces; no low-speed limit.
      curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 0L);
    }
  }
  std::string range;
  if (range_size >= 0) {
    range = fmt::format("{}-{}", range_begin, range_begin + std::max<int64_t>(range_size, 1) - 1);
    curl_easy_setopt(h, CURLOPT_RANGE, range.c_str());
  }
  if (pin_etag && !o.etag.empty() && o.etag.rfind("W/", 0) != 0) {  // (weak ETags never match)
    headers = curl_slist_append(headers, fmt::format("If-Match: {}", o.etag).c_str());
  }
  std::string sigv4;
  if (own_signature) {
    SigV4Request sr;
    sr.method = req->method;
    SetSigV4Target(full_url, &sr);
    sr.headers = req->headers;
    if (!c.credentials.session_token.empty()) {
      sr.headers.push_back(fmt::format("x-amz-security-token: {}", c.credentials.session_token));
      headers = curl_slist_append(headers, sr.headers.back().c_str());
    }
    sr.payload_hash = req->method == "PUT" ? "UNSIGNED-PAYLOAD" : Sha256Hex(std::string(req->body));
    headers = curl_slist_append(headers, fmt::format("Host: {}", sr.host).c_str());
    const SigV4Key key{c.credentials.access_key, c.credentials.secret_key, c.region, "s3"};
    for (const std::string& line : SignV4(sr, key, std::time(nullptr))) {
      headers = curl_slist_append(headers, line.c_str());
    }
  } else if (!c.credentials.access_key.empty()) {
    sigv4 = fmt::format("aws:amz:{}:s3", c.region);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4.c_str());
    curl_easy_setopt(h, CURLOPT_USERNAME, c.credentials.access_key.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, c.credentials.secret_key.c_str());
    if (!c.credentials.session_token.empty()) {
      headers = curl_slist_append(
          headers, fmt::format("x-amz-security-token: {}", c.credentials.session_token).c_str());
    }
  }
  if (headers != nullptr) curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  G().requests++;
  r->curl = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
  if (r->curl != CURLE_OK) r->curl_error = error[0] ? error : curl_easy_strerror(r->curl);
  curl_slist_free_all(headers);
  // (The options point into this frame: nothing must use them after the reset of the next use.)
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
}

// The Code and Message of an S3 error document.
struct S3Error {
  std::string code, message;
};

// (S3 may send spaces before the document of a long operation, to keep the connection open;
// an XML parser refuses them before the declaration.)
std::string_view XmlDocument(const std::string& body) {
  std::string_view doc(body);
  while (!doc.empty() && std::isspace(static_cast<unsigned char>(doc.front()))) {
    doc.remove_prefix(1);
  }
  return doc;
}

S3Error ParseS3Error(const std::string& body_in) {
  const std::string_view body = XmlDocument(body_in);
  struct State {
    S3Error e;
    int depth = 0;
    std::string element, text;
  } state;
  XML_Parser p = XML_ParserCreate(nullptr);
  if (p == nullptr) return {};
  XML_SetUserData(p, &state);
  XML_SetElementHandler(
      p,
      [](void* u, const XML_Char* name, const XML_Char**) {
        auto* s = static_cast<State*>(u);
        s->depth++;
        s->element = name;
        s->text.clear();
      },
      [](void* u, const XML_Char* name) {
        auto* s = static_cast<State*>(u);
        if (s->depth == 2 && std::strcmp(name, "Code") == 0) s->e.code = s->text;
        if (s->depth == 2 && std::strcmp(name, "Message") == 0) s->e.message = s->text;
        s->depth--;
      });
  XML_SetCharacterDataHandler(p, [](void* u, const XML_Char* text, int len) {
    auto* s = static_cast<State*>(u);
    if (s->text.size() < 1024) s->text.append(text, static_cast<size_t>(len));
  });
  XML_Parse(p, body.data(), static_cast<int>(body.size()), 1);
  XML_ParserFree(p);
  return state.e;
}

bool Retryable(const Response& r, const S3Error& e) {
  switch (r.curl) {
    case CURLE_OK:
      break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SEND_FAIL_REWIND:
      return true;
    default:
      return false;
  }
  if (r.status >= 500 || r.status == 429) return true;
  return r.status == 400 && (e.code == "RequestTimeout" || e.code == "SlowDown");
}

void Backoff(int attempt) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const int64_t ceiling = std::min<int64_t>(5000, int64_t{50} << std::min(attempt, 10));
  std::uniform_int_distribution<int64_t> wait(ceiling / 2, ceiling);
  std::this_thread::sleep_for(std::chrono::milliseconds(wait(rng)));
}

// Which credentials a refused request carried (by where they came from, never their value), and
// what to do next.
std::string CredentialsAdvice(const RemoteObject& o, bool write) {
  const char* may = write ? "may write to" : "may read";
  if (o.address.kind == RemoteAddress::Kind::kHttp) {
    return "the request was not signed (https:// addresses are for public objects; use s3:// or "
           "gs:// with credentials for private ones)";
  }
  const RemoteCredentials& c = o.config->credentials;
  if (c.access_key.empty()) {
    return fmt::format(
        "the request was not signed, as no credentials were found; set AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) to credentials that {} the bucket '{}'",
        may, o.address.bucket);
  }
  return fmt::format(
      "the request was signed with the credentials of {}; check that they are right and {} the "
      "bucket '{}', or choose others",
      c.source, may, o.address.bucket);
}

std::string Endpoint(const RemoteObject& o) {
  if (o.address.kind == RemoteAddress::Kind::kHttp) return "the server";
  return fmt::format("{} (from {})", o.config->endpoint, o.config->endpoint_source);
}

Status ErrorOf(const RemoteObject& o, const Response& r, int attempts, bool write = false) {
  const char* verb = write ? "writing" : "reading";
  const std::string tries = attempts > 1 ? fmt::format(" after {} attempts", attempts) : "";
  if (r.curl != CURLE_OK) {
    if (r.curl == CURLE_ABORTED_BY_CALLBACK || r.curl == CURLE_READ_ERROR) {
      return Status::IOError(fmt::format("{} '{}' failed: the staged file could not be read ({})",
                                         verb, o.name, r.curl_error));
    }
    return Status::IOError(
        fmt::format("{} '{}' failed{}: {}; check that {} is reachable (set the endpoint with "
                    "AWS_ENDPOINT_URL or `endpoint`)",
                    verb, o.name, tries, r.curl_error, Endpoint(o)));
  }
  const S3Error e = ParseS3Error(r.body);
  const std::string code = e.code.empty() ? "" : " " + e.code;
  const std::string message = e.message.empty() ? "" : ": " + e.message;
  if (r.status == 404 && e.code == "NoSuchBucket") {
    return Status::NotFound(
        fmt::format("bucket '{}' does not exist at {} (HTTP 404 NoSuchBucket); check the bucket "
                    "name and the endpoint",
                    o.address.bucket, Endpoint(o)));
  }
  if (r.status == 404) {
    return Status::NotFound(
        write ? fmt::format("{} '{}' failed: HTTP 404{}{}", verb, o.name, code, message)
              : fmt::format("'{}' {} (HTTP 404{})", o.name, kMissingObjectMark, code));
  }
  if (r.status == 401 || r.status == 403) {
    return Status::IOError(fmt::format("access to '{}' was refused (HTTP {}{}{}); {}", o.name,
                                       r.status, code, message, CredentialsAdvice(o, write)));
  }
  if (r.status == 412 && write) {
    return Status::DataLoss(fmt::format(
        "'{}' was not copied: its source object changed after it was read; run the command again",
        o.name));
  }
  if (r.status == 412) {
    return Status::DataLoss(fmt::format(
        "'{}' was replaced while it was being read (its ETag is no longer {}); read it again",
        o.name, o.etag));
  }
  return Status::IOError(fmt::format("{} '{}' failed{}: HTTP {}{}{} from {}", verb, o.name, tries,
                                     r.status, code, message, Endpoint(o)));
}

// Parses "bytes FIRST-LAST/TOTAL" (TOTAL may be '*').
bool ParseContentRange(const std::string& s, int64_t* first, int64_t* last, int64_t* total) {
  long long a = 0, b = 0;
  char rest[32] = {0};
  if (std::sscanf(s.c_str(), "bytes %lld-%lld/%31s", &a, &b, rest) != 3) return false;
  *first = a;
  *last = b;
  *total = rest[0] == '*' ? -1 : std::strtoll(rest, nullptr, 10);
  return true;
}

}  // namespace

void SetRemoteOptions(const RemoteOptions& options) {
  Global& g = G();
  std::lock_guard<std::mutex> lock(g.mu);
  g.options = options;
  g.configs.clear();
  g.slot_free.notify_all();
}

RemoteOptions CurrentRemoteOptions() {
  Global& g = G();
  std::lock_guard<std::mutex> lock(g.mu);
  return Filled(g.options);
}

RemoteCounters GetRemoteCounters() {
  Global& g = G();
  return {g.requests.load(), g.retries.load(), g.bytes.load()};
}

Status ForEachPart(int64_t parts, const std::function<Status(int64_t part)>& fn) {
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::vector<Status> errors(static_cast<size_t>(std::max<int64_t>(parts, 0)));
  auto work = [&] {
    for (int64_t i = next++; i < parts && !failed; i = next++) {
      Status s = fn(i);
      if (!s.ok()) {
        errors[static_cast<size_t>(i)] = std::move(s);
        failed = true;
      }
    }
  };
  const int64_t threads = std::min<int64_t>(parts, CurrentRemoteOptions().concurrency);
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < threads; t++) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  for (Status& s : errors) {
    if (!s.ok()) return std::move(s);
  }
  return Status::OK();
}

Status PrepareRemoteObject(const std::string& path, RemoteObject* object) {
  *object = RemoteObject();
  object->name = path;
  if (CurrentRemoteOptions().offline) {
    return Status::Unsupported(
        fmt::format("'{}' is remote, and remote access is turned off (`offline`)", path));
  }
  TFCKPT_RETURN_IF_ERROR(ParseRemoteAddress(path, &object->address));
  if (object->address.kind != RemoteAddress::Kind::kHttp && object->address.key.empty()) {
    return Status::InvalidArgument(
        fmt::format("'{}' names a bucket, not an object; add the key of a checkpoint", path));
  }
  TFCKPT_RETURN_IF_ERROR(ConfigFor(object->address.kind, &object->config));
  object->url = ObjectUrl(*object->config, object->address);
  return Status::OK();
}

Status SendRemoteRequest(const RemoteObject& object, const RemoteRequest& request,
                         RemoteAnswer* answer) {
  if (object.address.kind == RemoteAddress::Kind::kHttp) {
    return Status::Unsupported(fmt::format(
        "'{}' is a web address, which is read only; write to s3:// or gs://", object.name));
  }
  const int attempts = CurrentRemoteOptions().max_attempts;
  for (int attempt = 1;; attempt++) {
    Response r;
    Perform(object, object.url, false, 0, -1, false, nullptr, &r, &request);
    const S3Error e = r.body.empty() ? S3Error() : ParseS3Error(r.body);
    const bool ok = r.curl == CURLE_OK && r.status >= 200 && r.status < 300 && e.code.empty();
    if (ok) {
      answer->status = r.status;
      answer->body = std::move(r.body);
      answer->etag = std::move(r.etag);
      return Status::OK();
    }
    if (r.curl == CURLE_OK && r.status < 300) r.status = 500;  // (an error inside a 200)
    if (attempt >= attempts || !Retryable(r, e)) return ErrorOf(object, r, attempt, true);
    G().retries++;
    Backoff(attempt);
  }
}

std::string XmlElementText(const std::string& xml_in, const std::string& name) {
  const std::string_view xml = XmlDocument(xml_in);
  struct State {
    const std::string* name = nullptr;
    std::string text;
    bool inside = false, found = false;
  } state;
  state.name = &name;
  XML_Parser p = XML_ParserCreate(nullptr);
  if (p == nullptr) return "";
  XML_SetUserData(p, &state);
  XML_SetElementHandler(
      p,
      [](void* u, const XML_Char* element, const XML_Char**) {
        auto* s = static_cast<State*>(u);
        if (!s->found && *s->name == element) s->inside = true;
      },
      [](void* u, const XML_Char* element) {
        auto* s = static_cast<State*>(u);
        if (s->inside && *s->name == element) {
          s->inside = false;
          s->found = true;
        }
      });
  XML_SetCharacterDataHandler(p, [](void* u, const XML_Char* text, int len) {
    auto* s = static_cast<State*>(u);
    if (s->inside && s->text.size() < 4096) s->text.append(text, static_cast<size_t>(len));
  });
  XML_Parse(p, xml.data(), static_cast<int>(xml.size()), 1);
  XML_ParserFree(p);
  return state.found ? state.text : "";
}

Status StatRemoteObject(const std::string& path, RemoteObject* object) {
  TFCKPT_RETURN_IF_ERROR(PrepareRemoteObject(path, object));
  const int attempts = CurrentRemoteOptions().max_attempts;
  Response r;
  for (int attempt = 1;; attempt++) {
    r = Response();
    Perform(*object, object->url, true, 0, -1, false, nullptr, &r);
    if (r.curl == CURLE_OK && r.status >= 200 && r.status < 300) break;
    bool disagree = false;
    if (r.curl == CURLE_OK && r.status >= 400) {
      // A HEAD answer has no body: ask again with a GET of one byte for the error's code (a
      // missing key and a missing bucket are both 404).
      Response get;
      char byte = 0;
      Perform(*object, object->url, false, 0, 1, false, &byte, &get);
      int64_t first = 0, last = 0, total = -1;
      if (get.curl == CURLE_OK && get.status == 206 &&
          ParseContentRange(get.content_range, &first, &last, &total) && total >= 0) {
        // HEAD refused and GET answered (a URL signed for GET only): the GET tells the size.
        object->size = total;
        object->etag = get.etag;
        return Status::OK();
      }
      if (get.curl != CURLE_OK || get.status >= 300) {
        r = std::move(get);
      } else {
        disagree = true;  // HEAD refused and GET answered without a size: ask again
      }
    }
    const S3Error e = r.body.empty() ? S3Error() : ParseS3Error(r.body);
    if (attempt >= attempts || !(disagree || Retryable(r, e))) {
      return ErrorOf(*object, r, attempt);
    }
    G().retries++;
    Backoff(attempt);
  }
  if (r.content_length < 0) {
    return Status::IOError(
        fmt::format("'{}' has no Content-Length in its HEAD answer; its size is unknown", path));
  }
  object->size = r.content_length;
  object->etag = r.etag;
  return Status::OK();
}

Status ReadRemoteRange(const RemoteObject& object, int64_t offset, int64_t n, void* out_void) {
  if (n == 0) return Status::OK();
  char* out = static_cast<char*>(out_void);
  const int max_attempts = CurrentRemoteOptions().max_attempts;
  int64_t done = 0;
  int failures = 0;
  while (done < n) {
    Response r;
    Perform(object, object.url, false, offset + done, n - done, true, out + done, &r);
    bool ok = r.curl == CURLE_OK && (r.status == 206 || r.status == 200);
    // (An answer that broke before its headers were all in is only retried.)
    if ((r.status == 206 || r.status == 200) && (ok || r.received > 0)) {
      int64_t first = 0, last = 0, total = 0;
      if (r.status == 200) {
        // A server that ignores Range answers with the whole object: right only for all of it.
        if (offset + done != 0 || r.content_length != n - done) {
          return Status::IOError(fmt::format(
              "'{}' was sent whole when bytes {}..{} were asked for: the server does not serve "
              "byte ranges",
              object.name, offset + done, offset + n));
        }
      } else if (!ParseContentRange(r.content_range, &first, &last, &total) ||
                 first != offset + done || (total >= 0 && total != object.size)) {
        return Status::IOError(
            fmt::format("'{}' answered bytes '{}' when bytes {}..{} were asked for", object.name,
                        r.content_range, offset + done, offset + n));
      }
      if (r.overflow) {
        return Status::IOError(fmt::format("'{}' sent more bytes than were asked for ({}..{})",
                                           object.name, offset + done, offset + n));
      }
    }
    if (r.received > 0) failures = 0;  // progress: the next failure starts a fresh count
    done += r.received;
    if (ok && done == n) break;
    if (ok && done < n) {
      // The answer ended early without an error: ask for the rest.
      r.curl = CURLE_PARTIAL_FILE;
      r.curl_error = "the answer ended early";
    }
    failures++;
    const S3Error e = r.body.empty() ? S3Error() : ParseS3Error(r.body);
    if (failures >= max_attempts || !Retryable(r, e)) {
      if (!ok && r.status == 416) {
        return Status::Corruption(
            fmt::format("bytes {}..{} lie outside '{}' (the object is shorter than its index says)",
                        offset + done, offset + n, object.name));
      }
      return ErrorOf(object, r, failures);
    }
    G().retries++;
    Backoff(failures);
  }
  return Status::OK();
}

}  // namespace tfckpt
