#include "format/npz.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <string>
#include <vector>

#include "testing/test_util.h"

namespace tfckpt::npz {
namespace {

using testing::ReadAll;
using testing::TempDir;

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

template <typename T>
std::string Raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

void Put16(std::string* s, uint32_t v) {
  for (int i = 0; i < 2; i++) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void Put32(std::string* s, uint32_t v) {
  for (int i = 0; i < 4; i++) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// A version 1.0 .npy member: magic, version, header length, the dict padded, then the array.
std::string Npy(const std::string& dict, const std::string& array) {
  std::string d = dict;
  while ((10 + d.size() + 1) % 64 != 0) d.push_back(' ');
  d.push_back('\n');
  std::string out("\x93NUMPY\x01\x00", 8);
  Put16(&out, static_cast<uint32_t>(d.size()));
  return out + d + array;
}

std::string Deflate(const std::string& in) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, static_cast<uLong>(in.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

struct ZipMember {
  std::string name;
  std::string bytes;  // uncompressed
  bool deflate = false;
};

// A plain (non-ZIP64) zip archive, as Python's zipfile writes one.
std::string Zip(const std::vector<ZipMember>& members) {
  std::string out, cd;
  for (const ZipMember& m : members) {
    const std::string data = m.deflate ? Deflate(m.bytes) : m.bytes;
    const uint32_t crc = static_cast<uint32_t>(crc32(
        0, reinterpret_cast<const Bytef*>(m.bytes.data()), static_cast<uInt>(m.bytes.size())));
    const uint32_t offset = static_cast<uint32_t>(out.size());
    auto common = [&](std::string* s) {
      Put16(s, 0);                  // flags
      Put16(s, m.deflate ? 8 : 0);  // method
      Put16(s, 0);                  // time
      Put16(s, 0x21);               // date
      Put32(s, crc);
      Put32(s, static_cast<uint32_t>(data.size()));
      Put32(s, static_cast<uint32_t>(m.bytes.size()));
      Put16(s, static_cast<uint32_t>(m.name.size()));
      Put16(s, 0);  // extra
    };
    Put32(&out, 0x04034b50);
    Put16(&out, 20);
    common(&out);
    out += m.name + data;
    Put32(&cd, 0x02014b50);
    Put16(&cd, 20);
    Put16(&cd, 20);
    common(&cd);
    Put16(&cd, 0);  // comment
    Put16(&cd, 0);  // disk
    Put16(&cd, 0);  // internal attributes
    Put32(&cd, 0);  // external attributes
    Put32(&cd, offset);
    cd += m.name;
  }
  const uint32_t cd_offset = static_cast<uint32_t>(out.size());
  out += cd;
  Put32(&out, 0x06054b50);
  Put16(&out, 0);
  Put16(&out, 0);
  Put16(&out, static_cast<uint32_t>(members.size()));
  Put16(&out, static_cast<uint32_t>(members.size()));
  Put32(&out, static_cast<uint32_t>(cd.size()));
  Put32(&out, cd_offset);
  Put16(&out, 0);
  return out;
}

const Member* Find(const std::vector<Member>& members, const std::string& name) {
  for (const Member& m : members) {
    if (m.name == name) return &m;
  }
  ADD_FAILURE() << "no member " << name;
  return nullptr;
}

TEST(Npz, Crc32AndDescr) {
  EXPECT_EQ(Crc32(0, "123456789", 9), 0xCBF43926u);  // the standard check value
  EXPECT_EQ(Crc32(Crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
  EXPECT_EQ(Crc32(0, "", 0), 0u);
  EXPECT_EQ(Descr(DType::kFloat), "<f4");
  EXPECT_EQ(Descr(DType::kHalf), "<f2");
  EXPECT_EQ(Descr(DType::kBool), "|b1");
  EXPECT_EQ(Descr(DType::kUInt8), "|u1");
  EXPECT_EQ(Descr(DType::kComplex128), "<c16");
  EXPECT_EQ(Descr(DType::kBFloat16), std::nullopt);  // numpy has no bfloat16
  EXPECT_EQ(Descr(DType::kString), std::nullopt);
}

TEST(Npz, WriteThenList) {
  const std::string path = TempDir() + "/arrays.npz";
  const std::vector<float> a = {1, 2, 3, 4, 5, 6};
  const std::vector<int64_t> step = {42};
  const std::vector<uint16_t> half = {0x3c00, 0xc000};  // 1.0, -2.0
  const std::string s = std::string("ab\0", 3) + "xyz";
  {
    std::unique_ptr<Writer> w;
    ASSERT_OK(Writer::Create(path, &w));
    int fd = -1;
    ASSERT_OK(w->Begin("dense/kernel", "<f4", {2, 3}, 24, Crc32(0, a.data(), 24), &fd));
    EXPECT_GE(fd, 0);
    ASSERT_OK(w->Append(testing::AsBytes(a)));
    ASSERT_OK(w->End());
    ASSERT_OK(w->Begin("step", "<i8", {}, 8, Crc32(0, step.data(), 8), &fd));
    ASSERT_OK(w->Append(testing::AsBytes(step)));
    ASSERT_OK(w->End());
    ASSERT_OK(w->Begin("h", "<f2", {2}, 4, Crc32(0, half.data(), 4), &fd));
    ASSERT_OK(w->Append(testing::AsBytes(half)));
    ASSERT_OK(w->End());
    // Array bytes written by the caller through the descriptor.
    ASSERT_OK(w->Begin("s", "|S3", {2}, 6, Crc32(0, s.data(), 6), &fd));
    ASSERT_EQ(::write(fd, s.data(), s.size()), 6);
    ASSERT_OK(w->End());
    ASSERT_OK(w->Finish(/*sync=*/false));
  }
  const std::string file = ReadAll(path);
  std::vector<Member> members;
  ASSERT_OK(List(Bytes(file), path, &members));
  ASSERT_EQ(members.size(), 4u);
  EXPECT_EQ(members[0].name, "dense/kernel");
  EXPECT_EQ(members[0].dtype, DType::kFloat);
  EXPECT_EQ(members[0].shape, (Shape{2, 3}));
  EXPECT_FALSE(members[0].deflated);
  EXPECT_FALSE(members[0].byteswap);
  EXPECT_FALSE(members[0].fortran);
  EXPECT_TRUE(members[0].unsupported.empty());
  ASSERT_EQ(members[0].data_size, 24);
  // The npy header is padded to a multiple of 64 bytes, as numpy pads it.
  const int64_t hlen = members[0].raw_size - 24;
  EXPECT_EQ(hlen, 128);
  EXPECT_EQ(file.substr(static_cast<size_t>(members[0].data_offset), 24), Raw(a));
  const size_t npy_start = static_cast<size_t>(members[0].data_offset - hlen);
  EXPECT_EQ(file.substr(npy_start, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_EQ(file[npy_start + static_cast<size_t>(hlen) - 1], '\n');
  EXPECT_EQ(members[1].name, "step");
  EXPECT_EQ(members[1].dtype, DType::kInt64);
  EXPECT_EQ(members[1].shape, Shape{});
  EXPECT_EQ(file.substr(static_cast<size_t>(members[1].data_offset), 8), Raw(step));
  EXPECT_EQ(members[2].dtype, DType::kHalf);
  EXPECT_EQ(members[2].shape, Shape{2});
  EXPECT_EQ(file.substr(static_cast<size_t>(members[2].data_offset), 4), Raw(half));
  EXPECT_EQ(members[3].dtype, DType::kString);
  EXPECT_EQ(members[3].string_width, 3);
  EXPECT_EQ(file.substr(static_cast<size_t>(members[3].data_offset), 6), s);

  // The CRC of every member is the zip CRC-32 of its whole .npy bytes (header and array).
  const size_t local = 0;
  ASSERT_EQ(file.substr(local, 4), std::string("PK\x03\x04", 4));
  uint32_t stored = 0;
  for (int i = 3; i >= 0; i--) stored = (stored << 8) | static_cast<uint8_t>(file[14 + i]);
  EXPECT_EQ(stored, Crc32(0, file.data() + npy_start, static_cast<size_t>(hlen) + 24));
}

TEST(Npz, EndRefusesAMemberOfTheWrongSize) {
  const std::string path = TempDir() + "/short.npz";
  std::unique_ptr<Writer> w;
  ASSERT_OK(Writer::Create(path, &w));
  int fd = -1;
  const std::vector<float> a = {1, 2};
  ASSERT_OK(w->Begin("a", "<f4", {3}, 12, 0, &fd));
  ASSERT_OK(w->Append(testing::AsBytes(a)));  // 8 of 12 bytes
  EXPECT_STATUS(w->End(), Status::Code::kIOError, "member 'a.npy' of '" + path + "'");
  std::unique_ptr<Writer> again;
  EXPECT_STATUS(Writer::Create(path, &again), Status::Code::kIOError, "cannot create");
}

TEST(Npz, ListsWhatNumpyWrites) {
  // Members as numpy.savez / savez_compressed write them, including forms the writer never
  // produces: deflated, big-endian, Fortran order, an unknown type, a file that is not .npy.
  const std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f};
  const std::string be = std::string("\x3f\xc0\x00\x00", 4);  // 1.5f big-endian
  std::string file = Zip(
      {{"d.npy", Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", Raw(a)), true},
       {"big.npy", Npy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", be)},
       {"f.npy", Npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", Raw(a))},
       {"u.npy",
        Npy("{'descr': '<U3', 'fortran_order': False, 'shape': (), }", std::string(12, '\0'))},
       {"b1.npy", Npy("{'descr': '<b1', 'fortran_order': False, 'shape': (3,), }",
                      std::string("\x01\x00\x01", 3))},
       {"raw.npy", "not an array"},
       {"notes.txt", "ignored"}});
  std::vector<Member> members;
  ASSERT_OK(List(Bytes(file), "np.npz", &members));
  ASSERT_EQ(members.size(), 6u);  // notes.txt is no array
  const Member* d = Find(members, "d");
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(d->deflated);
  EXPECT_EQ(d->dtype, DType::kFloat);
  EXPECT_EQ(d->shape, (Shape{2, 2}));
  std::string array;
  ASSERT_OK(Inflate(Bytes(file), *d, &array));
  EXPECT_EQ(array, Raw(a));

  const Member* big = Find(members, "big");
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(big->dtype, DType::kFloat);
  EXPECT_TRUE(big->byteswap);
  EXPECT_EQ(file.substr(static_cast<size_t>(big->data_offset), 4), be);

  const Member* f = Find(members, "f");
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(f->fortran);

  const Member* u = Find(members, "u");
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->unsupported, "its numpy type '<U3' has no TensorFlow dtype");

  const Member* b1 = Find(members, "b1");
  ASSERT_NE(b1, nullptr);
  EXPECT_EQ(b1->dtype, DType::kBool);  // '<b1' is '|b1'
  EXPECT_FALSE(b1->byteswap);

  const Member* raw = Find(members, "raw");
  ASSERT_NE(raw, nullptr);
  EXPECT_EQ(raw->unsupported, "it is not a .npy array");
}

TEST(Npz, RefusesDamagedArchives) {
  const std::vector<float> a = {1, 2};
  const std::string good =
      Zip({{"a.npy", Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", Raw(a))}});
  std::vector<Member> members;
  ASSERT_OK(List(Bytes(good), "a.npz", &members));
  ASSERT_EQ(members.size(), 1u);

  EXPECT_STATUS(List(Bytes(std::string("PK")), "a.npz", &members), Status::Code::kCorruption,
                "'a.npz' is not a readable .npz archive: no zip end-of-directory record");
  EXPECT_STATUS(List(Bytes(std::string(100, 'x')), "a.npz", &members), Status::Code::kCorruption,
                "no zip end-of-directory record");
  // Cut before the end record.
  EXPECT_STATUS(List(Bytes(good.substr(0, good.size() - 10)), "a.npz", &members),
                Status::Code::kCorruption, "no zip end-of-directory record");

  const size_t eocd = good.size() - 22;
  const size_t cd = good.find(std::string("PK\x01\x02", 4));
  ASSERT_NE(cd, std::string::npos);
  // The directory's offset points past the end.
  std::string bad = good;
  bad[eocd + 19] = '\x7f';
  EXPECT_STATUS(List(Bytes(bad), "a.npz", &members), Status::Code::kCorruption,
                "the directory lies outside the file");
  // The directory entry's signature is damaged.
  bad = good;
  bad[cd] = 'Q';
  EXPECT_STATUS(List(Bytes(bad), "a.npz", &members), Status::Code::kCorruption,
                "a directory entry is damaged");
  // The local header's signature is damaged.
  bad = good;
  bad[0] = 'Q';
  EXPECT_STATUS(List(Bytes(bad), "a.npz", &members), Status::Code::kCorruption,
                "the entry of member 'a.npy' is damaged");
  // The member claims more bytes than the file has (compressed size in the directory).
  bad = good;
  bad[cd + 20] = '\x7f';
  bad[cd + 21] = '\x7f';
  EXPECT_STATUS(List(Bytes(bad), "a.npz", &members), Status::Code::kCorruption,
                "member 'a.npy' runs past the end of the file");
}

TEST(Npz, AnExtraFieldLongerThanItsEntryIsNotFollowed) {
  // A directory entry whose 4-byte extra field claims 65532 bytes: once read as a 16-bit
  // position that wrapped around to the start forever.
  const std::vector<float> a = {1, 2};
  std::string zip =
      Zip({{"a.npy", Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", Raw(a))}});
  const size_t cd = zip.find(std::string("PK\x01\x02", 4));
  ASSERT_NE(cd, std::string::npos);
  zip.insert(cd + 46 + 5, std::string("\x01\x00\xfc\xff", 4));  // after the name "a.npy"
  zip[cd + 30] = 4;                                             // extra field length
  const size_t eocd = zip.size() - 22;
  zip[eocd + 12] = static_cast<char>(zip[eocd + 12] + 4);  // directory size
  std::vector<Member> members;
  ASSERT_OK(List(Bytes(zip), "a.npz", &members));
  ASSERT_EQ(members.size(), 1u);
  EXPECT_EQ(members[0].shape, (Shape{2}));
}

TEST(Npz, RefusesADeflatedMemberThatDoesNotDecompress) {
  const std::vector<float> a(64, 1.0f);
  std::string file = Zip(
      {{"z.npy", Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (64,), }", Raw(a)), true}});
  // Damage the deflate stream (it starts after the 30-byte local header and the name).
  const size_t data = 30 + 5;
  for (size_t i = data; i < data + 8; i++) file[i] = '\xff';
  std::vector<Member> members;
  EXPECT_STATUS(List(Bytes(file), "z.npz", &members), Status::Code::kCorruption,
                "member 'z.npy' of 'z.npz' does not decompress");
}

}  // namespace
}  // namespace tfckpt::npz
