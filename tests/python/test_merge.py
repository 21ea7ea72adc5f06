"""`tfckpt merge` judged by TensorFlow: its own MergeV2Checkpoints (run on copies, since it
consumes its inputs) is the oracle for the merged values, and a TF1 Saver restores the result."""

import os

import numpy as np
import pytest
import tensorflow as tf

import conftest
import ops_testlib as ops
import tfckpt_testlib as lib

DATA_KEYS = ("files_reflinked", "files_copied", "files_linked", "files_moved", "ranges_copied")


def _tf_merge(prefixes, directory):
    """MergeV2Checkpoints on copies of `prefixes`; returns (destination prefix or None, error)."""
    copies = [ops.copy_bundle(p, os.path.join(str(directory), "in%d" % i))
              for i, p in enumerate(prefixes)]
    dest = os.path.join(str(directory), "out", "merged")
    try:
        tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=copies, destination_prefix=dest,
                                      delete_old_dirs=False)
    except tf.errors.OpError as exc:
        return None, exc.message
    return dest, None


def _data_stats(report):
    data = report["data"]
    for k in DATA_KEYS:
        assert isinstance(data[k], int) and not isinstance(data[k], bool), (k, report)
    return data


# ---------------------------------------------------------------------------------------------
# 1. The classic example, end to end
# ---------------------------------------------------------------------------------------------


def test_classic_example_merge(tfckpt, repo_root, tmp_path):
    committed = [str(repo_root / "examples/models/a/model-a"),
                 str(repo_root / "examples/models/b/model-b")]
    committed_before = ops.snapshot(*committed)
    a = ops.copy_bundle(committed[0], tmp_path / "a")
    b = ops.copy_bundle(committed[1], tmp_path / "b")
    before = ops.snapshot(a, b)
    out = str(tmp_path / "m" / "merged")
    tfckpt.run("merge", a, b, "-o", out)

    def build():
        return {n: tf.compat.v1.get_variable(n, shape=[], dtype=tf.float32) for n in "ab"}

    restored = ops.tf1_restore(out, build)
    want_a = tf.train.load_checkpoint(a).get_tensor("a")
    want_b = tf.train.load_checkpoint(b).get_tensor("b")
    ops.assert_array_identical(restored["a"], want_a, "a")
    ops.assert_array_identical(restored["b"], want_b, "b")
    assert (float(restored["a"]), float(restored["b"])) == (3.0, 4.0)
    ops.assert_shards_consistent(tfckpt, out)
    ops.assert_unchanged(before, a, b)
    ops.assert_unchanged(committed_before, *committed)


# ---------------------------------------------------------------------------------------------
# 2. Against MergeV2Checkpoints
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def partial_bundles(tmp_path_factory):
    """Per-device partial bundles as a sharded save writes them before its merge step: slices of
    one partitioned tensor (axis 0, and axis 1) spread over different bundles."""
    d = tmp_path_factory.mktemp("parts")
    emb = np.arange(40, dtype=np.float32).reshape(10, 4) / 8.0 - 2.0
    wide = np.arange(21, dtype=np.int64).reshape(3, 7) * 7919 - 50
    p0 = lib.save_tensors(d / "p0" / "part-00000-of-00003",
               [("emb", tf.constant(emb[0:5])), ("wide", tf.constant(wide[:, 0:3])),
                ("dev0/x", tf.constant([b"s", b""]))],
               ["10 4 0,5:0,4", "3 7 0,3:0,3", ""])
    p1 = lib.save_tensors(d / "p1" / "part-00001-of-00003",
               [("emb", tf.constant(emb[5:10])), ("dev1/y", tf.constant([1.5, -0.0]))],
               ["10 4 5,5:0,4", ""])
    p2 = lib.save_tensors(d / "p2" / "part-00002-of-00003",
               [("wide", tf.constant(wide[:, 3:7])), ("dev2/z", tf.constant(7, tf.int32))],
               ["3 7 0,3:3,4", ""])
    return [p0, p1, p2], {"emb": emb, "wide": wide}


