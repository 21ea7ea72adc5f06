"""Keras model files read as checkpoints, judged by Keras: every weight of a `.keras` archive, its
unzipped directory and a `.weights.h5` that Keras 3 wrote reads as the value Keras holds, under the
name README.md's "Keras files" section gives it; damaged and hostile files are refused with a
message and never crash."""

import json
import os
import shutil
import zipfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import h5py
import keras
import numpy as np
import pytest

import methods_reference as R
import ops_testlib as ops
import tfckpt as tfckpt_py  # the Python package (the `tfckpt` fixture is the command line)


@keras.saving.register_keras_serializable(package="tfckpt_tests")
class Block(keras.layers.Layer):
    """A custom layer: its variables' order is not known to tfckpt (named by position)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = keras.layers.Dense(4, name="inner")
        self.norm = keras.layers.LayerNormalization(name="norm")

    def call(self, x):
        return self.norm(self.inner(x))


@keras.saving.register_keras_serializable(package="tfckpt_tests")
class Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.encoder = Block(name="encoder")
        self.out = keras.layers.Dense(2, name="out")

    def call(self, x):
        return self.out(self.encoder(x))


def _sequential():
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d1"),
                             keras.layers.Dense(2, name="d2")], name="seq")


def _functional_multi_input():
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    h = keras.layers.Concatenate()([keras.layers.Dense(5, name="enc1")(a),
                                    keras.layers.Dense(5, name="enc2", use_bias=False)(b)])
    return keras.Model([a, b], keras.layers.Dense(2, name="head")(h), name="multi")


def _nested_functional():
    i = keras.Input((4,))
    inner = keras.Model(i, keras.layers.Dense(3, name="inner_d")(i), name="encoder")
    j = keras.Input((4,), name="j")
    return keras.Model(j, keras.layers.Dense(2, name="top")(inner(j)), name="outer")


def _shared_layer():
    a, b = keras.Input((4,)), keras.Input((4,))
    d = keras.layers.Dense(3, name="sh")
    return keras.Model([a, b], keras.layers.Dense(2, name="o")(keras.layers.Add()([d(a), d(b)])),
                       name="shared")


def _conv_bn():
    i = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, name="c1")(i)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.BatchNormalization(name="bn_nocenter", center=False)(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    # Mixed precision: bfloat16 computation, float32 variables.
    return keras.Model(i, keras.layers.Dense(2, name="o", dtype="mixed_bfloat16")(h), name="conv")


def _recurrent_attention():
    i = keras.Input((5,), dtype="int32")
    h = keras.layers.Embedding(20, 4, name="emb")(i)
    h = keras.layers.LSTM(3, return_sequences=True, name="lstm")(h)
    h = keras.layers.GRU(3, return_sequences=True, name="gru")(h)
    h = keras.layers.MultiHeadAttention(2, 3, name="mha")(h, h)
    h = keras.layers.Dense(2, name="bf16", dtype="bfloat16")(h)
    return keras.Model(i, keras.layers.LayerNormalization(name="ln")(h), name="rnn")


def _subclassed():
    m = Subclassed(name="sub")
    m(np.ones((1, 4), np.float32))
    return m


# name -> (builder, the inputs of a batch, the outputs' shape)
MODELS = {
    "sequential": (_sequential, lambda n: np.ones((n, 4)), (2,)),
    "functional_multi_input": (_functional_multi_input,
                               lambda n: [np.ones((n, 4)), np.ones((n, 3))], (2,)),
    "nested_functional": (_nested_functional, lambda n: np.ones((n, 4)), (2,)),
    "shared_layer": (_shared_layer, lambda n: [np.ones((n, 4)), np.ones((n, 4))], (2,)),
    "conv_bn": (_conv_bn, lambda n: np.random.rand(n, 8, 8, 3), (2,)),
    "recurrent_attention": (_recurrent_attention,
                            lambda n: np.random.randint(0, 20, (n, 5)), (5, 2)),
    "subclassed": (_subclassed, lambda n: np.ones((n, 4)), (2,)),
}


def _own_name(model, kind, variable, positional=True):
    """The name the README's scheme gives a Keras variable, from Keras' own `variable.path`: the
    outermost model's name dropped (Sequential and subclassed models put it first), and a nested
    functional model's name added (Keras leaves it out: its layers were built outside it)."""
    path = variable.path
    if path.startswith(model.name + "/"):
        path = path[len(model.name) + 1:]
    if kind == "nested_functional" and path.startswith("inner_d/"):
        path = "encoder/" + path
    if kind == "subclassed" and positional:  # a custom layer: variables named by position
        path = {"encoder/inner/kernel": "encoder/inner/vars/0",
                "encoder/inner/bias": "encoder/inner/vars/1",
                "encoder/norm/gamma": "encoder/norm/vars/0",
                "encoder/norm/beta": "encoder/norm/vars/1"}.get(path, path)
    return path


def _expected(model, kind, with_config):
    """{name: value} of every variable of `model` and its optimizer, values from Keras."""
    out = {}
    for v in model.weights:
        out[_own_name(model, kind, v)] = np.asarray(v.numpy())
    opt = model.optimizer
    own = {v.path: _own_name(model, kind, v) for v in model.trainable_variables}
    # Slots are named after their variable (config.json gives the layer order that ties them);
    # without config.json, or for a subclassed model, by position.
    named_slots = with_config and kind != "subclassed"
    for i, v in enumerate(opt.variables):
        name = v.path
        if v.path.split("/", 1)[1] not in ("iteration", "learning_rate"):
            if named_slots:
                for keras_path, ours in own.items():
                    k = keras_path.replace("/", "_")
                    if v.path.split("/", 1)[1].startswith(k + "_"):
                        slot = v.path.split("/", 1)[1][len(k) + 1:]
                        if slot in ("momentum", "velocity"):
                            name = "%s/%s_%s" % (opt.name, ours.replace("/", "_"), slot)
            else:
                name = "%s/vars/%d" % (opt.name, i)
        out[name] = np.asarray(v.numpy())
    return out


@pytest.fixture(scope="module", params=sorted(MODELS))
def keras_files(request, tmp_path_factory):
    kind = request.param
    build, inputs, out_shape = MODELS[kind]
    keras.utils.set_random_seed(7)
    model = build()
    model.compile(optimizer="adam", loss="mse")
    x = inputs(4)
    model.fit(x, np.random.rand(4, *out_shape), epochs=2, verbose=0)
    d = tmp_path_factory.mktemp(kind)
    model.save(d / "model.keras")
    model.save_weights(d / "model.weights.h5")
    with zipfile.ZipFile(d / "model.keras") as z:
        z.extractall(d / "unzipped")
    model.x = inputs(3)  # a batch the writing tests predict on
    return kind, model, d


def _assert_reads_as(path, expected):
    c = tfckpt_py.open(path)
    assert c.format == "keras"
    assert sorted(c.names()) == sorted(expected), (sorted(c.names()), sorted(expected))
    for name, want in expected.items():
        got = c[name]
        assert got.dtype == want.dtype, (name, got.dtype, want.dtype)
        assert np.array_equal(got, want), name


def test_keras_archive_reads_as_keras_holds_it(keras_files):
    kind, model, d = keras_files
    _assert_reads_as(d / "model.keras", _expected(model, kind, with_config=True))


def test_unzipped_keras_directory_reads_the_same(keras_files):
    kind, model, d = keras_files
    _assert_reads_as(d / "unzipped", _expected(model, kind, with_config=True))


def test_weights_h5_reads_as_keras_holds_it(keras_files):
    kind, model, d = keras_files
    expected = _expected(model, kind, with_config=False)
    if kind == "conv_bn":  # center=False or scale=False: only config.json says which
        expected = {k.replace("bn_nocenter/gamma", "bn_nocenter/vars/0")
                    .replace("bn_nocenter/moving_mean", "bn_nocenter/vars/1")
                    .replace("bn_nocenter/moving_variance", "bn_nocenter/vars/2"): v
                    for k, v in expected.items()}
    _assert_reads_as(d / "model.weights.h5", expected)


def test_values_are_views_on_the_file(keras_files, tfckpt):
    kind, model, d = keras_files
    for path in (d / "model.keras", d / "model.weights.h5"):
        listing = tfckpt.json("ls", path, "--json")
        assert listing["format"] == "keras"
        with open(path, "rb") as f:
            data = f.read()
        start = 0
        if path.suffix == ".keras":
            with zipfile.ZipFile(path) as z:
                info = z.getinfo("model.weights.h5")
                assert info.compress_type == zipfile.ZIP_STORED
                start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        c = tfckpt_py.open(path)
        for t in listing["tensors"]:
            if t["shard"] != 0:
                continue
            want = c[t["name"]]
            raw = data[start + t["offset"]:start + t["offset"] + t["bytes"]]
            assert raw == np.ascontiguousarray(want).tobytes(), t["name"]


