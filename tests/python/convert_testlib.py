"""Helpers of the `tfckpt convert` tests: the dtype tables of the contract, reading safetensors
files with the `safetensors` package and .npz files with numpy, writing a sharded set the way
Hugging Face tooling does, and exact comparisons of numpy values (bfloat16/float8 included)."""

import json
import os
import re
import zipfile

import ml_dtypes
import numpy as np
import safetensors
import safetensors.numpy

import tfckpt_testlib as lib

# TF dtype name -> safetensors dtype string: the pairs the contract maps both ways.
ST_DTYPES = {
    "bool": "BOOL", "uint8": "U8", "int8": "I8", "int16": "I16", "uint16": "U16",
    "int32": "I32", "uint32": "U32", "int64": "I64", "uint64": "U64",
    "float16": "F16", "bfloat16": "BF16", "float32": "F32", "float64": "F64",
    "complex64": "C64", "float8_e5m2": "F8_E5M2", "float8_e4m3fn": "F8_E4M3",
}
ST_TO_TF = {v: k for k, v in ST_DTYPES.items()}

# TF dtypes an .npz holds: numpy's own dtypes, and strings (as `S` arrays, when lossless).
NPZ_NUMERIC = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
               "float16", "float32", "float64", "complex64", "complex128"]
NPZ_DTYPES = NPZ_NUMERIC + ["string"]
# Not stated either way by the contract for .npz (numpy has the base integer type, but a
# round trip through it could not give the quantized dtype back).
NPZ_UNDECIDED = {"qint8", "quint8", "qint16", "quint16", "qint32"}


def np_dtype(tf_name):
    return lib.np_dtype(tf_name)


def st_np_dtype(st_name):
    return np_dtype(ST_TO_TF[st_name])


def storable_dtypes():
    """TF dtypes SaveV2 can write (everything but resource and variant)."""
    return [d for d in lib.all_tf_dtype_names() if d not in lib.NOT_STORABLE and d != "variant"]


def save_dtype_bundle(prefix, dtype_names):
    """SaveV2 of lib.dtype_tensors (vector, matrix, scalar, [0,3]) of each dtype."""
    names, tensors = [], []
    for d in dtype_names:
        for n, t in lib.dtype_tensors(d):
            names.append(n)
            tensors.append(t)
    return lib.save_tensors(prefix, zip(names, tensors))


def save_tensors(prefix, tensors):
    """SaveV2 of {name: tf.Tensor or numpy array} in name order (numpy arrays keep their dtype)."""
    return lib.save_tensors(prefix, sorted(tensors.items(), key=lambda kv: kv[0]))


# ---------------------------------------------------------------------------------------------
# Exact comparisons
# ---------------------------------------------------------------------------------------------

def as_array(value):
    return lib.as_array(value)


def assert_identical(got, want, what):
    """Same dtype, shape and bytes (strings: same byte strings)."""
    got, want = as_array(got), as_array(want)
    assert got.shape == want.shape, "%s: shape %s vs %s" % (what, got.shape, want.shape)
    if want.dtype == object or want.dtype.kind == "S":
        assert got.dtype == object or got.dtype.kind == "S", "%s: dtype %s" % (what, got.dtype)
        assert got.tolist() == want.tolist(), "%s:\ngot  %r\nwant %r" % (what, got, want)
        return
    assert got.dtype == want.dtype, "%s: dtype %s vs %s" % (what, got.dtype, want.dtype)
    assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(want).tobytes(), (
        "%s: bytes differ\ngot  %r\nwant %r" % (what, got, want))


def assert_tf_equals(prefix, want, what=""):
    """TF's load_checkpoint of `prefix` has exactly the names of `want` ({name: (dtype name,
    numpy value)}), with those dtypes, shapes and bytes."""
    got = lib.tf_read_all(str(prefix))
    assert sorted(got) == sorted(want), "%s names: only TF %r, only expected %r" % (
        what, sorted(set(got) - set(want)), sorted(set(want) - set(got)))
    for name, (dtype_name, value) in want.items():
        gd, gs, gv = got[name]
        value = as_array(value)
        assert gd == dtype_name, "%s %s: dtype %s vs %s" % (what, name, gd, dtype_name)
        assert gs == list(value.shape), "%s %s: shape %s vs %s" % (what, name, gs, value.shape)
        assert_identical(gv, value, "%s %s" % (what, name))
    return got


def tf_expected(prefix, rename=lambda n: n, names=None):
    """{rename(name): (dtype name, value)} of a TF checkpoint, as TF reads it."""
    values = lib.tf_read_all(str(prefix))
    return {rename(n): (d, v) for n, (d, _, v) in values.items() if names is None or n in names}


# ---------------------------------------------------------------------------------------------
# safetensors, read by the safetensors package
# ---------------------------------------------------------------------------------------------

def read_safetensors(path):
    """(metadata or None, {name: (safetensors dtype, shape list, numpy value)}).

    The raw view comes from safetensors.deserialize; values of the dtypes numpy holds are also
    taken through safe_open(framework="numpy") and must agree with the raw bytes; float8 (which
    safe_open's numpy backend does not map) is viewed through ml_dtypes."""
    with open(path, "rb") as f:
        raw = f.read()
    out = {}
    for name, view in safetensors.deserialize(raw):
        dt = view["dtype"]
        assert dt in ST_TO_TF, "%s: unexpected safetensors dtype %s" % (name, dt)
        value = np.frombuffer(bytes(view["data"]), dtype=st_np_dtype(dt)).reshape(view["shape"])
        out[name] = (dt, list(view["shape"]), value)
    with safetensors.safe_open(str(path), framework="numpy") as f:
        metadata = f.metadata()
        assert sorted(f.keys()) == sorted(out), (sorted(f.keys()), sorted(out))
        for name in f.keys():
            if out[name][0].startswith("F8_"):
                continue
            t = f.get_tensor(name)
            assert_identical(t, out[name][2], "safe_open %s" % name)
    return metadata, out


