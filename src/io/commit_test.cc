#include "io/commit.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "io/file_util.h"
#include "testing/test_util.h"

namespace tfckpt {
namespace {

using testing::ReadAll;
using testing::TempDir;
using testing::WriteAll;

// Names in `dir`, sorted.
std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> names;
  EXPECT_OK(file::ListDirectory(dir, &names));
  return names;
}

// Writes `text` at a new temporary of `commit` that becomes `final_path`.
void Stage(FileCommit* commit, const std::string& final_path, std::string_view text) {
  std::string temp;
  ASSERT_OK(commit->Add(final_path, &temp));
  EXPECT_NE(temp.find(file::kTempMarker), std::string::npos) << temp;
  EXPECT_EQ(file::Dirname(temp), file::Dirname(final_path));
  WriteAll(temp, text);
}

TEST(FileCommit, FilesAppearInOrderAndTemporariesGo) {
  const std::string d = TempDir();
  FileCommit commit(/*sync=*/true);
  ASSERT_NO_FATAL_FAILURE(Stage(&commit, d + "/sub/a.data", "data"));
  ASSERT_NO_FATAL_FAILURE(Stage(&commit, d + "/sub/a.index", "index"));
  EXPECT_FALSE(file::Exists(d + "/sub/a.index"));  // nothing under a final name before Commit
  ASSERT_OK(commit.Commit());
  EXPECT_EQ(ReadAll(d + "/sub/a.data"), "data");
  EXPECT_EQ(ReadAll(d + "/sub/a.index"), "index");
  EXPECT_EQ(Names(d + "/sub"), (std::vector<std::string>{"a.data", "a.index"}));
  EXPECT_STATUS(commit.Commit(), Status::Code::kFailedPrecondition, "already committed");
}

TEST(FileCommit, AnUncommittedCommitLeavesNothing) {
  const std::string d = TempDir();
  WriteAll(d + "/keep", "old");
  {
    FileCommit commit;
    ASSERT_NO_FATAL_FAILURE(Stage(&commit, d + "/keep", "new"));
    ASSERT_NO_FATAL_FAILURE(Stage(&commit, d + "/other", "x"));
    std::string dir;
    ASSERT_OK(commit.NewTemporary(d + "/tree", &dir));
    ASSERT_OK(file::CreateDirectories(dir + "/inner"));
    WriteAll(dir + "/inner/f", "f");
  }  // destroyed without Commit
  EXPECT_EQ(Names(d), std::vector<std::string>{"keep"});
  EXPECT_EQ(ReadAll(d + "/keep"), "old");
}

TEST(FileCommit, ReplacesFilesAndDirectoriesAndLeavesNoAsides) {
  const std::string d = TempDir();
  WriteAll(d + "/state", "old state");
  ASSERT_OK(file::CreateDirectories(d + "/model/variables"));
  WriteAll(d + "/model/variables/old", "old");
  FileCommit commit;
  ASSERT_NO_FATAL_FAILURE(Stage(&commit, d + "/state", "new state"));
  std::string dir;
  ASSERT_OK(commit.Add(d + "/model", &dir));
  ASSERT_OK(file::CreateDirectories(dir + "/variables"));
  WriteAll(dir + "/variables/new", "new");
  ASSERT_OK(commit.Commit());
  EXPECT_EQ(ReadAll(d + "/state"), "new state");
  EXPECT_EQ(Names(d + "/model/variables"), std::vector<std::string>{"new"});
  EXPECT_EQ(Names(d), (std::vector<std::string>{"model", "state"}));
}

TEST(FileCommit, ReplaceFirstTakesAnOldFileAwayBeforeTheNewOnesAppear) {
  const std::string d = TempDir();
  WriteAll(d + "/ckpt.index", "old index");
  WriteAll(d + "/ckpt.data-00000-of-00002", "old data 0");
  WriteAll(d + "/ckpt.data-00001-of-00002", "old data 1");
  FileCommit commit;
  ASSERT_NO_FATAL_FAILURE(Stage(&commit, d + "/ckpt.data-00000-of-00001", "new data"));
  ASSERT_NO_FATAL_FAILURE(Stage(&commit, d + "/ckpt.index", "new index"));
  ASSERT_OK(commit.Lock());
  commit.ReplaceFirst(d + "/ckpt.index");
  commit.ReplaceFirst(d + "/ckpt.data-00000-of-00002");
  commit.ReplaceFirst(d + "/ckpt.data-00001-of-00002");
  commit.ReplaceFirst(d + "/not-there");  // nothing to take away
  ASSERT_OK(commit.Commit());
  EXPECT_EQ(Names(d), (std::vector<std::string>{"ckpt.data-00000-of-00001", "ckpt.index"}));
  EXPECT_EQ(ReadAll(d + "/ckpt.index"), "new index");
}

TEST(FileCommit, AFailedRenameUndoesEverything) {
  const std::string d = TempDir();
  WriteAll(d + "/a", "old a");
  WriteAll(d + "/old.index", "old index");
  WriteAll(d + "/input", "input bytes");
  FileCommit commit;
  ASSERT_NO_FATAL_FAILURE(Stage(&commit, d + "/a", "new a"));
  commit.Move(d + "/input", d + "/moved");
  ASSERT_NO_FATAL_FAILURE(Stage(&commit, d + "/b", "new b"));
  commit.Place(d + "/vanished", d + "/c");  // a temporary that is not there: the rename fails
  commit.ReplaceFirst(d + "/old.index");
  EXPECT_STATUS(commit.Commit(), Status::Code::kIOError, "vanished");
  // The old files are back, the input is where it was, no output and no temporary is left.
  EXPECT_EQ(Names(d), (std::vector<std::string>{"a", "input", "old.index"}));
  EXPECT_EQ(ReadAll(d + "/a"), "old a");
  EXPECT_EQ(ReadAll(d + "/old.index"), "old index");
  EXPECT_EQ(ReadAll(d + "/input"), "input bytes");
}

TEST(FileCommit, MovesAnInput) {
  const std::string d = TempDir();
  WriteAll(d + "/src.data", "bytes");
  FileCommit commit;
  commit.Move(d + "/src.data", d + "/out/dst.data");
  ASSERT_OK(file::CreateDirectories(d + "/out"));
  ASSERT_OK(commit.Commit());
  EXPECT_FALSE(file::Exists(d + "/src.data"));
  EXPECT_EQ(ReadAll(d + "/out/dst.data"), "bytes");
}

TEST(FileCommit, RemovesTheTemporariesOfDeadProcessesOnly) {
  const std::string d = TempDir();
  // A pid above Linux's largest (4194304) never runs; this process's own is alive.
  const std::string dead = d + "/x" + std::string(file::kTempMarker) + "4194305-0123456789abcdef";
  const std::string alive =
      d + "/y" + std::string(file::kTempMarker) + std::to_string(::getppid()) + "-0123";
  WriteAll(dead, "left by a killed run");
  WriteAll(alive, "still being written");
  FileCommit commit;
  std::string temp;
  ASSERT_OK(commit.NewTemporary(d + "/z", &temp));
  EXPECT_FALSE(file::Exists(dead));
  EXPECT_TRUE(file::Exists(alive));
}

TEST(FileCommit, AFileNeverReplacesADirectory) {
  const std::string d = TempDir();
  ASSERT_OK(file::CreateDirectories(d + "/out.npz/inside"));
  FileCommit commit;
  ASSERT_NO_FATAL_FAILURE(Stage(&commit, d + "/out.npz", "zip"));
  EXPECT_STATUS(commit.Commit(), Status::Code::kInvalidArgument, "is a directory");
  EXPECT_TRUE(file::IsDirectory(d + "/out.npz/inside"));
  EXPECT_EQ(Names(d), std::vector<std::string>{"out.npz"});
}

TEST(FileCommit, TheClearingOfStaleTemporariesKeepsADirectorySetAside) {
  // A run killed while it replaced a directory may leave the only copy of the old one aside.
  const std::string d = TempDir();
  const std::string aside =
      d + "/model" + std::string(file::kTempMarker) + "old-4194305-0123456789abcdef-old";
  ASSERT_OK(file::CreateDirectories(aside + "/variables"));
  FileCommit commit;
  std::string temp;
  ASSERT_OK(commit.NewTemporary(d + "/other", &temp));
  EXPECT_TRUE(file::IsDirectory(aside + "/variables"));
}

TEST(FileCommit, WriteFileAtomicallyReplaces) {
  const std::string d = TempDir();
  ASSERT_OK(WriteFileAtomically(d + "/checkpoint", "first"));
  ASSERT_OK(WriteFileAtomically(d + "/checkpoint", "second", /*sync=*/false));
  EXPECT_EQ(ReadAll(d + "/checkpoint"), "second");
  EXPECT_EQ(Names(d), std::vector<std::string>{"checkpoint"});
}

}  // namespace
}  // namespace tfckpt
