"""Keras files: tfckpt against Keras itself and against an h5py + numpy script.

Usage: python3 bench/keras.py [--runs 3] [--bin DIR] [--cache DIR] [--gb 1]

Generates (once, into CACHE/keras/) five `.keras` files of one model of about --gb GB each
(Dense layers of 4096 x 4096 float32, no optimizer state: an uncompiled model), the weights of
each drawn apart, as five checkpoints of one run would differ. Then, median of --runs runs,
warm page cache (the inputs are re-read before every run, `sync` after each output is deleted):

  ls        `tfckpt ls one.keras` against `keras.saving.load_model(one.keras)` (a Python process
            timed after its imports: what a user runs to see what a file holds)
  average   `tfckpt average` of the five into a .keras (fsync'd) against
              script   an h5py + numpy script: every weight read from the five archives' HDF5
                       (h5py over the zip members), averaged in float64 as tfckpt does, written
                       with h5py into a new model.weights.h5, zipped with the first file's
                       config.json and metadata.json (stored), fsync'd
              floor    `cat` of the five files + `cp` of one + `sync` of the copy
            The output of each is checked: the script's weights equal tfckpt's bit for bit.

Peak RSS is GNU time's; peak private memory (RssAnon) is sampled as bench/run.py does.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run import add_bin_and_cache, measure  # noqa: E402

LAYER = 4096  # Dense(LAYER) on LAYER inputs: 64 MiB of float32 kernel per layer

MAKE = r"""
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np, keras
out, layers, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
model = keras.Sequential([keras.Input((%(L)d,))] +
                         [keras.layers.Dense(%(L)d, name="dense_%%d" %% i) for i in range(layers)],
                         name="big")
rng = np.random.default_rng(0)
for k in range(n):
    for v in model.weights:
        v.assign(rng.standard_normal(v.shape, dtype=np.float32))
    model.save(os.path.join(out, "model.%%02d.keras" %% (k + 1)))
""" % {"L": LAYER}

LOAD = r"""
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras
t = time.perf_counter()
m = keras.saving.load_model(sys.argv[1])
names = [v.path for v in m.weights]
json.dump({"wall": time.perf_counter() - t, "n": len(names)}, open(sys.argv[2], "w"))
"""

# The by-hand way: h5py over the archives' weights, numpy for the arithmetic.
SCRIPT = r"""
import io, json, os, sys, zipfile
import h5py, numpy as np
out, srcs = sys.argv[1], sys.argv[2:]
zips = [zipfile.ZipFile(s) for s in srcs]
h5s = [h5py.File(z.open("model.weights.h5"), "r") for z in zips]
tmp = out + ".weights.h5"
with h5py.File(tmp, "w") as dst:
    def copy(name, obj):
        if isinstance(obj, h5py.Group):
            g = dst.require_group(name)
            g.attrs.update(obj.attrs)
            return
        acc = None
        for h in h5s:
            x = h[name][()].astype(np.float64)
            acc = x if acc is None else acc + x
        d = dst.create_dataset(name, data=(acc / len(h5s)).astype(obj.dtype))
        d.attrs.update(obj.attrs)
    dst.attrs.update(h5s[0].attrs)
    h5s[0].visititems(copy)
with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
    z.writestr("metadata.json", zips[0].read("metadata.json"))
    z.writestr("config.json", zips[0].read("config.json"))
    z.write(tmp, "model.weights.h5")
os.remove(tmp)
with open(out, "rb+") as f:
    os.fsync(f.fileno())
