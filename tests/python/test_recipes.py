"""`tfckpt apply RECIPE.yaml` judged by TensorFlow: the example recipes under examples/recipes/,
recipes written here over TF-written checkpoints (checked against TF-read values and the numpy
references of methods_reference.py), dry runs, and broken recipes reported with file:line."""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

import methods_reference as R
import ops_testlib as ops
import tfckpt_testlib as lib

F32 = np.float32
GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


@pytest.fixture
def examples(repo_root, tmp_path):
    """A private copy of the committed examples: the recipes with the checkpoints their relative
    paths name, without any output a run in the repository left (examples/recipes/out is
    git-ignored), so that whatever a recipe writes by default is seen, and only this test's."""
    copy = tmp_path / "examples"
    shutil.copytree(repo_root / "examples", copy,
                    ignore=shutil.ignore_patterns("out", "*.py", "cpp", "python"))
    return copy


@pytest.fixture
def recipes(examples):
    return examples / "recipes"


def _scalars(prefix, names):
    """A TF1 Saver restores float32 scalars `names` from prefix."""
    def build():
        return {n: tf.compat.v1.get_variable(n, shape=[], dtype=tf.float32) for n in names}
    return {n: float(v) for n, v in ops.tf1_restore(prefix, build).items()}


def _files_under(path, dirs=False):
    out = []
    for root, subdirs, names in os.walk(path):
        out += [os.path.join(root, n) for n in names + (subdirs if dirs else [])]
    return sorted(out)


# ---------------------------------------------------------------------------------------------
# The example recipes
# ---------------------------------------------------------------------------------------------


def test_classic_recipe(tfckpt, tmp_path, recipes, examples):
    default_out = recipes / "out"
    before = ops.snapshot(examples / "models")
    out = str(tmp_path / "merged" / "model")
    tfckpt.run("apply", recipes / "classic-merge.yaml", "-o", out)
    assert _scalars(out, ["a", "b"]) == {"a": 3.0, "b": 4.0}
    assert sorted(ops.tf_values(out)) == ["a", "b"]
    ops.assert_shards_consistent(tfckpt, out)
    ops.assert_unchanged(before, examples / "models")
    assert not default_out.exists(), "-o did not override the recipe's output"


class _Dense(tf.Module):
    """The shape of examples/tf2's model: a kernel [4, 3] and a bias [3]."""

    def __init__(self):
        super().__init__()
        self.kernel = tf.Variable(tf.zeros([4, 3]), name="kernel")
        self.bias = tf.Variable(tf.zeros([3]), name="bias")


def test_transfer_strip_average_recipe(tfckpt, tmp_path, recipes, examples):
    before = ops.snapshot(examples / "models", examples / "tf2")
    out = str(tmp_path / "pipeline" / "model")
    tfckpt.run("apply", recipes / "transfer-strip-average.yaml", "-o", out)
    got = ops.tf_values(out)

    # which keys: a and b, plus what TF writes for the dense model alone
    model_only = tf.train.Checkpoint(model=_Dense()).save(str(tmp_path / "keys" / "ck"))
    want_keys = {"a", "b"} | set(ops.tf_values(model_only))
    assert sorted(got) == sorted(want_keys)

    # 1. transfer: a from model a, b kept from model ab -- what a TF1 Saver restores
    assert _scalars(out, ["a", "b"]) == {
        "a": float(tf.train.load_checkpoint(str(examples / "models/a/model-a")).get_tensor("a")),
        "b": float(tf.train.load_checkpoint(str(examples / "models/ab/model-ab")).get_tensor("b"))}
    # 2.-3. the dense layer: the 1:3 average of the two steps; save_counter from the newer one
    steps = [ops.tf_values(examples / "tf2" / s) for s in ("ckpt-1", "ckpt-2")]
    for attr in ("kernel", "bias"):
        key = "model/%s/.ATTRIBUTES/VARIABLE_VALUE" % attr
        want = R.average([s[key][2] for s in steps], weights=[1, 3])
        R.assert_bits_equal(got[key][2], want, key)
    key = "save_counter/.ATTRIBUTES/VARIABLE_VALUE"
    ops.assert_array_identical(got[key][2], steps[1][key][2], key)
    # the bias really moved between the steps, so the average is neither of them
    bias = "model/bias/.ATTRIBUTES/VARIABLE_VALUE"
    assert all(R.bits(got[bias][2]).tobytes() != R.bits(s[bias][2]).tobytes() for s in steps)

    # 4. TF2 restores the dense model from the merged checkpoint
    dense = _Dense()
    tf.train.Checkpoint(model=dense).restore(out).assert_consumed()
    for attr in ("kernel", "bias"):
        R.assert_bits_equal(getattr(dense, attr).numpy(),
                            got["model/%s/.ATTRIBUTES/VARIABLE_VALUE" % attr][2], attr)
    ops.assert_unchanged(before, examples / "models", examples / "tf2")


