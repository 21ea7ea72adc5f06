"""`tfckpt blend` judged by TensorFlow and the numpy references of methods_reference.py.

A base model and three fine-tuned models are written by a TF1 Saver; each method's output is read
back by TensorFlow (tf.train.load_checkpoint and a Saver restore of the model) and compared bit for
bit with the reference computed in float64 on the TF-read inputs and rounded once to each dtype."""

import ml_dtypes
import numpy as np
import pytest
import tensorflow as tf

import methods_reference as R
import ops_testlib as ops
import tfckpt_testlib as lib

import tfckpt as pytfckpt  # the Python package (`tfckpt` here is the command line's fixture)

F16, F32 = np.float16, np.float32
BF16 = ml_dtypes.bfloat16

SPEC = {  # name: (shape, dtype)
    "layer0/attention/query/kernel": ((8, 8), F32),
    "layer0/attention/query/bias": ((8,), F32),
    "layer0/attention/out/kernel": ((8, 8), F32),
    "layer0/mlp/dense/kernel": ((8, 16), F32),
    "layer0/mlp/dense/bias": ((16,), F32),
    "layer0/mlp/tied": ((4, 5), F32),     # quarter values: many equal |delta| (ties' tie-break)
    "norm/scale": ((8,), BF16),
    "norm/shift": ((8,), F16),
    "embedding/parallel": ((3, 4), F32),  # every model is a multiple of the base (slerp: lerp)
    "zeros": ((5,), F32),                 # the base is all zeros (slerp: unnormalised)
    "scalar": ((), F32),
    "global_step": ((), np.int64),
    "ids": ((3,), np.int32),
}
NONFLOAT = ("global_step", "ids")
NUM_MODELS = 3


def _values(which):
    """which: 0 for the base, i >= 1 for model i."""
    rng_base = np.random.default_rng(1000)
    rng = np.random.default_rng(which)
    out = {}
    for name, (shape, dtype) in SPEC.items():
        base = rng_base.normal(size=shape)
        if name == "layer0/mlp/tied":
            base = np.round(base * 4) / 4
            delta = rng.choice([-0.5, -0.25, 0.0, 0.25, 0.5], size=shape)
            value = base + (delta if which else 0)
        elif name == "embedding/parallel":
            value = base * (which + 1)
        elif name == "zeros":
            value = np.zeros(shape) if which == 0 else rng.normal(size=shape)
        elif name in NONFLOAT:
            value = np.full(shape, 1000 * (which + 1) + 7) + np.arange(np.prod(shape)).reshape(
                shape)
        else:
            value = base + (rng.normal(size=shape) * 0.1 if which else 0)
        out[name] = np.asarray(value).astype(dtype)
    return out


def _build(which):
    def build():
        values = _values(which)
        return {n: tf.compat.v1.get_variable(n, initializer=tf.constant(v))
                for n, v in values.items()}
    return build


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """{"base": prefix, "models": [prefixes], "values": {prefix: tf_values}}"""
    d = tmp_path_factory.mktemp("blend")
    base = ops.tf1_save(d / "base" / "model", _build(0))
    fine = [ops.tf1_save(d / ("m%d" % i) / "model", _build(i)) for i in range(1, NUM_MODELS + 1)]
    values = {p: ops.tf_values(p) for p in [base] + fine}
    return {"base": base, "models": fine, "values": values}


def _arrays(values):
    return {n: lib.as_array(v[2]) for n, v in values.items()}


def _restore(out):
    """A TF1 Saver restores the model from `out`; returns {name: value}."""
    def build():
        return {n: tf.compat.v1.get_variable(n, shape=shape, dtype=tf.as_dtype(dtype),
                                             initializer=tf.zeros_initializer())
                for n, (shape, dtype) in SPEC.items()}
    return ops.tf1_restore(out, build)


def check_blend(out, models, method, use_base, n_models, defaults=None, overrides=()):
    base_vals = _arrays(models["values"][models["base"]]) if use_base else None
    model_vals = [_arrays(models["values"][p]) for p in models["models"][:n_models]]
    want = R.blend(method, base_vals, model_vals, defaults, overrides)
    got = ops.tf_values(out)
    assert sorted(got) == sorted(want), sorted(got)
    first = models["values"][models["base"] if use_base else models["models"][0]]
    for name, value in want.items():
        assert got[name][:2] == first[name][:2], (name, got[name][:2], first[name][:2])
        if name in NONFLOAT:
            ops.assert_array_identical(got[name][2], value, name)
        else:
            R.assert_bits_equal(got[name][2], value, "%s %s" % (method, name))
    restored = _restore(out)
    for name, value in restored.items():
        ops.assert_array_identical(value, lib.as_array(got[name][2]), name)
    return got


