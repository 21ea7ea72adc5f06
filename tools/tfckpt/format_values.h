// Rendering tensor values for people (numpy-style text) and for machines (JSON whose numbers read
// back exactly to the same value in the tensor's dtype).
//
// Thread-safety: pure functions; safe from any thread.

#ifndef TFCKPT_TOOLS_FORMAT_VALUES_H_
#define TFCKPT_TOOLS_FORMAT_VALUES_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "tfckpt/tensor.h"

namespace tfckpt::cli {

// A JSON string literal (invalid UTF-8 bytes replaced).
std::string JsonString(std::string_view s);
// A JSON number for a double in its shortest round-trip form; NaN, Infinity and -Infinity are
// spelled as Python's json module reads them.
std::string JsonDouble(double v);

// The values of `t` as nested JSON lists (a bare value for a scalar). When `limit` >= 0 and the
// tensor has more elements, the first `limit` elements are emitted as a flat list and
// `*truncated` is set.
std::string ValuesToJson(const Tensor& t, int64_t limit, bool* truncated);

// numpy-style text of the values (as `print(array)` shows them); arrays with more than
// `threshold` elements are summarised with "..." like numpy does.
std::string ValuesToText(const Tensor& t, int64_t threshold);

}  // namespace tfckpt::cli

#endif  // TFCKPT_TOOLS_FORMAT_VALUES_H_
