"""The progress line of the long commands: drawn on a terminal, never into a pipe, never with
--json or --quiet.

Each command runs with its standard error on a pseudo-terminal; the line it leaves there must end
at 100% with the output's size, which TensorFlow's reader gives (the sum of the bytes of the
tensors written).
"""

import os
import pty
import re
import subprocess
import threading

import numpy as np
import pytest
import tensorflow as tf

import tfckpt_testlib as lib


def _on_terminal(tool, *args):
    """Runs the tool with stderr on a pseudo-terminal: (rc, stdout, what the terminal got)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([tool.path] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    got = []

    def drain():
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # (EIO once the child has gone)
                return
            if not data:
                return
            got.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    out, _ = proc.communicate(timeout=lib.TIMEOUT)
    reader.join(timeout=lib.TIMEOUT)
    os.close(master)
    return proc.returncode, out.decode(), b"".join(got).decode("utf-8", errors="replace")


def _human(n):
    """The size as the line prints it: decimal units, three significant digits."""
    units = ["B", "kB", "MB", "GB"]
    u = 0
    while n >= 999.5 and u < 3:
        n /= 1000
        u += 1
    return "%.0f B" % n if u == 0 else "%.*f %s" % (2 if n < 9.995 else 1 if n < 99.95 else 0,
                                                    n, units[u])


def _tf_bytes(prefix, names=None):
    reader = tf.train.load_checkpoint(prefix)
    total = 0
    for name, dtype in reader.get_variable_to_dtype_map().items():
        if names is None or name in names:
            total += reader.get_tensor(name).nbytes
    return total


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("progress")
    rng = np.random.default_rng(0)
    out = []
    for i in range(2):
        out.append(lib.save_tensors(str(d / ("m%d" % i)), {
            "enc/kernel": rng.normal(size=(512, 256)).astype(np.float32),
            "dec/kernel": rng.normal(size=(256, 512)).astype(np.float32),
            "step": np.int64(i)}))
    return out


def _final_line(terminal, what):
    lines = [line for line in re.split(r"[\r\n]+", terminal.replace("\x1b[K", ""))
             if line.startswith(what + " ")]
    assert lines, "no progress line for %r on the terminal: %r" % (what, terminal)
    assert terminal.endswith("\n"), "the line did not end: %r" % terminal
    return lines[-1]


def _cases(tmp_path, a, b, out):
    """command -> (arguments, the word the line begins with, the checkpoint whose bytes it
    counts)."""
    return {
        "merge": (["merge", "x=" + a, "y=" + b, "-o", out], "merge", out),
        "edit": (["edit", a, "--drop", "^step$", "-o", out], "edit", out),
        "average": (["average", a, b, "-o", out], "average", out),
        "blend": (["blend", "linear", a, b, "-o", out], "blend (linear)", out),
        "transfer": (["transfer", "--into", a, "--from", b, "--map", "enc/=enc/", "-o", out],
                     "transfer", out),
        "convert": (["convert", a, out + ".safetensors"], "convert", a),
        "convert-npz": (["convert", a, out + ".npz"], "convert", a),
        "verify": (["verify", a], "verify", a),
        "stats": (["stats", a], "stats", a),
        "apply": (["apply", _recipe(tmp_path, a, b), "-o", out], "apply", out),
    }


@pytest.mark.parametrize("command", ["merge", "edit", "average", "blend", "transfer", "convert",
                                     "convert-npz", "verify", "stats", "apply"])
def test_every_long_command_shows_its_progress(tfckpt, tmp_path, models, command):
    a, b = models
    args, what, counted = _cases(tmp_path, a, b, str(tmp_path / "out"))[command]
    rc, stdout, terminal = _on_terminal(tfckpt, *args)
    assert rc == 0, (stdout, terminal)
    line = _final_line(terminal, what)
    total = _human(_tf_bytes(counted))
    assert re.match(r"%s 100%% \[=+\] %s of %s" % (re.escape(what), re.escape(total),
                                                   re.escape(total)), line), (line, total)
    # the same command with --quiet draws nothing, nor says which checkpoint it took
    args, _, _ = _cases(tmp_path, a, b, str(tmp_path / "quiet"))[command]
    rc, _, terminal = _on_terminal(tfckpt, *args, "--quiet")
    assert rc == 0 and "%" not in terminal and "tfckpt: " not in terminal, terminal


def _recipe(tmp_path, a, b):
    path = tmp_path / "recipe.yaml"
    path.write_text("inputs:\n  a: %s\n  b: %s\nsteps:\n  - name: merged\n    merge:\n"
                    "      sources: [a, b]\n      on_conflict: first\noutput: %s\n"
                    % (a, b, tmp_path / "recipe-out"))
    return str(path)


def test_no_progress_with_json_nor_into_a_pipe(tfckpt, tmp_path, models):
    a, b = models
    rc, stdout, terminal = _on_terminal(tfckpt, "merge", a, b, "--on-conflict", "first", "-o",
                                        str(tmp_path / "j"), "--json")
    assert rc == 0 and "%" not in terminal, terminal
    assert lib.checked_json(["merge", "--json"], stdout)["dry_run"] is False
    proc = tfckpt.run("average", a, b, "-o", str(tmp_path / "p"))  # (stderr: a pipe)
    assert "%" not in proc.err and "[=" not in proc.err, proc.err


def test_a_failure_erases_the_line(tfckpt, tmp_path, models):
    """A damaged source: the error message starts its own line, with no bar before it."""
    a, _ = models
    damaged = str(tmp_path / "damaged")
    for suffix in (".index", ".data-00000-of-00001"):
        with open(a + suffix, "rb") as f, open(damaged + suffix, "wb") as g:
            g.write(f.read())
    with open(damaged + ".data-00000-of-00001", "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 1]))
    rc, _, terminal = _on_terminal(tfckpt, "edit", damaged, "-o", str(tmp_path / "e"))
    assert rc == 2
    assert "edit " in terminal and "% [" in terminal, terminal  # (a line was drawn: the first
    # report goes as the work begins)
    error = [line for line in re.split(r"[\r\n]+", terminal.replace("\x1b[K", ""))
             if "error" in line]
    assert error and error[0].startswith("tfckpt: error: "), terminal
    assert not os.path.exists(str(tmp_path / "e") + ".index")


def test_quiet_also_silences_the_notes(tfckpt, tmp_path, models):
    """Which checkpoint of a directory was taken is a note on stderr; --quiet drops it."""
    d = str(tmp_path / "run")
    a = lib.save_tensors(os.path.join(d, "ckpt-1"), {"w": np.float32([1, 2])})
    with open(os.path.join(d, "checkpoint"), "w") as f:
        f.write('model_checkpoint_path: "ckpt-1"\n')
    rc, _, terminal = _on_terminal(tfckpt, "stats", d)
    assert rc == 0 and "tfckpt: describing " + a in terminal, terminal
    rc, _, terminal = _on_terminal(tfckpt, "stats", d, "--quiet")
    assert rc == 0 and "tfckpt: " not in terminal and "%" not in terminal, terminal
