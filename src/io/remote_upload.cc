#include "io/remote_upload.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <map>

#include <fmt/format.h>

#include "io/file_util.h"
#include "io/remote_client.h"
#include "io/remote_config.h"

namespace tfckpt {
namespace {

constexpr int64_t kMinPart = kMinStorePart;      // S3's smallest part but the last
constexpr int64_t kMaxParts = 10000;             // and its most parts per upload
constexpr int64_t kMaxCopy = int64_t{5} << 30;   // the largest object CopyObject copies
constexpr int64_t kCopyPart = int64_t{1} << 30;  // parts of larger copies

// Deletes the object at `remote` (a missing one is no error: S3 answers 204 for it too).
Status Delete(const std::string& remote) {
  RemoteObject o;
  TFCKPT_RETURN_IF_ERROR(PrepareRemoteObject(remote, &o));
  RemoteRequest req;
  req.method = "DELETE";
  RemoteAnswer answer;
  Status s = SendRemoteRequest(o, req, &answer);
  return s.code() == Status::Code::kNotFound ? Status::OK() : s;
}

void DeleteQuietly(const std::string& remote) { (void)Delete(remote); }

// One part of a multipart upload: bytes [offset, offset + size) of the object.
struct Part {
  int64_t offset = 0, size = 0;
  bool copy = false;  // copied by the store (its answer gives the ETag in XML)
};

// `size` bytes cut into parts of `part` bytes (the last one shorter).
std::vector<Part> EvenParts(int64_t size, int64_t part, bool copy) {
  std::vector<Part> parts;
  for (int64_t at = 0; at < size; at += part)
    parts.push_back({at, std::min(part, size - at), copy});
  return parts;
}

// Fills the request of part `index` (from 0).
using PartFiller = std::function<void(int64_t index, const Part& part, RemoteRequest*)>;

// An object of one or more parts: CreateMultipartUpload, the parts in parallel, then
// CompleteMultipartUpload; aborted on any failure. `what`, when given, names the source of each
// copied part for messages.
Status Multipart(const RemoteObject& o, const std::vector<Part>& parts, const PartFiller& fill,
                 const std::vector<std::string>* what = nullptr) {
  RemoteRequest create;
  create.method = "POST";
  create.query = "uploads=";  // (with "=": libcurl signs a bare "uploads" differently)
  RemoteAnswer answer;
  TFCKPT_RETURN_IF_ERROR(SendRemoteRequest(o, create, &answer));
  const std::string id = XmlElementText(answer.body, "UploadId");
  if (id.empty()) {
    return Status::IOError(fmt::format(
        "writing '{}': the server started a multipart upload without an UploadId", o.name));
  }
  const std::string id_query = "uploadId=" + PercentEncode(id, false);
  const int64_t n = static_cast<int64_t>(parts.size());
  std::vector<std::string> etags(parts.size());
  Status s = ForEachPart(n, [&](int64_t i) {
    const Part& part = parts[static_cast<size_t>(i)];
    RemoteRequest put;
    fill(i, part, &put);
    put.method = "PUT";
    put.query = fmt::format("partNumber={}&{}", i + 1, id_query);
    RemoteAnswer a;
    Status sent = SendRemoteRequest(o, put, &a);
    if (!sent.ok() && part.copy && what != nullptr) {
      return sent.WithMessage(fmt::format(
          "the store's copy of {} into '{}' failed (UploadPartCopy): {}; if this store cannot "
          "copy ranges, write the output elsewhere and upload it",
          (*what)[static_cast<size_t>(i)], o.name, sent.message()));
    }
    TFCKPT_RETURN_IF_ERROR(sent);
    std::string etag = part.copy ? XmlElementText(a.body, "ETag") : a.etag;
    if (etag.empty()) {
      return Status::IOError(
          fmt::format("writing '{}': part {} was stored without an ETag", o.name, i + 1));
    }
    etags[static_cast<size_t>(i)] = std::move(etag);
    return Status::OK();
  });
  if (s.ok()) {
    std::string xml = "<CompleteMultipartUpload>";
    for (int64_t i = 0; i < n; i++) {
      xml += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", i + 1,
                         etags[static_cast<size_t>(i)]);
    }
    xml += "</CompleteMultipartUpload>";
    RemoteRequest complete;
    complete.method = "POST";
    complete.query = id_query;
    complete.body = xml;
    s = SendRemoteRequest(o, complete, &answer);
  }
  if (!s.ok()) {
    RemoteRequest abort;
    abort.method = "DELETE";
    abort.query = id_query;
    (void)SendRemoteRequest(o, abort, &answer);
  }
  return s;
}

// The headers that name `source` as the source of a copy, which must still have the ETag
// `version` (when not empty and strong: weak ones never match).
std::vector<std::string> CopySourceHeaders(const RemoteObject& source, const std::string& version) {
  std::vector<std::string> headers = {fmt::format("x-amz-copy-source: {}/{}", source.address.bucket,
                                                  PercentEncode(source.address.key, true))};
  if (!version.empty() && version.rfind("W/", 0) != 0) {
    headers.push_back(fmt::format("x-amz-copy-source-if-match: {}", version));
  }
  return headers;
}

// Finds `from`, which must still be the version that was read (its index describes that one):
// checked here, for a clear message, and by the copy itself (x-amz-copy-source-if-match), so
// that a source replaced while the copy runs fails it too.
Status StatCopySource(const RemoteObject& o, const std::string& from, const std::string& version,
                      RemoteObject* source) {
  TFCKPT_RETURN_IF_ERROR(StatRemoteObject(from, source));
  if (!version.empty() && source->etag != version) {
    return Status::DataLoss(fmt::format(
        "'{}' was not copied: its source '{}' changed after it was read (ETag {}, now {}); run "
        "the command again",
        o.name, from, version, source->etag));
  }
  return Status::OK();
}

// The store copies `from` to `o`: CopyObject, or UploadPartCopy in parts above its 5 GiB limit.
Status CopyInStore(const RemoteObject& o, const std::string& from, const std::string& version) {
  RemoteObject source;
  TFCKPT_RETURN_IF_ERROR(StatCopySource(o, from, version, &source));
  const std::vector<std::string> headers = CopySourceHeaders(source, version);
  if (source.size <= kMaxCopy) {
    RemoteRequest copy;
    copy.method = "PUT";
    copy.headers = headers;
    RemoteAnswer answer;
    return SendRemoteRequest(o, copy, &answer);
  }
  return Multipart(o, EvenParts(source.size, kCopyPart, /*copy=*/true),
                   [&](int64_t, const Part& p, RemoteRequest* r) {
                     r->headers = headers;
                     r->headers.push_back(fmt::format("x-amz-copy-source-range: bytes={}-{}",
                                                      p.offset, p.offset + p.size - 1));
                   });
}

// The size of the parts of a file of `size` bytes that goes up whole.
int64_t LocalPartSize(int64_t size) {
  const int64_t part = std::max(CurrentRemoteOptions().part_size, kMinPart);
  return std::max(part, (size + kMaxParts - 1) / kMaxParts);
}

// `size` bytes from `begin` as `n` parts of near-equal sizes.
void SplitEvenly(int64_t begin, int64_t size, int64_t n, bool copy, std::vector<Part>* parts) {
  for (int64_t i = 0; i < n; i++) {
    const int64_t len = size / n + (i < size % n ? 1 : 0);
    parts->push_back({begin, len, copy});
    begin += len;
  }
}

// Parts for a file of `size` bytes whose `ranges` the store copies, or false when S3's limits
// do not allow them (a part but the last under 5 MiB; more than 10,000 parts, which takes more
// than about 5,000 ranges in one file).
bool PlanParts(int64_t size, const std::vector<StoreRange>& ranges, std::vector<Part>* parts) {
  // Copy parts of at most 5 GiB; the local bytes between ranges in parts of at least the part
  // size, few enough for all to fit in 10,000.
  int64_t copy_parts = 0, local_regions = 0, local_bytes = size, at = 0;
  for (const StoreRange& r : ranges) {
    if (r.offset < at || r.size <= 0 || r.offset + r.size > size) return false;
    copy_parts += (r.size + kMaxCopy - 1) / kMaxCopy;
    local_regions += r.offset > at ? 1 : 0;
    local_bytes -= r.size;
    at = r.offset + r.size;
  }
  local_regions += size > at ? 1 : 0;
  const int64_t budget = kMaxParts - copy_parts - local_regions;
  if (budget <= 0) return false;
  const int64_t local_part =
      std::max({CurrentRemoteOptions().part_size, kMinPart, (local_bytes + budget - 1) / budget});
  auto add_local = [&](int64_t begin, int64_t end) {
    if (end > begin)
      SplitEvenly(begin, end - begin, std::max<int64_t>(1, (end - begin) / local_part), false,
                  parts);
  };
  at = 0;
  for (const StoreRange& r : ranges) {
    add_local(at, r.offset);
    SplitEvenly(r.offset, r.size, (r.size + kMaxCopy - 1) / kMaxCopy, true, parts);
    at = r.offset + r.size;
  }
  add_local(at, size);
  if (static_cast<int64_t>(parts->size()) > kMaxParts) return false;
  for (size_t i = 0; i + 1 < parts->size(); i++) {
    if ((*parts)[i].size < kMinPart) return false;
  }
  return true;
}

// Writes the bytes of `ranges` into the local file (instead of the store copying them): parts
// fetched in parallel, each written where it belongs.
Status FetchRanges(const RemoteObject& o, int fd, const std::string& local,
                   const std::vector<StoreRange>& ranges) {
  const int64_t chunk = std::max<int64_t>(CurrentRemoteOptions().part_size, 1);
  for (const StoreRange& r : ranges) {
    RemoteObject source;
    TFCKPT_RETURN_IF_ERROR(StatCopySource(o, r.from, r.version, &source));
    TFCKPT_RETURN_IF_ERROR(ForEachPart((r.size + chunk - 1) / chunk, [&](int64_t i) {
      const int64_t begin = i * chunk, n = std::min(chunk, r.size - begin);
      std::vector<char> buf(static_cast<size_t>(n));
      TFCKPT_RETURN_IF_ERROR(ReadRemoteRange(source, r.from_offset + begin, n, buf.data()));
      return file::PWriteAll(fd, buf.data(), buf.size(), r.offset + begin, local);
    }));
  }
  return Status::OK();
}

// A data object whose `ranges` the store copies and whose other bytes go up from `fd`.
Status PutWithRanges(const RemoteObject& o, const UploadFile& f, int fd, int64_t size) {
  std::vector<Part> parts;
  // (Too many ranges, which ShardOutput's kMaxStoreRanges prevents: fetched instead.)
  if (!PlanParts(size, f.ranges, &parts)) {
    TFCKPT_RETURN_IF_ERROR(FetchRanges(o, fd, f.local, f.ranges));
    parts = EvenParts(size, LocalPartSize(size), /*copy=*/false);
  }
  // Each part copied names its source object, found (and its version checked) once.
  std::vector<std::vector<std::string>> headers(parts.size());
  std::vector<std::string> what(parts.size());
  std::map<std::string, RemoteObject> sources;
  size_t next = 0;
  for (size_t i = 0; i < parts.size(); i++) {
    if (!parts[i].copy) continue;
    while (f.ranges[next].offset + f.ranges[next].size <= parts[i].offset) next++;
    const StoreRange& r = f.ranges[next];
    auto it = sources.find(r.from);
    if (it == sources.end()) {
      RemoteObject source;
      TFCKPT_RETURN_IF_ERROR(StatCopySource(o, r.from, r.version, &source));
      it = sources.emplace(r.from, std::move(source)).first;
    }
    const int64_t from = r.from_offset + (parts[i].offset - r.offset);
    if (from + parts[i].size > it->second.size) {
      return Status::Corruption(fmt::format(
          "bytes {}..{} lie outside '{}', which has {} bytes (the object is truncated or its "
          "index is damaged); nothing was written",
          from, from + parts[i].size, r.from, it->second.size));
    }
    headers[i] = CopySourceHeaders(it->second, r.version);
    headers[i].push_back(
        fmt::format("x-amz-copy-source-range: bytes={}-{}", from, from + parts[i].size - 1));
    what[i] = fmt::format("bytes {}..{} of '{}'", from, from + parts[i].size, r.from);
  }
  Status s = Multipart(
      o, parts,
      [&](int64_t i, const Part& p, RemoteRequest* r) {
        const size_t k = static_cast<size_t>(i);
        if (p.copy) {
          r->headers = headers[k];
        } else {
          r->body_fd = fd;
          r->body_offset = p.offset;
          r->body_size = p.size;
        }
      },
      &what);
  return s;
}

Status PutFile(const UploadFile& f) {
  RemoteObject o;
  TFCKPT_RETURN_IF_ERROR(PrepareRemoteObject(f.remote, &o));
  if (!f.copy_from.empty()) return CopyInStore(o, f.copy_from, f.copy_version);
  const int fd = ::open(f.local.c_str(), (f.ranges.empty() ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(fmt::format("cannot open '{}'", f.local), errno);
  struct stat st;
  Status s;
  if (::fstat(fd, &st) != 0) {
    s = Status::FromErrno(fmt::format("cannot stat '{}'", f.local), errno);
  } else {
    const int64_t size = st.st_size;
    const int64_t part = LocalPartSize(size);
    if (!f.ranges.empty()) {
      s = PutWithRanges(o, f, fd, size);
    } else if (size <= part) {
      RemoteRequest put;
      put.method = "PUT";
      put.body_fd = fd;
      put.body_size = size;
      RemoteAnswer answer;
      s = SendRemoteRequest(o, put, &answer);
    } else {
      s = Multipart(o, EvenParts(size, part, /*copy=*/false),
                    [fd](int64_t, const Part& p, RemoteRequest* r) {
                      r->body_fd = fd;
                      r->body_offset = p.offset;
                      r->body_size = p.size;
                    });
    }
  }
  ::close(fd);
  return s;
}

}  // namespace

bool StoreCopiesRanges(const std::string& path) { return path.rfind("s3://", 0) == 0; }

int UploadPhase(const std::string& remote) {
  const std::string base = file::Basename(remote);
  if (base == "checkpoint") return 2;
  if (base.size() > 6 && base.compare(base.size() - 6, 6, ".index") == 0) return 1;
  if (base.ends_with(".weights.json")) return 1;  // (sharded Keras weights' map: after its shards)
  return 0;
}

Status UploadFiles(const std::vector<UploadFile>& files,
                   const std::vector<std::string>& delete_first,
                   const std::vector<std::string>& delete_after) {
  for (const UploadFile& f : files) {
    RemoteObject o;
    TFCKPT_RETURN_IF_ERROR(PrepareRemoteObject(f.remote, &o));
    TFCKPT_RETURN_IF_ERROR(CheckOutputAddress(f.remote));
  }
  // (If the old index cannot be deleted, nothing is written: new data under the old index
  // would be a checkpoint of neither.)
  for (const std::string& old : delete_first) {
    Status s = Delete(old);
    if (!s.ok()) {
      return Status::IOError(fmt::format(
          "the checkpoint being replaced keeps its index, as deleting it failed; nothing was "
          "written: {}",
          s.message()));
    }
  }
  std::vector<std::string> put;
  for (int phase = 0; phase < 3; phase++) {
    for (const UploadFile& f : files) {
      if (UploadPhase(f.remote) != phase) continue;
      Status s = PutFile(f);
      if (!s.ok()) {
        // (The failed object too: its last attempt may have been stored though its answer was
        // lost.)
        DeleteQuietly(f.remote);
        for (const std::string& p : put) DeleteQuietly(p);
        return s;
      }
      put.push_back(f.remote);
    }
  }
  for (const std::string& old : delete_after) DeleteQuietly(old);
  return Status::OK();
}

}  // namespace tfckpt
