"""tfckpt: read, write, merge, transfer, edit, average, blend, diff and convert TensorFlow
checkpoints without TensorFlow.

    import tfckpt
    ckpt = tfckpt.open("model.ckpt-1000")      # a prefix, .index, training dir, SavedModel, ...
    ckpt.names(); ckpt["dense/kernel"]          # a read-only numpy view on the mapped file,
                                                # its CRC32C checked on first read
    tfckpt.merge(["a/model-a", "b/model-b"], "merged/model")
    tfckpt.transfer([("a/model-a", {"a": "a"}), ("b/model-b", {"b": "b"})], "out/model",
                    into="ab/model-ab")
    tfckpt.blend(["ft1/model", "ft2/model"], "soup/model", "ties", base="base/model")
    tfckpt.diff("run@1", "run@2")["values_differ"]

Every operation takes its input(s) first and its output second. Every error is a tfckpt.Error
with the message the command line prints, of the subclass of its kind: NotFoundError (also a
KeyError), InvalidArgumentError (also a ValueError), CorruptionError, IOError (also an OSError),
UnsupportedError, AlreadyExistsError, FailedPreconditionError and DataLossError (stored bytes
that disagree with their CRC32C, as TensorFlow's DataLossError).
"""

import json as _json
from collections.abc import Mapping as _Mapping
import os as _os
import sys as _sys
import warnings as _warnings

import numpy as _np

# tfckpt links its own protobuf, RE2 and friends. A process that imported TensorFlow first has
# TensorFlow's copies of those libraries' symbols in its global scope; bind ours to our own
# copies (RTLD_DEEPBIND) so the two never mix.
_flags = _sys.getdlopenflags()
if hasattr(_os, "RTLD_DEEPBIND"):
    _sys.setdlopenflags(_flags | _os.RTLD_DEEPBIND)
try:
    from . import _core
finally:
    _sys.setdlopenflags(_flags)
from ._core import (  # noqa: E402
    AlreadyExistsError, CorruptionError, DataLossError, Error, FailedPreconditionError,
    InvalidArgumentError, IOError, NotFoundError, UnsupportedError, __version__)

# tfckpt.IOError is left out of __all__: `from tfckpt import *` must not shadow the built-in
# IOError (an alias of OSError, of which tfckpt.IOError is a subclass).
__all__ = ["AlreadyExistsError", "Checkpoint", "CorruptionError", "DataLossError", "Error",
           "FailedPreconditionError", "InvalidArgumentError", "NotFoundError",
           "UnsupportedError", "Writer", "apply", "average", "blend", "check_finite", "convert",
           "diff", "edit", "init_from_checkpoint", "merge", "objects", "open", "remote_counters",
           "save", "set_remote_options", "stats", "to_tf1", "to_tf2", "transfer"]


