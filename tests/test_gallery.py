"""laplacian(): exact against LaplacianNd, analytic eigenpairs, fast transforms, singular bcs."""

import math
import warnings
from functools import reduce

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.linalg import LinAlgWarning
from scipy.sparse.linalg import LaplacianNd

from kronop import KronSum, gallery, laplacian
from kronop.gallery import StencilSpectrum

from .factories import eps, no_dense_eigensolver, random_array, rel

BCS = ("dirichlet", "neumann", "periodic")
SHAPES = [(1,), (2,), (7,), (1, 3), (4, 3), (2, 2, 1), (3, 4, 5), (2, 3, 2, 3)]


@pytest.fixture
def all_transforms(monkeypatch):
    """Apply every analytic eigenbasis by its fast transform, whatever the size."""
    for key in gallery.FAST_TRANSFORM_MIN_SIZE:
        monkeypatch.setitem(gallery.FAST_TRANSFORM_MIN_SIZE, key, 1)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("bc", BCS)
def test_equals_negative_laplaciannd(bc, shape):
    L = laplacian(shape, bc=bc)
    assert isinstance(L, KronSum)
    ref = -LaplacianNd(shape, boundary_conditions=bc).toarray()
    np.testing.assert_array_equal(L.toarray(), ref)
    x = np.random.default_rng(0).standard_normal(L.shape[0])
    np.testing.assert_allclose(L @ x, ref @ x, rtol=1e-14, atol=1e-14)
    assert all(sp.issparse(f) and f.format == "csr" for f in L.factors)
    assert L.shape == ref.shape
    assert all(type(s) is int for s in L.shape)


def test_per_axis_bc_and_spacing():
    shape, bcs, hs = (4, 3, 5), ("dirichlet", "periodic", "neumann"), (0.5, 2.0, 0.1)
    L = laplacian(shape, bc=bcs, spacing=hs)
    ones = [
        -LaplacianNd((n,), boundary_conditions=b).toarray() / h**2
        for n, b, h in zip(shape, bcs, hs, strict=True)
    ]
    ref = 0
    for j, a in enumerate(ones):
        mats = [np.eye(n) for n in shape]
        mats[j] = a
        ref = ref + reduce(np.kron, mats)
    np.testing.assert_allclose(L.toarray(), ref, rtol=4 * np.finfo(float).eps, atol=0)
    L1 = laplacian(5, spacing=0.25)
    assert L1.shape == (5, 5)
    np.testing.assert_allclose(
        L1.toarray(), -LaplacianNd((5,), boundary_conditions="dirichlet").toarray() * 16
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_dtype(dtype):
    L = laplacian((3, 4), dtype=dtype)
    assert L.dtype == np.dtype(dtype)
    x = np.ones(12, dtype=dtype)
    assert (L @ x).dtype == np.dtype(dtype)
    assert L.solve(x).dtype == np.dtype(dtype)


def _exact_values(bc, n):
    """The 1-D eigenvalues in extended precision (sorted), from the closed forms."""
    if n == 1:
        return np.array([2.0 if bc == "dirichlet" else 1.0])
    k = np.arange(n, dtype=np.longdouble)
    pi = np.longdouble(np.pi)
    if bc == "dirichlet":
        w = 4 * np.sin(pi * (k + 1) / (2 * (n + 1))) ** 2
    elif bc == "neumann":
        w = 4 * np.sin(pi * k / (2 * n)) ** 2
    else:
        w = 4 * np.sin(pi * k / n) ** 2
    return np.sort(w)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8, 9, 16])
@pytest.mark.parametrize("bc", BCS)
def test_analytic_eigenpairs_exact_to_rounding(bc, n):
    T = gallery.second_difference(n, bc).toarray()
    spec = StencilSpectrum(bc, n, 1.0, np.float64)
    w, V = spec.values, spec.vectors()
    e = np.finfo(float).eps
    # exact to rounding: against the closed forms in extended precision
    np.testing.assert_allclose(np.sort(w), _exact_values(bc, n), rtol=0, atol=4 * e)
    # and against LAPACK, within eigvalsh's own backward error (c·n·ε·‖T‖)
    np.testing.assert_allclose(
        np.sort(w), np.linalg.eigvalsh(T), rtol=0, atol=4 * n * e * 4
    )
    np.testing.assert_allclose(V.T @ V, np.eye(n), rtol=0, atol=4 * n * e)
    np.testing.assert_allclose(T @ V, V * w, rtol=0, atol=8 * n * e)
    if bc != "periodic" or n == 1:
        assert np.all(np.diff(w) >= 0)
    if bc in ("neumann", "periodic") and n > 1:
        assert w[0] == 0.0  # the constant null vector, exactly


