"""Legacy V1 checkpoints, as tf.compat.v1.train.Saver(write_version=SaverDef.V1) writes them: one
LevelDB table per shard and no .index file; key "" holds a SavedTensorSlices with the meta (every
tensor of that file: name, dtype, full shape, its slices), every other key one slice's values in
the typed fields of a TensorProto (float_val, half_val, int_val, string_val, ...).

tfckpt reads them wherever it reads a checkpoint: by the file (model.ckpt, model.ckpt-1000), the
shard pattern TF records (model.ckpt-7-?????-of-00002), the base prefix whose shards exist
(model.ckpt-7), one shard's file (meaning the whole set) or a directory whose `checkpoint` file
names one (DIR@STEP too). Partitioned tensors (several slices of one name) read as one tensor.
Every writing command writes V2.

TensorFlow is the oracle. Its Python reader (tf.train.load_checkpoint) lists a V1 checkpoint but
reads only some dtypes of it and no sliced tensor ("Data type not supported", "Sliced checkpoints
are not supported"), so values come from TF's RestoreV2 kernel, which falls back to the V1 reader
for a path without .index and assembles slices, checked against a TF1 Saver's restore of the
partitioned graph and against the values TF initialised the variables with."""

import base64
import contextlib
import glob
import json
import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.util import saved_tensor_slice_pb2

import index_reader
import ops_testlib as ops
import tfckpt_testlib as lib

import tfckpt as tfckpt_py  # the Python package (the `tfckpt` fixture is the command line)

V1 = tf.compat.v1.train.SaverDef.V1
F32, F64, I32, I64 = np.float32, np.float64, np.int32, np.int64

# The dtypes a V1 Saver saves (uint32, uint64 and bfloat16 it refuses).
V1_DTYPES = ["bool", "complex128", "complex64", "float16", "float32", "float64", "int16",
             "int32", "int64", "int8", "qint32", "qint8", "quint8", "string", "uint16", "uint8"]
QUANTIZED = {"qint8", "quint8", "qint32"}


# ---------------------------------------------------------------------------------------------
# TensorFlow side
# ---------------------------------------------------------------------------------------------

def _v1_save(directory, build, sharded=False, global_steps=(None,), between_saves=None,
             name="model.ckpt"):
    """Builds a graph, saves it with a V1 Saver at each step: returns [what saver.save returned]
    (the file, or the shard pattern when sharded). A V1 Saver does not create the directory."""
    os.makedirs(str(directory), exist_ok=True)
    graph = tf.Graph()
    paths = []
    with graph.as_default():
        built = build()
        saver = tf.compat.v1.train.Saver(sharded=sharded, write_version=V1)
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            for step in global_steps:
                if paths and between_saves is not None:
                    between_saves(sess, built)
                paths.append(saver.save(sess, os.path.join(str(directory), name),
                                        global_step=step, write_meta_graph=False))
    return paths


def _files(path):
    """The table files of a V1 checkpoint TF names by a file or a shard pattern."""
    files = sorted(glob.glob(glob.escape(os.path.dirname(path)) + "/" +
                             os.path.basename(path)))
    assert files, "no V1 files for %s" % path
    return files


def _meta(files):
    """{name: (DataType enum, shape, [TensorSliceProto...])}, the metas of all files merged."""
    out = {}
    for f in files:
        entries = dict(index_reader.raw_entries(f))
        meta = saved_tensor_slice_pb2.SavedTensorSlices.FromString(entries[b""]).meta
        for t in meta.tensor:
            shape = [d.size for d in t.shape.dim]
            if t.name in out:
                assert out[t.name][:2] == (t.type, shape), t.name
                out[t.name][2].extend(t.slice)
            else:
                out[t.name] = (t.type, shape, list(t.slice))
    return out


def _restore_v2(path, name, dtype):
    """TF's RestoreV2 kernel on a V1 path (no .index): the full tensor, slices assembled."""
    t = tf.raw_ops.RestoreV2(prefix=path, tensor_names=[name], shape_and_slices=[""],
                             dtypes=[dtype])[0]
    return t.numpy()


def tf_v1_values(path):
    """TF's reading of a V1 checkpoint: ({name: (dtype name, shape, numpy value)}, the names
    TF's reader calls sliced)."""
    reader = tf.train.load_checkpoint(path)
    shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    out, sliced = {}, set()
    for name, shape in shapes.items():
        try:
            value = reader.get_tensor(name)
        except tf.errors.UnimplementedError as exc:
            if "Sliced" in str(exc):
                sliced.add(name)
            value = _restore_v2(path, name, dtypes[name])
        out[name] = (dtypes[name].name, list(shape), value)
    return out, sliced


def _same_value(got, want, dtype_name, what):
    """Exact comparison (bits for numbers, NaNs and -0.0 included). Quantized values compare by
    their integers: TF gives them as a structured numpy dtype or as the base integer type."""
    got, want = lib.as_array(got), lib.as_array(want)
    assert got.shape == want.shape, "%s: shape %s vs %s" % (what, got.shape, want.shape)
    if dtype_name == "string":
        assert got.dtype == object, "%s: dtype %s" % (what, got.dtype)
        assert got.tolist() == want.tolist(), "%s:\ngot  %r\nwant %r" % (what, got, want)
        return
    if dtype_name not in QUANTIZED:
        assert got.dtype == want.dtype, "%s: dtype %s vs %s" % (what, got.dtype, want.dtype)
    assert got.dtype.itemsize == want.dtype.itemsize, (what, got.dtype, want.dtype)
    assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(want).tobytes(), (
        "%s:\ngot  %r\nwant %r" % (what, got, want))


def _same_tensors(got, want):
    """Two {name: (dtype name, shape, value)} maps hold the same tensors."""
    assert sorted(got) == sorted(want), "names: only got %r, only want %r" % (
        sorted(set(got) - set(want)), sorted(set(want) - set(got)))
    for name, (dtype_name, shape, value) in want.items():
        assert got[name][:2] == (dtype_name, shape), (name, got[name][:2], dtype_name, shape)
        _same_value(got[name][2], value, dtype_name, name)


def _tf_read_v2(prefix, build_parts=None):
    """TF's reading of a V2 bundle: {name: (dtype name, shape, value)}. TF's V2 reader assembles
    slices of most dtypes but not of float16, uint16 or string ("Dtype half not supported", in
    get_tensor and RestoreV2 alike); those values come from a TF1 Saver restoring the graph
    build_parts() builds, whose partitions are the stored slices."""
    reader = tf.train.load_checkpoint(str(prefix))
    shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    out, restored = {}, None
    for name, shape in shapes.items():
        try:
            value = reader.get_tensor(name)
        except (ValueError, tf.errors.OpError):
            if build_parts is None:
                raise
            if restored is None:
                restored = ops.tf1_restore(str(prefix), build_parts)
            value = restored[name]
        out[name] = (dtypes[name].name, list(shape), value)
    return out


def _parts(spec):
    """Partitioned get_variables of {name: (full value, number of parts, axis)}."""
    out = {}
    for name, (value, parts, axis) in spec.items():
        out[name] = tf.compat.v1.get_variable(
            name, shape=value.shape, dtype=tf.as_dtype(value.dtype),
            initializer=ops.block_initializer(value),
            partitioner=tf.compat.v1.fixed_size_partitioner(parts, axis=axis))
    return out


def _is_partitioned(var):
    return hasattr(var, "_get_variable_list")  # a PartitionedVariable


def _plain(spec):
    return {name: tf.compat.v1.get_variable(name, initializer=tf.constant(value),
                                            trainable=False)
            for name, value in spec.items()}


