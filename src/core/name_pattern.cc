#include "tfckpt/name_pattern.h"

#include <re2/re2.h>

#include <fmt/format.h>

namespace tfckpt {

Status NamePattern::Compile(const std::string& pattern, std::string_view what, NamePattern* out) {
  RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_shared<const RE2>(pattern, options);
  if (!re->ok()) {
    return Status::InvalidArgument(fmt::format(
        "{} '{}' is not a valid regular expression (RE2 syntax): {}", what, pattern, re->error()));
  }
  out->re_ = std::move(re);
  return Status::OK();
}

bool NamePattern::Search(std::string_view name) const {
  return RE2::PartialMatch(re2::StringPiece(name.data(), name.size()), *re_);
}

}  // namespace tfckpt
