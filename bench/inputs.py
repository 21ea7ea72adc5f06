"""Generates the benchmark inputs once, with TensorFlow, into a cache directory.

Usage: python3 bench/inputs.py CACHE [--scale S]      (bench/run.py calls it)

Each input is skipped when its marker file (written last) is already there:

  bert-base/model.ckpt        BERT-base-shaped TF1 checkpoint with Adam slots: every variable of
                              google-research/bert's BERT-base plus VAR/adam_m and VAR/adam_v,
                              and an int64 global_step (~1.3 GB)
  bert-large/model.ckpt       the same for BERT-large (~4.0 GB)
  train/model.ckpt-{1000..5000}  five "training steps" of the BERT-base one (different values
                              each) and a `checkpoint` state file listing them
  embedding/model.ckpt        a TF1 Saver checkpoint of one embedding partitioned 8 ways with
                              fixed_size_partitioner(8): stored as slices of one tensor
  many/model.ckpt             50,000 float32 tensors of 8x8

The big ones are written with tf.raw_ops.SaveV2 in eager mode (TensorFlow's own writer); the
partitioned one with a TF1 Saver, because the form (slices) matters there. --scale shrinks the
first dimension of every tensor and the number of small tensors (smoke runs).
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

VOCAB, MAX_POS, TYPES = 30522, 512, 2
STEPS = [1000, 2000, 3000, 4000, 5000]
SLOTS = ("adam_m", "adam_v")


def bert_variables(layers, hidden, intermediate):
    """(name, shape) of every float32 variable of google-research/bert's BertModel with the
    pre-training heads, in that code's names."""
    h, i = hidden, intermediate
    out = [("bert/embeddings/word_embeddings", [VOCAB, h]),
           ("bert/embeddings/token_type_embeddings", [TYPES, h]),
           ("bert/embeddings/position_embeddings", [MAX_POS, h]),
           ("bert/embeddings/LayerNorm/beta", [h]),
           ("bert/embeddings/LayerNorm/gamma", [h])]
    for n in range(layers):
        p = f"bert/encoder/layer_{n}/"
        for proj in ("query", "key", "value"):
            out += [(p + f"attention/self/{proj}/kernel", [h, h]),
                    (p + f"attention/self/{proj}/bias", [h])]
        out += [(p + "attention/output/dense/kernel", [h, h]),
                (p + "attention/output/dense/bias", [h]),
                (p + "attention/output/LayerNorm/beta", [h]),
                (p + "attention/output/LayerNorm/gamma", [h]),
                (p + "intermediate/dense/kernel", [h, i]),
                (p + "intermediate/dense/bias", [i]),
                (p + "output/dense/kernel", [i, h]),
                (p + "output/dense/bias", [h]),
                (p + "output/LayerNorm/beta", [h]),
                (p + "output/LayerNorm/gamma", [h])]
    out += [("bert/pooler/dense/kernel", [h, h]),
            ("bert/pooler/dense/bias", [h]),
            ("cls/predictions/transform/dense/kernel", [h, h]),
            ("cls/predictions/transform/dense/bias", [h]),
            ("cls/predictions/transform/LayerNorm/beta", [h]),
            ("cls/predictions/transform/LayerNorm/gamma", [h]),
            ("cls/predictions/output_bias", [VOCAB]),
            ("cls/seq_relationship/output_weights", [2, h]),
            ("cls/seq_relationship/output_bias", [2])]
    return out


def scaled(shape, scale):
    return [max(1, int(round(shape[0] * scale)))] + shape[1:] if shape else shape


