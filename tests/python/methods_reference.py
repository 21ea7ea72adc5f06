"""numpy reference implementations of `tfckpt average` and `tfckpt blend`, written from their
contract (float64 arithmetic per tensor, one correctly rounded conversion to the tensor's dtype).

Everything here works on numpy arrays as TensorFlow reads them; nothing calls the binaries.

Note on rounding: numpy's float64 -> float16 cast is correctly rounded, but ml_dtypes' and
TensorFlow's float64 -> bfloat16 / float8 casts go through float32 first (double rounding), and so
does tf.cast(float64 -> float16).  The contract asks for round-to-nearest-even from float64, so
`round_to_dtype` rounds with a table of every finite value of the narrow type instead.
"""

import math
import re

import ml_dtypes
import numpy as np

# ---------------------------------------------------------------------------------------------
# dtypes and rounding
# ---------------------------------------------------------------------------------------------

REAL_FLOATS = {"float16", "bfloat16", "float32", "float64", "float8_e5m2", "float8_e4m3fn",
               "float8_e4m3fnuz", "float8_e4m3b11fnuz", "float8_e5m2fnuz", "float4_e2m1fn"}
COMPLEX = {"complex64": "float32", "complex128": "float64"}


def np_dtype(name):
    if hasattr(np, name) and name not in ("bfloat16",):
        return np.dtype(getattr(np, name))
    return np.dtype(getattr(ml_dtypes, name))


def dtype_name(dtype):
    return np.dtype(dtype).name


def is_real_float(dtype):
    return dtype_name(dtype) in REAL_FLOATS


def is_complex(dtype):
    return dtype_name(dtype) in COMPLEX


def is_floating(dtype):
    return is_real_float(dtype) or is_complex(dtype)


_TABLES = {}


def _table(dt):
    """(sorted finite values as float64 without a duplicate zero, their bit patterns)."""
    if dt.name in _TABLES:
        return _TABLES[dt.name]
    bits = ml_dtypes.finfo(dt).bits
    utype = np.uint8 if dt.itemsize == 1 else np.uint16
    patterns = np.arange(2 ** bits, dtype=np.uint32).astype(utype)
    with np.errstate(invalid="ignore"):
        values = patterns.view(dt).astype(np.float64)
    ok = np.isfinite(values) & ~((values == 0) & np.signbit(values))  # drop -0, keep +0
    values, patterns = values[ok], patterns[ok]
    order = np.argsort(values, kind="stable")
    values, patterns = values[order], patterns[order]
    assert (np.diff(values) > 0).all(), dt
    neg_zero = np.signbit(np.array(-0.0).astype(dt).astype(np.float64))
    _TABLES[dt.name] = (values, patterns, bool(neg_zero))
    return _TABLES[dt.name]


def _round_narrow(x, dt):
    values, patterns, has_neg_zero = _table(dt)
    x = np.asarray(x, np.float64)
    flat = x.reshape(-1)
    if np.isnan(flat).any():
        raise ValueError("reference rounding of NaN is not defined here")
    top, below_top = values[-1], values[-2]
    limit = top + (top - below_top) / 2
    if (np.abs(flat) >= limit).any():
        raise OverflowError("value out of range of %s" % dt.name)
    idx = np.searchsorted(values, flat, side="left")
    idx = np.clip(idx, 1, len(values) - 1)
    hi, lo = values[idx], values[idx - 1]
    exact_hi = flat == hi
    mid = (lo + hi) / 2  # exact: lo and hi are adjacent values of a much narrower type
    pick_hi = exact_hi | (flat > mid) | ((flat == mid) & (patterns[idx] % 2 == 0))
    out = np.where(pick_hi, hi, lo)
    out = np.where(flat <= values[0], values[0], out)  # in (-limit, -max]: |x| < limit checked
    if has_neg_zero:
        out = np.where(out == 0, np.copysign(0.0, flat), out)
    return out.reshape(x.shape).astype(dt)


def round_to_dtype(x, dtype):
    """float64 (or complex128) values -> `dtype`, round to nearest, ties to even."""
    dt = np.dtype(dtype)
    name = dt.name
    if name == "float64":
        return np.asarray(x, np.float64)
    if name == "float32":
        return np.asarray(x, np.float64).astype(np.float32)  # C's double->float: RNE
    if name == "complex128":
        return np.asarray(x, np.complex128)
    if name == "complex64":
        x = np.asarray(x, np.complex128)
        out = np.empty(x.shape, np.complex64)
        out.real = x.real.astype(np.float32)
        out.imag = x.imag.astype(np.float32)
        return out
    if name in REAL_FLOATS:
        return _round_narrow(x, dt)
    raise TypeError("not a floating dtype: %s" % name)


def widen(x):
    """A TF-read array as float64 (or complex128)."""
    x = np.asarray(x)
    if is_complex(x.dtype):
        return x.astype(np.complex128)
    return x.astype(np.float64)


