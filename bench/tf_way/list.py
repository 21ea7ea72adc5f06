"""List a checkpoint's tensors with tf.train.list_variables. Usage: python3 list.py SRC"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf

for name, shape in tf.train.list_variables(sys.argv[1]):
    print(name, shape)
