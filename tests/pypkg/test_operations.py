"""merge, transfer, edit and average from Python, against the values they must give and, where
the command line is available, its JSON output.
"""

import os
import pathlib

import numpy as np
import pytest

import tfckpt

from pypkg_testlib import (
    ml_dtypes, MIXED_VALUES, TF2_NAMES, TF2_WEIGHTS, TF2_KEPT, COUNTER, bert_like_values,
    byte_order, assert_same, bundle_files, all_files, raises_error, bad_option, values_of)


# ---------------------------------------------------------------------------------------------
# merge
# ---------------------------------------------------------------------------------------------


def test_merge_classic(ab, tmp_path, cli_or_none):
    out = str(tmp_path / "merged" / "model")
    r = tfckpt.merge([ab["a"], ab["b"]], out)
    assert isinstance(r, dict)
    assert r["operation"] == "merge" and r["dry_run"] is False
    assert r["totals"] == {"tensors": 2, "bytes": 8}
    assert [t["name"] for t in r["tensors"]] == ["a", "b"]
    assert values_of(out) == {"a": 3.0, "b": 4.0}
    assert tfckpt.open(out).verify()["ok"]
    assert os.path.exists(ab["a"] + ".index") and os.path.exists(ab["b"] + ".index")
    if cli_or_none is not None:
        out2 = str(tmp_path / "merged_cli" / "model")
        want = cli_or_none.json("merge", ab["a"], ab["b"], "-o", out2, "--json")
        assert {k: v for k, v in r.items() if k != "output"} == \
            {k: v for k, v in want.items() if k != "output"}


def test_merge_named_tf1_sources_are_scoped(ab, tmp_path, cli_or_none):
    out = str(tmp_path / "named" / "model")
    r = tfckpt.merge({"left": ab["a"], "right": ab["ab"]}, out)
    assert [t["name"] for t in r["tensors"]] == ["left/a", "right/a", "right/b"]
    assert values_of(out) == {"left/a": 3.0, "right/a": 1.0, "right/b": 1.0}
    if cli_or_none is not None:
        out2 = str(tmp_path / "named_cli" / "model")
        want = cli_or_none.json("merge", "left=" + ab["a"], "right=" + ab["ab"], "-o", out2,
                                "--json")
        assert [t["name"] for t in want["tensors"]] == ["left/a", "right/a", "right/b"]
    raises_error(lambda: tfckpt.merge({"x/y": ab["a"]}, str(tmp_path / "bad" / "m")), "x/y",
                 "without '/'")


def test_tf2_objects_and_named_merge(ex, tmp_path, cli_or_none):
    ckpt1, ckpt2 = str(ex / "tf2" / "ckpt-1"), str(ex / "tf2" / "ckpt-2")
    graph = tfckpt.objects(ckpt2)
    nodes = graph["objects"]
    assert [c["name"] for c in nodes[0]["children"]] == ["model", "optimizer", "save_counter"]
    keys = {a["key"]: a["full_name"] for n in nodes for a in n["attributes"]}
    assert keys["model/kernel/.ATTRIBUTES/VARIABLE_VALUE"] == "kernel"
    assert keys["model/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE"] == \
        "kernel/Adam"
    assert sorted(keys) == sorted(n for n in tfckpt.open(ckpt2).names()
                                  if n != "_CHECKPOINTABLE_OBJECT_GRAPH")
    if cli_or_none is not None:
        assert graph == cli_or_none.json("ls", "--objects", "--json", ckpt2)
    raises_error(lambda: tfckpt.objects(str(ex / "models" / "a" / "model-a")), "name-based")

    # Two steps of one run, side by side: every key under its source's name, slots included.
    out = str(tmp_path / "both" / "ck")
    tfckpt.merge({"old": ckpt1, "new": ckpt2}, out)
    merged = tfckpt.open(out)
    for name, src in (("old", ckpt1), ("new", ckpt2)):
        source = tfckpt.open(src)
        for key in keys:
            if key.startswith("save_counter/"):
                continue
            scoped = name + "/" + key.replace("/.OPTIMIZER_SLOT/", "/.OPTIMIZER_SLOT/%s/" % name)
            np.testing.assert_array_equal(merged[scoped], source[key])
    assert merged["save_counter/.ATTRIBUTES/VARIABLE_VALUE"] == \
        tfckpt.open(ckpt1)["save_counter/.ATTRIBUTES/VARIABLE_VALUE"]
    paths = {n["path"] for n in tfckpt.objects(out)["objects"]}
    assert {"old/model/kernel", "new/optimizer/beta1_power"} <= paths

    # TF2 -> TF1: keyed by full names
    tf1 = str(tmp_path / "tf1" / "model")
    tfckpt.to_tf1(ckpt2, tf1)
    got = tfckpt.open(tf1)
    assert sorted(got.names()) == sorted(keys.values())
    for key, full in keys.items():
        np.testing.assert_array_equal(got[full], tfckpt.open(ckpt2)[key])


