#include "format/string_tensor.h"

#include <algorithm>

#include <fmt/format.h>

#include "format/crc32c.h"
#include "format/varint.h"

namespace tfckpt::string_tensor {
namespace {

// Extends `crc` by a length in the fixed width TensorFlow checksums it with, in the byte order of
// the machine that wrote the bundle.
uint32_t ExtendLength(uint32_t crc, uint64_t length, bool big_endian = false) {
  char buf[8];
  const int width = length <= 0xffffffffu ? 4 : 8;
  if (width == 4) {
    EncodeFixed32(buf, static_cast<uint32_t>(length));
  } else {
    EncodeFixed64(buf, length);
  }
  if (big_endian) std::reverse(buf, buf + width);
  return crc32c::Extend(crc, buf, width);
}

std::string_view AsView(std::span<const uint8_t> bytes) {
  return std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

}  // namespace

uint32_t SerializeStrings(std::span<const std::string_view> values, std::string* out) {
  uint32_t crc = 0;
  for (std::string_view v : values) {
    AppendVarint64(out, v.size());
    crc = ExtendLength(crc, v.size());
  }
  char checksum[4];
  EncodeFixed32(checksum, crc32c::Mask(crc));
  out->append(checksum, 4);
  crc = crc32c::Extend(crc, checksum, 4);
  for (std::string_view v : values) {
    out->append(v);
    crc = crc32c::Extend(crc, v.data(), v.size());
  }
  return crc;
}

Status ParseStrings(std::span<const uint8_t> bytes, int64_t n,
                    std::vector<std::string_view>* values, uint32_t* entry_crc, bool big_endian) {
  std::string_view in = AsView(bytes);
  std::vector<uint64_t> lengths;
  if (n < 0 || static_cast<uint64_t>(n) > in.size()) {
    return Status::DataLoss(
        fmt::format("{} elements cannot fit in {} bytes of string data", n, bytes.size()));
  }
  lengths.reserve(n);
  uint32_t crc = 0;
  uint64_t total = 0;
  for (int64_t i = 0; i < n; i++) {
    uint64_t len = 0;
    if (!ReadVarint64(&in, &len)) {
      return Status::DataLoss(fmt::format("the length of string element {} is unreadable", i));
    }
    if (len > in.size() || total + len > in.size()) {
      return Status::DataLoss(
          fmt::format("string element {} claims {} bytes, more than the tensor holds", i, len));
    }
    total += len;
    lengths.push_back(len);
    crc = ExtendLength(crc, len, big_endian);
  }
  if (in.size() < 4) return Status::DataLoss("the string length checksum is missing");
  char stored_bytes[4];
  std::copy(in.data(), in.data() + 4, stored_bytes);
  if (big_endian) std::reverse(stored_bytes, stored_bytes + 4);
  uint32_t stored = DecodeFixed32(stored_bytes);
  if (stored != crc32c::Mask(crc)) {
    return Status::DataLoss(
        fmt::format("the string length checksum does not match: stored {:#010x}, computed {:#010x}",
                    stored, crc32c::Mask(crc)));
  }
  crc = crc32c::Extend(crc, in.data(), 4);
  in.remove_prefix(4);
  if (in.size() != total) {
    return Status::DataLoss(fmt::format(
        "string data is {} bytes but the element lengths add up to {}", in.size(), total));
  }
  values->clear();
  values->reserve(n);
  crc = crc32c::Extend(crc, in.data(), in.size());
  for (uint64_t len : lengths) {
    values->push_back(in.substr(0, len));
    in.remove_prefix(len);
  }
  *entry_crc = crc;
  return Status::OK();
}

uint32_t SerializeVariants(std::span<const std::string_view> elements, std::string* out) {
  uint32_t crc = 0;
  for (std::string_view e : elements) {
    AppendVarint64(out, e.size());
    char len[8];
    EncodeFixed64(len, e.size());
    crc = crc32c::Extend(crc, len, 8);
    out->append(e);
    crc = crc32c::Extend(crc, e.data(), e.size());
    char checksum[4];
    EncodeFixed32(checksum, crc32c::Mask(crc));
    out->append(checksum, 4);
    crc = crc32c::Extend(crc, checksum, 4);
  }
  return crc;
}

Status ParseVariants(std::span<const uint8_t> bytes, int64_t n,
                     std::vector<std::string_view>* elements, uint32_t* entry_crc) {
  std::string_view in = AsView(bytes);
  uint32_t crc = 0;
  elements->clear();
  for (int64_t i = 0; i < n; i++) {
    uint64_t len = 0;
    if (!ReadVarint64(&in, &len) || len > in.size() || in.size() - len < 4) {
      return Status::DataLoss(fmt::format("variant element {} is truncated", i));
    }
    char lenbuf[8];
    EncodeFixed64(lenbuf, len);
    crc = crc32c::Extend(crc, lenbuf, 8);
    crc = crc32c::Extend(crc, in.data(), len);
    elements->push_back(in.substr(0, len));
    in.remove_prefix(len);
    uint32_t stored = DecodeFixed32(in.data());
    if (stored != crc32c::Mask(crc)) {
      return Status::DataLoss(fmt::format(
          "variant element {} checksum does not match: stored {:#010x}, computed {:#010x}", i,
          stored, crc32c::Mask(crc)));
    }
    crc = crc32c::Extend(crc, in.data(), 4);
    in.remove_prefix(4);
  }
  if (!in.empty()) {
    return Status::DataLoss(fmt::format("{} bytes follow the last variant element", in.size()));
  }
  *entry_crc = crc;
  return Status::OK();
}

}  // namespace tfckpt::string_tensor
