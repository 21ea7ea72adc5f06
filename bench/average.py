"""Times `tfckpt average --last 5 DIR -o OUT` on five ~1.1 GB float32 checkpoints against the way
users average checkpoints today (a Python script that loads each checkpoint with TensorFlow,
accumulates every float tensor in float64 numpy arrays, divides and saves) and against the floor
(reading the five data files and writing one at page-cache speed: `cat` + `cp`), alternating,
median of --runs. tfckpt fsyncs its output unless --no-sync, so both are timed, and the floor is
also given with a `sync` of the copied file.

Usage: python3 bench/average.py [--cache DIR] [--runs N] [--scale S] [--bin DIR]

Inputs (generated once with TensorFlow into CACHE/average, or CACHE/average-scaleS): one training
directory with five checkpoints model.ckpt-1000 ... model.ckpt-5000, each holding 17 float32
tensors of 64 MiB with different values per step plus an int64 `global_step`, and a `checkpoint`
state file listing them. --scale shrinks every tensor (smoke runs).

Each job runs under `/usr/bin/time -f '%e %U %S %M'`: CPU time (user + sys, including the job's own
children) and peak RSS come from there, wall time from this script. Peak RSS counts file pages mapped by the process, so a tool that
memory-maps its inputs shows their size there; the peak of RssAnon (private memory), sampled from
/proc/PID/status every 10 ms, is reported beside it. Outputs are removed, `sync` is run and the
inputs are re-read into the page cache before every timed run (a previous run's output can push
the inputs out of the cache).
"""

import argparse
import glob
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

STEPS = [1000, 2000, 3000, 4000, 5000]
N_TENSORS = 17
PIECE = 64 * 1024**2  # bytes per tensor at scale 1

# The comparison: averaging as users script it today with TensorFlow and numpy. Inputs are taken
# from the directory's `checkpoint` state file, float tensors are summed in float64 and divided,
# other tensors (global_step) come from the newest input, and the result is saved in the input
# dtypes. Runs as its own process so interpreter start and the TensorFlow import are counted.
PYTHON_AVERAGE = r'''
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf

ckpt_dir, last, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
paths = list(tf.train.get_checkpoint_state(ckpt_dir).all_model_checkpoint_paths)[-last:]
sums, dtypes, rest = {}, {}, {}
for path in paths:
    reader = tf.train.load_checkpoint(path)
    for name, dtype in reader.get_variable_to_dtype_map().items():
        value = reader.get_tensor(name)
        if dtype.is_floating:
            if name in sums:
                sums[name] += value
            else:
                sums[name] = value.astype(np.float64)
            dtypes[name] = dtype
        else:
            rest[name] = value
names, tensors = [], []
for name in sorted(sums):
    names.append(name)
    tensors.append((sums.pop(name) / len(paths)).astype(dtypes[name].as_numpy_dtype))
for name in sorted(rest):
    names.append(name)
    tensors.append(rest[name])
tf.raw_ops.SaveV2(prefix=out, tensor_names=names, shape_and_slices=[""] * len(names),
                  tensors=tensors)
'''

# Compares two averaged checkpoints (run once, before timing): same names, dtypes and shapes,
# and the largest absolute difference of the values.
COMPARE = r'''
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf

a, b = tf.train.load_checkpoint(sys.argv[1]), tf.train.load_checkpoint(sys.argv[2])
ma, mb = a.get_variable_to_dtype_map(), b.get_variable_to_dtype_map()
assert ma == mb, (sorted(ma), sorted(mb))
assert a.get_variable_to_shape_map() == b.get_variable_to_shape_map()
worst, ulps, unequal, differ, total = 0.0, 0.0, 0, 0, 0
for name in sorted(ma):
    x, y = a.get_tensor(name), b.get_tensor(name)
    total += x.size
    if not np.array_equal(x, y):
        unequal += 1
        diff = np.abs(x.astype(np.float64) - y.astype(np.float64))
        differ += int(np.count_nonzero(diff))
        worst = max(worst, float(diff.max()))
        if np.issubdtype(y.dtype, np.floating):
            ulps = max(ulps, float(np.max(diff / np.spacing(np.abs(y)).astype(np.float64))))
print(f"{len(ma)} tensors, {unequal} not bit-identical ({differ} of {total} values differ, "
      f"by at most {worst:.3g} or {ulps:.0f} ulp)")
'''


