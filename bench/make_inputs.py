"""Generates benchmark inputs once, with TensorFlow, into a cache directory.

Usage: python3 bench/make_inputs.py [--cache DIR] [--only NAME ...] [--scale S]

Inputs (each skipped when already present):
  many      10,000 small float32 tensors (ls / verify of many entries)
  big       ~2 GB of float32 tensors in 64 MB pieces (verify / copy throughput)
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def save(prefix, names, tensors):
    import tensorflow as tf

    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names,
                      shape_and_slices=[""] * len(names), tensors=tensors)


def make_many(cache, scale):
    import numpy as np

    prefix = os.path.join(cache, "many", "ckpt")
    if os.path.exists(prefix + ".index"):
        return
    n = int(10000 * scale)
    rng = np.random.default_rng(0)
    names = [f"layer_{i // 10:04d}/param_{i % 10}" for i in range(n)]
    tensors = [rng.standard_normal((8, 8)).astype(np.float32) for _ in range(n)]
    save(prefix, names, tensors)


def make_big(cache, scale):
    import numpy as np

    prefix = os.path.join(cache, "big", "ckpt")
    if os.path.exists(prefix + ".index"):
        return
    total = int(2 * 1024**3 * scale)
    piece = 64 * 1024**2
    rng = np.random.default_rng(1)
    names, tensors = [], []
    for i in range(max(1, total // piece)):
        names.append(f"block_{i:03d}/kernel")
        tensors.append(rng.standard_normal(piece // 4, dtype=np.float32).reshape(-1, 1024))
    save(prefix, names, tensors)


MAKERS = {"many": make_many, "big": make_big}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cache", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "cache"))
    ap.add_argument("--only", nargs="*", choices=sorted(MAKERS))
    ap.add_argument("--scale", type=float, default=1.0, help="shrink inputs (CI smoke runs)")
    args = ap.parse_args()
    for name in args.only or sorted(MAKERS):
        print(f"make_inputs: {name}", file=sys.stderr)
        MAKERS[name](args.cache, args.scale)


if __name__ == "__main__":
    main()
