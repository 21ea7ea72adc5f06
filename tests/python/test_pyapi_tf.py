"""The tfckpt Python package judged by TensorFlow: arrays read by tfckpt.open equal what
tf.train.load_checkpoint reads and fail (DataLossError) where it fails, checkpoints written by
tfckpt.save from arrays of any layout restore in TensorFlow as the arrays' values, and
tfckpt.init_from_checkpoint fills numpy arrays and eager tf.Variables with the values TensorFlow's
own tf.compat.v1.train.init_from_checkpoint gives in a TF1 graph (TF2 sources by key or by full
name)."""

import os
import subprocess
import sys
import textwrap

import ml_dtypes
import numpy as np
import pytest
import tensorflow as tf

import index_reader
import ops_testlib as ops
import tfckpt_testlib as lib

import tfckpt  # the Python package (not the `tfckpt` fixture, which is the command line)

F32, F64, I64 = np.float32, np.float64, np.int64

DTYPE_NAMES = [n for n in lib.all_tf_dtype_names()
               if n not in lib.NOT_STORABLE and n != "variant"]

# ---------------------------------------------------------------------------------------------
# tfckpt must work in a process that imported TensorFlow first (as this suite's conftest does)
# ---------------------------------------------------------------------------------------------

_AFTER_TF = textwrap.dedent("""
    import sys
    import tensorflow as tf  # first, as a TF user's program would
    import tfckpt
    c = tfckpt.open(sys.argv[1])
    print(c.names(), c["matrix"].tolist())
    tfckpt.save(sys.argv[2], {"x": c["matrix"]})
    print(tfckpt.open(sys.argv[2])["x"].tolist())
    """)


def _package_env():
    env = dict(os.environ)
    path = os.path.abspath(tfckpt.__file__)
    if os.path.basename(path).startswith("__init__."):
        path = os.path.dirname(path)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(path)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


def _run_after_tf(repo_root, tmp_dir):
    proc = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", _AFTER_TF,
         str(repo_root / "examples" / "mixed" / "mixed"), os.path.join(str(tmp_dir), "x")],
        capture_output=True, timeout=300, env=_package_env())
    err = proc.stderr.decode("utf-8", "replace")
    err = "\n".join(line for line in err.splitlines()
                    if not line.startswith("Extension modules:")
                    and "site-packages/_pytest" not in line)
    return proc, err[-3000:]


def _imported_before_tf():
    mods = list(sys.modules)
    ours = [i for i, m in enumerate(mods) if m == "tfckpt" or m.startswith("tfckpt.")]
    return bool(ours) and "tensorflow" in mods and min(ours) < mods.index("tensorflow")


def test_works_after_importing_tensorflow(repo_root, tmp_path):
    proc, err = _run_after_tf(repo_root, tmp_path)
    rc = proc.returncode
    assert rc == 0, (
        "`import tensorflow` then `import tfckpt`: tfckpt.open/save fail (rc %d; a negative rc "
        "is a signal: TensorFlow's globally exported symbols, e.g. protobuf's, were bound "
        "instead of the ones tfckpt was built with):\n%s" % (rc, err))
    assert b"[[-0.5, -0.25, 0.0], [0.25, 0.5, 0.75]]" in proc.stdout


_PROBE = {}


@pytest.fixture(autouse=True)
def _usable_in_this_process(request, repo_root, tmp_path_factory):
    """This process imported TensorFlow first (conftest): if that breaks tfckpt, fail each test
    here instead of letting a crash end the whole session."""
    if _imported_before_tf() or request.node.name == "test_works_after_importing_tensorflow":
        return
    if "result" not in _PROBE:
        _PROBE["result"] = _run_after_tf(repo_root, tmp_path_factory.mktemp("after_tf"))
    proc, err = _PROBE["result"]
    if proc.returncode != 0:
        pytest.fail("tfckpt is unusable after `import tensorflow` (rc %d), see "
                    "test_works_after_importing_tensorflow:\n%s" % (proc.returncode, err[-1500:]))


QUANTIZED_BASE = {"qint8": np.int8, "quint8": np.uint8, "qint16": np.int16,
                  "quint16": np.uint16, "qint32": np.int32}


def _tf_array(value):
    """TF's value as an ndarray (a scalar string comes back from TF as bytes)."""
    if isinstance(value, bytes):
        return np.array(value, dtype=object)
    return np.asarray(value)


def assert_like_tf(got, dtype_name, want, what):
    """tfckpt's array against TF's numpy value: dtype, shape and bits."""
    want = _tf_array(want)
    assert isinstance(got, np.ndarray), "%s: %r" % (what, type(got))
    assert got.shape == want.shape, "%s: shape %s vs TF %s" % (what, got.shape, want.shape)
    if dtype_name in ("string", "variant"):
        assert got.dtype == object, "%s: dtype %s" % (what, got.dtype)
        assert got.tolist() == want.tolist(), "%s:\ngot  %r\nTF   %r" % (what, got, want)
        return
    if dtype_name in QUANTIZED_BASE:  # TF gives a structured dtype; tfckpt its integer base
        assert got.dtype == np.dtype(QUANTIZED_BASE[dtype_name]), (what, got.dtype)
    else:
        assert got.dtype == want.dtype, "%s: dtype %s vs TF %s" % (what, got.dtype, want.dtype)
    assert got.dtype.itemsize == want.dtype.itemsize, what
    assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(want).tobytes(), (
        "%s:\ngot  %r\nTF   %r" % (what, got, want))


def assert_checkpoint_like_tf(prefix, tf_values=None):
    tf_values = tf_values if tf_values is not None else lib.tf_read_all(str(prefix))
    c = tfckpt.open(str(prefix))
    assert sorted(c.names()) == sorted(tf_values)
    assert c.names() == sorted(c.names(), key=lambda n: n.encode("utf-8"))
    for name, (dtype_name, shape, value) in tf_values.items():
        assert c.dtype(name) == dtype_name, name
        assert c.shape(name) == tuple(shape), name
        if dtype_name == "variant":
            continue
        assert_like_tf(c[name], dtype_name, value, name)
    return c


