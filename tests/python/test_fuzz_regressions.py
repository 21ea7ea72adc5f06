"""Inputs the fuzzers once crashed on (tests/fuzz_regressions/<target>/): each must now end in a
clear error, never a signal."""

import pathlib
import shutil

import pytest

HERE = pathlib.Path(__file__).resolve().parent
CASES = sorted((HERE.parent / "fuzz_regressions").glob("*/*"))


@pytest.mark.parametrize("case", CASES, ids=[c.parent.name + "/" + c.name for c in CASES])
def test_fuzz_regression(tfckpt, tmp_path, case):
    prefix = tmp_path / "ckpt"
    data = case.read_bytes()
    if case.parent.name == "index_table":
        (tmp_path / "ckpt.index").write_bytes(data)
        (tmp_path / "ckpt.data-00000-of-00001").write_bytes(b"")
    elif case.parent.name == "checkpoint":
        n = min(int.from_bytes(data[:2], "little"), len(data) - 2)
        (tmp_path / "ckpt.index").write_bytes(data[2:2 + n])
        (tmp_path / "ckpt.data-00000-of-00001").write_bytes(data[2 + n:])
    elif case.parent.name == "keras":  # a .keras archive or an HDF5 file, by content
        prefix = tmp_path / "model.keras"
        prefix.write_bytes(data)
    elif case.parent.name == "recipe":
        recipe = tmp_path / "recipe.yaml"
        shutil.copy(case, recipe)
        proc = tfckpt.run("apply", recipe, "--dry-run", expect_rc=None)
        assert proc.returncode in (0, 2), proc.where
        if proc.returncode == 2:
            assert "recipe.yaml" in proc.err, proc.where
        return
    else:
        pytest.fail("no runner for fuzz target %s" % case.parent.name)
    for args in (["ls", prefix], ["verify", prefix]):
        proc = tfckpt.run(*args, expect_rc=None)
        assert proc.returncode in (0, 1, 2), proc.where
        if proc.returncode == 2:
            assert prefix.name in proc.err, proc.where
    if case.parent.name == "keras":  # written again as a Keras file of its own layout
        for out in ("again.weights.h5", "again.h5"):
            proc = tfckpt.run("edit", prefix, "-o", tmp_path / out, expect_rc=None)
            assert proc.returncode in (0, 2), proc.where
            assert (tmp_path / out).exists() == (proc.returncode == 0), proc.where
            if proc.returncode == 0:
                assert tfckpt.run("ls", tmp_path / out, expect_rc=None).returncode == 0


def test_there_are_regressions():
    assert CASES, "tests/fuzz_regressions should hold the inputs fuzzing found"