class Checkpoint:
    """A TensorFlow checkpoint opened for reading (see tfckpt.open).

    Opening reads the index only. The first read of a tensor's values (ckpt[name], read(name),
    to_dict()) checks its bytes against the CRC32C stored in the index, as TensorFlow does, and
    raises DataLossError naming the tensor and the data file when they disagree; a tensor that
    passed is not checked again (per Checkpoint, also across threads). verify=False, here or
    per read, skips the check: the view then reads nothing until it is touched."""

    def __init__(self, path, step=None, verify=True):
        self._c = _core.Checkpoint(str(path), step)
        self._verify = bool(verify)
        if self._c.missing_data_files:
            _warnings.warn(self._c.incomplete, stacklevel=3)

    @property
    def prefix(self):
        """The resolved checkpoint prefix."""
        return self._c.prefix

    @property
    def format(self):
        """'v2' for a tensor bundle (PREFIX.index and data files), 'v1' for a legacy V1
        checkpoint (TensorSlice format: one table file per shard), 'keras' for a Keras model file
        (.keras, its unzipped directory, .weights.h5), which read the same way; every writer
        writes V2."""
        return self._c.format

    @property
    def num_shards(self):
        """The number of data files (of a V1 checkpoint: of its files)."""
        return self._c.num_shards

    @property
    def missing_data_files(self):
        """The data files the index names that do not exist (a copy or a download in progress),
        in shard order; empty when the checkpoint is complete. An incomplete checkpoint opens
        with a warning: names, dtypes and shapes are all there, values in the files present read
        as usual, and reading one stored in a missing file raises NotFoundError naming it."""
        return list(self._c.missing_data_files)

    def names(self):
        """Tensor names in key order; partitioned tensors once, under their full name."""
        return self._c.names()

    def _check(self, name):
        if not isinstance(name, str) or not self._c.contains(name):
            raise NotFoundError("tensor %r is not in checkpoint '%s'; its tensors are listed by "
                                "names()" % (name, self.prefix))

    def dtype(self, name):
        """The numpy-style dtype name: 'float32', 'bfloat16', 'string', ..."""
        self._check(name)
        return self._c.dtype(name)

    def shape(self, name):
        self._check(name)
        return self._c.shape(name)

    def read(self, name, raw=False, verify=None):
        """The tensor as a numpy array: a read-only view on the mapped file for fixed-size dtypes
        (assembled for partitioned tensors), an object array of bytes for strings and variants.
        bfloat16, float8 and 4-bit types need ml_dtypes; raw=True gives their bytes as uint8.

        verify (default: the checkpoint's, True unless opened with verify=False): the first read
        of the tensor checks its bytes against the stored CRC32C (reading them all once) and
        raises DataLossError if they disagree; verify=False returns the stored bytes unchecked,
        and the view reads nothing until it is touched."""
        self._check(name)
        return self._c.read(name, raw, self._verify if verify is None else bool(verify))

    def __getitem__(self, name):
        """read(name): the values, their CRC32C checked on first read (see read)."""
        self._check(name)
        return self._c.read(name, False, self._verify)

    def __contains__(self, name):
        return isinstance(name, str) and self._c.contains(name)

    def __len__(self):
        return len(self._c.names())

    def __iter__(self):
        return iter(self._c.names())

    def verify(self):
        """Checks structure and every CRC32C: {'ok', 'problems', 'tensors_checked', ...}."""
        return self._c.verify()

    def to_dict(self, verify=None):
        """{name: array} for every tensor, each as read(name, verify=verify) gives it."""
        verify = self._verify if verify is None else bool(verify)
        return {name: self._c.read(name, False, verify) for name in self._c.names()}

    def __repr__(self):
        return "tfckpt.Checkpoint(%r, %d tensors)" % (self.prefix, len(self))


def open(path, step=None, verify=True):  # noqa: A001 - mirrors the built-in, like tarfile.open
    """Opens a checkpoint: a prefix, its .index or .data file, a training directory (latest, or
    `step`), 'dir@step', or a SavedModel directory. Reads the index only; each tensor's CRC32C
    is checked on its first read unless verify=False (see Checkpoint)."""
    return Checkpoint(path, step, verify)


def set_remote_options(endpoint=None, concurrency=None, max_attempts=None, part_size=None):
    """How remote checkpoints are reached (s3://, gs:// and https:// paths to read; s3:// and
    gs:// outputs), for every later call: the S3 `endpoint` (default: AWS_ENDPOINT_URL, else
    AWS), the most requests in flight at once (`concurrency`, default 16), attempts per request
    (`max_attempts`, default 8) and bytes per ranged GET or uploaded part (`part_size`, default
    8 MiB; parts are at least 5 MiB). None keeps the default; each call
    replaces all four. Credentials come from the environment and ~/.aws as for the AWS tools."""
    for name, value in (("concurrency", concurrency), ("max_attempts", max_attempts),
                        ("part_size", part_size)):
        if value is not None and int(value) <= 0:
            raise ValueError("%s must be positive, not %r" % (name, value))
    _core.set_remote_options(endpoint or "", int(concurrency or 0), int(max_attempts or 0),
                             int(part_size or 0))


def remote_counters():
    """What remote reads of this process have done so far: {"requests", "retries", "bytes"}
    (HTTP requests sent, retries among them, body bytes received)."""
    return dict(_core.remote_counters())


def _missing_directories(prefix):
    """The directories above `prefix` that do not exist yet, deepest first (none for s3:// and
    gs:// prefixes: object storage has no directories)."""
    if prefix.startswith(("s3://", "gs://", "http://", "https://")):
        return []
    out = []
    d = _os.path.dirname(_os.path.abspath(prefix))
    while not _os.path.exists(d):
        out.append(d)
        parent = _os.path.dirname(d)
        if parent == d:
            break
        d = parent
    return out


