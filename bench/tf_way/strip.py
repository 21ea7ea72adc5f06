"""Strip Adam slots the way users script it: load the checkpoint, keep every tensor that is not an
optimizer slot, save the rest with tf.raw_ops.SaveV2.

Usage: python3 strip.py SRC OUT
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf

src, out = sys.argv[1:3]
reader = tf.train.load_checkpoint(src)
names = sorted(n for n in reader.get_variable_to_shape_map()
               if not n.endswith(("/adam_m", "/adam_v", "/Adam", "/Adam_1")))
tensors = [reader.get_tensor(n) for n in names]
tf.raw_ops.SaveV2(prefix=out, tensor_names=names, shape_and_slices=[""] * len(names),
                  tensors=tensors)
