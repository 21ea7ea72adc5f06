"""`tfckpt ls` / `tfckpt show` on checkpoints in every form TensorFlow writes them."""

import os
import re

import numpy as np
import pytest
import tensorflow as tf

import conftest
import ops_testlib as ops
import tfckpt_testlib as lib


def _check_ls_and_show(tfckpt, ckpt, prefix):
    tf_values = lib.tf_read_all(prefix)
    listing = tfckpt.json("ls", ckpt, "--json")
    assert os.path.abspath(listing["prefix"]) == os.path.abspath(prefix), listing["prefix"]
    lib.assert_ls_matches_tf(listing, prefix, tf_values)
    lib.assert_show_matches_tf(tfckpt, ckpt, prefix, tf_values=tf_values)
    return listing


# a. TF1 Saver, plain ---------------------------------------------------------------------------

def test_tf1_plain(tfckpt, tf1_plain):
    listing = _check_ls_and_show(tfckpt, tf1_plain, tf1_plain)
    assert listing["num_shards"] == 1


@pytest.mark.parametrize("form", ["prefix", "index", "data", "dir"])
def test_tf1_plain_path_forms(tfckpt, tf1_plain, form):
    """The prefix, its .index file, its data file, and its directory all name the same bundle."""
    ckpt = {"prefix": tf1_plain, "index": tf1_plain + ".index",
            "data": lib.data_files(tf1_plain)[0], "dir": os.path.dirname(tf1_plain)}[form]
    assert tf.train.latest_checkpoint(os.path.dirname(tf1_plain)) == tf1_plain
    listing = tfckpt.json("ls", ckpt, "--json")
    assert os.path.abspath(listing["prefix"]) == os.path.abspath(tf1_plain)
    lib.assert_ls_matches_tf(listing, tf1_plain)
    lib.assert_show_matches_tf(tfckpt, ckpt, tf1_plain, names=["dense/kernel", "vocab"])


def test_relative_path(tfckpt, tf1_plain):
    directory, base = os.path.split(tf1_plain)
    listing = tfckpt.json("ls", base, "--json", cwd=directory)
    assert os.path.abspath(os.path.join(directory, listing["prefix"])) == tf1_plain
    lib.assert_ls_matches_tf(listing, tf1_plain)


def test_unusual_names_and_byte_order(tfckpt, tmp_path):
    prefix = str(tmp_path / "names")
    names = ["scope with space/\u00fcnicode", "a.b:c", "Z", "a", "ab", "a/b", "\u4e2d/x", "_"]
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant([float(i)]) for i in range(len(names))])
    listing = tfckpt.json("ls", prefix, "--json")
    lib.assert_ls_matches_tf(listing, prefix)
    assert [t["name"] for t in listing["tensors"]] == sorted(names, key=str.encode)
    lib.assert_show_matches_tf(tfckpt, prefix, prefix)


def test_ls_text_output_names_every_tensor(tfckpt, tf1_plain):
    out = tfckpt.run("ls", tf1_plain).out
    for name in lib.tf_read_all(tf1_plain):
        assert name in out, name


def test_ls_filter(tfckpt, tf2_dir):
    prefix = tf.train.latest_checkpoint(tf2_dir)
    every = [t["name"] for t in tfckpt.json("ls", prefix, "--json")["tensors"]]
    for regex in ["OPTIMIZER_SLOT", "^model/kernel/", r"bias/\.ATTRIBUTES"]:
        listing = tfckpt.json("ls", prefix, "--json", "--filter", regex)
        names = [t["name"] for t in listing["tensors"]]
        want = [n for n in every if re.search(regex, n)]
        assert names == want, regex
        assert listing["totals"]["tensors"] == len(want)
        assert listing["totals"]["parameters"] == sum(
            lib.num_elements(t["shape"]) for t in listing["tensors"])


def test_show_limit(tfckpt, tmp_path):
    prefix = str(tmp_path / "long")
    value = np.arange(100, dtype=np.int32) * 3
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=["long"], shape_and_slices=[""],
                      tensors=[tf.constant(value)])
    shown = tfckpt.json("show", prefix, "long", "--json", "--limit", "5")["tensors"]
    assert len(shown) == 1
    assert shown[0]["shape"] == [100]
    assert shown[0]["values"] == value[:5].tolist()


def test_show_several_names_keeps_order(tfckpt, tf1_plain):
    names = ["vocab", "counts", "dense/kernel"]
    shown = tfckpt.json("show", tf1_plain, *names, "--json")["tensors"]
    assert [e["name"] for e in shown] == names


