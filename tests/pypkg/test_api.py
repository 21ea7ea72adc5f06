"""The tfckpt Python package, without TensorFlow.

Expected values come from what examples/make_examples.py wrote (recomputed here with numpy where
it used numpy's random generator), from checkpoints written by tfckpt.save itself, and, when the
command line is available, from `tfckpt ls/show/verify ... --json` as a cross-check.
"""

import base64
import gc
import json
import os
import pathlib
import re
import shutil
import struct
import textwrap

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


def cli_value(entry):
    """One `tfckpt show --json` entry -> numpy array of the entry's dtype (strings: bytes)."""
    dtype, shape, values = entry["dtype"], tuple(entry["shape"]), entry["values"]
    if dtype == "string" or dtype == "variant":
        def dec(v):
            if isinstance(v, dict):
                return base64.b64decode(v["base64"])
            return v.encode("utf-8")

        if not shape:
            arr = np.empty((), dtype=object)
            arr[()] = dec(values)
            return arr
        flat = np.array(values, dtype=object).reshape(-1).tolist()
        arr = np.empty(len(flat), dtype=object)
        for i, v in enumerate(flat):
            arr[i] = dec(v)
        return arr.reshape(shape)
    if dtype in ("complex64", "complex128"):
        pairs = np.array(values, np.float64).reshape(shape + (2,))
        out = np.empty(shape, np.complex128)  # not re + 1j * im: 1j * inf has a NaN real part
        out.real, out.imag = pairs[..., 0], pairs[..., 1]
        return out.astype(dtype)
    if dtype == "bool":
        return np.array(values, dtype=bool).reshape(shape)
    np_dtype = numpy_dtype(dtype)
    if np_dtype is None:
        return None
    if np_dtype.kind in "iu":
        return np.array(values, dtype=object).astype(np_dtype).reshape(shape)
    return np.array(values, np.float64).astype(np_dtype).reshape(shape)


def numpy_dtype(name):
    try:
        return np.dtype(name)
    except TypeError:
        if ml_dtypes is not None and hasattr(ml_dtypes, name):
            return np.dtype(getattr(ml_dtypes, name))
        return None


def cli_show(cli, ckpt, names):
    shown = cli.json("show", ckpt, *names, "--json")
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
    """An invalid option value: tfckpt.Error (or ValueError) naming the option."""
    with pytest.raises((tfckpt.Error, ValueError)) as info:
        fn()
    assert value in str(info.value), str(info.value)


# ---------------------------------------------------------------------------------------------
# The module
# ---------------------------------------------------------------------------------------------

def test_module_surface():
    assert isinstance(tfckpt.__version__, str) and re.match(r"^\d+\.\d+", tfckpt.__version__)
    assert issubclass(tfckpt.Error, Exception)
    for fn in ("open", "save", "Writer", "merge", "transfer", "edit", "average", "apply",
               "convert", "init_from_checkpoint"):
        assert callable(getattr(tfckpt, fn)), fn


def test_version_matches_cli(cli):
    out = cli.run("--version").out.strip()
    assert out.split()[-1] == tfckpt.__version__, (out, tfckpt.__version__)


# ---------------------------------------------------------------------------------------------
# open: path forms, listing
# ---------------------------------------------------------------------------------------------

def _same_path(a, b):
    return os.path.realpath(str(a)) == os.path.realpath(str(b))


PATH_FORMS = {
    # form -> (argument relative to examples/, step, the prefix it must resolve to)
    "prefix": ("models/a/model-a", None, "models/a/model-a"),
    "index": ("models/a/model-a.index", None, "models/a/model-a"),
    "data": ("models/a/model-a.data-00000-of-00001", None, "models/a/model-a"),
    "dir_latest": ("tf2", None, "tf2/ckpt-2"),
    "dir_slash": ("tf2/", None, "tf2/ckpt-2"),
    "dir_at_step": ("tf2@1", None, "tf2/ckpt-1"),
    "dir_step_kw": ("tf2", 1, "tf2/ckpt-1"),
    "dir_step_kw_latest": ("tf2", 2, "tf2/ckpt-2"),
    "saved_model": ("saved_model", None, "saved_model/variables/variables"),
    "tf1_dir": ("models/b", None, "models/b/model-b"),
    "bert_prefix": ("bert_like/model.ckpt-1000", None, "bert_like/model.ckpt-1000"),
}


@pytest.mark.parametrize("form", sorted(PATH_FORMS))
def test_open_path_forms(examples, form):
    arg, step, want = PATH_FORMS[form]
    c = tfckpt.open(str(examples / arg), step=step)
    assert _same_path(c.prefix, examples / want), (c.prefix, want)
    assert c.num_shards == 1
    assert len(c) == len(c.names()) > 0


def test_open_accepts_pathlike(examples):
    c = tfckpt.open(examples / "models" / "a" / "model-a")
    assert _same_path(c.prefix, examples / "models/a/model-a")


def test_open_positional_step(examples):
    c = tfckpt.open(str(examples / "tf2"), 1)
    assert _same_path(c.prefix, examples / "tf2/ckpt-1")


@pytest.mark.parametrize("arg", ["models/a/model-a", "tf2", "tf2@1", "saved_model", "mixed"])
def test_prefix_like_cli(cli, examples, arg):
    path = str(examples / arg)
    assert tfckpt.open(path).prefix == cli.json("ls", path, "--json")["prefix"]


def test_open_errors(examples, tmp_path):
    missing = str(tmp_path / "nothing" / "here")
    raises_error(lambda: tfckpt.open(missing), missing)
    raises_error(lambda: tfckpt.open(str(examples / "tf2"), step=7), "7")
    raises_error(lambda: tfckpt.open(str(examples / "tf2@7")), "7")
    (tmp_path / "bad.index").write_bytes(b"not a table at all")
    raises_error(lambda: tfckpt.open(str(tmp_path / "bad")), "bad")


def test_open_error_message_same_as_cli(cli, tmp_path):
    missing = str(tmp_path / "nothing" / "here")
    proc = cli.run("ls", missing, expect_rc=2)
    msg = raises_error(lambda: tfckpt.open(missing))
    cli_msg = proc.err.strip()
    cli_msg = cli_msg[len("tfckpt: error: "):] if cli_msg.startswith("tfckpt: error: ") else cli_msg
    assert msg.strip() == cli_msg, (msg, cli_msg)


def test_mixed_listing(examples):
    c = tfckpt.open(str(examples / "mixed" / "mixed"))
    assert c.names() == list(MIXED_DTYPES)  # key (byte-wise) order, emb listed once
    assert list(c) == c.names()
    assert len(c) == 9
    for name, (dtype, shape) in MIXED_DTYPES.items():
        assert name in c
        assert c.dtype(name) == dtype, name
        assert c.shape(name) == shape, name
        assert isinstance(c.shape(name), tuple)
        assert all(type(d) is int for d in c.shape(name))
    for absent in ("emb/part_0", "nope", "", "matrix/"):
        assert absent not in c


@pytest.mark.parametrize("arg", ["mixed/mixed", "tf2", "tf2@1", "saved_model", "models/ab",
                                 "bert_like"])
def test_listing_like_cli(cli, examples, arg):
    path = str(examples / arg)
    listing = cli.json("ls", path, "--json")
    c = tfckpt.open(path)
    assert c.names() == [t["name"] for t in listing["tensors"]]
    assert c.num_shards == listing["num_shards"]
    for t in listing["tensors"]:
        assert c.dtype(t["name"]) == t["dtype"], t
        assert c.shape(t["name"]) == tuple(t["shape"]), t


def test_listing_known_examples(examples):
    assert tfckpt.open(str(examples / "tf2")).names() == TF2_NAMES
    bert = bert_like_values()
    c = tfckpt.open(str(examples / "bert_like"))
    assert c.names() == byte_order(bert)
    assert tfckpt.open(str(examples / "saved_model")).names() == [
        "_CHECKPOINTABLE_OBJECT_GRAPH", "offset/.ATTRIBUTES/VARIABLE_VALUE",
        "scale/.ATTRIBUTES/VARIABLE_VALUE"]
    assert tfckpt.open(str(examples / "models/ab/model-ab")).names() == ["a", "b"]


def test_unknown_name_errors(examples):
    c = tfckpt.open(str(examples / "mixed" / "mixed"))
    for fn in (lambda: c.dtype("nope_x"), lambda: c.shape("nope_x"), lambda: c.read("nope_x"),
               lambda: c.read("nope_x", raw=True)):
        raises_error(fn, "nope_x")
    with pytest.raises((tfckpt.Error, KeyError)) as info:
        c["nope_x"]
    assert "nope_x" in str(info.value)


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------

def test_classic_values(examples):
    for arg, want in [("models/a/model-a", {"a": 3.0}), ("models/b/model-b", {"b": 4.0}),
                      ("models/ab/model-ab", {"a": 1.0, "b": 1.0})]:
        c = tfckpt.open(str(examples / arg))
        assert c.names() == sorted(want)
        for name, value in want.items():
            assert c.dtype(name) == "float32" and c.shape(name) == ()
            assert_same(c[name], np.array(value, np.float32), name)


def test_mixed_values(examples):
    c = tfckpt.open(str(examples / "mixed" / "mixed"))
    for name, want in MIXED_VALUES.items():
        assert_same(c[name], want, name)
        assert_same(c.read(name), want, name)
        assert_same(c.read(name, raw=False), want, name)
    words = c["words"]
    assert all(type(w) is bytes for w in words.tolist())


def test_bert_like_values(examples):
    want = bert_like_values()
    c = tfckpt.open(str(examples / "bert_like" / "model.ckpt-1000"))
    got = c.to_dict()
    assert sorted(got) == sorted(want)
    for name, value in want.items():
        assert_same(got[name], value, name)


