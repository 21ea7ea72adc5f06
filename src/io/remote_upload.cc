#include "io/remote_upload.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>

#include <fmt/format.h>

#include "io/file_util.h"
#include "io/remote_client.h"
#include "io/remote_config.h"

namespace tfckpt {
namespace {

constexpr int64_t kMinPart = int64_t{5} << 20;   // S3's smallest part but the last
constexpr int64_t kMaxParts = 10000;             // and its most parts per upload
constexpr int64_t kMaxCopy = int64_t{5} << 30;   // the largest object CopyObject copies
constexpr int64_t kCopyPart = int64_t{1} << 30;  // parts of larger copies

int PhaseOf(const std::string& remote) {
  const std::string base = file::Basename(remote);
  if (base == "checkpoint") return 2;
  if (base.size() > 6 && base.compare(base.size() - 6, 6, ".index") == 0) return 1;
  return 0;
}

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

// Fills the request of part `index` (from 0), which holds [offset, offset + size).
using PartFiller = std::function<void(int64_t index, int64_t offset, int64_t size, RemoteRequest*)>;

// An object of more than one part: CreateMultipartUpload, the parts in parallel, then
// CompleteMultipartUpload; aborted on any failure. `copy` parts answer their ETag in XML.
Status Multipart(const RemoteObject& o, int64_t size, int64_t part, const PartFiller& fill,
                 bool copy) {
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
  const int64_t parts = (size + part - 1) / part;
  std::vector<std::string> etags(static_cast<size_t>(parts));
  Status s = ForEachPart(parts, [&](int64_t i) {
    RemoteRequest put;
    fill(i, i * part, std::min(part, size - i * part), &put);
    put.method = "PUT";
    put.query = fmt::format("partNumber={}&{}", i + 1, id_query);
    RemoteAnswer a;
    TFCKPT_RETURN_IF_ERROR(SendRemoteRequest(o, put, &a));
    std::string etag = copy ? XmlElementText(a.body, "ETag") : a.etag;
    if (etag.empty()) {
      return Status::IOError(
          fmt::format("writing '{}': part {} was stored without an ETag", o.name, i + 1));
    }
    etags[static_cast<size_t>(i)] = std::move(etag);
    return Status::OK();
  });
  if (s.ok()) {
    std::string xml = "<CompleteMultipartUpload>";
    for (int64_t i = 0; i < parts; i++) {
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

// The store copies `from` to `o`: CopyObject, or UploadPartCopy in parts above its 5 GiB limit.
// The source must still be the version that was read (its index describes that one). (The check
// is a HEAD before the copy: x-amz-copy-source-if-match would close the gap between the two, but
// S3-compatible servers do not all accept it signed.)
Status CopyInStore(const RemoteObject& o, const std::string& from, const std::string& version) {
  RemoteObject source;
  TFCKPT_RETURN_IF_ERROR(StatRemoteObject(from, &source));
  if (!version.empty() && source.etag != version) {
    return Status::DataLoss(fmt::format(
        "'{}' was not copied: its source '{}' changed after it was read (ETag {}, now {}); run "
        "the command again",
        o.name, from, version, source.etag));
  }
  const std::vector<std::string> headers = {fmt::format(
      "x-amz-copy-source: {}/{}", source.address.bucket, PercentEncode(source.address.key, true))};
  if (source.size <= kMaxCopy) {
    RemoteRequest copy;
    copy.method = "PUT";
    copy.headers = headers;
    RemoteAnswer answer;
    return SendRemoteRequest(o, copy, &answer);
  }
  return Multipart(
      o, source.size, kCopyPart,
      [&](int64_t, int64_t offset, int64_t size, RemoteRequest* r) {
        r->headers = headers;
        r->headers.push_back(
            fmt::format("x-amz-copy-source-range: bytes={}-{}", offset, offset + size - 1));
      },
      /*copy=*/true);
}

Status PutFile(const UploadFile& f) {
  RemoteObject o;
  TFCKPT_RETURN_IF_ERROR(PrepareRemoteObject(f.remote, &o));
  if (!f.copy_from.empty()) return CopyInStore(o, f.copy_from, f.copy_version);
  const int fd = ::open(f.local.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(fmt::format("cannot open '{}'", f.local), errno);
  struct stat st;
  Status s;
  if (::fstat(fd, &st) != 0) {
    s = Status::FromErrno(fmt::format("cannot stat '{}'", f.local), errno);
  } else {
    const int64_t size = st.st_size;
    int64_t part = std::max(CurrentRemoteOptions().part_size, kMinPart);
    part = std::max(part, (size + kMaxParts - 1) / kMaxParts);
    if (size <= part) {
      RemoteRequest put;
      put.method = "PUT";
      put.body_fd = fd;
      put.body_size = size;
      RemoteAnswer answer;
      s = SendRemoteRequest(o, put, &answer);
    } else {
      s = Multipart(
          o, size, part,
          [fd](int64_t, int64_t offset, int64_t n, RemoteRequest* r) {
            r->body_fd = fd;
            r->body_offset = offset;
            r->body_size = n;
          },
          /*copy=*/false);
    }
  }
  ::close(fd);
  return s;
}

}  // namespace

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
      if (PhaseOf(f.remote) != phase) continue;
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
