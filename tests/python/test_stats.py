"""`tfckpt stats` and tfckpt.stats(): per-tensor statistics, judged by numpy on the values
TensorFlow reads (accumulated in float64, over the finite elements), and --check-finite /
--all, judged by the NaN and Inf TensorFlow reads in each listed checkpoint."""

import os

import numpy as np
import pytest
import tensorflow as tf

import conftest
import tfckpt_testlib as lib

import tfckpt as tfckpt_py  # the Python package (the `tfckpt` fixture is the command line)

RNG = np.random.default_rng(7)
VALUES = {
    "f32/special": np.array([1.5, np.nan, -np.inf, 0.0, -0.0, np.inf, 3.25, np.nan, -2.0],
                            np.float32),
    "f32/big": (RNG.standard_normal((1000, 300)) * 3 + 10).astype(np.float32),  # 5 chunks
    "f64/offset": RNG.standard_normal(7000) * 1e-3 + 1e8,  # a large mean, a small spread
    "f16": np.array([65504.0, -1.0, 0.0, np.nan], np.float16),
    "bf16": tf.cast(tf.constant([1.0, -0.5, 3.25, 256.0]), tf.bfloat16),
    "i8": np.array([-128, 127, 0, 5], np.int8),
    "i64": np.array([2 ** 40, -(2 ** 40), 3], np.int64),
    "u8": np.arange(256, dtype=np.uint8).reshape(16, 16),
    "flags": np.array([True, False, True, True]),
    "c64": np.array([1 + 2j, np.inf + 0j, 0j, 3 - 4j], np.complex64),
    "empty": np.zeros((0, 4), np.float32),
    "scalar": np.float64(-7.5),
    "words": np.array([b"a", b"", b"xyz"], dtype=object),
}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    prefix = str(tmp_path_factory.mktemp("stats") / "model")
    lib.save_tensors(prefix, {n: v for n, v in VALUES.items()})
    return prefix


def numpy_stats(value):
    """What the statistics should be, from a value TensorFlow read."""
    a = np.asarray(value)
    out = {"count": int(a.size)}
    if a.dtype == object:
        return out
    if a.dtype.kind == "c":
        z = a.astype(np.complex128).reshape(-1)
        nan = np.isnan(z.real) | np.isnan(z.imag)
        inf = ~nan & (np.isinf(z.real) | np.isinf(z.imag))
        fin = z[~nan & ~inf]
        out.update(nan=int(nan.sum()), inf=int(inf.sum()), zeros=int((fin == 0).sum()),
                   l2=float(np.sqrt(np.sum(np.abs(fin) ** 2))), min=None, max=None, mean=None,
                   std=None)
        return out
    x = a.astype(np.float64).reshape(-1)
    fin = x[np.isfinite(x)]
    out.update(nan=int(np.isnan(x).sum()), inf=int(np.isinf(x).sum()),
               zeros=int((fin == 0).sum()), l2=float(np.sqrt(np.sum(fin * fin))))
    if fin.size:
        out.update(min=float(fin.min()), max=float(fin.max()), mean=float(fin.mean()),
                   std=float(fin.std()))
    else:
        out.update(min=None, max=None, mean=None, std=None)
    return out


def assert_stats(got, want, what):
    for key, w in want.items():
        g = got[key]
        if w is None or isinstance(w, int):
            assert g == w, (what, key, g, w)
        else:
            scale = max(abs(w), 1e-300)
            assert abs(g - w) <= 1e-9 * scale, (what, key, g, w)


def test_stats_like_numpy(tfckpt, ckpt):
    tf_values = lib.tf_read_all(ckpt)
    listing = tfckpt.json("stats", ckpt, "--json")
    assert listing["prefix"] == ckpt
    by_name = {t["name"]: t for t in listing["tensors"]}
    assert sorted(by_name) == sorted(tf_values)
    py = tfckpt_py.stats(ckpt)
    assert list(py) == [t["name"] for t in listing["tensors"]]
    for name, (dtype_name, shape, value) in tf_values.items():
        want = numpy_stats(value)
        t = by_name[name]
        assert (t["dtype"], t["shape"]) == (dtype_name, shape), name
        assert_stats(t, want, "cli " + name)
        assert_stats(py[name], want, "python " + name)
        assert py[name]["dtype"] == dtype_name and list(py[name]["shape"]) == shape
    assert sorted(listing["nonfinite"]) == sorted(
        n for n, (_, _, v) in tf_values.items()
        if numpy_stats(v).get("nan", 0) + numpy_stats(v).get("inf", 0))


