"""kron_preconditioner: symmetry, definiteness, exactness, cg speed-up, errors."""

import importlib.util
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator, cg

from kronop.approximate import KronPreconditioner, kron_preconditioner
from kronop.kron import KronOperator
from kronop.kronsum import KronSum
from tests.factories import eps, hpd, random_array

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "variable_diffusion.py"


@pytest.fixture(scope="module")
def diffusion():
    spec = importlib.util.spec_from_file_location("variable_diffusion", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["variable_diffusion"] = mod
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("variable_diffusion", None)


def diffusion_matrix(mod, n, coef="sines", contrast=10.0, faces="harmonic"):
    return mod.assemble(n, mod.coefficient(coef, contrast), faces)


def random_spd(rng, N, dtype):
    G = random_array(rng, (N, N), dtype).astype(
        np.complex128 if np.dtype(dtype).kind == "c" else np.float64
    )
    return (G @ G.conj().T / N + 2 * np.eye(N)).astype(dtype)


def check_hpd(P, dtype, c=200.0):
    """P is Hermitian (x·Py = conj(y·Px)) and positive definite, to dtype tolerance."""
    rng = np.random.default_rng(5)
    N = P.shape[0]
    x, y = random_array(rng, N, dtype), random_array(rng, N, dtype)
    a, b = np.vdot(x, P @ y), np.vdot(P @ x, y)
    scale = np.linalg.norm(x) * np.linalg.norm(P @ y)
    assert abs(a - b) <= c * eps(dtype) * scale
    D = P.toarray().astype(np.complex128)
    assert np.linalg.norm(D - D.conj().T) <= c * eps(dtype) * np.linalg.norm(D)
    w = np.linalg.eigvalsh((D + D.conj().T) / 2)
    assert w[0] > 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
@pytest.mark.parametrize("kind", ["sum", "product"])
@pytest.mark.parametrize("scaling", ["jacobi", None])
def test_dense_spd_gives_hpd(dtype, kind, scaling):
    rng = np.random.default_rng(0)
    M = random_spd(rng, 12, dtype)
    M0 = M.copy()
    P = kron_preconditioner(M, (3, 4), kind=kind, scaling=scaling)
    assert isinstance(P, KronPreconditioner)
    assert np.array_equal(M, M0)  # the caller's matrix is untouched
    assert P.shape == (12, 12)
    assert P.dtype == np.dtype(dtype)  # the operator works in M's precision
    check_hpd(P, dtype)
    assert isinstance(P.fit, KronSum if kind == "sum" else KronOperator)
    if scaling is None:
        assert P.scaling is None
    else:
        assert np.allclose(
            P.scaling, 1 / np.sqrt(np.diag(M).real), rtol=10 * eps(dtype)
        )
        assert not P.scaling.flags.writeable


@pytest.mark.parametrize("kind", ["sum", "product"])
def test_sparse_diffusion_gives_spd(diffusion, kind):
    M = diffusion_matrix(diffusion, 8)
    data, indices = M.data.copy(), M.indices.copy()
    P = kron_preconditioner(M, (8, 8, 8), kind=kind, indefinite="clip")
    assert np.array_equal(M.data, data)
    assert np.array_equal(M.indices, indices)
    check_hpd(P, np.float64)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("scaling", ["jacobi", None])
def test_exact_on_kronecker_sum(sparse, scaling):
    rng = np.random.default_rng(1)
    A, B, C = (hpd(rng, n, np.float64) for n in (2, 3, 4))
    S = KronSum(A, B, C).toarray()
    # a Kronecker sum stays one after Jacobi scaling only with a constant diagonal
    if scaling == "jacobi":
        A, B, C = (
            0.1 * (F - np.diag(np.diag(F))) / np.linalg.norm(F) + np.eye(len(F))
            for F in (A, B, C)
        )
        S = KronSum(A, B, C).toarray()
    M = sp.csr_array(S) if sparse else S
    P = kron_preconditioner(M, (2, 3, 4), kind="sum", scaling=scaling)
    X = random_array(rng, (24, 3), np.float64)
    assert np.allclose(P @ (S @ X), X, atol=1e-10)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("scaling", ["jacobi", None])
@pytest.mark.parametrize("shapes", [(3, 4), (2, 3, 2)])
def test_exact_on_kronecker_product(sparse, scaling, shapes):
    rng = np.random.default_rng(2)
    facs = [hpd(rng, n, np.float64) for n in shapes]
    K = KronOperator(*facs).toarray()
    M = sp.csr_array(K) if sparse else K
    P = kron_preconditioner(M, shapes, kind="product", scaling=scaling)
    x = random_array(rng, K.shape[0], np.float64)
    assert np.allclose(P @ (K @ x), x, atol=1e-9)


def test_cg_fewer_iterations(diffusion):
    n = 10
    M = diffusion_matrix(diffusion, n, "bump", 10.0)
    b = np.ones(n**3)
    P = kron_preconditioner(M, (n, n, n), kind="sum")
    counts = []
    for pre in (None, P):
        residuals = []
        _, info = cg(M, b, rtol=1e-8, M=pre, callback=residuals.append)
        assert info == 0
        counts.append(len(residuals))
    assert counts[1] * 4 < counts[0], counts


def test_indefinite_fit(diffusion):
    # the plain Frobenius-nearest sum of a variable-coefficient operator is indefinite
    M = diffusion_matrix(diffusion, 8, "bump", 10.0)
    with pytest.raises(np.linalg.LinAlgError, match=r"indefinite.*scaling='jacobi'"):
        kron_preconditioner(M, (8, 8, 8), kind="sum", scaling=None)
    with pytest.warns(UserWarning, match="indefinite"):
        P = kron_preconditioner(
            M, (8, 8, 8), kind="sum", scaling=None, indefinite="warn"
        )
    assert isinstance(P, KronPreconditioner)
    P = kron_preconditioner(M, (8, 8, 8), kind="sum", scaling=None, indefinite="clip")
    check_hpd(P, np.float64)


def test_indefinite_product_factor():
    rng = np.random.default_rng(3)
    B = hpd(rng, 3, np.float64)
    C = np.diag([1.0, -2.0, 3.0, 4.0])
    M = np.kron(B, C)
    with pytest.raises(np.linalg.LinAlgError, match=r"factor 1 .*kind='sum'"):
        kron_preconditioner(M, (3, 4), kind="product", scaling=None)
    P = kron_preconditioner(M, (3, 4), kind="product", scaling=None, indefinite="clip")
    check_hpd(P, np.float64)


def test_negative_definite_pair_is_flipped():
    rng = np.random.default_rng(4)
    B, C = hpd(rng, 3, np.float64), hpd(rng, 4, np.float64)
    M = np.kron(-B, -C)  # = B⊗C: positive definite
    P = kron_preconditioner(M, (3, 4), kind="product", scaling=None)
    x = random_array(rng, 12, np.float64)
    assert np.allclose(P @ (M @ x), x)
    with pytest.raises(np.linalg.LinAlgError, match="negative definite"):
        kron_preconditioner(-M, (3, 4), kind="product", scaling=None)


def test_singular_fit():
    M = np.kron(np.eye(2), np.zeros((2, 2)))
    M[0, 0] = 1.0
    with pytest.raises(np.linalg.LinAlgError, match=r"singular|indefinite"):
        kron_preconditioner(M, (2, 2), kind="sum", scaling=None)


def test_operator_algebra_and_blocks():
    rng = np.random.default_rng(6)
    M = random_spd(rng, 12, np.float64)
    P = kron_preconditioner(M, [(3, 3), (4, 4)], kind="sum")
    D = P.toarray()
    X = random_array(rng, (12, 3), np.float64)
    assert np.allclose(P @ X, D @ X)
    assert np.allclose((2.5 * P) @ X, 2.5 * (D @ X))
    assert np.allclose(P.H @ X, D.T @ X)
    assert np.allclose(P.T @ X, D.T @ X)
    assert np.allclose(P.rmatvec(X[:, 0]), D.T @ X[:, 0])
    assert (P @ np.zeros((12, 0))).shape == (12, 0)
    assert (P @ X.astype(np.float32)).dtype == np.float64
    assert (P @ X.astype(np.complex128)).dtype == np.complex128
    assert "KronPreconditioner" in repr(P)


def test_minres_accepts_it(diffusion):
    from scipy.sparse.linalg import minres

    M = diffusion_matrix(diffusion, 6, "exps", 10.0)
    P = kron_preconditioner(M, (6, 6, 6), kind="sum")
    b = np.ones(216)
    x, info = minres(M, b, M=P, rtol=1e-10)
    assert info == 0
    assert np.linalg.norm(M @ x - b) <= 1e-8 * np.linalg.norm(b)


def test_bad_inputs():
    M = np.eye(12)
    with pytest.raises(ValueError, match="multiply to 15"):
        kron_preconditioner(M, (3, 5))
    with pytest.raises(ValueError, match="kind"):
        kron_preconditioner(M, (3, 4), kind="diag")
    with pytest.raises(ValueError, match="scaling"):
        kron_preconditioner(M, (3, 4), scaling="ilu")
    with pytest.raises(ValueError, match="indefinite"):
        kron_preconditioner(M, (3, 4), indefinite="ignore")
    with pytest.raises(ValueError, match="square"):
        kron_preconditioner(np.ones((12, 6)), (3, 4))
    with pytest.raises(ValueError, match=r"factor 1 .*must be square.*4×2"):
        kron_preconditioner(M, [(3, 3), (4, 2)])
    with pytest.raises(ValueError, match="2-D"):
        kron_preconditioner(np.ones(12), (3, 4))
    with pytest.raises(
        TypeError, match=r"LinearOperator|aslinearoperator|_CustomLinear|MatrixLinear"
    ):
        kron_preconditioner(aslinearoperator(M), (3, 4))
    bad = np.eye(12)
    bad[4, 4] = -1.0
    with pytest.raises(ValueError, match=r"positive diagonal.*M\[4, 4\]"):
        kron_preconditioner(bad, (3, 4))
    nan = np.eye(12)
    nan[0, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        kron_preconditioner(nan, (3, 4))


def test_example_quick_runs():
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "cg + kron" in out.stdout


def test_example_targets_small(diffusion):
    rows = {r["method"]: r for r in diffusion.run(16, "bump", 10.0)}
    assert all(r["converged"] for r in rows.values())
    assert rows["cg + kron"]["iterations"] * 5 < rows["cg"]["iterations"]
    assert rows["cg + kron"]["error"] < 1e-6
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        diffusion.assemble(4, diffusion.coefficient("exps", 100.0), "arithmetic")


def test_integer_matrix_gives_float64():
    M = sp.csr_array(np.kron(np.diag([2, 3]), np.diag([1, 4, 5])))
    P = kron_preconditioner(M, (2, 3), kind="product")
    assert P.dtype == np.float64
    assert np.allclose(P @ (M @ np.arange(6.0)), np.arange(6.0))


# ---------------------------------------------------------------- the contract
from .contract.operator import OperatorContract


class TestKronPreconditionerContract(OperatorContract):
    """The preconditioner is a kronop operator: the shared contract, with the
    inverse of an exact Kronecker product or sum as the oracle (the fit is then
    exact), and a Jacobi-scaled case against D^{-1/2} F⁻¹ D^{-1/2}."""

    cases = ("sum", "product", "sum-sparse", "sum-jacobi")

    def build(self, case, dtype, rng):
        A, B = hpd(rng, 3, dtype, cond=5.0), hpd(rng, 4, dtype, cond=5.0)
        if case.startswith("sum"):
            dense = KronSum(A, B).toarray()
            kind = "sum"
        else:
            dense = np.kron(A, B)
            kind = "product"
        M = sp.csr_array(dense) if case == "sum-sparse" else dense
        if case == "sum-jacobi":
            P = kron_preconditioner(M, [3, 4], kind=kind, scaling="jacobi")
            d = np.diag(dense).real.astype(np.float64) ** -0.5
            fitted = nearest_kronsum_dense(dense * np.outer(d, d), [3, 4])
            oracle = np.outer(d, d) * np.linalg.inv(fitted)
            return P, oracle
        P = kron_preconditioner(M, [3, 4], kind=kind, scaling=None)
        return P, np.linalg.inv(
            dense.astype(np.complex128 if np.iscomplexobj(dense) else np.float64)
        )

    def inner_size(self, op):
        return 64


def nearest_kronsum_dense(M, ns):
    """The Frobenius-nearest Kronecker sum by brute-force least squares (oracle)."""
    N = M.shape[0]
    basis = []
    for j, n in enumerate(ns):
        for a in range(n):
            for b in range(n):
                E = np.zeros((n, n))
                E[a, b] = 1.0
                mats = [np.eye(m) for m in ns]
                mats[j] = E
                out = np.ones((1, 1))
                for m in mats:
                    out = np.kron(out, m)
                basis.append(out.ravel())
    G = np.array(basis).T
    coef, *_ = np.linalg.lstsq(G, M.ravel(), rcond=None)
    return (G @ coef).reshape(N, N)


def test_complex_hermitian_indefinite_product_fit_is_refused():
    """The SVD leaves each factor's phase free; an indefinite Hermitian factor
    must be recognised as Hermitian (and refused), whatever phase it came with."""
    B = np.array([[1, 3 + 4j], [3 - 4j, 1]])
    C = np.array([[2, 1j], [-1j, 2]])
    M = np.kron(B, C)  # Hermitian, indefinite, positive diagonal
    with pytest.raises(np.linalg.LinAlgError, match="indefinite"):
        kron_preconditioner(M, (2, 2), kind="product")
    M3 = np.kron(M, np.array([[3.0, 1.0], [1.0, 3.0]]))
    with pytest.raises(np.linalg.LinAlgError, match="indefinite"):
        kron_preconditioner(M3, (2, 2, 2), kind="product")
    rng = np.random.default_rng(0)
    Mp = np.kron(hpd(rng, 3, np.complex128), hpd(rng, 4, np.complex128))
    P = kron_preconditioner(Mp, (3, 4), kind="product").toarray()
    np.testing.assert_allclose(P, P.conj().T, atol=1e-12)
    assert np.linalg.eigvalsh((P + P.conj().T) / 2).min() > 0


@pytest.mark.parametrize("shapes", [[2.5, 3], "23", [True, 6]])
def test_factor_sizes_must_be_integers(shapes):
    with pytest.raises(TypeError, match="shapes"):
        kron_preconditioner(np.eye(6), shapes)


@pytest.mark.parametrize("kind", ["product", "sum"])
def test_singular_non_hermitian_fit_is_refused_at_construction(kind):
    M = np.kron(np.array([[1.0, 1.0], [0.0, 0.0]]), np.eye(3))
    with pytest.raises(np.linalg.LinAlgError, match="singular"):
        kron_preconditioner(M, (2, 3), kind=kind, scaling=None)
