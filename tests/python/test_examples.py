"""The committed example checkpoints (examples/make_examples.py) read the same in tfckpt and TF."""

import os

import numpy as np
import pytest
import tensorflow as tf

import tfckpt_testlib as lib


@pytest.fixture(scope="module")
def examples(repo_root):
    return str(repo_root / "examples")


@pytest.mark.parametrize("ckpt, prefix", [
    ("models/a/model-a", "models/a/model-a"),
    ("models/a", "models/a/model-a"),
    ("models/b/model-b.index", "models/b/model-b"),
    ("tf2", "tf2/ckpt-2"),
    ("tf2@1", "tf2/ckpt-1"),
    ("saved_model", "saved_model/variables/variables"),
    ("mixed/mixed", "mixed/mixed"),
])
def test_example(tfckpt, examples, ckpt, prefix):
    ckpt, prefix = os.path.join(examples, ckpt), os.path.join(examples, prefix)
    assert os.path.exists(prefix + ".index"), "run examples/make_examples.py"
    tf_values = lib.tf_read_all(prefix)
    listing = tfckpt.json("ls", ckpt, "--json")
    assert os.path.abspath(listing["prefix"]) == os.path.abspath(prefix)
    lib.assert_ls_matches_tf(listing, prefix, tf_values)
    lib.assert_show_matches_tf(tfckpt, ckpt, prefix, tf_values=tf_values)
    tfckpt.run("verify", ckpt)


def test_example_v1(tfckpt, examples, tmp_path):
    """The V1 example reads as TensorFlow reads it (its partitioned `emb`, which TF's get_tensor
    refuses, as TF's restore op assembles it), and converts to a V2 bundle with those values."""
    path = os.path.join(examples, "v1", "model.ckpt")
    assert os.path.isfile(path), "run examples/make_examples.py"
    listing = tfckpt.json("ls", path, "--json")
    assert listing["format"] == "v1" and listing["num_shards"] == 1
    reader = tf.train.load_checkpoint(path)
    dtypes = reader.get_variable_to_dtype_map()
    names = sorted(reader.get_variable_to_shape_map())
    assert [t["name"] for t in listing["tensors"]] == names
    out = str(tmp_path / "v2" / "model.ckpt")
    tfckpt.run("edit", path, "-o", out)
    for name in names:
        want = tf.raw_ops.RestoreV2(prefix=path, tensor_names=[name], shape_and_slices=[""],
                                    dtypes=[dtypes[name]])[0].numpy()
        shown = tfckpt.json("show", path, name, "--json")["tensors"][0]
        np.testing.assert_array_equal(np.array(shown["values"], want.dtype), want)
        got = tf.raw_ops.RestoreV2(prefix=out, tensor_names=[name], shape_and_slices=[""],
                                   dtypes=[dtypes[name]])[0].numpy()
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), name
    tfckpt.run("verify", path, out)


def test_example_single_values(tfckpt, examples):
    a = tfckpt.json("show", os.path.join(examples, "models/a"), "a", "--json")["tensors"][0]
    b = tfckpt.json("show", os.path.join(examples, "models/b"), "b", "--json")["tensors"][0]
    assert (a["values"], b["values"]) == (3.0, 4.0)


def test_example_mixed_partitioned(tfckpt, examples):
    prefix = os.path.join(examples, "mixed", "mixed")
    listing = {t["name"]: t for t in tfckpt.json("ls", prefix, "--json")["tensors"]}
    assert listing["emb"]["partitioned"] is True and listing["emb"]["slices"] == 3
    assert listing["emb"]["shape"] == [10, 4]
    shown = tfckpt.json("show", prefix, "emb", "--json")["tensors"][0]
    np.testing.assert_array_equal(np.array(shown["values"], np.float32),
                                  tf.train.load_checkpoint(prefix).get_tensor("emb"))
