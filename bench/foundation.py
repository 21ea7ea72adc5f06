"""Measures the foundation figures: `tfckpt ls` on 10,000 tensors and `tfckpt verify`
throughput as a ratio to `cat` of the same files, with a warm page cache.

Usage: python3 bench/foundation.py [--cache DIR] [--runs N] [--scale S]

Each command runs --runs times (at least 5), alternating with its comparison, and the median
wall time is reported. Inputs come from bench/make_inputs.py (generated on first use).
"""

import argparse
import glob
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def timed(cmd, **kw):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
    return time.perf_counter() - start


def bench(pairs, runs):
    """pairs: {label: argv}; runs them alternately; returns {label: median seconds}."""
    times = {label: [] for label in pairs}
    for _ in range(runs):
        for label, cmd in pairs.items():
            times[label].append(timed(cmd))
    return {label: statistics.median(t) for label, t in times.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cache", default=os.path.join(HERE, "cache"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--bin", default=os.environ.get("TFCKPT_BIN_DIR", os.path.join(ROOT, "build", "bin")))
    args = ap.parse_args()
    subprocess.run([sys.executable, os.path.join(HERE, "make_inputs.py"), "--cache", args.cache,
                    "--scale", str(args.scale), "--only", "many", "big"], check=True)
    tfckpt = os.path.join(args.bin, "tfckpt")
    many = os.path.join(args.cache, "many", "ckpt")
    big = os.path.join(args.cache, "big", "ckpt")
    big_files = sorted(glob.glob(big + ".data-*")) + [big + ".index"]
    # Warm the page cache.
    subprocess.run(["cat"] + big_files, check=True, stdout=subprocess.DEVNULL)
    ls = bench({
        "tfckpt ls": [tfckpt, "ls", many],
        "tf.train.list_variables": [sys.executable, "-c",
                                    "import os; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'; "
                                    "import tensorflow as tf; tf.train.list_variables(%r)" % many],
    }, args.runs)
    verify = bench({
        "tfckpt verify": [tfckpt, "verify", big],
        "cat": ["cat"] + big_files,
    }, args.runs)
    size = sum(os.path.getsize(f) for f in big_files)
    n_many = len(subprocess.run([tfckpt, "ls", many], check=True, capture_output=True,
                                text=True).stdout.splitlines()) - 2
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    print(f"runs: {args.runs} (median)")
    print()
    print("| job | tfckpt | comparison | ratio |")
    print("|---|---|---|---|")
    print(f"| ls, {n_many} tensors | {ls['tfckpt ls']*1e3:.1f} ms | tf.train.list_variables incl. "
          f"interpreter start: {ls['tf.train.list_variables']*1e3:.0f} ms | "
          f"{ls['tf.train.list_variables']/ls['tfckpt ls']:.0f}x faster |")
    print(f"| verify, {size/1e9:.2f} GB warm cache | {verify['tfckpt verify']*1e3:.0f} ms "
          f"({size/verify['tfckpt verify']/1e9:.1f} GB/s) | cat: {verify['cat']*1e3:.0f} ms "
          f"({size/verify['cat']/1e9:.1f} GB/s) | {verify['cat']/verify['tfckpt verify']:.2f} x cat "
          f"throughput |")


if __name__ == "__main__":
    main()