class Case:
    """A V1 checkpoint TF wrote, and TF's reading of it."""

    def __init__(self, path, directory, partitioned=None, build_parts=None, expected=None):
        self.path = path  # as saver.save returned it: the file, or the shard pattern
        self.dir = directory
        self.files = _files(path)
        self.meta = _meta(self.files)
        self.values, self.sliced = tf_v1_values(path)
        self.partitioned = partitioned or {}  # {name: the full value TF was initialised with}
        self.build_parts = build_parts  # builds the partitioned variables (for Saver restores)
        self.expected = expected  # {name: value TF was given}, where the test knows them all


# ---------------------------------------------------------------------------------------------
# The checkpoints, each written once
# ---------------------------------------------------------------------------------------------

def _dtype_vars():
    out = {}
    for dtype_name in V1_DTYPES:
        for name, t in lib.dtype_tensors(dtype_name):
            out[name] = tf.compat.v1.get_variable(name, initializer=t, trainable=False)
    return out


BIG = np.sin(np.arange(300 * 200, dtype=np.float64)).astype(np.float32).reshape(300, 200)
BIG_WORDS = np.array([b"\x00\xff" * 40000, b"", b"tail"], dtype=object)

DTYPE_PARTS = {  # name: (full value, number of parts, axis)
    "part/emb": (np.arange(40, dtype=F32).reshape(10, 4) / 4.0 - 3.0, 3, 0),
    "part/wide": (np.arange(21, dtype=F64).reshape(3, 7) / 7.0 - 1.0, 3, 1),
    "part/ids": (np.arange(14, dtype=I64) * 1000003 - 2**62, 4, 0),
    "part/half": (np.array([[0.5, -0.0], [np.inf, 65504.0], [np.nan, 1e-7]], np.float16), 2, 0),
    "part/flags": (np.array([True, False, True, True, False, False, True]), 3, 0),
}


@pytest.fixture(scope="module")
def dtypes_v1(tmp_path_factory):
    """One V1 file (model.ckpt, no global step): every dtype the V1 Saver saves (a vector of
    extreme values, a matrix, a scalar, an empty [0,3]), a large tensor, a large string, and
    partitioned variables of several dtypes split on axis 0 and on axis 1."""
    directory = tmp_path_factory.mktemp("v1_dtypes")

    def build():
        _dtype_vars()
        _plain({"big/weights": BIG, "big/words": BIG_WORDS})
        return _parts(DTYPE_PARTS)

    path = _v1_save(directory, build)[0]
    assert path == str(directory / "model.ckpt")
    return Case(path, str(directory), {n: v[0] for n, v in DTYPE_PARTS.items()},
                lambda: _parts(DTYPE_PARTS))


def _alternate_devices(op):
    """Partition i of a variable on /cpu:(i % 2): one tensor's slices in both shard files."""
    m = re.search(r"/part_(\d+)(?:/|$)", op.name)
    return "/cpu:%d" % (int(m.group(1)) % 2) if m else "/cpu:0"


SHARDED_PLAIN = {  # name: (device, value at step 5)
    "dev0/w": (0, np.arange(6, dtype=F32).reshape(2, 3) - 2.5),
    "dev0/names": (0, np.array([b"x", b"", b"\xff\x00z"], dtype=object)),
    "dev1/b": (1, np.array([0.1, -0.0, np.inf, 1e-300], F64)),
    "dev1/flags": (1, np.array([True, False, True])),
    "global_step": (1, np.array(5, I64)),
}
SHARDED_PARTS = {  # name: (device, or None to alternate, value at step 5, parts, axis)
    "dev0/emb": (0, np.arange(36, dtype=F32).reshape(9, 4) * 0.25, 3, 0),
    "spread/emb": (None, np.arange(30, dtype=F32).reshape(10, 3) / 3.0 - 4.0, 4, 0),
    "spread/wide": (None, np.arange(24, dtype=I32).reshape(4, 6) * 1000 - 11000, 2, 1),
}
STEPS = (5, 7)


def _sharded_at(step):
    """{name: value} of the sharded checkpoint at a step: numbers x -> 2x+1 between the saves."""
    out = {}
    items = [(n, v) for n, (_, v) in SHARDED_PLAIN.items()] + \
        [(n, v) for n, (_, v, _, _) in SHARDED_PARTS.items()]
    for name, value in items:
        if name == "global_step":
            value = np.array(step, I64)
        elif step == 7 and value.dtype.kind in "fi":
            value = (value * 2 + 1).astype(value.dtype)
        out[name] = value
    return out


def _sharded_parts_spec():
    return {n: (v, p, a) for n, (_, v, p, a) in SHARDED_PARTS.items()}


@pytest.fixture(scope="module")
def sharded_v1(tmp_path_factory):
    """Saver(sharded=True) on two logical CPUs, at global steps 5 and 7 (values differ), with
    partitioned variables on one device and spread over both: model.ckpt-5-0000i-of-00002,
    model.ckpt-7-0000i-of-00002 and a `checkpoint` file naming both patterns.
    Returns {step: Case}."""
    directory = tmp_path_factory.mktemp("v1_sharded")

    def build():
        out = {}
        for name, (device, value) in SHARDED_PLAIN.items():
            with tf.device("/cpu:%d" % device):
                out.update(_plain({name: value}))
        for name, (device, value, parts, axis) in SHARDED_PARTS.items():
            scope = tf.device("/cpu:%d" % device) if device is not None else \
                tf.compat.v1.device(_alternate_devices)
            with scope:
                out.update(_parts({name: (value, parts, axis)}))
        return out

    def advance(sess, built):
        ops_ = [built["global_step"].assign(7)]
        for name, var in built.items():
            for v in (list(var) if _is_partitioned(var) else [var]):
                if v.dtype.base_dtype in (tf.float32, tf.float64, tf.int32):
                    ops_.append(v.assign(v * 2 + 1))
        sess.run(ops_)

    paths = _v1_save(directory, build, sharded=True, global_steps=STEPS, between_saves=advance)
    out = {}
    for step, path in zip(STEPS, paths):
        assert path == str(directory / ("model.ckpt-%d-?????-of-00002" % step)), path
        values = _sharded_at(step)
        out[step] = Case(path, str(directory), {n: values[n] for n in SHARDED_PARTS},
                         lambda: _parts(_sharded_parts_spec()), values)
    return out


GRID = np.arange(24, dtype=F32).reshape(6, 4) * 0.5 - 3.0
ROWS = np.array([[1, -2], [3, 4], [5, 6], [-(2**31), 2**31 - 1]], I32)
ODD_NAMES = {"scope with space/\u00fcnicode": np.array([1.5], F32),
             "a.b:c": np.array(-7, I64),
             "\u4e2d/x": np.array([b"q", b"\x00"], dtype=object)}


@pytest.fixture(scope="module")
def raw_v1(tmp_path_factory):
    """A V1 file written by the SaveSlices op itself: a tensor split on both axes into 2x2 blocks,
    slices with a '-' (whole) extent beside a sliced one, and unusual names."""
    directory = tmp_path_factory.mktemp("v1_raw")
    path = str(directory / "raw.ckpt")
    names, specs, tensors = [], [], []
    for r0 in (0, 3):
        for c0, cl in ((0, 1), (1, 3)):
            names.append("grid")
            specs.append("6 4 %d,3:%d,%d" % (r0, c0, cl))
            tensors.append(tf.constant(GRID[r0:r0 + 3, c0:c0 + cl]))
    for r0 in (0, 2):
        names.append("rows")
        specs.append("4 2 %d,2:-" % r0)
        tensors.append(tf.constant(ROWS[r0:r0 + 2]))
    for name, value in ODD_NAMES.items():
        names.append(name)
        specs.append("")
        tensors.append(tf.constant(value))
    tf.raw_ops.SaveSlices(filename=path, tensor_names=names, shapes_and_slices=specs,
                          data=tensors)
    return Case(path, str(directory), {"grid": GRID, "rows": ROWS})


