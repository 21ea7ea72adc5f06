"""Memory: values are read-only views on the mapped files that outlive their Checkpoint and
the files' names, damaged files are errors and not crashes, and a large tensor is mapped, not read.
"""

import gc
import json
import os
import shutil
import textwrap

import numpy as np
import pytest

import tfckpt

from pypkg_testlib import MIXED_VALUES, bert_like_values, assert_same, bundle_files, mapped_file_of


# ---------------------------------------------------------------------------------------------
# Zero copy
# ---------------------------------------------------------------------------------------------

def test_zero_copy_views(examples, cli_or_none):
    prefix = str(examples / "mixed" / "mixed")
    data_file = os.path.realpath(prefix + ".data-00000-of-00001")
    c = tfckpt.open(prefix)
    for name in ("matrix", "half", "global_step", "flags", "scalar"):
        arr = c[name]
        assert arr.flags.writeable is False, name
        assert not arr.flags.owndata, name
        assert arr.base is not None, name
        with pytest.raises(ValueError):
            arr[...] = 0
        # numpy must refuse to make it writeable (the mapping is the checkpoint file)
        with pytest.raises(ValueError):
            arr.setflags(write=True)
        if os.path.exists("/proc/self/maps"):
            mapped = mapped_file_of(arr)
            assert mapped is not None and os.path.realpath(mapped) == data_file, (name, mapped)
    if cli_or_none is not None:
        listing = cli_or_none.json("ls", prefix, "--json")
        with open(data_file, "rb") as f:
            data = f.read()
        for t in listing["tensors"]:
            if t["partitioned"] or t["dtype"] in ("string", "variant", "bfloat16"):
                continue
            arr = c[t["name"]]
            assert arr.nbytes == t["bytes"]
            assert arr.tobytes() == data[t["offset"]:t["offset"] + t["bytes"]], t["name"]


def test_values_survive_checkpoint_deletion(ex):
    prefix = str(ex / "mixed" / "mixed")
    c = tfckpt.open(prefix)
    views = {n: c[n] for n in ("matrix", "half", "global_step", "emb", "words", "empty")}
    del c
    gc.collect()
    for n, v in views.items():
        assert_same(v, MIXED_VALUES[n], n)
    # the mapping outlives the object and even the files' names
    for f in bundle_files(prefix):
        os.remove(f)
    gc.collect()
    for n, v in views.items():
        assert_same(v, MIXED_VALUES[n], n)
    assert float(views["matrix"].sum()) == float(MIXED_VALUES["matrix"].sum())


_VIEW_THEN_REPLACE = textwrap.dedent("""
    import sys
    import numpy as np
    import tfckpt
    prefix = sys.argv[1]
    c = tfckpt.open(prefix)
    view = c["matrix"]
    before = view.tolist()
    # the checkpoint is replaced (committed atomically) while a view on it is alive
    tfckpt.save(prefix, {"matrix": np.full((2, 3), 9.0, np.float32)}, overwrite=True)
    print("VIEW", view.tolist() == before)
    print("NEW", tfckpt.open(prefix)["matrix"].tolist())
    """)


def test_view_survives_overwrite_of_its_checkpoint(ex, run_python):
    proc = run_python(_VIEW_THEN_REPLACE, ex / "mixed" / "mixed")
    assert proc.returncode == 0, "rc %d (a negative rc is a signal, e.g. SIGBUS)\n%s" % (
        proc.returncode, proc.err[-2000:])
    assert "VIEW True" in proc.out, proc.out
    assert "NEW [[9.0, 9.0, 9.0], [9.0, 9.0, 9.0]]" in proc.out, proc.out


_TRUNCATED = textwrap.dedent("""
    import sys
    import tfckpt
    c = tfckpt.open(sys.argv[1])  # the index only: no data is read yet
    for name in ("matrix", "scalar", "words", "emb"):
        for verify in (True, False):
            try:
                v = c.read(name, verify=verify)
                print("READ", name, verify, float(v.sum()) if v.dtype != object else v.tolist())
            except tfckpt.Error as e:
                print("ERROR", name, verify, type(e).__name__, e)
    """)


