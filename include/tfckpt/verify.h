// Verification of a checkpoint: structure (header, shard files, entry ranges, slice coverage,
// overlapping data) and every tensor's CRC32C.
//
// Thread-safety: VerifyCheckpoint only reads the checkpoint; it uses `threads` worker threads of
// its own.

#ifndef TFCKPT_VERIFY_H_
#define TFCKPT_VERIFY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "tfckpt/checkpoint.h"
#include "tfckpt/progress.h"
#include "tfckpt/status.h"

namespace tfckpt {

struct VerifyOptions {
  bool check_data = true;  // read every tensor and check its CRC (else structure only)
  int threads = 0;         // 0: one per core
  ProgressFn progress;     // through the bytes whose checksums are checked (tfckpt/progress.h)
};

struct VerifyProblem {
  std::string tensor;  // empty for problems of the whole checkpoint
  std::string file;
  std::string message;  // "expected ... found ..."
};

struct VerifyReport {
  std::vector<VerifyProblem> problems;
  int64_t tensors_checked = 0;
  int64_t bytes_checked = 0;
  bool ok() const { return problems.empty(); }
};

// Fills `report`; returns a non-OK status only when verification itself could not run.
Status VerifyCheckpoint(const Checkpoint& checkpoint, const VerifyOptions& options,
                        VerifyReport* report);

}  // namespace tfckpt

#endif  // TFCKPT_VERIFY_H_