@pytest.mark.parametrize("n", [1, 2, 5, 6, 9])
@pytest.mark.parametrize("bc", BCS)
@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.usefixtures("all_transforms")
def test_fast_transforms_apply_the_same_basis(bc, n, complex_):
    rng = np.random.default_rng(n)
    V = StencilSpectrum(bc, n, 1.0, np.float64).vectors()
    L = laplacian(n, bc=bc)
    dec = L.eigh()
    if n > 1:  # the eigenvector factor is the transform, not a dense matrix
        assert {"dirichlet": "dst1", "neumann": "idct2", "periodic": "irfft"}[
            bc
        ] in repr(dec.vectors)
    x = random_array(rng, (n, 4), np.complex128 if complex_ else np.float64)
    np.testing.assert_allclose(dec.vectors @ x, V @ x, atol=20 * n * 1e-16)
    np.testing.assert_allclose(dec.vectors.H @ x, V.T @ x, atol=20 * n * 1e-16)
    np.testing.assert_allclose(dec.vectors.T @ x, V.T @ x, atol=20 * n * 1e-16)
    np.testing.assert_allclose(dec.vectors @ (dec.vectors.H @ x), x, atol=1e-14)
    np.testing.assert_allclose(dec.vectors.toarray(), V, atol=20 * n * 1e-16)


@pytest.mark.parametrize("bc", [*BCS, ("periodic", "dirichlet", "neumann")], ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.complex128, np.float32])
def test_transform_and_gemm_solves_agree(bc, dtype, monkeypatch):
    rng = np.random.default_rng(1)
    shape, hs = (6, 5, 4), (0.5, 1.0, 2.0)
    L_gemm = laplacian(shape, bc=bc, spacing=hs, dtype=dtype)
    for key in gallery.FAST_TRANSFORM_MIN_SIZE:
        monkeypatch.setitem(gallery.FAST_TRANSFORM_MIN_SIZE, key, 1)
    L_fft = laplacian(shape, bc=bc, spacing=hs, dtype=dtype)
    described = repr(L_fft.eigh().vectors)
    assert "dense" not in described
    assert described.count("×") == 3  # three transform factors
    b = random_array(rng, (L_gemm.shape[0], 2), dtype)
    b -= b.mean(axis=0)
    dense = L_gemm.toarray().astype(np.complex128)
    ref = sla.pinv(dense) @ b
    tol = 50 * eps(dtype) * dense.shape[0] * np.linalg.cond(dense[1:, 1:])
    for L in (L_gemm, L_fft):
        x = L.solve(b)
        assert x.dtype == np.dtype(dtype)
        assert rel(x, ref) <= tol


def test_mixed_transform_and_gemm_axes(monkeypatch):
    monkeypatch.setitem(gallery.FAST_TRANSFORM_MIN_SIZE, "neumann", 1)
    L = laplacian((5, 6, 4), bc=("dirichlet", "neumann", "periodic"))
    described = repr(L.eigh().vectors)
    assert described.count("idct2") == 1
    assert described.count("dense") == 2
    b = np.random.default_rng(2).standard_normal(L.shape[0])
    np.testing.assert_allclose(L @ L.solve(b), b, atol=1e-12)


@pytest.mark.parametrize(
    "bc", ["neumann", "periodic", ("neumann", "periodic")], ids=str
)
@pytest.mark.usefixtures("all_transforms")
def test_singular_laplacian_zero_mean_solution(bc):
    rng = np.random.default_rng(3)
    L = laplacian((6, 5), bc=bc, spacing=(1.0, 0.5))
    L_gemm = laplacian((6, 5), bc=bc, spacing=(1.0, 0.5))
    dense = L.toarray()
    f = rng.standard_normal(30)
    b = f - f.mean()  # compatible: zero sum
    with warnings.catch_warnings():
        warnings.simplefilter("error", LinAlgWarning)
        x = L.solve(b)
    assert abs(x.mean()) <= 1e-14 * np.abs(x).max()
    np.testing.assert_allclose(dense @ x, b, atol=1e-12)
    np.testing.assert_allclose(x, sla.pinv(dense) @ b, atol=1e-12)
    with pytest.warns(LinAlgWarning, match="does not sum to zero"):
        y = L.solve(f)
    np.testing.assert_allclose(y, sla.pinv(dense) @ f, atol=1e-12)
    assert L.slogdet() == (0.0, -np.inf)
    assert L.logdet() == -np.inf
    with pytest.raises(np.linalg.LinAlgError, match="singular"):
        L.inv()
    np.testing.assert_allclose(L.pinv() @ b, x, atol=1e-13)
    np.testing.assert_allclose(L_gemm.lstsq(f), y, atol=1e-12)


def test_one_dirichlet_axis_makes_it_definite():
    L = laplacian((5, 4), bc=("neumann", "dirichlet"))
    b = np.ones(20)  # not zero-mean: fine, the operator is nonsingular
    with warnings.catch_warnings():
        warnings.simplefilter("error", LinAlgWarning)
        x = L.solve(b)
    np.testing.assert_allclose(L @ x, b, atol=1e-12)
    assert L.eigvals(1, "SA")[0] > 0


