#include "io/commit.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include <fmt/format.h>

#include "io/remote_upload.h"
#include "tfckpt/remote.h"

namespace tfckpt {

FileCommit::FileCommit(bool sync) : sync_(sync) {}

FileCommit::~FileCommit() {
  if (!done_) Abort();
}

Status FileCommit::NewTemporary(const std::string& near, std::string* temp) {
  if (done_) return Status::FailedPrecondition("the output was already committed or abandoned");
  if (IsRemotePath(near)) {
    // A remote output is written to a local staging directory and uploaded by Commit().
    TFCKPT_RETURN_IF_ERROR(CheckOutputAddress(near));
    if (staging_.empty()) {
      const char* tmp = std::getenv("TMPDIR");
      std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/tfckpt-upload-XXXXXX";
      if (::mkdtemp(pattern.data()) == nullptr) {
        return Status::FromErrno(
            fmt::format("cannot create a directory to stage '{}' before its upload", near), errno);
      }
      staging_ = pattern;
    }
    *temp = file::Join(staging_, file::Basename(near)) + std::string(file::kTempMarker) +
            file::RandomToken();
    temporaries_.push_back(*temp);
    return Status::OK();
  }
  const std::string dir = file::Dirname(near);
  if (std::find(dirs_.begin(), dirs_.end(), dir) == dirs_.end()) {
    TFCKPT_RETURN_IF_ERROR(file::CreateDirectories(dir));
    file::RemoveStaleTemporaries(near);
    dirs_.insert(std::upper_bound(dirs_.begin(), dirs_.end(), dir), dir);
  }
  *temp = near + std::string(file::kTempMarker) + file::RandomToken();
  temporaries_.push_back(*temp);
  return Status::OK();
}

void FileCommit::Place(const std::string& temp, const std::string& final_path,
                       std::vector<StoreRange> store_ranges) {
  renames_.push_back({temp, final_path, false, std::move(store_ranges)});
}

Status FileCommit::Add(const std::string& final_path, std::string* temp) {
  TFCKPT_RETURN_IF_ERROR(NewTemporary(final_path, temp));
  Place(*temp, final_path);
  return Status::OK();
}

void FileCommit::Move(const std::string& from, const std::string& final_path) {
  renames_.push_back({from, final_path, true, {}});
}

void FileCommit::ReplaceFirst(const std::string& path) { replace_first_.push_back(path); }

void FileCommit::CopyInStore(const std::string& from, const std::string& version,
                             const std::string& final_path) {
  store_copies_.push_back({from, version, final_path});
}

Status FileCommit::Lock() {
  if (!locks_.empty()) return Status::OK();
  auto note = [&](const std::string& path) {
    if (IsRemotePath(path)) return;  // (object storage has no directories to lock)
    const std::string dir = file::Dirname(path);
    if (std::find(dirs_.begin(), dirs_.end(), dir) == dirs_.end()) {
      dirs_.insert(std::upper_bound(dirs_.begin(), dirs_.end(), dir), dir);
    }
  };
  for (const Rename& r : renames_) note(r.to);
  for (const std::string& path : replace_first_) note(path);
  for (const std::string& dir : dirs_) {  // sorted: two commits never wait on each other
    auto lock = std::make_unique<file::DirectoryLock>();
    TFCKPT_RETURN_IF_ERROR(lock->Acquire(dir));
    locks_.push_back(std::move(lock));
  }
  return Status::OK();
}

// Keeps what `path` holds under a temporary name: a file by a second hard link where it can
// (the name keeps pointing at it until a rename replaces it), else by renaming it; a directory
// by renaming it, under a name that the clearing of stale temporaries leaves alone ("old-"
// where a pid stands), since it may be the only copy of an output a killed run was replacing.
Status FileCommit::SetAside(const std::string& path, std::vector<Aside>* asides, bool hard_link) {
  if (!file::Exists(path)) return Status::OK();
  const bool directory = file::IsDirectory(path);
  Aside a{path,
          path + std::string(file::kTempMarker) + (directory ? "old-" : "") + file::RandomToken() +
              "-old",
          directory};
  if (hard_link && !directory && ::link(path.c_str(), a.aside.c_str()) == 0) {
    asides->push_back(std::move(a));
    return Status::OK();
  }
  TFCKPT_RETURN_IF_ERROR(file::Rename(path, a.aside));
  asides->push_back(std::move(a));
  return Status::OK();
}

// Puts the new directory `from` in the place of the directory `to` in one step (the old one
// then lies at `from`): no moment without either. False where the filesystem cannot.
static bool ExchangeDirectories(const std::string& from, const std::string& to) {
  return ::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_EXCHANGE) == 0;
}

void FileCommit::Undo(size_t renamed, const std::vector<Aside>& first,
                      const std::vector<Aside>& replaced) {
  for (size_t i = renamed; i-- > 0;) {
    const Rename& r = renames_[i];
    if (r.move) {
      ::rename(r.to.c_str(), r.from.c_str());
    } else {
      file::RemoveTree(r.to);
    }
  }
  for (const std::vector<Aside>* list : {&replaced, &first}) {
    for (const Aside& a : *list) {
      if (!a.directory) {
        // Replaces what stands there; when that is still the same file (its rename never
        // happened), rename does nothing and the second link goes.
        ::rename(a.aside.c_str(), a.path.c_str());
        ::unlink(a.aside.c_str());
      } else {
        file::RemoveTree(a.path);
        ::rename(a.aside.c_str(), a.path.c_str());
      }
    }
  }
}

