// The files of a V1 checkpoint (TensorFlow's TensorSlice format, the default before 2016). A V1
// checkpoint is one LevelDB table file ("model.ckpt", "model.ckpt-1000") or a set of them, one
// per device of a sharded save ("model.ckpt-00000-of-00003", ...), which TensorFlow names by the
// pattern "model.ckpt-?????-of-00003" (the name its Saver returns and its `checkpoint` file
// records). There is no .index: every file carries its own metadata.
//
// Thread-safety: free functions; safe from any thread (they only read the filesystem).

#ifndef TFCKPT_FORMAT_V1_FILES_H_
#define TFCKPT_FORMAT_V1_FILES_H_

#include <string>
#include <vector>

#include "tfckpt/status.h"

namespace tfckpt::v1_files {

// If `path` ends in "-?????-of-NNNNN" (the pattern) or "-DDDDD-of-NNNNN" (one shard's name), sets
// the part before it and the number of shards and returns true.
bool SplitShardName(const std::string& path, std::string* base, int* num_shards);

// "BASE-?????-of-NNNNN", and "BASE-0000i-of-NNNNN".
std::string Pattern(const std::string& base, int num_shards);
std::string ShardPath(const std::string& base, int shard, int num_shards);

// The name by which tfckpt (and TensorFlow) knows the V1 checkpoint that the file `path` belongs
// to: the pattern for one shard of a sharded set, else `path` itself. Empty when `path` is no V1
// checkpoint file (no regular file ending in the table magic number, or a V2 .index).
std::string CheckpointOf(const std::string& path);

// Whether `name` (a single file or a pattern) names a V1 checkpoint with at least one file.
bool Exists(const std::string& name);

// The files of the V1 checkpoint `name`, in shard order; `missing` gets those of a pattern that
// do not exist.
void Files(const std::string& name, std::vector<std::string>* files,
           std::vector<std::string>* missing);

}  // namespace tfckpt::v1_files

#endif  // TFCKPT_FORMAT_V1_FILES_H_
