// ExecutePlan: carries out a checked plan through BundleWriter, committing only once the CRC of
// every byte it takes from a source has been checked (exec/source_check.h), moving bytes the
// cheapest safe way: a source data file whose every piece is used passes whole (reflink,
// copy_file_range, hard link or move); single tensors are copied by range in the kernel; only
// assembled, re-sliced or rewritten tensors pass through user space.

#include <algorithm>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <tuple>

#include <fmt/format.h>

#include "bundle/entry_codec.h"
#include "bundle/slices.h"
#include "core/progress_meter.h"
#include "exec/compute.h"
#include "exec/source_check.h"
#include "exec/thread_pool.h"
#include "format/keras_writer.h"
#include "io/byte_source.h"
#include "io/commit.h"
#include "io/file_util.h"
#include "io/remote_client.h"
#include "io/remote_source.h"
#include "io/remote_upload.h"
#include "plan/plan_util.h"
#include "tfckpt/plan.h"
#include "tfckpt/remote.h"

namespace tfckpt {
namespace {

// How far (in bytes of pieces) the fetches of remote pieces may run ahead of the writer.
constexpr int64_t kRemoteAheadBytes = int64_t{256} << 20;

using FileKey = std::pair<int, int>;                      // (source, shard)
using PieceKey = std::tuple<int, int, int64_t, int64_t>;  // (source, shard, offset, size)

const DataLocation& LocationOf(const PieceSource& p) {
  return p.part ? p.part->location : p.tensor->location;
}

PieceKey KeyOf(const PieceSource& p) {
  const DataLocation& l = LocationOf(p);
  return {p.source, l.shard_id, l.offset, l.size};
}

bool PassThrough(const PlannedTensor& t) {
  return t.action == PlannedTensor::Action::kCopy || t.action == PlannedTensor::Action::kKeep;
}

// The distinct keys of `keys`, sorted.
void SortUnique(std::vector<PieceKey>* keys) {
  std::sort(keys->begin(), keys->end());
  keys->erase(std::unique(keys->begin(), keys->end()), keys->end());
}

// Data files whose every stored piece the plan passes through unchanged. (Sorted vectors, not
// sets: a checkpoint may hold a million tensors.)
std::set<FileKey> AdoptableFiles(const Plan& plan) {
  std::vector<PieceKey> all, used;
  for (int s = 0; s < static_cast<int>(plan.sources.size()); s++) {
    for (const TensorInfo& t : plan.sources[s].ckpt->tensors()) {
      if (!t.partitioned()) {
        all.emplace_back(s, t.location.shard_id, t.location.offset, t.location.size);
      }
      for (const SlicePart& p : t.slices) {
        all.emplace_back(s, p.location.shard_id, p.location.offset, p.location.size);
      }
    }
  }
  for (const PlannedTensor& t : plan.tensors) {
    if (!PassThrough(t)) continue;
    for (const PieceSource& p : t.pieces) used.push_back(KeyOf(p));
  }
  SortUnique(&all);
  SortUnique(&used);
  auto file_of = [](const PieceKey& k) { return FileKey(std::get<0>(k), std::get<1>(k)); };
  auto by_file = [&](const PieceKey& a, const PieceKey& b) { return file_of(a) < file_of(b); };
  std::set<FileKey> out;
  for (auto begin = all.begin(); begin != all.end();) {
    auto end = std::upper_bound(begin, all.end(), *begin, by_file);
    auto [used_begin, used_end] = std::equal_range(used.begin(), used.end(), *begin, by_file);
    const FileKey file = file_of(*begin);
    // (A big-endian or V1 file is rewritten, never taken whole: outputs are little-endian V2.)
    const Checkpoint& ckpt = *plan.sources[file.first].ckpt;
    // (A remote file is taken whole only where the store can copy it itself, into a remote
    // output of the same store.)
    if (std::equal(begin, end, used_begin, used_end) && ckpt.values_as_stored() &&
        (!ckpt.remote() || SameObjectStore(ckpt.prefix(), plan.output_prefix())) &&
        ckpt.data_file_size(file.second) > 0) {
      out.insert(file);
    }
    begin = end;
  }
  return out;
}

// A pass-through piece and the tensor it goes into.
struct Item {
  const PlannedTensor* tensor;
  const PieceSource* piece;
};

// Which of `items` (in the order written) the object store copies into the data files at
// `output`: runs of pieces stored one after the other in one remote data file of the same store,
// at least twice S3's smallest part in all (so that a range stays long enough when its first
// bytes are fetched to complete the local bytes before it; see ShardOutput).
std::vector<bool> StoreCopiedItems(const Plan& plan, const std::string& output,
                                   const std::vector<Item>& items,
                                   const std::function<bool(size_t)>& adopted) {
  std::vector<bool> out(items.size(), false);
  if (!IsRemotePath(output) || !StoreCopiesRanges(output)) return out;
  auto eligible = [&](size_t i) {
    const PieceSource& p = *items[i].piece;
    const Checkpoint& c = *plan.sources[p.source].ckpt;
    return !adopted(i) && c.remote() && c.values_as_stored() &&
           SameObjectStore(c.prefix(), output) && c.data_file(LocationOf(p).shard_id) != nullptr;
  };
  auto follows = [&](size_t i) {  // piece i starts where piece i - 1 ends
    const PieceSource& a = *items[i - 1].piece;
    const PieceSource& b = *items[i].piece;
    const DataLocation& la = LocationOf(a);
    const DataLocation& lb = LocationOf(b);
    return a.source == b.source && la.shard_id == lb.shard_id && la.offset + la.size == lb.offset;
  };
  for (size_t begin = 0; begin < items.size();) {
    if (!eligible(begin)) {
      begin++;
      continue;
    }
    size_t end = begin + 1;
    int64_t bytes = LocationOf(*items[begin].piece).size;
    for (; end < items.size() && eligible(end) && follows(end); end++) {
      bytes += LocationOf(*items[end].piece).size;
    }
    if (bytes >= 2 * kMinStorePart) std::fill(out.begin() + begin, out.begin() + end, true);
    begin = end;
  }
  return out;
}

Status WriteComputed(const Plan& plan, const PlannedTensor& t, BundleWriter* w) {
  if (t.action == PlannedTensor::Action::kReplace) {
    std::string_view value = *t.replacement;
    return w->AddTensor(t.name, Tensor::Elements(DType::kString, t.shape, {value}, nullptr));
  }
  const PieceSource& p = t.pieces[0];
  Tensor value;
  TFCKPT_RETURN_IF_ERROR(plan.sources[p.source].ckpt->Read(*p.tensor, ReadOptions(), &value));
  if (t.action == PlannedTensor::Action::kAssemble) return w->AddTensor(t.name, value);
  // kReslice: cut each output slice out of the full value.
  if (t.dtype == DType::kString) {  // (gathered as arrays of views)
    for (const TensorSlice& slice : t.out_slices) {
      const Shape shape = slice.SliceShape(t.shape);
      std::vector<std::string_view> part(static_cast<size_t>(NumElements(shape).value_or(0)));
      CopySliceFromFull(reinterpret_cast<const uint8_t*>(value.elements().data()), t.shape, slice,
                        sizeof(std::string_view), reinterpret_cast<uint8_t*>(part.data()));
      TFCKPT_RETURN_IF_ERROR(
          w->AddValue({t.name, t.dtype, t.shape, &slice},
                      Tensor::Elements(t.dtype, shape, std::move(part), nullptr)));
    }
    return Status::OK();
  }
  if (!IsFixedSize(t.dtype)) {
    return Status::Unsupported(
        fmt::format("'{}' has dtype {}; only fixed-size tensors and strings can be re-sliced",
                    t.name, DTypeName(t.dtype)));
  }
  const int64_t esize = DTypeSize(t.dtype);
  std::vector<uint8_t> buf;
  for (const TensorSlice& slice : t.out_slices) {
    buf.resize(static_cast<size_t>(NumElements(slice.SliceShape(t.shape)).value_or(0) * esize));
    CopySliceFromFull(value.bytes().data(), t.shape, slice, esize, buf.data());
    TFCKPT_RETURN_IF_ERROR(w->Add({t.name, t.dtype, t.shape, &slice}, PieceBytes::InMemory(buf)));
  }
  return Status::OK();
}

// Makes the values written at `prefix` (each data file after room for its head) the Keras
// output `out` of `plan`, and places its files in `commit`: one file, or the shards and their map.
Status FinishKerasOutput(const Plan& plan, const keras::Output& out, const std::string& prefix,
                         const ExecuteOptions& options, const BundleWriter& writer,
                         FileCommit* commit, std::vector<std::string>* finals) {
  std::unique_ptr<Checkpoint> values;
  TFCKPT_RETURN_IF_ERROR(Checkpoint::Open(prefix, &values));
  const int files = values->num_shards();
  std::vector<std::map<std::string, int64_t>> offsets(static_cast<size_t>(files));
  std::map<std::string, int> shard_of;
  for (const TensorInfo& t : values->tensors()) {
    offsets[static_cast<size_t>(t.location.shard_id)][t.name] = t.location.offset;
    shard_of[t.name] = t.location.shard_id;
  }
  std::vector<std::string> data;
  for (int i = 0; i < files; i++) data.push_back(values->data_path(i));
  values.reset();
  if (out.kind != keras::OutputKind::kSharded) {
    if (files != 1) {
      return Status::IOError(
          fmt::format("the values of '{}' were not laid out in one file", plan.output));
    }
    // (The values' CRC-32 as they were written spares an archive reading them back.)
    uint32_t crc = 0;
    const std::optional<uint32_t> values_crc32 =
        writer.DataFileCrc32(0, &crc) ? std::optional<uint32_t>(crc) : std::nullopt;
    TFCKPT_RETURN_IF_ERROR(
        keras::FinishOutput(out, data[0], offsets[0], options.sync, values_crc32));
    std::string temp;
    TFCKPT_RETURN_IF_ERROR(commit->Add(plan.output, &temp));
    finals->push_back(plan.output);
    return file::Rename(data[0], temp);
  }
  std::vector<keras::Output> shards;
  std::string map;
  TFCKPT_RETURN_IF_ERROR(keras::SplitShards(out, plan.output, shard_of, files, &shards, &map));
  const std::string dir = file::Dirname(plan.output);
  for (int i = 0; i < files; i++) {
    const size_t k = static_cast<size_t>(i);
    TFCKPT_RETURN_IF_ERROR(keras::FinishOutput(shards[k], data[k], offsets[k], options.sync));
    std::string temp;
    const std::string shard = file::Join(dir, keras::ShardName(plan.output, i));
    TFCKPT_RETURN_IF_ERROR(commit->Add(shard, &temp));
    TFCKPT_RETURN_IF_ERROR(file::Rename(data[k], temp));
    finals->push_back(shard);
  }
  // Replacing sharded weights: the old map goes before any new shard appears (no reader finds
  // it naming a mix of old and new shards), and so do old shards beyond the new ones.
  commit->ReplaceFirst(plan.output);
  if (!IsRemotePath(plan.output)) {
    std::vector<std::string> names;
    if (file::ListDirectory(dir, &names).ok()) {
      for (const std::string& n : names) {
        const int index = keras::ShardIndex(plan.output, n);
        if (index >= files) commit->ReplaceFirst(file::Join(dir, n));
      }
    }
  } else if (options.overwrite) {
    // In a bucket, the old shards beyond the new ones, found by their names in turn (Keras
    // numbers shards from 0 without gaps); they go once the new map is up.
    for (int i = files; i < 100000; i++) {
      const std::string old = file::Join(dir, keras::ShardName(plan.output, i));
      bool exists = false;
      TFCKPT_RETURN_IF_ERROR(RemoteObjectExists(old, &exists));
      if (!exists) break;
      commit->ReplaceFirst(old);
    }
  }
  // The map last: Keras finds the shards through it.
  std::string temp;
  TFCKPT_RETURN_IF_ERROR(commit->Add(plan.output, &temp));
  finals->push_back(plan.output);
  return file::WriteNewFile(temp, map, options.sync);
}

}  // namespace

Status ExecutePlan(const Plan& plan, const ExecuteOptions& options, ExecuteReport* report) {
  // Nothing is written from an incomplete checkpoint (its plan can still be shown).
  for (const PlanSource& src : plan.sources) {
    if (src.ckpt && !src.ckpt->missing_data_files().empty()) {
      return Status::NotFound(src.ckpt->DescribeIncomplete() + "; nothing was written");
    }
  }
  // Every byte taken from a source is checked before anything is committed, except those that a
  // hard link or a move takes whole without reading them (unless asked). Copies are checked while
  // they are written (the kernel copies on this thread, the check reads on the others): the
  // output stays under temporary names until the check has passed. Links and moves are checked
  // first, since a move cannot wait for the check to fail.
  const LinkMode mode = plan.move_sources ? LinkMode::kMove : options.link;
  // A Keras output is one file: its values are written as one data file (nothing adopted).
  const bool keras_output = plan.keras_template >= 0;
  const std::set<FileKey> adoptable = keras_output ? std::set<FileKey>() : AdoptableFiles(plan);
  // Pass-through pieces, in source order so reads stay sequential.
  std::vector<Item> items;
  for (const PlannedTensor& t : plan.tensors) {
    if (!PassThrough(t)) continue;
    for (const PieceSource& p : t.pieces) items.push_back({&t, &p});
  }
  std::stable_sort(items.begin(), items.end(),
                   [](const Item& a, const Item& b) { return KeyOf(*a.piece) < KeyOf(*b.piece); });
  // (Sorted by key: a piece that several tensors share comes in a run; the first places it.)
  auto first_of_key = [&](size_t i) {
    return i == 0 || KeyOf(*items[i - 1].piece) != KeyOf(*items[i].piece);
  };
  auto takes_adopted = [&](size_t i) {
    const PieceSource& p = *items[i].piece;
    return first_of_key(i) && adoptable.count({p.source, LocationOf(p).shard_id}) > 0;
  };
  // (A SavedModel's variables are written locally first: nothing goes to it by a store copy.)
  const std::vector<bool> in_store = StoreCopiedItems(
      plan, plan.saved_model_from >= 0 || keras_output ? std::string() : plan.output, items,
      takes_adopted);
  std::vector<PieceKey> store_keys;
  for (size_t i = 0; i < items.size(); i++) {
    if (in_store[i]) store_keys.push_back(KeyOf(*items[i].piece));
  }
  SortUnique(&store_keys);
  const bool unread = mode == LinkMode::kHardlink || mode == LinkMode::kMove;
  // Pieces of a big-endian, V1 or remote source are read, and so checked, where they are written
  // below (a remote piece is fetched once).
  // What the store copies (a whole file, or a range) is, like a hard link, read only when asked.
  auto skip = [&](const PieceSource& p) {
    const Checkpoint& c = *plan.sources[p.source].ckpt;
    const bool whole = adoptable.count({p.source, LocationOf(p).shard_id}) > 0;
    if (c.remote()) {
      const bool copied =
          whole || std::binary_search(store_keys.begin(), store_keys.end(), KeyOf(p));
      return !(copied && options.verify_linked);
    }
    return !c.values_as_stored() || (unread && !options.verify_linked && whole);
  };
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  // Progress: the work is every byte written or taken into the output plus every source byte
  // read to be checked; it is reported as the part of the output's bytes done.
  int64_t output_bytes = 0, work = 0;
  for (const PlannedTensor& t : plan.tensors) output_bytes += t.bytes();
  ProgressFn scaled;
  if (options.progress) {
    for (const FileKey& f : adoptable) work += plan.sources[f.first].ckpt->data_file_size(f.second);
    for (const PlannedTensor& t : plan.tensors) {
      if (!PassThrough(t)) {
        work += t.bytes();
        continue;
      }
      for (const PieceSource& p : t.pieces) {
        if (!adoptable.count({p.source, LocationOf(p).shard_id})) work += LocationOf(p).size;
      }
    }
    work += SourcePieceBytes(plan, skip);
    scaled = [&options, output_bytes](int64_t done, int64_t total) {
      options.progress(total > 0 ? static_cast<int64_t>(static_cast<double>(done) / total *
                                                        static_cast<double>(output_bytes))
                                 : 0,
                       output_bytes);
    };
  }
  ProgressMeter meter(std::move(scaled), work);

  if (unread) TFCKPT_RETURN_IF_ERROR(CheckSourcePieces(plan, skip, options.threads, &meter));
  // (A future's destructor waits for its task, so every return below waits for the check.)
  std::future<Status> check;
  if (!unread) {
    const int threads = options.threads > 0 ? options.threads : std::max(1, cores - 1);
    check = std::async(std::launch::async, [&plan, &skip, threads, &meter] {
      return CheckSourcePieces(plan, skip, threads, &meter);
    });
  }
  auto checked = [&] { return check.valid() ? check.get() : Status::OK(); };

  // A SavedModel output is built in a temporary directory and renamed into place.
  FileCommit saved_model(options.sync);
  std::string prefix = plan.output;
  // (A remote "directory" exists when its objects do.)
  const std::string remote_variables = file::Join(plan.output, "variables/variables.index");
  auto output_exists = [&] {
    return IsRemotePath(plan.output) ? file::Exists(file::Join(plan.output, "saved_model.pb")) ||
                                           file::Exists(remote_variables)
                                     : file::Exists(plan.output);
  };
  if (plan.saved_model_from >= 0) {
    if (output_exists() && !options.overwrite) {
      return Status::AlreadyExists(
          fmt::format("'{}' already exists; choose another output directory or allow replacing it "
                      "(`overwrite`)",
                      plan.output));
    }
    std::string temp_dir;
    TFCKPT_RETURN_IF_ERROR(saved_model.Add(plan.output, &temp_dir));
    const std::string& from = plan.sources[plan.saved_model_from].saved_model_dir;
    TFCKPT_RETURN_IF_ERROR(file::CopyTree(
        from, temp_dir, [](const std::string& rel) { return rel == "variables"; }, options.sync));
    TFCKPT_RETURN_IF_ERROR(file::CreateDirectories(file::Join(temp_dir, "variables")));
    prefix = file::Join(temp_dir, "variables/variables");
  }
  // (On every return before the commit, `saved_model` removes its temporary directory.)

  // A Keras output: the values go to a data file in a temporary directory, after room for the
  // file's head; keras::FinishOutput makes it the Keras file, which is then renamed into place.
  keras::Output keras_out;
  FileCommit keras_commit(options.sync);
  if (keras_output) {
    TFCKPT_RETURN_IF_ERROR(KerasOutputLayout(plan, &keras_out));
    if (keras_out.kind == keras::OutputKind::kSharded && plan.max_shard_bytes <= 0) {
      return Status::InvalidArgument(
          fmt::format("'{}' names sharded Keras weights, and the plan gives no shard size "
                      "(`max_shard_size`)",
                      plan.output));
    }
    std::string existing = plan.output;
    if (keras_out.kind == keras::OutputKind::kSharded && !file::Exists(existing)) {
      existing = file::Join(file::Dirname(plan.output), keras::ShardName(plan.output, 0));
    }
    if (file::Exists(existing) && !options.overwrite) {
      return Status::AlreadyExists(fmt::format(
          "'{}' already exists; choose another output or allow replacing it (`overwrite`)",
          existing));
    }
    std::string temp_dir;
    TFCKPT_RETURN_IF_ERROR(keras_commit.NewTemporary(plan.output, &temp_dir));
    TFCKPT_RETURN_IF_ERROR(file::CreateDirectories(temp_dir));
    prefix = file::Join(temp_dir, "values");
  }

  WriterOptions wo;
  wo.overwrite = options.overwrite;
  wo.sync = options.sync && !keras_output;  // (a Keras output is synced once it is whole)
  if (keras_output) {
    wo.data_file_head = keras_out.head;
    wo.data_file_crc32 = keras_out.kind == keras::OutputKind::kArchive;
    if (keras_out.kind == keras::OutputKind::kSharded) wo.max_shard_bytes = plan.max_shard_bytes;
  }
  std::unique_ptr<BundleWriter> w;
  Status s = BundleWriter::Create(prefix, wo, &w);
  if (!s.ok()) return s;

  // Whole files first.
  std::map<FileKey, int> adopted;
  for (const FileKey& f : adoptable) {
    int id = -1;
    s = w->AdoptDataFile(*plan.sources[f.first].ckpt->data_file(f.second), mode, &id);
    if (!s.ok()) return s;
    adopted[f] = id;
    meter.Add(plan.sources[f.first].ckpt->data_file_size(f.second));
  }

  // Pieces of remote sources are fetched (and checked) ahead, in parallel, while the writer adds
  // them in order: at most `concurrency` pieces and kRemoteAheadBytes ahead of it.
  struct Fetched {
    Status status;
    Tensor value;
    std::future<void> done;
  };
  std::vector<std::unique_ptr<Fetched>> fetched(items.size());
  auto remote_item = [&](size_t i) {
    return plan.sources[items[i].piece->source].ckpt->remote() && !takes_adopted(i) && !in_store[i];
  };
  const int ahead_pieces = CurrentRemoteOptions().concurrency;
  std::unique_ptr<ThreadPool> fetch_pool;  // (declared after `fetched`: destroyed, and so
                                           // drained, first)
  size_t next_fetch = 0;
  int in_flight = 0;
  int64_t bytes_ahead = 0;
  auto fetch_ahead = [&] {
    while (next_fetch < items.size() && in_flight < ahead_pieces &&
           bytes_ahead < kRemoteAheadBytes) {
      const size_t i = next_fetch++;
      if (!remote_item(i)) continue;
      if (!fetch_pool) fetch_pool = std::make_unique<ThreadPool>(ahead_pieces);
      const PieceSource& p = *items[i].piece;
      const Checkpoint& ckpt = *plan.sources[p.source].ckpt;
      auto f = std::make_unique<Fetched>();
      Fetched* out = f.get();
      f->done = fetch_pool->Submit([&ckpt, &p, out] {
        try {
          out->status = ckpt.ReadPiece(p.tensor->name, p.tensor->dtype,
                                       p.part ? p.part->shape : p.tensor->shape, LocationOf(p),
                                       ReadOptions(), &out->value);
        } catch (const std::exception& e) {
          out->status = Status::IOError(
              fmt::format("reading '{}' failed: {}", PrintableKey(p.tensor->name), e.what()));
        }
      });
      fetched[i] = std::move(f);
      in_flight++;
      bytes_ahead += LocationOf(p).size;
    }
  };
  for (size_t i = 0; i < items.size(); i++) {
    const Item& it = items[i];
    const PlannedTensor& t = *it.tensor;
    const PieceSource& p = *it.piece;
    const Checkpoint& ckpt = *plan.sources[p.source].ckpt;
    DataLocation loc = LocationOf(p);
    const PieceTarget target{t.name, t.dtype, t.shape, p.part ? &p.part->slice : nullptr};
    auto a = adopted.find({p.source, loc.shard_id});
    const bool adopt = takes_adopted(i);
    if (!adopt && ckpt.remote()) fetch_ahead();
    if (!adopt && in_store[i]) {  // copied by the store at the commit
      s = w->Add(target, PieceBytes::Copied(ckpt.data_file(loc.shard_id), loc));
    } else if (adopt) {
      loc.shard_id = a->second;
      s = w->Add(target, PieceBytes::Adopted(loc));  // (its bytes came with the file)
    } else if (ckpt.remote() && fetched[i]) {        // fetched and checked ahead
      Fetched& f = *fetched[i];
      f.done.wait();
      s = f.status;
      if (s.ok()) s = w->AddValue(target, f.value);
      fetched[i].reset();
      in_flight--;
      bytes_ahead -= loc.size;
      fetch_ahead();
    } else if (!ckpt.values_as_stored() || ckpt.remote()) {  // read (checked, swapped, decoded)
      Tensor value;
      s = ckpt.ReadPiece(p.tensor->name, t.dtype, p.part ? p.part->shape : p.tensor->shape, loc,
                         ReadOptions(), &value);
      if (s.ok()) s = w->AddValue(target, value);
    } else {
      const std::shared_ptr<const ByteSource> file = ckpt.data_file(loc.shard_id);
      s = file ? w->Add(target, PieceBytes::Copied(file, loc))
               : Status::Corruption(fmt::format("tensor '{}' in '{}' lies in data file {}, which "
                                                "the checkpoint does not have (it has {})",
                                                t.name, ckpt.prefix(), loc.shard_id,
                                                ckpt.num_shards()));
    }
    if (!s.ok()) return s;
    if (a == adopted.end()) meter.Add(loc.size);
  }
  // Computed tensors: element-wise across a pool of threads.
  std::unique_ptr<ThreadPool> pool;
  for (const PlannedTensor& t : plan.tensors) {
    if (t.action == PlannedTensor::Action::kCompute && !pool) {
      pool = std::make_unique<ThreadPool>(options.threads > 0 ? options.threads : cores);
    }
  }
  std::vector<const PlannedTensor*> computed;
  for (const PlannedTensor& t : plan.tensors) {
    if (PassThrough(t)) continue;
    if (t.action == PlannedTensor::Action::kCompute) {
      computed.push_back(&t);
      continue;
    }
    s = WriteComputed(plan, t, w.get());
    if (!s.ok()) return s;
    meter.Add(t.bytes());
  }
  s = WriteComputedTensors(plan, computed, pool.get(), options.chunk_elements, w.get(),
                           [&meter](int64_t bytes) { meter.Add(bytes); });
  if (!s.ok()) return s;
  s = checked();
  if (!s.ok()) return s;  // (the writer removes what it wrote)
  s = w->Finish();
  if (!s.ok()) return s;
  if (keras_output) {
    std::vector<std::string> finals;
    TFCKPT_RETURN_IF_ERROR(
        FinishKerasOutput(plan, keras_out, prefix, options, *w, &keras_commit, &finals));
    TFCKPT_RETURN_IF_ERROR(keras_commit.Lock());
    for (const std::string& f : finals) {
      if (file::Exists(f) && !options.overwrite) {
        return Status::AlreadyExists(
            fmt::format("'{}' {}; choose another output or allow replacing it (`overwrite`)", f,
                        f == plan.output ? "appeared while the output was written" : "exists"));
      }
    }
    TFCKPT_RETURN_IF_ERROR(keras_commit.Commit());
    file::RemoveTree(file::Dirname(prefix));
  }
  meter.Finish();
  report->stats = w->stats();
  report->tensors = static_cast<int64_t>(plan.tensors.size());
  for (const PlannedTensor& t : plan.tensors) report->bytes += t.bytes();

  if (plan.saved_model_from >= 0) {
    TFCKPT_RETURN_IF_ERROR(saved_model.Lock());
    if (output_exists() && !options.overwrite) {
      return Status::AlreadyExists(fmt::format(
          "'{}' appeared while the output was written; choose another output directory or allow "
          "replacing it (`overwrite`)",
          plan.output));
    }
    // Replacing a remote SavedModel: its old index goes first, so that no reader finds it over
    // new data.
    if (IsRemotePath(plan.output)) saved_model.ReplaceFirst(remote_variables);
    TFCKPT_RETURN_IF_ERROR(saved_model.Commit());
  }
  if (plan.move_sources) {
    // The sources' data went into the output: remove what is left of them (their index and any
    // data file that held nothing), as TensorFlow's merge does.
    for (const PlanSource& src : plan.sources) {
      file::RemoveQuietly(src.ckpt->index_path());
      for (int i = 0; i < src.ckpt->num_shards(); i++) file::RemoveQuietly(src.ckpt->data_path(i));
    }
  }
  return Status::OK();
}

}  // namespace tfckpt
