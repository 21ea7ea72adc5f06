// The serialized forms of DT_STRING and DT_VARIANT tensors in a bundle's data file.
//
// DT_STRING: the varint64 length of every element, then a 4-byte masked CRC32C of those lengths
// (each length taken as a little-endian uint32, or uint64 when it does not fit), then the element
// bytes back to back. The entry's CRC covers the fixed-width lengths, the 4 checksum bytes and
// the element bytes (not the varints).
//
// DT_VARIANT: per element, the varint64 length, the serialized VariantTensorDataProto, and a 4-byte
// masked running CRC32C; the running CRC is extended by the length as a little-endian uint64, the
// element bytes and the checksum bytes. tfckpt keeps variant elements opaque.
//
// A bundle written on a big-endian machine stores the same varints and element bytes, but the
// fixed-width lengths are checksummed, and the length checksum stored, in big-endian order
// (TensorFlow checksums in the writing machine's order).
//
// Thread-safety: pure functions; safe from any thread.

#ifndef TFCKPT_FORMAT_STRING_TENSOR_H_
#define TFCKPT_FORMAT_STRING_TENSOR_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tfckpt/status.h"

namespace tfckpt::string_tensor {

// Appends the serialized form of `values` to `out`; returns the entry's unmasked CRC32C.
uint32_t SerializeStrings(std::span<const std::string_view> values, std::string* out);

// Parses `n` strings from `bytes` (views into `bytes`), checking the length checksum and that the
// sizes add up exactly. `entry_crc` receives the unmasked CRC the entry should hold. Errors are
// DataLoss statuses (damaged data, as TensorFlow calls them) whose message describes the problem
// (the caller adds the tensor name). `big_endian`: the bundle was written on a big-endian machine.
Status ParseStrings(std::span<const uint8_t> bytes, int64_t n,
                    std::vector<std::string_view>* values, uint32_t* entry_crc,
                    bool big_endian = false);

uint32_t SerializeVariants(std::span<const std::string_view> elements, std::string* out);
Status ParseVariants(std::span<const uint8_t> bytes, int64_t n,
                     std::vector<std::string_view>* elements, uint32_t* entry_crc);

}  // namespace tfckpt::string_tensor

#endif  // TFCKPT_FORMAT_STRING_TENSOR_H_
