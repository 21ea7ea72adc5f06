#include "bundle/v1_reader.h"

#include <cstring>
#include <limits>
#include <memory>

#include <fmt/format.h>

#include "bundle/entry_codec.h"
#include "tfckpt.pb.h"

namespace tfckpt::v1 {
namespace {

constexpr int kCheckpointVersion = 1;  // TF_CHECKPOINT_VERSION, the consumer tfckpt reads as

// Which repeated field of a TensorProto holds a dtype's values.
enum class Field {
  kNone,
  kFloat,
  kDouble,
  kInt,
  kInt64,
  kBool,
  kString,
  kHalf,
  kSComplex,
  kDComplex,
  kUInt32,
  kUInt64
};

Field FieldOf(DType dtype) {
  switch (dtype) {
    case DType::kFloat:
      return Field::kFloat;
    case DType::kDouble:
      return Field::kDouble;
    case DType::kInt32:
    case DType::kInt16:
    case DType::kInt8:
    case DType::kUInt8:
    case DType::kUInt16:
    case DType::kQInt8:
    case DType::kQUInt8:
    case DType::kQInt16:
    case DType::kQUInt16:
    case DType::kQInt32:
      return Field::kInt;
    case DType::kInt64:
      return Field::kInt64;
    case DType::kBool:
      return Field::kBool;
    case DType::kString:
      return Field::kString;
    case DType::kHalf:
    case DType::kBFloat16:
      return Field::kHalf;
    case DType::kComplex64:
      return Field::kSComplex;
    case DType::kComplex128:
      return Field::kDComplex;
    case DType::kUInt32:
      return Field::kUInt32;
    case DType::kUInt64:
      return Field::kUInt64;
    default:
      return Field::kNone;
  }
}

// `count` values of a repeated field whose C++ layout is the tensor's, as a view.
template <typename T>
Tensor ViewOf(DType dtype, const Shape& shape, const T* data, int64_t count,
              std::shared_ptr<const void> keepalive) {
  const auto* p = reinterpret_cast<const uint8_t*>(data);
  return Tensor::View(dtype, shape,
                      std::span<const uint8_t>(p, static_cast<size_t>(count) * sizeof(T)),
                      std::move(keepalive));
}

// Narrows int_val / half_val values to elements of `size` bytes (their low bytes, as
// TensorFlow's reader casts them).
template <typename Field32>
std::vector<uint8_t> Narrow(const Field32& values, int size) {
  std::vector<uint8_t> out(static_cast<size_t>(values.size()) * static_cast<size_t>(size));
  for (int i = 0; i < values.size(); i++) {
    const uint32_t v = static_cast<uint32_t>(values.Get(i));
    for (int b = 0; b < size; b++) out[static_cast<size_t>(i * size + b)] = (v >> (8 * b)) & 0xff;
  }
  return out;
}

}  // namespace

bool Readable(DType dtype) { return FieldOf(dtype) != Field::kNone; }

Status ParseMeta(std::string_view value, const std::string& file, std::vector<TensorMeta>* out) {
  pb::SavedTensorSlices sts;
  if (!sts.ParseFromArray(value.data(), static_cast<int>(value.size())) || !sts.has_meta()) {
    return Status::Corruption(fmt::format(
        "'{}' is not a V1 checkpoint: the value of its first key is no SavedTensorSlices "
        "metadata; the file is damaged or is another kind of table",
        file));
  }
  const pb::VersionDef& v = sts.meta().versions();
  if (v.min_consumer() > kCheckpointVersion) {
    return Status::Unsupported(fmt::format(
        "'{}' needs a reader of V1 checkpoint version {} or newer (producer {}); tfckpt reads "
        "version {}",
        file, v.min_consumer(), v.producer(), kCheckpointVersion));
  }
  for (int bad : v.bad_consumers()) {
    if (bad == kCheckpointVersion) {
      return Status::Unsupported(
          fmt::format("'{}' disallows readers of version {}", file, kCheckpointVersion));
    }
  }
  out->clear();
  for (const pb::SavedSliceMeta& m : sts.meta().tensor()) {
    TensorMeta t;
    t.name = m.name();
    t.dtype = static_cast<DType>(m.type());
    Status s = ShapeFromProto(m.shape(), &t.shape);
    if (!s.ok()) {
      return Status::Corruption(
          fmt::format("tensor '{}' in '{}': {}", PrintableKey(t.name), file, s.message()));
    }
    if (m.shape().unknown_rank()) {
      return Status::Corruption(fmt::format("tensor '{}' in '{}' has a shape of unknown rank",
                                            PrintableKey(t.name), file));
    }
    for (const pb::TensorSliceProto& sp : m.slice()) {
      TensorSlice slice = SliceFromProto(sp);
      if (slice.extents.size() != t.shape.size()) {
        return Status::Corruption(
            fmt::format("tensor '{}' in '{}' lists a slice of rank {} for a tensor of rank {}",
                        PrintableKey(t.name), file, slice.extents.size(), t.shape.size()));
      }
      for (size_t d = 0; d < t.shape.size(); d++) {
        const SliceExtent& e = slice.extents[d];
        if (!e.full() && (e.start < 0 || e.length < 0 || e.start > t.shape[d] ||
                          e.length > t.shape[d] - e.start)) {
          return Status::Corruption(
              fmt::format("tensor '{}' of shape {} in '{}' lists slice [{}], which lies outside it",
                          PrintableKey(t.name), ShapeToString(t.shape), file, slice.ToString()));
        }
      }
      t.slices.push_back(std::move(slice));
    }
    out->push_back(std::move(t));
  }
  return Status::OK();
}

Status DecodeSlice(std::string_view value, std::string_view name, const TensorSlice& slice,
                   DType dtype, const Shape& shape, Tensor* tensor) {
  auto sts = std::make_shared<pb::SavedTensorSlices>();
  if (!sts->ParseFromArray(value.data(), static_cast<int>(value.size())) || !sts->has_data()) {
    return Status::DataLoss("its stored value is not a parseable SavedSlice message");
  }
  const pb::SavedSlice& saved = sts->data();
  if (saved.name() != name || SliceFromProto(saved.slice()) != slice) {
    return Status::DataLoss(fmt::format("the value stored under its key is that of '{}' [{}]",
                                        PrintableKey(saved.name()),
                                        SliceFromProto(saved.slice()).ToString()));
  }
  const pb::TensorProto& d = saved.data();
  const int64_t n = NumElements(shape).value_or(-1);
  if (n < 0 || n > std::numeric_limits<int>::max()) {  // more than a repeated field holds
    return Status::DataLoss(
        fmt::format("its shape {} has more elements than a V1 checkpoint "
                    "can store in one slice",
                    ShapeToString(shape)));
  }
  const Field field = FieldOf(dtype);
  if (field == Field::kNone) {
    return Status::Unsupported(
        fmt::format("a V1 checkpoint cannot hold dtype {}", DTypeName(dtype)));
  }
  int64_t have = 0;
  switch (field) {
    case Field::kFloat:
      have = d.float_val_size();
      break;
    case Field::kDouble:
      have = d.double_val_size();
      break;
    case Field::kInt:
      have = d.int_val_size();
      break;
    case Field::kInt64:
      have = d.int64_val_size();
      break;
    case Field::kBool:
      have = d.bool_val_size();
      break;
    case Field::kString:
      have = d.string_val_size();
      break;
    case Field::kHalf:
      have = d.half_val_size();
      break;
    case Field::kSComplex:
      have = d.scomplex_val_size();
      break;
    case Field::kDComplex:
      have = d.dcomplex_val_size();
      break;
    case Field::kUInt32:
      have = d.uint32_val_size();
      break;
    case Field::kUInt64:
      have = d.uint64_val_size();
      break;
    case Field::kNone:
      break;
  }
  const int64_t want = (field == Field::kSComplex || field == Field::kDComplex) ? 2 * n : n;
  if (have != want) {
    return Status::DataLoss(fmt::format("it holds {} values of {} where its shape {} needs {}",
                                        have, DTypeName(dtype), ShapeToString(shape), want));
  }
  std::shared_ptr<const void> keep = sts;
  switch (field) {
    case Field::kFloat:
      *tensor = ViewOf(dtype, shape, d.float_val().data(), n, keep);
      break;
    case Field::kDouble:
      *tensor = ViewOf(dtype, shape, d.double_val().data(), n, keep);
      break;
    case Field::kInt64:
      *tensor = ViewOf(dtype, shape, d.int64_val().data(), n, keep);
      break;
    case Field::kUInt32:
      *tensor = ViewOf(dtype, shape, d.uint32_val().data(), n, keep);
      break;
    case Field::kUInt64:
      *tensor = ViewOf(dtype, shape, d.uint64_val().data(), n, keep);
      break;
    case Field::kSComplex:
      *tensor = ViewOf(dtype, shape, d.scomplex_val().data(), 2 * n, keep);
      break;
    case Field::kDComplex:
      *tensor = ViewOf(dtype, shape, d.dcomplex_val().data(), 2 * n, keep);
      break;
    case Field::kBool: {
      std::vector<uint8_t> out(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; i++) out[static_cast<size_t>(i)] = d.bool_val(static_cast<int>(i));
      *tensor = Tensor::Owned(dtype, shape, std::move(out));
      break;
    }
    case Field::kInt:
      if (DTypeSize(dtype) == 4) {
        *tensor = ViewOf(dtype, shape, d.int_val().data(), n, keep);
      } else {
        *tensor = Tensor::Owned(dtype, shape, Narrow(d.int_val(), DTypeSize(dtype)));
      }
      break;
    case Field::kHalf:
      *tensor = Tensor::Owned(dtype, shape, Narrow(d.half_val(), 2));
      break;
    case Field::kString: {
      std::vector<std::string_view> elements;
      elements.reserve(static_cast<size_t>(n));
      for (const std::string& e : d.string_val()) elements.emplace_back(e);
      *tensor = Tensor::Elements(dtype, shape, std::move(elements), keep);
      break;
    }
    case Field::kNone:
      break;
  }
  return Status::OK();
}

}  // namespace tfckpt::v1