def test_merge_dry_run(ab, tmp_path, cli_or_none):
    out = str(tmp_path / "dry" / "model")
    r = tfckpt.merge([ab["a"], ab["b"]], out, dry_run=True)
    assert r["dry_run"] is True and r["totals"] == {"tensors": 2, "bytes": 8}
    assert not os.path.exists(tmp_path / "dry"), all_files(tmp_path / "dry")
    if cli_or_none is not None:
        want = cli_or_none.json("merge", ab["a"], ab["b"], "-o", out, "--json", "--dry-run")
        assert r == want


def test_merge_conflict(ab, tmp_path, cli_or_none):
    out = str(tmp_path / "o" / "model")
    msg = raises_error(lambda: tfckpt.merge([ab["a"], ab["ab"]], out), "'a'", ab["a"], ab["ab"])
    assert not os.path.exists(tmp_path / "o"), all_files(tmp_path / "o")
    if cli_or_none is not None:
        err = cli_or_none.run("merge", ab["a"], ab["ab"], "-o", out, expect_rc=2).err.strip()
        # the same message, each naming the option and the command in its own terms
        assert "`on_conflict`" in msg and "tfckpt.edit()" in msg, msg
        in_cli_terms = msg.replace("`on_conflict`", "--on-conflict").replace(
            "tfckpt.edit()", "`tfckpt edit`")
        assert in_cli_terms.strip() == err[len("tfckpt: error: "):], (msg, err)
    tfckpt.merge([ab["a"], ab["ab"]], out, on_conflict="first")
    assert values_of(out) == {"a": 3.0, "b": 1.0}
    tfckpt.merge([ab["a"], ab["ab"]], out, on_conflict="last", force=True)
    assert values_of(out) == {"a": 1.0, "b": 1.0}
    bad_option(lambda: tfckpt.merge([ab["a"], ab["b"]], out, on_conflict="sometimes",
                                    force=True), "on_conflict")


def test_max_shard_size_is_for_sharded_keras_weights_only(ab, tmp_path, cli_or_none):
    out = str(tmp_path / "o" / "model")
    for call in (lambda: tfckpt.merge([ab["a"]], out, max_shard_size="1KB"),
                 lambda: tfckpt.edit(ab["a"], out, max_shard_size=1024),
                 lambda: tfckpt.average([ab["a"], ab["a"]], out, max_shard_size="1KB")):
        msg = raises_error(call, "`max_shard_size`", "sharded Keras weights", out)
    assert not os.path.exists(tmp_path / "o"), all_files(tmp_path / "o")
    bad = raises_error(lambda: tfckpt.merge([ab["a"]], out, max_shard_size="lots"), "lots")
    if cli_or_none is not None:
        err = cli_or_none.run("merge", ab["a"], "-o", out, "--max-shard-size", "1KB",
                              expect_rc=2).err.strip()
        assert msg.replace("`max_shard_size`", "--max-shard-size").strip() == \
            err[len("tfckpt: error: "):], (msg, err)
    assert bad and not os.path.exists(tmp_path / "o")


def test_merge_force(ab, tmp_path):
    out = str(tmp_path / "o" / "model")
    tfckpt.merge([ab["a"]], out)
    raises_error(lambda: tfckpt.merge([ab["a"], ab["b"]], out), out)
    assert values_of(out) == {"a": 3.0}
    tfckpt.merge([ab["a"], ab["b"]], out, force=True)
    assert values_of(out) == {"a": 3.0, "b": 4.0}


