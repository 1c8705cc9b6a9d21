"""nearest_kron: Van Loan–Pitsianis rearrangement SVD, and ALS for d > 2 factors."""

import itertools
from functools import reduce

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import LinearOperator, aslinearoperator

from kronop import KronOperator, _kpsvd
from kronop._kpsvd import nearest_kron
from kronop.sums import KronProductSum

from .factories import eps, hi, peak_bytes, random_array

DTYPES = [np.float32, np.float64, np.complex64, np.complex128]


def rearranged(M, sb, sc):
    """R(M) built block by block with explicit loops (independent of kronop)."""
    (mb, nb), (mc, nc) = sb, sc
    M = np.asarray(M)
    R = np.empty((mb * nb, mc * nc), dtype=M.dtype)
    for ib in range(mb):
        for jb in range(nb):
            block = M[ib * mc : (ib + 1) * mc, jb * nc : (jb + 1) * nc]
            R[ib * nb + jb] = block.ravel()
    return R


def tail(M, sb, sc, r):
    """The optimal rank-r error: the SVD tail of R(M), in high precision."""
    s = np.linalg.svd(hi(rearranged(M, sb, sc)), compute_uv=False)
    return float(np.sqrt(np.sum(s[r:] ** 2))), s


def err(op, M):
    return float(np.linalg.norm(hi(op.toarray()) - hi(np.asarray(M))))


def tol(dtype, M, c=50.0):
    return c * eps(dtype) * max(M.shape) * float(np.linalg.norm(hi(M)))


@pytest.fixture
def force_svds(monkeypatch):
    """Make every rearrangement go through svds (ARPACK) instead of a dense SVD."""
    monkeypatch.setattr(_kpsvd, "_DENSE_LIMIT", 0)
    monkeypatch.setattr(_kpsvd, "_OPERATOR_DENSE_LIMIT", 0)


def kinds(M):
    return {
        "dense": M,
        "csr": sp.csr_array(M),
        "coo_matrix": sp.coo_matrix(M),
        "operator": aslinearoperator(M),
    }


# ------------------------------------------------------------- exactness
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["dense", "csr", "coo_matrix", "operator"])
@pytest.mark.parametrize("path", ["dense-svd", "svds"])
def test_exact_product_d2(dtype, kind, path, monkeypatch):
    if path == "svds":
        monkeypatch.setattr(_kpsvd, "_DENSE_LIMIT", 0)
        monkeypatch.setattr(_kpsvd, "_OPERATOR_DENSE_LIMIT", 0)
    rng = np.random.default_rng(0)
    B = random_array(rng, (4, 3), dtype)
    C = random_array(rng, (5, 6), dtype)
    M = np.kron(B, C)
    K = nearest_kron(kinds(M)[kind], (4, 3), (5, 6))
    assert isinstance(K, KronOperator)
    assert all(isinstance(f, np.ndarray) for f in K.factors)
    assert [f.shape for f in K.factors] == [(4, 3), (5, 6)]
    assert K.dtype == np.dtype(dtype)
    assert err(K, M) <= tol(dtype, M)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("kind", ["dense", "csr", "operator"])
@pytest.mark.parametrize("r", [2, 3])
def test_exact_sum_of_r_products(dtype, kind, r, force_svds):
    rng = np.random.default_rng(1)
    M = sum(
        np.kron(random_array(rng, (5, 4), dtype), random_array(rng, (3, 6), dtype))
        for _ in range(r)
    )
    S, s = nearest_kron(
        kinds(M)[kind], (5, 4), (3, 6), rank=r, return_singular_values=True
    )
    assert isinstance(S, KronProductSum)
    assert len(S.terms) == r
    assert all(isinstance(t, KronOperator) for t in S.terms)
    assert s.shape == (r,)
    assert np.all(np.diff(s) <= 0)
    assert err(S, M) <= tol(dtype, M)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["dense", "csr"])
