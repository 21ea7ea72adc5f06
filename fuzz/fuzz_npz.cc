// Fuzzes the .npz reader: the zip directory, ZIP64 records, member headers, npy headers and
// deflated members, read through a byte source without a mapping (ReadAt only).

#include "format/npz.h"
#include "io/byte_source.h"

namespace {

// A source that only reads, so the readers' ranged-read path is the one fuzzed.
class ReadOnly : public tfckpt::ByteSource {
 public:
  explicit ReadOnly(std::shared_ptr<const tfckpt::ByteSource> inner) : inner_(std::move(inner)) {}
  const std::string& name() const override { return inner_->name(); }
  int64_t size() const override { return inner_->size(); }
  tfckpt::Status ReadAt(int64_t offset, int64_t n, void* out) const override {
    return inner_->ReadAt(offset, n, out);
  }

 private:
  std::shared_ptr<const tfckpt::ByteSource> inner_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ReadOnly file(tfckpt::MemorySource({data, size}, "fuzz.npz"));
  std::vector<tfckpt::npz::Member> members;
  if (!tfckpt::npz::List(file, &members).ok()) return 0;
  for (const tfckpt::npz::Member& m : members) {
    if (!m.deflated) continue;
    std::string array;
    (void)tfckpt::npz::Inflate(file, m, &array);
  }
  return 0;
}
