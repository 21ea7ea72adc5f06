// A reader of the part of HDF5 that model files use: the object tree (groups, datasets,
// attributes) of a file as h5py writes it by default and as HDF5 1.8+ writes it with its newer
// structures. It reads metadata only; a dataset's values are located (file offset and size, or the
// bytes of a compact dataset), not read, so that callers view them in a mapping without a copy.
//
// Covered: superblocks 0 to 3 (with a user block), object headers 1 and 2 with continuation
// blocks, groups stored as symbol tables (B-tree and local heap) or as link messages, contiguous
// and compact datasets, and attributes holding strings (fixed or variable length, scalars or
// lists) or numbers. Refused with a message naming the object: anything that would make a reader
// open another file (external links, external raw storage, virtual datasets), dense link and
// attribute storage, shared (committed) messages. Chunked and filtered datasets are listed with
// the reason their values cannot be located (Dataset::unsupported).
//
// Untrusted input: every address, size and count is checked against the file before it is used;
// a group reached twice (a cycle of hard links), a B-tree or symbol node reached twice and trees
// deeper than a fixed bound are refused, and the bytes read and kept in all stay within a few
// times the file's size, however often its structures point at one another.
//
// Thread-safety: Read is a pure function of its source; the result is a value.

#ifndef TFCKPT_FORMAT_HDF5_H_
#define TFCKPT_FORMAT_HDF5_H_

#include <cstdint>
#include <string>
#include <vector>

#include "io/byte_source.h"
#include "tfckpt/dtype.h"
#include "tfckpt/status.h"
#include "tfckpt/tensor.h"

namespace tfckpt::hdf5 {

// An attribute's value as far as model files need it: strings (a scalar string is one element)
// or numbers (as doubles); other types keep only their name.
struct Attribute {
  std::string name;
  enum class Kind { kStrings, kNumbers, kOther } kind = Kind::kOther;
  std::vector<std::string> strings;
  std::vector<double> numbers;
  bool scalar = false;
  // The attribute as stored, for writing it again (hdf5_writer.h): its datatype message, its
  // dimensions (none: a scalar, or no value when `null_space`) and the bytes of its values
  // (empty for variable-length strings, whose bytes live elsewhere in the file: `strings` holds
  // them); `type_class` is the datatype's class, -1 when the attribute was too large to keep.
  int type_class = -1;
  std::string raw_type, raw_values;
  Shape dims;
  bool null_space = false;
};

// A dataset's element type and where its values lie.
struct Dataset {
  // kInvalid when the element type has no dtype; `type_note` then says what it is.
  DType dtype = DType::kInvalid;
  std::string type_note;
  int64_t element_size = 0;
  bool big_endian = false;
  // An opaque type's tag (h5py marks some types this way), else empty.
  std::string opaque_tag;
  // The datatype message as stored, for writing the dataset again (hdf5_writer.h).
  std::string raw_type;
  Shape shape;
  // Contiguous storage: the values' offset in the file and their size; offset -1 when no storage
  // was ever allocated (a dataset without elements; one with elements is then unsupported).
  int64_t offset = -1;
  int64_t size = 0;
  // Compact storage: the values themselves (then `offset` is -1 and `compact` is true).
  bool compact = false;
  std::string compact_bytes;
  // Why the values cannot be located (chunked, filtered...), empty when they can.
  std::string unsupported;
  // Which of several files holds the values, where callers join the trees of several files
  // (JoinTrees); 0 as Read returns it.
  int file = 0;
};

struct Node {
  std::string name;  // the link name; "" for the root group
  bool group = true;
  std::vector<Attribute> attributes;
  std::vector<Node> children;  // groups only, sorted by name
  Dataset dataset;             // datasets only

  const Attribute* FindAttribute(const std::string& attribute) const;
  const Node* Child(const std::string& child) const;
  // The node at `path` ("layers/dense/vars/0") below this group, or nullptr.
  const Node* Descendant(const std::string& path) const;
};

// True when the bytes at the start of `source` (or after a user block of 512, 1024, ... bytes)
// hold an HDF5 signature.
bool LooksLikeHdf5(const ByteSource& source);

// Joins the tree `from` into `into`: groups by name, recursively, their attributes too (those
// `into` has are kept). A dataset at a path both hold is kept as `into` has it, and its path is
// added to `*both` when given.
void JoinTrees(const Node& from, Node* into, std::vector<std::string>* both = nullptr);

// Reads the whole object tree of the HDF5 file in `source`. A file that is not HDF5 or is damaged
// is kCorruption; a structure outside the covered set is kUnsupported naming the object path.
Status Read(const ByteSource& source, Node* root);

}  // namespace tfckpt::hdf5

#endif  // TFCKPT_FORMAT_HDF5_H_
