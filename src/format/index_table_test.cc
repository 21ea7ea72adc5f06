#include "format/index_table.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "testing/test_util.h"

namespace tfckpt {
namespace {

using testing::ReadAll;
using testing::TempDir;
using testing::WriteAll;

using Entries = std::vector<std::pair<std::string, std::string>>;

void WriteTable(const std::string& path, const Entries& entries) {
  std::unique_ptr<IndexTableWriter> w;
  ASSERT_OK(IndexTableWriter::Create(path, &w));
  for (const auto& [k, v] : entries) ASSERT_OK(w->Add(k, v)) << k;
  ASSERT_OK(w->Finish(/*sync=*/false));
}

Status ReadTable(const std::string& path, Entries* out) {
  out->clear();
  return ForEachIndexEntry(path, [&](std::string_view k, std::string_view v) {
    out->emplace_back(std::string(k), std::string(v));
    return Status::OK();
  });
}

// Keys in increasing bytewise order, one binary, one value of several blocks.
Entries Sample() {
  Entries e;
  e.emplace_back("", std::string("\x08\x01", 2));
  e.emplace_back(std::string("\0a\0", 3), "slice");
  for (int i = 0; i < 40; i++) {
    e.emplace_back("layer" + std::to_string(100 + i), std::string(static_cast<size_t>(i), 'v'));
  }
  e.emplace_back("zz_big", std::string(600 * 1024, '\x5a'));  // over two 256 KiB blocks
  e.emplace_back("zzz_after", "tail");
  return e;
}

TEST(IndexTable, WriteThenReadInOrder) {
  std::string path = TempDir() + "/t.index";
  Entries want = Sample();
  ASSERT_NO_FATAL_FAILURE(WriteTable(path, want));
  EXPECT_TRUE(HasTableMagic(path));
  Entries got;
  ASSERT_OK(ReadTable(path, &got));
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); i++) {
    EXPECT_EQ(got[i].first, want[i].first) << i;
    EXPECT_EQ(got[i].second, want[i].second) << want[i].first;
  }
}

TEST(IndexTable, EmptyTable) {
  std::string path = TempDir() + "/empty.index";
  ASSERT_NO_FATAL_FAILURE(WriteTable(path, {}));
  EXPECT_TRUE(HasTableMagic(path));
  Entries got = {{"x", "y"}};
  ASSERT_OK(ReadTable(path, &got));
  EXPECT_TRUE(got.empty());
}

TEST(IndexTable, CallbackErrorStopsTheWalk) {
  std::string path = TempDir() + "/t.index";
  ASSERT_NO_FATAL_FAILURE(WriteTable(path, {{"a", "1"}, {"b", "2"}, {"c", "3"}}));
  int calls = 0;
  Status s = ForEachIndexEntry(path, [&](std::string_view k, std::string_view) {
    calls++;
    if (k == "b") return Status::InvalidArgument("stop at b");
    return Status::OK();
  });
  EXPECT_STATUS(s, Status::Code::kInvalidArgument, "stop at b");
  EXPECT_EQ(calls, 2);
}

TEST(IndexTable, CreateRefusesAnExistingFile) {
  std::string path = TempDir() + "/t.index";
  ASSERT_NO_FATAL_FAILURE(WriteAll(path, "x"));
  std::unique_ptr<IndexTableWriter> w;
  EXPECT_STATUS(IndexTableWriter::Create(path, &w), Status::Code::kIOError,
                "cannot create '" + path + "'");
  EXPECT_EQ(w, nullptr);
  EXPECT_EQ(ReadAll(path), "x");
}

TEST(IndexTable, MissingFile) {
  std::string path = TempDir() + "/none.index";
  Entries got;
  EXPECT_STATUS(ReadTable(path, &got), Status::Code::kIOError, path);
  EXPECT_FALSE(HasTableMagic(path));
}

TEST(IndexTable, RefusesTruncatedTables) {
  std::string dir = TempDir();
  ASSERT_NO_FATAL_FAILURE(WriteTable(dir + "/t.index", Sample()));
  const std::string table = ReadAll(dir + "/t.index");
  ASSERT_GT(table.size(), 600u * 1024);
  Entries got;
  for (size_t keep : {size_t{0}, size_t{20}, size_t{47}}) {
    std::string path = dir + "/short" + std::to_string(keep);
    ASSERT_NO_FATAL_FAILURE(WriteAll(path, table.substr(0, keep)));
    EXPECT_FALSE(HasTableMagic(path));
    EXPECT_STATUS(ReadTable(path, &got), Status::Code::kCorruption,
                  "'" + path + "' is " + std::to_string(keep) + " bytes, too short");
  }
  // Cut anywhere else: the footer's magic number is gone.
  for (size_t cut : {size_t{1}, size_t{100}, table.size() / 2}) {
    std::string path = dir + "/cut" + std::to_string(cut);
    ASSERT_NO_FATAL_FAILURE(WriteAll(path, table.substr(0, table.size() - cut)));
    EXPECT_FALSE(HasTableMagic(path));
    EXPECT_STATUS(ReadTable(path, &got), Status::Code::kCorruption,
                  "its last 8 bytes are not the table magic number");
  }
}

TEST(IndexTable, RefusesAFooterPointingOutside) {
  std::string dir = TempDir();
  ASSERT_NO_FATAL_FAILURE(WriteTable(dir + "/t.index", {{"a", "1"}, {"b", "2"}}));
  std::string table = ReadAll(dir + "/t.index");
  ASSERT_GT(table.size(), 48u);
  const size_t footer = table.size() - 48;
  Entries got;
  // The metaindex handle: offset 2^20 (varint 80 80 40), size 1.
  std::string bad = table;
  bad.replace(footer, 4, std::string("\x80\x80\x40\x01", 4));
  ASSERT_NO_FATAL_FAILURE(WriteAll(dir + "/meta", bad));
  EXPECT_TRUE(HasTableMagic(dir + "/meta"));
  EXPECT_STATUS(ReadTable(dir + "/meta", &got), Status::Code::kCorruption,
                "its footer points its metaindex block outside the file");
  // A handle that is not a varint at all: ten continuation bytes.
  bad = table;
  bad.replace(footer, 10, std::string(10, '\xff'));
  ASSERT_NO_FATAL_FAILURE(WriteAll(dir + "/varint", bad));
  EXPECT_STATUS(ReadTable(dir + "/varint", &got), Status::Code::kCorruption, "outside the file");
}

TEST(IndexTable, RefusesADamagedBlock) {
  std::string dir = TempDir();
  ASSERT_NO_FATAL_FAILURE(WriteTable(dir + "/t.index", {{"alpha", "1111"}, {"beta", "2222"}}));
  std::string table = ReadAll(dir + "/t.index");
  // The first data block starts at offset 0; its CRC no longer matches.
  size_t at = table.find("2222");
  ASSERT_NE(at, std::string::npos);
  table[at] = '3';
  const std::string path = dir + "/flipped.index";
  ASSERT_NO_FATAL_FAILURE(WriteAll(path, table));
  Entries got;
  Status s = ReadTable(path, &got);
  EXPECT_STATUS(s, Status::Code::kCorruption, "'" + path + "' is damaged");
  EXPECT_STATUS(s, Status::Code::kCorruption, "checksum mismatch");
  // No entry of the damaged block was handed out.
  EXPECT_TRUE(got.empty());
}

}  // namespace
}  // namespace tfckpt
