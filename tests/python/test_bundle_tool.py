"""The tfckpt writer (through `bundle_tool`) against TensorFlow: same bytes, and TF reads it."""

import os

import numpy as np
import pytest
import tensorflow as tf

import conftest
import index_reader
import tfckpt_testlib as lib

SAVER_DTYPES = ["float32", "float64", "float16", "bfloat16", "int8", "int16", "int32", "int64",
                "uint8", "uint16", "uint32", "uint64", "complex64", "complex128", "bool",
                "string"]


def _saver_vars():
    """Graph-mode variables: every dtype a TF1 Saver handles, plus a scalar and empty tensors."""
    get = tf.compat.v1.get_variable
    for dt in SAVER_DTYPES:
        get("v/" + dt, initializer=tf.constant(lib.dtype_values(dt), dtype=tf.as_dtype(dt)))
    get("scalar", initializer=tf.constant(-2.5, tf.float32))
    get("zero/f", initializer=tf.zeros([0, 3], tf.float32))
    get("zero/s", initializer=tf.constant(np.array([], dtype=object), dtype=tf.string))
    get("matrix", initializer=tf.constant(np.arange(12, dtype=np.int32).reshape(3, 4)))


@pytest.fixture(scope="module")
def saver_ckpt(tmp_path_factory):
    return conftest._tf1_graph_save(tmp_path_factory.mktemp("saver_dtypes"), _saver_vars)[0]


# write -----------------------------------------------------------------------------------------

def test_write_matches_tf1_saver_bytes(bundle_tool, saver_ckpt, tmp_path):
    assert len(lib.data_files(saver_ckpt)) == 1
    order = [k.decode() for k in lib.data_file_order(saver_ckpt)]
    spec = lib.spec_from_tf(saver_ckpt, order, str(tmp_path / "spec.json"))
    out = str(tmp_path / "out" / "model")
    bundle_tool.run("write", spec, out)
    lib.assert_same_bundle_bytes(saver_ckpt, out)


def test_write_matches_savev2_all_dtypes_bytes(bundle_tool, all_dtypes, tmp_path):
    prefix, names, _ = all_dtypes
    assert [k.decode() for k in lib.data_file_order(prefix)] == names
    spec = lib.spec_from_tf(prefix, names, str(tmp_path / "spec.json"))
    out = str(tmp_path / "all")
    bundle_tool.run("write", spec, out)
    lib.assert_same_bundle_bytes(prefix, out)
    lib.assert_same_values(prefix, out)


def test_write_loads_in_tf(bundle_tool, tmp_path):
    tensors = [("w", "float32", np.array([[1.0, np.nan], [-0.0, np.inf]], np.float32)),
               ("s", "string", np.array([b"", b"\xff", "\u00e9".encode()], dtype=object)),
               ("b", "bool", np.array([True, False])),
               ("c", "complex64", np.array([1 + 2j, -3.5j], np.complex64)),
               ("i4", "int4", np.array([-8, -1, 0, 7]).astype(lib.np_dtype("int4"))),
               ("h", "bfloat16", np.array([1.5, -2.0]).astype(lib.np_dtype("bfloat16"))),
               ("q", "qint8", np.array([-128, 5], np.int8)),
               ("e", "float32", np.zeros([0, 3], np.float32)),
               ("scalar", "int64", np.array(-(2**62), np.int64))]
    spec = lib.write_spec(str(tmp_path / "spec.json"), tensors)
    out = str(tmp_path / "w")
    bundle_tool.run("write", spec, out)
    values = lib.tf_read_all(out)
    assert sorted(values) == sorted(t[0] for t in tensors)
    for name, dtype_name, want in tensors:
        got_dtype, got_shape, got = values[name]
        assert got_dtype == dtype_name and got_shape == list(want.shape), name
        got = lib.as_array(got)
        if dtype_name == "string":
            assert got.tolist() == want.tolist()
        else:
            assert got.tobytes() == want.tobytes(), name


def test_write_restores_with_saver(bundle_tool, saver_ckpt, tmp_path):
    order = [k.decode() for k in lib.data_file_order(saver_ckpt)]
    spec = lib.spec_from_tf(saver_ckpt, order, str(tmp_path / "spec.json"))
    out = str(tmp_path / "restore" / "model")
    bundle_tool.run("write", spec, out)
    graph = tf.Graph()
    with graph.as_default():
        _saver_vars()
        variables = tf.compat.v1.global_variables()
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session(graph=graph) as sess:
            saver.restore(sess, out)
            restored = dict(zip([v.op.name for v in variables], sess.run(variables)))
    want = lib.tf_read_all(saver_ckpt)
    assert sorted(restored) == sorted(want)
    for name, value in restored.items():
        a, b = lib.as_array(value), lib.as_array(want[name][2])
        if a.dtype == object:
            assert a.tolist() == b.tolist(), name
        else:
            assert a.tobytes() == b.tobytes(), name