def test_saved_model_and_tf2_values(examples):
    sm = tfckpt.open(str(examples / "saved_model"))
    assert_same(sm["scale/.ATTRIBUTES/VARIABLE_VALUE"], np.array(0.5, np.float32))
    assert_same(sm["offset/.ATTRIBUTES/VARIABLE_VALUE"], np.array([2.0, 3.0], np.float32))
    graph = sm["_CHECKPOINTABLE_OBJECT_GRAPH"]
    assert graph.dtype == object and graph.shape == () and type(graph[()]) is bytes
    # `tfckpt ls` says 247 bytes: the stored entry, with its length varint (2) and CRC (4)
    assert len(graph[()]) == 241
    s1, s2 = tfckpt.open(str(examples / "tf2@1")), tfckpt.open(str(examples / "tf2"))
    # make_examples.py: ckpt-2 is ckpt-1 with 1 added to the bias, nothing else trained
    assert_same(s2[BIAS], s1[BIAS] + np.float32(1.0))
    assert_same(s2[KERNEL], s1[KERNEL])
    assert_same(s1[COUNTER], np.array(1, np.int64))
    assert_same(s2[COUNTER], np.array(2, np.int64))


@pytest.mark.parametrize("arg", ["mixed/mixed", "tf2", "tf2@1", "saved_model", "models/ab",
                                 "models/a", "models/b", "bert_like"])
def test_values_like_cli_show(cli, examples, arg):
    path = str(examples / arg)
    c = tfckpt.open(path)
    shown = cli_show(cli, path, c.names())
    for name in c.names():
        want = cli_value(shown[name])
        if c.dtype(name) == "bfloat16" and ml_dtypes is None:
            continue
        assert_same(c[name], want, name)


@needs_ml_dtypes
def test_bfloat16_with_ml_dtypes(examples):
    c = tfckpt.open(str(examples / "mixed" / "mixed"))
    brain = c["brain"]
    assert brain.dtype == np.dtype(ml_dtypes.bfloat16)
    assert brain.astype(np.float64).tolist() == BRAIN
    assert brain.flags.writeable is False and not brain.flags.owndata
    raw = c.read("brain", raw=True)
    assert raw.dtype == np.uint8 and raw.shape == (4, 2)
    assert raw.tobytes() == np.array(BRAIN, np.float32).astype(ml_dtypes.bfloat16).tobytes()


def test_raw_reads(examples):
    c = tfckpt.open(str(examples / "mixed" / "mixed"))
    for name in ("matrix", "half", "global_step", "flags", "scalar", "empty", "emb"):
        value, raw = c[name], c.read(name, raw=True)
        assert raw.dtype == np.uint8, name
        assert raw.shape == value.shape + (value.dtype.itemsize,), (name, raw.shape)
        assert raw.tobytes() == np.ascontiguousarray(value).tobytes(), name
    raw = c.read("brain", raw=True)
    assert raw.shape == (4, 2)
    # bfloat16 is the upper half of float32: little-endian bytes 2..3
    assert raw.tobytes() == b"".join(np.float32(v).tobytes()[2:] for v in BRAIN)


def test_bfloat16_without_ml_dtypes(examples, run_python):
    code = textwrap.dedent("""
        import sys
        sys.modules["ml_dtypes"] = None  # any `import ml_dtypes` now raises ImportError
        import numpy as np
        import tfckpt
        c = tfckpt.open(sys.argv[1])
        try:
            c["brain"]
        except tfckpt.Error as e:
            print("ERROR:", e)
        else:
            print("NO ERROR")
        try:
            c.read("brain")
        except tfckpt.Error as e:
            print("ERROR2:", e)
        raw = c.read("brain", raw=True)
        print("RAW", raw.dtype, raw.shape, raw.tobytes().hex())
        print("HALF", c["half"].dtype, c["half"].tolist())
        print("DTYPE", c.dtype("brain"))
        """)
    proc = run_python(code, examples / "mixed" / "mixed")
    assert proc.returncode == 0, proc.err
    lines = proc.out.splitlines()
    err = [x for x in lines if x.startswith("ERROR:")]
    assert err, proc.out
    assert "ml_dtypes" in err[0] and "raw=True" in err[0], err[0]
    assert any(x.startswith("ERROR2:") for x in lines), proc.out
    want_hex = b"".join(np.float32(v).tobytes()[2:] for v in BRAIN).hex()
    assert "RAW uint8 (4, 2) " + want_hex in lines, proc.out
    assert "HALF float16 [1.5, -2.0, 65504.0]" in lines, proc.out
    assert "DTYPE bfloat16" in lines, proc.out


# ---------------------------------------------------------------------------------------------
# Zero copy
# ---------------------------------------------------------------------------------------------

def test_zero_copy_views(examples, cli_or_none):
    prefix = str(examples / "mixed" / "mixed")
    data_file = os.path.realpath(prefix + ".data-00000-of-00001")
    c = tfckpt.open(prefix)
    for name in ("matrix", "half", "global_step", "flags", "scalar"):
        arr = c[name]
        assert arr.flags.writeable is False, name
        assert not arr.flags.owndata, name
        assert arr.base is not None, name
        with pytest.raises(ValueError):
            arr[...] = 0
        # numpy must refuse to make it writeable (the mapping is the checkpoint file)
        with pytest.raises(ValueError):
            arr.setflags(write=True)
        if os.path.exists("/proc/self/maps"):
            mapped = mapped_file_of(arr)
            assert mapped is not None and os.path.realpath(mapped) == data_file, (name, mapped)
    if cli_or_none is not None:
        listing = cli_or_none.json("ls", prefix, "--json")
        with open(data_file, "rb") as f:
            data = f.read()
        for t in listing["tensors"]:
            if t["partitioned"] or t["dtype"] in ("string", "variant", "bfloat16"):
                continue
            arr = c[t["name"]]
            assert arr.nbytes == t["bytes"]
            assert arr.tobytes() == data[t["offset"]:t["offset"] + t["bytes"]], t["name"]


def test_partitioned_is_assembled(examples):
    c = tfckpt.open(str(examples / "mixed" / "mixed"))
    emb = c["emb"]
    assert emb.shape == (10, 4) and emb.dtype == np.float32
    assert_same(emb, MIXED_VALUES["emb"])
    assert emb.flags.c_contiguous


def test_values_survive_checkpoint_deletion(ex):
    prefix = str(ex / "mixed" / "mixed")
    c = tfckpt.open(prefix)
    views = {n: c[n] for n in ("matrix", "half", "global_step", "emb", "words", "empty")}
    del c
    gc.collect()
    for n, v in views.items():
        assert_same(v, MIXED_VALUES[n], n)
    # the mapping outlives the object and even the files' names
    for f in bundle_files(prefix):
        os.remove(f)
    gc.collect()
    for n, v in views.items():
        assert_same(v, MIXED_VALUES[n], n)
    assert float(views["matrix"].sum()) == float(MIXED_VALUES["matrix"].sum())


_VIEW_THEN_REPLACE = textwrap.dedent("""
    import sys
    import numpy as np
    import tfckpt
    prefix = sys.argv[1]
    c = tfckpt.open(prefix)
    view = c["matrix"]
    before = view.tolist()
    # the checkpoint is replaced (committed atomically) while a view on it is alive
    tfckpt.save(prefix, {"matrix": np.full((2, 3), 9.0, np.float32)}, overwrite=True)
    print("VIEW", view.tolist() == before)
    print("NEW", tfckpt.open(prefix)["matrix"].tolist())
    """)


def test_view_survives_overwrite_of_its_checkpoint(ex, run_python):
    proc = run_python(_VIEW_THEN_REPLACE, ex / "mixed" / "mixed")
    assert proc.returncode == 0, "rc %d (a negative rc is a signal, e.g. SIGBUS)\n%s" % (
        proc.returncode, proc.err[-2000:])
    assert "VIEW True" in proc.out, proc.out
    assert "NEW [[9.0, 9.0, 9.0], [9.0, 9.0, 9.0]]" in proc.out, proc.out


_TRUNCATED = textwrap.dedent("""
    import sys
    import tfckpt
    try:
        c = tfckpt.open(sys.argv[1])
        for name in ("matrix", "scalar", "words", "emb"):
            try:
                v = c[name]
                print("READ", name, float(v.sum()) if v.dtype != object else v.tolist())
            except tfckpt.Error as e:
                print("ERROR", name, e)
    except tfckpt.Error as e:
        print("OPEN ERROR", e)
    """)


def test_truncated_data_file_is_an_error_not_a_crash(ex, run_python):
    prefix = ex / "mixed" / "mixed"
    data = str(prefix) + ".data-00000-of-00001"
    with open(data, "r+b") as f:
        f.truncate(190)  # "matrix" is bytes 185..209, "scalar" 209..217, "words" 217..234
    proc = run_python(_TRUNCATED, prefix)
    assert proc.returncode == 0, "rc %d (a negative rc is a signal, e.g. SIGBUS)\n%s" % (
        proc.returncode, proc.err[-2000:])
    out = proc.out
    assert "OPEN ERROR" in out or all("ERROR %s" % n in out for n in ("matrix", "scalar",
                                                                      "words")), out
    assert "READ matrix" not in out and "READ scalar" not in out, out


def test_unicode_names(tmp_path):
    names = ["\u00fcber/kernel", "\u4e2d\u6587", "plain", "sp ace/x"]
    prefix = str(tmp_path / "u")
    tfckpt.save(prefix, {n: np.array([i], np.int32) for i, n in enumerate(names)})
    c = tfckpt.open(prefix)
    assert c.names() == byte_order(names)
    for i, n in enumerate(names):
        assert n in c
        assert_same(c[n], np.array([i], np.int32), n)


def test_many_views_then_close(examples):
    prefix = str(examples / "bert_like")
    want = bert_like_values()
    kept = []
    for _ in range(5):
        c = tfckpt.open(prefix)
        kept.append(c["bert/embeddings/word_embeddings"])
        del c
    gc.collect()
    for arr in kept:
        assert_same(arr, want["bert/embeddings/word_embeddings"])


