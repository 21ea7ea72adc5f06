// ProgressBar: the progress line of the long commands on standard error, redrawn in place:
//
//   merge  43% [=========>            ] 1.21 GB of 2.80 GB  310 MB/s  5 s left
//
// Shown only when standard error is a terminal and the command prints no JSON and was not given
// --quiet; the line ends (with a newline) when the work is done, and is erased if the command
// fails before, so that the error message starts a clean line.
//
// Thread-safety: the function fn() returns may be called from any thread, never from two at once
// (the library's ProgressFn contract).

#ifndef TFCKPT_TOOLS_PROGRESS_BAR_H_
#define TFCKPT_TOOLS_PROGRESS_BAR_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "tfckpt/progress.h"

namespace tfckpt::cli {

class ProgressBar {
 public:
  // `what`: the word the line begins with; `wanted`: neither --json nor --quiet.
  ProgressBar(std::string what, bool wanted);
  ~ProgressBar();

  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // The function to hand the library (empty when nothing is to be shown). Valid while this
  // object lives.
  ProgressFn fn();

 private:
  void Draw(int64_t done, int64_t total);

  const std::string what_;
  const bool shown_;
  const std::chrono::steady_clock::time_point start_;
  bool open_ = false;  // a line is drawn and not yet ended
};

// "1.21 GB", "310 MB", "8 B": decimal units, three significant digits.
std::string HumanBytes(double bytes);

}  // namespace tfckpt::cli

#endif  // TFCKPT_TOOLS_PROGRESS_BAR_H_
