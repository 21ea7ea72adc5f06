"""`tfckpt verify`: passes on what TensorFlow wrote, names tensor and file for each corruption."""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

import index_reader
import tfckpt_testlib as lib

VICTIM = np.arange(256, dtype=np.float64) * np.pi - 100.0


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    prefix = str(tmp_path_factory.mktemp("verify") / "ckpt")
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=["small/a", "victim", "words", "after"],
        shape_and_slices=[""] * 4,
        tensors=[tf.constant([1.0, 2.0, 3.0]), tf.constant(VICTIM),
                 tf.constant([b"hello", b"", b"world!"]), tf.constant([7, 8, 9], tf.int32)])
    return prefix


def _copy_bundle(prefix, directory):
    directory.mkdir(parents=True, exist_ok=True)
    src_dir, base = os.path.split(prefix)
    for f in os.listdir(src_dir):
        if f.startswith(base + "."):
            shutil.copy(os.path.join(src_dir, f), directory / f)
    return str(directory / base)


@pytest.fixture
def ckpt(pristine, tmp_path):
    return _copy_bundle(pristine, tmp_path / "copy")


def _entry_location(prefix, name):
    header, entries = index_reader.read_index(prefix + ".index")
    entry = entries[name.encode()]
    path = "%s.data-%05d-of-%05d" % (prefix, entry.shard_id, header.num_shards)
    return path, entry.offset, entry.size


def _flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x40]))


def _assert_reports(proc, *needles):
    assert proc.returncode > 0, proc.where
    text = proc.out + proc.err
    for needle in needles:
        assert needle in text, "%r not in output\n%s" % (needle, proc.where)


def test_verify_good(tfckpt, ckpt):
    tfckpt.run("verify", ckpt)


def test_verify_flipped_byte_in_tensor(tfckpt, ckpt):
    path, offset, size = _entry_location(ckpt, "victim")
    data = lib.file_bytes(path)
    assert data.find(VICTIM.tobytes()) == offset  # index and raw bytes agree
    _flip(path, offset + size // 2)
    proc = tfckpt.run("verify", ckpt, expect_rc=None)
    _assert_reports(proc, "victim", os.path.basename(path))
    # TF agrees the tensor is damaged (and only that one)
    reader = tf.train.load_checkpoint(ckpt)
    with pytest.raises(tf.errors.OpError, match="Checksum does not match"):
        reader.get_tensor("victim")
    np.testing.assert_array_equal(reader.get_tensor("after"), [7, 8, 9])


def test_verify_reports_every_damaged_tensor(tfckpt, ckpt):
    for name in ("small/a", "victim", "after"):
        path, offset, size = _entry_location(ckpt, name)
        _flip(path, offset + size - 1)
    proc = tfckpt.run("verify", ckpt, expect_rc=None)
    _assert_reports(proc, "small/a", "victim", "after")


def test_verify_flipped_byte_in_string_payload(tfckpt, ckpt):
    path, offset, size = _entry_location(ckpt, "words")
    _flip(path, offset + size - 2)  # inside "world!"
    _assert_reports(tfckpt.run("verify", ckpt, expect_rc=None), "words", os.path.basename(path))


def test_verify_flipped_byte_in_string_lengths(tfckpt, ckpt):
    path, offset, _ = _entry_location(ckpt, "words")
    _flip(path, offset)  # the first varint length
    _assert_reports(tfckpt.run("verify", ckpt, expect_rc=None), "words")


def test_verify_truncated_data_file(tfckpt, ckpt):
    path, offset, _ = _entry_location(ckpt, "after")
    with open(path, "r+b") as f:
        f.truncate(offset + 2)
    _assert_reports(tfckpt.run("verify", ckpt, expect_rc=None), "after",
                    os.path.basename(path))


def test_verify_missing_data_file(tfckpt, ckpt):
    path = lib.data_files(ckpt)[0]
    os.remove(path)
    _assert_reports(tfckpt.run("verify", ckpt, expect_rc=None), os.path.basename(path))


def test_verify_corrupt_index(tfckpt, ckpt):
    path = ckpt + ".index"
    data = lib.file_bytes(path)
    _flip(path, data.find(b"victim"))  # a key byte inside the (checksummed) data block
    _assert_reports(tfckpt.run("verify", ckpt, expect_rc=None), os.path.basename(path))


def test_verify_several_checkpoints(tfckpt, pristine, ckpt, tmp_path):
    tfckpt.run("verify", pristine, ckpt)
    path, offset, size = _entry_location(ckpt, "victim")
    _flip(path, offset + 3)
    proc = tfckpt.run("verify", pristine, ckpt, expect_rc=None)
    _assert_reports(proc, "victim", os.path.basename(path))


def test_verify_partitioned_slice(tfckpt, tf1_partitioned, tmp_path):
    tfckpt.run("verify", tf1_partitioned)
    copy = _copy_bundle(tf1_partitioned, tmp_path / "p")
    _, entries = index_reader.read_index(copy + ".index")
    slice_keys = [k for k in entries if k.startswith(b"\x00emb\x00")]
    assert len(slice_keys) == 3
    header, _ = index_reader.read_index(copy + ".index")
    entry = entries[slice_keys[1]]
    path = "%s.data-%05d-of-%05d" % (copy, entry.shard_id, header.num_shards)
    _flip(path, entry.offset + 1)
    _assert_reports(tfckpt.run("verify", copy, expect_rc=None), "emb", os.path.basename(path))


def test_verify_sharded_second_shard(tfckpt, tf1_sharded, tmp_path):
    tfckpt.run("verify", tf1_sharded)
    copy = _copy_bundle(tf1_sharded, tmp_path / "s")
    path, offset, size = _entry_location(copy, "dev1/w")
    _flip(path, offset + size - 1)
    _assert_reports(tfckpt.run("verify", copy, expect_rc=None), "dev1/w", os.path.basename(path))


@pytest.mark.parametrize("fixture_name", ["tf1_plain", "tf2_dir", "saved_model_dir",
                                          "all_dtypes", "grid_partitioned"])
def test_verify_tf_written(tfckpt, request, fixture_name):
    ckpt = request.getfixturevalue(fixture_name)
    if isinstance(ckpt, tuple):
        ckpt = ckpt[0]
    tfckpt.run("verify", ckpt)
