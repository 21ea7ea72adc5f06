#include <gtest/gtest.h>

#include <fstream>

#include "testing/test_util.h"
#include "tfckpt/paths.h"
#include "tfckpt/writer.h"

namespace tfckpt {
namespace {

void Touch(const std::string& prefix) {
  std::unique_ptr<BundleWriter> w;
  WriterOptions o;
  o.sync = false;
  ASSERT_OK(BundleWriter::Create(prefix, o, &w));
  ASSERT_OK(w->Finish());
}

TEST(Resolve, EveryForm) {
  std::string dir = testing::TempDir();
  Touch(dir + "/model.ckpt-10");
  Touch(dir + "/model.ckpt-20");
  std::string p;
  ASSERT_OK(ResolveCheckpointPath(dir + "/model.ckpt-10", std::nullopt, &p));
  EXPECT_EQ(p, dir + "/model.ckpt-10");
  ASSERT_OK(ResolveCheckpointPath(dir + "/model.ckpt-10.index", std::nullopt, &p));
  EXPECT_EQ(p, dir + "/model.ckpt-10");
  ASSERT_OK(ResolveCheckpointPath(dir + "/model.ckpt-20.data-00000-of-00001", std::nullopt, &p));
  EXPECT_EQ(p, dir + "/model.ckpt-20");
  // Two checkpoints and no state file: ambiguous, with both named.
  Status s = ResolveCheckpointPath(dir, std::nullopt, &p);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("model.ckpt-10"), std::string::npos);
  CheckpointState st;
  st.model_checkpoint_path = "model.ckpt-20";
  st.all_model_checkpoint_paths = {"model.ckpt-10", "model.ckpt-20"};
  ASSERT_OK(WriteCheckpointState(dir, st));
  ASSERT_OK(ResolveCheckpointPath(dir, std::nullopt, &p));
  EXPECT_EQ(p, dir + "/model.ckpt-20");
  ASSERT_OK(ResolveCheckpointPath(dir + "@10", std::nullopt, &p));
  EXPECT_EQ(p, dir + "/model.ckpt-10");
  ASSERT_OK(ResolveCheckpointPath(dir, 10, &p));
  EXPECT_EQ(p, dir + "/model.ckpt-10");
  s = ResolveCheckpointPath(dir + "@30", std::nullopt, &p);
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_NE(s.message().find("30"), std::string::npos);
}

TEST(Resolve, SavedModelAndMissing) {
  std::string dir = testing::TempDir();
  ASSERT_OK(file::CreateDirectories(dir + "/sm/variables"));
  Touch(dir + "/sm/variables/variables");
  std::ofstream(dir + "/sm/saved_model.pb") << "";
  std::string p;
  ASSERT_OK(ResolveCheckpointPath(dir + "/sm", std::nullopt, &p));
  EXPECT_EQ(p, dir + "/sm/variables/variables");
  Status s = ResolveCheckpointPath(dir + "/nothing", std::nullopt, &p);
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_NE(s.message().find(dir + "/nothing"), std::string::npos);
  // A near miss is suggested.
  Touch(dir + "/model.ckpt-5");
  s = ResolveCheckpointPath(dir + "/model.ckpt", std::nullopt, &p);
  EXPECT_NE(s.message().find("model.ckpt-5"), std::string::npos);
}

TEST(Resolve, NamedFilesMustExist) {
  std::string dir = testing::TempDir() + "/named";
  ASSERT_OK(file::CreateDirectories(dir));
  Touch(dir + "/m");
  std::string p;
  Status s = ResolveCheckpointPath(dir + "/m.data-00000-of-00002", std::nullopt, &p);
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_NE(s.message().find("m.data-00000-of-00002' does not exist"), std::string::npos);
  EXPECT_NE(s.message().find("m.data-00000-of-00001"), std::string::npos);  // what it has
  ASSERT_OK(ResolveCheckpointPath(dir + "/m.data-00000-of-00001", std::nullopt, &p));
  EXPECT_EQ(p, dir + "/m");
}

TEST(Resolve, WindowsPathsGetAHint) {
  std::string p;
  Status s = ResolveCheckpointPath("C:\\models\\m.ckpt", std::nullopt, &p);
  EXPECT_NE(s.message().find("/mnt/c/models/m.ckpt"), std::string::npos);
  s = ResolveCheckpointPath("out\\m", std::nullopt, &p);
  EXPECT_NE(s.message().find("'out/m'"), std::string::npos);
  EXPECT_EQ(file::WindowsPathHint("/tmp/a/b"), "");
}

TEST(Resolve, DescribeResolution) {
  std::string dir = testing::TempDir() + "/describe";
  ASSERT_OK(file::CreateDirectories(dir));
  Touch(dir + "/ckpt-3");
  EXPECT_EQ(DescribeResolution(dir + "/ckpt-3", std::nullopt, dir + "/ckpt-3"), "");
  EXPECT_EQ(DescribeResolution(dir + "/ckpt-3.index", std::nullopt, dir + "/ckpt-3"), "");
  EXPECT_NE(DescribeResolution(dir + "/", std::nullopt, dir + "/ckpt-3").find("one checkpoint"),
            std::string::npos);
  CheckpointState st;
  st.model_checkpoint_path = "ckpt-3";
  ASSERT_OK(WriteCheckpointState(dir, st));
  EXPECT_NE(DescribeResolution(dir, std::nullopt, dir + "/ckpt-3").find("latest"),
            std::string::npos);
  EXPECT_NE(DescribeResolution(dir + "@3", std::nullopt, dir + "/ckpt-3").find("step 3"),
            std::string::npos);
}

}  // namespace
}  // namespace tfckpt
