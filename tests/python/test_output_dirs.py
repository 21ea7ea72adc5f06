"""An output that is a directory (an existing one, or a path ending in '/'): every command that
writes a checkpoint writes it in that directory, named after one of its inputs, says where in its
summary, and TensorFlow restores what it reports. `--help` says the same."""

import os
import re

import numpy as np
import pytest
import tensorflow as tf

import ops_testlib as ops
import tfckpt_testlib as lib


def _directory(tmp_path, form):
    """An output directory in one of the two forms; returns the -o argument."""
    if form == "existing":
        (tmp_path / "out").mkdir()
        return str(tmp_path / "out")
    return str(tmp_path / "out") + "/"


def _written(proc, operation):
    """The output the summary line reports: `<operation> -> OUT: ...`."""
    m = re.match(r"%s -> (.*?): \d+ tensors" % re.escape(operation), proc.out)
    assert m, proc.where
    return m.group(1)


def _latest(directory):
    return tf.train.latest_checkpoint(directory)


@pytest.mark.parametrize("form", ["slash", "existing"])
def test_merge_into_a_directory(tfckpt, tmp_path, tf1_plain, tf1_partitioned, form):
    out_dir = _directory(tmp_path, form)
    proc = tfckpt.run("merge", tf1_plain, tf1_partitioned, "-o", out_dir)
    prefix = _written(proc, "merge")
    # named after the first source, inside the directory, and the summary says so
    assert prefix == os.path.join(out_dir.rstrip("/"), os.path.basename(tf1_plain)), proc.out
    assert "is a directory" in proc.out and prefix in proc.out, proc.out
    want = dict(ops.tf_values(tf1_plain))
    want.update(ops.tf_values(tf1_partitioned))
    ops.assert_same_tensors(ops.tf_values(prefix), want)  # tf.train.load_checkpoint reads it
    assert sorted(os.listdir(tmp_path / "out")) == sorted(
        os.path.basename(f) for f in lib.bundle_files(prefix))


def test_edit_average_blend_convert_into_a_directory(tfckpt, tmp_path, tf2_dir):
    latest, first = _latest(tf2_dir), os.path.join(tf2_dir, "ckpt-1")
    out_dir = str(tmp_path / "out") + "/"
    runs = [
        (["edit", tf2_dir, "--strip-optimizer"], "edit", latest),
        (["average", first, latest], "average", latest),  # the source of the integers
        (["blend", "linear", first, latest], "blend (linear)", first),
        (["convert", "--to-tf1", tf2_dir], "convert --to-tf1", latest),
    ]
    for n, (args, operation, named_after) in enumerate(runs):
        directory = out_dir + "r%d/" % n
        proc = tfckpt.run(*args, "-o", directory)
        prefix = _written(proc, operation)
        assert prefix == directory + os.path.basename(named_after), proc.out
        reader = tf.train.load_checkpoint(prefix)
        assert reader.get_variable_to_shape_map(), prefix
        if operation == "edit":
            src = tf.train.load_checkpoint(latest)
            for key in reader.get_variable_to_shape_map():
                if key != "_CHECKPOINTABLE_OBJECT_GRAPH":
                    ops.assert_array_identical(reader.get_tensor(key), src.get_tensor(key), key)


def test_transfer_into_a_directory_writes_a_saved_model_in_it(tfckpt, tmp_path, saved_model_dir):
    (tmp_path / "out").mkdir()
    proc = tfckpt.run("transfer", "--into", saved_model_dir, "--from", saved_model_dir,
                      "-o", tmp_path / "out")
    out = _written(proc, "transfer")
    assert out == str(tmp_path / "out" / os.path.basename(saved_model_dir)), proc.out
    loaded = tf.saved_model.load(out)
    x = tf.constant([[1.0, 2.0]])
    np.testing.assert_array_equal(loaded(x).numpy(), tf.saved_model.load(saved_model_dir)(x))
    # An existing SavedModel directory is the output itself: replaced with --force, never nested.
    proc = tfckpt.run("transfer", "--into", saved_model_dir, "--from", saved_model_dir,
                      "-o", out, expect_rc=2)
    assert "already exists" in proc.err, proc.where
    proc = tfckpt.run("transfer", "--into", saved_model_dir, "--from", saved_model_dir,
                      "-o", out, "--force")
    assert _written(proc, "transfer") == out, proc.out
    assert sorted(os.listdir(tmp_path / "out")) == [os.path.basename(saved_model_dir)]
    tf.saved_model.load(out)


def test_a_directory_output_is_never_an_input(tfckpt, tmp_path, tf1_plain):
    directory = os.path.dirname(tf1_plain)
    before = ops.snapshot(tf1_plain)
    proc = tfckpt.run("edit", tf1_plain, "-o", directory, expect_rc=2)
    assert "is the input" in proc.err, proc.where
    ops.assert_unchanged(before, tf1_plain)


def test_dry_run_names_the_output_in_the_directory(tfckpt, tmp_path, tf1_plain):
    plan = tfckpt.json("merge", tf1_plain, "-o", str(tmp_path) + "/", "--dry-run", "--json")
    assert plan["output"] == os.path.join(str(tmp_path), os.path.basename(tf1_plain)), plan
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("command", ["merge", "transfer", "edit", "average", "blend", "convert", "apply"])
def test_help_says_what_a_directory_output_does(tfckpt, command):
    text = tfckpt.run(command, "--help").out
    line = [ln for ln in text.splitlines() if "-o,--output" in ln]
    assert len(line) == 1, text
    assert "directory" in line[0] and "named after" in line[0], line[0]
