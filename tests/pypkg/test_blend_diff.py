"""tfckpt.blend and tfckpt.diff: the same library calls as `tfckpt blend` and `tfckpt diff`, so
the same bytes and the same report; values checked with numpy where the arithmetic is plain
(linear, task arithmetic). TensorFlow judges both in tests/python (test_blend.py, test_diff.py)."""

import math
import os
import pathlib

import numpy as np
import pytest

import tfckpt

from pypkg_testlib import all_files, assert_same, bundle_files, raises_error

F32, F64 = np.float32, np.float64


def _model(i):
    """Model i (0: the base): float32 and float64 tensors near the base, integers that differ."""
    base_rng = np.random.default_rng(100)
    rng = np.random.default_rng(i)
    out = {}
    for name, shape, dtype in (("enc/attention/kernel", (6, 4), F32),
                               ("enc/attention/bias", (4,), F32), ("enc/mlp/kernel", (4, 8), F32),
                               ("dec/scale", (5,), F64), ("scalar", (), F32)):
        base = base_rng.normal(size=shape)
        out[name] = (base + (rng.normal(size=shape) * 0.1 if i else 0)).astype(dtype)
    out["global_step"] = np.array(1000 * (i + 1), np.int64)
    out["ids"] = np.arange(3, dtype=np.int32) + i
    return out


