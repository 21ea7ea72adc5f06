"""Errors by kind: each tfckpt::Status code raises its own subclass of tfckpt.Error, also a
subclass of the built-in exception a caller would catch for it where that is sound; each kind
is raised here for a real case, with the command line's message where it has one."""

import builtins
import errno
import os
import pickle
import re
import textwrap

import numpy as np
import pytest

import tfckpt

from pypkg_testlib import MIXED_VALUES, all_files, assert_same

# kind -> the built-in exception it also is (None: only tfckpt.Error)
KINDS = {
    "NotFoundError": KeyError,
    "InvalidArgumentError": ValueError,
    "CorruptionError": None,
    "IOError": OSError,
    "UnsupportedError": None,
    "AlreadyExistsError": None,
    "FailedPreconditionError": None,
    "DataLossError": None,
}


def raises_kind(kind, fn, *needles):
    """fn() raises exactly tfckpt.<kind> (not a sibling, not the bare base) whose message holds
    every needle; returns the exception."""
    cls = getattr(tfckpt, kind)
    with pytest.raises(tfckpt.Error) as info:
        fn()
    assert type(info.value) is cls, "want tfckpt.%s, got %s: %s" % (
        kind, type(info.value).__name__, info.value)
    message = str(info.value)
    for n in needles:
        assert n in message, "%r not in the %s message: %s" % (n, kind, message)
    return info.value


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_error_classes(kind):
    cls = getattr(tfckpt, kind)
    assert issubclass(cls, tfckpt.Error) and cls is not tfckpt.Error
    builtin = KINDS[kind]
    if builtin is not None:
        assert issubclass(cls, builtin), (kind, cls.__mro__)
    for other, other_builtin in KINDS.items():  # the kinds are distinct
        if other != kind:
            assert not issubclass(cls, getattr(tfckpt, other)), (kind, other)
        if other_builtin is not None and other_builtin is not builtin:
            assert not issubclass(cls, other_builtin), (kind, other_builtin)
    assert cls.__module__ == "tfckpt" and cls.__name__ == kind
    assert cls.__doc__ and cls.__doc__.strip()
    e = cls("what went wrong, and where")
    assert str(e) == "what went wrong, and where"  # NotFoundError too, although a KeyError
    # an error crosses processes (multiprocessing, concurrent.futures) as itself
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is cls and str(back) == str(e)


def test_exports():
    kinds = set(KINDS) - {"IOError"}
    assert kinds <= set(tfckpt.__all__)
    assert "Error" in tfckpt.__all__
    # `from tfckpt import *` leaves the built-in IOError (OSError) alone
    namespace = {}
    exec("from tfckpt import *", namespace)
    assert "IOError" not in namespace and namespace["NotFoundError"] is tfckpt.NotFoundError
    assert tfckpt.IOError is not builtins.IOError and issubclass(tfckpt.IOError, OSError)


# ---------------------------------------------------------------------------------------------
# Each kind for a real case
# ---------------------------------------------------------------------------------------------

def test_not_found(examples, tmp_path):
    missing = str(tmp_path / "nothing" / "here")
    raises_kind("NotFoundError", lambda: tfckpt.open(missing), missing)
    raises_kind("NotFoundError", lambda: tfckpt.open(str(examples / "tf2"), step=7), "7")
    raises_kind("NotFoundError", lambda: tfckpt.apply(str(tmp_path / "no.yaml")), "no.yaml")
    c = tfckpt.open(str(examples / "mixed" / "mixed"))
    for fn in (lambda: c["nope_x"], lambda: c.read("nope_x"), lambda: c.dtype("nope_x"),
               lambda: c.shape("nope_x"), lambda: c.read("nope_x", raw=True)):
        e = raises_kind("NotFoundError", fn, "nope_x", c.prefix)
        assert isinstance(e, KeyError)
    # as for a dict: a KeyError handler catches a missing tensor name
    try:
        c["nope_x"]
    except KeyError as e:
        assert "names()" in str(e) and not str(e).startswith('"'), str(e)


@pytest.mark.parametrize("case", ["link", "on_conflict", "tf2_names", "regex", "dtype",
                                  "shape", "missing_in_map", "readonly_target", "strings"])
