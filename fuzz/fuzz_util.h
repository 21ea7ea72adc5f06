// Helpers for the libFuzzer targets: a private scratch directory per process.
//
// Thread-safety: libFuzzer runs one input at a time; these are not for concurrent use.

#ifndef TFCKPT_FUZZ_FUZZ_UTIL_H_
#define TFCKPT_FUZZ_FUZZ_UTIL_H_

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "io/byte_source.h"
#include "tfckpt/checkpoint.h"
#include "tfckpt/remote.h"
#include "tfckpt/verify.h"

namespace tfckpt::fuzz {

// Removed with its contents when the process exits normally (a crash keeps it, with the input
// that caused it, for a look).
// Also turns remote access off: no input may make a target reach the network.
inline const std::string& ScratchDir() {
  struct Scratch {
    std::string dir;
    Scratch() {
      RemoteOptions offline;
      offline.offline = true;
      SetRemoteOptions(offline);
      const char* base = std::getenv("TMPDIR");
      dir = std::string(base && *base ? base : "/tmp") + "/tfckpt-fuzz-XXXXXX";
      if (::mkdtemp(dir.data()) == nullptr) std::abort();
    }
    ~Scratch() {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  };
  static const Scratch scratch;
  return scratch.dir;
}

// A source over the input that only reads (no mapping), so that readers' ranged-read path is the
// one fuzzed.
class ReadOnlySource : public ByteSource {
 public:
  ReadOnlySource(const uint8_t* data, size_t size, const char* name)
      : inner_(MemorySource({data, size}, name)) {}
  const std::string& name() const override { return inner_->name(); }
  int64_t size() const override { return inner_->size(); }
  Status ReadAt(int64_t offset, int64_t n, void* out) const override {
    return inner_->ReadAt(offset, n, out);
  }

 private:
  std::shared_ptr<const ByteSource> inner_;
};

inline void WriteFile(const std::string& path, const uint8_t* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

// Opens the checkpoint at `path` (a V2 prefix or a V1 file), reads every tensor and verifies it:
// every outcome but a crash is fine.
inline void OpenReadAndVerify(const std::string& path) {
  std::unique_ptr<Checkpoint> ckpt;
  if (!Checkpoint::Open(path, &ckpt).ok()) return;
  for (const TensorInfo& t : ckpt->tensors()) {
    Tensor value;
    (void)ckpt->Read(t, ReadOptions(), &value);
  }
  VerifyReport report;
  VerifyOptions options;
  options.threads = 1;
  (void)VerifyCheckpoint(*ckpt, options, &report);
}

}  // namespace tfckpt::fuzz

#endif  // TFCKPT_FUZZ_FUZZ_UTIL_H_
