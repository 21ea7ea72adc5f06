// The safetensors format: an 8-byte little-endian header length, a JSON header mapping each
// tensor name to {dtype, shape, data_offsets: [begin, end)} (offsets from the end of the header,
// contiguous), an optional "__metadata__" map of strings, then the raw little-endian data.
//
// Thread-safety: pure functions; safe from any thread.

#ifndef TFCKPT_FORMAT_SAFETENSORS_H_
#define TFCKPT_FORMAT_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "io/byte_source.h"
#include "tfckpt/dtype.h"
#include "tfckpt/status.h"
#include "tfckpt/tensor.h"

namespace tfckpt::safetensors {

// The safetensors spelling of a dtype ("F32", "BF16", ...), or nullopt if it has none.
std::optional<std::string> DTypeCode(DType dtype);
std::optional<DType> DTypeFromCode(std::string_view code);

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  int64_t offset = 0;  // in the file
  int64_t size = 0;
};

// Parses the header of a safetensors file (reading only its first 8 bytes and the header):
// entries in data order, and the metadata. Offsets are checked against the source's size.
Status Parse(const ByteSource& file, std::vector<Entry>* entries,
             std::map<std::string, std::string>* metadata);
// The same over a whole file's bytes in memory; `path` names it in messages.
Status Parse(std::span<const uint8_t> file, const std::string& path, std::vector<Entry>* entries,
             std::map<std::string, std::string>* metadata);

// The bytes before the data of a file holding `entries` (their sizes, in this order), header
// padded with spaces so the data starts at a multiple of 8.
std::string Header(const std::vector<Entry>& entries,
                   const std::map<std::string, std::string>& metadata);

}  // namespace tfckpt::safetensors

#endif  // TFCKPT_FORMAT_SAFETENSORS_H_
