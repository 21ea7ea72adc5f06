#include "format/hdf5.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string_view>
#include <utility>

#include "fmt/format.h"

namespace tfckpt::hdf5 {
namespace {

constexpr std::string_view kSignature("\x89HDF\r\n\x1a\n", 8);
constexpr uint64_t kUndefined = ~uint64_t{0};
constexpr int kMaxDepth = 64;              // nested groups and B-tree levels
constexpr int64_t kMaxObjects = 1 << 22;   // objects of one file
constexpr int kMaxHeaderBlocks = 1 << 16;  // continuation blocks of one object header
constexpr int kMaxRank = 32;               // HDF5's own limit
constexpr int64_t kMaxElements = 1 << 24;  // elements of one attribute read as values
constexpr size_t kMaxName = 4096;          // bytes of one link name

// A bounds-checked reader over bytes in memory; a read past the end sets ok() to false and
// returns zeros, so parsers check ok() once after a group of reads.
class Cursor {
 public:
  Cursor(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  explicit Cursor(std::string_view s)
      : p_(reinterpret_cast<const uint8_t*>(s.data())), n_(s.size()) {}
  bool ok() const { return ok_; }
  size_t pos() const { return pos_; }
  size_t left() const { return ok_ ? n_ - pos_ : 0; }
  bool Need(size_t k) {
    if (!ok_ || n_ - pos_ < k) ok_ = false;
    return ok_;
  }
  uint64_t U(size_t width) {
    if (width > 8 || !Need(width)) {
      ok_ = false;
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < width; i++) v |= static_cast<uint64_t>(p_[pos_ + i]) << (8 * i);
    pos_ += width;
    return v;
  }
  void Skip(size_t k) {
    if (Need(k)) pos_ += k;
  }
  void Seek(size_t at) {
    if (at > n_) ok_ = false;
    if (ok_) pos_ = at;
  }
  std::string_view Take(size_t k) {
    if (!Need(k)) return {};
    std::string_view v(reinterpret_cast<const char*>(p_ + pos_), k);
    pos_ += k;
    return v;
  }
  // Advances to the next multiple of 8 counted from `origin`.
  void Align8(size_t origin) { Skip((8 - (pos_ - origin) % 8) % 8); }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// A datatype message, parsed.
struct Type {
  int cls = -1;
  int version = 0;
  uint32_t bits = 0;  // the class bit field
  uint64_t size = 0;
  std::vector<Type> base;                                 // vlen and enum: the base type
  std::vector<std::pair<std::string, uint64_t>> members;  // enum members
  std::string tag;                                        // opaque tag
  // Number layout (fixed-point and floating point).
  int bit_offset = 0, precision = 0;
  int exponent_location = 0, exponent_size = 0, mantissa_location = 0, mantissa_size = 0;
  uint64_t exponent_bias = 0;

  // Whether a number of this type occupies all its bytes in the standard way: an integer, or
  // an IEEE 754 float of `exponent` and `mantissa` bits (sign on top, biased exponent, mantissa).
  bool WholeInteger() const { return bit_offset == 0 && precision == static_cast<int>(8 * size); }
  bool Ieee(int exponent, int mantissa) const {
    const int sign = static_cast<int>((bits >> 8) & 0xff);
    return WholeInteger() && exponent_size == exponent && mantissa_size == mantissa &&
           mantissa_location == 0 && exponent_location == mantissa &&
           sign == static_cast<int>(8 * size) - 1 &&
           exponent_bias == (uint64_t{1} << (exponent - 1)) - 1;
  }
};

struct Message {
  uint16_t type = 0;
  uint8_t flags = 0;
  std::string data;
};

std::string Printable(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) {
      out += c;
    } else {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    }
  }
  return out;
}

class Parser {
 public:
  explicit Parser(const ByteSource& source) : source_(source), size_(source.size()) {}

  Status Run(Node* root) {
    TFCKPT_RETURN_IF_ERROR(Superblock());
    root->name.clear();
    return Object(root_address_, "/", 0, root);
  }

 private:
  Status Bad(const std::string& why) const {
    return Status::Corruption(
        fmt::format("'{}' is not a readable HDF5 file: {}", source_.name(), why));
  }
  Status Refuse(const std::string& path, const std::string& what) const {
    return Status::Unsupported(fmt::format("'{}': object '{}' {}", source_.name(), path, what));
  }

  // Reads `n` bytes at file address `address` (relative to the base) into *out.
  Status Bytes(uint64_t address, uint64_t n, std::string* out, std::string_view what) const {
    const uint64_t limit = static_cast<uint64_t>(size_) - base_;
    if (address == kUndefined || address > limit || n > limit - address) {
      return Bad(fmt::format("{} at address {} ({} bytes) lies past the end of the file ({} bytes)",
                             what, address == kUndefined ? -1 : static_cast<int64_t>(address), n,
                             size_));
    }
    // Structures may point at one another over and over in a damaged or hostile file: what is
    // read in all stays within a few times the file.
    read_ += n;
    if (read_ > 4 * static_cast<uint64_t>(size_) + (uint64_t{64} << 20)) {
      return Bad("its structures refer to more bytes than it holds (it is damaged)");
    }
    out->resize(static_cast<size_t>(n));
    return source_.ReadAt(static_cast<int64_t>(base_ + address), static_cast<int64_t>(n),
                          out->data());
  }
  // As Bytes, but fewer when the file ends first (for structures whose size is read from them).
  Status BytesUpTo(uint64_t address, uint64_t n, std::string* out, std::string_view what) const {
    const uint64_t limit = static_cast<uint64_t>(size_) - base_;
    if (address == kUndefined || address >= limit) return Bytes(address, n, out, what);
    return Bytes(address, std::min(n, limit - address), out, what);
  }

