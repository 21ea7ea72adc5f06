"""`tfckpt convert` between TensorFlow checkpoints and safetensors / .npz files, judged by the
formats' own readers and writers: TensorFlow writes and reads the checkpoints, the `safetensors`
package reads and writes safetensors files (and the Hugging Face sharded layout), numpy reads and
writes .npz files.  Every expected value comes from one of them."""

import json
import os
import re

import numpy as np
import pytest
import safetensors.numpy
import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

import convert_testlib as cv
import ops_testlib as ops
import tfckpt_testlib as lib


@pytest.fixture(scope="module")
def version_line(tfckpt):
    """`tfckpt --version` (e.g. "tfckpt 0.1.0"): what `converted_by` must say."""
    line = tfckpt.run("--version").out.strip()
    assert re.fullmatch(r"tfckpt \S+", line), line
    return line


def _out_text(proc):
    return proc.out + proc.err


# ---------------------------------------------------------------------------------------------
# 1. Round trips TF -> safetensors -> TF and TF -> npz -> TF, every dtype each format holds
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def st_src(tmp_path_factory):
    return cv.save_dtype_bundle(tmp_path_factory.mktemp("st_src") / "all", cv.ST_DTYPES)


@pytest.fixture(scope="module")
def npz_src(tmp_path_factory):
    return cv.save_dtype_bundle(tmp_path_factory.mktemp("npz_src") / "all", cv.NPZ_DTYPES)


def test_round_trip_safetensors_every_dtype(tfckpt, tmp_path, st_src, version_line):
    want = cv.tf_expected(st_src)
    assert {d for d, _ in want.values()} == set(cv.ST_DTYPES)
    before = ops.snapshot(st_src)
    st = tmp_path / "model.safetensors"
    tfckpt.run("convert", st_src, st)
    metadata, _ = cv.assert_safetensors_matches(st, want)
    cv.assert_metadata(metadata, st_src, version_line)
    back = str(tmp_path / "back" / "model")
    os.makedirs(os.path.dirname(back))
    tfckpt.run("convert", st, back)
    cv.assert_tf_equals(back, want, "TF after safetensors")
    ops.assert_unchanged(before, st_src)


def test_round_trip_npz_every_dtype(tfckpt, tmp_path, npz_src):
    want = cv.tf_expected(npz_src)
    assert {d for d, _ in want.values()} == set(cv.NPZ_DTYPES)
    npz = tmp_path / "model.npz"
    tfckpt.run("convert", npz_src, npz)
    cv.assert_npz_matches(npz, want)
    back = str(tmp_path / "back" / "model")
    os.makedirs(os.path.dirname(back))
    tfckpt.run("convert", npz, back)
    cv.assert_tf_equals(back, want, "TF after npz")


def _restore_partitioned(prefix):
    """A TF1 graph of tf1_partitioned's variables (same partitioners) restored from prefix."""
    from conftest import PARTITIONED_VALUES

    def build():
        out = {}
        for name, (full, partitioner) in PARTITIONED_VALUES.items():
            out[name] = tf.compat.v1.get_variable(
                name, shape=full.shape, dtype=tf.as_dtype(full.dtype),
                initializer=tf.compat.v1.zeros_initializer(), partitioner=partitioner())
        out["plain"] = tf.compat.v1.get_variable("plain", shape=[2], dtype=tf.float32,
                                                 initializer=tf.compat.v1.zeros_initializer())
        return out
    return ops.tf1_restore(prefix, build)


@pytest.mark.parametrize("ext", ["safetensors", "npz"])
def test_round_trip_partitioned(tfckpt, tmp_path, tf1_partitioned, grid_partitioned, ext):
    from conftest import GRID, PARTITIONED_VALUES
    for src in (tf1_partitioned, grid_partitioned):
        want = cv.tf_expected(src)
        mid = tmp_path / ("%s.%s" % (os.path.basename(src), ext))
        tfckpt.run("convert", src, mid)
        if ext == "safetensors":
            cv.assert_safetensors_matches(mid, want)
        else:
            cv.assert_npz_matches(mid, want)
        back = str(tmp_path / ("back_" + os.path.basename(src)))
        tfckpt.run("convert", mid, back)
        cv.assert_tf_equals(back, want, "TF after %s" % ext)
    # the full tensors are the partitioned variables' values
    st_grid = cv.tf_expected(str(tmp_path / "back_grid"))
    cv.assert_identical(st_grid["grid"][1], GRID, "grid")
    restored = _restore_partitioned(str(tmp_path / ("back_" + os.path.basename(tf1_partitioned))))
    for name, (full, _) in PARTITIONED_VALUES.items():
        cv.assert_identical(restored[name], full, "TF1 restore of %s" % name)


