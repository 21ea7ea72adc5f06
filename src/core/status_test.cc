#include "tfckpt/status.h"

#include <gtest/gtest.h>

namespace tfckpt {
namespace {

std::string CommandLine(std::string_view name) {
  if (name == "overwrite") return "--force";
  if (name == "on_conflict") return "--on-conflict";
  return "";
}

TEST(Status, RespellOptionsReplacesTheNamesAFaceKnows) {
  EXPECT_EQ(RespellOptions("pass `on_conflict` first; allow it (`overwrite`)", CommandLine),
            "pass --on-conflict first; allow it (--force)");
  // Unknown names, words that are not option names and an unpaired quote stay as they are.
  EXPECT_EQ(RespellOptions("`keep` and `a b` and `Model`", CommandLine),
            "`keep` and `a b` and `Model`");
  EXPECT_EQ(RespellOptions("`overwrite` then `on_conflict", CommandLine),
            "--force then `on_conflict");
  EXPECT_EQ(RespellOptions("``", CommandLine), "``");
  EXPECT_EQ(RespellOptions("", CommandLine), "");
}

TEST(Status, OneOf) {
  std::string_view names[] = {"a", "b", "c"};
  EXPECT_EQ(OneOf(names, "'"), "'a', 'b' or 'c'");
  EXPECT_EQ(OneOf(std::span(names, 1)), "a");
}

}  // namespace
}  // namespace tfckpt
