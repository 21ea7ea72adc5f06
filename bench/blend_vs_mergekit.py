"""tfckpt blend against mergekit on the same BERT-base weights.

Usage: python3 bench/blend_vs_mergekit.py [--runs 3] [--bin DIR] [--cache DIR]

Sets up (once, into CACHE/mergekit-venv/) a virtual environment of its own with mergekit and
PyTorch (CPU: `pip install torch==2.13.0`, then `mergekit==0.1.5`, with one expression of
mergekit's plan.py mended: as released it fails on every BERT model); TensorFlow, tfckpt's Python
package and safetensors come from the environment running this script. Writes (once, into
CACHE/blend/) three BERT-base-shaped checkpoints with TensorFlow's SaveV2 (the variables of
google-research/bert's BertModel, float32, 440 MB each): a base and two "fine-tuned" models, the
base plus small random deltas; and the same weights as Hugging Face BertModel directories
(config.json and model.safetensors, names as transformers names them, kernels transposed to
PyTorch's layout). Then times, each --runs times with the inputs in the page cache and `sync`
before each run:

  tfckpt blend ties|slerp|dare on the checkpoints (fsync'd, as by default)
  mergekit-yaml with the same method and parameters (ties, slerp, dare_linear) on the directories
  the floor: `cat` of the inputs' data + `cp` of one + `sync`

and compares the outputs: ties and slerp element by element (largest difference, and how many
elements differ by more than 1e-4 of their tensor's largest magnitude, beyond float32
arithmetic: mergekit computes in float32, tfckpt in float64); dare draws its random masks differently in each
tool (tfckpt's are a function of --seed and the tensor's name), so only the fraction of the
deltas kept is compared. Peak RSS is GNU time's; peak private memory (RssAnon) is sampled as
bench/run.py does.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from inputs import bert_variables  # noqa: E402
from run import add_bin_and_cache, measure  # noqa: E402

TORCH, MERGEKIT = "torch==2.13.0", "mergekit==0.1.5"
MODELS = ("base", "ft1", "ft2")
DENSITY, T, P, SEED = 0.5, 0.5, 0.5, 0

BERT_CONFIG = {
    "architectures": ["BertModel"], "model_type": "bert", "vocab_size": 30522,
    "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
    "intermediate_size": 3072, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2,
    "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0,
    "dtype": "float32"}


def hf_name(tf_name):
    """google-research/bert's variable name -> (transformers' BertModel name, transposed)."""
    parts = tf_name.split("/")[1:]  # without "bert/"
    parts = ["layer.%s" % p[len("layer_"):] if p.startswith("layer_") else p for p in parts]
    last = parts[-1]
    if last == "kernel":
        return ".".join(parts[:-1] + ["weight"]), True
    if last in ("gamma", "beta"):
        return ".".join(parts[:-1] + ["weight" if last == "gamma" else "bias"]), False
    if last.endswith("_embeddings"):
        return ".".join(parts + ["weight"]), False
    return ".".join(parts), False


def venv(cache):
    """The benchmark's own environment with mergekit; returns its bin directory."""
    d = os.path.join(cache, "mergekit-venv")
    bin_dir = os.path.join(d, "bin")
    if not os.path.exists(os.path.join(bin_dir, "mergekit-yaml")):
        print("setting up %s (%s, %s)..." % (d, TORCH, MERGEKIT), file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", d], check=True)
        pip = [os.path.join(bin_dir, "pip"), "install", "-q", "--disable-pip-version-check"]
        subprocess.run(pip + [TORCH], check=True)
        subprocess.run(pip + [TORCH, MERGEKIT], check=True)
    # mergekit 0.1.4 and 0.1.5 fail on every BERT model: for an optional weight (BERT's
    # position_ids) plan.py joins a list and the tuple of its aliases ("can only concatenate
    # list (not "tuple") to list"). That one expression is mended in this environment.
    plan = subprocess.run([os.path.join(bin_dir, "python"), "-c",
                           "import mergekit.plan as p; print(p.__file__)"],
                          capture_output=True, text=True, check=True).stdout.strip()
    text = open(plan).read()
    if "[w_in.name] + (w_in.aliases or [])" in text:
        with open(plan, "w") as f:
            f.write(text.replace("[w_in.name] + (w_in.aliases or [])",
                                 "[w_in.name] + list(w_in.aliases or [])"))
    return bin_dir


def write_inputs(cache):
    """The three checkpoints and their Hugging Face twins; returns {model: (prefix, hf_dir)}."""
    out = {m: (os.path.join(cache, "blend", m, "model.ckpt"), os.path.join(cache, "blend", "hf", m))
           for m in MODELS}
    if all(os.path.exists(os.path.join(h, "model.safetensors")) for _, h in out.values()):
        return out
    import numpy as np
    import tensorflow as tf
    import tfckpt
    from safetensors.numpy import save_file

    variables = [(n, s) for n, s in bert_variables(12, 768, 3072) if n.startswith("bert/")]
    rng = np.random.default_rng(1)
    base = {n: rng.standard_normal(s, dtype=np.float32) * np.float32(0.02) for n, s in variables}
    for k, m in enumerate(MODELS):
        prefix, hf = out[m]
        if k == 0:
            values = base
        else:  # a fine-tuned model: the base plus small deltas of its own
            r = np.random.default_rng(100 + k)
            values = {n: v + r.standard_normal(v.shape, dtype=np.float32) * np.float32(0.002)
                      for n, v in base.items()}
        os.makedirs(os.path.dirname(prefix), exist_ok=True)
        names = [n for n, _ in variables]
        tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                          tensors=[values[n] for n in names])
        ckpt = tfckpt.open(prefix)
        tensors = {}
        for n in names:
            name, transpose = hf_name(n)
            tensors[name] = np.ascontiguousarray(ckpt[n].T if transpose else ckpt[n])
        os.makedirs(hf, exist_ok=True)
        with open(os.path.join(hf, "config.json"), "w") as f:
            json.dump(BERT_CONFIG, f, indent=1)
        save_file(tensors, os.path.join(hf, "model.safetensors"))
    return out


