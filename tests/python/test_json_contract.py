"""Every command's `--json` against docs/JSON.md.

Each case runs one command (or one variant of it: dry run or executed, one checkpoint or a
training directory, a damaged input) on checkpoints TensorFlow wrote, checks the document against
the command's schema in docs/JSON.md (tfckpt_testlib.Tool.json does that for every test of the
suite) and checks what it says against TensorFlow. The last tests check the contract itself: that
every command with a --json flag has a schema here, that every schema is exercised, and that the
schemas reject what they must.
"""

import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf

import json_contract
import tfckpt_testlib as lib

# The schema every case below was checked against (filled as the cases run).
_EXERCISED = set()


def _json(tfckpt, *args, expect_rc=0):
    document = tfckpt.json(*args, "--json", expect_rc=expect_rc)
    _EXERCISED.add(json_contract.schema_name(args))
    assert document["schema_version"] == json_contract.SCHEMA_VERSION
    return document


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two checkpoints of the same model (values differ), written by SaveV2."""
    d = tmp_path_factory.mktemp("pair")
    a = lib.save_tensors(str(d / "a"), {"w": np.float32([[1, 2], [3, 4]]),
                                        "b": np.float64([0.5, np.nan]),
                                        "s": np.array([b"x", b"\xff"]),
                                        "step": np.int64(7)})
    b = lib.save_tensors(str(d / "b"), {"w": np.float32([[1, 2], [3, 5]]),
                                        "b": np.float64([0.5, np.nan]),
                                        "s": np.array([b"x", b"\xff"]),
                                        "step": np.int64(8)})
    return a, b


def _damaged_copy(prefix, to):
    """A copy of the checkpoint with the first byte of its data file flipped."""
    for suffix in (".index", ".data-00000-of-00001"):
        shutil.copy(prefix + suffix, to + suffix)
    with open(to + ".data-00000-of-00001", "r+b") as f:
        byte = f.read(1)
        f.seek(0)
        f.write(bytes([byte[0] ^ 0xFF]))
    return to


def _tf_unreadable(prefix):
    """The tensors TensorFlow's reader refuses."""
    reader = tf.train.load_checkpoint(prefix)
    unreadable = set()
    for name in reader.get_variable_to_shape_map():
        try:
            reader.get_tensor(name)
        except (tf.errors.OpError, RuntimeError):
            unreadable.add(name)
    return unreadable


def _tf_shapes(prefix):
    reader = tf.train.load_checkpoint(prefix)
    dtypes = reader.get_variable_to_dtype_map()
    return {n: (dtypes[n].name, list(s)) for n, s in reader.get_variable_to_shape_map().items()}


def test_ls(tfckpt, tf1_partitioned, all_dtypes):
    for prefix in (tf1_partitioned, all_dtypes[0]):
        got = _json(tfckpt, "ls", prefix)
        assert got["format"] == "v2"
        want = _tf_shapes(prefix)
        assert {t["name"]: (t["dtype"], t["shape"]) for t in got["tensors"]} == want
        assert got["totals"]["tensors"] == len(want)


def test_ls_v1(tfckpt, repo_root):
    path = str(repo_root / "examples" / "v1" / "model.ckpt")
    got = _json(tfckpt, "ls", path)
    assert got["format"] == "v1"
    assert {t["name"] for t in got["tensors"]} == set(_tf_shapes(path))
    assert all("offset" not in t for t in got["tensors"])


def test_ls_objects(tfckpt, tf2_dir):
    got = _json(tfckpt, "ls", tf2_dir, "--objects")
    keys = {a["key"] for o in got["objects"] for a in o["attributes"]}
    assert keys == set(_tf_shapes(got["prefix"])) - {"_CHECKPOINTABLE_OBJECT_GRAPH"}


def test_show_every_dtype(tfckpt, all_dtypes, variant_ckpt):
    prefix, names = all_dtypes[0], all_dtypes[1]
    want = lib.tf_read_all(prefix)
    got = _json(tfckpt, "show", prefix, *names)
    assert [t["name"] for t in got["tensors"]] == names
    for entry in got["tensors"]:
        lib.assert_values_match(entry, *want[entry["name"]])
    got = _json(tfckpt, "show", variant_ckpt, "list", "lists")
    assert all(isinstance(v, dict) for v in got["tensors"][1]["values"])