RECIPE_STEPS = {
    "classic-merge.yaml": ["merged"],
    "transfer-strip-average.yaml": ["ab_with_a", "step1_weights", "step2_weights",
                                    "dense_average", "combined"],
}


@pytest.mark.parametrize("recipe", sorted(RECIPE_STEPS))
def test_example_recipe_dry_run(tfckpt, tmp_path, recipes, recipe):
    default_out = recipes / "out"
    out_dir = tmp_path / "o"
    proc = tfckpt.run("apply", recipes / recipe, "--dry-run", "-o", out_dir / "model")
    assert not out_dir.exists(), "a dry run created %s" % out_dir
    for step in RECIPE_STEPS[recipe]:
        assert step in proc.out, "step %s missing from the plan:\n%s" % (step, proc.out)
    for kind in ("merge", "transfer", "edit", "average"):
        if ("%s:" % kind) in (recipes / recipe).read_text():
            assert kind in proc.out, (kind, proc.out)
    # without -o, a dry run does not create the recipe's own output either
    tfckpt.run("apply", recipes / recipe, "--dry-run")
    assert not default_out.exists(), "a dry run created %s" % default_out


# ---------------------------------------------------------------------------------------------
# Recipes over TF-written checkpoints
# ---------------------------------------------------------------------------------------------

SPEC = {"enc/w": (3, 4), "enc/b": (4,), "dec/w": (4, 2)}


def _build(seed):
    def build():
        rng = np.random.default_rng(seed)
        v = {n: tf.compat.v1.get_variable(n, initializer=tf.constant(
            rng.normal(size=shape).astype(F32))) for n, shape in SPEC.items()}
        v["global_step"] = tf.compat.v1.get_variable(
            "global_step", initializer=tf.constant(seed, tf.int64), trainable=False)
        return v
    return build


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """ckpts/base/model, ckpts/train/ (a TF1 Saver at steps 10, 20, 30) and x/, y/."""
    root = tmp_path_factory.mktemp("recipes")
    for d in ("base", "train", "x", "y"):
        (root / "ckpts" / d).mkdir(parents=True)
    base = ops.tf1_save(root / "ckpts" / "base" / "model", _build(100))
    train = []
    graph = tf.Graph()
    with graph.as_default():
        v = _build(1)()
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            for step in (10, 20, 30):
                rng = np.random.default_rng(step)
                for n, shape in SPEC.items():
                    v[n].load(rng.normal(size=shape).astype(F32), sess)
                v["global_step"].load(step, sess)
                train.append(saver.save(sess, str(root / "ckpts" / "train" / "model.ckpt"),
                                        global_step=step, write_meta_graph=False))

    def small(name, values):
        def build():
            return {n: tf.compat.v1.get_variable(n, initializer=tf.constant(val, F32))
                    for n, val in values.items()}
        return ops.tf1_save(root / "ckpts" / name / "model", build)

    x = small("x", {"shared": [1.0, 2.0], "only_x": 5.0})
    y = small("y", {"shared": [10.0, 20.0], "only_y": 7.0})
    return {"root": root, "base": base, "train": train, "x": x, "y": y}


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


CHAIN = """\
inputs:
  base: ../ckpts/base/model
steps:
  - name: recent
    average:
      last: {n: 2, dir: ../ckpts/train}
      weights: [1, 2]
  - blend:
      method: task_arithmetic
      base: base
      models: [recent, ../ckpts/train/model.ckpt-10]
      lambda: 0.5
      per_tensor:
        - {match: "^dec/", lambda: 2.0}
  - edit:
      rename: {"enc/": "encoder/"}
      drop: ["^global_step$"]
output: ../out/model
"""