def test_cli_lists_shows_and_verifies(keras_files, tfckpt):
    kind, model, d = keras_files
    expected = _expected(model, kind, with_config=True)
    listing = tfckpt.json("ls", d / "model.keras", "--json")
    assert sorted(t["name"] for t in listing["tensors"]) == sorted(expected)
    for t in listing["tensors"]:
        assert t["shape"] == list(expected[t["name"]].shape)
    out = tfckpt.run("verify", d / "model.keras").out
    assert out.startswith("ok "), out


def test_keras_weights_convert_to_a_checkpoint_tensorflow_restores(keras_files, tfckpt, tmp_path):
    import tensorflow as tf
    kind, model, d = keras_files
    tfckpt.run("merge", d / "model.keras", "-o", tmp_path / "ckpt")
    reader = tf.train.load_checkpoint(str(tmp_path / "ckpt"))
    expected = _expected(model, kind, with_config=True)
    assert sorted(reader.get_variable_to_shape_map()) == sorted(expected)
    for name, want in expected.items():
        got = reader.get_tensor(name)
        assert np.array_equal(np.asarray(got).view(want.dtype) if got.dtype != want.dtype
                              else got, want), name


# ---- damaged and hostile files ----

def _small_weights(tmp_path):
    model = _sequential()
    path = tmp_path / "w.weights.h5"
    model.save_weights(path)
    return model, path


def test_truncated_weights_are_refused_naming_the_file(tfckpt, tmp_path):
    # HDF5 keeps the group structures after the values: a cut file has lost them.
    _, path = _small_weights(tmp_path)
    data = path.read_bytes()
    cut = tmp_path / "cut.weights.h5"
    cut.write_bytes(data[:len(data) - 100])
    proc = tfckpt.run("ls", cut, expect_rc=2)
    assert str(cut) in proc.err and "past the end of the file" in proc.err, proc.err


def test_a_weight_whose_values_lie_past_the_end_is_named_and_the_rest_reads(tfckpt, tmp_path):
    model, path = _small_weights(tmp_path)
    data = bytearray(path.read_bytes())
    listing = tfckpt.json("ls", path, "--json")
    victim = next(t for t in listing["tensors"] if t["name"] == "d1/kernel")
    # Its layout message holds its address then its size (8 bytes each): move it past the end.
    where = data.find(victim["offset"].to_bytes(8, "little") + victim["bytes"].to_bytes(8, "little"))
    assert where > 0
    data[where:where + 8] = (len(data) + 4096).to_bytes(8, "little")
    damaged = tmp_path / "damaged.weights.h5"
    damaged.write_bytes(bytes(data))
    proc = tfckpt.run("verify", damaged, expect_rc=1)
    assert "d1/kernel" in proc.out and "cut short" in proc.out, proc.out
    proc = tfckpt.run("show", damaged, "d1/kernel", expect_rc=2)
    assert "d1/kernel" in proc.err and "cut short" in proc.err, proc.err
    c = tfckpt_py.open(damaged)
    for v in model.weights:
        name = v.path[len("seq/"):]
        if name != "d1/kernel":
            assert np.array_equal(c[name], v.numpy()), name


def test_truncation_anywhere_never_crashes(tfckpt, tmp_path):
    _, path = _small_weights(tmp_path)
    data = path.read_bytes()
    for n in list(range(0, 4096, 97)) + list(range(4096, len(data), 997)):
        cut = tmp_path / "cut.weights.h5"
        cut.write_bytes(data[:n])
        proc = tfckpt.run("ls", cut, expect_rc=None)
        assert proc.returncode in (0, 2), proc.where
        if proc.returncode == 2:
            assert str(cut) in proc.err or "cut.weights.h5" in proc.err, proc.err


def test_hdf5_that_is_not_keras_is_refused(tfckpt, tmp_path):
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(4)
    proc = tfckpt.run("ls", path, expect_rc=2)
    assert "not a Keras weights file" in proc.err, proc.err


def test_external_links_raw_storage_and_virtual_datasets_are_refused(tfckpt, tmp_path):
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as f:
        f["layers/dense/vars/0"] = np.arange(3, dtype=np.float32)
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.arange(3, dtype=np.float32).tobytes())
    cases = {}
    p = tmp_path / "link.weights.h5"
    with h5py.File(p, "w") as f:
        f["layers/dense/vars"] = h5py.ExternalLink(str(secret), "layers/dense/vars")
    cases[p] = "external link"
    p = tmp_path / "rawstore.weights.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("layers/dense/vars/0", shape=(3,), dtype=np.float32,
                         external=[(str(raw), 0, 12)])
    cases[p] = "external files"
    p = tmp_path / "virtual.weights.h5"
    layout = h5py.VirtualLayout(shape=(3,), dtype=np.float32)
    layout[:] = h5py.VirtualSource(str(secret), "layers/dense/vars/0", shape=(3,))
    with h5py.File(p, "w", libver="latest") as f:
        f.create_virtual_dataset("layers/dense/vars/0", layout)
    cases[p] = "virtual dataset"
    for path, what in cases.items():
        proc = tfckpt.run("ls", path, expect_rc=2)
        assert what in proc.err and "refused" in proc.err, proc.err


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members:
            z.writestr(name, data)


def test_hostile_and_incomplete_archives_are_refused(tfckpt, tmp_path):
    _, weights = _small_weights(tmp_path)
    w = weights.read_bytes()
    cfg = json.dumps({"class_name": "Sequential", "config": {"name": "seq", "layers": []}})
    cases = {
        "no_weights.keras": ([("config.json", cfg)], "without model.weights.h5"),
        "escape.keras": ([("model.weights.h5", w), ("../evil", "x")],
                         "names a path outside the archive"),
        "absolute.keras": ([("model.weights.h5", w), ("/etc/evil", "x")],
                           "names a path outside the archive"),
    }
    for name, (members, message) in cases.items():
        path = tmp_path / name
        _zip(path, members)
        proc = tfckpt.run("ls", path, expect_rc=2)
        assert message in proc.err and name in proc.err, proc.err
    # The same member twice (zipfile warns but writes it).
    path = tmp_path / "twice.keras"
    with pytest.warns(UserWarning):
        _zip(path, [("model.weights.h5", w), ("model.weights.h5", w)])
    proc = tfckpt.run("ls", path, expect_rc=2)
    assert "twice" in proc.err, proc.err
    # A member whose bytes overlap another's (a zip bomb's trick): the directory's second entry
    # points at the first member's local header.
    path = tmp_path / "overlap.keras"
    _zip(path, [("model.weights.h5", w), ("config.json", cfg)])
    data = bytearray(path.read_bytes())
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 42:cd + 46] = (0).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    proc = tfckpt.run("ls", path, expect_rc=2)
    assert "share bytes" in proc.err or "damaged" in proc.err, proc.err


def test_archive_without_config_reads_by_the_names_in_the_weights(tfckpt, tmp_path):
    model, weights = _small_weights(tmp_path)
    path = tmp_path / "noconfig.keras"
    _zip(path, [("model.weights.h5", weights.read_bytes())])
    c = tfckpt_py.open(path)
    assert sorted(c.names()) == sorted(v.path[len("seq/"):] for v in model.weights)


def test_inputs_are_never_modified(keras_files, tfckpt, tmp_path):
    kind, model, d = keras_files
    before = {p: p.read_bytes() for p in (d / "model.keras", d / "model.weights.h5")}
    tfckpt.run("verify", d / "model.keras")
    tfckpt.run("merge", d / "model.keras", "-o", tmp_path / "m")
    for p, data in before.items():
        assert p.read_bytes() == data


def test_real_early_keras3_weights_without_name_attributes(tfckpt, shared_testdata):
    # A DQN's weights written by an early Keras 3 (no `name` attributes, no config.json): layers
    # are named by Keras' object paths; values are h5py's.
    path = shared_testdata / "real-world" / "keras3_weights_dqn_conv2d_2024" / "model.weights.h5"
    c = tfckpt_py.open(path)
    expected = {}
    with h5py.File(path, "r") as f:
        for layer in ("conv2d", "conv2d_1", "dense", "dense_1"):
            expected[layer + "/kernel"] = f["layers/%s/vars/0" % layer][()]
            expected[layer + "/bias"] = f["layers/%s/vars/1" % layer][()]
        opt = f["optimizer/vars"]
        expected["optimizer/iteration"] = opt["0"][()]
        expected["optimizer/learning_rate"] = opt["1"][()]
        for i in range(2, len(opt)):
            expected["optimizer/vars/%d" % i] = opt[str(i)][()]
    assert sorted(c.names()) == sorted(expected)
    for name, want in expected.items():
        assert np.array_equal(c[name], want), name
    assert tfckpt.run("verify", path).out.startswith("ok ")


