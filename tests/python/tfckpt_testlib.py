"""Helpers for the TensorFlow oracle tests: running the binaries, decoding their JSON, building
TensorFlow checkpoints of every dtype, and comparing values with what TensorFlow reads."""

import base64
import json
import os
import re
import subprocess
import sys

import ml_dtypes
import numpy as np
import tensorflow as tf
from tensorflow.python.framework import dtypes as tf_dtypes

import index_reader

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import json_contract  # noqa: E402  (tests/json_contract.py: docs/JSON.md's schemas)

TIMEOUT = 120


def checked_json(args, text):
    """`tfckpt ARGS` printed `text`: its one JSON document, checked against docs/JSON.md."""
    return json_contract.check(args, json.loads(text))


class Tool:
    """A command-line binary under test."""

    def __init__(self, path):
        self.path = path

    def run(self, *args, expect_rc=0, cwd=None, env=None):
        """Runs the tool; checks it was not killed by a signal and (unless None) its exit code.
        `env` replaces the environment."""
        proc = subprocess.run([self.path] + [str(a) for a in args], capture_output=True,
                              timeout=TIMEOUT, cwd=cwd, env=env)
        proc.out = proc.stdout.decode("utf-8", errors="replace")
        proc.err = proc.stderr.decode("utf-8", errors="replace")
        where = "%s %s\nrc=%d\nstdout:\n%s\nstderr:\n%s" % (
            os.path.basename(self.path), " ".join(str(a) for a in args), proc.returncode,
            proc.out[-3000:], proc.err[-3000:])
        proc.where = where
        assert proc.returncode >= 0, "killed by signal %d: %s" % (-proc.returncode, where)
        if expect_rc is not None:
            assert proc.returncode == expect_rc, where
        return proc

    def json(self, *args, expect_rc=0, parse_float=None, cwd=None, env=None):
        """Runs the tool and parses its stdout; `tfckpt ... --json` is checked against the
        schema docs/JSON.md gives for that command."""
        proc = self.run(*args, expect_rc=expect_rc, cwd=cwd, env=env)
        try:
            document = json.loads(proc.out, parse_float=parse_float)
        except ValueError as exc:
            raise AssertionError("stdout is not one JSON document (%s): %s" % (exc, proc.where))
        if os.path.basename(self.path) == "tfckpt" and "--json" in args:
            checked_json(args, proc.out)
        return document


# ---------------------------------------------------------------------------------------------
# TensorFlow side
# ---------------------------------------------------------------------------------------------

def tf_read_all(prefix):
    """{name: (dtype name, shape list, numpy value or None for variant)} as TF reads them."""
    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
    out = {}
    for name, shape in shapes.items():
        dtype = dtypes[name]
        value = None if dtype == tf.variant else reader.get_tensor(name)
        out[name] = (dtype.name, list(shape), value)
    return out


def save_tensors(prefix, tensors, specs=None):
    """SaveV2 of {name: value} or [(name, value)], in that order (the data file's order: SaveV2
    does not sort); values are tf.Tensors or anything tf.constant takes (numpy arrays keep their
    dtype). `specs`: shape-and-slice strings, "" for whole tensors."""
    pairs = list(tensors.items()) if isinstance(tensors, dict) else list(tensors)
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=[n for n, _ in pairs],
                      shape_and_slices=specs or [""] * len(pairs),
                      tensors=[v if isinstance(v, tf.Tensor) else tf.constant(v)
                               for _, v in pairs])
    return str(prefix)


def data_files(prefix):
    """Data files of a bundle that exist on disk, sorted."""
    directory, base = os.path.split(prefix)
    pat = re.compile(re.escape(base) + r"\.data-\d{5,}-of-\d{5,}$")
    return sorted(os.path.join(directory, f) for f in os.listdir(directory or ".")
                  if pat.match(f))


