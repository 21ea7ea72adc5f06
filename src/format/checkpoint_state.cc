// Reading and writing the text-format `checkpoint` state file (tfckpt/paths.h).

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <fmt/format.h>

#include "io/file_util.h"
#include "tfckpt.pb.h"
#include "tfckpt/paths.h"

namespace tfckpt {

Status ReadCheckpointState(const std::string& dir, CheckpointState* state) {
  std::string path = file::Join(dir, "checkpoint");
  std::string text;
  TFCKPT_RETURN_IF_ERROR(file::ReadFile(path, &text));
  pb::CheckpointState proto;
  // Collects parse errors silently; the message below says what to do.
  class Quiet : public google::protobuf::io::ErrorCollector {
   public:
    void AddError(int, int, const std::string&) override {}
  } quiet;
  google::protobuf::TextFormat::Parser parser;
  parser.AllowUnknownField(true);
  parser.RecordErrorsTo(&quiet);
  if (!parser.ParseFromString(text, &proto)) {
    return Status::Corruption(fmt::format(
        "the checkpoint state file '{}' is not valid text format; fix or delete it, or pass a "
        "checkpoint prefix instead of the directory",
        path));
  }
  if (proto.model_checkpoint_path().empty()) {
    return Status::Corruption(fmt::format(
        "the checkpoint state file '{}' names no model_checkpoint_path; pass a checkpoint prefix "
        "instead of the directory",
        path));
  }
  state->model_checkpoint_path = proto.model_checkpoint_path();
  state->all_model_checkpoint_paths.assign(proto.all_model_checkpoint_paths().begin(),
                                           proto.all_model_checkpoint_paths().end());
  state->all_model_checkpoint_timestamps.assign(proto.all_model_checkpoint_timestamps().begin(),
                                                proto.all_model_checkpoint_timestamps().end());
  if (proto.last_preserved_timestamp() != 0) {
    state->last_preserved_timestamp = proto.last_preserved_timestamp();
  } else {
    state->last_preserved_timestamp.reset();
  }
  return Status::OK();
}

Status WriteCheckpointState(const std::string& dir, const CheckpointState& state) {
  if (state.model_checkpoint_path.empty()) {
    return Status::InvalidArgument("a checkpoint state needs a model_checkpoint_path");
  }
  pb::CheckpointState proto;
  proto.set_model_checkpoint_path(state.model_checkpoint_path);
  for (const std::string& p : state.all_model_checkpoint_paths) {
    proto.add_all_model_checkpoint_paths(p);
  }
  if (state.all_model_checkpoint_paths.empty() ||
      state.all_model_checkpoint_paths.back() != state.model_checkpoint_path) {
    proto.add_all_model_checkpoint_paths(state.model_checkpoint_path);
  }
  for (double t : state.all_model_checkpoint_timestamps)
    proto.add_all_model_checkpoint_timestamps(t);
  if (state.last_preserved_timestamp) {
    proto.set_last_preserved_timestamp(*state.last_preserved_timestamp);
  }
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(proto, &text)) {
    return Status::InvalidArgument("cannot format the checkpoint state");
  }
  TFCKPT_RETURN_IF_ERROR(file::CreateDirectories(dir));
  return file::WriteFileAtomically(file::Join(dir, "checkpoint"), text);
}

}  // namespace tfckpt
