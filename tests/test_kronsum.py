"""KronSum specifics: structure, stencil engine, solve paths, mass matrices, errors."""

import pickle
import warnings
from functools import reduce

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.linalg import LinAlgWarning
from scipy.sparse.linalg import LinearOperator, aslinearoperator, cg, gmres
from scipy.sparse.linalg._interface import IdentityOperator

from kronop import KronEigen, KronOperator, KronSum, kronsum, laplacian

from .factories import (
    eps,
    fem_1d,
    hi,
    hpd,
    jordan,
    ksum_dense,
    no_dense_eigensolver,
    random_array,
    rel,
)


def kronsum_dense(denses, shift=0.0):
    return ksum_dense(denses, shift=shift)


def mass_dense(Ks, Ms, shift=0.0):
    return ksum_dense(Ks, Ms, shift)


# --------------------------------------------------------------------- structure
def test_order_is_textbook_not_scipy(rng):
    A, B = rng.standard_normal((3, 3)), rng.standard_normal((2, 2))
    S = KronSum(A, B)
    want = np.kron(A, np.eye(2)) + np.kron(np.eye(3), B)
    np.testing.assert_allclose(S.toarray(), want, rtol=1e-15, atol=1e-15)
    # scipy.sparse.kronsum(A, B) is the reverse: B ⊕ A
    np.testing.assert_allclose(
        S.toarray(),
        sp.kronsum(sp.csr_array(B), sp.csr_array(A)).toarray(),
        rtol=1e-15,
        atol=1e-15,
    )
    assert kronsum(A, B).shape == (6, 6)


def test_factors_mass_repr_and_properties(rng):
    A = rng.standard_normal((3, 3))
    T = sp.diags_array(
        [[-1.0] * 3, [2.0] * 4, [-1.0] * 3], offsets=[-1, 0, 1], format="csr"
    )
    S = KronSum(A, T)
    assert S.factors[0] is A
    assert S.factors[1] is T
    assert S.mass is None
    assert S.sigma == 0
    assert S.grid_shape == (3, 4)
    assert S.ndim_factors == 2
    assert repr(S) == "KronSum(3×3 dense ⊕ 4×4 csr nnz=10, dtype=float64)"
    assert "shift=0.5" in repr(S.shift(0.5))
    M = KronSum(A, T, mass=(np.eye(3) * 2, None))
    assert M.mass[1] is None
    assert "mass=(3×3 dense, I)" in repr(M)


