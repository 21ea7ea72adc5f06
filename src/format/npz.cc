#include "format/npz.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <regex>

#include <fmt/format.h>

#include "format/varint.h"
#include "format/zip.h"
#include "io/file_util.h"

namespace tfckpt::npz {
namespace {

struct DescrCode {
  DType dtype;
  const char* descr;
};
constexpr DescrCode kDescrs[] = {
    {DType::kBool, "|b1"},      {DType::kInt8, "|i1"},        {DType::kUInt8, "|u1"},
    {DType::kInt16, "<i2"},     {DType::kUInt16, "<u2"},      {DType::kInt32, "<i4"},
    {DType::kUInt32, "<u4"},    {DType::kInt64, "<i8"},       {DType::kUInt64, "<u8"},
    {DType::kHalf, "<f2"},      {DType::kFloat, "<f4"},       {DType::kDouble, "<f8"},
    {DType::kComplex64, "<c8"}, {DType::kComplex128, "<c16"},
};

uint16_t U16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t U32(const uint8_t* p) { return DecodeFixed32(reinterpret_cast<const char*>(p)); }
const uint8_t* u8(const std::string& b) { return reinterpret_cast<const uint8_t*>(b.data()); }

void Put16(std::string* s, uint16_t v) {
  s->push_back(static_cast<char>(v & 0xff));
  s->push_back(static_cast<char>(v >> 8));
}
void Put32(std::string* s, uint32_t v) {
  char b[4];
  EncodeFixed32(b, v);
  s->append(b, 4);
}

// A whole decimal number that fits in an int64_t.
bool ParseInt(const std::string& text, int64_t* value) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *value);
  return ec == std::errc() && ptr == end;
}

// Parses an npy header dict into the member's dtype and shape.
void ParseNpyHeader(const std::string& header, Member* m) {
  static const std::regex kDescr(R"('descr'\s*:\s*'([^']*)')");
  static const std::regex kFortran(R"('fortran_order'\s*:\s*(True|False))");
  static const std::regex kShape(R"('shape'\s*:\s*\(([^)]*)\))");
  std::smatch d, f, sh;
  if (!std::regex_search(header, d, kDescr) || !std::regex_search(header, f, kFortran) ||
      !std::regex_search(header, sh, kShape)) {
    m->unsupported = "its .npy header is not understood";
    return;
  }
  std::string descr = d[1].str();
  std::string dims = sh[1].str();
  static const std::regex kInt(R"(\d+)");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), kInt); it != std::sregex_iterator();
       ++it) {
    int64_t dim = 0;
    if (!ParseInt(it->str(), &dim)) {
      m->unsupported = "its .npy header gives a dimension too large to hold";
      return;
    }
    m->shape.push_back(dim);
  }
  m->fortran = f[1].str() == "True" && m->shape.size() > 1;
  if (descr.size() >= 3 && descr[1] == 'S') {
    if (!ParseInt(descr.substr(2), &m->string_width) || m->string_width <= 0) {
      m->unsupported = fmt::format("its numpy type '{}' is not understood", descr);
      return;
    }
    m->dtype = DType::kString;
    return;
  }
  std::string canonical = descr;
  if (!descr.empty() && (descr[0] == '>' || descr[0] == '=')) {
    m->byteswap = descr[0] == '>';
    canonical[0] = '<';
  }
  for (const DescrCode& c : kDescrs) {
    std::string want = c.descr;
    if (canonical == want || (want[0] == '|' && canonical == "<" + want.substr(1))) {
      m->dtype = c.dtype;
      if (DTypeSize(c.dtype) == 1) m->byteswap = false;
      return;
    }
  }
  m->unsupported = fmt::format("its numpy type '{}' has no TensorFlow dtype", descr);
}

// Splits member bytes at the end of the npy header; returns the header text and its length.
bool NpyPrefix(std::span<const uint8_t> bytes, std::string* header, int64_t* length) {
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0) return false;
  int major = bytes[6];
  int64_t hlen, start;
  if (major == 1) {
    hlen = U16(bytes.data() + 8);
    start = 10;
  } else {
    if (bytes.size() < 12) return false;
    hlen = U32(bytes.data() + 8);
    start = 12;
  }
  if (start + hlen > static_cast<int64_t>(bytes.size())) return false;
  header->assign(reinterpret_cast<const char*>(bytes.data()) + start, hlen);
  *length = start + hlen;
  return true;
}

}  // namespace