def test_exact_product_d3(dtype, kind):
    rng = np.random.default_rng(2)
    fs = [random_array(rng, s, dtype) for s in [(3, 2), (2, 4), (4, 3)]]
    M = reduce(np.kron, fs)
    Mk = M if kind == "dense" else sp.csr_array(M)
    K = nearest_kron(Mk, shapes=[(3, 2), (2, 4), (4, 3)])
    assert isinstance(K, KronOperator)
    assert [f.shape for f in K.factors] == [(3, 2), (2, 4), (4, 3)]
    assert K.dtype == np.dtype(dtype)
    assert err(K, M) <= tol(dtype, M)
    # balanced norms; all but the last factor have a real positive largest entry
    norms = [np.linalg.norm(hi(f)) for f in K.factors]
    np.testing.assert_allclose(norms, norms[0], rtol=100 * eps(dtype))
    for f in K.factors[:-1]:
        big = f.ravel()[np.argmax(np.abs(f))]
        assert big.real > 0
        assert abs(big.imag) <= 10 * eps(dtype) * abs(big)


def test_exact_sparse_d3_banded():
    fs = [
        sp.diags_array(
            [[-1.0] * (n - 1), [2.0] * n, [-1.0] * (n - 1)], offsets=[-1, 0, 1]
        )
        for n in (4, 5, 3)
    ]
    M = reduce(lambda a, b: sp.kron(a, b, format="csr"), fs)
    K = nearest_kron(M, shapes=[(4, 4), (5, 5), (3, 3)])
    assert err(K, M.toarray()) <= tol(np.float64, M.toarray())


def test_shapes_d2_equals_shape_b_shape_c():
    rng = np.random.default_rng(3)
    M = rng.standard_normal((12, 10))
    a = nearest_kron(M, (3, 2), (4, 5))
    b = nearest_kron(M, shapes=[(3, 2), (4, 5)])
    for f, g in zip(a.factors, b.factors, strict=True):
        np.testing.assert_array_equal(f, g)


# ------------------------------------------------------------- optimality
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["dense", "csr", "operator"])
@pytest.mark.parametrize("path", ["dense-svd", "svds"])
def test_error_is_the_svd_tail(dtype, kind, path, monkeypatch):
    if path == "svds":
        monkeypatch.setattr(_kpsvd, "_DENSE_LIMIT", 0)
        monkeypatch.setattr(_kpsvd, "_OPERATOR_DENSE_LIMIT", 0)
    rng = np.random.default_rng(4)
    sb, sc = (4, 5), (6, 3)
    M = random_array(rng, (24, 15), dtype)
    errors = []
    for r in (1, 2, 3, 5):
        op, s = nearest_kron(
            kinds(M)[kind], sb, sc, rank=r, return_singular_values=True
        )
        want, s_ref = tail(M, sb, sc, r)
        got = err(op, M)
        errors.append(got)
        assert abs(got - want) <= tol(dtype, M), (r, got, want)
        np.testing.assert_allclose(s, s_ref[:r], atol=tol(dtype, M))
        assert op.dtype == np.dtype(dtype)
    # error non-increasing in the rank (strictly, for a generic M)
    assert all(a > b for a, b in itertools.pairwise(errors))


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("r", [1, 2])
def test_perturbations_never_help(dtype, r):
    rng = np.random.default_rng(5)
    M = random_array(rng, (12, 12), dtype)
    op = nearest_kron(M, (3, 4), (4, 3), rank=r)
    terms = [op] if r == 1 else list(op.terms)
    best = err(op, M)
    for _ in range(40):
        pert = []
        for t in terms:
            B, C = t.factors
            pert.append(
                np.kron(
                    hi(B)
                    + 1e-3
                    * random_array(
                        rng,
                        B.shape,
                        np.complex128 if np.iscomplexobj(B) else np.float64,
                    ),
                    hi(C)
                    + 1e-3
                    * random_array(
                        rng,
                        C.shape,
                        np.complex128 if np.iscomplexobj(C) else np.float64,
                    ),
                )
            )
        assert np.linalg.norm(hi(M) - sum(pert)) >= best - 1e-12 * np.linalg.norm(M)


