"""Every dtype TensorFlow can save, read back by tfckpt and compared with TensorFlow's values."""

import base64
import json
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2

import tfckpt_testlib as lib

DTYPE_NAMES = [n for n in lib.all_tf_dtype_names()
               if n not in lib.NOT_STORABLE and n != "variant"]


@pytest.fixture(scope="module")
def dtype_bundle(all_dtypes):
    prefix, names, failures = all_dtypes
    return prefix, names, failures, lib.tf_read_all(prefix)


@pytest.fixture(scope="module")
def shown_by_name(tfckpt, dtype_bundle):
    prefix, names, _, _ = dtype_bundle
    shown = tfckpt.json("show", prefix, *names, "--json")["tensors"]
    assert [e["name"] for e in shown] == names
    return {e["name"]: e for e in shown}


def test_expected_dtypes_are_covered():
    # The well-known ones must be in TF's list; a missing one means the enumeration broke.
    for name in ["float16", "bfloat16", "float32", "float64", "complex64", "complex128", "int8",
                 "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool",
                 "string", "qint8", "quint8", "qint16", "quint16", "qint32", "float8_e4m3fn",
                 "float8_e5m2", "int4", "uint4"]:
        assert name in DTYPE_NAMES


def test_ls_all_dtypes(tfckpt, dtype_bundle):
    prefix, names, _, tf_values = dtype_bundle
    listing = tfckpt.json("ls", prefix, "--json")
    lib.assert_ls_matches_tf(listing, prefix, tf_values)
    assert [t["name"] for t in listing["tensors"]] == sorted(names, key=str.encode)


@pytest.mark.parametrize("dtype_name", DTYPE_NAMES)
def test_dtype_values(dtype_bundle, shown_by_name, dtype_name):
    _, names, failures, tf_values = dtype_bundle
    if dtype_name in failures:
        pytest.skip("TensorFlow itself cannot save %s: %s" % (dtype_name, failures[dtype_name]))
    mine = [n for n in names if n.split("/")[1] == dtype_name]
    assert len(mine) == 4
    for name in mine:
        dt, shape, value = tf_values[name]
        assert dt == dtype_name
        lib.assert_values_match(shown_by_name[name], dt, shape, value)


def test_resource_dtype_is_not_saveable_by_tf():
    """The only dtype left out above: TF's SaveV2 dies on a resource handle."""
    code = textwrap.dedent("""
        import os
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        import sys, tensorflow as tf
        v = tf.Variable(1.0)
        tf.raw_ops.SaveV2(prefix=sys.argv[1], tensor_names=["r"], shape_and_slices=[""],
                          tensors=[v.handle])
        """)
    with tempfile.TemporaryDirectory() as d:
        proc = subprocess.run([sys.executable, "-c", code, d + "/r"], capture_output=True,
                              timeout=120)
    assert proc.returncode != 0


def _significant_digits(token):
    mantissa = token.lower().lstrip("-").split("e")[0].replace(".", "")
    return len(mantissa.strip("0")) or 1


@pytest.mark.parametrize("dtype_name", ["float16", "float32", "float64"])
def test_floats_are_shortest_round_trip(tfckpt, dtype_bundle, dtype_name):
    prefix = dtype_bundle[0]
    name = "dt/%s/vector" % dtype_name
    raw = tfckpt.run("show", prefix, name, "--json").out
    lib.checked_json(["show", "--json"], raw)
    tokens = json.loads(raw, parse_float=str, parse_int=str,
                        parse_constant=str)["tensors"][0]["values"]
    want = dtype_bundle[3][name][2]
    np_type = np.dtype(dtype_name).type
    for token, value in zip(tokens, want):
        if not np.isfinite(value):
            assert token in ("NaN", "Infinity", "-Infinity"), token
            continue
        assert np_type(float(token)) == value and (
            np.signbit(np_type(float(token))) == np.signbit(value)), (token, value)
        shortest = np.format_float_scientific(np_type(value), unique=True)
        assert _significant_digits(token) <= _significant_digits(shortest), (token, shortest)


def test_special_float_spellings(tfckpt, dtype_bundle):
    prefix = dtype_bundle[0]
    raw = tfckpt.run("show", prefix, "dt/float32/vector", "--json").out
    for spelling in ("NaN", "Infinity", "-Infinity"):
        assert spelling in raw


def test_json_output_is_strict_utf8(tfckpt, dtype_bundle):
    prefix = dtype_bundle[0]
    raw = tfckpt.run("show", prefix, "dt/string/vector", "dt/string/matrix", "--json").stdout
    raw.decode("utf-8")  # raises if the tool leaked raw non-UTF-8 bytes


# g. variant ------------------------------------------------------------------------------------

def test_variant_ls(tfckpt, variant_ckpt):
    listing = tfckpt.json("ls", variant_ckpt, "--json")
    lib.assert_ls_matches_tf(listing, variant_ckpt)
    by_name = {t["name"]: t for t in listing["tensors"]}
    assert by_name["list"]["dtype"] == "variant" and by_name["list"]["shape"] == []
    assert by_name["lists"]["dtype"] == "variant" and by_name["lists"]["shape"] == [2]


def _decode_variant(value):
    assert isinstance(value, dict) and set(value) == {"base64"}, value
    return base64.b64decode(value["base64"], validate=True)


def test_variant_show_is_opaque_bytes(tfckpt, variant_ckpt):
    shown = {e["name"]: e for e in tfckpt.json("show", variant_ckpt, "list", "lists", "x",
                                                  "--json")["tensors"]}
    scalar = shown["list"]
    assert scalar["dtype"] == "variant" and scalar["shape"] == []
    got = [_decode_variant(scalar["values"])]
    assert got == lib.variant_elements_from_file(variant_ckpt, "list")
    vector = shown["lists"]
    assert vector["dtype"] == "variant" and vector["shape"] == [2]
    got = [_decode_variant(v) for v in vector["values"]]
    assert got == lib.variant_elements_from_file(variant_ckpt, "lists")
    # The opaque bytes are TF's serialized TensorLists, holding the values that were saved.
    protos = [tensor_pb2.VariantTensorDataProto.FromString(b)
              for b in [_decode_variant(scalar["values"])] + got]
    assert all(p.type_name == "tensorflow::TensorList" for p in protos)
    elements = [[tf.make_ndarray(t).tolist() for t in p.tensors] for p in protos]
    assert elements == [[1.0, 2.0, 3.0], [[1, 2], [3, 4]], [b"s", b""]]
    np.testing.assert_array_equal(np.array(shown["x"]["values"], np.float32), [1.0, 2.0])


def test_variant_verify(tfckpt, variant_ckpt):
    tfckpt.run("verify", variant_ckpt)