"""


def warm(paths):
    for path in paths:
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


def timed(cmd, out_dir, inputs):
    for name in os.listdir(out_dir):
        os.remove(os.path.join(out_dir, name))
    subprocess.run(["sync"], check=True)
    warm(inputs)
    with tempfile.TemporaryDirectory() as logs:
        return measure(cmd, logs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    add_bin_and_cache(ap)
    ap.add_argument("--gb", type=float, default=1.0)
    args = ap.parse_args()
    tfckpt = os.path.join(args.bin, "tfckpt")
    layers = max(1, round(args.gb * 1e9 / (4 * LAYER * (LAYER + 1))))
    src = os.path.join(args.cache, "keras", "%d-layers" % layers)
    files = [os.path.join(src, "model.%02d.keras" % (k + 1)) for k in range(5)]
    if not all(os.path.exists(f) for f in files):
        os.makedirs(src, exist_ok=True)
        print("generating five .keras files of %d Dense(%d) layers..." % (layers, LAYER))
        subprocess.run([sys.executable, "-c", MAKE, src, str(layers), "5"], check=True)
    size = os.path.getsize(files[0])
    out_dir = os.path.join(args.cache, "keras", "out")
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, "avg.keras")
    results = {}

    def job(key, cmd, inputs):
        runs = [timed(cmd, out_dir, inputs) for _ in range(args.runs)]
        results[key] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        return runs

    result_json = os.path.join(out_dir, "load.json")
    job("ls_tfckpt", [tfckpt, "ls", files[0]], files[:1])
    # load_model: its own timer, after the imports; the process's peak RSS beside it.
    load_walls, load_rss = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as logs:
            warm(files[:1])
            r = measure([sys.executable, "-c", LOAD, files[0], result_json], logs)
        load_walls.append(json.load(open(result_json))["wall"])
        load_rss.append(r["rss"])
    results["ls_keras"] = {"wall": statistics.median(load_walls), "rss": max(load_rss)}

    floor = 'o="$1"; shift; cat "$@" > /dev/null && cp "$5" "$o" && sync "$o"'
    job("avg_tfckpt", [tfckpt, "average", *files, "-o", out], files)
    job("avg_script", [sys.executable, "-c", SCRIPT, out, *files], files)
    job("avg_floor", ["sh", "-c", floor, "sh", out, *files], files)

    # The script's weights and tfckpt's agree bit for bit.
    a = os.path.join(args.cache, "keras", "check_tfckpt.keras")
    b = os.path.join(args.cache, "keras", "check_script.keras")
    subprocess.run([tfckpt, "average", *files, "-o", a, "--force", "--no-sync"], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-c", SCRIPT, b, *files], check=True)
    same = subprocess.run([tfckpt, "diff", a, b, "--json"], capture_output=True, text=True)
    diff = json.loads(same.stdout)
    os.remove(a)
    os.remove(b)

    r = results
    print("inputs: 5 x %.2f GB (.keras, %d layers)" % (size / 1e9, layers))
    print("ls       tfckpt %.3f s (peak RSS %d KiB) | keras.saving.load_model %.2f s after "
          "imports (peak RSS %d KiB) | %.0f x" % (
              r["ls_tfckpt"]["wall"], r["ls_tfckpt"]["rss"], r["ls_keras"]["wall"],
              r["ls_keras"]["rss"], r["ls_keras"]["wall"] / r["ls_tfckpt"]["wall"]))
    for key, label in (("avg_tfckpt", "tfckpt average"), ("avg_script", "h5py + numpy"),
                       ("avg_floor", "cat 5 + cp + sync")):
        print("average  %-18s %.2f s  cpu %.2f s  peak RSS %d KiB  peak anon %d KiB" % (
            label, r[key]["wall"], r[key]["cpu"], r[key]["rss"], r[key]["anon"]))
    print("average  tfckpt / floor %.2f x (target <= 1.5); script / tfckpt %.2f x" % (
        r["avg_tfckpt"]["wall"] / r["avg_floor"]["wall"],
        r["avg_script"]["wall"] / r["avg_tfckpt"]["wall"]))
    print("outputs  tfckpt diff of the two averages: %d identical, %d differ, %d only in one" % (
        diff["identical"], len(diff["values_differ"]) + len(diff["changed"]),
        len(diff["only_in_a"]) + len(diff["only_in_b"])))
    json.dump(results, open(os.path.join(args.cache, "keras", "results.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