def test_matvec_never_assembles(rng, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("assembled the Kronecker sum")

    made = [
        laplacian((5, 4, 6), bc=("dirichlet", "neumann", "periodic")),
        KronSum(
            rng.standard_normal((3, 3)), sp.random_array((4, 4), density=0.8, rng=rng)
        ),
        KronSum(
            hpd(rng, 3, float), hpd(rng, 4, float), mass=(hpd(rng, 3, float), None)
        ),
    ]
    monkeypatch.setattr(sp, "kron", boom)
    monkeypatch.setattr(sp, "kronsum", boom)
    monkeypatch.setattr(np, "kron", boom)
    for S in made:
        x = rng.standard_normal(S.shape[0])
        S @ x
        S.matmat(np.c_[x, x])
        S.H @ x
        S.solve(x - x.mean())
        S.eigvals(3, "SA") if S.mass is None else None


def test_scalar_folding_and_shift_stay_structured(rng, monkeypatch):
    S = laplacian((4, 5))
    for T in (
        2 * S,
        S * 2,
        S / 2,
        -S,
        S.shift(1.5),
        S + 1.5 * IdentityOperator(S.shape),
    ):
        assert isinstance(T, KronSum)
    T = 2 * S + 3 * IdentityOperator(S.shape)
    assert isinstance(T, KronSum)
    assert T.sigma == 3
    no_dense_eigensolver(monkeypatch)  # analytic spectra survive
    b = np.ones(20)
    np.testing.assert_allclose(T @ T.solve(b), b, atol=1e-12)
    monkeypatch.undo()
    np.testing.assert_allclose(
        T.toarray(), 2 * S.toarray() + 3 * np.eye(20), rtol=1e-15, atol=1e-15
    )
    D = S - 0.5 * IdentityOperator(S.shape)
    assert isinstance(D, KronSum)
    assert D.sigma == -0.5


def test_sum_of_kronsums_is_a_kronsum(rng):
    A, B = rng.standard_normal((3, 3)), rng.standard_normal((4, 4))
    C = sp.random_array((3, 3), density=0.5, rng=rng)
    D = aslinearoperator(rng.standard_normal((4, 4)))
    S1, S2 = KronSum(A, B).shift(1.0), KronSum(C, D).shift(0.5)
    T = S1 + S2
    assert isinstance(T, KronSum)
    assert T.sigma == 1.5
    x = rng.standard_normal(12)
    dense = S1.toarray() + S2.toarray()
    np.testing.assert_allclose(T @ x, dense @ x, rtol=1e-13, atol=1e-13)
    # other operators and a mass-matrix sum plus σI: scipy's lazy sum, still right
    M = KronSum(A, B, mass=(np.eye(3) * 2, None))
    U = M + 0.5 * IdentityOperator(M.shape)
    assert not isinstance(U, KronSum)
    np.testing.assert_allclose(
        U @ x, (M.toarray() + 0.5 * np.eye(12)) @ x, rtol=1e-13, atol=1e-13
    )
    with pytest.raises(ValueError, match="shape"):
        S1 + KronSum(A, A)


def test_nested_kronsum_splices(rng):
    A, B, C = (rng.standard_normal((n, n)) for n in (2, 3, 2))
    S = KronSum(KronSum(A, B), C)
    assert len(S.factors) == 3
    np.testing.assert_allclose(
        S.toarray(), kronsum_dense([A, B, C]), rtol=1e-14, atol=1e-14
    )


def test_pickle_roundtrip(rng):
    S = laplacian((4, 3)).shift(0.5)
    T = pickle.loads(pickle.dumps(S))
    x = rng.standard_normal(12)
    np.testing.assert_array_equal(S @ x, T @ x)
    np.testing.assert_allclose(S.solve(x), T.solve(x), rtol=1e-14)


# ------------------------------------------------------------------- stencils
def test_nonfinite_inputs_propagate():
    S = laplacian((3, 4))
    x = np.ones(12)
    x[5] = np.nan
    y = S @ x
    assert np.isnan(y[5])
    assert np.isnan(y).sum() >= 2


# --------------------------------------------------------------- solve paths
@pytest.mark.parametrize(
    "sizes", [(4, 3), (3, 4, 2), (2, 3, 2, 2)], ids=lambda s: f"d{len(s)}"
)
@pytest.mark.parametrize("dtype", [np.float64, np.complex128, np.float32])
def test_schur_and_eig_paths_on_non_normal_factors(rng, sizes, dtype):
    factors = [jordan(sizes[0], dtype)]
    factors += [
        (random_array(rng, (n, n), dtype) + 3 * np.eye(n)).astype(dtype)
        for n in sizes[1:]
    ]
    S = KronSum(*factors).shift(0.25)
    # the Jordan block's eigenvectors are ill-conditioned: Schur forms, not eig
    assert not isinstance(S.factorization(), KronEigen)
    dense = kronsum_dense(factors, 0.25)
    b = random_array(rng, (S.shape[0], 2), dtype)
    ref = np.linalg.solve(dense, hi(b))
    tol = 50 * eps(dtype) * dense.shape[0] * np.linalg.cond(dense)
    x = S.solve(b)
    assert x.dtype == np.dtype(dtype)
    assert x.shape == b.shape
    assert rel(x, ref) <= tol
    assert rel(S.solve(b[:, 0], method="schur"), ref[:, 0]) <= tol
    assert rel(S.inv() @ b, ref) <= tol
    # well-conditioned non-normal factors: diagonalization, and Schur agrees
    G = KronSum(*factors[1:], factors[1]) if len(sizes) > 1 else None
    if G is not None and isinstance(G.factorization(), KronEigen):
        gd = kronsum_dense([*factors[1:], factors[1]])
        bb = random_array(rng, G.shape[0], dtype)
        gref = np.linalg.solve(gd, hi(bb))
        gtol = 50 * eps(dtype) * gd.shape[0] * np.linalg.cond(gd) * 10
        assert rel(G.solve(bb), gref) <= gtol
        assert rel(G.solve(bb, method="schur"), gref) <= gtol


def test_eig_path_on_nearly_normal_factors(rng):
    A = np.triu(rng.standard_normal((5, 5))) + 4 * np.eye(5)
    B = rng.standard_normal((4, 4)) + 5 * np.eye(4)
    S = KronSum(A, B)
    dense = kronsum_dense([A, B])
    b = rng.standard_normal(20)
    assert S.solve(b).dtype == np.float64
    for method in ("eig", "schur"):
        x = S.solve(b, method=method)
        assert rel(x, np.linalg.solve(dense, b)) <= 1e-12 * np.linalg.cond(dense)


def test_hermitian_solve_paths_agree(rng):
    S = KronSum(hpd(rng, 4, complex), hpd(rng, 3, complex), hpd(rng, 2, complex))
    b = random_array(rng, 24, np.complex128)
    np.testing.assert_allclose(S.solve(b), S.solve(b, method="schur"), rtol=1e-12)
    with pytest.raises(ValueError, match="method"):
        S.solve(b, method="lu")


def test_cg_and_gmres_with_kronsum(rng):
    S = laplacian((8, 7, 6))
    b = rng.standard_normal(S.shape[0])
    x, info = cg(S, b, rtol=1e-10, maxiter=500)
    assert info == 0
    assert np.linalg.norm(S @ x - b) <= 1e-9 * np.linalg.norm(b)
    # a nearby operator's inverse as a preconditioner: one or two iterations
    A = S + aslinearoperator(sp.diags_array(0.1 * rng.random(S.shape[0])))
    M = S.inv()
    count = []
    x, info = gmres(
        A, b, M=M, rtol=1e-10, callback=count.append, callback_type="pr_norm"
    )
    assert info == 0
    assert len(count) <= 8


# ---------------------------------------------------------- singular systems
def test_singular_hermitian_sum_min_norm(rng):
    A = hpd(rng, 4, float)
    S = KronSum(A, -A)  # λᵢ − λᵢ = 0: singular, Hermitian
    dense = S.toarray()
    x0 = rng.standard_normal(16)
    b = dense @ x0  # compatible
    with warnings.catch_warnings():
        warnings.simplefilter("error", LinAlgWarning)
        x = S.solve(b)
    np.testing.assert_allclose(x, sla.pinv(dense) @ b, atol=1e-10)
    with pytest.warns(LinAlgWarning, match="null space"):
        S.solve(rng.standard_normal(16))
    with pytest.raises(np.linalg.LinAlgError, match="singular"):
        S.inv()
    np.testing.assert_allclose(S.pinv().toarray(), sla.pinv(dense), atol=1e-10)
    assert S.slogdet() == (0.0, -np.inf) or S.slogdet()[1] < -20
    assert S.cond() > 1e12


def test_singular_non_hermitian_sum_raises():
    A = jordan(3, float)
    S = KronSum(A, -A)
    with pytest.raises(np.linalg.LinAlgError, match="singular"):
        S.solve(np.ones(9))
    with pytest.raises(np.linalg.LinAlgError, match="singular"):
        S.inv()
    B = np.array([[1.0, 2.0], [0.0, 3.0]])
    with pytest.raises(np.linalg.LinAlgError, match="singular"):
        KronSum(B, -B).solve(np.ones(4), method="eig")


# --------------------------------------------------------- spectral algebra
def test_eigvals_merge_and_extremes(rng):
    A, B, C = hpd(rng, 5, float), hpd(rng, 4, float), hpd(rng, 6, float)
    S = KronSum(A, B, C).shift(-2.0)
    ref = np.sort(np.linalg.eigvalsh(S.toarray()))
    for k in (1, 7, 120):
        np.testing.assert_allclose(S.eigvals(k, "SA"), ref[:k], atol=1e-12)
        np.testing.assert_allclose(S.eigvals(k, "LA"), ref[::-1][:k], atol=1e-12)
    np.testing.assert_allclose(np.sort(S.eigvals()), ref, atol=1e-12)
    w, V = S.eigh()
    assert isinstance(V, KronOperator)
    np.testing.assert_allclose(np.sort(np.asarray(w)), ref, atol=1e-12)


def test_norms_exact_from_factors(rng):
    # diagonals that cancel: the Frobenius formula has no cancellation of its own
    S = KronSum(np.diag([1.0, 2.0]), np.diag([-1.0, -2.0]))
    assert S.norm("fro") == pytest.approx(np.sqrt(2), rel=1e-15)
    L = laplacian((6, 5, 4), bc=("neumann", "periodic", "dirichlet"), spacing=0.3)
    A = L.toarray()
    for ord_ in ("fro", 1, np.inf, 2):
        assert L.norm(ord_) == pytest.approx(np.linalg.norm(A, ord_), rel=1e-13)
    assert L.cond() == pytest.approx(np.linalg.cond(A), rel=1e-11)
    Z = KronSum(
        rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3)),
        rng.standard_normal((4, 4)),
    ).shift(0.5 - 2j)
    for ord_ in ("fro", 1, np.inf):
        assert Z.norm(ord_) == pytest.approx(
            np.linalg.norm(Z.toarray(), ord_), rel=1e-13
        )
    with pytest.raises(ValueError, match="ord"):
        L.norm("nuc")


