"""Transfer a scope the TF1 way: build the variables of the scope, map them with
tf.compat.v1.train.init_from_checkpoint, run the initializers and save with a Saver.

Usage: python3 transfer.py SRC SCOPE OUT

The variables built are every tensor the checkpoint holds under SCOPE (their shapes are read with
tf.train.list_variables, standing in for the model code), so the output holds the same tensors
as `tfckpt transfer --from SRC --map SCOPE=SCOPE -o OUT`.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow.compat.v1 as tf

tf.disable_eager_execution()
src, scope, out = sys.argv[1:4]
wanted = [(n, s) for n, s in tf.train.list_variables(src) if n.startswith(scope)]
with tf.Graph().as_default():
    variables = [tf.get_variable(n, shape=s, dtype=tf.float32,
                                 initializer=tf.zeros_initializer()) for n, s in wanted]
    tf.train.init_from_checkpoint(src, {scope: scope})
    saver = tf.train.Saver(variables)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        saver.save(sess, out, write_meta_graph=False, write_state=False)
