"""`tfckpt transfer` between TF2 checkpoints whose object layouts differ, into Keras-exported
SavedModels, and past the model's optimizer state. TensorFlow judges every output: the SavedModel
loads with tf.saved_model.load and serves what the Keras model predicts, checkpoints restore with
assert_consumed(), and values equal what tf.train.load_checkpoint reads from the inputs."""

import os
import re

import numpy as np
import pytest
import tensorflow as tf

from tensorflow.core.protobuf import trackable_object_graph_pb2

import ops_testlib as ops

keras = tf.keras


def _model(seed):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((4,))
    hidden = keras.layers.Dense(3, activation="relu", name="d1")(inp)
    out = keras.layers.Dense(2, name="d2")(hidden)
    return keras.Model(inp, out)


def _inputs():
    return np.random.default_rng(7).normal(size=(6, 4)).astype(np.float32)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A Keras model saved through tf.train.Checkpoint(model=...), and its predictions."""
    d = tmp_path_factory.mktemp("trained")
    model = _model(1)
    prefix = tf.train.Checkpoint(model=model).save(str(d / "ckpt" / "model"))
    return {"prefix": prefix, "model": model, "pred": model(_inputs()).numpy()}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The same architecture with other weights, exported with model.export()."""
    d = tmp_path_factory.mktemp("exported")
    model = _model(2)
    model.export(str(d / "export"), verbose=False)
    return str(d / "export")


def _object_graph(prefix):
    return tf.train.load_checkpoint(prefix).get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH")


def test_export_filled_from_checkpoint_serves_the_models_predictions(tfckpt, tmp_path, trained,
                                                                     exported):
    out = tmp_path / "served"
    before = ops.snapshot(trained["prefix"], exported)
    proc = tfckpt.run("transfer", "--into", exported, "--from", trained["prefix"], "-o", out)
    ops.assert_unchanged(before, trained["prefix"], exported)
    assert "4 tensor(s) matched by full name" in proc.out, proc.out
    loaded = tf.saved_model.load(str(out))
    got = loaded.serve(tf.constant(_inputs())).numpy()
    np.testing.assert_allclose(got, trained["pred"], rtol=1e-6, atol=1e-6)
    # The export's own object graph is the one written, byte for byte.
    assert _object_graph(str(out / "variables" / "variables")) == _object_graph(
        os.path.join(exported, "variables", "variables"))


def test_export_filled_from_tf1_checkpoint_by_full_name(tfckpt, tmp_path, exported):
    """A TF1 checkpoint keyed by the variables' full names fills a Keras export (each variable is
    listed twice there); the served predictions are those of a Keras model holding TF's values."""
    rng = np.random.default_rng(3)
    values = {"d1/kernel": rng.normal(size=(4, 3)), "d1/bias": rng.normal(size=3),
              "d2/kernel": rng.normal(size=(3, 2)), "d2/bias": rng.normal(size=2)}

    def build():
        return {n: tf.compat.v1.get_variable(n, initializer=tf.constant(v.astype(np.float32)))
                for n, v in values.items()}
    tf1 = ops.tf1_save(str(tmp_path / "tf1" / "m"), build)
    out = tmp_path / "served"
    tfckpt.run("transfer", "--into", exported, "--from", tf1, "-o", out)
    reader = tf.train.load_checkpoint(tf1)
    want = _model(5)
    want.get_layer("d1").set_weights([reader.get_tensor("d1/kernel"), reader.get_tensor("d1/bias")])
    want.get_layer("d2").set_weights([reader.get_tensor("d2/kernel"), reader.get_tensor("d2/bias")])
    loaded = tf.saved_model.load(str(out))
    got = loaded.serve(tf.constant(_inputs())).numpy()
    np.testing.assert_allclose(got, want(_inputs()).numpy(), rtol=1e-6, atol=1e-6)