  uint64_t Offset(Cursor& c) const {
    uint64_t v = c.U(offset_size_);
    if (offset_size_ < 8 && v == (uint64_t{1} << (8 * offset_size_)) - 1) return kUndefined;
    return v;
  }
  uint64_t Length(Cursor& c) const { return c.U(length_size_); }

  Status Superblock() {
    std::string head(8, '\0');
    bool found = false;
    for (uint64_t at = 0; at + 8 <= static_cast<uint64_t>(size_); at = at == 0 ? 512 : at * 2) {
      TFCKPT_RETURN_IF_ERROR(source_.ReadAt(static_cast<int64_t>(at), 8, head.data()));
      if (head == kSignature) {
        base_ = at;
        found = true;
        break;
      }
    }
    if (!found) {
      return Status::Corruption(
          fmt::format("'{}' is not an HDF5 file (no HDF5 signature)", source_.name()));
    }
    std::string sb;
    TFCKPT_RETURN_IF_ERROR(BytesUpTo(0, 256, &sb, "the superblock"));
    Cursor c(sb);
    c.Skip(8);
    const int version = static_cast<int>(c.U(1));
    if (version == 0 || version == 1) {
      c.Skip(4);  // free-space, root symbol table entry and shared message versions, reserved
      offset_size_ = static_cast<int>(c.U(1));
      length_size_ = static_cast<int>(c.U(1));
      c.Skip(1 + 2 + 2 + 4);  // reserved, group leaf and internal node K, consistency flags
      if (version == 1) c.Skip(4);
      if (!SizesOk()) return Bad("its superblock states impossible address sizes");
      Offset(c);  // base address: the superblock's own position (as HDF5 takes it)
      Offset(c);  // free-space info
      Offset(c);  // end of file
      Offset(c);  // driver information
      // The root group's symbol table entry.
      Offset(c);  // link name offset
      root_address_ = Offset(c);
    } else if (version == 2 || version == 3) {
      offset_size_ = static_cast<int>(c.U(1));
      length_size_ = static_cast<int>(c.U(1));
      c.Skip(1);  // consistency flags
      if (!SizesOk()) return Bad("its superblock states impossible address sizes");
      Offset(c);  // base address
      Offset(c);  // superblock extension
      Offset(c);  // end of file
      root_address_ = Offset(c);
    } else {
      return Status::Unsupported(
          fmt::format("'{}' has an HDF5 superblock of version {}, which this reader does not know",
                      source_.name(), version));
    }
    if (!c.ok()) return Bad("its superblock is cut short");
    return Status::OK();
  }
  bool SizesOk() const {
    auto fine = [](int s) { return s == 2 || s == 4 || s == 8; };
    return fine(offset_size_) && fine(length_size_);
  }

  // Reads the messages of the object header at `address`.
  Status Header(uint64_t address, const std::string& path, std::vector<Message>* messages) {
    std::string prefix;
    TFCKPT_RETURN_IF_ERROR(BytesUpTo(address, 16, &prefix, "an object header"));
    std::deque<std::pair<uint64_t, uint64_t>> blocks;  // continuation blocks still to read
    std::set<uint64_t> seen;
    int version = 0;
    if (prefix.size() >= 4 && prefix.compare(0, 4, "OHDR") == 0) {
      version = 2;
      Cursor c(prefix);
      c.Skip(4);
      if (c.U(1) != 2) return Bad(fmt::format("object '{}' has an unknown header version", path));
      const uint8_t flags = static_cast<uint8_t>(c.U(1));
      uint64_t skip = 6 + ((flags & 0x20) ? 16 : 0) + ((flags & 0x10) ? 4 : 0);
      const size_t width = size_t{1} << (flags & 3);
      std::string sized;
      TFCKPT_RETURN_IF_ERROR(BytesUpTo(address, skip + width, &sized, "an object header"));
      Cursor s(sized);
      s.Skip(skip);
      const uint64_t chunk = s.U(width);
      if (!s.ok()) return Bad(fmt::format("the header of object '{}' is cut short", path));
      creation_order_ = (flags & 0x04) != 0;
      TFCKPT_RETURN_IF_ERROR(Block(address + skip + width, chunk, 2, path, &blocks, messages));
    } else {
      Cursor c(prefix);
      const uint64_t v = c.U(1);
      c.Skip(1);
      c.U(2);  // number of messages (the blocks say)
      c.U(4);  // reference count
      const uint64_t length = c.U(4);
      if (!c.ok() || v != 1) {
        return Bad(fmt::format("object '{}' has no valid header at address {}", path, address));
      }
      version = 1;
      creation_order_ = false;
      TFCKPT_RETURN_IF_ERROR(Block(address + 16, length, 1, path, &blocks, messages));
    }
    int count = 0;
    while (!blocks.empty()) {
      auto [at, length] = blocks.front();
      blocks.pop_front();
      if (!seen.insert(at).second || ++count > kMaxHeaderBlocks) {
        return Bad(fmt::format("the header of object '{}' continues in a loop", path));
      }
      if (version == 2) {
        std::string sig;
        TFCKPT_RETURN_IF_ERROR(Bytes(at, 4, &sig, "an object header continuation"));
        if (sig != "OCHK" || length < 8) {
          return Bad(fmt::format("a header continuation of object '{}' is damaged", path));
        }
        TFCKPT_RETURN_IF_ERROR(Block(at + 4, length - 8, 2, path, &blocks, messages));
      } else {
        TFCKPT_RETURN_IF_ERROR(Block(at, length, 1, path, &blocks, messages));
      }
    }
    return Status::OK();
  }