WORDS_PARTS = {  # partitioned strings: TF's V1 reader assembles them, its V2 Saver slices them
    "part/words": (np.array([b"a", b"", b"\xff\x00", b"long" * 100, b"z"], dtype=object), 2, 0),
    "part/vocab": (np.array([b"x" * 70000, b"\x00", b"", "\u00fc".encode("utf-8"), b"tail",
                             b"\xff"], dtype=object), 3, 0),
}


@pytest.fixture(scope="module")
def words_v1(tmp_path_factory):
    """One V1 file with partitioned string variables and a plain one beside them."""
    directory = tmp_path_factory.mktemp("v1_words")

    def build():
        _plain({"plain/words": np.array([b"p", b""], dtype=object)})
        return _parts(WORDS_PARTS)

    path = _v1_save(directory, build)[0]
    return Case(path, str(directory), {n: v[0] for n, v in WORDS_PARTS.items()},
                lambda: _parts(WORDS_PARTS))


CASES = ["dtypes", "sharded", "raw"]
READ_CASES = CASES + ["words"]


@pytest.fixture
def case(request):
    fixture = {"dtypes": "dtypes_v1", "sharded": "sharded_v1", "raw": "raw_v1",
               "words": "words_v1"}[request.param]
    value = request.getfixturevalue(fixture)
    return value[7] if request.param == "sharded" else value


def _case_param(cases=CASES):
    return pytest.mark.parametrize("case", cases, indirect=True)


# ---------------------------------------------------------------------------------------------
# The oracle's own checks: what TF wrote, and that its readings agree
# ---------------------------------------------------------------------------------------------

@_case_param(READ_CASES)
def test_tensorflow_wrote_v1_and_its_readings_agree(case):
    """No .index anywhere; key "" of each file is the meta; sliced names are exactly the ones
    stored as several slices; RestoreV2, a Saver's restore of the partitioned graph and the
    values TF was initialised with all agree."""
    assert not glob.glob(os.path.join(glob.escape(case.dir), "*.index"))
    for f in case.files:
        assert list(index_reader.raw_entries(f))[0][0] == b""  # a LevelDB table, the meta first
    meta = case.meta
    assert sorted(meta) == sorted(case.values)
    multi = {n for n, (_, _, slices) in meta.items() if len(slices) > 1}
    assert case.sliced == multi == set(case.partitioned), (case.sliced, multi)
    for name, full in case.partitioned.items():
        dtype_name, shape, value = case.values[name]
        _same_value(value, full, dtype_name, name)
    if case.build_parts is not None:
        restored = ops.tf1_restore(case.path, case.build_parts)
        assert sorted(restored) == sorted(case.partitioned)
        for name, value in restored.items():
            _same_value(value, case.partitioned[name], case.values[name][0], name)


def test_tensorflow_wrote_every_dtype(dtypes_v1):
    for dtype_name in V1_DTYPES:
        for name, t in lib.dtype_tensors(dtype_name):
            got_dtype, shape, value = dtypes_v1.values[name]
            assert got_dtype == dtype_name and shape == t.shape.as_list(), name
            _same_value(value, t.numpy(), dtype_name, name)
    _same_value(dtypes_v1.values["big/weights"][2], BIG, "float32", "big/weights")
    _same_value(dtypes_v1.values["big/words"][2], BIG_WORDS, "string", "big/words")


def test_tensorflow_wrote_two_shards_and_spread_slices(sharded_v1):
    for step, case in sharded_v1.items():
        assert [os.path.basename(f) for f in case.files] == [
            "model.ckpt-%d-%05d-of-00002" % (step, i) for i in range(2)]
        per_file = [set(_meta([f])) for f in case.files]
        for name in ("spread/emb", "spread/wide"):
            assert all(name in names for names in per_file), (name, per_file)
        assert "dev0/emb" in per_file[0] and "dev0/emb" not in per_file[1]
        for name, want in case.expected.items():
            _same_value(case.values[name][2], want, case.values[name][0], name)
    state = tf.train.get_checkpoint_state(sharded_v1[7].dir)
    assert state.model_checkpoint_path == sharded_v1[7].path
    assert list(state.all_model_checkpoint_paths) == [sharded_v1[s].path for s in STEPS]


# ---------------------------------------------------------------------------------------------
# ls / show / verify / the Python package
# ---------------------------------------------------------------------------------------------

def _assert_v1_listing(listing, case):
    """`tfckpt ls --json` of a V1 checkpoint against TF's reading and the files' metas."""
    assert listing["format"] == "v1", listing.get("format")
    assert "prefix" in listing
    assert listing["num_shards"] == len(case.files), (listing["num_shards"], case.files)
    names = [t["name"] for t in listing["tensors"]]
    assert len(names) == len(set(names)), "duplicate names: %r" % names
    assert set(names) == set(case.values), "only ours %r, only TF %r" % (
        sorted(set(names) - set(case.values)), sorted(set(case.values) - set(names)))
    assert names == sorted(names, key=lambda n: n.encode("utf-8")), "not in byte-wise order"
    params = total = 0
    for t in listing["tensors"]:
        dtype_name, shape, value = case.values[t["name"]]
        assert t["dtype"] == dtype_name and t["shape"] == shape, (t, dtype_name, shape)
        if t["name"] in case.sliced:
            assert t["partitioned"] is True, t
            assert t["slices"] == len(case.meta[t["name"]][2]), t
        else:
            assert t["partitioned"] is False, t
            assert t["slices"] in (0, 1), t
        if dtype_name == "string":  # see test_ls_bytes_of_strings
            assert isinstance(t["bytes"], int) and \
                0 <= t["bytes"] <= sum(os.path.getsize(f) for f in case.files), t
        else:
            assert t["bytes"] == lib.num_elements(shape) * lib.element_size(dtype_name), t
        params += lib.num_elements(shape)
        total += t["bytes"]
    assert listing["totals"] == {"tensors": len(names), "parameters": params, "bytes": total}


@_case_param(READ_CASES)
def test_ls_like_tensorflow(tfckpt, case):
    _assert_v1_listing(tfckpt.json("ls", case.path, "--json"), case)
    text = tfckpt.run("ls", case.path).out
    for name in case.values:
        assert name in text, name
    # --filter works on V1 as on V2
    listing = tfckpt.json("ls", case.path, "--json", "--filter", "^(part|spread|grid)")
    want = sorted((n for n in case.values if re.search("^(part|spread|grid)", n)), key=str.encode)
    assert [t["name"] for t in listing["tensors"]] == want


@_case_param(READ_CASES)
def test_ls_bytes_of_strings(tfckpt, case):
    """A string tensor's bytes are what the files store of it: at least its strings' bytes (an
    80 kB string tensor does not count 0 bytes), at most the files."""
    listing = tfckpt.json("ls", case.path, "--json")
    strings = [t for t in listing["tensors"] if t["dtype"] == "string"]
    assert strings
    for t in strings:
        value = lib.as_array(case.values[t["name"]][2])
        assert sum(len(b) for b in value.reshape(-1).tolist()) <= t["bytes"] <= \
            sum(os.path.getsize(f) for f in case.files), t


def _block_types(path):
    """The compression byte of every block the table's index points at (0 none, 1 Snappy)."""
    data = lib.file_bytes(path)
    footer = data[-48:]
    _, _, pos = index_reader._block_handle(footer, 0)
    idx_off, idx_size, _ = index_reader._block_handle(footer, pos)
    types = [data[idx_off + idx_size]]
    for _, handle in index_reader._block_entries(index_reader._read_block(data, idx_off,
                                                                          idx_size)):
        off, size, _ = index_reader._block_handle(handle, 0)
        types.append(data[off + size])
    return types