uint32_t Crc32(uint32_t crc, const void* data, size_t n) { return zip::Crc32(crc, data, n); }

std::optional<std::string> Descr(DType dtype) {
  for (const DescrCode& c : kDescrs) {
    if (c.dtype == dtype) return std::string(c.descr);
  }
  return std::nullopt;
}

Status List(const ByteSource& file, std::vector<Member>* members) {
  std::vector<zip::Member> entries;
  TFCKPT_RETURN_IF_ERROR(zip::List(file, ".npz archive", &entries));
  auto read = [&](int64_t at, int64_t n, std::string* out) {
    out->resize(static_cast<size_t>(n));
    return file.ReadAt(at, n, out->data()).ok();
  };
  members->clear();
  for (const zip::Member& e : entries) {
    const std::string& name = e.name;
    if (name.size() < 4 || name.substr(name.size() - 4) != ".npy") continue;
    Member m;
    m.name = name.substr(0, name.size() - 4);
    m.raw_size = e.raw_size;
    m.crc32 = e.crc32;
    const int64_t start = e.data_offset, comp = e.data_size;
    if (e.method == 8) {
      m.deflated = true;
      m.data_offset = start;
      m.data_size = comp;
      std::string array;
      Status s = Inflate(file, m, &array);  // header needed for dtype and shape
      if (!s.ok()) return s;
    } else if (e.method == 0) {
      // The npy prefix: magic, version, header length, then the header itself.
      std::string npy, text;
      int64_t hlen = 0;
      bool ok = read(start, std::min<int64_t>(comp, 12), &npy);
      if (ok && npy.size() >= 10) {
        int64_t len = 0;
        if (npy[6] == 1) {
          len = U16(u8(npy) + 8) + 10ll;
        } else if (npy.size() >= 12) {
          len = U32(u8(npy) + 8) + 12ll;
        }
        if (len > 0) ok = read(start, std::min<int64_t>(comp, len), &npy);
      }
      if (!ok || !NpyPrefix({u8(npy), npy.size()}, &text, &hlen)) {
        m.unsupported = "it is not a .npy array";
      } else {
        ParseNpyHeader(text, &m);
        m.data_offset = start + hlen;
        m.data_size = comp - hlen;
      }
    } else {
      m.unsupported = fmt::format("it is compressed with zip method {}", e.method);
    }
    members->push_back(std::move(m));
  }
  return Status::OK();
}

Status List(std::span<const uint8_t> file, const std::string& path, std::vector<Member>* members) {
  return List(*MemorySource(file, path), members);
}

Status Inflate(const ByteSource& file, const Member& member, std::string* array) {
  // Members parsed by List carry their metadata; re-derive it here for deflated ones.
  Member& m = const_cast<Member&>(member);
  zip::Member z;
  z.name = m.name + ".npy";
  z.method = 8;
  z.data_offset = m.data_offset;
  z.data_size = m.data_size;
  z.raw_size = m.raw_size;
  z.crc32 = m.crc32;
  std::string raw;
  TFCKPT_RETURN_IF_ERROR(zip::Inflate(file, z, &raw));
  std::string header;
  int64_t hlen = 0;
  if (!NpyPrefix({reinterpret_cast<const uint8_t*>(raw.data()), raw.size()}, &header, &hlen)) {
    m.unsupported = "it is not a .npy array";
    return Status::OK();
  }
  if (m.dtype == DType::kInvalid && m.unsupported.empty()) {
    m.shape.clear();
    ParseNpyHeader(header, &m);
  }
  *array = raw.substr(static_cast<size_t>(hlen));
  return Status::OK();
}

Status Inflate(std::span<const uint8_t> file, const Member& member, std::string* array) {
  return Inflate(*MemorySource(file, "archive"), member, array);
}

