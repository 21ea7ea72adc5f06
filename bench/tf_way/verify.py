"""Read every tensor of a checkpoint with TensorFlow's reader (which checks each tensor's CRC32C
as it reads it). Usage: python3 verify.py SRC"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf

reader = tf.train.load_checkpoint(sys.argv[1])
for name in sorted(reader.get_variable_to_shape_map()):
    reader.get_tensor(name)
