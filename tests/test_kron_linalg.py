"""KronOperator's linear algebra from the factors, against dense numpy/scipy oracles."""

from functools import reduce

import numpy as np
import pytest
import scipy.sparse as sp

from kronop import KronOperator, KronPlusDiagonal

from .contract.linalg import ALL, LinalgContract
from .factories import (
    eps,
    hi,
    hpd,
    kron_dense,
    linalg_factor,
    peak_bytes,
    random_array,
)

# name -> list of (kind, n); kind: hpd, hpd-ill, general, sparse-hpd
CASES = {
    "d1-hpd": [("hpd", 5)],
    "d2-hpd": [("hpd", 3), ("hpd", 4)],
    "d3-hpd": [("hpd", 3), ("hpd", 2), ("hpd", 3)],
    "d4-hpd": [("hpd", 2), ("hpd", 3), ("hpd", 2), ("hpd", 2)],
    "d2-hpd-ill": [("hpd-ill", 4), ("hpd", 3)],
    "d2-general": [("general", 3), ("general", 4)],
    "d3-mixed": [("general", 3), ("hpd", 2), ("general", 2)],
    "sparse": [("sparse-hpd", 4), ("hpd", 3)],
    "sparse-general": [("sparse-general", 4), ("general", 2)],
}


class TestKronLinalg(LinalgContract):
    cases = tuple(CASES)
    offers = ALL

    def build(self, case, dtype, rng):
        factors = [linalg_factor(kind, n, dtype, rng) for kind, n in CASES[case]]
        is_hpd = all(k in ("hpd", "hpd-ill", "sparse-hpd") for k, _ in CASES[case])
        return KronOperator(*factors), kron_dense(factors), is_hpd

    def cond_tolerance(self, op, dense, dtype) -> float:
        # κ of a Kronecker product is the product of its factors': its relative
        # error is the sum of theirs (each σ_min carries ε·nⱼ·κⱼ)
        fac = [hi(f.toarray() if hasattr(f, "toarray") else f) for f in op.factors]
        return sum(20 * eps(dtype) * a.shape[0] * np.linalg.cond(a) for a in fac)


# ------------------------------------------------------------ errors and honesty
def test_singular_factor_is_named():
    K = KronOperator(np.eye(2) * 2, np.array([[1.0, 2.0], [2.0, 4.0]]))
    with pytest.raises(np.linalg.LinAlgError, match=r"factor 1 \(2×2\) is singular"):
        K.solve(np.ones(4))
    S = KronOperator(np.eye(2) * 2, sp.csr_array(np.array([[1.0, 2.0], [2.0, 4.0]])))
    with pytest.raises(np.linalg.LinAlgError, match=r"factor 1 \(2×2\) is singular"):
        S.inv()
    assert K.slogdet() == (0.0, -np.inf)
    assert K.det() == 0.0
    assert K.logdet() == -np.inf


def test_near_singular_warns_like_scipy():
    from scipy.linalg import LinAlgWarning

    a = np.array([[1.0, 1.0], [1.0, 1.0 + 2.3e-16]])
    K = KronOperator(np.eye(3), a)
    with pytest.warns(
        LinAlgWarning, match=r"factor 1 \(2×2\) is ill-conditioned.*condition"
    ):
        K.solve(np.ones(6))


def test_rectangular_and_operator_factors_are_refused():
    from scipy.sparse.linalg import aslinearoperator

    K = KronOperator(np.ones((2, 3)), np.eye(2))
    with pytest.raises(ValueError, match=r"square factors.*factor 0 \(2×3\)"):
        K.solve(np.ones(4))
    with pytest.raises(ValueError, match="square"):
        K.det()
    L = KronOperator(aslinearoperator(np.eye(2)), np.eye(2))
    for method in ("inv", "eigh", "slogdet", "trace", "svd", "norm"):
        with pytest.raises(
            TypeError, match=rf"{method}\(\).*factor 0.*no matrix behind it"
        ):
            getattr(L, method)()


