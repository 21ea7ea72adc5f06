"""Bundles written on a big-endian machine (s390x): their header says BIG, fixed-size values are
stored in big-endian order, string lengths are checksummed in it. TensorFlow on this
(little-endian) machine byte-swaps them on read; tfckpt must read every tensor TensorFlow reads
with the same values, refuse the ones TensorFlow refuses, and write little-endian outputs.

No big-endian machine is at hand, so the tests rewrite bundles TensorFlow wrote into the form a
big-endian TensorFlow writes. TensorFlow judges the rewriting: it must read each rewritten
tensor it can byte-swap with the original's values (so the CRCs and the byte order are right)."""

import base64
import json
import os
import struct

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import tensor_bundle_pb2

import index_reader
import tfckpt_testlib as lib

import tfckpt as tfckpt_py  # the Python package (the `tfckpt` fixture is the command line)

# CRC32C (Castagnoli), as the bundle format checksums data, and its masking.
_CRC_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def _crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _mask(crc):
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


# The unit whose bytes a big-endian writer stores reversed, by dtype: what the machine's memory
# holds. Types of one byte per element are stored alike in both orders.
def _unit(dtype_name):
    if dtype_name in ("complex64",):
        return 4
    if dtype_name in ("complex128",):
        return 8
    if dtype_name in ("string", "variant"):
        return None
    return tf.as_dtype(dtype_name).size


def _big_endian_strings(raw, n):
    """A string tensor's stored bytes as a big-endian writer stores them, and its entry CRC."""
    pos, lengths = 0, []
    for _ in range(n):
        length, pos = index_reader.varint(raw, pos)
        lengths.append(length)
    varints, body = raw[:pos], raw[pos + 4:]
    crc = 0
    for length in lengths:
        crc = _crc32c(struct.pack(">I", length), crc)
    checksum = struct.pack(">I", _mask(crc))
    crc = _crc32c(body, _crc32c(checksum, crc))
    return varints + checksum + body, crc


def to_big_endian(bundle_tool, src, dst):
    """Rewrites the one-shard bundle `src` as a big-endian machine would have written it."""
    header, entries = index_reader.read_index(src + ".index")
    assert header.num_shards == 1
    with open(lib.data_files(src)[0], "rb") as f:
        data = f.read()
    out, table = bytearray(), []
    for key in sorted(entries):
        e = entries[key]
        raw = data[e.offset:e.offset + e.size]
        name = tf.as_dtype(e.dtype).name
        if e.size == 0:  # e.g. the full entry of a partitioned tensor: no data
            stored, crc = b"", 0
        elif name == "string":
            n = int(np.prod([d.size for d in e.shape.dim])) if e.shape.dim else 1
            stored, crc = _big_endian_strings(raw, n)
        else:
            unit = _unit(name)
            stored = b"".join(raw[i:i + unit][::-1] for i in range(0, len(raw), unit))
            crc = _crc32c(stored)
        entry = tensor_bundle_pb2.BundleEntryProto()
        entry.CopyFrom(e)
        entry.shard_id, entry.offset, entry.size, entry.crc32c = 0, len(out), len(stored), _mask(crc)
        out += stored
        table.append((key, entry.SerializeToString()))
    header.endianness = tensor_bundle_pb2.BundleHeaderProto.BIG
    table.append((b"", header.SerializeToString()))
    with open(dst + ".data-00000-of-00001", "wb") as f:
        f.write(out)
    spec = dst + ".entries.json"
    with open(spec, "w") as f:
        json.dump([[base64.b64encode(k).decode(), base64.b64encode(v).decode()]
                   for k, v in table], f)
    bundle_tool.run("table", spec, dst + ".index")
    os.remove(spec)
    return dst


def _tf_read(prefix):
    """{name: value, or the error TensorFlow raises}."""
    reader = tf.train.load_checkpoint(prefix)
    out = {}
    for name in reader.get_variable_to_shape_map():
        try:
            out[name] = reader.get_tensor(name)
        except (tf.errors.OpError, ValueError) as exc:
            out[name] = exc
    return out


def _same(got, want, what):
    got, want = np.asarray(got), np.asarray(want)
    if want.dtype == object or want.dtype.kind == "S":
        assert got.tolist() == want.tolist(), what
    else:
        assert got.dtype == want.dtype and got.shape == want.shape, (what, got.dtype, want.dtype)
        assert got.tobytes() == want.tobytes(), what


@pytest.fixture(scope="module")
def all_dtypes(tmp_path_factory, bundle_tool):
    """(little-endian prefix, its big-endian twin, TF's values of the original)."""
    d = tmp_path_factory.mktemp("big_endian")
    little, _, _ = lib.save_all_dtypes(str(d / "little"))
    big = to_big_endian(bundle_tool, little, str(d / "big"))
    return little, big, _tf_read(little)


