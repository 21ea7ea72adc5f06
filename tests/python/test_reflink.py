"""On a filesystem that can share extents (XFS here, made on a loop device by the test), merge
takes whole data files by reflink: the output costs no space, and TensorFlow reads it."""

import os
import shutil
import subprocess

import numpy as np
import pytest
import tensorflow as tf

MB = 1 << 20


@pytest.fixture(scope="module")
def xfs(tmp_path_factory):
    """A small XFS filesystem on a loop device (the tests run as root, as CI does)."""
    base = tmp_path_factory.mktemp("xfs")
    image, mnt = base / "fs.img", base / "mnt"
    mnt.mkdir()
    with open(image, "wb") as f:
        f.truncate(400 * MB)
    subprocess.run(["mkfs.xfs", "-q", "-f", str(image)], check=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def test_merge_reflinks_whole_files(tfckpt, xfs):
    src = str(xfs / "src" / "ckpt")
    other = str(xfs / "other" / "ckpt")
    big = np.arange(16 * MB, dtype=np.float32).reshape(-1, 1024)  # 64 MB
    tf.raw_ops.SaveV2(prefix=src, tensor_names=["big"], shape_and_slices=[""], tensors=[big])
    tf.raw_ops.SaveV2(prefix=other, tensor_names=["small"], shape_and_slices=[""],
                      tensors=[np.float64(2.5)])
    os.sync()
    before = free_bytes(xfs)
    summary = tfckpt.json("merge", src, other, "-o", str(xfs / "out" / "m"), "--json")
    os.sync()
    assert summary["data"]["files_reflinked"] == 2
    assert summary["data"]["files_copied"] == 0
    assert before - free_bytes(xfs) < 8 * MB, "a reflinked merge should not use the data's space"
    reader = tf.train.load_checkpoint(str(xfs / "out" / "m"))
    np.testing.assert_array_equal(reader.get_tensor("big"), big)
    assert reader.get_tensor("small") == 2.5
    # Forced plain copies do use the space.
    before = free_bytes(xfs)
    summary = tfckpt.json("merge", src, other, "-o", str(xfs / "out" / "c"), "--link", "copy",
                          "--json")
    os.sync()
    assert summary["data"]["files_reflinked"] == 0 and summary["data"]["files_copied"] == 2
    assert before - free_bytes(xfs) >= 60 * MB
    np.testing.assert_array_equal(tf.train.load_checkpoint(str(xfs / "out" / "c")).get_tensor("big"),
                                  big)
    shutil.rmtree(xfs / "out")
