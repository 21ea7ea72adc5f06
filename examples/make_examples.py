#!/usr/bin/env python3
"""Regenerates the small example checkpoints under this directory with TensorFlow.

Usage: python3 examples/make_examples.py

Needs TensorFlow 2.x (tensorflow or tensorflow-cpu) and numpy.  All values are fixed, so the
tensor data is the same on every run (state files and SavedModel protos may carry timestamps).
Outputs, relative to this script's directory:

  models/a/model-a    TF1 Saver checkpoint: variable ``a`` (float32 scalar) = 3.0
  models/b/model-b    TF1 Saver checkpoint: variable ``b`` (float32 scalar) = 4.0
  models/ab/model-ab  TF1 Saver checkpoint of the combined model: ``a`` = ``b`` = 1.0 (the target
                      of the classic transfer example)
  tf2/                TF2 tf.train.Checkpoint (dense layer + Adam slots), ckpt-1 and ckpt-2
  saved_model/        tf.saved_model.save of a small tf.Module
  mixed/mixed         TF1 Saver checkpoint with many dtypes and a partitioned variable ``emb``
  bert_like/model.ckpt-1000
                      a tiny BERT-shaped TF1 checkpoint (BERT's variable names, 2 layers, hidden
                      size 8) with AdamWeightDecay slots ``adam_m``/``adam_v`` and ``global_step``
  v1/model.ckpt       a legacy V1 checkpoint (one table file, TF-slim's names for the first layers
                      of Inception V3) with a partitioned variable ``emb``, as old model zoos ship
"""

import os
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def _fresh_dir(rel):
    path = os.path.join(HERE, rel)
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)
    return path


def _tf1_save(build_graph, rel_dir, name):
    """Builds a graph with ``build_graph`` and saves all its variables to rel_dir/name."""
    directory = _fresh_dir(rel_dir)
    graph = tf.Graph()
    with graph.as_default():
        build_graph()
        # Relative paths keep the machine's directory names out of the `checkpoint` file.
        saver = tf.compat.v1.train.Saver(save_relative_paths=True)
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saver.save(sess, os.path.join(directory, name), write_meta_graph=False)


def make_single_var_models():
    def model_a():
        tf.compat.v1.get_variable("a", initializer=tf.constant(3.0, tf.float32))

    def model_b():
        tf.compat.v1.get_variable("b", initializer=tf.constant(4.0, tf.float32))

    def model_ab():
        tf.compat.v1.get_variable("a", initializer=tf.constant(1.0, tf.float32))
        tf.compat.v1.get_variable("b", initializer=tf.constant(1.0, tf.float32))

    _tf1_save(model_a, "models/a", "model-a")
    _tf1_save(model_b, "models/b", "model-b")
    _tf1_save(model_ab, "models/ab", "model-ab")


class Dense(tf.Module):
    """A Dense(3) layer on inputs of dimension 4, with fixed initial values."""

    def __init__(self):
        super().__init__(name="dense")
        kernel = (np.arange(12, dtype=np.float32).reshape(4, 3) - 6.0) / 8.0
        self.kernel = tf.Variable(kernel, name="kernel")
        self.bias = tf.Variable(np.array([0.5, -0.25, 0.0], np.float32), name="bias")

    def __call__(self, x):
        return tf.matmul(x, self.kernel) + self.bias


def make_tf2():
    directory = _fresh_dir("tf2")
    model = Dense()
    # The TF1-style Adam keeps its moments as slot variables, which appear in the checkpoint
    # under `<variable>/.OPTIMIZER_SLOT/optimizer/{m,v}/...`.
    optimizer = tf.compat.v1.train.AdamOptimizer(learning_rate=0.125)
    x = tf.constant(np.array([[1.0, 2.0, 3.0, 4.0], [-1.0, 0.5, 0.0, 2.0]], np.float32))
    y = tf.constant(np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 0.5]], np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
    grads = tape.gradient(loss, [model.kernel, model.bias])
    optimizer.apply_gradients(zip(grads, [model.kernel, model.bias]))
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    manager = tf.train.CheckpointManager(checkpoint, directory=directory, max_to_keep=3)
    manager.save()
    model.bias.assign_add(np.array([1.0, 1.0, 1.0], np.float32))
    manager.save()


class HalfPlus(tf.Module):
    def __init__(self):
        super().__init__(name="half_plus")
        self.scale = tf.Variable(0.5, name="scale")
        self.offset = tf.Variable(np.array([2.0, 3.0], np.float32), name="offset")

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)])
    def __call__(self, x):
        return x * self.scale + self.offset


def make_saved_model():
    directory = _fresh_dir("saved_model")
    shutil.rmtree(directory)  # tf.saved_model.save creates it
    tf.saved_model.save(HalfPlus(), directory)


