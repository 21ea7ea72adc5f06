"""`tfckpt average` judged by TensorFlow and a numpy float64 reference.

The inputs are written by TensorFlow (a TF1 Saver during a few Adam "training steps", SaveV2
bundles of chosen dtypes, TF2 tf.train.Checkpoint); the output is read back by TensorFlow, restored
into the model, and compared bit for bit with methods_reference.average on TF-read inputs."""

import os
import re

import ml_dtypes
import numpy as np
import pytest
import tensorflow as tf

import methods_reference as R
import ops_testlib as ops
import tfckpt_testlib as lib

F16, F32, F64 = np.float16, np.float32, np.float64
BF16 = ml_dtypes.bfloat16

# ---------------------------------------------------------------------------------------------
# TF1: three saves of a model trained with Adam, in one directory
# ---------------------------------------------------------------------------------------------

MODEL = {  # name: (shape, dtype, trained by Adam)
    "dense/kernel": ((4, 3), F32, True),
    "dense/bias": ((3,), F32, True),
    "head/w64": ((3, 2), F64, True),
    "half/scale": ((5,), F16, False),
    "brain/emb": ((2, 4), BF16, False),
}
STEPS = (100, 200, 300)


def _values(seed):
    """Fresh values of every model variable (no zeros: the sign of a zero sum is not at stake)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, (shape, dtype, _) in MODEL.items():
        v = rng.normal(size=shape) * 3.0
        v = np.where(np.abs(v) < 1e-3, 0.5, v)
        out[name] = v.astype(dtype)
    out["counts"] = (rng.integers(-1000, 1000, size=3)).astype(np.int32)
    out["vocab"] = np.array([b"step-%d" % seed, b"\xff%d" % seed], dtype=object)
    out["flag"] = np.array(seed % 2 == 0)
    return out


def _build_model(model_names=None):
    get = tf.compat.v1.get_variable
    init = _values(0)
    v = {}
    for name, (_, dtype, trained) in MODEL.items():
        v[name] = get(name, initializer=tf.constant(init[name], dtype=tf.as_dtype(dtype)),
                      trainable=trained)
    v["counts"] = get("counts", initializer=tf.constant(init["counts"]), trainable=False)
    v["vocab"] = get("vocab", initializer=tf.constant(list(init["vocab"])), trainable=False)
    v["flag"] = get("flag", initializer=tf.constant(bool(init["flag"])), trainable=False)
    v["global_step"] = tf.compat.v1.train.get_or_create_global_step()
    if model_names is not None:
        model_names.extend(x.op.name for x in tf.compat.v1.global_variables())
    return v


def _loss(v):
    x = tf.constant(np.arange(8, dtype=np.float32).reshape(2, 4) / 8.0 - 0.3)
    y = tf.matmul(x, v["dense/kernel"]) + v["dense/bias"]
    return tf.reduce_mean(tf.square(y - 1.0)) + tf.cast(
        tf.reduce_sum(tf.square(v["head/w64"] - 0.25)), tf.float32)


def _build_trained(model_names=None):
    v = _build_model(model_names)
    train = tf.compat.v1.train.AdamOptimizer(0.05).minimize(_loss(v), global_step=v["global_step"])
    return v, train


@pytest.fixture(scope="module")
def train_dir(tmp_path_factory):
    """{dir, prefixes (oldest first), model: names of the model's own variables, all: every
    variable name incl. optimizer slots}."""
    directory = tmp_path_factory.mktemp("avg_train")
    model_names, prefixes = [], []
    graph = tf.Graph()
    with graph.as_default():
        v, train = _build_trained(model_names)
        placeholders = {n: tf.compat.v1.placeholder(v[n].dtype.base_dtype, v[n].shape)
                        for n in list(MODEL) + ["counts", "vocab", "flag"]}
        assigns = [v[n].assign(p) for n, p in placeholders.items()]
        all_names = [x.op.name for x in tf.compat.v1.global_variables()]
        saver = tf.compat.v1.train.Saver(max_to_keep=10)
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            for i, step in enumerate(STEPS):
                values = _values(i + 1)
                sess.run(assigns, {placeholders[n]: values[n] for n in placeholders})
                for _ in range(i + 1):
                    sess.run(train)
                prefixes.append(saver.save(sess, str(directory / "model.ckpt"), global_step=step,
                                           write_meta_graph=False))
    return {"dir": str(directory), "prefixes": prefixes, "model": sorted(model_names),
            "all": sorted(all_names)}


def _is_float(dtype_name):
    return dtype_name in R.REAL_FLOATS or dtype_name in R.COMPLEX


def check_average(out, inputs, names, weights=None, normalize=True, take=-1):
    """The output holds exactly `names`, with the input dtypes/shapes; floats are the reference
    average (bit-exact), everything else is input `take`'s value."""
    got = ops.tf_values(out)
    src = [ops.tf_values(p) for p in inputs]
    assert sorted(got) == sorted(names), "only got %r, only want %r" % (
        sorted(set(got) - set(names)), sorted(set(names) - set(got)))
    for n in names:
        dtype, shape, _ = src[0][n]
        assert got[n][:2] == (dtype, shape), "%s: %s%s vs %s%s" % (n, *got[n][:2], dtype, shape)
        if dtype == "variant":
            continue
        if _is_float(dtype):
            want = R.average([s[n][2] for s in src], weights, normalize)
            R.assert_bits_equal(np.asarray(got[n][2]), want, n)
        else:
            ops.assert_array_identical(lib.as_array(got[n][2]), lib.as_array(src[take][n][2]), n)
    return got


