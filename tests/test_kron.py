"""KronOperator beyond the contract: algebra, repr, random shapes, memory."""

import pickle
import tracemalloc
from functools import reduce

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import LinearOperator, aslinearoperator

import kronop
from kronop import KronOperator, kron, unvec, vec

from .factories import check_close, hi, random_array


# ------------------------------------------------------------------- algebra
def test_mixed_product_is_structured(rng):
    A, B = rng.standard_normal((3, 4)), rng.standard_normal((2, 5))
    C, D = rng.standard_normal((4, 2)), rng.standard_normal((5, 3))
    P = KronOperator(A, B) @ KronOperator(C, D)
    assert isinstance(P, KronOperator)
    assert P.shape == (6, 6)
    np.testing.assert_allclose(P.toarray(), np.kron(A @ C, B @ D), rtol=1e-13)
    np.testing.assert_allclose(
        KronOperator(A, B).dot(KronOperator(C, D)).toarray(), P.toarray()
    )


def test_mixed_product_with_sparse_and_operator_factors(rng):
    A = sp.random_array((4, 4), density=0.5, rng=rng, format="csr")
    B = aslinearoperator(rng.standard_normal((3, 3)))
    C = rng.standard_normal((4, 4))
    P = KronOperator(A, B) @ KronOperator(C, np.eye(3))
    assert isinstance(P, KronOperator)
    x = rng.standard_normal(12)
    dense = np.kron(A.toarray(), B.matmat(np.eye(3))) @ np.kron(C, np.eye(3))
    np.testing.assert_allclose(P @ x, dense @ x, rtol=1e-12)


def test_non_conforming_product_is_lazy_but_right(rng):
    A, B = rng.standard_normal((6, 6)), rng.standard_normal((2, 2))
    C, D = rng.standard_normal((3, 3)), rng.standard_normal((4, 4))
    P = KronOperator(A, B) @ KronOperator(C, D)  # 12×12 both, factors don't conform
    assert not isinstance(P, KronOperator)
    assert isinstance(P, LinearOperator)
    x = rng.standard_normal(12)
    np.testing.assert_allclose(P @ x, np.kron(A, B) @ (np.kron(C, D) @ x), rtol=1e-12)


def test_product_shape_mismatch_is_clear():
    K = KronOperator(np.ones((2, 3)), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"shapes \(4, 6\) and \(5, 5\).*needs 6 rows"):
        K @ KronOperator(np.ones((5, 5)))
    with pytest.raises(ValueError, match="shape mismatch"):  # scipy's own check
        aslinearoperator(np.ones((3, 5))) @ K


def test_scalar_folding_keeps_structure_and_dtype():
    a = np.ones((2, 2), dtype=np.float32)
    K = KronOperator(a, sp.eye_array(3, dtype=np.float32) * 2)
    for S in (2.0 * K, K * 2.0, K / 2, -K, np.float32(3) * K):
        assert isinstance(S, KronOperator)
        assert S.dtype == np.float32
        assert (S @ np.ones(6, dtype=np.float32)).dtype == np.float32
    assert (1j * K).dtype == np.complex64
    assert (np.float64(2) * K).dtype == np.float64  # a strong float64 scalar promotes
    np.testing.assert_allclose((3 * K).toarray(), 3 * K.toarray())
    # folding goes into one factor, never all of them
    assert np.array_equal((3 * K).factors[0], 3 * a)
    assert (3 * K).factors[1] is K.factors[1]


def test_scalar_folding_into_operator_or_identity_factors(rng):
    lo = aslinearoperator(rng.standard_normal((2, 2)))
    K = KronOperator(lo, np.eye(2))
    np.testing.assert_allclose((2.5 * K).toarray(), 2.5 * K.toarray(), rtol=1e-14)
    E = KronOperator(np.eye(3))
    np.testing.assert_allclose((-2 * E).toarray(), -2 * np.eye(3))


def test_conj_transpose_adjoint_are_kron(rng):
    A = random_array(rng, (2, 3), np.complex128)
    B = random_array(rng, (4, 2), np.complex128)
    K = KronOperator(A, B)
    for got, want in (
        (K.T, np.kron(A, B).T),
        (K.H, np.kron(A, B).conj().T),
        (K.conj(), np.kron(A, B).conj()),
    ):
        assert isinstance(got, KronOperator)
        np.testing.assert_allclose(got.toarray(), want, rtol=1e-14)
    assert K.H.H is K
    assert K.T.T is K
    R = KronOperator(np.ones((2, 2)))
    assert R.conj() is R


def test_power_and_sum_are_lazy(rng):
    A, B = rng.standard_normal((3, 3)), rng.standard_normal((2, 2))
    K = KronOperator(A, B)
    x = rng.standard_normal(6)
    D = np.kron(A, B)
    np.testing.assert_allclose((K**3) @ x, np.linalg.matrix_power(D, 3) @ x, rtol=1e-12)
    np.testing.assert_allclose((K + K) @ x, 2 * D @ x, rtol=1e-13)
    np.testing.assert_allclose((K - 2 * K) @ x, -D @ x, rtol=1e-13)


