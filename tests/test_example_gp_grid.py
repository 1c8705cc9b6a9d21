"""examples/gp_grid.py: the GP gradient, the fit against dense Cholesky, cg on a partial grid."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "gp_grid.py"


@pytest.fixture(scope="module")
def gp_grid():
    spec = importlib.util.spec_from_file_location("gp_grid", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["gp_grid"] = mod
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("gp_grid", None)


@pytest.fixture(scope="module")
def result(gp_grid):
    return gp_grid.main(["--quick", "--no-figure", "--repeat", "1"])


def test_gradient_matches_finite_differences(result):
    # every hyperparameter: analytic (logdet_grad/quad_grad) vs 4th-order central FD
    assert len(result["grad_rel_fd"]) == 5
    assert max(result["grad_rel_fd"]) <= 1e-6
    # and the same gradient through the dense Cholesky formulas, to rounding
    assert max(result["grad_rel_dense"]) <= 1e-10


def test_fit_matches_dense_cholesky(result):
    # Both fits stop where L-BFGS-B's relative reduction of L falls below
    # ftol = 1e-13: around the optimum θ is then fixed to about
    # sqrt(2·ftol·|L| / λ_min(∇²L)) ≈ 1e-6, so 1e-5 in log space (a relative
    # 1e-5 on each hyperparameter) leaves room for a different BLAS.
    assert max(result["theta_diff"]) <= 1e-5
    assert result["nll_rel_diff"] <= 1e-8


def test_large_fit_and_prediction(result):
    # the field is drawn from the model: the posterior mean beats the noise level
    assert result["big_n"] == 16**3
    assert result["big_mean_rmse"] < 0.1
    assert max(result["big_theta_err"]) < 0.5


def test_incomplete_grid(result):
    # cg to rtol 1e-12 on a system with condition number ~1e4
    assert result["incomplete_rel_diff"] <= 1e-7
    assert result["incomplete_heldout_rmse"] < 0.3


def test_objectives_agree_off_the_optimum(gp_grid):
    rng = np.random.default_rng(3)
    axes, _, y = gp_grid.sample_field((3, 4, 5), gp_grid.THETA_TRUE, rng)
    theta = np.log([0.5, 0.2, 0.3, 2.0, 0.1])
    fk, gk = gp_grid.nll_kron(theta, axes, y)
    fd, gd = gp_grid.nll_dense(theta, axes, y)
    np.testing.assert_allclose(fk, fd, rtol=1e-12)
    np.testing.assert_allclose(gk, gd, rtol=1e-10)
