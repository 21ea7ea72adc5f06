// The vocabularies of the plan options (plan.h): the names of the blend methods, the merge
// conflict policies and the TF2 naming of a transfer, their lists and their parsers, whose
// messages name the accepted values. The CLI, recipes and Python take them from here.
//
// Thread-safety: pure functions over static data; safe from any thread.

#include <fmt/format.h>

#include "tfckpt/plan.h"

namespace tfckpt {

std::string_view BlendMethodName(BlendMethod method) {
  switch (method) {
    case BlendMethod::kLinear:
      return "linear";
    case BlendMethod::kTaskArithmetic:
      return "task_arithmetic";
    case BlendMethod::kSlerp:
      return "slerp";
    case BlendMethod::kTies:
      return "ties";
    case BlendMethod::kDare:
      return "dare";
  }
  return "?";
}

std::span<const std::string_view> BlendMethodNames() {
  static constexpr std::string_view kNames[] = {"linear", "task_arithmetic", "slerp", "ties",
                                                "dare"};
  return kNames;
}

Status ParseBlendMethod(std::string_view text, BlendMethod* method) {
  for (BlendMethod m : {BlendMethod::kLinear, BlendMethod::kTaskArithmetic, BlendMethod::kSlerp,
                        BlendMethod::kTies, BlendMethod::kDare}) {
    if (BlendMethodName(m) == text) {
      *method = m;
      return Status::OK();
    }
  }
  return Status::InvalidArgument(
      fmt::format("method='{}': it must be {}", text, OneOf(BlendMethodNames(), "'")));
}

std::string_view OnConflictName(MergeOptions::OnConflict on_conflict) {
  switch (on_conflict) {
    case MergeOptions::OnConflict::kError:
      return "error";
    case MergeOptions::OnConflict::kFirst:
      return "first";
    case MergeOptions::OnConflict::kLast:
      return "last";
  }
  return "?";
}

std::span<const std::string_view> OnConflictNames() {
  static constexpr std::string_view kNames[] = {"error", "first", "last"};
  return kNames;
}

Status ParseOnConflict(std::string_view text, MergeOptions::OnConflict* on_conflict) {
  using C = MergeOptions::OnConflict;
  for (C c : {C::kError, C::kFirst, C::kLast}) {
    if (OnConflictName(c) == text) {
      *on_conflict = c;
      return Status::OK();
    }
  }
  return Status::InvalidArgument(
      fmt::format("on_conflict='{}': it must be {}", text, OneOf(OnConflictNames(), "'")));
}

std::string_view Tf2NamesName(Tf2Names names) {
  switch (names) {
    case Tf2Names::kAuto:
      return "auto";
    case Tf2Names::kKeys:
      return "keys";
    case Tf2Names::kFullNames:
      return "full";
  }
  return "?";
}

std::span<const std::string_view> Tf2NamesNames() {
  static constexpr std::string_view kNames[] = {"auto", "keys", "full"};
  return kNames;
}

Status ParseTf2Names(std::string_view text, Tf2Names* names) {
  for (Tf2Names n : {Tf2Names::kAuto, Tf2Names::kKeys, Tf2Names::kFullNames}) {
    if (Tf2NamesName(n) == text) {
      *names = n;
      return Status::OK();
    }
  }
  return Status::InvalidArgument(fmt::format(
      "tf2_names='{}': it must be '{}', '{}' (checkpoint keys) or '{}' (the variables' full "
      "names)",
      text, Tf2NamesName(Tf2Names::kAuto), Tf2NamesName(Tf2Names::kKeys),
      Tf2NamesName(Tf2Names::kFullNames)));
}

}  // namespace tfckpt