def mergekit_config(method, inputs):
    base = inputs["base"][1]
    if method == "ties":
        models = [{"model": inputs[m][1], "parameters": {"weight": 1.0, "density": DENSITY}}
                  for m in ("ft1", "ft2")]
        return {"merge_method": "ties", "base_model": base, "models": models,
                "parameters": {"normalize": True, "lambda": 1.0}, "dtype": "float32"}
    if method == "slerp":
        return {"merge_method": "slerp", "base_model": base,
                "models": [{"model": base}, {"model": inputs["ft1"][1]}],
                "parameters": {"t": T}, "dtype": "float32"}
    models = [{"model": inputs[m][1], "parameters": {"weight": 1.0, "density": 1 - P}}
              for m in ("ft1", "ft2")]
    return {"merge_method": "dare_linear", "base_model": base, "models": models,
            "parameters": {"normalize": False, "lambda": 1.0}, "dtype": "float32"}


def tfckpt_argv(tfckpt, method, inputs, out):
    ckpt = {m: p for m, (p, _) in inputs.items()}
    if method == "ties":
        return [tfckpt, "blend", "ties", "--base", ckpt["base"], ckpt["ft1"], ckpt["ft2"],
                "--density", str(DENSITY), "-o", out]
    if method == "slerp":
        return [tfckpt, "blend", "slerp", "--base", ckpt["base"], ckpt["ft1"], "--t", str(T),
                "-o", out]
    return [tfckpt, "blend", "dare", "--base", ckpt["base"], ckpt["ft1"], ckpt["ft2"], "--p",
            str(P), "--seed", str(SEED), "-o", out]


def warm(paths):
    for path in paths:
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


def timed(argv, out_dir, inputs, env=None):
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    subprocess.run(["sync"], check=True)
    warm(inputs)
    with tempfile.TemporaryDirectory() as logs:
        if env is None:
            return measure(argv, logs)
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            return measure(argv, logs)
        finally:
            os.environ.clear()
            os.environ.update(saved)