def test_checkpoints_saved_through_different_objects(tfckpt, tmp_path, trained):
    """Two TF2 checkpoints of one architecture, one under `model`, one under `net`: the variables
    are matched by full name, the output has the `net` layout and restores with assert_consumed."""
    other = _model(4)
    layout = tf.train.Checkpoint(net=other).save(str(tmp_path / "net" / "ck"))
    out = str(tmp_path / "out" / "ck")
    tfckpt.run("transfer", "--into", layout, "--from", trained["prefix"], "-o", out)
    fresh = _model(6)
    tf.train.Checkpoint(net=fresh).restore(out).assert_consumed()
    np.testing.assert_allclose(fresh(_inputs()).numpy(), trained["pred"], rtol=1e-6, atol=1e-6)
    reader = tf.train.load_checkpoint(out)
    assert reader.get_tensor("save_counter/.ATTRIBUTES/VARIABLE_VALUE") == \
        tf.train.load_checkpoint(layout).get_tensor("save_counter/.ATTRIBUTES/VARIABLE_VALUE")
    assert _object_graph(out) == _object_graph(layout)


def test_nothing_in_common_is_refused_with_what_was_compared(tfckpt, tmp_path, exported):
    holder = tf.Module()
    holder.w = tf.Variable(tf.ones((4, 3)), name="unrelated/w")
    source = tf.train.Checkpoint(m=holder).save(str(tmp_path / "src" / "ck"))
    out = tmp_path / "out"
    proc = tfckpt.run("transfer", "--into", exported, "--from", source, "-o", out, expect_rc=2)
    assert "no variable of the model is in" in proc.err, proc.err
    assert "'d1/bias'" in proc.err and "'unrelated/w'" in proc.err, proc.err
    assert "by key and by full name" in proc.err, proc.err
    assert not out.exists()


def test_a_map_that_matches_no_variable_is_refused(tfckpt, tmp_path, trained):
    out = tmp_path / "out"
    proc = tfckpt.run("transfer", "--into", trained["prefix"], "--from", trained["prefix"],
                      "--map", "nothing/=here/", "-o", out, expect_rc=2)
    assert "matches no variable of the model" in proc.err, proc.err
    assert not out.exists()


def test_bookkeeping_of_the_model_is_not_a_target(tfckpt, tmp_path, trained):
    layout = tf.train.Checkpoint(net=_model(4)).save(str(tmp_path / "net" / "ck"))
    proc = tfckpt.run("transfer", "--into", layout, "--from", trained["prefix"], "--map",
                      "_CHECKPOINTABLE_OBJECT_GRAPH=_CHECKPOINTABLE_OBJECT_GRAPH", "-o",
                      tmp_path / "out" / "ck", expect_rc=2)
    assert "object-graph bookkeeping" in proc.err, proc.err
    # A root scope map fills variables only: the model's graph and save_counter stay its own.
    src_two = tf.train.Checkpoint(net=_model(8))
    src_two.save_counter.assign(41)
    source = src_two.save(str(tmp_path / "src" / "ck"))
    out = str(tmp_path / "out2" / "ck")
    tfckpt.run("transfer", "--into", layout, "--from", source, "--map", "/=/", "-o", out)
    assert _object_graph(out) == _object_graph(layout)
    got, src, model = (tf.train.load_checkpoint(p) for p in (out, source, layout))
    key = "save_counter/.ATTRIBUTES/VARIABLE_VALUE"
    assert got.get_tensor(key) == model.get_tensor(key) != src.get_tensor(key)
    kernels = [n for n in model.get_variable_to_shape_map() if "kernel" in n]
    assert len(kernels) == 2, kernels
    for kernel in kernels:
        np.testing.assert_array_equal(got.get_tensor(kernel), src.get_tensor(kernel))


# ---------------------------------------------------------------------------------------------
# The model's optimizer state (issue: transfer learning into a model that has slots)
# ---------------------------------------------------------------------------------------------