def test_recipe_chain_relative_paths(tfckpt, tmp_path, workspace):
    """last:, a step name, a path and an omitted input (the previous result); relative paths
    resolve against the recipe's directory whatever the working directory."""
    root = workspace["root"]
    recipe = _write(root / "recipes" / "chain.yaml", CHAIN)
    shutil.rmtree(root / "out", ignore_errors=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = ops.snapshot(root / "ckpts")
    tfckpt.run("apply", recipe, cwd=elsewhere)
    assert ops.dir_entries(elsewhere) == []
    out = str(root / "out" / "model")

    train = [ops.tf_values(p) for p in workspace["train"]]
    base = ops.tf_values(workspace["base"])
    got = ops.tf_values(out)
    assert sorted(got) == sorted(["encoder/w", "encoder/b", "dec/w"])
    for name in SPEC:
        recent = R.average([t[name][2] for t in train[-2:]], weights=[1, 2])
        lam = 2.0 if name.startswith("dec/") else 0.5
        want = R.round_to_dtype(R.task_arithmetic64(
            R.widen(base[name][2]), [R.widen(recent), R.widen(train[0][name][2])], lam=lam), F32)
        new = name.replace("enc/", "encoder/")
        R.assert_bits_equal(got[new][2], want, new)
    ops.assert_unchanged(before, root / "ckpts")

    # -o overrides output:, relative to the working directory like any command-line path
    tfckpt.run("apply", recipe, "-o", "over/model", cwd=elsewhere)
    lib.assert_same_values(out, str(elsewhere / "over" / "model"))


MERGE_TRANSFER = """\
inputs:
  x: ../ckpts/x/model
  y: ../ckpts/y/model
steps:
  - name: both
    merge: {sources: [x, y], on_conflict: %s}
  - name: filled
    transfer:
      into: both
      from:
        - source: y
          map: {only_y: only_x}
        - source: x
          map: {only_x: only_y}
  - edit: {keep: ["^only_", "^shared$"], drop: ["^nothing$"]}
output: ../out/merge_transfer
"""


@pytest.mark.parametrize("on_conflict", ["first", "last"])
def test_recipe_merge_transfer(tfckpt, tmp_path, workspace, on_conflict):
    recipe = _write(tmp_path / "r" / "mt.yaml", MERGE_TRANSFER % on_conflict)
    shutil.copytree(workspace["root"] / "ckpts", tmp_path / "ckpts")
    tfckpt.run("apply", recipe)
    got = ops.tf_values(tmp_path / "out" / "merge_transfer")
    x, y = ops.tf_values(workspace["x"]), ops.tf_values(workspace["y"])
    shared = (x if on_conflict == "first" else y)["shared"][2]
    ops.assert_array_identical(got["shared"][2], shared, "shared")
    ops.assert_array_identical(got["only_x"][2], y["only_y"][2], "only_x")
    ops.assert_array_identical(got["only_y"][2], x["only_x"][2], "only_y")
    assert sorted(got) == ["only_x", "only_y", "shared"]


def test_recipe_merge_conflict_is_an_error(tfckpt, tmp_path, workspace):
    recipe = _write(tmp_path / "r" / "mt.yaml", MERGE_TRANSFER % "error")
    shutil.copytree(workspace["root"] / "ckpts", tmp_path / "ckpts")
    proc = tfckpt.run("apply", recipe, expect_rc=2)
    assert "shared" in proc.err, proc.err
    assert not (tmp_path / "out").exists(), ops.dir_entries(tmp_path / "out")


def test_recipe_dry_run_writes_nothing(tfckpt, tmp_path, workspace):
    recipe = _write(tmp_path / "r" / "chain.yaml", CHAIN)
    shutil.copytree(workspace["root"] / "ckpts", tmp_path / "ckpts")
    before = _files_under(tmp_path)
    proc = tfckpt.run("apply", recipe, "--dry-run")
    assert _files_under(tmp_path) == before
    for word in ("recent", "average", "blend", "edit"):  # every step: its kind, its name
        assert word in proc.out, (word, proc.out)


# ---------------------------------------------------------------------------------------------
# Broken recipes: exit 2, `<file>:<line>:` on stderr, nothing written
# ---------------------------------------------------------------------------------------------

HEAD = """\
inputs:
  a: ../ckpts/x/model
  b: ../ckpts/y/model
steps:
"""

BROKEN = {
    "unknown_top_key": HEAD + """\
  - merge: {sources: [a, b], on_conflict: first}
outptu: out/model  # <-
""",
    "unknown_step_key": HEAD + """\
  - merge:
      sources: [a, b]
      on_conflcit: first  # <-
output: out/model
""",
    "unknown_step_kind": HEAD + """\
  - name: s
    mergify: {sources: [a, b]}  # <-
output: out/model
""",
    "undefined_ref": HEAD + """\
  - merge:
      on_conflict: first
      sources: [a, nope]  # <-
output: out/model
""",
    "forward_ref": HEAD + """\
  - name: first_step
    edit:
      source: later  # <-
      keep: [only]
  - name: later
    edit: {source: a}
output: out/model
""",
    "undefined_into": HEAD + """\
  - transfer:
      into: nowhere  # <-
      from:
        - source: a
          map: {only_x: only_x}
output: out/model
""",
    "missing_input_file": """\
inputs:
  a: ../ckpts/x/model
  b: ../ckpts/does_not_exist/model  # <-
steps:
  - merge: {sources: [a, b]}
output: out/model
""",
    "wrong_type_bool": HEAD + """\
  - average:
      sources: [a, a]
      normalize: sometimes  # <-
output: out/model
""",
    "wrong_type_int": HEAD + """\
  - average:
      sources: [a, a]
      take_nonfloat_from: newest  # <-
output: out/model
""",
    "wrong_type_list": HEAD + """\
  - average:
      sources: {a: b}  # <-
output: out/model
""",
    "merge_name_with_slash": HEAD + """\
  - merge:
      sources: {x/y: a}  # <-
output: out/model
""",
    "wrong_type_lambda": HEAD + """\
  - blend:
      method: task_arithmetic
      base: a
      models: [a]
      lambda: [1, 2]  # <-
output: out/model
""",
    "unknown_method": HEAD + """\
  - blend:
      method: magic  # <-
      base: a
      models: [a]
output: out/model
""",
    "bad_on_conflict": HEAD + """\
  - merge:
      sources: [a, b]
      on_conflict: maybe  # <-
output: out/model
""",
    "bad_per_tensor_key": HEAD + """\
  - blend:
      method: ties
      base: a
      models: [a]
      per_tensor:
        - {match: "x", dencity: 0.2}  # <-
output: out/model
""",
    "late_missing_path": HEAD + """\
  - name: first
    merge: {sources: [a, b], on_conflict: first}
  - edit:
      source: ../ckpts/nothing_here/model  # <-
      keep: [shared]
output: out/model
""",
    # found only when step 2 is planned, after step 1 wrote its result: either line of the step
    "late_plan_error": HEAD + """\
  - name: first
    merge: {sources: [a, b], on_conflict: first}
  - average:  # <-
      sources: [first, a]  # <-
output: out/model
""",
    "steps_not_a_list": """\
inputs:
  a: ../ckpts/x/model
steps: {merge: {sources: [a, a]}}  # <-
output: out/model
""",
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_recipe(tfckpt, tmp_path, workspace, case):
    text = BROKEN[case]
    lines = text.splitlines()
    marked = [i + 1 for i, ln in enumerate(lines) if ln.rstrip().endswith("# <-")]
    assert marked
    ckpts = tmp_path / "ckpts"
    shutil.copytree(workspace["root"] / "ckpts", ckpts)
    recipe = _write(tmp_path / "r" / "broken.yaml", text)
    before = _files_under(tmp_path, dirs=True)
    proc = tfckpt.run("apply", recipe, expect_rc=2)
    where = ["broken.yaml:%d:" % line for line in marked]
    assert any(w in proc.err for w in where), "expected %s in stderr:\n%s" % (
        " or ".join(repr(w) for w in where), proc.err)
    assert _files_under(tmp_path, dirs=True) == before, "files left behind"


LATE_REFERENCE = HEAD + """\
  - name: first
    merge: {sources: [a, b], on_conflict: first}
  - edit: {source: first, keep: [shared]}
  - transfer:
      into: first
      from:
        - source: %s  # <-
  - name: later
    edit: {drop: [only_x]}
output: out/model
"""


@pytest.mark.parametrize("ref", ["no_such_name", "later", "../ckpts/nothing_here/model",
                                 "../ckpts/x/model.data-00000-of-00009"])
@pytest.mark.parametrize("dry_run", [False, True])
def test_recipe_checks_every_reference_before_the_first_step(tfckpt, tmp_path, workspace, ref,
                                                             dry_run):
    """docs/RECIPES.md: the whole file is checked before the first step runs. A bad reference in
    step 3 fails with its line before steps 1 and 2 have done anything."""
    ckpts = tmp_path / "ckpts"
    shutil.copytree(workspace["root"] / "ckpts", ckpts)
    recipe = _write(tmp_path / "r" / "late.yaml", LATE_REFERENCE % ref)
    line = [i + 1 for i, ln in enumerate(recipe.read_text().splitlines()) if "# <-" in ln][0]
    before = _files_under(tmp_path, dirs=True)
    proc = tfckpt.run("apply", recipe, *(["--dry-run"] if dry_run else []), expect_rc=2)
    assert "late.yaml:%d:" % line in proc.err, proc.where
    assert "later step" in proc.err if ref == "later" else ref.split("/")[-1] in proc.err
    # no step ran (or was planned): none is reported, nothing was written
    assert "step 1" not in proc.out and "tensors" not in proc.out, proc.where
    assert _files_under(tmp_path, dirs=True) == before
    # the same recipe with a good reference runs, and TensorFlow reads its result
    _write(recipe, LATE_REFERENCE % "b")
    tfckpt.run("apply", recipe)
    got = ops.tf_values(tmp_path / "r" / "out" / "model")
    want = ops.tf_values(workspace["y"])  # b fills `first` by name: every tensor of y
    assert sorted(got) == ["only_y", "shared"]
    for name in got:
        ops.assert_array_identical(got[name][2], want[name][2], name)


OPTIONS = """\
inputs:
  first: ../ckpts/train/model.ckpt-10
steps:
  - name: avg
    average:
      sources: [first, ../ckpts/train/model.ckpt-20, ../ckpts/train/model.ckpt-30]
      weights: [0.5, 0.25, 0.5]
      normalize: false
      take_nonfloat_from: 0
      keep_optimizer: false
  - name: dared
    blend:
      method: dare
      base: ../ckpts/base/model
      models: [avg, first]
      weights: [1, 0.5]
      p: 0.5
      seed: 11
      lambda: 0.75
      per_tensor:
        - {match: "^enc/", p: 0.25}
        - {match: "b$", lambda: 1.5, weights: [2, 1]}
output: ../out/options
"""


def test_recipe_average_and_blend_options(tfckpt, tmp_path, workspace):
    recipe = _write(tmp_path / "r" / "options.yaml", OPTIONS)
    shutil.copytree(workspace["root"] / "ckpts", tmp_path / "ckpts")
    tfckpt.run("apply", recipe)
    got = ops.tf_values(tmp_path / "out" / "options")
    train = [ops.tf_values(p) for p in workspace["train"]]
    base = ops.tf_values(workspace["base"])
    assert sorted(got) == sorted(list(SPEC) + ["global_step"])
    avg = {n: R.average([t[n][2] for t in train], [0.5, 0.25, 0.5], normalize=False)
           for n in SPEC}
    overrides = [("^enc/", "p", 0.25), ("b$", "lambda", 1.5), ("b$", "weights", [2, 1])]
    for name in SPEC:
        params = R.params_for(name, {"weights": [1, 0.5], "p": 0.5, "seed": 11,
                                     "lambda": 0.75}, overrides)
        want = R.blend_tensor("dare", name, base[name][2], [avg[name], train[0][name][2]],
                              params)
        R.assert_bits_equal(got[name][2], want, name)
    # blend copies non-float tensors from its base
    ops.assert_array_identical(got["global_step"][2], base["global_step"][2], "global_step")
