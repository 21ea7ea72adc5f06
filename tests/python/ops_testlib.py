"""Helpers of the merge / transfer / edit oracle tests: fingerprints of input files, copies of
bundles, TF1 graph saves and restores, and whole-checkpoint comparisons judged by TensorFlow."""

import hashlib
import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf

import index_reader
import tfckpt_testlib as lib

# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def bundle_files(prefix):
    """The index and every data file of a bundle that exist on disk."""
    files = lib.data_files(prefix)
    if os.path.exists(prefix + ".index"):
        files.append(prefix + ".index")
    return sorted(files)


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def snapshot(*paths):
    """{file: sha256} of every file of each path: a directory (recursively) or a bundle prefix."""
    out = {}
    for path in paths:
        path = str(path)
        if os.path.isdir(path):
            for root, _, names in os.walk(path):
                for n in names:
                    full = os.path.join(root, n)
                    out[full] = _sha256(full)
        else:
            files = bundle_files(path)
            assert files, "no files for %s" % path
            for f in files:
                out[f] = _sha256(f)
    return out


def assert_unchanged(before, *paths):
    after = snapshot(*paths)
    assert after == before, "inputs changed: %r" % sorted(
        set(before.items()) ^ set(after.items()))


def copy_bundle(prefix, directory, name=None):
    """Copies a bundle's files into `directory`; returns the new prefix."""
    os.makedirs(directory, exist_ok=True)
    base = os.path.basename(prefix)
    new = os.path.join(str(directory), name or base)
    for f in bundle_files(prefix):
        shutil.copy2(f, new + f[len(prefix):])
    return new


def dir_entries(directory):
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


# ---------------------------------------------------------------------------------------------
# Reading with TensorFlow
# ---------------------------------------------------------------------------------------------


def tf_values(prefix):
    """{name: (dtype name, shape list, numpy value)} as tf.train.load_checkpoint reads them."""
    return lib.tf_read_all(str(prefix))


