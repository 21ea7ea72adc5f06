"""Shared fixtures of the TensorFlow oracle tests.

TensorFlow is the oracle: every checkpoint here is written by TensorFlow (or written by tfckpt
and then read back by TensorFlow), and every expected value comes from TensorFlow.

Binaries are looked up in $TFCKPT_BIN_DIR (default: <repo>/build/bin).
"""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

try:
    import tensorflow as tf
except ImportError as exc:  # the suite must fail, not skip, without its oracle
    raise ImportError(
        "The tfckpt oracle tests need TensorFlow (pip install tensorflow-cpu): %s" % exc) from exc

import numpy as np
import pytest

# Two logical CPUs, so that a sharded TF1 Saver writes one data file per device.  This has to
# happen before anything initialises TensorFlow's runtime in this process.
_CPUS = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _CPUS[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])

import tfckpt_testlib as lib  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo_root():
    return REPO_ROOT


SHARED_TESTDATA = REPO_ROOT.parent / "shared" / "testdata"


def _in_ci():
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.fixture(scope="session")
def shared_testdata():
    """../shared/testdata beside the repository: real files other people's TensorFlow and Keras
    wrote, which no code here can make (an index with a Snappy-compressed block written by TF
    1.14, V1 checkpoints, Keras weights files; provenance in real-world/PROVENANCE.md). The
    project's machines and its CI have it; a clone of the repository does not, so there the tests
    that need it are skipped, saying so; with CI=true its absence is a failure."""
    path = SHARED_TESTDATA
    if (path / "real-world").is_dir():
        return path
    reason = (
        "needs %s (../shared/testdata beside the repository), which holds real files other "
        "people's TensorFlow wrote that no test can make: a TF 1.14 index with a "
        "Snappy-compressed block, V1 checkpoints, Keras weights files. A clone of the "
        "repository has no ../shared; the project's machines and CI have it" % path)
    if _in_ci():
        pytest.fail("CI=true, but " + reason, pytrace=False)
    pytest.skip(reason)


def _binary(name):
    bin_dir = pathlib.Path(os.environ.get("TFCKPT_BIN_DIR", REPO_ROOT / "build" / "bin"))
    path = bin_dir / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail("%s not found at %s (build it, or set TFCKPT_BIN_DIR)" % (name, path))
    return lib.Tool(str(path))


@pytest.fixture(scope="session")
def tfckpt():
    return _binary("tfckpt")


@pytest.fixture(scope="session")
def bundle_tool():
    return _binary("bundle_tool")


# ---------------------------------------------------------------------------------------------
# Checkpoints written by TensorFlow.  Session-scoped: each is written once, then only read.
# ---------------------------------------------------------------------------------------------

def _tf1_graph_save(directory, build, sharded=False, global_steps=(None,), name="model",
                    between_saves=None):
    """Builds a graph with build() and saves it with a TF1 Saver; returns the saved prefixes."""
    directory.mkdir(parents=True, exist_ok=True)
    prefixes = []
    graph = tf.Graph()
    with graph.as_default():
        built = build()
        saver = tf.compat.v1.train.Saver(sharded=sharded)
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            for step in global_steps:
                if prefixes and between_saves is not None:
                    between_saves(sess, built)
                prefixes.append(saver.save(sess, str(directory / name), global_step=step,
                                           write_meta_graph=False))
    return prefixes


def _plain_vars():
    get = tf.compat.v1.get_variable
    get("dense/kernel", initializer=tf.constant(
        np.array([[1.5, -0.0, np.nan], [np.inf, -np.inf, 1e-30]], np.float32)))
    get("dense/bias", initializer=tf.constant(np.array([0.1, 1 / 3], np.float64)))
    get("counts", initializer=tf.constant(np.array([-(2**31), 2**31 - 1, 7], np.int32)))
    get("global_step", initializer=tf.constant(123456789012, tf.int64), trainable=False)
    get("flag", initializer=tf.constant(True), trainable=False)
    get("vocab", initializer=tf.constant([b"a", b"", b"\xff\xfe", "\u00fcber".encode()]),
        trainable=False)
    get("empty", initializer=tf.zeros([0, 3], tf.float32))


@pytest.fixture(scope="session")
def tf1_plain(tmp_path_factory):
    """TF1 tf.compat.v1.train.Saver, one device, no global step: returns the prefix."""
    return _tf1_graph_save(tmp_path_factory.mktemp("tf1_plain"), _plain_vars)[0]


@pytest.fixture(scope="session")
def tf1_sharded(tmp_path_factory):
    """TF1 Saver(sharded=True) with variables on two logical CPUs: returns the prefix."""
    def build():
        get = tf.compat.v1.get_variable
        with tf.device("/cpu:0"):
            get("dev0/w", initializer=tf.constant(np.arange(6, dtype=np.float32).reshape(2, 3)))
            get("dev0/names", initializer=tf.constant([b"x", b"yy"]), trainable=False)
        with tf.device("/cpu:1"):
            get("dev1/w", initializer=tf.constant(np.arange(4, dtype=np.float64) - 1.5))
            get("dev1/step", initializer=tf.constant(5, tf.int64), trainable=False)
    return _tf1_graph_save(tmp_path_factory.mktemp("tf1_sharded"), build, sharded=True)[0]


def _rows_initializer(full):
    """An initializer that gives each partition its block of `full`."""
    def init(shape, dtype=None, partition_info=None):
        if partition_info is None:
            return tf.constant(full, dtype=dtype)
        offset = partition_info.var_offset
        index = tuple(slice(o, o + s) for o, s in zip(offset, shape))
        return tf.constant(full[index], dtype=dtype)
    return init


