#include "plan/name_mapper.h"

#include <string_view>

#include <fmt/format.h>

#include "bundle/trackable_graph.h"

namespace tfckpt {
namespace {

// An optimizer slot of the variable a single-name rename `from=to` renames, under its new name:
// TF1 "from/Adam" -> "to/Adam"; TF2 "P/.OPTIMIZER_SLOT/..." -> "P'/.OPTIMIZER_SLOT/..." where P
// and P' are the object paths of "P/.ATTRIBUTES/VARIABLE_VALUE" and its new key.
std::optional<std::string> SlotFollows(const std::string& name, const std::string& from,
                                       const std::string& to, const OptimizerFilter& optimizer) {
  if (optimizer.object_graph().empty()) {
    if (name.size() > from.size() && name.compare(0, from.size(), from) == 0 &&
        name[from.size()] == '/' && optimizer.IsOptimizer(name)) {
      return to + name.substr(from.size());
    }
    return std::nullopt;
  }
  static constexpr std::string_view kValue = kVariableValueSuffix;
  auto path_of = [](const std::string& key) -> std::optional<std::string> {
    if (key.size() <= kValue.size() ||
        key.compare(key.size() - kValue.size(), kValue.size(), kValue.data(), kValue.size()) != 0) {
      return std::nullopt;
    }
    return key.substr(0, key.size() - kValue.size());
  };
  std::optional<std::string> old_path = path_of(from), new_path = path_of(to);
  if (!old_path || !new_path) return std::nullopt;
  const std::string marker = *old_path + std::string(kSlotMarker);
  if (name.compare(0, marker.size(), marker) != 0) return std::nullopt;
  return *new_path + name.substr(old_path->size());
}

}  // namespace

Status NameMapper::Create(const EditOptions& options, NameMapper* out) {
  for (const auto& [from, to] : options.renames) {
    bool scope_from = !from.empty() && from.back() == '/';
    bool scope_to = !to.empty() && to.back() == '/';
    if (from.empty() || to.empty() || scope_from != scope_to) {
      return Status::InvalidArgument(
          fmt::format("the rename {}={} (`renames`): a scope maps to a scope ('scope/=other/', "
                      "'/=scope/', 'scope/=/') and "
                      "a name to a name ('a=b')",
                      from, to));
    }
  }
  out->options_ = options;
  for (const std::string& p : options.keep) {
    TFCKPT_RETURN_IF_ERROR(NamePattern::Compile(p, "`keep`", &out->keep_.emplace_back()));
  }
  for (const std::string& p : options.drop) {
    TFCKPT_RETURN_IF_ERROR(NamePattern::Compile(p, "`drop`", &out->drop_.emplace_back()));
  }
  return Status::OK();
}

std::optional<std::string> NameMapper::Map(const std::string& name,
                                           const OptimizerFilter& optimizer) const {
  auto any = [&](const std::vector<NamePattern>& ps) {
    for (const NamePattern& p : ps) {
      if (p.Search(name)) return true;
    }
    return false;
  };
  if (name != kObjectGraphKey) {
    if (!keep_.empty() && !any(keep_)) return std::nullopt;
    if (any(drop_)) return std::nullopt;
    if (options_.strip_optimizer && optimizer.IsOptimizer(name)) return std::nullopt;
  }
  for (const auto& [from, to] : options_.renames) {
    if (from.back() == '/') {
      if (from == "/") return to == "/" ? name : to + name;
      if (name.rfind(from, 0) == 0) {
        std::string rest = name.substr(from.size());
        return to == "/" ? rest : to + rest;
      }
    } else if (name == from) {
      return to;
    } else if (std::optional<std::string> slot = SlotFollows(name, from, to, optimizer)) {
      return slot;
    }
  }
  return name;
}

}  // namespace tfckpt