def num_elements(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def element_size(dtype_name):
    return tf.as_dtype(dtype_name).size


# ---------------------------------------------------------------------------------------------
# JSON values -> numpy, and exact comparisons
# ---------------------------------------------------------------------------------------------

FLOAT_DTYPES = {"float16", "bfloat16", "float32", "float64", "float8_e5m2", "float8_e4m3fn",
                "float8_e4m3fnuz", "float8_e4m3b11fnuz", "float8_e5m2fnuz", "float4_e2m1fn"}
COMPLEX_DTYPES = {"complex64": "float32", "complex128": "float64"}


def np_dtype(dtype_name):
    return np.dtype(tf.as_dtype(dtype_name).as_numpy_dtype)


def _leaves(values):
    if isinstance(values, list):
        for v in values:
            yield from _leaves(v)
    else:
        yield values


def _assert_float_array_equal(got, want, what):
    """Exact, NaN-aware, sign-of-zero-aware comparison of two float64 arrays."""
    assert got.shape == want.shape, "%s: shape %s vs %s" % (what, got.shape, want.shape)
    got_nan, want_nan = np.isnan(got), np.isnan(want)
    assert (got_nan == want_nan).all(), "%s: NaN positions differ\n%r\n%r" % (what, got, want)
    ok = ~want_nan
    bad = (got[ok] != want[ok]) | (np.signbit(got[ok]) != np.signbit(want[ok]))
    assert not bad.any(), "%s: values differ\ngot  %r\nwant %r" % (what, got, want)


def _float_leaves_ok(values, what):
    for v in _leaves(values):
        assert isinstance(v, float) or (isinstance(v, int) and not isinstance(v, bool)), (
            "%s: non-number leaf %r" % (what, v))


def _float_array(values, what):
    """Nested JSON numbers -> float64 array; values of no regular shape fail an assertion that
    names the tensor instead of numpy's ValueError."""
    try:
        return np.array(values, dtype=np.float64)
    except ValueError as exc:
        raise AssertionError("%s: values of no regular shape (%s): %r" % (
            what, exc, values)) from None


def _json_floats(values, dtype_name, want, what):
    """JSON floats -> array rounded to dtype_name (so shortest forms read back exactly)."""
    _float_leaves_ok(values, what)
    got = _float_array(values, what)
    return got.astype(np_dtype(dtype_name)).astype(np.float64)


def expected_string(b):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(b).decode("ascii")}


def _to_nested(value, fn):
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return fn(value.item())
        return [_to_nested(v, fn) for v in value]
    return fn(value)


def assert_values_match(entry, dtype_name, shape, want):
    """Checks one element of `tfckpt show --json` output against TF's numpy value."""
    what = entry.get("name")
    assert entry["dtype"] == dtype_name, "%s: dtype %r vs %r" % (what, entry["dtype"], dtype_name)
    assert entry["shape"] == list(shape), "%s: shape %r vs %r" % (what, entry["shape"], shape)
    values = entry["values"]
    if isinstance(want, bytes):  # TF returns a scalar string as bytes; keep trailing NULs
        want = np.array(want, dtype=object)
    want = np.asarray(want)
    assert list(want.shape) == list(shape)
    if want.size == 0:
        assert values == want.tolist(), "%s: %r vs %r" % (what, values, want.tolist())
        return
    if dtype_name in FLOAT_DTYPES:
        if want.ndim == 0:
            assert not isinstance(values, list), "%s: scalar must be a bare value" % what
        got = _json_floats(values, dtype_name, want, what)
        _assert_float_array_equal(got, want.astype(np.float64), what)
    elif dtype_name in COMPLEX_DTYPES:
        part = COMPLEX_DTYPES[dtype_name]
        for v in _leaves(values):
            assert isinstance(v, (int, float)) and not isinstance(v, bool), (what, v)
        pairs = _float_array(values, what)
        assert pairs.shape == want.shape + (2,), "%s: %s" % (what, pairs.shape)
        got = pairs.astype(np.dtype(part)).astype(np.float64)
        _assert_float_array_equal(got[..., 0], want.real.astype(np.float64), what + " (real)")
        _assert_float_array_equal(got[..., 1], want.imag.astype(np.float64), what + " (imag)")
    elif dtype_name == "bool":
        for v in _leaves(values):
            assert isinstance(v, bool), "%s: bool leaf %r" % (what, v)
        assert values == want.tolist(), "%s: %r vs %r" % (what, values, want.tolist())
    elif dtype_name == "string":
        expected = _to_nested(want, expected_string) if want.ndim else expected_string(want.item())
        assert values == expected, "%s: %r vs %r" % (what, values, expected)
    elif dtype_name == "variant":
        raise AssertionError("variant values are checked by their own tests")
    else:  # integers, quantized integers, int4/uint4/int2/uint2
        for v in _leaves(values):
            assert isinstance(v, int) and not isinstance(v, bool), "%s: int leaf %r" % (what, v)
        expected = want.astype(np.int64) if want.dtype.itemsize < 8 or want.dtype.kind not in "iu" \
            else want
        expected = _to_nested(expected, int)
        assert values == expected, "%s: %r vs %r" % (what, values, expected)