def assert_safetensors_matches(path, want):
    """The file holds exactly `want` ({name: (TF dtype name, value)}) in the mapped dtypes."""
    metadata, got = read_safetensors(path)
    assert sorted(got) == sorted(want), "names: only file %r, only expected %r" % (
        sorted(set(got) - set(want)), sorted(set(want) - set(got)))
    for name, (dtype_name, value) in want.items():
        dt, shape, v = got[name]
        value = as_array(value)
        assert dt == ST_DTYPES[dtype_name], "%s: %s vs %s" % (name, dt, ST_DTYPES[dtype_name])
        assert shape == list(value.shape), "%s: shape %s vs %s" % (name, shape, value.shape)
        assert_identical(v, value, "safetensors %s" % name)
    # numpy-holdable tensors also come out of the package's own loader
    plain = {n for n, (d, _, _) in got.items() if not d.startswith("F8_")}
    if plain == set(got):
        loaded = safetensors.numpy.load_file(str(path))
        for name in plain:
            assert_identical(loaded[name], got[name][2], "load_file %s" % name)
    return metadata, got


def assert_metadata(metadata, source, version_line):
    assert isinstance(metadata, dict), "no __metadata__: %r" % (metadata,)
    assert metadata.get("converted_by") == version_line, metadata
    src = metadata.get("source")
    assert isinstance(src, str) and src, metadata
    assert os.path.basename(str(source).rstrip("/")) in src, (metadata, str(source))


# ---------------------------------------------------------------------------------------------
# npz, read by numpy
# ---------------------------------------------------------------------------------------------

def read_npz(path):
    with np.load(str(path), allow_pickle=False) as z:
        return {n: z[n] for n in z.files}


def assert_npz_matches(path, want):
    """np.load gives exactly `want` ({name: (TF dtype name, value)}); members NAME.npy, stored."""
    with zipfile.ZipFile(str(path)) as z:
        infos = z.infolist()
    members = sorted(i.filename for i in infos)
    assert members == sorted(n + ".npy" for n in want), members
    for i in infos:
        assert i.compress_type == zipfile.ZIP_STORED, (i.filename, i.compress_type)
    got = read_npz(path)
    for name, (dtype_name, value) in want.items():
        v = got[name]
        value = as_array(value)
        if dtype_name == "string":
            assert v.dtype.kind == "S", "%s: %s" % (name, v.dtype)
        else:
            assert v.dtype == np_dtype(dtype_name), "%s: %s vs %s" % (name, v.dtype, dtype_name)
        assert_identical(v, value, "npz %s" % name)
    return got


# ---------------------------------------------------------------------------------------------
# Hugging Face sharded sets
# ---------------------------------------------------------------------------------------------

def shard_file_name(stem, i, n):
    return "%s-%05d-of-%05d.safetensors" % (stem, i, n)


def write_hf_sharded(directory, shards, stem="model", metadata=None):
    """Writes [{name: array}, ...] as STEM-0000i-of-0000N.safetensors with
    safetensors.numpy.save_file, and STEM.safetensors.index.json as HF tooling writes it."""
    os.makedirs(directory, exist_ok=True)
    n = len(shards)
    weight_map, total = {}, 0
    for i, tensors in enumerate(shards, 1):
        fname = shard_file_name(stem, i, n)
        safetensors.numpy.save_file(tensors, os.path.join(directory, fname),
                                    metadata=metadata or {"format": "pt"})
        for name, value in tensors.items():
            weight_map[name] = fname
            total += value.nbytes
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    path = os.path.join(directory, stem + ".safetensors.index.json")
    with open(path, "w") as f:
        f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return path


def greedy_shards(names_sizes, max_size):
    """The contract's packing: in order, a shard takes tensors until the next would pass
    max_size; a bigger tensor alone. Returns [[names]]."""
    shards, cur, size = [], [], 0
    for name, nbytes in names_sizes:
        if cur and size + nbytes > max_size:
            shards.append(cur)
            cur, size = [], 0
        cur.append(name)
        size += nbytes
    if cur:
        shards.append(cur)
    return shards


def byte_order(names):
    return sorted(names, key=lambda n: n.encode("utf-8"))


def read_sharded_output(out_path):
    """For OUT=DIR/STEM.safetensors: (index dict, {shard file: (metadata, tensors)},
    sorted directory listing)."""
    directory, base = os.path.split(str(out_path))
    stem = base[:-len(".safetensors")]
    with open(os.path.join(directory, stem + ".safetensors.index.json")) as f:
        index = json.load(f)
    shards = {}
    pat = re.compile(re.escape(stem) + r"-\d{5}-of-\d{5}\.safetensors$")
    for fname in sorted(os.listdir(directory)):
        if pat.match(fname):
            shards[fname] = read_safetensors(os.path.join(directory, fname))
    return index, shards, sorted(os.listdir(directory))


def bf16(values):
    return np.asarray(values, np.float32).astype(ml_dtypes.bfloat16)