def _notes(report):
    assert isinstance(report, dict) and "notes" in report, report
    assert isinstance(report["notes"], list), report
    return report["notes"]


def _assert_nonfloat_note(report, source, inputs):
    """A note says the non-float tensors were copied from `source` (and names no other input)."""
    notes = [n for n in _notes(report) if source in n]
    assert notes, "no note names %s, the source of the non-float tensors: %r" % (
        source, report["notes"])
    for other in inputs:
        if other != source:
            assert not any(other in n for n in notes), notes


def test_average_tf1_default(tfckpt, tmp_path, train_dir):
    inputs = train_dir["prefixes"]
    before = ops.snapshot(train_dir["dir"])
    out = str(tmp_path / "avg" / "model")
    report = tfckpt.json("average", *inputs, "-o", out, "--json")
    # slots and beta powers are gone; the model's variables are all there
    assert set(train_dir["all"]) - set(train_dir["model"]) >= {"beta1_power", "beta2_power",
                                                                "dense/kernel/Adam"}
    got = check_average(out, inputs, train_dir["model"])
    # the non-float tensors (global_step too) are the newest input's; the summary says so
    assert int(got["global_step"][2]) == 1 + 2 + 3
    _assert_nonfloat_note(report, inputs[-1], inputs)
    # TF1 Saver restores the model from it
    restored = ops.tf1_restore(out, _build_model)
    for name, value in restored.items():
        ops.assert_array_identical(value, lib.as_array(got[name][2]), name)
    ops.assert_shards_consistent(tfckpt, out)
    ops.assert_unchanged(before, train_dir["dir"])


@pytest.mark.parametrize("take, index", [("0", 0), ("1", 1), ("-2", 1), ("-3", 0), ("-1", 2)])
def test_average_take_nonfloat_from(tfckpt, tmp_path, train_dir, take, index):
    inputs = train_dir["prefixes"]
    out = str(tmp_path / "model")
    report = tfckpt.json("average", *inputs, "-o", out, "--take-nonfloat-from", take, "--json")
    _assert_nonfloat_note(report, inputs[index], inputs)
    got = check_average(out, inputs, train_dir["model"], take=index)
    assert int(got["global_step"][2]) == sum(range(1, index + 2))
    assert got["vocab"][2].tolist()[0] == b"step-%d" % (index + 1)