def test_invalid_argument(ab, ex, tmp_path, case):
    out = str(tmp_path / "out" / "model")
    src = str(ex / "mixed" / "mixed")
    fn, needles = {
        "link": (lambda: tfckpt.merge([ab["a"], ab["b"]], out, link="teleport"),
                 ["link='teleport'"]),
        "on_conflict": (lambda: tfckpt.merge([ab["a"], ab["b"]], out, on_conflict="sometimes"),
                        ["on_conflict='sometimes'"]),
        "tf2_names": (lambda: tfckpt.init_from_checkpoint(ab["a"], {"a": "a"},
                                                          {"a": np.zeros((), np.float32)},
                                                          tf2_names="ful"), ["tf2_names='ful'"]),
        "regex": (lambda: tfckpt.edit(src, out, drop=["(unclosed"]), ["(unclosed"]),
        "dtype": (lambda: tfckpt.save(out, {"when": np.array(["2020-01-01"], "datetime64[D]")}),
                  ["when", "datetime64"]),
        "shape": (lambda: tfckpt.init_from_checkpoint(ab["a"], {"a": "a"},
                                                      {"a": np.zeros(3, np.float32)}), ["a"]),
        "missing_in_map": (lambda: tfckpt.transfer([(ab["a"], {"zz": "a"})], out,
                                                   into=ab["ab"]), ["zz"]),
        "readonly_target": (lambda: tfckpt.init_from_checkpoint(ab["a"], {"a": "a"},
                                                                {"a": _read_only()}),
                            ["read-only"]),
        "strings": (lambda: tfckpt.save(out, {"mixed": np.array([b"ok", 3], dtype=object)}),
                    ["mixed"]),
    }[case]
    e = raises_kind("InvalidArgumentError", fn, *needles)
    assert isinstance(e, ValueError)
    assert all_files(tmp_path / "out") == []


def _read_only():
    a = np.zeros((), np.float32)
    a.setflags(write=False)
    return a


def test_corruption(ex, tmp_path):
    (tmp_path / "bad.index").write_bytes(b"not a table at all")
    raises_kind("CorruptionError", lambda: tfckpt.open(str(tmp_path / "bad")), "bad.index")
    # a truncated data file: the index is fine, the bytes of some tensors are not there
    prefix = str(ex / "mixed" / "mixed")
    data = prefix + ".data-00000-of-00001"
    with open(data, "r+b") as f:
        f.truncate(190)  # "matrix" is bytes 185..209
    c = tfckpt.open(prefix)
    raises_kind("CorruptionError", lambda: c["matrix"], "'matrix'", data, "truncated")
    raises_kind("CorruptionError", lambda: c.read("matrix", verify=False), "'matrix'")


def test_io_error(ab, tmp_path):
    """The operating system refuses to create a file under a regular file (ENOTDIR); root, as
    CI runs, cannot be refused by permissions."""
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    for fn in (lambda: tfckpt.save(str(blocker / "model"), {"x": np.ones(2)}),
               lambda: tfckpt.merge([ab["a"]], str(blocker / "model"))):
        e = raises_kind("IOError", fn, str(blocker), os.strerror(errno.ENOTDIR))
        assert isinstance(e, OSError)
    assert blocker.read_text() == "not a directory"


def test_already_exists(ab, ex, tmp_path):
    out = str(tmp_path / "o" / "model")
    tfckpt.merge([ab["a"]], out)
    before = {f: open(tmp_path / "o" / f, "rb").read() for f in os.listdir(tmp_path / "o")}
    for fn in (lambda: tfckpt.merge([ab["a"], ab["b"]], out),
               lambda: tfckpt.edit(ab["b"], out),
               lambda: tfckpt.save(out, {"x": np.ones(2)}),
               lambda: tfckpt.Writer(out)):
        raises_kind("AlreadyExistsError", fn, out)
    assert {f: open(tmp_path / "o" / f, "rb").read() for f in os.listdir(tmp_path / "o")} == \
        before
    npz = str(tmp_path / "m.npz")
    tfckpt.convert(str(ex / "mixed" / "mixed"), npz, skip_unsupported=True)
    raises_kind("AlreadyExistsError",
                lambda: tfckpt.convert(str(ex / "mixed" / "mixed"), npz, skip_unsupported=True),
                npz)
    # a name given twice
    with pytest.raises(tfckpt.Error) as info:
        with tfckpt.Writer(str(tmp_path / "dup" / "model")) as w:
            w.add("twice", np.ones(2))
            w.add("twice", np.zeros(2))
    assert type(info.value) is tfckpt.AlreadyExistsError and "twice" in str(info.value)


def test_failed_precondition(tmp_path, run_python, examples):
    w = tfckpt.Writer(str(tmp_path / "w" / "model"))
    w.add("x", np.ones(2))
    w.close()
    raises_kind("FailedPreconditionError", lambda: w.add("y", np.ones(2)), "closed")
    code = textwrap.dedent("""
        import sys
        sys.modules["ml_dtypes"] = None  # any `import ml_dtypes` now raises ImportError
        import tfckpt
        try:
            tfckpt.open(sys.argv[1])["brain"]
        except tfckpt.Error as e:
            print(type(e).__name__, "|", e)
        """)
    proc = run_python(code, examples / "mixed" / "mixed")
    assert proc.returncode == 0, proc.err
    kind, _, message = proc.out.strip().partition(" | ")
    assert kind == "FailedPreconditionError", proc.out
    assert "ml_dtypes" in message and "raw=True" in message, message


