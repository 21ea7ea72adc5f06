// bundle_tool: a test driver for the library's writer, used by the Python oracle tests.
//
//   bundle_tool write SPEC.json PREFIX   write the tensors described in SPEC, in order
//   bundle_tool copy SRC PREFIX          copy every tensor of SRC, in SRC's data-file order
//
// SPEC: {"max_shard_bytes": N (optional), "tensors": [{"name", "dtype", "shape",
//        "data_b64"} | {"name", "dtype": "string", "shape", "strings_b64": [...]}]}

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tfckpt/checkpoint.h"
#include "tfckpt/writer.h"

namespace {

using tfckpt::Status;

std::string Base64Decode(const std::string& in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  int bits = 0, acc = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) continue;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

Status Write(const std::string& spec_path, const std::string& prefix) {
  std::ifstream in(spec_path);
  nlohmann::json spec = nlohmann::json::parse(in);
  tfckpt::WriterOptions options;
  options.max_shard_bytes = spec.value("max_shard_bytes", int64_t{0});
  options.overwrite = spec.value("overwrite", false);
  std::unique_ptr<tfckpt::BundleWriter> w;
  TFCKPT_RETURN_IF_ERROR(tfckpt::BundleWriter::Create(prefix, options, &w));
  for (const auto& t : spec["tensors"]) {
    std::string name = t["name"];
    auto dtype = tfckpt::DTypeFromName(t["dtype"].get<std::string>());
    if (!dtype) return Status::InvalidArgument("unknown dtype " + t["dtype"].get<std::string>());
    tfckpt::Shape shape = t["shape"].get<tfckpt::Shape>();
    if (*dtype == tfckpt::DType::kString) {
      std::vector<std::string> values;
      for (const auto& s : t["strings_b64"]) values.push_back(Base64Decode(s));
      std::vector<std::string_view> views(values.begin(), values.end());
      TFCKPT_RETURN_IF_ERROR(w->AddStrings(name, shape, views));
    } else {
      std::string data = Base64Decode(t["data_b64"]);
      TFCKPT_RETURN_IF_ERROR(w->Add(name, *dtype, shape,
                                    {reinterpret_cast<const uint8_t*>(data.data()), data.size()}));
    }
  }
  return w->Finish();
}

Status Copy(const std::string& src, const std::string& prefix) {
  std::unique_ptr<tfckpt::Checkpoint> ckpt;
  TFCKPT_RETURN_IF_ERROR(tfckpt::Checkpoint::Open(src, &ckpt));
  struct Piece {
    const tfckpt::TensorInfo* tensor;
    const tfckpt::SlicePart* slice;  // null for a whole tensor
    tfckpt::DataLocation loc;
  };
  std::vector<Piece> pieces;
  for (const auto& t : ckpt->tensors()) {
    if (!t.partitioned()) {
      pieces.push_back({&t, nullptr, t.location});
    } else {
      for (const auto& s : t.slices) pieces.push_back({&t, &s, s.location});
    }
  }
  std::stable_sort(pieces.begin(), pieces.end(), [](const Piece& a, const Piece& b) {
    return std::tie(a.loc.shard_id, a.loc.offset) < std::tie(b.loc.shard_id, b.loc.offset);
  });
  std::unique_ptr<tfckpt::BundleWriter> w;
  TFCKPT_RETURN_IF_ERROR(tfckpt::BundleWriter::Create(prefix, tfckpt::WriterOptions(), &w));
  for (const Piece& p : pieces) {
    std::span<const uint8_t> bytes;
    TFCKPT_RETURN_IF_ERROR(ckpt->RawBytes(p.loc, &bytes));
    if (p.slice == nullptr) {
      TFCKPT_RETURN_IF_ERROR(
          w->AddSerialized(p.tensor->name, p.tensor->dtype, p.tensor->shape, bytes));
    } else {
      TFCKPT_RETURN_IF_ERROR(
          w->AddSlice(p.tensor->name, p.tensor->shape, p.slice->slice, p.tensor->dtype, bytes));
    }
  }
  return w->Finish();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: bundle_tool write SPEC.json PREFIX | bundle_tool copy SRC PREFIX\n";
    return 2;
  }
  std::string cmd = argv[1];
  Status s;
  try {
    if (cmd == "write") {
      s = Write(argv[2], argv[3]);
    } else if (cmd == "copy") {
      s = Copy(argv[2], argv[3]);
    } else {
      s = Status::InvalidArgument("unknown command " + cmd);
    }
  } catch (const std::exception& e) {
    s = Status::InvalidArgument(e.what());
  }
  if (!s.ok()) {
    std::cerr << "bundle_tool: " << s.ToString() << "\n";
    return 1;
  }
  return 0;
}
