#include "format/slice_key.h"

#include <bit>

namespace tfckpt::slice_key {
namespace {

// Header bits XOR-ed into the first and second byte of a signed number of 1..10 bytes.
constexpr uint8_t kHeader1[11] = {0, 0x80, 0xc0, 0xe0, 0xf0, 0xf8, 0xfc, 0xfe, 0xff, 0xff, 0xff};
constexpr uint8_t kHeader2[11] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0xc0};

}  // namespace

void AppendNumIncreasing(std::string* out, uint64_t value) {
  int len = (64 - std::countl_zero(value) + 7) / 8;
  out->push_back(static_cast<char>(len));
  for (int i = len - 1; i >= 0; i--) out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

bool ReadNumIncreasing(std::string_view* in, uint64_t* value) {
  if (in->empty()) return false;
  size_t len = static_cast<uint8_t>((*in)[0]);
  if (len > 8 || in->size() < 1 + len) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) v = (v << 8) | static_cast<uint8_t>((*in)[1 + i]);
  *value = v;
  in->remove_prefix(1 + len);
  return true;
}

void AppendSignedNumIncreasing(std::string* out, int64_t value) {
  uint64_t x = value < 0 ? ~static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
  int bits = 64 - std::countl_zero(x);
  int len = bits / 7 + 1;
  // Big-endian two's complement in 10 bytes, sign-extended.
  uint8_t buf[10];
  uint8_t ext = value < 0 ? 0xff : 0x00;
  buf[0] = buf[1] = ext;
  for (int i = 0; i < 8; i++)
    buf[2 + i] = static_cast<uint8_t>(static_cast<uint64_t>(value) >> (56 - 8 * i));
  uint8_t* start = buf + 10 - len;
  start[0] ^= kHeader1[len];
  if (len > 1) start[1] ^= kHeader2[len];
  out->append(reinterpret_cast<const char*>(start), len);
}

bool ReadSignedNumIncreasing(std::string_view* in, int64_t* value) {
  if (in->empty()) return false;
  uint8_t b0 = static_cast<uint8_t>((*in)[0]);
  bool negative = (b0 & 0x80) == 0;
  uint8_t inv = negative ? 0xff : 0x00;
  int len = std::countl_one(static_cast<uint8_t>(b0 ^ inv));
  if (len == 8) {
    if (in->size() < 2) return false;
    uint8_t b1 = static_cast<uint8_t>((*in)[1]) ^ inv;
    len += std::countl_one(b1);
    if (len > 10) return false;
  }
  if (len < 1 || static_cast<size_t>(len) > in->size()) return false;
  uint8_t buf[10];
  for (int i = 0; i < len; i++) buf[i] = static_cast<uint8_t>((*in)[i]);
  buf[0] ^= kHeader1[len];
  if (len > 1) buf[1] ^= kHeader2[len];
  uint64_t v = negative ? ~uint64_t{0} : 0;
  for (int i = 0; i < len; i++) v = (v << 8) | buf[i];
  *value = static_cast<int64_t>(v);
  in->remove_prefix(len);
  return true;
}

void AppendString(std::string* out, std::string_view value) {
  for (char c : value) {
    if (c == '\0') {
      out->append("\0\xff", 2);
    } else if (c == '\xff') {
      out->append("\xff\0", 2);
    } else {
      out->push_back(c);
    }
  }
  out->append("\0\x01", 2);
}

bool ReadString(std::string_view* in, std::string* value) {
  value->clear();
  for (size_t i = 0; i < in->size();) {
    char c = (*in)[i];
    if (c != '\0' && c != '\xff') {
      value->push_back(c);
      i += 1;
      continue;
    }
    if (i + 1 >= in->size()) return false;
    char d = (*in)[i + 1];
    if (c == '\0' && d == '\x01') {  // terminator
      in->remove_prefix(i + 2);
      return true;
    }
    if (c == '\0' && d == '\xff') {
      value->push_back('\0');
    } else if (c == '\xff' && d == '\0') {
      value->push_back('\xff');
    } else {
      return false;
    }
    i += 2;
  }
  return false;  // no terminator
}

std::string Encode(std::string_view name, const TensorSlice& slice) {
  std::string key;
  AppendNumIncreasing(&key, 0);
  AppendString(&key, name);
  AppendNumIncreasing(&key, slice.extents.size());
  for (const SliceExtent& e : slice.extents) {
    AppendSignedNumIncreasing(&key, e.full() ? 0 : e.start);
    AppendSignedNumIncreasing(&key, e.full() ? -1 : e.length);
  }
  return key;
}

bool Decode(std::string_view key, std::string* name, TensorSlice* slice) {
  uint64_t zero = 1, rank = 0;
  if (!ReadNumIncreasing(&key, &zero) || zero != 0) return false;
  if (!ReadString(&key, name)) return false;
  if (!ReadNumIncreasing(&key, &rank) || rank > 254) return false;
  slice->extents.assign(rank, SliceExtent{});
  for (uint64_t d = 0; d < rank; d++) {
    int64_t start = 0, length = 0;
    if (!ReadSignedNumIncreasing(&key, &start) || !ReadSignedNumIncreasing(&key, &length)) {
      return false;
    }
    if (length < 0) {
      slice->extents[d] = SliceExtent{0, -1};
    } else {
      if (start < 0) return false;
      slice->extents[d] = SliceExtent{start, length};
    }
  }
  return key.empty();
}

}  // namespace tfckpt::slice_key
