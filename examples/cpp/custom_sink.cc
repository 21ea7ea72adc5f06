// init_from_checkpoint for variables that are not TensorFlow variables: here a toy parameter
// store that keeps float32 parameters in std::vector<float>, filled from a checkpoint with an
// assignment map, through the tfckpt::TensorSink interface.
//
//   custom_sink CKPT            e.g. custom_sink examples/models/a/model-a
//
// It declares two parameters "enc/a" and "enc/b" (float32 scalars), maps the checkpoint's root
// into the scope "enc/" ('/': 'enc/'), and prints what each parameter received.

#include <cstring>
#include <iostream>
#include <map>
#include <vector>

#include "tfckpt/plan.h"

namespace {

// The "framework": named float32 parameters.
struct ParameterStore {
  std::map<std::string, std::vector<float>> values;
  std::map<std::string, tfckpt::Shape> shapes;
};

class StoreSink : public tfckpt::TensorSink {
 public:
  explicit StoreSink(ParameterStore* store) : store_(store) {}
  tfckpt::Status Assign(const std::string& target, const tfckpt::Tensor& value) override {
    std::vector<float>& dst = store_->values[target];
    if (value.bytes().size() != dst.size() * sizeof(float)) {
      return tfckpt::Status::InvalidArgument("unexpected size for " + target);
    }
    std::memcpy(dst.data(), value.bytes().data(), value.bytes().size());
    return tfckpt::Status::OK();
  }

 private:
  ParameterStore* store_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: custom_sink CKPT\n";
    return 2;
  }
  ParameterStore store;
  std::vector<tfckpt::TargetVariable> variables;
  for (const char* name : {"enc/a", "enc/b"}) {
    store.values[name] = {0.0f};
    variables.push_back({name, tfckpt::DType::kFloat, {}});
  }
  StoreSink sink(&store);
  std::vector<std::pair<std::string, std::string>> assigned;
  // Only the parameters whose names the checkpoint has are filled; a missing one is an error,
  // exactly as init_from_checkpoint reports it.
  tfckpt::Status s =
      tfckpt::InitFromCheckpoint(argv[1], {{"/", "enc/"}}, variables, &sink, &assigned);
  if (!s.ok()) {
    std::cerr << "custom_sink: " << s.message() << "\n";
    return 1;
  }
  for (const auto& [target, source] : assigned) {
    std::cout << target << " <- " << source << " = " << store.values[target][0] << "\n";
  }
  return 0;
}
