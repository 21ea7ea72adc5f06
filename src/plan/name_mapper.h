// NameMapper: the name part of an edit (and of a conversion's name options): keep, drop, strip
// optimizer state, then the first matching rename, whose optimizer slots follow it.
//
// Thread-safety: immutable once created; const methods are safe from any thread.

#ifndef TFCKPT_PLAN_NAME_MAPPER_H_
#define TFCKPT_PLAN_NAME_MAPPER_H_

#include <optional>
#include <string>
#include <vector>

#include "plan/optimizer_filter.h"
#include "tfckpt/name_pattern.h"
#include "tfckpt/plan.h"

namespace tfckpt {

class NameMapper {
 public:
  static Status Create(const EditOptions& options, NameMapper* out);
  // The new name of a key, or nullopt when it is dropped. The object-graph key is never dropped
  // or renamed here (it is rewritten, or left out, by the caller).
  std::optional<std::string> Map(const std::string& name, const OptimizerFilter& optimizer) const;

 private:
  EditOptions options_;
  std::vector<NamePattern> keep_, drop_;
};

}  // namespace tfckpt

#endif  // TFCKPT_PLAN_NAME_MAPPER_H_
