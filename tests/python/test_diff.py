"""`tfckpt diff` on TensorFlow checkpoints whose differences the test controls."""

import numpy as np
import pytest
import tensorflow as tf

import tfckpt_testlib as lib

import tfckpt as pytfckpt  # the Python package (`tfckpt` here is the command line's fixture)

CLOSE_A = np.array([1000.0, 2000.0, -3000.0, 4000.0])
CLOSE_DELTA = np.array([0.001, 0.0, 0.002, -0.001])


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("diff")
    same = tf.constant(np.arange(6, dtype=np.float32).reshape(3, 2) / 3.0)
    words = tf.constant([b"same", b""])
    differ_a = np.array([0.5, -1.25, 3.0, 1e6, -2.0], np.float32)
    differ_b = differ_a + np.array([0.0, 0.25, -1.5, 64.0, 0.0], np.float32)
    a = lib.save_tensors(str(d / "a"), [
        ("same", same), ("same_str", words), ("only_a", tf.constant(1.0)),
        ("changed_dtype", tf.constant([1.0, 2.0, 3.0], tf.float32)),
        ("changed_shape", tf.constant([[1.0, 2.0], [3.0, 4.0]])),
        ("differ", tf.constant(differ_a)),
        ("close", tf.constant(CLOSE_A)),
        ("int_differ", tf.constant([10, -20, 30], tf.int64)),
    ])
    b = lib.save_tensors(str(d / "b"), [
        ("same", same), ("same_str", words), ("only_b", tf.constant([1, 2], tf.int32)),
        ("changed_dtype", tf.constant([1.0, 2.0, 3.0], tf.float64)),
        ("changed_shape", tf.constant([1.0, 2.0, 3.0, 4.0])),
        ("differ", tf.constant(differ_b)),
        ("close", tf.constant(CLOSE_A + CLOSE_DELTA)),
        ("int_differ", tf.constant([10, -27, 30], tf.int64)),
    ])
    return a, b


def _max_rel(a, b):
    """include/tfckpt/diff.h: the largest |a - b| / |b| (B is the reference, as in numpy.isclose),
    infinite where b == 0 != a; 0 when all are equal."""
    diff = np.abs(a - b)
    with np.errstate(all="ignore"):
        rel = np.where(diff == 0, 0.0, np.where(b == 0, np.inf, diff / np.abs(b)))
    return float(rel.max()) if rel.size else 0.0


def _expected_differ(a_prefix, b_prefix, names):
    ra, rb = tf.train.load_checkpoint(a_prefix), tf.train.load_checkpoint(b_prefix)
    out = {}
    for n in names:
        va = np.asarray(ra.get_tensor(n)).astype(np.float64)
        vb = np.asarray(rb.get_tensor(n)).astype(np.float64)
        out[n] = (float(np.max(np.abs(va - vb))), _max_rel(va, vb))
    return out


def _check_values_differ(got, expected):
    by_name = {v["name"]: v for v in got}
    assert sorted(by_name) == sorted(expected), got
    for name, (max_abs, max_rel) in expected.items():
        assert by_name[name]["max_abs"] == pytest.approx(max_abs, rel=1e-12), name
        assert by_name[name]["max_rel"] == pytest.approx(max_rel, rel=1e-9), (
            name, by_name[name], max_rel)


def test_diff_json(tfckpt, pair):
    a, b = pair
    out = tfckpt.json("diff", a, b, "--json", expect_rc=1)
    assert out["only_in_a"] == ["only_a"]
    assert out["only_in_b"] == ["only_b"]
    ra, rb = tf.train.load_checkpoint(a), tf.train.load_checkpoint(b)
    changed = {c["name"]: c for c in out["changed"]}
    assert sorted(changed) == ["changed_dtype", "changed_shape"]
    for name, c in changed.items():
        assert c["a"] == {"dtype": ra.get_variable_to_dtype_map()[name].name,
                          "shape": ra.get_variable_to_shape_map()[name]}, c
        assert c["b"] == {"dtype": rb.get_variable_to_dtype_map()[name].name,
                          "shape": rb.get_variable_to_shape_map()[name]}, c
    _check_values_differ(out["values_differ"],
                         _expected_differ(a, b, ["differ", "close", "int_differ"]))
    assert out["identical"] == 2  # same, same_str


