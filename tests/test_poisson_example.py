"""examples/poisson3d.py: second-order convergence and a small run of the script."""

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "poisson3d.py"


@pytest.fixture(scope="module")
def poisson3d():
    spec = importlib.util.spec_from_file_location("poisson3d", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["poisson3d"] = mod
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("poisson3d", None)


@pytest.mark.parametrize("bc", ["dirichlet", "neumann", "periodic"])
def test_second_order_convergence(poisson3d, bc):
    # halving h: n = 7, 15, 31 (Dirichlet, h = 1/(n+1)) or 8, 16, 32 (h = 1/n)
    n = 31 if bc == "dirichlet" else 32
    rows = poisson3d.convergence(n, bc, levels=3)
    assert [m for m, _, _ in rows] == (
        [7, 15, 31] if bc == "dirichlet" else [8, 16, 32]
    )
    errors = [e for _, e, _ in rows]
    assert errors[0] > errors[1] > errors[2]
    for _, _, order in rows[1:]:
        assert 1.85 <= order <= 2.15
    # the last halving divides the error by ≈ 4
    assert 3.6 <= errors[1] / errors[2] <= 4.4


def test_every_method_solves_the_same_problem(poisson3d):
    p, rows = poisson3d.run_methods(10, "dirichlet", spsolve_max_n=10, memory=True)
    by_name = {r.method.split(",")[0]: r for r in rows}
    exact_err = poisson3d.discretization_error(10)
    for r in rows:
        if r.method == "pyamg" and r.seconds is None:  # not installed
            continue
        assert r.seconds is not None, r
        assert r.residual <= 1e-7, r
        # every solver reaches the discretization error (iterations to rtol 1e-8)
        assert math.isclose(r.error, exact_err, rel_tol=1e-3), r
        assert r.peak_mb is not None
    assert by_name["scipy gmres"].iterations != "-"
    assert int(by_name["scipy gmres"].iterations) < int(
        by_name["scipy cg on kronop operator"].iterations
    )
    table = poisson3d.format_table(p, rows)
    assert "kronop solve (direct, warm)" in table
    assert "N = 1,000" in table


@pytest.mark.parametrize("bc", ["neumann", "periodic"])
def test_singular_bcs_skip_spsolve(poisson3d, bc):
    _, rows = poisson3d.run_methods(6, bc, amg=False, memory=False)
    sps = next(r for r in rows if r.method.startswith("scipy spsolve"))
    assert sps.seconds is None
    assert "singular" in sps.note
    for r in rows:
        if r.seconds is not None:
            assert r.residual <= 1e-7


def test_script_runs():
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--n", "8", "--convergence", "--no-amg"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "kronop solve (direct, warm)" in out.stdout
    assert "scipy cg on CSR" in out.stdout
    assert "order" in out.stdout
