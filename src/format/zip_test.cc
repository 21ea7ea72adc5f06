#include "format/zip.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "format/hdf5.h"
#include "io/byte_source.h"
#include "testing/test_util.h"

namespace tfckpt {
namespace {

std::shared_ptr<const ByteSource> Source(const std::string& bytes, const char* name) {
  return MemorySource({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, name);
}

void Put(std::string* s, uint64_t v, int width) {
  for (int i = 0; i < width; i++) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// A stored archive of `members`, whose directory entries point at `locals` (by default, each
// member's own local header).
std::string Archive(const std::vector<std::pair<std::string, std::string>>& members,
                    std::vector<uint32_t> locals = {}) {
  std::string out, directory;
  std::vector<uint32_t> offsets;
  for (const auto& [name, data] : members) {
    offsets.push_back(static_cast<uint32_t>(out.size()));
    Put(&out, 0x04034b50, 4);
    Put(&out, 20, 2);
    Put(&out, 0, 2);
    Put(&out, 0, 2);  // stored
    Put(&out, 0, 4);
    Put(&out, zip::Crc32(0, data.data(), data.size()), 4);
    Put(&out, data.size(), 4);
    Put(&out, data.size(), 4);
    Put(&out, name.size(), 2);
    Put(&out, 0, 2);
    out += name + data;
  }
  if (locals.empty()) locals = offsets;
  const uint32_t cd = static_cast<uint32_t>(out.size());
  for (size_t i = 0; i < members.size(); i++) {
    const auto& [name, data] = members[i];
    Put(&directory, 0x02014b50, 4);
    Put(&directory, 20, 2);
    Put(&directory, 20, 2);
    Put(&directory, 0, 2);
    Put(&directory, 0, 2);
    Put(&directory, 0, 4);
    Put(&directory, zip::Crc32(0, data.data(), data.size()), 4);
    Put(&directory, data.size(), 4);
    Put(&directory, data.size(), 4);
    Put(&directory, name.size(), 2);
    Put(&directory, 0, 2);
    Put(&directory, 0, 2);
    Put(&directory, 0, 2);
    Put(&directory, 0, 2);
    Put(&directory, 0, 4);
    Put(&directory, locals[i], 4);
    directory += name;
  }
  out += directory;
  Put(&out, 0x06054b50, 4);
  Put(&out, 0, 4);
  Put(&out, members.size(), 2);
  Put(&out, members.size(), 2);
  Put(&out, directory.size(), 4);
  Put(&out, cd, 4);
  Put(&out, 0, 2);
  return out;
}

TEST(Zip, ListsMembersWhereTheirBytesLie) {
  const std::string a = Archive({{"config.json", "{}"}, {"model.weights.h5", "0123456789"}});
  std::vector<zip::Member> members;
  ASSERT_OK(zip::List(*Source(a, "m.keras"), ".keras file", &members));
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[1].name, "model.weights.h5");
  EXPECT_EQ(members[1].method, 0);
  EXPECT_EQ(a.substr(static_cast<size_t>(members[1].data_offset),
                     static_cast<size_t>(members[1].data_size)),
            "0123456789");
}

TEST(Zip, RefusesMembersThatShareBytes) {
  // Both directory entries point at the first local header: one member's bytes twice.
  const std::string a = Archive({{"a", "xxxxxxxx"}, {"b", "yyyyyyyy"}}, {0, 0});
  std::vector<zip::Member> members;
  EXPECT_STATUS(zip::List(*Source(a, "bomb.zip"), ".keras file", &members),
                Status::Code::kCorruption, "share bytes");
}

TEST(Zip, RefusesADirectoryClaimingMoreMembersThanItHolds) {
  std::string a = Archive({{"a", "x"}});
  // The end record's member counts, made huge.
  const size_t end = a.size() - 22;
  a[end + 8] = a[end + 9] = a[end + 10] = a[end + 11] = '\xfe';
  std::vector<zip::Member> members;
  EXPECT_STATUS(zip::List(*Source(a, "big.zip"), ".keras file", &members),
                Status::Code::kCorruption, "more members than it holds");
}

TEST(Zip, SafeNamesAreRelativePathsInsideTheArchive) {
  for (const char* ok : {"model.weights.h5", "assets/vocab.txt", "a/b/c", "..x", "x.."}) {
    EXPECT_TRUE(zip::SafeName(ok)) << ok;
  }
  for (const char* bad :
       {"", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "C:/x", "a\\..\\x", "."}) {
    EXPECT_FALSE(zip::SafeName(bad)) << bad;
  }
}

TEST(Hdf5, RecognisesItsSignatureAfterAUserBlock) {
  const std::string sig("\x89HDF\r\n\x1a\n", 8);
  EXPECT_TRUE(hdf5::LooksLikeHdf5(*Source(sig + std::string(100, '\0'), "a.h5")));
  EXPECT_TRUE(hdf5::LooksLikeHdf5(*Source(std::string(512, 'u') + sig, "b.h5")));
  EXPECT_FALSE(hdf5::LooksLikeHdf5(*Source(std::string(100, 'u') + sig, "c.h5")));
  hdf5::Node root;
  EXPECT_STATUS(hdf5::Read(*Source(std::string(600, 'x'), "d.h5"), &root),
                Status::Code::kCorruption, "no HDF5 signature");
  // A signature and nothing after it: the superblock is cut short.
  EXPECT_STATUS(hdf5::Read(*Source(sig + std::string(4, '\0'), "e.h5"), &root),
                Status::Code::kCorruption, "e.h5");
}

}  // namespace
}  // namespace tfckpt