def compare(method, ours_prefix, theirs_dir, inputs):
    import numpy as np
    import tfckpt
    from safetensors.numpy import load_file

    ours = tfckpt.open(ours_prefix)
    theirs = {}
    for f in sorted(os.listdir(theirs_dir)):
        if f.endswith(".safetensors"):
            theirs.update(load_file(os.path.join(theirs_dir, f)))
    base = tfckpt.open(inputs["base"][0])
    worst, relative, over, explained, cancelled, total, kept = 0.0, 0.0, 0, 0, 0, 0, []
    for n in ours.names():
        name, transpose = hf_name(n)
        a = np.asarray(ours[n], np.float64)
        b = np.asarray(theirs[name].T if transpose else theirs[name], np.float64)
        assert a.shape == b.shape, (n, a.shape, b.shape)
        total += a.size
        if method == "dare":  # the fraction of all deltas each tool kept
            delta = a - np.asarray(base[n], np.float64)
            delta_theirs = b - np.asarray(base[n], np.float64)
            kept.append((np.count_nonzero(delta), np.count_nonzero(delta_theirs), a.size))
            continue
        diff = np.abs(a - b)
        worst = max(worst, float(diff.max()))
        # (beyond float32 arithmetic: mergekit computes in float32, tfckpt in float64)
        scale = float(np.abs(a).max()) or 1.0
        relative = max(relative, float(diff.max()) / scale)
        bad = np.flatnonzero(diff.reshape(-1) > 1e-4 * scale)
        over += int(bad.size)
        if method == "ties" and bad.size:
            # Differences where a model's delta, in float32 as mergekit computes it, ties with
            # the magnitude at which trimming cuts (tfckpt's float64 deltas do not tie).
            # And where the two deltas cancel exactly: the elected sign is that of 0, which
            # tfckpt takes as 0 (neither kept) and mergekit as + (the positive one kept).
            at_cut = np.zeros(bad.size, bool)
            taus = []
            for m in ("ft1", "ft2"):
                tau = (np.asarray(tfckpt.open(inputs[m][0])[n]) - np.asarray(base[n])).reshape(-1)
                k = int(DENSITY * tau.size)
                cut = np.partition(np.abs(tau), tau.size - k)[tau.size - k]
                at_cut |= np.abs(np.abs(tau[bad]) - cut) <= 2 * np.spacing(cut)
                taus.append(tau[bad])
            cancel = (taus[0] == -taus[1]) & (taus[0] != 0)
            explained += int(np.count_nonzero(at_cut & ~cancel))
            cancelled += int(np.count_nonzero(cancel))
    assert len(theirs) == len(ours.names()), (len(theirs), len(ours.names()))
    if method == "dare":
        ours_kept = sum(k[0] for k in kept) / sum(k[2] for k in kept)
        theirs_kept = sum(k[1] for k in kept) / sum(k[2] for k in kept)
        return {"elements": total, "nonzero_delta_ours": ours_kept,
                "nonzero_delta_mergekit": theirs_kept}
    out = {"elements": total, "max_abs_diff": worst, "max_diff_over_tensor_max": relative,
           "elements_differing_over_1e-4_of_tensor_max": over}
    if method == "ties":
        out["of_those_at_a_float32_trim_tie"] = explained
        out["of_those_with_deltas_that_cancel"] = cancelled
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    add_bin_and_cache(ap)
    args = ap.parse_args()
    tfckpt = os.path.join(args.bin, "tfckpt")
    mk_bin = venv(args.cache)
    inputs = write_inputs(args.cache)
    data = [p + ".data-00000-of-00001" for p, _ in inputs.values()]
    st = [os.path.join(h, "model.safetensors") for _, h in inputs.values()]
    out_root = os.path.join(args.cache, "blend", "out")
    env = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    results = {}
    for method in ("ties", "slerp", "dare"):
        used = 3 if method != "slerp" else 2
        cfg = os.path.join(args.cache, "blend", "%s.yml" % method)
        with open(cfg, "w") as f:
            json.dump(mergekit_config(method, inputs), f, indent=1)  # (JSON is YAML)
        ours_dir, theirs_dir = os.path.join(out_root, "tfckpt"), os.path.join(out_root, "mk")
        floor_dir = os.path.join(out_root, "floor")
        floor = 'o="$1"; shift; cat "$@" > /dev/null && cp "$1" "$o" && sync "$o"'
        jobs = {
            "tfckpt": (tfckpt_argv(tfckpt, method, inputs, os.path.join(ours_dir, "model")),
                       ours_dir, data[:used], None),
            # (both cores, as tfckpt uses; mergekit does not fsync its output)
            "mergekit": ([os.path.join(mk_bin, "mergekit-yaml"), cfg, theirs_dir,
                          "--no-copy-tokenizer", "--quiet", "-j", str(os.cpu_count() or 1)],
                         theirs_dir, st[:used], env),
            "floor": (["sh", "-c", floor, "sh", os.path.join(floor_dir, "x"), *data[:used]],
                      floor_dir, data[:used], None),
        }
        r = results[method] = {}
        for key, (argv, out, warm_files, e) in jobs.items():
            runs = [timed(argv, out, warm_files, e) for _ in range(args.runs)]
            r[key] = {k: statistics.median(x[k] for x in runs) for k in runs[0]}
        # (the outputs of the last timed runs)
        r["compare"] = compare(method, os.path.join(ours_dir, "model"), theirs_dir, inputs)
    versions = subprocess.run([os.path.join(mk_bin, "pip"), "list", "--format=json"],
                              capture_output=True, text=True, check=True).stdout
    results["versions"] = {p["name"]: p["version"] for p in json.loads(versions)
                           if p["name"].lower() in ("torch", "mergekit", "transformers")}
    print("inputs: 3 BERT-base checkpoints of %.0f MB (float32)" % (
        os.path.getsize(data[0]) / 1e6))
    print("mergekit: %s" % results["versions"])
    for method in ("ties", "slerp", "dare"):
        r = results[method]
        for key in ("tfckpt", "mergekit", "floor"):
            print("%-6s %-9s %7.2f s  cpu %6.2f s  peak RSS %8d KiB  peak anon %8d KiB" % (
                method, key, r[key]["wall"], r[key]["cpu"], r[key]["rss"], r[key]["anon"]))
        print("%-6s tfckpt / floor %.2f x (target <= 2); mergekit / tfckpt %.2f x; %s" % (
            method, r["tfckpt"]["wall"] / r["floor"]["wall"],
            r["mergekit"]["wall"] / r["tfckpt"]["wall"], json.dumps(r["compare"])))
    os.makedirs(os.path.join(args.cache, "blend"), exist_ok=True)
    with open(os.path.join(args.cache, "blend", "results.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