def test_to_dict(examples):
    c = tfckpt.open(str(examples / "mixed" / "mixed"))
    if ml_dtypes is None:  # "brain" is bfloat16: the same error as c["brain"]
        raises_error(c.to_dict, "ml_dtypes")
        return
    d = c.to_dict()
    assert isinstance(d, dict) and list(d) == c.names()
    for name, want in MIXED_VALUES.items():
        assert_same(d[name], want, name)


# ---------------------------------------------------------------------------------------------
# verify
# ---------------------------------------------------------------------------------------------

def test_verify_ok(examples, cli_or_none):
    for arg in ("mixed/mixed", "tf2", "saved_model", "bert_like", "models/a/model-a"):
        path = str(examples / arg)
        r = tfckpt.open(path).verify()
        assert set(r) >= {"ok", "problems", "tensors_checked", "bytes_checked"}, r
        assert r["ok"] is True and r["problems"] == [], r
        assert r["tensors_checked"] >= len(tfckpt.open(path).names())
        if cli_or_none is not None:
            want = cli_or_none.json("verify", "--json", path)[0]
            assert (r["tensors_checked"], r["bytes_checked"]) == (
                want["tensors_checked"], want["bytes_checked"]), (r, want)
    r = tfckpt.open(str(examples / "mixed" / "mixed")).verify()
    assert r["bytes_checked"] == 234


def test_verify_finds_corruption(ex):
    prefix = str(ex / "mixed" / "mixed")
    data = prefix + ".data-00000-of-00001"
    raw = bytearray(open(data, "rb").read())
    raw[186] ^= 0xFF  # inside "matrix" (offset 185, 24 bytes)
    with open(data, "wb") as f:
        f.write(raw)
    r = tfckpt.open(prefix).verify()
    assert r["ok"] is False
    assert len(r["problems"]) == 1, r["problems"]
    p = r["problems"][0]
    assert set(p) == {"tensor", "file", "message"}, p
    assert p["tensor"] == "matrix"
    assert os.path.basename(p["file"]) == "mixed.data-00000-of-00001"
    assert "checksum" in p["message"]


def _flip_byte(path, offset):
    with open(path, "r+b") as f:  # in place: the same inode, as a mapping of it sees it
        f.seek(offset)
        b = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([b ^ 0x04]))


def _damaged_mixed(ex):
    """The mixed example with one bit flipped in "matrix" (bytes 185..209) and in the bytes of
    "words" (217..234: 3 lengths, their 4-byte checksum, then b"alpha" from 224)."""
    prefix = str(ex / "mixed" / "mixed")
    data = prefix + ".data-00000-of-00001"
    _flip_byte(data, 190)
    _flip_byte(data, 225)
    return prefix, data


def test_reads_check_crc_once(ex):
    prefix, data = _damaged_mixed(ex)
    c = tfckpt.open(prefix)  # the index only: opening checks no data
    assert c.names() == list(MIXED_DTYPES)
    reads = [(n, r) for n in ("matrix", "words")
             for r in (lambda n=n: c[n], lambda n=n: c.read(n), lambda n=n: c.read(n, raw=True))]
    if ml_dtypes is not None:
        reads.append(("matrix", c.to_dict))  # the first damaged tensor in name order
    else:  # "brain" (bfloat16) comes first in name order and needs ml_dtypes
        raises_error(c.to_dict, "ml_dtypes")
    for name, read in reads:
        with pytest.raises(tfckpt.DataLossError) as info:
            read()
        msg = str(info.value)
        assert isinstance(info.value, tfckpt.Error)
        assert "'%s'" % name in msg and "'%s'" % data in msg and "verify=False" in msg, msg
    for name in ("emb", "flags", "global_step", "half", "scalar", "empty"):
        assert_same(c[name], MIXED_VALUES[name], name)
    # the opt-out, per read or per checkpoint: the stored bytes
    for got in (c.read("matrix", verify=False), tfckpt.open(prefix, verify=False)["matrix"],
                tfckpt.open(prefix, verify=False).read("matrix")):
        assert got.shape == (2, 3) and not np.array_equal(got, MIXED_VALUES["matrix"])
        assert (got != MIXED_VALUES["matrix"]).sum() == 1
    assert tfckpt.open(prefix, verify=False)["words"].tolist() == [b"ahpha", b"",
                                                                   MIXED_VALUES["words"][2]]
    assert tfckpt.DataLossError.__module__ and "DataLossError" in tfckpt.__all__


def test_crc_check_is_cached_per_tensor_and_checkpoint(ex):
    prefix = str(ex / "mixed" / "mixed")
    data = prefix + ".data-00000-of-00001"
    c = tfckpt.open(prefix)
    first = c["matrix"]  # checked: the bytes match
    assert_same(first, MIXED_VALUES["matrix"])
    _flip_byte(data, 190)  # damaged behind the mapping's back, after the check
    # this Checkpoint checked "matrix" once and does not read it all again...
    again = c["matrix"]
    assert (again != MIXED_VALUES["matrix"]).sum() == 1
    assert c.read("matrix", verify=True).shape == (2, 3)
    # ...but checks each other tensor on its first read, and a new Checkpoint checks anew
    with pytest.raises(tfckpt.DataLossError):
        tfckpt.open(prefix)["matrix"]
    _flip_byte(data, 225)  # "words", not read yet
    with pytest.raises(tfckpt.DataLossError):
        c["words"]
    with pytest.raises(tfckpt.DataLossError):  # a failed check is not remembered as passed
        c["words"]
    c.read("words", verify=False)


def test_crc_checks_from_many_threads(ex):
    import concurrent.futures
    import random

    prefix, _ = _damaged_mixed(ex)
    names = [n for n in MIXED_DTYPES if n != "brain" or ml_dtypes is not None]

    def read_all(seed):
        c_names = list(names)
        random.Random(seed).shuffle(c_names)
        out = []
        for name in c_names:
            try:
                out.append((name, shared[name]))
            except tfckpt.DataLossError:
                out.append((name, "dataloss"))
        return out

    for _ in range(5):
        shared = tfckpt.open(prefix)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(read_all, range(32)))
        for result in results:
            for name, got in result:
                if name in ("matrix", "words"):
                    assert isinstance(got, str) and got == "dataloss", name
                elif name == "brain":
                    assert got.astype(np.float32).tolist() == BRAIN
                else:
                    assert_same(got, MIXED_VALUES[name], name)


# ---------------------------------------------------------------------------------------------
# save and Writer
# ---------------------------------------------------------------------------------------------

def _float_values(dtype):
    info = np.finfo(dtype)
    return np.array([0.0, -0.0, 1.5, -2.25, float(info.max), float(info.tiny), np.nan, np.inf,
                     -np.inf, 1 / 3], np.float64).astype(dtype)


def round_trip_values():
    v = {}
    for dt in (np.float16, np.float32, np.float64):
        v["f/" + np.dtype(dt).name] = _float_values(dt).reshape(2, 5)
    for dt in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64):
        info = np.iinfo(dt)
        v["i/" + np.dtype(dt).name] = np.array([info.min, info.max, 0, 1, 7, info.max - 1], dt)
    v["bool"] = np.array([[True, False], [False, True]])
    for dt in (np.complex64, np.complex128):
        c = np.empty(4, dt)
        c.real = [0.0, -0.0, np.nan, 1.5]
        c.imag = [1.0, np.inf, -2.5, -0.0]
        v["c/" + np.dtype(dt).name] = c
    v["scalar/f32"] = np.array(2.5, np.float32)
    v["scalar/i64"] = np.array(-(2 ** 63), np.int64)
    v["scalar/bool"] = np.array(True)
    v["empty/f32"] = np.zeros((0, 3), np.float32)
    v["empty/i8"] = np.zeros((2, 0), np.int8)
    v["3d"] = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    return v


STRING_CASES = {
    # name -> (input array, the bytes read back)
    "s/bytes_S": (np.array([b"ab", b"", b"xyz"]), [b"ab", b"", b"xyz"]),
    "s/object_bytes": (np.array([b"nul\x00end", b"\xff\xfe", b"", b"x" * 300], dtype=object),
                       [b"nul\x00end", b"\xff\xfe", b"", b"x" * 300]),
    "s/unicode_U": (np.array(["h\u00e9llo", "", "\u4e2d\U0001f600"]),
                    ["h\u00e9llo".encode(), b"", "\u4e2d\U0001f600".encode()]),
    "s/object_str": (np.array(["\u00fcber", "a"], dtype=object), ["\u00fcber".encode(), b"a"]),
    "s/matrix": (np.array([[b"a", b"bb"], [b"", b"dddd"]], dtype=object),
                 [[b"a", b"bb"], [b"", b"dddd"]]),
    "s/scalar": (np.array(b"only one", dtype=object), b"only one"),
    "s/empty": (np.zeros((0,), dtype=object), []),
}


def _check_round_trip(prefix, values):
    c = tfckpt.open(prefix)
    assert c.names() == byte_order(values)
    for name, want in values.items():
        assert c.dtype(name) == want.dtype.name, name
        assert c.shape(name) == want.shape, name
        assert_same(c[name], want, name)


def test_save_round_trip_numeric(tmp_path, cli_or_none):
    values = round_trip_values()
    prefix = str(tmp_path / "rt" / "model")
    os.makedirs(os.path.dirname(prefix))
    ret = tfckpt.save(prefix, values)
    assert ret is None or isinstance(ret, (dict, str))
    _check_round_trip(prefix, values)
    assert tfckpt.open(prefix).verify()["ok"] is True
    if cli_or_none is not None:
        cli_or_none.run("verify", prefix)
        shown = cli_show(cli_or_none, prefix, list(values))
        for name, want in values.items():
            assert_same(cli_value(shown[name]), want, name)


def test_save_creates_parent_directory(tmp_path):
    prefix = str(tmp_path / "new" / "deeper" / "model")
    tfckpt.save(prefix, {"x": np.arange(3, dtype=np.float32)})
    assert_same(tfckpt.open(prefix)["x"], np.arange(3, dtype=np.float32))


