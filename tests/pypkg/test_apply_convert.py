"""tfckpt.apply (recipes) and tfckpt.convert (safetensors, .npz and back)."""

import os
import textwrap

import numpy as np
import pytest

import tfckpt

from pypkg_testlib import (
    ml_dtypes, EXAMPLES_A, MIXED_DTYPES, MIXED_VALUES, TF2_WEIGHTS, bert_like_values, byte_order,
    assert_same, bundle_files, all_files, read_safetensors, raises_error, values_of)


# ---------------------------------------------------------------------------------------------
# apply
# ---------------------------------------------------------------------------------------------

def _write_recipe(path, ex, output="out/model"):
    path.write_text(textwrap.dedent("""\
        inputs:
          a: {a}
          b: {b}
          ab: {ab}
          step1: {s1}
          step2: {s2}
        steps:
          - name: ab_with_a
            transfer:
              into: ab
              from:
                - source: a
                  map: {{a: a}}
          - name: w1
            edit: {{source: step1, strip_optimizer: true}}
          - name: w2
            edit: {{source: step2, strip_optimizer: true}}
          - name: avg
            average: {{sources: [w1, w2], weights: [1, 3]}}
          - name: combined
            merge: {{sources: [ab_with_a, avg]}}
        output: {out}
        """).format(a=ex / "models/a/model-a", b=ex / "models/b/model-b",
                    ab=ex / "models/ab/model-ab", s1=ex / "tf2/ckpt-1", s2=ex / "tf2/ckpt-2",
                    out=output))
    return str(path)


def test_apply_pipeline(ex, tmp_path):
    recipe = _write_recipe(tmp_path / "recipe.yaml", ex)
    report = tfckpt.apply(recipe)
    assert isinstance(report, str) and "merge" in report
    out = str(tmp_path / "out" / "model")
    c = tfckpt.open(out)
    assert c["a"].tolist() == 3.0 and c["b"].tolist() == 1.0
    ins = [tfckpt.open(str(ex / "tf2" / s)) for s in ("ckpt-1", "ckpt-2")]
    for n in TF2_WEIGHTS:
        want = ((ins[0][n].astype(np.float64) + 3 * ins[1][n].astype(np.float64)) / 4).astype(
            np.float32)
        assert_same(c[n], want, n)
    # only the output is left next to it: intermediates are removed
    assert sorted(os.listdir(tmp_path / "out")) == [
        os.path.basename(f) for f in bundle_files(out)]
    assert len(bundle_files(out)) == 1 + c.num_shards


def test_apply_output_dry_run_force(ex, tmp_path):
    recipe = _write_recipe(tmp_path / "recipe.yaml", ex)
    out = str(tmp_path / "elsewhere" / "model")
    report = tfckpt.apply(recipe, output=out, dry_run=True)
    assert isinstance(report, str) and report
    assert not os.path.exists(tmp_path / "elsewhere"), all_files(tmp_path / "elsewhere")
    assert not os.path.exists(tmp_path / "out")
    tfckpt.apply(recipe, output=out)
    assert values_of(out)["a"] == 3.0
    raises_error(lambda: tfckpt.apply(recipe, output=out), out)
    tfckpt.apply(recipe, output=out, force=True)
    assert values_of(out)["a"] == 3.0


def test_apply_committed_recipe(examples, tmp_path):
    out = str(tmp_path / "classic" / "model")
    report = tfckpt.apply(str(examples / "recipes" / "classic-merge.yaml"), output=out)
    assert isinstance(report, str)
    assert values_of(out) == {"a": 3.0, "b": 4.0}