def test_snappy_compressed_blocks(tfckpt, bundle_tool, tmp_path, dtypes_v1):
    """V1 files written with TensorFlow's default table options of 2015-2016 have
    Snappy-compressed blocks (today's writer sets none). The rewritten file must really be
    compressed, TF must read it as the original, and so must tfckpt, also when converting."""
    path = str(tmp_path / "model.ckpt")
    shutil.copy(dtypes_v1.path, path)
    bundle_tool.run("snappy-table", path)
    assert 1 in _block_types(path) and set(_block_types(dtypes_v1.path)) == {0}
    assert os.path.getsize(path) < os.path.getsize(dtypes_v1.path)
    dtypes = {n: tf.as_dtype(v[0]) for n, v in dtypes_v1.values.items()}
    for name, (dtype_name, _, want) in dtypes_v1.values.items():
        tf_got = _restore_v2(path, name, dtypes[name])
        _same_value(tf_got, want, dtype_name, "TF on the Snappy file: " + name)
    lib.assert_show_matches_tf(tfckpt, path, None, tf_values=dtypes_v1.values)
    tfckpt.run("verify", path)
    out = str(tmp_path / "v2" / "model.ckpt")
    tfckpt.run("edit", path, "-o", out)
    proc = tfckpt.run("diff", dtypes_v1.path, out)
    assert proc.returncode == 0, proc.where


@_case_param(READ_CASES)
def test_show_like_tensorflow(tfckpt, case):
    lib.assert_show_matches_tf(tfckpt, case.path, None, tf_values=case.values)
    for name in case.partitioned:  # the text form too
        proc = tfckpt.run("show", case.path, name)
        assert name in proc.out, proc.where


def _assert_python_like_tf(c, case):
    assert c.format == "v1", c.format
    assert c.num_shards == len(case.files)
    assert c.names() == sorted(case.values, key=str.encode)
    assert len(c) == len(case.values)
    for name, (dtype_name, shape, value) in case.values.items():
        assert name in c
        assert c.dtype(name) == dtype_name, name
        assert c.shape(name) == tuple(shape), name
        got = c[name]
        assert isinstance(got, np.ndarray), (name, type(got))
        if dtype_name == "string":
            assert all(isinstance(s, bytes) for s in got.reshape(-1).tolist()), name
        _same_value(got, value, dtype_name, name)


@_case_param(READ_CASES)
def test_python_package_like_tensorflow(case):
    _assert_python_like_tf(tfckpt_py.Checkpoint(case.path), case)
    c = tfckpt_py.open(case.path)
    assert c.format == "v1"
    d = c.to_dict()
    assert sorted(d) == sorted(case.values)
    for name, (dtype_name, _, value) in case.values.items():
        _same_value(d[name], value, dtype_name, name)


@_case_param(READ_CASES)
def test_verify_passes(tfckpt, case):
    tfckpt.run("verify", case.path)
    reports = tfckpt.json("verify", case.path, "--json")["checkpoints"]
    assert len(reports) == 1 and not reports[0]["problems"], reports


# ---------------------------------------------------------------------------------------------
# Every form of the path (the sharded, partitioned checkpoint with a global step above all)
# ---------------------------------------------------------------------------------------------

FORMS = {
    # form: (fixture, step, how the path is given)
    "sharded-pattern": ("sharded", 7, "pattern"),
    "sharded-base": ("sharded", 7, "base"),
    "sharded-shard0": ("sharded", 7, "shard0"),
    "sharded-shard1": ("sharded", 7, "shard1"),
    "sharded-dir": ("sharded", 7, "dir"),
    "sharded-dir@7": ("sharded", 7, "dir@"),
    "sharded-dir@5": ("sharded", 5, "dir@"),
    "sharded-step5": ("sharded", 5, "--step"),
    "sharded-pattern5": ("sharded", 5, "pattern"),
    "sharded-base5": ("sharded", 5, "base"),
    "sharded-relative-pattern": ("sharded", 7, "relative-pattern"),
    "sharded-relative-base": ("sharded", 7, "relative-base"),
    "dtypes-file": ("dtypes", None, "file"),
    "dtypes-dir": ("dtypes", None, "dir"),
    "slim-file": ("slim", 1000, "file"),
    "slim-dir": ("slim", 1000, "dir"),
    "slim-dir@1000": ("slim", 1000, "dir@"),
}


def _form_args(case, step, how):
    """(arguments naming the checkpoint, cwd)."""
    base = re.sub(r"-\?{5}-of-\d{5}$", "", case.path)
    return {
        "pattern": lambda: ([case.path], None),
        "file": lambda: ([case.path], None),
        "base": lambda: ([base], None),
        "shard0": lambda: ([case.files[0]], None),
        "shard1": lambda: ([case.files[-1]], None),
        "dir": lambda: ([case.dir], None),
        "dir@": lambda: (["%s@%d" % (case.dir, step)], None),
        "--step": lambda: ([case.dir, "--step", str(step)], None),
        "relative-pattern": lambda: ([os.path.basename(case.path)], case.dir),
        "relative-base": lambda: ([os.path.basename(base)], case.dir),
    }[how]()


def _normalized(listing, cwd):
    listing = dict(listing)
    listing["prefix"] = os.path.abspath(os.path.join(cwd or os.getcwd(), listing["prefix"]))
    return listing


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_path_form_reads_like_tensorflow(tfckpt, dtypes_v1, sharded_v1, slim_v1, form):
    fixture, step, how = FORMS[form]
    case = {"dtypes": dtypes_v1, "sharded": sharded_v1.get(step), "slim": slim_v1}[fixture]
    args, cwd = _form_args(case, step, how)
    path, flags = args[0], args[1:]
    proc = tfckpt.run("ls", path, "--json", *flags, cwd=cwd)
    listing = lib.checked_json(["ls", "--json"], proc.out)
    _assert_v1_listing(listing, case)
    # the same listing, prefix included, as by the path TF's saver returned
    canonical = tfckpt.json("ls", case.path, "--json")
    assert _normalized(listing, cwd) == _normalized(canonical, None)
    names = sorted(case.values)
    proc = tfckpt.run("show", path, *names, "--json", *flags, cwd=cwd)
    shown = lib.checked_json(["show", "--json"], proc.out)["tensors"]
    assert [e["name"] for e in shown] == names
    for entry in shown:
        lib.assert_values_match(entry, *case.values[entry["name"]])
    if how not in ("relative-pattern", "relative-base"):
        c = tfckpt_py.Checkpoint(path, step=int(flags[1]) if flags else None)
        _assert_python_like_tf(c, case)


def test_steps_differ(tfckpt, sharded_v1):
    """dir@5 and dir@7 are two checkpoints: diff sees the values TF changed between them."""
    d = sharded_v1[7].dir
    proc = tfckpt.run("diff", d + "@5", d + "@7", "--json", expect_rc=1)
    report = lib.checked_json(["diff", "--json"], proc.out)
    changed = set()
    for n, (_, _, value) in sharded_v1[7].values.items():
        old = lib.as_array(sharded_v1[5].values[n][2])
        if lib.as_array(value).tolist() != old.tolist():
            changed.add(n)
    assert changed and "dev0/names" not in changed and "dev1/flags" not in changed
    got = {e["name"] for e in report["values_differ"]}
    assert got == changed, (got, changed)
    tfckpt.run("diff", d, sharded_v1[7].path)  # the latest, by two paths: the same


# ---------------------------------------------------------------------------------------------
# Writing: V1 in, V2 out, read by TensorFlow alike
# ---------------------------------------------------------------------------------------------

def _assert_v2_output(tfckpt, out, want, build_parts=None):
    """`out` is a V2 bundle TF reads with exactly the tensors `want`."""
    assert os.path.isfile(out + ".index"), out
    got = _tf_read_v2(out, build_parts)
    listing = tfckpt.json("ls", out, "--json")
    assert listing["format"] == "v2", listing.get("format")
    lib.assert_ls_matches_tf(listing, out, got)
    _same_tensors(got, want)
    assert tfckpt_py.Checkpoint(out).format == "v2"