def test_d3_als_not_worse_than_start_and_stationary():
    rng = np.random.default_rng(6)
    shapes = [(3, 2), (2, 3), (4, 2)]
    exact = reduce(np.kron, [rng.standard_normal(s) for s in shapes])
    M = exact + 0.3 * rng.standard_normal(exact.shape)
    start = nearest_kron(M, shapes=shapes, maxiter=0)
    K = nearest_kron(M, shapes=shapes, tol=1e-14, maxiter=500)
    assert err(K, M) <= err(start, M) + 1e-12
    # local optimum: small perturbations of any single factor do not help
    best = err(K, M)
    fs = [hi(f) for f in K.factors]
    for _ in range(30):
        j = rng.integers(3)
        g = list(fs)
        g[j] = g[j] + 1e-4 * rng.standard_normal(g[j].shape)
        assert np.linalg.norm(M - reduce(np.kron, g)) >= best - 1e-10


def test_d3_sparse_and_dense_agree():
    rng = np.random.default_rng(7)
    shapes = [(3, 3), (3, 2), (2, 3)]
    M = sp.random_array((18, 18), density=0.3, rng=rng, format="csr")
    a = nearest_kron(M, shapes=shapes, tol=1e-14)
    b = nearest_kron(M.toarray(), shapes=shapes, tol=1e-14)
    np.testing.assert_allclose(a.toarray(), b.toarray(), atol=1e-10)