def _check_against_tf(tfckpt, tmp_path, sources, tf_prefixes, extra=()):
    before = ops.snapshot(*sources)
    out = str(tmp_path / "ours" / "merged")
    tfckpt.run("merge", *sources, "-o", out, *extra)
    want, err = _tf_merge(tf_prefixes, tmp_path / "tf")
    assert err is None, err
    ops.assert_same_checkpoint(out, want)
    ops.assert_shards_consistent(tfckpt, out)
    tfckpt.run("verify", out)
    ops.assert_unchanged(before, *sources)
    return out


def test_merge_tf1_disjoint(tfckpt, tmp_path, tf1_plain, tf1_sharded, tf1_partitioned):
    # tf1_sharded has two data files, tf1_partitioned holds partitioned variables
    sources = [tf1_plain, tf1_sharded, tf1_partitioned]
    _check_against_tf(tfckpt, tmp_path, sources, sources)


def test_merge_partial_bundles(tfckpt, tmp_path, partial_bundles):
    sources, full = partial_bundles
    out = _check_against_tf(tfckpt, tmp_path, sources, sources)
    reader = tf.train.load_checkpoint(out)
    ops.assert_array_identical(reader.get_tensor("emb"), full["emb"], "emb")
    ops.assert_array_identical(reader.get_tensor("wide"), full["wide"], "wide")

    # and a TF1 Saver restores the partitioned variables from it
    def build():
        get = tf.compat.v1.get_variable
        return {"emb": get("emb", shape=[10, 4], dtype=tf.float32,
                           partitioner=tf.compat.v1.fixed_size_partitioner(2)),
                "wide": get("wide", shape=[3, 7], dtype=tf.int64,
                            partitioner=tf.compat.v1.fixed_size_partitioner(2, axis=1))}
    restored = ops.tf1_restore(out, build)
    ops.assert_array_identical(restored["emb"], full["emb"], "emb")
    ops.assert_array_identical(restored["wide"], full["wide"], "wide")


def test_merge_tf2_with_tf1(tfckpt, tmp_path, tf2_dir, tf1_plain):
    tf2 = os.path.join(tf2_dir, "ckpt-2")
    _check_against_tf(tfckpt, tmp_path, [tf2, tf1_plain], [tf2, tf1_plain])


def test_merge_saved_model_with_tf1(tfckpt, tmp_path, saved_model_dir, tf1_partitioned):
    sm_prefix = os.path.join(saved_model_dir, "variables", "variables")
    before = ops.snapshot(saved_model_dir)
    _check_against_tf(tfckpt, tmp_path, [saved_model_dir, tf1_partitioned],
                      [sm_prefix, tf1_partitioned])
    ops.assert_unchanged(before, saved_model_dir)


@pytest.mark.parametrize("which", ["tf2+tf2", "tf2+saved_model"])
def test_merge_tf2_object_graphs(tfckpt, tmp_path, tf2_dir, saved_model_dir, which):
    """TensorFlow cannot merge two TF2 checkpoints at all. Ours unites object graphs whose roots
    have different children, and says what to do when they collide."""
    a = os.path.join(tf2_dir, "ckpt-1")
    b = os.path.join(tf2_dir, "ckpt-2") if which == "tf2+tf2" else saved_model_dir
    b_prefix = b if which == "tf2+tf2" else os.path.join(b, "variables", "variables")
    before = ops.snapshot(a, b)
    out = str(tmp_path / "ours" / "merged")
    want, err = _tf_merge([a, b_prefix], tmp_path / "tf")
    assert want is None and "Duplicate tensor keyed by _CHECKPOINTABLE_OBJECT_GRAPH" in err, err
    if which == "tf2+tf2":
        proc = tfckpt.run("merge", a, b, "-o", out, expect_rc=2)
        # both object graphs have the same child of the root: ours says which and how to name them
        assert "both have an object 'model'" in proc.err and "NAME=SRC" in proc.err, proc.where
        assert ops.dir_entries(tmp_path / "ours") == [], "wrote something on error"
    else:
        tfckpt.run("merge", a, b, "-o", out)
        got = ops.tf_values(out)
        want = {}
        for prefix in (b_prefix, a):  # one save_counter: the first source's
            want.update(ops.tf_values(prefix))
        graph = "_CHECKPOINTABLE_OBJECT_GRAPH"
        assert sorted(got) == sorted(want)
        ops.assert_same_tensors(got, want, names=[n for n in want if n != graph])
        # one object graph holds both: TF restores each part through it
        model, optimizer = conftest.make_tf2_objects()
        conftest._train_step(model, optimizer)  # creates the slots; restore overwrites them
        half = conftest._HalfPlus()
        tf.train.Checkpoint(model=model, optimizer=optimizer, scale=half.scale,
                            offset=half.offset, table=half.table).restore(out).assert_consumed()
        ops.assert_array_identical(model.kernel.numpy(), want["model/kernel/.ATTRIBUTES/"
                                                               "VARIABLE_VALUE"][2], "kernel")
        ops.assert_array_identical(half.table.numpy(), want["table/.ATTRIBUTES/"
                                                            "VARIABLE_VALUE"][2], "table")
    ops.assert_unchanged(before, a, b)