def _run(tfckpt, models, tmp_path, method, args, use_base, n_models, out_name="out"):
    out = str(tmp_path / out_name / "model")
    cmd = ["blend", method]
    if use_base:
        cmd += ["--base", models["base"]]
    cmd += models["models"][:n_models] + ["-o", out] + list(args)
    tfckpt.run(*cmd)
    return out


def _defaults(args):
    """CLI flags -> reference parameters."""
    out = {}
    it = iter(args)
    for flag in it:
        if flag == "--no-normalize":
            out["normalize"] = False
            continue
        value = next(it)
        if flag == "--weights":
            out["weights"] = [float(x) for x in value.split(",")]
        elif flag == "--set":
            continue
        else:
            out[flag[2:]] = float(value)
    return out


def _overrides(args):
    out = []
    for flag, value in zip(args, list(args[1:]) + [None]):
        if flag == "--set":
            regex, rest = value.split(":", 1)
            key, val = rest.split("=", 1)
            out.append((regex, key, val))
    return out


CASES = [
    # method, flags, base?, number of models
    ("linear", [], False, 3),
    ("linear", ["--weights", "1,2,3"], False, 3),
    ("linear", ["--weights", "0.5,0.25,0.25", "--no-normalize"], False, 3),
    ("linear", ["--weights", "0.7,0.6", "--no-normalize"], False, 2),
    ("task_arithmetic", [], True, 3),
    ("task_arithmetic", ["--lambda", "0.7"], True, 3),
    ("task_arithmetic", ["--weights", "1,0.5,-0.25", "--lambda", "1.5"], True, 3),
    ("slerp", [], True, 1),
    ("slerp", ["--t", "0.3"], True, 1),
    ("slerp", ["--t", "0.85"], True, 1),
    ("slerp", ["--t", "0"], True, 1),
    ("slerp", ["--t", "1"], True, 1),
    ("ties", [], True, 3),
    ("ties", ["--density", "0.3", "--lambda", "0.8", "--weights", "1,2,0.5"], True, 3),
    ("ties", ["--density", "0.7", "--no-normalize"], True, 3),
    ("ties", ["--density", "1"], True, 2),
    ("ties", ["--density", "0.25"], True, 1),
    ("dare", [], True, 3),
    ("dare", ["--p", "0.3", "--seed", "7", "--weights", "1,0.5,2", "--lambda", "0.9"], True, 3),
    ("dare", ["--p", "0.9", "--seed", "12345678901234"], True, 2),
    ("dare", ["--p", "0"], True, 3),
]


@pytest.mark.parametrize("method, args, use_base, n", CASES,
                         ids=["%s%s" % (c[0], "".join(c[1]).replace("--", "_")) for c in CASES])
def test_blend_method(tfckpt, tmp_path, models, method, args, use_base, n):
    before = ops.snapshot(*([models["base"]] + models["models"]))
    out = _run(tfckpt, models, tmp_path, method, args, use_base, n)
    check_blend(out, models, method, use_base, n, _defaults(args))
    ops.assert_shards_consistent(tfckpt, out)
    ops.assert_unchanged(before, *([models["base"]] + models["models"]))


def test_slerp_takes_both_branches(models):
    """The fixture makes the slerp tests cover both branches, away from the threshold."""
    base = _arrays(models["values"][models["base"]])
    model = _arrays(models["values"][models["models"][0]])
    seen = set()
    for name in SPEC:
        if name in NONFLOAT:
            continue
        branch, dot = R.slerp_branch(R.widen(base[name]), R.widen(model[name]))
        assert abs(abs(dot) - 0.9995) > 1e-5, (name, dot)
        seen.add(branch)
        if name == "embedding/parallel":
            assert branch == "lerp"
    assert seen == {"lerp", "slerp"}


def test_slerp_endpoints(tfckpt, tmp_path, models):
    """t = 0 gives the base and t = 1 the model, exactly (s0 = 0 or 1, s1 = 1 or 0)."""
    for t, which in (("0", models["base"]), ("1", models["models"][0])):
        out = _run(tfckpt, models, tmp_path, "slerp", ["--t", t], True, 1, out_name="t" + t)
        ops.assert_same_tensors(ops.tf_values(out), models["values"][which],
                                names=[n for n in SPEC if n not in NONFLOAT])


def test_ties_tie_break_is_exercised(models):
    """layer0/mlp/tied has equal |delta| values straddling the cut, so the lower-index-first
    rule decides; a different tie-break would select other elements."""
    base = R.widen(_arrays(models["values"][models["base"]])["layer0/mlp/tied"])
    tau = R.widen(_arrays(models["values"][models["models"][0]])["layer0/mlp/tied"]) - base
    flat = np.abs(tau.reshape(-1))
    k = int(np.floor(0.5 * flat.size))
    cut = np.sort(flat)[::-1][k - 1]
    assert (flat == cut).sum() > 1 and (np.sort(flat)[::-1][k] == cut), flat


