"""The one spectral factorization: KronEigen, and every route through it agreeing.

``S.solve``, ``S.eigh().solve``, ``S.inv()``, ``S.pinv()`` and ``(K + σI).solve``
all run :class:`kronop.KronEigen`; these tests pin the agreements that two copies of
the spectral solve used to break.
"""

import warnings

import numpy as np
import pytest
import scipy.linalg as sla
from scipy.linalg import LinAlgWarning

from kronop import KronEigen, KronOperator, KronSum, laplacian

from .factories import hpd, jordan, peak_bytes


@pytest.mark.parametrize(
    "bc", ["neumann", "periodic", ("neumann", "periodic")], ids=str
)
def test_singular_laplacian_solve_and_eigh_solve_agree(bc):
    """One null-space policy: the minimum-norm solution, from both doors."""
    L = laplacian((6, 5), bc=bc)
    rng = np.random.default_rng(0)
    f = rng.standard_normal(30)
    b = f - f.mean()  # compatible
    with warnings.catch_warnings():
        warnings.simplefilter("error", LinAlgWarning)
        x = L.solve(b)
        y = L.eigh().solve(b)
    np.testing.assert_array_equal(x, y)
    np.testing.assert_allclose(x, sla.pinv(L.toarray()) @ b, atol=1e-12)
    for solve in (L.solve, L.eigh().solve):  # incompatible: both warn alike
        with pytest.warns(LinAlgWarning, match="null space"):
            z = solve(f)
        np.testing.assert_allclose(z, sla.pinv(L.toarray()) @ f, atol=1e-12)
    assert L.factorization() is L.eigh()  # the same object, not a copy


def test_large_axis_eigenbasis_is_a_transform_not_a_dense_matrix():
    L = laplacian((1100,))
    dec, peak = peak_bytes(L.eigh)
    assert "dst1" in repr(dec.vectors)
    assert peak < 1100 * 1100 * 8 / 8  # a dense V would be 9.7 MB
    b = np.random.default_rng(1).standard_normal(1100)
    np.testing.assert_array_equal(L.solve(b), dec.solve(b))
    np.testing.assert_allclose(L @ dec.solve(b), b, atol=1e-9)


def test_singular_non_normal_sum_raises_on_every_route():
    B = np.array([[1.0, 2.0], [0.0, 3.0]])
    S = KronSum(B, -B)  # eigenvalue sums 1−1, 3−3: singular, not Hermitian
    for method in ("auto", "eig", "schur"):
        with pytest.raises(np.linalg.LinAlgError, match="singular"):
            S.solve(np.ones(4), method=method)
    with pytest.raises(np.linalg.LinAlgError, match="singular"):
        S.inv()
    with pytest.raises(np.linalg.LinAlgError, match="singular"):
        S.eig().solve(np.ones(4))
    J = jordan(3, float)
    T = KronSum(J, -J, np.diag([0.0, 1.0]))  # d = 3: λ = 2 − 2 + 0
    with pytest.raises(np.linalg.LinAlgError, match="singular"):
        T.solve(np.ones(18))


def test_singular_hermitian_product_eigh_solve_is_min_norm():
    """A singular Hermitian K: its decomposition solves like the sums' (pinv)."""
    a = np.diag([0.0, 1.0, 2.0])
    K = KronOperator(a, hpd(np.random.default_rng(2), 2, float))
    b = K @ np.ones(6)  # compatible
    with warnings.catch_warnings():
        warnings.simplefilter("error", LinAlgWarning)
        x = K.eigh().solve(b)
    np.testing.assert_allclose(x, np.linalg.pinv(K.toarray()) @ b, atol=1e-12)
    with pytest.raises(np.linalg.LinAlgError, match=r"factor 0 \(3×3\) is singular"):
        K.solve(b)  # the LU route names the singular factor


def test_product_solve_and_inverse_are_one_computation():
    """Ill-conditioned Hermitian factors: K.solve and K.inv() take the same route."""
    rng = np.random.default_rng(3)
    A = hpd(rng, 6, float, cond=1e9)
    B = hpd(rng, 4, float)
    K = KronOperator(A, B)
    b = rng.standard_normal((24, 2))
    np.testing.assert_array_equal(K.solve(b), K.inv() @ b)
    ref = np.linalg.solve(K.toarray(), b)
    assert np.linalg.norm(K.solve(b) - ref) <= 1e-6 * np.linalg.norm(ref)


def test_shifted_sum_and_kron_plus_identity_share_the_eigen_solve():
    rng = np.random.default_rng(4)
    A, B = hpd(rng, 4, float), hpd(rng, 3, float)
    K = KronOperator(A, B)
    b = rng.standard_normal(12)
    for sigma in (0.0, 0.3):
        # one route; the shift is folded into cached reciprocals or divided out
        np.testing.assert_allclose(
            K.shift(sigma).solve(b), K.eigh().solve(b, shift=sigma), rtol=1e-14
        )
    S = KronSum(A, B)
    np.testing.assert_array_equal(S.shift(0.3).solve(b), S.eigh().shift(0.3).solve(b))


def test_eigen_object_is_a_factorization_with_inverse_and_adjoint():
    rng = np.random.default_rng(5)
    A = rng.standard_normal((3, 3)) + 4 * np.eye(3)
    B = rng.standard_normal((2, 2)) + 4 * np.eye(2)
    dec = KronSum(A, B).eig()
    assert isinstance(dec, KronEigen)
    inv = dec.inverse_operator()
    D = KronSum(A, B).toarray()
    x = rng.standard_normal(6)
    np.testing.assert_allclose(inv @ (D @ x), x, rtol=1e-10)
    np.testing.assert_allclose(inv.H @ (D.T @ x), x, rtol=1e-10)
    np.testing.assert_allclose(inv.T @ (D.T @ x), x, rtol=1e-10)
    with pytest.raises(ValueError, match="orthonormal eigenbasis"):
        dec.pseudo_inverse()