def test_save_round_trip_strings(tmp_path, cli_or_none):
    prefix = str(tmp_path / "strings")
    tfckpt.save(prefix, {k: v for k, (v, _) in STRING_CASES.items()})
    c = tfckpt.open(prefix)
    for name, (value, want) in STRING_CASES.items():
        assert c.dtype(name) == "string", name
        assert c.shape(name) == value.shape, name
        got = c[name]
        assert got.dtype == object and got.shape == value.shape, name
        assert got.tolist() == want, name
    if cli_or_none is not None:
        cli_or_none.run("verify", prefix)
        shown = cli_show(cli_or_none, prefix, list(STRING_CASES))
        for name, (_, want) in STRING_CASES.items():
            assert cli_value(shown[name]).tolist() == want, name


def test_save_layouts(tmp_path):
    base = np.arange(60, dtype=np.float64).reshape(6, 10) / 7
    values = {
        "fortran": np.asfortranarray(base),
        "strided": base[::2, 1::3],
        "transposed": base.T,
        "negative": base[::-1, ::-1],
        # (arithmetic gives native arrays: astype keeps the byte order asked for)
        "big_endian": (np.arange(5) * 1000003).astype(">i4"),
        "big_endian_f": (np.arange(4) - 1.5).astype(">f8"),
        "big_endian_fortran": np.asfortranarray(base.astype(">f8"))[::-1],
        "big_endian_scalar": np.array(-2.5, ">f4"),
    }
    assert all(values[n].dtype.byteorder == ">" for n in values if n.startswith("big"))
    prefix = str(tmp_path / "layouts")
    tfckpt.save(prefix, values)
    c = tfckpt.open(prefix)
    for name, want in values.items():
        got = c[name]
        assert got.shape == want.shape, name
        assert np.array_equal(got, want), "%s:\ngot  %r\nwant %r" % (name, got, want)
        assert got.dtype == want.dtype.newbyteorder("=") or got.dtype == want.dtype, name


@needs_ml_dtypes
def test_save_round_trip_ml_dtypes(tmp_path):
    values = {}
    for name in ("bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz",
                 "float8_e5m2fnuz", "float8_e4m3b11fnuz"):
        dt = np.dtype(getattr(ml_dtypes, name))
        with np.errstate(all="ignore"):
            values["ml/" + name] = np.array([0.0, 1.0, -1.5, 0.25, 3.0, np.nan, -448.0],
                                            np.float32).astype(dt)
    prefix = str(tmp_path / "ml")
    tfckpt.save(prefix, values)
    _check_round_trip(prefix, values)
    assert tfckpt.open(prefix).verify()["ok"] is True


@needs_ml_dtypes
def test_save_round_trip_narrow_ml_dtypes(tmp_path):
    """The reader also knows int4/uint4/int2/uint2/float4_e2m1fn (one byte per element)."""
    values = {}
    for name in ("int4", "uint4", "int2", "uint2"):
        if hasattr(ml_dtypes, name):
            info = ml_dtypes.iinfo(getattr(ml_dtypes, name))
            values["n/" + name] = np.arange(int(info.min), int(info.max) + 1).astype(
                getattr(ml_dtypes, name))
    if hasattr(ml_dtypes, "float4_e2m1fn"):
        values["n/float4_e2m1fn"] = np.array([0.0, 0.5, -1.0, 6.0], np.float32).astype(
            ml_dtypes.float4_e2m1fn)
    prefix = str(tmp_path / "narrow")
    tfckpt.save(prefix, values)
    _check_round_trip(prefix, values)


def test_save_mapping_types(tmp_path):
    prefix = str(tmp_path / "lists")
    # any mapping of names to array-likes that numpy turns into the same arrays
    tfckpt.save(prefix, {"x": np.asarray([1, 2, 3], np.int32), "y": np.float64(0.5) * np.ones(2)})
    c = tfckpt.open(prefix)
    assert_same(c["x"], np.array([1, 2, 3], np.int32))
    assert_same(c["y"], np.array([0.5, 0.5]))


def test_save_overwrite(tmp_path):
    prefix = str(tmp_path / "m")
    tfckpt.save(prefix, {"old": np.ones(2, np.float32)})
    before = {f: open(f, "rb").read() for f in bundle_files(prefix)}
    raises_error(lambda: tfckpt.save(prefix, {"new": np.zeros(3, np.int8)}), prefix)
    assert {f: open(f, "rb").read() for f in bundle_files(prefix)} == before
    assert tfckpt.open(prefix).names() == ["old"]
    tfckpt.save(prefix, {"new": np.zeros(3, np.int8)}, overwrite=True)
    c = tfckpt.open(prefix)
    assert c.names() == ["new"]
    assert_same(c["new"], np.zeros(3, np.int8))
    assert sorted(os.listdir(tmp_path)) == ["m.data-00000-of-00001", "m.index"]


@pytest.mark.parametrize("bad", ["datetime", "object_ints", "void", "mixed_object"])
def test_save_unsupported_dtype(tmp_path, bad):
    value = {
        "datetime": np.array(["2020-01-01"], dtype="datetime64[D]"),
        "object_ints": np.array([1, 2], dtype=object),
        "void": np.zeros(2, dtype=[("a", "i4"), ("b", "f4")]),
        "mixed_object": np.array([b"ok", 3], dtype=object),
    }[bad]
    prefix = str(tmp_path / "bad")
    raises_error(lambda: tfckpt.save(prefix, {"fine": np.ones(2), "bad_one": value}), "bad_one")
    assert os.listdir(tmp_path) == []


def test_writer_round_trip(tmp_path):
    values = round_trip_values()
    prefix = str(tmp_path / "w" / "model")
    os.makedirs(os.path.dirname(prefix))
    with tfckpt.Writer(prefix) as w:
        for name, value in values.items():
            w.add(name, value)
        for name, (value, _) in STRING_CASES.items():
            w.add(name, value)
        # committed atomically on exit: nothing visible under the prefix yet
        assert not os.path.exists(prefix + ".index")
    c = tfckpt.open(prefix)
    assert c.names() == byte_order(list(values) + list(STRING_CASES))
    for name, want in values.items():
        assert_same(c[name], want, name)
    for name, (_, want) in STRING_CASES.items():
        assert c[name].tolist() == want, name
    assert c.verify()["ok"] is True


def test_writer_exception_leaves_nothing(tmp_path):
    d = tmp_path / "w"
    d.mkdir()
    (d / "unrelated.txt").write_text("keep me")
    before = all_files(d)
    with pytest.raises(RuntimeError, match="boom"):
        with tfckpt.Writer(str(d / "model")) as w:
            w.add("x", np.arange(1000, dtype=np.float32))
            w.add("s", np.array([b"a", b"b"], dtype=object))
            raise RuntimeError("boom")
    assert all_files(d) == before
    # in a directory the writer had to create: no file left anywhere below it
    nested = tmp_path / "created" / "by" / "writer"
    with pytest.raises(KeyError):
        with tfckpt.Writer(str(nested / "model")) as w:
            w.add("x", np.ones(10))
            raise KeyError("escape")
    created = tmp_path / "created"
    assert not created.exists() or all_files(created) == [], all_files(created)


def test_writer_exception_keeps_existing_checkpoint(tmp_path):
    prefix = str(tmp_path / "m")
    tfckpt.save(prefix, {"old": np.ones(2, np.float32)})
    before = {f: open(f, "rb").read() for f in bundle_files(prefix)}
    with pytest.raises(ZeroDivisionError):
        with tfckpt.Writer(prefix, overwrite=True) as w:
            w.add("new", np.ones(3))
            1 / 0
    assert sorted(os.listdir(tmp_path)) == ["m.data-00000-of-00001", "m.index"]
    assert {f: open(f, "rb").read() for f in bundle_files(prefix)} == before


def test_writer_overwrite(tmp_path):
    prefix = str(tmp_path / "m")
    tfckpt.save(prefix, {"old": np.ones(2, np.float32)})
    with pytest.raises(tfckpt.Error):
        with tfckpt.Writer(prefix) as w:
            w.add("new", np.ones(3))
    assert tfckpt.open(prefix).names() == ["old"]
    with tfckpt.Writer(prefix, overwrite=True) as w:
        w.add("new", np.ones(3))
    assert tfckpt.open(prefix).names() == ["new"]


def test_writer_duplicate_name(tmp_path):
    prefix = str(tmp_path / "dup")
    with pytest.raises(tfckpt.Error) as info:
        with tfckpt.Writer(prefix) as w:
            w.add("twice", np.ones(2))
            w.add("twice", np.zeros(2))
    assert "twice" in str(info.value)
    assert os.listdir(tmp_path) == []


def test_writer_unsupported_value(tmp_path):
    prefix = str(tmp_path / "u")
    with pytest.raises(tfckpt.Error) as info:
        with tfckpt.Writer(prefix) as w:
            w.add("good", np.ones(2))
            w.add("when", np.array(["2020-01-01"], dtype="datetime64[D]"))
    assert "when" in str(info.value)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# merge
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def ab(ex):
    """Private copies of models a (a = 3), b (b = 4) and ab (a = b = 1)."""
    return {k: str(ex / "models" / k / ("model-" + k)) for k in ("a", "b", "ab")}


def _values(prefix):
    c = tfckpt.open(prefix)
    return {n: c[n].tolist() for n in c.names()}


def test_merge_classic(ab, tmp_path, cli_or_none):
    out = str(tmp_path / "merged" / "model")
    r = tfckpt.merge([ab["a"], ab["b"]], out)
    assert isinstance(r, dict)
    assert r["operation"] == "merge" and r["dry_run"] is False
    assert r["totals"] == {"tensors": 2, "bytes": 8}
    assert [t["name"] for t in r["tensors"]] == ["a", "b"]
    assert _values(out) == {"a": 3.0, "b": 4.0}
    assert tfckpt.open(out).verify()["ok"]
    assert os.path.exists(ab["a"] + ".index") and os.path.exists(ab["b"] + ".index")
    if cli_or_none is not None:
        out2 = str(tmp_path / "merged_cli" / "model")
        want = cli_or_none.json("merge", ab["a"], ab["b"], "-o", out2, "--json")
        assert {k: v for k, v in r.items() if k != "output"} == \
            {k: v for k, v in want.items() if k != "output"}


