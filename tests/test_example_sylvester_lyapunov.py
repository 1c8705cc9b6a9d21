"""examples/sylvester_lyapunov.py: kronop's Lyapunov/Sylvester solvers agree with scipy."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "sylvester_lyapunov.py"
EPS = np.finfo(np.float64).eps


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("sylvester_lyapunov", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["sylvester_lyapunov"] = mod
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("sylvester_lyapunov", None)


@pytest.fixture(scope="module")
def result(example):
    return example.main(["--quick", "--no-figure"])


def test_gramians(result):
    heat, advection = result["lyapunov"]
    assert heat["n"] == advection["n"] == 100
    for r in (heat, advection):
        # backward stable: the residual is rounding relative to ‖A‖‖P‖ ...
        assert r["backward_kronop"] <= 50 * EPS, r["name"]
        # ... and (A is well conditioned at n = 100) small relative to ‖BBᵀ‖
        assert r["residual_kronop"] <= 1e-10, r["name"]
        assert r["obs_residual_kronop"] <= 1e-10, r["name"]
        # never much worse than scipy's Bartels–Stewart
        assert r["residual_kronop"] <= 10 * r["residual_scipy"] + 1e3 * EPS
        # the Gramians agree to the conditioning of the equation
        assert r["difference"] <= 1e-9, r["name"]
        assert r["obs_difference"] <= 1e-9, r["name"]
        # the Hankel singular values that matter agree, and so the truncation order
        assert r["hsv_leading"] >= 5
        assert r["hsv_difference"] <= 1e-6, r["name"]
        assert r["order_kronop"] == r["order_scipy"]
        hsv = r["hsv_kronop"]
        assert np.all(np.diff(hsv) <= 0)
        assert hsv[9] < 1e-3 * hsv[0]  # fast decay: a few states matter
        assert r["time_kronop"] > 0
        assert r["ratio"] > 0
    # the non-normal system's Gramians match scipy's to rounding
    assert advection["difference"] <= 1e3 * EPS


def test_sylvester(result):
    r = result["sylvester"]
    assert (r["m"], r["n"]) == (100, 70)
    assert r["residual_kronop"] <= 100 * EPS
    assert r["residual_scipy"] <= 100 * EPS
    assert r["difference"] <= 1e3 * EPS
    assert r["ratio"] > 0


def test_tensor_sylvester(result):
    t = result["tensor"]
    assert t["full"]["n"] == 20
    assert t["full"]["N"] == 8000
    assert t["full"]["residual_kronop"] <= 1e3 * EPS
    assert t["full"]["backward_kronop"] <= 50 * EPS
    assert t["sweep"][0]["n"] == 6
    assert t["n_compared"] in [r["n"] for r in t["sweep"]]
    for r in t["sweep"]:
        assert r["residual_kronop"] <= 1e3 * EPS
        assert r["backward_kronop"] <= 50 * EPS
        assert r["residual_dense"] <= 1e3 * EPS
        assert r["difference_dense"] <= 1e3 * EPS
        assert r["difference_sparse"] <= 1e3 * EPS
    assert t["ratio_dense"] > 0
    assert t["ratio_sparse"] > 0


def test_tensor_check_is_independent(example):
    # the residual check must be the tensor equation itself: compare with the
    # explicitly assembled Kronecker sum on a tiny case
    factors, F = example.tensor_problem(4)
    M = example.assemble_kronsum(factors).toarray()
    X = np.random.default_rng(0).standard_normal(F.shape)
    np.testing.assert_allclose(
        example.apply_kronsum(factors, X).ravel(), M @ X.ravel(), rtol=1e-12
    )
    I4 = np.eye(4)
    A1 = factors[0].toarray()
    np.testing.assert_allclose(
        np.kron(np.kron(A1, I4), I4),
        example.assemble_kronsum([A1, 0 * I4, 0 * I4]).toarray(),
    )


def test_truncation_order(example):
    hsv = np.array([1.0, 1e-2, 1e-4, 1e-8, 1e-9])
    # 2Σ tail: r = 3 leaves 2·(1.1e-8) ≤ 1e-6; r = 2 leaves 2·(1.011e-4) > 1e-6
    assert example.truncation_order(hsv, 1e-6) == 3
    assert example.truncation_order(hsv, 1e-20) == 5


def test_figure(example, tmp_path):
    pytest.importorskip("matplotlib")
    lyap = [
        {
            "name": "a",
            "n": 5,
            "hsv_kronop": np.logspace(0, -8, 5),
            "hsv_scipy": np.logspace(0, -8, 5),
        }
    ]
    sweep = [{"N": 216, "time_kronop": 1e-3, "time_dense": 1e-2, "time_sparse": 2e-3}]
    full = {"N": 8000, "time_kronop": 0.1}
    path = tmp_path / "fig.png"
    msg = example.save_figure(path, lyap, sweep, full)
    assert path.exists()
    assert str(path) in msg


def test_bad_arguments(example):
    with pytest.raises(SystemExit):
        example.main(["--repeat", "0", "--no-figure"])