def test_show_limit(tfckpt, pair):
    got = _json(tfckpt, "show", pair[0], "w", "--limit", "3")
    assert got["tensors"][0]["truncated"] is True
    assert got["tensors"][0]["values"] == \
        tf.train.load_checkpoint(pair[0]).get_tensor("w").reshape(-1)[:3].tolist()


def test_verify(tfckpt, tmp_path, tf1_plain):
    got = _json(tfckpt, "verify", tf1_plain)
    assert got["ok"] is True and got["checkpoints"][0]["problems"] == []
    damaged = _damaged_copy(tf1_plain, str(tmp_path / "model"))
    got = _json(tfckpt, "verify", tf1_plain, damaged, str(tmp_path / "none"), expect_rc=2)
    assert got["ok"] is False
    ok, bad, missing = got["checkpoints"]
    assert ok["ok"] and not bad["ok"] and bad["problems"] and "error" in missing
    # TF agrees on which tensor is damaged: it refuses to read exactly that one
    assert {p["tensor"] for p in bad["problems"]} == _tf_unreadable(damaged)


def test_stats(tfckpt, pair):
    got = _json(tfckpt, "stats", pair[0], "--bins", "4")
    by_name = {t["name"]: t for t in got["tensors"]}
    w = tf.train.load_checkpoint(pair[0]).get_tensor("w").astype(np.float64)
    assert by_name["w"]["mean"] == w.mean() and by_name["w"]["std"] == w.std()
    assert by_name["w"]["histogram"]["counts"] == np.histogram(w, 4)[0].tolist()
    assert by_name["b"]["nan"] == 1 and got["nonfinite"] == ["b"]
    assert by_name["step"]["min"] == 7 and "min" not in by_name["s"]


def test_stats_all(tfckpt, tf1_steps_dir):
    listed = tf.train.get_checkpoint_state(tf1_steps_dir).all_model_checkpoint_paths
    got = _json(tfckpt, "stats", tf1_steps_dir, "--all")
    assert [c["prefix"] for c in got["checkpoints"]] == list(listed)
    assert got["first_nonfinite"] is None
    # a checkpoint that cannot be described is listed with its error (and the exit code is 2)
    got = _json(tfckpt, "stats", tf1_steps_dir, "--all", "--filter", "^nothing$", expect_rc=2)
    assert [c["prefix"] for c in got["checkpoints"]] == list(listed)
    assert all("--filter" in c["error"] for c in got["checkpoints"])


def test_stats_errors(tfckpt, tmp_path, pair):
    """One checkpoint: nothing on stdout when it cannot be described; a tensor that cannot be
    read has an error in the report (exit 2), as TensorFlow cannot read it either."""
    proc = tfckpt.run("stats", str(tmp_path / "none"), "--json", expect_rc=2)
    assert proc.out == "" and "tfckpt: error: " in proc.err
    proc = tfckpt.run("stats", pair[0], "nosuch", "--json", expect_rc=2)
    assert proc.out == "" and "nosuch" in proc.err
    damaged = _damaged_copy(pair[0], str(tmp_path / "damaged"))
    got = _json(tfckpt, "stats", damaged, expect_rc=2)
    errors = {t["name"] for t in got["tensors"] if "error" in t}
    assert errors == _tf_unreadable(damaged) and errors


def test_diff(tfckpt, pair):
    a, b = pair
    got = _json(tfckpt, "diff", a, b, "--norms", expect_rc=1)
    assert [v["name"] for v in got["values_differ"]] == ["step", "w"]
    wa = tf.train.load_checkpoint(a).get_tensor("w").astype(np.float64)
    wb = tf.train.load_checkpoint(b).get_tensor("w").astype(np.float64)
    norms = {r["name"]: r for r in got["relative_change"]}
    assert norms["w"]["relative"] == pytest.approx(np.linalg.norm(wb - wa) / np.linalg.norm(wa))
    got = _json(tfckpt, "diff", a, b, "--names-only")
    assert got["values_not_compared"] == 4


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "executed"])
def test_commands_that_write(tfckpt, tmp_path, pair, tf1_partitioned, tf2_dir, dry_run):
    a, b = pair
    flags = ["--dry-run"] if dry_run else []
    out = lambda name: str(tmp_path / name)  # noqa: E731
    runs = {
        "merge": ["merge", "x=" + a, tf1_partitioned, "--on-conflict", "first", "-o", out("m")],
        "transfer": ["transfer", "--into", a, "--from", b, "--map", "w=w", "-o", out("t")],
        "edit": ["edit", tf1_partitioned, "--rename", "part/=p/", "-o", out("e")],
        "average": ["average", a, b, "-o", out("avg")],
        "blend": ["blend", "linear", a, b, "-o", out("bl")],
        "convert --to-tf1": ["convert", "--to-tf1", tf2_dir, "-o", out("c1")],
    }
    for label, args in runs.items():
        got = _json(tfckpt, *args, *flags)
        assert got["dry_run"] is dry_run, label
        assert ("data" in got) is not dry_run, label
        if not dry_run:
            prefix = args[args.index("-o") + 1]
            assert {t["name"] for t in got["tensors"]} == set(_tf_shapes(prefix)), label


