#include "io/byte_source.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "io/file_util.h"
#include "io/mapped_file.h"
#include "testing/test_util.h"

namespace tfckpt {
namespace {

using testing::ReadAll;
using testing::TempDir;
using testing::WriteAll;

// A source that can only read ranges (no mapping, no local file), as a remote one would be.
class RangesOnly : public ByteSource {
 public:
  explicit RangesOnly(std::shared_ptr<const ByteSource> inner) : inner_(std::move(inner)) {}
  const std::string& name() const override { return inner_->name(); }
  int64_t size() const override { return inner_->size(); }
  Status ReadAt(int64_t offset, int64_t n, void* out) const override {
    reads++;
    return inner_->ReadAt(offset, n, out);
  }
  mutable int reads = 0;

 private:
  std::shared_ptr<const ByteSource> inner_;
};

std::string View(std::span<const uint8_t> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

TEST(ByteSource, LocalFileIsMappedAndCopiesInTheKernel) {
  const std::string d = TempDir();
  WriteAll(d + "/f", "0123456789");
  std::shared_ptr<const ByteSource> s;
  ASSERT_OK(OpenByteSource(d + "/f", &s));
  EXPECT_EQ(s->name(), d + "/f");
  EXPECT_EQ(s->local_path(), d + "/f");
  EXPECT_EQ(s->size(), 10);
  EXPECT_GE(s->kernel_fd(), 0);
  std::span<const uint8_t> whole;
  ASSERT_TRUE(s->Mapping(&whole));
  EXPECT_EQ(View(whole), "0123456789");
  char buf[4];
  ASSERT_OK(s->ReadAt(3, 4, buf));
  EXPECT_EQ(std::string(buf, 4), "3456");
  EXPECT_STATUS(s->ReadAt(8, 3, buf), Status::Code::kCorruption, "lie outside");
  EXPECT_STATUS(s->ReadAt(-1, 1, buf), Status::Code::kCorruption, "lie outside");
}

TEST(ByteSource, OpenRefusesWhatIsNoFile) {
  const std::string d = TempDir();
  std::shared_ptr<const ByteSource> s;
  EXPECT_STATUS(OpenByteSource(d + "/missing", &s), Status::Code::kIOError, "missing");
  EXPECT_STATUS(OpenByteSource(d, &s), Status::Code::kInvalidArgument, "not a regular file");
}

TEST(ByteSource, ViewRangeViewsAMappingAndReadsOtherwise) {
  const std::string d = TempDir();
  WriteAll(d + "/f", "abcdefgh");
  std::shared_ptr<const ByteSource> local;
  ASSERT_OK(OpenByteSource(d + "/f", &local));
  std::span<const uint8_t> whole;
  ASSERT_TRUE(local->Mapping(&whole));
  std::span<const uint8_t> bytes;
  std::shared_ptr<const void> keep;
  ASSERT_OK(ViewRange(local, 2, 3, &bytes, &keep));
  EXPECT_EQ(View(bytes), "cde");
  EXPECT_EQ(bytes.data(), whole.data() + 2);  // no copy
  EXPECT_EQ(keep.get(), static_cast<const void*>(local.get()));

  auto remote = std::make_shared<RangesOnly>(local);
  ASSERT_OK(ViewRange(remote, 5, 3, &bytes, &keep));
  EXPECT_EQ(View(bytes), "fgh");
  EXPECT_EQ(remote->reads, 1);
  EXPECT_NE(keep.get(), static_cast<const void*>(remote.get()));  // a buffer of its own
  EXPECT_STATUS(ViewRange(remote, 6, 3, &bytes, &keep), Status::Code::kCorruption,
                "which has 8 bytes");
}

TEST(ByteSource, CopiesFromEitherKindOfSource) {
  const std::string d = TempDir();
  std::string text(3 << 20, '\0');  // several buffers' worth for the ranged copy
  for (size_t i = 0; i < text.size(); i++) text[i] = static_cast<char>(i * 7 + i / 4096);
  WriteAll(d + "/src", text);
  std::shared_ptr<const ByteSource> local;
  ASSERT_OK(OpenByteSource(d + "/src", &local));
  RangesOnly remote(local);
  for (const ByteSource* s : {local.get(), static_cast<const ByteSource*>(&remote)}) {
    const std::string out = d + "/out";
    int fd = -1;
    ASSERT_OK(file::CreateNewFile(out, &fd));
    ASSERT_OK(CopyFromSource(*s, 1000, static_cast<int64_t>(text.size()) - 2000, fd, out));
    ASSERT_OK(file::SyncAndClose(fd, false, out));
    EXPECT_TRUE(ReadAll(out) == text.substr(1000, text.size() - 2000));
    file::RemoveQuietly(out);
  }
  EXPECT_GE(remote.reads, 3);
}

// Both kernel copies (copy_file_range for `auto`, sendfile for `--link copy`) append exactly the
// range, and say so when the source ends before it.
TEST(FileUtil, CopyRangeAndCopyBytesAppendTheRange) {
  const std::string d = TempDir();
  std::string text(1 << 20, '\0');
  for (size_t i = 0; i < text.size(); i++) text[i] = static_cast<char>(i * 13 + i / 512);
  WriteAll(d + "/src", text);
  const int src = ::open((d + "/src").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(src, 0);
  for (auto copy : {&file::CopyRange, &file::CopyBytes}) {
    const std::string out = d + "/out";
    int fd = -1;
    ASSERT_OK(file::CreateNewFile(out, &fd));
    ASSERT_EQ(::write(fd, "ab", 2), 2);
    ASSERT_OK(copy(src, "src", 3, 100000, fd, out));
    ASSERT_OK(copy(src, "src", 0, 5, fd, out));
    EXPECT_STATUS(copy(src, "src", static_cast<int64_t>(text.size()) - 4, 8, fd, out),
                  Status::Code::kCorruption, "'src' ends before byte");
    ASSERT_OK(file::SyncAndClose(fd, false, out));
    const std::string got = ReadAll(out);
    EXPECT_TRUE(got.substr(0, 2 + 100000 + 5) == "ab" + text.substr(3, 100000) + text.substr(0, 5));
    file::RemoveQuietly(out);
  }
  ::close(src);
}

TEST(ByteSource, AReplacedFileIsNotCopiedByItsPath) {
  // Copies in the kernel go through a descriptor opened by path: when the path names another
  // file by then, the source has no descriptor and copies read its mapping, the bytes it checked.
  const std::string d = TempDir();
  WriteAll(d + "/data", "original");
  std::shared_ptr<MappedFile> mapped;
  ASSERT_OK(MappedFile::Open(d + "/data", &mapped));
  WriteAll(d + "/other", "REPLACED");
  ASSERT_OK(file::Rename(d + "/other", d + "/data"));
  EXPECT_EQ(mapped->kernel_fd(), -1);
  EXPECT_EQ(mapped->local_path(), "");  // nor hard-linked or moved by it
  const std::string out = d + "/out";
  int fd = -1;
  ASSERT_OK(file::CreateNewFile(out, &fd));
  ASSERT_OK(CopyFromSource(*mapped, 0, 8, fd, out));
  ASSERT_OK(file::SyncAndClose(fd, false, out));
  EXPECT_EQ(ReadAll(out), "original");
}

TEST(ByteSource, MemoryAndWholeReads) {
  const std::string bytes = "in memory";
  auto s = MemorySource({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, "mem");
  EXPECT_EQ(s->name(), "mem");
  EXPECT_EQ(s->local_path(), "");
  EXPECT_EQ(s->kernel_fd(), -1);
  char buf[6];
  ASSERT_OK(s->ReadAt(3, 6, buf));
  EXPECT_EQ(std::string(buf, 6), "memory");
  const std::string d = TempDir();
  WriteAll(d + "/checkpoint", "model_checkpoint_path: \"a\"\n");
  std::string text;
  ASSERT_OK(ReadWholeSource(d + "/checkpoint", &text));
  EXPECT_EQ(text, "model_checkpoint_path: \"a\"\n");
}

}  // namespace
}  // namespace tfckpt