# ------------------------------------------------- dense/sparse/operator
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize(
    ("sb", "sc"),
    # each shape pair exercises a different pair of M / Mᵀ contraction forms
    [((3, 4), (4, 5)), ((4, 3), (5, 4)), ((2, 6), (5, 2)), ((6, 2), (2, 5))],
)
def test_dense_sparse_operator_agree(dtype, sb, sc, force_svds):
    rng = np.random.default_rng(8)
    M = random_array(rng, (sb[0] * sc[0], sb[1] * sc[1]), dtype)
    M[np.abs(M) < 0.5] = 0
    r = 2
    results = {
        k: nearest_kron(v, sb, sc, rank=r, return_singular_values=True)
        for k, v in kinds(M).items()
    }
    ref_op, ref_s = results["dense"]
    for op, s in results.values():
        np.testing.assert_allclose(s, ref_s, rtol=1e-10)
        # the normalization fixes the phase, so the factors agree, not only the sum
        for t, u in zip(op.terms, ref_op.terms, strict=True):
            for f, g in zip(t.factors, u.factors, strict=True):
                np.testing.assert_allclose(f, g, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("block", [1 << 22, 1])
def test_operator_rearrangement_products(dtype, block, monkeypatch):
    """R(M) and R(M)ᴴ through products with M match the explicit R (all forms,
    in one block of columns or block by block)."""
    monkeypatch.setattr(_kpsvd, "_BLOCK_ENTRIES", block)
    rng = np.random.default_rng(9)
    for sb, sc in [
        ((3, 4), (4, 5)),
        ((4, 3), (5, 4)),
        ((2, 6), (5, 2)),
        ((6, 2), (2, 5)),
    ]:
        M = random_array(rng, (sb[0] * sc[0], sb[1] * sc[1]), dtype)
        R = rearranged(M, sb, sc)
        op = _kpsvd._RearrangedOperator(aslinearoperator(M), sb, sc, np.dtype(dtype))
        v = random_array(rng, R.shape[1], dtype)
        u = random_array(rng, R.shape[0], dtype)
        np.testing.assert_allclose(op.matvec(v), R @ v, atol=1e-12 * np.abs(R).sum())
        np.testing.assert_allclose(
            op.rmatvec(u), R.conj().T @ u, atol=1e-12 * np.abs(R).sum()
        )


@settings(max_examples=25, deadline=None)
@given(
    mb=st.integers(1, 4),
    nb=st.integers(1, 4),
    mc=st.integers(1, 4),
    nc=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_rectangular_random_shapes(mb, nb, mc, nc, seed):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((mb * mc, nb * nc))
    p = min(mb * nb, mc * nc)
    for r in sorted({1, p}):
        op = nearest_kron(M, (mb, nb), (mc, nc), rank=r)
        want, _ = tail(M, (mb, nb), (mc, nc), r)
        assert abs(err(op, M) - want) <= tol(np.float64, M)
        op_s = nearest_kron(sp.csr_array(M), (mb, nb), (mc, nc), rank=r)
        assert abs(err(op_s, M) - want) <= tol(np.float64, M)


# ------------------------------------------------------------ conventions
def test_complex_plain_transpose_convention():
    """Complex factors are recovered as np.kron has them (no conjugation)."""
    rng = np.random.default_rng(10)
    B = random_array(rng, (2, 3), np.complex128)
    C = random_array(rng, (3, 2), np.complex128)
    K = nearest_kron(np.kron(B, C), (2, 3), (3, 2))
    Bf, Cf = K.factors
    # the pair is (αB, C/α) for one scalar α
    alpha = Bf.ravel()[0] / B.ravel()[0]
    np.testing.assert_allclose(Bf, alpha * B, atol=1e-12)
    np.testing.assert_allclose(Cf, C / alpha, atol=1e-12)
    np.testing.assert_allclose(np.kron(Bf, Cf), np.kron(B, C), atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_normalization(dtype):
    rng = np.random.default_rng(11)
    M = random_array(rng, (12, 12), dtype)
    S, s = nearest_kron(M, (3, 4), (4, 3), rank=3, return_singular_values=True)
    for t, sv in zip(S.terms, s, strict=True):
        B, C = t.factors
        np.testing.assert_allclose(
            np.linalg.norm(hi(B)), np.sqrt(sv), rtol=100 * eps(dtype)
        )
        np.testing.assert_allclose(
            np.linalg.norm(hi(C)), np.sqrt(sv), rtol=100 * eps(dtype)
        )
        big = B.ravel()[np.argmax(np.abs(B))]
        assert big.real > 0
        assert abs(big.imag) <= 10 * eps(dtype) * abs(big)
    # deterministic
    S2 = nearest_kron(M, (3, 4), (4, 3), rank=3)
    for t, u in zip(S.terms, S2.terms, strict=True):
        for f, g in zip(t.factors, u.factors, strict=True):
            np.testing.assert_array_equal(f, g)


@pytest.mark.parametrize(
    ("dtype", "want"),
    [
        (np.int64, np.float64),
        (np.bool_, np.float64),
        (np.float16, np.float32),
        (np.float32, np.float32),
        (np.complex64, np.complex64),
    ],
)
def test_result_dtype(dtype, want):
    M = np.kron(np.arange(1, 5).reshape(2, 2), np.ones((2, 3))).astype(dtype)
    K, s = nearest_kron(M, (2, 2), (2, 3), return_singular_values=True)
    assert K.dtype == np.dtype(want)
    assert all(f.dtype == np.dtype(want) for f in K.factors)
    assert s.dtype == np.finfo(want).dtype


def test_inputs_not_mutated():
    rng = np.random.default_rng(12)
    M = rng.standard_normal((12, 12))
    M0 = M.copy()
    S = sp.csr_array(M * (np.abs(M) > 0.7))
    data, ind, ptr = S.data.copy(), S.indices.copy(), S.indptr.copy()
    coo = sp.coo_array(S)
    row, col = coo.row.copy(), coo.col.copy()
    nearest_kron(M, (3, 4), (4, 3), rank=2)
    nearest_kron(S, (3, 4), (4, 3), rank=2)
    nearest_kron(coo, (3, 4), (4, 3), rank=2)
    nearest_kron(coo, shapes=[(3, 2), (2, 2), (2, 3)])
    np.testing.assert_array_equal(M, M0)
    np.testing.assert_array_equal(S.data, data)
    np.testing.assert_array_equal(S.indices, ind)
    np.testing.assert_array_equal(S.indptr, ptr)
    np.testing.assert_array_equal(coo.row, row)
    np.testing.assert_array_equal(coo.col, col)


def test_zero_matrix():
    K = nearest_kron(np.zeros((6, 6)), (2, 3), (3, 2))
    assert np.all(K.toarray() == 0)
    K = nearest_kron(sp.csr_array((6, 6)), shapes=[(2, 3), (3, 1), (1, 2)])
    assert np.all(K.toarray() == 0)


# ------------------------------------------------------ sparse stays sparse
def banded(n, half=2, seed=0):
    rng = np.random.default_rng(seed)
    offs = list(range(-half, half + 1))
    return sp.diags_array(
        [rng.standard_normal(n - abs(k)) for k in offs], offsets=offs, format="csr"
    )


def test_sparse_never_densifies(monkeypatch):
    M = banded(4096)

    def refuse(*a, **k):
        raise AssertionError("a large sparse matrix was densified")

    for cls in (sp.csr_array, sp.coo_array, sp.csr_matrix, sp.coo_matrix):
        monkeypatch.setattr(cls, "toarray", refuse)
        monkeypatch.setattr(cls, "todense", refuse)
    (K, s), peak = peak_bytes(
        nearest_kron, M, (64, 64), (64, 64), rank=3, return_singular_values=True
    )
    # a dense 4096×4096 would be 134 MB; the sparse path needs O(nnz) + O(n) memory
    assert peak < 20 * M.data.nbytes + 5e6, peak
    assert len(K.terms) == 3
    monkeypatch.undo()
    # the error, ‖R − Σ b_r c_rᵀ‖² expanded so that no 4096² array is formed,
    # equals the Eckart–Young value ‖M‖² − Σ s_r²
    R = sp.csr_array(rearranged_sparse(M, (64, 64), (64, 64)))
    bs = [t.factors[0].ravel() for t in K.terms]
    cs = [t.factors[1].ravel() for t in K.terms]
    e2 = sp.linalg.norm(R) ** 2
    e2 -= 2 * sum(b @ (R @ c) for b, c in zip(bs, cs, strict=True))
    e2 += sum(
        (bi @ bj) * (ci @ cj)
        for bi, ci in zip(bs, cs, strict=False)
        for bj, cj in zip(bs, cs, strict=False)
    )
    want = sp.linalg.norm(M) ** 2 - np.sum(s**2)
    np.testing.assert_allclose(e2, want, rtol=1e-8)
    s_ref = np.sort(sp.linalg.svds(R, k=3, return_singular_vectors=False))[::-1]
    np.testing.assert_allclose(s, s_ref, rtol=1e-8)


def rearranged_sparse(M, sb, sc):
    """R(M) for sparse M, from its coordinates (independent of kronop)."""
    (mb, nb), (mc, nc) = sb, sc
    coo = sp.coo_array(M)
    rows = (coo.row // mc) * nb + coo.col // nc
    cols = (coo.row % mc) * nc + coo.col % nc
    return sp.coo_array((coo.data, (rows, cols)), shape=(mb * nb, mc * nc))


def test_sparse_rearrangement_has_same_nnz():
    M = banded(256)
    R = _kpsvd._rearrange_sparse(M, (16, 16), (16, 16), np.dtype(np.float64))
    assert sp.issparse(R)
    assert R.nnz == M.nnz
    np.testing.assert_array_equal(
        R.toarray(), rearranged(M.toarray(), (16, 16), (16, 16))
    )


# -------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "match"),
    [
        ((np.ones((6, 6)), (2, 3), (3, 3)), {}, ValueError, r"6×9.*M is 6×6"),
        ((np.ones((6, 6)), (2, 2), (3, 3)), {"rank": 0}, ValueError, "at least 1"),
        ((np.ones((6, 6)), (2, 2), (3, 3)), {"rank": 1.5}, TypeError, "int"),
        ((np.ones((6, 6)), (2, 2), (3, 3)), {"rank": True}, TypeError, "int"),
        (
            (np.ones((6, 6)), (2, 2), (3, 3)),
            {"rank": 5},
            ValueError,
            "largest possible rank 4",
        ),
        ((np.ones((6, 6)), (2, 2)), {}, TypeError, "shape_c is missing"),
        ((np.ones((6, 6)),), {}, TypeError, "shape_b is missing"),
        (
            (np.ones((6, 6)), (2, 2), (3, 3)),
            {"shapes": [(2, 2), (3, 3)]},
            TypeError,
            "not both",
        ),
        ((np.ones(36), (2, 2), (3, 3)), {}, ValueError, "2-D"),
        ((np.ones((6, 6, 1)), (2, 2), (3, 3)), {}, ValueError, "2-D"),
        ((np.ones((6, 6)), (2, 2, 1), (3, 3)), {}, TypeError, "shape_b"),
        ((np.ones((6, 6)), (2, -2), (3, 3)), {}, ValueError, "non-negative"),
        ((np.ones((6, 6)),), {"shapes": [(6, 6)]}, ValueError, "at least 2"),
        ((np.ones((6, 6)),), {"shapes": [(2, 2), (3, 1), (1, 2)]}, ValueError, r"6×6"),
        (
            (np.ones((12, 12)),),
            {"shapes": [(2, 2), (3, 3), (2, 2)], "rank": 2},
            ValueError,
            "rank 2 with 3 factors",
        ),
        (
            (aslinearoperator(np.ones((12, 12))),),
            {"shapes": [(2, 2), (3, 3), (2, 2)]},
            TypeError,
            "two factors",
        ),
        (
            (np.array([[np.nan]] * 4).reshape(2, 2), (1, 1), (2, 2)),
            {},
            ValueError,
            "non-finite",
        ),
        (
            (sp.csr_array(np.array([[np.inf, 0], [0, 1]])), (1, 1), (2, 2)),
            {},
            ValueError,
            "non-finite",
        ),
        ((np.array([["a"]]), (1, 1), (1, 1)), {}, TypeError, "numbers"),
    ],
)
def test_bad_input(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        nearest_kron(*args, **kwargs)


def test_rank_too_large_for_svds_on_big_operator(monkeypatch):
    monkeypatch.setattr(_kpsvd, "_DENSE_LIMIT", 0)
    monkeypatch.setattr(_kpsvd, "_OPERATOR_DENSE_LIMIT", 0)
    monkeypatch.setattr(_kpsvd, "_DENSE_FALLBACK_LIMIT", 0)
    M = banded(64)
    with pytest.raises(ValueError, match="svds"):
        nearest_kron(M, (8, 8), (8, 8), rank=63)
    # below the limit the dense fallback answers
    monkeypatch.setattr(_kpsvd, "_DENSE_FALLBACK_LIMIT", 10**6)
    S = nearest_kron(M, (8, 8), (8, 8), rank=64)
    assert err(S, M.toarray()) <= tol(np.float64, M.toarray())


@pytest.mark.parametrize("path", ["dense-svd", "svds"])
def test_linear_operator_is_used_through_products_only(path, monkeypatch):
    if path == "svds":
        monkeypatch.setattr(_kpsvd, "_DENSE_LIMIT", 0)
        monkeypatch.setattr(_kpsvd, "_OPERATOR_DENSE_LIMIT", 0)
    rng = np.random.default_rng(13)
    M = rng.standard_normal((20, 20))
    calls = []

    class Counting(LinearOperator):
        def __init__(self):
            super().__init__(dtype=M.dtype, shape=M.shape)

        def _matmat(self, X):
            calls.append(X.shape[1])
            return M @ X

        def _rmatmat(self, X):
            calls.append(X.shape[1])
            return M.conj().T @ X

    K = nearest_kron(Counting(), (4, 5), (5, 4), rank=1)
    want, _ = tail(M, (4, 5), (5, 4), 1)
    assert abs(err(K, M) - want) < 1e-10
    assert calls
    if path == "svds":
        # matrix-free: a product with R(M) is one block of min(n_b m_c, m_b n_c)
        # = min(5·5, 4·4) = 16 columns, never the N = 20 columns of the identity
        assert max(calls) == 16
        assert len(calls) > 1
