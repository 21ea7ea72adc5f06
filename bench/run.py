"""The tfckpt benchmark suite: generates its inputs once with TensorFlow (bench/inputs.py, into
CACHE, git-ignored) and times every job three ways in the same run, alternating: tfckpt, the way
users do it today with TensorFlow (a Python script in bench/tf_way/, run as its own process so
interpreter start and the TensorFlow import count), and the floor (cp, ln, cat: moving the same
bytes at page-cache speed). Prints one markdown table of medians and ratios, and writes
CACHE/results.json and a chart of the ratios (--chart).

Usage:
  python3 bench/run.py                      full size, 5 runs per job, chart to docs/benchmarks.svg
  python3 bench/run.py --runs 3             quicker pass
  python3 bench/run.py --only merge-base ls one or more groups (see --list)
  python3 bench/run.py --smoke              CI: every job once at --scale 0.01 in a separate
                                            cache; exits non-zero if any job fails or any tfckpt
                                            output differs from TensorFlow's

Before every timed run the job's previous output is deleted, `sync` is run and the job's inputs
are re-read into the page cache (a previous run's output can push them out on this machine).
Each job runs under `/usr/bin/time -f '%e %U %S %M'` (CPU = user + sys, peak RSS); the peak of
its private memory (RssAnon, which excludes mapped file pages) is sampled from /proc every 10 ms.
tfckpt comes from --bin (default build/bin); copy it elsewhere first if the tree may be rebuilt.
"""

import argparse
import json
import math
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
TF_WAY = os.path.join(HERE, "tf_way")
DATA = ".data-00000-of-00001"
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # inherited by every TensorFlow process


# ----------------------------------------------------------------------------- measurement