def test_average_take_nonfloat_out_of_range(tfckpt, tmp_path, train_dir):
    out = tmp_path / "o" / "model"
    for bad in ("3", "-4"):
        proc = tfckpt.run("average", *train_dir["prefixes"], "-o", out,
                          "--take-nonfloat-from", bad, expect_rc=2)
        assert proc.err.strip(), proc.where
    assert ops.dir_entries(tmp_path / "o") == []


def test_average_keep_optimizer(tfckpt, tmp_path, train_dir):
    inputs = train_dir["prefixes"]
    out = str(tmp_path / "model")
    tfckpt.run("average", *inputs, "-o", out, "--keep-optimizer")
    got = check_average(out, inputs, train_dir["all"])
    assert got["beta1_power"][0] == "float32" and got["head/w64/Adam"][0] == "float64"
    # the whole training graph (model + Adam) restores from it
    def build():
        _build_trained()
        return {x.op.name: x for x in tf.compat.v1.global_variables()}
    restored = ops.tf1_restore(out, build)
    assert sorted(restored) == train_dir["all"]
    for name, value in restored.items():
        ops.assert_array_identical(value, lib.as_array(got[name][2]), name)


@pytest.mark.parametrize("weights, normalize", [
    ("1,2,5", True),
    ("0.2,0.3,0.5", True),
    ("3,0,1", True),
    ("0.25,0.5,0.25", False),
    ("0.5,0.75,-0.125", False),
    ("1,1,1", False),
])
def test_average_weights(tfckpt, tmp_path, train_dir, weights, normalize):
    inputs = train_dir["prefixes"]
    out = str(tmp_path / "model")
    args = ["--weights", weights] + ([] if normalize else ["--no-normalize"])
    tfckpt.run("average", *inputs, "-o", out, *args)
    check_average(out, inputs, train_dir["model"], weights=weights.split(","),
                  normalize=normalize)


def test_average_weights_count_mismatch(tfckpt, tmp_path, train_dir):
    out = tmp_path / "o" / "model"
    proc = tfckpt.run("average", *train_dir["prefixes"], "-o", out, "--weights", "1,2",
                      expect_rc=2)
    assert proc.err.strip(), proc.where
    assert ops.dir_entries(tmp_path / "o") == []


def _state_file_prefixes(directory):
    """all_model_checkpoint_paths of DIR/checkpoint as TF reads them, oldest first."""
    state = tf.train.get_checkpoint_state(directory)
    return list(state.all_model_checkpoint_paths)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_average_last_n(tfckpt, tmp_path, train_dir, n):
    listed = _state_file_prefixes(train_dir["dir"])
    assert [os.path.basename(p) for p in listed] == [
        os.path.basename(p) for p in train_dir["prefixes"]]
    inputs = listed[-n:]
    out = str(tmp_path / "model")
    tfckpt.run("average", "--last", n, train_dir["dir"], "-o", out)
    got = check_average(out, inputs, train_dir["model"])
    assert int(got["global_step"][2]) == 6  # the newest
    if n == 1:  # the average of one checkpoint is that checkpoint
        ops.assert_same_tensors(got, ops.tf_values(listed[-1]), names=train_dir["model"])
    # the same as naming the inputs
    out2 = str(tmp_path / "explicit")
    tfckpt.run("average", *inputs, "-o", out2)
    lib.assert_same_values(out, out2)


def test_average_last_n_too_many(tfckpt, tmp_path, train_dir):
    out = tmp_path / "o" / "model"
    proc = tfckpt.run("average", "--last", 4, train_dir["dir"], "-o", out, expect_rc=2)
    assert "the last 4 checkpoints were asked for" in proc.err and "lists only" in proc.err, proc.where
    assert ops.dir_entries(tmp_path / "o") == []