# ---------------------------------------------------------------------------------------------
# Reading: every dtype TF writes
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dtype_bundle(all_dtypes):
    prefix, names, failures = all_dtypes
    return prefix, names, failures, lib.tf_read_all(prefix)


def test_listing_of_every_dtype(dtype_bundle):
    prefix, names, _, tf_values = dtype_bundle
    c = tfckpt.open(prefix)
    assert c.names() == sorted(names, key=str.encode)
    assert len(c) == len(names) and list(c) == c.names()
    for name in names:
        assert name in c
        assert c.dtype(name) == tf_values[name][0], name
        assert c.shape(name) == tuple(tf_values[name][1]), name


@pytest.mark.parametrize("dtype_name", DTYPE_NAMES)
def test_read_every_dtype_like_tf(dtype_bundle, dtype_name):
    prefix, names, failures, tf_values = dtype_bundle
    if dtype_name in failures:
        pytest.skip("TensorFlow itself cannot save %s: %s" % (dtype_name, failures[dtype_name]))
    c = tfckpt.open(prefix)
    mine = [n for n in names if n.split("/")[1] == dtype_name]
    assert len(mine) == 4
    for name in mine:
        dt, shape, value = tf_values[name]
        got = c[name]
        assert_like_tf(got, dt, value, name)
        assert_like_tf(c.read(name), dt, value, name)
        if dt == "string":
            assert all(type(x) is bytes for x in got.reshape(-1).tolist()), name
            continue
        # fixed size: a read-only view on the mapped data file
        assert got.flags.writeable is False and not got.flags.owndata, name
        raw = c.read(name, raw=True)
        want = _tf_array(value)
        assert raw.dtype == np.uint8, name
        assert raw.shape == tuple(shape) + (want.dtype.itemsize,), (name, raw.shape)
        assert raw.tobytes() == want.tobytes(), name


def test_to_dict_and_verify_of_every_dtype(dtype_bundle):
    prefix, names, _, tf_values = dtype_bundle
    c = tfckpt.open(prefix)
    d = c.to_dict()
    assert sorted(d) == sorted(names)
    for name, arr in d.items():
        assert_like_tf(arr, tf_values[name][0], tf_values[name][2], name)
    r = c.verify()
    assert r["ok"] is True and r["problems"] == [] and r["tensors_checked"] == len(names), r


def test_read_variants(variant_ckpt):
    c = tfckpt.open(variant_ckpt)
    assert c.dtype("list") == "variant" and c.shape("list") == ()
    assert c.dtype("lists") == "variant" and c.shape("lists") == (2,)
    scalar, vector = c["list"], c["lists"]
    assert scalar.dtype == object and scalar.shape == ()
    assert [scalar[()]] == lib.variant_elements_from_file(variant_ckpt, "list")
    assert vector.dtype == object and vector.shape == (2,)
    assert vector.tolist() == lib.variant_elements_from_file(variant_ckpt, "lists")
    assert_like_tf(c["x"], "float32", tf.train.load_checkpoint(variant_ckpt).get_tensor("x"), "x")


@pytest.mark.parametrize("fixture", ["tf1_plain", "tf1_sharded", "tf1_partitioned",
                                     "grid_partitioned"])
def test_read_tf1_checkpoints_like_tf(request, fixture):
    prefix = request.getfixturevalue(fixture)
    c = assert_checkpoint_like_tf(prefix)
    assert c.num_shards == len(lib.data_files(prefix))
    if fixture == "tf1_sharded":
        assert c.num_shards == 2


def test_partitioned_are_assembled(tf1_partitioned, grid_partitioned):
    c = tfckpt.open(tf1_partitioned)
    assert c.names() == ["emb", "ids", "plain", "wide"]  # each partitioned tensor once
    reader = tf.train.load_checkpoint(tf1_partitioned)
    for name in ("emb", "ids", "wide"):
        assert_like_tf(c[name], c.dtype(name), reader.get_tensor(name), name)
    g = tfckpt.open(grid_partitioned)
    assert g.shape("grid") == (6, 4)
    assert_like_tf(g["grid"], "float32", tf.train.load_checkpoint(grid_partitioned).get_tensor(
        "grid"), "grid")


def test_path_forms_like_tf(tf2_dir, saved_model_dir, tf1_steps_dir):
    latest = tf.train.latest_checkpoint(tf2_dir)
    c = tfckpt.open(tf2_dir)
    assert c.prefix == latest, (c.prefix, latest)
    assert_checkpoint_like_tf(tf2_dir, lib.tf_read_all(latest))
    state = tf.train.get_checkpoint_state(tf1_steps_dir)
    for step, prefix in ((10, state.all_model_checkpoint_paths[0]),
                         (20, state.all_model_checkpoint_paths[1])):
        assert prefix.endswith("-%d" % step)
        want = tf.train.load_checkpoint(prefix).get_tensor("v")
        assert_like_tf(tfckpt.open(tf1_steps_dir, step=step)["v"], "float32", want, "v@%d" % step)
        assert_like_tf(tfckpt.open("%s@%d" % (tf1_steps_dir, step))["v"], "float32", want, "v")
    sm = tfckpt.open(saved_model_dir)
    want = lib.tf_read_all(saved_model_dir + "/variables/variables")
    assert sorted(sm.names()) == sorted(want)
    for name, (dt, _, value) in want.items():
        assert_like_tf(sm[name], dt, value, name)


# ---------------------------------------------------------------------------------------------
# Reads check each tensor's CRC32C, as TensorFlow's do
# ---------------------------------------------------------------------------------------------

CRC_GRID = np.arange(24, dtype=F32).reshape(6, 4) / 3 - 2