def generate(ckpt_dir, scale):
    """Writes the five checkpoints and the state file, unless the state file (written last) is
    already there."""
    state = os.path.join(ckpt_dir, "checkpoint")
    if os.path.exists(state):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    os.makedirs(ckpt_dir, exist_ok=True)
    rows = max(1, int(PIECE * scale) // 4 // 1024)
    names = [f"layer_{i:02d}/kernel" for i in range(N_TENSORS)] + ["global_step"]
    for step in STEPS:
        print(f"average.py: generating model.ckpt-{step}", file=sys.stderr)
        rng = np.random.default_rng(step)
        tensors = [rng.standard_normal((rows, 1024), dtype=np.float32) for _ in range(N_TENSORS)]
        tensors.append(np.array(step, dtype=np.int64))
        tf.raw_ops.SaveV2(prefix=os.path.join(ckpt_dir, f"model.ckpt-{step}"), tensor_names=names,
                          shape_and_slices=[""] * len(names), tensors=tensors)
        del tensors
    # TensorFlow's CheckpointState text format, with paths relative to the directory.
    lines = [f'model_checkpoint_path: "model.ckpt-{STEPS[-1]}"']
    lines += [f'all_model_checkpoint_paths: "model.ckpt-{s}"' for s in STEPS]
    with open(state + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(state + ".tmp", state)
    listed = tf.train.get_checkpoint_state(ckpt_dir).all_model_checkpoint_paths
    assert [os.path.basename(p) for p in listed] == [f"model.ckpt-{s}" for s in STEPS], listed


def read_status(pid):
    """Selected /proc/PID/status fields in KiB, or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f)
    except (OSError, ValueError):
        return None
    return {k: int(fields[k].split()[0]) for k in ("VmHWM", "RssAnon", "RssFile") if k in fields}


def child_of(pid):
    """The pid of a child of PID, found through /proc/*/stat, or None."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                return int(entry)
    return None


def run(cmd, scratch):
    """Runs argv under /usr/bin/time; returns (wall s, cpu s, peak RSS KiB, sampled peak RssAnon
    KiB). GNU time forks the command itself, so its peak RSS is not inflated by this (Python)
    process, which a child forked from here would inherit until exec."""
    report, log = os.path.join(scratch, "time.txt"), os.path.join(scratch, "stderr.txt")
    peak_anon = [0]
    done = threading.Event()
    with open(log, "w") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(["/usr/bin/time", "-f", "%e %U %S %M", "-o", report, *cmd],
                                stdout=subprocess.DEVNULL, stderr=err)

        def sample():
            pid = None
            while not done.is_set():
                pid = pid or child_of(proc.pid)
                status = read_status(pid) if pid else None
                if status and "RssAnon" in status:
                    peak_anon[0] = max(peak_anon[0], status["RssAnon"])
                done.wait(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        proc.wait()
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
    if proc.returncode != 0:
        sys.stderr.write(open(log).read())
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    with open(report) as f:
        _, user, system, rss = f.read().split()[-4:]
    return wall, float(user) + float(system), int(rss), peak_anon[0]


def fmt_time(s):
    return f"{s:.2f} s" if s >= 1 else f"{s * 1e3:.0f} ms"


def fmt_mem(kib):
    return f"{kib / 1024**2:.2f} GiB" if kib >= 1024**2 else f"{kib / 1024:.0f} MiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cache", default=os.path.join(HERE, "cache"))
    ap.add_argument("--runs", type=int, default=5, help="timed runs per job (at least 3)")
    ap.add_argument("--scale", type=float, default=1.0, help="shrink every tensor (smoke runs)")
    ap.add_argument("--bin", default=os.environ.get("TFCKPT_BIN_DIR", os.path.join(ROOT, "build", "bin")))
    ap.add_argument("--skip-tfckpt", action="store_true",
                    help="time only the Python script and the floor")
    ap.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.runs < 3:
        ap.error("--runs must be at least 3")

    name = "average" if args.scale == 1 else f"average-scale{args.scale:g}"
    ckpt_dir = os.path.join(args.cache, name)
    if args.generate_only:
        generate(ckpt_dir, args.scale)
        return
    # In a child process, so that this one stays small (see run()).
    subprocess.run([sys.executable, os.path.abspath(__file__), "--generate-only", "--cache",
                    args.cache, "--scale", str(args.scale)], check=True)
    tfckpt = os.path.join(args.bin, "tfckpt")
    data = [os.path.join(ckpt_dir, f"model.ckpt-{s}.data-00000-of-00001") for s in STEPS]
    index = [os.path.join(ckpt_dir, f"model.ckpt-{s}.index") for s in STEPS]
    size = sum(os.path.getsize(f) for f in data + index)
    scratch = os.path.join(args.cache, "scratch-average")
    out = os.path.join(scratch, "avg")
    out_data = out + ".data-00000-of-00001"
    last = str(len(STEPS))

    floor = f'cat "$@" > /dev/null && cp "{data[-1]}" "{out_data}"'
    jobs = {}
    if not args.skip_tfckpt:
        jobs[f"(a) tfckpt average --last {last} DIR -o OUT"] = [
            tfckpt, "average", "--last", last, ckpt_dir, "-o", out]
        jobs["(a') the same with --no-sync"] = [
            tfckpt, "average", "--last", last, ckpt_dir, "-o", out, "--no-sync"]
    jobs["(b) Python: tf.train.load_checkpoint + numpy float64 + SaveV2"] = [
        sys.executable, "-c", PYTHON_AVERAGE, ckpt_dir, last, out]
    jobs["(c) floor: cat 5 data files + cp 1"] = ["sh", "-c", floor, "sh", *data]
    jobs["(c') floor + sync of the copy"] = ["sh", "-c", floor + f' && sync "{out_data}"', "sh", *data]

    def fresh():
        shutil.rmtree(scratch, ignore_errors=True)
        os.makedirs(scratch)

    def warm():
        subprocess.run(["sync"], check=True)
        # Re-warm the inputs: the previous job's output may have pushed them out of the cache.
        subprocess.run(["cat"] + data + index, check=True, stdout=subprocess.DEVNULL)

    check = ""
    if not args.skip_tfckpt:
        # One untimed round: both averages must agree before their times mean anything.
        fresh()
        subprocess.run(jobs[next(iter(jobs))], check=True, stdout=subprocess.DEVNULL)
        os.rename(scratch, scratch + "-a")
        fresh()
        subprocess.run(jobs["(b) Python: tf.train.load_checkpoint + numpy float64 + SaveV2"],
                       check=True)
        check = subprocess.run([sys.executable, "-c", COMPARE, os.path.join(scratch + "-a", "avg"),
                                out], check=True, capture_output=True, text=True).stdout.strip()
        shutil.rmtree(scratch + "-a", ignore_errors=True)

    results = {k: [] for k in jobs}
    for i in range(args.runs):
        for label, cmd in jobs.items():
            fresh()
            warm()
            results[label].append(run(cmd, scratch))
            print(f"average.py: run {i + 1} {label}: {results[label][-1][0]:.2f} s", file=sys.stderr)
    shutil.rmtree(scratch, ignore_errors=True)

    med = {k: [statistics.median(r[j] for r in v) for j in range(4)] for k, v in results.items()}
    floor_wall = med["(c) floor: cat 5 data files + cp 1"][0]
    python_wall = med["(b) Python: tf.train.load_checkpoint + numpy float64 + SaveV2"][0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    print(f"inputs: {len(STEPS)} checkpoints x ({N_TENSORS} float32 tensors + int64 global_step), "
          f"{size / 1e9:.2f} GB in all; runs: {args.runs} (median)")
    if check:
        print(f"tfckpt vs Python output: {check}")
    print()
    print("| job | wall (median) | CPU user+sys | peak RSS | peak anon RSS (sampled) "
          "| × floor (c) | × Python (b) | all runs, wall |")
    print("|---|---|---|---|---|---|---|---|")
    for label in jobs:
        wall, cpu, rss, anon = med[label]
        anon_s = "—" if label.startswith("(c") else fmt_mem(anon)
        runs = " ".join(f"{r[0]:.2f}" for r in results[label])
        print(f"| {label} | {fmt_time(wall)} | {fmt_time(cpu)} | {fmt_mem(rss)} | {anon_s} "
              f"| {wall / floor_wall:.2f} | {wall / python_wall:.2f} | {runs} |")


if __name__ == "__main__":
    main()
