"""Values and helpers shared by the Python package tests (tests/pypkg).

What the committed examples hold (examples/make_examples.py), exact comparisons, the command
line's JSON decoded to numpy, and error checks.
"""

import base64
import json
import os
import pathlib
import re
import shutil
import struct

import numpy as np
import pytest

import tfckpt

try:
    import ml_dtypes
except ImportError:  # bfloat16 / float8 round trips are skipped without it
    ml_dtypes = None

needs_ml_dtypes = pytest.mark.skipif(ml_dtypes is None, reason="ml_dtypes is not installed")

# ---------------------------------------------------------------------------------------------
# What the committed examples hold (examples/make_examples.py)
# ---------------------------------------------------------------------------------------------

EXAMPLES_A = pathlib.Path(__file__).resolve().parents[2] / "examples" / "models" / "a" / "model-a"

MIXED_DTYPES = {
    "brain": ("bfloat16", (4,)),
    "emb": ("float32", (10, 4)),
    "empty": ("float32", (0, 3)),
    "flags": ("bool", (3,)),
    "global_step": ("int64", ()),
    "half": ("float16", (3,)),
    "matrix": ("float32", (2, 3)),
    "scalar": ("float64", ()),
    "words": ("string", (3,)),
}

MIXED_VALUES = {  # bfloat16 "brain" is checked on its own
    "emb": np.arange(40, dtype=np.float32).reshape(10, 4) / np.float32(4.0),
    "empty": np.zeros((0, 3), np.float32),
    "flags": np.array([True, False, True]),
    "global_step": np.array(42, np.int64),
    "half": np.array([1.5, -2.0, 65504.0], np.float16),
    "matrix": (np.arange(6, dtype=np.float32).reshape(2, 3) * np.float32(0.25)
               - np.float32(0.5)),
    "scalar": np.array(-7.0, np.float64),
    "words": np.array([b"alpha", b"", "\u00e9t\u00e9".encode()], dtype=object),
}
BRAIN = [1.0, -0.5, 3.25, 256.0]

TF2_NAMES = [
    "_CHECKPOINTABLE_OBJECT_GRAPH",
    "model/bias/.ATTRIBUTES/VARIABLE_VALUE",
    "model/bias/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE",
    "model/bias/.OPTIMIZER_SLOT/optimizer/v/.ATTRIBUTES/VARIABLE_VALUE",
    "model/kernel/.ATTRIBUTES/VARIABLE_VALUE",
    "model/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE",
    "model/kernel/.OPTIMIZER_SLOT/optimizer/v/.ATTRIBUTES/VARIABLE_VALUE",
    "optimizer/beta1_power/.ATTRIBUTES/VARIABLE_VALUE",
    "optimizer/beta2_power/.ATTRIBUTES/VARIABLE_VALUE",
    "save_counter/.ATTRIBUTES/VARIABLE_VALUE",
]
TF2_WEIGHTS = ["model/bias/.ATTRIBUTES/VARIABLE_VALUE", "model/kernel/.ATTRIBUTES/VARIABLE_VALUE"]
TF2_KEPT = ["_CHECKPOINTABLE_OBJECT_GRAPH"] + TF2_WEIGHTS + [
    "save_counter/.ATTRIBUTES/VARIABLE_VALUE"]
BIAS, KERNEL = TF2_WEIGHTS
COUNTER = "save_counter/.ATTRIBUTES/VARIABLE_VALUE"


