"""nearest_kronsum: the Frobenius-nearest Kronecker sum to a dense or sparse matrix.

The oracle is independent of kronop: the least-squares fit over the explicit basis
{kron(I, …, e_a e_bᵀ, …, I)} (numpy.linalg.lstsq on the vectorized matrices), whose
fitted matrix is unique even though its coefficients are not.
"""

from __future__ import annotations

import math
import tracemalloc
from functools import reduce

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import aslinearoperator

from kronop import _kronsum_fit
from kronop._kronsum_fit import nearest_kronsum
from kronop.gallery import laplacian
from kronop.kronsum import KronSum
from tests.factories import DTYPES, eps, hi, random_array, variable_diffusion

SPARSE_KINDS = [sp.csr_array, sp.csc_array, sp.coo_array, sp.csr_matrix, sp.bsr_array]


# ------------------------------------------------------------------ oracles
def embed(mat, j, sizes):
    """I ⊗ … ⊗ mat ⊗ … ⊗ I with mat on axis j (numpy.kron order)."""
    parts = [np.eye(n) for n in sizes]
    parts[j] = mat
    return reduce(np.kron, parts)


def lstsq_fit(M, sizes):
    """The nearest Kronecker sum by brute-force least squares over the basis."""
    cols = []
    for j, n in enumerate(sizes):
        for a in range(n):
            for b in range(n):
                e = np.zeros((n, n))
                e[a, b] = 1.0
                cols.append(embed(e, j, sizes).ravel())
    design = np.stack(cols, axis=1)
    coef, *_ = np.linalg.lstsq(design, hi(M).ravel(), rcond=None)
    N = math.prod(sizes)
    return (design @ coef).reshape(N, N)


def shifted_factors(factors):
    """The documented convention: each factor's mean diagonal becomes c/d."""
    d = len(factors)
    c = sum(np.trace(f) / f.shape[0] for f in factors)
    return [
        f + (c / d - np.trace(f) / f.shape[0]) * np.eye(f.shape[0]) for f in factors
    ]


def residual_projections(R, sizes):
    """⟨R, I⊗E⊗I⟩ for all basis E, per axis, from the explicit embeddings."""
    out = []
    for j, n in enumerate(sizes):
        block = np.empty((n, n), dtype=np.result_type(R.dtype, np.float64))
        for a in range(n):
            for b in range(n):
                e = np.zeros((n, n))
                e[a, b] = 1.0
                block[a, b] = np.vdot(embed(e, j, sizes), R)
        out.append(block)
    return out


def tol(dtype, M):
    """Forward-error scale of sums of up to N entries of M in ``dtype``."""
    return 64 * eps(dtype) * M.shape[0] * max(float(np.max(np.abs(hi(M)))), 1.0)


# ---------------------------------------------------------------- exactness
@pytest.mark.parametrize("sizes", [(3, 4), (2, 3, 4), (5,)])
@pytest.mark.parametrize("kind", ["dense", "csr", "coo"])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_exact_kronecker_sum_is_recovered(rng, sizes, kind, dtype):
    factors = [random_array(rng, (n, n), dtype) for n in sizes]
    M = KronSum(*factors).toarray()
    given_m = M if kind == "dense" else getattr(sp, f"{kind}_array")(M)
    S = nearest_kronsum(given_m, sizes)
    assert isinstance(S, KronSum)
    assert S.dtype == dtype
    scale = tol(dtype, M)
    np.testing.assert_allclose(S.toarray(), M, rtol=0, atol=scale)
    for got, want in zip(S.factors, shifted_factors(factors), strict=True):
        assert isinstance(got, np.ndarray)
        np.testing.assert_allclose(got, want, rtol=0, atol=scale)


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_equal_mean_diagonals_come_back_unchanged(kind):
    # a Laplacian with one spacing: every factor has mean diagonal 2/h²
    L = laplacian((4, 3, 5), spacing=0.25)
    M = L.toarray() if kind == "dense" else sp.csr_array(L.toarray())
    S = nearest_kronsum(M, [4, 3, 5])
    for got, want in zip(S.factors, L.factors, strict=True):
        np.testing.assert_allclose(got, want.toarray(), rtol=1e-14, atol=1e-12)


