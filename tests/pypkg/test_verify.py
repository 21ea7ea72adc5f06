"""CRC32C checks: verify() and the check of each tensor's first read."""

import os

import numpy as np
import pytest

import tfckpt

from pypkg_testlib import ml_dtypes, MIXED_DTYPES, MIXED_VALUES, BRAIN, assert_same, raises_error


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
            want = cli_or_none.json("verify", "--json", path)["checkpoints"][0]
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
