"""Outputs appear whole or not at all: concurrent writers of one output never leave a mix, and
leftovers of a killed run are cleaned by the next run (those of a live run are not)."""

import os
import shutil
import subprocess

import tensorflow as tf


def test_concurrent_writers_never_mix(tfckpt, repo_root, tmp_path):
    ex = repo_root / "examples"
    out = tmp_path / "out" / "model"
    jobs = [["merge", ex / "models/a/model-a", ex / "models/b/model-b"],
            ["edit", ex / "mixed/mixed", "--drop", "words"]]
    expected = []
    for i, job in enumerate(jobs):
        ref = tmp_path / ("ref%d" % i) / "model"
        tfckpt.run(*job, "-o", ref)
        expected.append(sorted(tf.train.load_checkpoint(str(ref)).get_variable_to_shape_map()))
    for _ in range(10):
        procs = [subprocess.Popen([tfckpt.path] + [str(a) for a in job] + ["-o", str(out), "--force"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for job in jobs]
        for p in procs:
            assert p.wait(timeout=60) == 0, p.stderr.read()
        tfckpt.run("verify", out)
        names = sorted(tf.train.load_checkpoint(str(out)).get_variable_to_shape_map())
        assert names in expected
        leftovers = [n for n in os.listdir(out.parent) if ".tfckpt-tmp-" in n]
        assert leftovers == []


def test_leftovers_of_dead_runs_are_removed(tfckpt, repo_root, tmp_path):
    ex = repo_root / "examples"
    out = tmp_path / "model"
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        dead = subprocess.Popen(["true"])
        dead.wait()
        stale = tmp_path / ("model.tfckpt-tmp-%d-00ff.data-0" % dead.pid)
        live = tmp_path / ("model.tfckpt-tmp-%d-00ff.data-0" % sleeper.pid)
        stale.write_bytes(b"partial")
        live.write_bytes(b"in progress")
        tfckpt.run("merge", ex / "models/a/model-a", ex / "models/b/model-b", "-o", out)
        assert not stale.exists(), "the leftover of a process that is gone should be removed"
        assert live.exists(), "the temporary file of a running process must be left alone"
    finally:
        sleeper.kill()
    shutil.rmtree(tmp_path)


def _sha(path):
    import hashlib
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_output_that_is_an_input_through_links_is_refused(tfckpt, repo_root, tmp_path):
    """An output that is an input, reached through a symlinked directory or a hard-linked index,
    is refused before anything is written, even with --force."""
    src_dir = tmp_path / "src"
    shutil.copytree(repo_root / "examples" / "models" / "a", src_dir)
    other = repo_root / "examples" / "models" / "b" / "model-b"
    before = {p.name: _sha(p) for p in src_dir.iterdir()}
    (tmp_path / "alias").symlink_to(src_dir)
    for out in (tmp_path / "alias" / "model-a", src_dir / "model-a"):
        for cmd in (["merge", src_dir / "model-a", other], ["edit", src_dir / "model-a"],
                    ["average", src_dir / "model-a", src_dir / "model-a"]):
            proc = tfckpt.run(*cmd, "-o", out, "--force", expect_rc=2)
            assert "input" in proc.err, proc.where
    # A hard link of the input's index under another name is the input too.
    linked = tmp_path / "linked"
    linked.mkdir()
    os.link(src_dir / "model-a.index", linked / "model.index")
    proc = tfckpt.run("merge", src_dir / "model-a", other, "-o", linked / "model", "--force",
                      expect_rc=2)
    assert "input" in proc.err, proc.where
    assert {p.name: _sha(p) for p in src_dir.iterdir()} == before


def test_existing_output_needs_force_and_is_replaced_whole(tfckpt, repo_root, tmp_path):
    ex = repo_root / "examples"
    out = tmp_path / "model"
    tfckpt.run("merge", ex / "models/a/model-a", ex / "models/b/model-b", "-o", out)
    proc = tfckpt.run("edit", ex / "mixed/mixed", "-o", out, expect_rc=2)
    assert "--force" in proc.err, proc.where
    assert sorted(tf.train.load_checkpoint(str(out)).get_variable_to_shape_map()) == ["a", "b"]
    tfckpt.run("edit", ex / "mixed/mixed", "-o", out, "--force")
    names = sorted(tf.train.load_checkpoint(str(out)).get_variable_to_shape_map())
    assert "emb" in names and "a" not in names
    # The replaced checkpoint's data files are gone (2 before, 1 now).
    data = [n for n in os.listdir(tmp_path) if n.startswith("model.data-")]
    assert data == ["model.data-00000-of-00001"]
