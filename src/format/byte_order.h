// Byte order of a bundle's fixed-size tensors. A bundle records the byte order of the machine
// that wrote it (BundleHeaderProto.endianness); tfckpt, like TensorFlow on a little-endian
// machine, reads a big-endian bundle by reversing each element's bytes after checking the CRC32C
// over the bytes as stored. TensorFlow swaps the 16-, 32- and 64-bit integer and float types
// (complex ones as two floats); one-byte types (bool, int8, uint8, qint8, quint8) need nothing;
// it refuses every other dtype (float8, 4-bit and 2-bit types, ...), and so does tfckpt.
//
// Thread-safety: pure functions; safe from any thread.

#ifndef TFCKPT_FORMAT_BYTE_ORDER_H_
#define TFCKPT_FORMAT_BYTE_ORDER_H_

#include <cstdint>
#include <span>
#include <vector>

#include "tfckpt/dtype.h"
#include "tfckpt/status.h"

namespace tfckpt::byte_order {

// The width of the unit whose bytes are reversed: 1 (nothing to do), 2, 4 or 8; 0 for a dtype
// that cannot be read from a big-endian bundle.
int SwapUnit(DType dtype);

// `stored` (elements of `dtype` in big-endian order) in little-endian order, into `out`.
// Unsupported for a dtype whose SwapUnit is 0.
Status ToLittleEndian(DType dtype, std::span<const uint8_t> stored, std::vector<uint8_t>* out);

}  // namespace tfckpt::byte_order

#endif  // TFCKPT_FORMAT_BYTE_ORDER_H_
