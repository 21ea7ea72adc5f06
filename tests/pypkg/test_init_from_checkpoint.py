"""tfckpt.init_from_checkpoint into numpy arrays and objects with assign()."""

import numpy as np
import pytest

import tfckpt

from pypkg_testlib import (
    ml_dtypes, needs_ml_dtypes, MIXED_VALUES, BRAIN, assert_same, raises_error)


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
    with pytest.raises(tfckpt.InvalidArgumentError) as info:
        tfckpt.init_from_checkpoint(src, dict(amap, w="rec"), t)  # plus one valid entry
    assert type(info.value) is tfckpt.InvalidArgumentError, repr(info.value)
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