def test_normal_non_hermitian_factors(rng):
    q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    rot = q @ np.diag(np.exp(1j * rng.random(4))) @ q.T  # unitary: normal
    S = KronSum(rot, 2 * np.eye(3) + 0j)
    A = S.toarray()
    assert S.norm(2) == pytest.approx(np.linalg.norm(A, 2), rel=1e-12)
    assert S.cond() == pytest.approx(np.linalg.cond(A), rel=1e-11)


def test_expm_is_kron_of_factor_exponentials(rng):
    A = rng.standard_normal((3, 3))
    L = laplacian((4, 3), bc=("dirichlet", "periodic"), spacing=0.8)
    for S in (KronSum(A, hpd(rng, 2, float)).shift(0.3), -0.1 * L):
        E = S.expm()
        assert isinstance(E, KronOperator)
        dense = S.toarray()
        tol = (
            100
            * np.finfo(float).eps
            * dense.shape[0]
            * max(1.0, np.linalg.norm(dense, 2))
        )
        assert rel(E.toarray(), sla.expm(dense)) <= tol


def test_trace_diagonal_logdet_from_factors(rng):
    L = laplacian((5, 4, 3), bc=("dirichlet", "neumann", "periodic")).shift(0.1)
    A = L.toarray()
    assert L.trace() == pytest.approx(np.trace(A), rel=1e-14)
    np.testing.assert_allclose(L.diagonal(), np.diag(A), rtol=1e-15)
    assert L.logdet() == pytest.approx(np.linalg.slogdet(A)[1], rel=1e-12)
    assert isinstance(L.logdet(), float)
    neg = L.shift(-1.0)  # indefinite: a complex log with iπ
    sign, logabs = np.linalg.slogdet(neg.toarray())
    assert neg.slogdet()[0] == sign
    assert neg.slogdet()[1] == pytest.approx(logabs, rel=1e-12)
    assert neg.det() == pytest.approx(np.linalg.det(neg.toarray()), rel=1e-10)


