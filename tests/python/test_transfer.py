"""`tfckpt transfer` judged by tf.compat.v1.train.init_from_checkpoint: TF builds the model,
initialises it from the source checkpoints with the same assignment maps and saves it; our output
must hold the same tensors with the same values."""

import os

import numpy as np
import pytest
import tensorflow as tf

import ops_testlib as ops
import tfckpt_testlib as lib

F32, I64 = np.float32, np.int64

# The model: {name: (shape, dtype, number of partitions or None)}
TARGET_SPEC = {
    "a": ((2, 3), F32, None),
    "scope/w": ((3,), F32, None),
    "scope/inner/b": ((), F32, None),
    "scope/emb2": ((6, 2), F32, 2),
    "other/w": ((3,), F32, None),
    "emb": ((10, 4), F32, 3),
    "ids": ((5,), I64, None),
    "step": ((), I64, None),
    "emb_plain": ((10, 4), F32, None),
}

# Source 1: the model's names with other partitionings, plus tensors for the other map forms
S1_SPEC = dict(TARGET_SPEC)
S1_SPEC.update({
    "emb": ((10, 4), F32, 2),          # target has 3 parts: re-sliced
    "scope/emb2": ((6, 2), F32, 3),    # target has 2 parts
    "emb3": ((10, 4), F32, 3),         # same partitioning as the target's emb
    "emb_full": ((10, 4), F32, None),  # not partitioned
    "w": ((3,), F32, None),            # for '/': 'scope/'
    "inner/b": ((), F32, None),
    "emb2": ((6, 2), F32, None),
    "x3": ((3,), F32, None),
    "ids_f": ((5,), F32, None),        # dtype differs from the target's ids
    "src_scope/w": ((3,), F32, None),  # for 'src_scope/': 'scope/'
    "src_scope/inner/b": ((), F32, None),
    "src_scope/emb2": ((6, 2), F32, 2),
})


def _build_target():
    return ops.get_variables(TARGET_SPEC, seed=0)[0]


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp("transfer")
    out = {
        "T": ops.tf1_save(d / "target" / "model", _build_target),
        "S1": ops.tf1_save(d / "s1" / "src", lambda: ops.get_variables(S1_SPEC, seed=1)),
        # Source 2: the whole model under pre/, partitioned like the target
        "S2": ops.tf1_save(d / "s2" / "src",
                           lambda: ops.get_variables(TARGET_SPEC, seed=2, scope="pre/")),
    }
    out["S1dir"] = os.path.dirname(out["S1"])
    assert os.path.isfile(os.path.join(out["S1dir"], "checkpoint"))
    return out


def _cli_args(ckpts, groups):
    args = []
    for src, pairs in groups:
        args += ["--from", ckpts[src]]
        for k, v in pairs:
            args += ["--map", "%s=%s" % (k, v)]
    return args


def _tf_transfer(ckpts, groups, prefix):
    """The oracle: init_from_checkpoint per group in a fresh graph of the model, then save."""
    graph = tf.Graph()
    with graph.as_default():
        _build_target()
        for src, pairs in groups:
            tf.compat.v1.train.init_from_checkpoint(ckpts[src], dict(pairs))
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            return saver.save(sess, str(prefix), write_meta_graph=False)


