"""examples/separable_filter.py: filters equal ndimage, Tikhonov deblurring works."""

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from kronop.circulant import BlockCirculant
from kronop.gallery import FILTER_MODES, filter_operator

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "separable_filter.py"
EPS = np.finfo(np.float64).eps


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("separable_filter", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["separable_filter"] = mod
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("separable_filter", None)


@pytest.fixture(scope="module")
def quick(example):
    return example.main(["--quick", "--no-figure"])


def test_filters_equal_ndimage(quick):
    assert quick["n"] == 128
    # relative to the largest reference value: rounding only, in every mode
    assert quick["blur_max_error"] <= 1e-12
    assert quick["edge_max_error"] <= 1e-12
    assert set(quick["mode_errors"]) == set(FILTER_MODES)
    for mode, (e_blur, e_edge) in quick["mode_errors"].items():
        assert e_blur <= 1e-12, mode
        assert e_edge <= 1e-12, mode
    for key in ("blur_time_ratio", "edge_time_ratio", "deblur_time_ratio"):
        assert math.isfinite(quick[key]), key
        assert quick[key] > 0, key


def test_tikhonov_beats_blurred_and_naive(quick):
    blurred = quick["deblur_rel_error_blurred"]
    tik = quick["deblur_rel_error_tikhonov"]
    assert tik < 0.6 * blurred
    # the naive inverse amplifies the noise by up to cond(A) ~ 1e9
    assert quick["deblur_rel_error_naive"] > 10 * blurred
    # the blur operator, its Kronecker form and ndimage's wrap filter agree
    assert quick["deblur_consistency"] <= 1e-12


def test_deblurring_routes_agree_with_numpy(quick):
    # to rounding amplified by the condition number of AᴴA + λI
    tol = 100 * quick["deblur_cond_tikhonov"] * EPS
    assert quick["deblur_diff_vs_numpy"] <= tol
    assert quick["deblur_kron_diff_vs_numpy"] <= tol
    tik = quick["deblur_rel_error_tikhonov"]
    for key in ("deblur_rel_error_tikhonov_kron", "deblur_rel_error_tikhonov_numpy"):
        assert math.isclose(quick[key], tik, rel_tol=1e-8), key


def test_image_is_deterministic(example):
    a, b = example.synthetic_image(64), example.synthetic_image(64)
    assert a.shape == (64, 64)
    assert a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 0.0
    assert a.max() <= 1.0
    assert np.unique(a).size > 100  # not a flat or binary picture


@pytest.mark.parametrize("length", [3, 4, 9, 23])
def test_periodic_kernel_is_wrap_correlation(example, length):
    # odd and even lengths, and a filter longer than the axis (taps fold)
    n = 10
    rng = np.random.default_rng(length)
    w = rng.standard_normal(length)
    x = rng.standard_normal(n)
    A = BlockCirculant.from_kernel(example.periodic_kernel(w, n))
    ref = ndimage.correlate1d(x, w, mode="wrap")
    np.testing.assert_allclose(A @ x, ref, rtol=0, atol=1e-13 * np.abs(w).sum())


def test_gaussian_weights_match_ndimage(example):
    img = example.synthetic_image(32)
    for sigma in (0.7, 2.0, 3.0):
        K = filter_operator(img.shape, example.gaussian_weights(sigma), mode="nearest")
        ref = ndimage.gaussian_filter(img, sigma, mode="nearest")
        assert example.rel_max_error((K @ img.ravel()).reshape(32, 32), ref) < 1e-14
    # the boundary mode matters: a wrong mode is far off
    K = filter_operator(img.shape, example.gaussian_weights(2.0), mode="reflect")
    wrong = ndimage.gaussian_filter(img, 2.0, mode="wrap")
    assert example.rel_max_error((K @ img.ravel()).reshape(32, 32), wrong) > 1e-3


def test_figure(example, tmp_path):
    rng = np.random.default_rng(0)
    names = ("original", "blurred + noisy", "naive inverse", "Tikhonov")
    images = {k: rng.random((16, 16)) for k in names}
    path = tmp_path / "sub" / "fig.png"
    saved = example.save_figure(path, images, {"Tikhonov": 0.1})
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert saved is False
        assert not path.exists()
    else:
        assert saved is True
        assert path.stat().st_size > 0


def test_script_runs():
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--no-figure", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "gaussian_filter" in out.stdout
    assert "discrepancy principle" in out.stdout
    assert "Tikhonov, kronop BlockCirculant" in out.stdout
    assert "figure: skipped" in out.stdout