def test_stats_do_not_depend_on_threads(tfckpt, ckpt):
    one = tfckpt.json("stats", ckpt, "--json", "--threads", "1")
    four = tfckpt.json("stats", ckpt, "--json", "--threads", "4")
    assert one == four


def test_chosen_names_and_filter(tfckpt, ckpt):
    got = tfckpt.json("stats", ckpt, "i8", "f16", "--json")
    assert [t["name"] for t in got["tensors"]] == ["f16", "i8"] or \
        [t["name"] for t in got["tensors"]] == ["i8", "f16"]
    got = tfckpt.json("stats", ckpt, "--filter", "^f32/", "--json")
    assert [t["name"] for t in got["tensors"]] == ["f32/big", "f32/special"]
    proc = tfckpt.run("stats", ckpt, "nope", expect_rc=2)
    assert "'nope'" in proc.err, proc.where
    with pytest.raises(tfckpt_py.NotFoundError):
        tfckpt_py.stats(ckpt, ["nope"])
    text = tfckpt.run("stats", ckpt).out
    assert "f32/big" in text and "MEAN" in text and "words" in text


def test_check_finite(tfckpt, ckpt, tf1_plain):
    proc = tfckpt.run("stats", ckpt, "--check-finite", expect_rc=1)
    named = {line.split("'")[1] for line in proc.out.splitlines() if line.startswith("NONFINITE")}
    assert named == {"f32/special", "f16", "c64"}, proc.where
    nan_free = lib.tf_read_all(tf1_plain)
    finite = all(np.all(np.isfinite(np.asarray(v, np.float64))) for d, _, v in nan_free.values()
                 if d not in ("string", "variant"))
    proc = tfckpt.run("stats", tf1_plain, "--check-finite", expect_rc=None)
    assert proc.returncode == (0 if finite else 1), proc.where


@pytest.fixture(scope="module")
def diverging_dir(tmp_path_factory):
    """A TF1 training directory, steps 1, 2, 3: the weights double, then become NaN."""
    def build():
        return tf.compat.v1.get_variable("w", initializer=tf.constant([1.0, 2.0, 3.0]))

    def diverge(sess, var):
        sess.run(var.assign(var * np.float32(np.nan) if sess.run(var)[0] > 1.5 else var * 2))

    directory = tmp_path_factory.mktemp("diverging")
    conftest._tf1_graph_save(directory, build, global_steps=(1, 2, 3), between_saves=diverge)
    return str(directory)


def test_all_finds_the_first_checkpoint_with_nan(tfckpt, diverging_dir):
    listed = tf.train.get_checkpoint_state(diverging_dir).all_model_checkpoint_paths
    has_nan = [bool(np.isnan(tf.train.load_checkpoint(p).get_tensor("w")).any()) for p in listed]
    first = listed[has_nan.index(True)]
    proc = tfckpt.run("stats", diverging_dir, "--all", "--check-finite", expect_rc=1)
    assert proc.out.strip().splitlines()[-1] == \
        "first checkpoint with NaN or Inf: " + first, proc.where
    got = tfckpt.json("stats", diverging_dir, "--all", "--json", expect_rc=0)
    assert [r["prefix"] for r in got] == list(listed)
    assert [bool(r["nonfinite"]) for r in got] == has_nan


def test_v1_checkpoint(tfckpt, repo_root):
    path = str(repo_root / "examples" / "v1" / "model.ckpt")
    reader = tf.train.load_checkpoint(path)
    got = {t["name"]: t for t in tfckpt.json("stats", path, "--json")["tensors"]}
    for name in reader.get_variable_to_shape_map():
        if name == "emb":  # partitioned: TF's reader refuses it, its restore op assembles it
            value = tf.raw_ops.RestoreV2(prefix=path, tensor_names=[name],
                                         shape_and_slices=[""], dtypes=[tf.float32])[0].numpy()
        else:
            value = reader.get_tensor(name)
        assert_stats(got[name], numpy_stats(value), name)
    assert os.path.isfile(path)