class Writer:
    """Writes a new checkpoint, committed atomically by close() (or on leaving a `with` block
    without an exception; with one, or after abort(), nothing is left behind: no file, and no
    directory the writer created for the checkpoint).

    add(name, array) stores the array's values in row-major little-endian order, whatever its
    layout: big-endian dtypes, Fortran order, strides, negative strides, views and read-only
    arrays all read back (in TensorFlow too) as the values numpy shows.

    An existing checkpoint at `prefix` raises AlreadyExistsError unless overwrite=True (it is
    then replaced atomically by close())."""

    def __init__(self, prefix, overwrite=False):
        prefix = _os.fsdecode(prefix)
        self._created = _missing_directories(prefix)
        self._w = _core.Writer(prefix, bool(overwrite))

    def add(self, name, array):
        array = _np.asarray(array)
        if array.dtype.kind == "U":
            array = _np.array([s.encode("utf-8") for s in array.ravel()],
                              dtype=object).reshape(array.shape)
        self._w.add(name, array)

    def close(self):
        try:
            self._w.close()
        except BaseException:
            self._remove_created_directories()
            raise
        self._created = []

    def abort(self):
        self._w.abort()
        self._remove_created_directories()

    def _remove_created_directories(self):
        for d in self._created:  # deepest first; one that holds anything stays, with its parents
            try:
                _os.rmdir(d)
            except OSError:
                break
        self._created = []

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


def save(prefix, tensors, overwrite=False):
    """Writes {name: array} as a checkpoint at `prefix` (each array as Writer.add stores it)."""
    with Writer(prefix, overwrite) as w:
        for name, array in tensors.items():
            w.add(name, array)


def _pairs(mapping):
    if mapping is None:
        return []
    if isinstance(mapping, dict):
        return [(str(k), str(v)) for k, v in mapping.items()]
    return [(str(k), str(v)) for k, v in mapping]


def merge(sources, output, on_conflict="error", link="auto", move=False, force=False,
          dry_run=False, max_shard_size=None):
    """Merges whole checkpoints into one (tfckpt merge); returns the plan or summary.

    `max_shard_size` (a number of bytes, or a size such as "2GB"; Keras' own max_shard_size
    counts GiB): an output of sharded Keras weights (X.weights.json) is written as .weights.h5
    shards of at most this size, in the form Keras' save_weights(max_shard_size=) gives; the
    other writing functions take it too.

    `sources` is a list of checkpoints, or a dict {name: checkpoint} to put each source under its
    own name (TF2: a child of the root, so tf.train.Checkpoint(name=model, ...) restores it; TF1:
    a scope)."""
    if isinstance(sources, _Mapping):
        names = [str(n) for n in sources]
        paths = [str(p) for p in sources.values()]
    else:
        paths = [str(s) for s in sources]
        names = [""] * len(paths)
    return _json.loads(_core.merge(paths, names, str(output), on_conflict, link, move, force,
                                   dry_run, _shard_size(max_shard_size)))


def _shard_size(max_shard_size):
    return None if max_shard_size is None else str(max_shard_size)


def _is_path(value):
    return isinstance(value, (str, bytes, _os.PathLike))


def _short_repr(value, limit=120):
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _progress(progress):
    """progress= of average, blend and apply: None or a callable."""
    if progress is not None and not callable(progress):
        raise TypeError("progress must be a callable progress(done_bytes, total_bytes), not %s"
                        % _short_repr(progress))
    return progress


def _groups(sources):
    """transfer's sources -> [(checkpoint, [(name_in_checkpoint, target)])]."""
    if _is_path(sources):
        raise TypeError("transfer: sources must be a list of (checkpoint, assignment map) "
                        "pairs, e.g. [(%r, {'scope/': 'scope/'})], not one path"
                        % _os.fsdecode(sources))
    items = sources.items() if isinstance(sources, _Mapping) else sources
    groups = []
    for item in items:
        if _is_path(item):  # a checkpoint without a map: every tensor of `into` it has
            groups.append((_os.fsdecode(item), []))
            continue
        try:
            src, amap = item
        except (TypeError, ValueError):
            raise TypeError("transfer: each source is a (checkpoint, assignment map) pair or a "
                            "checkpoint; got %s" % _short_repr(item)) from None
        if not _is_path(src):
            raise TypeError("transfer: a source's checkpoint is a path; got %s in %s"
                            % (_short_repr(src), _short_repr(item)))
        groups.append((_os.fsdecode(src), _pairs(amap)))
    return groups


