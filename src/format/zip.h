// The directory of a zip archive (.npz, .keras): its members, where each member's bytes lie and
// how they are stored. Reads only the end records and the central directory, then each member's
// local header; ZIP64 records are understood.
//
// Untrusted input: every member must lie inside the archive, and no two members may overlap (the
// trick of zip bombs); List refuses such an archive. Member names are returned as stored;
// SafeName says whether a name could be used as a relative path (no absolute paths, no "..").
//
// Thread-safety: pure functions.

#ifndef TFCKPT_FORMAT_ZIP_H_
#define TFCKPT_FORMAT_ZIP_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "io/byte_source.h"
#include "tfckpt/status.h"

namespace tfckpt::zip {

struct Member {
  std::string name;
  int method = 0;           // 0 stored, 8 deflated, others unread
  int64_t data_offset = 0;  // the member's (compressed) bytes in the archive
  int64_t data_size = 0;    // compressed size
  int64_t raw_size = 0;     // uncompressed size
  uint32_t crc32 = 0;       // zip's CRC-32 of the uncompressed bytes
};

// Lists the members of the archive in `file`, in directory order. `kind` names the archive in
// messages (".npz archive", ".keras file").
Status List(const ByteSource& file, std::string_view kind, std::vector<Member>* members);

// The uncompressed bytes of a deflated member, checked against its size and CRC-32. A member
// that claims more bytes than deflate can give from its compressed size is refused before
// anything is allocated.
Status Inflate(const ByteSource& file, const Member& member, std::string* raw);

// zip's CRC-32 (the gzip polynomial), continued from `crc`.
uint32_t Crc32(uint32_t crc, const void* data, size_t n);
// The CRC-32 of two byte strings one after the other, from their CRC-32s and the second's size.
uint32_t Crc32Combine(uint32_t first, uint32_t second, int64_t second_size);

// Writing stored (uncompressed) members. The local header that goes before member `name` of
// `size` bytes at archive offset `offset`; it has a ZIP64 extra field exactly when
// NeedsZip64(size, offset), so its size is known before the CRC is.
bool NeedsZip64(uint64_t size, uint64_t offset);
std::string LocalHeader(std::string_view name, uint32_t crc, uint64_t size, uint64_t offset);
struct Written {
  std::string name;
  uint32_t crc32 = 0;
  uint64_t size = 0;    // stored: the same compressed and not
  uint64_t offset = 0;  // of its local header
};
// The central directory and end records of an archive whose members are `members`, written at
// `offset` (after the last member).
std::string CentralDirectory(const std::vector<Written>& members, uint64_t offset);

// True when `name` is a relative path without "." or ".." components, backslashes or NULs.
bool SafeName(std::string_view name);

}  // namespace tfckpt::zip

#endif  // TFCKPT_FORMAT_ZIP_H_
