"""What checking the sources costs: every writing command checks the CRC32C of each tensor it
copies from a source before it writes (merge, transfer, edit; `--link hardlink` and `--move` only
with --verify). This script times the copying jobs of bench/run.py with two builds of tfckpt,
alternating run by run on the same inputs (each first in every other pair): --bin (today's) and --baseline (a build from before the
check, e.g. of the commit that added it minus one), and prints the medians and their ratio. It
also times `merge --link hardlink` with and without --verify with today's build.

Usage:
  python3 bench/crc_cost.py --baseline DIR [--bin DIR] [--runs 5] [--only merge-base transfer]

The inputs are bench/run.py's (generated on first use into bench/cache/). Copy both binaries out
of build trees first if those may be rebuilt.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys

import run

# (group, job key) of bench/run.py whose tfckpt command copies tensor bytes from a source.
JOBS = [("merge-base", "copy"), ("merge-base", "nosync"), ("merge-large", "copy"),
        ("merge-large", "nosync"), ("transfer", "copy"), ("transfer", "nosync"),
        ("strip", "copy"), ("strip", "nosync")]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(run.ROOT, "build", "bin"))
    ap.add_argument("--baseline", required=True, help="directory of a tfckpt without the check")
    ap.add_argument("--cache", default=os.path.join(run.HERE, "cache"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", nargs="+", help="groups to time (default: all of them)")
    args = ap.parse_args()
    cache = os.path.abspath(args.cache)
    subprocess.run([sys.executable, os.path.join(run.HERE, "inputs.py"), cache], check=True)
    new_bin = os.path.abspath(os.path.join(args.bin, "tfckpt"))
    old_bin = os.path.abspath(os.path.join(args.baseline, "tfckpt"))
    builds = {"checked": run.groups(cache, new_bin), "baseline": run.groups(cache, old_bin)}
    jobs = [(g, k) for g, k in JOBS if not args.only or g in args.only]
    scratch = os.path.join(cache, "scratch", "crc_cost")
    times = {(g, k, b): [] for g, k in jobs for b in builds}

    def timed(argv, warm, tag):
        shutil.rmtree(scratch, ignore_errors=True)
        os.makedirs(scratch)
        subprocess.run(["sync"], check=True)
        subprocess.run(["cat", *warm], check=True, stdout=subprocess.DEVNULL)
        r = run.measure(argv(scratch), os.path.dirname(scratch))
        print(f"crc_cost.py: {tag}: {r['wall']:.3f} s", file=sys.stderr)
        return r["wall"]

    for i in range(args.runs):
        for g, k in jobs:
            order = list(builds) if i % 2 == 0 else list(builds)[::-1]  # ABBA: no build always first
            for b in order:
                job = next(j for j in builds[b][g] if j.key == k)
                times[(g, k, b)].append(timed(job.argv, job.warm, f"{g}/{k} {b} run {i + 1}"))

    base, emb = (os.path.join(cache, n, "model.ckpt") for n in ("bert-large", "embedding"))
    link = [new_bin, "merge", base, emb, "--link", "hardlink"]
    warm = [p + s for p in (base, emb) for s in (run.DATA, ".index")]
    link_times = {"plain": [], "verify": []}
    for i in range(args.runs):
        modes = (("plain", []), ("verify", ["--verify"]))
        for mode, extra in modes if i % 2 == 0 else modes[::-1]:
            link_times[mode].append(
                timed(lambda o: link + ["-o", o + "/m"] + extra, warm, f"link {mode} run {i + 1}"))
    shutil.rmtree(scratch, ignore_errors=True)

    print(f"{subprocess.run([new_bin, '--version'], capture_output=True, text=True).stdout.strip()}"
          f" against the baseline, {args.runs} runs each, alternating ABBA\n")
    print("| job | with the check: median (fastest) | baseline: median (fastest) | ratio of medians "
          "(of fastest) |")
    print("|---|---|---|---|")
    for g, k in jobs:
        job = next(j for j in builds["checked"][g] if j.key == k)
        a, b = (statistics.median(times[(g, k, x)]) for x in ("checked", "baseline"))
        fa, fb = (min(times[(g, k, x)]) for x in ("checked", "baseline"))
        print(f"| {run.TITLES[g]}: {job.label} | {run.fmt_time(a)} ({run.fmt_time(fa)}) | "
              f"{run.fmt_time(b)} ({run.fmt_time(fb)}) | {a / b:.2f} ({fa / fb:.2f}) |")
    a, b = (statistics.median(link_times[m]) for m in ("verify", "plain"))
    print(f"| merge BERT-large + embedding: `--link hardlink --verify` against without | "
          f"{run.fmt_time(a)} | {run.fmt_time(b)} | {a / b:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