def transfer(sources, output, into=None, tf2_names="auto", include_optimizer=False, force=False,
             dry_run=False, max_shard_size=None):
    """init_from_checkpoint into a new checkpoint (tfckpt transfer), written at `output`.

    `sources` is a list of (checkpoint, {name_in_checkpoint: target}) pairs, one per
    init_from_checkpoint call, in order (a later one wins); a pair's map may be a dict or a list
    of (old, new) pairs, and a bare checkpoint (or an empty map) takes every tensor of `into` the
    checkpoint has, by name. A dict {checkpoint: map} works too. `into` is the model whose names,
    dtypes and shapes the output has (a checkpoint or a SavedModel; its values stay where no
    mapping applies); without it the output holds the mapped tensors only.

    `tf2_names`: how TF2 checkpoints' tensors are named, "keys", "full" (the variables' full
    names) or "auto" (full when TF1 and TF2 checkpoints meet; between two TF2 checkpoints
    without a map, whichever matches more). Scope maps and by-name matches leave the model's
    optimizer state (slots, optimizer variables) as it is in `into`; `include_optimizer=True`
    maps it too.

    The sources come first and the output second, as in merge(sources, output); the order
    transfer(output, sources) of earlier versions raises TypeError."""
    if _is_path(sources) and output is not None and not _is_path(output):
        call = "tfckpt.transfer(%s, %s%s)" % (
            _short_repr(output), _short_repr(_os.fsdecode(sources)),
            "" if into is None else ", into=%s" % _short_repr(_os.fsdecode(into)))
        raise TypeError("transfer(sources, output, ...) takes the sources first and the output "
                        "second, as merge(sources, output) does (the order changed: it was "
                        "transfer(output, sources)); write %s" % call)
    if not _is_path(output):
        raise TypeError("transfer: output is the path of the checkpoint to write; got %s"
                        % _short_repr(output))
    return _json.loads(_core.transfer(_os.fsdecode(output), _groups(sources),
                                      None if into is None else _os.fsdecode(into),
                                      tf2_names, bool(include_optimizer), force, dry_run,
                                      _shard_size(max_shard_size)))


def to_tf1(source, output, force=False, dry_run=False):
    """A TF2 checkpoint as a name-based (TF1) one keyed by full names (tfckpt convert --to-tf1)."""
    return _json.loads(_core.to_tf1(str(source), str(output), force, dry_run))


def to_tf2(source, template, output, force=False, dry_run=False):
    """The TF2 `template` with every variable whose full name `source` holds taken from it
    (tfckpt convert --to-tf2 --template TEMPLATE)."""
    return _json.loads(_core.to_tf2(str(source), str(template), str(output), force, dry_run))


def objects(path):
    """The object graph of a TF2 checkpoint, as `tfckpt ls --objects --json` prints it."""
    return _json.loads(_core.objects(str(path)))


def edit(source, output, rename=None, keep=None, drop=None, strip_optimizer=False, force=False,
         dry_run=False, max_shard_size=None):
    """Renames, filters or strips optimizer state (tfckpt edit)."""
    return _json.loads(_core.edit(str(source), str(output), _pairs(rename), list(keep or []),
                                  list(drop or []), strip_optimizer, force, dry_run,
                                  _shard_size(max_shard_size)))


def average(sources, output, weights=None, normalize=True, take_nonfloat_from=-1,
            keep_optimizer=False, force=False, dry_run=False, last=None, progress=None,
            max_shard_size=None):
    """Averages checkpoints (tfckpt average). last=(n, directory) picks the last n listed in
    the directory's `checkpoint` file instead of `sources` (or, in a directory without one, the
    last n Keras files a ModelCheckpoint callback left there; the plan's notes say which).

    `progress`: called as progress(done_bytes, total_bytes) through the output's bytes (reading
    the sources to check them counts as part of the work), at most about ten times a second and
    last with done_bytes == total_bytes; an exception it raises is raised when the output has
    been written."""
    progress = _progress(progress)
    selection = ""
    if last is not None:
        sources, selection = _core.last_checkpoints_chosen(str(last[1]), int(last[0]))
    return _json.loads(_core.average([str(s) for s in sources], str(output),
                                     [float(w) for w in (weights or [])], normalize,
                                     take_nonfloat_from, keep_optimizer, force, dry_run,
                                     progress, selection, _shard_size(max_shard_size)))