def test_non_finite_factor_is_value_error():
    a = np.array([[1.0, np.nan], [0.0, 1.0]])
    K = KronOperator(np.eye(2), a)
    with pytest.raises(ValueError, match=r"factor 1 .*non-finite"):
        K.solve(np.ones(4))
    for method in ("eigh", "eig", "slogdet", "svd"):
        with pytest.raises(ValueError, match=r"factor 1 .*non-finite"):
            getattr(K, method)()
    assert np.isnan(K @ np.ones(4)).any()  # products propagate, no scan


def test_eigh_needs_hermitian():
    K = KronOperator(np.array([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"factor 0 \(2×2\) is not Hermitian; use eig"):
        K.eigh()


def test_cholesky_names_indefinite_factor():
    K = KronOperator(np.eye(2), np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(
        np.linalg.LinAlgError, match=r"factor 1 \(2×2\) is not Hermitian pos"
    ):
        K.cholesky()
    with pytest.raises(ValueError, match="factor 1"):
        K.sqrt()


def test_indefinite_logdet_is_not_clamped(rng):
    A = np.diag([-2.0, 3.0])
    B = np.diag([1.0, -1.0, 2.0])  # det(A⊗B) = (-6)^3 (-2)^2 < 0
    K = KronOperator(A, B)
    sign, logabs = K.slogdet()
    ref = np.linalg.slogdet(K.toarray())
    assert sign == ref.sign == -1
    np.testing.assert_allclose(logabs, ref.logabsdet, rtol=1e-14)
    ld = K.logdet()
    assert isinstance(ld, complex)
    np.testing.assert_allclose(ld, complex(ref.logabsdet, np.pi), rtol=1e-14)
    w = np.asarray(K.eigh()[0])
    assert (w < 0).any()
    np.testing.assert_allclose(
        K.eigh().logdet(),
        np.sum(np.log(w.astype(complex))).real + 1j * np.pi,
        rtol=1e-13,
    )


def test_non_normal_eig_warns_refuses_and_solve_stays_exact():
    from scipy.linalg import LinAlgWarning

    b = np.arange(1.0, 5.0)
    D2 = np.array([[2.0, 0.0], [0.0, 3.0]])
    # κ(V) ≈ 2e9: 9 of 16 digits lost through V — computed, with a warning
    M = KronOperator(np.array([[1.0, 1.0], [0.0, 1.0 + 1e-9]]), D2)
    with pytest.warns(LinAlgWarning, match="ill-conditioned"):
        dec = M.eig()
    with pytest.warns(LinAlgWarning, match="digits are lost"):
        x = dec.solve(b)
    assert np.linalg.norm(M.toarray() @ x - b) <= 1e-5 * np.linalg.norm(b)
    # κ(V) ≈ 1e15 (nearly defective): refused, never a wrong answer
    J = np.array([[1.0, 1e6], [0.0, 1.0 + 1e-9]])
    K = KronOperator(J, D2)
    with pytest.warns(LinAlgWarning, match="ill-conditioned"):
        dec = K.eig()
    for call in (lambda: dec.solve(b), K.expm, lambda: K.shift(0.5).solve(b)):
        with pytest.raises(np.linalg.LinAlgError, match="too ill-conditioned"):
            call()
    x = K.solve(b)  # LU path: backward stable regardless
    D = K.toarray()
    resid = np.linalg.norm(D @ x - b)
    assert resid <= 100 * eps(float) * np.linalg.norm(D, 2) * np.linalg.norm(x)


def test_kron_plus_kron_diagonal_d3(rng):
    """K + D with D = D₁⊗D₂⊗D₃ positive diagonal, exact for d = 3."""
    mats = [hpd(rng, n, np.float64) for n in (3, 4, 2)]
    diags = [rng.random(n) + 0.2 for n in (3, 4, 2)]
    K = KronOperator(*mats)
    S = K + KronOperator(*(np.diag(d) for d in diags))
    dense = reduce(np.kron, mats) + np.diag(reduce(np.kron, diags))
    b = rng.standard_normal((24, 2))
    np.testing.assert_allclose(S.solve(b), np.linalg.solve(dense, b), rtol=1e-10)
    np.testing.assert_allclose(S.logdet(), np.linalg.slogdet(dense)[1], rtol=1e-12)
    np.testing.assert_allclose(S @ b, dense @ b, rtol=1e-12)
    # negative diagonals: not the congruence form, but a two-term sum that solves
    neg = K + KronOperator(*(np.diag(-d) for d in diags))
    assert not isinstance(neg, KronPlusDiagonal)
    dense = reduce(np.kron, mats) - np.diag(reduce(np.kron, diags))
    np.testing.assert_allclose(neg.solve(b), np.linalg.solve(dense, b), rtol=1e-8)


def test_gaussian_process_case():
    """The GP acceptance story at CI size: K₁⊗K₂⊗K₃ (n = 60), eigh once, many σ²."""
    rng = np.random.default_rng(0)

    def rbf(n, ell):
        t = np.linspace(0, 1, n)
        return np.exp(-0.5 * (t[:, None] - t[None, :]) ** 2 / ell**2)

    K = KronOperator(rbf(60, 0.2), rbf(60, 0.3), rbf(60, 0.5))
    dec = K.eigh()
    y = rng.standard_normal(K.shape[0])
    for s2 in (1e-2, 1e-1, 1.0):
        alpha = dec.solve(y, shift=s2)
        r = K @ alpha + s2 * alpha - y
        assert np.linalg.norm(r) <= 1e-8 * np.linalg.norm(y) / s2
        ld = dec.logdet(shift=s2)
        w = np.asarray(dec.values)
        np.testing.assert_allclose(ld, np.sum(np.log(w + s2)), rtol=1e-12)
    # dense reference at a small size
    Ks = KronOperator(rbf(6, 0.2), rbf(5, 0.3), rbf(4, 0.5))
    D = Ks.toarray()
    ys = rng.standard_normal(120)
    for s2 in (1e-2, 1.0):
        ref = D + s2 * np.eye(120)
        np.testing.assert_allclose(
            Ks.eigh().solve(ys, shift=s2), np.linalg.solve(ref, ys), rtol=1e-8
        )
        np.testing.assert_allclose(
            Ks.eigh().logdet(shift=s2), np.linalg.slogdet(ref)[1], rtol=1e-11
        )


def test_eigvals_k_never_forms_n(rng):
    K = KronOperator(*(hpd(rng, 50, np.float64) for _ in range(4)))  # N = 6.25e6
    dec = K.eigh()
    top, peak = peak_bytes(dec.eigvals, 5, "LA")
    assert peak < 1e6  # all N eigenvalues would be 50 MB
    ws = [np.linalg.eigvalsh(f) for f in K.factors]
    assert np.isclose(top[0], np.prod([w.max() for w in ws]))
    assert np.all(np.diff(top) <= 0)
    bottom = dec.eigvals(3, "SA")
    assert np.isclose(bottom[0], np.prod([w.min() for w in ws]))


def test_rectangular_svd_lstsq(rng):
    A, B = rng.standard_normal((5, 3)), rng.standard_normal((2, 4))
    K = KronOperator(A, B)
    D = np.kron(A, B)
    U, s, Vh = K.svd()
    assert U.shape == (10, 6)
    assert Vh.shape == (6, 12)
    np.testing.assert_allclose(
        (U.toarray() * np.asarray(s)) @ Vh.toarray(), D, atol=1e-12
    )
    b = rng.standard_normal(10)
    np.testing.assert_allclose(
        K.lstsq(b), np.linalg.lstsq(D, b, rcond=None)[0], atol=1e-12
    )
    np.testing.assert_allclose(K.norm(2), np.linalg.norm(D, 2), rtol=1e-13)
    # rank 6 < min(10, 12): four zero singular values
    assert K.cond() == np.inf
    assert np.linalg.cond(D) > 1e15
    sq = KronOperator(A.T @ A + np.eye(3), B @ B.T)
    np.testing.assert_allclose(sq.cond(), np.linalg.cond(sq.toarray()), rtol=1e-12)
    np.testing.assert_allclose(K.diagonal(), np.diag(D), rtol=1e-14)


# ------------------------------------------------- regressions from review
def test_shift_must_be_scalar():
    K = KronOperator(np.diag([1.0, 2.0]), np.diag([1.0, 3.0]))
    with pytest.raises(TypeError, match="sigma must be a scalar"):
        K.shift(np.array([10.0, 20.0, 30.0, 40.0]))


@pytest.mark.parametrize("bdtype", [np.complex128, np.float64])
def test_sparse_factor_solve_any_rhs_dtype(rng, bdtype):
    T = sp.diags_array(
        [[-1.0] * 3, [2.5] * 4, [-1.0] * 3], offsets=[-1, 0, 1], format="csr"
    ).astype(np.float32)
    B = np.array([[2.0, 1.0], [0.0, 3.0]], dtype=np.float32)
    K = KronOperator(T, B)
    b = rng.standard_normal(8).astype(bdtype)
    if bdtype == np.complex128:
        b = b + 1j * rng.standard_normal(8)
    x = K.solve(b)
    D = np.kron(T.toarray().astype(float), B.astype(float))
    np.testing.assert_allclose(D @ x, b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(K.inv().H @ b, np.linalg.solve(D.conj().T, b), rtol=1e-5)


def test_square_operator_with_rectangular_factors(rng):
    from kronop import IdentityOperator

    A, B = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))
    K = KronOperator(A, B)  # 6×6, rank ≤ 4
    D = np.kron(A, B)
    S = K + 0.5 * IdentityOperator((6, 6))
    x = rng.standard_normal(6)
    np.testing.assert_allclose(S @ x, D @ x + 0.5 * x, rtol=1e-13)
    np.testing.assert_allclose(K.trace(), np.trace(D), rtol=1e-13)
    assert K.slogdet() == (0.0, -np.inf)
    assert K.det() == 0.0


def test_complex_kron_diagonal_adjoint(rng):
    A = random_array(rng, (2, 2), np.complex128)
    A = A @ A.conj().T + np.eye(2)
    d = np.array([1.0 + 0.5j, 2.0 - 1j])
    S = KronOperator(A, A) + KronOperator(np.diag(d), np.diag(d))
    dense = np.kron(A, A) + np.diag(np.kron(d, d))
    y = random_array(rng, 4, np.complex128)
    np.testing.assert_allclose(S.H @ y, dense.conj().T @ y, rtol=1e-13)


def test_real_operator_gives_real_results(rng):
    from kronop import IdentityOperator

    A = rng.standard_normal((3, 3)) + 3 * np.eye(3)
    B = rng.standard_normal((2, 2)) + 3 * np.eye(2)
    K = KronOperator(A, B)
    S = K + 0.5 * IdentityOperator(K.shape)
    b = rng.standard_normal(6)
    x = S.solve(b)
    assert x.dtype == np.float64
    np.testing.assert_allclose(S @ x, b, rtol=1e-10)
    sign, _ = S.slogdet()
    assert isinstance(sign, float)
    assert sign == np.linalg.slogdet(S.toarray()).sign
    assert (K.expm() @ b).dtype == np.float64
    assert K.expm().dtype == np.float64


def test_eigen_logdet_sign_and_branch():
    a = np.diag([-1.0, 2.0, -3.0, 4.0, -5.0, 6.0, 7.0])
    K = KronOperator(a, a)
    ld = K.eigh().logdet()
    assert isinstance(ld, float)
    np.testing.assert_allclose(ld, np.linalg.slogdet(K.toarray()).logabsdet, rtol=1e-14)
    K3 = KronOperator(np.diag([-1.0, -2.0, -3.0]))
    assert K3.eigh().logdet() == K3.logdet()
    assert K3.logdet().imag == pytest.approx(np.pi)


def test_scalar_folds_into_the_precise_factor(rng):
    A32 = rng.standard_normal((3, 3)).astype(np.float32)
    B64 = rng.standard_normal((4, 4))
    K = KronOperator(A32, B64)
    x = rng.standard_normal(12)
    ref = 0.1 * (np.kron(A32.astype(float), B64) @ x)
    np.testing.assert_allclose((0.1 * K) @ x, ref, rtol=1e-14)


def test_scaled_operator_factor_keeps_numpy_dtype():
    from scipy.sparse.linalg import aslinearoperator

    L = KronOperator(aslinearoperator(np.eye(2, dtype=np.float32) * 3))
    assert (2.0 * L).dtype == np.float32
    assert (1j * L).dtype == np.complex64
    assert (-L).dtype == np.float32
    assert ((2.0 * L) @ np.ones(2, dtype=np.float32)).dtype == np.float32


def test_spliced_factor_errors_name_the_right_position():
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    K1 = KronOperator(2 * np.eye(3), singular)
    KronOperator(np.ones((2, 2)), np.ones((2, 2)), K1)  # splices K1's factors
    with pytest.raises(np.linalg.LinAlgError, match=r"factor 1 \(2×2\) is singular"):
        K1.solve(np.ones(6))


def test_pickle_after_solves(rng):
    import pickle

    T = sp.diags_array([[-1.0] * 3, [2.5] * 4, [-1.0] * 3], offsets=[-1, 0, 1]).tocsr()
    ill = np.diag([1.0, 1e-8])
    K = KronOperator(T, ill + 0.0)
    b = rng.standard_normal(8)
    x = K.solve(b)
    K.eigh()
    K2 = pickle.loads(pickle.dumps(K))
    np.testing.assert_allclose(K2.solve(b), x, rtol=1e-12)


def test_extreme_eigenvalues_merge_for_psd_and_magnitude():
    def rbf(n, ell):
        t = np.linspace(0, 1, n)
        return np.exp(-0.5 * (t[:, None] - t[None, :]) ** 2 / ell**2)

    K = KronOperator(rbf(40, 0.2), rbf(30, 0.3), rbf(20, 0.5))
    ws = [np.linalg.eigvalsh(f) for f in K.factors]
    assert min(w.min() for w in ws) < 0  # rounding: PSD factors, tiny negatives
    full = np.sort(reduce(np.multiply.outer, ws).ravel())
    dec = K.eigh()
    top, peak = peak_bytes(dec.eigvals, 4, "LA")
    assert peak < 24_000 * 8 / 4  # never all N = 24,000 eigenvalues
    np.testing.assert_allclose(top, full[::-1][:4], rtol=1e-12)
    A = np.diag([-3.0, 1.0, 2.0])
    B = np.diag([0.5, -4.0])
    KM = KronOperator(A, B)
    w = np.kron(np.diag(A), np.diag(B))
    got = KM.eigh().eigvals(2, "LM")
    np.testing.assert_allclose(np.abs(got), np.sort(np.abs(w))[::-1][:2])
    got = KM.eigh().eigvals(2, "SM")
    np.testing.assert_allclose(np.abs(got), np.sort(np.abs(w))[:2])


# ------------------------------------------- fast-transform and eigen-solve factors
def _transform(name, n, dtype):
    from kronop.gallery import TransformOperator

    return TransformOperator(name, n, dtype)


TRANSFORM_CASES = {
    "dst1-hpd": [("dst1", 5), ("hpd", 3)],
    "idct2-general": [("idct2", 4), ("general", 3)],
    "rfft-dst1": [("rfft", 6), ("dst1", 3)],
}


class TestTransformFactorLinalg(LinalgContract):
    """Eigenbases applied by scipy.fft (what laplacian(...).eigh() holds for large
    axes) answer every question a dense factor does."""

    cases = tuple(TRANSFORM_CASES)
    offers = ALL - {"cholesky", "eigh"}

    def build(self, case, dtype, rng):
        factors = [
            _transform(k, n, dtype)
            if k in ("dst1", "idct2", "rfft")
            else linalg_factor(k, n, dtype, rng)
            for k, n in TRANSFORM_CASES[case]
        ]
        return KronOperator(*factors), kron_dense(factors), False


def test_eigh_of_a_large_laplacian_axis_is_usable():
    from kronop import laplacian

    _, V = laplacian((1100,)).eigh()
    assert "dst1" in repr(V)
    assert KronOperator(*V.factors).factors[0] is V.factors[0]  # round trip
    n = 1100
    dense = V.toarray()
    np.testing.assert_allclose(V.trace(), np.trace(dense), atol=1e-10)
    np.testing.assert_allclose(V.diagonal(), np.diag(dense), atol=1e-12)
    assert abs(abs(V.det()) - 1) < 1e-9  # orthogonal
    np.testing.assert_allclose(np.sort(np.abs(V.eigvals())), np.ones(n), atol=1e-9)
    with pytest.raises(np.linalg.LinAlgError, match="not Hermitian positive definite"):
        V.cholesky()
    x = np.random.default_rng(0).standard_normal(n)
    np.testing.assert_allclose(V.solve(V @ x), x, atol=1e-12)


# ------------------------------------------------ precision: the operator's dtype
def _mixed(rng, n, cond):
    """A float64-worthy factor rounded to float32, and its exact float64 value."""
    a32 = hpd(rng, n, np.float64, cond=cond).astype(np.float32)
    return a32, a32.astype(np.float64)


def test_float32_factor_in_float64_operator_is_factorized_in_float64():
    rng = np.random.default_rng(11)
    a32, a64 = _mixed(rng, 4, 1e4)
    B = hpd(rng, 3, np.float64, cond=1e3)
    K, D = KronOperator(a32, B), np.kron(a64, B)
    assert K.dtype == np.float64
    b = rng.standard_normal(12)
    tol = 1e3 * np.finfo(float).eps * np.linalg.cond(D)  # float64, not float32
    x = K.solve(b)
    assert np.linalg.norm(D @ x - b) <= tol * np.linalg.norm(b)
    assert np.linalg.norm(K.eigh().solve(b) - x) <= tol * np.linalg.norm(x)
    np.testing.assert_allclose(K.slogdet()[1], np.linalg.slogdet(D)[1], rtol=1e-11)
    atol = 100 * 12 * np.finfo(float).eps * np.linalg.norm(D, 2)  # float32: 1e-7·‖D‖
    np.testing.assert_allclose(np.sort(K.eigvals()), np.linalg.eigvalsh(D), atol=atol)
    S = K.shift(0.5)
    ref = np.linalg.solve(D + 0.5 * np.eye(12), b)
    assert np.linalg.norm(S.solve(b) - ref) <= tol * np.linalg.norm(ref)
    _, s, _ = K.svd()
    np.testing.assert_allclose(np.sort(np.asarray(s)), np.linalg.svd(D)[1][::-1])
    assert K.factors[0].dtype == np.float32  # the user's factor, untouched


def _low_precision_identities(n):
    from scipy.sparse.linalg._interface import IdentityOperator as ScipyIdentity

    from kronop import IdentityOperator

    return {
        "scipy-IdentityOperator": ScipyIdentity((n, n)),
        "kronop-IdentityOperator-f32": IdentityOperator((n, n), dtype=np.float32),
        "eye_array-f32": sp.eye_array(n, dtype=np.float32, format="csr"),
        "ndarray-eye-f32": np.eye(n, dtype=np.float32),
    }


@pytest.mark.parametrize("kind", list(_low_precision_identities(3)))
def test_low_precision_identity_factor_in_float64_operator(kind):
    """An identity factor costs nothing, and never costs digits either: norms,
    f(K) and spectra of a float64 operator come out in float64."""
    import scipy.linalg as sl

    from kronop import KronSum

    rng = np.random.default_rng(5)
    A = hpd(rng, 2, np.float64, cond=3.0)
    eye = _low_precision_identities(3)[kind]
    K, S = KronOperator(A, eye), KronSum(A, eye)
    for op, D in ((K, np.kron(A, np.eye(3))), (S, S.toarray())):
        assert op.dtype == np.float64
        rtol = 100 * np.finfo(np.float64).eps
        for ord in ("fro", 1, 2, np.inf):
            np.testing.assert_allclose(op.norm(ord), np.linalg.norm(D, ord), rtol=rtol)
        np.testing.assert_allclose(op.expm().toarray(), sl.expm(D), rtol=1e3 * rtol)
        np.testing.assert_allclose(
            np.sort(op.eigvals()), np.linalg.eigvalsh(D), rtol=rtol
        )
        np.testing.assert_allclose(op.slogdet()[1], np.linalg.slogdet(D)[1], rtol=rtol)
        np.testing.assert_allclose(op.cond(), np.linalg.cond(D), rtol=1e3 * rtol)


@pytest.mark.parametrize("hermitian", [True, False])
def test_shifted_product_has_its_eigendecomposition(hermitian):
    rng = np.random.default_rng(8)
    A = hpd(rng, 3, np.float64) if hermitian else np.triu(rng.standard_normal((3, 3)))
    A = A + (0 if hermitian else 3 * np.eye(3))
    B = hpd(rng, 2, np.float64)
    S = KronOperator(A, B).shift(0.7)
    D = S.toarray()
    methods = ["eig", "eigh"] if hermitian else ["eig"]
    b = rng.standard_normal(6)
    for m in methods:
        E = getattr(S, m)()
        np.testing.assert_allclose(
            np.sort_complex(np.asarray(E.eigvals(), complex)),
            np.sort_complex(np.linalg.eigvals(D).astype(complex)),
            atol=1e-12,
        )
        np.testing.assert_allclose(E.solve(b), np.linalg.solve(D, b), atol=1e-11)
    if not hermitian:
        with pytest.raises(ValueError, match="not Hermitian"):
            S.eigh()
    D = KronOperator(np.diag([1.0, 2.0, 3.0]), np.diag([1.0, 2.0]))
    SD = KronOperator(hpd(rng, 3, np.float64), B) + D  # Hermitian K: the K + σD form
    with pytest.raises(ValueError, match=r"not for K \+ σD"):
        SD.eig()


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_pinv_cuts_small_products_of_singular_values(dtype):
    """Factors fine one by one, their product numerically rank-deficient."""
    rng = np.random.default_rng(7)

    def with_values(m, values):
        n = len(values)
        U, _ = np.linalg.qr(rng.standard_normal((m, n)))
        V, _ = np.linalg.qr(rng.standard_normal((n, n)))
        return ((U * np.asarray(values)) @ V.T).astype(dtype)

    A = with_values(7, [1.0, 0.5, 1e-4])
    B = with_values(6, [2.0, 1e-4])
    K = KronOperator(A, B)
    dense = K.toarray()
    y = rng.standard_normal(42).astype(dtype)
    # products 2, 1, 2e-4, 1e-4, 1e-4, 5e-5, 2e-8 (twice): a cut at 1e-6 keeps
    # all but the two 2e-8 ones, which is not a product of factor choices
    P = K.pinv(rcond=1e-6)
    assert not isinstance(P, KronOperator)
    want = np.linalg.pinv(dense, rcond=1e-6)
    np.testing.assert_allclose(P.toarray(), want, atol=1e-8 * np.abs(want).max())
    x = K.lstsq(y, rcond=1e-6)
    ref = np.linalg.lstsq(dense, y, rcond=1e-6)[0]
    np.testing.assert_allclose(x, ref, rtol=1e-8, atol=1e-8 * np.abs(ref).max())
    # a cut between factor values keeps a product set: still a KronOperator
    Q = K.pinv(rcond=1e-3)
    assert isinstance(Q, KronOperator)
    want = np.linalg.pinv(dense, rcond=1e-3)
    np.testing.assert_allclose(Q.toarray(), want, atol=1e-10 * np.abs(want).max())
    # the default cut (max(M, N)·ε) keeps everything here: the exact ⊗ of pinvs
    np.testing.assert_allclose(
        K.pinv().toarray(),
        np.linalg.pinv(dense, rcond=42 * np.finfo(float).eps),
        rtol=1e-6,
        atol=1e-6,
    )


def test_pinv_drops_values_at_the_cutoff_as_numpy():
    A = np.diag([1.0, 0.5])
    K = KronOperator(A, A)
    for rcond in (0.25, 0.5):
        np.testing.assert_allclose(
            K.pinv(rcond).toarray(), np.linalg.pinv(K.toarray(), rcond=rcond)
        )
        b = np.arange(1.0, 5.0)
        np.testing.assert_allclose(
            K.lstsq(b, rcond=rcond), np.linalg.lstsq(K.toarray(), b, rcond=rcond)[0]
        )


def test_pinv_rcond_bad_input():
    K = KronOperator(np.eye(2), np.eye(3))
    with pytest.raises(TypeError, match="rcond"):
        K.pinv(rcond="a")
    with pytest.raises(ValueError, match="rcond"):
        K.pinv(rcond=-1.0)
    with pytest.raises(ValueError, match="rcond"):
        K.lstsq(np.ones(6), rcond=float("nan"))