  Status Block(uint64_t at, uint64_t length, int version, const std::string& path,
               std::deque<std::pair<uint64_t, uint64_t>>* blocks, std::vector<Message>* out) {
    std::string bytes;
    TFCKPT_RETURN_IF_ERROR(Bytes(at, length, &bytes, fmt::format("the header of '{}'", path)));
    Cursor c(bytes);
    const size_t head = version == 1 ? 8 : (creation_order_ ? 6 : 4);
    while (c.left() >= head) {
      Message m;
      if (version == 1) {
        m.type = static_cast<uint16_t>(c.U(2));
        const uint64_t size = c.U(2);
        m.flags = static_cast<uint8_t>(c.U(1));
        c.Skip(3);
        m.data = std::string(c.Take(size));
      } else {
        m.type = static_cast<uint16_t>(c.U(1));
        const uint64_t size = c.U(2);
        m.flags = static_cast<uint8_t>(c.U(1));
        if (creation_order_) c.U(2);
        m.data = std::string(c.Take(size));
      }
      if (!c.ok()) return Bad(fmt::format("a header message of object '{}' is cut short", path));
      if (m.type == 0x10) {
        Cursor d(m.data);
        const uint64_t next = Offset(d);
        const uint64_t len = Length(d);
        if (!d.ok()) return Bad(fmt::format("a header continuation of '{}' is damaged", path));
        blocks->emplace_back(next, len);
        continue;
      }
      if (m.type != 0) out->push_back(std::move(m));
    }
    return Status::OK();
  }

  Status ParseType(Cursor& c, const std::string& path, int depth, Type* t) {
    if (depth > 8) return Refuse(path, "has a datatype nested too deeply");
    const uint64_t cv = c.U(1);
    t->cls = static_cast<int>(cv & 0x0f);
    t->version = static_cast<int>(cv >> 4);
    t->bits = static_cast<uint32_t>(c.U(3));
    t->size = c.U(4);
    if (!c.ok()) return Bad(fmt::format("the datatype of '{}' is cut short", path));
    switch (t->cls) {
      case 0:  // fixed-point: bit offset, precision
        t->bit_offset = static_cast<int>(c.U(2));
        t->precision = static_cast<int>(c.U(2));
        break;
      case 1:  // floating point: bit offset, precision, exponent and mantissa layout, bias
        t->bit_offset = static_cast<int>(c.U(2));
        t->precision = static_cast<int>(c.U(2));
        t->exponent_location = static_cast<int>(c.U(1));
        t->exponent_size = static_cast<int>(c.U(1));
        t->mantissa_location = static_cast<int>(c.U(1));
        t->mantissa_size = static_cast<int>(c.U(1));
        t->exponent_bias = c.U(4);
        break;
      case 2:  // time
        c.Skip(2);
        break;
      case 3:  // string
      case 7:  // reference
        break;
      case 4:  // bitfield
        c.Skip(4);
        break;
      case 5: {  // opaque: a NUL-padded ASCII tag, the class bits say its length
        const size_t n = t->bits & 0xff;
        std::string_view tag = c.Take(n);
        t->tag = std::string(tag.substr(0, tag.find('\0')));
        break;
      }
      case 6: {  // compound: skipped member by member
        const uint32_t members = t->bits & 0xffff;
        size_t offset_width = 1;  // version 3: the smallest width that holds the size
        while (offset_width < 4 && (t->size >> (8 * offset_width)) != 0) offset_width++;
        for (uint32_t i = 0; i < members && c.ok(); i++) {
          const size_t name_start = c.pos();
          while (c.ok() && c.Take(1) != std::string_view("\0", 1)) {
          }
          if (t->version < 3) c.Skip((8 - (c.pos() - name_start) % 8) % 8);
          if (t->version == 1) {
            c.Skip(4 + 1 + 3 + 4 + 4 + 16);  // offset, rank, reserved, permutation, dims
          } else {
            c.Skip(t->version == 2 ? 4 : offset_width);
          }
          Type member;
          TFCKPT_RETURN_IF_ERROR(ParseType(c, path, depth + 1, &member));
        }
        break;
      }
      case 8: {  // enumeration: base type, names, values
        t->base.emplace_back();
        TFCKPT_RETURN_IF_ERROR(ParseType(c, path, depth + 1, &t->base.back()));
        const uint32_t members = t->bits & 0xffff;
        if (members > 65535) return Refuse(path, "has an enumeration too large");
        std::vector<std::string> names;
        for (uint32_t i = 0; i < members && c.ok(); i++) {
          const size_t name_start = c.pos();
          std::string name;
          for (;;) {
            std::string_view ch = c.Take(1);
            if (!c.ok() || ch[0] == '\0') break;
            name += ch[0];
          }
          if (t->version < 3) {
            const size_t used = c.pos() - name_start;
            c.Skip((8 - used % 8) % 8);
          }
          names.push_back(std::move(name));
        }
        for (uint32_t i = 0; i < members && c.ok(); i++) {
          t->members.emplace_back(names[i], c.U(std::min<uint64_t>(t->base[0].size, 8)));
          if (t->base[0].size > 8) c.Skip(t->base[0].size - 8);
        }
        break;
      }
      case 9:  // variable length: base type
        t->base.emplace_back();
        TFCKPT_RETURN_IF_ERROR(ParseType(c, path, depth + 1, &t->base.back()));
        break;
      case 10:  // array: rank, dims (and permutations before version 3), base
      {
        const uint64_t rank = c.U(1);
        if (t->version < 3) c.Skip(3);
        c.Skip(4 * rank);
        if (t->version < 3) c.Skip(4 * rank);
        t->base.emplace_back();
        TFCKPT_RETURN_IF_ERROR(ParseType(c, path, depth + 1, &t->base.back()));
        break;
      }
      default:
        return Bad(fmt::format("the datatype of '{}' is of unknown class {}", path, t->cls));
    }
    if (!c.ok()) return Bad(fmt::format("the datatype of '{}' is cut short", path));
    return Status::OK();
  }

