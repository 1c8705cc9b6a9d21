"""Sylvester, Lyapunov and tensor Sylvester equations against scipy and dense solves."""

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp

from kronop.sylvester import solve_lyapunov, solve_sylvester, solve_tensor_sylvester

from .factories import eps, hi, hpd, jordan, ksum_dense, random_array, rel


def kronsum_dense(denses, shift=0.0):
    return ksum_dense(denses, shift=shift)


DTYPES = [np.float64, np.complex128, np.float32]


def mode_sum(factors, X, masses=None):
    """Σⱼ X ×₁ M₁ ⋯ ×ⱼ Aⱼ ⋯ ×_d M_d, computed directly with tensordot."""
    d = len(factors)
    out = 0
    for j in range(d):
        Y = X
        for k in range(d):
            if k == j:
                F = factors[k]
            elif masses is not None and masses[k] is not None:
                F = masses[k]
            else:
                continue
            F = F.toarray() if sp.issparse(F) else F
            Y = np.moveaxis(np.tensordot(F, Y, axes=(1, k)), 0, k)
        out = out + Y
    return out


def sylvester_tol(dtype, A, B):
    S = kronsum_dense([A, B.T])
    return 50 * eps(dtype) * S.shape[0] * np.linalg.cond(S)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["general", "symmetric", "non-normal"])
@pytest.mark.parametrize("method", ["auto", "eig", "schur"])
def test_solve_sylvester_matches_scipy(dtype, kind, method):
    rng = np.random.default_rng(0)
    m, n = 5, 4
    if kind == "general":
        A = (random_array(rng, (m, m), dtype) + 3 * np.eye(m)).astype(dtype)
        B = (random_array(rng, (n, n), dtype) + 3 * np.eye(n)).astype(dtype)
    elif kind == "symmetric":
        A, B = hpd(rng, m, dtype), hpd(rng, n, dtype)
    else:
        A = jordan(m, dtype)
        B = (random_array(rng, (n, n), dtype) + 3 * np.eye(n)).astype(dtype)
        if method == "eig":
            pytest.skip("diagonalizing a Jordan block is not backward stable")
    C = random_array(rng, (m, n), dtype)
    X = solve_sylvester(A, B, C, method=method)
    assert X.shape == (m, n)
    assert X.dtype == np.dtype(dtype)
    ref = sla.solve_sylvester(hi(A), hi(B), hi(C))
    assert rel(X, ref) <= sylvester_tol(dtype, hi(A), hi(B))
    assert rel(hi(A) @ X + X @ hi(B), hi(C)) <= sylvester_tol(dtype, hi(A), hi(B))


def test_solve_sylvester_sparse_and_rectangular_rhs():
    rng = np.random.default_rng(1)
    A = sp.diags_array([[-1.0] * 6, [4.0] * 7, [-1.0] * 6], offsets=[-1, 0, 1]).tocsr()
    B = rng.standard_normal((3, 3)) + 4 * np.eye(3)
    C = rng.standard_normal((7, 3))
    X = solve_sylvester(A, B, C)
    np.testing.assert_allclose(A @ X + X @ B, C, atol=1e-12)
    np.testing.assert_allclose(X, sla.solve_sylvester(A.toarray(), B, C), atol=1e-12)


def test_solve_sylvester_errors():
    A, B = np.eye(3), np.eye(2)
    with pytest.raises(ValueError, match=r"C must have shape \(3, 2\)"):
        solve_sylvester(A, B, np.ones((2, 3)))
    with pytest.raises(ValueError, match="square"):
        solve_sylvester(np.ones((3, 2)), B, np.ones((3, 2)))
    # A and −B share the eigenvalue 2: the equation is singular
    J = jordan(3, float)
    with pytest.raises(np.linalg.LinAlgError, match="singular"):
        solve_sylvester(J, -J, np.ones((3, 3)))


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("method", ["auto", "schur"])
def test_solve_lyapunov_matches_scipy(dtype, method):
    rng = np.random.default_rng(2)
    n = 6
    A = (random_array(rng, (n, n), dtype) - 4 * np.eye(n)).astype(dtype)  # stable
    Q = random_array(rng, (n, n), dtype)
    Q = Q + Q.conj().T
    X = solve_lyapunov(A, Q, method=method)
    ref = sla.solve_continuous_lyapunov(A, Q)
    np.testing.assert_allclose(X, ref, rtol=1e-11, atol=1e-11 * np.abs(ref).max())
    np.testing.assert_allclose(A @ X + X @ A.conj().T, Q, atol=1e-11)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "kind", ["hermitian", "general", "non-normal"], ids=lambda k: k
)
@pytest.mark.parametrize("sizes", [(3, 4, 2), (2, 3, 2, 3)], ids=lambda s: f"d{len(s)}")
def test_tensor_sylvester(dtype, kind, sizes):
    rng = np.random.default_rng(3)
    if kind == "hermitian":
        factors = [hpd(rng, n, dtype) for n in sizes]
    else:
        factors = [
            (random_array(rng, (n, n), dtype) + 3 * np.eye(n)).astype(dtype)
            for n in sizes
        ]
        if kind == "non-normal":
            factors[0] = jordan(sizes[0], dtype)
    C = random_array(rng, sizes, dtype)
    X = solve_tensor_sylvester(factors, C)
    assert X.shape == sizes
    assert X.dtype == np.dtype(dtype)
    dense = kronsum_dense(factors)
    ref = np.linalg.solve(dense, hi(C).reshape(-1)).reshape(sizes)
    tol = 50 * eps(dtype) * dense.shape[0] * np.linalg.cond(dense)
    assert rel(X, ref) <= tol
    assert rel(mode_sum([hi(f) for f in factors], hi(X)), hi(C)) <= tol
    if kind != "hermitian":
        assert rel(solve_tensor_sylvester(factors, C, method="schur"), ref) <= tol


