"""init_from_checkpoint for variables that are not TensorFlow variables.

A toy "framework" whose parameters are objects with an assign() method, filled from the classic
example's checkpoints exactly as tf.compat.v1.train.init_from_checkpoint would fill TF variables:
one call per checkpoint, with an assignment map.

    python3 examples/python/custom_variables.py
"""

import os

import numpy as np

import tfckpt

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "models")


class Parameter:
    """A parameter of some other framework: a dtype, a shape and a value it can be assigned."""

    def __init__(self, shape, dtype=np.float32):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.value = np.zeros(self.shape, self.dtype)

    def assign(self, value):
        self.value = np.array(value, dtype=self.dtype)


model = {"encoder/a": Parameter(()), "decoder/b": Parameter(())}
# Encoder from model a, decoder from model b: the ask of "load the encoder from one checkpoint
# and the decoder from another".
tfckpt.init_from_checkpoint(os.path.join(MODELS, "a", "model-a"), {"a": "encoder/a"}, model)
tfckpt.init_from_checkpoint(os.path.join(MODELS, "b", "model-b"), {"b": "decoder/b"}, model)
for name, p in model.items():
    print(name, p.value)
