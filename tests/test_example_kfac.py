"""examples/kfac.py: the K-FAC vec convention, the solves against dense, and training."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "kfac.py"


@pytest.fixture(scope="module")
def kfac():
    spec = importlib.util.spec_from_file_location("kfac_example", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["kfac_example"] = mod
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("kfac_example", None)


@pytest.fixture(scope="module")
def result(kfac):
    return kfac.main(["--quick", "--no-figure"])


def test_single_sample_fisher_fixes_the_order(result):
    # one sample: outer(dW.ravel()) is exactly (g gᵀ) ⊗ (a aᵀ) in C order
    eps = result["eps"]
    assert result["sample_right"] <= 10 * eps
    assert result["sample_textbook"] <= 10 * eps
    assert result["sample_wrong"] > 0.1


def test_right_convention_matches_dense_solve(result):
    eps = result["eps"]
    tol_fac = 50 * eps * result["cond_factored"]
    tol_exact = 50 * eps * result["cond_exact"]
    for key in ("err_right", "err_right_inv", "err_matrix", "err_textbook"):
        assert result[key] <= tol_fac, key
    for key in ("err_exact", "err_exact_textbook"):
        assert result[key] <= tol_exact, key
    assert result["err_network"] <= tol_fac


def test_wrong_convention_is_wrong(result):
    assert result["err_wrong"] > 0.1
    assert result["err_exact_wrong"] > 0.1


def test_kfac_block_is_closer_to_the_per_sample_fisher(result):
    assert result["fisher_right"] < result["fisher_wrong"]


def test_kfac_loss_decreases(result):
    losses = np.asarray(result["kfac_losses"])
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.2 * losses[0]
    assert np.all(np.diff(losses) < 0)
    assert result["kfac_final_loss"] < result["sgd_final_loss"]


def test_layer_steps_agree_on_a_fresh_layer(kfac):
    # the same checks on a layer the script never saw, with a larger damping
    rng = np.random.default_rng(5)
    a = kfac.with_bias(rng.standard_normal((50, 6)))
    g = rng.standard_normal((50, 3))
    A, G = a.T @ a / 50, g.T @ g / 50
    r = kfac.layer_steps(g.T @ a / 50, G, A, 0.1)
    eps = np.finfo(np.float64).eps
    assert r["right"] <= 50 * eps * r["cond_factored"]
    assert r["exact"] <= 50 * eps * r["cond_exact"]
    assert r["wrong"] > 0.1
    assert r["exact_wrong"] > 0.1


def test_figure_is_optional(kfac, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "kfac.png"
    msg = kfac.save_figure(path, {"a": np.array([1.0, 0.5]), "b": np.array([1.0, 0.2])})
    assert path.exists()
    assert str(path) in msg