def test_average_dry_run_and_force(tfckpt, tmp_path, train_dir):
    inputs = train_dir["prefixes"]
    out = str(tmp_path / "o" / "model")
    proc = tfckpt.run("average", *inputs, "-o", out, "--dry-run")
    assert proc.out.strip(), proc.where
    assert ops.dir_entries(tmp_path / "o") == []
    plan = tfckpt.json("average", *inputs, "-o", out, "--dry-run", "--json")
    assert ops.dir_entries(tmp_path / "o") == []
    assert sorted(t["name"] for t in plan["tensors"]) == train_dir["model"], plan
    tfckpt.run("average", *inputs[:2], "-o", out)
    first = ops.snapshot(out)
    tfckpt.run("average", *inputs, "-o", out, expect_rc=2)
    ops.assert_unchanged(first, out)
    tfckpt.run("average", *inputs, "-o", out, "--force")
    check_average(out, inputs, train_dir["model"])


# ---------------------------------------------------------------------------------------------
# Rounding: exactly one rounding, from float64, to nearest even, in every float dtype
# ---------------------------------------------------------------------------------------------

# (1 + 2**-30) * a + b lands just above a midpoint of the narrow type, where rounding first to
# float32 and then to the narrow type (double rounding) goes down instead of up.
W_TINY = "%r" % (1 + 2 ** -30)
ROUNDING_A = {
    "bf": ("bfloat16", [1.0, -1.0, 2.0, 1.5, 0.3]),
    "f16": ("float16", [1.0, -1.0, 2.0, 0.1]),
    "f8": ("float8_e4m3fn", [1.0, -1.0, 2.0]),
    "f8b": ("float8_e5m2", [1.0, -1.0, 0.5]),
    "f32": ("float32", [1.0, -1.0, 0.1]),
    "f64": ("float64", [1.0, 0.1, -3.5]),
    "c64": ("complex64", [1 + 2j, -0.5 + 0.1j]),
    "c128": ("complex128", [1 + 2j, 0.1 - 0.3j]),
}
ROUNDING_B = {
    "bf": [2 ** -8, -2 ** -8, 2 ** -7, 0.0, 0.7],
    "f16": [2 ** -11, -2 ** -11, 2 ** -10, 0.2],
    "f8": [2 ** -4, -2 ** -4, 2 ** -3],
    "f8b": [2 ** -3, -2 ** -3, 2 ** -4],
    "f32": [2 ** -24, -2 ** -24, 0.2],
    "f64": [3.0, 0.2, 0.25],
    "c64": [0.5 - 1j, 2 ** -24 + 0.2j],
    "c128": [0.5 - 1j, 0.2 + 0.1j],
}
NONFLOAT = {
    "ints": ("int32", [[1, -2], [3, 4]], [[5, 6], [7, -8]]),
    "bytes": ("uint8", [0, 255], [9, 10]),
    "wide": ("int64", [2 ** 62, -1], [7, 2 ** 40]),
    "mask": ("bool", [True, False], [False, True]),
    "text": ("string", [b"a", b"\x00b"], [b"c", b""]),
}


def _save_bundle(prefix, tensors):
    """SaveV2 of {name: (dtype name, values)}."""
    names = sorted(tensors)
    values = []
    for n in names:
        dtype, v = tensors[n]
        if dtype == "string":
            values.append(tf.constant(v, tf.string))
        else:
            values.append(tf.constant(np.array(v).astype(R.np_dtype(dtype))))
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    return lib.save_tensors(prefix, zip(names, values))


@pytest.fixture(scope="module")
def rounding_pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("avg_round")
    a = {n: (dt, v) for n, (dt, v) in ROUNDING_A.items()}
    b = {n: (ROUNDING_A[n][0], v) for n, v in ROUNDING_B.items()}
    for n, (dt, va, vb) in NONFLOAT.items():
        a[n], b[n] = (dt, va), (dt, vb)
    return _save_bundle(str(d / "a" / "ck"), a), _save_bundle(str(d / "b" / "ck"), b)


