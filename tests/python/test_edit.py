"""`tfckpt edit` judged by TensorFlow: renamed, filtered and optimizer-stripped checkpoints are
restored by a TF1 Saver or a TF2 tf.train.Checkpoint, and compared with what TF reads from the
source."""

import os

import numpy as np
import pytest
import tensorflow as tf

import ops_testlib as ops
import tfckpt_testlib as lib

F32, F64, I64 = np.float32, np.float64, np.int64

SPEC = {
    "a": ((2, 3), F32, None),
    "scope/w": ((3,), F32, None),
    "scope/inner/b": ((), F64, None),
    "other/x": ((2, 2), F64, None),
    "emb": ((10, 4), F32, 3),
    "global_step": ((), I64, None),
}
VOCAB = [b"x", b"", "\u00fc".encode()]


def _build(rename=lambda n: n, seed=1):
    """The model, each variable under rename(name), with the values of the source."""
    out = {}
    for name, (shape, dtype, parts) in SPEC.items():
        value = ops.make_value(name, shape, dtype, seed)
        out[rename(name)] = tf.compat.v1.get_variable(
            rename(name), shape=shape, dtype=tf.as_dtype(dtype),
            initializer=ops.block_initializer(value),
            partitioner=tf.compat.v1.fixed_size_partitioner(parts) if parts else None)
    out[rename("vocab")] = tf.compat.v1.get_variable(
        rename("vocab"), initializer=tf.constant(VOCAB), trainable=False)
    return out


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    return ops.tf1_save(tmp_path_factory.mktemp("edit") / "model", _build)


RENAMES = {
    "scope_to_scope": [("scope/", "renamed/")],
    "root_to_scope": [("/", "top/")],
    "scope_to_root": [("scope/", "/")],
    "exact": [("a", "alpha"), ("emb", "embedding"), ("vocab", "words")],
    "first_rule_wins": [("scope/inner/", "deep/"), ("scope/", "s/"), ("/", "rest/")],
    "first_rule_wins_reversed": [("scope/", "s/"), ("scope/inner/", "deep/")],
}


@pytest.mark.parametrize("case", sorted(RENAMES))
def test_edit_rename_tf1(tfckpt, tmp_path, src, case):
    rules = RENAMES[case]
    rename = ops.renamer(rules)
    before = ops.snapshot(src)
    out = str(tmp_path / "out")
    args = []
    for old, new in rules:
        args += ["--rename", "%s=%s" % (old, new)]
    tfckpt.run("edit", src, "-o", out, *args)
    source = ops.tf_values(src)
    want = {rename(n): v for n, v in source.items()}
    assert len(want) == len(source) and want.keys() != source.keys()
    ops.assert_same_tensors(ops.tf_values(out), want)
    ops.assert_shards_consistent(tfckpt, out)
    ops.assert_unchanged(before, src)
    # a TF1 Saver restores the model under its new names, partitioned variable included
    restored = ops.tf1_restore(out, lambda: _build(rename, seed=7))
    assert sorted(restored) == sorted(want)
    for name, value in restored.items():
        ops.assert_array_identical(value, want[name][2], name)


FILTERS = [
    ([], ["^scope/"]),
    (["scope"], []),
    (["scope", "emb"], ["inner"]),
    ([], ["b$", "^a$"]),
    (["^emb$"], []),
    (["o"], ["^other/"]),
]


@pytest.mark.parametrize("keep, drop", FILTERS)
def test_edit_keep_drop(tfckpt, tmp_path, src, keep, drop):
    before = ops.snapshot(src)
    out = str(tmp_path / "out")
    args = [x for k in keep for x in ("--keep", k)] + [x for d in drop for x in ("--drop", d)]
    tfckpt.run("edit", src, "-o", out, *args)
    source = ops.tf_values(src)
    names = ops.regex_filter(list(source), keep, drop)
    assert 0 < len(names) < len(source)
    ops.assert_same_tensors(ops.tf_values(out), {n: source[n] for n in names})
    ops.assert_shards_consistent(tfckpt, out)
    ops.assert_unchanged(before, src)


def test_edit_dry_run_and_force(tfckpt, tmp_path, src):
    before = ops.snapshot(src)
    out = str(tmp_path / "o" / "out")
    tfckpt.run("edit", src, "-o", out, "--drop", "emb", "--dry-run")
    assert ops.dir_entries(tmp_path / "o") == []
    tfckpt.run("edit", src, "-o", out, "--drop", "emb")
    first = ops.snapshot(out)
    tfckpt.run("edit", src, "-o", out, "--keep", "emb", expect_rc=2)
    ops.assert_unchanged(first, out)
    tfckpt.run("edit", src, "-o", out, "--keep", "emb", "--force")
    source = ops.tf_values(src)
    ops.assert_same_tensors(ops.tf_values(out), {"emb": source["emb"]})
    ops.assert_unchanged(before, src)