def test_real_keras1_weights_read_by_layer(tfckpt, shared_testdata):
    # Keras 1 (2016): `layer_names` at the root, weights named "dense_1_W"; values are h5py's.
    path = shared_testdata / "real-world" / "legacy_weights_keras1_dense_2016" / "weights.h5"
    c = tfckpt_py.open(path)
    expected = {}
    with h5py.File(path, "r") as f:
        for layer in f.attrs["layer_names"]:
            layer = layer.decode()
            for weight in f[layer].attrs["weight_names"]:
                weight = weight.decode()
                expected[layer + "/" + weight] = f[layer][weight][()]
    assert len(expected) == 6
    assert sorted(c.names()) == sorted(expected)
    for name, want in expected.items():
        assert np.array_equal(c[name], want), name


# ---- legacy HDF5: tf.keras 2.x (tf_keras) and Keras 3's legacy writer ----

def _tf_keras_model():
    import tf_keras as tk
    i = tk.Input((5,), dtype="int32")
    h = tk.layers.Embedding(20, 4, name="emb")(i)
    h = tk.layers.LSTM(3, name="lstm")(h)
    h = tk.layers.BatchNormalization(name="bn")(h)
    inner_in = tk.Input((3,))
    inner = tk.Model(inner_in, tk.layers.Dense(3, name="inner_d")(inner_in), name="encoder")
    out = tk.layers.Dense(2, name="head")(inner(h))
    model = tk.Model(i, out, name="legacy")
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.random.randint(0, 20, (4, 5)), np.random.rand(4, 2), epochs=2, verbose=0)
    return model


def _tf_keras_expected(model, optimizer):
    """Names as README's scheme gives them: tf.keras' own weight names without ":0", under the
    layer's name where tf.keras recorded them without it (a nested model's weights)."""
    out = {}
    for layer in model.layers:
        for w in layer.weights:
            name = w.name[:-2] if w.name.endswith(":0") else w.name
            if not name.startswith(layer.name + "/"):
                name = layer.name + "/" + name
            out[name] = w.numpy()
    if optimizer:
        for v in model.optimizer.variables:
            out[v.name[:-2] if v.name.endswith(":0") else v.name] = np.asarray(v.numpy())
    return out


def test_tf_keras_h5_files_read_by_layer_name(tmp_path, tfckpt):
    model = _tf_keras_model()
    model.save(tmp_path / "full.h5")
    model.save_weights(tmp_path / "weights.h5")
    for path, with_optimizer in ((tmp_path / "full.h5", True), (tmp_path / "weights.h5", False)):
        expected = _tf_keras_expected(model, with_optimizer)
        _assert_reads_as(path, expected)
        assert tfckpt.run("verify", path).out.startswith("ok ")


def test_keras3_legacy_h5_reads_as_keras_holds_it(keras_files, tmp_path):
    # Keras 3's legacy writer records every weight's path, so even a custom layer's variables
    # have their own names there.
    kind, model, d = keras_files
    model.save(tmp_path / "model.h5")
    legacy = tfckpt_py.open(tmp_path / "model.h5")
    assert legacy.format == "keras"
    names = set(legacy.names())
    for v in model.weights:
        name = _own_name(model, kind, v, positional=False)
        assert name in names, (name, sorted(names))
        assert np.array_equal(legacy[name], np.asarray(v.numpy())), name
    slots = [n for n in names if n.startswith(model.optimizer.name + "/")]
    assert len(slots) == len(model.optimizer.variables)


def test_verify_checks_the_archive_crc_of_the_weights(keras_files, tfckpt, tmp_path):
    kind, model, d = keras_files
    data = bytearray((d / "model.keras").read_bytes())
    listing = tfckpt.json("ls", d / "model.keras", "--json")
    with zipfile.ZipFile(d / "model.keras") as z:
        info = z.getinfo("model.weights.h5")
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    t = next(t for t in listing["tensors"] if t["shard"] == 0 and t["bytes"] > 0)
    data[start + t["offset"]] ^= 0x01  # one bit of one value: HDF5 itself cannot see it
    damaged = tmp_path / "damaged.keras"
    damaged.write_bytes(bytes(data))
    proc = tfckpt.run("verify", damaged, expect_rc=1)
    assert "does not match the CRC-32 the archive records" in proc.out, proc.out


def test_a_dataset_without_elements_reads_empty(tfckpt, tmp_path):
    path = tmp_path / "empty.weights.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("layers/dense/vars/0", shape=(0, 3), dtype=np.float32)
        f.create_dataset("layers/dense/vars/1", data=np.arange(3, dtype=np.float32))
    listing = tfckpt.json("ls", path, "--json")
    assert [(t["name"], t["shape"], t["bytes"]) for t in listing["tensors"]] == [
        ("dense/bias", [3], 12), ("dense/kernel", [0, 3], 0)]
    c = tfckpt_py.open(path)
    assert c["dense/kernel"].shape == (0, 3)
    assert np.array_equal(c["dense/bias"], np.arange(3, dtype=np.float32))


def test_quantized_layers_are_named_by_position(tmp_path):
    # An int8 Dense keeps a scale beside its kernel: its variables are not (kernel, bias).
    i = keras.Input((4,))
    model = keras.Model(i, keras.layers.Dense(3, name="q")(i), name="qm")
    model.quantize("int8")
    model.save(tmp_path / "q.keras")
    c = tfckpt_py.open(tmp_path / "q.keras")
    with zipfile.ZipFile(tmp_path / "q.keras") as z:
        z.extract("model.weights.h5", tmp_path)
    with h5py.File(tmp_path / "model.weights.h5", "r") as f:
        vars_ = f["layers/dense/vars"]
        expected = {"q/vars/%s" % k: vars_[k][()] for k in vars_}
    assert len(expected) == 3
    assert sorted(c.names()) == sorted(expected)
    for name, want in expected.items():
        assert c[name].dtype == want.dtype and np.array_equal(c[name], want), name


# ---- writing Keras files: Keras loads every output and predicts what the same weights do ----

def _predict(model, x):
    return np.asarray(model.predict(x, verbose=0))


def _weights_of(model):
    """[(path, value)] of every variable of `model` and of its optimizer, as Keras holds them."""
    out = [(v.path, np.asarray(v.numpy())) for v in model.weights]
    if getattr(model, "optimizer", None) is not None and model.optimizer.built:
        out += [(v.path, np.asarray(v.numpy())) for v in model.optimizer.variables]
    return out


def _assert_same_weights(got, want):
    # (in Keras' order: a model Keras loaded may spell the paths without the model's name)
    got, want = _weights_of(got), _weights_of(want)
    assert len(got) == len(want)
    for (path, a), (_, b) in zip(got, want):
        assert a.dtype == b.dtype and np.array_equal(a, b), path


def _fresh_with_weights(model_file, weights):
    """The model of `model_file` with every weight zeroed, then `weights` loaded into it."""
    fresh = keras.saving.load_model(model_file)
    for v in fresh.weights:
        v.assign(np.zeros(v.shape, v.dtype))
    fresh.load_weights(weights)
    return fresh


def test_edit_writes_every_keras_kind_and_keras_loads_it(keras_files, tfckpt, tmp_path):
    kind, model, d = keras_files
    before = ops.snapshot(d)
    for src in (d / "model.keras", d / "unzipped"):
        out = tmp_path / ("from_%s.keras" % src.name.replace(".", "_"))
        tfckpt.run("edit", src, "-o", out)
        loaded = keras.saving.load_model(out)
        assert np.array_equal(_predict(loaded, model.x), _predict(model, model.x))
        _assert_same_weights(loaded, model)  # the optimizer state too
        assert tfckpt.run("verify", out).out.startswith("ok ")
        with zipfile.ZipFile(out) as z:
            assert z.testzip() is None
            assert {i.filename for i in z.infolist()} == {
                "metadata.json", "config.json", "model.weights.h5"}
            assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
            assert z.read("config.json") == (d / "unzipped" / "config.json").read_bytes()
    for src in (d / "model.keras", d / "model.weights.h5"):
        out = tmp_path / ("from_%s.weights.h5" % src.name.split(".")[-1])
        tfckpt.run("edit", src, "-o", out)
        fresh = _fresh_with_weights(d / "model.keras", out)
        assert np.array_equal(_predict(fresh, model.x), _predict(model, model.x))
        _assert_same_weights(fresh, model)
        with h5py.File(out) as f:  # h5py reads it as the same tree of groups and datasets
            with h5py.File(d / "model.weights.h5") as g:
                names = []
                g.visit(names.append)
                got = []
                f.visit(got.append)
                assert got == names
                for n in names:
                    if isinstance(g[n], h5py.Dataset):
                        assert f[n].dtype == g[n].dtype and np.array_equal(f[n][()], g[n][()]), n
                    assert dict(f[n].attrs) == dict(g[n].attrs), n
    ops.assert_unchanged(before, d)