def test_merge_link_modes(ab, tmp_path):
    out = str(tmp_path / "h" / "model")
    r = tfckpt.merge([ab["a"], ab["b"]], out, link="hardlink")
    assert r["data"]["files_linked"] == 2, r["data"]
    for f in bundle_files(out):
        if ".data-" in f:
            assert os.stat(f).st_nlink >= 2, f
    assert values_of(out) == {"a": 3.0, "b": 4.0}
    out = str(tmp_path / "c" / "model")
    r = tfckpt.merge([ab["a"], ab["b"]], out, link="copy")
    assert r["data"]["files_copied"] == 2, r["data"]
    assert values_of(out) == {"a": 3.0, "b": 4.0}
    bad_option(lambda: tfckpt.merge([ab["a"], ab["b"]], str(tmp_path / "x" / "m"),
                                    link="teleport"), "link")
    assert not os.path.exists(tmp_path / "x"), all_files(tmp_path / "x")


def test_merge_move(ab, tmp_path):
    out = str(tmp_path / "moved" / "model")
    r = tfckpt.merge([ab["a"], ab["b"]], out, move=True)
    assert r["data"]["files_moved"] == 2, r["data"]
    assert values_of(out) == {"a": 3.0, "b": 4.0}
    assert bundle_files(ab["a"]) == [] and bundle_files(ab["b"]) == []


def test_merge_partitioned_and_many(ex, tmp_path):
    out = str(tmp_path / "big" / "model")
    r = tfckpt.merge([str(ex / "mixed" / "mixed"), str(ex / "bert_like" / "model.ckpt-1000"),
                      str(ex / "models" / "a" / "model-a")], out, on_conflict="last")
    c = tfckpt.open(out)
    assert "a" in c and "emb" in c and "bert/embeddings/word_embeddings" in c
    assert_same(c["emb"], MIXED_VALUES["emb"])
    assert_same(c["global_step"], np.array(1000, np.int64))  # last wins
    assert r["totals"]["tensors"] == len(c)


# ---------------------------------------------------------------------------------------------
# transfer
# ---------------------------------------------------------------------------------------------

def test_transfer_classic(ab, tmp_path, cli_or_none):
    out = str(tmp_path / "t" / "model")
    r = tfckpt.transfer([(ab["a"], {"a": "a"}), (ab["b"], {"b": "b"})], out, into=ab["ab"])
    assert r["operation"] == "transfer" and r["totals"] == {"tensors": 2, "bytes": 8}
    assert values_of(out) == {"a": 3.0, "b": 4.0}
    assert values_of(ab["ab"]) == {"a": 1.0, "b": 1.0}
    if cli_or_none is not None:
        out2 = str(tmp_path / "t2" / "model")
        want = cli_or_none.json("transfer", "--into", ab["ab"], "--from", ab["a"], "--map",
                                "a=a", "--from", ab["b"], "--map", "b=b", "-o", out2, "--json")
        assert {k: v for k, v in r.items() if k != "output"} == \
            {k: v for k, v in want.items() if k != "output"}


def test_transfer_partial_and_without_into(ab, tmp_path):
    out = str(tmp_path / "t" / "model")
    tfckpt.transfer([(ab["b"], {"b": "b"})], out, into=ab["ab"])
    assert values_of(out) == {"a": 1.0, "b": 4.0}
    out = str(tmp_path / "only" / "model")
    tfckpt.transfer([(ab["a"], {"a": "x"}), (ab["b"], {"b": "y"})], out)
    assert values_of(out) == {"x": 3.0, "y": 4.0}


def test_transfer_dry_run_and_force(ab, tmp_path):
    out = str(tmp_path / "t" / "model")
    r = tfckpt.transfer([(ab["a"], {"a": "a"})], out, into=ab["ab"], dry_run=True)
    assert r["dry_run"] is True
    assert not os.path.exists(tmp_path / "t"), all_files(tmp_path / "t")
    tfckpt.transfer([(ab["a"], {"a": "a"})], out, into=ab["ab"])
    raises_error(lambda: tfckpt.transfer([(ab["b"], {"b": "b"})], out, into=ab["ab"]), out)
    tfckpt.transfer([(ab["b"], {"b": "b"})], out, into=ab["ab"], force=True)
    assert values_of(out) == {"a": 1.0, "b": 4.0}


def _scoped_sources(tmp_path):
    src = str(tmp_path / "src" / "ckpt")
    tfckpt.save(src, {
        "enc/w": np.arange(3, dtype=np.float32) + 10,
        "enc/inner/b": np.array(1.5, np.float32),
        "w": np.arange(3, dtype=np.float32) - 10,
        "inner/b": np.array(-1.5, np.float32),
        "x2": np.array([7.0, 8.0], np.float32),
        "ids": np.array([1, 2, 3], np.int64),
    })
    model = str(tmp_path / "model" / "ckpt")
    tfckpt.save(model, {
        "model/enc/w": np.zeros(3, np.float32),
        "model/enc/inner/b": np.array(0.0, np.float32),
        "ids": np.zeros(3, np.int32),
        "keep": np.array([5.0], np.float32),
    })
    return src, model