# ---------------------------------------------------------------------------------------------
# --strip-optimizer, TF1
# ---------------------------------------------------------------------------------------------

BERT_SPEC = {
    "bert/embeddings/word_embeddings": ((64, 16), F32, None),
    "bert/encoder/layer_0/attention/self/query/kernel": ((16, 16), F32, None),
    "bert/encoder/layer_0/attention/self/query/bias": ((16,), F32, None),
    "bert/pooler/dense/kernel": ((16, 16), F32, None),
    "cls/predictions/output_bias": ((64,), F32, None),
}

OPTIMIZERS = {
    "adam": lambda: tf.compat.v1.train.AdamOptimizer(0.01),
    "momentum": lambda: tf.compat.v1.train.MomentumOptimizer(0.01, 0.9),
    "rmsprop": lambda: tf.compat.v1.train.RMSPropOptimizer(0.01, momentum=0.5),
    "adagrad": lambda: tf.compat.v1.train.AdagradOptimizer(0.01),
}


def _bert_model():
    variables, _ = ops.get_variables(BERT_SPEC, seed=3)
    variables["global_step"] = tf.compat.v1.train.get_or_create_global_step()
    return variables


def _bert_loss(v):
    x = tf.constant(ops.make_value("x", (2, 64), F32, 4) / 100.0)
    h = tf.matmul(x, v["bert/embeddings/word_embeddings"])
    q = tf.tanh(tf.matmul(h, v["bert/encoder/layer_0/attention/self/query/kernel"]) +
                v["bert/encoder/layer_0/attention/self/query/bias"])
    p = tf.matmul(q, v["bert/pooler/dense/kernel"])
    logits = tf.matmul(p, v["bert/embeddings/word_embeddings"], transpose_b=True) + \
        v["cls/predictions/output_bias"]
    return tf.reduce_mean(tf.square(logits))


@pytest.fixture(scope="module")
def trained_tf1(tmp_path_factory):
    """{optimizer: (prefix, names of the model's own variables)} after one training step."""
    d = tmp_path_factory.mktemp("trained")
    out = {}
    for name, make in OPTIMIZERS.items():
        model_names = []

        def build(make=make, model_names=model_names):
            v = _bert_model()
            model_names.extend(x.op.name for x in tf.compat.v1.global_variables())
            step = make().minimize(_bert_loss(v), global_step=v["global_step"])
            return step

        prefix = ops.tf1_save(d / name / "model.ckpt", build,
                              before_save=lambda sess, step: sess.run(step))
        out[name] = (prefix, sorted(model_names))
    return out


def _data_size(prefix):
    return sum(os.path.getsize(f) for f in lib.data_files(prefix))


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_strip_optimizer_tf1(tfckpt, tmp_path, trained_tf1, optimizer):
    prefix, model_names = trained_tf1[optimizer]
    source = ops.tf_values(prefix)
    slots = sorted(set(source) - set(model_names))
    assert slots, "the optimizer made no variables?"
    before = ops.snapshot(prefix)
    out = str(tmp_path / "out")
    tfckpt.run("edit", prefix, "-o", out, "--strip-optimizer")
    ops.assert_same_tensors(ops.tf_values(out), {n: source[n] for n in model_names})
    ops.assert_shards_consistent(tfckpt, out)
    ops.assert_unchanged(before, prefix)
    # the model restores from it (and the values were trained: not the initial ones)
    restored = ops.tf1_restore(out, _bert_model)
    for n, value in restored.items():
        ops.assert_array_identical(value, source[n][2], n)
    assert int(restored["global_step"]) == 1

    if optimizer == "adam":
        # m and v are each as big as their variable, so the model is a third of the data; the
        # rest is global_step (8 bytes, kept) and beta1/beta2_power (4 bytes each, dropped)
        assert {"beta1_power", "beta2_power"} <= set(slots)
        want = sum(source[n][2].nbytes for n in model_names) / sum(
            v[2].nbytes for v in source.values())
        ratio = _data_size(out) / _data_size(prefix)
        assert ratio == pytest.approx(want, abs=1e-4), (ratio, want)
        assert 0.333 < ratio < 0.335, ratio