  // The dtype of a numeric type ("" note) or a note saying what the type is.
  static void Classify(const Type& t, Dataset* d) {
    d->element_size = static_cast<int64_t>(t.size);
    d->big_endian = (t.cls == 0 || t.cls == 1) && (t.bits & 1) != 0;
    switch (t.cls) {
      case 0: {
        const bool is_signed = (t.bits & 0x08) != 0;
        if (!t.WholeInteger()) {
          d->type_note = fmt::format("{}-bit integers padded to {} bytes", t.precision, t.size);
          break;
        }
        switch (t.size) {
          case 1:
            d->dtype = is_signed ? DType::kInt8 : DType::kUInt8;
            break;
          case 2:
            d->dtype = is_signed ? DType::kInt16 : DType::kUInt16;
            break;
          case 4:
            d->dtype = is_signed ? DType::kInt32 : DType::kUInt32;
            break;
          case 8:
            d->dtype = is_signed ? DType::kInt64 : DType::kUInt64;
            break;
          default:
            d->type_note = fmt::format("{}-byte integers", t.size);
        }
        break;
      }
      case 1: {
        const bool vax = (t.bits & 0x40) != 0;
        if (vax) {
          d->type_note = "VAX-ordered floats";
        } else if (t.size == 2 && t.Ieee(5, 10)) {
          d->dtype = DType::kHalf;
        } else if (t.size == 4 && t.Ieee(8, 23)) {
          d->dtype = DType::kFloat;
        } else if (t.size == 8 && t.Ieee(11, 52)) {
          d->dtype = DType::kDouble;
        } else {
          d->type_note = fmt::format("{}-byte floats of a non-IEEE layout", t.size);
        }
        break;
      }
      case 5:
        d->opaque_tag = t.tag;
        d->type_note = fmt::format("{}-byte opaque values{}", t.size,
                                   t.tag.empty() ? "" : fmt::format(" tagged '{}'", t.tag));
        break;
      case 8: {
        // h5py's booleans: a 1-byte integer enumeration of FALSE = 0 and TRUE = 1.
        const bool boolean = t.size == 1 && t.members.size() == 2 &&
                             t.members[0] == std::pair<std::string, uint64_t>("FALSE", 0) &&
                             t.members[1] == std::pair<std::string, uint64_t>("TRUE", 1);
        if (boolean) {
          d->dtype = DType::kBool;
        } else {
          d->type_note = "enumerations";
        }
        break;
      }
      case 3:
        d->type_note = "fixed-length strings";
        break;
      case 6:
        d->type_note = "compound values";
        break;
      case 9:
        d->type_note = "variable-length values";
        break;
      default:
        d->type_note = fmt::format("values of HDF5 type class {}", t.cls);
    }
  }

  Status ParseSpace(std::string_view data, const std::string& path, Shape* shape, bool* null) {
    Cursor c(data);
    const uint64_t version = c.U(1);
    const uint64_t rank = c.U(1);
    const uint64_t flags = c.U(1);
    *null = false;
    if (version == 1) {
      c.Skip(5);
    } else if (version == 2) {
      const uint64_t type = c.U(1);
      if (type == 2) *null = true;
    } else {
      return Bad(fmt::format("the dataspace of '{}' has unknown version {}", path, version));
    }
    if (rank > kMaxRank) return Bad(fmt::format("the dataspace of '{}' has rank {}", path, rank));
    shape->clear();
    for (uint64_t i = 0; i < rank; i++) {
      const uint64_t dim = Length(c);
      if (dim > (uint64_t{1} << 62)) {
        return Bad(fmt::format("the dataspace of '{}' has a dimension of {}", path, dim));
      }
      shape->push_back(static_cast<int64_t>(dim));
    }
    (void)flags;  // maximum dimensions follow; unused
    if (!c.ok()) return Bad(fmt::format("the dataspace of '{}' is cut short", path));
    return Status::OK();
  }

  // Element count of a shape, or -1 past any sane bound.
  static int64_t Elements(const Shape& shape) {
    int64_t n = 1;
    for (int64_t d : shape) {
      if (d != 0 && n > (int64_t{1} << 62) / d) return -1;
      n *= d;
    }
    return n;
  }

  // The first `length` bytes of object `index` of the global heap collection at `collection`.
  Status GlobalHeapObject(uint64_t collection, uint64_t index, uint64_t length, std::string* out,
                          const std::string& path) {
    // The collection's header and each object's header are padded to 8 bytes.
    const size_t header = (8 + static_cast<size_t>(length_size_) + 7) & ~size_t{7};
    const size_t object_header = header;  // (index 2, references 2, reserved 4, size)
    auto it = heaps_.find(collection);
    if (it == heaps_.end()) {
      std::string head;
      TFCKPT_RETURN_IF_ERROR(Bytes(collection, header, &head, "a global heap"));
      Cursor c(head);
      if (c.Take(4) != "GCOL") return Bad(fmt::format("a string of '{}' points at no heap", path));
      c.Skip(4);
      const uint64_t size = Length(c);
      Collection heap;
      TFCKPT_RETURN_IF_ERROR(Bytes(collection, size, &heap.bytes, "a global heap"));
      it = heaps_.emplace(collection, std::move(heap)).first;
      Cursor o(it->second.bytes);
      o.Skip(header);
      while (o.left() >= object_header) {
        const size_t start = o.pos();
        const uint64_t id = o.U(2);
        o.Skip(6);
        const uint64_t object_size = Length(o);
        o.Seek(start + object_header);
        if (id == 0) break;  // free space to the end
        std::string_view data = o.Take(object_size);
        if (!o.ok()) break;
        o.Skip(std::min<uint64_t>((8 - object_size % 8) % 8, o.left()));
        it->second.objects.emplace(id, data);
      }
    }
    auto object = it->second.objects.find(index);
    if (object == it->second.objects.end()) {
      return Bad(fmt::format("a string of '{}' is missing from its heap", path));
    }
    std::string_view data = object->second.substr(0, length);
    strings_ += data.size();
    if (strings_ > 4 * static_cast<uint64_t>(size_) + (uint64_t{64} << 20)) {
      return Bad(fmt::format("the strings of '{}' repeat beyond what the file holds", path));
    }
    *out = std::string(data);
    return Status::OK();
  }