@pytest.fixture(scope="module")
def crc_source(tmp_path_factory):
    """SaveV2 of one tensor of each kind: fixed-size dtypes, a scalar, strings, bfloat16, and a
    tensor stored in two slices (read assembled)."""
    pairs = [
        ("f32", np.arange(12, dtype=F32).reshape(3, 4) / 7),
        ("f64", np.array(1 / 3)),
        ("i64", np.arange(5, dtype=I64) * 1000003 - 7),
        ("flags", np.array([True, False, True, True])),
        ("words", np.array([b"alpha", b"", b"gamma\xff"], dtype=object)),
        ("brain", np.array([1.0, -0.5, 3.25, 7.0], F32).astype(ml_dtypes.bfloat16)),
        ("grid", CRC_GRID[:3]),
        ("grid", CRC_GRID[3:]),
    ]
    specs = [""] * 6 + ["6 4 0,3:-", "6 4 3,3:-"]
    prefix = str(tmp_path_factory.mktemp("crc") / "src")
    return lib.save_tensors(prefix, [(n, tf.constant(v)) for n, v in pairs], specs)


def _tf_refuses(prefix, dtypes):
    """{name: TF's error} for the tensors {name: dtype name} TensorFlow cannot read: RestoreV2's
    error (its class says which), after checking that tf.train.load_checkpoint(prefix)
    .get_tensor(name) refuses the same tensors. A fresh reader per tensor: after one failed slice
    read, TF's CheckpointReader aborts the process on its next lookup."""
    out = {}
    for name, dtype_name in dtypes.items():
        try:
            tf.train.load_checkpoint(prefix).get_tensor(name)
            refused = False
        except tf.errors.OpError:
            refused = True
        try:
            tf.raw_ops.RestoreV2(prefix=prefix, tensor_names=[name], shape_and_slices=[""],
                                 dtypes=[tf.as_dtype(dtype_name)])
            assert not refused, name
        except tf.errors.OpError as e:
            assert refused, (name, e)
            out[name] = e
    return out


def _data_pieces(prefix):
    """[(key, entry)] of every stored piece with bytes, from the index (TF's protos)."""
    header, entries = index_reader.read_index(prefix + ".index")
    return header, sorted((k, e) for k, e in entries.items() if e.size > 0)