def test_source_path_forms(tfckpt, tmp_path, tf1_partitioned, tf1_steps_dir, version_line):
    steps = {s: os.path.join(tf1_steps_dir, "model-%d" % s) for s in (10, 20)}
    cases = [
        (tf1_partitioned + ".index", tf1_partitioned),
        (tf1_steps_dir, steps[20]),           # directory with a `checkpoint` file: the latest
        (tf1_steps_dir + "@10", steps[10]),   # DIR@STEP
    ]
    for i, (form, prefix) in enumerate(cases):
        want = cv.tf_expected(prefix)
        st = tmp_path / ("f%d.safetensors" % i)
        tfckpt.run("convert", form, st)
        metadata, _ = cv.assert_safetensors_matches(st, want)
        assert metadata and metadata.get("converted_by") == version_line, (form, metadata)
        npz = tmp_path / ("f%d.npz" % i)
        tfckpt.run("convert", form, npz)
        cv.assert_npz_matches(npz, want)
    v10 = cv.read_npz(tmp_path / "f2.npz")["v"]
    v20 = cv.read_npz(tmp_path / "f1.npz")["v"]
    assert v10.tolist() != v20.tolist()


def test_multi_file_source(tfckpt, tmp_path, tf1_sharded):
    """A TF1 Saver(sharded=True) checkpoint: one data file per device."""
    assert len(lib.data_files(tf1_sharded)) == 2
    source = cv.tf_expected(tf1_sharded)
    npz = tmp_path / "s.npz"
    tfckpt.run("convert", tf1_sharded, npz)
    cv.assert_npz_matches(npz, source)
    st = tmp_path / "s.safetensors"
    report = tfckpt.json("convert", tf1_sharded, st, "--skip-unsupported", "--json")
    assert _skip_list(report) == [("dev0/names", "string")]
    cv.assert_safetensors_matches(st, {n: v for n, v in source.items() if v[0] != "string"})
    back = str(tmp_path / "back")
    tfckpt.run("convert", npz, back)
    cv.assert_tf_equals(back, source)


def test_large_tensors(tfckpt, tmp_path):
    """Tensors of several MiB each, next to small ones, survive both formats bit for bit."""
    rng = np.random.default_rng(3)
    tensors = {"big/f32": rng.standard_normal((1024, 3000)).astype(np.float32),
               "big/i64": rng.integers(-2**62, 2**62, size=(700, 1001)),
               "small/b": np.array([1.0, -0.0], np.float32),
               "z/f16": rng.standard_normal(4099).astype(np.float16)}
    src = cv.save_tensors(tmp_path / "src", tensors)
    want = cv.tf_expected(src)
    for ext in ("safetensors", "npz"):
        mid = tmp_path / ("big." + ext)
        tfckpt.run("convert", src, mid)
        (cv.assert_safetensors_matches if ext == "safetensors" else cv.assert_npz_matches)(
            mid, want)
        back = str(tmp_path / ("back_" + ext))
        tfckpt.run("convert", mid, back)
        cv.assert_tf_equals(back, want, ext)


def test_tf2_checkpoint_object_graph_left_out(tfckpt, tmp_path, tf2_dir):
    """A TF2 checkpoint's variables convert under the full names TF records for them (the
    variables' paths, not the keys of the objects they were saved through); the object graph (a
    string of TF bookkeeping) is not a tensor of the model and is left out rather than refused."""
    prefix = tf.train.latest_checkpoint(tf2_dir)
    source = cv.tf_expected(prefix)
    graph_key = "_CHECKPOINTABLE_OBJECT_GRAPH"
    assert graph_key in source
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(tf.train.load_checkpoint(prefix).get_tensor(graph_key))
    full = {a.checkpoint_key: a.full_name for n in graph.nodes for a in n.attributes}
    assert all(full.get(n) for n in source if n != graph_key), full
    want = {full[n]: v for n, v in source.items() if n != graph_key}
    for ext in ("safetensors", "npz"):
        mid = tmp_path / ("tf2." + ext)
        tfckpt.run("convert", tf2_dir, mid)
        (cv.assert_safetensors_matches if ext == "safetensors" else cv.assert_npz_matches)(
            mid, want)


