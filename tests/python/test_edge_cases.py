"""Less common shapes of TensorFlow checkpoints: multi-block indexes, giant keys, tensors larger
than TF's write buffer, odd shapes, partitions spread over shards, empty bundles."""

import os

import numpy as np
import pytest
import tensorflow as tf

import conftest
import index_reader
import tfckpt_testlib as lib


def _save(prefix, names, tensors, specs=None):
    return lib.save_tensors(prefix, zip(names, tensors), specs)


def _index_block_count(index_path):
    """Number of data blocks of the table (entries of its index block)."""
    data = lib.file_bytes(index_path)
    footer = data[-48:]
    _, pos = index_reader.varint(footer, 0)
    _, pos = index_reader.varint(footer, pos)
    off, pos = index_reader.varint(footer, pos)
    size, _ = index_reader.varint(footer, pos)
    return sum(1 for _ in index_reader._block_entries(data[off:off + size]))


def _roundtrips(tfckpt, bundle_tool, prefix, tmp_path):
    """ls/show/verify agree with TF; write (same order) and copy reproduce TF's bytes."""
    tf_values = lib.tf_read_all(prefix)
    lib.assert_ls_matches_tf(tfckpt.json("ls", prefix, "--json"), prefix, tf_values)
    tfckpt.run("verify", prefix)
    order = [k.decode() for k in lib.data_file_order(prefix)]
    spec = lib.spec_from_tf(prefix, order, str(tmp_path / "spec.json"))
    written = str(tmp_path / "written")
    bundle_tool.run("write", spec, written)
    lib.assert_same_bundle_bytes(prefix, written)
    copied = str(tmp_path / "copied")
    bundle_tool.run("copy", prefix, copied)
    lib.assert_same_bundle_bytes(prefix, copied)
    return tf_values


def test_index_with_several_blocks(tfckpt, bundle_tool, tmp_path):
    names = ["layer_%04d/%s/kernel" % (i, "x" * 90) for i in range(3000)]
    prefix = _save(str(tmp_path / "many"), names,
                   [tf.constant([float(i)], tf.float32) for i in range(len(names))])
    blocks = _index_block_count(prefix + ".index")
    assert blocks >= 2
    _roundtrips(tfckpt, bundle_tool, prefix, tmp_path)
    shown = tfckpt.json("show", prefix, names[0], names[1777], names[-1], "--json")["tensors"]
    assert [e["values"] for e in shown] == [[0.0], [1777.0], [2999.0]]


def test_giant_key(tfckpt, bundle_tool, tmp_path):
    """A key bigger than twice TF's 256 KiB block size gets a block of its own."""
    giant = "g" * 600000
    names = ["a", giant, "z"]
    prefix = _save(str(tmp_path / "giant"), names,
                   [tf.constant([1.0]), tf.constant([2, 3], tf.int64), tf.constant(b"z")])
    assert _index_block_count(prefix + ".index") >= 2
    _roundtrips(tfckpt, bundle_tool, prefix, tmp_path)
    shown = tfckpt.json("show", prefix, "a", "z", "--json")["tensors"]
    assert [e["values"] for e in shown] == [[1.0], "z"]


def test_filter_on_giant_name(tfckpt, tmp_path):
    """The name is too long for a command-line argument, so select it with a regex."""
    giant = "g" * 100000
    prefix = _save(str(tmp_path / "giant"), ["a", giant], [tf.constant([1.0]),
                                                            tf.constant([2, 3], tf.int64)])
    listing = tfckpt.json("ls", prefix, "--json", "--filter", "^g+$")
    assert [(t["name"], t["shape"]) for t in listing["tensors"]] == [(giant, [2])]


def test_tensor_larger_than_write_buffer(tfckpt, bundle_tool, tmp_path):
    rng = np.random.RandomState(1)
    big = rng.standard_normal(2_500_000).astype(np.float32)  # 10 MB, above TF's 8 MiB buffer
    long_strings = np.array([b"y" * 20000, b"", bytes(range(256)) * 70], dtype=object)
    prefix = _save(str(tmp_path / "big"), ["small", "big", "long_strings", "after"],
                   [tf.constant([1, 2], tf.int8), tf.constant(big), tf.constant(long_strings),
                    tf.constant([3.5])])
    _roundtrips(tfckpt, bundle_tool, prefix, tmp_path)
    shown = tfckpt.json("show", prefix, "big", "--json", "--limit", "10")["tensors"][0]
    np.testing.assert_array_equal(np.array(shown["values"], np.float32), big[:10])
    lib.assert_show_matches_tf(tfckpt, prefix, prefix, names=["long_strings", "after"])