def bert_like_values():
    """examples/bert_like/model.ckpt-1000, recomputed with numpy's generator as it was made."""
    rng = np.random.default_rng(1000)
    hidden, vocab, layers = 8, 32, 2
    shapes = {"bert/embeddings/word_embeddings": [vocab, hidden],
              "bert/embeddings/position_embeddings": [16, hidden],
              "bert/embeddings/LayerNorm/gamma": [hidden],
              "bert/embeddings/LayerNorm/beta": [hidden]}
    for i in range(layers):
        p = "bert/encoder/layer_%d/" % i
        for w in ("attention/self/query", "attention/self/key", "attention/self/value",
                  "attention/output/dense"):
            shapes[p + w + "/kernel"] = [hidden, hidden]
            shapes[p + w + "/bias"] = [hidden]
        shapes[p + "intermediate/dense/kernel"] = [hidden, 4 * hidden]
        shapes[p + "intermediate/dense/bias"] = [4 * hidden]
        shapes[p + "output/dense/kernel"] = [4 * hidden, hidden]
        shapes[p + "output/dense/bias"] = [hidden]
    out = {}
    for name, shape in sorted(shapes.items()):
        for suffix in ("", "/adam_m", "/adam_v"):
            out[name + suffix] = rng.standard_normal(shape).astype(np.float32) * np.float32(0.02)
    out["global_step"] = np.array(1000, np.int64)
    return out


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def byte_order(names):
    return sorted(names, key=lambda n: n.encode("utf-8"))


def assert_same(got, want, what=""):
    """Exact equality: dtype, shape and bits (NaN- and signed-zero-aware); bytes for strings."""
    want = np.asarray(want)
    assert isinstance(got, np.ndarray), "%s: %r is not an ndarray" % (what, type(got))
    assert got.shape == want.shape, "%s: shape %s vs %s" % (what, got.shape, want.shape)
    if want.dtype == object:
        assert got.dtype == object, "%s: dtype %s" % (what, got.dtype)
        assert got.tolist() == want.tolist(), "%s:\ngot  %r\nwant %r" % (what, got, want)
        return
    assert got.dtype == want.dtype, "%s: dtype %s vs %s" % (what, got.dtype, want.dtype)
    assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(want).tobytes(), (
        "%s:\ngot  %r\nwant %r" % (what, got, want))


def bundle_files(prefix):
    prefix = str(prefix)
    d, base = os.path.split(prefix)
    pat = re.compile(re.escape(base) + r"\.(index|data-\d{5}-of-\d{5})$")
    return sorted(os.path.join(d, f) for f in os.listdir(d) if pat.match(f))


def all_files(root):
    out = []
    for base, _, files in os.walk(root):
        out += [os.path.relpath(os.path.join(base, f), root) for f in files]
    return sorted(out)


def copy_bundle(prefix, directory, name=None):
    os.makedirs(directory, exist_ok=True)
    prefix = str(prefix)
    new = os.path.join(str(directory), name or os.path.basename(prefix))
    for f in bundle_files(prefix):
        shutil.copy2(f, new + f[len(prefix):])
    return new


def _leaves(values):
    if isinstance(values, list):
        for v in values:
            yield from _leaves(v)
    else:
        yield values


def _nested_shape(values):
    """The shape of a nested JSON list, or None when it is ragged."""
    if not isinstance(values, list):
        return ()
    shapes = {_nested_shape(v) for v in values}
    if None in shapes or len(shapes) > 1:
        return None
    return (len(values),) + (shapes.pop() if shapes else ())