# ---------------------------------------------------------------------------------------------
# Conflicts
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def conflicting(tmp_path_factory):
    d = tmp_path_factory.mktemp("conflict")
    srcs = []
    for i in range(3):
        srcs.append(lib.save_tensors(d / ("src%d" % i) / "ck", [
            ("shared/value", tf.constant(np.arange(4, dtype=np.float32) * (i + 1) - 0.5)),
            ("only%d" % i, tf.constant([i, i + 1], tf.int64))]))
    return srcs


def test_merge_conflict_is_an_error(tfckpt, tmp_path, conflicting):
    a, b, _ = conflicting
    before = ops.snapshot(a, b)
    out = str(tmp_path / "ours" / "m")
    proc = tfckpt.run("merge", a, b, "-o", out, expect_rc=2)
    assert "shared/value" in proc.err and a in proc.err and b in proc.err, proc.where
    assert ops.dir_entries(tmp_path / "ours") == []
    want, err = _tf_merge([a, b], tmp_path / "tf")
    assert want is None and "Duplicate tensor keyed by shared/value" in err, err
    ops.assert_unchanged(before, a, b)


@pytest.mark.parametrize("policy, pick", [("first", 0), ("last", -1)])
def test_merge_on_conflict(tfckpt, tmp_path, conflicting, policy, pick):
    before = ops.snapshot(*conflicting)
    out = str(tmp_path / "m")
    tfckpt.run("merge", *conflicting, "-o", out, "--on-conflict", policy)
    got = ops.tf_values(out)
    sources = [ops.tf_values(p) for p in conflicting]
    want = {}
    for s in sources:
        want.update({k: v for k, v in s.items() if k != "shared/value"})
    want["shared/value"] = sources[pick]["shared/value"]
    ops.assert_same_tensors(got, want)
    ops.assert_shards_consistent(tfckpt, out)
    ops.assert_unchanged(before, *conflicting)


# ---------------------------------------------------------------------------------------------
# Data-file adoption: link modes, --move, --dry-run, --force
# ---------------------------------------------------------------------------------------------


def _input_data_files(sources):
    return [f for s in sources for f in lib.data_files(s)]


def test_merge_link_hardlink(tfckpt, tmp_path, tf1_plain, tf1_sharded):
    sources = [tf1_plain, tf1_sharded]
    before = ops.snapshot(*sources)
    out = str(tmp_path / "m")
    report = tfckpt.json("merge", *sources, "-o", out, "--link", "hardlink", "--json")
    data = _data_stats(report)
    inputs = _input_data_files(sources)
    assert data["files_linked"] == len(inputs), report
    assert data["files_moved"] == data["files_copied"] == data["files_reflinked"] == 0, report
    assert sorted(os.stat(f).st_ino for f in lib.data_files(out)) == \
        sorted(os.stat(f).st_ino for f in inputs)
    want, err = _tf_merge(sources, tmp_path / "tf")
    assert err is None, err
    ops.assert_same_checkpoint(out, want)
    ops.assert_shards_consistent(tfckpt, out)
    ops.assert_unchanged(before, *sources)