def test_tensor_sylvester_with_mass():
    rng = np.random.default_rng(4)
    sizes = (3, 4, 2)
    Ks = [hpd(rng, n, float) for n in sizes]
    Ms = [hpd(rng, 3, float), None, hpd(rng, 2, float)]
    C = rng.standard_normal(sizes)
    X = solve_tensor_sylvester(Ks, C, mass=Ms)
    np.testing.assert_allclose(mode_sum(Ks, X, Ms), C, atol=1e-12)


def test_two_factor_tensor_sylvester_is_sylvester():
    rng = np.random.default_rng(5)
    A = rng.standard_normal((4, 4)) + 3 * np.eye(4)
    B = rng.standard_normal((3, 3)) + 3 * np.eye(3)
    C = rng.standard_normal((4, 3))
    # Σⱼ X ×ⱼ Aⱼ with (A, B) is AX + XBᵀ
    X = solve_tensor_sylvester([A, B], C)
    np.testing.assert_allclose(X, sla.solve_sylvester(A, B.T, C), atol=1e-12)


def test_tensor_sylvester_errors():
    with pytest.raises(ValueError, match="at least one factor"):
        solve_tensor_sylvester([], np.ones(3))
    with pytest.raises(ValueError, match=r"C must have shape \(2, 3\)"):
        solve_tensor_sylvester([np.eye(2), np.eye(3)], np.ones((3, 2)))
    with pytest.raises(ValueError, match="square"):
        solve_tensor_sylvester([np.eye(2), np.ones((3, 2))], np.ones((2, 3)))


# ------------------------------------- complex right-hand sides, real Schur path
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("rdtype", [np.float64, np.float32])
def test_complex_right_hand_sides_with_real_non_normal_factors(seed, rdtype):
    """Real factors take the real Schur (trsyl) path; a complex C must keep its
    imaginary part. The oracle is a dense Kronecker-sum solve (scipy's own
    solve_sylvester is wrong for real A, B with complex eigenvalues and complex C)."""
    from kronop import KronSum

    rng = np.random.default_rng(seed)
    A = np.array([[1.0, 2.0], [3.0, 5.0]]) if seed == 0 else rng.standard_normal((3, 3))
    B = (
        np.array([[-1.0, 0.0], [3.0, 4.0]])
        if seed == 0
        else rng.standard_normal((4, 4))
    )
    A, B = (
        (A + 3 * np.eye(len(A))).astype(rdtype),
        (B + 3 * np.eye(len(B))).astype(rdtype),
    )
    cdtype = np.result_type(rdtype, np.complex64)
    C = random_array(rng, (len(A), len(B)), cdtype)
    dense = kronsum_dense([A, B.T])
    ref = np.linalg.solve(dense, hi(C).reshape(-1)).reshape(C.shape)
    tol = 100 * eps(rdtype) * dense.shape[0] * np.linalg.cond(dense)
    for method in ("auto", "schur"):
        X = solve_sylvester(A, B, C, method=method)
        assert X.dtype == cdtype
        assert rel(X, ref) <= tol
    S = KronSum(A, B.T)
    assert rel(S.solve(C.reshape(-1)), ref.reshape(-1)) <= tol
    assert rel(S.inv() @ C.reshape(-1), ref.reshape(-1)) <= tol
    b2 = np.stack([C.reshape(-1), C.reshape(-1).real.astype(cdtype)], axis=1)
    assert rel(S.solve(b2)[:, 0], ref.reshape(-1)) <= tol
    X3 = solve_tensor_sylvester([A, B.T], C)
    assert rel(X3, ref) <= tol
    Q = random_array(rng, (len(A), len(A)), cdtype)
    L = solve_lyapunov(A, Q)
    assert rel(A @ L + L @ A.conj().T, Q) <= tol * 10


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_lyapunov_computes_one_schur_form(monkeypatch, dtype):
    """A ⊕ Ā reuses A's Schur form for its conjugate."""
    rng = np.random.default_rng(3)
    A = -4 * np.eye(30) + rng.standard_normal((30, 30))
    if dtype == np.complex128:
        A = A + 1j * rng.standard_normal((30, 30))
    Q = rng.standard_normal((30, 30))
    Q = Q + Q.T
    calls = []
    real_schur = sla.schur

    def counted(*args, **kwargs):
        calls.append(1)
        return real_schur(*args, **kwargs)

    monkeypatch.setattr(sla, "schur", counted)
    X = solve_lyapunov(A, Q, method="schur")
    assert len(calls) == 1
    R = A @ X + X @ A.conj().T - Q
    assert np.linalg.norm(R) <= 1e-12 * np.linalg.norm(A) * np.linalg.norm(X) * 30
