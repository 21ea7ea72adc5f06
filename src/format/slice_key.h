// Index keys of the slices of a partitioned tensor. TensorFlow stores each slice under a binary
// key built with its "ordered code" encoding: 0 (as an increasing number), the tensor name (as an
// escaped string), the rank, then start and length of every dimension (signed numbers; a whole
// dimension is start 0, length -1). Such keys start with a zero byte, so they sort before every
// ordinary tensor name.
//
// Thread-safety: pure functions; safe from any thread.

#ifndef TFCKPT_FORMAT_SLICE_KEY_H_
#define TFCKPT_FORMAT_SLICE_KEY_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "tfckpt/tensor.h"

namespace tfckpt::slice_key {

std::string Encode(std::string_view name, const TensorSlice& slice);

// Returns false when `key` is not a well-formed slice key.
bool Decode(std::string_view key, std::string* name, TensorSlice* slice);

// Whether an index key is a slice key (the cheap test: a leading zero byte).
inline bool LooksLikeSliceKey(std::string_view key) { return !key.empty() && key[0] == '\0'; }

// The ordered-code primitives, exposed for tests.
void AppendNumIncreasing(std::string* out, uint64_t value);
void AppendSignedNumIncreasing(std::string* out, int64_t value);
void AppendString(std::string* out, std::string_view value);
bool ReadNumIncreasing(std::string_view* in, uint64_t* value);
bool ReadSignedNumIncreasing(std::string_view* in, int64_t* value);
bool ReadString(std::string_view* in, std::string* value);

}  // namespace tfckpt::slice_key

#endif  // TFCKPT_FORMAT_SLICE_KEY_H_