# ------------------------------------------------------------- mass matrices
@pytest.mark.parametrize("shift", [0.0, 2.5])
def test_generalized_kronsum_fast_diagonalization(rng, shift):
    (K1, M1), (K2, M2), (K3, M3) = fem_1d(5, 0.2), fem_1d(4, 0.25), fem_1d(3, 0.5)
    S = KronSum(K1, K2, K3, mass=(M1, M2, M3))
    if shift:
        S = S.shift(shift)  # S + σ·M₁⊗M₂⊗M₃ (Helmholtz-like)
    dense = mass_dense([K1, K2, K3], [M1, M2, M3], shift)
    np.testing.assert_allclose(S.toarray(), dense, rtol=1e-14, atol=1e-14)
    b = rng.standard_normal((S.shape[0], 2))
    x = S.solve(b)
    assert rel(x, np.linalg.solve(dense, b)) <= 1e-13 * np.linalg.cond(dense)
    assert rel(S.inv() @ b[:, 0], np.linalg.solve(dense, b[:, 0])) <= 1e-12
    sign, logabs = np.linalg.slogdet(dense)
    assert S.slogdet()[0] == sign
    assert S.logdet() == pytest.approx(logabs, rel=1e-12)
    assert S.trace() == pytest.approx(np.trace(dense), rel=1e-14)
    np.testing.assert_allclose(S.diagonal(), np.diag(dense), rtol=1e-14)
    assert S.norm("fro") == pytest.approx(np.linalg.norm(dense), rel=1e-12)
    w, V = S.generalized_eigh()
    Vd, Md = V.toarray(), reduce(np.kron, [M.toarray() for M in (M1, M2, M3)])
    np.testing.assert_allclose(dense @ Vd, Md @ Vd * np.asarray(w), atol=1e-10)
    for method in ("eigh", "eig", "eigvals", "expm", "cond"):
        with pytest.raises(ValueError, match="mass"):
            getattr(S, method)()
    with pytest.raises(ValueError, match="mass"):
        S.norm(2)