def test_data_loss(ex):
    prefix = str(ex / "mixed" / "mixed")
    data = prefix + ".data-00000-of-00001"
    with open(data, "r+b") as f:  # one flipped bit inside "matrix" (bytes 185..209)
        f.seek(190)
        b = f.read(1)[0]
        f.seek(190)
        f.write(bytes([b ^ 0x04]))
    c = tfckpt.open(prefix)
    raises_kind("DataLossError", lambda: c["matrix"], "'matrix'", data, "verify=False")
    target = np.zeros((2, 3), np.float32)
    raises_kind("DataLossError",
                lambda: tfckpt.init_from_checkpoint(prefix, {"matrix": "m"}, {"m": target}),
                "'matrix'")
    assert not target.any()
    assert_same(c["emb"], MIXED_VALUES["emb"])  # the others read as they are


# ---------------------------------------------------------------------------------------------
# Each face names the options in its own terms
# ---------------------------------------------------------------------------------------------

def test_messages_name_python_keywords(ab, tmp_path):
    """The library names an option by its name; Python shows its keyword, never a flag."""
    out = str(tmp_path / "o" / "model")
    cases = [
        (lambda: tfckpt.merge([ab["a"], ab["ab"]], out), ["`on_conflict`"]),
        (lambda: tfckpt.average([ab["a"], ab["a"]], out, weights=[1.0]), ["`weights`"]),
        (lambda: tfckpt.edit(ab["a"], out, rename={"a/": "b"}), ["`rename`"]),
        (lambda: tfckpt.blend([ab["a"]], out, method="ties"), ["`base`"]),
    ]
    for fn, needles in cases:
        e = raises_kind("InvalidArgumentError", fn, *needles)
        assert "--" not in str(e), str(e)
    tfckpt.merge([ab["a"]], out)
    for fn, keyword in ((lambda: tfckpt.merge([ab["b"]], out), "force=True"),
                        (lambda: tfckpt.save(out, {"x": np.ones(2)}), "overwrite=True")):
        e = raises_kind("AlreadyExistsError", fn, keyword)
        assert "--" not in str(e) and "`" not in str(e), str(e)


def test_messages_name_command_line_flags(ab, cli, tmp_path):
    """The same library messages on the command line show its flags."""
    out = str(tmp_path / "o" / "model")
    cases = [
        (["merge", ab["a"], ab["ab"], "-o", out], ["--on-conflict to first or last", "`tfckpt edit`"]),
        (["average", ab["a"], ab["a"], "--weights", "1", "-o", out], ["--weights has 1"]),
        (["edit", ab["a"], "--rename", "a/=b", "-o", out], ["--rename"]),
        (["blend", "ties", ab["a"], "-o", out], ["--base"]),
    ]
    for args, needles in cases:
        proc = cli.run(*args, expect_rc=2)
        for n in needles:
            assert n in proc.err, (args, proc.err)
        assert not re.search(r"`[a-z_0-9]+`", proc.err), proc.err  # every option respelled
    cli.run("merge", ab["a"], "-o", out)
    proc = cli.run("merge", ab["b"], "-o", out, expect_rc=2)
    assert "(--force)" in proc.err, proc.err


def test_recipe_messages_name_recipe_keys(ab, tmp_path):
    """A step's error names the recipe key that sets the option."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(textwrap.dedent(f"""
        output: {tmp_path / "out" / "model"}
        steps:
          - average:
              sources: [{ab["a"]}, {ab["a"]}]
              weights: [1.0]
        """))
    e = raises_kind("InvalidArgumentError", lambda: tfckpt.apply(str(recipe)),
                    "the key 'weights' has 1 value(s)", "r.yaml")
    assert "--" not in str(e) and "`" not in str(e), str(e)
    # a step's error keeps its kind: an output that exists is AlreadyExistsError, as elsewhere
    recipe.write_text(textwrap.dedent(f"""
        output: {tmp_path / "out" / "model"}
        steps:
          - average:
              sources: [{ab["a"]}, {ab["a"]}]
        """))
    tfckpt.apply(str(recipe))
    raises_kind("AlreadyExistsError", lambda: tfckpt.apply(str(recipe)), "force=True")


def test_library_messages_name_no_command_line_flag():
    """No message of the library (src/, include/) names a flag or a command of the command line:
    it names options between backquotes, which each face respells (RespellOptions)."""
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    if not os.path.isdir(os.path.join(root, "src")):
        pytest.skip("the sources are not beside these tests")
    literal = re.compile(r'"((?:[^"\\]|\\.)*)"')
    found = []
    for top in ("src", "include"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in files:
                if f.endswith("_test.cc") or not f.endswith((".cc", ".h")) or \
                        os.path.basename(dirpath) == "testing":
                    continue
                path = os.path.join(dirpath, f)
                for n, line in enumerate(open(path, encoding="utf-8"), 1):
                    if line.lstrip().startswith("//"):
                        continue
                    for text in literal.findall(line):
                        if re.search(r"(^|[\s(`])--[a-z]|`tfckpt ", text):
                            found.append("%s:%d: %s" % (os.path.relpath(path, root), n, text))
    assert found == [], "\n".join(found)