def test_transfer_scopes(tmp_path):
    src, model = _scoped_sources(tmp_path)
    out = str(tmp_path / "o1" / "ckpt")
    tfckpt.transfer([(src, {"enc/": "model/enc/"})], out, into=model)
    got = values_of(out)
    assert got["model/enc/w"] == [10.0, 11.0, 12.0] and got["model/enc/inner/b"] == 1.5
    assert got["keep"] == [5.0] and got["ids"] == [0, 0, 0]
    out = str(tmp_path / "o2" / "ckpt")
    tfckpt.transfer([(src, {"/": "model/enc/"})], out, into=model)
    got = values_of(out)
    assert got["model/enc/w"] == [-10.0, -9.0, -8.0] and got["model/enc/inner/b"] == -1.5


def test_transfer_errors(tmp_path):
    src, model = _scoped_sources(tmp_path)
    out = str(tmp_path / "o" / "ckpt")
    raises_error(lambda: tfckpt.transfer([(src, {"nope/missing": "keep"})], out, into=model),
                 "nope/missing")
    raises_error(lambda: tfckpt.transfer([(src, {"x2": "keep"})], out, into=model), "x2", "keep")
    raises_error(lambda: tfckpt.transfer([(src, {"ids": "ids"})], out, into=model), "ids")
    raises_error(lambda: tfckpt.transfer([(src, {"x2": "model/"})], out, into=model), "scope")
    # all problems at once, before anything is written
    msg = raises_error(lambda: tfckpt.transfer(
        [(src, {"nope/missing": "keep"}), (src, {"ids": "ids"})], out, into=model),
        "nope/missing", "ids")
    assert msg
    assert not os.path.exists(tmp_path / "o"), all_files(tmp_path / "o")


# ---------------------------------------------------------------------------------------------
# edit
# ---------------------------------------------------------------------------------------------

def test_edit_strip_optimizer_tf2(ex, tmp_path, cli_or_none):
    out = str(tmp_path / "e" / "ckpt")
    src = str(ex / "tf2")
    r = tfckpt.edit(src, out, strip_optimizer=True)
    assert r["operation"] == "edit"
    c, s = tfckpt.open(out), tfckpt.open(src)
    assert c.names() == TF2_KEPT
    for n in TF2_WEIGHTS + [COUNTER]:
        assert_same(c[n], s[n], n)
    if cli_or_none is not None:
        out2 = str(tmp_path / "e2" / "ckpt")
        want = cli_or_none.json("edit", src, "-o", out2, "--strip-optimizer", "--json")
        assert {k: v for k, v in r.items() if k != "output"} == \
            {k: v for k, v in want.items() if k != "output"}


@pytest.mark.parametrize("form", ["dict", "list"])
def test_edit_rename_keep_drop(ex, tmp_path, form):
    src = str(ex / "mixed" / "mixed")
    rename = {"matrix": "m2", "scalar": "s/scalar"}
    if form == "list":
        rename = list(rename.items())
    out = str(tmp_path / "e" / "ckpt")
    tfckpt.edit(src, out, rename=rename, drop=["^emb$", "^words"])
    c = tfckpt.open(out)
    assert c.names() == byte_order(["brain", "empty", "flags", "global_step", "half", "m2",
                                    "s/scalar"])
    assert_same(c["m2"], MIXED_VALUES["matrix"])
    assert_same(c["s/scalar"], MIXED_VALUES["scalar"])
    out = str(tmp_path / "k" / "ckpt")
    tfckpt.edit(src, out, keep=["^(emb|words)$"])
    c = tfckpt.open(out)
    assert c.names() == ["emb", "words"]
    assert_same(c["emb"], MIXED_VALUES["emb"])
    assert_same(c["words"], MIXED_VALUES["words"])


def test_edit_scope_rename_and_dry_run(ex, tmp_path):
    src = str(ex / "bert_like")
    out = str(tmp_path / "e" / "ckpt")
    r = tfckpt.edit(src, out, rename={"bert/": "encoder/"}, strip_optimizer=True, dry_run=True)
    assert r["dry_run"] is True
    assert not os.path.exists(tmp_path / "e"), all_files(tmp_path / "e")
    tfckpt.edit(src, out, rename={"bert/": "encoder/"}, strip_optimizer=True)
    want = bert_like_values()
    c = tfckpt.open(out)
    expect = {("encoder/" + n[5:] if n.startswith("bert/") else n): v
              for n, v in want.items() if not n.endswith(("/adam_m", "/adam_v"))}
    assert c.names() == byte_order(expect)
    for n, v in expect.items():
        assert_same(c[n], v, n)