def bits(x):
    """An unsigned-integer view of a float array, for bit-exact comparisons."""
    x = np.ascontiguousarray(np.asarray(x))
    return x.view({1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64, 16: np.uint64}[
        x.dtype.itemsize])


def assert_bits_equal(got, want, what, max_ulps=0):
    """Bit-exact (or within max_ulps for real floats) comparison of two same-dtype arrays."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, "%s: dtype %s vs %s" % (what, got.dtype, want.dtype)
    assert got.shape == want.shape, "%s: shape %s vs %s" % (what, got.shape, want.shape)
    gb, wb = bits(got).reshape(-1), bits(want).reshape(-1)
    if max_ulps and not is_complex(got.dtype):
        # sign-magnitude -> monotonic integers, then distance in units in the last place
        def ordered(b):
            nbits = b.dtype.itemsize * 8
            b = b.astype(np.int64) if nbits < 64 else b.view(np.int64)
            sign = np.int64(1) << np.int64(nbits - 1)
            if nbits < 64:
                return np.where(b & sign, -(b & ~sign), b)
            mag = b & np.int64(0x7FFFFFFFFFFFFFFF)
            return np.where(b < 0, -mag, mag)
        dist = np.abs(ordered(gb) - ordered(wb))
        bad = np.nonzero(dist > max_ulps)[0]
    else:
        bad = np.nonzero(gb != wb)[0]
    if len(bad):
        g, w = got.reshape(-1), want.reshape(-1)
        show = ", ".join("[%d] got %r (0x%x) want %r (0x%x)" % (
            i, g[i].item(), int(gb[i]), w[i].item(), int(wb[i])) for i in bad[:6])
        raise AssertionError("%s: %d of %d element(s) differ: %s" % (what, len(bad), gb.size, show))


# ---------------------------------------------------------------------------------------------
# average
# ---------------------------------------------------------------------------------------------


def _weights(n, weights):
    if weights is None:
        return [1.0] * n
    weights = [float(w) for w in weights]
    assert len(weights) == n, (weights, n)
    return weights


def average(xs, weights=None, normalize=True):
    """out = sum_i w_i x_i in float64 (input order), divided by sum_i w_i unless not normalize."""
    w = _weights(len(xs), weights)
    acc = None
    for wi, x in zip(w, xs):
        term = wi * widen(x)
        acc = term if acc is None else acc + term
    if normalize:
        total = 0.0
        for wi in w:
            total += wi
        if np.iscomplexobj(acc):  # divide each component by the real total (no complex division)
            out = np.empty_like(acc)
            out.real = acc.real / total
            out.imag = acc.imag / total
            acc = out
        else:
            acc = acc / total
    return round_to_dtype(acc, np.asarray(xs[0]).dtype)


# ---------------------------------------------------------------------------------------------
# blend methods: each takes float64 arrays and returns float64, then `blend` rounds
# ---------------------------------------------------------------------------------------------


def _weighted_sum(arrays, w):
    acc = None
    for wi, a in zip(w, arrays):
        term = wi * a
        acc = term if acc is None else acc + term
    return acc


def linear64(models, weights=None, normalize=True):
    w = _weights(len(models), weights)
    acc = _weighted_sum(models, w)
    if normalize:
        total = 0.0
        for wi in w:
            total += wi
        acc = acc / total
    return acc


def task_arithmetic64(base, models, weights=None, lam=1.0):
    w = _weights(len(models), weights)
    taus = [m - base for m in models]
    return base + lam * _weighted_sum(taus, w)


def slerp64(v0_arr, v1_arr, t=0.5):
    shape = v0_arr.shape
    v0, v1 = v0_arr.reshape(-1), v1_arr.reshape(-1)
    norm0, norm1 = math.sqrt(float(np.dot(v0, v0))), math.sqrt(float(np.dot(v1, v1)))
    n0 = v0 / norm0 if norm0 > 1e-8 else v0
    n1 = v1 / norm1 if norm1 > 1e-8 else v1
    dot = float(np.clip(np.dot(n0, n1), -1.0, 1.0))
    if abs(dot) > 0.9995:
        out = (1 - t) * v0 + t * v1
    else:
        theta0 = math.acos(dot)
        theta_t = theta0 * t
        s0 = math.sin(theta0 - theta_t) / math.sin(theta0)
        s1 = math.sin(theta_t) / math.sin(theta0)
        out = s0 * v0 + s1 * v1
    return out.reshape(shape)


def slerp_branch(v0_arr, v1_arr):
    """'lerp' or 'slerp': which branch the contract takes for this pair (tests use it to make
    sure both are exercised and that no input sits near the threshold)."""
    v0, v1 = v0_arr.reshape(-1), v1_arr.reshape(-1)
    norm0, norm1 = np.linalg.norm(v0), np.linalg.norm(v1)
    n0 = v0 / norm0 if norm0 > 1e-8 else v0
    n1 = v1 / norm1 if norm1 > 1e-8 else v1
    dot = float(np.clip(np.dot(n0, n1), -1.0, 1.0))
    return ("lerp" if abs(dot) > 0.9995 else "slerp"), dot


def trim(tau, density):
    """Keeps the k = floor(d * n) largest |tau| (stable: lower flat index first)."""
    flat = tau.reshape(-1)
    k = int(math.floor(density * flat.size))
    keep = np.argsort(-np.abs(flat), kind="stable")[:k]
    out = np.zeros_like(flat)
    out[keep] = flat[keep]
    return out.reshape(tau.shape)


def ties64(base, models, weights=None, lam=1.0, density=0.5, normalize=True):
    w = _weights(len(models), weights)
    trimmed = [trim(m - base, density) for m in models]
    elected = np.sign(_weighted_sum(trimmed, w))
    masks = [((np.sign(t) == elected) & (t != 0)).astype(np.float64) for t in trimmed]
    merged = _weighted_sum([t * m for t, m in zip(trimmed, masks)], w)
    if normalize:
        denom = _weighted_sum(masks, w)
        denom = np.where(denom == 0, 1.0, denom)
        merged = merged / denom
    return base + lam * merged


MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & MASK64
    return h


def dare_uniforms(seed, name, model_index, n):
    """The n uniforms in [0, 1) of model `model_index` (0-based) for tensor `name`."""
    state = (seed ^ fnv1a64(name.encode("utf-8")) ^ (((model_index + 1) * GOLDEN) & MASK64)) \
        & MASK64
    with np.errstate(over="ignore"):
        # the j-th next() sees state + (j + 1) * GOLDEN
        steps = np.arange(1, n + 1, dtype=np.uint64)
        z = np.uint64(state) + steps * np.uint64(GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def _splitmix_scalar(state):
    """The contract's next(), one value at a time (to cross-check the vectorised one)."""
    state = (state + GOLDEN) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def dare_uniforms_scalar(seed, name, model_index, n):
    state = (seed ^ fnv1a64(name.encode("utf-8")) ^ (((model_index + 1) * GOLDEN) & MASK64)) \
        & MASK64
    out = []
    for _ in range(n):
        state, z = _splitmix_scalar(state)
        out.append((z >> 11) * 2.0 ** -53)
    return np.array(out, np.float64)