def _legacy_weights(f, group):
    """[(weight name, value)] of a legacy group, in the order of its `weight_names`."""
    g = f[group]
    return [(n.decode() if isinstance(n, bytes) else n, g[n][()])
            for n in g.attrs["weight_names"]]


def _assert_same_legacy_file(ours, theirs):
    """`ours` holds what Keras' legacy writer wrote in `theirs`: the same configuration and
    attributes, the same layers in the same order, each with the same weights in the same order
    (the order Keras loads them by; their names may differ: ours are tfckpt's names)."""
    with h5py.File(ours) as a, h5py.File(theirs) as b:
        assert set(a.attrs) == set(b.attrs)
        for k in b.attrs:
            x, y = a.attrs[k], b.attrs[k]
            x, y = (v.decode() if isinstance(v, bytes) else v for v in (x, y))
            assert (json.loads(x) == json.loads(y)) if k.endswith("_config") else x == y, k
        assert sorted(a) == sorted(b)
        ma, mb = a["model_weights"], b["model_weights"]
        assert set(ma.attrs) == set(mb.attrs) and sorted(ma) == sorted(mb)
        assert list(ma.attrs["layer_names"]) == list(mb.attrs["layer_names"])
        groups = ["model_weights/" + n for n in mb] + (
            ["optimizer_weights"] if "optimizer_weights" in b else [])
        for group in groups:
            got, want = _legacy_weights(a, group), _legacy_weights(b, group)
            assert len(got) == len(want), group
            for (name, x), (_, y) in zip(got, want):
                assert x.dtype == y.dtype and np.array_equal(x, y), (group, name)


def _legacy_order_model():
    """Weights whose legacy order differs from the Keras 3 file's: a nested model holding
    BatchNormalization (its moving statistics go after every trainable weight of the nested
    model) and a frozen layer, an LSTM and attention projections at the top."""
    i = keras.Input((6,))
    h = keras.layers.Dense(4, name="n_d1")(i)
    h = keras.layers.BatchNormalization(name="n_bn")(h)
    frozen = keras.layers.Dense(4, name="n_frozen")
    frozen.trainable = False
    inner = keras.Model(i, keras.layers.Dense(4, name="n_d2")(frozen(h)), name="block")
    x = keras.Input((6,), name="x")
    h = keras.layers.Reshape((2, 2))(inner(x))
    h = keras.layers.LSTM(3, return_sequences=True, name="lstm")(h)
    h = keras.layers.MultiHeadAttention(2, 2, name="mha")(h, h)
    return keras.Model(x, keras.layers.Dense(2, name="head")(keras.layers.Flatten()(h)),
                       name="ordered")


def test_legacy_h5_from_a_keras3_model_as_keras_writes_it(keras_files, tfckpt, tmp_path):
    kind, model, d = keras_files
    out = tmp_path / "out.h5"
    if kind == "subclassed":  # no list of layers: their order is not known
        proc = tfckpt.run("edit", d / "model.keras", "-o", out, expect_rc=2)
        assert "subclassed" in proc.err and not out.exists()
        return
    if kind == "recurrent_attention":  # a bfloat16 layer: h5py has no such type
        proc = tfckpt.run("edit", d / "model.keras", "-o", out, expect_rc=2)
        assert "bfloat16" in proc.err and "bf16" in proc.err and not out.exists()
        return
    model.save(tmp_path / "keras.h5")  # Keras' own legacy writer
    for src in (d / "model.keras", d / "unzipped"):
        tfckpt.run("edit", src, "-o", out, "--force")
        _assert_same_legacy_file(out, tmp_path / "keras.h5")
        # (Keras 3.15 cannot compile what its legacy writer wrote: loaded uncompiled.)
        loaded = keras.saving.load_model(out, compile=False)
        assert np.array_equal(_predict(loaded, model.x), _predict(model, model.x))
        fresh = _fresh_with_weights(d / "model.keras", out)
        assert np.array_equal(_predict(fresh, model.x), _predict(model, model.x))
        for v, w in zip(fresh.weights, model.weights):
            assert np.array_equal(v.numpy(), w.numpy()), v.path
        # tfckpt reads it back under the names of the .keras file, with the same values.
        back, there = tfckpt_py.open(out), tfckpt_py.open(d / "model.keras")
        assert sorted(back.names()) == sorted(there.names())
        for name in there.names():
            assert np.array_equal(back[name], there[name]), name
    # For serving: without the optimizer state nor the training configuration.
    tfckpt.run("edit", d / "model.keras", "--strip-optimizer", "-o", tmp_path / "serve.h5")
    with h5py.File(tmp_path / "serve.h5") as f:
        assert "optimizer_weights" not in f and "training_config" not in f.attrs
    served = keras.saving.load_model(tmp_path / "serve.h5", compile=False)
    assert np.array_equal(_predict(served, model.x), _predict(model, model.x))


def test_legacy_h5_orders_weights_as_keras_loads_them(tfckpt, tmp_path):
    keras.utils.set_random_seed(11)
    model = _legacy_order_model()
    model.compile(optimizer="adam", loss="mse")
    x = np.random.rand(4, 6)
    model.fit(x, np.random.rand(4, 2), epochs=2, verbose=0)
    model.save(tmp_path / "m.keras")
    model.save(tmp_path / "keras.h5")
    tfckpt.run("edit", tmp_path / "m.keras", "-o", tmp_path / "out.h5")
    _assert_same_legacy_file(tmp_path / "out.h5", tmp_path / "keras.h5")
    with h5py.File(tmp_path / "out.h5") as f:  # the nested model: trainable weights first
        names = [n.decode() if isinstance(n, bytes) else n
                 for n in f["model_weights/block"].attrs["weight_names"]]
    assert names.index("block/n_d2/kernel") < names.index("block/n_bn/moving_mean")
    assert names[-2:] == ["block/n_frozen/kernel", "block/n_frozen/bias"]
    loaded = keras.saving.load_model(tmp_path / "out.h5", compile=False)
    assert np.array_equal(_predict(loaded, x), _predict(model, x))
    fresh = _fresh_with_weights(tmp_path / "m.keras", tmp_path / "out.h5")
    for v, w in zip(fresh.weights, model.weights):
        assert np.array_equal(v.numpy(), w.numpy()), v.path
    # A TensorFlow checkpoint of the weights converted with the .keras file as the template.
    tfckpt.run("convert", tmp_path / "m.keras", "-o", tmp_path / "ckpt" / "model")
    tfckpt.run("convert", tmp_path / "ckpt" / "model", "--template", tmp_path / "m.keras",
               "-o", tmp_path / "from_ckpt.h5")
    _assert_same_legacy_file(tmp_path / "from_ckpt.h5", tmp_path / "keras.h5")


def test_legacy_h5_refuses_models_whose_legacy_order_is_not_known(tfckpt, tmp_path):
    # Each would load wrongly or not at all if written: refused with the reason, nothing written.
    i = keras.Input((4,))
    quantized = keras.Sequential([i, keras.layers.Dense(8, name="q")], name="quant")
    quantized.quantize("int8")
    lora = keras.layers.Dense(4, name="lo")
    with_lora = keras.Sequential([i, lora], name="lora")
    lora.enable_lora(2)
    shared = keras.layers.Dense(4, name="sh")
    j = keras.Input((4,))
    inner = keras.Model(j, shared(j), name="inner")
    x = keras.Input((4,))
    both = keras.Model(x, keras.layers.Add()([inner(x), shared(x)]), name="both")
    custom = keras.Model(x, Block(name="blk")(x), name="custom")
    for model, why in ((quantized, "is quantized"), (with_lora, "LoRA"),
                       (both, "'sh' is listed twice"),
                       (custom, "the order in which layer 'blk' tracks the layers")):
        model.save(tmp_path / (model.name + ".keras"))
        out = tmp_path / (model.name + ".h5")
        proc = tfckpt.run("edit", tmp_path / (model.name + ".keras"), "-o", out, expect_rc=2)
        assert why in proc.err and "Write a .keras or .weights.h5" in proc.err, proc.err
        assert not out.exists()


