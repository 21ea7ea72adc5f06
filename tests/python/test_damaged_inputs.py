"""Writing commands never copy damage through. A source with one flipped data byte, or with an
`.index` of another checkpoint beside its data, makes TensorFlow fail at restore; every command
that writes (merge, edit, transfer, convert, average) must fail too, naming the tensor, the file
and the offset, and leave no output. `--link hardlink` and `--move` do not read the bytes they
take, unless `--verify` asks them to."""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

import index_reader
import ops_testlib as ops
import tfckpt_testlib as lib


def _save(prefix, seed):
    rng = np.random.default_rng(seed)
    return lib.save_tensors(prefix, {
        "enc/w": tf.constant(rng.normal(size=(64, 32)).astype(np.float32)),
        "enc/b": tf.constant(rng.normal(size=32).astype(np.float64)),
        "head/w": tf.constant(rng.normal(size=(32, 4)).astype(np.float32)),
        "vocab": tf.constant([b"alpha", b"beta", b"gamma"]),
    })


def _flip(prefix, name):
    """Flips one byte in the middle of tensor `name`'s data; returns its (file, offset)."""
    _, entries = index_reader.read_index(prefix + ".index")
    e = entries[name.encode()]
    path = "%s.data-%05d-of-%05d" % (prefix, e.shard_id, ops.header_num_shards(prefix))
    with open(path, "r+b") as f:
        f.seek(e.offset + e.size // 2)
        b = f.read(1)
        f.seek(e.offset + e.size // 2)
        f.write(bytes([b[0] ^ 0x10]))
    return path, e.offset


@pytest.fixture()
def damaged(tmp_path):
    """A TF-written checkpoint with one flipped byte in enc/w, which TensorFlow refuses."""
    prefix = _save(str(tmp_path / "src" / "model"), 1)
    path, offset = _flip(prefix, "enc/w")
    with pytest.raises(tf.errors.OpError, match="Checksum does not match"):
        tf.train.load_checkpoint(prefix).get_tensor("enc/w")
    return {"prefix": prefix, "file": os.path.basename(path), "offset": offset}


def _assert_refused(proc, damaged, out):
    assert "enc/w" in proc.err and damaged["file"] in proc.err, proc.err
    assert "at offset %d" % damaged["offset"] in proc.err, proc.err
    assert "nothing was written" in proc.err, proc.err
    leftovers = [n for n in os.listdir(os.path.dirname(out)) if os.path.basename(out) in n] \
        if os.path.isdir(os.path.dirname(out)) else []
    assert not leftovers, leftovers


@pytest.mark.parametrize("link", ["auto", "copy"])
def test_merge_refuses_damaged_source(tfckpt, tmp_path, damaged, link):
    other = lib.save_tensors(str(tmp_path / "o" / "other"), {"x": tf.constant([1.0, 2.0])})
    out = str(tmp_path / "out" / "m")
    before = ops.snapshot(damaged["prefix"], other)
    proc = tfckpt.run("merge", damaged["prefix"], other, "--link", link, "-o", out, expect_rc=2)
    _assert_refused(proc, damaged, out)
    ops.assert_unchanged(before, damaged["prefix"], other)


def test_edit_refuses_damaged_source(tfckpt, tmp_path, damaged):
    for extra in ([], ["--rename", "enc/=encoder/"], ["--drop", "^head/"]):
        out = str(tmp_path / ("out%d" % len(extra)) / "m")
        proc = tfckpt.run("edit", damaged["prefix"], *extra, "-o", out, expect_rc=2)
        _assert_refused(proc, damaged, out)


def test_transfer_refuses_damaged_source_and_model(tfckpt, tmp_path, damaged):
    model = _save(str(tmp_path / "model" / "m"), 2)
    out = str(tmp_path / "out" / "m")
    proc = tfckpt.run("transfer", "--into", model, "--from", damaged["prefix"], "--map",
                      "enc/=enc/", "-o", out, expect_rc=2)
    _assert_refused(proc, damaged, out)
    # The model's own damaged tensor, kept as it is, is refused too.
    clean = _save(str(tmp_path / "clean" / "m"), 3)
    proc = tfckpt.run("transfer", "--into", damaged["prefix"], "--from", clean, "--map",
                      "head/=head/", "-o", out, expect_rc=2)
    _assert_refused(proc, damaged, out)


def test_convert_and_average_refuse_damaged_source(tfckpt, tmp_path, damaged):
    out = str(tmp_path / "out" / "model.safetensors")
    proc = tfckpt.run("convert", damaged["prefix"], "-o", out, "--skip-unsupported",
                      expect_rc=2)
    assert "enc/w" in proc.err and damaged["file"] in proc.err, proc.err
    assert not os.path.exists(out)
    clean = _save(str(tmp_path / "clean" / "m"), 3)
    out = str(tmp_path / "avg" / "m")
    proc = tfckpt.run("average", damaged["prefix"], clean, "-o", out, expect_rc=2)
    assert "enc/w" in proc.err and damaged["file"] in proc.err, proc.err
    assert not os.path.exists(out + ".index")


def test_index_of_another_checkpoint_beside_the_data(tfckpt, tmp_path):
    """Same names and shapes, other values: the offsets fit, the CRCs do not. TF refuses it."""
    a = _save(str(tmp_path / "a" / "model"), 1)
    b = _save(str(tmp_path / "b" / "model"), 2)
    mixed_dir = tmp_path / "mixed"
    mixed_dir.mkdir()
    shutil.copy(a + ".index", mixed_dir / "model.index")
    shutil.copy(b + ".data-00000-of-00001", mixed_dir / "model.data-00000-of-00001")
    mixed = str(mixed_dir / "model")
    with pytest.raises(tf.errors.OpError, match="Checksum does not match"):
        tf.train.load_checkpoint(mixed).get_tensor("enc/w")
    for args in (["merge", mixed], ["edit", mixed], ["transfer", "--from", mixed, "--map", "/=/"]):
        out = str(tmp_path / ("out-" + args[0]) / "m")
        proc = tfckpt.run(*args, "-o", out, expect_rc=2)
        assert "checksum mismatch" in proc.err and "model.data-00000-of-00001" in proc.err, \
            proc.err
        assert not os.path.exists(out + ".index")


def test_hardlink_and_move_check_only_with_verify(tfckpt, tmp_path, damaged):
    out = str(tmp_path / "out" / "m")
    proc = tfckpt.run("merge", damaged["prefix"], "--link", "hardlink", "--verify", "-o", out,
                      expect_rc=2)
    _assert_refused(proc, damaged, out)
    moved = ops.copy_bundle(damaged["prefix"], tmp_path / "tomove")
    before = ops.snapshot(moved)
    proc = tfckpt.run("merge", moved, "--move", "--verify", "-o", out, expect_rc=2)
    _assert_refused(proc, damaged, out)
    ops.assert_unchanged(before, moved)
    # Without --verify the file is linked unread, as documented: the output shares the damage.
    tfckpt.run("merge", damaged["prefix"], "--link", "hardlink", "-o", out)
    with pytest.raises(tf.errors.OpError, match="Checksum does not match"):
        tf.train.load_checkpoint(out).get_tensor("enc/w")
    help_text = tfckpt.run("merge", "--help").out
    assert "without reading them" in help_text and "--verify" in help_text, help_text


def test_undamaged_inputs_still_pass_through_whole(tfckpt, tmp_path):
    """The check reads the bytes but still moves them the cheap way, and TF reads the result."""
    a = _save(str(tmp_path / "a" / "model"), 1)
    out = str(tmp_path / "out" / "m")
    summary = tfckpt.json("merge", a, "--json", "-o", out)
    assert summary["data"]["files_reflinked"] + summary["data"]["files_copied"] == 1, summary
    ops.assert_same_checkpoint(out, a)