def cli_value(entry):
    """One `tfckpt show --json` entry -> numpy array of the entry's dtype (strings: bytes).

    Whatever does not fit (a missing key, a dtype numpy cannot hold here, a leaf of the wrong
    type, values of another shape) fails an assertion that names the tensor, never a bare
    ValueError or TypeError from numpy."""
    assert isinstance(entry, dict) and {"name", "dtype", "shape", "values"} <= set(entry), (
        "not a `tfckpt show --json` entry: %r" % (entry,))
    what = "tensor %r (%s %s) as `tfckpt show --json` printed it" % (
        entry["name"], entry["dtype"], entry["shape"])
    dtype, shape, values = entry["dtype"], tuple(entry["shape"]), entry["values"]
    want_shape = shape + (2,) if dtype in ("complex64", "complex128") else shape
    got_shape = _nested_shape(values)
    assert got_shape == want_shape or (got_shape == (0,) and 0 in shape), (
        "%s: its values have shape %s, not %s: %r" % (what, got_shape, want_shape, values))
    leaves = list(_leaves(values))
    if dtype in ("string", "variant"):
        def dec(v):
            if isinstance(v, dict):
                assert set(v) == {"base64"}, "%s: element %r" % (what, v)
                return base64.b64decode(v["base64"], validate=True)
            assert isinstance(v, str), "%s: element %r is no string" % (what, v)
            return v.encode("utf-8")

        arr = np.empty(len(leaves), dtype=object)
        for i, v in enumerate(leaves):
            arr[i] = dec(v)
        return arr.reshape(shape)
    if dtype == "bool":
        assert all(isinstance(v, bool) for v in leaves), "%s: non-bool %r" % (what, values)
        return np.array(leaves, dtype=bool).reshape(shape)
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in leaves)
    assert numbers, "%s: non-number values %r" % (what, values)
    if dtype in ("complex64", "complex128"):
        pairs = np.array(leaves, np.float64).reshape(shape + (2,))
        out = np.empty(shape, np.complex128)  # not re + 1j * im: 1j * inf has a NaN real part
        out.real, out.imag = pairs[..., 0], pairs[..., 1]
        return out.astype(dtype)
    np_dtype = numpy_dtype(dtype)
    assert np_dtype is not None, "%s: numpy has no dtype %r here%s" % (
        what, dtype, "" if ml_dtypes is not None else " (ml_dtypes is not installed)")
    if np_dtype.kind in "iu":
        assert all(isinstance(v, int) for v in leaves), "%s: non-integer %r" % (what, values)
        info = np.iinfo(np_dtype)
        bad = [v for v in leaves if not info.min <= v <= info.max]
        assert not bad, "%s: %r out of the range of %s" % (what, bad, dtype)
        return np.array(leaves, dtype=object).astype(np_dtype).reshape(shape)
    return np.array(leaves, np.float64).astype(np_dtype).reshape(shape)


def numpy_dtype(name):
    try:
        return np.dtype(name)
    except TypeError:
        if ml_dtypes is not None and hasattr(ml_dtypes, name):
            return np.dtype(getattr(ml_dtypes, name))
        return None


def cli_show(cli, ckpt, names):
    shown = cli.json("show", ckpt, *names, "--json")["tensors"]
    return {e["name"]: e for e in shown}


def mapped_file_of(arr):
    """The file /proc/self/maps says holds arr's first byte, or None (anonymous memory)."""
    addr = arr.__array_interface__["data"][0]
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split(None, 5)
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if lo <= addr < hi:
                path = parts[5].strip() if len(parts) > 5 else ""
                return path or None
    return None


def read_safetensors(path):
    """{name: ndarray} of a .safetensors file, parsed from the format's definition."""
    names = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "I8": np.int8,
             "I16": np.int16, "I32": np.int32, "I64": np.int64, "U8": np.uint8,
             "U16": np.uint16, "U32": np.uint32, "U64": np.uint64, "BOOL": np.bool_,
             "C64": np.complex64}
    if ml_dtypes is not None:
        names.update({"BF16": ml_dtypes.bfloat16, "F8_E5M2": ml_dtypes.float8_e5m2,
                      "F8_E4M3": ml_dtypes.float8_e4m3fn})
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    body = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        if info["dtype"] not in names:  # e.g. BF16 without ml_dtypes
            continue
        out[name] = np.frombuffer(body[b:e], dtype=names[info["dtype"]]).reshape(info["shape"])
    return out, header.get("__metadata__")


def raises_error(fn, *needles):
    """fn() must raise tfckpt.Error whose message contains every needle; returns the message."""
    with pytest.raises(tfckpt.Error) as info:
        fn()
    message = str(info.value)
    for n in needles:
        assert n in message, "%r not in the error message: %s" % (n, message)
    return message


def bad_option(fn, value):
    """An invalid option value: tfckpt.InvalidArgumentError (also a ValueError) naming the
    option."""
    with pytest.raises(tfckpt.Error) as info:
        fn()
    assert type(info.value) is tfckpt.InvalidArgumentError, repr(info.value)
    assert isinstance(info.value, ValueError)
    assert value in str(info.value), str(info.value)


def values_of(prefix):
    c = tfckpt.open(prefix)
    return {n: c[n].tolist() for n in c.names()}