def test_average_rounding_is_single_rne(tfckpt, tmp_path, rounding_pair):
    out = str(tmp_path / "model")
    weights = [W_TINY, "1"]
    tfckpt.run("average", *rounding_pair, "-o", out, "--weights", ",".join(weights),
               "--no-normalize")
    names = sorted(ROUNDING_A) + sorted(NONFLOAT)
    got = check_average(out, list(rounding_pair), names, weights=weights, normalize=False)
    # the reference is really a single rounding: these are the correctly rounded values, and a
    # float32 detour would have given 1.0 / -1.0
    assert got["bf"][2][:2].astype(F64).tolist() == [1 + 2 ** -7, -1 - 2 ** -7]
    assert got["f16"][2][:2].astype(F64).tolist() == [1 + 2 ** -10, -1 - 2 ** -10]
    assert got["f8"][2][:2].astype(F64).tolist() == [1.125, -1.125]
    assert got["f32"][2][:2].astype(F64).tolist() == [1 + 2 ** -23, -1 - 2 ** -23]


def test_average_float8_and_complex_plain(tfckpt, tmp_path, rounding_pair):
    out = str(tmp_path / "model")
    tfckpt.run("average", *rounding_pair, "-o", out, "--take-nonfloat-from", "0")
    check_average(out, list(rounding_pair), sorted(ROUNDING_A) + sorted(NONFLOAT), take=0)


# ---------------------------------------------------------------------------------------------
# Disagreements: every one is listed, nothing is written
# ---------------------------------------------------------------------------------------------


def test_average_disagreement(tfckpt, tmp_path):
    base = {"agreed_t": ("float32", [1.0, 2.0]), "counter_t": ("int64", 5)}
    a = dict(base, shape_t=("float32", [[1.0, 2.0, 3.0]]), dtype_t=("float32", [1.0, 2.0]),
             missing_t=("float32", [4.0]))
    b = dict(base, shape_t=("float32", [[1.0], [2.0], [3.0]]), dtype_t=("float64", [1.0, 2.0]))
    c = dict(base, shape_t=("float32", [[1.0, 2.0, 3.0]]), dtype_t=("float32", [1.0, 2.0]),
             missing_t=("float32", [4.0]), extra_t=("float16", [1.0]))
    pa = _save_bundle(str(tmp_path / "in_a" / "ck"), a)
    pb = _save_bundle(str(tmp_path / "in_b" / "ck"), b)
    pc = _save_bundle(str(tmp_path / "in_c" / "ck"), c)
    out = tmp_path / "o" / "model"
    proc = tfckpt.run("average", pa, pb, pc, "-o", out, expect_rc=2)
    assert ops.dir_entries(tmp_path / "o") == []
    lines = proc.err.splitlines()
    # tensor -> inputs its problem must name
    problems = {"shape_t": ["in_a", "in_b"], "dtype_t": ["in_a", "in_b"],
                "missing_t": ["in_b"], "extra_t": ["in_c"]}
    for tensor, inputs in problems.items():
        hits = [ln for ln in lines if re.search(r"\b%s\b" % tensor, ln)]
        assert hits, "%s not reported: %s" % (tensor, proc.where)
        for inp in inputs:
            assert any(inp in ln for ln in hits), "%s: input %s not named in %r" % (
                tensor, inp, hits)
    # every input is compared with the first: a name only in_c has is reported as not in in_a
    assert any("in_c" in ln and "not in" in ln and "in_a" in ln
               for ln in lines if "extra_t" in ln), proc.err
    assert not [ln for ln in lines if re.search(r"agreed_t|counter_t", ln)], proc.err


# ---------------------------------------------------------------------------------------------
# TF2 object-based checkpoints
# ---------------------------------------------------------------------------------------------