def test_diff_atol(tfckpt, pair):
    a, b = pair
    out = tfckpt.json("diff", a, b, "--json", "--atol", "0.01", expect_rc=1)
    _check_values_differ(out["values_differ"], _expected_differ(a, b, ["differ", "int_differ"]))
    assert out["identical"] == 3
    out = tfckpt.json("diff", a, b, "--json", "--atol", "1e-5", expect_rc=1)
    assert "close" in [v["name"] for v in out["values_differ"]]


def test_diff_rtol(tfckpt, pair):
    a, b = pair
    out = tfckpt.json("diff", a, b, "--json", "--rtol", "1e-4", expect_rc=1)
    assert "close" not in [v["name"] for v in out["values_differ"]]
    assert "differ" in [v["name"] for v in out["values_differ"]]
    assert out["identical"] == 3


@pytest.mark.parametrize("fixture_name", ["tf1_plain", "all_dtypes", "tf1_partitioned"])
def test_diff_with_itself_is_clean(tfckpt, request, fixture_name):
    """Includes NaNs at the same positions, strings, every dtype, partitioned tensors."""
    ckpt = request.getfixturevalue(fixture_name)
    if isinstance(ckpt, tuple):
        ckpt = ckpt[0]
    out = tfckpt.json("diff", ckpt, ckpt, "--json", expect_rc=0)
    assert out["only_in_a"] == [] and out["only_in_b"] == []
    assert out["changed"] == [] and out["values_differ"] == []
    assert out["identical"] == len(lib.tf_read_all(ckpt))


def test_diff_text_exit_codes(tfckpt, pair, tmp_path):
    a, b = pair
    proc = tfckpt.run("diff", a, b, expect_rc=1)
    for name in ("only_a", "only_b", "changed_dtype", "differ"):
        assert name in proc.out + proc.err
    tfckpt.run("diff", a, a, expect_rc=0)
    proc = tfckpt.run("diff", a, str(tmp_path / "missing"), expect_rc=2)
    assert proc.err.strip()


def test_diff_tf2_steps(tfckpt, tf2_dir):
    """Two saves of a TF2 checkpoint, named via the directory's state file (DIR@N)."""
    state = tf.train.get_checkpoint_state(tf2_dir)
    first, second = state.all_model_checkpoint_paths
    assert first.endswith("-1") and second.endswith("-2")
    ra, rb = tf.train.load_checkpoint(first), tf.train.load_checkpoint(second)
    numeric, identical = [], 0
    for name, dt in ra.get_variable_to_dtype_map().items():
        va, vb = ra.get_tensor(name), rb.get_tensor(name)
        if dt == tf.string:
            assert va == vb  # same object graph in both saves
            identical += 1
        elif np.array_equal(va, vb):
            identical += 1
        else:
            numeric.append(name)
    assert "save_counter/.ATTRIBUTES/VARIABLE_VALUE" in numeric
    out = tfckpt.json("diff", tf2_dir + "@1", tf2_dir + "@2", "--json", expect_rc=1)
    assert out["only_in_a"] == [] and out["only_in_b"] == [] and out["changed"] == []
    _check_values_differ(out["values_differ"], _expected_differ(first, second, numeric))
    assert out["identical"] == identical


# ---------------------------------------------------------------------------------------------
# tfckpt.diff (Python): the same report, judged by what TensorFlow reads
# ---------------------------------------------------------------------------------------------


def _tf_meta(reader, name):
    return {"dtype": reader.get_variable_to_dtype_map()[name].name,
            "shape": reader.get_variable_to_shape_map()[name]}


