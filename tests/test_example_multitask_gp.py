"""examples/multitask_gp.py: kronop's K_task⊗K_x + D⊗I against dense, and the fit."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "multitask_gp.py"


@pytest.fixture(scope="module")
def mtgp():
    spec = importlib.util.spec_from_file_location("multitask_gp_example", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["multitask_gp_example"] = mod
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("multitask_gp_example", None)


@pytest.fixture(scope="module")
def result(mtgp):
    return mtgp.main(["--quick", "--no-figure"])


def test_nll_and_prediction_match_dense(result):
    # the same model at the same hyperparameters: equal to rounding
    assert result["nll_rel_diff"] <= 1e-8
    assert result["nll_rel_diff_kron_plus_diagonal"] <= 1e-8
    assert result["pred_rel_diff"] <= 1e-8
    assert np.isclose(result["nll_kronop"], result["nll_dense"], rtol=1e-10)


def test_multitask_beats_independent_gps(result):
    assert result["rmse_multi"] <= result["rmse_indep"]
    # the tasks are strongly correlated: the pooled model recovers that
    assert result["corr_err"] < 0.2


def test_fit_improves_the_likelihood(result):
    assert result["nll_fit"] < result["nll_start"]
    # maximum likelihood is at least as good as the generating hyperparameters
    assert result["nll_fit"] <= result["nll_true"] + 1e-6
    assert 0.5 * result["ell_true"] < result["ell_fit"] < 2.0 * result["ell_true"]


def test_timings_are_measured(result):
    for key in ("time_ratio_nll", "time_ratio_nll_warm", "time_ratio_predict"):
        assert np.isfinite(result[key])
        assert result[key] > 0


def test_whitened_route_on_a_fresh_problem(mtgp):
    # 2-D inputs, 3 tasks, random hyperparameters the script never saw
    rng = np.random.default_rng(7)
    X, Y, Xs = rng.random((25, 2)), rng.standard_normal((3, 25)), rng.random((7, 2))
    theta = rng.standard_normal(3 * 4 // 2 + 1 + 3) * 0.5
    cache: dict = {}
    ref = mtgp.nll_dense(theta, X, Y)
    for _ in range(2):  # the second call reuses K_x's eigendecomposition
        assert mtgp.nll_kronop(theta, X, Y, cache) == pytest.approx(ref, rel=1e-10)
    assert mtgp.nll_kron_plus_diagonal(theta, X, Y) == pytest.approx(ref, rel=1e-10)
    mean_k = mtgp.predict_kronop(theta, X, Y, Xs)
    mean_d = mtgp.predict_dense(theta, X, Y, Xs)
    np.testing.assert_allclose(mean_k, mean_d, rtol=1e-9, atol=1e-12)


def test_pack_unpack_round_trip(mtgp):
    K, ell, sig2 = mtgp.true_model(5, 2)
    K2, ell2, sig2_2 = mtgp.unpack(mtgp.pack(K, ell, sig2), 5)
    np.testing.assert_allclose(K2, K, rtol=1e-12)
    assert ell2 == pytest.approx(ell)
    np.testing.assert_allclose(sig2_2, sig2, rtol=1e-12)


def test_figure_is_optional(mtgp, tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    X, Y, Xs, Fs, _ = mtgp.make_data(rng, 15, 10, 2, 1)
    path = tmp_path / "mtgp.png"
    msg = mtgp.save_figure(path, X, Y, Xs, Fs, Fs, Fs)
    assert path.exists()
    assert str(path) in msg