def test_dare_uniforms_reference():
    """The vectorised splitmix64 stream equals the contract's step-by-step next()."""
    for seed, name, i in ((0, "w", 0), (7, "layer0/attention/query/kernel", 2),
                          (2 ** 64 - 1, "\u00fc", 5)):
        np.testing.assert_array_equal(R.dare_uniforms(seed, name, i, 64),
                                      R.dare_uniforms_scalar(seed, name, i, 64))
    assert R.fnv1a64(b"") == 0xcbf29ce484222325 and R.fnv1a64(b"a") == 0xaf63dc4c8601ec8c


def test_dare_same_seed_same_bytes(tfckpt, tmp_path, models):
    args = ["--p", "0.4", "--seed", "99"]
    a = _run(tfckpt, models, tmp_path, "dare", args, True, 3, out_name="a")
    b = _run(tfckpt, models, tmp_path, "dare", args, True, 3, out_name="b")
    lib.assert_same_bundle_bytes(a, b)
    for threads in ("1", "3"):  # the streams do not depend on how the work is split
        t = _run(tfckpt, models, tmp_path, "dare", args + ["--threads", threads], True, 3,
                 out_name="threads" + threads)
        lib.assert_same_bundle_bytes(a, t)
    c = _run(tfckpt, models, tmp_path, "dare", ["--p", "0.4", "--seed", "100"], True, 3,
             out_name="c")
    va, vc = ops.tf_values(a), ops.tf_values(c)
    differ = [n for n in SPEC if n not in NONFLOAT and R.bits(va[n][2]).tobytes() !=
              R.bits(vc[n][2]).tobytes()]
    assert len(differ) >= 5, differ
    check_blend(c, models, "dare", True, 3, {"p": 0.4, "seed": 100})


SET_CASES = [
    ("ties", ["--set", "attention:density=0.2", "--set", "mlp:lambda=0.5"], True, 3),
    ("task_arithmetic", ["--lambda", "1", "--set", "layer0:lambda=2", "--set", "mlp:lambda=0.5"],
     True, 3),
    ("task_arithmetic", ["--set", "mlp:lambda=0.5", "--set", "layer0:lambda=2"], True, 3),
    ("linear", ["--set", "mlp:weights=1,0,2", "--weights", "1,1,3"], False, 3),
    ("slerp", ["--t", "0.2", "--set", "bias$:t=0.9", "--set", "^norm/:t=0.6"], True, 1),
    ("dare", ["--seed", "3", "--set", "attention:p=0.1", "--set", "query:weights=2,1,0.5"],
     True, 3),
    ("ties", ["--density", "0.6", "--set", "kernel$:density=0.1",
              "--set", "attention/out:density=0.9", "--set", "^norm:lambda=3"], True, 3),
]


@pytest.mark.parametrize("method, args, use_base, n", SET_CASES,
                         ids=["%s-%d" % (c[0], i) for i, c in enumerate(SET_CASES)])
def test_blend_set_overrides(tfckpt, tmp_path, models, method, args, use_base, n):
    out = _run(tfckpt, models, tmp_path, method, args, use_base, n)
    overrides = _overrides(args)
    got = check_blend(out, models, method, use_base, n, _defaults(args), overrides)
    # the overrides change something: without them the result differs for a matched tensor
    plain = R.blend(method, _arrays(models["values"][models["base"]]) if use_base else None,
                    [_arrays(models["values"][p]) for p in models["models"][:n]],
                    _defaults(args))
    changed = [name for name in plain if name not in NONFLOAT and
               R.bits(plain[name]).tobytes() != R.bits(got[name][2]).tobytes()]
    assert changed, "the --set overrides changed nothing"


# ---------------------------------------------------------------------------------------------
# tfckpt.blend (Python): the same library call, so the command line's bytes; judged the same way
# ---------------------------------------------------------------------------------------------


def _python_kwargs(args):
    """`tfckpt blend` flags -> tfckpt.blend keyword arguments (--set: per_tensor rules)."""
    kwargs, rules = {}, []
    it = iter(args)
    for flag in it:
        if flag == "--no-normalize":
            kwargs["normalize"] = False
            continue
        value = next(it)
        if flag == "--weights":
            kwargs["weights"] = [float(x) for x in value.split(",")]
        elif flag == "--set":
            regex, rest = value.split(":", 1)
            key, val = rest.split("=", 1)
            rules.append({"match": regex,
                          key: [float(x) for x in val.split(",")] if key == "weights"
                          else float(val)})
        elif flag == "--seed":
            kwargs["seed"] = int(value)
        elif flag == "--lambda":
            kwargs["lambda_"] = float(value)
        else:
            kwargs[flag[2:]] = float(value)
    if rules:
        kwargs["per_tensor"] = rules
    return kwargs


