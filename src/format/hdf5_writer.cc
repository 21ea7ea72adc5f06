#include "format/hdf5_writer.h"

#include <algorithm>
#include <map>
#include <string_view>
#include <utility>
#include <vector>

#include "fmt/format.h"

namespace tfckpt::hdf5 {
namespace {

constexpr uint64_t kUndefined = ~uint64_t{0};
constexpr int kLeafK = 4;                  // a symbol node holds 2 * kLeafK entries
constexpr int kInternalK = 16;             // a B-tree node holds 2 * kInternalK children
constexpr size_t kEntrySize = 40;          // a symbol table entry with 8-byte addresses
constexpr uint64_t kHeapObjects = 60000;   // objects of one global heap collection (max 65535)
constexpr uint64_t kMinCollection = 4096;  // HDF5 reads a collection's first 4 KiB at once

void Put(std::string* out, uint64_t v, int width) {
  for (int i = 0; i < width; i++) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void Pad8(std::string* out) { out->append((8 - out->size() % 8) % 8, '\0'); }

// One header message (version-1 object header): type, size, flags, then the data padded to 8;
// false when it is too large for one (its size is 16 bits).
bool Message(std::string* header, uint16_t type, uint8_t flags, std::string data) {
  Pad8(&data);
  if (data.size() > 0xffff) return false;
  Put(header, type, 2);
  Put(header, data.size(), 2);
  Put(header, flags, 1);
  Put(header, 0, 3);
  *header += data;
  return true;
}

std::string Dataspace(const Shape& dims, bool null) {
  std::string s;
  if (null) {  // (version 1 cannot say "no value")
    Put(&s, 2, 1);
    Put(&s, 0, 1);
    Put(&s, 0, 1);
    Put(&s, 2, 1);
    return s;
  }
  Put(&s, 1, 1);
  Put(&s, dims.size(), 1);
  Put(&s, 0, 1);  // no maximum dimensions
  Put(&s, 0, 5);
  for (int64_t d : dims) Put(&s, static_cast<uint64_t>(d), 8);
  return s;
}

class Builder {
 public:
  explicit Builder(uint64_t at) : at_(at) {}

  // Every variable-length string of the tree goes to the global heap first; `strings_` says
  // where each lies, in the order the attributes are met.
  Status CollectStrings(const Node& node, const std::string& path) {
    for (const Attribute& a : node.attributes) {
      TFCKPT_RETURN_IF_ERROR(CheckAttribute(a, path));
      if (a.type_class != 9) continue;
      first_string_[&a] = strings_.size();
      for (const std::string& s : a.strings) {
        if (s.size() > 0xffffffffu) return Refuse(path, "has a string too long to write");
        strings_.push_back(&s);
        if (collections_.empty() || collections_.back().size() >= kHeapObjects) {
          collections_.emplace_back();
        }
        collections_.back().push_back(&s);
      }
    }
    for (const Node& child : node.children) {
      TFCKPT_RETURN_IF_ERROR(CollectStrings(child, Join(path, child.name)));
    }
    return Status::OK();
  }

  void WriteHeaps() {
    for (const std::vector<const std::string*>& objects : collections_) {
      const uint64_t address = Here();
      std::string c = "GCOL";
      Put(&c, 1, 1);
      Put(&c, 0, 3);
      const size_t size_at = c.size();
      Put(&c, 0, 8);  // collection size, below
      uint64_t index = 1;
      for (const std::string* s : objects) {
        heap_ids_.push_back({address, index});
        Put(&c, index++, 2);
        Put(&c, 1, 2);  // references
        Put(&c, 0, 4);
        Put(&c, s->size(), 8);
        c += *s;
        Pad8(&c);
      }
      // The rest is free space: object 0, whose size counts its own header.
      const uint64_t used = c.size();
      const uint64_t total = std::max<uint64_t>(kMinCollection, used + 16);
      Put(&c, 0, 2);
      Put(&c, 0, 2);
      Put(&c, 0, 4);
      Put(&c, total - used, 8);
      c.resize(total, '\0');
      for (int i = 0; i < 8; i++) c[size_at + i] = static_cast<char>((total >> (8 * i)) & 0xff);
      out_ += c;
    }
  }

  // Writes `node` and everything under it (children first), returning its entry's addresses.
  struct Written {
    uint64_t header = 0, btree = kUndefined, heap = kUndefined;
  };
  Status Object(const Node& node, const std::string& path, Written* written) {
    std::string messages;
    size_t count = 0;
    bool ok = true;
    if (node.group) {
      std::vector<Written> children(node.children.size());
      for (size_t i = 0; i < node.children.size(); i++) {
        TFCKPT_RETURN_IF_ERROR(
            Object(node.children[i], Join(path, node.children[i].name), &children[i]));
      }
      Group(node, children, written);
      std::string stab;
      Put(&stab, written->btree, 8);
      Put(&stab, written->heap, 8);
      ok = Message(&messages, 0x0011, 0, std::move(stab));
      count++;
    } else {
      const Dataset& d = node.dataset;
      if (d.raw_type.empty()) return Refuse(path, "has no stored datatype to write again");
      const bool placed = d.offset >= 0 || d.size == 0;
      if (!placed) return Refuse(path, "has values this writer was not given a place for");
      ok = Message(&messages, 0x0001, 0, Dataspace(d.shape, false)) &&
           Message(&messages, 0x0003, 1, d.raw_type);
      std::string fill;
      Put(&fill, 2, 1);  // version 2
      Put(&fill, 2, 1);  // space allocated late
      Put(&fill, 2, 1);  // fill values written if set
      Put(&fill, 0, 1);  // none set
      ok = ok && Message(&messages, 0x0005, 1, std::move(fill));
      std::string layout;
      Put(&layout, 3, 1);  // version 3
      Put(&layout, 1, 1);  // contiguous
      Put(&layout, d.offset >= 0 ? static_cast<uint64_t>(d.offset) : kUndefined, 8);
      Put(&layout, static_cast<uint64_t>(d.size), 8);
      ok = ok && Message(&messages, 0x0008, 0, std::move(layout));
      count += 4;
    }
    for (const Attribute& a : node.attributes) {
      if (a.name.size() >= 0xffff) return Refuse(path, "has an attribute name too long to write");
      ok = ok && Message(&messages, 0x000C, 0, AttributeMessage(a));
      count++;
    }
    if (!ok || count > 0xffff || messages.size() > 0xffffffffu) {
      return Refuse(path, "has an attribute or a header too large for this writer");
    }
    written->header = Here();
    Put(&out_, 1, 1);  // version
    Put(&out_, 0, 1);
    Put(&out_, count, 2);
    Put(&out_, 1, 4);  // references
    Put(&out_, messages.size(), 4);
    Put(&out_, 0, 4);  // (the messages start 8-aligned)
    out_ += messages;
    return Status::OK();
  }

  std::string Take() { return std::move(out_); }

 private:
  static std::string Join(const std::string& path, const std::string& name) {
    return path == "/" ? "/" + name : path + "/" + name;
  }
  static Status Refuse(const std::string& path, std::string_view what) {
    return Status::Unsupported(fmt::format("HDF5 object '{}' {}", path, what));
  }
  static Status CheckAttribute(const Attribute& a, const std::string& path) {
    // Types whose values hold no file address are written again as stored; variable-length
    // strings get new heap objects. References and other variable-length data would point
    // into the old file.
    switch (a.type_class) {
      case 0:
      case 1:
      case 3:
      case 4:
      case 5:
      case 8:
        return Status::OK();
      case 9:
        if (a.kind == Attribute::Kind::kStrings) return Status::OK();
        break;
      default:
        break;
    }
    return Refuse(
        path, fmt::format("has attribute '{}' of a kind this writer cannot write again", a.name));
  }

  uint64_t Here() const { return at_ + out_.size(); }

  std::string AttributeMessage(const Attribute& a) {
    std::string values;
    if (a.type_class == 9) {
      const size_t first = first_string_.at(&a);
      for (size_t i = 0; i < a.strings.size(); i++) {
        const auto [collection, index] = heap_ids_[first + i];
        Put(&values, a.strings[i].size(), 4);
        Put(&values, collection, 8);
        Put(&values, index, 4);
      }
    } else {
      values = a.raw_values;
    }
    const std::string space = Dataspace(a.dims, a.null_space);
    std::string m;
    Put(&m, 1, 1);  // version 1
    Put(&m, 0, 1);
    Put(&m, a.name.size() + 1, 2);
    Put(&m, a.raw_type.size(), 2);
    Put(&m, space.size(), 2);
    m += a.name;
    m.push_back('\0');
    Pad8(&m);
    m += a.raw_type;
    Pad8(&m);
    m += space;
    Pad8(&m);
    m += values;
    return m;
  }

  // A group's local heap of names, its symbol nodes and the B-tree over them.
  void Group(const Node& node, const std::vector<Written>& children, Written* written) {
    std::string names(8, '\0');  // offset 0: the empty name
    std::vector<uint64_t> offsets;
    for (const Node& child : node.children) {
      offsets.push_back(names.size());
      names += child.name;
      names.push_back('\0');
      Pad8(&names);
    }
    const uint64_t free_at = names.size();
    Put(&names, 1, 8);   // the free list ends here
    Put(&names, 16, 8);  // a free block of 16 bytes
    written->heap = Here();
    Put(&out_, 0x50414548, 4);  // "HEAP"
    Put(&out_, 0, 4);           // version 0, reserved
    Put(&out_, names.size(), 8);
    Put(&out_, free_at, 8);
    Put(&out_, Here() + 8, 8);  // the names follow
    out_ += names;
    // Symbol nodes of 2 * kLeafK entries each.
    const size_t per_node = 2 * kLeafK;
    std::vector<uint64_t> nodes, last_names;
    for (size_t first = 0; first < node.children.size(); first += per_node) {
      const size_t n = std::min(per_node, node.children.size() - first);
      nodes.push_back(Here());
      last_names.push_back(offsets[first + n - 1]);
      std::string s = "SNOD";
      Put(&s, 1, 1);
      Put(&s, 0, 1);
      Put(&s, n, 2);
      for (size_t i = first; i < first + n; i++) {
        const Written& c = children[i];
        Put(&s, offsets[i], 8);
        Put(&s, c.header, 8);
        const bool cached = c.btree != kUndefined;
        Put(&s, cached ? 1 : 0, 4);
        Put(&s, 0, 4);
        Put(&s, cached ? c.btree : 0, 8);
        Put(&s, cached ? c.heap : 0, 8);
      }
      s.resize(8 + per_node * kEntrySize, '\0');
      out_ += s;
    }
    // The B-tree over the symbol nodes: leaves of up to 2K of them, then levels above, each
    // level's nodes side by side (siblings linked), the root last. A node's keys bound its
    // children's names: key 0 the name before its first child's (the empty name for the
    // first), key i + 1 the last name under child i.
    const size_t k2 = 2 * static_cast<size_t>(kInternalK);
    const uint64_t node_size = 24 + k2 * 8 + (k2 + 1) * 8;
    std::vector<uint64_t> level = nodes, level_last = last_names;
    int height = 0;
    do {
      const size_t count = (level.size() + k2 - 1) / k2;
      const uint64_t base = Here();
      std::vector<uint64_t> up, up_last;
      for (size_t n = 0; n < std::max<size_t>(count, 1); n++) {
        const size_t first = n * k2;
        const size_t used = std::min(k2, level.size() - std::min(level.size(), first));
        std::string t = "TREE";
        Put(&t, 0, 1);  // group nodes
        Put(&t, height, 1);
        Put(&t, used, 2);
        Put(&t, n == 0 ? kUndefined : base + (n - 1) * node_size, 8);
        Put(&t, n + 1 < count ? base + (n + 1) * node_size : kUndefined, 8);
        Put(&t, first == 0 ? 0 : level_last[first - 1], 8);
        for (size_t i = first; i < first + used; i++) {
          Put(&t, level[i], 8);
          Put(&t, level_last[i], 8);
        }
        t.resize(node_size, '\0');
        up.push_back(Here());
        up_last.push_back(used > 0 ? level_last[first + used - 1] : 0);
        out_ += t;
      }
      level = std::move(up);
      level_last = std::move(up_last);
      height++;
    } while (level.size() > 1);
    written->btree = level[0];
  }

  const uint64_t at_;
  std::string out_;
  std::vector<std::vector<const std::string*>> collections_;
  std::vector<const std::string*> strings_;              // in the order they were met
  std::vector<std::pair<uint64_t, uint64_t>> heap_ids_;  // (collection, index) of each
  std::map<const Attribute*, size_t> first_string_;      // an attribute's first in `strings_`
};

}  // namespace

Status BuildMetadata(const Node& root, uint64_t at, std::string* superblock,
                     std::string* metadata) {
  if (!root.group) return Status::InvalidArgument("the root of an HDF5 file must be a group");
  Builder b(at);
  TFCKPT_RETURN_IF_ERROR(b.CollectStrings(root, "/"));
  b.WriteHeaps();
  Builder::Written r;
  TFCKPT_RETURN_IF_ERROR(b.Object(root, "/", &r));
  *metadata = b.Take();
  const uint64_t end = at + metadata->size();
  std::string& s = *superblock;
  s.assign("\x89HDF\r\n\x1a\n", 8);
  Put(&s, 0, 4);  // superblock, free space, root entry versions; reserved
  Put(&s, 0, 1);  // shared header message version
  Put(&s, 8, 1);  // size of addresses
  Put(&s, 8, 1);  // size of lengths
  Put(&s, 0, 1);
  Put(&s, kLeafK, 2);
  Put(&s, kInternalK, 2);
  Put(&s, 0, 4);           // consistency flags
  Put(&s, 0, 8);           // base address
  Put(&s, kUndefined, 8);  // free-space info
  Put(&s, end, 8);
  Put(&s, kUndefined, 8);  // driver information
  // The root group's symbol table entry.
  Put(&s, 0, 8);
  Put(&s, r.header, 8);
  Put(&s, 1, 4);
  Put(&s, 0, 4);
  Put(&s, r.btree, 8);
  Put(&s, r.heap, 8);
  return Status::OK();
}

}  // namespace tfckpt::hdf5
