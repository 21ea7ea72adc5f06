"""Times `tfckpt merge` of a >= 2 GB checkpoint with a second one, in its copy modes and in link
mode, against `cp` and `ln` of the same data files (the floor), alternating, median of --runs.

Usage: python3 bench/merge.py [--cache DIR] [--runs N] [--scale S]
Outputs go to a scratch directory on the same filesystem as the inputs and are removed after
every run. tfckpt fsyncs its output before committing it (crash safety) unless --no-sync, so the
floor is given both as plain `cp` and as `cp` followed by `sync` of the copied files.
"""

import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


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
    srcs = [os.path.join(args.cache, "big", "ckpt"), os.path.join(args.cache, "many", "ckpt")]
    data = [f for s in srcs for f in sorted(glob.glob(s + ".data-*"))]
    size = sum(os.path.getsize(f) for f in data)
    scratch = os.path.join(args.cache, "scratch")

    def fresh():
        shutil.rmtree(scratch, ignore_errors=True)
        os.makedirs(scratch)

    def cp():
        for i, f in enumerate(data):
            subprocess.run(["cp", f, os.path.join(scratch, "f%d" % i)], check=True)

    def cp_sync():
        outs = [os.path.join(scratch, "f%d" % i) for i in range(len(data))]
        for f, o in zip(data, outs):
            subprocess.run(["cp", f, o], check=True)
        subprocess.run(["sync"] + outs, check=True)  # fsync of those files only

    def ln():
        for i, f in enumerate(data):
            subprocess.run(["ln", f, os.path.join(scratch, "f%d" % i)], check=True)

    def merge(*extra):
        return lambda: subprocess.run([tfckpt, "merge", *srcs, "-o", os.path.join(scratch, "m"),
                                       *extra], check=True, stdout=subprocess.DEVNULL)

    jobs = {
        "tfckpt merge (auto: reflink or copy_file_range; fsync)": merge(),
        "tfckpt merge --no-sync": merge("--no-sync"),
        "tfckpt merge --link copy": merge("--link", "copy"),
        "cp": cp,
        "cp + sync FILES": cp_sync,
        "tfckpt merge --link hardlink": merge("--link", "hardlink"),
        "ln": ln,
    }
    subprocess.run(["cat"] + data, check=True, stdout=subprocess.DEVNULL)  # warm cache
    times = {k: [] for k in jobs}
    for _ in range(args.runs):
        for name, fn in jobs.items():
            fresh()
            subprocess.run(["sync"], check=True)
            # Re-warm the inputs: the previous job's output may have pushed them out of the cache.
            subprocess.run(["cat"] + data, check=True, stdout=subprocess.DEVNULL)
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    shutil.rmtree(scratch, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"inputs: {len(srcs)} checkpoints, {len(data)} data files, {size / 1e9:.2f} GB; "
          f"runs: {args.runs} (median)")
    print()
    print("| job | median | ratio to floor | all runs (ms) |")
    print("|---|---|---|---|")
    for name in jobs:
        if "hardlink" in name or name == "ln":
            ratio = f"{med[name] / med['ln']:.2f} x ln"
        else:
            ratio = f"{med[name] / med['cp']:.2f} x cp, {med[name] / med['cp + sync FILES']:.2f} x cp+sync"
        runs = " ".join(f"{t * 1e3:.0f}" for t in times[name])
        print(f"| {name} | {med[name] * 1e3:.0f} ms | {ratio} | {runs} |")


if __name__ == "__main__":
    main()
