"""Writing with tfckpt.save and tfckpt.Writer: round trips of every dtype and layout, atomic
commits, overwrite, and what is left after an error.
"""

import os

import numpy as np
import pytest

import tfckpt

from pypkg_testlib import (
    ml_dtypes, needs_ml_dtypes, byte_order, assert_same, bundle_files, all_files, cli_value,
    cli_show, raises_error)


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
    assert ret is None
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
        # stored little-endian, read as a view on the file: little-endian whatever was given
        assert got.dtype == want.dtype.newbyteorder("<"), (name, got.dtype, want.dtype)


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
    # in directories the writer had to create: they are removed too
    nested = tmp_path / "created" / "by" / "writer"
    with pytest.raises(KeyError):
        with tfckpt.Writer(str(nested / "model")) as w:
            w.add("x", np.ones(10))
            raise KeyError("escape")
    assert sorted(os.listdir(tmp_path)) == ["w"], os.listdir(tmp_path)
    # abort() too; and only what the writer created, and nothing that holds a file
    (tmp_path / "kept").mkdir()
    w = tfckpt.Writer(tmp_path / "kept" / "new" / "deeper" / "model")
    (tmp_path / "kept" / "new" / "note.txt").write_text("another program's file")
    w.add("x", np.ones(3))
    w.abort()
    assert all_files(tmp_path / "kept") == ["new/note.txt"]
    assert not (tmp_path / "kept" / "new" / "deeper").exists()
    # a failed save() (the second array has no checkpoint dtype) leaves nothing either
    with pytest.raises(tfckpt.InvalidArgumentError):
        tfckpt.save(tmp_path / "s" / "t" / "model",
                    {"fine": np.ones(2), "bad": np.array(["2020-01-01"], "datetime64[D]")})
    assert not (tmp_path / "s").exists()


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
