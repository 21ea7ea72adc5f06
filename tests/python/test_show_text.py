"""`tfckpt show` prints values as numpy prints them: the text equals str() of the array that
TensorFlow reads back, for the dtypes numpy itself prints (bfloat16 and float8 come from
ml_dtypes, which prints differently, and are checked through --json elsewhere)."""

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