def test_strip_optimizer_bert_adam_m_v(tfckpt, tmp_path):
    """BERT's AdamWeightDecayOptimizer keeps its moments as `<var>/adam_m`, `<var>/adam_v`."""
    model_names = []

    def build():
        _bert_model()
        model_names.extend(x.op.name for x in tf.compat.v1.global_variables())
        for name, (shape, dtype, _) in BERT_SPEC.items():
            for slot in ("adam_m", "adam_v"):
                tf.compat.v1.get_variable(
                    name + "/" + slot, initializer=tf.constant(
                        ops.make_value(name + slot, shape, dtype, 5)), trainable=False)
    prefix = ops.tf1_save(tmp_path / "bert" / "model.ckpt", build)
    source = ops.tf_values(prefix)
    assert len(source) == 3 * len(BERT_SPEC) + 1
    out = str(tmp_path / "out")
    tfckpt.run("edit", prefix, "-o", out, "--strip-optimizer")
    ops.assert_same_tensors(ops.tf_values(out), {n: source[n] for n in model_names})
    ratio = _data_size(out) / _data_size(prefix)
    want = sum(source[n][2].nbytes for n in model_names) / sum(
        v[2].nbytes for v in source.values())
    assert ratio == pytest.approx(want, abs=1e-4) and 0.333 < ratio < 0.335, (ratio, want)


# ---------------------------------------------------------------------------------------------
# TF2 object-based checkpoints: the object graph follows the edit
# ---------------------------------------------------------------------------------------------


class _Inner(tf.Module):
    def __init__(self, seed):
        super().__init__()
        self.k = tf.Variable(ops.make_value("k", (3, 2), F32, seed), name="k")


class _Model(tf.Module):
    def __init__(self, seed=0):
        super().__init__()
        self.w = tf.Variable(ops.make_value("w", (4, 3), F32, seed), name="w")
        self.b = tf.Variable(ops.make_value("b", (3,), F32, seed), name="b")
        self.inner = _Inner(seed)

    def variables_by_name(self):
        return {"w": self.w, "b": self.b, "inner.k": self.inner.k}

    def __call__(self, x):
        return tf.matmul(tf.matmul(x, self.w) + self.b, self.inner.k)


def _tf2_train(model, optimizer):
    x = tf.constant(ops.make_value("x", (2, 4), F32, 6))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x)))
    variables = [model.w, model.b, model.inner.k]
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))


TF2_OPTIMIZERS = {
    # the TF1-style optimizer: slots under `<var>/.OPTIMIZER_SLOT/optimizer/{m,v}`
    "v1_adam": lambda: tf.compat.v1.train.AdamOptimizer(0.125),
    # Keras 3 writes no .OPTIMIZER_SLOT keys: its moments are the optimizer object's own
    # variables, `optimizer/_variables/N`, next to `optimizer/_iterations` etc.
    "keras_adam": lambda: tf.keras.optimizers.Adam(0.125),
}


@pytest.mark.parametrize("optimizer", sorted(TF2_OPTIMIZERS))
def test_strip_optimizer_tf2(tfckpt, tmp_path, optimizer):
    model, opt = _Model(seed=1), TF2_OPTIMIZERS[optimizer]()
    _tf2_train(model, opt)
    prefix = tf.train.Checkpoint(model=model, optimizer=opt).save(str(tmp_path / "full" / "ck"))
    keys = [k for k, _ in tf.train.list_variables(prefix)]
    if optimizer == "v1_adam":
        assert any(".OPTIMIZER_SLOT" in k for k in keys), keys
    assert any(k.startswith("optimizer/") for k in keys), keys
    # what TF writes for the model alone is the expected key set
    model_only = tf.train.Checkpoint(model=model).save(str(tmp_path / "model_only" / "ck"))
    want = ops.tf_values(model_only)
    source = ops.tf_values(prefix)
    before = ops.snapshot(prefix)

    out = str(tmp_path / "out" / "ck")
    tfckpt.run("edit", prefix, "-o", out, "--strip-optimizer")
    got = ops.tf_values(out)
    graph_key = "_CHECKPOINTABLE_OBJECT_GRAPH"
    assert sorted(got) == sorted(want), (sorted(got), sorted(want))
    ops.assert_same_tensors(got, source, names=[n for n in want if n != graph_key])
    ops.assert_unchanged(before, prefix)

    fresh = _Model(seed=2)
    tf.train.Checkpoint(model=fresh).restore(out).assert_consumed()
    for name, var in fresh.variables_by_name().items():
        ops.assert_array_identical(var.numpy(), model.variables_by_name()[name].numpy(), name)


