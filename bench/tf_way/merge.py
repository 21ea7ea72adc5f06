"""Merge checkpoints the TensorFlow way: tf.raw_ops.MergeV2Checkpoints (what a sharded Saver runs
after saving). It moves the sources' data files and deletes their indexes, so the benchmark runs
it on copies of the inputs.

Usage: python3 merge.py OUT SRC...
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf

out, srcs = sys.argv[1], sys.argv[2:]
tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=srcs, destination_prefix=out,
                              delete_old_dirs=False)