def test_convert(tfckpt, tmp_path, pair):
    a = pair[0]
    for target in ("x.safetensors", "x.npz"):
        got = _json(tfckpt, "convert", a, str(tmp_path / target), "--skip-unsupported")
        assert got["from"] == "tensorflow" and got["outputs"] == [str(tmp_path / target)]
        # (safetensors has no strings; npz keeps them as bytes)
        assert [s["name"] for s in got["skipped"]] == (["s"] if "safe" in target else [])
    back = str(tmp_path / "back")
    got = _json(tfckpt, "convert", str(tmp_path / "x.npz"), back)
    assert got["to"] == "tensorflow" and got["tensors"] == 4
    reader = tf.train.load_checkpoint(back)
    assert reader.get_tensor("w").tolist() == tf.train.load_checkpoint(a).get_tensor("w").tolist()


def _commands_with_json(tfckpt):
    """The subcommands whose --help offers --json."""
    text = tfckpt.run("--help").out
    commands = re.findall(r"^  (\w+) ", text.split("Subcommands:")[1], flags=re.M)
    assert "ls" in commands and "merge" in commands, text
    return {c for c in commands if "--json" in tfckpt.run(c, "--help").out}


def test_every_command_with_json_has_a_schema_and_a_case(tfckpt):
    with_json = _commands_with_json(tfckpt)
    assert with_json == {"ls", "show", "verify", "stats", "diff", "merge", "transfer", "edit",
                         "average", "blend", "convert"}
    for command in with_json:
        assert json_contract.schema_name([command]) in json_contract.SCHEMAS
    # every command without --json is named as such in docs/JSON.md
    with open(json_contract.DOC, encoding="utf-8") as f:
        without = f.read().split("## Commands without `--json`")[1]
    text = tfckpt.run("--help").out
    for command in set(re.findall(r"^  (\w+) ", text.split("Subcommands:")[1], flags=re.M)):
        if command not in with_json:
            assert "`%s`" % command in without, command


def test_every_schema_is_exercised():
    """Every schema of docs/JSON.md was checked by a case above (run this module whole: the
    cases run first, in file order)."""
    missing = set(json_contract.SCHEMAS) - {"common"} - _EXERCISED
    assert not missing, "no case of this module checked the schema(s) %s (was the module run " \
        "whole?)" % sorted(missing)


def test_schema_version_is_the_one_the_library_prints(repo_root):
    with open(repo_root / "include" / "tfckpt" / "version.h.in") as f:
        version = int(re.search(r"#define TFCKPT_JSON_SCHEMA_VERSION (\d+)", f.read()).group(1))
    assert version == json_contract.SCHEMA_VERSION
    assert json_contract.SCHEMAS["common"]["$defs"]["schema_version"] == {"const": version}


def test_the_schemas_reject_what_they_must(tfckpt, pair):
    """The contract can fail: an unknown field, a missing one, a wrong type, another version."""
    good = tfckpt.json("ls", pair[0], "--json")
    bad = [dict(good, extra=1), {k: v for k, v in good.items() if k != "totals"},
           dict(good, num_shards="1"), dict(good, schema_version=2),
           {k: v for k, v in good.items() if k != "schema_version"},
           dict(good, tensors=[dict(good["tensors"][0], shape=[-1])])]
    for document in bad:
        with pytest.raises(AssertionError, match="schema"):
            json_contract.check(["ls"], document)
    plan = tfckpt.json("merge", pair[0], "-o", "/nonexistent/out", "--dry-run", "--json")
    with pytest.raises(AssertionError, match="schema"):
        json_contract.check(["merge"], dict(plan, data={"bytes_written": 0}))