FLOATS = ["dec/scale", "enc/attention/bias", "enc/attention/kernel", "enc/mlp/kernel", "scalar"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("blend")
    prefixes = []
    for i in range(4):
        p = str(d / ("m%d" % i) / "model")
        tfckpt.save(p, _model(i))
        prefixes.append(p)
    return {"base": prefixes[0], "models": prefixes[1:]}


def _bundle_bytes(prefix):
    out = {}
    for f in bundle_files(prefix):
        with open(f, "rb") as fh:
            out[os.path.basename(f)[len(os.path.basename(prefix)):]] = fh.read()
    return out


# (method, Python keyword arguments, the same as `tfckpt blend` flags, base?, number of models)
CASES = [
    ("linear", {}, [], False, 3),
    ("linear", {"weights": [1, 2, 3]}, ["--weights", "1,2,3"], False, 3),
    ("linear", {"weights": [0.5, 0.25], "normalize": False},
     ["--weights", "0.5,0.25", "--no-normalize"], False, 2),
    ("task_arithmetic", {"lambda_": 0.7}, ["--lambda", "0.7"], True, 3),
    ("task_arithmetic", {"weights": [1, 0.5, -0.25], "lambda_": 1.5},
     ["--weights", "1,0.5,-0.25", "--lambda", "1.5"], True, 3),
    ("slerp", {"t": 0.3}, ["--t", "0.3"], True, 1),
    ("ties", {}, [], True, 3),
    ("ties", {"density": 0.3, "lambda_": 0.8, "normalize": False},
     ["--density", "0.3", "--lambda", "0.8", "--no-normalize"], True, 3),
    ("dare", {"p": 0.3, "seed": 7, "weights": [1, 0.5, 2]},
     ["--p", "0.3", "--seed", "7", "--weights", "1,0.5,2"], True, 3),
    ("dare", {"p": 0.9, "seed": 2 ** 64 - 1}, ["--p", "0.9", "--seed", str(2 ** 64 - 1)], True, 2),
    ("ties", {"density": 0.6, "per_tensor": [{"match": "kernel$", "density": 0.1},
                                             {"match": "attention", "lambda": 2.0}]},
     ["--density", "0.6", "--set", "kernel$:density=0.1", "--set", "attention:lambda=2"],
     True, 3),
    ("linear", {"weights": [1, 1, 3], "per_tensor": [{"match": "mlp", "weights": [1, 0, 2]}]},
     ["--weights", "1,1,3", "--set", "mlp:weights=1,0,2"], False, 3),
]
IDS = ["%s-%d" % (c[0], i) for i, c in enumerate(CASES)]


@pytest.mark.parametrize("method, kwargs, flags, use_base, n", CASES, ids=IDS)
def test_blend_like_the_command_line(cli, models, tmp_path, method, kwargs, flags, use_base, n):
    chosen = models["models"][:n]
    base = models["base"] if use_base else None
    out = str(tmp_path / "py" / "model")
    r = tfckpt.blend(chosen, out, method, base=base, **kwargs)
    cli_out = str(tmp_path / "cli" / "model")
    want = cli.json("blend", method, *chosen, *(["--base", base] if use_base else []), "-o",
                    cli_out, "--json", *flags)
    assert _bundle_bytes(out) == _bundle_bytes(cli_out), "the bundles differ"
    assert {k: v for k, v in r.items() if k != "output"} == \
        {k: v for k, v in want.items() if k != "output"}
    assert r["output"] == out and want["output"] == cli_out
    # the blend changed the floats and took the integers from the base (else the first model)
    got, first = tfckpt.open(out), tfckpt.open(base or chosen[0])
    for name in ("global_step", "ids"):
        assert_same(got[name], first[name], name)
    assert any(got[n].tobytes() != first[n].tobytes() for n in FLOATS)


def test_blend_values(models, tmp_path):
    """linear and task_arithmetic: float64 arithmetic per tensor, rounded once to the dtype."""
    ms = [tfckpt.open(p) for p in models["models"]]
    base = tfckpt.open(models["base"])
    out = str(tmp_path / "lin" / "model")
    tfckpt.blend(models["models"], out, "linear", weights=[1, 2, 5])
    got = tfckpt.open(out)
    for name in FLOATS:
        acc = sum(w * m[name].astype(F64) for w, m in zip([1, 2, 5], ms))
        assert_same(got[name], (acc / 8).astype(base.dtype(name)), name)
    out = str(tmp_path / "ta" / "model")
    tfckpt.blend(models["models"][:2], pathlib.Path(out), "task_arithmetic",
                 base=pathlib.Path(models["base"]), lambda_=0.5)
    got = tfckpt.open(out)
    for name in FLOATS:
        b = base[name].astype(F64)
        tau = sum(m[name].astype(F64) - b for m in ms[:2])
        assert_same(got[name], (b + 0.5 * tau).astype(base.dtype(name)), name)
    assert_same(got["global_step"], base["global_step"])


def test_blend_and_average_progress(models, tmp_path):
    """progress=: (done, total) through the output's bytes, growing to the total; an exception
    it raises comes out once the output is written."""
    calls = []
    out = str(tmp_path / "b" / "model")
    summary = tfckpt.blend(models["models"], out, "ties", base=models["base"],
                           progress=lambda done, total: calls.append((done, total)))
    total = summary["totals"]["bytes"]
    assert total == sum(v.nbytes for v in _model(0).values() if v.dtype != object)
    assert calls and calls[-1] == (total, total), calls
    assert all(a[0] < b[0] and a[1] == total for a, b in zip(calls, calls[1:])), calls
    calls.clear()
    summary = tfckpt.average(models["models"], str(tmp_path / "a" / "model"),
                             progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1] == (summary["totals"]["bytes"],) * 2, calls

    def stop(done, total):
        raise RuntimeError("stop at %d" % done)

    out = str(tmp_path / "s" / "model")
    with pytest.raises(RuntimeError, match="stop at"):
        tfckpt.blend(models["models"], out, "linear", progress=stop)
    assert sorted(tfckpt.open(out).names()) == sorted(_model(0))
    with pytest.raises(TypeError, match="progress"):
        tfckpt.blend(models["models"], str(tmp_path / "t" / "model"), "linear", progress=3)
    assert not (tmp_path / "t").exists()


def test_blend_dry_run_force_and_optimizer(models, tmp_path):
    out = str(tmp_path / "o" / "model")
    r = tfckpt.blend(models["models"], out, "ties", base=models["base"], dry_run=True)
    assert r["dry_run"] is True and not (tmp_path / "o").exists()
    assert sorted(t["name"] for t in r["tensors"]) == sorted(_model(0))
    tfckpt.blend(models["models"], out, "linear")
    before = _bundle_bytes(out)
    raises_error(lambda: tfckpt.blend(models["models"], out, "ties", base=models["base"]), out)
    assert _bundle_bytes(out) == before
    tfckpt.blend(models["models"], out, "ties", base=models["base"], force=True)
    assert _bundle_bytes(out) != before
    # optimizer slots: dropped unless keep_optimizer=True
    slots = []
    for i in range(2):
        p = str(tmp_path / ("adam%d" % i) / "model")
        tfckpt.save(p, {"w": np.full(3, i, F32), "w/Adam": np.full(3, 10 + i, F32),
                        "global_step": np.array(i, np.int64)})
        slots.append(p)
    tfckpt.blend(slots, str(tmp_path / "drop" / "model"), "linear")
    assert tfckpt.open(str(tmp_path / "drop" / "model")).names() == ["global_step", "w"]
    tfckpt.blend(slots, str(tmp_path / "keep" / "model"), "linear", keep_optimizer=True)
    kept = tfckpt.open(str(tmp_path / "keep" / "model"))
    assert kept.names() == ["global_step", "w", "w/Adam"]
    assert_same(kept["w/Adam"], np.full(3, 10.5, F32))


@pytest.mark.parametrize("case", ["method", "slerp_two", "no_base", "weights", "rule_key",
                                  "rule_match", "rule_type", "seed", "complex", "shape"])
def test_blend_errors(models, tmp_path, case):
    out = str(tmp_path / "o" / "model")
    ms, base = models["models"], models["base"]
    if case == "complex":
        cs = [str(tmp_path / ("c%d" % i) / "m") for i in range(3)]
        for i, c in enumerate(cs):
            tfckpt.save(c, {"z": np.full(2, 1 + i * 1j, np.complex64)})
        kind, fn, needles = ("UnsupportedError",
                             lambda: tfckpt.blend(cs[1:], out, "ties", base=cs[0]),
                             ["'z'", "complex64"])
    elif case == "shape":
        other = str(tmp_path / "other" / "m")
        tfckpt.save(other, dict(_model(1), **{"enc/attention/bias": np.zeros(9, F32)}))
        kind, fn, needles = "InvalidArgumentError", lambda: tfckpt.blend(
            [other], out, "task_arithmetic", base=base), ["enc/attention/bias"]
    else:
        kind, fn, needles = {
            "method": ("InvalidArgumentError", lambda: tfckpt.blend(ms, out, "soup"),
                       ["method='soup'", "ties"]),
            "slerp_two": ("InvalidArgumentError",
                          lambda: tfckpt.blend(ms[:2], out, "slerp", base=base), ["slerp"]),
            "no_base": ("InvalidArgumentError", lambda: tfckpt.blend(ms, out, "ties"), ["base"]),
            "weights": ("InvalidArgumentError",
                        lambda: tfckpt.blend(ms[:2], out, "linear", weights=[1, 2, 3]),
                        ["weight"]),
            "rule_key": ("InvalidArgumentError", lambda: tfckpt.blend(
                ms, out, "linear", per_tensor=[{"match": "x", "densty": 0.1}]), ["densty"]),
            "rule_match": ("InvalidArgumentError", lambda: tfckpt.blend(
                ms, out, "linear", per_tensor=[{"density": 0.1}]), ["match"]),
            "rule_type": ("InvalidArgumentError", lambda: tfckpt.blend(
                ms, out, "linear", per_tensor=["attention:density=0.1"]), ["dict"]),
            "seed": ("InvalidArgumentError",
                     lambda: tfckpt.blend(ms, out, "dare", base=base, seed=-1), ["seed=-1"]),
        }[case]
    with pytest.raises(tfckpt.Error) as info:
        fn()
    assert type(info.value) is getattr(tfckpt, kind), repr(info.value)
    for n in needles:
        assert n in str(info.value), "%r not in: %s" % (n, info.value)
    assert all_files(tmp_path / "o") == []


def test_blend_argument_types(models, tmp_path):
    with pytest.raises(TypeError, match="list of checkpoints"):
        tfckpt.blend(models["base"], str(tmp_path / "o"), "linear")
    with pytest.raises(TypeError, match="output"):
        tfckpt.blend(models["models"], ["not", "a", "path"], "linear")


# ---------------------------------------------------------------------------------------------
# diff
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("diff")
    a, b = str(d / "a" / "ckpt"), str(d / "b" / "ckpt")
    tfckpt.save(a, {"same": np.arange(6, dtype=F32).reshape(3, 2), "words": np.array([b"x", b""]),
                    "only_a": np.ones(2), "dtype": np.ones(3, F32), "shape": np.ones((2, 2)),
                    "differ": np.array([0.5, -1.25, 3.0, 2.0], F32),
                    "close": np.array([1000.0, 2000.0, -3000.0]),
                    "text": np.array([b"a", b"b"]), "ints": np.array([10, -20, 30], np.int64)})
    tfckpt.save(b, {"same": np.arange(6, dtype=F32).reshape(3, 2), "words": np.array([b"x", b""]),
                    "only_b": np.ones(2, np.int32), "dtype": np.ones(3, F64),
                    "shape": np.ones(4), "differ": np.array([0.5, -1.0, 1.5, 0.0], F32),
                    "close": np.array([1000.001, 2000.0, -3000.002]),
                    "text": np.array([b"a", b"c"]), "ints": np.array([10, -27, 30], np.int64)})
    return a, b


def _same_report(got, want):
    """A Python report against `tfckpt diff --json` (NaN equal to NaN), `same` and the JSON
    schema_version aside."""
    got = {k: v for k, v in got.items() if k != "same"}
    want = {k: v for k, v in want.items() if k != "schema_version"}
    assert sorted(got) == sorted(want), (sorted(got), sorted(want))
    for key in want:
        if key != "values_differ":
            assert got[key] == want[key], (key, got[key], want[key])
    assert [v["name"] for v in got["values_differ"]] == [v["name"] for v in want["values_differ"]]
    for g, w in zip(got["values_differ"], want["values_differ"]):
        assert g["differing"] == w["differing"], (g, w)
        for k in ("max_abs", "max_rel"):
            assert g[k] == w[k] or (math.isnan(g[k]) and math.isnan(w[k])), (k, g, w)


def test_diff_like_the_command_line(cli, pair):
    a, b = pair
    for atol, rtol, rc in ((0, 0, 1), (0.01, 0, 1), (0, 1e-4, 1)):
        got = tfckpt.diff(a, b, atol=atol, rtol=rtol)
        want = cli.json("diff", a, b, "--json", "--atol", atol, "--rtol", rtol, expect_rc=rc)
        _same_report(got, want)
        assert got["same"] is False
    got = tfckpt.diff(a, a)
    _same_report(got, cli.json("diff", a, a, "--json", expect_rc=0))
    assert got["same"] is True


def test_diff_report(pair):
    a, b = pair
    r = tfckpt.diff(a, b)
    ca, cb = tfckpt.open(a), tfckpt.open(b)
    assert (r["a"], r["b"]) == (ca.prefix, cb.prefix)
    assert r["only_in_a"] == ["only_a"] and r["only_in_b"] == ["only_b"]
    assert r["changed"] == [
        {"name": "dtype", "a": {"dtype": "float32", "shape": [3]},
         "b": {"dtype": "float64", "shape": [3]}},
        {"name": "shape", "a": {"dtype": "float64", "shape": [2, 2]},
         "b": {"dtype": "float64", "shape": [4]}}]
    assert r["identical"] == 2  # same, words
    by_name = {v["name"]: v for v in r["values_differ"]}
    assert sorted(by_name) == ["close", "differ", "ints", "text"]
    for name in ("close", "differ", "ints"):
        x, y = ca[name].astype(F64), cb[name].astype(F64)
        d = np.abs(x - y)
        assert by_name[name]["differing"] == int((d > 0).sum()), name
        assert by_name[name]["max_abs"] == float(d.max()), name
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(d == 0, 0.0, d / np.abs(y))
        assert by_name[name]["max_rel"] == float(rel.max()), name
    assert math.isinf(by_name["differ"]["max_rel"])  # a = 2.0 where b = 0.0
    assert by_name["text"]["differing"] == 1
    assert math.isnan(by_name["text"]["max_abs"]) and math.isnan(by_name["text"]["max_rel"])
    # tolerances, as numpy.isclose(a, b, rtol, atol)
    r = tfckpt.diff(a, b, atol=0.01)
    assert sorted(v["name"] for v in r["values_differ"]) == ["differ", "ints", "text"]
    r = tfckpt.diff(a, b, rtol=1e-7)
    assert "close" in [v["name"] for v in r["values_differ"]]
    r = tfckpt.diff(a, b, rtol=1e-5)
    assert "close" not in [v["name"] for v in r["values_differ"]]


def test_diff_path_forms_and_checkpoints(examples):
    steps = tfckpt.diff(str(examples / "tf2") + "@1", examples / "tf2")
    assert steps["a"].endswith("ckpt-1") and steps["b"].endswith("ckpt-2")
    assert [v["name"] for v in steps["values_differ"]] == [
        "model/bias/.ATTRIBUTES/VARIABLE_VALUE", "save_counter/.ATTRIBUTES/VARIABLE_VALUE"]
    opened = tfckpt.diff(tfckpt.open(str(examples / "tf2"), step=1),
                         tfckpt.open(str(examples / "tf2")))
    assert opened == steps
    same = tfckpt.diff(examples / "models" / "a", tfckpt.open(str(examples / "models/a/model-a")))
    assert same["same"] is True and same["identical"] == 1


def test_diff_errors(ex, tmp_path):
    a = str(ex / "mixed" / "mixed")
    missing = str(tmp_path / "missing")
    with pytest.raises(tfckpt.NotFoundError, match="missing"):
        tfckpt.diff(a, missing)
    b = str(tmp_path / "copy" / "mixed")
    os.makedirs(os.path.dirname(b))
    for f in bundle_files(a):
        with open(f, "rb") as src, open(b + f[len(a):], "wb") as dst:
            dst.write(src.read())
    with open(b + ".data-00000-of-00001", "r+b") as f:  # one flipped bit inside "matrix"
        f.seek(190)
        byte = f.read(1)[0]
        f.seek(190)
        f.write(bytes([byte ^ 0x04]))
    with pytest.raises(tfckpt.DataLossError, match="'matrix'"):
        tfckpt.diff(a, b)