def test_generalized_kronsum_non_hermitian(rng):
    K1 = rng.standard_normal((4, 4)) + 4 * np.eye(4)
    M1 = rng.standard_normal((4, 4)) + 5 * np.eye(4)
    K2 = hpd(rng, 3, complex)
    S = KronSum(K1, K2, mass=(M1, None))
    dense = mass_dense([K1, K2], [M1, np.eye(3)])
    b = random_array(rng, 12, np.complex128)
    assert rel(S.solve(b), np.linalg.solve(dense, b)) <= 1e-12 * np.linalg.cond(dense)
    sign, logabs = np.linalg.slogdet(dense)
    got_sign, got_logabs = S.slogdet()
    assert abs(got_sign - sign) < 1e-10
    assert got_logabs == pytest.approx(logabs, rel=1e-12)
    w, V = S.generalized_eigh()
    Md = np.kron(M1, np.eye(3))
    Vd = V.toarray()
    np.testing.assert_allclose(dense @ Vd, Md @ Vd * np.asarray(w), atol=1e-9)
    with pytest.raises(ValueError, match="schur"):
        S.solve(b, method="schur")


def test_singular_mass_raises():
    K, M = fem_1d(3)
    with pytest.raises(np.linalg.LinAlgError, match="mass matrix 0"):
        KronSum(K, K, mass=(np.zeros((3, 3)), M)).solve(np.ones(9))


