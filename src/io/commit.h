// FileCommit: the one way tfckpt makes its outputs appear. A set of new files or directories is
// written under temporary names beside their final ones ("<name>.tfckpt-tmp-<pid>-<random>...")
// and then appears under the final names together, or not at all.
//
// Commit() holds an exclusive lock (flock) on every directory it writes into, so two commits of
// one output never leave a mix of both. Under the lock it first takes away what ReplaceFirst()
// named (an old index that must never name new data), then renames every output into place in
// the order it was added (data files before the index that names them). What a final name held
// before is kept aside until the end: a file by a hard link (a rename where there is none), a
// directory by exchanging it with the new one in one step (renameat2; a rename where the
// filesystem cannot). A file never replaces a directory, nor a directory a file. When every
// rename has succeeded, what was set aside is removed and the directories are fsync'ed (with
// `sync`). When one fails, everything done is undone: outputs are removed, inputs that were to
// be moved go back, and what was set aside returns to its name.
//
// An output at a remote address (s3://, gs://) is written to a local staging directory (under
// TMPDIR) and uploaded by Commit() before any local rename, through io/remote_upload.h: data
// objects, then index objects, then state files; an old index that ReplaceFirst() names is
// deleted before the upload. If the upload fails, what it put is deleted. The staging directory
// goes in every case.
//
// A run that is killed leaves only temporary names, which the next FileCommit writing into the
// same directory removes (those of processes that no longer exist). Destroying a FileCommit
// that did not commit removes its temporaries.
//
// Thread-safety: a FileCommit is used by one thread at a time.

#ifndef TFCKPT_IO_COMMIT_H_
#define TFCKPT_IO_COMMIT_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/file_util.h"
#include "io/remote_upload.h"
#include "tfckpt/status.h"

namespace tfckpt {

class FileCommit {
 public:
  explicit FileCommit(bool sync = true);
  ~FileCommit();  // Abort() unless committed
  FileCommit(const FileCommit&) = delete;
  FileCommit& operator=(const FileCommit&) = delete;

  // A new temporary name in the directory of `near` (created if missing), for a file or a
  // directory the caller creates; removed by Abort() unless it was placed and committed. The
  // first name in a directory also clears the temporaries that dead processes left there.
  Status NewTemporary(const std::string& near, std::string* temp);
  // At Commit(), `temp` (from NewTemporary) is renamed to `final_path`. For a remote
  // `final_path` only, `store_ranges` names bytes of `temp` (holes in it) that the object store
  // copies from other objects (io/remote_upload.h).
  void Place(const std::string& temp, const std::string& final_path,
             std::vector<StoreRange> store_ranges = {});
  // NewTemporary(final_path) and Place() in one.
  Status Add(const std::string& final_path, std::string* temp);
  // At Commit(), the existing file `from` (an input) is renamed to `final_path`; it goes back if
  // the commit fails.
  void Move(const std::string& from, const std::string& final_path);
  // At Commit(), before any output appears, `path` (if it exists) is taken away; it is removed
  // once the commit is complete, and returns if the commit fails.
  void ReplaceFirst(const std::string& path);
  // At Commit(), the remote object `from` is copied by the object store to the remote
  // `final_path` (with the data objects; see SameObjectStore), provided it still has the ETag
  // `version` (when not empty).
  void CopyInStore(const std::string& from, const std::string& version,
                   const std::string& final_path);

  // Takes the directory locks now (Commit() takes them otherwise), so that what the caller checks
  // next (an output that must not exist, the old files to replace) stays true until Commit().
  Status Lock();
  Status Commit();
  // Removes every temporary; the FileCommit is unusable afterwards.
  void Abort();

 private:
  struct Rename {
    std::string from, to;
    bool move = false;  // `from` is an input, not a temporary
    std::vector<StoreRange> ranges;
  };
  struct Aside {
    std::string path, aside;
    bool directory = false;
  };
  Status SetAside(const std::string& path, std::vector<Aside>* asides, bool hard_link);
  // Uploads what is placed at remote paths (io/remote_upload.h) and takes it out of the lists.
  Status CommitRemote();
  void RemoveStaging();
  void Undo(size_t renamed, const std::vector<Aside>& first, const std::vector<Aside>& replaced);

  bool sync_;
  bool done_ = false;
  std::vector<std::string> temporaries_;
  std::vector<std::string> dirs_;  // every directory written into, sorted
  std::vector<Rename> renames_;
  std::vector<std::string> replace_first_;
  struct StoreCopy {
    std::string from, version, to;
  };
  std::vector<StoreCopy> store_copies_;
  std::vector<std::unique_ptr<file::DirectoryLock>> locks_;
  std::string staging_;  // the local directory where remote outputs are written before upload
};

// Writes `contents` to a temporary file beside `path`, fsyncs it (with `sync`), and renames it
// over `path`, through a FileCommit.
Status WriteFileAtomically(const std::string& path, std::string_view contents, bool sync = true);

}  // namespace tfckpt

#endif  // TFCKPT_IO_COMMIT_H_