@_case_param()
def test_edit_writes_v2_tensorflow_reads_alike(tfckpt, tmp_path, case):
    before = ops.snapshot(case.dir)
    out = str(tmp_path / "edited" / "model")
    tfckpt.run("edit", case.path, "-o", out)
    ops.assert_unchanged(before, case.dir)
    _assert_v2_output(tfckpt, out, case.values, case.build_parts)
    # a TF1 Saver restores the partitioned graph from the new checkpoint as from the old one
    if case.build_parts is not None:
        old = ops.tf1_restore(case.path, case.build_parts)
        new = ops.tf1_restore(out, case.build_parts)
        for name, value in old.items():
            _same_value(new[name], value, case.values[name][0], name)
    # and the RestoreV2 kernel reads every full tensor alike from both (where it can assemble
    # V2 slices: not of float16, uint16 or strings)
    for name in case.partitioned:
        if case.values[name][0] in ("float16", "uint16", "string"):
            continue
        dtype = tf.as_dtype(case.values[name][0])
        _same_value(_restore_v2(out, name, dtype), _restore_v2(case.path, name, dtype),
                    case.values[name][0], name)
    tfckpt.run("diff", case.path, out)
    ops.assert_unchanged(before, case.dir)


def test_partitioned_strings_edit_like_tensorflow(tfckpt, tmp_path, words_v1):
    """TF's V2 reader cannot assemble string slices, nor cut a slice from a whole string tensor:
    a TF1 Saver restores partitioned strings only from slices stored as its own partitions. The
    V2 output must hold them so: restored from it, the graph gets what it gets from the V1."""
    case = words_v1
    before = ops.snapshot(case.dir)
    out = str(tmp_path / "edited" / "model")
    tfckpt.run("edit", case.path, "-o", out)
    ops.assert_unchanged(before, case.dir)
    reader = tf.train.load_checkpoint(out)
    assert reader.get_variable_to_shape_map() == \
        {n: shape for n, (_, shape, _) in case.values.items()}
    assert {n: d.name for n, d in reader.get_variable_to_dtype_map().items()} == \
        {n: d for n, (d, _, _) in case.values.items()}
    _same_value(reader.get_tensor("plain/words"), case.values["plain/words"][2], "string",
                "plain/words")
    old = ops.tf1_restore(case.path, case.build_parts)
    new = ops.tf1_restore(out, case.build_parts)
    assert sorted(new) == sorted(WORDS_PARTS)
    for name, value in old.items():
        _same_value(value, case.partitioned[name], "string", name)
        _same_value(new[name], value, "string", name)
    listing = tfckpt.json("ls", out, "--json")
    assert listing["format"] == "v2"
    assert {t["name"]: t["partitioned"] for t in listing["tensors"]} == \
        {n: n in WORDS_PARTS for n in case.values}
    lib.assert_show_matches_tf(tfckpt, out, None, tf_values=case.values)
    tfckpt.run("diff", case.path, out)


def test_edit_from_directory_rename_and_drop(tfckpt, tmp_path, dtypes_v1, sharded_v1):
    rules = [("part/", "renamed/"), ("big/", "/")]
    rename = ops.renamer(rules)
    renamed_parts = {rename(k): spec for k, spec in DTYPE_PARTS.items()}
    for src, case, build_parts in ((dtypes_v1.dir, dtypes_v1, lambda: _parts(renamed_parts)),
                                   (sharded_v1[5].dir + "@5", sharded_v1[5], None)):
        before = ops.snapshot(case.dir)
        out = str(tmp_path / os.path.basename(case.dir) / "model")
        args = []
        for old, new in rules:
            args += ["--rename", "%s=%s" % (old, new)]
        tfckpt.run("edit", src, *args, "--drop", "^dt/(bool|qint8)/", "--drop", "^dev1/",
                   "-o", out)
        want = {rename(n): v for n, v in case.values.items()
                if not re.search("^dt/(bool|qint8)/", n) and not n.startswith("dev1/")}
        _assert_v2_output(tfckpt, out, want, build_parts)
        ops.assert_unchanged(before, case.dir)


def test_merge_v1_with_v2(tfckpt, tmp_path, dtypes_v1, sharded_v1, tf1_plain):
    v2 = lib.tf_read_all(tf1_plain)
    assert not set(v2) & set(dtypes_v1.values), "the sources must not share names"
    before = ops.snapshot(dtypes_v1.dir, sharded_v1[7].dir, tf1_plain)
    out = str(tmp_path / "merged" / "model")
    tfckpt.run("merge", dtypes_v1.path, tf1_plain, "-o", out)
    want = dict(dtypes_v1.values)
    want.update(v2)
    _assert_v2_output(tfckpt, out, want, dtypes_v1.build_parts)
    # V2 first, a sharded V1 by its directory, each under its own scope
    out = str(tmp_path / "scoped" / "model")
    tfckpt.run("merge", "plain=" + tf1_plain, "v1=" + sharded_v1[7].dir, "-o", out)
    want = {"plain/" + n: v for n, v in v2.items()}
    want.update({"v1/" + n: v for n, v in sharded_v1[7].values.items()})
    _assert_v2_output(tfckpt, out, want)
    ops.assert_unchanged(before, dtypes_v1.dir, sharded_v1[7].dir, tf1_plain)


# ---------------------------------------------------------------------------------------------
# transfer from V1 sources, judged by init_from_checkpoint on the same sources
# ---------------------------------------------------------------------------------------------

SLIM_SPEC = {  # a slim-style source: {name: (shape, dtype, partitions)}, under InceptionV3/
    "Conv2d_1a_3x3/weights": ((3, 3, 3, 8), F32, None),
    "Conv2d_1a_3x3/BatchNorm/beta": ((8,), F32, None),
    "Conv2d_1a_3x3/BatchNorm/moving_mean": ((8,), F32, None),
    "Conv2d_1a_3x3/BatchNorm/moving_variance": ((8,), F32, None),
    "Logits/Conv2d_1c_1x1/weights": ((1, 1, 8, 5), F32, None),
    "Logits/Conv2d_1c_1x1/biases": ((5,), F32, None),
    "Embedding/table": ((12, 4), F32, 2),
    "Embedding/full": ((12, 4), F32, None),
}

TARGET_SPEC = {
    "encoder/conv1/weights": ((3, 3, 3, 8), F32, None),
    "encoder/conv1/BatchNorm/beta": ((8,), F32, None),
    "encoder/conv1/BatchNorm/moving_mean": ((8,), F32, None),
    "encoder/conv1/BatchNorm/moving_variance": ((8,), F32, None),
    "head/logits/weights": ((1, 1, 8, 5), F32, None),
    "head/logits/biases": ((5,), F32, None),
    "encoder/emb": ((12, 4), F32, 3),
    "encoder/emb_plain": ((12, 4), F32, None),
    "InceptionV3/Conv2d_1a_3x3/weights": ((3, 3, 3, 8), F32, None),
    "InceptionV3/Conv2d_1a_3x3/BatchNorm/beta": ((8,), F32, None),
    "InceptionV3/Embedding/table": ((12, 4), F32, 3),
    "global_step": ((), I64, None),
}