CASES = {
    "exact": [("S1", [("a", "a"), ("ids", "ids")])],
    "other_name": [("S1", [("x3", "scope/w"), ("emb_full", "emb")])],
    "scope_same": [("S1", [("scope/", "scope/")])],
    "scope_other": [("S1", [("src_scope/", "scope/")])],
    "scope_nested": [("S1", [("scope/inner/", "scope/inner/")])],
    "root_to_scope": [("S1", [("/", "scope/")])],
    "scope_to_root": [("S2", [("pre/", "/")])],
    "partitioned_same": [("S1", [("emb3", "emb")])],
    "partitioned_reslice": [("S1", [("emb", "emb")])],
    "partitioned_from_full": [("S1", [("emb_full", "emb")])],
    "partitioned_to_full": [("S1", [("emb", "emb_plain")])],
    "partitioned_same_scope": [("S2", [("pre/scope/", "scope/")])],
    "two_sources": [("S1", [("a", "a"), ("scope/", "scope/")]),
                    ("S2", [("pre/other/", "other/"), ("pre/emb", "emb"), ("pre/step", "step")])],
    "later_group_wins": [("S1", [("a", "a"), ("emb", "emb")]),
                         ("S2", [("pre/a", "a"), ("pre/emb", "emb")])],
    # one group, two entries for scope/w: TF applies them sorted by checkpoint name
    "same_group_sorted": [("S1", [("x3", "scope/w"), ("scope/", "scope/")])],
    # a training directory: its `checkpoint` state file names the prefix
    "source_dir": [("S1dir", [("a", "a"), ("emb", "emb")])],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_transfer_like_init_from_checkpoint(tfckpt, tmp_path, ckpts, case):
    groups = CASES[case]
    before = ops.snapshot(*ckpts.values())
    want = _tf_transfer(ckpts, groups, tmp_path / "tf" / "expected")
    out = str(tmp_path / "ours" / "out")
    tfckpt.run("transfer", "--into", ckpts["T"], *_cli_args(ckpts, groups), "-o", out)
    ops.assert_same_checkpoint(out, want)
    ops.assert_shards_consistent(tfckpt, out)
    ops.assert_unchanged(before, *ckpts.values())
    # not vacuous: TF changed some of the model's values
    target, expected = ops.tf_values(ckpts["T"]), ops.tf_values(want)
    assert any(target[n][2].tobytes() != expected[n][2].tobytes() for n in target)
    # the result is a checkpoint of the model: a TF1 Saver restores it, partitions included
    restored = ops.tf1_restore(out, _build_target)
    for name, value in restored.items():
        ops.assert_array_identical(value, expected[name][2], name)


def test_transfer_classic_example(tfckpt, repo_root, tmp_path):
    committed = [str(repo_root / "examples/models/a/model-a"),
                 str(repo_root / "examples/models/b/model-b")]
    committed_before = ops.snapshot(*committed)
    a = ops.copy_bundle(committed[0], tmp_path / "a")
    b = ops.copy_bundle(committed[1], tmp_path / "b")

    def build():
        return {n: tf.compat.v1.get_variable(n, initializer=tf.constant(1.0)) for n in "ab"}

    target = ops.tf1_save(tmp_path / "t" / "model", build)
    before = ops.snapshot(a, b, target)
    out = str(tmp_path / "o" / "out")
    tfckpt.run("transfer", "--into", target, "--from", a, "--map", "a=a",
               "--from", b, "--map", "b=b", "-o", out)
    restored = ops.tf1_restore(out, build)
    ops.assert_array_identical(restored["a"], tf.train.load_checkpoint(a).get_tensor("a"), "a")
    ops.assert_array_identical(restored["b"], tf.train.load_checkpoint(b).get_tensor("b"), "b")
    assert (float(restored["a"]), float(restored["b"])) == (3.0, 4.0)
    ops.assert_unchanged(before, a, b, target)
    ops.assert_unchanged(committed_before, *committed)


# ---------------------------------------------------------------------------------------------
# Errors: TF fails, and our message names the tensors TF's names
# ---------------------------------------------------------------------------------------------

ERROR_CASES = {
    "missing": [("S1", [("nope/missing", "a")])],
    "missing_in_scope": [("S1", [("absent_scope/", "scope/")])],
    "scope_only": [("S1", [("x3", "scope/")])],
    "shape": [("S1", [("x3", "a")])],
    "dtype": [("S1", [("ids_f", "ids")])],
}


def _tf_error_names(ckpts, groups, tmp_path):
    return ops.tf_error_names(
        lambda: _tf_transfer(ckpts, groups, tmp_path / "tf" / "expected"))


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_transfer_errors_like_tf(tfckpt, tmp_path, ckpts, case):
    groups = ERROR_CASES[case]
    names, message = _tf_error_names(ckpts, groups, tmp_path)
    before = ops.snapshot(*ckpts.values())
    out = str(tmp_path / "ours" / "out")
    proc = tfckpt.run("transfer", "--into", ckpts["T"], *_cli_args(ckpts, groups), "-o", out,
                      expect_rc=2)
    for n in names:
        assert n in proc.err, "TF names %r (%s)\n%s" % (n, message, proc.where)
    assert ops.dir_entries(tmp_path / "ours") == [], "wrote something on error"
    ops.assert_unchanged(before, *ckpts.values())


def test_transfer_errors_reported_together(tfckpt, tmp_path, ckpts):
    all_names, groups = [], []
    for case in sorted(ERROR_CASES):
        all_names += _tf_error_names(ckpts, ERROR_CASES[case], tmp_path / case)[0]
        groups += ERROR_CASES[case]
    out = str(tmp_path / "ours" / "out")
    proc = tfckpt.run("transfer", "--into", ckpts["T"], *_cli_args(ckpts, groups), "-o", out,
                      expect_rc=2)
    missing = [n for n in all_names if n not in proc.err]
    assert not missing, "not named: %r\n%s" % (missing, proc.where)
    assert ops.dir_entries(tmp_path / "ours") == []


# ---------------------------------------------------------------------------------------------
# Without --into: only the mapped tensors, under their target names
# ---------------------------------------------------------------------------------------------


def _scope_rename(name, ckpt, target):
    """Where a source tensor goes under a scope map ckpt -> target (None: not under ckpt)."""
    if ckpt == "/":
        rest = name
    elif name.startswith(ckpt):
        rest = name[len(ckpt):]
    else:
        return None
    return rest if target == "/" else target + rest


def test_transfer_no_into_classic(tfckpt, repo_root, tmp_path):
    a = ops.copy_bundle(str(repo_root / "examples/models/a/model-a"), tmp_path / "a")
    out = str(tmp_path / "o" / "out")
    tfckpt.run("transfer", "--from", a, "--map", "/=new_scope/", "-o", out)
    got = ops.tf_values(out)
    src = ops.tf_values(a)
    assert sorted(got) == sorted("new_scope/" + n for n in src)
    ops.assert_array_identical(got["new_scope/a"][2], src["a"][2], "new_scope/a")
    assert float(got["new_scope/a"][2]) == 3.0


@pytest.mark.parametrize("ckpt_scope, target_scope", [
    ("/", "new_scope/"), ("scope/", "other_scope/"), ("scope/", "/"), ("src_scope/", "scope/")])
def test_transfer_no_into_scope_maps(tfckpt, tmp_path, ckpts, ckpt_scope, target_scope):
    src = ops.tf_values(ckpts["S1"])
    before = ops.snapshot(ckpts["S1"])
    out = str(tmp_path / "out")
    tfckpt.run("transfer", "--from", ckpts["S1"], "--map", "%s=%s" % (ckpt_scope, target_scope),
               "-o", out)
    want = {}
    for n, v in src.items():
        new = _scope_rename(n, ckpt_scope, target_scope)
        if new is not None:
            want[new] = v
    assert want
    ops.assert_same_tensors(ops.tf_values(out), want)
    ops.assert_shards_consistent(tfckpt, out)
    ops.assert_unchanged(before, ckpts["S1"])


def test_transfer_no_into_exact(tfckpt, tmp_path, ckpts):
    src = ops.tf_values(ckpts["S1"])
    out = str(tmp_path / "out")
    tfckpt.run("transfer", "--from", ckpts["S1"], "--map", "emb=new_emb", "--map", "x3=y",
               "--from", ckpts["S2"], "--map", "pre/ids=ids", "-o", out)
    want = {"new_emb": src["emb"], "y": src["x3"], "ids": ops.tf_values(ckpts["S2"])["pre/ids"]}
    ops.assert_same_tensors(ops.tf_values(out), want)
    ops.assert_shards_consistent(tfckpt, out)


# ---------------------------------------------------------------------------------------------
# --dry-run
# ---------------------------------------------------------------------------------------------


def test_transfer_dry_run_plan(tfckpt, tmp_path, ckpts):
    groups = [("S1", [("a", "a"), ("emb", "emb")]),
              ("S2", [("pre/scope/emb2", "scope/emb2"), ("pre/ids", "ids")])]
    before = ops.snapshot(*ckpts.values())
    out = str(tmp_path / "ours" / "out")
    plan = tfckpt.json("transfer", "--into", ckpts["T"], *_cli_args(ckpts, groups), "-o", out,
                       "--dry-run", "--json")
    assert ops.dir_entries(tmp_path / "ours") == [] and not os.path.exists(out + ".index")
    ops.assert_unchanged(before, *ckpts.values())

    target = ops.tf_values(ckpts["T"])
    tensors = {t["name"]: t for t in plan["tensors"]}
    assert sorted(tensors) == sorted(target), plan
    mapped = {"a": ("S1", "a", "copy"), "emb": ("S1", "emb", "reslice"),  # 2 parts -> 3
              "scope/emb2": ("S2", "pre/scope/emb2", "copy"),  # same partitioning
              "ids": ("S2", "pre/ids", "copy")}
    for name, (dtype, shape, _) in target.items():
        t = tensors[name]
        assert t["dtype"] == dtype and t["shape"] == shape, t
        assert t["bytes"] == lib.num_elements(shape) * lib.element_size(dtype), t
        if name in mapped:
            src, key, action = mapped[name]
            assert t["action"] == action, t
            # one entry per piece read (a stored slice, or the whole tensor)
            assert t["from"] and {f["key"] for f in t["from"]} == {key}, t
            assert all(os.path.basename(ckpts[src]) in f["source"] and
                       os.path.basename(os.path.dirname(ckpts[src])) in f["source"]
                       for f in t["from"]), t
        else:
            assert t["action"] == "keep", t


# ---------------------------------------------------------------------------------------------
# --into a SavedModel
# ---------------------------------------------------------------------------------------------


class _Net(tf.Module):
    def __init__(self, seed):
        super().__init__()
        self.w = tf.Variable(ops.make_value("w", (3, 2), F32, seed), name="w")
        self.b = tf.Variable(ops.make_value("b", (2,), F32, seed), name="b")


class _Root(tf.Module):
    def __init__(self, seed):
        super().__init__()
        self.model = _Net(seed)

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    def __call__(self, x):
        return tf.matmul(x, self.model.w) + self.model.b


@pytest.fixture(scope="module")
def saved_model_and_ckpt(tmp_path_factory):
    d = tmp_path_factory.mktemp("sm_transfer")
    sm = str(d / "sm")
    tf.saved_model.save(_Root(seed=0), sm)
    ckpt = tf.train.Checkpoint(model=_Net(seed=5)).write(str(d / "ck" / "trained"))
    return sm, ckpt


@pytest.mark.parametrize("form", ["scope", "exact"])
def test_transfer_into_saved_model(tfckpt, tmp_path, saved_model_and_ckpt, form):
    sm, ckpt = saved_model_and_ckpt
    keys = ["model/w/.ATTRIBUTES/VARIABLE_VALUE", "model/b/.ATTRIBUTES/VARIABLE_VALUE"]
    maps = ["model/=model/"] if form == "scope" else ["%s=%s" % (k, k) for k in keys]
    before = ops.snapshot(sm, ckpt)
    out = str(tmp_path / "out_sm")
    args = ["transfer", "--into", sm, "--from", ckpt]
    for m in maps:
        args += ["--map", m]
    tfckpt.run(*args, "-o", out)
    ops.assert_unchanged(before, sm, ckpt)

    # the oracle: the model as saved, initialised from the checkpoint by TF
    root = _Root(seed=0)
    tf.compat.v1.train.init_from_checkpoint(ckpt, {keys[0]: root.model.w, keys[1]: root.model.b})
    x = tf.constant(ops.make_value("x", (4, 3), F32, 9))

    loaded = tf.saved_model.load(out)
    ops.assert_array_identical(loaded.model.w.numpy(), root.model.w.numpy(), "w")
    ops.assert_array_identical(loaded.model.b.numpy(), root.model.b.numpy(), "b")
    ops.assert_array_identical(loaded(x).numpy(), root(x).numpy(), "f(x)")
    # the values really changed
    assert not np.array_equal(loaded.model.w.numpy(), _Root(seed=0).model.w.numpy())

    # the directory: the graph copied, new variables
    assert lib.file_bytes(os.path.join(out, "saved_model.pb")) == \
        lib.file_bytes(os.path.join(sm, "saved_model.pb"))
    assert os.path.isdir(os.path.join(out, "assets"))
    assert os.path.isfile(os.path.join(out, "fingerprint.pb"))
    got = ops.tf_values(os.path.join(out, "variables", "variables"))
    want = ops.tf_values(os.path.join(sm, "variables", "variables"))
    src = ops.tf_values(ckpt)
    for k in keys:
        want[k] = src[k]
    ops.assert_same_tensors(got, want)
