#include "format/zip.h"

#include <zlib.h>

#include <algorithm>

#include <fmt/format.h>
#include <isa-l/crc.h>

#include "format/varint.h"

namespace tfckpt::zip {
namespace {

uint16_t U16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t U32(const uint8_t* p) { return DecodeFixed32(reinterpret_cast<const char*>(p)); }
uint64_t U64(const uint8_t* p) { return U32(p) | (static_cast<uint64_t>(U32(p + 4)) << 32); }
const uint8_t* Bytes(const std::string& b) { return reinterpret_cast<const uint8_t*>(b.data()); }

void Put(std::string* s, uint64_t v, int width) {
  for (int i = 0; i < width; i++) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
constexpr uint64_t kMax32 = 0xffffffffull;

}  // namespace

bool NeedsZip64(uint64_t size, uint64_t offset) { return size >= kMax32 || offset >= kMax32; }

std::string LocalHeader(std::string_view name, uint32_t crc, uint64_t size, uint64_t offset) {
  const bool z64 = NeedsZip64(size, offset);
  std::string h;
  Put(&h, 0x04034b50, 4);
  Put(&h, z64 ? 45 : 20, 2);  // version needed
  Put(&h, 0x0800, 2);         // UTF-8 names
  Put(&h, 0, 2);              // stored
  Put(&h, 0, 2);              // time
  Put(&h, 0x21, 2);           // date: 1980-01-01
  Put(&h, crc, 4);
  Put(&h, z64 ? kMax32 : size, 4);
  Put(&h, z64 ? kMax32 : size, 4);
  Put(&h, name.size(), 2);
  Put(&h, z64 ? 20 : 0, 2);
  h += name;
  if (z64) {
    Put(&h, 0x0001, 2);
    Put(&h, 16, 2);
    Put(&h, size, 8);
    Put(&h, size, 8);
  }
  return h;
}

std::string CentralDirectory(const std::vector<Written>& members, uint64_t offset) {
  std::string cd;
  for (const Written& e : members) {
    const bool z64 = NeedsZip64(e.size, e.offset);
    Put(&cd, 0x02014b50, 4);
    Put(&cd, z64 ? 45 : 20, 2);  // made by
    Put(&cd, z64 ? 45 : 20, 2);  // needed
    Put(&cd, 0x0800, 2);
    Put(&cd, 0, 2);
    Put(&cd, 0, 2);
    Put(&cd, 0x21, 2);
    Put(&cd, e.crc32, 4);
    Put(&cd, z64 ? kMax32 : e.size, 4);
    Put(&cd, z64 ? kMax32 : e.size, 4);
    Put(&cd, e.name.size(), 2);
    Put(&cd, z64 ? 28 : 0, 2);
    Put(&cd, 0, 2);  // comment
    Put(&cd, 0, 2);  // disk
    Put(&cd, 0, 2);  // internal attributes
    Put(&cd, 0, 4);  // external attributes
    Put(&cd, z64 ? kMax32 : e.offset, 4);
    cd += e.name;
    if (z64) {
      Put(&cd, 0x0001, 2);
      Put(&cd, 24, 2);
      Put(&cd, e.size, 8);
      Put(&cd, e.size, 8);
      Put(&cd, e.offset, 8);
    }
  }
  const uint64_t n = members.size();
  const bool z64 = offset >= kMax32 || n >= 0xffff || cd.size() >= kMax32;
  std::string tail;
  if (z64) {
    const uint64_t record = offset + cd.size();
    Put(&tail, 0x06064b50, 4);
    Put(&tail, 44, 8);
    Put(&tail, 45, 2);
    Put(&tail, 45, 2);
    Put(&tail, 0, 4);
    Put(&tail, 0, 4);
    Put(&tail, n, 8);
    Put(&tail, n, 8);
    Put(&tail, cd.size(), 8);
    Put(&tail, offset, 8);
    Put(&tail, 0x07064b50, 4);
    Put(&tail, 0, 4);
    Put(&tail, record, 8);
    Put(&tail, 1, 4);
  }
  Put(&tail, 0x06054b50, 4);
  Put(&tail, 0, 2);
  Put(&tail, 0, 2);
  Put(&tail, z64 ? 0xffff : n, 2);
  Put(&tail, z64 ? 0xffff : n, 2);
  Put(&tail, z64 ? kMax32 : cd.size(), 4);
  Put(&tail, z64 ? kMax32 : offset, 4);
  Put(&tail, 0, 2);
  return cd + tail;
}

bool SafeName(std::string_view name) {
  if (name.empty() || name.front() == '/' || name.find('\\') != std::string_view::npos ||
      name.find('\0') != std::string_view::npos || (name.size() > 1 && name[1] == ':')) {
    return false;
  }
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    std::string_view part = name.substr(start, end - start);
    if (part == "." || part == "..") return false;
    if (part.empty() && end != name.size()) return false;  // "a//b"
    start = end + 1;
  }
  return true;
}

Status List(const ByteSource& file, std::string_view kind, std::vector<Member>* members) {
  const std::string& path = file.name();
  auto bad = [&](const std::string& why) {
    return Status::Corruption(fmt::format("'{}' is not a readable {}: {}", path, kind, why));
  };
  const int64_t size = file.size();
  // Reads [at, at + n) when it lies inside the file.
  auto read = [&](uint64_t at, uint64_t n, std::string* out) {
    if (at > static_cast<uint64_t>(size) || n > static_cast<uint64_t>(size) - at) return false;
    out->resize(static_cast<size_t>(n));
    return file.ReadAt(static_cast<int64_t>(at), static_cast<int64_t>(n), out->data()).ok();
  };
  // End of central directory: the last signature within the final 64 KiB + 22 bytes.
  const int64_t tail_start = std::max<int64_t>(0, size - 22 - 65535);
  std::string tail;
  if (!read(static_cast<uint64_t>(tail_start), static_cast<uint64_t>(size - tail_start), &tail)) {
    return bad("it cannot be read");
  }
  const uint8_t* t = Bytes(tail);
  int64_t eocd = -1;  // in `tail`
  for (int64_t i = static_cast<int64_t>(tail.size()) - 22; i >= 0; i--) {
    if (U32(t + i) == 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return bad("no zip end-of-directory record");
  uint64_t count = U16(t + eocd + 10), cd_size = U32(t + eocd + 12), cd_offset = U32(t + eocd + 16);
  if (count == 0xffff || cd_offset == 0xffffffff || cd_size == 0xffffffff) {
    std::string locator, record;
    const int64_t loc = tail_start + eocd - 20;
    if (loc < 0 || !read(static_cast<uint64_t>(loc), 20, &locator) ||
        U32(Bytes(locator)) != 0x07064b50) {
      return bad("a ZIP64 locator is missing");
    }
    uint64_t rec = U64(Bytes(locator) + 8);
    if (!read(rec, 56, &record) || U32(Bytes(record)) != 0x06064b50) {
      return bad("the ZIP64 directory record is missing");
    }
    count = U64(Bytes(record) + 32);
    cd_size = U64(Bytes(record) + 40);
    cd_offset = U64(Bytes(record) + 48);
  }
  std::string directory;
  if (cd_offset > static_cast<uint64_t>(size) ||
      cd_size > static_cast<uint64_t>(size) - cd_offset || !read(cd_offset, cd_size, &directory)) {
    return bad("the directory lies outside the file");
  }
  if (count > cd_size / 46) return bad("the directory claims more members than it holds");
  const uint8_t* d = Bytes(directory);
  members->clear();
  std::vector<std::pair<uint64_t, uint64_t>> spans;  // [local header, end of data) per member
  uint64_t pos = 0;
  for (uint64_t k = 0; k < count; k++) {
    if (pos + 46 > cd_size || U32(d + pos) != 0x02014b50) {
      return bad("a directory entry is damaged");
    }
    Member m;
    m.method = U16(d + pos + 10);
    m.crc32 = U32(d + pos + 16);
    uint64_t comp = U32(d + pos + 20), raw = U32(d + pos + 24);
    uint16_t nlen = U16(d + pos + 28), elen = U16(d + pos + 30), clen = U16(d + pos + 32);
    uint64_t local = U32(d + pos + 42);
    if (pos + 46 + nlen + elen > cd_size) return bad("a directory entry is damaged");
    m.name.assign(reinterpret_cast<const char*>(d + pos + 46), nlen);
    // ZIP64 extra field: the 64-bit values of the fields that were saturated, in order.
    const uint8_t* extra = d + pos + 46 + nlen;
    for (uint32_t e = 0; e + 4 <= elen;) {
      const uint32_t id = U16(extra + e), len = U16(extra + e + 2);
      if (e + 4 + len > elen) break;  // a field longer than what is left: damaged, not read
      if (id == 0x0001) {
        const uint8_t* f = extra + e + 4;
        const uint8_t* end = extra + e + 4 + len;
        if (raw == 0xffffffff && f + 8 <= end) raw = U64(f), f += 8;
        if (comp == 0xffffffff && f + 8 <= end) comp = U64(f), f += 8;
        if (local == 0xffffffff && f + 8 <= end) local = U64(f);
      }
      e += 4 + len;
    }
    pos += 46 + nlen + elen + clen;
    std::string header;
    if (!read(local, 30, &header) || U32(Bytes(header)) != 0x04034b50) {
      return bad(fmt::format("the entry of member '{}' is damaged", m.name));
    }
    const uint64_t start = local + 30 + U16(Bytes(header) + 26) + U16(Bytes(header) + 28);
    if (start > static_cast<uint64_t>(size) || comp > static_cast<uint64_t>(size) - start) {
      return bad(fmt::format("member '{}' runs past the end of the file", m.name));
    }
    if (m.method == 0 && comp != raw) {
      return bad(fmt::format("stored member '{}' states two sizes ({} and {})", m.name, comp, raw));
    }
    m.data_offset = static_cast<int64_t>(start);
    m.data_size = static_cast<int64_t>(comp);
    m.raw_size = static_cast<int64_t>(raw);
    spans.emplace_back(local, start + comp);
    members->push_back(std::move(m));
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); i++) {
    if (spans[i].first < spans[i - 1].second) {
      return bad("two members share bytes (a zip bomb's trick): refused");
    }
  }
  return Status::OK();
}

Status Inflate(const ByteSource& file, const Member& m, std::string* raw) {
  if (m.data_offset < 0 || m.data_size < 0 || m.raw_size < 0 || m.data_offset > file.size() ||
      m.data_size > file.size() - m.data_offset || m.data_size > 0xffffffffLL ||
      m.raw_size > 0xffffffffLL) {
    return Status::Corruption(
        fmt::format("member '{}' of '{}' lies outside the file", m.name, file.name()));
  }
  // Deflate cannot expand data more than 1032 times: a larger claim is a damaged or hostile
  // archive, refused before its size is allocated.
  if (m.raw_size > m.data_size * 1032 + 1024) {
    return Status::Corruption(fmt::format(
        "member '{}' of '{}' claims {} bytes from {} compressed bytes, more than deflate can give",
        m.name, file.name(), m.raw_size, m.data_size));
  }
  std::string compressed(static_cast<size_t>(m.data_size), '\0');
  TFCKPT_RETURN_IF_ERROR(file.ReadAt(m.data_offset, m.data_size, compressed.data()));
  raw->assign(static_cast<size_t>(m.raw_size), '\0');
  z_stream z{};
  if (inflateInit2(&z, -15) != Z_OK) return Status::IOError("cannot start zlib");
  z.next_in = reinterpret_cast<Bytef*>(compressed.data());
  z.avail_in = static_cast<uInt>(compressed.size());
  z.next_out = reinterpret_cast<Bytef*>(raw->data());
  z.avail_out = static_cast<uInt>(raw->size());
  int rc = inflate(&z, Z_FINISH);
  inflateEnd(&z);
  if (rc != Z_STREAM_END || z.total_out != raw->size()) {
    return Status::Corruption(
        fmt::format("member '{}' of '{}' does not decompress", m.name, file.name()));
  }
  if (Crc32(0, raw->data(), raw->size()) != m.crc32) {
    return Status::DataLoss(
        fmt::format("member '{}' of '{}' does not match its CRC-32: the archive is damaged", m.name,
                    file.name()));
  }
  return Status::OK();
}

uint32_t Crc32Combine(uint32_t first, uint32_t second, int64_t second_size) {
  return static_cast<uint32_t>(crc32_combine64(first, second, second_size));
}

uint32_t Crc32(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  while (n > 0) {
    const size_t len = std::min<size_t>(n, size_t{1} << 30);
    crc = crc32_gzip_refl(crc, const_cast<unsigned char*>(p), len);
    p += len;
    n -= len;
  }
  return crc;
}

}  // namespace tfckpt::zip
