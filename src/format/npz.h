// NumPy's .npz files: a zip archive of .npy members. Reading handles stored and deflated members
// and ZIP64; writing stores members uncompressed (so their array bytes can be copied in place),
// with ZIP64 records where sizes or offsets need them. A .npy member is a magic string, a version,
// a Python-dict header (descr, fortran_order, shape) padded to 64 bytes, then the array.
//
// Thread-safety: pure functions and a single-threaded writer.

#ifndef TFCKPT_FORMAT_NPZ_H_
#define TFCKPT_FORMAT_NPZ_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "io/byte_source.h"
#include "tfckpt/dtype.h"
#include "tfckpt/status.h"
#include "tfckpt/tensor.h"

namespace tfckpt::npz {

// The numpy type string of a dtype ("<f4", "|b1", ...); strings use "|S<width>".
std::optional<std::string> Descr(DType dtype);

struct Member {
  std::string name;  // without ".npy"
  DType dtype = DType::kInvalid;
  Shape shape;
  int64_t string_width = 0;  // for "|S<n>" arrays (dtype kString)
  bool byteswap = false;     // big-endian data
  bool fortran = false;      // column-major data
  bool deflated = false;
  int64_t data_offset = 0;  // of the member's bytes in the archive (stored: the array itself)
  int64_t data_size = 0;    // stored size; for stored members, the array's byte size
  int64_t raw_size = 0;     // uncompressed member size (npy header + array)
  uint32_t crc32 = 0;       // zip's CRC-32 of the uncompressed member
  std::string unsupported;  // why this member cannot be read, if it cannot
};

// Lists the members of the archive in `file`, reading only its directory and the members'
// headers. For deflated members, `data_offset`/`data_size` describe the compressed member; use
// Inflate to get the array bytes.
Status List(const ByteSource& file, std::vector<Member>* members);
// The same over a whole archive's bytes in memory; `path` names it in messages.
Status List(std::span<const uint8_t> file, const std::string& path, std::vector<Member>* members);

// Uncompresses a deflated member and returns its array bytes (after the npy header).
Status Inflate(const ByteSource& file, const Member& member, std::string* array);
Status Inflate(std::span<const uint8_t> file, const Member& member, std::string* array);

// Writes an .npz member by member: Begin, then the array bytes (through Append or appended to
// the file by the caller), then End.
class Writer {
 public:
  static Status Create(const std::string& path, std::unique_ptr<Writer>* writer);
  ~Writer();
  // Starts member `name`.npy of `size` array bytes whose CRC-32 (zip's, of the array bytes) is
  // `array_crc`; returns the file descriptor positioned where the array bytes go.
  Status Begin(const std::string& name, const std::string& descr, const Shape& shape, int64_t size,
               uint32_t array_crc, int* fd);
  Status Append(std::span<const uint8_t> bytes);
  Status End();
  Status Finish(bool sync);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Writer();
};

// zip's CRC-32 (the gzip polynomial), continued from `crc`.
uint32_t Crc32(uint32_t crc, const void* data, size_t n);

}  // namespace tfckpt::npz

#endif  // TFCKPT_FORMAT_NPZ_H_