class _Block(tf.Module):
    def __init__(self, seed):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.w = tf.Variable(rng.normal(size=(4, 3)).astype(F32), name="w")
        self.b = tf.Variable(rng.normal(size=(3,)).astype(F32), name="b")
        self.scale = tf.Variable(rng.normal(size=(3,)).astype(F64), name="scale")

    def __call__(self, x):
        return (tf.matmul(x, self.w) + self.b) * tf.cast(self.scale, tf.float32)

    def by_name(self):
        return {"w": self.w, "b": self.b, "scale": self.scale}


@pytest.fixture(scope="module")
def tf2_steps(tmp_path_factory):
    """Three TF2 checkpoints of one model trained with Adam between saves."""
    d = tmp_path_factory.mktemp("avg_tf2")
    model, opt = _Block(1), tf.compat.v1.train.AdamOptimizer(0.1)
    ckpt = tf.train.Checkpoint(model=model, optimizer=opt)
    manager = tf.train.CheckpointManager(ckpt, str(d / "run"), max_to_keep=5)
    x = tf.constant(np.linspace(-1, 1, 8, dtype=F32).reshape(2, 4))
    prefixes = []
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - 0.5))
        variables = list(model.by_name().values())
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        prefixes.append(manager.save())
    model_only = tf.train.Checkpoint(model=model).save(str(d / "model_only" / "ck"))
    return {"prefixes": prefixes, "dir": str(d / "run"),
            "model_keys": sorted(ops.tf_values(model_only))}


GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


def test_average_tf2_strips_optimizer(tfckpt, tmp_path, tf2_steps):
    inputs = tf2_steps["prefixes"]
    keys = [k for k, _ in tf.train.list_variables(inputs[0])]
    assert any(".OPTIMIZER_SLOT" in k for k in keys), keys
    out = str(tmp_path / "ck")
    tfckpt.run("average", *inputs, "-o", out)
    got = ops.tf_values(out)
    assert sorted(got) == tf2_steps["model_keys"], sorted(got)
    src = [ops.tf_values(p) for p in inputs]
    for name in got:
        if name == GRAPH_KEY:
            continue
        dtype = got[name][0]
        if _is_float(dtype):
            R.assert_bits_equal(got[name][2], R.average([s[name][2] for s in src]), name)
        else:
            ops.assert_array_identical(got[name][2], src[-1][name][2], name)
    fresh = _Block(9)
    tf.train.Checkpoint(model=fresh).restore(out).assert_consumed()
    for attr, var in fresh.by_name().items():
        key = "model/%s/.ATTRIBUTES/VARIABLE_VALUE" % attr
        R.assert_bits_equal(var.numpy(), got[key][2], attr)


def test_average_tf2_last_keep_optimizer(tfckpt, tmp_path, tf2_steps):
    inputs = tf2_steps["prefixes"][-2:]
    out = str(tmp_path / "ck")
    tfckpt.run("average", "--last", 2, tf2_steps["dir"], "-o", out, "--keep-optimizer")
    got = ops.tf_values(out)
    src = [ops.tf_values(p) for p in inputs]
    assert sorted(got) == sorted(src[-1])
    slots = [k for k in got if ".OPTIMIZER_SLOT" in k]
    assert slots
    for name in got:
        dtype = got[name][0]
        if _is_float(dtype):
            R.assert_bits_equal(got[name][2], R.average([s[name][2] for s in src]), name)
        else:  # the object graph and save_counter: the newest input's
            ops.assert_array_identical(lib.as_array(got[name][2]), lib.as_array(src[-1][name][2]),
                                       name)
    model, opt = _Block(9), tf.compat.v1.train.AdamOptimizer(0.1)
    tf.train.Checkpoint(model=model, optimizer=opt).restore(out).assert_existing_objects_matched()
    for attr, var in model.by_name().items():
        R.assert_bits_equal(var.numpy(), got["model/%s/.ATTRIBUTES/VARIABLE_VALUE" % attr][2], attr)