def test_small_but_accurate_product_eigenvalues_are_not_null():
    """Products of small, accurately known factor eigenvalues are not a null space."""
    rng = np.random.default_rng(6)
    A = np.diag([1e-6, 1.0, 2.0])
    K = KronOperator(A, A, A)  # λ_min = 1e-18, exactly representable products
    b = rng.standard_normal(27)
    # κ = 8e18 > 1/ε: warned about as scipy.linalg.solve would, but not dropped
    with pytest.warns(LinAlgWarning, match="ill-conditioned") as record:
        x = K.eigh().solve(b)
    assert not any("null space" in str(r.message) for r in record)
    np.testing.assert_allclose(x, K.solve(b), rtol=1e-12)
    K.eigh().inverse_operator()  # not singular
    H = KronOperator(hpd(rng, 20, float, cond=1e8), hpd(rng, 20, float, cond=1e8))
    x_true = rng.standard_normal(400)
    y = H @ x_true
    with pytest.warns(LinAlgWarning, match="ill-conditioned"):  # κ = 1e16
        x_eig = H.eigh().solve(y)
    for x in (H.solve(y), x_eig):  # both keep the digits the conditioning allows
        assert np.linalg.norm(x - x_true) <= 1e-2 * np.linalg.norm(x_true)
    singular = KronOperator(np.diag([0.0, 1.0, 2.0]), A)
    assert singular.eigh().is_singular()


def test_pickles_carry_no_length_n_caches():
    import pickle

    L = laplacian((60, 60, 60))
    inv = L.inv()
    inv @ np.ones(L.shape[0])  # builds the N-sized reciprocals
    assert len(pickle.dumps(inv)) < 200_000  # N = 216 000: the caches would be 3.5 MB
    clone = pickle.loads(pickle.dumps(inv))
    b = np.random.default_rng(7).standard_normal(L.shape[0])
    np.testing.assert_array_equal(clone @ b, inv @ b)
    dec = L.eigh()
    np.asarray(dec.values)
    assert len(pickle.dumps(dec)) < 200_000


# --------------------------------------------- precision of the null-space policy
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("cond", [1e3, 1e5, 1e6])
def test_float32_sums_not_singular_in_float32_are_solved(d, cond):
    """κ < 1/ε₃₂ ≈ 8e6: solved in float32, no mode dropped, no warning."""
    rng = np.random.default_rng(int(cond) + d)
    factors = [hpd(rng, 4, np.float32, cond=cond) for _ in range(d)]
    factors[0] = np.diag(np.geomspace(1 / cond, 1.0, 4)).astype(np.float32)
    S = KronSum(*factors)
    dense = S.toarray().astype(np.float64)
    b = rng.standard_normal(S.shape[0]).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LinAlgWarning)
        x = S.solve(b)
        S.inv()  # not singular either
    ref = np.linalg.solve(dense, b.astype(np.float64))
    bound = 100 * np.finfo(np.float32).eps * np.linalg.cond(dense)
    assert np.linalg.norm(x - ref) <= bound * np.linalg.norm(ref)


@pytest.mark.parametrize("shape", [(2000,), (8000,), (300, 300), (1100, 1100)])
def test_float32_laplacians_are_not_singular(shape):
    """Analytic spectra carry ε·|λ|: a float32 Dirichlet Laplacian is never null."""
    L32 = laplacian(shape, dtype=np.float32)
    b = np.random.default_rng(len(shape)).standard_normal(L32.shape[0])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        x = L32.solve(b.astype(np.float32))
    assert not any("null space" in str(r.message) for r in record)
    ref = laplacian(shape).solve(b)
    err = np.linalg.norm(x - ref) / np.linalg.norm(ref)
    assert err <= 100 * np.finfo(np.float32).eps * np.sqrt(L32.shape[0])
    if L32.cond() * np.finfo(np.float32).eps > 1:  # 8000: κ = 2.6e7, warned about
        assert any("ill-conditioned" in str(r.message) for r in record)


def test_neumann_null_mode_is_exact_in_float32():
    L = laplacian((40, 30), bc="neumann", dtype=np.float32)
    f = np.random.default_rng(8).standard_normal(L.shape[0]).astype(np.float32)
    b = f - f.mean()
    x = L.solve(b)
    assert abs(float(x.mean())) <= 1e-5 * float(np.abs(x).max())
    with pytest.warns(LinAlgWarning, match="null space"):
        L.solve(f)


def test_eigenvalue_blocks_against_the_full_grid_and_bad_ranges():
    from kronop import KronEigenvalues

    rng = np.random.default_rng(5)
    vs = [rng.standard_normal(n) for n in (3, 4, 5)]
    for how in ("sum", "product"):
        w = KronEigenvalues(vs, how, shift=0.5)
        full = np.asarray(w).reshape(3, 4, 5)
        ranges = [(1, 3), (0, 2), (2, 5)]
        np.testing.assert_allclose(w.block(ranges), full[1:3, 0:2, 2:5], rtol=1e-15)
        base, a, b = w.null_bound_block(ranges)
        whole = w.null_bound()
        assert (a, b) == (whole[1], whole[2])
        if base is None:
            assert whole[0] is None
        else:
            np.testing.assert_allclose(
                base, np.asarray(whole[0]).reshape(3, 4, 5)[1:3, 0:2, 2:5]
            )
        with pytest.raises(ValueError, match="ranges"):
            w.block([(0, 3), (0, 4)])
        with pytest.raises(ValueError, match="ranges"):
            w.null_bound_block([(0, 4), (0, 4), (0, 5)])
