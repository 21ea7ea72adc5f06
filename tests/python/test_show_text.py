"""`tfckpt show` prints values as numpy prints them: the text equals str() of the array that
TensorFlow reads back, for the dtypes numpy itself prints (bfloat16 and float8 come from
ml_dtypes, which prints differently, and are checked through --json elsewhere)."""

import re

import numpy as np
import pytest
import tensorflow as tf

RNG = np.random.default_rng(7)
CASES = {
    "f32_matrix": np.array([[1.5, 2.0, 3.25], [4, 5, 6]], np.float32),
    "f32_random": RNG.standard_normal((3, 4)).astype(np.float32),
    "f64_random": RNG.standard_normal((2, 3)),
    "f32_scientific": np.array([1.5e-5, 1.0, -3.0], np.float32),
    "f64_large": np.array([1e9, 2.0], np.float64),
    "f16": np.array([0.1, 2.5, -3], np.float16),
    "c64": np.array([1 + 2j, 3 - 1j], np.complex64),
    "nonfinite": np.array([np.nan, 1.25, -np.inf], np.float64),
    "nonfinite32": np.array([np.nan, 1.0, np.inf], np.float32),
    "scalar_f32": np.float32(3.0),
    "scalar_f64": np.float64(-2.3250307746388343),
    "scalar_tiny": np.float32(1e-5),
    "scalar_i64": np.int64(-7),
    "wrapped_row": RNG.standard_normal(30).astype(np.float32),
    "cube": RNG.standard_normal((2, 2, 3)).astype(np.float32),
    "summarised_vector": RNG.standard_normal(2000).astype(np.float32),
    "summarised_matrix": RNG.standard_normal((50, 50)),
    "ints": np.array([[1, -20, 300]], np.int64),
    "uint8": np.arange(12, dtype=np.uint8).reshape(3, 4),
    "bools": np.array([True, False, True]),
    "strings": np.array([b"hi", b"", b"x\x00y", b"it's"]),
    "empty": np.zeros((0, 3), np.float32),
}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    prefix = str(tmp_path_factory.mktemp("show_text") / "ckpt")
    names = sorted(CASES)
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(CASES[n]) for n in names])
    return prefix


@pytest.mark.parametrize("name", sorted(CASES))
def test_show_text_is_numpy_str(tfckpt, ckpt, name):
    expected = str(tf.train.load_checkpoint(ckpt).get_tensor(name))
    out = tfckpt.run("show", ckpt, name).out
    header, body = out.split("\n", 1)
    assert header.startswith(name + " (")
    assert body.rstrip("\n") == expected


# ---------------------------------------------------------------------------------------------
# Many arrays: `show` must print exactly what numpy's array2string prints for the array
# TensorFlow reads back, whatever the mix of magnitudes, exponents, signs, nan/inf and zeros.
# ---------------------------------------------------------------------------------------------

def _float_values(rng, n):
    """n float64 values of one of many kinds numpy formats differently."""
    kind = rng.integers(0, 12)
    sign = np.where(rng.random(n) < 0.4, -1.0, 1.0)
    if kind == 0:  # ordinary weights
        v = rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 5)
    elif kind == 1:  # mixed magnitudes: scientific notation
        v = sign * 10.0 ** rng.uniform(-12, 12, n)
    elif kind == 2:  # tiny and huge exponents (3-digit exponents, float64 subnormals)
        v = sign * 10.0 ** rng.uniform(-320, 308, n)
    elif kind == 3:  # integers held as floats
        v = rng.integers(-5000, 5000, n).astype(np.float64)
    elif kind == 4:  # short binary fractions (exact decimals, rounding ties at 8 digits)
        v = rng.integers(-4096, 4096, n) / 2.0 ** rng.integers(0, 12, n)
    elif kind == 5:  # near the thresholds: 1e-4, 1e3, 1e6, 1e8 and a max/min ratio of 1000
        base = rng.choice([1e-4, 1e3, 1e6, 1e8, 1.0], n)
        v = sign * base * (1 + rng.choice([-1, 0, 1], n) * 10.0 ** -rng.integers(3, 17, n))
        v[0] = 1000.0 * abs(v[-1]) if n > 1 else v[0]
    elif kind == 6:  # zeros, negative zeros and a few values
        v = np.where(rng.random(n) < 0.5, 0.0, rng.standard_normal(n))
        v = np.where(rng.random(n) < 0.3, -0.0, v)
    elif kind == 7:  # long digit strings cut at 8 digits
        v = sign * rng.random(n) * 10.0 ** rng.integers(-4, 8, n)
    elif kind == 8:  # one huge outlier among small values
        v = rng.standard_normal(n)
        v[rng.integers(0, n)] = sign[0] * 10.0 ** rng.uniform(5, 300)
    elif kind == 9:  # 1/3 and 2e-300: every exponent padded to three digits
        v = np.resize(np.array([1 / 3, 2e-300, -7.5e100, 0.5]), n)
    elif kind == 10:  # powers of two (lopsided rounding intervals)
        v = sign * 2.0 ** rng.integers(-30, 30, n)
    else:  # values with few digits
        v = sign * rng.integers(1, 100, n) * 10.0 ** rng.integers(-6, 7, n)
    special = rng.random(n)
    if rng.random() < 0.3:
        v = np.where(special < 0.1, np.nan, v)
        v = np.where((special >= 0.1) & (special < 0.2), np.inf, v)
        v = np.where((special >= 0.2) & (special < 0.3), -np.inf, v)
    return v