struct Writer::Impl {
  std::string path;
  int fd = -1;
  int64_t pos = 0;
  std::vector<zip::Written> entries;
  int64_t left = 0;  // array bytes still expected for the current member

  Status WriteAll(const std::string& s) {
    TFCKPT_RETURN_IF_ERROR(file::WriteAll(fd, s.data(), s.size(), path));
    pos += static_cast<int64_t>(s.size());
    return Status::OK();
  }
};

Writer::Writer() : impl_(new Impl) {}
Writer::~Writer() {
  if (impl_->fd >= 0) ::close(impl_->fd);
}

Status Writer::Create(const std::string& path, std::unique_ptr<Writer>* writer) {
  std::unique_ptr<Writer> w(new Writer());
  w->impl_->path = path;
  TFCKPT_RETURN_IF_ERROR(file::CreateNewFile(path, &w->impl_->fd));
  *writer = std::move(w);
  return Status::OK();
}

Status Writer::Begin(const std::string& name, const std::string& descr, const Shape& shape,
                     int64_t size, uint32_t array_crc, int* fd) {
  Impl& m = *impl_;
  std::string dims;
  for (int64_t d : shape) dims += std::to_string(d) + ", ";
  if (shape.size() > 1) dims.resize(dims.size() - 2);
  if (shape.size() == 1) dims.resize(dims.size() - 1);
  std::string dict =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}", descr, dims);
  // Pad so that magic + version + length + dict + "\n" is a multiple of 64.
  size_t fixed = 10;
  bool v2 = dict.size() + 1 + fixed > 65535;
  if (v2) fixed = 12;
  size_t total = fixed + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict.push_back('\n');
  std::string npy = "\x93NUMPY";
  npy.push_back(v2 ? 2 : 1);
  npy.push_back(0);
  if (v2) {
    Put32(&npy, static_cast<uint32_t>(dict.size()));
  } else {
    Put16(&npy, static_cast<uint16_t>(dict.size()));
  }
  npy += dict;
  // The member's CRC covers the npy header and the array: combine the two.
  uint32_t crc = static_cast<uint32_t>(
      crc32_combine(Crc32(0, npy.data(), npy.size()), array_crc, static_cast<z_off_t>(size)));
  const std::string member = name + ".npy";
  const uint64_t msize = npy.size() + static_cast<uint64_t>(size);
  const std::string local = zip::LocalHeader(member, crc, msize, static_cast<uint64_t>(m.pos));
  m.entries.push_back({member, crc, msize, static_cast<uint64_t>(m.pos)});
  TFCKPT_RETURN_IF_ERROR(m.WriteAll(local + npy));
  m.left = size;
  *fd = m.fd;
  return Status::OK();
}

Status Writer::Append(std::span<const uint8_t> bytes) {
  Impl& m = *impl_;
  TFCKPT_RETURN_IF_ERROR(
      m.WriteAll(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size())));
  m.left -= static_cast<int64_t>(bytes.size());
  return Status::OK();
}

Status Writer::End() {
  Impl& m = *impl_;
  // Bytes appended through the descriptor by the caller moved the file offset.
  off_t now = ::lseek(m.fd, 0, SEEK_CUR);
  if (now < 0) return Status::FromErrno(fmt::format("cannot seek '{}'", m.path), errno);
  m.pos = now;
  const zip::Written& e = m.entries.back();
  if (static_cast<uint64_t>(m.pos) !=
      e.offset + e.size + 30 + e.name.size() + (zip::NeedsZip64(e.size, e.offset) ? 20 : 0)) {
    return Status::IOError(fmt::format("member '{}' of '{}' has the wrong size", e.name, m.path));
  }
  return Status::OK();
}

Status Writer::Finish(bool sync) {
  Impl& m = *impl_;
  TFCKPT_RETURN_IF_ERROR(
      m.WriteAll(zip::CentralDirectory(m.entries, static_cast<uint64_t>(m.pos))));
  int fd = m.fd;
  m.fd = -1;
  return file::SyncAndClose(fd, sync, m.path);
}

}  // namespace tfckpt::npz
