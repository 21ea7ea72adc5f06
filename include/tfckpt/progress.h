// Progress of a long operation (executing a plan, verifying, converting, computing statistics),
// for a caller that wants to show it: a function the operation calls with the bytes done so far
// and the bytes it will do in all.
//
// The operation calls it from any of its threads but never from two at once: first once the first
// bytes are done, then at most about ten times a second, with `done` never decreasing and, when it
// succeeds, last with done == total. `total` may grow when more work becomes known (each step of
// a recipe adds its own); done == total may then be said once per step. It must not throw.

#ifndef TFCKPT_PROGRESS_H_
#define TFCKPT_PROGRESS_H_

#include <cstdint>
#include <functional>

namespace tfckpt {

using ProgressFn = std::function<void(int64_t done_bytes, int64_t total_bytes)>;

}  // namespace tfckpt

#endif  // TFCKPT_PROGRESS_H_