def test_tensorflow_reads_the_rewritten_bundle(all_dtypes):
    """The rewriting is right: TF reads every tensor it can byte-swap with the original's values,
    and refuses exactly the dtypes it cannot swap."""
    _, big, want = all_dtypes
    got = _tf_read(big)
    assert set(got) == set(want)
    refused = set()
    for name, value in got.items():
        if isinstance(value, Exception):
            refused.add(name.split("/")[1])
        else:
            _same(value, want[name], name)
    # 16/32/64-bit types, complex, bool, 8-bit types and strings all read
    for dtype in ("float16", "bfloat16", "float32", "float64", "complex64", "complex128", "int16",
                  "int32", "int64", "uint16", "uint32", "uint64", "qint16", "qint32", "bool",
                  "int8", "uint8", "qint8", "quint8", "string"):
        assert dtype not in refused, (dtype, refused)
    assert refused, "TensorFlow refuses no dtype: the test learns nothing about refusals"


def test_tfckpt_reads_what_tensorflow_reads(tfckpt, all_dtypes):
    little, big, want = all_dtypes
    got = _tf_read(big)
    listing = tfckpt.json("ls", big, "--json")
    assert {t["name"] for t in listing["tensors"]} == set(want)
    c = tfckpt_py.open(big)
    originals = lib.tf_read_all(little)  # (dtype, shape, value); TF reads `big` alike (above)
    for name, value in sorted(got.items()):
        if isinstance(value, Exception):  # TF refuses it: so does tfckpt, saying why
            proc = tfckpt.run("show", big, name, expect_rc=2)
            assert "big-endian" in proc.err and name in proc.err, proc.err
            with pytest.raises(tfckpt_py.UnsupportedError, match="big-endian"):
                c[name]
            continue
        _same(c[name], value, name)
        shown = tfckpt.json("show", big, name, "--json")["tensors"]
        lib.assert_values_match(shown[0], *originals[name])
    # verify: every stored CRC holds, but the tensors no reader can swap are problems, each named
    proc = tfckpt.run("verify", big, "--json", expect_rc=1)
    problems = {p["tensor"] for r in lib.checked_json(["verify", "--json"], proc.out)["checkpoints"]
                for p in r["problems"]}
    assert problems == {n for n, v in got.items() if isinstance(v, Exception)}, problems


def test_outputs_are_little_endian(tfckpt, all_dtypes, tmp_path):
    """edit, merge and convert of a big-endian bundle write little-endian values TF restores."""
    _, big, want = all_dtypes
    tf_big = _tf_read(big)
    readable = sorted(n for n, v in tf_big.items() if not isinstance(v, Exception))
    refused = sorted({n.split("/")[1] for n, v in tf_big.items() if isinstance(v, Exception)})
    out = str(tmp_path / "edited" / "model")
    # writing a dtype TF cannot swap fails, naming it; leaving those out works
    proc = tfckpt.run("edit", big, "-o", out, expect_rc=2)
    assert "big-endian" in proc.err, proc.err
    assert not os.path.exists(out + ".index")
    tfckpt.run("edit", big, *sum((["--drop", "^dt/%s/" % d] for d in refused), []), "-o", out)
    header, _ = index_reader.read_index(out + ".index")
    assert header.endianness == tensor_bundle_pb2.BundleHeaderProto.LITTLE
    got = _tf_read(out)
    assert sorted(got) == readable
    for name in readable:
        _same(got[name], want[name], name)
    floats = [n for n in readable if "/float32/" in n or "/float64/" in n]
    npz = str(tmp_path / "f.npz")
    tfckpt.run("convert", big, "--keep", "/float(32|64)/", "-o", npz)
    with np.load(npz) as z:
        for name in floats:
            np.testing.assert_array_equal(z[name], want[name])


def test_partitioned_big_endian(tfckpt, bundle_tool, tf1_partitioned, tmp_path):
    """Slices of a partitioned variable, byte-swapped, assemble as TF assembles them; an edit
    writes them little-endian, as slices, and TF restores the same full value."""
    if len(lib.data_files(tf1_partitioned)) != 1:
        pytest.fail("the partitioned fixture is expected to have one data file")
    big = to_big_endian(bundle_tool, tf1_partitioned, str(tmp_path / "big"))
    want, got = _tf_read(tf1_partitioned), _tf_read(big)
    assert set(got) == set(want)
    c = tfckpt_py.open(big)
    for name, value in want.items():
        _same(got[name], value, name)
        _same(c[name], value, name)
    tfckpt.run("verify", big)
    # the same values as the little-endian original, although every stored byte differs
    tfckpt.run("diff", big, tf1_partitioned)
    for command in (["edit", big], ["merge", big], ["merge", big, "--link", "hardlink"]):
        out = str(tmp_path / command[0] / str(len(command)) / "model")
        tfckpt.run(*command, "-o", out)
        header, entries = index_reader.read_index(out + ".index")
        assert header.endianness == tensor_bundle_pb2.BundleHeaderProto.LITTLE
        assert any(e.slices for e in entries.values())
        got = _tf_read(out)
        assert set(got) == set(want)
        for name, value in got.items():
            _same(value, want[name], name)
