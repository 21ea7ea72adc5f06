// The metadata of an HDF5 file whose dataset values the caller has already placed: a superblock
// for the start of the file and every other structure (object headers, groups, names, strings)
// for its end. It writes the layout h5py writes by default and every HDF5 reader knows:
// superblock version 0, version-1 object headers, groups as symbol tables (a B-tree of symbol
// nodes over a local heap of names), variable-length strings in global heap collections, and
// contiguous datasets.
//
// The tree is a `Node` as hdf5::Read returns it: groups with their children and attributes
// (written again from their stored form), datasets with their datatype as stored (`raw_type`),
// their shape, and where the caller put their values (`offset`, `size`, in file addresses; -1
// for a dataset without values).
//
// Thread-safety: a pure function.

#ifndef TFCKPT_FORMAT_HDF5_WRITER_H_
#define TFCKPT_FORMAT_HDF5_WRITER_H_

#include <cstdint>
#include <string>

#include "format/hdf5.h"
#include "tfckpt/status.h"

namespace tfckpt::hdf5 {

// The bytes of the superblock, which go at the start of the file.
inline constexpr int64_t kSuperblockSize = 96;

// Builds the superblock and the metadata for `root`, the metadata to be written at file address
// `at` (after every dataset's values), so that the file ends at `at + metadata->size()`. The
// metadata's size does not depend on `at` nor on where the values lie. A structure the writer
// cannot write again (an attribute of a type that holds file addresses, a chunked or filtered
// dataset without placed values) is kUnsupported naming its path.
Status BuildMetadata(const Node& root, uint64_t at, std::string* superblock, std::string* metadata);

}  // namespace tfckpt::hdf5

#endif  // TFCKPT_FORMAT_HDF5_WRITER_H_
