"""`tfckpt stats` and tfckpt.stats(): per-tensor statistics, judged by numpy on the values
TensorFlow reads (accumulated in float64, over the finite elements), and --check-finite /
--all, judged by the NaN and Inf TensorFlow reads in each listed checkpoint."""

import os
import shutil
import xml.etree.ElementTree as ET

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
    "i64/beyond_2_53": np.array([2 ** 62 + 1, 2 ** 62, -(2 ** 53) - 1], np.int64),
    "u64": np.array([2 ** 64 - 1, 2 ** 63 + 1, 5], np.uint64),
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
        if a.dtype.kind in "iub":  # exact, as numpy gives them in the array's own type
            out.update(min=int(a.min()), max=int(a.max()))
    else:
        out.update(min=None, max=None, mean=None, std=None)
    return out


def assert_stats(got, want, what):
    for key, w in want.items():
        g = got[key]
        if w is None or isinstance(w, int):
            assert g == w and type(g) is type(w), (what, key, g, w)
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
    got = tfckpt.json("stats", ckpt, "i8", "f16", "i8", "--json")  # the checkpoint's order, once
    assert [t["name"] for t in got["tensors"]] == ["f16", "i8"]
    got = tfckpt.json("stats", ckpt, "--filter", "^f32/", "--json")
    assert [t["name"] for t in got["tensors"]] == ["f32/big", "f32/special"]
    proc = tfckpt.run("stats", ckpt, "nope", expect_rc=2)
    assert "'nope'" in proc.err, proc.where
    with pytest.raises(tfckpt_py.NotFoundError):
        tfckpt_py.stats(ckpt, ["nope"])
    assert list(tfckpt_py.stats(ckpt, filter="^f32/")) == ["f32/big", "f32/special"]
    with pytest.raises(tfckpt_py.NotFoundError, match="matches filter"):
        tfckpt_py.stats(ckpt, filter="^nope")
    with pytest.raises(tfckpt_py.InvalidArgumentError, match="not both"):
        tfckpt_py.stats(ckpt, ["i8"], filter="^f32/")
    with pytest.raises(tfckpt_py.InvalidArgumentError, match="filter"):
        tfckpt_py.stats(ckpt, filter="(")
    text = tfckpt.run("stats", ckpt).out
    assert "f32/big" in text and "MEAN" in text and "words" in text


def _nonfinite(values):
    return {n for n, (_, _, v) in values.items()
            if numpy_stats(v).get("nan", 0) + numpy_stats(v).get("inf", 0)}


def test_check_finite(tfckpt, ckpt, tf1_plain):
    proc = tfckpt.run("stats", ckpt, "--check-finite", expect_rc=1)
    named = {line.split("'")[1] for line in proc.out.splitlines() if line.startswith("NONFINITE")}
    assert named == _nonfinite(lib.tf_read_all(ckpt)) and named, proc.where
    got = tfckpt_py.check_finite(ckpt)
    assert got["first_nonfinite"] == got["checkpoints"][0]["prefix"]
    assert set(got["checkpoints"][0]["nonfinite"]) == named
    assert got["checkpoints"][0]["unread"] == {}
    got = tfckpt_py.check_finite(ckpt, filter="^i")  # integers are always finite
    assert got["first_nonfinite"] is None and got["checkpoints"][0]["nonfinite"] == []
    nan_free = lib.tf_read_all(tf1_plain)
    finite = all(np.all(np.isfinite(np.asarray(v, np.float64))) for d, _, v in nan_free.values()
                 if d not in ("string", "variant"))
    proc = tfckpt.run("stats", tf1_plain, "--check-finite", expect_rc=None)
    assert proc.returncode == (0 if finite else 1), proc.where


@pytest.fixture(scope="module")
def diverging_dir(tmp_path_factory):
    """A TF1 training directory, steps 1 to 4: the weights double, then become NaN and stay
    NaN (so that the first checkpoint with NaN is not the last one)."""
    def build():
        return tf.compat.v1.get_variable("w", initializer=tf.constant([1.0, 2.0, 3.0]))

    def diverge(sess, var):
        sess.run(var.assign(var * np.float32(np.nan) if sess.run(var)[0] > 1.5 else var * 2))

    directory = tmp_path_factory.mktemp("diverging")
    conftest._tf1_graph_save(directory, build, global_steps=(1, 2, 3, 4), between_saves=diverge)
    return str(directory)


