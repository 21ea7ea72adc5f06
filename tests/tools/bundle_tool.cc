// bundle_tool: a test driver for the library's writer, used by the Python oracle tests.
//
//   bundle_tool write SPEC.json PREFIX   write the tensors described in SPEC, in order
//   bundle_tool copy SRC PREFIX          copy every tensor of SRC, in SRC's data-file order
//   bundle_tool snappy PREFIX            rewrite PREFIX.index with Snappy-compressed blocks (as
//                                        TensorFlow 1.x and early 2.x merges wrote them)
//   bundle_tool snappy-table FILE        the same for any table file (a V1 checkpoint's, as the
//                                        default table options of its old writers made them)
//   bundle_tool state DIR LATEST [OLDER...]  write DIR/checkpoint with the library
//   bundle_tool table ENTRIES.json INDEX  write a table of the given entries straight through
//                                        LevelDB (for indexes the tests craft byte by byte)
//
// SPEC: {"max_shard_bytes": N (optional), "tensors": [{"name", "dtype", "shape",
//        "data_b64"} | {"name", "dtype": "string", "shape", "strings_b64": [...]}]}
// ENTRIES: [[key_b64, value_b64], ...], in any order.

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <leveldb/env.h>
#include <leveldb/iterator.h>
#include <leveldb/options.h>
#include <leveldb/table.h>
#include <leveldb/table_builder.h>

#include "tfckpt/checkpoint.h"
#include "tfckpt/paths.h"
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
      TFCKPT_RETURN_IF_ERROR(w->AddTensor(
          name,
          tfckpt::Tensor::Elements(tfckpt::DType::kString, shape, std::move(views), nullptr)));
    } else {
      std::string data = Base64Decode(t["data_b64"]);
      TFCKPT_RETURN_IF_ERROR(
          w->Add({name, *dtype, shape},
                 tfckpt::PieceBytes::InMemory(
                     {reinterpret_cast<const uint8_t*>(data.data()), data.size()})));
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
    return std::tie(a.loc.shard_id, a.loc.offset, a.loc.size) <
           std::tie(b.loc.shard_id, b.loc.offset, b.loc.size);
  });
  std::unique_ptr<tfckpt::BundleWriter> w;
  TFCKPT_RETURN_IF_ERROR(tfckpt::BundleWriter::Create(prefix, tfckpt::WriterOptions(), &w));
  for (const Piece& p : pieces) {
    std::span<const uint8_t> bytes;
    std::shared_ptr<const void> hold;
    TFCKPT_RETURN_IF_ERROR(ckpt->RawBytes(p.loc, &bytes, &hold));
    if (p.slice == nullptr) {
      TFCKPT_RETURN_IF_ERROR(w->Add({p.tensor->name, p.tensor->dtype, p.tensor->shape},
                                    tfckpt::PieceBytes::InMemory(bytes)));
    } else {
      TFCKPT_RETURN_IF_ERROR(
          w->Add({p.tensor->name, p.tensor->dtype, p.tensor->shape, &p.slice->slice},
                 tfckpt::PieceBytes::InMemory(bytes)));
    }
  }
  return w->Finish();
}

// Reads every entry of the table at `path` and writes them back with Snappy compression and the
// block size TensorFlow uses, straight through LevelDB.
Status Snappy(const std::string& path) {
  leveldb::Env* env = leveldb::Env::Default();
  uint64_t size = 0;
  leveldb::RandomAccessFile* raf = nullptr;
  if (!env->GetFileSize(path, &size).ok() || !env->NewRandomAccessFile(path, &raf).ok()) {
    return Status::IOError("cannot open " + path);
  }
  std::unique_ptr<leveldb::RandomAccessFile> raf_owner(raf);
  leveldb::Table* table = nullptr;
  leveldb::Options options;
  options.block_size = 256 * 1024;
  if (!leveldb::Table::Open(options, raf, size, &table).ok()) return Status::Corruption(path);
  std::unique_ptr<leveldb::Table> table_owner(table);
  std::vector<std::pair<std::string, std::string>> entries;
  std::unique_ptr<leveldb::Iterator> it(table->NewIterator(leveldb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    entries.emplace_back(it->key().ToString(), it->value().ToString());
  }
  std::string tmp = path + ".snappy-tmp";
  leveldb::WritableFile* out = nullptr;
  if (!env->NewWritableFile(tmp, &out).ok()) return Status::IOError("cannot create " + tmp);
  std::unique_ptr<leveldb::WritableFile> out_owner(out);
  options.compression = leveldb::kSnappyCompression;
  leveldb::TableBuilder builder(options, out);
  for (const auto& [k, v] : entries) builder.Add(k, v);
  if (!builder.Finish().ok() || !out->Close().ok()) return Status::IOError("cannot write " + tmp);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Status::IOError("cannot rename " + tmp);
  return Status::OK();
}

// Writes the entries of ENTRIES.json (sorted by key) as an uncompressed table at `path`.
Status Table(const std::string& entries_path, const std::string& path) {
  std::ifstream in(entries_path);
  nlohmann::json spec = nlohmann::json::parse(in);
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto& kv : spec) {
    entries.emplace_back(Base64Decode(kv.at(0).get<std::string>()),
                         Base64Decode(kv.at(1).get<std::string>()));
  }
  std::sort(entries.begin(), entries.end());
  leveldb::WritableFile* out = nullptr;
  if (!leveldb::Env::Default()->NewWritableFile(path, &out).ok()) {
    return Status::IOError("cannot create " + path);
  }
  std::unique_ptr<leveldb::WritableFile> out_owner(out);
  leveldb::Options options;
  options.compression = leveldb::kNoCompression;
  leveldb::TableBuilder builder(options, out);
  for (const auto& [k, v] : entries) builder.Add(k, v);
  if (!builder.Finish().ok() || !out->Close().ok()) return Status::IOError("cannot write " + path);
  return Status::OK();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: bundle_tool write SPEC.json PREFIX | copy SRC PREFIX | snappy PREFIX | "
                 "snappy-table FILE | "
                 "state DIR LATEST [OLDER...] | table ENTRIES.json INDEX\n";
    return 2;
  }
  std::string cmd = argv[1];
  Status s;
  try {
    if (cmd == "snappy") {
      s = Snappy(std::string(argv[2]) + ".index");
    } else if (cmd == "snappy-table") {
      s = Snappy(argv[2]);
    } else if (cmd == "state" && argc >= 4) {
      tfckpt::CheckpointState state;
      state.model_checkpoint_path = argv[3];
      for (int i = 4; i < argc; i++) state.all_model_checkpoint_paths.push_back(argv[i]);
      s = tfckpt::WriteCheckpointState(argv[2], state);
    } else if (argc != 4) {
      s = Status::InvalidArgument("wrong number of arguments");
    } else if (cmd == "write") {
      s = Write(argv[2], argv[3]);
    } else if (cmd == "copy") {
      s = Copy(argv[2], argv[3]);
    } else if (cmd == "table") {
      s = Table(argv[2], argv[3]);
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