def test_reads_check_crc_like_tf(crc_source, tmp_path):
    clean = lib.tf_read_all(crc_source)
    dtypes = {n: dt for n, (dt, _, _) in clean.items()}
    header, pieces = _data_pieces(crc_source)
    assert len(pieces) == 8, [k for k, _ in pieces]  # every tensor and both slices of "grid"
    assert not _tf_refuses(crc_source, dtypes)
    refused_names = set()
    for i, (key, entry) in enumerate(pieces):
        prefix = ops.copy_bundle(crc_source, tmp_path / str(i))
        data = "%s.data-%05d-of-%05d" % (prefix, entry.shard_id, header.num_shards)
        with open(data, "r+b") as f:  # one flipped bit in the middle of this piece
            f.seek(entry.offset + entry.size // 2)
            byte = f.read(1)[0]
            f.seek(entry.offset + entry.size // 2)
            f.write(bytes([byte ^ 0x10]))
        refused = _tf_refuses(prefix, dtypes)
        assert len(refused) == 1, (key, refused)  # TF refuses exactly the damaged tensor
        (bad, tf_error), = refused.items()
        assert isinstance(tf_error, tf.errors.DataLossError), (bad, tf_error)
        refused_names.add(bad)
        c = tfckpt.open(prefix)  # opening reads no data: it checks nothing yet
        assert c.names() == sorted(clean, key=lambda n: n.encode())
        dt, _, want = clean[bad]
        for how, read in (("ckpt[name]", lambda: c[bad]), ("read", lambda: c.read(bad)),
                          ("read raw", lambda: c.read(bad, raw=True)),
                          ("read verify=True", lambda: c.read(bad, verify=True)),
                          ("to_dict", c.to_dict), ("again", lambda: c[bad])):
            with pytest.raises(tfckpt.DataLossError) as info:
                read()
            assert isinstance(info.value, tfckpt.Error), how
            msg = str(info.value)
            assert "'%s'" % bad in msg and "'%s'" % data in msg, (how, msg)
            assert "checksum" in msg and "verify=False" in msg, (how, msg)
        if dt != "string":
            var = np.zeros(want.shape, want.dtype)
            with pytest.raises(tfckpt.DataLossError) as info:
                tfckpt.init_from_checkpoint(prefix, {bad: "v"}, {"v": var})
            assert "'%s'" % bad in str(info.value), str(info.value)
            assert not var.any(), "nothing may be assigned"
        # The explicit opt-out gives the stored (damaged) values, per read or per checkpoint.
        for got in (c.read(bad, verify=False), tfckpt.open(prefix, verify=False)[bad],
                    tfckpt.open(prefix, verify=False).to_dict()[bad]):
            assert got.shape == want.shape, bad
            if dt == "string":
                assert got.tolist() != want.tolist(), bad
            else:
                diff = np.bitwise_xor(np.frombuffer(got.tobytes(), np.uint8),
                                      np.frombuffer(np.ascontiguousarray(want).tobytes(), np.uint8))
                assert [bin(x).count("1") for x in diff if x] == [1], (bad, got, want)
        # Every other tensor reads as TF reads it.
        for name, (dtype_name, _, value) in clean.items():
            if name != bad:
                assert_like_tf(c[name], dtype_name, value, "%s (with %s damaged)" % (name, bad))
    assert refused_names == set(clean), refused_names


def test_every_damaged_byte_of_a_string_tensor_like_tf(crc_source, tmp_path):
    """Each byte of a string tensor (lengths, their checksum, the bytes) damaged in turn: tfckpt
    refuses with DataLossError where TensorFlow refuses with its DataLossError. Damaged lengths
    are refused even with verify=False (the elements cannot be found without them)."""
    _, pieces = _data_pieces(crc_source)
    entry = dict(pieces)[b"words"]
    want = lib.tf_read_all(crc_source)["words"][2]
    unchecked_reads = 0
    for mask in (0x01, 0x80):  # 0x80: a length's varint continues into the next
        for pos in range(entry.size):
            prefix = ops.copy_bundle(crc_source, tmp_path / ("%d-%d" % (mask, pos)))
            data = prefix + ".data-00000-of-00001"
            with open(data, "r+b") as f:
                f.seek(entry.offset + pos)
                byte = f.read(1)[0]
                f.seek(entry.offset + pos)
                f.write(bytes([byte ^ mask]))
            tf_error = _tf_refuses(prefix, {"words": "string"}).get("words")
            assert isinstance(tf_error, tf.errors.DataLossError), (mask, pos, tf_error)
            with pytest.raises(tfckpt.DataLossError) as info:
                tfckpt.open(prefix)["words"]
            assert "'words'" in str(info.value) and "'%s'" % data in str(info.value)
            try:
                got = tfckpt.open(prefix).read("words", verify=False)
            except tfckpt.Error as e:
                assert type(e) is tfckpt.DataLossError, (mask, pos, e)
                assert "verify=False" not in str(e), str(e)  # it was off already
                continue
            unchecked_reads += 1
            assert got.shape == want.shape and got.tolist() != want.tolist(), (mask, pos)
    assert unchecked_reads == 2 * (entry.size - 7)  # every flip in the string bytes themselves


def test_checked_view_stays_zero_copy(crc_source):
    c = tfckpt.open(crc_source)
    data = os.path.realpath(crc_source + ".data-00000-of-00001")
    reader = tf.train.load_checkpoint(crc_source)
    for name in ("f32", "f64", "i64", "flags", "brain"):
        arr = c[name]
        assert_like_tf(arr, c.dtype(name), reader.get_tensor(name), name)
        assert arr.flags.writeable is False and not arr.flags.owndata, name
        addr = arr.__array_interface__["data"][0]
        with open("/proc/self/maps") as f:
            files = [line.split(None, 5)[5].strip() for line in f
                     if len(line.split(None, 5)) > 5
                     and int(line.split()[0].split("-")[0], 16) <= addr
                     < int(line.split()[0].split("-")[1], 16)]
        assert [os.path.realpath(p) for p in files] == [data], (name, files)


# ---------------------------------------------------------------------------------------------
# Writing: tfckpt.save, read and restored by TF
# ---------------------------------------------------------------------------------------------

def _float_values(dtype):
    info = ml_dtypes.finfo(dtype)
    base = [0.0, -0.0, 1.0, -1.5, 0.1, 1 / 3, float(info.max), -float(info.max),
            float(info.smallest_subnormal), float(info.tiny), np.nan, np.inf, -np.inf]
    with np.errstate(all="ignore"):
        return np.array(base, np.float64).astype(dtype)


def saved_values():
    v = {}
    for dt in (np.float16, np.float32, np.float64, ml_dtypes.bfloat16, ml_dtypes.float8_e4m3fn,
               ml_dtypes.float8_e5m2):
        name = np.dtype(dt).name
        v["f/%s/vec" % name] = _float_values(dt)
        v["f/%s/mat" % name] = _float_values(dt)[:12].reshape(3, 4)
        v["f/%s/scalar" % name] = _float_values(dt)[4:5].reshape(())
        v["f/%s/empty" % name] = _float_values(dt)[:0].reshape(0, 2)
    for dt in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64):
        info = np.iinfo(dt)
        name = np.dtype(dt).name
        v["i/%s/vec" % name] = np.array([info.min, info.max, 0, 1, 42], dt)
        v["i/%s/mat" % name] = np.arange(6).astype(dt).reshape(2, 3)
        v["i/%s/scalar" % name] = np.array(info.max, dt)
    v["bool/vec"] = np.array([True, False, True])
    v["bool/scalar"] = np.array(False)
    for dt in (np.complex64, np.complex128):
        c = np.empty(5, dt)
        c.real = [0.0, -0.0, 1.5, np.nan, np.inf]
        c.imag = [1.0, -2.5, -0.0, 0.0, np.nan]
        v["c/%s" % np.dtype(dt).name] = c
    v["s/bytes"] = np.array(lib.STRINGS, dtype=object)
    v["s/matrix"] = np.array(lib.STRINGS[:6], dtype=object).reshape(2, 3)
    v["s/scalar"] = np.array(b"one\x00", dtype=object)
    v["s/unicode"] = np.array(["\u00fcber", "", "\u4e2d\U0001f600"])
    v["s/empty"] = np.zeros((0, 2), dtype=object)
    return v


def _want_from_saved(value):
    if value.dtype.kind == "U":
        return np.array([s.encode("utf-8") for s in value.reshape(-1).tolist()],
                        dtype=object).reshape(value.shape)
    return value


def _dtype_name_of(value):
    return "string" if value.dtype.kind in "OSU" else value.dtype.name


def test_saved_checkpoint_reads_in_tf(tmp_path):
    values = saved_values()
    prefix = str(tmp_path / "saved" / "model")
    tfckpt.save(prefix, values)
    tf_values = lib.tf_read_all(prefix)
    assert sorted(tf_values) == sorted(values)
    for name, value in values.items():
        dt, shape, tf_value = tf_values[name]
        assert dt == _dtype_name_of(value), (name, dt)
        assert tuple(shape) == value.shape, name
        assert_like_tf(tfckpt.open(prefix)[name], dt, tf_value, name)  # tfckpt reads what TF reads
        want = _want_from_saved(value)
        if dt == "string":
            assert _tf_array(tf_value).tolist() == want.tolist(), name
        else:
            assert np.asarray(tf_value).dtype == want.dtype, name
            assert np.asarray(tf_value).tobytes() == want.tobytes(), name
    # TF's own reader agrees with every CRC: RestoreV2 of all tensors
    restored = tf.raw_ops.RestoreV2(prefix=prefix, tensor_names=sorted(values),
                                    shape_and_slices=[""] * len(values),
                                    dtypes=[tf.as_dtype(tf_values[n][0]) for n in sorted(values)])
    assert len(restored) == len(values)


def _write(writer, prefix, values):
    """Writes `values` with tfckpt.save or with a tfckpt.Writer."""
    if writer == "save":
        tfckpt.save(prefix, values)
    else:
        with tfckpt.Writer(prefix) as w:
            for name, value in values.items():
                w.add(name, value)


@pytest.mark.parametrize("writer", ["save", "Writer"])
def test_saved_checkpoint_restores_in_tf1_saver(tmp_path, writer):
    values = {
        "dense/kernel": np.arange(6, dtype=F32).reshape(2, 3) / 3,
        "dense/bias": np.array([0.1, -0.0, np.inf], F64),
        "global_step": np.array(123456789012, I64),
        "vocab": np.array([b"a", b"", b"\xff\xfe"], dtype=object),
        "flag": np.array(True),
        "brain": np.array([1.0, -0.5, 3.25], F32).astype(ml_dtypes.bfloat16),
        "emb": np.arange(40, dtype=F32).reshape(10, 4) - 3,
    }
    prefix = str(tmp_path / "w" / "model")
    _write(writer, prefix, values)

    def build():
        out = {}
        for name, value in values.items():
            dt = tf.string if value.dtype == object else tf.as_dtype(value.dtype)
            if name == "emb":  # restored into a partitioned variable: TF slices it
                out[name] = tf.compat.v1.get_variable(
                    name, shape=value.shape, dtype=dt,
                    initializer=tf.compat.v1.zeros_initializer(),
                    partitioner=tf.compat.v1.fixed_size_partitioner(3))
            elif value.dtype == object:
                out[name] = tf.compat.v1.get_variable(
                    name, initializer=tf.constant([b"?"] * value.size), trainable=False)
            else:
                out[name] = tf.compat.v1.get_variable(
                    name, shape=value.shape, dtype=dt,
                    initializer=tf.compat.v1.zeros_initializer())
        return out

    restored = ops.tf1_restore(prefix, build)
    for name, value in values.items():
        if value.dtype == object:
            assert restored[name].tolist() == value.tolist(), name
        else:
            ops.assert_array_identical(restored[name], value, name)


def _layouts():
    """{name: array}: every numpy memory layout of values, each dtype also big-endian."""
    out = {}
    base = {
        "f32": np.arange(60, dtype=F32).reshape(3, 4, 5) / 7 - 3,
        "f64": np.arange(60, dtype=F64).reshape(3, 4, 5) / 3 + 1e300,
        "f16": (np.arange(60, dtype=F32).reshape(3, 4, 5) / 9).astype(np.float16),
        "i16": (np.arange(60).reshape(3, 4, 5) * 997 - 30000).astype(np.int16),
        "i32": (np.arange(60).reshape(3, 4, 5) * 1000003 - 7).astype(np.int32),
        "i64": (np.arange(60).reshape(3, 4, 5) * 10**15 + 3).astype(I64),
        "u16": (np.arange(60).reshape(3, 4, 5) * 1001).astype(np.uint16),
        "u32": (np.arange(60).reshape(3, 4, 5) * 70001 + 2**31).astype(np.uint32),
        "u64": (np.arange(60).reshape(3, 4, 5).astype(np.uint64) * 2**50 + 5),
        "c64": (np.arange(60).reshape(3, 4, 5) * (1 - 2j)).astype(np.complex64),
        "c128": (np.arange(60).reshape(3, 4, 5) / 3 * (2 + 1j)).astype(np.complex128),
        "i8": (np.arange(60).reshape(3, 4, 5) - 30).astype(np.int8),
        "bool": np.arange(60).reshape(3, 4, 5) % 3 == 0,
        "bf16": (np.arange(60, dtype=F32).reshape(3, 4, 5) / 4).astype(ml_dtypes.bfloat16),
    }
    for dt, a in base.items():
        orders = [("native", a.dtype)]
        if a.dtype.itemsize > 1 and a.dtype.kind != "V":
            orders += [("big", a.dtype.newbyteorder(">")), ("little", a.dtype.newbyteorder("<"))]
        for order, dtype in orders:
            b = a.astype(dtype)
            ro = b.copy()
            ro.setflags(write=False)
            forms = {
                "c": b,
                "fortran": np.asfortranarray(b),
                "strided": b[::2, 1::2, ::3],
                "negative": b[::-1, ::-2, :],
                "transposed": b.transpose(2, 0, 1),
                "fortran_negative": np.asfortranarray(b)[:, ::-1],
                "scalar": b[1, 2, 3, ...],          # a 0-d view into b
                "scalar_owned": np.array(b[2, 1, 0]),
                "row_view": b[1],
                "column": b[:, :, 2],
                "empty": b[:, :0],
                "broadcast": np.broadcast_to(b[0, 0], (3, 5)),  # zero strides, read-only
                "read_only": ro,
                "unaligned": np.frombuffer(b"\0" + b.tobytes(), dtype, offset=1).reshape(b.shape),
            }
            for form, arr in forms.items():
                out["%s/%s/%s" % (dt, order, form)] = arr
    return out


@pytest.mark.parametrize("writer", ["save", "Writer"])
def test_save_stores_values_of_every_layout(tmp_path, writer):
    values = _layouts()
    assert any(v.dtype.byteorder == ">" for v in values.values())
    assert any(v.ndim == 0 for v in values.values())
    prefix = str(tmp_path / "layouts")
    _write(writer, prefix, values)
    reader = tf.train.load_checkpoint(prefix)
    bad = []
    for name, value in values.items():
        got = reader.get_tensor(name)
        native = value.dtype.newbyteorder("=") if value.dtype.byteorder == ">" else value.dtype
        want = np.ascontiguousarray(value, dtype=native)
        if got.shape != value.shape or got.dtype != want.dtype or got.tobytes() != want.tobytes():
            bad.append("%s: TF reads %s %r, numpy holds %s %r" % (
                name, got.dtype, got, value.dtype, value))
    assert not bad, "\n".join(bad[:10]) + "\n(%d of %d differ)" % (len(bad), len(values))
    # every input left as it was (a view's base, a read-only array)
    assert _layouts().keys() == values.keys()
    for name, value in _layouts().items():
        assert values[name].tobytes() == value.tobytes() and values[name].dtype == value.dtype


# ---------------------------------------------------------------------------------------------
# init_from_checkpoint: TF's values, into numpy arrays and eager tf.Variables
# ---------------------------------------------------------------------------------------------

# The model (targets): {name: (shape, dtype)}; no partitioned targets (numpy / eager variables)
TARGETS = {
    "a": ((2, 3), F32),
    "scope/w": ((3,), F32),
    "scope/inner/b": ((), F32),
    "other/w": ((3,), F32),
    "emb": ((10, 4), F32),
    "ids": ((5,), I64),
    "step": ((), I64),
    "dbl": ((2, 2), F64),
}

# Source 1 (TF1 Saver): the model's names, one of them partitioned, plus names for the map forms
S1_SPEC = {name: (shape, dtype, None) for name, (shape, dtype) in TARGETS.items()}
S1_SPEC.update({
    "emb": ((10, 4), F32, 2),          # partitioned in the source, whole in the target
    "emb_full": ((10, 4), F32, None),
    "x3": ((3,), F32, None),
    "w": ((3,), F32, None),            # for '/': 'scope/'
    "inner/b": ((), F32, None),
    "src_scope/w": ((3,), F32, None),  # for 'src_scope/': 'scope/'
    "src_scope/inner/b": ((), F32, None),
})
# Source 2: the whole model under pre/ (for 'pre/': '/')
S2_SPEC = {name: (shape, dtype, 2 if name == "emb" else None)
           for name, (shape, dtype) in TARGETS.items()}


@pytest.fixture(scope="module")
def ifc_sources(tmp_path_factory):
    d = tmp_path_factory.mktemp("pyapi_ifc")
    return {
        "S1": ops.tf1_save(d / "s1" / "src", lambda: ops.get_variables(S1_SPEC, seed=1)),
        "S2": ops.tf1_save(d / "s2" / "src",
                           lambda: ops.get_variables(S2_SPEC, seed=2, scope="pre/")),
    }


def _initial(name):
    shape, dtype = TARGETS[name]
    return ops.make_value(name, shape, dtype, seed=0)


def _tf_init(sources, groups):
    """The oracle: a TF1 graph of the model, init_from_checkpoint per group, initializers run."""
    graph = tf.Graph()
    with graph.as_default():
        variables = {}
        for name in TARGETS:
            value = _initial(name)
            variables[name] = tf.compat.v1.get_variable(
                name, initializer=tf.constant(value), dtype=tf.as_dtype(value.dtype))
        for src, amap in groups:
            tf.compat.v1.train.init_from_checkpoint(sources[src], dict(amap))
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            return {n: sess.run(v) for n, v in variables.items()}


IFC_CASES = {
    "exact": [("S1", {"a": "a", "ids": "ids", "dbl": "dbl"})],
    "other_name": [("S1", {"x3": "scope/w", "emb_full": "emb"})],
    "partitioned_source": [("S1", {"emb": "emb"})],
    "scope_same": [("S1", {"scope/": "scope/"})],
    "scope_other": [("S1", {"src_scope/": "scope/"})],
    "scope_nested": [("S1", {"scope/inner/": "scope/inner/"})],
    "root_to_scope": [("S1", {"/": "scope/"})],
    "scope_to_root": [("S2", {"pre/": "/"})],
    "two_calls": [("S1", {"a": "a", "scope/": "scope/"}),
                  ("S2", {"pre/other/": "other/", "pre/emb": "emb", "pre/step": "step"})],
    "later_call_wins": [("S1", {"a": "a", "emb": "emb"}), ("S2", {"pre/a": "a", "pre/emb": "emb"})],
    "same_call_sorted": [("S1", {"x3": "scope/w", "scope/": "scope/"})],
}


class Param:
    """A non-TF parameter with assign(), as another framework would have."""

    def __init__(self, value):
        self.value = np.array(value)
        self.dtype = self.value.dtype
        self.shape = self.value.shape

    def assign(self, value):
        value = np.asarray(value)
        assert value.dtype == self.dtype and value.shape == self.shape
        self.value = value.copy()


def _check_mapping(sources, groups, returned, want):
    """Each returned {target: ckpt name} names the tensor whose value (as TF reads it) the
    target ends up with, unless a later call assigned the target again."""
    final = {}
    for (src, _), mapping in zip(groups, returned):
        assert isinstance(mapping, dict), mapping
        for target, ckpt_name in mapping.items():
            assert target in TARGETS, target
            final[target] = (src, ckpt_name)
    for target, (src, ckpt_name) in final.items():
        reader = tf.train.load_checkpoint(sources[src])
        assert reader.has_tensor(ckpt_name), (target, ckpt_name)
        ops.assert_array_identical(reader.get_tensor(ckpt_name), want[target],
                                   "%s <- %s" % (target, ckpt_name))


@pytest.mark.parametrize("case", sorted(IFC_CASES))
@pytest.mark.parametrize("kind", ["numpy", "tf_variable", "assign_object"])
def test_init_from_checkpoint_like_tf(ifc_sources, case, kind):
    groups = IFC_CASES[case]
    want = _tf_init(ifc_sources, groups)
    # not vacuous: TF changed some values
    assert any(want[n].tobytes() != _initial(n).tobytes() for n in TARGETS)
    if kind == "numpy":
        variables = {n: _initial(n).copy() for n in TARGETS}
    elif kind == "tf_variable":
        variables = {n: tf.Variable(_initial(n)) for n in TARGETS}
    else:
        variables = {n: Param(_initial(n)) for n in TARGETS}
    returned = [tfckpt.init_from_checkpoint(ifc_sources[src], dict(amap), variables)
                for src, amap in groups]
    _check_mapping(ifc_sources, groups, returned, want)
    for name in TARGETS:
        v = variables[name]
        got = v if kind == "numpy" else (v.numpy() if kind == "tf_variable" else v.value)
        ops.assert_array_identical(got, want[name], name)
    # exactly the targets whose value TF set are reported (values here never coincide)
    changed = {n for n in TARGETS if want[n].tobytes() != _initial(n).tobytes()}
    assert set().union(*[set(r) for r in returned]) == changed


def test_init_from_checkpoint_mapping_values(ifc_sources):
    variables = {n: _initial(n).copy() for n in TARGETS}
    got = tfckpt.init_from_checkpoint(ifc_sources["S1"], {"/": "scope/"}, variables)
    assert got == {"scope/w": "w", "scope/inner/b": "inner/b"}
    got = tfckpt.init_from_checkpoint(ifc_sources["S2"], {"pre/": "/"}, variables)
    assert got == {n: "pre/" + n for n in TARGETS}


IFC_ERRORS = {
    "missing": {"nope/missing": "a"},
    "missing_in_scope": {"absent_scope/": "scope/"},
    "scope_only": {"x3": "scope/"},
    "shape": {"x3": "a"},
}


def _tf_error_names(sources, amap):
    return ops.tf_error_names(lambda: _tf_init(sources, [("S1", amap)]))


@pytest.mark.parametrize("case", sorted(IFC_ERRORS))
@pytest.mark.parametrize("kind", ["numpy", "tf_variable"])
def test_init_from_checkpoint_errors_like_tf(ifc_sources, case, kind):
    amap = IFC_ERRORS[case]
    names, tf_message = _tf_error_names(ifc_sources, amap)
    if kind == "numpy":
        variables = {n: _initial(n).copy() for n in TARGETS}
    else:
        variables = {n: tf.Variable(_initial(n)) for n in TARGETS}
    with pytest.raises(tfckpt.Error) as info:
        # plus a valid entry, which must not be assigned either
        tfckpt.init_from_checkpoint(ifc_sources["S1"], dict(amap, ids="ids"), variables)
    for n in names:
        assert n in str(info.value), "TF names %r (%s); ours: %s" % (n, tf_message, info.value)
    for name in TARGETS:
        v = variables[name]
        ops.assert_array_identical(v if kind == "numpy" else v.numpy(), _initial(name), name)


# ---------------------------------------------------------------------------------------------
# init_from_checkpoint and transfer from a TF2 checkpoint: by key, or by full name
# ---------------------------------------------------------------------------------------------

class _Layer(tf.Module):
    def __init__(self, scope, n_in, n_out, seed):
        super().__init__()
        rng = np.random.default_rng(seed)
        with tf.name_scope(scope):
            self.kernel = tf.Variable(rng.standard_normal((n_in, n_out)).astype(F32),
                                      name="kernel")
            self.bias = tf.Variable(rng.standard_normal(n_out).astype(F32), name="bias")


class _Net(tf.Module):
    """Variables whose full names (enc/dense/kernel, ...) differ from their checkpoint keys
    (model/enc/first/kernel/.ATTRIBUTES/VARIABLE_VALUE, ...)."""

    def __init__(self):
        super().__init__()
        with tf.name_scope("enc"):
            self.first = _Layer("dense", 3, 4, seed=1)
            self.second = _Layer("dense_1", 4, 2, seed=2)
            self.step = tf.Variable(np.int64(1234567), name="step")
        self.head = _Layer("head", 2, 1, seed=3)


@pytest.fixture(scope="module")
def tf2_net(tmp_path_factory):
    """(TF2 prefix written by tf.train.Checkpoint, {full name: key} from TF's object graph)."""
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    prefix = tf.train.Checkpoint(model=_Net()).save(
        str(tmp_path_factory.mktemp("tf2_net") / "ckpt"))
    graph = trackable_object_graph_pb2.TrackableObjectGraph.FromString(
        tf.train.load_checkpoint(prefix).get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    keys = {a.full_name: a.checkpoint_key for node in graph.nodes for a in node.attributes}
    keys.pop("save_counter")
    assert set(keys) == {"enc/dense/kernel", "enc/dense/bias", "enc/dense_1/kernel",
                         "enc/dense_1/bias", "enc/step", "head/kernel", "head/bias"}, keys
    assert all(k != v for k, v in keys.items())
    return prefix, keys


def _tf_full_name_values(prefix, keys):
    """{full name: value} as a TF1 Saver restores the TF2 checkpoint (by full name)."""
    reader = tf.train.load_checkpoint(prefix)
    graph = tf.Graph()
    with graph.as_default():
        variables = {n: tf.compat.v1.get_variable(
            n, shape=reader.get_variable_to_shape_map()[k],
            dtype=reader.get_variable_to_dtype_map()[k]) for n, k in keys.items()}
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session(graph=graph) as sess:
            saver.restore(sess, prefix)
            return {n: sess.run(v) for n, v in variables.items()}


def _tf_init_into(ckpt, amap, targets):
    """TF1 init_from_checkpoint(ckpt, amap) into variables {name: initial value}."""
    graph = tf.Graph()
    with graph.as_default():
        variables = {n: tf.compat.v1.get_variable(n, initializer=tf.constant(v))
                     for n, v in targets.items()}
        tf.compat.v1.train.init_from_checkpoint(ckpt, dict(amap))
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            return {n: sess.run(v) for n, v in variables.items()}


# {case: (assignment map by full name, {target: the full name whose shape and dtype it has})};
# which value each target gets is TensorFlow's to say.
TF2_FULL_CASES = {
    "scope_renamed": ({"enc/": "encoder/"},
                      {"encoder/dense/kernel": "enc/dense/kernel",
                       "encoder/dense/bias": "enc/dense/bias",
                       "encoder/dense_1/kernel": "enc/dense_1/kernel",
                       "encoder/dense_1/bias": "enc/dense_1/bias",
                       "encoder/step": "enc/step", "other/w": "head/kernel"}),
    "root_to_scope": ({"/": "pre/"}, None),  # "pre/" + every full name
    "one_name": ({"enc/dense_1/kernel": "w", "head/": "out/"},
                 {"w": "enc/dense_1/kernel", "out/kernel": "head/kernel",
                  "out/bias": "head/bias", "keep": "enc/dense/bias"}),
}


@pytest.mark.parametrize("kind", ["numpy", "tf_variable", "assign_object"])
@pytest.mark.parametrize("case", sorted(TF2_FULL_CASES))
def test_init_from_tf2_by_full_name_like_tf(tf2_net, tmp_path, case, kind):
    prefix, keys = tf2_net
    by_full = _tf_full_name_values(prefix, keys)
    amap, like = TF2_FULL_CASES[case]
    like = like or {"pre/" + n: n for n in keys}
    initial = {t: np.full_like(by_full[n], 5) for t, n in like.items()}
    # The oracle: the TF1 checkpoint a Saver writes from the TF2 one by full name, and TF's
    # init_from_checkpoint of that with the same map.
    tf1 = lib.save_tensors(str(tmp_path / "tf1" / "ckpt"), sorted(by_full.items()))
    want = _tf_init_into(tf1, amap, initial)
    changed = {t for t in initial if want[t].tobytes() != initial[t].tobytes()}
    assert changed, "vacuous"
    if kind == "numpy":
        variables = {n: v.copy() for n, v in initial.items()}
    elif kind == "tf_variable":
        variables = {n: tf.Variable(v) for n, v in initial.items()}
    else:
        variables = {n: Param(v) for n, v in initial.items()}
    got = tfckpt.init_from_checkpoint(prefix, amap, variables, tf2_names="full")
    # {target: the checkpoint key it came from} (a key, so ckpt[key] reads it)
    assert set(got) == changed and set(got.values()) <= set(keys.values()), got
    for name in initial:
        v = variables[name]
        value = v if kind == "numpy" else (v.numpy() if kind == "tf_variable" else v.value)
        ops.assert_array_identical(value, want[name], name)
    # and each value is the one TF reads under that key
    reader = tf.train.load_checkpoint(prefix)
    for target, key in got.items():
        ops.assert_array_identical(reader.get_tensor(key), want[target], target)


def test_init_from_tf2_by_key_like_tf(tf2_net):
    prefix, keys = tf2_net
    amap = {keys["enc/dense/kernel"]: "k", "model/head/": "h/"}
    initial = {"k": np.zeros((3, 4), F32), "h/kernel/.ATTRIBUTES/VARIABLE_VALUE":
               np.zeros((2, 1), F32), "h/bias/.ATTRIBUTES/VARIABLE_VALUE": np.zeros(1, F32)}
    want = _tf_init_into(prefix, amap, initial)  # TF's init_from_checkpoint lists keys
    assert all(want[n].any() for n in initial)
    for tf2_names in ("keys", "auto"):  # "auto" is "keys" for init_from_checkpoint
        variables = {n: v.copy() for n, v in initial.items()}
        tfckpt.init_from_checkpoint(prefix, amap, variables, tf2_names=tf2_names)
        for n in initial:
            ops.assert_array_identical(variables[n], want[n], "%s (%s)" % (n, tf2_names))


def test_init_from_tf2_name_errors_like_tf(tf2_net):
    prefix, keys = tf2_net
    amap = {"enc/dense/kernel": "k"}
    initial = {"k": np.zeros((3, 4), F32)}
    names, tf_message = ops.tf_error_names(lambda: _tf_init_into(prefix, amap, initial))
    for tf2_names in ("keys", "auto"):  # a full name is no key: TF refuses it too
        variables = {n: v.copy() for n, v in initial.items()}
        with pytest.raises(tfckpt.Error) as info:
            tfckpt.init_from_checkpoint(prefix, amap, variables, tf2_names=tf2_names)
        for n in names:
            assert n in str(info.value), "TF names %r (%s); ours: %s" % (n, tf_message, info.value)
        assert "tf2_names='full'" in str(info.value), str(info.value)
        assert not variables["k"].any()
    # by full name, a key is not a name
    with pytest.raises(tfckpt.Error) as info:
        tfckpt.init_from_checkpoint(prefix, {keys["enc/dense/kernel"]: "k"},
                                    {"k": np.zeros((3, 4), F32)}, tf2_names="full")
    assert keys["enc/dense/kernel"] in str(info.value), str(info.value)
    with pytest.raises(tfckpt.Error) as info:
        tfckpt.init_from_checkpoint(prefix, amap, {"k": np.zeros((3, 4), F32)}, tf2_names="ful")
    assert "tf2_names='ful'" in str(info.value) and "'full'" in str(info.value)


def test_transfer_from_tf2_by_full_name_like_tf(tf2_net, tmp_path):
    prefix, keys = tf2_net
    by_full = _tf_full_name_values(prefix, keys)
    out = str(tmp_path / "out" / "model")
    tfckpt.transfer([(prefix, {"enc/": "encoder/"})], out, tf2_names="full")
    reader = tf.train.load_checkpoint(out)
    names = sorted(reader.get_variable_to_shape_map())
    assert names == sorted("encoder/" + n[4:] for n in keys if n.startswith("enc/")), names
    for n in names:
        ops.assert_array_identical(reader.get_tensor(n), by_full["enc/" + n[len("encoder/"):]], n)