def test_show_unknown_name_fails(tfckpt, tf1_plain):
    proc = tfckpt.run("show", tf1_plain, "no/such/tensor", "--json", expect_rc=None)
    assert proc.returncode > 0
    assert "no/such/tensor" in proc.err


# b. TF1 Saver(sharded=True) on two devices -----------------------------------------------------

def test_tf1_sharded(tfckpt, tf1_sharded):
    files = lib.data_files(tf1_sharded)
    assert len(files) >= 2, files  # the fixture really produced a multi-shard bundle
    listing = _check_ls_and_show(tfckpt, tf1_sharded, tf1_sharded)
    assert listing["num_shards"] == len(files)


def test_tf1_sharded_second_data_file_path(tfckpt, tf1_sharded):
    listing = tfckpt.json("ls", lib.data_files(tf1_sharded)[-1], "--json")
    assert os.path.abspath(listing["prefix"]) == tf1_sharded


def test_a_named_data_file_must_exist(tfckpt, tf1_plain, tf1_sharded):
    """A data file the checkpoint does not have is refused, even though its prefix exists."""
    for prefix in (tf1_plain, tf1_sharded):
        files = lib.data_files(prefix)
        missing = "%s.data-%05d-of-%05d" % (prefix, 0, len(files) + 1)
        assert not os.path.exists(missing)
        for command in (["ls", missing], ["show", missing, "x"], ["verify", missing],
                        ["edit", missing, "-o", prefix + "-edited"]):
            proc = tfckpt.run(*command, expect_rc=2)
            err = proc.err.strip()
            assert len(err.splitlines()) == 1, proc.where
            # names the path, says what exists instead and what to pass
            assert missing in err and "does not exist" in err, proc.where
            assert "pass its prefix '%s'" % prefix in err, proc.where
            assert all(os.path.basename(f) in err for f in files), proc.where
        assert not os.path.exists(prefix + "-edited.index")


# c. partitioned variables ----------------------------------------------------------------------

def test_tf1_partitioned(tfckpt, tf1_partitioned):
    listing = _check_ls_and_show(tfckpt, tf1_partitioned, tf1_partitioned)
    by_name = {t["name"]: t for t in listing["tensors"]}
    for name, (full, _) in conftest.PARTITIONED_VALUES.items():
        assert by_name[name]["partitioned"] is True
        assert by_name[name]["shape"] == list(full.shape)
    assert by_name["emb"]["slices"] == 3
    assert by_name["ids"]["slices"] == 4
    assert by_name["wide"]["slices"] == 3
    assert by_name["plain"]["partitioned"] is False
    # per-slice keys are not listed: every listed name is a plain name
    assert sorted(by_name) == sorted(list(conftest.PARTITIONED_VALUES) + ["plain"])


def test_tf1_partitioned_values_equal_tf_and_source(tfckpt, tf1_partitioned):
    reader = tf.train.load_checkpoint(tf1_partitioned)
    shown = tfckpt.json("show", tf1_partitioned, *conftest.PARTITIONED_VALUES, "--json")["tensors"]
    for entry in shown:
        full = conftest.PARTITIONED_VALUES[entry["name"]][0]
        np.testing.assert_array_equal(reader.get_tensor(entry["name"]), full)
        np.testing.assert_array_equal(np.array(entry["values"], full.dtype), full)


def test_partitioned_both_dimensions(tfckpt, grid_partitioned):
    listing = _check_ls_and_show(tfckpt, grid_partitioned, grid_partitioned)
    grid = [t for t in listing["tensors"] if t["name"] == "grid"][0]
    assert grid["partitioned"] is True and grid["slices"] == 4 and grid["shape"] == [6, 4]
    shown = tfckpt.json("show", grid_partitioned, "grid", "--json")["tensors"]
    np.testing.assert_array_equal(np.array(shown[0]["values"], np.float32), conftest.GRID)


# d. TF2 tf.train.Checkpoint with optimizer slots -----------------------------------------------

def test_tf2_checkpoint(tfckpt, tf2_dir):
    prefix = tf.train.latest_checkpoint(tf2_dir)
    listing = _check_ls_and_show(tfckpt, prefix, prefix)
    names = [t["name"] for t in listing["tensors"]]
    assert "_CHECKPOINTABLE_OBJECT_GRAPH" in names
    assert any(".OPTIMIZER_SLOT/" in n for n in names)