def _tf1_adam_model(prefix, seed, with_head=True):
    """A TF1 model (enc/..., and head/...) trained one Adam step: it has slots and beta powers."""
    def build():
        rng = np.random.default_rng(seed)
        get = tf.compat.v1.get_variable
        w = get("enc/w", initializer=tf.constant(rng.normal(size=(3, 2)).astype(np.float32)))
        b = get("enc/b", initializer=tf.constant(rng.normal(size=2).astype(np.float32)))
        loss = tf.reduce_sum(tf.matmul(tf.ones((1, 3)), w) + b)
        if with_head:
            h = get("head/w", initializer=tf.constant(rng.normal(size=(2,)).astype(np.float32)))
            loss += tf.reduce_sum(h * h)
        return tf.compat.v1.train.AdamOptimizer(0.1).minimize(loss)
    return ops.tf1_save(prefix, build, before_save=lambda sess, train: sess.run(train))


def _encoder_model(prefix, seed):
    """The new model: its variables are under encoder/, with its own Adam slots."""
    def build():
        rng = np.random.default_rng(seed)
        get = tf.compat.v1.get_variable
        w = get("encoder/w", initializer=tf.constant(rng.normal(size=(3, 2)).astype(np.float32)))
        b = get("encoder/b", initializer=tf.constant(rng.normal(size=2).astype(np.float32)))
        loss = tf.reduce_sum(tf.matmul(tf.ones((1, 3)), w) * 2 + b)
        return tf.compat.v1.train.AdamOptimizer(0.1).minimize(loss)
    return ops.tf1_save(prefix, build, before_save=lambda sess, train: sess.run(train))


def test_scope_maps_leave_the_models_optimizer_state(tfckpt, tmp_path):
    pretrained = _tf1_adam_model(str(tmp_path / "pre" / "m"), 1)
    stripped = str(tmp_path / "stripped" / "m")
    tfckpt.run("edit", pretrained, "--strip-optimizer", "-o", stripped)
    model = _encoder_model(str(tmp_path / "model" / "m"), 2)
    m = tf.train.load_checkpoint(model)
    assert m.has_tensor("encoder/w/Adam") and m.has_tensor("beta1_power")
    for source in (pretrained, stripped):
        out = str(tmp_path / ("out-" + os.path.basename(os.path.dirname(source))) / "m")
        tfckpt.run("transfer", "--into", model, "--from", source, "--map", "enc/=encoder/",
                   "-o", out)
        got, src = tf.train.load_checkpoint(out), tf.train.load_checkpoint(source)
        assert sorted(got.get_variable_to_shape_map()) == sorted(m.get_variable_to_shape_map())
        for var in ("w", "b"):
            np.testing.assert_array_equal(got.get_tensor("encoder/" + var),
                                          src.get_tensor("enc/" + var))
        for name in m.get_variable_to_shape_map():
            if not name.startswith("encoder/") or "/Adam" in name:
                np.testing.assert_array_equal(got.get_tensor(name), m.get_tensor(name), name)


def test_include_optimizer_maps_the_slots_too(tfckpt, tmp_path):
    pretrained = _tf1_adam_model(str(tmp_path / "pre" / "m"), 1)
    model = _encoder_model(str(tmp_path / "model" / "m"), 2)
    out = str(tmp_path / "out" / "m")
    tfckpt.run("transfer", "--into", model, "--from", pretrained, "--map", "enc/=encoder/",
               "--include-optimizer", "-o", out)
    got, src, m = (tf.train.load_checkpoint(p) for p in (out, pretrained, model))
    for slot in ("w/Adam", "w/Adam_1", "b/Adam", "b/Adam_1"):
        np.testing.assert_array_equal(got.get_tensor("encoder/" + slot),
                                      src.get_tensor("enc/" + slot))
    np.testing.assert_array_equal(got.get_tensor("beta1_power"), m.get_tensor("beta1_power"))
    # From a stripped checkpoint, asking for the slots names the one that is missing.
    stripped = str(tmp_path / "stripped" / "m")
    tfckpt.run("edit", pretrained, "--strip-optimizer", "-o", stripped)
    proc = tfckpt.run("transfer", "--into", model, "--from", stripped, "--map", "enc/=encoder/",
                      "--include-optimizer", "-o", tmp_path / "out2" / "m", expect_rc=2)
    assert "Tensor enc/w/Adam " in proc.err, proc.err


