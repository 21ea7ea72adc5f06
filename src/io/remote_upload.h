// RemoteUpload: local files put into object storage as one commit. Objects go up in phases:
// every data object first (a large file by a multipart upload whose parts go up in parallel),
// then the index objects (and the maps of sharded Keras weights), then the `checkpoint` state
// files, so that a reader who finds an index finds its data complete. A data object may take
// some of its bytes from objects of the same
// store, copied by the store itself (UploadPartCopy of byte ranges): the local file has a hole
// there. If anything fails, every object this commit put is deleted and an
// unfinished multipart upload is aborted: no reader ever sees half a checkpoint.
//
// Thread-safety: UploadFiles may be called from any thread; one call uses up to
// RemoteOptions::concurrency requests at once.

#ifndef TFCKPT_IO_REMOTE_UPLOAD_H_
#define TFCKPT_IO_REMOTE_UPLOAD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "tfckpt/status.h"

namespace tfckpt {

// S3's smallest part of a multipart upload (all but the last part must be as large): a range
// that the store copies is at least this long, and so is every run of local bytes between two.
constexpr int64_t kMinStorePart = int64_t{5} << 20;
// The most ranges one object takes from others: with the runs of local bytes between them, its
// parts stay within S3's 10,000 (for objects up to terabytes).
constexpr size_t kMaxStoreRanges = 4000;

// Whether the store of the remote `path` is asked to copy byte ranges (UploadPartCopy): S3's
// (s3://) is; Cloud Storage's (gs://) is not, its XML API not documenting that call.
bool StoreCopiesRanges(const std::string& path);

// Bytes [offset, offset + size) of an object being uploaded are bytes [from_offset, ...) of the
// object `from` (of the same store), which must still have the ETag `version` (when not empty).
struct StoreRange {
  int64_t offset = 0;
  std::string from;
  std::string version;
  int64_t from_offset = 0;
  int64_t size = 0;
};

struct UploadFile {
  std::string local;         // a regular file (empty with `copy_from`)
  std::string remote;        // s3://BUCKET/KEY or gs://BUCKET/KEY
  std::string copy_from;     // else: an object of the same store, copied by the store itself
                             // (CopyObject; UploadPartCopy above 5 GiB): a data object
  std::string copy_version;  // the ETag `copy_from` must still have (when not empty)
  // With `local`: ranges the store copies into the object, sorted and disjoint, each at least
  // kMinStorePart long, with either nothing or at least kMinStorePart local bytes before each
  // (where the local file has a hole). Ranges that cannot be copied so are fetched instead.
  std::vector<StoreRange> ranges;
};

// The phase in which the object at `remote` goes up: 0 data, 1 an index (or a map of sharded
// Keras weights), 2 a `checkpoint` state file.
int UploadPhase(const std::string& remote);

// Deletes `delete_first` (objects an overwrite replaces, such as the old index), puts `files`
// (phase by phase as above), then deletes `delete_after` (old objects the new ones do not
// replace). Objects of `delete_first` are gone even when the upload fails.
Status UploadFiles(const std::vector<UploadFile>& files,
                   const std::vector<std::string>& delete_first,
                   const std::vector<std::string>& delete_after);

}  // namespace tfckpt

#endif  // TFCKPT_IO_REMOTE_UPLOAD_H_