def test_all_finds_the_first_checkpoint_with_nan(tfckpt, diverging_dir):
    listed = tf.train.get_checkpoint_state(diverging_dir).all_model_checkpoint_paths
    has_nan = [bool(np.isnan(tf.train.load_checkpoint(p).get_tensor("w")).any()) for p in listed]
    assert has_nan.count(True) >= 2 and not has_nan[0]
    first = listed[has_nan.index(True)]
    proc = tfckpt.run("stats", diverging_dir, "--all", "--check-finite", expect_rc=1)
    assert proc.out.strip().splitlines()[-1] == \
        "first checkpoint with NaN or Inf: " + first, proc.where
    got = tfckpt.json("stats", diverging_dir, "--all", "--json", expect_rc=0)
    assert got["first_nonfinite"] == first
    got = got["checkpoints"]
    assert [r["prefix"] for r in got] == list(listed)
    assert [bool(r["nonfinite"]) for r in got] == has_nan
    py = tfckpt_py.check_finite(diverging_dir, all=True)
    assert py["first_nonfinite"] == first
    assert [r["prefix"] for r in py["checkpoints"]] == list(listed)
    assert [r["nonfinite"] == ["w"] for r in py["checkpoints"]] == has_nan


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


def test_partitioned_tensor(tfckpt, repo_root):
    """A V2 partitioned tensor is described whole, as TF assembles it."""
    prefix = str(repo_root / "examples" / "mixed" / "mixed")
    want = tf.train.load_checkpoint(prefix).get_tensor("emb")
    got = tfckpt.json("stats", prefix, "emb", "--json")["tensors"][0]
    assert_stats(got, numpy_stats(want), "emb")


def test_a_damaged_tensor_does_not_hide_the_others(tfckpt, tmp_path, ckpt):
    """After a diverged run a checkpoint may also be damaged: the tensor that cannot be read is
    reported (exit 2), and every other tensor is still checked and named."""
    for f in lib.data_files(ckpt) + [ckpt + ".index"]:
        shutil.copy(f, str(tmp_path))
    copy = str(tmp_path / os.path.basename(ckpt))
    victim = "f32/big"
    entry = lib.index_reader.read_index(copy + ".index")[1][victim.encode()]
    data = lib.data_files(copy)[entry.shard_id]
    raw = bytearray(lib.file_bytes(data))
    raw[entry.offset + 5] ^= 0x40
    with open(data, "wb") as f:
        f.write(bytes(raw))
    with pytest.raises(tf.errors.OpError, match="Checksum"):  # TF refuses the damaged tensor too
        tf.train.load_checkpoint(copy).get_tensor(victim)
    proc = tfckpt.run("stats", copy, "--check-finite", expect_rc=2)
    assert victim in proc.err, proc.where
    named = {line.split("'")[1] for line in proc.out.splitlines() if line.startswith("NONFINITE")}
    assert named == _nonfinite(lib.tf_read_all(ckpt)), proc.where
    got = tfckpt.json("stats", copy, "--json", expect_rc=2)
    by_name = {t["name"]: t for t in got["tensors"]}
    assert "error" in by_name[victim] and "min" not in by_name[victim]
    assert sorted(by_name) == sorted(lib.tf_read_all(ckpt))
    assert "error" in tfckpt_py.stats(copy)[victim]


def test_histograms_like_numpy(tfckpt, tmp_path, ckpt):
    tf_values = lib.tf_read_all(ckpt)
    got = {t["name"]: t for t in tfckpt.json("stats", ckpt, "--bins", "7", "--json")["tensors"]}
    svg_path = str(tmp_path / "h.svg")
    tfckpt.run("stats", ckpt, "--plot", svg_path, "--bins", "7")
    ns = {"s": "http://www.w3.org/2000/svg"}
    panels = {g.get("data-name"): g for g in ET.parse(svg_path).getroot().iter(
        "{http://www.w3.org/2000/svg}g") if g.get("class") == "histogram"}
    drawn = set()
    for name, (dtype_name, _, value) in tf_values.items():
        a = np.asarray(value)
        if a.dtype == object or a.dtype.kind == "c":
            assert "histogram" not in got[name], name
            continue
        x = a.astype(np.float64).reshape(-1)
        fin = x[np.isfinite(x)]
        if fin.size == 0:
            assert "histogram" not in got[name], name
            continue
        counts, edges = np.histogram(fin, bins=7, range=(fin.min(), fin.max()))
        h = got[name]["histogram"]
        assert h["counts"] == counts.tolist(), (name, h, counts)
        assert (h["low"], h["high"]) == (edges[0], edges[-1]), name
        bins = [int(r.get("data-count")) for r in panels[name].findall("s:rect", ns)
                if r.get("class") == "bin"]
        assert bins == counts.tolist(), name
        drawn.add(name)
    assert set(panels) == drawn