def dare64(base, models, name, weights=None, lam=1.0, p=0.5, seed=0):
    w = _weights(len(models), weights)
    taus = []
    for i, m in enumerate(models):
        tau = m - base
        u = dare_uniforms(seed, name, i, tau.size).reshape(tau.shape)
        keep = (u >= p).astype(np.float64)
        taus.append(tau * keep / (1 - p))
    return base + lam * _weighted_sum(taus, w)


# ---------------------------------------------------------------------------------------------
# whole checkpoints
# ---------------------------------------------------------------------------------------------

_NUMERIC_KEYS = {"lambda", "t", "density", "p"}


def params_for(name, defaults, overrides):
    """defaults + every --set (regex, key, value) whose regex searches `name`; the last wins."""
    params = dict(defaults)
    for regex, key, value in overrides:
        if re.search(regex, name):
            if key == "weights":
                params[key] = [float(v) for v in str(value).split(",")] \
                    if isinstance(value, str) else [float(v) for v in value]
            elif key in _NUMERIC_KEYS:
                params[key] = float(value)
            else:
                raise KeyError(key)
    return params


def blend_tensor(method, name, base, models, params):
    """One float tensor: base (array or None) and models as TF read them -> rounded result."""
    dtype = np.asarray(models[0]).dtype
    m64 = [widen(m) for m in models]
    b64 = widen(base) if base is not None else None
    w = params.get("weights")
    norm = params.get("normalize", True)
    lam = params.get("lambda", 1.0)
    if method == "linear":
        out = linear64(m64, w, norm)
    elif method == "task_arithmetic":
        out = task_arithmetic64(b64, m64, w, lam)
    elif method == "slerp":
        assert len(m64) == 1
        out = slerp64(b64, m64[0], params.get("t", 0.5))
    elif method == "ties":
        out = ties64(b64, m64, w, lam, params.get("density", 0.5), norm)
    elif method == "dare":
        out = dare64(b64, m64, name, w, lam, params.get("p", 0.5), int(params.get("seed", 0)))
    else:
        raise ValueError(method)
    return round_to_dtype(out, dtype)


def blend(method, base, models, defaults=None, overrides=()):
    """base: {name: array} or None (linear); models: [{name: array}].  Floats are blended with
    their per-tensor parameters; every other tensor is copied from base (or the first model)."""
    defaults = dict(defaults or {})
    first = base if base is not None else models[0]
    out = {}
    for name, value in first.items():
        value = np.asarray(value)
        if value.dtype == object or not is_floating(value.dtype):
            out[name] = value
            continue
        params = params_for(name, defaults, overrides)
        out[name] = blend_tensor(method, name, None if base is None else value,
                                 [mdl[name] for mdl in models], params)
    return out
