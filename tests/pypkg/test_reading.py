"""Reading with tfckpt.open: path forms, listings and values, as examples/make_examples.py
wrote them and as `tfckpt ls/show --json` gives them.
"""

import os
import textwrap

import numpy as np
import pytest

import tfckpt

from pypkg_testlib import (
    ml_dtypes, needs_ml_dtypes, MIXED_DTYPES, MIXED_VALUES, BRAIN, TF2_NAMES, BIAS, KERNEL,
    COUNTER, bert_like_values, byte_order, assert_same, cli_value, cli_show, raises_error)


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
    # as a dict's: a KeyError (tfckpt.NotFoundError), its message as written
    with pytest.raises(KeyError) as info:
        c["nope_x"]
    assert type(info.value) is tfckpt.NotFoundError, repr(info.value)
    assert str(info.value).startswith("tensor 'nope_x' is not in checkpoint"), str(info.value)


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
        if c.dtype(name) == "bfloat16" and ml_dtypes is None:
            continue  # no bfloat16 in numpy without ml_dtypes (test_raw_reads checks its bytes)
        assert_same(c[name], cli_value(shown[name]), name)


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


def test_partitioned_is_assembled(examples):
    c = tfckpt.open(str(examples / "mixed" / "mixed"))
    emb = c["emb"]
    assert emb.shape == (10, 4) and emb.dtype == np.float32
    assert_same(emb, MIXED_VALUES["emb"])
    assert emb.flags.c_contiguous


def test_unicode_names(tmp_path):
    names = ["\u00fcber/kernel", "\u4e2d\u6587", "plain", "sp ace/x"]
    prefix = str(tmp_path / "u")
    tfckpt.save(prefix, {n: np.array([i], np.int32) for i, n in enumerate(names)})
    c = tfckpt.open(prefix)
    assert c.names() == byte_order(names)
    for i, n in enumerate(names):
        assert n in c
        assert_same(c[n], np.array([i], np.int32), n)


def test_to_dict(examples):
    c = tfckpt.open(str(examples / "mixed" / "mixed"))
    if ml_dtypes is None:  # "brain" is bfloat16: the same error as c["brain"]
        raises_error(c.to_dict, "ml_dtypes")
        return
    d = c.to_dict()
    assert isinstance(d, dict) and list(d) == c.names()
    for name, want in MIXED_VALUES.items():
        assert_same(d[name], want, name)