def test_repr_shows_structure():
    s = sp.diags_array(
        [[-1.0] * 99, [2.0] * 100, [-1.0] * 99], offsets=[-1, 0, 1]
    ).tocsr()
    K = kron(np.ones((100, 100)), s, aslinearoperator(np.ones((3, 2))))
    assert repr(K) == (
        "KronOperator(100×100 dense ⊗ 100×100 csr nnz=298 ⊗ 3×2 MatrixLinearOperator, "
        "dtype=float64)"
    )


def test_kron_function_and_public_names():
    assert set(kronop.__all__) >= {"KronOperator", "kron", "vec", "unvec"}
    K = kron(np.ones((2, 2)), np.eye(2))
    assert isinstance(K, KronOperator)


def test_pickle_roundtrip(rng):
    K = KronOperator(rng.standard_normal((3, 3)), sp.eye_array(2) * 2.0)
    x = rng.standard_normal(6)
    y = K @ x
    K2 = pickle.loads(pickle.dumps(K))
    np.testing.assert_array_equal(K2 @ x, y)


# ------------------------------------------------------------------ vec
def test_vec_identities(rng):
    A, X, B = (
        rng.standard_normal((3, 4)),
        rng.standard_normal((4, 5)),
        rng.standard_normal((5, 2)),
    )
    np.testing.assert_allclose(kron(B.T, A) @ vec(X), vec(A @ X @ B), rtol=1e-12)
    np.testing.assert_allclose(
        kron(A, B.T) @ X.ravel(), (A @ X @ B).ravel(), rtol=1e-12
    )
    np.testing.assert_array_equal(unvec(vec(X), X.shape), X)
    with pytest.raises(ValueError, match="length 20, got shape"):
        unvec(np.ones(7), (4, 5))
    with pytest.raises(ValueError, match="at least 2-D"):
        vec(np.ones(3))


# ------------------------------------------------------- random shapes
KINDS = ["dense", "sparse", "linop", "identity"]


@st.composite
def kron_cases(draw):
    d = draw(st.integers(1, 5))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.complex64, np.complex128]))
    seed = draw(st.integers(0, 2**32 - 1))
    specs = [
        (draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.sampled_from(KINDS)))
        for _ in range(d)
    ]
    k = draw(st.sampled_from([None, 1, 3]))
    order = draw(st.sampled_from(["C", "F"]))
    return specs, dtype, seed, k, order


@settings(max_examples=300, deadline=None)
@given(kron_cases())
def test_random_shapes_against_np_kron(case):
    specs, dtype, seed, k, order = case
    rng = np.random.default_rng(seed)
    factors, denses = [], []
    for m, n, kind in specs:
        a = random_array(rng, (m, n), dtype)
        if kind == "identity":
            a = np.eye(m, dtype=dtype)
        elif kind == "sparse":
            a = a * (rng.random((m, n)) < 0.6)
        denses.append(hi(a))
        factors.append(
            sp.csr_array(a)
            if kind == "sparse"
            else aslinearoperator(a)
            if kind == "linop"
            else a
        )
    K = KronOperator(*factors)
    D = reduce(np.kron, denses)
    inner = sum(n for _, n, _ in specs) + 1
    shape = (K.shape[1],) if k is None else (K.shape[1], k)
    x = np.asarray(random_array(rng, shape, dtype), order=order)
    check_close(K @ x, D @ hi(x), D, hi(x), dtype, inner)
    yshape = (K.shape[0],) if k is None else (K.shape[0], k)
    y = random_array(rng, yshape, dtype)
    check_close(K.H @ y, D.conj().T @ hi(y), D.conj().T, hi(y), dtype, inner)
    check_close(K.T @ y, D.T @ hi(y), D.T, hi(y), dtype, inner)


# ------------------------------------------------------- never materialize
@pytest.fixture
def no_dense_kron(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("np.kron called on a product path")

    monkeypatch.setattr(np, "kron", boom)
    monkeypatch.setattr(sp, "kron", boom)


def test_products_never_call_kron(no_dense_kron, rng):
    K = KronOperator(
        rng.standard_normal((5, 4)), sp.eye_array(3) * 2, rng.standard_normal((2, 6))
    )
    x = rng.standard_normal((K.shape[1], 2))
    K @ x
    K @ x[:, 0]
    K.H @ rng.standard_normal(K.shape[0])
    x[:, 0] @ K.T
    (2 * K) @ x
    (K @ KronOperator(np.ones((4, 1)), np.eye(3), np.ones((6, 2)))) @ np.ones(6)


@pytest.mark.parametrize("k", [1, 4])
def test_product_memory_is_linear_in_n(rng, k):
    """A d=3, n=40 product (N = 64 000; N×N would be 32 GB) stays within a few N."""
    K = KronOperator(*(rng.standard_normal((40, 40)) for _ in range(3)))
    N = K.shape[1]
    x = rng.standard_normal((N, k)) if k > 1 else rng.standard_normal(N)
    K @ x  # plans and work buffers are made once and kept
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        K @ x
        K.H @ x
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the result of each call plus the adjoint's own two buffers
    assert peak <= 4 * N * k * 8 + 200_000, peak
    cold = KronOperator(*(rng.standard_normal((40, 40)) for _ in range(3)))
    tracemalloc.start()
    try:
        cold @ x
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= 3 * N * k * 8 + 200_000, peak
