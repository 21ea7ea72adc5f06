"""kill -9 at random moments of merge / transfer / edit / average.

After every kill the output prefix is either absent (no .index) or complete and valid, the inputs
are untouched, and every leftover is a temporary (`.tfckpt-tmp-` in its name).  Running the same
command again, to a fresh prefix in the same directory, succeeds and removes the leftovers of the
killed run (their owning process is gone).
"""

import os
import random
import signal
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf

import ops_testlib as ops

TRIALS_PER_COMMAND = 13
SEED = 7321
TENSORS = 8
ELEMENTS = 2 * 1024 * 1024  # float32: 8 MiB a tensor, 64 MiB a checkpoint


def _save(prefix, names, seed):
    rng = np.random.default_rng(seed)
    return ops.lib.save_tensors(
        prefix, [(n, rng.standard_normal(ELEMENTS, dtype=np.float32)) for n in names])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("crash_inputs")
    model = ["model/w%d" % i for i in range(TENSORS)]
    return {
        "a": _save(str(d / "a"), model, 1),
        "c": _save(str(d / "c"), model, 2),  # same names as a, other values
        "b": _save(str(d / "b"), ["extra/w0", "extra/w1"], 3),
    }


def _commands(inp):
    return {
        "merge": ["merge", inp["a"], inp["b"]],
        "transfer": ["transfer", "--into", inp["a"], "--from", inp["c"], "--map", "/=/",
                     "--link", "copy"],
        "edit": ["edit", inp["a"], "--drop", "w3$", "--rename", "model/=renamed/"],
        "average": ["average", inp["a"], inp["c"]],
    }


def _stats(files):
    return {f: (os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in files}


def _leftovers(directory, keep=()):
    return sorted(n for n in os.listdir(directory) if n not in keep)


def _tf_names_and_probe(prefix):
    """TensorFlow's view of a bundle: {name: shape} and the value of one tensor."""
    reader = tf.train.load_checkpoint(prefix)
    shapes = {n: list(s) for n, s in reader.get_variable_to_shape_map().items()}
    probe = sorted(shapes)[0]
    return shapes, probe, reader.get_tensor(probe)


def test_kill9_at_random_moments(tfckpt, inputs, tmp_path):
    input_files = sorted(f for p in inputs.values() for f in ops.bundle_files(p))
    hashes = ops.snapshot(*inputs.values())
    stats = _stats(input_files)
    commands = _commands(inputs)
    rng = random.Random(SEED)

    # Normal runs of each command (the first one warms the page cache): the shorter duration,
    # and the reference result.
    durations, reference = {}, {}
    for name, cmd in commands.items():
        for k in range(2):
            out = tmp_path / ("ref_%s_%d" % (name, k)) / "out"
            start = time.monotonic()
            tfckpt.run(*cmd, "-o", out)
            took = time.monotonic() - start
            durations[name] = min(durations.get(name, took), took)
        reference[name] = _tf_names_and_probe(str(out))

    problems = []
    tally = {"trials": 0, "killed": 0, "finished_first": 0, "output_complete": 0,
             "output_absent": 0, "survived": 0,
             "same_prefix_rerun_cleaned": 0}
    for name, cmd in commands.items():
        for trial in range(TRIALS_PER_COMMAND):
            tally["trials"] += 1
            case = "%s trial %d" % (name, trial)
            before = len(problems)
            d = tmp_path / ("%s_%d" % (name, trial))
            d.mkdir()
            out = d / "out"
            delay = rng.uniform(0.0, 1.1 * durations[name])
            proc = subprocess.Popen([tfckpt.path] + [str(a) for a in cmd] + ["-o", str(out)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            rc = proc.wait(timeout=60)
            if rc == -signal.SIGKILL:
                tally["killed"] += 1
            elif rc == 0:
                tally["finished_first"] += 1
            else:
                problems.append("%s: unkilled run ended with rc=%d" % (case, rc))
            case += " (kill after %.3f s of ~%.3f s, rc=%d)" % (delay, durations[name], rc)

            # The output: absent, or complete and valid.
            index = str(out) + ".index"
            finals = set()
            if os.path.exists(index):
                tally["output_complete"] += 1
                finals = {os.path.basename(f) for f in ops.bundle_files(str(out))}
                check = tfckpt.run("verify", out, expect_rc=None)
                if check.returncode != 0:
                    problems.append("%s: output has an index but does not verify:\n%s" % (
                        case, check.where))
                else:
                    try:
                        got = _tf_names_and_probe(str(out))
                        want = reference[name]
                        assert got[0] == want[0] and got[1] == want[1], (got[:2], want[:2])
                        ops.assert_array_identical(got[2], want[2], got[1])
                    except Exception as exc:  # noqa: BLE001 - reported below
                        problems.append("%s: TensorFlow reads the output wrongly: %s" % (
                            case, exc))
            else:
                tally["output_absent"] += 1
            leftovers = [n for n in _leftovers(d, finals)]
            not_temporary = [n for n in leftovers if ".tfckpt-tmp-" not in n]
            if not_temporary:
                problems.append("%s: leftovers without .tfckpt-tmp- in the name: %r" % (
                    case, not_temporary))

            # The inputs: untouched (size and mtime here, a full hash at the end).
            now = _stats(input_files)
            if now != stats:
                problems.append("%s: inputs changed: %r" % (
                    case, sorted(set(now.items()) ^ set(stats.items()))))

            # The same command again, to a fresh prefix in the same directory.
            again = tfckpt.run(*cmd, "-o", d / "again", expect_rc=None)
            if again.returncode != 0:
                problems.append("%s: the rerun failed:\n%s" % (case, again.where))
            else:
                remaining = [n for n in _leftovers(d, finals) if ".tfckpt-tmp-" in n]
                if remaining:
                    problems.append("%s: the rerun to a fresh prefix left the killed run's "
                                    "temporaries: %r" % (case, remaining))
                    if not os.path.exists(index):
                        # Diagnosis: does a rerun to the killed run's own prefix remove them?
                        tfckpt.run(*cmd, "-o", out)
                        still = [n for n in _leftovers(d) if ".tfckpt-tmp-" in n]
                        tally["same_prefix_rerun_cleaned"] += not still
                        if still:
                            problems.append("%s: even a rerun to the same prefix left %r" % (
                                case, still))
            if len(problems) == before:
                tally["survived"] += 1
            for f in os.listdir(d):  # keep the disk use of the test small
                path = d / f
                if path.is_file():
                    path.unlink()

    assert ops.snapshot(*inputs.values()) == hashes, "inputs changed"
    print("crash safety:", tally, "normal durations:",
          {k: round(v, 3) for k, v in durations.items()})
    assert tally["trials"] >= 50
    kinds = {}
    for p in problems:
        kind = p.split("): ", 1)[-1].split(":")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    assert not problems, "%d problems %r in %r:\n%s" % (len(problems), kinds, tally,
                                                         "\n".join(problems[:12]))