def assert_ls_matches_tf(listing, prefix, tf_values=None):
    """Checks `tfckpt ls --json` output against TF's maps and the bundle's index entries."""
    tf_values = tf_values if tf_values is not None else tf_read_all(prefix)
    names = [t["name"] for t in listing["tensors"]]
    assert len(names) == len(set(names)), "duplicate names: %r" % names
    assert set(names) == set(tf_values), "names differ: only ours %r, only TF %r" % (
        sorted(set(names) - set(tf_values)), sorted(set(tf_values) - set(names)))
    assert names == sorted(names, key=lambda n: n.encode("utf-8")), "not in byte-wise order"
    header, entries = index_reader.read_index(prefix + ".index")
    assert listing["num_shards"] == header.num_shards
    assert len(data_files(prefix)) == header.num_shards
    total_params = total_bytes = 0
    for t in listing["tensors"]:
        dtype_name, shape, _ = tf_values[t["name"]]
        assert t["dtype"] == dtype_name, t
        assert t["shape"] == shape, t
        entry = entries[t["name"].encode("utf-8")]
        if entry.slices:
            assert t["partitioned"] is True, t
            assert t["slices"] == len(entry.slices), t
        else:
            assert t["partitioned"] is False, t
            assert t["slices"] in (0, 1), t
        if dtype_name in ("string", "variant"):
            assert t["bytes"] == entry.size, t
        else:
            assert t["bytes"] == num_elements(shape) * element_size(dtype_name), t
        total_params += num_elements(shape)
        total_bytes += t["bytes"]
    assert listing["totals"] == {"tensors": len(names), "parameters": total_params,
                                 "bytes": total_bytes}


def assert_show_matches_tf(tfckpt, ckpt, prefix, names=None, tf_values=None):
    tf_values = tf_values if tf_values is not None else tf_read_all(prefix)
    names = sorted(n for n in (names or tf_values) if tf_values[n][0] != "variant")
    shown = tfckpt.json("show", ckpt, *names, "--json")["tensors"]
    assert isinstance(shown, list) and [e["name"] for e in shown] == names, shown
    for entry in shown:
        dtype_name, shape, value = tf_values[entry["name"]]
        assert_values_match(entry, dtype_name, shape, value)
    return shown


# ---------------------------------------------------------------------------------------------
# A bundle with every dtype
# ---------------------------------------------------------------------------------------------

def all_tf_dtype_names():
    """Every non-reference DType defined in tensorflow.python.framework.dtypes."""
    names = set()
    for attr in dir(tf_dtypes):
        obj = getattr(tf_dtypes, attr)
        if isinstance(obj, tf_dtypes.DType) and not obj._is_ref_dtype:
            names.add(obj.name)
    return sorted(names)


# Types with no data representation in a checkpoint: SaveV2 aborts the process on them.
NOT_STORABLE = {"resource"}

STRINGS = [b"", b"plain", "\u00e9\u00e8 \u4e2d\u6587 \U0001f600".encode(), b"\xff\xfe\x00\x80",
           b'quote" backslash\\ newline\n tab\t nul\x00 del\x7f', b"\xc3", b"x" * 300]