def _build_slim(seed, devices):
    """The source model; with devices, Conv2d on /cpu:0, Logits on /cpu:1 and the partitioned
    table's parts on both."""
    groups = [("Conv2d", "/cpu:0"), ("Logits", "/cpu:1"), ("Embedding", None)]
    out = {}
    for prefix, device in groups:
        spec = {k: v for k, v in SLIM_SPEC.items() if k.startswith(prefix)}
        if not devices:
            scope = contextlib.nullcontext()
        elif device is None:
            scope = tf.compat.v1.device(_alternate_devices)
        else:
            scope = tf.device(device)
        with scope:
            out.update(ops.get_variables(spec, seed, scope="InceptionV3/")[0])
    out["global_step"] = tf.compat.v1.get_variable(
        "global_step", initializer=tf.constant(1000 + seed, tf.int64), trainable=False)
    return out


def _build_target():
    return ops.get_variables(TARGET_SPEC, seed=0)[0]


@pytest.fixture(scope="module")
def slim_v1(tmp_path_factory):
    """The slim-style source saved V1 at global step 1000: one file, model.ckpt-1000."""
    directory = tmp_path_factory.mktemp("v1_slim")
    path = _v1_save(directory, lambda: _build_slim(1, False), global_steps=(1000,))[0]
    assert path == str(directory / "model.ckpt-1000")

    def build_parts():
        return {k: v for k, v in _build_slim(1, False).items()
                if _is_partitioned(v)}
    return Case(path, str(directory),
                {"InceptionV3/Embedding/table":
                 ops.make_value("InceptionV3/Embedding/table", (12, 4), F32, 1)}, build_parts)


@pytest.fixture(scope="module")
def transfer_ckpts(tmp_path_factory, slim_v1):
    """{key: (path for tfckpt, path for TF)}: the sources and the models (V2 and V1)."""
    d = tmp_path_factory.mktemp("v1_transfer")
    # three shards: /cpu:0, /cpu:1 and global_step, placed on no device
    sharded = _v1_save(d / "sharded", lambda: _build_slim(2, True), sharded=True,
                       global_steps=(2000,))[0]
    assert sharded.endswith("model.ckpt-2000-?????-of-00003") and len(_files(sharded)) == 3
    target_v1 = _v1_save(d / "target_v1", _build_target)[0]
    base = re.sub(r"-\?{5}-of-\d{5}$", "", sharded)
    return {
        "S": (slim_v1.path, slim_v1.path),
        "Sdir": (slim_v1.dir, slim_v1.path),
        "Sdir@": (slim_v1.dir + "@1000", slim_v1.path),
        "Ssh": (sharded, sharded),
        "Ssh_base": (base, sharded),
        "Ssh_shard1": (_files(sharded)[1], sharded),
        "Ssh_dir": (os.path.dirname(sharded), sharded),
        "T": (ops.tf1_save(d / "target" / "model", _build_target),) * 2,
        "T_v1": (target_v1, target_v1),
    }


CONV, LOGITS = "InceptionV3/Conv2d_1a_3x3/", "InceptionV3/Logits/Conv2d_1c_1x1/"
TRANSFER_CASES = {
    # case: (the model, [(source, [(checkpoint name or scope, model name or scope)])])
    "scope_rename": ("T", [("S", [(CONV, "encoder/conv1/")])]),
    "two_scopes": ("T", [("S", [(CONV, "encoder/conv1/"), (LOGITS, "head/logits/")])]),
    "same_scope": ("T", [("S", [("InceptionV3/", "InceptionV3/")])]),
    "partitioned_reslice": ("T", [("S", [("InceptionV3/Embedding/table", "encoder/emb")])]),
    "partitioned_from_full": ("T", [("S", [("InceptionV3/Embedding/full", "encoder/emb")])]),
    "partitioned_to_full": ("T", [("S", [("InceptionV3/Embedding/table",
                                          "encoder/emb_plain")])]),
    "global_step": ("T", [("S", [("global_step", "global_step"),
                                 (LOGITS + "biases", "head/logits/biases")])]),
    "source_dir": ("T", [("Sdir", [(CONV, "encoder/conv1/"),
                                   ("InceptionV3/Embedding/table", "encoder/emb")])]),
    "source_dir_step": ("T", [("Sdir@", [(CONV, "encoder/conv1/")])]),
    "sharded_pattern": ("T", [("Ssh", [("InceptionV3/", "InceptionV3/"),
                                       (CONV, "encoder/conv1/")])]),
    "sharded_base": ("T", [("Ssh_base", [(LOGITS, "head/logits/"),
                                         ("InceptionV3/Embedding/table", "encoder/emb")])]),
    "sharded_shard_file": ("T", [("Ssh_shard1", [("InceptionV3/Embedding/table",
                                                  "encoder/emb_plain")])]),
    "sharded_dir": ("T", [("Ssh_dir", [(CONV, "encoder/conv1/"), ("global_step",
                                                                    "global_step")])]),
    "two_sources": ("T", [("S", [(CONV, "encoder/conv1/")]),
                          ("Ssh", [(LOGITS, "head/logits/"),
                                   ("InceptionV3/Embedding/table", "encoder/emb")])]),
    "into_v1_model": ("T_v1", [("S", [(CONV, "encoder/conv1/"),
                                      ("InceptionV3/Embedding/table", "encoder/emb")])]),
}


def _tf_transfer(ckpts, groups, prefix):
    """The oracle: init_from_checkpoint per group in a fresh graph of the model, then save."""
    graph = tf.Graph()
    with graph.as_default():
        _build_target()
        for src, pairs in groups:
            tf.compat.v1.train.init_from_checkpoint(ckpts[src][1], dict(pairs))
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            return saver.save(sess, str(prefix), write_meta_graph=False)


def _snapshot_dirs(ckpts):
    return sorted({os.path.dirname(p) for _, p in ckpts.values()})


@pytest.mark.parametrize("name", sorted(TRANSFER_CASES))
def test_transfer_from_v1_like_init_from_checkpoint(tfckpt, tmp_path, transfer_ckpts, name):
    ckpts = transfer_ckpts
    into, groups = TRANSFER_CASES[name]
    dirs = _snapshot_dirs(ckpts)
    before = ops.snapshot(*dirs)
    want = _tf_transfer(ckpts, groups, tmp_path / "tf" / "expected")
    args = []
    for src, pairs in groups:
        args += ["--from", ckpts[src][0]]
        for k, v in pairs:
            args += ["--map", "%s=%s" % (k, v)]
    out = str(tmp_path / "ours" / "out")
    tfckpt.run("transfer", "--into", ckpts[into][0], *args, "-o", out)
    ops.assert_unchanged(before, *dirs)
    _same_tensors(_tf_read_v2(out), _tf_read_v2(want))
    ops.assert_shards_consistent(tfckpt, out)
    assert tfckpt.json("ls", out, "--json")["format"] == "v2"
    # not vacuous: TF changed some of the model's values
    model, expected = _tf_read_v2(ckpts["T"][1]), _tf_read_v2(want)
    assert any(model[n][2].tobytes() != expected[n][2].tobytes() for n in model)
    # a checkpoint of the model: a TF1 Saver restores it, partitions included
    restored = ops.tf1_restore(out, _build_target)
    for n, value in restored.items():
        ops.assert_array_identical(value, expected[n][2], n)


def test_transfer_from_v1_without_model(tfckpt, tmp_path, transfer_ckpts, slim_v1):
    before = ops.snapshot(slim_v1.dir)
    out = str(tmp_path / "out")
    tfckpt.run("transfer", "--from", slim_v1.path, "--map", "InceptionV3/=net/", "-o", out)
    want = {"net/" + n[len("InceptionV3/"):]: v for n, v in slim_v1.values.items()
            if n.startswith("InceptionV3/")}
    _same_tensors(_tf_read_v2(out), want)
    ops.assert_unchanged(before, slim_v1.dir)


# ---------------------------------------------------------------------------------------------
# Damaged V1 inputs: exit 2, the file or tensor named, no crash, nothing written
# ---------------------------------------------------------------------------------------------