  Status ParseAttribute(std::string_view data, const std::string& path, Attribute* a) {
    Cursor c(data);
    const uint64_t version = c.U(1);
    const uint64_t flags = c.U(1);
    const uint64_t name_size = c.U(2), type_size = c.U(2), space_size = c.U(2);
    if (version == 3) c.U(1);  // character set of the name
    if (!c.ok() || version < 1 || version > 3) {
      return Bad(fmt::format("an attribute of '{}' is damaged", path));
    }
    if (flags & 0x03) return Refuse(path, "has an attribute of a shared (committed) type");
    const bool padded = version == 1;
    std::string_view name = c.Take(name_size);
    a->name = std::string(name.substr(0, name.find('\0')));
    if (padded) c.Skip((8 - name_size % 8) % 8);
    std::string_view type_bytes = c.Take(type_size);
    if (padded) c.Skip((8 - type_size % 8) % 8);
    std::string_view space_bytes = c.Take(space_size);
    if (padded) c.Skip((8 - space_size % 8) % 8);
    if (!c.ok()) return Bad(fmt::format("attribute '{}' of '{}' is cut short", a->name, path));
    const std::string where = fmt::format("{}@{}", path, Printable(a->name));
    Type type;
    Cursor tc(type_bytes);
    TFCKPT_RETURN_IF_ERROR(ParseType(tc, where, 0, &type));
    Shape shape;
    bool null = false;
    TFCKPT_RETURN_IF_ERROR(ParseSpace(space_bytes, where, &shape, &null));
    a->scalar = shape.empty() && !null;
    const int64_t n = null ? 0 : Elements(shape);
    if (n < 0 || n > kMaxElements) {
      a->kind = Attribute::Kind::kOther;
      return Status::OK();
    }
    a->type_class = type.cls;
    a->raw_type = std::string(type_bytes);
    a->dims = shape;
    a->null_space = null;
    const uint64_t width = type.cls == 9 ? 4 + offset_size_ + 4 : type.size;
    if (width == 0 || static_cast<uint64_t>(n) > c.left() / width) {
      if (n == 0) return Status::OK();
      return Bad(fmt::format("attribute '{}' of '{}' is cut short", a->name, path));
    }
    if (type.cls != 9) {
      a->raw_values = std::string(data.substr(c.pos(), static_cast<size_t>(n) * width));
    }
    if (type.cls == 3) {  // fixed-length strings: NUL-terminated, NUL- or space-padded
      a->kind = Attribute::Kind::kStrings;
      const uint32_t pad = type.bits & 0x0f;
      for (int64_t i = 0; i < n; i++) {
        std::string_view s = c.Take(type.size);
        if (pad == 2) {
          while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
        } else {
          s = s.substr(0, s.find('\0'));
        }
        a->strings.emplace_back(s);
      }
    } else if (type.cls == 9 && (type.bits & 0x0f) == 1) {  // variable-length strings
      a->kind = Attribute::Kind::kStrings;
      for (int64_t i = 0; i < n; i++) {
        const uint64_t length = c.U(4);
        const uint64_t collection = Offset(c);
        const uint64_t index = c.U(4);
        std::string s;
        if (length > 0 && collection != kUndefined) {
          TFCKPT_RETURN_IF_ERROR(GlobalHeapObject(collection, index, length, &s, where));
        }
        a->strings.push_back(std::move(s));
      }
    } else if (type.cls == 0 || type.cls == 1 || type.cls == 8) {
      Dataset d;
      Classify(type, &d);
      if (d.dtype == DType::kInvalid || d.dtype == DType::kHalf || d.big_endian) {
        return Status::OK();  // (kept by name only)
      }
      a->kind = Attribute::Kind::kNumbers;
      for (int64_t i = 0; i < n; i++) {
        std::string_view v = c.Take(type.size);
        double x = 0;
        switch (d.dtype) {
          case DType::kFloat: {
            float f;
            std::memcpy(&f, v.data(), 4);
            x = f;
            break;
          }
          case DType::kDouble:
            std::memcpy(&x, v.data(), 8);
            break;
          case DType::kInt8:
            x = static_cast<int8_t>(v[0]);
            break;
          case DType::kInt16: {
            int16_t y;
            std::memcpy(&y, v.data(), 2);
            x = y;
            break;
          }
          case DType::kInt32: {
            int32_t y;
            std::memcpy(&y, v.data(), 4);
            x = y;
            break;
          }
          case DType::kInt64: {
            int64_t y;
            std::memcpy(&y, v.data(), 8);
            x = static_cast<double>(y);
            break;
          }
          default: {
            uint64_t y = 0;
            std::memcpy(&y, v.data(), std::min<size_t>(8, v.size()));
            x = static_cast<double>(y);
          }
        }
        a->numbers.push_back(x);
      }
    }
    return Status::OK();
  }

