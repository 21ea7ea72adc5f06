#include <gtest/gtest.h>

#include <cmath>

#include "testing/test_util.h"
#include "tfckpt/plan.h"
#include "tfckpt/writer.h"

namespace tfckpt {
namespace {

// Writes a float32 checkpoint with the given scalar tensors.
void Write(const std::string& prefix, const std::vector<std::pair<std::string, float>>& values) {
  std::vector<testing::TestTensor> tensors;
  for (const auto& [name, v] : values) {
    tensors.push_back(testing::MakeTensor(name, DType::kFloat, {}, std::vector<float>{v}));
  }
  ASSERT_NO_FATAL_FAILURE(testing::WriteCheckpoint(prefix, tensors));
}

// The scalar float `name` of `prefix`; NaN (with a failure reported) when it cannot be read.
float Value(const std::string& prefix, const std::string& name) {
  std::vector<float> v = testing::ReadValues<float>(prefix, name);
  EXPECT_EQ(v.size(), 1u) << name;
  return v.size() == 1 ? v[0] : std::nanf("");
}

std::vector<std::string> Names(const std::string& prefix) { return testing::TensorNames(prefix); }

TEST(Merge, UnionConflictsAndChoice) {
  std::string d = testing::TempDir();
  ASSERT_NO_FATAL_FAILURE(Write(d + "/a", {{"x", 1}, {"shared", 2}}));
  ASSERT_NO_FATAL_FAILURE(Write(d + "/b", {{"y", 3}, {"shared", 4}}));
  Plan plan;
  Status s = PlanMerge({d + "/a", d + "/b"}, d + "/out", MergeOptions(), &plan);
  ASSERT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("'shared'"), std::string::npos);
  EXPECT_NE(s.message().find(d + "/a"), std::string::npos);
  EXPECT_NE(s.message().find(d + "/b"), std::string::npos);
  for (auto [policy, want] : {std::pair{MergeOptions::OnConflict::kFirst, 2.0f},
                              std::pair{MergeOptions::OnConflict::kLast, 4.0f}}) {
    Plan p;
    MergeOptions mo;
    mo.on_conflict = policy;
    std::string out = d + "/out" + std::to_string(static_cast<int>(policy));
    ASSERT_OK(PlanMerge({d + "/a", d + "/b"}, out, mo, &p));
    ExecuteReport r;
    ASSERT_OK(ExecutePlan(p, ExecuteOptions(), &r));
    EXPECT_EQ(Names(out), (std::vector<std::string>{"shared", "x", "y"}));
    EXPECT_EQ(Value(out, "shared"), want);
    // Partly used sources are copied tensor by tensor, fully used ones whole.
    EXPECT_EQ(r.stats.files_copied + r.stats.files_reflinked, 1);
    EXPECT_EQ(r.stats.ranges_copied, 1);
  }
}

TEST(Merge, RefusesOutputEqualToInput) {
  std::string d = testing::TempDir();
  ASSERT_NO_FATAL_FAILURE(Write(d + "/a", {{"x", 1}}));
  ASSERT_NO_FATAL_FAILURE(Write(d + "/b", {{"y", 1}}));
  Plan plan;
  EXPECT_STATUS(PlanMerge({d + "/a", d + "/b"}, d + "/a", MergeOptions(), &plan),
                Status::Code::kInvalidArgument, d + "/a");
}

TEST(Transfer, AssignmentMapForms) {
  std::string d = testing::TempDir();
  ASSERT_NO_FATAL_FAILURE(
      Write(d + "/model", {{"enc/w", 0}, {"enc/b", 0}, {"dec/w", 0}, {"head", 0}}));
  ASSERT_NO_FATAL_FAILURE(
      Write(d + "/src", {{"encoder/w", 1}, {"encoder/b", 2}, {"w", 3}, {"h", 4}}));
  TransferOptions to;
  to.into = d + "/model";
  to.groups.push_back({d + "/src", {{"encoder/", "enc/"}, {"h", "head"}}});
  Plan plan;
  ASSERT_OK(PlanTransfer(to, d + "/out", &plan));
  ExecuteReport r;
  ASSERT_OK(ExecutePlan(plan, ExecuteOptions(), &r));
  EXPECT_EQ(Value(d + "/out", "enc/w"), 1);
  EXPECT_EQ(Value(d + "/out", "enc/b"), 2);
  EXPECT_EQ(Value(d + "/out", "head"), 4);
  EXPECT_EQ(Value(d + "/out", "dec/w"), 0);  // kept
}

TEST(Transfer, AllProblemsReportedTogether) {
  std::string d = testing::TempDir();
  ASSERT_NO_FATAL_FAILURE(Write(d + "/model", {{"a", 0}, {"s/x", 0}}));
  ASSERT_NO_FATAL_FAILURE(Write(d + "/src", {{"a", 1}}));
  TransferOptions to;
  to.into = d + "/model";
  to.groups.push_back({d + "/src", {{"missing", "a"}, {"a", "s/"}, {"q/", "s/"}}});
  Plan plan;
  Status s = PlanTransfer(to, d + "/out", &plan);
  ASSERT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("Tensor missing is not found"), std::string::npos);
  EXPECT_NE(s.message().find("should map to scope only a"), std::string::npos);
  EXPECT_NE(s.message().find("Tensor q/x (x in q/) is not found"), std::string::npos);
  EXPECT_FALSE(file::Exists(d + "/out.index"));
}

TEST(Edit, RenameFormsAndClashes) {
  std::string d = testing::TempDir();
  ASSERT_NO_FATAL_FAILURE(Write(d + "/src", {{"old/a", 1}, {"old/b", 2}, {"c", 3}}));
  EditOptions eo;
  eo.renames = {{"old/", "new/"}, {"c", "d"}};
  Plan plan;
  ASSERT_OK(PlanEdit(d + "/src", d + "/out", eo, &plan));
  ExecuteReport r;
  ASSERT_OK(ExecutePlan(plan, ExecuteOptions(), &r));
  EXPECT_EQ(Names(d + "/out"), (std::vector<std::string>{"d", "new/a", "new/b"}));
  EXPECT_EQ(Value(d + "/out", "new/b"), 2);
  // Every tensor kept and renamed: the data file is taken whole.
  EXPECT_EQ(r.stats.files_copied + r.stats.files_reflinked, 1);

  EditOptions clash;
  clash.renames = {{"old/a", "c"}};
  Plan p2;
  EXPECT_STATUS(PlanEdit(d + "/src", d + "/out2", clash, &p2), Status::Code::kInvalidArgument,
                "would both be named 'c'");
}

}  // namespace
}  // namespace tfckpt