@pytest.fixture(scope="module")
def tf2_model_ckpt(tmp_path_factory):
    model = _Model(seed=3)
    prefix = tf.train.Checkpoint(model=model).save(str(tmp_path_factory.mktemp("tf2m") / "ck"))
    return prefix, {n: v.numpy() for n, v in model.variables_by_name().items()}


class _Renamed(tf.Module):
    """_Model with `w` named `w2` and `inner` named `core`, as a renamed checkpoint describes."""

    def __init__(self, seed, w_name="w", inner_name="inner"):
        super().__init__()
        base = _Model(seed)
        setattr(self, w_name, base.w)
        self.b = base.b
        setattr(self, inner_name, base.inner)
        self.names = {"w": w_name, "inner": inner_name}

    def variables_by_name(self):
        return {"w": getattr(self, self.names["w"]), "b": self.b,
                "inner.k": getattr(self, self.names["inner"]).k}


@pytest.mark.parametrize("rule, old, new, names", [
    ("model/w/.ATTRIBUTES/VARIABLE_VALUE=model/w2/.ATTRIBUTES/VARIABLE_VALUE",
     "model/w/.ATTRIBUTES/VARIABLE_VALUE", "model/w2/.ATTRIBUTES/VARIABLE_VALUE",
     {"w_name": "w2"}),
    ("model/inner/=model/core/",
     "model/inner/k/.ATTRIBUTES/VARIABLE_VALUE", "model/core/k/.ATTRIBUTES/VARIABLE_VALUE",
     {"inner_name": "core"}),
])
def test_rename_tf2_moves_the_object(tfckpt, tmp_path, tf2_model_ckpt, rule, old, new, names):
    """In a TF2 checkpoint a rename moves the object: the model whose attribute carries the new
    name restores it, and the keys are the ones TensorFlow writes for that model."""
    prefix, values = tf2_model_ckpt
    before = ops.snapshot(prefix)
    out = str(tmp_path / "ck")
    tfckpt.run("edit", prefix, "-o", out, "--rename", rule)
    keys = [k for k, _ in tf.train.list_variables(out)]
    assert new in keys and old not in keys, keys
    source = ops.tf_values(prefix)
    got = ops.tf_values(out)
    assert len(got) == len(source)
    ops.assert_array_identical(got[new][2], source[old][2], new)
    fresh = _Renamed(seed=4, **names)
    tf.train.Checkpoint(model=fresh).restore(out).assert_consumed()
    for name, var in fresh.variables_by_name().items():
        ops.assert_array_identical(var.numpy(), values[name], name)
    want = tf.train.Checkpoint(model=fresh).save(str(tmp_path / "tf" / "ck"))
    assert sorted(keys) == sorted(k for k, _ in tf.train.list_variables(want))
    ops.assert_unchanged(before, prefix)


def test_rename_tf2_names_objects_not_keys(tfckpt, tmp_path, tf2_model_ckpt):
    prefix, _ = tf2_model_ckpt
    out = tmp_path / "out"
    proc = tfckpt.run("edit", prefix, "-o", out / "ck", "--rename", "model/nothing/=model/x/",
                      expect_rc=2)
    assert "no object at 'model/nothing'" in proc.err and "ls --objects" in proc.err, proc.err
    proc = tfckpt.run("edit", prefix, "-o", out / "ck", "--rename",
                      "model/w/.ATTRIBUTES/VARIABLE_VALUE=model/w2", expect_rc=2)
    assert "moves an object" in proc.err, proc.err
    assert not out.exists()


def test_drop_tf2_variable(tfckpt, tmp_path, tf2_model_ckpt):
    prefix, values = tf2_model_ckpt
    out = str(tmp_path / "ck")
    tfckpt.run("edit", prefix, "-o", out, "--drop", "^model/b/")
    keys = [k for k, _ in tf.train.list_variables(out)]
    assert not [k for k in keys if k.startswith("model/b/")], keys
    # every remaining object still matches: a model without `b` consumes the whole checkpoint
    fresh = _Model(seed=4)
    del fresh.b
    tf.train.Checkpoint(model=fresh).restore(out).assert_consumed()
    ops.assert_array_identical(fresh.w.numpy(), values["w"], "w")
    ops.assert_array_identical(fresh.inner.k.numpy(), values["inner.k"], "inner.k")
    # and the full model restores the rest, keeping its own `b`
    full = _Model(seed=4)
    untouched = full.b.numpy()
    tf.train.Checkpoint(model=full).restore(out).expect_partial()
    ops.assert_array_identical(full.w.numpy(), values["w"], "w")
    ops.assert_array_identical(full.b.numpy(), untouched, "b (not in the checkpoint)")