def test_stripped_keras_file_serves_and_trains_again(keras_files, tfckpt, tmp_path):
    kind, model, d = keras_files
    out = tmp_path / "serving.keras"
    report = tfckpt.json("edit", d / "model.keras", "--strip-optimizer", "-o", out, "--json")
    assert any("without its optimizer state" in n for n in report["notes"]), report["notes"]
    with zipfile.ZipFile(out) as z:
        assert "compile_config" not in json.loads(z.read("config.json"))
        with z.open("model.weights.h5") as w, h5py.File(w) as f:
            assert "optimizer" not in f
    served = keras.saving.load_model(out, compile=False)
    assert np.array_equal(_predict(served, model.x), _predict(model, model.x))
    assert len(served.weights) == len(model.weights)
    for a, b in zip(served.weights, model.weights):
        assert np.array_equal(np.asarray(a.numpy()), np.asarray(b.numpy())), a.path
    served.compile(optimizer="adam", loss="mse")
    before = [np.asarray(v.numpy()).copy() for v in served.trainable_variables]
    y = np.random.rand(len(model.x[0]) if isinstance(model.x, list) else len(model.x),
                       *MODELS[kind][2])
    served.fit(model.x, y, epochs=1, verbose=0)
    assert any(not np.array_equal(b, np.asarray(v.numpy()))
               for b, v in zip(before, served.trainable_variables))


def test_average_of_keras_files_keras_loads(keras_files, tfckpt, tmp_path):
    kind, model, d = keras_files
    # Three checkpoints of one training run, as ModelCheckpoint leaves them.
    run = tmp_path / "run"
    run.mkdir()
    m = keras.saving.load_model(d / "model.keras")
    y = np.random.rand(len(model.x[0]) if isinstance(model.x, list) else len(model.x),
                       *MODELS[kind][2])
    m.fit(model.x, y, epochs=3, verbose=0,
          callbacks=[keras.callbacks.ModelCheckpoint(str(run / "model.{epoch}.keras"))])
    (run / "model.1.keras").rename(run / "model.9.keras")  # epoch 9 comes before 10 and 11
    (run / "model.2.keras").rename(run / "model.10.keras")
    (run / "model.3.keras").rename(run / "model.11.keras")
    states = [keras.saving.load_model(run / n) for n in
              ("model.9.keras", "model.10.keras", "model.11.keras")]
    out = tmp_path / "avg.keras"
    report = tfckpt.json("average", "--last", "2", run, "-o", out, "--json")
    assert any("the last 2 of the 3 Keras files" in n and "model.10.keras, " in n and
               n.endswith("model.11.keras") and "by the numbers in their names" in n
               for n in report["notes"]), report["notes"]
    # The Python package picks the same files and writes the same bytes.
    py_report = tfckpt_py.average(None, tmp_path / "avg_py.keras", last=(2, run))
    assert any("model.10.keras, " in n for n in py_report["notes"]), py_report["notes"]
    assert (tmp_path / "avg_py.keras").read_bytes() == out.read_bytes()
    # (The weights member's CRC-32 was computed as the averages were written.)
    with zipfile.ZipFile(out) as z:
        assert z.testzip() is None
    assert tfckpt.run("verify", out).out.startswith("ok ")
    avg = keras.saving.load_model(out)
    assert not avg.compiled  # the optimizer state went, and with it the compile configuration
    ref = keras.saving.load_model(run / "model.11.keras")
    assert len(ref.weights) == len(avg.weights) == len(states[1].weights)
    for v, a, b, got in zip(ref.weights, states[1].weights, states[2].weights, avg.weights):
        a, b = np.asarray(a.numpy()), np.asarray(b.numpy())
        want = R.average([a, b]) if np.issubdtype(a.dtype, np.floating) or \
            a.dtype.name == "bfloat16" else b
        R.assert_bits_equal(np.asarray(got.numpy()), want, v.path)
        v.assign(want)
    assert np.array_equal(_predict(avg, model.x), _predict(ref, model.x))


def test_transfer_into_a_keras_model(tfckpt, tmp_path):
    keras.utils.set_random_seed(3)
    a_model, b_model = _functional_multi_input(), _functional_multi_input()
    for m in (a_model, b_model):
        m.compile(optimizer="adam", loss="mse")
        m.fit([np.random.rand(4, 4), np.random.rand(4, 3)], np.random.rand(4, 2), verbose=0)
    c_model = _functional_multi_input()
    a_model.save(tmp_path / "a.keras")
    b_model.save(tmp_path / "b.keras")
    c_model.save(tmp_path / "c.keras")
    out = tmp_path / "c_new.keras"
    tfckpt.run("transfer", "--into", tmp_path / "c.keras", "--from", tmp_path / "a.keras",
               "--map", "enc1/=enc1/", "--map", "enc2/=enc2/", "--from", tmp_path / "b.keras",
               "--map", "head/=head/", "-o", out)
    got = keras.saving.load_model(out)
    want = keras.saving.load_model(tmp_path / "c.keras")
    for layer, source in (("enc1", a_model), ("enc2", a_model), ("head", b_model)):
        want.get_layer(layer).set_weights(source.get_layer(layer).get_weights())
    x = [np.random.rand(3, 4), np.random.rand(3, 3)]
    assert np.array_equal(_predict(got, x), _predict(want, x))
    assert len(got.weights) == len(want.weights)
    for a, b in zip(got.weights, want.weights):
        assert np.array_equal(np.asarray(a.numpy()), np.asarray(b.numpy())), a.path
    # From a TF2 checkpoint of the same model, by name, without a map.
    import tensorflow as tf
    tf.train.Checkpoint(model=b_model).write(str(tmp_path / "tf2" / "ckpt"))
    tfckpt.run("transfer", "--into", tmp_path / "c.keras", "--from", tmp_path / "tf2" / "ckpt",
               "-o", tmp_path / "from_tf2.keras")
    assert np.array_equal(_predict(keras.saving.load_model(tmp_path / "from_tf2.keras"), x),
                          _predict(b_model, x))


def test_keras2_h5_weights_move_into_keras3_by_layer_name(tfckpt, tmp_path):
    import tf_keras as tk
    old = tk.Sequential([tk.layers.Dense(5, activation="relu", input_shape=(4,), name="d1"),
                         tk.layers.Dense(2, name="d2")])
    old.save_weights(tmp_path / "old.h5")
    new = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="relu", name="d1"),
                            keras.layers.Dense(2, name="d2")])
    new.save(tmp_path / "new.keras")
    tfckpt.run("transfer", "--into", tmp_path / "new.keras", "--from", tmp_path / "old.h5",
               "-o", tmp_path / "migrated.keras")
    x = np.random.rand(3, 4).astype(np.float32)
    got = keras.saving.load_model(tmp_path / "migrated.keras")
    assert np.array_equal(_predict(got, x), np.asarray(old.predict(x, verbose=0)))
    # And back: Keras 3 weights into a Keras 2 file of the model (its layout the template's).
    keras.utils.set_random_seed(11)
    newer = keras.Sequential([keras.Input((4,)),
                              keras.layers.Dense(5, activation="relu", name="d1"),
                              keras.layers.Dense(2, name="d2")])
    newer.save(tmp_path / "newer.keras")
    tfckpt.run("transfer", "--into", tmp_path / "old.h5", "--from", tmp_path / "newer.keras",
               "-o", tmp_path / "back.h5")
    old.load_weights(tmp_path / "back.h5")
    assert np.array_equal(np.asarray(old.predict(x, verbose=0)), _predict(newer, x))


def test_convert_between_keras_and_other_formats(keras_files, tfckpt, tmp_path):
    kind, model, d = keras_files
    for via in ("w.safetensors", "w.npz", "ckpt"):
        # (.npz has no bfloat16: those weights stay out of it and come from the template)
        tfckpt.run("convert", d / "model.keras", "-o", tmp_path / via,
                   *(["--skip-unsupported"] if via.endswith(".npz") else []))
        for out in ("back.keras", "back.weights.h5"):
            target = tmp_path / (via.replace(".", "_") + "_" + out)
            report = tfckpt.json("convert", tmp_path / via, "-o", target, "--template",
                                 d / "model.keras", "--json")
            assert report["to"] == "keras" and report["tensors"] == len(
                tfckpt_py.open(d / "model.keras").names())
            if out.endswith(".keras"):
                loaded = keras.saving.load_model(target)
            else:
                loaded = keras.saving.load_model(d / "model.keras")
                loaded.load_weights(target)
            assert np.array_equal(_predict(loaded, model.x), _predict(model, model.x)), target
            _assert_same_weights(loaded, model)
    import tensorflow as tf
    reader = tf.train.load_checkpoint(str(tmp_path / "ckpt"))
    assert sorted(reader.get_variable_to_shape_map()) == sorted(
        tfckpt_py.open(d / "model.keras").names())
    # The Python package: the same conversion, the same bytes.
    report = tfckpt_py.convert(tmp_path / "w.safetensors", tmp_path / "py.keras",
                               template=d / "model.keras")
    assert report["to"] == "keras"
    assert (tmp_path / "py.keras").read_bytes() == (tmp_path / "w_safetensors_back.keras").read_bytes()
    with pytest.raises(tfckpt_py.InvalidArgumentError, match="`template`"):
        tfckpt_py.convert(tmp_path / "w.safetensors", tmp_path / "no.keras")


