"""Checkpoint directories with a `checkpoint` state file: latest, DIR@N and --step N."""

import os

import numpy as np
import pytest
import tensorflow as tf

import tfckpt_testlib as lib


def _prefix_for_step(directory, step):
    state = tf.train.get_checkpoint_state(directory)
    matches = [p for p in state.all_model_checkpoint_paths if p.endswith("-%d" % step)]
    assert len(matches) == 1
    return os.path.join(directory, matches[0])  # joins only if relative


def test_tf1_dir_latest(tfckpt, tf1_steps_dir):
    state = tf.train.get_checkpoint_state(tf1_steps_dir)
    assert len(state.all_model_checkpoint_paths) == 2
    latest = os.path.join(tf1_steps_dir, state.model_checkpoint_path)
    assert latest.endswith("-20")
    listing = tfckpt.json("ls", tf1_steps_dir, "--json")
    assert os.path.abspath(listing["prefix"]) == os.path.abspath(latest)
    lib.assert_ls_matches_tf(listing, latest)
    lib.assert_show_matches_tf(tfckpt, tf1_steps_dir, latest)


@pytest.mark.parametrize("how", ["at", "flag"])
@pytest.mark.parametrize("step", [10, 20])
def test_tf1_dir_step(tfckpt, tf1_steps_dir, how, step):
    prefix = _prefix_for_step(tf1_steps_dir, step)
    ckpt = tf1_steps_dir + "@%d" % step if how == "at" else tf1_steps_dir
    flags = ["--step", step] if how == "flag" else []
    listing = tfckpt.json("ls", ckpt, "--json", *flags)
    assert os.path.abspath(listing["prefix"]) == os.path.abspath(prefix)
    shown = tfckpt.json("show", ckpt, "v", "--json", *flags)["tensors"]
    want = tf.train.load_checkpoint(prefix).get_tensor("v")
    np.testing.assert_array_equal(np.array(shown[0]["values"], np.float32), want)


def test_steps_hold_different_values(tf1_steps_dir):
    a = tf.train.load_checkpoint(_prefix_for_step(tf1_steps_dir, 10)).get_tensor("v")
    b = tf.train.load_checkpoint(_prefix_for_step(tf1_steps_dir, 20)).get_tensor("v")
    assert not np.array_equal(a, b)  # so the step tests above can tell them apart


@pytest.mark.parametrize("step", [1, 2])
def test_tf2_dir_relative_state_paths(tfckpt, tf2_dir, step):
    state = tf.train.get_checkpoint_state(tf2_dir)
    with open(os.path.join(tf2_dir, "checkpoint")) as f:
        assert '"ckpt-1"' in f.read()  # CheckpointManager writes relative paths
    prefix = _prefix_for_step(tf2_dir, step)
    listing = tfckpt.json("ls", tf2_dir + "@%d" % step, "--json")
    assert os.path.abspath(listing["prefix"]) == os.path.abspath(prefix)
    lib.assert_ls_matches_tf(listing, prefix)
    if step == 2:
        latest = tfckpt.json("ls", tf2_dir, "--json")
        assert os.path.abspath(latest["prefix"]) == os.path.abspath(
            os.path.join(tf2_dir, state.model_checkpoint_path))


def test_tf2_dir_show_step(tfckpt, tf2_dir):
    prefix = _prefix_for_step(tf2_dir, 1)
    lib.assert_show_matches_tf(tfckpt, tf2_dir + "@1", prefix)


def test_at_sign_in_a_plain_prefix(tfckpt, tmp_path):
    """`@N` selects a step only for directories; a prefix may itself contain '@'."""
    prefix = str(tmp_path / "model@2")
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=["x"], shape_and_slices=[""],
                      tensors=[tf.constant([1.0, 2.0])])
    for ckpt in (prefix, prefix + ".index"):
        listing = tfckpt.json("ls", ckpt, "--json")
        assert os.path.abspath(listing["prefix"]) == prefix
        lib.assert_ls_matches_tf(listing, prefix)