def test_write_several_shards(bundle_tool, tfckpt, tmp_path):
    rng = np.random.RandomState(0)
    tensors = [("t%02d" % i, "float32", rng.standard_normal(100).astype(np.float32))
               for i in range(10)]  # 400 bytes each
    tensors.append(("names", "string", np.array([b"a" * 50, b"", b"b" * 70], dtype=object)))
    spec = lib.write_spec(str(tmp_path / "spec.json"), tensors, max_shard_bytes=1000)
    out = str(tmp_path / "sharded")
    bundle_tool.run("write", spec, out)
    files = lib.data_files(out)
    assert len(files) >= 3, files
    header, entries = index_reader.read_index(out + ".index")
    assert header.num_shards == len(files)
    assert all(os.path.basename(f) == "sharded.data-%05d-of-%05d" % (i, len(files))
               for i, f in enumerate(files))
    assert len({e.shard_id for e in entries.values()}) == len(files)
    values = lib.tf_read_all(out)
    for name, _, want in tensors:
        got = lib.as_array(values[name][2])
        assert (got.tolist() == want.tolist()) if want.dtype == object else (
            got.tobytes() == want.tobytes()), name
    listing = tfckpt.json("ls", out, "--json")
    assert listing["num_shards"] == len(files)
    tfckpt.run("verify", out)


# copy ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fixture_name", ["tf1_plain", "tf1_partitioned", "all_dtypes",
                                          "variant_ckpt", "grid_partitioned", "saver_ckpt"])
def test_copy_is_byte_identical(bundle_tool, request, tmp_path, fixture_name):
    src = request.getfixturevalue(fixture_name)
    if isinstance(src, tuple):
        src = src[0]
    out = str(tmp_path / "copy")
    bundle_tool.run("copy", src, out)
    lib.assert_same_bundle_bytes(src, out)


def test_copy_tf2_byte_identical(bundle_tool, tf2_dir, tmp_path):
    src = tf.train.latest_checkpoint(tf2_dir)
    out = str(tmp_path / "copy")
    bundle_tool.run("copy", src, out)
    lib.assert_same_bundle_bytes(src, out)


def test_copy_tf2_restores(bundle_tool, tf2_dir, tmp_path):
    src = tf.train.latest_checkpoint(tf2_dir)
    out = str(tmp_path / "tf2copy" / "ckpt")
    bundle_tool.run("copy", src, out)
    model, optimizer = conftest.make_tf2_objects()
    conftest._train_step(model, optimizer)  # creates the slot variables; restore overwrites
    status = tf.train.Checkpoint(model=model, optimizer=optimizer).restore(out)
    status.assert_consumed()
    reader = tf.train.load_checkpoint(src)
    for attr in ("kernel", "bias"):
        var = getattr(model, attr)
        key = "model/%s/.ATTRIBUTES/VARIABLE_VALUE" % attr
        assert var.numpy().tobytes() == reader.get_tensor(key).tobytes()
        for slot in ("m", "v"):
            slot_key = "model/%s/.OPTIMIZER_SLOT/optimizer/%s/.ATTRIBUTES/VARIABLE_VALUE" % (
                attr, slot)
            assert optimizer.get_slot(var, slot).numpy().tobytes() == \
                reader.get_tensor(slot_key).tobytes()


def test_copy_sharded_reads_the_same_in_tf(bundle_tool, tf1_sharded, tmp_path):
    out = str(tmp_path / "copy")
    bundle_tool.run("copy", tf1_sharded, out)
    lib.assert_same_values(tf1_sharded, out)


def test_copy_saved_model_dir(bundle_tool, saved_model_dir, tmp_path):
    out = str(tmp_path / "copy")
    bundle_tool.run("copy", saved_model_dir, out)
    lib.assert_same_bundle_bytes(os.path.join(saved_model_dir, "variables", "variables"), out)


def test_copy_variant_restores_in_tf(bundle_tool, variant_ckpt, tmp_path):
    out = str(tmp_path / "copy")
    bundle_tool.run("copy", variant_ckpt, out)
    lst, lists = tf.raw_ops.RestoreV2(prefix=out, tensor_names=["list", "lists"],
                                      shape_and_slices=["", ""],
                                      dtypes=[tf.variant, tf.variant])
    stacked = tf.raw_ops.TensorListStack(input_handle=lst, element_dtype=tf.float32,
                                         element_shape=tf.constant([], tf.int32))
    np.testing.assert_array_equal(stacked.numpy(), [1.0, 2.0, 3.0])
    first = tf.raw_ops.TensorListStack(input_handle=tf.unstack(lists)[0],
                                       element_dtype=tf.int32,
                                       element_shape=tf.constant([2], tf.int32))
    np.testing.assert_array_equal(first.numpy(), [[1, 2], [3, 4]])
