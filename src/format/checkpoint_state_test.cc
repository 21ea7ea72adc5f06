#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "io/file_util.h"
#include "testing/test_util.h"
#include "tfckpt/paths.h"

namespace tfckpt {
namespace {

using testing::TempDir;

TEST(CheckpointState, ParsesTensorFlowText) {
  std::string dir = TempDir();
  std::ofstream(dir + "/checkpoint") << "model_checkpoint_path: \"ckpt-3\"\n"
                                        "all_model_checkpoint_paths: \"ckpt-2\"\n"
                                        "all_model_checkpoint_paths: \"ckpt-3\"\n"
                                        "all_model_checkpoint_timestamps: 1700000000.5\n"
                                        "all_model_checkpoint_timestamps: 1700000100.25\n"
                                        "last_preserved_timestamp: 1699999990.125\n";
  CheckpointState st;
  ASSERT_OK(ReadCheckpointState(dir, &st));
  EXPECT_EQ(st.model_checkpoint_path, "ckpt-3");
  ASSERT_EQ(st.all_model_checkpoint_paths.size(), 2u);
  EXPECT_EQ(st.all_model_checkpoint_paths[0], "ckpt-2");
  ASSERT_EQ(st.all_model_checkpoint_timestamps.size(), 2u);
  EXPECT_DOUBLE_EQ(st.all_model_checkpoint_timestamps[1], 1700000100.25);
  EXPECT_DOUBLE_EQ(st.last_preserved_timestamp.value_or(0), 1699999990.125);
}

TEST(CheckpointState, WriteThenReadAndLatestAppended) {
  std::string dir = TempDir();
  CheckpointState st;
  st.model_checkpoint_path = "model.ckpt-20";
  st.all_model_checkpoint_paths = {"model.ckpt-10"};
  ASSERT_OK(WriteCheckpointState(dir, st));
  CheckpointState back;
  ASSERT_OK(ReadCheckpointState(dir, &back));
  EXPECT_EQ(back.model_checkpoint_path, "model.ckpt-20");
  ASSERT_EQ(back.all_model_checkpoint_paths.size(), 2u);
  EXPECT_EQ(back.all_model_checkpoint_paths[1], "model.ckpt-20");
  // No temporary file is left behind.
  std::vector<std::string> names;
  ASSERT_OK(file::ListDirectory(dir, &names));
  EXPECT_EQ(names, std::vector<std::string>{"checkpoint"});
}

TEST(CheckpointState, RejectsGarbageAndEmpty) {
  std::string dir = TempDir();
  std::ofstream(dir + "/checkpoint") << "this is { not text format";
  CheckpointState st;
  EXPECT_STATUS(ReadCheckpointState(dir, &st), Status::Code::kCorruption,
                dir + "/checkpoint' is not valid text format");
  std::ofstream(dir + "/checkpoint", std::ios::trunc) << "";
  EXPECT_STATUS(ReadCheckpointState(dir, &st), Status::Code::kCorruption,
                "names no model_checkpoint_path");
}

}  // namespace
}  // namespace tfckpt
