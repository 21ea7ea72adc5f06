// ProgressMeter: counts the bytes an operation has done, from any number of threads, and passes
// the count to a ProgressFn (tfckpt/progress.h) as that function's contract asks: never two calls
// at once, the first at the first Add() and then at most one per `interval` except the last,
// `done` never decreasing, and done == total once, at Finish().
//
// Thread-safety: Add() may be called from any thread; Finish() once, after every Add().

#ifndef TFCKPT_CORE_PROGRESS_METER_H_
#define TFCKPT_CORE_PROGRESS_METER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

#include "tfckpt/progress.h"

namespace tfckpt {

class ProgressMeter {
 public:
  // `fn` may be empty (nothing is reported). `total`: the bytes of the whole operation.
  ProgressMeter(ProgressFn fn, int64_t total,
                std::chrono::milliseconds interval = std::chrono::milliseconds(100));

  ProgressMeter(const ProgressMeter&) = delete;
  ProgressMeter& operator=(const ProgressMeter&) = delete;

  // `bytes` more are done; reports when there was no report yet or the last is `interval` old.
  void Add(int64_t bytes);

  // The operation succeeded: reports done == total (unless the last report said so).
  void Finish();

  int64_t total() const { return total_; }

 private:
  const ProgressFn fn_;
  const int64_t total_;
  const std::chrono::steady_clock::duration interval_;
  std::atomic<int64_t> done_{0};
  std::mutex mu_;  // held while fn_ runs
  std::chrono::steady_clock::time_point last_;
  int64_t reported_ = 0;
  bool called_ = false;
};

}  // namespace tfckpt

#endif  // TFCKPT_CORE_PROGRESS_METER_H_