def _shape(rng):
    kind = rng.integers(0, 10)
    if kind == 0:
        return ()
    if kind <= 4:
        return (int(rng.integers(1, 40)),)
    if kind <= 7:
        return (int(rng.integers(1, 5)), int(rng.integers(1, 30)))
    if kind == 8:
        return (2, int(rng.integers(1, 4)), int(rng.integers(1, 20)))
    return (int(rng.choice([1001, 1500])),) if rng.random() < 0.5 else (40, 40)


def _random_arrays(count, seed):
    rng = np.random.default_rng(seed)
    floats = [np.float16, np.float32, np.float64]
    ints = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
    arrays = []
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(count):
            shape = _shape(rng)
            n = int(np.prod(shape))
            pick = rng.random()
            if pick < 0.6:
                a = _float_values(rng, n).astype(rng.choice(floats))
            elif pick < 0.75:
                dtype = rng.choice([np.complex64, np.complex128])
                a = (_float_values(rng, n) + 1j * _float_values(rng, n)).astype(dtype)
            elif pick < 0.93:
                dtype = np.dtype(rng.choice(ints))
                info = np.iinfo(dtype)
                lo = max(int(info.min), -10 ** int(rng.integers(1, 19)))
                hi = min(int(info.max), 10 ** int(rng.integers(1, 19)))
                a = rng.integers(lo, hi, n, dtype=dtype, endpoint=True)
            else:
                a = rng.random(n) < rng.random()
            arrays.append(np.asarray(a).reshape(shape))
    return arrays


def _fixed_arrays():
    """Cases that are easy to miss by chance."""
    nan, inf = np.nan, np.inf
    return [np.array(x, dtype=d) for x, d in [
        ([1 / 3, 2e-300], np.float64),
        ([nan, inf], np.float64), ([nan, -inf], np.float32), ([nan], np.float16),
        ([inf, 1.5e-7], np.float64), ([-inf, 1e9, 1], np.float64),
        ([0.0, -0.0], np.float64), ([-0.0], np.float32),
        ([1.001953125, 0.5], np.float64),   # a tie at the 8th digit: to even
        ([0.125, 0.375, 1e-5], np.float64),
        ([9.99999974738e-05, 5e-4], np.float32),  # 1e-4 compared as float32
        ([999999.94, 1e6], np.float32), ([999.5, 1000], np.float16),
        ([65504, -65504, 6e-8], np.float16),  # the largest half and a subnormal one
        ([1e308, -1.7976931348623157e308, 5e-324], np.float64),
        ([True, True], bool), ([False], bool),
        ([1 + 2j, 3.25 - 1.5j], np.complex64), ([complex(nan, -inf), 1j], np.complex128),
        ([complex(1e-5, 1e5), complex(-0.0, 0.0)], np.complex128),
        (complex(1e16, 1e-5), np.complex128), (complex(0, -0.0), np.complex128),
        (complex(-0.0, 1), np.complex64), (2j, np.complex64), (complex(nan, 1), np.complex128),
        (1e-4, np.float32), (1e6, np.float32), (999999.94, np.float32), (1000, np.float16),
        (1e16, np.float64), (9999999999999998.0, np.float64), (-0.0, np.float64),
        (6e-8, np.float16), (5e-324, np.float64), (True, bool), (-128, np.int8),
        (2 ** 64 - 1, np.uint64),
        (np.arange(24).reshape(2, 3, 4) * 1.5, np.float32),
        (np.linspace(-1, 1, 200).reshape(8, 25), np.float64),  # rows wrapped at every depth
        (np.full((3, 3, 30), 1 / 7), np.float64),
    ]]


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    arrays = _fixed_arrays() + _random_arrays(500, seed=13)
    # Every finite half-precision value near a power of two (their rounding intervals are
    # lopsided) and a sample of the others, each alone: the shortest digits of each.
    bits = np.arange(0x7c00, dtype=np.uint16)
    mant = bits & 0x3ff
    chosen = bits[(mant <= 1) | (mant == 0x3ff) | (np.random.default_rng(5).random(bits.size) < 0.03)]
    halves = chosen.view(np.float16)
    arrays += [np.float16(h) for h in halves] + [np.float16(-h) for h in halves[::7]]
    names = ["r%05d" % i for i in range(len(arrays))]
    prefix = str(tmp_path_factory.mktemp("show_many") / "ckpt")
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(a) for a in arrays])
    return prefix, names


