"""examples/kron_least_squares.py: kronop least squares equals the dense references."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "kron_least_squares.py"

# The printed bounds are first-order perturbation estimates without the
# dimension-dependent constants of the backward-error analysis; this factor covers
# those constants and both solvers' rounding.
SLACK = 100.0


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("kron_least_squares", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["kron_least_squares"] = mod
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("kron_least_squares", None)


@pytest.fixture(scope="module")
def result(example):
    return example.main(["--quick", "--no-figure", "--repeat", "1"])


def test_full_rank_matches_dense_lstsq(result):
    assert result["lstsq_diff"] <= SLACK * result["lstsq_bound"]
    assert result["lstsq_bound"] < 1e-12  # well conditioned: the check is strict
    assert result["lstsq_pinv_diff"] <= 1e-14
    assert result["lstsq_res_kronop"] == pytest.approx(
        result["lstsq_res_dense"], rel=1e-12
    )
    assert result["lstsq_opt"] <= 1e-13
    assert result["large_opt"] <= 1e-13


def test_rank_deficient_is_minimum_norm(result):
    assert result["deficient_rank"] == result["deficient_rank_dense"]
    assert result["deficient_diff"] <= SLACK * result["deficient_bound"]
    # the basic solution is also a least-squares solution ...
    assert result["deficient_res_basic"] == pytest.approx(
        result["deficient_res_kronop"], rel=1e-12
    )
    assert result["deficient_res_dense"] == pytest.approx(
        result["deficient_res_kronop"], rel=1e-12
    )
    # ... but not the minimum-norm one
    assert result["deficient_norm_basic"] > result["deficient_norm_kronop"] * 1.001
    assert result["deficient_null_part"] <= 1e-13


def test_regression_matches_dense_and_fits(result):
    assert result["regression_design_check"] <= 1e-14
    assert result["regression_diff"] <= SLACK * result["regression_bound"]
    assert result["regression_rms_kronop"] == pytest.approx(
        result["regression_rms_dense"], rel=1e-6
    )
    # 150 noisy samples of a function of RMS ≈ 0.5: the fit is within a few
    # noise levels of the truth everywhere on average
    assert result["regression_rms_kronop"] <= 0.2 * result["regression_rms_truth"]
    assert result["regression_rms_kronop"] <= 3 * result["regression_noise"]
    assert 0 < result["regression_lam"] < np.inf


def test_fixed_lambda_and_figure(example, tmp_path):
    pytest.importorskip("matplotlib")
    fig = tmp_path / "fit.png"
    out = example.main(
        ["--quick", "--repeat", "1", "--lam", "0.01", "--figure", str(fig)]
    )
    assert out["regression_lam"] == 0.01
    assert out["regression_diff"] <= SLACK * out["regression_bound"]
    assert fig.stat().st_size > 0