def test_merge_named_tf1_sources_are_scoped(ab, tmp_path, cli_or_none):
    out = str(tmp_path / "named" / "model")
    r = tfckpt.merge({"left": ab["a"], "right": ab["ab"]}, out)
    assert [t["name"] for t in r["tensors"]] == ["left/a", "right/a", "right/b"]
    assert _values(out) == {"left/a": 3.0, "right/a": 1.0, "right/b": 1.0}
    if cli_or_none is not None:
        out2 = str(tmp_path / "named_cli" / "model")
        want = cli_or_none.json("merge", "left=" + ab["a"], "right=" + ab["ab"], "-o", out2,
                                "--json")
        assert [t["name"] for t in want["tensors"]] == ["left/a", "right/a", "right/b"]
    raises_error(lambda: tfckpt.merge({"x/y": ab["a"]}, str(tmp_path / "bad" / "m")), "x/y",
                 "without '/'")


def test_tf2_objects_and_named_merge(ex, tmp_path, cli_or_none):
    ckpt1, ckpt2 = str(ex / "tf2" / "ckpt-1"), str(ex / "tf2" / "ckpt-2")
    graph = tfckpt.objects(ckpt2)
    nodes = graph["objects"]
    assert [c["name"] for c in nodes[0]["children"]] == ["model", "optimizer", "save_counter"]
    keys = {a["key"]: a["full_name"] for n in nodes for a in n["attributes"]}
    assert keys["model/kernel/.ATTRIBUTES/VARIABLE_VALUE"] == "kernel"
    assert keys["model/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE"] == \
        "kernel/Adam"
    assert sorted(keys) == sorted(n for n in tfckpt.open(ckpt2).names()
                                  if n != "_CHECKPOINTABLE_OBJECT_GRAPH")
    if cli_or_none is not None:
        assert graph == cli_or_none.json("ls", "--objects", "--json", ckpt2)
    raises_error(lambda: tfckpt.objects(str(ex / "models" / "a" / "model-a")), "name-based")

    # Two steps of one run, side by side: every key under its source's name, slots included.
    out = str(tmp_path / "both" / "ck")
    tfckpt.merge({"old": ckpt1, "new": ckpt2}, out)
    merged = tfckpt.open(out)
    for name, src in (("old", ckpt1), ("new", ckpt2)):
        source = tfckpt.open(src)
        for key in keys:
            if key.startswith("save_counter/"):
                continue
            scoped = name + "/" + key.replace("/.OPTIMIZER_SLOT/", "/.OPTIMIZER_SLOT/%s/" % name)
            np.testing.assert_array_equal(merged[scoped], source[key])
    assert merged["save_counter/.ATTRIBUTES/VARIABLE_VALUE"] == \
        tfckpt.open(ckpt1)["save_counter/.ATTRIBUTES/VARIABLE_VALUE"]
    paths = {n["path"] for n in tfckpt.objects(out)["objects"]}
    assert {"old/model/kernel", "new/optimizer/beta1_power"} <= paths

    # TF2 -> TF1: keyed by full names
    tf1 = str(tmp_path / "tf1" / "model")
    tfckpt.to_tf1(ckpt2, tf1)
    got = tfckpt.open(tf1)
    assert sorted(got.names()) == sorted(keys.values())
    for key, full in keys.items():
        np.testing.assert_array_equal(got[full], tfckpt.open(ckpt2)[key])


def test_merge_dry_run(ab, tmp_path, cli_or_none):
    out = str(tmp_path / "dry" / "model")
    r = tfckpt.merge([ab["a"], ab["b"]], out, dry_run=True)
    assert r["dry_run"] is True and r["totals"] == {"tensors": 2, "bytes": 8}
    assert not os.path.exists(tmp_path / "dry") or all_files(tmp_path / "dry") == []
    if cli_or_none is not None:
        want = cli_or_none.json("merge", ab["a"], ab["b"], "-o", out, "--json", "--dry-run")
        assert r == want


def test_merge_conflict(ab, tmp_path, cli_or_none):
    out = str(tmp_path / "o" / "model")
    msg = raises_error(lambda: tfckpt.merge([ab["a"], ab["ab"]], out), "'a'", ab["a"], ab["ab"])
    assert not os.path.exists(tmp_path / "o") or all_files(tmp_path / "o") == []
    if cli_or_none is not None:
        err = cli_or_none.run("merge", ab["a"], ab["ab"], "-o", out, expect_rc=2).err.strip()
        assert msg.strip() == err[len("tfckpt: error: "):], (msg, err)
    tfckpt.merge([ab["a"], ab["ab"]], out, on_conflict="first")
    assert _values(out) == {"a": 3.0, "b": 1.0}
    tfckpt.merge([ab["a"], ab["ab"]], out, on_conflict="last", force=True)
    assert _values(out) == {"a": 1.0, "b": 1.0}
    bad_option(lambda: tfckpt.merge([ab["a"], ab["b"]], out, on_conflict="sometimes",
                                    force=True), "on_conflict")


def test_merge_force(ab, tmp_path):
    out = str(tmp_path / "o" / "model")
    tfckpt.merge([ab["a"]], out)
    raises_error(lambda: tfckpt.merge([ab["a"], ab["b"]], out), out)
    assert _values(out) == {"a": 3.0}
    tfckpt.merge([ab["a"], ab["b"]], out, force=True)
    assert _values(out) == {"a": 3.0, "b": 4.0}


def test_merge_link_modes(ab, tmp_path):
    out = str(tmp_path / "h" / "model")
    r = tfckpt.merge([ab["a"], ab["b"]], out, link="hardlink")
    assert r["data"]["files_linked"] == 2, r["data"]
    for f in bundle_files(out):
        if ".data-" in f:
            assert os.stat(f).st_nlink >= 2, f
    assert _values(out) == {"a": 3.0, "b": 4.0}
    out = str(tmp_path / "c" / "model")
    r = tfckpt.merge([ab["a"], ab["b"]], out, link="copy")
    assert r["data"]["files_copied"] == 2, r["data"]
    assert _values(out) == {"a": 3.0, "b": 4.0}
    bad_option(lambda: tfckpt.merge([ab["a"], ab["b"]], str(tmp_path / "x" / "m"),
                                    link="teleport"), "link")
    assert not (tmp_path / "x").exists() or all_files(tmp_path / "x") == []


def test_merge_move(ab, tmp_path):
    out = str(tmp_path / "moved" / "model")
    r = tfckpt.merge([ab["a"], ab["b"]], out, move=True)
    assert r["data"]["files_moved"] == 2, r["data"]
    assert _values(out) == {"a": 3.0, "b": 4.0}
    assert bundle_files(ab["a"]) == [] and bundle_files(ab["b"]) == []


def test_merge_partitioned_and_many(ex, tmp_path):
    out = str(tmp_path / "big" / "model")
    r = tfckpt.merge([str(ex / "mixed" / "mixed"), str(ex / "bert_like" / "model.ckpt-1000"),
                      str(ex / "models" / "a" / "model-a")], out, on_conflict="last")
    c = tfckpt.open(out)
    assert "a" in c and "emb" in c and "bert/embeddings/word_embeddings" in c
    assert_same(c["emb"], MIXED_VALUES["emb"])
    assert_same(c["global_step"], np.array(1000, np.int64))  # last wins
    assert r["totals"]["tensors"] == len(c)


# ---------------------------------------------------------------------------------------------
# transfer
# ---------------------------------------------------------------------------------------------

def test_transfer_classic(ab, tmp_path, cli_or_none):
    out = str(tmp_path / "t" / "model")
    r = tfckpt.transfer(out, [(ab["a"], {"a": "a"}), (ab["b"], {"b": "b"})], into=ab["ab"])
    assert r["operation"] == "transfer" and r["totals"] == {"tensors": 2, "bytes": 8}
    assert _values(out) == {"a": 3.0, "b": 4.0}
    assert _values(ab["ab"]) == {"a": 1.0, "b": 1.0}
    if cli_or_none is not None:
        out2 = str(tmp_path / "t2" / "model")
        want = cli_or_none.json("transfer", "--into", ab["ab"], "--from", ab["a"], "--map",
                                "a=a", "--from", ab["b"], "--map", "b=b", "-o", out2, "--json")
        assert {k: v for k, v in r.items() if k != "output"} == \
            {k: v for k, v in want.items() if k != "output"}


def test_transfer_partial_and_without_into(ab, tmp_path):
    out = str(tmp_path / "t" / "model")
    tfckpt.transfer(out, [(ab["b"], {"b": "b"})], into=ab["ab"])
    assert _values(out) == {"a": 1.0, "b": 4.0}
    out = str(tmp_path / "only" / "model")
    tfckpt.transfer(out, [(ab["a"], {"a": "x"}), (ab["b"], {"b": "y"})])
    assert _values(out) == {"x": 3.0, "y": 4.0}


def test_transfer_dry_run_and_force(ab, tmp_path):
    out = str(tmp_path / "t" / "model")
    r = tfckpt.transfer(out, [(ab["a"], {"a": "a"})], into=ab["ab"], dry_run=True)
    assert r["dry_run"] is True
    assert not os.path.exists(tmp_path / "t") or all_files(tmp_path / "t") == []
    tfckpt.transfer(out, [(ab["a"], {"a": "a"})], into=ab["ab"])
    raises_error(lambda: tfckpt.transfer(out, [(ab["b"], {"b": "b"})], into=ab["ab"]), out)
    tfckpt.transfer(out, [(ab["b"], {"b": "b"})], into=ab["ab"], force=True)
    assert _values(out) == {"a": 1.0, "b": 4.0}