def test_tf_keras_h5_outputs_load_in_tf_keras(tfckpt, tmp_path):
    import tf_keras as tk
    model = _tf_keras_model()
    x = np.random.randint(0, 20, (3, 5))
    model.save(tmp_path / "full.h5")
    model.save_weights(tmp_path / "weights.h5")
    tfckpt.run("edit", tmp_path / "full.h5", "-o", tmp_path / "full_out.h5")
    got = tk.models.load_model(tmp_path / "full_out.h5")
    assert np.array_equal(got.predict(x, verbose=0), model.predict(x, verbose=0))
    assert len(got.optimizer.variables()) == len(model.optimizer.variables()) > 0
    for a, b in zip(got.optimizer.variables(), model.optimizer.variables()):
        assert np.array_equal(a.numpy(), b.numpy()), a.name
    tfckpt.run("edit", tmp_path / "weights.h5", "-o", tmp_path / "weights_out.h5")
    fresh = tk.models.clone_model(model)
    fresh.load_weights(tmp_path / "weights_out.h5")
    assert np.array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))
    tfckpt.run("edit", tmp_path / "full.h5", "--strip-optimizer", "-o", tmp_path / "serve.h5")
    with h5py.File(tmp_path / "serve.h5") as f:
        assert "optimizer_weights" not in f and "training_config" not in f.attrs
        assert f.attrs["model_config"] == h5py.File(tmp_path / "full.h5").attrs["model_config"]
    served = tk.models.load_model(tmp_path / "serve.h5")
    assert np.array_equal(served.predict(x, verbose=0), model.predict(x, verbose=0))


def test_many_layers_and_long_names_round_trip(tfckpt, tmp_path):
    # More members in one group than one symbol node and one B-tree node of the default size
    # hold, names of every length.
    layers = [keras.layers.Dense(1, name="l%d" % i + "x" * (i % 37)) for i in range(300)]
    model = keras.Sequential([keras.Input((1,))] + layers, name="deep")
    model.save(tmp_path / "deep.keras")
    tfckpt.run("edit", tmp_path / "deep.keras", "-o", tmp_path / "out.keras")
    x = np.random.rand(2, 1)
    got = keras.saving.load_model(tmp_path / "out.keras")
    assert np.array_equal(_predict(got, x), _predict(model, x))
    assert sorted(tfckpt_py.open(tmp_path / "out.keras").names()) == sorted(
        tfckpt_py.open(tmp_path / "deep.keras").names())


def test_keras_outputs_that_could_not_be_right_are_refused(keras_files, tfckpt, tmp_path):
    kind, model, d = keras_files
    src = d / "model.keras"
    names = sorted(tfckpt_py.open(src).names())
    first = names[0]
    slot = next(n for n in names if n.startswith(model.optimizer.name + "/") and
                not n.endswith(("/iteration", "/learning_rate")))
    cases = [
        # no Keras input to take the layout from
        (["merge", "MISSING", "-o", tmp_path / "o.keras"], None),
        # a legacy output from Keras 3 weights without the model's config.json
        (["edit", d / "model.weights.h5", "-o", tmp_path / "o.h5"], "config.json"),
        # sharded weights without the size of their shards
        (["edit", src, "-o", tmp_path / "o.weights.json"], "--max-shard-size"),
        # weights left out or renamed
        (["edit", src, "--drop", "^" + first + "$", "-o", tmp_path / "o.keras"],
         "leaves out"),
        (["edit", src, "--rename", first + "=renamed", "-o", tmp_path / "o.keras"],
         "is no weight of the model"),
        # part of the optimizer state
        (["edit", src, "--drop", "^%s$" % slot, "-o", tmp_path / "o.keras"],
         "part of the optimizer state"),
        # the output is the input
        (["edit", src, "-o", src, "--force"], "is the input"),
        # a Keras output from a format conversion without a template
        (["convert", d / "model.keras", "-o", tmp_path / "o.keras"], "--template"),
    ]
    tfckpt.run("merge", src, "-o", tmp_path / "ckpt")
    cases[0] = (["merge", tmp_path / "ckpt", "-o", tmp_path / "o.keras"], "no input is one")
    before = ops.snapshot(d)
    for args, why in cases:
        proc = tfckpt.run(*args, expect_rc=2)
        assert why in proc.err, (args, proc.err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.data-00000-of-00001",
                                                          "ckpt.index"]
    ops.assert_unchanged(before, d)
    # An existing output is replaced only when asked.
    out = tmp_path / "o.keras"
    out.write_bytes(b"keep me")
    proc = tfckpt.run("edit", src, "-o", out, expect_rc=2)
    assert "already exists" in proc.err and out.read_bytes() == b"keep me"
    tfckpt.run("edit", src, "-o", out, "--force")
    assert np.array_equal(_predict(keras.saving.load_model(out), model.x),
                          _predict(model, model.x))


def test_merge_of_keras_weights_files_with_different_layers(tfckpt, tmp_path):
    keras.utils.set_random_seed(5)
    model = _sequential()
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.random.rand(4, 4), np.random.rand(4, 2), verbose=0)
    model.save_weights(tmp_path / "full.weights.h5")
    # Two files holding different layers of the model, as Keras' own editor leaves them; the
    # optimizer state in one of them only.
    editor = keras.saving.KerasFileEditor(str(tmp_path / "full.weights.h5"))
    with h5py.File(tmp_path / "full.weights.h5") as f:
        first, second = sorted(f["layers"])
    editor.delete_object("layers/" + second)
    editor.delete_object("optimizer")
    editor.save(str(tmp_path / "first.weights.h5"))
    editor = keras.saving.KerasFileEditor(str(tmp_path / "full.weights.h5"))
    editor.delete_object("layers/" + first)
    editor.save(str(tmp_path / "second.weights.h5"))
    tfckpt.run("merge", tmp_path / "first.weights.h5", tmp_path / "second.weights.h5",
               "-o", tmp_path / "merged.weights.h5")
    fresh = _sequential()
    fresh.compile(optimizer="adam", loss="mse")
    fresh.optimizer.build(fresh.trainable_variables)
    fresh.load_weights(tmp_path / "merged.weights.h5")
    x = np.random.rand(3, 4)
    assert np.array_equal(_predict(fresh, x), _predict(model, x))
    _assert_same_weights(fresh, model)
    # Files of two models whose first layers lie at one path under different names: refused.
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="x1")], name="o")
    other.save_weights(tmp_path / "other.weights.h5")
    proc = tfckpt.run("merge", tmp_path / "first.weights.h5", tmp_path / "other.weights.h5",
                      "-o", tmp_path / "twice.weights.h5", expect_rc=2)
    assert "both hold" in proc.err, proc.err
    # A .keras output (one model) is refused too.
    proc = tfckpt.run("merge", tmp_path / "first.weights.h5", tmp_path / "second.weights.h5",
                      "-o", tmp_path / "m.keras", expect_rc=2)
    assert "`tfckpt transfer`" in proc.err and "--into" in proc.err, proc.err
    assert not (tmp_path / "twice.weights.h5").exists() and not (tmp_path / "m.keras").exists()


def test_npz_weights_are_refused_not_unpickled(tfckpt, tmp_path):
    from keras.src.saving import saving_lib
    model = _sequential()
    saving_lib.save_model(model, str(tmp_path / "npz.keras"), weights_format="npz")
    with zipfile.ZipFile(tmp_path / "npz.keras") as z:
        assert "model.weights.npz" in z.namelist()
    proc = tfckpt.run("ls", tmp_path / "npz.keras", expect_rc=2)
    assert "pickled" in proc.err and "never unpickles" in proc.err, proc.err
    with pytest.raises(ValueError, match="allow_pickle"):  # Keras cannot load it either
        keras.saving.load_model(tmp_path / "npz.keras")