def test_edit_errors(ex, tmp_path):
    src = str(ex / "mixed" / "mixed")
    out = str(tmp_path / "e" / "ckpt")
    raises_error(lambda: tfckpt.edit(src, out, drop=["(unclosed"]), "(unclosed")
    raises_error(lambda: tfckpt.edit(src, out, rename={"matrix": "half"}), "half")
    tfckpt.edit(src, out)
    raises_error(lambda: tfckpt.edit(src, out), out)
    tfckpt.edit(src, out, drop=["^words$"], force=True)
    assert "words" not in tfckpt.open(out)


# ---------------------------------------------------------------------------------------------
# average
# ---------------------------------------------------------------------------------------------

def _tf2_steps(ex):
    return [str(ex / "tf2" / "ckpt-1"), str(ex / "tf2" / "ckpt-2")]


def test_average_tf2_steps(ex, tmp_path, cli_or_none):
    srcs = _tf2_steps(ex)
    out = str(tmp_path / "avg" / "ckpt")
    r = tfckpt.average(srcs, out)
    assert r["operation"] == "average"
    c = tfckpt.open(out)
    assert c.names() == TF2_KEPT
    ins = [tfckpt.open(s) for s in srcs]
    for n in TF2_WEIGHTS:
        want = ((ins[0][n].astype(np.float64) + ins[1][n].astype(np.float64)) / 2).astype(
            np.float32)
        assert_same(c[n], want, n)
    assert_same(c[COUNTER], np.array(2, np.int64))  # from the newest input
    if cli_or_none is not None:
        out2 = str(tmp_path / "avg2" / "ckpt")
        want = cli_or_none.json("average", *srcs, "-o", out2, "--json")
        assert {k: v for k, v in r.items() if k not in ("output", "notes")} == \
            {k: v for k, v in want.items() if k not in ("output", "notes")}
        # the same notes, each naming the option in its own terms
        assert "6 optimizer tensor(s) dropped (keep them with `keep_optimizer`)" in r["notes"]
        assert [n.replace("`keep_optimizer`", "--keep-optimizer") for n in r["notes"]] == \
            want["notes"]


def test_average_options(ex, tmp_path):
    srcs = _tf2_steps(ex)
    ins = [tfckpt.open(s) for s in srcs]
    out = str(tmp_path / "w" / "ckpt")
    tfckpt.average(srcs, out, weights=[1, 3], take_nonfloat_from=0)
    c = tfckpt.open(out)
    for n in TF2_WEIGHTS:
        want = ((1 * ins[0][n].astype(np.float64) + 3 * ins[1][n].astype(np.float64)) / 4
                ).astype(np.float32)
        assert_same(c[n], want, n)
    assert_same(c[COUNTER], np.array(1, np.int64))
    out = str(tmp_path / "nn" / "ckpt")
    tfckpt.average(srcs, out, weights=[0.25, 0.5], normalize=False)
    c = tfckpt.open(out)
    for n in TF2_WEIGHTS:
        want = (0.25 * ins[0][n].astype(np.float64) + 0.5 * ins[1][n].astype(np.float64)
                ).astype(np.float32)
        assert_same(c[n], want, n)
    out = str(tmp_path / "ko" / "ckpt")
    tfckpt.average(srcs, out, keep_optimizer=True)
    c = tfckpt.open(out)
    assert c.names() == TF2_NAMES
    slot = "model/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE"
    want = ((ins[0][slot].astype(np.float64) + ins[1][slot].astype(np.float64)) / 2).astype(
        np.float32)
    assert_same(c[slot], want)