def _scoped_sources(tmp_path):
    src = str(tmp_path / "src" / "ckpt")
    tfckpt.save(src, {
        "enc/w": np.arange(3, dtype=np.float32) + 10,
        "enc/inner/b": np.array(1.5, np.float32),
        "w": np.arange(3, dtype=np.float32) - 10,
        "inner/b": np.array(-1.5, np.float32),
        "x2": np.array([7.0, 8.0], np.float32),
        "ids": np.array([1, 2, 3], np.int64),
    })
    model = str(tmp_path / "model" / "ckpt")
    tfckpt.save(model, {
        "model/enc/w": np.zeros(3, np.float32),
        "model/enc/inner/b": np.array(0.0, np.float32),
        "ids": np.zeros(3, np.int32),
        "keep": np.array([5.0], np.float32),
    })
    return src, model


def test_transfer_scopes(tmp_path):
    src, model = _scoped_sources(tmp_path)
    out = str(tmp_path / "o1" / "ckpt")
    tfckpt.transfer(out, [(src, {"enc/": "model/enc/"})], into=model)
    got = _values(out)
    assert got["model/enc/w"] == [10.0, 11.0, 12.0] and got["model/enc/inner/b"] == 1.5
    assert got["keep"] == [5.0] and got["ids"] == [0, 0, 0]
    out = str(tmp_path / "o2" / "ckpt")
    tfckpt.transfer(out, [(src, {"/": "model/enc/"})], into=model)
    got = _values(out)
    assert got["model/enc/w"] == [-10.0, -9.0, -8.0] and got["model/enc/inner/b"] == -1.5


def test_transfer_errors(tmp_path):
    src, model = _scoped_sources(tmp_path)
    out = str(tmp_path / "o" / "ckpt")
    raises_error(lambda: tfckpt.transfer(out, [(src, {"nope/missing": "keep"})], into=model),
                 "nope/missing")
    raises_error(lambda: tfckpt.transfer(out, [(src, {"x2": "keep"})], into=model), "x2", "keep")
    raises_error(lambda: tfckpt.transfer(out, [(src, {"ids": "ids"})], into=model), "ids")
    raises_error(lambda: tfckpt.transfer(out, [(src, {"x2": "model/"})], into=model), "scope")
    # all problems at once, before anything is written
    msg = raises_error(lambda: tfckpt.transfer(
        out, [(src, {"nope/missing": "keep"}), (src, {"ids": "ids"})], into=model),
        "nope/missing", "ids")
    assert msg
    assert not os.path.exists(tmp_path / "o") or all_files(tmp_path / "o") == []


# ---------------------------------------------------------------------------------------------
# edit
# ---------------------------------------------------------------------------------------------

def test_edit_strip_optimizer_tf2(ex, tmp_path, cli_or_none):
    out = str(tmp_path / "e" / "ckpt")
    src = str(ex / "tf2")
    r = tfckpt.edit(src, out, strip_optimizer=True)
    assert r["operation"] == "edit"
    c, s = tfckpt.open(out), tfckpt.open(src)
    assert c.names() == TF2_KEPT
    for n in TF2_WEIGHTS + [COUNTER]:
        assert_same(c[n], s[n], n)
    if cli_or_none is not None:
        out2 = str(tmp_path / "e2" / "ckpt")
        want = cli_or_none.json("edit", src, "-o", out2, "--strip-optimizer", "--json")
        assert {k: v for k, v in r.items() if k != "output"} == \
            {k: v for k, v in want.items() if k != "output"}


@pytest.mark.parametrize("form", ["dict", "list"])
def test_edit_rename_keep_drop(ex, tmp_path, form):
    src = str(ex / "mixed" / "mixed")
    rename = {"matrix": "m2", "scalar": "s/scalar"}
    if form == "list":
        rename = list(rename.items())
    out = str(tmp_path / "e" / "ckpt")
    tfckpt.edit(src, out, rename=rename, drop=["^emb$", "^words"])
    c = tfckpt.open(out)
    assert c.names() == byte_order(["brain", "empty", "flags", "global_step", "half", "m2",
                                    "s/scalar"])
    assert_same(c["m2"], MIXED_VALUES["matrix"])
    assert_same(c["s/scalar"], MIXED_VALUES["scalar"])
    out = str(tmp_path / "k" / "ckpt")
    tfckpt.edit(src, out, keep=["^(emb|words)$"])
    c = tfckpt.open(out)
    assert c.names() == ["emb", "words"]
    assert_same(c["emb"], MIXED_VALUES["emb"])
    assert_same(c["words"], MIXED_VALUES["words"])


def test_edit_scope_rename_and_dry_run(ex, tmp_path):
    src = str(ex / "bert_like")
    out = str(tmp_path / "e" / "ckpt")
    r = tfckpt.edit(src, out, rename={"bert/": "encoder/"}, strip_optimizer=True, dry_run=True)
    assert r["dry_run"] is True
    assert not os.path.exists(tmp_path / "e") or all_files(tmp_path / "e") == []
    tfckpt.edit(src, out, rename={"bert/": "encoder/"}, strip_optimizer=True)
    want = bert_like_values()
    c = tfckpt.open(out)
    expect = {("encoder/" + n[5:] if n.startswith("bert/") else n): v
              for n, v in want.items() if not n.endswith(("/adam_m", "/adam_v"))}
    assert c.names() == byte_order(expect)
    for n, v in expect.items():
        assert_same(c[n], v, n)


def test_edit_errors(ex, tmp_path):
    src = str(ex / "mixed" / "mixed")
    out = str(tmp_path / "e" / "ckpt")
    raises_error(lambda: tfckpt.edit(src, out, drop=["(unclosed"]), "(unclosed")
    raises_error(lambda: tfckpt.edit(src, out, rename={"matrix": "half"}), "half")
    tfckpt.edit(src, out)
    raises_error(lambda: tfckpt.edit(src, out), out)
    tfckpt.edit(src, out, drop=["^words$"], force=True)
    assert "words" not in tfckpt.open(out)


# ---------------------------------------------------------------------------------------------
# average
# ---------------------------------------------------------------------------------------------

def _tf2_steps(ex):
    return [str(ex / "tf2" / "ckpt-1"), str(ex / "tf2" / "ckpt-2")]


def test_average_tf2_steps(ex, tmp_path, cli_or_none):
    srcs = _tf2_steps(ex)
    out = str(tmp_path / "avg" / "ckpt")
    r = tfckpt.average(srcs, out)
    assert r["operation"] == "average"
    c = tfckpt.open(out)
    assert c.names() == TF2_KEPT
    ins = [tfckpt.open(s) for s in srcs]
    for n in TF2_WEIGHTS:
        want = ((ins[0][n].astype(np.float64) + ins[1][n].astype(np.float64)) / 2).astype(
            np.float32)
        assert_same(c[n], want, n)
    assert_same(c[COUNTER], np.array(2, np.int64))  # from the newest input
    if cli_or_none is not None:
        out2 = str(tmp_path / "avg2" / "ckpt")
        want = cli_or_none.json("average", *srcs, "-o", out2, "--json")
        assert {k: v for k, v in r.items() if k != "output"} == \
            {k: v for k, v in want.items() if k != "output"}


def test_average_options(ex, tmp_path):
    srcs = _tf2_steps(ex)
    ins = [tfckpt.open(s) for s in srcs]
    out = str(tmp_path / "w" / "ckpt")
    tfckpt.average(srcs, out, weights=[1, 3], take_nonfloat_from=0)
    c = tfckpt.open(out)
    for n in TF2_WEIGHTS:
        want = ((1 * ins[0][n].astype(np.float64) + 3 * ins[1][n].astype(np.float64)) / 4
                ).astype(np.float32)
        assert_same(c[n], want, n)
    assert_same(c[COUNTER], np.array(1, np.int64))
    out = str(tmp_path / "nn" / "ckpt")
    tfckpt.average(srcs, out, weights=[0.25, 0.5], normalize=False)
    c = tfckpt.open(out)
    for n in TF2_WEIGHTS:
        want = (0.25 * ins[0][n].astype(np.float64) + 0.5 * ins[1][n].astype(np.float64)
                ).astype(np.float32)
        assert_same(c[n], want, n)
    out = str(tmp_path / "ko" / "ckpt")
    tfckpt.average(srcs, out, keep_optimizer=True)
    c = tfckpt.open(out)
    assert c.names() == TF2_NAMES
    slot = "model/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE"
    want = ((ins[0][slot].astype(np.float64) + ins[1][slot].astype(np.float64)) / 2).astype(
        np.float32)
    assert_same(c[slot], want)


def test_average_dtypes_and_dry_run(tmp_path):
    rng = np.random.default_rng(7)
    srcs = []
    arrays = []
    for i in range(3):
        vals = {"f16": rng.standard_normal(50).astype(np.float16),
                "f64": rng.standard_normal((4, 5)),
                "c64": (rng.standard_normal(6) + 1j * rng.standard_normal(6)).astype(np.complex64),
                "step": np.array(100 + i, np.int64),
                "tags": np.array([b"run%d" % i], dtype=object)}
        if ml_dtypes is not None:
            vals["bf16"] = rng.standard_normal(33).astype(ml_dtypes.bfloat16)
        p = str(tmp_path / ("s%d" % i) / "ckpt")
        tfckpt.save(p, vals)
        srcs.append(p)
        arrays.append(vals)
    out = str(tmp_path / "avg" / "ckpt")
    r = tfckpt.average(srcs, out, dry_run=True)
    assert r["dry_run"] is True
    assert not os.path.exists(tmp_path / "avg") or all_files(tmp_path / "avg") == []
    tfckpt.average(srcs, out)
    c = tfckpt.open(out)
    for n in ("f16", "f64", "bf16"):
        if n not in arrays[0]:
            continue
        want = (sum(a[n].astype(np.float64) for a in arrays) / 3).astype(arrays[0][n].dtype)
        assert_same(c[n], want, n)
    want = (sum(a["c64"].astype(np.complex128) for a in arrays) / 3).astype(np.complex64)
    assert_same(c["c64"], want)
    assert_same(c["step"], np.array(102, np.int64))
    assert c["tags"].tolist() == [b"run2"]


