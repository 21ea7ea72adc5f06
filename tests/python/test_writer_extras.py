"""Snappy-compressed index blocks (as TF 1.x and early 2.x merges wrote them) and the
`checkpoint` state file written by the library, both judged by TensorFlow."""

import os

import numpy as np
import tensorflow as tf

import index_reader


def _block_types(index_path):
    """The compression type byte of every data block of a LevelDB table."""
    data = open(index_path, "rb").read()
    footer = data[-48:]
    _, pos = index_reader.varint(footer, 0)  # metaindex offset
    _, pos = index_reader.varint(footer, pos)  # metaindex size
    idx_off, pos = index_reader.varint(footer, pos)
    idx_size, _ = index_reader.varint(footer, pos)
    assert data[idx_off + idx_size] == 0, "index block itself is expected uncompressed here"
    block = data[idx_off:idx_off + idx_size]
    num_restarts = int.from_bytes(block[-4:], "little")
    end = len(block) - 4 - 4 * num_restarts
    types, pos, last_key = [], 0, b""
    while pos < end:
        shared, pos = index_reader.varint(block, pos)
        non_shared, pos = index_reader.varint(block, pos)
        vlen, pos = index_reader.varint(block, pos)
        last_key = last_key[:shared] + block[pos:pos + non_shared]
        pos += non_shared
        off, p2 = index_reader.varint(block, pos)
        size, _ = index_reader.varint(block, p2)
        pos += vlen
        types.append(data[off + size])
    return types


def _many_tensors_ckpt(path):
    names = ["encoder/layer_%03d/attention/self/%s" % (i, w)
             for i in range(60) for w in ("query/kernel", "key/kernel", "value/kernel")]
    values = [np.full((2, 2), i, np.float32) for i in range(len(names))]
    tf.raw_ops.SaveV2(prefix=path, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=values)
    return names, values


def test_snappy_index_made_with_leveldb_reads_like_tf(tmp_path, tfckpt, bundle_tool):
    prefix = str(tmp_path / "snappy" / "ckpt")
    names, values = _many_tensors_ckpt(prefix)
    plain_size = os.path.getsize(prefix + ".index")
    assert _block_types(prefix + ".index") == [0]
    bundle_tool.run("snappy", prefix)
    assert _block_types(prefix + ".index") == [1], "the rewritten index should hold a Snappy block"
    assert os.path.getsize(prefix + ".index") < plain_size
    # TensorFlow reads the compressed index...
    reader = tf.train.load_checkpoint(prefix)
    tf_shapes = reader.get_variable_to_shape_map()
    assert sorted(tf_shapes) == sorted(names)
    # ...and so does tfckpt, with the same names, shapes and values.
    listing = tfckpt.json("ls", prefix, "--json")
    assert [t["name"] for t in listing["tensors"]] == sorted(names)
    for t in listing["tensors"]:
        assert t["shape"] == tf_shapes[t["name"]]
    shown = tfckpt.json("show", prefix, names[7], names[100], "--json")["tensors"]
    for item in shown:
        np.testing.assert_array_equal(np.array(item["values"], np.float32),
                                      reader.get_tensor(item["name"]))
    tfckpt.run("verify", prefix)


def test_state_file_written_by_library_is_read_by_tf(tmp_path, tfckpt, bundle_tool):
    d = tmp_path / "train"
    for step in (1, 2):
        tf.raw_ops.SaveV2(prefix=str(d / ("ckpt-%d" % step)), tensor_names=["step"],
                          shape_and_slices=[""], tensors=[np.int64(step)])
    bundle_tool.run("state", d, "ckpt-2", "ckpt-1")
    state = tf.train.get_checkpoint_state(str(d))
    assert state.model_checkpoint_path.endswith("ckpt-2")
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == ["ckpt-1", "ckpt-2"]
    assert tf.train.latest_checkpoint(str(d)) == str(d / "ckpt-2")
    latest = tfckpt.json("show", d, "step", "--json")["tensors"]
    assert latest[0]["values"] == tf.train.load_checkpoint(str(d)).get_tensor("step")
    older = tfckpt.json("show", "%s@1" % d, "step", "--json")["tensors"]
    assert older[0]["values"] == tf.train.load_checkpoint(str(d / "ckpt-1")).get_tensor("step")
    leftovers = [n for n in os.listdir(d) if ".tfckpt-tmp-" in n]
    assert leftovers == []
