#include "exec/source_check.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <tuple>

#include <fmt/format.h>

namespace tfckpt {
namespace {

struct Piece {
  const PlanSource* source;
  const PlannedTensor* tensor;
  const PieceSource* piece;
};

// Each stored piece once, in file order, so that reads stay sequential.
using Key = std::tuple<int, int, int64_t, int64_t>;
std::vector<std::pair<Key, Piece>> PiecesToCheck(
    const Plan& plan, const std::function<bool(const PieceSource&)>& skip) {
  std::vector<std::pair<Key, Piece>> pieces;
  for (const PlannedTensor& t : plan.tensors) {
    if (t.action != PlannedTensor::Action::kCopy && t.action != PlannedTensor::Action::kKeep) {
      continue;
    }
    for (const PieceSource& p : t.pieces) {
      if (skip(p)) continue;
      const DataLocation& l = p.part ? p.part->location : p.tensor->location;
      Key key{p.source, l.shard_id, l.offset, l.size};
      pieces.push_back({key, {&plan.sources[p.source], &t, &p}});
    }
  }
  // Each stored piece once (the first in plan order), in key order.
  std::stable_sort(pieces.begin(), pieces.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  pieces.erase(std::unique(pieces.begin(), pieces.end(),
                           [](const auto& a, const auto& b) { return a.first == b.first; }),
               pieces.end());
  return pieces;
}

}  // namespace

int64_t SourcePieceBytes(const Plan& plan, const std::function<bool(const PieceSource&)>& skip) {
  int64_t bytes = 0;
  for (const auto& [key, piece] : PiecesToCheck(plan, skip)) bytes += std::get<3>(key);
  return bytes;
}

Status CheckSourcePieces(const Plan& plan, const std::function<bool(const PieceSource&)>& skip,
                         int threads, ProgressMeter* meter) {
  const std::vector<std::pair<Key, Piece>> pieces = PiecesToCheck(plan, skip);
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = static_cast<int>(std::min<size_t>(threads, std::max<size_t>(1, pieces.size())));

  std::atomic<size_t> next{0};
  std::mutex mu;
  std::vector<std::pair<size_t, std::string>> problems;  // damaged data
  std::vector<std::pair<size_t, Status>> refusals;       // data that cannot be read at all
  auto work = [&] {
    for (size_t i = next++; i < pieces.size(); i = next++) {
      const Piece& piece = pieces[i].second;
      const PieceSource& p = *piece.piece;
      const Checkpoint& ckpt = *piece.source->ckpt;
      const DataLocation& loc = p.part ? p.part->location : p.tensor->location;
      const Shape& shape = p.part ? p.part->shape : p.tensor->shape;
      ReadOptions ro;
      ro.verify_checksums = true;
      Tensor value;
      Status s = ckpt.ReadPiece(p.tensor->name, p.tensor->dtype, shape, loc, ro, &value);
      ckpt.Release(loc);
      if (meter) meter->Add(loc.size);
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (s.code() == Status::Code::kDataLoss || s.code() == Status::Code::kCorruption) {
          problems.emplace_back(i, s.message());
        } else {  // e.g. a missing data file, a dtype a big-endian checkpoint cannot give
          refusals.emplace_back(i, s);
        }
      }
    }
  };
  std::vector<std::thread> workers;
  for (int k = 1; k < threads; k++) workers.emplace_back(work);
  work();
  for (std::thread& w : workers) w.join();
  if (!refusals.empty()) {
    std::sort(refusals.begin(), refusals.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return refusals[0].second.WithMessage(refusals[0].second.message() + "; nothing was written");
  }
  if (problems.empty()) return Status::OK();
  std::sort(problems.begin(), problems.end());
  std::vector<std::string> lines;
  for (auto& [i, message] : problems) lines.push_back(std::move(message));
  return Status::DataLoss(fmt::format(
      "{} piece{} of data to be taken from the inputs {} damaged; nothing was written (check the "
      "inputs with `verify`, and take the tensors from an undamaged copy):\n  {}",
      lines.size(), lines.size() == 1 ? "" : "s", lines.size() == 1 ? "is" : "are",
      fmt::join(lines, "\n  ")));
}

}  // namespace tfckpt
