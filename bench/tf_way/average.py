"""Average the last N checkpoints of a training directory the way users script it (in the manner
of tensor2tensor's avg_checkpoints.py): tf.train.load_checkpoint of each input listed in the
`checkpoint` state file, every float tensor summed in a float64 numpy array, divided, cast back
to its dtype; other tensors (global_step) from the newest input; saved with tf.raw_ops.SaveV2.

Usage: python3 average.py DIR N OUT
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf

ckpt_dir, last, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
paths = list(tf.train.get_checkpoint_state(ckpt_dir).all_model_checkpoint_paths)[-last:]
sums, dtypes, rest = {}, {}, {}
for path in paths:
    reader = tf.train.load_checkpoint(path)
    for name, dtype in reader.get_variable_to_dtype_map().items():
        value = reader.get_tensor(name)
        if dtype.is_floating:
            if name in sums:
                sums[name] += value
            else:
                sums[name] = value.astype(np.float64)
            dtypes[name] = dtype
        else:
            rest[name] = value
names, tensors = [], []
for name in sorted(sums):
    names.append(name)
    tensors.append((sums.pop(name) / len(paths)).astype(dtypes[name].as_numpy_dtype))
for name in sorted(rest):
    names.append(name)
    tensors.append(rest[name])
tf.raw_ops.SaveV2(prefix=out, tensor_names=names, shape_and_slices=[""] * len(names),
                  tensors=tensors)