PY_CASES = CASES + SET_CASES


@pytest.mark.parametrize("method, args, use_base, n", PY_CASES,
                         ids=["%s-%d" % (c[0], i) for i, c in enumerate(PY_CASES)])
def test_python_blend(tfckpt, tmp_path, models, method, args, use_base, n):
    before = ops.snapshot(*([models["base"]] + models["models"]))
    out = str(tmp_path / "py" / "model")
    report = pytfckpt.blend(models["models"][:n], out, method,
                            base=models["base"] if use_base else None, **_python_kwargs(args))
    assert report["dry_run"] is False and report["output"] == out
    check_blend(out, models, method, use_base, n, _defaults(args), _overrides(args))
    lib.assert_same_bundle_bytes(out, _run(tfckpt, models, tmp_path, method, args, use_base, n,
                                           out_name="cli"))
    ops.assert_unchanged(before, *([models["base"]] + models["models"]))


# ---------------------------------------------------------------------------------------------
# Errors, optimizer slots
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["slerp_two_models", "ta_no_base", "slerp_no_base",
                                  "weights_count", "shape"])
def test_blend_errors(tfckpt, tmp_path, models, case):
    out = tmp_path / "o" / "model"
    ms = models["models"]
    if case == "slerp_two_models":
        args = ["slerp", "--base", models["base"], ms[0], ms[1]]
    elif case == "ta_no_base":
        args = ["task_arithmetic", ms[0], ms[1]]
    elif case == "slerp_no_base":
        args = ["slerp", ms[0]]
    elif case == "weights_count":
        args = ["ties", "--base", models["base"], ms[0], ms[1], "--weights", "1,2,3"]
    else:
        other = ops.tf1_save(tmp_path / "other" / "model", lambda: {
            "x": tf.compat.v1.get_variable("layer0/attention/query/bias",
                                           initializer=tf.zeros([9]))})
        args = ["task_arithmetic", "--base", models["base"], other]
    proc = tfckpt.run("blend", *args, "-o", out, expect_rc=2)
    assert proc.err.strip(), proc.where
    if case == "shape":
        assert "layer0/attention/query/bias" in proc.err, proc.err
    assert ops.dir_entries(tmp_path / "o") == []


def _adam_model(seed):
    def build():
        rng = np.random.default_rng(seed)
        w = tf.compat.v1.get_variable("w", initializer=tf.constant(
            rng.normal(size=(3, 2)).astype(F32)))
        step = tf.compat.v1.train.get_or_create_global_step()
        loss = tf.reduce_sum(tf.square(w - 0.5))
        return tf.compat.v1.train.AdamOptimizer(0.1).minimize(loss, global_step=step)
    return build


def test_blend_optimizer_slots(tfckpt, tmp_path):
    run = lambda sess, train: sess.run(train)  # noqa: E731
    prefixes = [ops.tf1_save(tmp_path / ("s%d" % i) / "model", _adam_model(i), before_save=run)
                for i in range(2)]
    src = [ops.tf_values(p) for p in prefixes]
    assert {"w/Adam", "w/Adam_1", "beta1_power"} <= set(src[0])
    out = str(tmp_path / "out" / "model")
    tfckpt.run("blend", "linear", *prefixes, "-o", out)
    got = ops.tf_values(out)
    assert sorted(got) == ["global_step", "w"]
    kept = str(tmp_path / "kept" / "model")
    tfckpt.run("blend", "linear", *prefixes, "-o", kept, "--keep-optimizer")
    got = ops.tf_values(kept)
    assert sorted(got) == sorted(src[0])
    for name, (dtype, _, value) in got.items():
        if dtype == "float32":
            want = R.round_to_dtype(R.linear64([R.widen(s[name][2]) for s in src]), F32)
            R.assert_bits_equal(value, want, name)
        else:
            ops.assert_array_identical(value, src[0][name][2], name)


def test_blend_dry_run_json_force(tfckpt, tmp_path, models):
    out = str(tmp_path / "o" / "model")
    common = ["--base", models["base"]] + models["models"] + ["-o", out]
    proc = tfckpt.run("blend", "ties", *common, "--dry-run")
    assert proc.out.strip() and ops.dir_entries(tmp_path / "o") == []
    plan = tfckpt.json("blend", "ties", *common, "--dry-run", "--json")
    assert ops.dir_entries(tmp_path / "o") == []
    assert sorted(t["name"] for t in plan["tensors"]) == sorted(SPEC), plan
    tfckpt.run("blend", "linear", *models["models"], "-o", out)
    first = ops.snapshot(out)
    tfckpt.run("blend", "ties", *common, expect_rc=2)
    ops.assert_unchanged(first, out)
    tfckpt.run("blend", "ties", *common, "--force")
    check_blend(out, models, "ties", True, 3)
