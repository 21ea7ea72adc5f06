"""Pictures: `tfckpt diff A B --plot` draws the relative change ||B-A||/||A|| of every tensor,
grouped by layer; the numbers on its bars (and `diff --norms --json`) are judged by numpy on
the values TensorFlow reads. (`stats --plot`'s histograms: test_stats.py.)"""

import xml.etree.ElementTree as ET

import numpy as np
import pytest
import tensorflow as tf

import ops_testlib as ops
import tfckpt_testlib as lib

SVG = "{http://www.w3.org/2000/svg}"
RNG = np.random.default_rng(11)
BASE = {
    "encoder/layer_0/kernel": RNG.standard_normal((8, 8)).astype(np.float32),
    "encoder/layer_0/bias": RNG.standard_normal(8).astype(np.float32),
    "encoder/layer_1/kernel": RNG.standard_normal((8, 8)).astype(np.float64),
    "head/logits": RNG.standard_normal((8, 3)).astype(np.float32),
    "zeros": np.zeros(4, np.float32),
    "global_step": np.int64(1000),
    "vocab": np.array([b"a", b"b"], dtype=object),
}


def _tuned(values, seed):
    rng = np.random.default_rng(seed)
    out = dict(values)
    out["encoder/layer_0/kernel"] = values["encoder/layer_0/kernel"] + \
        rng.standard_normal((8, 8)).astype(np.float32) * 0.01
    out["head/logits"] = values["head/logits"] * np.float32(1.5)
    out["zeros"] = np.array([0, 1, 0, 0], np.float32)  # ||A|| = 0: an infinite change
    out["global_step"] = np.int64(2000)
    return out


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("plots")

    def build(values):
        def f():
            for name, v in values.items():
                tf.compat.v1.get_variable(name, initializer=tf.constant(v), trainable=False)
        return f
    a = ops.tf1_save(d / "a" / "model", build(BASE))
    b = ops.tf1_save(d / "b" / "model", build(_tuned(BASE, 1)))
    return a, b


def _expected(a, b):
    """{name: ||B-A|| / ||A||} for the numeric tensors both hold, from TF's reading."""
    va, vb = lib.tf_read_all(a), lib.tf_read_all(b)
    out = {}
    for name, (dtype, _, x) in va.items():
        if dtype in ("string", "bool", "variant"):
            continue
        x = np.asarray(x, np.float64)
        y = np.asarray(vb[name][2], np.float64)
        d, n = np.linalg.norm((y - x).ravel()), np.linalg.norm(x.ravel())
        out[name] = 0.0 if d == 0 else (d / n if n > 0 else np.inf)
    return out


def test_diff_plot_like_numpy(tfckpt, tmp_path, pair):
    a, b = pair
    want = _expected(a, b)
    path = str(tmp_path / "diff.svg")
    proc = tfckpt.run("diff", a, b, "--plot", path, expect_rc=1)  # they differ
    root = ET.parse(path).getroot()
    bars = {}
    for group in root.iter(SVG + "g"):
        if group.get("class") != "layer":
            continue
        for rect in group.iter(SVG + "rect"):
            if rect.get("class") == "bar":
                name = rect.get("data-name")
                assert name not in bars, name
                assert group.get("data-layer") == name.rpartition("/")[0], name
                bars[name] = float(rect.get("data-value"))
    assert sorted(bars) == sorted(want), proc.where
    for name, w in want.items():
        if np.isinf(w):
            assert np.isinf(bars[name]), name
        else:
            assert bars[name] == pytest.approx(w, rel=1e-12, abs=0), name
    assert want["zeros"] == np.inf and want["encoder/layer_1/kernel"] == 0.0  # both kinds seen
    longest = max(float(r.get("width")) for r in root.iter(SVG + "rect")
                  if r.get("class") == "bar")
    assert longest > 0


def test_diff_norms_json(tfckpt, pair):
    a, b = pair
    want = _expected(a, b)
    got = tfckpt.json("diff", a, b, "--norms", "--json", expect_rc=1)
    rel = {t["name"]: t["relative"] for t in got["relative_change"]}
    assert sorted(rel) == sorted(want)
    for name, w in want.items():
        r = rel[name]
        assert (np.isinf(w) and np.isinf(r)) or r == pytest.approx(w, rel=1e-12), (name, r)


def test_plot_refused_with_names_only(tfckpt, tmp_path, pair):
    a, b = pair
    tfckpt.run("diff", a, b, "--names-only", "--plot", str(tmp_path / "x.svg"), expect_rc=2)
    assert not (tmp_path / "x.svg").exists()


def test_python_norms(pair):
    import tfckpt as tfckpt_py
    a, b = pair
    want = _expected(a, b)
    got = {t["name"]: t["relative"] for t in tfckpt_py.diff(a, b, norms=True)["relative_change"]}
    assert sorted(got) == sorted(want)
    for name, w in want.items():
        assert got[name] == pytest.approx(w, rel=1e-12) or (np.isinf(w) and np.isinf(got[name]))
    assert "relative_change" not in tfckpt_py.diff(a, b)
    with pytest.raises(tfckpt_py.InvalidArgumentError):
        tfckpt_py.diff(a, b, names_only=True, norms=True)


def test_svg_stays_valid_xml_for_any_name(tfckpt, tmp_path):
    """Names with markup characters, a tab, a newline and bytes that are not UTF-8: the SVG still
    parses, and names that are valid text read back exactly."""
    names = ["a&b<c>\"d'", "tab\there", "line\nbreak", "caf\u00e9/\u00fcber"]
    values = {n: np.float32([1.0, 2.0, 3.0]) for n in names}
    a = lib.save_tensors(str(tmp_path / "a" / "m"), values)
    b = lib.save_tensors(str(tmp_path / "b" / "m"), {n: v * 2 for n, v in values.items()})
    path = str(tmp_path / "d.svg")
    tfckpt.run("diff", a, b, "--plot", path, expect_rc=1)
    bars = {r.get("data-name") for r in ET.parse(path).getroot().iter(SVG + "rect")
            if r.get("class") == "bar"}
    assert bars == set(names)
    # A name that is not UTF-8 (written with the raw bytes): still valid XML.
    raw = b"bad\xffname"
    tf.raw_ops.SaveV2(prefix=str(tmp_path / "c" / "m"), tensor_names=[raw], shape_and_slices=[""],
                      tensors=[tf.constant([1.0, 2.0])])
    tf.raw_ops.SaveV2(prefix=str(tmp_path / "e" / "m"), tensor_names=[raw], shape_and_slices=[""],
                      tensors=[tf.constant([1.0, 3.0])])
    path2 = str(tmp_path / "e.svg")
    tfckpt.run("diff", str(tmp_path / "c" / "m"), str(tmp_path / "e" / "m"), "--plot", path2,
               expect_rc=1)
    assert len([r for r in ET.parse(path2).getroot().iter(SVG + "rect")
                if r.get("class") == "bar"]) == 1
    tfckpt.run("stats", str(tmp_path / "c" / "m"), "--plot", str(tmp_path / "s.svg"))
    ET.parse(str(tmp_path / "s.svg"))
