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