def test_identity_is_split_equally(rng):
    sizes = (2, 3, 4)
    M = 6.0 * np.eye(24)
    S = nearest_kronsum(M, sizes)
    for f, n in zip(S.factors, sizes, strict=True):
        np.testing.assert_allclose(f, 2.0 * np.eye(n), rtol=0, atol=1e-14)


def test_single_factor_is_M_itself(rng):
    M = rng.standard_normal((5, 5))
    S = nearest_kronsum(M, [5])
    np.testing.assert_allclose(S.factors[0], M, rtol=1e-15, atol=1e-15)


# --------------------------------------------------------------- optimality
sizes_st = st.lists(st.integers(1, 4), min_size=1, max_size=3).filter(
    lambda s: math.prod(s) <= 24
)


@settings(max_examples=30, deadline=None)
@given(sizes=sizes_st, seed=st.integers(0, 2**32 - 1), complex_=st.booleans())
def test_matches_least_squares_oracle(sizes, seed, complex_):
    rng = np.random.default_rng(seed)
    N = math.prod(sizes)
    M = random_array(rng, (N, N), np.complex128 if complex_ else np.float64)
    S = nearest_kronsum(M, sizes)
    np.testing.assert_allclose(S.toarray(), lstsq_fit(M, sizes), rtol=0, atol=1e-12)
    # the sparse path reads the same numbers from the nonzeros
    M[rng.random((N, N)) < 0.5] = 0
    dense_fit = nearest_kronsum(M, sizes)
    sparse_fit = nearest_kronsum(sp.coo_array(M), sizes)
    for a, b in zip(dense_fit.factors, sparse_fit.factors, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)


@pytest.mark.parametrize("sizes", [(3, 4), (2, 3, 4)])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_no_perturbation_gets_closer(rng, sizes, dtype):
    N = math.prod(sizes)
    M = random_array(rng, (N, N), dtype)
    S = nearest_kronsum(M, sizes)
    best = np.linalg.norm(M - S.toarray())
    for scale in (1e-6, 1e-3, 1e-1, 1.0):
        for _ in range(10):
            moved = [f + scale * random_array(rng, f.shape, dtype) for f in S.factors]
            other = np.linalg.norm(M - KronSum(*moved).toarray())
            assert best <= other * (1 + 1e-12)
            # Pythagoras: the perturbation lies in the subspace, the residual ⟂ it
            delta = KronSum(*moved).toarray() - S.toarray()
            np.testing.assert_allclose(
                other**2, best**2 + np.linalg.norm(delta) ** 2, rtol=1e-10
            )


@pytest.mark.parametrize("sizes", [(3, 4), (2, 3, 2)])
@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_residual_is_orthogonal_to_every_kronecker_sum(rng, sizes, kind):
    N = math.prod(sizes)
    M = random_array(rng, (N, N), np.complex128)
    S = nearest_kronsum(M if kind == "dense" else sp.csr_array(M), sizes)
    R = M - S.toarray()
    for block in residual_projections(R, sizes):
        np.testing.assert_allclose(block, 0, atol=1e-12)
    assert abs(np.trace(R)) < 1e-12  # ⟂ I as well


# -------------------------------------------------------- convention, symmetry
def test_permuting_axes_permutes_factors(rng):
    sizes = (2, 3, 4)
    M = rng.standard_normal((24, 24))
    perm = (2, 0, 1)
    t = M.reshape(sizes + sizes).transpose(perm + tuple(p + 3 for p in perm))
    S = nearest_kronsum(M, sizes)
    Sp = nearest_kronsum(t.reshape(24, 24), [sizes[p] for p in perm])
    for k, p in enumerate(perm):
        np.testing.assert_allclose(Sp.factors[k], S.factors[p], rtol=0, atol=1e-13)


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_hermitian_M_gives_hermitian_factors(rng, kind):
    A = random_array(rng, (12, 12), np.complex128)
    M = A + A.conj().T
    S = nearest_kronsum(M if kind == "dense" else sp.csr_array(M), (3, 4))
    for f in S.factors:
        np.testing.assert_allclose(f, f.conj().T, rtol=0, atol=1e-14)


