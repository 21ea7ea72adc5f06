"""Bad inputs: a clear one-line message on stderr and a non-zero exit, never a crash."""

import os
import re
import shutil

import pytest

import tfckpt_testlib as lib


def _bad_inputs(tmp_path, tf1_plain):
    """Bad inputs, all made here. (V1 checkpoints are no longer refused: tests/python/test_v1.py
    reads them.)"""
    rnd = tmp_path / "random.bin"
    rnd.write_bytes(bytes((i * 7919 + 13) % 251 for i in range(4096)))
    fake_index_prefix = tmp_path / "fake"
    (tmp_path / "fake.index").write_bytes(bytes((i * 31 + 7) % 256 for i in range(1000)))
    empty_index = tmp_path / "empty"
    (tmp_path / "empty.index").write_bytes(b"")
    truncated = tmp_path / "truncated"
    data = lib.file_bytes(tf1_plain + ".index")
    (tmp_path / "truncated.index").write_bytes(data[:len(data) // 2])
    for f in lib.data_files(tf1_plain):
        shutil.copy(f, str(tmp_path / os.path.basename(f).replace(
            os.path.basename(tf1_plain), "truncated")))
    corrupt = tmp_path / "corrupt"
    data = bytearray(lib.file_bytes(tf1_plain + ".index"))
    data[data.find(b"dense/bias")] ^= 0x01  # a key byte: the block checksum no longer matches
    (tmp_path / "corrupt.index").write_bytes(bytes(data))
    for f in lib.data_files(tf1_plain):
        shutil.copy(f, str(tmp_path / os.path.basename(f).replace(
            os.path.basename(tf1_plain), "corrupt")))
    empty_dir = tmp_path / "empty_dir"
    empty_dir.mkdir()
    bad_state = tmp_path / "bad_state"
    bad_state.mkdir()
    (bad_state / "checkpoint").write_text('model_checkpoint_path: "does-not-exist"\n')
    return {
        "missing": str(tmp_path / "does" / "not" / "exist"),
        "random_file": str(rnd),
        "random_index": str(fake_index_prefix),
        "empty_index": str(empty_index),
        "truncated_index": str(truncated),
        "corrupt_index": str(corrupt),
        "empty_dir": str(empty_dir),
        "state_points_nowhere": str(bad_state),
    }


KINDS = ["missing", "random_file", "random_index", "empty_index", "truncated_index",
         "corrupt_index", "empty_dir", "state_points_nowhere"]


@pytest.fixture
def bad(tmp_path, tf1_plain):
    return _bad_inputs(tmp_path, tf1_plain).__getitem__


def _assert_clean_failure(proc):
    assert proc.returncode > 0, proc.where
    lines = [line for line in proc.err.splitlines() if line.strip()]
    assert len(lines) == 1, "expected one message line on stderr:\n" + proc.where
    assert "terminate called" not in proc.err and "Assertion" not in proc.err, proc.where


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", ["ls", "ls --json", "show", "verify", "diff"])
def test_bad_input(tfckpt, bad, tf1_plain, kind, command):
    path = bad(kind)
    args = {"ls": ["ls", path], "ls --json": ["ls", path, "--json"],
            "show": ["show", path, "a", "--json"], "verify": ["verify", path],
            "diff": ["diff", tf1_plain, path, "--json"]}[command]
    proc = tfckpt.run(*args, expect_rc=None)
    _assert_clean_failure(proc)
    if command == "diff":
        assert proc.returncode == 2, proc.where


def test_missing_path_message_names_it(tfckpt, tmp_path):
    missing = str(tmp_path / "nope" / "model.ckpt-7")
    proc = tfckpt.run("ls", missing, expect_rc=None)
    _assert_clean_failure(proc)
    assert "model.ckpt-7" in proc.err, proc.where


def test_unlisted_step(tfckpt, tf1_steps_dir):
    for args in (["ls", tf1_steps_dir + "@99"], ["ls", tf1_steps_dir, "--step", "99"]):
        _assert_clean_failure(tfckpt.run(*args, expect_rc=None))


@pytest.mark.parametrize("args", [[], ["frobnicate"], ["ls"], ["show"], ["diff", "x"],
                                  ["ls", "--no-such-flag", "x"]])
def test_usage_errors(tfckpt, args):
    proc = tfckpt.run(*args, expect_rc=None)
    assert proc.returncode > 0, proc.where
    assert proc.err.strip(), proc.where


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_show_with_damaged_data_file(tfckpt, tf1_plain, tmp_path, damage):
    """The index is fine, the data file is not: reading values fails cleanly."""
    base = os.path.basename(tf1_plain)
    shutil.copy(tf1_plain + ".index", str(tmp_path / (base + ".index")))
    prefix = str(tmp_path / base)
    if damage == "truncated":
        for f in lib.data_files(tf1_plain):
            data = lib.file_bytes(f)
            (tmp_path / os.path.basename(f)).write_bytes(data[:len(data) // 3])
    names = sorted(lib.tf_read_all(tf1_plain))
    proc = tfckpt.run("show", prefix, *names, "--json", expect_rc=None)
    if damage == "missing":  # an incomplete checkpoint: one warning, then the error, both naming it
        missing = prefix + ".data-00000-of-00001"
        lines = [line for line in proc.err.splitlines() if line.strip()]
        assert proc.returncode == 2 and len(lines) == 2, proc.where
        assert lines[0].startswith("tfckpt: warning: ") and missing in lines[0], proc.where
        assert lines[1].startswith("tfckpt: error: ") and missing in lines[1], proc.where
    else:
        _assert_clean_failure(proc)
    proc = tfckpt.run("diff", tf1_plain, prefix, "--json", expect_rc=None)
    assert proc.returncode == 2, proc.where


def test_windows_paths_get_a_hint(tfckpt, tf1_plain, tmp_path):
    """A path written the Windows way is one odd file name here: the message says so, and what it
    suggests instead names the checkpoint."""
    relative = os.path.relpath(tf1_plain, str(tmp_path))
    backslashed = relative.replace("/", "\\")
    for args in (["ls", backslashed], ["show", backslashed, "x"], ["verify", backslashed],
                 ["merge", backslashed, "-o", "out/m"],
                 ["convert", backslashed + ".safetensors", "out/m"]):
        proc = tfckpt.run(*args, cwd=tmp_path, expect_rc=2)
        _assert_clean_failure(proc)
        assert "looks like a Windows path" in proc.err and backslashed in proc.err, proc.where
    suggested = re.search(r"e\.g\. '([^']*)'", tfckpt.run("ls", backslashed, cwd=tmp_path,
                                                          expect_rc=2).err).group(1)
    assert suggested == relative
    # and it is the checkpoint
    listing = tfckpt.json("ls", suggested, "--json", cwd=tmp_path)
    assert os.path.abspath(os.path.join(str(tmp_path), listing["prefix"])) == tf1_plain
    lib.assert_ls_matches_tf(listing, tf1_plain)

    proc = tfckpt.run("ls", "C:\\Users\\me\\model.ckpt-1000", expect_rc=2)
    _assert_clean_failure(proc)
    assert "Windows path" in proc.err and "/mnt/c/Users/me/model.ckpt-1000" in proc.err, proc.err
    # a path that is simply missing gets no such hint
    proc = tfckpt.run("ls", str(tmp_path / "missing" / "model.ckpt"), expect_rc=2)
    assert "Windows" not in proc.err, proc.err
