// ProgressMeter (progress_meter.h).

#include "core/progress_meter.h"

#include <algorithm>

namespace tfckpt {

ProgressMeter::ProgressMeter(ProgressFn fn, int64_t total, std::chrono::milliseconds interval)
    : fn_(std::move(fn)), total_(std::max<int64_t>(total, 0)), interval_(interval) {}

void ProgressMeter::Add(int64_t bytes) {
  if (!fn_) return;
  const int64_t done = done_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  // A thread that finds another one reporting goes on with its work.
  std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
  if (!lock.owns_lock()) return;
  const auto now = std::chrono::steady_clock::now();
  if (called_ && now - last_ < interval_) return;  // (the first report goes at once)
  last_ = now;
  // (Estimates of the total may fall short of the work: never report more than it, nor less
  // than before.)
  reported_ = std::max(reported_, std::min(done, total_));
  called_ = true;
  fn_(reported_, total_);
}

void ProgressMeter::Finish() {
  if (!fn_) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (reported_ == total_ && called_) return;  // (said already)
  reported_ = total_;
  called_ = true;
  fn_(total_, total_);
}

}  // namespace tfckpt
