"""Incomplete bundles: an index whose data files are not all there (a copy or a download in
progress). TensorFlow lists such a checkpoint and reads the tensors of the files present; tfckpt
does the same, warns once naming the missing file, and refuses every read of a missing value,
`verify` and every write, naming the file and writing nothing."""

import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf

import index_reader
import tfckpt_testlib as lib

import tfckpt as tfckpt_py  # the Python package (the `tfckpt` fixture is the command line)


@pytest.fixture
def incomplete(tf1_sharded, tmp_path):
    """A copy of TF's two-shard checkpoint without its second data file: (prefix, missing path,
    the names whose entries point into the missing file)."""
    src_dir, base = os.path.split(tf1_sharded)
    for f in os.listdir(src_dir):
        if f.startswith(base + "."):
            shutil.copy(os.path.join(src_dir, f), tmp_path / f)
    prefix = str(tmp_path / base)
    files = lib.data_files(prefix)
    assert len(files) == 2, files
    missing = files[1]
    os.remove(missing)
    _, entries = index_reader.read_index(prefix + ".index")
    in_missing = {k.decode() for k, e in entries.items() if e.shard_id == 1}
    assert in_missing and len(in_missing) < len(entries), entries
    return prefix, missing, in_missing


def _tf_reads(prefix):
    """{name: value, or None where TensorFlow's reader fails} and TF's shape map."""
    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    values = {}
    for name in shapes:
        try:
            values[name] = reader.get_tensor(name)
        except (tf.errors.OpError, ValueError):
            values[name] = None
    return values, shapes


def test_lists_and_reads_what_tensorflow_reads(tfckpt, incomplete, tf1_sharded):
    prefix, missing, in_missing = incomplete
    tf_values, tf_shapes = _tf_reads(prefix)
    # TF lists every tensor and reads exactly those outside the missing file
    assert {n for n, v in tf_values.items() if v is None} == in_missing, tf_values
    proc = tfckpt.run("ls", prefix, "--json")
    listing = lib.checked_json(["ls", "--json"], proc.out)
    assert {t["name"]: t["shape"] for t in listing["tensors"]} == \
        {n: list(s) for n, s in tf_shapes.items()}
    assert listing["missing_data_files"] == [missing], listing
    assert proc.err.count("warning") == 1 and os.path.basename(missing) in proc.err, proc.err
    # the same listing, but for the missing file, as the complete checkpoint's
    full = tfckpt.json("ls", tf1_sharded, "--json")
    assert listing["tensors"] == full["tensors"] and listing["totals"] == full["totals"]
    for name, want in tf_values.items():
        if want is None:
            proc = tfckpt.run("show", prefix, name, expect_rc=2)
            assert "'%s'" % name in proc.err and missing in proc.err, proc.err
        else:
            shown = tfckpt.json("show", prefix, name, "--json")["tensors"]
            dtype, shape, _ = lib.tf_read_all(tf1_sharded)[name]
            lib.assert_values_match(shown[0], dtype, shape, want)


def test_verify_and_writes_refuse_naming_the_file(tfckpt, incomplete, tmp_path):
    prefix, missing, in_missing = incomplete
    proc = tfckpt.run("verify", prefix, expect_rc=1)
    assert missing in proc.out + proc.err and "missing" in proc.out + proc.err, proc.where
    out = tmp_path / "out"
    some = sorted(in_missing)[0]
    for args in (["merge", prefix], ["edit", prefix, "--drop", "nothing_matches_this"],
                 ["transfer", "--from", prefix, "--map", "/=/"],
                 ["average", prefix],
                 ["convert", prefix, "-o", str(out / "x.safetensors")]):
        if args[0] != "convert":
            args = args + ["-o", str(out / "model")]
        proc = tfckpt.run(*args, expect_rc=2)
        assert missing in proc.err and "nothing was written" in proc.err, proc.where
        assert not out.exists() or os.listdir(out) == [], os.listdir(out)
    # a dry run shows the plan and says what it cannot do
    proc = tfckpt.run("transfer", "--from", prefix, "--map", "/=/", "-o", str(out / "model"),
                      "--dry-run")
    assert some in proc.out and missing in proc.out and "not carried out" in proc.out, proc.where
    assert not out.exists() or os.listdir(out) == []


def test_diff_names_only(tfckpt, incomplete, tf1_sharded):
    prefix, missing, in_missing = incomplete
    n = len(tfckpt.json("ls", tf1_sharded, "--json")["tensors"])
    r = tfckpt.json("diff", prefix, tf1_sharded, "--names-only", "--json")
    assert r["values_not_compared"] == n and r["identical"] == 0 and r["values_differ"] == [], r
    # comparing values needs them: it fails, naming the file, rather than say "same"
    proc = tfckpt.run("diff", prefix, tf1_sharded, expect_rc=2)
    assert missing in proc.err, proc.where


def test_python_warns_and_reads_what_tensorflow_reads(incomplete):
    prefix, missing, in_missing = incomplete
    tf_values, _ = _tf_reads(prefix)
    with pytest.warns(UserWarning, match="incomplete") as caught:
        c = tfckpt_py.open(prefix)
    assert missing in str(caught[0].message)
    assert c.missing_data_files == [missing]
    for name, want in tf_values.items():
        if want is None:
            with pytest.raises(tfckpt_py.NotFoundError, match=re.escape(missing)):
                c[name]
        elif want.dtype == object:
            assert c[name].tolist() == want.tolist(), name
        else:
            np.testing.assert_array_equal(c[name], want)
    r = tfckpt_py.diff(prefix, prefix, names_only=True)
    assert r["same"] and r["values_not_compared"] == len(tf_values), r