def _show_bodies(tfckpt, prefix, names, *extra):
    """{name: text} from one `tfckpt show` of many names."""
    bodies = {}
    for start in range(0, len(names), 2000):
        chunk = names[start:start + 2000]
        out = tfckpt.run("show", prefix, *chunk, *extra).out
        parts = re.split(r"^(r\d{5}) \([^\n]*\)\n", out, flags=re.M)
        assert parts[0] == "", out[:200]
        for name, body in zip(parts[1::2], parts[2::2]):
            bodies[name] = body[:-1]
    assert sorted(bodies) == sorted(names)
    return bodies


def _mismatches(bodies, reader, names, expect):
    bad = []
    for name in names:
        value = reader.get_tensor(name)
        want = expect(value)
        if bodies[name] != want:
            bad.append("%s %s %r:\n  numpy:  %s\n  tfckpt: %s" % (
                name, getattr(value, "dtype", type(value)), np.shape(value), want, bodies[name]))
    return bad


def test_show_text_is_array2string_over_many_arrays(tfckpt, many):
    prefix, names = many
    bodies = _show_bodies(tfckpt, prefix, names)
    reader = tf.train.load_checkpoint(prefix)
    bad = _mismatches(bodies, reader, names,
                      lambda v: np.array2string(v) if np.ndim(v) else str(v))
    assert not bad, "%d of %d differ:\n%s" % (len(bad), len(names), "\n".join(bad[:15]))


@pytest.mark.parametrize("limit", [0, 5, 100])
def test_show_limit_is_array2string_threshold(tfckpt, many, limit):
    prefix, names = many
    reader = tf.train.load_checkpoint(prefix)
    shaped = [n for n in names if np.ndim(reader.get_tensor(n)) > 0][:300]
    bodies = _show_bodies(tfckpt, prefix, shaped, "--limit", str(limit))
    bad = _mismatches(bodies, reader, shaped, lambda v: np.array2string(v, threshold=limit))
    assert not bad, "%d of %d differ:\n%s" % (len(bad), len(shaped), "\n".join(bad[:15]))


def test_show_bfloat16_follows_the_float_rules(tfckpt, tmp_path):
    """numpy has no bfloat16 of its own (ml_dtypes prints each element with C's %g), so tfckpt
    prints bfloat16 by numpy's float rules. For values whose shortest digits are the same in
    bfloat16 and float32 (halves of integers below 100: bfloat16 is exact to 1/4 there), and
    which print in positional notation in both, that is numpy's float32 text."""
    rng = np.random.default_rng(3)
    values = {"b%d" % i: (rng.integers(-199, 200, int(rng.integers(1, 30))) / 2.0)
              for i in range(20)}
    prefix = str(tmp_path / "bf16")
    names = sorted(values)
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(values[n], tf.bfloat16) for n in names])
    for name in names:
        got = tf.train.load_checkpoint(prefix).get_tensor(name)
        assert got.dtype.name == "bfloat16"
        out = tfckpt.run("show", prefix, name).out.split("\n", 1)[1].rstrip("\n")
        assert out == str(got.astype(np.float32)), name