# ---------------------------------------------------------------- errors
def test_errors_name_the_factor(rng):
    A = rng.standard_normal((3, 3))
    with pytest.raises(ValueError, match=r"factor 1 \(3×4\) is not square"):
        KronSum(A, rng.standard_normal((3, 4)))
    with pytest.raises(ValueError, match="1-D array is not a factor"):
        KronSum(A, np.ones(3))
    with pytest.raises(ValueError, match="at least one factor"):
        KronSum()
    with pytest.raises(ValueError, match=r"mass matrix 1 has shape 2×2"):
        KronSum(A, A, mass=(None, np.eye(2)))
    with pytest.raises(ValueError, match="one matrix"):
        KronSum(A, A, mass=(None,))
    with pytest.raises(ValueError, match=r"factor 0 .* not Hermitian"):
        KronSum(A, np.eye(2)).eigh()
    with pytest.raises(ValueError, match="non-finite"):
        KronSum(np.array([[np.inf]]), np.eye(2)).solve(np.ones(2))
    with pytest.raises(TypeError, match="no matrix behind it"):
        KronSum(aslinearoperator(A), A).solve(np.ones(9))
    with pytest.raises(ValueError, match="right-hand side"):
        KronSum(A, A).solve(np.ones(8))
    with pytest.raises(TypeError):
        KronSum(A, A).shift(np.ones(2))


def test_inputs_never_mutated(rng):
    A = hpd(rng, 4, float)
    T = laplacian(5).factors[0]
    keepA, keepT = A.copy(), T.toarray()
    S = KronSum(A, T)
    b = rng.standard_normal(20)
    keep_b = b.copy()
    S.solve(b)
    S.solve(b, method="schur")
    S @ b
    S.eigvals(3)
    S.norm()
    np.testing.assert_array_equal(A, keepA)
    np.testing.assert_array_equal(T.toarray(), keepT)
    np.testing.assert_array_equal(b, keep_b)


def test_linear_operator_factor_products_only(rng):
    A = rng.standard_normal((3, 3))
    op = LinearOperator(
        (3, 3), matvec=lambda v: A @ v, rmatvec=lambda v: A.T @ v, dtype=float
    )
    S = KronSum(op, A)
    x = rng.standard_normal(9)
    np.testing.assert_allclose(S @ x, kronsum_dense([A, A]) @ x, rtol=1e-13)
    with pytest.raises(TypeError, match="no matrix"):
        S.eigvals()


# ------------------------------------------------------- regressions from review
def test_solve_never_overwrites_rhs_with_diagonal_factors():
    from kronop import KronSum, solve_sylvester

    b = np.array([1.0, 2.0, 3.0, 4.0])
    S = KronSum(np.diag([1.0, 2.0]), np.diag([3.0, 5.0]))
    x = S.solve(b)
    np.testing.assert_array_equal(b, [1.0, 2.0, 3.0, 4.0])
    assert not np.shares_memory(x, b)
    np.testing.assert_allclose(S @ x, b, rtol=1e-14)
    one = KronSum(np.array([[2.0]]), np.array([[3.0]]))
    b1 = np.array([5.0])
    one.solve(b1)
    assert b1[0] == 5.0
    C = np.ones((2, 3))
    X = solve_sylvester(np.diag([1.0, 2.0]), np.diag([3.0, 4.0, 5.0]), C)
    np.testing.assert_array_equal(C, np.ones((2, 3)))
    assert not np.shares_memory(X, C)