def test_average_errors(ex, tmp_path):
    out = str(tmp_path / "x" / "ckpt")
    a, mixed = str(ex / "models/a/model-a"), str(ex / "mixed/mixed")
    raises_error(lambda: tfckpt.average([a, mixed], out), "matrix")
    srcs = _tf2_steps(ex)
    raises_error(lambda: tfckpt.average(srcs, out, weights=[1.0]))
    assert not os.path.exists(tmp_path / "x") or all_files(tmp_path / "x") == []


# ---------------------------------------------------------------------------------------------
# apply
# ---------------------------------------------------------------------------------------------

def _write_recipe(path, ex, output="out/model"):
    path.write_text(textwrap.dedent("""\
        inputs:
          a: {a}
          b: {b}
          ab: {ab}
          step1: {s1}
          step2: {s2}
        steps:
          - name: ab_with_a
            transfer:
              into: ab
              from:
                - source: a
                  map: {{a: a}}
          - name: w1
            edit: {{source: step1, strip_optimizer: true}}
          - name: w2
            edit: {{source: step2, strip_optimizer: true}}
          - name: avg
            average: {{sources: [w1, w2], weights: [1, 3]}}
          - name: combined
            merge: {{sources: [ab_with_a, avg]}}
        output: {out}
        """).format(a=ex / "models/a/model-a", b=ex / "models/b/model-b",
                    ab=ex / "models/ab/model-ab", s1=ex / "tf2/ckpt-1", s2=ex / "tf2/ckpt-2",
                    out=output))
    return str(path)


def test_apply_pipeline(ex, tmp_path):
    recipe = _write_recipe(tmp_path / "recipe.yaml", ex)
    report = tfckpt.apply(recipe)
    assert isinstance(report, str) and "merge" in report
    out = str(tmp_path / "out" / "model")
    c = tfckpt.open(out)
    assert c["a"].tolist() == 3.0 and c["b"].tolist() == 1.0
    ins = [tfckpt.open(str(ex / "tf2" / s)) for s in ("ckpt-1", "ckpt-2")]
    for n in TF2_WEIGHTS:
        want = ((ins[0][n].astype(np.float64) + 3 * ins[1][n].astype(np.float64)) / 4).astype(
            np.float32)
        assert_same(c[n], want, n)
    # only the output is left next to it: intermediates are removed
    assert sorted(os.listdir(tmp_path / "out")) == [
        os.path.basename(f) for f in bundle_files(out)]
    assert len(bundle_files(out)) == 1 + c.num_shards


def test_apply_output_dry_run_force(ex, tmp_path):
    recipe = _write_recipe(tmp_path / "recipe.yaml", ex)
    out = str(tmp_path / "elsewhere" / "model")
    report = tfckpt.apply(recipe, output=out, dry_run=True)
    assert isinstance(report, str) and report
    assert not os.path.exists(tmp_path / "elsewhere") or all_files(tmp_path / "elsewhere") == []
    assert not os.path.exists(tmp_path / "out")
    tfckpt.apply(recipe, output=out)
    assert _values(out)["a"] == 3.0
    raises_error(lambda: tfckpt.apply(recipe, output=out), out)
    tfckpt.apply(recipe, output=out, force=True)
    assert _values(out)["a"] == 3.0


def test_apply_committed_recipe(examples, tmp_path):
    out = str(tmp_path / "classic" / "model")
    report = tfckpt.apply(str(examples / "recipes" / "classic-merge.yaml"), output=out)
    assert isinstance(report, str)
    assert _values(out) == {"a": 3.0, "b": 4.0}