# ------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_dtype_follows_M(rng, dtype, kind):
    sizes = (3, 2, 2)
    M = random_array(rng, (12, 12), dtype)
    S = nearest_kronsum(M if kind == "dense" else sp.csr_array(M), sizes)
    assert S.dtype == dtype
    assert all(f.dtype == dtype for f in S.factors)
    want = lstsq_fit(M, sizes)
    np.testing.assert_allclose(S.toarray(), want, rtol=0, atol=tol(dtype, M))


@pytest.mark.parametrize("dtype", [np.int64, np.int8, bool])
@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_integer_and_bool_M_fit_in_float64(rng, dtype, kind):
    M = rng.integers(0, 2, (6, 6)).astype(dtype)
    S = nearest_kronsum(M if kind == "dense" else sp.csr_array(M), (2, 3))
    assert S.dtype == np.float64
    np.testing.assert_allclose(S.toarray(), lstsq_fit(M, (2, 3)), atol=1e-13)


# ------------------------------------------------------------------- sparse
@pytest.mark.parametrize("kind", SPARSE_KINDS)
def test_every_sparse_format_agrees_with_dense(rng, kind):
    M = sp.random_array((24, 24), density=0.3, rng=rng).toarray()
    M += np.diag(rng.standard_normal(24))
    S_dense = nearest_kronsum(M, (2, 3, 4))
    S_sparse = nearest_kronsum(kind(M), (2, 3, 4))
    for a, b in zip(S_dense.factors, S_sparse.factors, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)


def test_duplicate_coo_entries_add_up(rng):
    M = rng.standard_normal((6, 6))
    row, col = np.indices((6, 6))
    half = 0.5 * M.ravel()
    coo = sp.coo_array(
        (
            np.concatenate([half, half]),
            (np.tile(row.ravel(), 2), np.tile(col.ravel(), 2)),
        ),
        shape=(6, 6),
    )
    got = nearest_kronsum(coo, (3, 2))
    want = nearest_kronsum(M, (3, 2))
    for a, b in zip(got.factors, want.factors, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)


def test_int64_index_path_agrees(rng, monkeypatch):
    M = sp.random_array((24, 24), density=0.4, rng=rng, dtype=np.complex128)
    want = nearest_kronsum(M, (4, 3, 2))
    monkeypatch.setattr(_kronsum_fit, "_INDEX32_LIMIT", 0)
    got = nearest_kronsum(M, (4, 3, 2))
    for a, b in zip(got.factors, want.factors, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)


def test_inputs_are_not_changed(rng):
    dense = rng.standard_normal((12, 12))
    coo = sp.coo_array(dense)
    csr = sp.csr_array(dense)
    snapshots = [
        dense.copy(),
        coo.row.copy(),
        coo.col.copy(),
        coo.data.copy(),
        csr.indptr.copy(),
        csr.indices.copy(),
        csr.data.copy(),
    ]
    for m in (dense, coo, csr):
        nearest_kronsum(m, (3, 4))
    after = [dense, coo.row, coo.col, coo.data, csr.indptr, csr.indices, csr.data]
    for before, now in zip(snapshots, after, strict=True):
        np.testing.assert_array_equal(before, now)