_BLEND_RULE_KEYS = ("match", "weights", "lambda", "t", "density", "p")


def _blend_rules(per_tensor):
    rules = []
    for rule in per_tensor or []:
        if not isinstance(rule, _Mapping):
            raise InvalidArgumentError("per_tensor: each rule is a dict such as {'match': "
                                       "'attention', 'density': 0.7}; got %s" % _short_repr(rule))
        unknown = sorted(str(k) for k in rule if k not in _BLEND_RULE_KEYS)
        if unknown:
            raise InvalidArgumentError("per_tensor rule %s: unknown key(s) %s (match, weights, "
                                       "lambda, t, density, p)" % (_short_repr(rule),
                                                                   ", ".join(unknown)))
        if "match" not in rule:
            raise InvalidArgumentError("per_tensor rule %s needs 'match' (a regex searched in "
                                       "the tensor names)" % _short_repr(rule))
        weights = rule.get("weights")

        def number(key):
            return None if rule.get(key) is None else float(rule[key])

        rules.append((str(rule["match"]),
                      None if weights is None else [float(w) for w in weights],
                      number("lambda"), number("t"), number("density"), number("p")))
    return rules


def blend(models, output, method, base=None, weights=None, lambda_=1.0, t=0.5, density=0.5,
          p=0.5, seed=0, normalize=True, keep_optimizer=False, per_tensor=None, force=False,
          dry_run=False, progress=None, max_shard_size=None):
    """Merges same-architecture models tensor by tensor (tfckpt blend METHOD MODEL... --base B);
    returns the plan (dry_run=True) or the summary, as `tfckpt blend --json` prints them.

    `method`: "linear" (weighted mean of the models), "task_arithmetic" (base + lambda_ * the
    weighted sum of the models' deltas from the base), "slerp" (spherical interpolation from the
    base, t=0, to the one model, t=1), "ties" (deltas trimmed to the `density` largest, signs
    elected, agreeing ones averaged) or "dare" (deltas dropped with probability `p`, seeded by
    `seed`, rescaled); docs/METHODS.md gives the exact arithmetic. Every method but linear needs
    `base`, the model the others were fine-tuned from. `weights`: one per model (default 1
    each); `normalize=False`: linear sums instead of averaging, ties sums the agreeing deltas.
    Floating-point tensors are computed in float64 and rounded once to their dtype; the others
    come from `base` (else the first model). Optimizer slots are dropped unless
    keep_optimizer=True.

    `per_tensor`: rules [{"match": REGEX, "weights": [...], "lambda": x, "t": x, "density": x,
    "p": x}] for the tensors whose names REGEX searches; the last matching rule wins for each
    parameter it sets (--set REGEX:KEY=VALUE of the command line, per_tensor of a recipe).

    `progress`: called as progress(done_bytes, total_bytes) as for average."""
    progress = _progress(progress)
    if _is_path(models):
        raise TypeError("blend: models is a list of checkpoints, not one path (%r)"
                        % _os.fsdecode(models))
    if not _is_path(output):
        raise TypeError("blend(models, output, method, ...): output is the path of the "
                        "checkpoint to write; got %s" % _short_repr(output))
    seed = int(seed)
    if not 0 <= seed < 2 ** 64:
        raise InvalidArgumentError("seed=%d: it must be in [0, 2**64)" % seed)
    return _json.loads(_core.blend(
        str(method), None if base is None else _os.fsdecode(base),
        [_os.fsdecode(m) for m in models], _os.fsdecode(output),
        [float(w) for w in (weights or [])], float(lambda_), float(t), float(density), float(p),
        seed, bool(normalize), bool(keep_optimizer), _blend_rules(per_tensor), bool(force),
        bool(dry_run), progress, _shard_size(max_shard_size)))


