"""How cost grows with the number of tensors: tfckpt's ls, verify, merge, transfer and average
on checkpoints of 1,000 to 1,000,000 small tensors, beside TensorFlow's list_variables, reading
every tensor, MergeV2Checkpoints and init_from_checkpoint.

Usage: python3 bench/scaling.py [--counts 1000 10000 100000 1000000] [--runs 5]
                                [--tf-runs 3] [--tf-max N] [--transfer-tf-max N]
                                [--bin DIR] [--cache DIR]
       python3 bench/scaling.py --gb 0.1 1 4 [--gb-read-only 16] [--runs 3] [--python DIR] ...

Inputs, written once with TensorFlow's own writer (tf.raw_ops.SaveV2) into CACHE/scaling/N/
(git-ignored; 1 M tensors take about 50 MB per checkpoint): `a` holds N float32 2x2 tensors
named like a deep model's (model/block_NNNNNN/unit_NN/w, 50 per block), `b` the same under
`other/` instead of `model/` (so that a merge of a and b has no duplicate), `c` the names of `a`
with other values (averaged with `a`). transfer moves all of `model/`. Before each run the
job's output is deleted and its inputs are read into the page cache; outputs are written with
--no-sync. Median wall time, peak RSS and its private part (see run.py) per job; TensorFlow's
jobs run up to --tf-max tensors (default all),
init_from_checkpoint up to --transfer-tf-max (default 10,000: it builds a graph variable per
tensor, 10 s for 1,000 of them).

With --gb 0.1 1 4 [--gb-read-only 16] the axis is bytes instead: checkpoints of dense random
float32 data in 4 MiB tensors (model/layer_NNNNN/w), written through tfckpt's Writer (streaming:
TensorFlow's SaveV2 would hold every value in memory at once; TensorFlow reads these files, as
the test suite checks), into CACHE/scaling-bytes/GB/ (git-ignored), with the same five jobs
beside TensorFlow's. Sizes in --gb-read-only run ls and verify only (one input, no output: what
the disk allows). The largest do not fit in the page cache: they are read from the disk.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run import measure  # noqa: E402

DATA = ".data-00000-of-00001"


def write(prefix, n, scope, seed):
    import numpy as np
    import tensorflow as tf

    if os.path.exists(prefix + ".index"):
        return
    print(f"scaling.py: writing {prefix} ({n} tensors)", file=sys.stderr)
    rng = np.random.default_rng(n * 10 + seed)
    names = [f"{scope}block_{i // 50:06d}/unit_{i % 50:02d}/w" for i in range(n)]
    values = rng.standard_normal((n, 2, 2), dtype=np.float32)
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    tf.raw_ops.SaveV2(prefix=prefix + ".tmp", tensor_names=names, shape_and_slices=[""] * n,
                      tensors=list(values))
    for suffix in (DATA, ".index"):
        os.replace(prefix + ".tmp" + suffix, prefix + suffix)


DENSE_WRITER = """
import os, sys, numpy as np, tfckpt
prefix, total, scope, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rng = np.random.default_rng(seed)
with tfckpt.Writer(prefix) as w:
    for i in range(max(1, total // (4 << 20))):
        w.add(f"{scope}layer_{i:05d}/w", rng.random((1024, 1024), dtype=np.float32))
"""


def write_dense(prefix, total, scope, seed, python_dir):
    """A checkpoint of `total` bytes of dense float32 data in 4 MiB tensors (streamed)."""
    if os.path.exists(prefix + ".index"):
        return
    print(f"scaling.py: writing {prefix} ({total / 1e9:.1f} GB)", file=sys.stderr)
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    env = dict(os.environ, PYTHONPATH=python_dir)
    subprocess.run([sys.executable, "-c", DENSE_WRITER, prefix + ".tmp", str(int(total)), scope,
                    str(seed)], check=True, env=env)
    for suffix in (DATA, ".index"):
        os.replace(prefix + ".tmp" + suffix, prefix + suffix)


def files(*prefixes):
    return [p + s for p in prefixes for s in (DATA, ".index")]


def warm(paths):
    for path in paths:
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


def timed(argv, runs, inputs, out, setup=None):
    """Median of `runs` runs of argv(out) with a fresh `out` directory each time."""
    results = []
    with tempfile.TemporaryDirectory() as log_dir:
        for _ in range(runs):
            shutil.rmtree(out, ignore_errors=True)
            os.makedirs(out)
            if setup:
                setup(out)
            warm(inputs)
            results.append(measure(argv(out), log_dir))
    shutil.rmtree(out, ignore_errors=True)
    return {k: statistics.median(r[k] for r in results) for k in results[0]}


def fmt_time(s):
    return f"{s:.2f} s" if s >= 1 else f"{s * 1e3:.0f} ms" if s >= 0.01 else f"{s * 1e3:.1f} ms"


def cells(r):
    if r is None:
        return "-", "-"
    return fmt_time(r["wall"]), f"{r['rss'] / 1024:.0f} MiB ({r['anon'] / 1024:.0f} MiB)"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--counts", type=int, nargs="+", default=[1000, 10000, 100000, 1000000])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tf-runs", type=int, default=3, help="0 skips TensorFlow")
    ap.add_argument("--tf-max", type=int, default=10 ** 9)
    ap.add_argument("--transfer-tf-max", type=int, default=10000)
    ap.add_argument("--bin", default=os.environ.get("TFCKPT_BIN_DIR",
                                                    os.path.join(HERE, "..", "build", "bin")))
    ap.add_argument("--cache", default=os.path.join(HERE, "cache"))
    ap.add_argument("--gb", type=float, nargs="*", default=[],
                    help="the bytes axis: checkpoint sizes in GB (every job)")
    ap.add_argument("--gb-read-only", type=float, nargs="*", default=[],
                    help="sizes for ls and verify only")
    ap.add_argument("--python", default=os.path.join(HERE, "..", "build", "python"),
                    help="where the tfckpt package is (writes the bytes axis' inputs)")
    args = ap.parse_args()
    tfckpt = os.path.join(os.path.abspath(args.bin), "tfckpt")
    py = sys.executable
    tfw = lambda script: os.path.join(HERE, "tf_way", script)  # noqa: E731
    rows = []
    cache = os.path.abspath(args.cache)
    # Each point of the axis: (its label, n for the per-unit column, its inputs' directory,
    # whether only the reading jobs run).
    if args.gb or args.gb_read_only:
        points = [(gb, gb, os.path.join(cache, "scaling-bytes", f"{gb:g}"), gb in args.gb_read_only)
                  for gb in sorted(set(args.gb) | set(args.gb_read_only))]
    else:
        points = [(n, n, os.path.join(cache, "scaling", str(n)), False) for n in args.counts]
    for n, per, d, read_only in points:
        a, b, c = (os.path.join(d, x, "model.ckpt") for x in "abc")
        if args.gb or args.gb_read_only:
            total = n * 1e9
            write_dense(a, total, "model/", 0, os.path.abspath(args.python))
            if not read_only:
                write_dense(b, total, "other/", 1, os.path.abspath(args.python))
                write_dense(c, total, "model/", 2, os.path.abspath(args.python))
        else:
            write(a, n, "model/", 0)
            write(b, n, "other/", 1)
            write(c, n, "model/", 2)
            lines = subprocess.run([tfckpt, "ls", a], check=True, capture_output=True,
                                   text=True).stdout.count("\n")
            if lines != n + 2:  # a header, a line per tensor, a summary
                sys.exit(f"scaling.py: `tfckpt ls` printed {lines} lines for {n} tensors")
        out = os.path.join(d, "out")

        def copy_inputs(o):
            for i, src in enumerate((a, b)):
                for f in files(src):
                    os.makedirs(os.path.join(o, f"in{i}"), exist_ok=True)
                    shutil.copy(f, os.path.join(o, f"in{i}", os.path.basename(f)))

        jobs = [
            ("ls", lambda o: [tfckpt, "ls", a], files(a),
             "list_variables", lambda o: [py, tfw("list.py"), a], None, args.tf_max),
            ("verify", lambda o: [tfckpt, "verify", a], files(a),
             "`get_tensor` of each", lambda o: [py, tfw("verify.py"), a], None, args.tf_max),
            ("merge", lambda o: [tfckpt, "merge", a, b, "-o", o + "/m", "--no-sync", "-q"],
             files(a, b), "MergeV2Checkpoints",
             lambda o: [py, tfw("merge.py"), o + "/m", o + "/in0/model.ckpt",
                        o + "/in1/model.ckpt"], copy_inputs, args.tf_max),
            ("transfer", lambda o: [tfckpt, "transfer", "--from", a, "--map", "model/=model/",
                                    "-o", o + "/t", "--no-sync", "-q"], files(a),
             "init_from_checkpoint", lambda o: [py, tfw("transfer.py"), a, "model/", o + "/t"],
             None, min(args.tf_max, args.transfer_tf_max)),
            ("average", lambda o: [tfckpt, "average", a, c, "-o", o + "/v", "--no-sync", "-q"],
             files(a, c), None, None, None, 0),
        ]
        if read_only:
            jobs = jobs[:2]
        bytes_axis = bool(args.gb or args.gb_read_only)
        for job, ours_argv, inputs, tf_label, tf_argv, setup, tf_max in jobs:
            ours = timed(ours_argv, args.runs, inputs, out)
            tf = None
            if tf_argv and args.tf_runs and (bytes_axis or n <= tf_max):
                tf = timed(tf_argv, args.tf_runs, inputs, out, setup)
            rows.append((job, per, ours, tf_label, tf))
            unit = "GB" if bytes_axis else "tensors"
            print(f"scaling.py: {job}, {n:g} {unit}: tfckpt {fmt_time(ours['wall'])}"
                  + (f", TensorFlow {fmt_time(tf['wall'])}" if tf else ""), file=sys.stderr)
    bytes_axis = bool(args.gb or args.gb_read_only)
    print(f"| job | {'GB' if bytes_axis else 'tensors'} | tfckpt "
          f"| {'per GB' if bytes_axis else 'per tensor'} | tfckpt peak RSS (anon) | TensorFlow "
          "| TF peak RSS (anon) |")
    print("|---|---|---|---|---|---|---|")
    for job, n, ours, tf_label, tf in rows:
        wall, mem = cells(ours)
        tf_wall, tf_mem = cells(tf)
        label = f"{tf_label}: {tf_wall}" if tf else "-"
        per = (f"{ours['wall'] / n:.2f} s" if bytes_axis else f"{ours['wall'] / n * 1e6:.2f} µs")
        print(f"| {job} | {n:,g} | {wall} | {per} | {mem} | {label} | {tf_mem} |")


if __name__ == "__main__":
    main()