def test_float32_dirichlet_laplacian_is_not_singular():
    import warnings

    from kronop import laplacian

    n = 300
    L = laplacian((n, n), dtype=np.float32)
    b = np.ones(n * n, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = L.solve(b)
    ref = laplacian((n, n)).solve(np.ones(n * n))
    assert np.linalg.norm(x - ref) / np.linalg.norm(ref) < 1e-5


# ------------------------------------------------ defective factors, huge grids
@pytest.mark.parametrize("d", [2, 3])
def test_defective_factors_never_give_a_wrong_answer(rng, d):
    """A Jordan block through its eigenvectors is refused; Schur solves it."""
    from kronop import solve_sylvester, solve_tensor_sylvester

    J = jordan(3, float)
    others = [hpd(rng, 2, float) + np.diag([0.0, 1.0]) for _ in range(d - 1)]
    S = KronSum(J, *others)
    b = rng.standard_normal(S.shape[0])
    with pytest.raises(np.linalg.LinAlgError, match="too ill-conditioned"):
        S.solve(b, method="eig")
    x = S.solve(b)  # auto: Schur forms
    dense = S.toarray()
    assert np.linalg.norm(dense @ x - b) <= 1e-12 * np.linalg.norm(b) * np.linalg.cond(
        dense
    )
    C = rng.standard_normal((3, 2))
    with pytest.raises(np.linalg.LinAlgError, match="too ill-conditioned"):
        solve_sylvester(J, others[0], C, method="eig")
    with pytest.raises(np.linalg.LinAlgError, match="too ill-conditioned"):
        solve_tensor_sylvester([J, *others], b.reshape(S.grid_shape), method="eig")
    with pytest.warns(LinAlgWarning, match="ill-conditioned"):
        S.eig()


def test_spectra_of_grids_past_2_to_the_63():
    S = KronSum(*[np.diag([1.0, 2.0])] * 64)  # N = 2⁶⁴
    np.testing.assert_array_equal(S.eigvals(2, "LA"), [128.0, 127.0])
    np.testing.assert_array_equal(S.eigvals(2, "SA"), [64.0, 65.0])
    np.testing.assert_array_equal(S.eigvals(1, "LM"), [128.0])
    K = KronOperator(*[np.diag([1.0, 2.0])] * 64)
    np.testing.assert_allclose(K.eigvals(2, "LA"), [2.0**64, 2.0**63])
    np.testing.assert_allclose(K.eigh().logdet(), 64 * 2**63 * np.log(2.0))
    assert K.eigh().values.size == 2**64
    with pytest.raises(OverflowError, match=r"use \.size"):
        len(K.eigh().values)  # Python caps len() at sys.maxsize


@pytest.mark.parametrize("which", ["SM", "LM", "SA", "LA"])
def test_extreme_eigenvalues_never_form_all_n(which, monkeypatch):
    from kronop._engine import numpy_kernels

    from .factories import peak_bytes

    monkeypatch.setattr(numpy_kernels, "GRID_WHOLE", 1000)  # stream from N > 1000
    S = laplacian((60, 50, 40), bc=("dirichlet", "neumann", "periodic")).shift(-3.0)
    ref = np.sort(S.eigvals())
    key = {"SM": np.abs(ref), "LM": -np.abs(ref), "SA": ref, "LA": -ref}[which]
    want = ref[np.argsort(key, kind="stable")][:5]
    got, peak = peak_bytes(S.eigvals, 5, which)
    np.testing.assert_allclose(np.sort(got), np.sort(want), atol=1e-12)
    assert peak < 120_000 * 8 / 4  # never the 120 000 values at once


def test_float32_factors_and_shift_in_a_float64_sum(rng):
    """Decompositions and shifts work in the sum's precision, not the factor's."""
    a32 = (hpd(rng, 3, float) + np.triu(rng.standard_normal((3, 3)))).astype(np.float32)
    b32 = hpd(rng, 2, float).astype(np.float32)
    c64 = rng.standard_normal((2, 2)) + 3 * np.eye(2)
    S = KronSum(a32, b32, c64)  # d = 3, non-normal: the eig path
    dense = kronsum_dense([a32.astype(float), b32.astype(float), c64])
    b = rng.standard_normal(S.shape[0])
    for method in ("eig", "schur"):
        x = S.solve(b, method=method)
        resid = np.linalg.norm(dense @ x - b) / np.linalg.norm(b)
        assert resid <= 1e3 * np.finfo(float).eps * np.linalg.cond(dense)
    L = laplacian((3, 4)).shift(np.float32(0.1))  # 0.1000000015 in float64
    assert L.dtype == np.float64
    ref = sla.expm(L.toarray())
    assert rel(L.expm().toarray(), ref) <= 1e-11  # float32 arithmetic: 4e-8
    assert L.eigvals(1, "SA")[0] == pytest.approx(
        np.linalg.eigvalsh(L.toarray())[0], rel=1e-14
    )


# ------------------------------------------------------ non-finite values
def _csr_sum(S):
    """The assembled sum as CSR (the reference for NaN/inf propagation)."""
    out = sp.csr_array((S.shape[0], S.shape[0]), dtype=S.dtype)
    for j, f in enumerate(S.factors):
        mats = [sp.eye_array(n, dtype=S.dtype) for n in S.grid_shape]
        mats[j] = sp.csr_array(f)
        out = out + reduce(sp.kron, mats)
    return sp.csr_array(out + S.sigma * sp.eye_array(S.shape[0]))


@pytest.fixture
def quiet_floating_point():
    with np.errstate(all="ignore"):  # NaN arithmetic is the point of these tests
        yield


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["entry", "shift", "scale", "input"])
@pytest.mark.usefixtures("quiet_floating_point")
def test_nonfinite_values_propagate_through_stencils(dtype, bad, where):
    """NaN and inf in a banded factor, the shift, a scalar or the input never crash:
    they propagate as the CSR product of the assembled sum propagates them."""
    L = laplacian((4, 3), bc=("neumann", "periodic"), dtype=dtype)
    x = np.arange(1.0, 13.0).astype(dtype)
    if where == "entry":
        a = L.factors[0].toarray()
        a[1, 2] = bad
        S = KronSum(sp.csr_array(a), L.factors[1])
    elif where == "shift":
        S = L.shift(bad)
    elif where == "scale":
        S = bad * L
    else:
        S = L
        x[5] = bad
    y = S @ x
    ref = _csr_sum(S) @ x
    assert y.dtype == np.result_type(S.dtype, x.dtype)
    np.testing.assert_array_equal(np.isfinite(y), np.isfinite(ref))
    if np.dtype(dtype).kind == "f":  # complex infinities: nan/inf parts differ by BLAS
        np.testing.assert_array_equal(np.isnan(y), np.isnan(ref))