def dtype_values(name):
    """Test values (a numpy array, or a tf.Tensor for quantized types) for one dtype."""
    dt = tf.as_dtype(name)
    if name == "string":
        return np.array(STRINGS, dtype=object)
    if name == "bool":
        return np.array([True, False, False, True])
    if name in COMPLEX_DTYPES:
        part = np.dtype(COMPLEX_DTYPES[name])
        out = np.empty(7, np_dtype(name))
        out.real = [0.0, -0.0, 1.5, np.nan, np.inf, np.finfo(part).max, np.finfo(part).tiny]
        out.imag = [1.0, -2.5, -0.0, 0.0, np.nan, -np.inf, 1 / 3]
        return out
    if name in FLOAT_DTYPES:
        ndt = np_dtype(name)
        info = ml_dtypes.finfo(ndt)
        base = [0.0, -0.0, 1.0, -1.5, 0.1, 1 / 3, float(info.max), -float(info.max),
                float(info.smallest_subnormal), float(info.tiny), 2.0, 0.5, -6.0, 3.0]
        # float8 "fn"/"fnuz" and float4 have no infinities (and some no NaN); the cast decides.
        with np.errstate(all="ignore"):
            return np.array(base + [np.nan, np.inf, -np.inf], np.float64).astype(ndt)
    if dt.is_quantized:
        base_np = {"qint8": np.int8, "quint8": np.uint8, "qint16": np.int16,
                   "quint16": np.uint16, "qint32": np.int32}[name]
        info = np.iinfo(base_np)
        return np.array([info.min, info.max, 0, 1, 42], base_np)
    if name in ("int4", "uint4", "int2", "uint2"):
        info = ml_dtypes.iinfo(np_dtype(name))
        return np.arange(int(info.min), int(info.max) + 1).astype(np_dtype(name))
    info = np.iinfo(np_dtype(name))
    return np.array([info.min, info.max, 0, 1, -1 if info.min < 0 else 2, 1234 % info.max],
                    np_dtype(name))


def _tensor(name, value):
    return tf.constant(value, dtype=tf.as_dtype(name))