# ---------------------------------------------------------------------------------------------
# 2. Files the safetensors package and numpy wrote
# ---------------------------------------------------------------------------------------------

def _arrays(dtype_names):
    """{name: numpy array} of lib.dtype_values per dtype: vector, matrix, scalar, [0,3]."""
    out = {}
    for d in dtype_names:
        vec = lib.dtype_values(d)
        if d == "string":
            vec = np.array(list(vec), dtype="S")
        else:
            vec = np.asarray(vec, dtype=cv.np_dtype(d))
        n = (len(vec) // 2) * 2
        out["%s/vector" % d] = vec
        out["%s/matrix" % d] = np.ascontiguousarray(vec[:n].reshape(2, n // 2))
        out["%s/scalar" % d] = np.array(vec[2])
        out["%s/empty" % d] = np.ascontiguousarray(vec[:0].reshape(0, 3))
    return out


def test_reads_safetensors_written_by_package(tfckpt, tmp_path):
    arrays = _arrays(cv.ST_DTYPES)
    src = tmp_path / "hf.safetensors"
    safetensors.numpy.save_file(arrays, str(src), metadata={"format": "pt"})
    # the package itself agrees on what it wrote
    _, raw = cv.read_safetensors(src)
    for name, a in arrays.items():
        cv.assert_identical(raw[name][2], a, name)
    out = str(tmp_path / "ckpt")
    tfckpt.run("convert", src, out)
    cv.assert_tf_equals(out, {n: (n.split("/")[0], a) for n, a in arrays.items()})


def test_reads_safetensors_without_metadata_or_padding(tfckpt, tmp_path):
    """The format allows a header that is not padded to 8 bytes (data then unaligned) and no
    __metadata__; the safetensors package reads such a file, and so must we."""
    arrays = {"w": np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5,
              "ids": np.array([2**40, -1, 0], np.int64),
              "h": np.array([0.5, np.inf], np.float16)}
    header, data, offset = {}, b"", 0
    for name in ("h", "w", "ids"):
        raw = arrays[name].tobytes()
        header[name] = {"dtype": {"float32": "F32", "int64": "I64", "float16": "F16"}[
            arrays[name].dtype.name], "shape": list(arrays[name].shape),
            "data_offsets": [offset, offset + len(raw)]}
        data += raw
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    while (8 + len(text)) % 4 == 0:
        text += b" "
    src = tmp_path / "raw.safetensors"
    with open(src, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + data)
    _, read = cv.read_safetensors(src)  # the package accepts the file
    for name, a in arrays.items():
        cv.assert_identical(read[name][2], a, name)
    out = str(tmp_path / "ckpt")
    tfckpt.run("convert", src, out)
    cv.assert_tf_equals(out, {n: (a.dtype.name, a) for n, a in arrays.items()})
    # and a file written by the package with no metadata at all
    plain = tmp_path / "plain.safetensors"
    safetensors.numpy.save_file(arrays, str(plain))
    out2 = str(tmp_path / "ckpt2")
    tfckpt.run("convert", plain, out2)
    cv.assert_tf_equals(out2, {n: (a.dtype.name, a) for n, a in arrays.items()})


@pytest.mark.parametrize("saver", ["savez", "savez_compressed"])
def test_reads_npz_written_by_numpy(tfckpt, tmp_path, saver):
    arrays = _arrays(cv.NPZ_DTYPES)
    # interior NULs survive an `S` array; trailing ones would not, so there are none here
    arrays["string/nul_inside"] = np.array([b"a\x00b", b"\x00x", b""], dtype="S")
    src = tmp_path / "arrays.npz"
    getattr(np, saver)(str(src), **arrays)
    loaded = cv.read_npz(src)
    out = str(tmp_path / "ckpt")
    tfckpt.run("convert", src, out)
    cv.assert_tf_equals(out, {n: (n.split("/")[0], loaded[n]) for n in arrays})


def test_reads_npz_fortran_and_big_endian(tfckpt, tmp_path):
    """np.savez keeps Fortran order and byte order in each member's header; TF gets the
    logical values in its native dtype."""
    base = np.arange(12, dtype=np.float64).reshape(3, 4) / 7.0
    arrays = {
        "fortran": np.asfortranarray(base),
        "big_f64": base.astype(">f8"),
        "big_i32": np.arange(-3, 3, dtype=">i4"),
        "big_c64": (base[0] + 1j * base[1]).astype(">c8"),
    }
    assert arrays["fortran"].flags.f_contiguous and not arrays["fortran"].flags.c_contiguous
    src = tmp_path / "layouts.npz"
    np.savez(str(src), **arrays)
    out = str(tmp_path / "ckpt")
    tfckpt.run("convert", src, out)
    want = {}
    for n, a in arrays.items():
        native = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("="))
        want[n] = ({"f": "float64", "i": "int32", "c": "complex64"}[a.dtype.kind]
                   if n != "fortran" else "float64", native)
    cv.assert_tf_equals(out, want)


# ---------------------------------------------------------------------------------------------
# 3. Sharded safetensors
# ---------------------------------------------------------------------------------------------

def _hf_shards():
    """Three shards of an HF-style model (dotted names, as transformers writes them)."""
    rng = np.random.default_rng(7)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    return [
        {"model.embed_tokens.weight": f32(64, 16),
         "model.layers.0.self_attn.q_proj.weight": cv.bf16(f32(16, 16)),
         "model.layers.0.self_attn.q_proj.bias": f32(16).astype(np.float16)},
        {"model.layers.0.input_layernorm.weight": f32(16),
         "model.layers.1.self_attn.q_proj.weight": cv.bf16(f32(16, 16)),
         "model.layers.1.mlp.gate_proj.weight": f32(32, 16),
         "model.position_ids": np.arange(32, dtype=np.int64).reshape(1, 32)},
        {"model.norm.weight": f32(16),
         "lm_head.weight": f32(64, 16),
         "model.attention_mask": np.array([[True, False, True]]),
         "model.scale": np.array(0.125, np.float32)},
    ]


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("hf") / "model_dir"
    shards = _hf_shards()
    index = cv.write_hf_sharded(str(d), shards)
    with open(d / "config.json", "w") as f:  # an HF model directory has more than weights
        json.dump({"model_type": "toy", "hidden_size": 16}, f)
    return str(d), index, {k: v for s in shards for k, v in s.items()}


@pytest.mark.parametrize("form", ["index", "directory"])
def test_reads_hf_sharded(tfckpt, tmp_path, hf_dir, form):
    directory, index, arrays = hf_dir
    out = str(tmp_path / "ckpt")
    tfckpt.run("convert", index if form == "index" else directory, out)
    tf_names = {np.dtype(np.float32): "float32", np.dtype(np.float16): "float16",
                np.dtype(np.int64): "int64", np.dtype(bool): "bool",
                cv.np_dtype("bfloat16"): "bfloat16"}
    cv.assert_tf_equals(out, {n: (tf_names[a.dtype], a) for n, a in arrays.items()})

    # a TF1 graph with variables of those names restores from it
    restorable = {n: a for n, a in arrays.items() if a.dtype in (np.float32, np.float16,
                                                                 np.int64)}

    def build():
        return {n: tf.compat.v1.get_variable(n, shape=a.shape, dtype=tf.as_dtype(a.dtype),
                                             initializer=tf.compat.v1.zeros_initializer())
                for n, a in restorable.items()}
    restored = ops.tf1_restore(out, build)
    for n, a in restorable.items():
        cv.assert_identical(restored[n], a, "Saver.restore %s" % n)


SHARD_SRC = {
    # name: numpy value (sizes chosen so the packing is not trivial)
    "a/w0": np.arange(100, dtype=np.float32),                       # 400 bytes
    "a/w1": np.arange(150, dtype=np.float32) - 0.5,                 # 600
    "b/bias": np.arange(10, dtype=np.float16),                      # 20
    "b/big": np.arange(1000, dtype=np.float32).reshape(10, 100),    # 4000: over the limit
    "c/emb": np.arange(300, dtype=np.float32).reshape(30, 10) / 3,  # 1200
    "c/ids": np.arange(50, dtype=np.int64) * 7,                     # 400
    "d/scalar": np.array(2.5, np.float64),                          # 8
    "d/zero": np.zeros((0, 3), np.float32),                         # 0
    "e/x": cv.bf16(np.linspace(-1, 1, 200)),                        # 400
}
SHARD_LIMIT = 1500


@pytest.fixture(scope="module")
def shard_src(tmp_path_factory):
    return cv.save_tensors(tmp_path_factory.mktemp("shard_src") / "model", SHARD_SRC)


def _check_sharded(out, want, limit, version_line=None):
    """Checks our sharded output against the contract; returns the shard assignment."""
    index, shards, listing = cv.read_sharded_output(out)
    stem = os.path.basename(str(out))[:-len(".safetensors")]
    n = len(shards)
    names = [cv.shard_file_name(stem, i, n) for i in range(1, n + 1)]
    assert listing == sorted(names + [stem + ".safetensors.index.json"]), listing
    assert sorted(index) == ["metadata", "weight_map"], index
    assert index["metadata"]["total_size"] == sum(cv.as_array(v).nbytes
                                                  for _, v in want.values()), index["metadata"]
    weight_map = index["weight_map"]
    assert sorted(weight_map) == sorted(want)
    seen = []
    for fname, (metadata, tensors) in shards.items():
        assert sorted(tensors) == sorted(k for k, v in weight_map.items() if v == fname), fname
        seen += list(tensors)
        size = sum(v.nbytes for _, _, v in tensors.values())
        assert size <= limit or len(tensors) == 1, (fname, size, sorted(tensors))
        if version_line is not None:
            assert metadata and metadata.get("converted_by") == version_line, (fname, metadata)
        for name, (dt, shape, v) in tensors.items():
            wd, wv = want[name]
            assert dt == cv.ST_DTYPES[wd], (name, dt, wd)
            cv.assert_identical(v, wv, "%s in %s" % (name, fname))
    assert sorted(seen) == sorted(want), "each tensor exactly once"
    return [sorted(t) for _, (_, t) in sorted(shards.items())], names


def test_max_shard_size_output(tfckpt, tmp_path, shard_src, version_line):
    want = cv.tf_expected(shard_src)
    d = tmp_path / "out"
    d.mkdir()
    out = d / "model.safetensors"
    tfckpt.run("convert", shard_src, out, "--max-shard-size", str(SHARD_LIMIT))
    assignment, names = _check_sharded(out, want, SHARD_LIMIT, version_line)
    # the packing of the contract, in TF's (byte-wise name) order
    expected = cv.greedy_shards([(n, cv.as_array(want[n][1]).nbytes)
                                 for n in cv.byte_order(want)], SHARD_LIMIT)
    assert len(expected) == 4 and ["b/big"] in expected
    assert assignment == [sorted(s) for s in expected], (assignment, expected)
    assert names[0] == "model-00001-of-00004.safetensors"
    # back to TF, from the index and from the directory
    for i, form in enumerate([d / "model.safetensors.index.json", d]):
        back = str(tmp_path / ("back%d" % i))
        tfckpt.run("convert", form, back)
        cv.assert_tf_equals(back, want, "TF from %s" % form)


@pytest.mark.parametrize("size, per_shard", [
    ("3060", 3),   # exactly three 1020-byte tensors: reaching the size is not passing it
    ("3059", 2),
    ("3KB", 2),    # 3000
    ("3KiB", 3),   # 3072
    ("1MB", None), ("1MiB", None),
])
def test_max_shard_size_units(tfckpt, tmp_path, size, per_shard):
    if per_shard is None:
        # six 340,000-byte tensors: 1MB (10^6) holds two, 1MiB (2^20) three
        tensors = {"t%d" % i: np.full(85000, i, np.float32) for i in range(6)}
        per_shard = 2 if size == "1MB" else 3
    else:
        tensors = {"t%d" % i: np.full(255, i, np.float32) for i in range(6)}
    src = cv.save_tensors(tmp_path / "src", tensors)
    (tmp_path / "o").mkdir()
    out = tmp_path / "o" / "w.safetensors"
    tfckpt.run("convert", src, out, "--max-shard-size", size)
    want = cv.tf_expected(src)
    assignment, _ = _check_sharded(out, want, float("inf"))
    assert [len(s) for s in assignment] == [per_shard] * (6 // per_shard), (size, assignment)


# ---------------------------------------------------------------------------------------------
# 4. Tensors the target format cannot hold
# ---------------------------------------------------------------------------------------------

def _skip_list(report):
    assert isinstance(report, dict) and isinstance(report.get("skipped"), list), report
    for s in report["skipped"]:
        assert sorted(s) == ["dtype", "name"], s
    return sorted((s["name"], s["dtype"]) for s in report["skipped"])


def _assert_refused(tfckpt, src, out, unsupported):
    """Exit 2, every unsupported tensor and dtype named, no output left behind."""
    proc = tfckpt.run("convert", src, out, expect_rc=2)
    text = _out_text(proc)
    for name, dtype in unsupported:
        assert name in text, "%s not named: %s" % (name, proc.where)
    for dtype in {d for _, d in unsupported}:
        assert dtype in text, "%s not named: %s" % (dtype, proc.where)
    assert not os.path.exists(out), "output left after a refused conversion: %s" % out


def test_string_to_safetensors(tfckpt, tmp_path, tf1_plain):
    source = cv.tf_expected(tf1_plain)
    assert source["vocab"][0] == "string"
    out = tmp_path / "plain.safetensors"
    _assert_refused(tfckpt, tf1_plain, out, [("vocab", "string")])
    proc = tfckpt.run("convert", tf1_plain, out, "--skip-unsupported")
    assert "vocab" in _out_text(proc), proc.where
    cv.assert_safetensors_matches(out, {n: v for n, v in source.items() if n != "vocab"})
    report = tfckpt.json("convert", tf1_plain, tmp_path / "p2.safetensors", "--skip-unsupported",
                         "--json")
    assert _skip_list(report) == [("vocab", "string")]


def test_bfloat16_to_npz(tfckpt, tmp_path):
    src = cv.save_tensors(tmp_path / "src", {"w": cv.bf16([1.5, -2.0, np.nan]),
                                            "b": np.array([0.25, 1.0], np.float32)})
    source = cv.tf_expected(src)
    out = tmp_path / "w.npz"
    _assert_refused(tfckpt, src, out, [("w", "bfloat16")])
    report = tfckpt.json("convert", src, out, "--skip-unsupported", "--json")
    assert _skip_list(report) == [("w", "bfloat16")]
    cv.assert_npz_matches(out, {"b": source["b"]})


def test_string_ending_in_nul_to_npz(tfckpt, tmp_path):
    """An `S` array drops trailing NULs, so such a string tensor cannot go to .npz losslessly."""
    src = cv.save_tensors(tmp_path / "src", {
        "ok": tf.constant([b"a\x00b", b"", b"c"]),
        "bad": tf.constant([b"x", b"y\x00"]),
        "f": np.array([1.0], np.float32)})
    source = cv.tf_expected(src)
    out = tmp_path / "s.npz"
    _assert_refused(tfckpt, src, out, [("bad", "string")])
    report = tfckpt.json("convert", src, out, "--skip-unsupported", "--json")
    assert _skip_list(report) == [("bad", "string")]
    cv.assert_npz_matches(out, {n: source[n] for n in ("ok", "f")})


@pytest.mark.parametrize("ext", ["safetensors", "npz"])
def test_every_dtype_supported_or_listed(tfckpt, tmp_path, all_dtypes, ext):
    """Every dtype TF saves: converted exactly, or listed (and only those the contract says)."""
    prefix, names, _ = all_dtypes
    source = cv.tf_expected(prefix)
    holds = set(cv.ST_DTYPES) if ext == "safetensors" else set(cv.NPZ_DTYPES)
    undecided = set() if ext == "safetensors" else cv.NPZ_UNDECIDED
    must_skip = sorted((n, d) for n, (d, _) in source.items()
                       if d not in holds and d not in undecided)
    assert must_skip
    out = tmp_path / ("all." + ext)
    _assert_refused(tfckpt, prefix, out, must_skip)
    report = tfckpt.json("convert", prefix, out, "--skip-unsupported", "--json")
    skipped = _skip_list(report)
    extra = [s for s in skipped if s not in must_skip]
    assert not [s for s in extra if s[1] not in undecided], extra
    assert not [s for s in must_skip if s not in skipped], (must_skip, skipped)
    kept = {n: source[n] for n in source if source[n][0] in holds}
    if ext == "safetensors":
        cv.assert_safetensors_matches(out, kept)
    else:
        # qint*: the contract does not say; whatever was not skipped is in the file
        converted = {n: source[n] for n in source if (n, source[n][0]) not in skipped}
        got = cv.read_npz(out)
        assert sorted(got) == sorted(converted), (sorted(got), sorted(converted))
        if set(got) == set(kept):
            cv.assert_npz_matches(out, kept)
        for n in kept:
            cv.assert_identical(got[n], kept[n][1], n)
    back = str(tmp_path / "back")
    tfckpt.run("convert", out, back)
    got_tf = cv.tf_expected(back)
    for n, (d, v) in kept.items():
        assert got_tf[n][0] == d, (n, got_tf[n][0], d)
        cv.assert_identical(got_tf[n][1], v, "back " + n)


@pytest.mark.parametrize("ext", ["safetensors", "npz"])
def test_variants_listed(tfckpt, tmp_path, variant_ckpt, ext):
    source = cv.tf_expected(variant_ckpt)
    out = tmp_path / ("v." + ext)
    _assert_refused(tfckpt, variant_ckpt, out, [("list", "variant"), ("lists", "variant")])
    report = tfckpt.json("convert", variant_ckpt, out, "--skip-unsupported", "--json")
    assert _skip_list(report) == [("list", "variant"), ("lists", "variant")]
    want = {"x": source["x"]}
    if ext == "safetensors":
        cv.assert_safetensors_matches(out, want)
    else:
        cv.assert_npz_matches(out, want)


# ---------------------------------------------------------------------------------------------
# 5. Options shared with `tfckpt edit`, both directions
# ---------------------------------------------------------------------------------------------

ADAM_MODEL = {
    "bert/embeddings/word_embeddings": ((32, 8), np.float32, None),
    "bert/encoder/layer_0/dense/kernel": ((8, 8), np.float32, None),
    "bert/encoder/layer_0/dense/bias": ((8,), np.float32, None),
    "cls/output_bias": ((32,), np.float32, None),
}


@pytest.fixture(scope="module")
def adam_ckpt(tmp_path_factory):
    """A TF1 checkpoint after one Adam step: (prefix, the model's own variable names)."""
    model_names = []

    def build():
        v, _ = ops.get_variables(ADAM_MODEL, seed=2)
        v["global_step"] = tf.compat.v1.train.get_or_create_global_step()
        model_names.extend(x.op.name for x in tf.compat.v1.global_variables())
        x = tf.constant(ops.make_value("x", (2, 32), np.float32, 3) / 50.0)
        h = tf.matmul(x, v["bert/embeddings/word_embeddings"])
        h = tf.tanh(tf.matmul(h, v["bert/encoder/layer_0/dense/kernel"]) +
                    v["bert/encoder/layer_0/dense/bias"])
        logits = tf.matmul(h, v["bert/embeddings/word_embeddings"], transpose_b=True) + \
            v["cls/output_bias"]
        loss = tf.reduce_mean(tf.square(logits))
        return tf.compat.v1.train.AdamOptimizer(0.01).minimize(loss, global_step=v["global_step"])
    prefix = ops.tf1_save(tmp_path_factory.mktemp("adam") / "model.ckpt", build,
                          before_save=lambda sess, step: sess.run(step))
    return prefix, sorted(model_names)


@pytest.mark.parametrize("ext", ["safetensors", "npz"])
def test_strip_optimizer(tfckpt, tmp_path, adam_ckpt, ext):
    prefix, model_names = adam_ckpt
    source = cv.tf_expected(prefix)
    assert len(source) > len(model_names) and set(model_names) < set(source)
    model = {n: source[n] for n in model_names}
    out = tmp_path / ("m." + ext)
    tfckpt.run("convert", prefix, out, "--strip-optimizer")
    check = cv.assert_safetensors_matches if ext == "safetensors" else cv.assert_npz_matches
    check(out, model)
    # the other direction: a full export, stripped on the way back into TF
    full = tmp_path / ("full." + ext)
    tfckpt.run("convert", prefix, full)
    check(full, source)
    back = str(tmp_path / "back")
    tfckpt.run("convert", full, back, "--strip-optimizer")
    cv.assert_tf_equals(back, model)


OPTION_SRC = {
    "dense/kernel": np.arange(6, dtype=np.float32).reshape(2, 3),
    "dense/bias": np.array([0.5, -1.0, 2.0], np.float32),
    "scope/w": np.arange(4, dtype=np.float64),
    "scope/inner/b": np.array(3, np.int64),
    "a": np.array([True, False]),
    "global_step": np.array(100, np.int64),
}

OPTION_CASES = {
    "root_to_scope": (["--rename", "/=bert/"], [("/", "bert/")], [], []),
    "scope_to_root": (["--rename", "scope/=/"], [("scope/", "/")], [], []),
    "scope_to_scope": (["--rename", "scope/=other/", "--rename", "a=alpha"],
                       [("scope/", "other/"), ("a", "alpha")], [], []),
    "keep": (["--keep", "kernel", "--keep", "^scope/"], [], ["kernel", "^scope/"], []),
    "drop": (["--drop", "b$", "--drop", "^a$"], [], [], ["b$", "^a$"]),
    "keep_drop_rename": (["--keep", "/", "--drop", "inner", "--rename", "/=m/"],
                         [("/", "m/")], ["/"], ["inner"]),
}


@pytest.fixture(scope="module")
def option_src(tmp_path_factory):
    d = tmp_path_factory.mktemp("opt")
    return cv.save_tensors(d / "model", OPTION_SRC)


@pytest.mark.parametrize("ext", ["safetensors", "npz"])
@pytest.mark.parametrize("case", sorted(OPTION_CASES))
def test_rename_keep_drop(tfckpt, tmp_path, option_src, case, ext):
    prefix = option_src
    args, rules, keep, drop = OPTION_CASES[case]
    source = cv.tf_expected(prefix)
    rename = ops.renamer(rules)
    # keep/drop select source names; renaming applies to what is kept
    want = {rename(n): source[n] for n in ops.regex_filter(list(source), keep, drop)}
    assert 0 < len(want) and (set(want) != set(source))
    check = cv.assert_safetensors_matches if ext == "safetensors" else cv.assert_npz_matches

    out = tmp_path / ("to." + ext)
    tfckpt.run("convert", prefix, out, *args)
    check(out, want)

    # the other direction: the whole model exported, the options applied on the way to TF
    full = tmp_path / ("full." + ext)
    tfckpt.run("convert", prefix, full)
    back = str(tmp_path / "back")
    tfckpt.run("convert", full, back, *args)
    cv.assert_tf_equals(back, want, case)


def test_existing_output_needs_force(tfckpt, tmp_path, option_src):
    prefix = option_src
    source = cv.tf_expected(prefix)
    out = tmp_path / "m.safetensors"
    tfckpt.run("convert", prefix, out, "--keep", "^dense/")
    first = lib.file_bytes(out)
    tfckpt.run("convert", prefix, out, expect_rc=2)
    assert lib.file_bytes(out) == first
    tfckpt.run("convert", prefix, out, "--force")
    cv.assert_safetensors_matches(out, source)
    # a TF output too
    ck = str(tmp_path / "ck")
    tfckpt.run("convert", out, ck)
    before = ops.snapshot(ck)
    tfckpt.run("convert", out, ck, "--drop", "a", expect_rc=2)
    ops.assert_unchanged(before, ck)
    tfckpt.run("convert", out, ck, "--drop", "^a$", "--force")
    cv.assert_tf_equals(ck, {n: v for n, v in source.items() if n != "a"})