@pytest.mark.parametrize("link", ["auto", "copy"])
def test_merge_link_modes_report(tfckpt, tmp_path, tf1_plain, tf1_sharded, link):
    sources = [tf1_plain, tf1_sharded]
    before = ops.snapshot(*sources)
    out = str(tmp_path / "m")
    args = ["--link", link] if link != "auto" else []  # auto is the default
    report = tfckpt.json("merge", *sources, "-o", out, "--json", *args)
    data = _data_stats(report)
    n = len(_input_data_files(sources))
    assert data["files_moved"] == 0 and data["files_linked"] == 0, report
    # every input data file is wholly used, so each is adopted whole: a reflink where the file
    # system has them, else a copy (never a link or a move, which would share or take the input)
    assert data["files_copied"] + data["files_reflinked"] == n, report
    out_inodes = {os.stat(f).st_ino for f in lib.data_files(out)}
    assert not out_inodes & {os.stat(f).st_ino for f in _input_data_files(sources)}
    want, err = _tf_merge(sources, tmp_path / "tf")
    assert err is None, err
    ops.assert_same_checkpoint(out, want)
    ops.assert_shards_consistent(tfckpt, out)
    ops.assert_unchanged(before, *sources)


def test_merge_move(tfckpt, tmp_path, tf1_plain, tf1_sharded, partial_bundles):
    originals = [tf1_plain, tf1_sharded] + partial_bundles[0]
    copies = [ops.copy_bundle(p, tmp_path / ("src%d" % i)) for i, p in enumerate(originals)]
    before = ops.snapshot(*copies)
    inputs = _input_data_files(copies)
    inodes = sorted(os.stat(f).st_ino for f in inputs)

    # refused: the output is one of the sources; nothing changes
    proc = tfckpt.run("merge", *copies, "-o", copies[1], "--move", expect_rc=2)
    assert proc.err.strip(), proc.where
    ops.assert_unchanged(before, *copies)

    out = str(tmp_path / "out" / "m")
    report = tfckpt.json("merge", *copies, "-o", out, "--move", "--json")
    assert _data_stats(report)["files_moved"] == len(inputs), report
    assert [f for f in inputs if os.path.exists(f)] == [], "sources' data files still there"
    assert sorted(os.stat(f).st_ino for f in lib.data_files(out)) == inodes
    want, err = _tf_merge(originals, tmp_path / "tf")
    assert err is None, err
    ops.assert_same_checkpoint(out, want)
    ops.assert_shards_consistent(tfckpt, out)
    tfckpt.run("verify", out)


def test_merge_dry_run(tfckpt, tmp_path, tf1_plain, tf1_partitioned):
    sources = [tf1_plain, tf1_partitioned]
    before = ops.snapshot(*sources)
    out = str(tmp_path / "out" / "m")
    tfckpt.run("merge", *sources, "-o", out, "--dry-run")
    report = tfckpt.json("merge", *sources, "-o", out, "--dry-run", "--json")
    assert isinstance(report, dict), report
    assert not os.path.exists(out + ".index")
    assert ops.dir_entries(tmp_path / "out") == []
    ops.assert_unchanged(before, *sources)


def test_merge_force(tfckpt, tmp_path, tf1_plain, tf1_partitioned, conflicting):
    out = str(tmp_path / "m")
    tfckpt.run("merge", tf1_plain, "-o", out)
    first = ops.snapshot(out)
    proc = tfckpt.run("merge", tf1_partitioned, conflicting[0], "-o", out, expect_rc=2)
    assert proc.err.strip(), proc.where
    ops.assert_unchanged(first, out)
    tfckpt.run("merge", tf1_partitioned, conflicting[0], "-o", out, "--force")
    want, err = _tf_merge([tf1_partitioned, conflicting[0]], tmp_path / "tf")
    assert err is None, err
    ops.assert_same_checkpoint(out, want)
    ops.assert_shards_consistent(tfckpt, out)
