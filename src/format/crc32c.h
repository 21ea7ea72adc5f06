// CRC32C (Castagnoli), hardware-accelerated through Intel ISA-L, and the "masking" that LevelDB
// tables and TensorFlow bundles apply to stored CRCs.
//
// Thread-safety: pure functions; safe from any thread.

#ifndef TFCKPT_FORMAT_CRC32C_H_
#define TFCKPT_FORMAT_CRC32C_H_

#include <cstddef>
#include <cstdint>
#include <span>

namespace tfckpt::crc32c {

// Continues `crc` (the CRC32C of some bytes A) over `data`, giving the CRC32C of A followed by
// data.
uint32_t Extend(uint32_t crc, const void* data, size_t n);

inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }
inline uint32_t Value(std::span<const uint8_t> data) { return Extend(0, data.data(), data.size()); }

constexpr uint32_t kMaskDelta = 0xa282ead8u;

// The stored form of a CRC: rotated right by 15 bits plus a constant.
inline uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }
inline uint32_t Unmask(uint32_t masked) {
  uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

}  // namespace tfckpt::crc32c

#endif  // TFCKPT_FORMAT_CRC32C_H_
