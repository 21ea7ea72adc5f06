// NamePattern: a regular expression over tensor names (RE2 syntax), matched anywhere in the name.
// RE2 runs in time linear in the name and without recursion, so any name or pattern is safe.
//
// Thread-safety: a compiled NamePattern may be used from many threads at once.

#ifndef TFCKPT_NAME_PATTERN_H_
#define TFCKPT_NAME_PATTERN_H_

#include <memory>
#include <string>
#include <string_view>

#include "tfckpt/status.h"

namespace re2 {
class RE2;
}

namespace tfckpt {

class NamePattern {
 public:
  // `what` names the option in the error message, e.g. "`keep`" (see RespellOptions).
  static Status Compile(const std::string& pattern, std::string_view what, NamePattern* out);
  // True when the pattern matches somewhere in `name`.
  bool Search(std::string_view name) const;

 private:
  std::shared_ptr<const re2::RE2> re_;
};

}  // namespace tfckpt

#endif  // TFCKPT_NAME_PATTERN_H_