  Status ParseLayout(std::string_view data, const std::string& path, Dataset* d) {
    Cursor c(data);
    const uint64_t version = c.U(1);
    if (version == 1 || version == 2) {
      const uint64_t rank = c.U(1);
      const uint64_t cls = c.U(1);
      c.Skip(5);
      if (cls == 1) {
        d->offset = static_cast<int64_t>(Offset(c));
        if (d->offset == static_cast<int64_t>(kUndefined)) d->offset = -1;
      } else if (cls == 2) {
        d->unsupported = "its values are stored in chunks";
        return Status::OK();
      }
      c.Skip(4 * rank);
      if (cls == 0) {
        const uint64_t size = c.U(4);
        d->compact = true;
        d->compact_bytes = std::string(c.Take(size));
      } else {
        d->size = -1;  // (not stored: as large as the values)
      }
    } else if (version == 3 || version == 4) {
      const uint64_t cls = c.U(1);
      if (cls == 0) {
        const uint64_t size = c.U(2);
        d->compact = true;
        d->compact_bytes = std::string(c.Take(size));
      } else if (cls == 1) {
        const uint64_t at = Offset(c);
        d->offset = at == kUndefined ? -1 : static_cast<int64_t>(at);
        d->size = static_cast<int64_t>(Length(c));
      } else if (cls == 2) {
        d->unsupported = "its values are stored in chunks";
        return Status::OK();
      } else if (cls == 3) {
        return Refuse(path, "is a virtual dataset (its values live in other files): refused");
      } else {
        return Bad(fmt::format("dataset '{}' has an unknown layout class {}", path, cls));
      }
    } else {
      return Bad(fmt::format("dataset '{}' has an unknown layout version {}", path, version));
    }
    if (!c.ok()) return Bad(fmt::format("the layout of dataset '{}' is cut short", path));
    return Status::OK();
  }

  // The NUL-terminated name at `offset` of a local heap; "" when there is none or it is longer
  // than any name a writer gives (a damaged heap).
  static std::string LocalHeapName(const std::string& heap, uint64_t offset) {
    if (offset >= heap.size()) return {};
    const size_t end = heap.find('\0', static_cast<size_t>(offset));
    if (end == std::string::npos || end - offset > kMaxName) return {};
    return heap.substr(static_cast<size_t>(offset), end - offset);
  }

  // The children of a group stored as a symbol table: its B-tree's leaves name symbol nodes.
  Status SymbolTable(uint64_t btree, uint64_t heap_address, const std::string& path,
                     std::vector<std::pair<std::string, uint64_t>>* links) {
    std::string head;
    TFCKPT_RETURN_IF_ERROR(Bytes(heap_address, 8 + 2 * length_size_ + offset_size_, &head,
                                 fmt::format("the name heap of group '{}'", path)));
    Cursor hc(head);
    if (hc.Take(4) != "HEAP") return Bad(fmt::format("group '{}' has no name heap", path));
    hc.Skip(4);
    const uint64_t heap_size = Length(hc);
    Length(hc);  // free list
    const uint64_t heap_data = Offset(hc);
    std::string heap;
    TFCKPT_RETURN_IF_ERROR(
        Bytes(heap_data, heap_size, &heap, fmt::format("the names of group '{}'", path)));
    std::set<uint64_t> seen;
    std::function<Status(uint64_t, int)> node = [&](uint64_t at, int level) -> Status {
      if (level > kMaxDepth || !seen.insert(at).second) {
        return Bad(fmt::format("the B-tree of group '{}' loops", path));
      }
      std::string n;
      TFCKPT_RETURN_IF_ERROR(BytesUpTo(at, 8 + 2 * offset_size_, &n, "a group B-tree node"));
      Cursor c(n);
      if (c.Take(4) != "TREE" || c.U(1) != 0) {
        return Bad(fmt::format("the B-tree of group '{}' is damaged", path));
      }
      const uint64_t node_level = c.U(1);
      const uint64_t entries = c.U(2);
      const uint64_t entry = static_cast<uint64_t>(length_size_ + offset_size_);
      std::string all;
      TFCKPT_RETURN_IF_ERROR(Bytes(at, 8 + 2 * offset_size_ + entries * entry + length_size_, &all,
                                   "a group B-tree node"));
      Cursor e(all);
      e.Skip(8 + 2 * offset_size_);
      for (uint64_t i = 0; i < entries; i++) {
        Length(e);  // key
        const uint64_t child = Offset(e);
        if (!e.ok()) return Bad(fmt::format("the B-tree of group '{}' is cut short", path));
        if (node_level > 0) {
          TFCKPT_RETURN_IF_ERROR(node(child, level + 1));
        } else {
          if (!seen.insert(child).second) {
            return Bad(fmt::format("the B-tree of group '{}' names a symbol node twice", path));
          }
          TFCKPT_RETURN_IF_ERROR(SymbolNode(child, heap, path, links));
          if (links->size() > static_cast<size_t>(kMaxObjects)) {
            return Refuse(path, "has too many members");
          }
        }
      }
      return Status::OK();
    };
    return node(btree, 0);
  }

