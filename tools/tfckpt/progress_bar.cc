// ProgressBar (progress_bar.h).

#include "progress_bar.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace tfckpt::cli {

std::string HumanBytes(double bytes) {
  static const char* const kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  int u = 0;
  while (bytes >= 999.5 && u < 5) {
    bytes /= 1000;
    u++;
  }
  if (u == 0) return fmt::format("{:.0f} B", bytes);
  return fmt::format("{:.{}f} {}", bytes, bytes < 9.995 ? 2 : bytes < 99.95 ? 1 : 0, kUnits[u]);
}

ProgressBar::ProgressBar(std::string what, bool wanted)
    : what_(std::move(what)),
      shown_(wanted && ::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() {
  if (open_) std::fprintf(stderr, "\r\033[K");  // (failed before the end: erase the line)
}

ProgressFn ProgressBar::fn() {
  if (!shown_) return nullptr;
  return [this](int64_t done, int64_t total) { Draw(done, total); };
}

void ProgressBar::Draw(int64_t done, int64_t total) {
  constexpr int kWidth = 24;
  const double fraction = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 1;
  const int filled = static_cast<int>(fraction * kWidth);
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < kWidth) bar += '>' + std::string(static_cast<size_t>(kWidth - filled - 1), ' ');
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string line =
      fmt::format("{} {:3d}% [{}] {} of {}", what_, static_cast<int>(fraction * 100), bar,
                  HumanBytes(static_cast<double>(done)), HumanBytes(static_cast<double>(total)));
  if (seconds > 0.2 && done > 0) {
    const double rate = static_cast<double>(done) / seconds;
    line += fmt::format("  {}/s", HumanBytes(rate));
    if (done < total) {
      const double left = static_cast<double>(total - done) / rate;
      line += left < 1    ? std::string("  <1 s left")
              : left < 90 ? fmt::format("  {:.0f} s left", left)
                          : fmt::format("  {:.0f} min left", left / 60);
    } else {
      line += fmt::format("  {:.1f} s", seconds);
    }
  }
  std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), done >= total ? "\n" : "");
  std::fflush(stderr);
  open_ = done < total;
}

}  // namespace tfckpt::cli