def test_eigvals_match_laplaciannd():
    shape = (7, 6, 5)
    for bc in BCS:
        L = laplacian(shape, bc=bc)
        ref = np.sort(-LaplacianNd(shape, boundary_conditions=bc).eigenvalues())
        np.testing.assert_allclose(np.sort(L.eigvals()), ref, atol=1e-13)
        np.testing.assert_allclose(L.eigvals(5, "SA"), ref[:5], atol=1e-13)
        np.testing.assert_allclose(L.eigvals(5, "LA"), ref[::-1][:5], atol=1e-13)


def test_logdet_and_spectrum_without_eigh(monkeypatch):
    no_dense_eigensolver(monkeypatch)
    L = laplacian((30, 20, 10), spacing=(0.1, 0.2, 0.3))
    n = (30, 20, 10)
    h2 = (0.01, 0.04, 0.09)
    # log det = Σ log(λᵢ+μⱼ+νₖ) with the closed-form 1-D eigenvalues
    lam = [
        4 * np.sin(np.pi * np.arange(1, m + 1) / (2 * (m + 1))) ** 2 / h
        for m, h in zip(n, h2, strict=True)
    ]
    ref = np.sum(np.log(reduce(np.add.outer, lam)))
    assert L.logdet() == pytest.approx(ref, rel=1e-13)
    b = np.ones(L.shape[0])
    assert np.linalg.norm(L @ L.solve(b) - b) <= 1e-10 * math.sqrt(L.shape[0])


def test_structure_keeps_analytic_spectra(monkeypatch):
    L = laplacian((4, 5), bc=("periodic", "dirichlet"))
    derived = (L.T, L.H, 3 * L, L.shift(2.0), L.conj(), (2 + 1j) * L)
    no_dense_eigensolver(monkeypatch)
    b = np.random.default_rng(4).standard_normal(20) + 0j
    b -= b.mean()
    for T in derived:
        np.testing.assert_allclose(T @ T.solve(b), b, atol=1e-12)
    monkeypatch.undo()
    Z = derived[-1]  # normal, not Hermitian: still diagonalized analytically
    assert not np.allclose(Z.toarray(), Z.toarray().conj().T)
    b = np.random.default_rng(4).standard_normal(20) + 0j
    b -= b.mean()
    x = Z.solve(b)
    np.testing.assert_allclose(Z @ x, b, atol=1e-12)


def test_errors():
    with pytest.raises(ValueError, match="bc must be"):
        laplacian((3, 3), bc="robin")
    with pytest.raises(ValueError, match="one entry per axis"):
        laplacian((3, 3), bc=("dirichlet",))
    with pytest.raises(ValueError, match="spacing"):
        laplacian((3, 3), spacing=0.0)
    with pytest.raises(ValueError, match="one entry per axis"):
        laplacian((3, 3), spacing=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="positive size"):
        laplacian((3, 0))
    with pytest.raises(TypeError, match="dtype"):
        laplacian((3, 3), dtype=np.int64)


def test_laplacian_input_validation_from_review():
    from scipy.sparse.linalg import aslinearoperator

    from kronop import laplacian, solve_lyapunov

    L = laplacian((3, 4), spacing=np.array([1.0, 2.0]))
    ref = laplacian((3, 4), spacing=(1.0, 2.0))
    np.testing.assert_array_equal(L.toarray(), ref.toarray())
    with pytest.raises(ValueError, match="integers"):
        laplacian((3.5, 3))
    with pytest.raises(ValueError, match="integer between 1 and N"):
        L.eigvals(2.5)
    with pytest.raises(TypeError, match="needs the entries of A"):
        solve_lyapunov(aslinearoperator(np.eye(2)), np.eye(2))


def test_laplacian_and_unvec_arguments_get_clear_errors():
    from kronop import unvec

    with pytest.raises(TypeError, match="shape must be an int or a sequence"):
        laplacian(None)
    L = laplacian((3,), dtype=np.float16)  # as a float16 factor: float32
    assert L.dtype == np.float32
    with pytest.raises(TypeError, match="float32, float64, complex64 or complex128"):
        laplacian((3,), dtype=np.int32)
    with pytest.raises(ValueError, match=r"unvec needs the matrix shape \(m, n\)"):
        unvec(np.ones(6), (1, 2, 3))
    with pytest.raises(ValueError, match="length 6"):
        unvec(np.ones(5), (2, 3))


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_norms_of_non_finite_factors_agree_across_kinds(kind):
    """NaN propagates into fro/1/∞ for every factor kind; 2 (an SVD) refuses it."""
    from kronop import KronOperator

    a = np.array([[1.0, np.nan], [0.0, 2.0]])
    f = a if kind == "dense" else sp.csr_array(a)
    for op in (KronOperator(f, np.eye(2) * 2), KronSum(f, np.eye(2) * 2)):
        for o in ("fro", 1, np.inf):
            assert np.isnan(op.norm(o))
        with pytest.raises(ValueError, match=r"factor 0 .*non-finite"):
            op.norm(2)
