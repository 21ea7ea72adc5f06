#include "format/safetensors.h"

#include <algorithm>
#include <cstring>
#include <tuple>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace tfckpt::safetensors {
namespace {

struct Code {
  DType dtype;
  const char* code;
};
constexpr Code kCodes[] = {
    {DType::kBool, "BOOL"},
    {DType::kUInt8, "U8"},
    {DType::kInt8, "I8"},
    {DType::kInt16, "I16"},
    {DType::kUInt16, "U16"},
    {DType::kInt32, "I32"},
    {DType::kUInt32, "U32"},
    {DType::kInt64, "I64"},
    {DType::kUInt64, "U64"},
    {DType::kHalf, "F16"},
    {DType::kBFloat16, "BF16"},
    {DType::kFloat, "F32"},
    {DType::kDouble, "F64"},
    {DType::kComplex64, "C64"},
    {DType::kFloat8E5M2, "F8_E5M2"},
    {DType::kFloat8E4M3FN, "F8_E4M3"},
};

}  // namespace

std::optional<std::string> DTypeCode(DType dtype) {
  for (const Code& c : kCodes) {
    if (c.dtype == dtype) return std::string(c.code);
  }
  return std::nullopt;
}

std::optional<DType> DTypeFromCode(std::string_view code) {
  for (const Code& c : kCodes) {
    if (code == c.code) return c.dtype;
  }
  return std::nullopt;
}

Status Parse(const ByteSource& file, std::vector<Entry>* entries,
             std::map<std::string, std::string>* metadata) {
  const std::string& path = file.name();
  auto bad = [&](const std::string& why) {
    return Status::Corruption(fmt::format("'{}' is not a valid safetensors file: {}", path, why));
  };
  const uint64_t file_size = static_cast<uint64_t>(file.size());
  if (file_size < 8) return bad("it is shorter than 8 bytes");
  uint8_t length[8];
  TFCKPT_RETURN_IF_ERROR(file.ReadAt(0, 8, length));
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | length[i];
  if (n > file_size - 8) return bad("the header length runs past the end of the file");
  const int64_t data_start = 8 + static_cast<int64_t>(n);
  const int64_t data_size = static_cast<int64_t>(file_size) - data_start;
  std::string text(static_cast<size_t>(n), '\0');
  TFCKPT_RETURN_IF_ERROR(file.ReadAt(8, static_cast<int64_t>(n), text.data()));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return bad(std::string("the header is not JSON: ") + e.what());
  }
  if (!header.is_object()) return bad("the header is not a JSON object");
  entries->clear();
  for (auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) return bad("__metadata__ is not an object");
      for (auto& [k, m] : v.items()) {
        if (m.is_string()) (*metadata)[k] = m.get<std::string>();
      }
      continue;
    }
    try {
      Entry e;
      e.name = name;
      std::string code = v.at("dtype").get<std::string>();
      auto dtype = DTypeFromCode(code);
      if (!dtype)
        return bad(fmt::format("tensor '{}' has dtype {}, which tfckpt does not know", name, code));
      e.dtype = *dtype;
      e.shape = v.at("shape").get<Shape>();
      auto offsets = v.at("data_offsets").get<std::vector<int64_t>>();
      if (offsets.size() != 2 || offsets[0] < 0 || offsets[1] < offsets[0] ||
          offsets[1] > data_size) {
        return bad(fmt::format("tensor '{}' has data offsets outside the file", name));
      }
      if (NumBytes(e.dtype, e.shape).value_or(-1) != offsets[1] - offsets[0]) {
        return bad(fmt::format("tensor '{}': {} bytes do not hold shape {} of {}", name,
                               offsets[1] - offsets[0], ShapeToString(e.shape), code));
      }
      e.offset = data_start + offsets[0];
      e.size = offsets[1] - offsets[0];
      entries->push_back(std::move(e));
    } catch (const nlohmann::json::exception& ex) {
      return bad(fmt::format("the entry of tensor '{}' is malformed ({})", name, ex.what()));
    }
  }
  std::sort(entries->begin(), entries->end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.offset, a.size) < std::tie(b.offset, b.size);
  });
  const Entry* prev = nullptr;
  for (const Entry& e : *entries) {
    if (e.size == 0) continue;  // empty tensors share their neighbour's offset
    if (prev && prev->offset + prev->size > e.offset) {
      return bad(fmt::format("tensors '{}' and '{}' overlap", prev->name, e.name));
    }
    prev = &e;
  }
  return Status::OK();
}

Status Parse(std::span<const uint8_t> file, const std::string& path, std::vector<Entry>* entries,
             std::map<std::string, std::string>* metadata) {
  return Parse(*MemorySource(file, path), entries, metadata);
}

std::string Header(const std::vector<Entry>& entries,
                   const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  int64_t offset = 0;
  for (const Entry& e : entries) {
    header[e.name] = {{"dtype", *DTypeCode(e.dtype)},
                      {"shape", e.shape},
                      {"data_offsets", {offset, offset + e.size}}};
    offset += e.size;
  }
  std::string json = header.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; i++) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + json;
}

}  // namespace tfckpt::safetensors
