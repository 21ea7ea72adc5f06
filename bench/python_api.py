"""The Python package against TensorFlow's reader, on the BERT-large checkpoint (4.0 GB).

Usage: python3 bench/python_api.py [--runs 5] [--python DIR] [--cache DIR]

Each job runs in a fresh Python process (warm page cache: the checkpoint's files are read
before every run) and times itself after its imports, so that `import tensorflow` (several
seconds) is not counted against TensorFlow; the import is timed apart. Median of --runs runs:

  all       every tensor as a numpy array, every CRC32C checked:
              tfckpt   tfckpt.open(p).to_dict()   (read-only views on the mapped file; the first
                                                   read of each tensor checks its bytes)
              TF       r = tf.train.load_checkpoint(p); {n: r.get_tensor(n) for n in names}
  lazy      tfckpt.open(p).to_dict(verify=False): views, nothing read until touched
  one       open + the index + one tensor (bert/encoder/layer_12/intermediate/dense/kernel,
            1024 x 4096 float32, 16 MiB), its CRC32C checked, and its sum (every byte touched):
              tfckpt   tfckpt.open(p)[name].sum()
              TF       tf.train.load_checkpoint(p).get_tensor(name).sum()
  import    `import tfckpt` and `import tensorflow` alone

Peak RSS is GNU time's for the whole process (mapped file pages included for tfckpt, whose
views share the page cache instead of copying it).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from run import measure  # noqa: E402

ONE = "bert/encoder/layer_12/intermediate/dense/kernel"

JOBS = {
    "tfckpt_all": (
        "import tfckpt\n"
        "t = time.perf_counter()\n"
        "d = tfckpt.open(P).to_dict()\n"
        "n = sum(a.nbytes for a in d.values())\n"),
    "tfckpt_lazy": (
        "import tfckpt\n"
        "t = time.perf_counter()\n"
        "d = tfckpt.open(P).to_dict(verify=False)\n"
        "n = sum(a.nbytes for a in d.values())\n"),
    "tf_all": (
        "import tensorflow as tf\n"
        "t = time.perf_counter()\n"
        "r = tf.train.load_checkpoint(P)\n"
        "d = {k: r.get_tensor(k) for k in r.get_variable_to_shape_map()}\n"
        "n = sum(a.nbytes for a in d.values())\n"),
    "tfckpt_one": (
        "import tfckpt\n"
        "t = time.perf_counter()\n"
        "n = float(tfckpt.open(P)[ONE].sum())\n"),
    "tf_one": (
        "import tensorflow as tf\n"
        "t = time.perf_counter()\n"
        "n = float(tf.train.load_checkpoint(P).get_tensor(ONE).sum())\n"),
    "tfckpt_import": "t = time.perf_counter()\nimport tfckpt\nn = 0\n",
    "tf_import": "t = time.perf_counter()\nimport tensorflow as tf\nn = 0\n",
}


def script(body, prefix, out):
    return ("import json, os, time\n"
            "os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')\n"
            f"P, ONE = {prefix!r}, {ONE!r}\n" + body +
            "wall = time.perf_counter() - t\n"
            f"json.dump({{'wall': wall, 'n': n}}, open({out!r}, 'w'))\n")


def warm(paths):
    for path in paths:
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--python", default=os.path.join(ROOT, "build", "python"),
                    help="where the tfckpt package is")
    ap.add_argument("--cache", default=os.path.join(HERE, "cache"))
    args = ap.parse_args()
    subprocess.run([sys.executable, os.path.join(HERE, "inputs.py"), args.cache], check=True)
    prefix = os.path.join(args.cache, "bert-large", "model.ckpt")
    files = [prefix + ".index", prefix + ".data-00000-of-00001"]
    os.environ["PYTHONPATH"] = os.path.abspath(args.python)  # (for the jobs' processes)
    results = {}
    with tempfile.TemporaryDirectory() as work:
        for job, body in JOBS.items():
            runs = []
            for _ in range(args.runs):
                warm(files)
                out = os.path.join(work, job + ".json")
                path = os.path.join(work, job + ".py")
                with open(path, "w") as f:
                    f.write(script(body, prefix, out))
                m = measure([sys.executable, path], work)
                inner = json.load(open(out))
                runs.append({"wall": inner["wall"], "process": m["wall"], "rss": m["rss"],
                             "n": inner["n"]})
            results[job] = {k: statistics.median(r[k] for r in runs)
                            for k in ("wall", "process", "rss")}
            results[job]["n"] = runs[0]["n"]
            print(f"python_api.py: {job}: {results[job]}", file=sys.stderr)
    print(json.dumps(results, indent=1))
    r = results
    gb = sum(os.path.getsize(p) for p in files) / 1e9
    print(f"| every tensor, CRC32C checked ({gb:.2f} GB) | tfckpt `to_dict()` "
          f"{r['tfckpt_all']['wall']:.2f} s | TF `get_tensor` loop {r['tf_all']['wall']:.2f} s "
          f"| **{r['tf_all']['wall'] / r['tfckpt_all']['wall']:.1f} ×** | peak RSS "
          f"{r['tfckpt_all']['rss'] / 1024:.0f} MiB / {r['tf_all']['rss'] / 1024:.0f} MiB |")
    print(f"| every tensor as a lazy view (`verify=False`) | {r['tfckpt_lazy']['wall'] * 1e3:.1f} ms"
          f" | — | — | {r['tfckpt_lazy']['rss'] / 1024:.0f} MiB |")
    print(f"| open + index + one tensor ({ONE}) | {r['tfckpt_one']['wall'] * 1e3:.1f} ms | "
          f"{r['tf_one']['wall'] * 1e3:.1f} ms | **{r['tf_one']['wall'] / r['tfckpt_one']['wall']:.1f} ×**"
          f" | {r['tfckpt_one']['rss'] / 1024:.0f} MiB / {r['tf_one']['rss'] / 1024:.0f} MiB |")
    print(f"| import | {r['tfckpt_import']['wall'] * 1e3:.0f} ms | {r['tf_import']['wall']:.2f} s | "
          f"**{r['tf_import']['wall'] / r['tfckpt_import']['wall']:.0f} ×** | "
          f"{r['tfckpt_import']['rss'] / 1024:.0f} MiB / {r['tf_import']['rss'] / 1024:.0f} MiB |")


if __name__ == "__main__":
    main()
