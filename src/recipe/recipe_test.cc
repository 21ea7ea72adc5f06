#include "tfckpt/recipe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "io/file_util.h"
#include "testing/test_util.h"

namespace tfckpt {
namespace {

using testing::MakeTensor;
using testing::ReadValues;
using testing::TempDir;
using testing::WriteAll;
using testing::WriteCheckpoint;

// A directory with two checkpoints, a (x = 1, shared = 2) and b (y = 3, shared = 4), and a
// recipe written into it.
class Recipe : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir();
    ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(
        dir_ + "/a", {MakeTensor("x", DType::kFloat, {}, std::vector<float>{1}),
                      MakeTensor("shared", DType::kFloat, {}, std::vector<float>{2})}));
    ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(
        dir_ + "/b", {MakeTensor("y", DType::kFloat, {}, std::vector<float>{3}),
                      MakeTensor("shared", DType::kFloat, {}, std::vector<float>{4})}));
  }

  // Writes `text` as recipe.yaml and applies it.
  Status Apply(const std::string& text, bool dry_run = false) {
    path_ = dir_ + "/recipe.yaml";
    WriteAll(path_, text);
    RecipeOptions o;
    o.dry_run = dry_run;
    o.execute.sync = false;
    report_.clear();
    return ApplyRecipe(path_, o, &report_);
  }

  // The directory's entries other than the inputs and the recipe.
  std::vector<std::string> Extra() const {
    std::vector<std::string> names, extra;
    EXPECT_OK(file::ListDirectory(dir_, &names));
    for (const std::string& n : names) {
      if (n != "recipe.yaml" && n.rfind("a.", 0) != 0 && n.rfind("b.", 0) != 0) {
        extra.push_back(n);
      }
    }
    std::sort(extra.begin(), extra.end());
    return extra;
  }

  std::string dir_, path_, report_;
};

TEST_F(Recipe, RunsEveryStepInOrder) {
  ASSERT_OK(Apply(R"(inputs:
  first: a
  second: b
steps:
  - name: merged
    merge: {sources: [first, second], on_conflict: last}
  - edit:
      rename: {shared: s}
      drop: ['^y$']
output: out/result
)"));
  const std::string out = dir_ + "/out/result";
  EXPECT_EQ(testing::TensorNames(out), (std::vector<std::string>{"s", "x"}));
  EXPECT_EQ(ReadValues<float>(out, "s"), std::vector<float>{4});
  EXPECT_EQ(ReadValues<float>(out, "x"), std::vector<float>{1});
  EXPECT_NE(report_.find("step 1 (merge, merged):"), std::string::npos) << report_;
  EXPECT_NE(report_.find("step 2 (edit):"), std::string::npos) << report_;
  // The intermediate result is gone.
  EXPECT_EQ(Extra(), std::vector<std::string>{"out"});
  std::vector<std::string> names;
  ASSERT_OK(file::ListDirectory(dir_ + "/out", &names));
  for (const std::string& n : names) EXPECT_EQ(n.rfind("result.", 0), 0u) << n;
}

TEST_F(Recipe, DryRunWritesNothing) {
  ASSERT_OK(Apply(R"(steps:
  - merge: {sources: [a, b], on_conflict: first}
  - edit: {rename: {x: z}}
output: out
)",
                  /*dry_run=*/true));
  EXPECT_NE(report_.find("step 1 (merge):"), std::string::npos) << report_;
  // The second step reads the first one's output, which a dry run does not make.
  EXPECT_NE(report_.find("depends on an earlier step's output"), std::string::npos) << report_;
  EXPECT_TRUE(Extra().empty());
}