  Status SymbolNode(uint64_t at, const std::string& heap, const std::string& path,
                    std::vector<std::pair<std::string, uint64_t>>* links) {
    std::string head;
    TFCKPT_RETURN_IF_ERROR(Bytes(at, 8, &head, "a symbol table node"));
    Cursor c(head);
    if (c.Take(4) != "SNOD")
      return Bad(fmt::format("a symbol node of group '{}' is damaged", path));
    c.Skip(2);
    const uint64_t count = c.U(2);
    const uint64_t entry = 2 * static_cast<uint64_t>(offset_size_) + 24;
    std::string all;
    TFCKPT_RETURN_IF_ERROR(Bytes(at + 8, count * entry, &all, "a symbol table node"));
    Cursor e(all);
    for (uint64_t i = 0; i < count; i++) {
      const uint64_t name = Offset(e);
      const uint64_t object = Offset(e);
      const uint64_t cache = e.U(4);
      e.Skip(4 + 16);
      if (cache == 2) {
        return Refuse(fmt::format("{}/{}", path == "/" ? "" : path, LocalHeapName(heap, name)),
                      "is a soft link: refused (links are not followed)");
      }
      links->emplace_back(LocalHeapName(heap, name), object);
    }
    if (!e.ok()) return Bad(fmt::format("a symbol node of group '{}' is cut short", path));
    return Status::OK();
  }

  Status Link(std::string_view data, const std::string& path,
              std::vector<std::pair<std::string, uint64_t>>* links) {
    Cursor c(data);
    const uint64_t version = c.U(1);
    const uint64_t flags = c.U(1);
    if (version != 1) return Bad(fmt::format("a link of group '{}' is damaged", path));
    uint64_t type = 0;
    if (flags & 0x08) type = c.U(1);
    if (flags & 0x04) c.Skip(8);
    if (flags & 0x10) c.Skip(1);
    const uint64_t length = c.U(size_t{1} << (flags & 3));
    if (length > kMaxName) return Bad(fmt::format("a link of group '{}' is too long", path));
    std::string name(c.Take(length));
    if (!c.ok()) return Bad(fmt::format("a link of group '{}' is cut short", path));
    const std::string child = fmt::format("{}/{}", path == "/" ? "" : path, Printable(name));
    if (type == 64) {
      return Refuse(child, "is an external link (to another file): refused, not followed");
    }
    if (type != 0) return Refuse(child, "is a soft link: refused (links are not followed)");
    const uint64_t object = Offset(c);
    if (!c.ok()) return Bad(fmt::format("link '{}' is cut short", child));
    links->emplace_back(std::move(name), object);
    return Status::OK();
  }

  // Whether a link info or attribute info message names a fractal heap (dense storage). Its
  // flag bit 0 says a creation-order counter of `counter_size` bytes comes first.
  bool Dense(std::string_view data, size_t counter_size) const {
    Cursor c(data);
    c.U(1);  // version
    if (c.U(1) & 1) c.Skip(counter_size);
    const uint64_t heap = Offset(c);
    return c.ok() && heap != kUndefined;
  }

  Status Object(uint64_t address, const std::string& path, int depth, Node* node) {
    if (depth > kMaxDepth) return Refuse(path, "is nested too deeply");
    if (++objects_ > kMaxObjects) return Refuse(path, "lies in a file of too many objects");
    std::vector<Message> messages;
    TFCKPT_RETURN_IF_ERROR(Header(address, path, &messages));
    bool is_group = false, is_dataset = false;
    std::vector<std::pair<std::string, uint64_t>> links;
    Type type;
    bool have_type = false;
    Shape shape;
    bool null = false, have_space = false;
    std::string layout;
    bool filtered = false;
    for (const Message& m : messages) {
      switch (m.type) {
        case 0x0001:
          if (m.flags & 0x02) return Refuse(path, "has a shared dataspace");
          TFCKPT_RETURN_IF_ERROR(ParseSpace(m.data, path, &shape, &null));
          have_space = true;
          break;
        case 0x0002:  // link info
          is_group = true;
          if (Dense(m.data, 8)) {
            return Refuse(path, "stores its links densely (HDF5 fractal heap): not supported yet");
          }
          break;
        case 0x0003: {
          if (m.flags & 0x02) return Refuse(path, "has a committed (shared) datatype");
          Cursor c(m.data);
          TFCKPT_RETURN_IF_ERROR(ParseType(c, path, 0, &type));
          node->dataset.raw_type = m.data.substr(0, c.pos());
          have_type = true;
          break;
        }
        case 0x0006:
          is_group = true;
          TFCKPT_RETURN_IF_ERROR(Link(m.data, path, &links));
          break;
        case 0x0007:
          return Refuse(path, "keeps its values in external files: refused, not followed");
        case 0x0008:
          is_dataset = true;
          layout = m.data;
          break;
        case 0x000B:  // a filter pipeline: the stored bytes are not the values
          filtered = true;
          break;
        case 0x000C: {
          if (m.flags & 0x02) return Refuse(path, "has a shared attribute");
          Attribute a;
          TFCKPT_RETURN_IF_ERROR(ParseAttribute(m.data, path, &a));
          node->attributes.push_back(std::move(a));
          break;
        }
        case 0x0011: {
          Cursor c(m.data);
          const uint64_t btree = Offset(c);
          const uint64_t heap = Offset(c);
          if (!c.ok()) return Bad(fmt::format("the symbol table of group '{}' is damaged", path));
          is_group = true;
          TFCKPT_RETURN_IF_ERROR(SymbolTable(btree, heap, path, &links));
          break;
        }
        case 0x0015:  // attribute info
          if (Dense(m.data, 2)) {
            return Refuse(path,
                          "stores its attributes densely (HDF5 fractal heap): not supported yet");
          }
          break;
        default:
          break;
      }
    }
    std::sort(node->attributes.begin(), node->attributes.end(),
              [](const Attribute& a, const Attribute& b) { return a.name < b.name; });
    if (is_dataset) {
      node->group = false;
      if (!have_type || !have_space) {
        return Bad(fmt::format("dataset '{}' lacks its type or shape", path));
      }
      Dataset& d = node->dataset;
      Classify(type, &d);
      d.shape = null ? Shape{0} : shape;
      TFCKPT_RETURN_IF_ERROR(ParseLayout(layout, path, &d));
      if (filtered && d.unsupported.empty()) {
        d.unsupported = "its values are compressed or filtered";
      }
      const int64_t n = Elements(d.shape);
      // The values' size, or -1 past what a file can hold.
      const int64_t bytes = n < 0 || d.element_size <= 0              ? -1
                            : n > (int64_t{1} << 62) / d.element_size ? -1
                                                                      : n * d.element_size;
      if (d.unsupported.empty()) {
        if (bytes < 0) {
          d.unsupported =
              d.element_size <= 0 ? "its element type has no size" : "its shape is too large";
        } else if (d.compact) {
          if (static_cast<int64_t>(d.compact_bytes.size()) < bytes) {
            d.unsupported = "its values are cut short";
          } else {
            d.size = bytes;
            d.compact_bytes.resize(static_cast<size_t>(d.size));
          }
        } else if (d.offset >= 0) {
          const uint64_t limit = static_cast<uint64_t>(size_) - base_;
          const uint64_t stored = static_cast<uint64_t>(d.size);  // (as the file states it)
          if (stored < static_cast<uint64_t>(bytes)) {
            d.unsupported = fmt::format("its storage ({} bytes) is smaller than its values ({})",
                                        stored, bytes);
          } else if (static_cast<uint64_t>(d.offset) > limit ||
                     static_cast<uint64_t>(bytes) > limit - static_cast<uint64_t>(d.offset)) {
            d.unsupported = fmt::format(
                "its values ({} bytes at {}) lie past the end of the file ({} bytes): the file "
                "is cut short",
                bytes, d.offset, size_);
          } else {
            d.size = bytes;
            d.offset += static_cast<int64_t>(base_);
          }
        } else if (n > 0) {
          d.unsupported = "its values were never written (no storage is allocated)";
        } else {
          d.size = 0;
        }
      }
      return Status::OK();
    }
    if (!is_group) {
      node->group = false;
      node->dataset.unsupported = "it is neither a group nor a dataset";
      return Status::OK();
    }
    if (!groups_.insert(address).second) {
      return Refuse(path, "is reached twice (the file's groups form a cycle)");
    }
    std::sort(links.begin(), links.end());
    for (size_t i = 0; i < links.size(); i++) {
      if (i > 0 && links[i].first == links[i - 1].first) {
        return Bad(fmt::format("group '{}' names '{}' twice", path, Printable(links[i].first)));
      }
      Node child;
      child.name = links[i].first;
      const std::string child_path =
          fmt::format("{}/{}", path == "/" ? "" : path, Printable(child.name));
      TFCKPT_RETURN_IF_ERROR(Object(links[i].second, child_path, depth + 1, &child));
      node->children.push_back(std::move(child));
    }
    return Status::OK();
  }

