"""Every scipy solver that takes an operator works with KronOperator."""

from functools import reduce

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import (
    aslinearoperator,
    bicgstab,
    cg,
    eigsh,
    expm_multiply,
    gmres,
    lsmr,
    lsqr,
    minres,
    onenormest,
    svds,
)

from kronop import KronOperator


def spd(rng, n, shift=1.0):
    a = rng.standard_normal((n, n))
    return a @ a.T / n + shift * np.eye(n)


def factor_variants(rng):
    """SPD Kronecker operators built from dense, sparse and operator factors."""
    A, B, C = spd(rng, 6), spd(rng, 5), spd(rng, 4)
    T = sp.diags_array([[-1.0] * 4, [3.0] * 5, [-1.0] * 4], offsets=[-1, 0, 1]).tocsr()
    return {
        "dense": ((A, B, C), (A, B, C)),
        "sparse": ((A, T, C), (A, T.toarray(), C)),
        "linop": ((aslinearoperator(A), B, C), (A, B, C)),
    }


@pytest.fixture(params=["dense", "sparse", "linop"])
def spd_case(request, rng):
    factors, denses = factor_variants(rng)[request.param]
    return KronOperator(*factors), reduce(np.kron, denses)


def test_cg(spd_case, rng):
    K, D = spd_case
    b = rng.standard_normal(K.shape[0])
    x, info = cg(K, b, rtol=1e-12, maxiter=1000)
    assert info == 0
    np.testing.assert_allclose(x, np.linalg.solve(D, b), rtol=1e-8, atol=1e-10)


def test_cg_float32(rng):
    A, B = spd(rng, 8).astype(np.float32), spd(rng, 7).astype(np.float32)
    K = KronOperator(A, B)
    b = rng.standard_normal(56).astype(np.float32)
    x, info = cg(K, b, rtol=1e-5, maxiter=500)
    assert info == 0
    assert x.dtype == np.float32
    ref = np.linalg.solve(np.kron(A.astype(float), B.astype(float)), b.astype(float))
    np.testing.assert_allclose(x, ref, rtol=1e-3, atol=1e-4)


def test_minres(spd_case, rng):
    K, D = spd_case
    b = rng.standard_normal(K.shape[0])
    x, info = minres(K, b, rtol=1e-12, maxiter=1000)
    assert info == 0
    np.testing.assert_allclose(x, np.linalg.solve(D, b), rtol=1e-7, atol=1e-9)


def test_gmres_and_bicgstab_nonsymmetric(rng):
    A = spd(rng, 6) + 0.3 * rng.standard_normal((6, 6))
    B = spd(rng, 7) + 0.3 * rng.standard_normal((7, 7))
    K = KronOperator(A, sp.csr_array(B))
    D = np.kron(A, B)
    b = rng.standard_normal(42)
    ref = np.linalg.solve(D, b)
    x, info = gmres(K, b, rtol=1e-12, restart=50, maxiter=200)
    assert info == 0
    np.testing.assert_allclose(x, ref, rtol=1e-8, atol=1e-10)
    x, info = bicgstab(K, b, rtol=1e-12, maxiter=1000)
    assert info == 0
    np.testing.assert_allclose(x, ref, rtol=1e-7, atol=1e-9)


def test_gmres_complex(rng):
    A = spd(rng, 5) + 1j * 0.2 * rng.standard_normal((5, 5))
    B = spd(rng, 4)
    K = KronOperator(A, B)
    b = rng.standard_normal(20) + 1j * rng.standard_normal(20)
    x, info = gmres(K, b, rtol=1e-12, restart=40, maxiter=100)
    assert info == 0
    np.testing.assert_allclose(
        x, np.linalg.solve(np.kron(A, B), b), rtol=1e-8, atol=1e-10
    )


@pytest.mark.parametrize("solver", [lsqr, lsmr])
def test_least_squares_rectangular(rng, solver):
    A, B = rng.standard_normal((7, 4)), rng.standard_normal((5, 3))
    K = KronOperator(A, sp.csr_array(B))
    D = np.kron(A, B)
    b = rng.standard_normal(35)
    limit = {"iter_lim": 2000} if solver is lsqr else {"maxiter": 2000}
    x = solver(K, b, atol=1e-14, btol=1e-14, **limit)[0]
    np.testing.assert_allclose(
        x, np.linalg.lstsq(D, b, rcond=None)[0], rtol=1e-7, atol=1e-9
    )


def test_eigsh(spd_case):
    K, D = spd_case
    w = eigsh(K, k=4, which="LA", return_eigenvectors=False, tol=1e-12)
    np.testing.assert_allclose(np.sort(w), np.linalg.eigvalsh(D)[-4:], rtol=1e-9)


def test_svds_rectangular(rng):
    A, B = rng.standard_normal((8, 5)), rng.standard_normal((6, 7))
    K = KronOperator(A, B)
    s = svds(K, k=3, return_singular_vectors=False, tol=1e-12, rng=rng)
    ref = np.linalg.svd(np.kron(A, B), compute_uv=False)[:3]
    np.testing.assert_allclose(np.sort(s)[::-1], ref, rtol=1e-9)


def test_expm_multiply(rng):
    A, B = 0.3 * rng.standard_normal((5, 5)), 0.3 * rng.standard_normal((4, 4))
    K = KronOperator(A, B)
    D = np.kron(A, B)
    b = rng.standard_normal((20, 2))
    from scipy.linalg import expm

    got = expm_multiply(K, b, traceA=float(np.trace(A) * np.trace(B)))
    np.testing.assert_allclose(got, expm(D) @ b, rtol=1e-10, atol=1e-12)


def test_onenormest(rng):
    A, B = rng.standard_normal((6, 6)), rng.standard_normal((5, 5))
    K = KronOperator(A, B)
    est = onenormest(K, t=3)
    exact = np.linalg.norm(np.kron(A, B), 1)
    assert exact / 3 <= est <= exact * (1 + 1e-12)