def test_truncated_data_file_is_an_error_not_a_crash(ex, run_python):
    prefix = ex / "mixed" / "mixed"
    data = str(prefix) + ".data-00000-of-00001"
    with open(data, "r+b") as f:
        f.truncate(190)  # "matrix" is bytes 185..209, "scalar" 209..217, "words" 217..234
    proc = run_python(_TRUNCATED, prefix)
    assert proc.returncode == 0, "rc %d (a negative rc is a signal, e.g. SIGBUS)\n%s" % (
        proc.returncode, proc.err[-2000:])
    lines = proc.out.splitlines()
    assert len(lines) == 8, proc.out + proc.err
    for name in ("matrix", "scalar", "words"):  # their bytes lie past the end of the file
        for verify in (True, False):
            line = [ln for ln in lines if ln.startswith("ERROR %s %s " % (name, verify))]
            assert line, (name, verify, proc.out)
            assert line[0].split()[3] == "CorruptionError", line[0]
            assert data in line[0] and "truncated" in line[0], line[0]
    # "emb" (three slices, stored before byte 185) is all there
    want = float(MIXED_VALUES["emb"].sum())
    assert "READ emb True %r" % want in lines and "READ emb False %r" % want in lines, proc.out


def test_many_views_then_close(examples):
    prefix = str(examples / "bert_like")
    want = bert_like_values()
    kept = []
    for _ in range(5):
        c = tfckpt.open(prefix)
        kept.append(c["bert/embeddings/word_embeddings"])
        del c
    gc.collect()
    for arr in kept:
        assert_same(arr, want["bert/embeddings/word_embeddings"])


# ---------------------------------------------------------------------------------------------
# Resident memory: indexing a 1 GiB tensor maps it, it does not read it
# ---------------------------------------------------------------------------------------------

_RSS_CODE = textwrap.dedent("""
    import gc, json, sys
    import tfckpt

    def rss(field="VmRSS"):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise SystemExit("no " + field)

    out = {}
    c = tfckpt.open(sys.argv[1])
    gc.collect()
    out["opened"] = rss()
    lazy = c.read("big", verify=False)  # no check: nothing is read until touched
    out["lazy"] = rss()
    out["lazy_one"] = float(lazy[7])
    del lazy
    anon = rss("RssAnon")
    a = c["big"]  # the first read checks the CRC32C: every page read once, none copied
    out["checked_anon"] = rss("RssAnon") - anon
    out["shape"] = list(a.shape)
    out["dtype"] = str(a.dtype)
    out["writeable"] = bool(a.flags.writeable)
    out["owndata"] = bool(a.flags.owndata)
    out["one"] = float(a[123456789])
    out["last"] = float(a[-1])
    b = c["big"]  # checked already: another view on the same pages
    out["same_memory"] = b.__array_interface__["data"][0] == a.__array_interface__["data"][0]
    del c
    gc.collect()
    out["first_after_del"] = float(a[0])
    out["end_anon"] = rss("RssAnon") - anon
    print(json.dumps(out))
    """)


def test_resident_memory_of_a_large_tensor(tmp_path, run_python):
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs /proc")
    prefix = str(tmp_path / "big" / "ckpt")
    os.makedirs(os.path.dirname(prefix))
    n = 1 << 28  # 1 GiB of float32
    try:
        big = np.ones(n, np.float32)
        with tfckpt.Writer(prefix) as w:
            w.add("big", big)
            w.add("small", np.arange(3, dtype=np.int32))
        del big
        gc.collect()
        proc = run_python(_RSS_CODE, prefix)
        assert proc.returncode == 0, proc.err
        r = json.loads(proc.out.strip().splitlines()[-1])
        assert r["shape"] == [n] and r["dtype"] == "float32", r
        assert r["writeable"] is False and r["owndata"] is False, r
        assert r["one"] == 1.0 and r["last"] == 1.0 and r["first_after_del"] == 1.0, r
        assert r["lazy_one"] == 1.0 and r["same_memory"] is True, r
        mb = 1 << 20
        assert r["lazy"] - r["opened"] < 10 * mb, r  # verify=False reads nothing
        assert r["checked_anon"] < 10 * mb, r  # the checked view is the mapping, not a copy
        assert r["end_anon"] < 20 * mb, r
    finally:
        shutil.rmtree(os.path.dirname(prefix), ignore_errors=True)