# ---------------------------------------------------------------------------------------------
# Every float dtype TF can save; variants; partitioned variables
# ---------------------------------------------------------------------------------------------

ALL_FLOATS = ["bfloat16", "float16", "float32", "float64", "float8_e4m3fn", "float8_e5m2",
              "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e4m3b11fnuz", "float4_e2m1fn"]


def _variants(seed):
    l1 = tf.raw_ops.TensorListFromTensor(tensor=tf.constant([1.0, 2.0, 3.0]) * seed,
                                         element_shape=tf.constant([], tf.int32))
    l2 = tf.raw_ops.TensorListFromTensor(tensor=tf.constant([[seed, 2], [3, 4]], tf.int32),
                                         element_shape=tf.constant([2], tf.int32))
    return l1, l2


@pytest.fixture(scope="module")
def float_family(tmp_path_factory):
    """Three SaveV2 bundles: one tensor per float dtype, complex, a variant and an int."""
    d = tmp_path_factory.mktemp("avg_family")
    prefixes = []
    for i in range(3):
        rng = np.random.default_rng(50 + i)
        names, tensors = [], []
        for dt in ALL_FLOATS:
            ndt = R.np_dtype(dt)
            scale = min(float(ml_dtypes.finfo(ndt).max) / 8, 4.0)
            names.append("f/" + dt)
            tensors.append(tf.constant((rng.normal(size=(3, 5)) * scale).astype(ndt)))
        for dt in ("complex64", "complex128"):
            names.append("c/" + dt)
            tensors.append(tf.constant((rng.normal(size=4) + 1j * rng.normal(size=4)).astype(dt)))
        l1, l2 = _variants(i + 1)
        names += ["v/list", "v/lists", "step"]
        tensors += [l1, tf.stack([l2, l2]), tf.constant(i, tf.int64)]
        prefix = str(d / ("in%d" % i) / "ck")
        os.makedirs(os.path.dirname(prefix))
        tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                          tensors=tensors)
        prefixes.append(prefix)
    return prefixes


@pytest.mark.parametrize("take", [-1, 0])
def test_average_every_float_dtype_and_variants(tfckpt, tmp_path, float_family, take):
    out = str(tmp_path / "model")
    tfckpt.run("average", *float_family, "-o", out, "--take-nonfloat-from", take)
    src = ops.tf_values(float_family[0])
    got = check_average(out, float_family, sorted(src), take=take)
    assert sorted(n for n in got if got[n][0] in ALL_FLOATS) == ["f/" + d for d in sorted(
        ALL_FLOATS)]
    for name in ("v/list", "v/lists"):  # variants: input `take`'s serialized elements
        assert got[name][0] == "variant"
        assert lib.variant_elements_from_file(out, name) == lib.variant_elements_from_file(
            float_family[take], name)
        assert lib.variant_elements_from_file(out, name) != lib.variant_elements_from_file(
            float_family[take + 1], name)


PARTITIONED = {
    "emb": ((10, 4), F32, 3),
    "wide": ((3, 7), F64, None),
    "ids": ((6,), np.int64, 2),
}


def test_average_partitioned_tf1(tfckpt, tmp_path):
    inputs = [ops.tf1_save(tmp_path / ("s%d" % s) / "model",
                           lambda s=s: ops.get_variables(PARTITIONED, seed=s)[0])
              for s in (1, 2, 5)]
    out = str(tmp_path / "out" / "model")
    tfckpt.run("average", *inputs, "-o", out, "--weights", "1,2,3")
    got = check_average(out, inputs, sorted(PARTITIONED), weights=[1, 2, 3])
    restored = ops.tf1_restore(out, lambda: ops.get_variables(PARTITIONED, seed=9)[0])
    for name, value in restored.items():
        ops.assert_array_identical(value, got[name][2], name)