@pytest.mark.parametrize("layout", ["fortran", "sliced", "transposed"])
def test_dense_layouts_are_read_in_place(rng, layout):
    sizes = (8, 9, 10)
    base = rng.standard_normal((1440, 1440))
    M = {
        "fortran": np.asfortranarray(base[:720, :720]),
        "sliced": base[::2, 1::2],
        "transposed": base[:720, :720].T,
    }[layout]
    want = nearest_kronsum(np.ascontiguousarray(M), sizes)
    tracemalloc.start()
    S = nearest_kronsum(M, sizes)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # the factors and their work copies only: no copy of M
    assert peak < M.nbytes / 20, f"{peak} bytes allocated for a {M.nbytes}-byte M"
    for a, b in zip(S.factors, want.factors, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_shape_entries_may_be_pairs_or_ints(rng):
    M = rng.standard_normal((12, 12))
    want = nearest_kronsum(M, [3, 4]).toarray()
    for shapes in (
        [(3, 3), (4, 4)],
        [np.int64(3), (4, 4)],
        np.array([3, 4]),
        ((3, 3), 4),
    ):
        np.testing.assert_array_equal(nearest_kronsum(M, shapes).toarray(), want)


# ------------------------------------------------- variable-coefficient example
def test_constant_coefficient_diffusion_gives_the_laplacian():
    n = 5
    M = variable_diffusion(n, lambda x, y, z: 3.0 + 0 * x)
    L = 3.0 * laplacian((n, n, n), spacing=1.0 / (n + 1)).toarray()
    np.testing.assert_allclose(M.toarray(), L, rtol=1e-14, atol=1e-10)
    S = nearest_kronsum(M, [n] * 3)
    np.testing.assert_allclose(S.toarray(), L, rtol=0, atol=1e-10 * np.abs(L).max())


@pytest.mark.parametrize("jacobi", [False, True])
def test_variable_coefficient_fit_is_sensible(jacobi):
    n = 4

    def coeff(x, y, z):
        return 1.0 + 9.0 * np.sin(np.pi * x) * np.sin(np.pi * y) * np.sin(np.pi * z)

    M = variable_diffusion(n, coeff)
    if jacobi:
        scale = sp.diags_array(1.0 / np.sqrt(M.diagonal()))
        M = (scale @ M @ scale).tocsr()
    S = nearest_kronsum(M, [n] * 3)
    dense = M.toarray()
    np.testing.assert_allclose(S.toarray(), lstsq_fit(dense, [n] * 3), atol=1e-10)
    for f in S.factors:
        # symmetric and tridiagonal, like the 1-D operator it stands for
        np.testing.assert_allclose(f, f.T, rtol=0, atol=1e-12 * np.abs(f).max())
        assert not np.any(np.triu(f, 2))
        assert not np.any(np.tril(f, -2))
        assert np.all(np.diag(f, 1) < 0)
    # no scaled Laplacian fits better (it is a Kronecker sum too)
    L = laplacian((n, n, n)).toarray()
    alpha = np.vdot(L, dense) / np.vdot(L, L)
    assert np.linalg.norm(dense - S.toarray()) < np.linalg.norm(dense - alpha * L)
    # the three axes see the same coefficient statistics: the same factor
    np.testing.assert_allclose(S.factors[0], S.factors[1], atol=1e-10)
    np.testing.assert_allclose(S.factors[0], S.factors[2], atol=1e-10)


# -------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    ("M", "shapes", "error", "match"),
    [
        (np.eye(6), [2, 4], ValueError, r"2 × 4 = 8 do not match.*8×8.*6×6"),
        (np.ones((6, 4)), [2, 3], ValueError, r"square.*6×4"),
        (np.eye(6), [(2, 3), 3], ValueError, r"factor 0.*square.*2×3"),
        (np.eye(6), [], ValueError, r"at least one factor"),
        (np.ones(6), [6], ValueError, r"2-D.*1-D"),
        (sp.coo_array(np.ones(6)), [6], ValueError, r"2-D.*1-D"),
        (np.ones((2, 2, 2)), [2], ValueError, r"2-D.*3-D"),
        (np.eye(6), [6, 0], ValueError, r"factor 1.*≥ 1, got 0"),
        (np.eye(6), [2, -3], ValueError, r"factor 1.*≥ 1, got -3"),
        (np.eye(6), [(2, 2, 2), 3], ValueError, r"shapes\[0\].*3 entries"),
        (np.eye(6), [2.0, 3], TypeError, r"shapes\[0\].*float"),
        (np.eye(6), [True, 6], TypeError, r"shapes\[0\].*bool"),
        (np.eye(6), 6, TypeError, r"sequence.*int"),
        (np.eye(6), "23", TypeError, r"sequence.*str"),
        (np.array([["a"]]), [1], TypeError, r"numeric dtype"),
        (aslinearoperator(np.eye(6)), [2, 3], TypeError, r"N products.*toarray"),
        (sp.eye_array(6, format="csr"), [4, 2], ValueError, r"expected M of shape 8×8"),
        (sp.csr_array((6, 4)), [2, 3], ValueError, r"square.*6×4"),
    ],
)
def test_bad_input_raises_typed_errors(M, shapes, error, match):
    with pytest.raises(error, match=match):
        nearest_kronsum(M, shapes)


def test_kronsum_operator_is_refused_with_advice():
    with pytest.raises(TypeError, match="KronSum"):
        nearest_kronsum(laplacian((2, 3)), [2, 3])