def test_tf2_model_slots_keep_their_values(tfckpt, tmp_path, trained):
    """A Keras model trained with Adam (slots under .OPTIMIZER_SLOT) filled by full name from a
    checkpoint without optimizer: the variables change, the slots are the model's own, and the
    result restores into the model and its optimizer with assert_consumed()."""
    model = _model(9)
    opt = keras.optimizers.Adam(0.01)
    model.compile(opt, "mse")
    model.fit(_inputs(), np.ones((6, 2), np.float32), epochs=1, verbose=0)
    layout = tf.train.Checkpoint(model=model, optimizer=opt).save(str(tmp_path / "m" / "ck"))
    out = str(tmp_path / "out" / "ck")
    tfckpt.run("transfer", "--into", layout, "--from", trained["prefix"], "-o", out)
    got, lay = tf.train.load_checkpoint(out), tf.train.load_checkpoint(layout)
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(_object_graph(layout))
    slots = [a.checkpoint_key for n in graph.nodes for a in n.attributes
             if re.match(r"adam(_\d+)?/", a.full_name)]
    assert len(slots) == 10, slots  # 8 moments, iterations, learning rate
    for n in slots:
        np.testing.assert_array_equal(got.get_tensor(n), lay.get_tensor(n), n)
    fresh = _model(10)
    fresh_opt = keras.optimizers.Adam(0.01)
    fresh.compile(fresh_opt, "mse")
    fresh.fit(_inputs(), np.ones((6, 2), np.float32), epochs=1, verbose=0)
    tf.train.Checkpoint(model=fresh, optimizer=fresh_opt).restore(out).assert_consumed()
    np.testing.assert_allclose(fresh(_inputs()).numpy(), trained["pred"], rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Keras 3 keys a model's weights through its optimizer when the optimizer is saved too
# (optimizer/_trainable_variables/N), through the model when not: one command each still works.
# ---------------------------------------------------------------------------------------------

def _fine_tuned(tmp_path, name, seed):
    """The Keras model of _model(1) fine-tuned for a step with Adam, saved with its optimizer."""
    model = _model(1)
    opt = keras.optimizers.Adam(0.05)
    model.compile(opt, "mse")
    rng = np.random.default_rng(seed)
    model.fit(_inputs(), rng.normal(size=(6, 2)).astype(np.float32), epochs=2, verbose=0)
    prefix = tf.train.Checkpoint(model=model, optimizer=opt).save(str(tmp_path / name / "ck"))
    return prefix, model


def _weight_paths(model):
    return sorted(v.path for v in model.weights)


def test_blend_base_without_optimizer_with_fine_tunes_that_have_one(tfckpt, tmp_path, trained):
    a, model_a = _fine_tuned(tmp_path, "a", 1)
    b, model_b = _fine_tuned(tmp_path, "b", 2)
    assert any(k.startswith("optimizer/_trainable_variables/")
               for k in tf.train.load_checkpoint(a).get_variable_to_shape_map())
    out = str(tmp_path / "out" / "ck")
    tfckpt.run("blend", "task_arithmetic", "--base", trained["prefix"], a, b, "--lambda", "0.5",
               "-o", out)
    fresh = _model(11)
    tf.train.Checkpoint(model=fresh).restore(out).assert_consumed()
    base = trained["model"].get_weights()
    for got, w0, w1, w2 in zip(fresh.get_weights(), base, model_a.get_weights(),
                               model_b.get_weights()):
        np.testing.assert_allclose(got, w0 + 0.5 * ((w1 - w0) + (w2 - w0)), rtol=1e-5,
                                   atol=1e-6)


def test_average_of_checkpoints_with_and_without_optimizer(tfckpt, tmp_path, trained):
    a, model_a = _fine_tuned(tmp_path, "a", 3)
    out = str(tmp_path / "out" / "ck")
    tfckpt.run("average", trained["prefix"], a, "-o", out)
    fresh = _model(12)
    tf.train.Checkpoint(model=fresh).restore(out).assert_existing_objects_matched()
    for got, w0, w1 in zip(fresh.get_weights(), trained["model"].get_weights(),
                           model_a.get_weights()):
        np.testing.assert_allclose(got, (w0 + w1) / 2, rtol=1e-6, atol=1e-7)


def test_convert_names_are_the_variables_paths(tfckpt, tmp_path):
    import safetensors.numpy as stnp
    prefix, model = _fine_tuned(tmp_path, "a", 4)
    out = str(tmp_path / "model.safetensors")
    tfckpt.run("convert", prefix, "--strip-optimizer", "-o", out)
    got = stnp.load_file(out)
    assert sorted(set(got) - {"save_counter"}) == _weight_paths(model), sorted(got)
    for v in model.weights:
        np.testing.assert_array_equal(got[v.path], v.numpy(), v.path)


def test_strip_optimizer_after_to_tf1(tfckpt, tmp_path):
    prefix, model = _fine_tuned(tmp_path, "a", 5)
    tf1 = str(tmp_path / "tf1" / "m")
    tfckpt.run("convert", "--to-tf1", prefix, "-o", tf1)
    names = tf.train.load_checkpoint(tf1).get_variable_to_shape_map()
    assert any(re.match(r"adam(_\d+)?/", n) for n in names), sorted(names)
    stripped = str(tmp_path / "stripped" / "m")
    tfckpt.run("edit", tf1, "--strip-optimizer", "-o", stripped)
    reader = tf.train.load_checkpoint(stripped)
    assert sorted(set(reader.get_variable_to_shape_map()) - {"save_counter"}) == \
        _weight_paths(model)
    for v in model.weights:
        np.testing.assert_array_equal(reader.get_tensor(v.path), v.numpy(), v.path)


def test_python_include_optimizer(tmp_path):
    import tfckpt
    pretrained = _tf1_adam_model(str(tmp_path / "pre" / "m"), 1)
    model = _encoder_model(str(tmp_path / "model" / "m"), 2)
    src, m = tf.train.load_checkpoint(pretrained), tf.train.load_checkpoint(model)
    for include in (False, True):
        out = str(tmp_path / ("out%d" % include) / "m")
        tfckpt.transfer([(pretrained, {"enc/": "encoder/"})], out, into=model,
                        include_optimizer=include)
        got = tf.train.load_checkpoint(out)
        np.testing.assert_array_equal(got.get_tensor("encoder/w"), src.get_tensor("enc/w"))
        want = src.get_tensor("enc/w/Adam") if include else m.get_tensor("encoder/w/Adam")
        np.testing.assert_array_equal(got.get_tensor("encoder/w/Adam"), want)
        arrays = {"encoder/w": np.zeros((3, 2), np.float32),
                  "encoder/w/Adam": np.zeros((3, 2), np.float32)}
        assigned = tfckpt.init_from_checkpoint(pretrained, {"enc/": "encoder/"}, arrays,
                                               include_optimizer=include)
        assert sorted(assigned) == (["encoder/w", "encoder/w/Adam"] if include else ["encoder/w"])
        np.testing.assert_array_equal(arrays["encoder/w"], src.get_tensor("enc/w"))
        np.testing.assert_array_equal(arrays["encoder/w/Adam"],
                                      src.get_tensor("enc/w/Adam") if include else 0)
