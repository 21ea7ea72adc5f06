// The .index file of a bundle is a LevelDB-format sorted table. This wraps LevelDB's own Table and
// TableBuilder with the options TensorFlow uses (256 KiB blocks, restart interval 16, no
// compression when writing, CRCs always verified when reading; Snappy blocks are read).
//
// Thread-safety: functions are safe from any thread; an IndexTableWriter is used by one thread.

#ifndef TFCKPT_FORMAT_INDEX_TABLE_H_
#define TFCKPT_FORMAT_INDEX_TABLE_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "io/byte_source.h"
#include "tfckpt/status.h"

namespace tfckpt {

// Calls `fn` for every key/value of the table at `path`, in key order. Stops at the first non-OK
// status from `fn` and returns it.
Status ForEachIndexEntry(
    const std::string& path,
    const std::function<Status(std::string_view key, std::string_view value)>& fn);

// The same over an opened source.
Status ForEachIndexEntry(
    const ByteSource& file,
    const std::function<Status(std::string_view key, std::string_view value)>& fn);

// An opened table for looking values up by key (a V1 checkpoint file, whose tensor values are
// table values). Opening reads the footer and the table's index block; each Get reads the one
// block that may hold the key and checks its CRC. Immutable after Open: Get may be called from
// many threads at once.
class IndexTable {
 public:
  static Status Open(std::shared_ptr<const ByteSource> file, std::unique_ptr<IndexTable>* table);
  ~IndexTable();

  // Looks `key` up: sets *found, and when found *value, a view valid while both *keepalive and
  // this table live (it may point into the table's block or into the file's mapping).
  Status Get(std::string_view key, bool* found, std::string_view* value,
             std::shared_ptr<const void>* keepalive) const;
  // Every key/value in key order, as ForEachIndexEntry.
  Status ForEach(
      const std::function<Status(std::string_view key, std::string_view value)>& fn) const;

  const std::string& name() const;

 private:
  struct Impl;
  IndexTable();
  std::unique_ptr<Impl> impl_;
};

// True when the file at `path` ends with the LevelDB table magic number (V1 and V2 checkpoint
// files both do).
bool HasTableMagic(const std::string& path);

class IndexTableWriter {
 public:
  // Creates `path` (which must not exist).
  static Status Create(const std::string& path, std::unique_ptr<IndexTableWriter>* writer);
  ~IndexTableWriter();
  // Keys must be added in strictly increasing bytewise order.
  Status Add(std::string_view key, std::string_view value);
  // Writes the remaining blocks and footer; fsyncs when `sync`; closes the file.
  Status Finish(bool sync);

 private:
  struct Impl;
  IndexTableWriter();
  std::unique_ptr<Impl> impl_;
};

}  // namespace tfckpt

#endif  // TFCKPT_FORMAT_INDEX_TABLE_H_