def dtype_tensors(name):
    """(tensor name, tensor) pairs of one dtype: a vector, a 2-D matrix, a scalar and [0,3]."""
    vec = dtype_values(name)
    n = (len(vec) // 2) * 2
    mat = vec[:n].reshape(2, n // 2)
    empty = vec[:0].reshape(0, 3)
    return [("dt/%s/vector" % name, _tensor(name, vec)),
            ("dt/%s/matrix" % name, _tensor(name, mat)),
            ("dt/%s/scalar" % name, _tensor(name, vec[2])),
            ("dt/%s/empty" % name, _tensor(name, empty))]


def save_all_dtypes(prefix):
    """SaveV2s every storable dtype into `prefix`; returns (prefix, saved names, failures)."""
    names, tensors, failures = [], [], {}
    probe_dir = prefix + "_probe"
    os.makedirs(probe_dir, exist_ok=True)
    for dtype_name in all_tf_dtype_names():
        if dtype_name in NOT_STORABLE or dtype_name == "variant":
            continue
        try:
            pairs = dtype_tensors(dtype_name)
            # Save alone first, so one unsupported dtype does not break the shared bundle.
            tf.raw_ops.SaveV2(prefix=os.path.join(probe_dir, dtype_name),
                              tensor_names=[p[0] for p in pairs],
                              shape_and_slices=[""] * len(pairs), tensors=[p[1] for p in pairs])
        except Exception as exc:  # noqa: BLE001 - recorded and reported by the tests
            failures[dtype_name] = "%s: %s" % (type(exc).__name__, exc)
            continue
        for tname, t in pairs:
            names.append(tname)
            tensors.append(t)
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=tensors)
    return prefix, names, failures


def variant_lists():
    l1 = tf.raw_ops.TensorListFromTensor(tensor=tf.constant([1.0, 2.0, 3.0]),
                                         element_shape=tf.constant([], tf.int32))
    l2 = tf.raw_ops.TensorListFromTensor(tensor=tf.constant([[1, 2], [3, 4]], tf.int32),
                                         element_shape=tf.constant([2], tf.int32))
    l3 = tf.raw_ops.TensorListFromTensor(tensor=tf.constant([b"s", b""]),
                                         element_shape=tf.constant([], tf.int32))
    return {"list": l1, "lists": tf.stack([l2, l3])}


def variant_elements_from_file(prefix, name):
    """The per-element serialized bytes of a variant tensor, parsed from the data file."""
    header, entries = index_reader.read_index(prefix + ".index")
    entry = entries[name.encode()]
    path = "%s.data-%05d-of-%05d" % (prefix, entry.shard_id, header.num_shards)
    with open(path, "rb") as f:
        f.seek(entry.offset)
        raw = f.read(entry.size)
    n = num_elements([d.size for d in entry.shape.dim])
    out, pos = [], 0
    for _ in range(n):
        length, pos = index_reader.varint(raw, pos)
        out.append(raw[pos:pos + length])
        pos += length + 4  # element bytes, then a 4-byte masked checksum
    assert pos == len(raw)
    return out


def write_spec(path, tensors, max_shard_bytes=None):
    """Writes a bundle_tool SPEC file for [(name, dtype name, numpy array)]."""
    spec = {"tensors": []}
    for name, dtype_name, value in tensors:
        value = np.asarray(value)
        item = {"name": name, "dtype": dtype_name, "shape": list(value.shape)}
        if dtype_name == "string":
            item["strings_b64"] = [base64.b64encode(s).decode("ascii")
                                   for s in value.reshape(-1).tolist()]
        else:
            item["data_b64"] = base64.b64encode(np.ascontiguousarray(value).tobytes()).decode()
        spec["tensors"].append(item)
    if max_shard_bytes is not None:
        spec["max_shard_bytes"] = max_shard_bytes
    with open(path, "w") as f:
        json.dump(spec, f)
    return path


def data_file_order(prefix):
    """Tensor names (non-slice keys, plus slice keys) in the order their bytes appear in the
    data files: (shard, offset), zero-size tensors before a tensor at the same offset."""
    _, entries = index_reader.read_index(prefix + ".index")
    stored = [(e.shard_id, e.offset, e.size > 0, k) for k, e in entries.items() if not e.slices]
    return [k for *_, k in sorted(stored)]


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


# ---------------------------------------------------------------------------------------------
# Comparing bundles
# ---------------------------------------------------------------------------------------------

def as_array(value):
    if isinstance(value, bytes):
        return np.array(value, dtype=object)
    return np.asarray(value)


def spec_from_tf(prefix, names, path, max_shard_bytes=None):
    values = tf_read_all(prefix)
    tensors = []
    for name in names:
        dtype_name, shape, value = values[name]
        value = as_array(value)
        assert list(value.shape) == shape
        tensors.append((name, dtype_name, value))
    return write_spec(path, tensors, max_shard_bytes)


def bundle_files(prefix):
    return [prefix + ".index"] + data_files(prefix)


def assert_same_bundle_bytes(a, b):
    fa, fb = bundle_files(a), bundle_files(b)
    assert [os.path.basename(f)[len(os.path.basename(a)):] for f in fa] == \
           [os.path.basename(f)[len(os.path.basename(b)):] for f in fb]
    for x, y in zip(fa, fb):
        bx, by = file_bytes(x), file_bytes(y)
        if bx != by:
            first = next((i for i, (p, q) in enumerate(zip(bx, by)) if p != q),
                         min(len(bx), len(by)))
            raise AssertionError("%s and %s differ (sizes %d vs %d, first difference at byte %d)"
                                 % (x, y, len(bx), len(by), first))


def assert_same_values(prefix_a, prefix_b):
    va, vb = tf_read_all(prefix_a), tf_read_all(prefix_b)
    assert sorted(va) == sorted(vb)
    for name in va:
        assert va[name][:2] == vb[name][:2], name
        if va[name][0] == "variant":
            continue
        a, b = as_array(va[name][2]), as_array(vb[name][2])
        if a.dtype == object:
            assert a.tolist() == b.tolist(), name
        else:
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name  # bit-exact, NaNs too
