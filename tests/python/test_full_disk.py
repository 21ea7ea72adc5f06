"""Writing onto a full filesystem: a tiny tmpfs as the output directory, inputs of ~16 MiB on the
normal disk.  Each command fails with exit 2 and a clear message, leaves nothing in the output
directory (not even temporaries) and leaves its inputs untouched."""

import errno
import os
import subprocess

import numpy as np
import pytest

import ops_testlib as ops

TMPFS_SIZE = "4m"


def _save(prefix, names, seed, elements):
    rng = np.random.default_rng(seed)
    return ops.lib.save_tensors(
        prefix, [(n, rng.standard_normal(elements, dtype=np.float32)) for n in names])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("full_disk_inputs")
    names = ["layer%d/kernel" % i for i in range(4)]
    return {
        "a": _save(str(d / "a"), names, 1, 1024 * 1024),  # 4 x 4 MiB
        "c": _save(str(d / "c"), names, 2, 1024 * 1024),
        "b": _save(str(d / "b"), ["head/w", "head/b"], 3, 256 * 1024),
    }


@pytest.fixture
def tiny_fs(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + TMPFS_SIZE, "tmpfs", str(mnt)],
                   check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def _commands(inp, out_dir):
    return {
        "merge": ["merge", inp["a"], inp["b"], "-o", out_dir / "merged"],
        "edit": ["edit", inp["a"], "--rename", "layer0/=first/", "-o", out_dir / "edited"],
        "average": ["average", inp["a"], inp["c"], "-o", out_dir / "avg"],
        "convert": ["convert", inp["a"], out_dir / "model.safetensors"],
    }


@pytest.mark.parametrize("command", ["merge", "edit", "average", "convert"])
def test_full_disk_fails_cleanly(tfckpt, inputs, tiny_fs, command):
    before = ops.snapshot(*inputs.values())
    cmd = _commands(inputs, tiny_fs)[command]
    proc = tfckpt.run(*cmd, expect_rc=None)
    assert proc.returncode == 2, proc.where
    err = proc.err.lower()
    assert os.strerror(errno.ENOSPC).lower() in err, proc.where  # "No space left on device"
    assert os.listdir(tiny_fs) == [], "files left in the output directory: %r\n%s" % (
        os.listdir(tiny_fs), proc.where)
    st = os.statvfs(tiny_fs)
    assert st.f_bfree == st.f_blocks, "space still in use on the tmpfs"
    ops.assert_unchanged(before, *inputs.values())