def assert_array_identical(got, want, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, "%s: dtype %s vs %s" % (what, got.dtype, want.dtype)
    assert got.shape == want.shape, "%s: shape %s vs %s" % (what, got.shape, want.shape)
    if got.dtype.kind in "fc":
        # bit-exact, NaN- and signed-zero-aware
        assert got.tobytes() == want.tobytes(), "%s:\ngot  %r\nwant %r" % (what, got, want)
    else:
        assert got.tolist() == want.tolist(), "%s:\ngot  %r\nwant %r" % (what, got, want)


def assert_same_tensors(got, want, names=None):
    """Compares two {name: (dtype, shape, value)} maps (from tf_values) exactly."""
    if names is None:
        assert sorted(got) == sorted(want), "names: only got %r, only want %r" % (
            sorted(set(got) - set(want)), sorted(set(want) - set(got)))
        names = want
    for n in names:
        gd, gs, gv = got[n]
        wd, ws, wv = want[n]
        assert (gd, gs) == (wd, ws), "%s: %s%s vs %s%s" % (n, gd, gs, wd, ws)
        if wd == "variant":
            continue
        assert_array_identical(gv, wv, n)


def assert_same_checkpoint(got_prefix, want_prefix):
    assert_same_tensors(tf_values(got_prefix), tf_values(want_prefix))


def header_num_shards(prefix):
    header, _ = index_reader.read_index(str(prefix) + ".index")
    return header.num_shards


def assert_shards_consistent(tfckpt, prefix):
    """`tfckpt ls --json` num_shards == the header's == the number of data files on disk."""
    listing = tfckpt.json("ls", prefix, "--json")
    files = lib.data_files(str(prefix))
    assert listing["num_shards"] == header_num_shards(prefix) == len(files), (
        listing["num_shards"], header_num_shards(prefix), files)
    return listing


# ---------------------------------------------------------------------------------------------
# TF1 graphs
# ---------------------------------------------------------------------------------------------


def tf1_save(prefix, build, sharded=False, before_save=None):
    """Builds a graph with build(), initialises it and saves it with a TF1 Saver."""
    graph = tf.Graph()
    with graph.as_default():
        built = build()
        saver = tf.compat.v1.train.Saver(sharded=sharded)
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            if before_save is not None:
                before_save(sess, built)
            return saver.save(sess, str(prefix), write_meta_graph=False)


def _full_value(sess, var):
    if isinstance(var, (list, tuple)) or hasattr(var, "_get_variable_list"):
        parts = list(var)
        values = sess.run(parts)
        axis = 0
        # the partitioned axis is the one whose offsets vary
        offsets = [p._save_slice_info.var_offset for p in parts]
        for i in range(len(offsets[0])):
            if len({o[i] for o in offsets}) > 1:
                axis = i
        order = sorted(range(len(parts)), key=lambda k: offsets[k][axis])
        return np.concatenate([values[k] for k in order], axis=axis)
    return sess.run(var)


def tf1_restore(prefix, build):
    """Builds a graph with build() -> {name: variable or PartitionedVariable}, restores it from
    `prefix` with a TF1 Saver and returns {name: full numpy value}."""
    graph = tf.Graph()
    with graph.as_default():
        variables = build()
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session(graph=graph) as sess:
            saver.restore(sess, str(prefix))
            return {n: _full_value(sess, v) for n, v in variables.items()}


def block_initializer(full):
    """An initializer giving each partition its block of the numpy array `full`."""
    def init(shape, dtype=None, partition_info=None):
        if partition_info is None:
            return tf.constant(full, dtype=dtype)
        index = tuple(slice(o, o + s) for o, s in zip(partition_info.var_offset, shape))
        return tf.constant(full[index], dtype=dtype)
    return init


def make_value(name, shape, dtype, seed):
    """A deterministic value, different for each (name, seed)."""
    n = lib.num_elements(shape)
    salt = sum(name.encode()) % 97
    base = np.arange(n, dtype=np.float64) * 0.25 + seed * 100.0 + salt - 7.5
    if np.dtype(dtype).kind in "iu":
        base = np.arange(n, dtype=np.int64) * 3 + seed * 1000 + salt
    return base.astype(dtype).reshape(shape)


def get_variables(spec, seed, scope=""):
    """Creates get_variable()s from spec {name: (shape, numpy dtype, partitions or None)};
    returns {full name: variable or PartitionedVariable} and the values used."""
    out, values = {}, {}
    for name, (shape, dtype, parts) in spec.items():
        full_name = scope + name
        value = make_value(full_name, shape, dtype, seed)
        values[full_name] = value
        out[full_name] = tf.compat.v1.get_variable(
            full_name, shape=shape, dtype=tf.as_dtype(dtype),
            initializer=block_initializer(value),
            partitioner=tf.compat.v1.fixed_size_partitioner(parts) if parts else None)
    return out, values


def regex_filter(names, keep=(), drop=()):
    """--keep then --drop, with re.search."""
    out = [n for n in names if not keep or any(re.search(k, n) for k in keep)]
    return [n for n in out if not any(re.search(d, n) for d in drop)]


def renamer(rules):
    """OLD=NEW rules in the assignment map's forms ('scope/', '/', or a name), as `tfckpt edit`
    documents them for name-based checkpoints: the first matching rule applies."""
    def rename(name):
        for old, new in rules:
            if old == "/":
                rest = name
            elif old.endswith("/"):
                if not name.startswith(old):
                    continue
                rest = name[len(old):]
            elif name == old:
                return new
            else:
                continue
            return rest if new == "/" else new + rest
        return name
    return rename


# What init_from_checkpoint's errors name, in TensorFlow's words.
TF_ERROR_PATTERNS = [
    r"Tensor (\S+) \(\S+ in \S+\) is not found",
    r"Tensor (\S+) is not found",
    r"scope only name (\S*) should map to scope only (\S+)\. ",
    r"Shape of variable (\S+?)(?::0)? \(.*?\) doesn't match with shape of tensor (\S+) \(",
    r"tensor_name = (\S+?);",
]


def tf_error_names(run_oracle):
    """Runs the TensorFlow oracle, which must fail; returns (the names its message gives, the
    message)."""
    with pytest.raises((ValueError, tf.errors.OpError)) as info:
        run_oracle()
    message = getattr(info.value, "message", None) or str(info.value)
    for pattern in TF_ERROR_PATTERNS:
        m = re.search(pattern, message)
        if m:
            return [g for g in m.groups() if g], message
    raise AssertionError("unexpected TF error: %s" % message)