def test_python_diff_like_tf(tfckpt, pair):
    a, b = pair
    ra, rb = tf.train.load_checkpoint(a), tf.train.load_checkpoint(b)
    names_a, names_b = set(ra.get_variable_to_shape_map()), set(rb.get_variable_to_shape_map())
    r = pytfckpt.diff(a, b)
    assert (r["a"], r["b"]) == (a, b)
    assert r["only_in_a"] == sorted(names_a - names_b) == ["only_a"]
    assert r["only_in_b"] == sorted(names_b - names_a) == ["only_b"]
    changed = {c["name"]: c for c in r["changed"]}
    want_changed = sorted(n for n in names_a & names_b
                          if _tf_meta(ra, n) != _tf_meta(rb, n))
    assert sorted(changed) == want_changed
    for name in want_changed:
        assert changed[name] == {"name": name, "a": _tf_meta(ra, name), "b": _tf_meta(rb, name)}
    comparable = sorted(n for n in names_a & names_b if n not in want_changed)
    differ = [n for n in comparable
              if np.asarray(ra.get_tensor(n)).tolist() != np.asarray(rb.get_tensor(n)).tolist()]
    assert differ == ["close", "differ", "int_differ"]
    _check_values_differ(r["values_differ"], _expected_differ(a, b, differ))
    assert r["identical"] == len(comparable) - len(differ) == 2
    assert r["same"] is False
    want = tfckpt.json("diff", a, b, "--json", expect_rc=1)
    assert {k: v for k, v in r.items() if k != "same"} == _report_of(want)


def _report_of(document):
    """`tfckpt diff --json` as the Python report has it: without the JSON schema_version."""
    return {k: v for k, v in document.items() if k != "schema_version"}


def test_python_diff_tolerances(tfckpt, pair):
    a, b = pair
    for flags, kwargs in ((["--atol", "0.01"], {"atol": 0.01}),
                          (["--rtol", "1e-4"], {"rtol": 1e-4}),
                          (["--atol", "1e-5"], {"atol": 1e-5})):
        r = pytfckpt.diff(a, b, **kwargs)
        want = tfckpt.json("diff", a, b, "--json", *flags, expect_rc=1)
        assert {k: v for k, v in r.items() if k != "same"} == _report_of(want), flags
    # numpy.isclose(a, b, rtol, atol) decides which of TF's values are equal
    ra, rb = tf.train.load_checkpoint(a), tf.train.load_checkpoint(b)
    for atol, rtol in ((0.01, 0.0), (0.0, 1e-4), (1e-5, 0.0), (0.0, 1e-7)):
        r = pytfckpt.diff(a, b, atol=atol, rtol=rtol)
        got = {v["name"]: v["differing"] for v in r["values_differ"]}
        want = {}
        for n in ("close", "differ", "int_differ"):
            va = np.asarray(ra.get_tensor(n)).astype(np.float64)
            vb = np.asarray(rb.get_tensor(n)).astype(np.float64)
            k = int((~np.isclose(va, vb, rtol=rtol, atol=atol)).sum())
            if k:
                want[n] = k
        assert got == want, (atol, rtol, got, want)


@pytest.mark.parametrize("fixture_name", ["tf1_plain", "all_dtypes", "tf1_partitioned"])
def test_python_diff_with_itself_is_clean(request, fixture_name):
    ckpt = request.getfixturevalue(fixture_name)
    if isinstance(ckpt, tuple):
        ckpt = ckpt[0]
    r = pytfckpt.diff(ckpt, pytfckpt.open(ckpt))
    assert r["same"] is True and r["values_differ"] == [] and r["changed"] == []
    assert r["identical"] == len(lib.tf_read_all(ckpt))


def test_python_diff_tf2_steps(tf2_dir):
    state = tf.train.get_checkpoint_state(tf2_dir)
    first, second = state.all_model_checkpoint_paths
    ra, rb = tf.train.load_checkpoint(first), tf.train.load_checkpoint(second)
    numeric = sorted(n for n, dt in ra.get_variable_to_dtype_map().items()
                     if dt != tf.string and not np.array_equal(ra.get_tensor(n), rb.get_tensor(n)))
    r = pytfckpt.diff(tf2_dir + "@1", pytfckpt.open(tf2_dir))
    assert (r["a"], r["b"]) == (first, second)
    assert [v["name"] for v in r["values_differ"]] == numeric
    _check_values_differ(r["values_differ"], _expected_differ(first, second, numeric))
