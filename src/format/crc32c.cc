#include "format/crc32c.h"

#include <isa-l/crc.h>

#include <climits>

namespace tfckpt::crc32c {

uint32_t Extend(uint32_t crc, const void* data, size_t n) {
  // ISA-L takes an int length and neither inverts its input nor its output.
  auto* p = static_cast<unsigned char*>(const_cast<void*>(data));
  uint32_t state = ~crc;
  constexpr size_t kChunk = size_t{1} << 30;
  while (n > 0) {
    size_t len = n < kChunk ? n : kChunk;
    state = crc32_iscsi(p, static_cast<int>(len), state);
    p += len;
    n -= len;
  }
  return ~state;
}

}  // namespace tfckpt::crc32c