def test_sharded_weights_read_as_one_file(keras_files, tfckpt, tmp_path):
    kind, model, d = keras_files
    sharded = tmp_path / "sharded" / "model.weights.json"
    sharded.parent.mkdir()
    sizes = [np.asarray(v.numpy()).nbytes for v in model.weights + model.optimizer.variables]
    # (a few weights per shard; the largest must fit in one)
    model.save_weights(sharded, max_shard_size=max(max(sizes), sum(sizes) / 4) / 1024 ** 3)
    shards = sorted(p.name for p in sharded.parent.glob("*_*.weights.h5"))
    assert len(shards) > 1, shards
    whole = tfckpt_py.open(d / "model.weights.h5")
    c = tfckpt_py.open(sharded)
    assert c.format == "keras" and sorted(c.names()) == sorted(whole.names())
    for name in whole.names():
        assert np.array_equal(c[name], whole[name]), name
    assert tfckpt.run("verify", sharded).out.startswith("ok ")
    # Written again as one .weights.h5, which Keras loads.
    tfckpt.run("edit", sharded, "-o", tmp_path / "one.weights.h5")
    fresh = keras.saving.load_model(d / "model.keras")
    fresh.load_weights(tmp_path / "one.weights.h5")
    assert np.array_equal(_predict(fresh, model.x), _predict(model, model.x))
    _assert_same_weights(fresh, model)


def _h5_datasets(path):
    """{dataset path: value} of an HDF5 file, as h5py reads it."""
    out = {}
    with h5py.File(path) as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset)
                     else None)
    return out