def test_spacings_whose_stencil_overflows_are_refused():
    for h in (1e-160, 1e-170, 1e-300):
        with pytest.raises(ValueError, match="1/h² overflows"):
            laplacian((3, 3), spacing=h)
    L = laplacian((3,), spacing=1e-150)  # 1/h² = 1e300: still representable
    assert np.all(np.isfinite(L @ np.ones(3)))


@pytest.mark.parametrize(
    "eye",
    [sp.eye_array(2000), IdentityOperator((2000, 2000), dtype=float)],
    ids=["sparse-eye", "identity-op"],
)
def test_identity_factors_are_never_densified(eye):
    """A 2000×2000 identity factor would be 32 MB dense: no route forms it."""
    from .factories import peak_bytes

    A = np.array([[2.0, 1.0], [1.0, 3.0]])
    J = np.array([[2.0, 1.0], [0.0, 2.0]])  # non-normal: the Schur route
    b = np.random.default_rng(1).standard_normal(4000)
    budget = 1 << 20  # a few vectors; a dense identity is 32 MB
    K = KronOperator(A, eye)
    for call in (K.eigh, K.eig, lambda: K.solve(b), K.slogdet, K.inv, K.eigvals):
        _, peak = peak_bytes(call)
        assert peak < budget
    for S in (KronSum(A, eye), KronSum(J, eye), KronSum(eye, J).shift(0.5)):
        dense_free = [lambda S=S: S.solve(b), S.slogdet, S.inv, S.trace, S.diagonal]
        for call in dense_free:
            _, peak = peak_bytes(call)
            assert peak < budget
        x = S.solve(b)
        assert np.linalg.norm(S @ x - b) <= 1e-12 * np.linalg.norm(b)