def write_bert(prefix, variables, scale, seed):
    """One checkpoint: each variable, its two Adam slots, and global_step, in one SaveV2 call."""
    import numpy as np
    import tensorflow as tf

    if os.path.exists(prefix + ".index"):
        return
    print(f"inputs.py: writing {prefix}", file=sys.stderr)
    rng = np.random.default_rng(seed)
    names, tensors = [], []
    for name, shape in variables:
        shape = scaled(shape, scale)
        value = rng.standard_normal(shape, dtype=np.float32)
        names += [name, name + "/adam_m", name + "/adam_v"]
        tensors += [value * np.float32(0.02), value * np.float32(1e-3),
                    np.square(value) * np.float32(1e-6)]
    names.append("global_step")
    tensors.append(np.array(seed, dtype=np.int64))
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    tf.raw_ops.SaveV2(prefix=prefix + ".tmp", tensor_names=names,
                      shape_and_slices=[""] * len(names), tensors=tensors)
    del tensors
    # Commit under the final prefix only once complete (the .index is the marker).
    data = f"{prefix}.tmp.data-00000-of-00001"
    os.replace(data, data.replace(".tmp.", ".", 1))
    os.replace(prefix + ".tmp.index", prefix + ".index")


def write_train(cache, scale):
    import tensorflow as tf

    d = os.path.join(cache, "train")
    state = os.path.join(d, "checkpoint")
    if os.path.exists(state):
        return
    for step in STEPS:
        write_bert(os.path.join(d, f"model.ckpt-{step}"), bert_variables(12, 768, 3072), scale,
                   step)
    lines = [f'model_checkpoint_path: "model.ckpt-{STEPS[-1]}"']
    lines += [f'all_model_checkpoint_paths: "model.ckpt-{s}"' for s in STEPS]
    with open(state + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(state + ".tmp", state)
    listed = tf.train.get_checkpoint_state(d).all_model_checkpoint_paths
    assert [os.path.basename(p) for p in listed] == [f"model.ckpt-{s}" for s in STEPS], listed


def write_embedding(cache, scale):
    """A TF1 graph with one partitioned variable, saved by tf.compat.v1.train.Saver."""
    prefix = os.path.join(cache, "embedding", "model.ckpt")
    if os.path.exists(prefix + ".index"):
        return
    print(f"inputs.py: writing {prefix}", file=sys.stderr)
    import tensorflow.compat.v1 as tf1

    rows = max(64, int(500_000 * scale))
    with tf1.Graph().as_default():
        emb = tf1.get_variable("features/embedding/weights", shape=[rows, 64], dtype=tf1.float32,
                               initializer=tf1.random_normal_initializer(seed=7),
                               partitioner=tf1.fixed_size_partitioner(8))
        assert len(list(emb)) == 8
        saver = tf1.train.Saver()
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            saver.save(sess, prefix + ".tmp", write_meta_graph=False, write_state=False)
    for suffix in (".data-00000-of-00001", ".index"):
        os.replace(prefix + ".tmp" + suffix, prefix + suffix)


def write_many(cache, scale):
    import numpy as np
    import tensorflow as tf

    prefix = os.path.join(cache, "many", "model.ckpt")
    if os.path.exists(prefix + ".index"):
        return
    print(f"inputs.py: writing {prefix}", file=sys.stderr)
    n = max(100, int(50_000 * scale))
    rng = np.random.default_rng(3)
    names = [f"block_{i // 50:04d}/unit_{i % 50:02d}/w" for i in range(n)]
    values = rng.standard_normal((n, 8, 8), dtype=np.float32)
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    tf.raw_ops.SaveV2(prefix=prefix + ".tmp", tensor_names=names, shape_and_slices=[""] * n,
                      tensors=list(values))
    for suffix in (".data-00000-of-00001", ".index"):
        os.replace(prefix + ".tmp" + suffix, prefix + suffix)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("cache")
    ap.add_argument("--scale", type=float, default=1.0)
    args = ap.parse_args()
    os.makedirs(args.cache, exist_ok=True)
    write_bert(os.path.join(args.cache, "bert-base", "model.ckpt"),
               bert_variables(12, 768, 3072), args.scale, 1)
    write_bert(os.path.join(args.cache, "bert-large", "model.ckpt"),
               bert_variables(24, 1024, 4096), args.scale, 2)
    write_train(args.cache, args.scale)
    write_embedding(args.cache, args.scale)
    write_many(args.cache, args.scale)


if __name__ == "__main__":
    main()
