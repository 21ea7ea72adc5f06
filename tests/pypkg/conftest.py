"""Fixtures of the Python package tests (tests/pypkg).

These tests run without TensorFlow: their data are the committed checkpoints under examples/
(whose values are known from examples/make_examples.py) and checkpoints written by tfckpt itself.
Where the `tfckpt` command line is available (env TFCKPT_CLI, or $TFCKPT_BIN_DIR/tfckpt, or
`tfckpt` on PATH), its JSON output is used as a cross-check; otherwise those checks are skipped.
"""

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import json_contract  # noqa: E402  (tests/json_contract.py: docs/JSON.md's schemas)

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"

try:
    import tfckpt  # noqa: F401
except ImportError as exc:  # fail loudly: the package under test must be importable
    raise ImportError(
        "tests/pypkg needs the tfckpt Python package (pip install . from the repository root, "
        "or PYTHONPATH pointing at a build of it): %s" % exc) from exc


def _tree_digest(root):
    out = {}
    for base, _, files in os.walk(root):
        for f in files:
            path = os.path.join(base, f)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


@pytest.fixture(scope="session", autouse=True)
def examples_untouched():
    """Nothing in the suite may change the committed examples."""
    before = _tree_digest(EXAMPLES)
    yield
    after = _tree_digest(EXAMPLES)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, "the committed examples changed: %r" % changed


@pytest.fixture(scope="session")
def examples():
    """The committed examples directory (read only)."""
    return EXAMPLES


@pytest.fixture
def ex(tmp_path):
    """A private copy of the examples directory, for tests that write next to it or change it."""
    dst = tmp_path / "examples"
    shutil.copytree(EXAMPLES, dst, ignore=shutil.ignore_patterns("out", "*.py"))
    return dst


# ---------------------------------------------------------------------------------------------
# The command line, as an optional cross-check
# ---------------------------------------------------------------------------------------------

class Cli:
    def __init__(self, path):
        self.path = path

    def run(self, *args, expect_rc=0):
        proc = subprocess.run([self.path] + [str(a) for a in args], capture_output=True,
                              timeout=300)
        proc.out = proc.stdout.decode("utf-8", errors="replace")
        proc.err = proc.stderr.decode("utf-8", errors="replace")
        if expect_rc is not None:
            assert proc.returncode == expect_rc, "%s %s: rc=%d\n%s\n%s" % (
                self.path, " ".join(map(str, args)), proc.returncode, proc.out[-2000:],
                proc.err[-2000:])
        return proc

    def json(self, *args, expect_rc=0):
        """Parses stdout, checked against the schema docs/JSON.md gives for the command."""
        document = json.loads(self.run(*args, expect_rc=expect_rc).out)
        if "--json" in args:
            json_contract.check(args, document)
        return document


def _find_cli():
    candidates = []
    if os.environ.get("TFCKPT_CLI"):
        candidates.append(os.environ["TFCKPT_CLI"])
    if os.environ.get("TFCKPT_BIN_DIR"):
        candidates.append(os.path.join(os.environ["TFCKPT_BIN_DIR"], "tfckpt"))
    on_path = shutil.which("tfckpt")
    if on_path:
        candidates.append(on_path)
    for c in candidates:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return Cli(c)
    return None


_CLI = _find_cli()


@pytest.fixture(scope="session")
def cli_or_none():
    return _CLI


@pytest.fixture(scope="session")
def cli():
    if _CLI is None:
        pytest.skip("the tfckpt command line is not available (set TFCKPT_CLI) for this "
                    "cross-check")
    return _CLI


# ---------------------------------------------------------------------------------------------
# Subprocesses that import the same tfckpt package
# ---------------------------------------------------------------------------------------------

def _package_parent():
    """The sys.path entry this process imported tfckpt from."""
    import tfckpt as mod
    path = os.path.abspath(mod.__file__)
    if os.path.basename(path).startswith("__init__."):
        path = os.path.dirname(path)
    return os.path.dirname(path)


@pytest.fixture(scope="session")
def run_python():
    """Runs `code` in a fresh interpreter that imports the same tfckpt; returns the process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [_package_parent()] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])

    def run(code, *args, timeout=600):
        proc = subprocess.run([sys.executable, "-c", code] + [str(a) for a in args],
                              capture_output=True, timeout=timeout, env=env)
        proc.out = proc.stdout.decode("utf-8", errors="replace")
        proc.err = proc.stderr.decode("utf-8", errors="replace")
        return proc

    return run


# ---------------------------------------------------------------------------------------------
# Checkpoints several test files work on
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def ab(ex):
    """Private copies of models a (a = 3), b (b = 4) and ab (a = b = 1)."""
    return {k: str(ex / "models" / k / ("model-" + k)) for k in ("a", "b", "ab")}