def _assert_refused(proc, *needles):
    assert proc.returncode == 2, proc.where
    for needle in needles:
        assert needle in proc.err, "%r not named\n%s" % (needle, proc.where)
    for bad in ("terminate called", "Assertion", "Sanitizer", "Traceback", "Segmentation"):
        assert bad not in proc.err, proc.where


def _assert_nothing_written(directory):
    assert not os.path.exists(str(directory)) or os.listdir(str(directory)) == [], \
        os.listdir(str(directory))


def _damage(path, how):
    data = lib.file_bytes(path)
    if how == "cut10":
        data = data[:-10]
    elif how == "half":
        data = data[:len(data) // 2]
    elif how == "magic":
        data = data[:-1] + bytes([data[-1] ^ 0x01])
    else:
        raise ValueError(how)
    with open(path, "wb") as f:
        f.write(data)


def _copy_files(files, directory):
    os.makedirs(str(directory), exist_ok=True)
    out = []
    for f in files:
        shutil.copy(f, str(directory))
        out.append(os.path.join(str(directory), os.path.basename(f)))
    return out


@pytest.mark.parametrize("how", ["cut10", "half", "magic"])
def test_damaged_file(tfckpt, bundle_tool, tmp_path, dtypes_v1, how):
    path = _copy_files(dtypes_v1.files, tmp_path / "ckpt")[0]
    _damage(path, how)
    with pytest.raises(tf.errors.OpError):  # TF refuses it too
        tf.train.load_checkpoint(path)
    bundle_tool.run("state", str(tmp_path / "ckpt"), path)
    name = "dt/float32/vector"
    before = ops.snapshot(str(tmp_path / "ckpt"))
    for args in (["ls", path], ["ls", path, "--json"], ["show", path, name, "--json"],
                 ["verify", path], ["ls", str(tmp_path / "ckpt")],
                 ["edit", path, "-o", str(tmp_path / "out" / "m")]):
        _assert_refused(tfckpt.run(*args, expect_rc=None), os.path.basename(path))
    _assert_nothing_written(tmp_path / "out")
    with pytest.raises(tfckpt_py.Error, match=re.escape(os.path.basename(path))):
        tfckpt_py.Checkpoint(path)
    ops.assert_unchanged(before, str(tmp_path / "ckpt"))


@pytest.mark.parametrize("how", ["cut10", "half", "magic"])
def test_damaged_shard_of_a_set(tfckpt, tmp_path, sharded_v1, how):
    case = sharded_v1[7]
    files = _copy_files(case.files, tmp_path)
    _damage(files[1], how)
    pattern = str(tmp_path / os.path.basename(case.path))
    base = re.sub(r"-\?{5}-of-\d{5}$", "", pattern)
    for path in (pattern, base, files[0]):
        for args in (["ls", path, "--json"], ["show", path, "dev0/w", "--json"],
                     ["verify", path]):
            _assert_refused(tfckpt.run(*args, expect_rc=None), os.path.basename(files[1]))


def test_missing_shard(tfckpt, tmp_path, sharded_v1):
    """TF's reader globs the pattern and reads whatever shards are there; tfckpt refuses a set
    with a shard missing, naming the missing file."""
    case = sharded_v1[7]
    directory = tmp_path / "ckpt"
    present = _copy_files(case.files[:1], directory)[0]
    missing = os.path.basename(case.files[1])
    pattern = str(directory / os.path.basename(case.path))
    base = re.sub(r"-\?{5}-of-\d{5}$", "", pattern)
    before = ops.snapshot(str(directory))
    out = str(tmp_path / "out" / "m")
    for path in (pattern, base, present):
        for args in (["ls", path], ["ls", path, "--json"], ["show", path, "dev0/w", "--json"],
                     ["verify", path], ["edit", path, "-o", out]):
            _assert_refused(tfckpt.run(*args, expect_rc=None), missing)
    _assert_nothing_written(tmp_path / "out")
    with pytest.raises(tfckpt_py.Error, match=re.escape(missing)):
        tfckpt_py.Checkpoint(pattern)
    ops.assert_unchanged(before, str(directory))


def _write_table(bundle_tool, path, entries):
    """A LevelDB table of [(key, value)] at `path`, by bundle_tool's `table` command."""
    spec = path + ".entries.json"
    with open(spec, "w") as f:
        json.dump([[base64.b64encode(k).decode(), base64.b64encode(v).decode()]
                   for k, v in entries], f)
    bundle_tool.run("table", spec, path)
    os.remove(spec)


def _data_keys(entries, name):
    """The keys of `name`'s slices, in key order."""
    out = []
    for k, v in entries:
        if k and saved_tensor_slice_pb2.SavedTensorSlices.FromString(v).data.name == name:
            out.append(k)
    assert out, name
    return out


GARBAGE = b"\x0a\x7fnot a SavedTensorSlices proto"
VICTIMS = {  # victim: (tensor, which of its slices)
    "whole": ("dt/float32/matrix", 0),
    "slice": ("part/emb", 1),
}


@pytest.fixture
def rebuilt(bundle_tool, tmp_path, dtypes_v1):
    """rebuild(label, change) -> a copy of the dtypes file whose table entries change() rewrote
    (and the unchanged rebuild reads as the original does in TF, so only the change counts)."""
    entries = list(index_reader.raw_entries(dtypes_v1.path))
    same = str(tmp_path / "same" / "model.ckpt")
    os.makedirs(os.path.dirname(same))
    _write_table(bundle_tool, same, entries)
    same_values, _ = tf_v1_values(same)
    _same_tensors(same_values, dtypes_v1.values)
    with pytest.raises(Exception):
        saved_tensor_slice_pb2.SavedTensorSlices.FromString(GARBAGE)

    def rebuild(label, change):
        path = str(tmp_path / label / "model.ckpt")
        os.makedirs(os.path.dirname(path))
        _write_table(bundle_tool, path, change(list(entries)))
        return path
    return entries, rebuild


def _tf_refuses(path, victim, dtype_name):
    with pytest.raises((tf.errors.OpError, ValueError)):
        _restore_v2(path, victim, tf.as_dtype(dtype_name))


def _assert_one_tensor_damaged(tfckpt, tmp_path, path, name, values):
    """Reading `name` of the V1 file `path` fails naming it; every other tensor still reads with
    TF's values; verify finds the damage and names it (exit 1); nothing is written from it."""
    _assert_refused(tfckpt.run("show", path, name, "--json", expect_rc=None), name)
    others = sorted(n for n in values if n != name)
    shown = tfckpt.json("show", path, *others, "--json")["tensors"]
    for entry in shown:
        lib.assert_values_match(entry, *values[entry["name"]])
    proc = tfckpt.run("verify", path, expect_rc=1)
    assert name in proc.out, proc.where
    out = str(tmp_path / "out" / "m")
    _assert_refused(tfckpt.run("edit", path, "-o", out, expect_rc=None), name)
    _assert_nothing_written(tmp_path / "out")


@pytest.mark.parametrize("victim", sorted(VICTIMS))
def test_garbage_data_entry(tfckpt, tmp_path, dtypes_v1, rebuilt, victim):
    entries, rebuild = rebuilt
    name, which = VICTIMS[victim]
    key = _data_keys(entries, name)[which]
    path = rebuild("garbage", lambda es: [(k, GARBAGE if k == key else v) for k, v in es])
    _tf_refuses(path, name, dtypes_v1.values[name][0])
    # the listing needs the meta only
    listing = tfckpt.json("ls", path, "--json")
    _assert_v1_listing(listing, dtypes_v1)
    _assert_one_tensor_damaged(tfckpt, tmp_path, path, name, dtypes_v1.values)
    c = tfckpt_py.Checkpoint(path)
    with pytest.raises(tfckpt_py.Error, match=re.escape(name)):
        c[name]


@pytest.mark.parametrize("victim", sorted(VICTIMS))
def test_missing_data_entry(tfckpt, tmp_path, dtypes_v1, rebuilt, victim):
    entries, rebuild = rebuilt
    name, which = VICTIMS[victim]
    key = _data_keys(entries, name)[which]
    path = rebuild("dropped", lambda es: [(k, v) for k, v in es if k != key])
    _tf_refuses(path, name, dtypes_v1.values[name][0])
    _assert_one_tensor_damaged(tfckpt, tmp_path, path, name, dtypes_v1.values)


# ---------------------------------------------------------------------------------------------
# Real V1 files other people's TensorFlow wrote
# ---------------------------------------------------------------------------------------------

REAL_WORLD = {
    "neo_linear_2017": ("real-world", "tf1_v1_ckpt_neo_linear_2017", "model.ckpt"),
    "serving_session_bundle": ("real-world", "serving_v1_session_bundle",
                               "export-00000-of-00001"),
}


@pytest.mark.parametrize("which", sorted(REAL_WORLD))
def test_real_world_v1(tfckpt, shared_testdata, tmp_path, which):
    path = str(shared_testdata.joinpath(*REAL_WORLD[which]))
    assert os.path.isfile(path), "%s is missing from ../shared/testdata" % path
    case = Case(path, os.path.dirname(path))
    assert case.values and not case.sliced
    before = ops.snapshot(case.dir)
    _assert_v1_listing(tfckpt.json("ls", path, "--json"), case)
    lib.assert_show_matches_tf(tfckpt, path, None, tf_values=case.values)
    _assert_python_like_tf(tfckpt_py.Checkpoint(path), case)
    tfckpt.run("verify", path)
    out = str(tmp_path / "v2" / "model")
    tfckpt.run("edit", path, "-o", out)
    _assert_v2_output(tfckpt, out, case.values)
    ops.assert_unchanged(before, case.dir)


# ---------------------------------------------------------------------------------------------
# Edges: damaged metadata, names, outputs
# ---------------------------------------------------------------------------------------------

def _meta_entry(tensors):
    """The "" entry of a V1 file: [(name, DataType enum, shape, [[(start, length) or None per
    dim] per slice])]."""
    sts = saved_tensor_slice_pb2.SavedTensorSlices()
    sts.meta.versions.producer = 1
    for name, dtype, shape, slices in tensors:
        t = sts.meta.tensor.add(name=name, type=dtype)
        for d in shape:
            t.shape.dim.add(size=d)
        for extents in slices:
            s = t.slice.add()
            for e in extents:
                x = s.extent.add()
                if e is not None:
                    x.start, x.length = e
    return (b"", sts.SerializeToString())


def test_huge_claims_fail_cleanly(tfckpt, bundle_tool, tmp_path):
    """A partitioned tensor whose metadata claims more elements than memory (or than 64 bits
    of bytes) fails naming it, before anything of that size is allocated; TF refuses it too."""
    path = str(tmp_path / "model.ckpt")
    big = 2 ** 60 + 1
    _write_table(bundle_tool, path, [_meta_entry([
        ("z", tf.complex128.as_datatype_enum, [big], [[(0, 2)], [(2, big - 2)]]),
        ("f", tf.float32.as_datatype_enum, [2 ** 40], [[(0, 2 ** 39)], [(2 ** 39, 2 ** 39)]]),
    ])])
    listing = tfckpt.json("ls", path, "--json")
    assert [t["name"] for t in listing["tensors"]] == ["f", "z"]
    for name in ("z", "f"):
        _assert_refused(tfckpt.run("show", path, name, expect_rc=None), "'%s'" % name)
        with pytest.raises(tf.errors.OpError):
            _restore_v2(path, name, tf.complex128 if name == "z" else tf.float32)
    proc = tfckpt.run("verify", path, expect_rc=1)
    assert "FAILED" in proc.out and "'z[" in proc.out and "'f[" in proc.out, proc.where


def test_move_refused_for_v1_sources(tfckpt, tmp_path, dtypes_v1, tf1_plain):
    """Merging with `--move` would rewrite a V1 source and then delete it: refused, with the
    source named and nothing written or removed."""
    directory = tmp_path / "in"
    path = _copy_files(dtypes_v1.files, directory)[0]
    before = ops.snapshot(str(directory))
    out = tmp_path / "out"
    proc = tfckpt.run("merge", path, tf1_plain, "-o", str(out / "m"), "--move", expect_rc=None)
    _assert_refused(proc, os.path.basename(path), "V1")
    _assert_nothing_written(out)
    ops.assert_unchanged(before, str(directory))


def test_output_directory_named_after_the_v1_base(tfckpt, tmp_path, sharded_v1):
    """`-o DIR/` names the output after the input: for a sharded V1 checkpoint, the prefix
    before its shard numbers, never a name with '?' in it."""
    case = sharded_v1[7]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    tfckpt.run("edit", case.path, "-o", str(out_dir) + "/")
    base = re.sub(r"-\?{5}-of-\d{5}$", "", os.path.basename(case.path))
    assert sorted(os.listdir(str(out_dir))) == [base + ".data-00000-of-00001", base + ".index"]
    whole = [n for n in case.values if n not in case.sliced]
    got = lib.tf_read_all(str(out_dir / base))
    _same_tensors({n: got[n] for n in whole}, {n: case.values[n] for n in whole})


def test_output_over_a_v1_checkpoint_refused(tfckpt, tmp_path, dtypes_v1, tf1_plain):
    """A V2 bundle written at the prefix of a V1 checkpoint would hide the V1 one from every
    reader (TF looks for PREFIX.index first): refused, naming it."""
    path = _copy_files(dtypes_v1.files, tmp_path / "d")[0]
    before = ops.snapshot(str(tmp_path / "d"))
    _assert_refused(tfckpt.run("edit", tf1_plain, "-o", path, expect_rc=None),
                    "V1 checkpoint exists at")
    ops.assert_unchanged(before, str(tmp_path / "d"))


def test_recipe_takes_v1_names(tfckpt, tmp_path, sharded_v1):
    case = sharded_v1[7]
    base = re.sub(r"-\?{5}-of-\d{5}$", "", case.path)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("inputs:\n  a: %s\n  b: '%s'\nsteps:\n  - name: e\n    edit:\n"
                      "      source: b\n" % (json.dumps(base), case.path))
    out = str(tmp_path / "out" / "m")
    tfckpt.run("apply", str(recipe), "-o", out)
    assert tfckpt.json("ls", out, "--json")["format"] == "v2"
    proc = tfckpt.run("diff", case.path, out)
    assert proc.returncode == 0, proc.where


def test_prefix_of_two_shard_sets_is_ambiguous(tfckpt, tmp_path, sharded_v1):
    """The prefix before the shard numbers of two sets (-of-00002 and -of-00003) names no one
    checkpoint: refused, naming both patterns."""
    case = sharded_v1[7]
    files = _copy_files(case.files, tmp_path)
    base = re.sub(r"-\d{5}-of-\d{5}$", "", files[0])
    for i in range(3):
        shutil.copy(files[0], "%s-%05d-of-00003" % (base, i))
    proc = tfckpt.run("ls", base, expect_rc=None)
    _assert_refused(proc, "-of-00002", "-of-00003")


def test_incomplete_set_names_a_few(tfckpt, tmp_path, dtypes_v1):
    """A shard name promising 99999 files, one present: the message names three and counts the
    rest, rather than listing 99998 names."""
    path = str(tmp_path / "model.ckpt-00000-of-99999")
    shutil.copy(dtypes_v1.path, path)
    proc = tfckpt.run("ls", path, expect_rc=None)
    _assert_refused(proc, "99998 of its 99999 files are missing", "and 99995 more")
    assert len(proc.err) < 1000, proc.where