TEST_F(Recipe, ParseErrorsNameTheFileAndLine) {
  struct Case {
    std::string text, message;
  };
  const std::vector<Case> cases = {
      {"steps: [\n  - merge: {sources: [a, b]\noutput: o\n", "not valid YAML"},
      {"steps:\n  - merge:\n      sauces: [a, b]\noutput: o\n",
       ":3: unknown key 'sauces' in a merge step (expected one of: move, on_conflict, sources)"},
      {"output: o\nsteps:\n  - mrge: {sources: [a, b]}\n", ":3: unknown step 'mrge'"},
      {"output: o\nsteps:\n  - name: only\n", ":3: this step names no operation"},
      {"output: o\nsteps:\n  - merge: {sources: [a]}\n    edit: {}\n",
       ":4: a step does exactly one thing"},
      {"output: o\nsteps: []\n", ":2: 'steps' must be a list of steps"},
      {"steps:\n  - merge: {sources: [a, b]}\n", "recipe.yaml:1: the recipe has no 'output'"},
      {"output: o\nsteps:\n  - merge: {sources: [a, b], on_conflict: maybe}\n",
       ":3: on_conflict must be error, first or last"},
      {"output: o\nsteps:\n  - blend: {method: average, models: [a, b]}\n",
       ":3: unknown method 'average'"},
      {"output: o\nsteps:\n  - average:\n      sources: [a, b]\n      weights: [1, two]\n",
       ":5: weights has the wrong type ('two')"},
      {"output: o\ninputs:\n  a: missing\nsteps:\n  - edit: {}\n",
       ":3: input 'a': no checkpoint at '"},
      {"output: o\ncolour: red\nsteps:\n  - edit: {source: a}\n",
       ":2: unknown key 'colour' in the recipe"},
      {"output: o\ninputs: {x: a}\nsteps:\n  - name: x\n    edit: {source: a}\n",
       ":4: the name 'x' is already used"},
      {"output: o\nsteps:\n  - edit: {}\n",
       ":3: this step needs 'source' (there is no previous step)"},
  };
  for (const Case& c : cases) {
    Status s = Apply(c.text);
    EXPECT_STATUS(s, Status::Code::kInvalidArgument, path_) << c.text;
    EXPECT_STATUS(s, Status::Code::kInvalidArgument, c.message) << c.text;
    EXPECT_TRUE(Extra().empty()) << c.text;
  }
}

TEST_F(Recipe, UnknownReferencesFailBeforeAnyStepRuns) {
  // Step 1 is sound; step 3 names nothing that exists: nothing may be written.
  Status s = Apply(R"(output: out/result
steps:
  - merge: {sources: [a, b], on_conflict: first}
  - edit: {rename: {x: z}}
  - average:
      sources: [a, nope]
)");
  EXPECT_STATUS(s, Status::Code::kInvalidArgument,
                path_ +
                    ":6: 'nope' is neither an input, an earlier step's name, nor an existing "
                    "path");
  EXPECT_TRUE(Extra().empty());

  // A path with a '/' is reported as a path, relative to the recipe's directory.
  s = Apply("output: out\nsteps:\n  - edit: {source: sub/ckpt}\n");
  EXPECT_STATUS(s, Status::Code::kInvalidArgument, ":3: no checkpoint at '" + dir_ + "/sub/ckpt'");
  EXPECT_TRUE(Extra().empty());

  // A later step's name is not yet a result.
  s = Apply(R"(output: out
steps:
  - edit: {source: later}
  - name: later
    merge: {sources: [a, b], on_conflict: first}
)");
  EXPECT_STATUS(s, Status::Code::kInvalidArgument,
                ":3: 'later' is the name of a later step (step 2)");
  EXPECT_TRUE(Extra().empty());
}

TEST_F(Recipe, AStepThatFailsWhenPlannedPointsAtItsLine) {
  // The merge conflicts on 'shared' (no on_conflict): reported at the step, nothing written.
  Status s = Apply("output: out\nsteps:\n  - merge: {sources: [a, b]}\n");
  EXPECT_STATUS(s, Status::Code::kInvalidArgument, path_ + ":3: ");
  EXPECT_STATUS(s, Status::Code::kInvalidArgument, "'shared'");
  EXPECT_TRUE(Extra().empty());
}

TEST_F(Recipe, MissingRecipe) {
  std::string report;
  EXPECT_STATUS(ApplyRecipe(dir_ + "/none.yaml", RecipeOptions(), &report), Status::Code::kNotFound,
                "cannot read recipe '" + dir_ + "/none.yaml'");
}

}  // namespace
}  // namespace tfckpt