  const ByteSource& source_;
  const int64_t size_;
  uint64_t base_ = 0;
  int offset_size_ = 8, length_size_ = 8;
  uint64_t root_address_ = kUndefined;
  bool creation_order_ = false;
  int64_t objects_ = 0;
  std::set<uint64_t> groups_;
  // Global heap collections read so far: their objects by index (views on `bytes`).
  struct Collection {
    std::string bytes;
    std::map<uint64_t, std::string_view> objects;
  };
  std::map<uint64_t, Collection> heaps_;
  mutable uint64_t read_ = 0;  // bytes read by Bytes (bounded)
  uint64_t strings_ = 0;       // bytes of attribute strings kept (bounded)
};

}  // namespace

const Attribute* Node::FindAttribute(const std::string& attribute) const {
  for (const Attribute& a : attributes) {
    if (a.name == attribute) return &a;
  }
  return nullptr;
}

const Node* Node::Child(const std::string& child) const {
  auto it = std::lower_bound(children.begin(), children.end(), child,
                             [](const Node& n, const std::string& name) { return n.name < name; });
  return it != children.end() && it->name == child ? &*it : nullptr;
}

const Node* Node::Descendant(const std::string& path) const {
  const Node* at = this;
  size_t start = 0;
  while (at != nullptr && start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    at = at->Child(path.substr(start, end - start));
    start = end + 1;
  }
  return at;
}

namespace {

void Join(const Node& from, Node* into, const std::string& path, std::vector<std::string>* both) {
  for (const Attribute& a : from.attributes) {
    if (into->FindAttribute(a.name) == nullptr) into->attributes.push_back(a);
  }
  std::sort(into->attributes.begin(), into->attributes.end(),
            [](const Attribute& a, const Attribute& b) { return a.name < b.name; });
  for (const Node& c : from.children) {
    const std::string p = path.empty() ? c.name : path + "/" + c.name;
    auto it = std::find_if(into->children.begin(), into->children.end(),
                           [&](const Node& n) { return n.name == c.name; });
    if (it == into->children.end()) {
      into->children.push_back(c);
    } else if (it->group && c.group) {
      Join(c, &*it, p, both);
    } else if (both != nullptr) {
      both->push_back(p);
    }
  }
  std::sort(into->children.begin(), into->children.end(),
            [](const Node& a, const Node& b) { return a.name < b.name; });
}

}  // namespace

void JoinTrees(const Node& from, Node* into, std::vector<std::string>* both) {
  Join(from, into, "", both);
}

bool LooksLikeHdf5(const ByteSource& source) {
  char head[8];
  for (int64_t at = 0; at + 8 <= source.size(); at = at == 0 ? 512 : at * 2) {
    if (!source.ReadAt(at, 8, head).ok()) return false;
    if (std::string_view(head, 8) == kSignature) return true;
  }
  return false;
}

Status Read(const ByteSource& source, Node* root) {
  *root = Node();
  return Parser(source).Run(root);
}

}  // namespace tfckpt::hdf5