def make_mixed():
    def build():
        get = tf.compat.v1.get_variable
        get("matrix", initializer=tf.constant(
            np.arange(6, dtype=np.float32).reshape(2, 3) * 0.25 - 0.5))
        get("half", initializer=tf.constant(np.array([1.5, -2.0, 65504.0], np.float16)))
        get("brain", initializer=tf.cast(tf.constant([1.0, -0.5, 3.25, 256.0]), tf.bfloat16))
        get("global_step", initializer=tf.constant(42, tf.int64), trainable=False)
        get("flags", initializer=tf.constant([True, False, True]), trainable=False)
        get("words", initializer=tf.constant([b"alpha", b"", "\u00e9t\u00e9".encode()]),
            trainable=False)
        get("scalar", initializer=tf.constant(-7.0, tf.float64))
        get("empty", initializer=tf.zeros([0, 3], tf.float32))
        emb = np.arange(40, dtype=np.float32).reshape(10, 4) / 4.0

        def emb_init(shape, dtype=None, partition_info=None):
            # Called once per partition: return that partition's rows of `emb`.
            start = partition_info.var_offset[0] if partition_info is not None else 0
            return tf.constant(emb[start:start + shape[0]], dtype=dtype)

        get("emb", shape=[10, 4], dtype=tf.float32, initializer=emb_init,
            partitioner=tf.compat.v1.fixed_size_partitioner(3))

    _tf1_save(build, "mixed", "mixed")


def make_bert_like():
    """BERT's names and layout at a toy size, as a BERT pre-training run saves them."""
    directory = _fresh_dir("bert_like")
    rng = np.random.default_rng(1000)
    hidden, vocab, layers = 8, 32, 2
    shapes = {"bert/embeddings/word_embeddings": [vocab, hidden],
              "bert/embeddings/position_embeddings": [16, hidden],
              "bert/embeddings/LayerNorm/gamma": [hidden],
              "bert/embeddings/LayerNorm/beta": [hidden]}
    for i in range(layers):
        p = "bert/encoder/layer_%d/" % i
        for w in ("attention/self/query", "attention/self/key", "attention/self/value",
                  "attention/output/dense"):
            shapes[p + w + "/kernel"] = [hidden, hidden]
            shapes[p + w + "/bias"] = [hidden]
        shapes[p + "intermediate/dense/kernel"] = [hidden, 4 * hidden]
        shapes[p + "intermediate/dense/bias"] = [4 * hidden]
        shapes[p + "output/dense/kernel"] = [4 * hidden, hidden]
        shapes[p + "output/dense/bias"] = [hidden]
    names, values = [], []
    for name, shape in sorted(shapes.items()):
        for suffix in ("", "/adam_m", "/adam_v"):
            names.append(name + suffix)
            values.append(rng.standard_normal(shape).astype(np.float32) * 0.02)
    names.append("global_step")
    values.append(np.int64(1000))
    tf.raw_ops.SaveV2(prefix=os.path.join(directory, "model.ckpt-1000"), tensor_names=names,
                      shape_and_slices=[""] * len(names), tensors=values)


def make_v1():
    """A V1 checkpoint (Saver(write_version=V1)): one file, values in protos."""
    directory = _fresh_dir("v1")
    rng = np.random.default_rng(2016)

    def build():
        get = tf.compat.v1.get_variable
        for scope, shape in (("InceptionV3/Conv2d_1a_3x3", [3, 3, 3, 4]),
                             ("InceptionV3/Conv2d_2a_3x3", [3, 3, 4, 4])):
            get(scope + "/weights",
                initializer=tf.constant(rng.standard_normal(shape).astype(np.float32) * 0.1))
            get(scope + "/BatchNorm/beta", initializer=tf.constant(np.zeros([4], np.float32)))
            get(scope + "/BatchNorm/moving_mean",
                initializer=tf.constant(rng.standard_normal([4]).astype(np.float32)),
                trainable=False)
        get("InceptionV3/Logits/biases", initializer=tf.constant(np.arange(5, dtype=np.float32)))
        get("global_step", initializer=tf.constant(2000, tf.int64), trainable=False)
        emb = np.arange(24, dtype=np.float32).reshape(6, 4) / 8.0

        def emb_init(shape, dtype=None, partition_info=None):
            start = partition_info.var_offset[0] if partition_info is not None else 0
            return tf.constant(emb[start:start + shape[0]], dtype=dtype)

        get("emb", shape=[6, 4], dtype=tf.float32, initializer=emb_init,
            partitioner=tf.compat.v1.fixed_size_partitioner(2))

    graph = tf.Graph()
    with graph.as_default():
        build()
        saver = tf.compat.v1.train.Saver(write_version=tf.compat.v1.train.SaverDef.V1)
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saver.save(sess, os.path.join(directory, "model.ckpt"), write_meta_graph=False,
                       write_state=False)


def main():
    make_single_var_models()
    make_tf2()
    make_saved_model()
    make_mixed()
    make_bert_like()
    make_v1()
    total = 0
    for root, _, files in os.walk(HERE):
        for f in files:
            if f != os.path.basename(__file__):
                total += os.path.getsize(os.path.join(root, f))
    print("examples written, %d bytes" % total)


if __name__ == "__main__":
    main()