def test_apply_errors(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("inputs:\n  a: %s\nsteps:\n  - edit: {sorce: a}\noutput: o\n"
                      % (tfckpt.open(str(EXAMPLES_A)).prefix))
    raises_error(lambda: tfckpt.apply(str(recipe)), "bad.yaml", "sorce")
    raises_error(lambda: tfckpt.apply(str(tmp_path / "missing.yaml")), "missing.yaml")


# ---------------------------------------------------------------------------------------------
# convert
# ---------------------------------------------------------------------------------------------

def test_convert_to_safetensors(ex, tmp_path):
    src = str(ex / "mixed" / "mixed")
    out = str(tmp_path / "m.safetensors")
    msg = raises_error(lambda: tfckpt.convert(src, out), "words")
    assert not os.path.exists(out)
    r = tfckpt.convert(src, out, skip_unsupported=True)
    assert isinstance(r, dict)
    assert [s["name"] for s in r["skipped"]] == ["words"], r
    assert r["outputs"] == [out] or [os.path.basename(o) for o in r["outputs"]] == [
        "m.safetensors"], r
    tensors, _ = read_safetensors(out)
    assert sorted(tensors) == sorted(n for n in MIXED_DTYPES if n != "words" and (
        ml_dtypes is not None or n != "brain"))
    for name, want in MIXED_VALUES.items():
        if name != "words":
            assert_same(np.array(tensors[name]), want, name)
    raises_error(lambda: tfckpt.convert(src, out, skip_unsupported=True), out)
    tfckpt.convert(src, out, skip_unsupported=True, force=True)
    assert msg


def test_convert_safetensors_library(ex, tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    out = str(tmp_path / "bert.safetensors")
    tfckpt.convert(str(ex / "bert_like"), out, strip_optimizer=True)
    got = st.load_file(out)
    want = {n: v for n, v in bert_like_values().items()
            if not n.endswith(("/adam_m", "/adam_v"))}
    assert sorted(got) == sorted(want)
    for n, v in want.items():
        assert_same(got[n], v, n)


def test_convert_sharded_and_back(ex, tmp_path):
    src = str(ex / "bert_like")
    out_dir = tmp_path / "sharded"
    r = tfckpt.convert(src, str(out_dir / "model.safetensors"), strip_optimizer=True,
                       max_shard_size="4KB")
    assert len(r["outputs"]) == 4, r["outputs"]  # 3 shards + the index json
    assert (out_dir / "model.safetensors.index.json").is_file()
    back = str(tmp_path / "back" / "model.ckpt")
    tfckpt.convert(str(out_dir), back)
    # a byte count as a Python int works as well
    r = tfckpt.convert(src, str(tmp_path / "ints" / "model.safetensors"), strip_optimizer=True,
                       max_shard_size=4096)
    assert len(r["outputs"]) >= 3, r["outputs"]
    want = {n: v for n, v in bert_like_values().items()
            if not n.endswith(("/adam_m", "/adam_v"))}
    c = tfckpt.open(back)
    assert c.names() == byte_order(want)
    for n, v in want.items():
        assert_same(c[n], v, n)


def test_convert_npz_round_trip(ex, tmp_path):
    src = str(ex / "mixed" / "mixed")
    npz = str(tmp_path / "m.npz")
    raises_error(lambda: tfckpt.convert(src, npz), "brain")  # no bfloat16 in .npz
    r = tfckpt.convert(src, npz, skip_unsupported=True)
    skipped = {s["name"] for s in r["skipped"]}
    assert "brain" in skipped
    with np.load(npz, allow_pickle=False) as z:
        got = {k: z[k] for k in z.files}
    for name, want in MIXED_VALUES.items():
        if name in skipped:
            continue
        if want.dtype == object:
            assert got[name].astype(object).tolist() == want.tolist() or \
                [x.encode() if isinstance(x, str) else x for x in got[name].tolist()] == \
                want.tolist(), name
        else:
            assert_same(got[name], want, name)
    # and back: a .npz written by numpy becomes a checkpoint
    mine = str(tmp_path / "mine.npz")
    arrays = {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.array([1, -2], np.int16),
              "t": np.asfortranarray(np.arange(6.0).reshape(2, 3))}
    np.savez_compressed(mine, **arrays)
    back = str(tmp_path / "back" / "ckpt")
    r = tfckpt.convert(mine, back)
    c = tfckpt.open(back)
    assert sorted(c.names()) == ["n", "t", "x"]
    for n, v in arrays.items():
        assert_same(c[n], v, n)


# ---------------------------------------------------------------------------------------------
# init_from_checkpoint
# ---------------------------------------------------------------------------------------------

class Recorder:
    """A target that is not an array: records what it was given."""

    def __init__(self, dtype, shape):
        self.dtype = np.dtype(dtype)
        self.shape = tuple(shape)
        self.got = []

    def assign(self, value):
        self.got.append(np.array(value, copy=True))


class NamedDType:
    """A dtype given by its numpy-style name only (as a tf.DType would)."""

    def __init__(self, name):
        self.name = name


class TfLike:
    def __init__(self, dtype_name, shape):
        self.dtype = NamedDType(dtype_name)
        self.shape = list(shape)
        self.value = None

    def assign(self, value):
        self.value = np.array(value, copy=True)


@pytest.fixture
def ifc_src(tmp_path):
    values = {
        "enc/w": np.arange(3, dtype=np.float32) + 10,
        "enc/inner/b": np.array(1.5, np.float32),
        "w": np.arange(3, dtype=np.float32) - 10,
        "inner/b": np.array(-1.5, np.float32),
        "x2": np.array([7.0, 8.0], np.float32),
        "ids": np.array([1, 2, 3], np.int64),
        "top": np.array([[1, 2], [3, 4]], np.int32),
        "half": np.array([0.5, 1.5], np.float16),
    }
    prefix = str(tmp_path / "src" / "ckpt")
    tfckpt.save(prefix, values)
    return prefix, values


def test_init_classic(examples):
    targets = {"a": np.zeros((), np.float32), "b": np.zeros((), np.float32)}
    got = tfckpt.init_from_checkpoint(str(examples / "models/a/model-a"), {"a": "a"}, targets)
    assert got == {"a": "a"}
    assert targets["a"].tolist() == 3.0 and targets["b"].tolist() == 0.0
    got = tfckpt.init_from_checkpoint(str(examples / "models/b"), {"b": "b"}, targets)
    assert got == {"b": "b"}
    assert (targets["a"].tolist(), targets["b"].tolist()) == (3.0, 4.0)


def test_init_one_to_one_numpy_and_assign(ifc_src):
    src, values = ifc_src
    arr = np.full(3, -1, np.float32)
    rec = Recorder(np.float32, (2,))
    tfl = TfLike("int32", (2, 2))
    untouched = np.full(3, 9, np.float32)
    targets = {"v/arr": arr, "v/rec": rec, "v/tf": tfl, "v/untouched": untouched}
    got = tfckpt.init_from_checkpoint(src, {"enc/w": "v/arr", "x2": "v/rec", "top": "v/tf"},
                                      targets)
    assert got == {"v/arr": "enc/w", "v/rec": "x2", "v/tf": "top"}
    assert_same(arr, values["enc/w"])
    assert len(rec.got) == 1
    assert_same(rec.got[0], values["x2"])
    assert_same(tfl.value, values["top"])
    assert_same(untouched, np.full(3, 9, np.float32))


def test_init_into_views_and_float16(ifc_src):
    src, values = ifc_src
    backing = np.zeros((2, 3), np.float32)
    view = backing[1]  # a writable view: filled in place, the base sees it
    h = np.zeros(2, np.float16)
    tfckpt.init_from_checkpoint(src, {"w": "row", "half": "h"}, {"row": view, "h": h})
    assert_same(backing, np.array([[0, 0, 0], values["w"]], np.float32))
    assert_same(h, values["half"])


def test_init_scope_to_scope(ifc_src):
    src, values = ifc_src
    t = {"model/enc/w": np.zeros(3, np.float32), "model/enc/inner/b": np.zeros((), np.float32),
         "model/other": np.zeros(2, np.float32), "elsewhere/w": np.zeros(3, np.float32)}
    got = tfckpt.init_from_checkpoint(src, {"enc/": "model/enc/"}, t)
    assert got == {"model/enc/w": "enc/w", "model/enc/inner/b": "enc/inner/b"}
    assert_same(t["model/enc/w"], values["enc/w"])
    assert_same(t["model/enc/inner/b"], values["enc/inner/b"])
    assert_same(t["elsewhere/w"], np.zeros(3, np.float32))


def test_init_root_to_scope(ifc_src):
    src, values = ifc_src
    t = {"scope/w": Recorder(np.float32, (3,)), "scope/inner/b": np.zeros((), np.float32),
         "w": np.zeros(3, np.float32)}
    got = tfckpt.init_from_checkpoint(src, {"/": "scope/"}, t)
    assert got == {"scope/w": "w", "scope/inner/b": "inner/b"}
    assert_same(t["scope/w"].got[-1], values["w"])
    assert_same(t["scope/inner/b"], values["inner/b"])
    assert_same(t["w"], np.zeros(3, np.float32))


def test_init_scope_to_root(ifc_src):
    src, values = ifc_src
    t = {"w": np.zeros(3, np.float32), "inner/b": np.zeros((), np.float32)}
    got = tfckpt.init_from_checkpoint(src, {"enc/": "/"}, t)
    assert got == {"w": "enc/w", "inner/b": "enc/inner/b"}
    assert_same(t["w"], values["enc/w"])
    assert_same(t["inner/b"], values["enc/inner/b"])


def test_init_partitioned(examples):
    emb = np.zeros((10, 4), np.float32)
    step = np.zeros((), np.int64)
    got = tfckpt.init_from_checkpoint(str(examples / "mixed/mixed"),
                                      {"emb": "emb", "global_step": "gs"},
                                      {"emb": emb, "gs": step})
    assert got == {"emb": "emb", "gs": "global_step"}
    assert_same(emb, MIXED_VALUES["emb"])
    assert step.tolist() == 42


@needs_ml_dtypes
def test_init_bfloat16(examples):
    t = np.zeros(4, ml_dtypes.bfloat16)
    rec = TfLike("bfloat16", (4,))
    tfckpt.init_from_checkpoint(str(examples / "mixed/mixed"), {"brain": "t"}, {"t": t})
    tfckpt.init_from_checkpoint(str(examples / "mixed/mixed"), {"brain": "r"}, {"r": rec})
    assert t.astype(np.float64).tolist() == BRAIN
    assert rec.value.astype(np.float64).tolist() == BRAIN


def _fresh_targets():
    return {"model/enc/w": np.zeros(3, np.float32), "v2": np.zeros(2, np.float32),
            "ids": np.zeros(3, np.int32), "rec": Recorder(np.float32, (3,)),
            "scope/x": np.zeros(2, np.float32)}


@pytest.mark.parametrize("case", ["missing", "missing_in_scope", "shape", "dtype",
                                  "scope_only", "unknown_target", "readonly"])
def test_init_errors(ifc_src, case):
    src, _ = ifc_src
    t = _fresh_targets()
    amap, names = {
        "missing": ({"nope/missing": "v2"}, ["nope/missing"]),
        "missing_in_scope": ({"absent/": "model/enc/"}, ["absent/w"]),
        "shape": ({"enc/w": "v2"}, ["enc/w", "v2"]),
        "dtype": ({"ids": "ids"}, ["ids", "int64", "int32"]),
        "scope_only": ({"x2": "scope/"}, ["x2"]),
        # TF's words: a target that is no variable is taken for a scope, so "enc/w" (no '/'
        # at its end) is a scope-only misuse
        "unknown_target": ({"enc/w": "no_such_variable"}, ["enc/w"]),
        "readonly": ({"x2": "v2"}, ["v2"]),
    }[case]
    if case == "readonly":
        t["v2"].setflags(write=False)
    before = {k: (v.copy() if isinstance(v, np.ndarray) else None) for k, v in t.items()}
    with pytest.raises((tfckpt.Error, ValueError)) as info:
        tfckpt.init_from_checkpoint(src, dict(amap, w="rec"), t)  # plus one valid entry
    if case != "readonly":
        assert isinstance(info.value, tfckpt.Error), info.value
    msg = str(info.value)
    for n in names:
        assert n in msg, "%r not in: %s" % (n, msg)
    # nothing assigned: not even the valid entry
    assert t["rec"].got == []
    for k, v in before.items():
        if v is not None:
            assert_same(t[k], v, k)


def test_init_errors_listed_together(ifc_src):
    src, _ = ifc_src
    t = _fresh_targets()
    msg = raises_error(lambda: tfckpt.init_from_checkpoint(
        src, {"nope/missing": "v2", "enc/w": "v2x", "ids": "ids", "w": "rec"},
        dict(t, v2x=np.zeros(7, np.float32))), "nope/missing", "enc/w", "ids")
    assert msg
    assert t["rec"].got == []
    assert_same(t["ids"], np.zeros(3, np.int32))


def test_init_missing_checkpoint(tmp_path):
    missing = str(tmp_path / "nope")
    raises_error(lambda: tfckpt.init_from_checkpoint(missing, {"a": "a"},
                                                     {"a": np.zeros(())}), missing)


# ---------------------------------------------------------------------------------------------
# Resident memory: indexing a 1 GiB tensor maps it, it does not read it
# ---------------------------------------------------------------------------------------------

_RSS_CODE = textwrap.dedent("""
    import gc, json, sys
    import tfckpt

    def rss(field="VmRSS"):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise SystemExit("no " + field)

    out = {}
    c = tfckpt.open(sys.argv[1])
    gc.collect()
    out["opened"] = rss()
    lazy = c.read("big", verify=False)  # no check: nothing is read until touched
    out["lazy"] = rss()
    out["lazy_one"] = float(lazy[7])
    del lazy
    anon = rss("RssAnon")
    a = c["big"]  # the first read checks the CRC32C: every page read once, none copied
    out["checked_anon"] = rss("RssAnon") - anon
    out["shape"] = list(a.shape)
    out["dtype"] = str(a.dtype)
    out["writeable"] = bool(a.flags.writeable)
    out["owndata"] = bool(a.flags.owndata)
    out["one"] = float(a[123456789])
    out["last"] = float(a[-1])
    b = c["big"]  # checked already: another view on the same pages
    out["same_memory"] = b.__array_interface__["data"][0] == a.__array_interface__["data"][0]
    del c
    gc.collect()
    out["first_after_del"] = float(a[0])
    out["end_anon"] = rss("RssAnon") - anon
    print(json.dumps(out))
    """)


def test_resident_memory_of_a_large_tensor(tmp_path, run_python):
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs /proc")
    prefix = str(tmp_path / "big" / "ckpt")
    os.makedirs(os.path.dirname(prefix))
    n = 1 << 28  # 1 GiB of float32
    try:
        big = np.ones(n, np.float32)
        with tfckpt.Writer(prefix) as w:
            w.add("big", big)
            w.add("small", np.arange(3, dtype=np.int32))
        del big
        gc.collect()
        proc = run_python(_RSS_CODE, prefix)
        assert proc.returncode == 0, proc.err
        r = json.loads(proc.out.strip().splitlines()[-1])
        assert r["shape"] == [n] and r["dtype"] == "float32", r
        assert r["writeable"] is False and r["owndata"] is False, r
        assert r["one"] == 1.0 and r["last"] == 1.0 and r["first_after_del"] == 1.0, r
        assert r["lazy_one"] == 1.0 and r["same_memory"] is True, r
        mb = 1 << 20
        assert r["lazy"] - r["opened"] < 10 * mb, r  # verify=False reads nothing
        assert r["checked_anon"] < 10 * mb, r  # the checked view is the mapping, not a copy
        assert r["end_anon"] < 20 * mb, r
    finally:
        shutil.rmtree(os.path.dirname(prefix), ignore_errors=True)