def test_average_dtypes_and_dry_run(tmp_path):
    rng = np.random.default_rng(7)
    srcs = []
    arrays = []
    for i in range(3):
        vals = {"f16": rng.standard_normal(50).astype(np.float16),
                "f64": rng.standard_normal((4, 5)),
                "c64": (rng.standard_normal(6) + 1j * rng.standard_normal(6)).astype(np.complex64),
                "step": np.array(100 + i, np.int64),
                "tags": np.array([b"run%d" % i], dtype=object)}
        if ml_dtypes is not None:
            vals["bf16"] = rng.standard_normal(33).astype(ml_dtypes.bfloat16)
        p = str(tmp_path / ("s%d" % i) / "ckpt")
        tfckpt.save(p, vals)
        srcs.append(p)
        arrays.append(vals)
    out = str(tmp_path / "avg" / "ckpt")
    r = tfckpt.average(srcs, out, dry_run=True)
    assert r["dry_run"] is True
    assert not os.path.exists(tmp_path / "avg"), all_files(tmp_path / "avg")
    tfckpt.average(srcs, out)
    c = tfckpt.open(out)
    for n in ("f16", "f64", "bf16"):
        if n not in arrays[0]:
            continue
        want = (sum(a[n].astype(np.float64) for a in arrays) / 3).astype(arrays[0][n].dtype)
        assert_same(c[n], want, n)
    want = (sum(a["c64"].astype(np.complex128) for a in arrays) / 3).astype(np.complex64)
    assert_same(c["c64"], want)
    assert_same(c["step"], np.array(102, np.int64))
    assert c["tags"].tolist() == [b"run2"]


def test_average_errors(ex, tmp_path):
    out = str(tmp_path / "x" / "ckpt")
    a, mixed = str(ex / "models/a/model-a"), str(ex / "mixed/mixed")
    raises_error(lambda: tfckpt.average([a, mixed], out), "matrix")
    srcs = _tf2_steps(ex)
    raises_error(lambda: tfckpt.average(srcs, out, weights=[1.0]))
    assert not os.path.exists(tmp_path / "x"), all_files(tmp_path / "x")


# ---------------------------------------------------------------------------------------------
# transfer's arguments: the sources first, the output second, as every other operation
# ---------------------------------------------------------------------------------------------

def test_transfer_source_forms(ab, tmp_path):
    """A list of (checkpoint, map) pairs, a dict {checkpoint: map}, a bare checkpoint (every
    tensor of `into` it has, by name), maps as dicts or lists of pairs, path-like paths."""
    want = {"a": 3.0, "b": 4.0}
    forms = {
        "pairs": [(ab["a"], {"a": "a"}), (ab["b"], {"b": "b"})],
        "dict": {ab["a"]: {"a": "a"}, ab["b"]: [("b", "b")]},
        "bare": [ab["a"], (ab["b"], None)],
        "pathlike": [(pathlib.Path(ab["a"]), {"a": "a"}), pathlib.Path(ab["b"])],
    }
    for form, sources in forms.items():
        out = tmp_path / form / "model"
        r = tfckpt.transfer(sources, out, into=pathlib.Path(ab["ab"]))
        assert r["operation"] == "transfer", form
        assert values_of(str(out)) == want, form


def test_transfer_old_argument_order_is_refused(ab, tmp_path):
    out = str(tmp_path / "t" / "model")
    sources = [(ab["a"], {"a": "a"})]
    for old in (lambda: tfckpt.transfer(out, sources, into=ab["ab"]),
                lambda: tfckpt.transfer(out, {ab["a"]: {"a": "a"}}),
                lambda: tfckpt.transfer(pathlib.Path(out), sources)):
        with pytest.raises(TypeError) as info:
            old()
        msg = str(info.value)
        assert "sources first" in msg and "order changed" in msg, msg
        assert "tfckpt.transfer([" in msg or "tfckpt.transfer({" in msg, msg
        assert msg.index(ab["a"]) < msg.index(out), msg  # the new call: sources, then output
    with pytest.raises(TypeError) as info:
        tfckpt.transfer(out, sources, into=ab["ab"])
    assert ("tfckpt.transfer([(%r, {'a': 'a'})], %r, into=%r)" % (ab["a"], out, ab["ab"])
            in str(info.value)), str(info.value)
    assert not (tmp_path / "t").exists()
    # what is not a list of sources or not an output is a TypeError too, never a guess
    for bad, needle in ((lambda: tfckpt.transfer(ab["a"], out), "not one path"),
                        (lambda: tfckpt.transfer([(ab["a"], {"a": "a"}, "x")], out), "pair"),
                        (lambda: tfckpt.transfer([(3, {"a": "a"})], out), "is a path"),
                        (lambda: tfckpt.transfer(sources, None), "output")):
        with pytest.raises(TypeError) as info:
            bad()
        assert needle in str(info.value), str(info.value)
    assert not (tmp_path / "t").exists()
