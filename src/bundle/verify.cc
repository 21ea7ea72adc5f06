#include "tfckpt/verify.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <regex>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bundle/entry_codec.h"
#include "bundle/slices.h"
#include "bundle/v1_reader.h"
#include "core/progress_meter.h"
#include "format/byte_order.h"
#include "format/crc32c.h"
#include "format/string_tensor.h"
#include "io/byte_source.h"
#include "io/file_util.h"
#include "io/remote_client.h"

namespace tfckpt {
namespace {

// One stored piece of data to check: a whole tensor or one slice of a partitioned tensor.
struct Piece {
  const TensorInfo* tensor;
  std::string label;  // tensor name, plus the slice for slices
  DType dtype;
  Shape shape;
  DataLocation location;
};

// The CRC32C of a piece of a remote checkpoint, read one part at a time.
Status RemoteCrc(const Checkpoint& ckpt, const DataLocation& loc, uint32_t* crc) {
  const std::shared_ptr<const ByteSource> file = ckpt.data_file(loc.shard_id);
  if (!file) {
    return Status::NotFound(
        fmt::format("data file {} of '{}' is missing", loc.shard_id, ckpt.prefix()));
  }
  thread_local std::vector<uint8_t> buffer;
  const int64_t part = CurrentRemoteOptions().part_size;
  buffer.resize(static_cast<size_t>(std::min(part, loc.size)));
  *crc = 0;
  for (int64_t done = 0; done < loc.size;) {
    const int64_t n = std::min(part, loc.size - done);
    TFCKPT_RETURN_IF_ERROR(file->ReadAt(loc.offset + done, n, buffer.data()));
    *crc = crc32c::Extend(*crc, buffer.data(), static_cast<size_t>(n));
    done += n;
  }
  return Status::OK();
}

}  // namespace

Status VerifyCheckpoint(const Checkpoint& ckpt, const VerifyOptions& options,
                        VerifyReport* report) {
  std::mutex mu;
  auto problem = [&](std::string tensor, std::string file, std::string message) {
    std::lock_guard<std::mutex> lock(mu);
    report->problems.push_back({std::move(tensor), std::move(file), std::move(message)});
  };
  auto file_of = [&](const DataLocation& loc) {
    return loc.shard_id >= 0 && loc.shard_id < ckpt.num_shards()
               ? ckpt.data_path(loc.shard_id)
               : fmt::format("(shard {} of {})", loc.shard_id, ckpt.num_shards());
  };

  // Data files named by the header but missing: one problem each (their tensors are not listed
  // one by one).
  for (const std::string& missing : ckpt.missing_data_files()) {
    problem("", missing,
            fmt::format("data file is missing: the index names {} data file{}; copy it next to "
                        "the index",
                        ckpt.num_shards(), ckpt.num_shards() == 1 ? "" : "s"));
  }

  const bool v1 = ckpt.format() == Checkpoint::Format::kTensorSliceV1;
  // A Keras file's values have no checksums: they are read (every range checked against the file)
  // and its weights that cannot be read are named.
  const bool keras = ckpt.format() == Checkpoint::Format::kKeras;
  // Data files present but not named by the header.
  if (!v1 && !keras) {
    std::string dir = file::Dirname(ckpt.prefix()), base = file::Basename(ckpt.prefix());
    std::vector<std::string> names;
    static const std::regex kData(R"(\.data-(\d{5,})-of-(\d{5,}))");
    if (file::ListDirectory(dir, &names).ok()) {
      for (const std::string& n : names) {
        std::smatch m;
        std::string rest = n.size() > base.size() ? n.substr(base.size()) : "";
        if (n.rfind(base, 0) != 0 || !std::regex_match(rest, m, kData)) continue;
        if (std::stoll(m[2].str()) != ckpt.num_shards()) {
          problem("", file::Join(dir, n),
                  fmt::format("data file does not belong to this checkpoint: the index says {} "
                              "data files",
                              ckpt.num_shards()));
        }
      }
    }
  }

  // The file that describes a tensor: the index, or (V1) the file of its first piece.
  auto meta_file = [&](const TensorInfo& t) {
    if (!v1 || keras) return ckpt.index_path();
    return file_of(t.partitioned() ? t.slices[0].location : t.location);
  };
  // Structure of every entry, and the list of pieces to checksum.
  std::vector<Piece> pieces;
  for (const TensorInfo& t : ckpt.tensors()) {
    const std::string name = PrintableKey(t.name);
    if (!IsStorable(t.dtype)) {
      problem(name, meta_file(t),
              fmt::format("dtype {} cannot be stored in a checkpoint", DTypeName(t.dtype)));
      continue;
    }
    if (v1 && !v1::Readable(t.dtype)) {
      problem(name, meta_file(t),
              fmt::format("a V1 checkpoint cannot hold dtype {}", DTypeName(t.dtype)));
      continue;
    }
    if (ckpt.big_endian() && byte_order::SwapUnit(t.dtype) == 0 && t.dtype != DType::kString) {
      problem(name, meta_file(t),
              fmt::format("a {} tensor of a checkpoint written on a big-endian machine cannot be "
                          "read (TensorFlow cannot byte-swap it either)",
                          DTypeName(t.dtype)));
      continue;
    }
    if (keras) {
      if (Status s = ckpt.KerasUnreadable(t.name); !s.ok()) {
        problem(name, meta_file(t), s.message());
        continue;
      }
    }
    if (t.partitioned()) {
      Status s = CheckSliceLayout(t);
      if (!s.ok()) problem(name, meta_file(t), s.message());
      for (const SlicePart& p : t.slices) {
        pieces.push_back(
            {&t, fmt::format("{}[{}]", name, p.slice.ToString()), t.dtype, p.shape, p.location});
      }
    } else {
      pieces.push_back({&t, name, t.dtype, t.shape, t.location});
    }
  }
  std::vector<const Piece*> valid;
  for (const Piece& p : pieces) {
    if (v1) {  // (a V1 piece is a table value, whose size is known once it is decoded)
      valid.push_back(&p);
      continue;
    }
    const DataLocation& loc = p.location;
    int64_t fsize = ckpt.data_file_size(loc.shard_id);
    if (fsize < 0 && loc.shard_id >= 0 && loc.shard_id < ckpt.num_shards()) continue;  // missing
    if (fsize < 0) {
      problem(p.label, ckpt.index_path(),
              fmt::format("entry names data file {} but the checkpoint has {}", loc.shard_id,
                          ckpt.num_shards()));
      continue;
    }
    if (loc.offset < 0 || loc.size < 0 || loc.offset > fsize || loc.size > fsize - loc.offset) {
      problem(p.label, file_of(loc),
              fmt::format("entry lies outside the file: expected bytes {}..{}, found a file of {} "
                          "bytes",
                          loc.offset, loc.offset + loc.size, fsize));
      continue;
    }
    if (IsFixedSize(p.dtype)) {
      int64_t want = NumBytes(p.dtype, p.shape).value_or(-1);
      if (want != loc.size) {
        problem(p.label, file_of(loc),
                fmt::format("size mismatch: expected {} bytes for {} {}, found {} in the index",
                            want, DTypeName(p.dtype), ShapeToString(p.shape), loc.size));
        continue;
      }
    }
    valid.push_back(&p);
  }

  // Overlapping byte ranges within a data file.
  if (!v1) {
    std::vector<const Piece*> sorted = valid;
    std::sort(sorted.begin(), sorted.end(), [](const Piece* a, const Piece* b) {
      if (a->location.shard_id != b->location.shard_id) {
        return a->location.shard_id < b->location.shard_id;
      }
      return a->location.offset < b->location.offset;
    });
    const Piece* prev = nullptr;
    for (const Piece* p : sorted) {
      if (p->location.size == 0) continue;
      if (prev && prev->location.shard_id == p->location.shard_id &&
          prev->location.offset + prev->location.size > p->location.offset) {
        problem(p->label, file_of(p->location),
                fmt::format("data overlaps tensor '{}': bytes {}..{} vs {}..{}", prev->label,
                            p->location.offset, p->location.offset + p->location.size,
                            prev->location.offset, prev->location.offset + prev->location.size));
      }
      prev = p;
    }
  }

  // A .keras archive's CRC-32 of its weights member.
  if (keras && options.check_data) {
    if (Status s = ckpt.KerasCheckArchive(); !s.ok()) problem("", ckpt.index_path(), s.message());
  }

  // Checksums, in file order, across threads.
  if (options.check_data) {
    std::vector<const Piece*> order = valid;
    std::sort(order.begin(), order.end(), [](const Piece* a, const Piece* b) {
      return std::tie(a->location.shard_id, a->location.offset) <
             std::tie(b->location.shard_id, b->location.offset);
    });
    std::atomic<size_t> next{0};
    std::atomic<int64_t> bytes{0}, count{0};
    int64_t total = 0;
    for (const Piece* p : order) total += p->location.size;
    ProgressMeter meter(options.progress, total);
    auto work = [&] {
      for (size_t i = next++; i < order.size(); i = next++) {
        const Piece& p = *order[i];
        if (v1 || keras) {  // V1: decoded (the table block's CRC, the message, the count)
          Tensor value;
          Status s = v1 ? ckpt.ReadV1Piece(p.tensor->name, p.dtype, p.shape, p.location, &value)
                        : ckpt.ReadPiece(p.tensor->name, p.dtype, p.shape, p.location,
                                         ReadOptions(), &value);
          if (!s.ok()) {
            problem(p.label, file_of(p.location), s.message());
            continue;
          }
          bytes += p.location.size;
          count++;
          meter.Add(p.location.size);
          continue;
        }
        std::span<const uint8_t> data;
        std::shared_ptr<const void> hold;
        uint32_t crc = 0;
        // A remote fixed-size piece streams through a buffer of one part (bounded memory);
        // others are read whole (a mapping's view locally).
        const bool stream = ckpt.remote() && IsFixedSize(p.dtype);
        Status s =
            stream ? RemoteCrc(ckpt, p.location, &crc) : ckpt.RawBytes(p.location, &data, &hold);
        if (!s.ok()) {
          problem(p.label, file_of(p.location), s.message());
          continue;
        }
        if (IsFixedSize(p.dtype)) {
          if (!stream) crc = crc32c::Value(data);
        } else {
          std::vector<std::string_view> elements;
          int64_t n = NumElements(p.shape).value_or(0);
          s = p.dtype == DType::kString
                  ? string_tensor::ParseStrings(data, n, &elements, &crc, ckpt.big_endian())
                  : string_tensor::ParseVariants(data, n, &elements, &crc);
          if (!s.ok()) {
            problem(p.label, file_of(p.location), s.message());
            continue;
          }
        }
        if (crc32c::Mask(crc) != p.location.masked_crc32c) {
          problem(p.label, file_of(p.location),
                  fmt::format("checksum mismatch at offset {} ({} bytes): expected {:#010x} (from "
                              "the index), found {:#010x}",
                              p.location.offset, p.location.size, p.location.masked_crc32c,
                              crc32c::Mask(crc)));
        }
        ckpt.Release(p.location);
        bytes += p.location.size;
        count++;
        meter.Add(p.location.size);
      }
    };
    // (A remote checkpoint's threads mostly wait for the network: as many as requests may be in
    // flight.)
    int threads = options.threads > 0 ? options.threads
                  : ckpt.remote()
                      ? CurrentRemoteOptions().concurrency
                      : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads = std::min<int>(threads, static_cast<int>(std::max<size_t>(1, order.size())));
    std::vector<std::thread> pool;
    for (int i = 1; i < threads; i++) pool.emplace_back(work);
    work();
    for (std::thread& t : pool) t.join();
    meter.Finish();
    report->bytes_checked += bytes;
    report->tensors_checked += count;
  }
  std::sort(report->problems.begin(), report->problems.end(),
            [](const VerifyProblem& a, const VerifyProblem& b) {
              return std::tie(a.tensor, a.file, a.message) < std::tie(b.tensor, b.file, b.message);
            });
  return Status::OK();
}

}  // namespace tfckpt