def diff(a, b, atol=0.0, rtol=0.0, names_only=False, norms=False):
    """Compares two checkpoints (tfckpt diff A B --json): each a path in any form open() takes
    ('dir@step' included) or an open Checkpoint. Returns {"a", "b" (the prefixes), "only_in_a",
    "only_in_b" (names), "changed" ([{"name", "a": {"dtype", "shape"}, "b": {...}}]: other dtype
    or shape), "values_differ" ([{"name", "differing", "max_abs", "max_rel"}]), "identical" (how
    many tensors are equal), "same" (True when nothing differs: the command's exit code 0)}.

    Values a (of A) and b (of B) are equal when |a - b| <= atol + rtol * |b|, as numpy.isclose
    says; NaN equals NaN; the defaults ask for exact equality. max_abs is the largest |a - b|,
    max_rel the largest |a - b| / |b| (infinite where b == 0 != a); both are NaN for string and
    variant tensors. The tensors compared are read and their CRC32C checked: a damaged one raises
    DataLossError. names_only=True compares names, dtypes and shapes only and reads no value (so
    it works on incomplete checkpoints): tensors alike in both are counted in
    "values_not_compared", and "identical" stays 0. norms=True adds "relative_change": [{"name",
    "a_l2", "diff_l2", "relative"}] for every numeric tensor whose values were compared
    (||A||, ||B-A|| and their ratio, 0 when equal; as `diff --norms --json`)."""
    def core(c):
        return c._c if isinstance(c, Checkpoint) else _core.Checkpoint(_os.fsdecode(c), None)

    if norms and names_only:
        raise InvalidArgumentError("names_only=True reads no value, so it measures no change; "
                                   "drop norms=True or names_only=True")
    return _core.diff(core(a), core(b), float(atol), float(rtol), bool(names_only), bool(norms))


def stats(source, names=None, threads=0, filter=None):  # noqa: A002 - as the option
    """Statistics of a checkpoint's tensors (tfckpt stats): {name: {"dtype", "shape", "count",
    "min", "max", "mean", "std", "l2", "nan", "inf", "zeros"}} in the checkpoint's order, for the
    tensors in `names`, or those whose name the regular expression `filter` matches somewhere
    (as `--filter`; give one or the other), or all. `source` is a path in any form open() takes
    or an open Checkpoint.

    Accumulated in float64. min, max, mean and std (numpy's default, ddof=0) are over the finite
    elements only, as numpy gives them for x[np.isfinite(x)], and None when there are none; l2
    is the norm of those elements. A bool's mean is the fraction of True. Complex tensors have
    only the counts and l2 (an element with a NaN or infinite part counts as NaN or Inf); string
    and variant tensors only "dtype", "shape" and "count". The min and max of integer tensors
    are exact ints. A tensor holds NaN or Inf exactly when its "nan" or "inf" is non-zero. A
    tensor that cannot be read (damaged bytes, a missing data file) has an "error" (the message)
    instead of statistics, so that the others are still described."""
    c = source._c if isinstance(source, Checkpoint) else _core.Checkpoint(_os.fsdecode(source),
                                                                           None)
    if isinstance(names, str):
        names = [names]
    return _core.stats(c, list(names or []), int(threads), None if filter is None else str(filter))


def check_finite(source, names=None, filter=None, all=False, threads=0):  # noqa: A002
    """Which tensors hold NaN or Inf (tfckpt stats --check-finite [--all] --json).

    `source` is a checkpoint in any form open() takes, or with all=True a training directory,
    whose listed checkpoints (its `checkpoint` file, oldest first) are each checked: the question
    after a diverged run, "which checkpoint first has NaN?". `names` and `filter` choose the
    tensors as for stats(). Returns {"checkpoints": [{"prefix", "nonfinite": [names holding NaN
    or Inf], "unread": {name: error message} (tensors that could not be read)}],
    "first_nonfinite": the prefix of the first checkpoint with a NaN or Inf, or None}. With
    all=True a listed checkpoint that cannot be opened or lacks a tensor asked for is an entry
    {"path" or "prefix", "error"} and the others are still checked; without, that raises."""
    if all:
        if isinstance(source, Checkpoint):
            raise TypeError("check_finite(all=True) takes a training directory, not an open "
                            "Checkpoint")
        paths = _core.listed_checkpoints(_os.fsdecode(source))
    else:
        paths = [source]
    out = {"checkpoints": [], "first_nonfinite": None}
    for path in paths:
        try:
            c = path if isinstance(path, Checkpoint) else open(path, verify=False)
        except Error as e:
            if not all:
                raise
            out["checkpoints"].append({"path": path, "error": str(e)})
            continue
        try:
            described = stats(c, names, threads, filter)
        except Error as e:
            if not all:
                raise
            out["checkpoints"].append({"prefix": c.prefix, "error": str(e)})
            continue
        nonfinite = [n for n, s in described.items() if s.get("nan") or s.get("inf")]
        unread = {n: s["error"] for n, s in described.items() if "error" in s}
        out["checkpoints"].append({"prefix": c.prefix, "nonfinite": nonfinite, "unread": unread})
        if nonfinite and out["first_nonfinite"] is None:
            out["first_nonfinite"] = c.prefix
    return out