def test_apply_errors(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("inputs:\n  a: %s\nsteps:\n  - edit: {sorce: a}\noutput: o\n"
                      % (tfckpt.open(str(EXAMPLES_A)).prefix))
    raises_error(lambda: tfckpt.apply(str(recipe)), "bad.yaml", "sorce")
    raises_error(lambda: tfckpt.apply(str(tmp_path / "missing.yaml")), "missing.yaml")


# ---------------------------------------------------------------------------------------------
# convert
# ---------------------------------------------------------------------------------------------

def test_convert_to_safetensors(ex, tmp_path):
    src = str(ex / "mixed" / "mixed")
    out = str(tmp_path / "m.safetensors")
    msg = raises_error(lambda: tfckpt.convert(src, out), "words")
    assert not os.path.exists(out)
    r = tfckpt.convert(src, out, skip_unsupported=True)
    assert isinstance(r, dict)
    assert [s["name"] for s in r["skipped"]] == ["words"], r
    assert r["outputs"] == [out], r
    tensors, _ = read_safetensors(out)
    assert sorted(tensors) == sorted(n for n in MIXED_DTYPES if n != "words" and (
        ml_dtypes is not None or n != "brain"))
    for name, want in MIXED_VALUES.items():
        if name != "words":
            assert_same(np.array(tensors[name]), want, name)
    raises_error(lambda: tfckpt.convert(src, out, skip_unsupported=True), out)
    tfckpt.convert(src, out, skip_unsupported=True, force=True)
    assert msg


def test_convert_safetensors_library(ex, tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    out = str(tmp_path / "bert.safetensors")
    tfckpt.convert(str(ex / "bert_like"), out, strip_optimizer=True)
    got = st.load_file(out)
    want = {n: v for n, v in bert_like_values().items()
            if not n.endswith(("/adam_m", "/adam_v"))}
    assert sorted(got) == sorted(want)
    for n, v in want.items():
        assert_same(got[n], v, n)


def test_convert_sharded_and_back(ex, tmp_path):
    src = str(ex / "bert_like")
    out_dir = tmp_path / "sharded"
    r = tfckpt.convert(src, str(out_dir / "model.safetensors"), strip_optimizer=True,
                       max_shard_size="4KB")
    assert len(r["outputs"]) == 4, r["outputs"]  # 3 shards + the index json
    assert (out_dir / "model.safetensors.index.json").is_file()
    back = str(tmp_path / "back" / "model.ckpt")
    tfckpt.convert(str(out_dir), back)
    # a byte count as a Python int works as well: 4096 is the limit "4KiB" gives
    r = tfckpt.convert(src, str(tmp_path / "ints" / "model.safetensors"), strip_optimizer=True,
                       max_shard_size=4096)
    kib = tfckpt.convert(src, str(tmp_path / "kib" / "model.safetensors"), strip_optimizer=True,
                         max_shard_size="4KiB")
    assert [os.path.basename(o) for o in r["outputs"]] == \
        [os.path.basename(o) for o in kib["outputs"]], (r["outputs"], kib["outputs"])
    for a, b in zip(r["outputs"], kib["outputs"]):
        with open(a, "rb") as fa, open(b, "rb") as fb:
            assert fa.read() == fb.read(), (a, b)
    want = {n: v for n, v in bert_like_values().items()
            if not n.endswith(("/adam_m", "/adam_v"))}
    c = tfckpt.open(back)
    assert c.names() == byte_order(want)
    for n, v in want.items():
        assert_same(c[n], v, n)


def test_convert_npz_round_trip(ex, tmp_path):
    src = str(ex / "mixed" / "mixed")
    npz = str(tmp_path / "m.npz")
    raises_error(lambda: tfckpt.convert(src, npz), "brain")  # no bfloat16 in .npz
    r = tfckpt.convert(src, npz, skip_unsupported=True)
    skipped = {s["name"] for s in r["skipped"]}
    assert "brain" in skipped
    with np.load(npz, allow_pickle=False) as z:
        got = {k: z[k] for k in z.files}
    for name, want in MIXED_VALUES.items():
        if name in skipped:
            continue
        if want.dtype == object:  # strings: numpy's fixed-width bytes, loadable without pickle
            assert got[name].dtype.kind == "S", (name, got[name].dtype)
            assert got[name].tolist() == want.tolist(), name
        else:
            assert_same(got[name], want, name)
    # and back: a .npz written by numpy becomes a checkpoint
    mine = str(tmp_path / "mine.npz")
    arrays = {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.array([1, -2], np.int16),
              "t": np.asfortranarray(np.arange(6.0).reshape(2, 3))}
    np.savez_compressed(mine, **arrays)
    back = str(tmp_path / "back" / "ckpt")
    r = tfckpt.convert(mine, back)
    c = tfckpt.open(back)
    assert sorted(c.names()) == ["n", "t", "x"]
    for n, v in arrays.items():
        assert_same(c[n], v, n)
