"""tfckpt.stats without TensorFlow: numpy is the judge of arrays tfckpt.save wrote, and the V1
example reads into the same statistics as its V2 conversion."""

import numpy as np

import tfckpt


def _numpy(a):
    x = np.asarray(a, np.float64).reshape(-1)
    fin = x[np.isfinite(x)]
    return {"count": x.size, "nan": int(np.isnan(x).sum()), "inf": int(np.isinf(x).sum()),
            "zeros": int((fin == 0).sum()), "min": fin.min(), "max": fin.max(),
            "mean": fin.mean(), "std": fin.std(), "l2": np.sqrt(np.sum(fin * fin))}


def test_stats_like_numpy(tmp_path):
    rng = np.random.default_rng(3)
    arrays = {"w": rng.standard_normal((300, 500)).astype(np.float32),
              "special": np.array([np.nan, 1.0, -np.inf, 0.0, 2.5], np.float64),
              "ints": np.arange(-5, 100, dtype=np.int16)}
    prefix = str(tmp_path / "m")
    tfckpt.save(prefix, arrays)
    got = tfckpt.stats(prefix)
    assert sorted(got) == sorted(arrays)
    for name, a in arrays.items():
        want = _numpy(a)
        for key, w in want.items():
            assert np.isclose(got[name][key], w, rtol=1e-12, atol=0), (name, key, got[name], w)
    assert tfckpt.stats(prefix, "w", threads=1) == tfckpt.stats(prefix, ["w"], threads=3)


def test_v1_and_its_conversion_agree(examples, tmp_path):
    v1 = str(examples / "v1" / "model.ckpt")
    out = str(tmp_path / "v2" / "model.ckpt")
    tfckpt.edit(v1, out)
    assert tfckpt.open(v1).format == "v1" and tfckpt.open(out).format == "v2"
    assert tfckpt.stats(v1) == tfckpt.stats(out)


def test_check_finite_and_filter(tmp_path):
    arrays = {"a/w": np.float32([1, np.nan]), "a/b": np.float64([np.inf]),
              "c": np.float32([0, 1]), "i": np.int32([7])}
    prefix = str(tmp_path / "m")
    tfckpt.save(prefix, arrays)
    want = sorted(n for n, a in arrays.items() if not np.all(np.isfinite(a)))
    got = tfckpt.check_finite(prefix)
    assert sorted(got["checkpoints"][0]["nonfinite"]) == want
    assert got["first_nonfinite"] == tfckpt.open(prefix).prefix
    assert sorted(tfckpt.stats(prefix, filter="^a/")) == ["a/b", "a/w"]
    assert tfckpt.check_finite(prefix, filter="^[ci]")["first_nonfinite"] is None