Status FileCommit::CommitRemote() {
  std::vector<UploadFile> files;
  std::vector<std::string> first, after;
  std::vector<Rename> local;
  for (const Rename& r : renames_) {
    if (!IsRemotePath(r.to)) {
      if (!r.ranges.empty()) {  // (a hole in a local file would be zeros: never committed)
        return Status::FailedPrecondition(fmt::format(
            "'{}' takes bytes from the object store but is not in it; nothing was written", r.to));
      }
      local.push_back(r);
      continue;
    }
    if (r.move) {
      return Status::Unsupported(fmt::format(
          "'{}' cannot be moved into object storage ('{}'); copy it instead", r.from, r.to));
    }
    if (file::IsDirectory(r.from)) {  // (a SavedModel: every file under it)
      std::vector<std::string> stack = {""};
      while (!stack.empty()) {
        const std::string rel = stack.back();
        stack.pop_back();
        std::vector<std::string> names;
        TFCKPT_RETURN_IF_ERROR(file::ListDirectory(file::Join(r.from, rel), &names));
        for (const std::string& n : names) {
          const std::string sub = rel.empty() ? n : rel + "/" + n;
          if (file::IsDirectory(file::Join(r.from, sub))) {
            stack.push_back(sub);
          } else {
            files.push_back({file::Join(r.from, sub), r.to + "/" + sub, "", "", {}});
          }
        }
      }
    } else {
      files.push_back({r.from, r.to, "", "", r.ranges});
    }
  }
  for (const StoreCopy& c : store_copies_) files.push_back({"", c.to, c.from, c.version, {}});
  for (const std::string& path : replace_first_) {
    if (!IsRemotePath(path)) continue;
    (UploadPhase(path) == 1 ? first : after).push_back(path);  // (an index or a map goes first)
  }
  if (files.empty() && first.empty()) return Status::OK();
  TFCKPT_RETURN_IF_ERROR(UploadFiles(files, first, after));
  renames_ = std::move(local);
  store_copies_.clear();
  std::erase_if(replace_first_, [](const std::string& p) { return IsRemotePath(p); });
  return Status::OK();
}

Status FileCommit::Commit() {
  if (done_) return Status::FailedPrecondition("the output was already committed or abandoned");
  auto fail = [&](Status s) {
    Abort();
    return s;
  };
  Status s = Lock();
  if (!s.ok()) return fail(s);
  // Remote outputs first: uploaded from the staging directory, all or nothing.
  s = CommitRemote();
  if (!s.ok()) return fail(s);
  std::vector<Aside> first, replaced;
  for (const std::string& path : replace_first_) {
    s = SetAside(path, &first, /*hard_link=*/false);
    if (!s.ok()) {
      Undo(0, first, replaced);
      return fail(s);
    }
  }
  for (size_t i = 0; i < renames_.size(); i++) {
    const Rename& r = renames_[i];
    const bool new_dir = file::IsDirectory(r.from), old_dir = file::IsDirectory(r.to);
    if (file::Exists(r.to) && new_dir != old_dir) {
      s = Status::InvalidArgument(fmt::format(
          "'{}' is {}, and the output there is {}; remove it or choose another output", r.to,
          old_dir ? "a directory" : "a file", new_dir ? "a directory" : "a file"));
    } else if (new_dir && old_dir && ExchangeDirectories(r.from, r.to)) {
      replaced.push_back({r.to, r.from, true});  // the old directory, now at `from`
    } else {
      s = SetAside(r.to, &replaced, /*hard_link=*/true);
      if (s.ok()) s = file::Rename(r.from, r.to);
    }
    if (!s.ok()) {
      Undo(i, first, replaced);
      return fail(s);
    }
  }
  done_ = true;
  for (const std::vector<Aside>* list : {&first, &replaced}) {
    for (const Aside& a : *list) file::RemoveTree(a.aside);
  }
  RemoveStaging();
  if (sync_) {
    for (const std::string& dir : dirs_) TFCKPT_RETURN_IF_ERROR(file::SyncDirectory(dir));
  }
  locks_.clear();
  return Status::OK();
}

void FileCommit::RemoveStaging() {
  if (staging_.empty()) return;
  file::RemoveTree(staging_);
  staging_.clear();
}

void FileCommit::Abort() {
  for (const std::string& t : temporaries_) file::RemoveTree(t);
  temporaries_.clear();
  RemoveStaging();
  renames_.clear();
  locks_.clear();
  done_ = true;
}

Status WriteFileAtomically(const std::string& path, std::string_view contents, bool sync) {
  FileCommit commit(sync);
  std::string temp;
  TFCKPT_RETURN_IF_ERROR(commit.Add(path, &temp));
  TFCKPT_RETURN_IF_ERROR(file::WriteNewFile(temp, contents, sync));
  return commit.Commit();
}

}  // namespace tfckpt