def apply(recipe, output=None, force=False, dry_run=False, progress=None):
    """Runs a recipe file (tfckpt apply); returns its report. `progress`: as for average,
    through every step (total_bytes grows as each step begins)."""
    return _core.apply(str(recipe), None if output is None else str(output), force, dry_run,
                       _progress(progress))


def convert(source, output, skip_unsupported=False, strip_optimizer=False, max_shard_size=None,
            force=False, template=None):
    """Converts to or from safetensors / .npz / Keras files (tfckpt convert).

    A Keras `output` (.keras, .weights.h5, .h5, .weights.json with `max_shard_size`) takes its
    layout from `template`, a Keras file of the same model, and every weight `source` holds
    under the same name."""
    return _json.loads(_core.convert(str(source), str(output), skip_unsupported, strip_optimizer,
                                     _shard_size(max_shard_size),
                                     force, "" if template is None else str(template)))


def _dtype_name(dtype):
    name = getattr(dtype, "name", None)
    return str(name if name is not None else _np.dtype(dtype).name)


def init_from_checkpoint(ckpt, assignment_map, variables, tf2_names="auto",
                         include_optimizer=False):
    """tf.compat.v1.train.init_from_checkpoint for variables that are not TensorFlow's.

    `variables` maps target names to objects that receive values: anything with an
    `assign(array)` method (a tf.Variable, a custom parameter), or a writable numpy array,
    filled in place. Dtypes and shapes come from the objects' `.dtype` and `.shape`. The
    assignment map takes init_from_checkpoint's forms ('scope/': 'other/', '/': 'scope/',
    'name': 'other_name'); every problem is reported before anything is assigned, a value
    whose bytes disagree with their CRC32C included (DataLossError). Returns
    {target: key of the checkpoint tensor it received} for each assignment.

    `tf2_names` says how the tensors of a TF2 (object-based) `ckpt` are named in the map:
    "keys" ('model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE', what TensorFlow's
    init_from_checkpoint lists), "full" (the full names its object graph records: 'dense/kernel',
    what a TF1 Saver would have called them), or "auto", which is "keys" here (the variables are
    no checkpoint to compare with); as `tfckpt transfer --tf2-names`.

    Scope maps leave variables named as optimizer state (TF1 '.../Adam', 'beta1_power', ...)
    alone unless `include_optimizer=True`; a single-name map always applies.
    """
    targets = []
    for name, obj in variables.items():
        if not hasattr(obj, "assign"):
            if not isinstance(obj, _np.ndarray):
                raise InvalidArgumentError("variable '%s' can receive no value: give a writable "
                                           "numpy array or an object with an assign() method"
                                           % name)
            if not obj.flags.writeable:
                raise InvalidArgumentError("variable '%s' is a read-only array; give a writable "
                                           "one" % name)
        shape = getattr(obj, "shape")
        shape = shape.as_list() if hasattr(shape, "as_list") else list(shape)
        targets.append((str(name), _dtype_name(obj.dtype), [int(d) for d in shape]))

    received = {}
    assigned = _core.init_from_checkpoint(str(ckpt), _pairs(assignment_map), targets,
                                          lambda name, value: received.__setitem__(name, value),
                                          str(tf2_names), bool(include_optimizer))
    # Every check passed before the first value arrived: assign them all now.
    for name, value in received.items():
        obj = variables[name]
        if hasattr(obj, "assign"):
            obj.assign(_np.array(value))
        else:
            _np.copyto(obj, value)
    return dict(assigned)
