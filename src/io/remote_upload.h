// RemoteUpload: local files put into object storage as one commit. Objects go up in phases:
// every data object first (a large file by a multipart upload whose parts go up in parallel),
// then the index objects, then the `checkpoint` state files, so that a reader who finds an index
// finds its data complete. If anything fails, every object this commit put is deleted and an
// unfinished multipart upload is aborted: no reader ever sees half a checkpoint.
//
// Thread-safety: UploadFiles may be called from any thread; one call uses up to
// RemoteOptions::concurrency requests at once.

#ifndef TFCKPT_IO_REMOTE_UPLOAD_H_
#define TFCKPT_IO_REMOTE_UPLOAD_H_

#include <string>
#include <vector>

#include "tfckpt/status.h"

namespace tfckpt {

struct UploadFile {
  std::string local;         // a regular file (empty with `copy_from`)
  std::string remote;        // s3://BUCKET/KEY or gs://BUCKET/KEY
  std::string copy_from;     // else: an object of the same store, copied by the store itself
                             // (CopyObject; UploadPartCopy above 5 GiB): a data object
  std::string copy_version;  // the ETag `copy_from` must still have (when not empty)
};

// Deletes `delete_first` (objects an overwrite replaces, such as the old index), puts `files`
// (phase by phase as above), then deletes `delete_after` (old objects the new ones do not
// replace). Objects of `delete_first` are gone even when the upload fails.
Status UploadFiles(const std::vector<UploadFile>& files,
                   const std::vector<std::string>& delete_first,
                   const std::vector<std::string>& delete_after);

}  // namespace tfckpt

#endif  // TFCKPT_IO_REMOTE_UPLOAD_H_