def test_sharded_weights_written_and_keras_loads_them(keras_files, tfckpt, tmp_path):
    kind, model, d = keras_files
    before = ops.snapshot(d)
    whole = _h5_datasets(d / "model.weights.h5")
    sizes = [v.nbytes for v in whole.values()]
    limit = max(max(sizes), sum(sizes) // 4)  # a few shards; the largest tensor fits in one
    out = tmp_path / "out" / "model.weights.json"
    report = tfckpt.json("edit", d / "model.keras", "-o", out, "--max-shard-size", str(limit),
                         "--json")
    assert any("shards of at most %d bytes" % limit in n for n in report["notes"]), report
    shards = sorted(p.name for p in out.parent.iterdir() if p.name != out.name)
    assert len(shards) > 1 and shards == ["model_%05d.weights.h5" % i
                                          for i in range(len(shards))], shards
    # The map names every shard, as Keras writes it; every dataset lies in exactly one shard,
    # each shard's values within the limit, and together they are the template's.
    weight_map = json.loads(out.read_text())["weight_map"]
    assert sorted({f for fs in weight_map.values() for f in fs}) == shards
    seen = {}
    for name in shards:
        got = _h5_datasets(out.parent / name)
        assert sum(v.nbytes for v in got.values()) <= limit, name
        for path in got:
            assert path not in seen, path
            assert name in weight_map["/" + path.rsplit("/", 1)[0]], (name, path)
            seen[path] = got[path]
    assert sorted(seen) == sorted(whole)
    for path, value in whole.items():
        assert seen[path].dtype == value.dtype and np.array_equal(seen[path], value), path
    # Keras loads the shards: same predictions, every weight and the optimizer state.
    fresh = _fresh_with_weights(d / "model.keras", out)
    assert np.array_equal(_predict(fresh, model.x), _predict(model, model.x))
    _assert_same_weights(fresh, model)
    assert tfckpt.run("verify", out).out.startswith("ok ")
    # The Python package writes the same files.
    tfckpt_py.edit(d / "model.keras", tmp_path / "py" / "model.weights.json",
                   max_shard_size=limit)
    for name in [out.name] + shards:
        assert (tmp_path / "py" / name).read_bytes() == (out.parent / name).read_bytes(), name
    ops.assert_unchanged(before, d)


def test_sharded_weights_from_other_jobs_and_refusals(tfckpt, tmp_path):
    import tensorflow as tf
    model = _sequential()
    model.compile(optimizer="adam", loss="mse")
    x = np.random.rand(4, 4)
    model.fit(x, np.random.rand(4, 2), verbose=0)
    model.save(tmp_path / "m.keras")
    ckpt = tmp_path / "tf" / "ckpt"
    tf.train.Checkpoint(model=model).write(str(ckpt))
    # A TensorFlow checkpoint of the model, converted with the .keras as the template.
    out = tmp_path / "conv" / "m.weights.json"
    tfckpt.run("convert", ckpt, out, "--template", tmp_path / "m.keras", "--max-shard-size", "64")
    fresh = _fresh_with_weights(tmp_path / "m.keras", out)
    assert np.array_equal(_predict(fresh, x), _predict(model, x))
    # Sharded weights read back and written into a .keras again.
    tfckpt.run("transfer", "--into", tmp_path / "m.keras", "--from", out, "-o",
               tmp_path / "back.keras")
    back = keras.saving.load_model(tmp_path / "back.keras")
    assert np.array_equal(_predict(back, x), _predict(model, x))
    # Refused before a byte is written: no size, a size on another output, a legacy template.
    for args, why in (
            (["edit", tmp_path / "m.keras", "-o", tmp_path / "r" / "a.weights.json"],
             "give the largest size of a shard (--max-shard-size)"),
            (["edit", tmp_path / "m.keras", "-o", tmp_path / "r" / "a.weights.h5",
              "--max-shard-size", "1KB"], "--max-shard-size shapes sharded Keras weights"),
            (["edit", tmp_path / "m.keras", "-o", tmp_path / "r" / "a.weights.json",
              "--max-shard-size", "-3"], "size")):
        proc = tfckpt.run(*args, expect_rc=2)
        assert why in proc.err, (args, proc.err)
        assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
    # A recipe gives the size of the shards with the key max_shard_size beside its output.
    recipe = tmp_path / "serve.yaml"
    recipe.write_text("inputs: {m: m.keras}\nsteps:\n  - edit: {source: m, strip_optimizer: true}\n"
                      "output: rec/m.weights.json\nmax_shard_size: 64\n")
    tfckpt.run("apply", recipe)
    assert len(list((tmp_path / "rec").glob("m_0000*.weights.h5"))) > 1
    fresh = _fresh_with_weights(tmp_path / "m.keras", tmp_path / "rec" / "m.weights.json")
    assert np.array_equal(_predict(fresh, x), _predict(model, x))
    # (checked before the first step runs, and in a dry run)
    recipe.write_text("inputs: {m: m.keras}\nsteps:\n  - edit: {source: m}\n"
                      "  - edit: {strip_optimizer: true}\noutput: rec2/m.weights.json\n")
    for dry in ([], ["--dry-run"]):
        proc = tfckpt.run("apply", recipe, *dry, expect_rc=2)
        assert "the key 'max_shard_size'" in proc.err and "serve.yaml" in proc.err, proc.err
    recipe.write_text("inputs: {m: m.keras}\nsteps:\n  - edit: {source: m}\n"
                      "output: rec2/m.keras\nmax_shard_size: 1KB\n")
    proc = tfckpt.run("apply", recipe, expect_rc=2)
    assert "the key 'max_shard_size' shapes sharded Keras weights" in proc.err, proc.err
    recipe.write_text("inputs: {m: m.keras}\nsteps:\n  - edit: {source: m}\n"
                      "output: rec2/m.weights.json\nmax_shard_size: lots\n")
    proc = tfckpt.run("apply", recipe, expect_rc=2)
    assert "serve.yaml:5" in proc.err, proc.err
    assert not (tmp_path / "rec2").exists()
    legacy = tmp_path / "legacy.h5"
    _tf_keras_model().save(legacy)
    proc = tfckpt.run("edit", legacy, "-o", tmp_path / "r" / "l.weights.json",
                      "--max-shard-size", "1KB", expect_rc=2)
    assert "a Keras 3 layout is not known from a legacy file" in proc.err, proc.err
    # An output whose shards would replace an input is refused; a name that only looks alike
    # is not.
    tfckpt.run("edit", tmp_path / "m.keras", "-o", tmp_path / "s" / "w_00000.weights.h5")
    proc = tfckpt.run("edit", tmp_path / "s" / "w_00000.weights.h5", "-o",
                      tmp_path / "s" / "w.weights.json", "--max-shard-size", "1KB", expect_rc=2)
    assert "never writes over its inputs" in proc.err, proc.err
    (tmp_path / "s" / "w_00000.weights.h5").rename(tmp_path / "s" / "w_best.weights.h5")
    tfckpt.run("edit", tmp_path / "s" / "w_best.weights.h5", "-o",
               tmp_path / "s" / "w.weights.json", "--max-shard-size", "1KB")
    # Shards are named as Keras names them ("x.weights.v2.weights.json": x.v2_NNNNN), and
    # written again with fewer shards, the old map and the shards left over go.
    out = tmp_path / "re" / "x.weights.v2.weights.json"
    tfckpt.run("edit", tmp_path / "m.keras", "-o", out, "--max-shard-size", "64")
    many = sorted(p.name for p in out.parent.glob("x.v2_*.weights.h5"))
    assert len(many) > 2, many
    proc = tfckpt.run("edit", tmp_path / "m.keras", "-o", out, "--max-shard-size", "1MB",
                      expect_rc=2)
    assert "already exists" in proc.err
    out.unlink()  # (its shards alone are an output too)
    proc = tfckpt.run("edit", tmp_path / "m.keras", "-o", out, "--max-shard-size", "1MB",
                      expect_rc=2)
    assert "x.v2_00000.weights.h5' already exists" in proc.err, proc.err
    tfckpt.run("edit", tmp_path / "m.keras", "-o", out, "--max-shard-size", "1MB", "--force")
    assert sorted(p.name for p in out.parent.iterdir()) == \
        sorted([out.name, "x.v2_00000.weights.h5"])
    fresh = _fresh_with_weights(tmp_path / "m.keras", out)
    assert np.array_equal(_predict(fresh, x), _predict(model, x))


def _lookup_model():
    """A model whose StringLookup keeps its adapted vocabulary as an asset."""
    lookup = keras.layers.StringLookup(name="lookup")
    lookup.adapt(np.array(["cat", "dog", "cat", "bird", "cat", "dog"]))
    i = keras.Input((1,), dtype="string")
    e = keras.layers.Embedding(lookup.vocabulary_size(), 3, name="emb")(lookup(i))
    return keras.Model(i, keras.layers.Dense(2, name="head")(e))


def test_assets_go_with_keras_outputs(tfckpt, tmp_path):
    import tensorflow as tf
    model = _lookup_model()
    model.compile(optimizer="adam", loss="mse")
    words = tf.constant([["cat"], ["bird"], ["fish"], ["dog"]])
    model.fit(words, np.random.rand(4, 1, 2), verbose=0)
    src = tmp_path / "in"
    src.mkdir()
    model.save(src / "m.keras")
    with zipfile.ZipFile(src / "m.keras") as z:
        assets = {n: z.read(n) for n in z.namelist() if n.startswith("assets/")}
        assert assets, z.namelist()  # (Keras keeps the adapted vocabulary there)
        # The same archive deflated, and unzipped.
        with zipfile.ZipFile(src / "deflated.keras", "w", zipfile.ZIP_DEFLATED) as o:
            for n in z.namelist():
                o.writestr(n, z.read(n))
        z.extractall(src / "unzipped")
    want = np.asarray(model(words))
    before = ops.snapshot(src)
    for name in ("m.keras", "deflated.keras", "unzipped"):
        out = tmp_path / "out" / (name.replace(".", "_") + ".keras")
        tfckpt.run("edit", src / name, "-o", out, "--strip-optimizer")
        with zipfile.ZipFile(out) as z:
            assert z.testzip() is None
            assert {n: z.read(n) for n in z.namelist() if n.startswith("assets/")} == assets
        loaded = keras.saving.load_model(out, compile=False)
        assert loaded.get_layer("lookup").get_vocabulary() == \
            model.get_layer("lookup").get_vocabulary()
        assert np.array_equal(np.asarray(loaded(words)), want), name
    ops.assert_unchanged(before, src)
    # A .weights.h5 holds weights only; Keras loads it into the model without its assets.
    tfckpt.run("edit", src / "m.keras", "-o", tmp_path / "w.weights.h5")
    fresh = keras.saving.load_model(src / "m.keras")
    fresh.load_weights(tmp_path / "w.weights.h5")
    assert np.array_equal(np.asarray(fresh(words)), want)
    # A link inside a directory's assets is refused: an output copies nothing from outside.
    shutil.copytree(src / "unzipped", tmp_path / "linked")
    target = next(p for p in (tmp_path / "linked" / "assets").rglob("*") if p.is_file())
    target.unlink()
    target.symlink_to("/etc/hostname")
    proc = tfckpt.run("edit", tmp_path / "linked", "-o", tmp_path / "l.keras", expect_rc=2)
    assert "symbolic link" in proc.err and str(target) in proc.err, proc.err
    assert not (tmp_path / "l.keras").exists()
    # (Its weights are still read, and written where no asset goes.)
    assert tfckpt.run("verify", tmp_path / "linked").out.startswith("ok ")
    tfckpt.run("edit", tmp_path / "linked", "-o", tmp_path / "l.weights.h5")
    fresh.load_weights(tmp_path / "l.weights.h5")
    assert np.array_equal(np.asarray(fresh(words)), want)


def test_sharded_weights_naming_files_elsewhere_or_missing_are_refused(tfckpt, tmp_path):
    model = _sequential()
    model.save_weights(tmp_path / "m.weights.json", max_shard_size=100 / 1024 ** 3)
    text = (tmp_path / "m.weights.json").read_text()
    first = json.loads(text)["weight_map"]
    name = next(iter(first.values()))[0]
    for bad, why in (("../" + name, "not a file beside it"), ("/etc/" + name, "not a file beside it"),
                     ("gone.weights.h5", "cannot be opened")):
        (tmp_path / "bad.weights.json").write_text(text.replace('"%s"' % name, json.dumps(bad)))
        proc = tfckpt.run("ls", tmp_path / "bad.weights.json", expect_rc=2)
        assert why in proc.err, (bad, proc.err)


def test_ls_objects_shows_the_keras_object_tree(keras_files, tfckpt):
    kind, model, d = keras_files
    graph = tfckpt.json("ls", d / "model.keras", "--objects", "--json")
    c = tfckpt_py.open(d / "model.keras")
    got = {}
    for o in graph["objects"]:
        for a in o["attributes"]:
            got["/".join(p for p in (o["path"], a["name"]) if p)] = c[a["key"]]
    # Keras' own view: KerasFileEditor's weights, by object path and position.
    editor = keras.saving.KerasFileEditor(str(d / "model.keras"))
    want = {}

    def walk(prefix, tree):
        for k, v in tree.items():
            path = prefix + "/" + k if prefix else k
            if isinstance(v, dict):
                walk(path, v)
            else:
                want[path] = np.asarray(v)
    walk("", editor.weights_dict)
    # (Keras 3.15's editor leaves out objects nested deeper than one level, as an LSTM's cell
    # or a nested model's layers: every weight it shows is here, and every dataset of the file,
    # as h5py lists it, is an object's value.)
    assert set(want) <= set(got), sorted(set(want) - set(got))
    with zipfile.ZipFile(d / "model.keras") as z, z.open("model.weights.h5") as w, \
            h5py.File(w) as f:
        datasets = []
        f.visititems(lambda n, o: datasets.append(n) if isinstance(o, h5py.Dataset) else None)
        assert sorted(got) == sorted(n.replace("vars/", "") if n.startswith("vars/") else
                                     n.replace("/vars/", "/") for n in datasets)
        for n in datasets:
            path = n.replace("vars/", "") if n.startswith("vars/") else n.replace("/vars/", "/")
            value = f[n][()]
            assert np.array_equal(got[path].view(value.dtype) if got[path].dtype != value.dtype
                                  else got[path], value), path
    for path, value in want.items():
        assert np.array_equal(got[path].view(value.dtype) if got[path].dtype != value.dtype
                              else got[path], value), path
    assert tfckpt_py.objects(d / "model.keras") == graph


def test_average_last_orders_weights_files_by_time_without_epoch_numbers(tfckpt, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    model = _sequential()
    states = {}
    for i, name in enumerate(("c", "a", "b")):  # written in this order: c oldest, b newest
        for v in model.weights:
            v.assign(np.full(v.shape, float(i), np.float32))
        model.save_weights(run / ("%s.weights.h5" % name))
        os.utime(run / ("%s.weights.h5" % name), (1_000_000 + i, 1_000_000 + i))
        states[name] = float(i)
    report = tfckpt.json("average", "--last", "2", run, "-o", tmp_path / "avg.weights.h5",
                         "--json")
    note = next(n for n in report["notes"] if "Keras files" in n)
    assert "by modification time" in note and note.endswith(
        "%s, %s" % (run / "a.weights.h5", run / "b.weights.h5")), note
    fresh = _sequential()
    fresh.load_weights(tmp_path / "avg.weights.h5")
    for v in fresh.weights:
        assert np.all(np.asarray(v.numpy()) == np.float32((states["a"] + states["b"]) / 2)), v.path