def test_tf2_object_graph_is_binary_string(tfckpt, tf2_dir):
    prefix = tf.train.latest_checkpoint(tf2_dir)
    graph_bytes = tf.train.load_checkpoint(prefix).get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH")
    shown = tfckpt.json("show", prefix, "_CHECKPOINTABLE_OBJECT_GRAPH", "--json")["tensors"][0]
    assert shown["dtype"] == "string" and shown["shape"] == []
    assert shown["values"] == lib.expected_string(graph_bytes)


# Which checkpoint of a directory was read ---------------------------------------------------

def _resolution_note(proc, verb):
    lines = [ln for ln in proc.err.splitlines() if ln.startswith("tfckpt: %s " % verb)]
    assert len(lines) == 1, proc.where
    return lines[0]


def test_ls_of_a_directory_says_which_checkpoint(tfckpt, tf2_dir, tf1_steps_dir,
                                                  saved_model_dir, tmp_path):
    single = tmp_path / "single"
    one = ops.copy_bundle(tf.train.latest_checkpoint(tf1_steps_dir), single)
    state = tf.train.get_checkpoint_state(tf1_steps_dir)
    step10 = [p for p in state.all_model_checkpoint_paths if p.endswith("-10")][0]
    cases = [  # (what the user typed, extra args, the prefix TensorFlow would read)
        (tf2_dir, [], tf.train.latest_checkpoint(tf2_dir)),
        (tf2_dir + "/", [], tf.train.latest_checkpoint(tf2_dir)),
        (tf1_steps_dir + "@10", [], step10),
        (tf1_steps_dir, ["--step", "10"], step10),
        (saved_model_dir, [], os.path.join(saved_model_dir, "variables", "variables")),
        (str(single), [], one),
    ]
    for path, extra, want in cases:
        tf.train.load_checkpoint(want)  # TensorFlow reads that prefix
        for fmt in ([], ["--json"]):
            proc = tfckpt.run("ls", path, *extra, *fmt)
            note = _resolution_note(proc, "listing")
            assert os.path.abspath(note.split(" ")[2].rstrip(",")) == os.path.abspath(want), note
            # stdout is exactly what listing the prefix itself prints
            assert proc.out == tfckpt.run("ls", want, *fmt).out
        assert ("step 10" in note) == ("10" in extra or path.endswith("@10")), note
        assert ("SavedModel" in note) == (path == saved_model_dir), note
    # the prefix itself, its index or a data file: nothing to say
    for path in (one, one + ".index", lib.data_files(one)[0]):
        assert tfckpt.run("ls", path).err == ""
    # show and diff say it too
    latest = tf.train.latest_checkpoint(tf2_dir)
    name = "save_counter/.ATTRIBUTES/VARIABLE_VALUE"
    proc = tfckpt.run("show", tf2_dir, name)
    assert latest in _resolution_note(proc, "reading")
    proc = tfckpt.run("diff", tf2_dir + "@1", tf2_dir, expect_rc=1)
    assert latest in _resolution_note(proc, "comparing B =")
    assert os.path.join(tf2_dir, "ckpt-1") in _resolution_note(proc, "comparing A =")


# e. SavedModel ---------------------------------------------------------------------------------

def test_saved_model_dir(tfckpt, saved_model_dir):
    prefix = os.path.join(saved_model_dir, "variables", "variables")
    _check_ls_and_show(tfckpt, saved_model_dir, prefix)


def test_saved_model_variables_prefix(tfckpt, saved_model_dir):
    prefix = os.path.join(saved_model_dir, "variables", "variables")
    _check_ls_and_show(tfckpt, prefix, prefix)


# Snappy-compressed index (TF 1.14 SavedModel) --------------------------------------------------

def test_snappy_index_saved_model(tfckpt, shared_testdata):
    sm = shared_testdata / "real-world" / "serving_sm_half_plus_two_cpu_2019"
    prefix = str(sm / "variables" / "variables")
    listing = _check_ls_and_show(tfckpt, str(sm), prefix)
    assert [(t["name"], t["dtype"], t["shape"]) for t in listing["tensors"]] == [
        (n, "float32", []) for n in ["a", "a2", "b", "c", "c2"]]
    shown = tfckpt.json("show", str(sm), "a", "a2", "b", "c", "c2", "--json")["tensors"]
    reader = tf.train.load_checkpoint(prefix)
    assert [e["values"] for e in shown] == [float(reader.get_tensor(n))
                                            for n in ["a", "a2", "b", "c", "c2"]]
    assert [e["values"] for e in shown] == [0.5, 0.5, 2.0, 3.0, 3.0]
    tfckpt.run("verify", str(sm))