def test_odd_shapes(tfckpt, bundle_tool, tmp_path):
    tensors = {
        "zero_middle": np.zeros([2, 0, 3], np.float32),
        "zero_last": np.zeros([3, 0], np.int64),
        "ones_rank8": np.full([1] * 8, 7, np.int32),
        "rank5": np.arange(2 * 3 * 1 * 2 * 2, dtype=np.float64).reshape(2, 3, 1, 2, 2),
        "zero_strings": np.array([], dtype=object).reshape(0, 2),
        "scalar_string": np.array(b"", dtype=object),
    }
    prefix = _save(str(tmp_path / "shapes"), list(tensors),
                   [tf.constant(v, dtype=tf.string if v.dtype == object else None)
                    for v in tensors.values()])
    _roundtrips(tfckpt, bundle_tool, prefix, tmp_path)
    lib.assert_show_matches_tf(tfckpt, prefix, prefix)


@pytest.fixture(scope="module")
def partitioned_sharded(tmp_path_factory):
    """A TF1 partitioned variable whose parts live on two devices: slices in both data files."""
    full = np.arange(36, dtype=np.float32).reshape(12, 3) - 4.5

    def build():
        graph = tf.compat.v1.get_default_graph()

        def device(op):
            return "/cpu:1" if ("part_1" in op.name or "part_3" in op.name) else "/cpu:0"
        with graph.device(device):
            tf.compat.v1.get_variable("emb", shape=[12, 3], dtype=tf.float32,
                                      initializer=conftest._rows_initializer(full),
                                      partitioner=tf.compat.v1.fixed_size_partitioner(4))
        tf.compat.v1.get_variable("bias", initializer=tf.constant([0.5, 1.5]))
    prefix = conftest._tf1_graph_save(tmp_path_factory.mktemp("ps"), build, sharded=True)[0]
    return prefix, full


def test_partitioned_across_shards(tfckpt, bundle_tool, partitioned_sharded, tmp_path):
    prefix, full = partitioned_sharded
    _, entries = index_reader.read_index(prefix + ".index")
    slice_shards = {e.shard_id for k, e in entries.items() if k.startswith(b"\x00emb\x00")}
    assert len(slice_shards) == 2  # the fixture really spreads the slices over two files
    assert len(lib.data_files(prefix)) >= 2
    listing = tfckpt.json("ls", prefix, "--json")
    lib.assert_ls_matches_tf(listing, prefix)
    emb = [t for t in listing["tensors"] if t["name"] == "emb"][0]
    assert emb["partitioned"] and emb["slices"] == 4 and emb["shape"] == [12, 3]
    lib.assert_show_matches_tf(tfckpt, prefix, prefix)
    shown = tfckpt.json("show", prefix, "emb", "--json")["tensors"][0]
    np.testing.assert_array_equal(np.array(shown["values"], np.float32), full)
    tfckpt.run("verify", prefix)
    copied = str(tmp_path / "copy")
    bundle_tool.run("copy", prefix, copied)
    lib.assert_same_values(prefix, copied)


def test_diff_partitioned(tfckpt, tf1_partitioned, tmp_path):
    """Change one slice of a partitioned tensor: diff reports the full tensor."""
    emb, _ = conftest.PARTITIONED_VALUES["emb"]
    changed = emb.copy()
    changed[9, 2] += 2.5
    names, specs, tensors = [], [], []
    for start, rows in ((0, 4), (4, 3), (7, 3)):
        names.append("emb")
        specs.append("10 4 %d,%d:0,4" % (start, rows))
        tensors.append(tf.constant(changed[start:start + rows]))
    for name in ("ids", "wide", "plain"):
        names.append(name)
        specs.append("")
        tensors.append(tf.constant(tf.train.load_checkpoint(tf1_partitioned).get_tensor(name)))
    other = _save(str(tmp_path / "other"), names, tensors, specs)
    out = tfckpt.json("diff", tf1_partitioned, other, "--json", expect_rc=1)
    assert out["only_in_a"] == [] and out["only_in_b"] == [] and out["changed"] == []
    assert [v["name"] for v in out["values_differ"]] == ["emb"]
    assert out["values_differ"][0]["max_abs"] == pytest.approx(2.5)
    assert out["identical"] == 3


def test_empty_bundle(tfckpt, bundle_tool, tmp_path):
    spec = lib.write_spec(str(tmp_path / "spec.json"), [])
    prefix = str(tmp_path / "empty")
    bundle_tool.run("write", spec, prefix)
    reader = tf.train.load_checkpoint(prefix)
    assert reader.get_variable_to_shape_map() == {}
    listing = tfckpt.json("ls", prefix, "--json")
    assert listing["tensors"] == []
    assert listing["totals"] == {"tensors": 0, "parameters": 0, "bytes": 0}
    tfckpt.run("verify", prefix)


def test_checkpoint_write_without_state_file(tfckpt, tmp_path):
    """tf.train.Checkpoint.write: a TF2 prefix with no `checkpoint` file next to it."""
    model, optimizer = conftest.make_tf2_objects()
    prefix = tf.train.Checkpoint(model=model).write(str(tmp_path / "written"))
    assert not os.path.exists(tmp_path / "checkpoint")
    listing = tfckpt.json("ls", prefix, "--json")
    lib.assert_ls_matches_tf(listing, prefix)
    lib.assert_show_matches_tf(tfckpt, prefix, prefix)