def test_refusals(tfckpt, ckpt, diverging_dir):
    _ = tfckpt.run("stats", diverging_dir, "--all", "--step", "2", expect_rc=2)
    _ = tfckpt.run("stats", ckpt, "i8", "--filter", "f32", expect_rc=2)
    _ = tfckpt.run("stats", ckpt, "--bins", "-3", expect_rc=2)


def test_histogram_refused_where_numpy_refuses(tfckpt, tmp_path):
    """A range float64 cannot cut into the bins (a constant 1e17: min == max, widened by 0.5,
    is still one value; a range spanning only subnormals) gets no histogram but a note, where
    numpy raises; the other statistics are still given."""
    values = {"const": np.full(10, 1e17), "tiny": np.array([0.0, 5e-324, 1e-323]),
              "fine": np.array([0.0, 1.0, 2.0])}
    prefix = lib.save_tensors(str(tmp_path / "m"), values)
    got = {t["name"]: t for t in tfckpt.json("stats", prefix, "--bins", "7", "--json")["tensors"]}
    for name, v in values.items():
        x = np.asarray(v, np.float64)
        try:
            np.histogram(x, bins=7, range=(x.min(), x.max()))
            refused = False
        except ValueError:
            refused = True
        assert ("histogram" not in got[name]) == refused, (name, got[name])
        assert ("histogram_note" in got[name]) == refused, (name, got[name])
        assert_stats(got[name], numpy_stats(v), name)
    assert "histogram" in got["fine"]
    tfckpt.run("stats", prefix, "--plot", str(tmp_path / "h.svg"))


def test_check_finite_never_vouches_for_what_it_could_not_read(tfckpt, tmp_path, repo_root):
    src = str(repo_root / "examples" / "mixed" / "mixed")
    for f in lib.data_files(src) + [src + ".index"]:
        shutil.copy(f, str(tmp_path))
    copy = str(tmp_path / "mixed")
    entry = lib.index_reader.read_index(copy + ".index")[1][b"matrix"]
    data = lib.data_files(copy)[entry.shard_id]
    raw = bytearray(lib.file_bytes(data))
    raw[entry.offset] ^= 0x01
    with open(data, "wb") as f:
        f.write(bytes(raw))
    proc = tfckpt.run("stats", copy, "--check-finite", expect_rc=2)
    assert "all finite" not in proc.out and "could not be read" in proc.out, proc.where
    assert "matrix" in proc.err, proc.where


def test_all_goes_on_past_a_checkpoint_without_the_name(tfckpt, tmp_path):
    """A tensor added in the middle of training: --all reports the checkpoints that lack it and
    still describes the others."""
    d = tmp_path / "run"
    first = lib.save_tensors(str(d / "ckpt-1"), {"w": np.float32([1, 2])})
    second = lib.save_tensors(str(d / "ckpt-2"), {"w": np.float32([1, 2]),
                                                  "new": np.float32([np.nan])})
    (d / "checkpoint").write_text('model_checkpoint_path: "ckpt-2"\n'
                                  'all_model_checkpoint_paths: "ckpt-1"\n'
                                  'all_model_checkpoint_paths: "ckpt-2"\n')
    got = tfckpt.json("stats", str(d), "--all", "new", "--json", expect_rc=2)
    assert got["first_nonfinite"] == second
    got = got["checkpoints"]
    assert [r.get("prefix") for r in got] == [first, second]
    assert "error" in got[0] and got[1]["nonfinite"] == ["new"]
    py = tfckpt_py.check_finite(str(d), ["new"], all=True)
    assert py["first_nonfinite"] == second
    assert [r.get("prefix") for r in py["checkpoints"]] == [first, second]
    assert "'new'" in py["checkpoints"][0]["error"] and py["checkpoints"][1]["nonfinite"] == ["new"]
    with pytest.raises(tfckpt_py.NotFoundError):
        tfckpt_py.check_finite(first, ["new"])
    (d / "checkpoint").write_text('model_checkpoint_path: "ckpt-3"\n'
                                  'all_model_checkpoint_paths: "ckpt-2"\n')
    py = tfckpt_py.check_finite(str(d), all=True)  # a listed checkpoint that is gone
    assert [r.get("prefix") for r in py["checkpoints"]] == [second, None]
    assert "ckpt-3" in py["checkpoints"][1]["path"] and py["checkpoints"][1]["error"]
    assert py["first_nonfinite"] == second