PARTITIONED_VALUES = {
    # name: (full value, partitioner factory)
    "emb": (np.arange(40, dtype=np.float32).reshape(10, 4) / 4.0 - 3.0,
            lambda: tf.compat.v1.fixed_size_partitioner(3)),
    "ids": (np.arange(14, dtype=np.int64) * 1000003 - 7,
            lambda: tf.compat.v1.fixed_size_partitioner(4)),
    "wide": (np.arange(21, dtype=np.float64).reshape(3, 7) / 7.0,
             lambda: tf.compat.v1.fixed_size_partitioner(3, axis=1)),
}


@pytest.fixture(scope="session")
def tf1_partitioned(tmp_path_factory):
    """TF1 Saver with partitioned variables (1-D split on axis 0 and on axis 1)."""
    def build():
        for name, (full, partitioner) in PARTITIONED_VALUES.items():
            tf.compat.v1.get_variable(name, shape=full.shape, dtype=tf.as_dtype(full.dtype),
                                      initializer=_rows_initializer(full),
                                      partitioner=partitioner())
        tf.compat.v1.get_variable("plain", initializer=tf.constant([1.0, 2.0]))
    return _tf1_graph_save(tmp_path_factory.mktemp("tf1_partitioned"), build)[0]


GRID = np.arange(24, dtype=np.float32).reshape(6, 4) * 0.5


@pytest.fixture(scope="session")
def grid_partitioned(tmp_path_factory):
    """A tensor split along BOTH dimensions (2x2 blocks), written by SaveV2 slice specs."""
    prefix = str(tmp_path_factory.mktemp("grid") / "grid")
    names, specs, tensors = [], [], []
    for r0 in (0, 3):
        for c0, cl in ((0, 1), (1, 3)):
            names.append("grid")
            specs.append("6 4 %d,3:%d,%d" % (r0, c0, cl))
            tensors.append(tf.constant(GRID[r0:r0 + 3, c0:c0 + cl]))
    names.append("other")
    specs.append("")
    tensors.append(tf.constant([1, 2, 3], tf.int32))
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=specs, tensors=tensors)
    return prefix


class _Dense(tf.Module):
    def __init__(self):
        super().__init__()
        self.kernel = tf.Variable(
            (np.arange(12, dtype=np.float32).reshape(4, 3) - 5.0) / 8.0, name="kernel")
        self.bias = tf.Variable(np.array([0.5, -0.25, 0.0], np.float32), name="bias")

    def __call__(self, x):
        return tf.matmul(x, self.kernel) + self.bias


def make_tf2_objects():
    """A model and an optimizer with slot variables, in a deterministic state."""
    model = _Dense()
    optimizer = tf.compat.v1.train.AdamOptimizer(learning_rate=0.125)
    return model, optimizer


def _train_step(model, optimizer):
    x = tf.constant(np.array([[1.0, 2.0, 3.0, 4.0], [-1.0, 0.5, 0.0, 2.0]], np.float32))
    y = tf.constant(np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 0.5]], np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
    variables = [model.kernel, model.bias]
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))


@pytest.fixture(scope="session")
def tf2_dir(tmp_path_factory):
    """A directory with two TF2 checkpoints (ckpt-1, ckpt-2) saved by a CheckpointManager."""
    directory = tmp_path_factory.mktemp("tf2")
    model, optimizer = make_tf2_objects()
    _train_step(model, optimizer)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    manager = tf.train.CheckpointManager(checkpoint, directory=str(directory), max_to_keep=3)
    manager.save()
    _train_step(model, optimizer)
    manager.save()
    return str(directory)


class _HalfPlus(tf.Module):
    def __init__(self):
        super().__init__()
        self.scale = tf.Variable(0.5)
        self.offset = tf.Variable(np.array([2.0, 3.0], np.float32))
        self.table = tf.Variable(np.arange(6, dtype=np.int32).reshape(2, 3))

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)])
    def __call__(self, x):
        return x * self.scale + self.offset


@pytest.fixture(scope="session")
def saved_model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("sm") / "saved_model"
    tf.saved_model.save(_HalfPlus(), str(directory))
    return str(directory)


@pytest.fixture(scope="session")
def tf1_steps_dir(tmp_path_factory):
    """A directory where a TF1 Saver saved at global steps 10 and 20 (values differ)."""
    def build():
        return tf.compat.v1.get_variable("v", initializer=tf.constant([1.0, 2.0, 3.0]))

    def change(sess, var):
        sess.run(var.assign_add([10.0, 20.0, 30.0]))

    directory = tmp_path_factory.mktemp("tf1_steps")
    _tf1_graph_save(directory, build, global_steps=(10, 20), between_saves=change)
    return str(directory)


@pytest.fixture(scope="session")
def all_dtypes(tmp_path_factory):
    """One bundle written by SaveV2 with every dtype TF can save; see tfckpt_testlib."""
    return lib.save_all_dtypes(str(tmp_path_factory.mktemp("dtypes") / "all"))


@pytest.fixture(scope="session")
def variant_ckpt(tmp_path_factory):
    """SaveV2 of TensorList variants (a scalar and a vector of two lists) plus a float."""
    prefix = str(tmp_path_factory.mktemp("variant") / "variant")
    lists = lib.variant_lists()
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=["list", "lists", "x"],
                      shape_and_slices=["", "", ""],
                      tensors=[lists["list"], lists["lists"], tf.constant([1.0, 2.0])])
    return prefix