def read_anon(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def child_of(pid):
    """The pid of a child of PID (found through /proc/*/stat), or None."""
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


def add_bin_and_cache(ap):
    """The options every benchmark script takes: --bin (the tfckpt to time) and --cache."""
    ap.add_argument("--bin", default=os.environ.get("TFCKPT_BIN_DIR",
                                                    os.path.join(ROOT, "build", "bin")))
    ap.add_argument("--cache", default=os.path.join(HERE, "cache"))


def measure(cmd, log_dir):
    """Runs argv under /usr/bin/time; returns dict(wall, cpu, rss, anon) in s and KiB, or raises
    CalledProcessError. GNU time forks the command itself, so its peak RSS is the command's."""
    report, log = os.path.join(log_dir, "time.txt"), os.path.join(log_dir, "stderr.txt")
    peak = [0]
    done = threading.Event()
    with open(log, "w") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(["/usr/bin/time", "-f", "%e %U %S %M", "-o", report, *cmd],
                                stdout=subprocess.DEVNULL, stderr=err)

        def sample():
            pid = None
            while not done.is_set():
                pid = pid or child_of(proc.pid)
                anon = read_anon(pid) if pid else None
                if anon:
                    peak[0] = max(peak[0], anon)
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
    return {"wall": wall, "cpu": float(user) + float(system), "rss": int(rss), "anon": peak[0]}


# ----------------------------------------------------------------------------- jobs

class Job:
    """One command of a group. role: tfckpt, tf or floor. argv(out) builds the command for an
    output directory OUT; setup(out) runs untimed before it; warm lists the files to re-read."""

    def __init__(self, key, label, role, argv, warm, setup=None, result=None):
        self.key, self.label, self.role, self.argv = key, label, role, argv
        self.warm, self.setup, self.result = warm, setup, result


def files(prefix):
    return [prefix + DATA, prefix + ".index"]


def sh(script, *args):
    return ["sh", "-c", script, "sh", *args]


def tensor_bytes(tfckpt, prefix, keep):
    listing = json.loads(subprocess.run([tfckpt, "ls", "--json", prefix], check=True,
                                        capture_output=True, text=True).stdout)
    return sum(t["bytes"] for t in listing["tensors"] if keep(t["name"]))


def sized_copy_source(cache, name, src_data, nbytes):
    """A file holding the first NBYTES of SRC_DATA: `cp` of it is the floor of a job that writes
    that many bytes (made once, untimed)."""
    path = os.path.join(cache, "floor", f"{name}-{nbytes}.bin")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(src_data, "rb") as src, open(path + ".tmp", "wb") as dst:
            left = nbytes
            while left:
                chunk = src.read(min(left, 1 << 24))
                dst.write(chunk)
                left -= len(chunk)
        os.replace(path + ".tmp", path)
    return path


def is_slot(name):
    return name.endswith(("/adam_m", "/adam_v"))


def groups(cache, tfckpt):
    py = sys.executable
    tfw = lambda script: os.path.join(TF_WAY, script)  # noqa: E731
    base = os.path.join(cache, "bert-base", "model.ckpt")
    large = os.path.join(cache, "bert-large", "model.ckpt")
    emb = os.path.join(cache, "embedding", "model.ckpt")
    many = os.path.join(cache, "many", "model.ckpt")
    train = os.path.join(cache, "train")
    steps = [os.path.join(train, f"model.ckpt-{s}") for s in (1000, 2000, 3000, 4000, 5000)]
    out = {}

    def merge_group(name, model):
        srcs = [model, emb]
        data = [s + DATA for s in srcs]

        def copy_inputs(o):
            for i, s in enumerate(srcs):
                os.makedirs(os.path.join(o, f"in{i}"))
                for f in files(s):
                    shutil.copy(f, os.path.join(o, f"in{i}", os.path.basename(f)))

        copies = lambda o: [os.path.join(o, f"in{i}", "model.ckpt") for i in range(2)]  # noqa
        cp = 'cp "$1" "$3/a" && cp "$2" "$3/b"'
        out[name] = [
            Job("copy", "`tfckpt merge` (copy, fsync)", "tfckpt",
                lambda o: [tfckpt, "merge", *srcs, "-o", o + "/m"], data, result="m"),
            Job("nosync", "`tfckpt merge --no-sync`", "tfckpt",
                lambda o: [tfckpt, "merge", *srcs, "-o", o + "/m", "--no-sync"], data),
            Job("linkcopy", "`tfckpt merge --link copy` (fsync)", "tfckpt",
                lambda o: [tfckpt, "merge", *srcs, "-o", o + "/m", "--link", "copy"], data,
                result="m"),
            Job("link", "`tfckpt merge --link hardlink`", "tfckpt",
                lambda o: [tfckpt, "merge", *srcs, "-o", o + "/m", "--link", "hardlink"], data),
            Job("tf", "`tf.raw_ops.MergeV2Checkpoints` on copies", "tf",
                lambda o: [py, tfw("merge.py"), o + "/m", *copies(o)],
                None, setup=copy_inputs, result="m"),
            Job("cp", "`cp` of the data files", "floor", lambda o: sh(cp, *data, o), data),
            Job("cpsync", "`cp` + `sync` of the copies", "floor",
                lambda o: sh(cp + ' && sync "$3/a" "$3/b"', *data, o), data),
            Job("ln", "`ln` of the data files", "floor",
                lambda o: sh('ln "$1" "$3/a" && ln "$2" "$3/b"', *data, o), data),
        ]

    merge_group("merge-base", base)
    merge_group("merge-large", large)

    scope = "bert/encoder/"
    moved = tensor_bytes(tfckpt, base, lambda n: n.startswith(scope))
    floor_src = sized_copy_source(cache, "transfer", base + DATA, moved)
    out["transfer"] = [
        Job("copy", "`tfckpt transfer` (fsync)", "tfckpt",
            lambda o: [tfckpt, "transfer", "--from", base, "--map", f"{scope}={scope}",
                       "-o", o + "/t"], files(base), result="t"),
        Job("nosync", "`tfckpt transfer --no-sync`", "tfckpt",
            lambda o: [tfckpt, "transfer", "--from", base, "--map", f"{scope}={scope}",
                       "-o", o + "/t", "--no-sync"], files(base)),
        Job("tf", "TF1: variables + `init_from_checkpoint` + `Saver.save`", "tf",
            lambda o: [py, tfw("transfer.py"), base, scope, o + "/t"], files(base), result="t"),
        Job("cp", f"`cp` of {fmt_bytes(moved)}", "floor",
            lambda o: ["cp", floor_src, o + "/x"], [floor_src]),
        Job("cpsync", "`cp` + `sync`", "floor",
            lambda o: sh('cp "$1" "$2/x" && sync "$2/x"', floor_src, o), [floor_src]),
    ]

    kept = tensor_bytes(tfckpt, base, lambda n: not is_slot(n))
    kept_src = sized_copy_source(cache, "strip", base + DATA, kept)
    out["strip"] = [
        Job("copy", "`tfckpt edit --strip-optimizer` (fsync)", "tfckpt",
            lambda o: [tfckpt, "edit", base, "--strip-optimizer", "-o", o + "/s"], files(base),
            result="s"),
        Job("nosync", "`tfckpt edit --strip-optimizer --no-sync`", "tfckpt",
            lambda o: [tfckpt, "edit", base, "--strip-optimizer", "-o", o + "/s", "--no-sync"],
            files(base)),
        Job("tf", "`load_checkpoint` + keep non-slots + `SaveV2`", "tf",
            lambda o: [py, tfw("strip.py"), base, o + "/s"], files(base), result="s"),
        Job("cp", f"`cp` of {fmt_bytes(kept)}", "floor",
            lambda o: ["cp", kept_src, o + "/x"], [kept_src]),
        Job("cpsync", "`cp` + `sync`", "floor",
            lambda o: sh('cp "$1" "$2/x" && sync "$2/x"', kept_src, o), [kept_src]),
    ]

    step_files = [f for s in steps for f in files(s)]
    step_data = [s + DATA for s in steps]
    floor = 'o="$1"; shift; cat "$@" > /dev/null && cp "$5" "$o/x"'
    avg = [tfckpt, "average", "--last", "5", train, "--keep-optimizer"]
    out["average"] = [
        Job("copy", "`tfckpt average --last 5 DIR --keep-optimizer` (fsync)", "tfckpt",
            lambda o: avg + ["-o", o + "/a"], step_files, result="a"),
        Job("nosync", "`tfckpt average ... --no-sync`", "tfckpt",
            lambda o: avg + ["-o", o + "/a", "--no-sync"], step_files),
        Job("tf", "`load_checkpoint` + numpy float64 + `SaveV2`", "tf",
            lambda o: [py, tfw("average.py"), train, "5", o + "/a"], step_files, result="a"),
        Job("cp", "`cat` of 5 data files + `cp` of 1", "floor",
            lambda o: sh(floor, o, *step_data), step_files),
        Job("cpsync", "the same + `sync` of the copy", "floor",
            lambda o: sh(floor + ' && sync "$o/x"', o, *step_data), step_files),
    ]

    listing = subprocess.run([tfckpt, "ls", "--json", many], check=True, capture_output=True,
                             text=True).stdout
    TITLES["ls"] = f"ls, {len(json.loads(listing)['tensors']):,} tensors"
    out["ls"] = [
        Job("ls", "`tfckpt ls`", "tfckpt", lambda o: [tfckpt, "ls", many], files(many)),
        Job("tf", "`tf.train.list_variables` (incl. interpreter start)", "tf",
            lambda o: [py, tfw("list.py"), many], files(many)),
        Job("cat", "`cat` of the files", "floor", lambda o: ["cat", *files(many)], files(many)),
    ]
    out["verify"] = [
        Job("verify", "`tfckpt verify`", "tfckpt", lambda o: [tfckpt, "verify", large],
            files(large)),
        Job("tf", "`get_tensor` of every tensor", "tf", lambda o: [py, tfw("verify.py"), large],
            files(large)),
        Job("cat", "`cat` of the files", "floor", lambda o: ["cat", *files(large)], files(large)),
    ]
    return out


# Table rows: (group, tfckpt job, TF job, floor job).
ROWS = [
    ("merge-base", "copy", "tf", "cpsync"), ("merge-base", "nosync", "tf", "cp"),
    ("merge-base", "linkcopy", "tf", "cpsync"), ("merge-base", "link", "tf", "ln"),
    ("merge-large", "copy", "tf", "cpsync"), ("merge-large", "nosync", "tf", "cp"),
    ("merge-large", "linkcopy", "tf", "cpsync"), ("merge-large", "link", "tf", "ln"),
    ("transfer", "copy", "tf", "cpsync"), ("transfer", "nosync", "tf", "cp"),
    ("strip", "copy", "tf", "cpsync"), ("strip", "nosync", "tf", "cp"),
    ("average", "copy", "tf", "cpsync"), ("average", "nosync", "tf", "cp"),
    ("ls", "ls", "tf", "cat"), ("verify", "verify", "tf", "cat"),
]

# Targets on tfckpt time ÷ floor time (verify: at least 0.8 × cat's throughput).
FLOOR_TARGETS = {(g, k): t for gs, t in ((("merge-base", "merge-large"), 1.2),
                                          (("transfer", "strip"), 1.3), (("average",), 1.5))
                 for g in gs for k in ("copy", "nosync")} | {("verify", "verify"): 1 / 0.8} \
    | {(g, "linkcopy"): 1.3 for g in ("merge-base", "merge-large")}

TITLES = {
    "merge-base": "merge BERT-base + embedding",
    "merge-large": "merge BERT-large + embedding",
    "transfer": "transfer `bert/encoder/` of BERT-base",
    "strip": "strip Adam slots of BERT-base",
    "average": "average 5 BERT-base steps",
    "ls": "ls, 50,000 tensors",
    "verify": "verify BERT-large",
}


# ----------------------------------------------------------------------------- reporting

def fmt_bytes(n):
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def fmt_time(s):
    return f"{s:.2f} s" if s >= 1 else f"{s * 1e3:.0f} ms" if s >= 0.01 else f"{s * 1e3:.1f} ms"


def fmt_mem(kib):
    return f"{kib / 1024**2:.2f} GiB" if kib >= 1024**2 else f"{kib / 1024:.0f} MiB"


def gb(paths):
    return sum(os.path.getsize(p) for p in paths) / 1e9


def medians(results):
    return {g: {k: {m: statistics.median(r[m] for r in runs) for m in ("wall", "cpu", "rss", "anon")}
                | {"runs": [r["wall"] for r in runs]}
                for k, runs in jobs.items() if runs}
            for g, jobs in results.items()}


def table(med, jobs):
    lines = ["| job | tfckpt | TensorFlow way | floor | × faster than TF | × floor "
             "| tfckpt CPU | tfckpt peak RSS (anon) | TF peak RSS (anon) |",
             "|---|---|---|---|---|---|---|---|---|"]
    chart = []
    for g, a, t, f in ROWS:
        if g not in med or a not in med[g]:
            continue
        ja, jt, jf = (next(j for j in jobs[g] if j.key == k) for k in (a, t, f))
        ma, mt, mf = med[g][a], med[g].get(t), med[g].get(f)
        speed = mt["wall"] / ma["wall"] if mt else None
        ratio = ma["wall"] / mf["wall"] if mf else None
        lines.append(
            f"| {TITLES[g]}: {ja.label} | {fmt_time(ma['wall'])} "
            f"| {fmt_time(mt['wall']) if mt else '—'} "
            f"| {fmt_time(mf['wall']) + ' (' + jf.label + ')' if mf else '—'} "
            f"| {speed:.1f}× | {ratio:.2f} | {fmt_time(ma['cpu'])} "
            f"| {fmt_mem(ma['rss'])} ({fmt_mem(ma['anon'])}) "
            f"| {fmt_mem(mt['rss']) + ' (' + fmt_mem(mt['anon']) + ')' if mt else '—'} |")
        chart.append((f"{TITLES[g]}: {ja.label.strip('`').split(' (')[0]}", speed, ratio,
                      FLOOR_TARGETS.get((g, a))))
    return "\n".join(lines), chart


def draw(chart, path):
    """The chart as an SVG file: two panels of horizontal bars on log scales, the speed-up over
    the TensorFlow way and tfckpt's time over the floor's (with the targets as ticks). Written
    by hand so that the documented command needs nothing beyond Python itself."""
    label_w, panel_w, gap, row_h, top = 480, 330, 60, 22, 46
    height = top + row_h * len(chart) + 34
    width = label_w + 2 * panel_w + gap + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>']

    def esc(text):
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def panel(x0, title, values, ticks, color, label, targets=None):
        lo, hi = min(ticks), max(ticks)
        span = math.log10(hi) - math.log10(lo)

        def x(v):
            v = min(max(v, lo), hi)
            return x0 + panel_w * (math.log10(v) - math.log10(lo)) / span

        out.append(f'<text x="{x0 + panel_w / 2}" y="18" text-anchor="middle" '
                   f'font-size="12">{esc(title)}</text>')
        bottom = top + row_h * len(values)
        for t in ticks:
            out.append(f'<line x1="{x(t):.1f}" y1="{top - 4}" x2="{x(t):.1f}" y2="{bottom}" '
                       f'stroke="{"black" if t == 1 else "#ddd"}"/>')
            out.append(f'<text x="{x(t):.1f}" y="{bottom + 14}" text-anchor="middle">{t:g}</text>')
        for n, v in enumerate(values):
            y = top + row_h * n
            out.append(f'<rect x="{x0}" y="{y + 4}" width="{x(v) - x0:.1f}" height="{row_h - 8}" '
                       f'fill="{color}"/>')
            out.append(f'<text x="{x(v) + 4:.1f}" y="{y + row_h / 2 + 4}">{label(v)}</text>')
            if targets and targets[n]:
                out.append(f'<line x1="{x(targets[n]):.1f}" y1="{y + 1}" x2="{x(targets[n]):.1f}" '
                           f'y2="{y + row_h - 1}" stroke="black" stroke-width="2"/>')

    for n, c in enumerate(chart):
        out.append(f'<text x="{label_w - 8}" y="{top + row_h * n + row_h / 2 + 4}" '
                   f'text-anchor="end">{esc(c[0].replace("`", ""))}</text>')
    panel(label_w, "speed-up over the TensorFlow way (×, log)", [c[1] for c in chart],
          [1, 10, 100, 1000], "#3b75af", lambda v: f"{v:.0f}×" if v >= 10 else f"{v:.1f}×")
    panel(label_w + panel_w + gap, "tfckpt time ÷ floor time (log; 1 = cp/ln/cat; | = target)",
          [c[2] for c in chart], [0.5, 1, 2, 5, 10, 20], "#d1843c", lambda v: f"{v:.2f}",
          [c[3] for c in chart])
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


# ----------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cache", help="inputs and scratch (default bench/cache, or "
                    "bench/cache/smoke with --smoke)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per job (median; default 5)")
    ap.add_argument("--scale", type=float, default=1.0, help="shrink the inputs")
    ap.add_argument("--bin", default=os.environ.get("TFCKPT_BIN_DIR", os.path.join(ROOT, "build", "bin")))
    ap.add_argument("--only", nargs="+", help="run only these groups")
    ap.add_argument("--list", action="store_true", help="list the groups and exit")
    ap.add_argument("--chart", help="write the chart here (default docs/benchmarks.svg; "
                    "none with --smoke)")
    ap.add_argument("--smoke", action="store_true",
                    help="CI: --scale 0.01 --runs 1, own cache, check outputs, no chart")
    args = ap.parse_args()
    if args.smoke:
        args.scale, args.runs = min(args.scale, 0.01), 1
    cache = os.path.abspath(args.cache or os.path.join(HERE, "cache", "smoke" if args.smoke else ""))
    if args.scale != 1 and not args.smoke and not args.cache:
        cache = os.path.join(HERE, "cache", f"scale{args.scale:g}")
    chart_path = args.chart or (None if args.smoke else os.path.join(ROOT, "docs", "benchmarks.svg"))
    tfckpt = os.path.abspath(os.path.join(args.bin, "tfckpt"))

    subprocess.run([sys.executable, os.path.join(HERE, "inputs.py"), cache, "--scale",
                    str(args.scale)], check=True)
    jobs = groups(cache, tfckpt)
    if args.list:
        print("\n".join(f"{g}: {TITLES[g]}" for g in jobs))
        return 0
    selected = args.only or list(jobs)
    unknown = set(selected) - set(jobs)
    if unknown:
        ap.error(f"unknown group(s): {', '.join(sorted(unknown))}")

    scratch_root = os.path.join(cache, "scratch")
    shutil.rmtree(scratch_root, ignore_errors=True)
    results_path = os.path.join(cache, "results.json")
    saved = json.load(open(results_path)) if os.path.exists(results_path) and not args.smoke else {}
    results = {g: {j.key: [] for j in jobs[g]} for g in selected}
    failures = []
    for g in selected:
        for i in range(args.runs):
            for job in jobs[g]:
                o = os.path.join(scratch_root, g, job.key)
                shutil.rmtree(o, ignore_errors=True)
                os.makedirs(o)
                if job.setup:
                    job.setup(o)
                subprocess.run(["sync"], check=True)
                warm = job.warm or [p for p in
                                    (os.path.join(d, f) for d, _, fs in os.walk(o) for f in fs)]
                subprocess.run(["cat", *warm], check=True, stdout=subprocess.DEVNULL)
                try:
                    r = measure(job.argv(o), os.path.dirname(o))
                except subprocess.CalledProcessError as e:
                    failures.append(f"{g}/{job.key}: {e}")
                    print(f"run.py: FAILED {g}/{job.key}: {e}", file=sys.stderr)
                    continue
                results[g][job.key].append(r)
                print(f"run.py: {g} run {i + 1}/{args.runs} {job.key}: {r['wall']:.3f} s, "
                      f"anon {r['anon'] / 1024:.0f} MiB", file=sys.stderr)
                if i < args.runs - 1 or not job.result:
                    shutil.rmtree(o, ignore_errors=True)
        # The last run's outputs of tfckpt and TensorFlow must hold the same tensors.
        kept = [j for j in jobs[g] if j.result]
        if len(kept) == 2:
            a, b = (os.path.join(scratch_root, g, j.key, j.result) for j in kept)
            if os.path.exists(a + ".index") and os.path.exists(b + ".index"):
                diff = subprocess.run([tfckpt, "diff", a, b], capture_output=True, text=True)
                status = "identical" if diff.returncode == 0 else "DIFFER"
                print(f"run.py: {g}: tfckpt and TensorFlow outputs {status}", file=sys.stderr)
                if diff.returncode != 0:
                    failures.append(f"{g}: outputs differ:\n{diff.stdout}{diff.stderr}")
            else:
                failures.append(f"{g}: an output is missing")
        shutil.rmtree(os.path.join(scratch_root, g), ignore_errors=True)
        if not args.smoke:
            saved[g] = results[g]
            with open(results_path + ".tmp", "w") as f:
                json.dump(saved, f)
            os.replace(results_path + ".tmp", results_path)

    # Report everything measured so far in this cache (earlier --only runs included).
    med = medians(saved if not args.smoke else results)
    text, chart = table(med, jobs)
    version = subprocess.run([tfckpt, "--version"], capture_output=True, text=True).stdout.strip()
    sizes = {n: gb(files(os.path.join(cache, n, "model.ckpt")))
             for n in ("bert-base", "bert-large", "embedding", "many")}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 1024**3:.0f} GiB, "
          f"Linux {platform.release()}; tfckpt {version}; scale {args.scale:g}; runs {args.runs}")
    print("inputs: " + ", ".join(f"{n} {s:.3f} GB" for n, s in sizes.items()))
    print()
    print(text)
    if chart_path and chart:
        draw(chart, chart_path)
        print(f"\nchart: {os.path.relpath(chart_path, ROOT)}", file=sys.stderr)
    if failures:
        print("\nFAILURES:\n" + "\n".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
