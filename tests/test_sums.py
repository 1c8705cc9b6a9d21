"""KronProductSum: the shared contracts, the ``+`` rules, the two-term direct solve."""

import pickle
import warnings
from functools import reduce

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import LinearOperator, aslinearoperator
from scipy.sparse.linalg._interface import _SumLinearOperator

from kronop import IdentityOperator, KronOperator, KronPlusDiagonal
from kronop.sums import KronProductSum

from .contract.linalg import LinalgContract
from .contract.operator import OperatorContract
from .factories import (
    eps,
    hi,
    hpd,
    kron_dense,
    make_factor,
    peak_bytes,
    random_array,
    rel,
    tridiag,
)


def hermitian(rng, n, dtype):
    """A random Hermitian (indefinite) matrix."""
    a = random_array(rng, (n, n), dtype)
    return ((a + a.conj().T) / 2).astype(dtype)


def sum_dense(terms):
    """Σᵣ np.kron of each term's factors, in high precision."""
    return sum(kron_dense(t) for t in terms)


# name -> list of terms, each a list of factor specs (m, n, kind)
OP_CASES = {
    "2terms-d2": [[(3, 3, "dense"), (4, 4, "dense")]] * 2,
    "3terms-d3": [[(2, 2, "dense"), (3, 3, "dense"), (2, 2, "dense")]] * 3,
    "rect": [[(3, 5, "dense"), (4, 2, "dense")], [(3, 5, "dense"), (4, 2, "csr")]],
    "sparse-linop": [
        [(3, 3, "csr"), (4, 4, "linop")],
        [(3, 3, "linop"), (4, 4, "coo")],
        [(3, 3, "identity"), (4, 4, "dense")],
    ],
    "mixed-counts": [[(6, 6, "dense")], [(2, 2, "dense"), (3, 3, "dense")]],
    "mixed-rect": [[(2, 6, "dense"), (3, 1, "dense")], [(6, 6, "dense")]],
    "1term": [[(3, 4, "dense"), (2, 2, "dense")]],
}


class TestKronProductSumContract(OperatorContract):
    cases = tuple(OP_CASES)

    def build(self, case, dtype, rng):
        terms, denses = [], []
        for specs in OP_CASES[case]:
            made = [make_factor(m, n, kind, dtype, rng) for m, n, kind in specs]
            terms.append(KronOperator(*(f for f, _ in made)))
            denses.append([d for _, d in made])
        return KronProductSum(*terms), sum_dense(denses)


# name -> (factor sizes, kind of the first term, sign of the second term)
LINALG_CASES = {
    "d2": ((3, 4), "hermitian", 1),
    "d3": ((2, 3, 2), "hermitian", 1),
    "d3-both-hpd": ((3, 2, 3), "hpd", 1),
    "d2-minus": ((3, 4), "hermitian", -1),
    "d2-sparse": ((4, 3), "sparse", 1),
}


def linalg_terms(case, dtype, rng):
    sizes, kind, sign = LINALG_CASES[case]
    A, B = [], []
    for j, n in enumerate(sizes):
        if kind == "sparse" and j == 0:
            A.append(tridiag(n, dtype))
            B.append(sp.csr_array(hpd(rng, n, dtype)))
        elif kind == "hpd":
            A.append(hpd(rng, n, dtype))
            B.append(hpd(rng, n, dtype))
        else:
            A.append(hermitian(rng, n, dtype))
            B.append(hpd(rng, n, dtype))
    return A, B, sign, kind == "hpd"


class TestKronProductSumLinalg(LinalgContract):
    cases = tuple(LINALG_CASES)
    offers = frozenset({"solve", "inv", "slogdet", "trace"})

    def build(self, case, dtype, rng):
        A, B, sign, is_hpd = linalg_terms(case, dtype, rng)
        op = KronOperator(*A) + sign * KronOperator(*B)
        assert isinstance(op, KronProductSum)
        return op, kron_dense(A) + sign * kron_dense(B), is_hpd and sign > 0


# ------------------------------------------------------------------- rules
def _k(rng, *shapes, dtype=np.float64):
    return KronOperator(*(random_array(rng, s, dtype) for s in shapes))


def test_plus_matching_factor_shapes_is_a_product_sum(rng):
    K1, K2 = _k(rng, (2, 3), (4, 4)), _k(rng, (2, 3), (4, 4))
    S = K1 + K2
    assert type(S) is KronProductSum
    assert S.terms == (K1, K2)
    assert isinstance(S.terms, tuple)
    x = random_array(rng, 12, np.float64)
    np.testing.assert_allclose(S @ x, K1 @ x + K2 @ x)


@pytest.mark.parametrize(
    "other", [[(4, 4), (2, 3)], [(8, 12)], [(2, 3), (2, 2), (2, 2)]]
)
def test_plus_other_factor_shapes_is_scipys_sum(rng, other):
    K1, K2 = _k(rng, (2, 3), (4, 4)), _k(rng, *other)
    S = K1 + K2
    assert not isinstance(S, KronProductSum)
    assert isinstance(S, _SumLinearOperator)
    x = random_array(rng, 12, np.float64)
    np.testing.assert_allclose(S @ x, K1 @ x + K2 @ x)


def test_explicit_constructor_allows_mixed_factor_counts(rng):
    K1, K2 = _k(rng, (2, 3), (4, 4)), _k(rng, (8, 12))
    S = KronProductSum(K1, K2)
    np.testing.assert_allclose(S.toarray(), K1.toarray() + K2.toarray())
    # a KronProductSum takes any same-shaped KronOperator as its next term
    T = S + _k(rng, (4, 4), (2, 3))
    assert type(T) is KronProductSum
    assert len(T.terms) == 3


def test_sum_of_list_is_flat(rng):
    Ks = [_k(rng, (3, 3), (2, 2)) for _ in range(4)]
    S = sum(Ks)
    assert type(S) is KronProductSum
    assert S.terms == tuple(Ks)
    assert all(type(t) is KronOperator for t in S.terms)
    T = (Ks[0] + Ks[1]) + (Ks[2] + Ks[3])
    assert T.terms == tuple(Ks)
    U = Ks[0] + (Ks[1] + Ks[2])
    assert U.terms == tuple(Ks[:3])
    assert KronProductSum(Ks[0], KronProductSum(Ks[1], Ks[2])).terms == tuple(Ks[:3])
    assert KronProductSum([Ks[0], Ks[1]]).terms == tuple(Ks[:2])


def test_difference_and_scalars_fold_into_terms(rng):
    K1, K2 = _k(rng, (3, 3), (2, 2)), _k(rng, (3, 3), (2, 2))
    D = K1 - K2
    assert type(D) is KronProductSum
    assert len(D.terms) == 2
    np.testing.assert_allclose(D.toarray(), K1.toarray() - K2.toarray())
    for S in (2.5 * D, D * 2.5, -D, D / 4, (1 + 2j) * D):
        assert type(S) is KronProductSum
        assert all(type(t) is KronOperator for t in S.terms)
    np.testing.assert_allclose((2.5 * D).toarray(), 2.5 * D.toarray())
    assert ((1 + 2j) * D).dtype == np.complex128
    K32 = _k(rng, (3, 3), (2, 2), dtype=np.float32)
    assert (2.5 * KronProductSum(K32, K32)).dtype == np.float32


def test_adjoint_and_transpose_are_product_sums(rng):
    S = _k(rng, (3, 2), (2, 4), dtype=np.complex128) + _k(
        rng, (3, 2), (2, 4), dtype=np.complex128
    )
    for got, want in ((S.H, S.toarray().conj().T), (S.T, S.toarray().T)):
        assert type(got) is KronProductSum
        np.testing.assert_allclose(got.toarray(), want)


def test_kron_plus_identity_and_diagonal_unchanged(rng):
    K = _k(rng, (3, 3), (2, 2))
    I = IdentityOperator(K.shape)
    assert type(K + 0.5 * I) is KronPlusDiagonal
    assert type(0.5 * I + K) is KronPlusDiagonal
    D = KronOperator(np.diag([1.0, 2.0, 3.0]), np.diag([1.0, 4.0]))
    # the congruence form K + D needs Hermitian K; other K make a two-term sum
    H = KronOperator(hpd(rng, 3, np.float64), hpd(rng, 2, np.float64))
    assert type(H + D) is KronPlusDiagonal
    assert type(D + H) is KronPlusDiagonal
    np.testing.assert_allclose((D + H).toarray(), D.toarray() + H.toarray())
    for S in (H + D, H + 0.5 * I, 2.0 * (H + D)):  # the family's .terms, here too
        terms = S.terms
        assert len(terms) == 2
        assert all(isinstance(t, KronOperator) for t in terms)
        np.testing.assert_allclose(sum(t.toarray() for t in terms), S.toarray())
    assert type(K + D) is KronProductSum
    assert type(D + K) is KronProductSum
    np.testing.assert_allclose((D + K).toarray(), D.toarray() + K.toarray())


def test_mixed_dtype_terms(rng):
    K1 = _k(rng, (3, 3), (2, 2), dtype=np.float32)
    K2 = _k(rng, (3, 3), (2, 2), dtype=np.complex64)
    S = K1 + K2
    assert S.dtype == np.complex64
    x = random_array(rng, 6, np.float64)
    assert (S @ x).dtype == np.complex128


# ------------------------------------------------------------------- errors
def test_term_errors(rng):
    K = _k(rng, (3, 3), (2, 2))
    with pytest.raises(ValueError, match=r"term 1 has shape \(6, 4\).*\(6, 6\)"):
        KronProductSum(K, _k(rng, (3, 2), (2, 2)))
    with pytest.raises(
        ValueError, match=r"term 2 has shape \(6, 5\), expected \(6, 6\)"
    ):
        KronProductSum(K, K, _k(rng, (6, 5)))
    with pytest.raises(TypeError, match="term 1 must be a KronOperator"):
        KronProductSum(K, np.eye(6))
    with pytest.raises(TypeError, match="term 0 must be a KronOperator"):
        KronProductSum(aslinearoperator(np.eye(6)))
    with pytest.raises(ValueError, match="at least one term"):
        KronProductSum()


def test_three_terms_name_the_iterative_route(rng):
    Ks = [KronOperator(hpd(rng, 3, np.float64), hpd(rng, 2, np.float64))] * 3
    S = sum(Ks)
    for call in (lambda: S.solve(np.ones(6)), S.inv, S.slogdet, S.logdet, S.det):
        with pytest.raises(np.linalg.LinAlgError, match=r"3 terms.*gmres.*cg"):
            call()


def test_no_definite_term_names_the_iterative_route(rng):
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    indefinite = (q * [1.0, -1.0, 2.0]) @ q.T
    A = [indefinite, hpd(rng, 2, np.float64)]
    B = [hpd(rng, 3, np.float64), np.array([[1.0, 2.0], [2.0, 1.0]])]
    S = KronOperator(*A) + KronOperator(*B)
    with pytest.raises(np.linalg.LinAlgError, match=r"positive.*definite.*gmres"):
        S.solve(np.ones(6))
    with pytest.raises(ValueError, match="gmres"):  # LinAlgError is a ValueError
        S.logdet()


def test_unaligned_factors_name_the_iterative_route(rng):
    S = KronProductSum(
        KronOperator(hpd(rng, 6, np.float64)),
        KronOperator(hpd(rng, 2, np.float64), hpd(rng, 3, np.float64)),
    )
    with pytest.raises(np.linalg.LinAlgError, match=r"factor shapes.*gmres"):
        S.solve(np.ones(6))


def test_operator_factor_cannot_solve(rng):
    S = KronOperator(aslinearoperator(hpd(rng, 3, np.float64))) + KronOperator(
        hpd(rng, 3, np.float64)
    )
    with pytest.raises(TypeError, match="factor 0"):
        S.solve(np.ones(3))


# ------------------------------------------------------------- direct solve
def _pair(rng, sizes, dtype, first="hermitian"):
    if first == "hermitian":
        A = [hermitian(rng, n, dtype) for n in sizes]
    else:
        A = [
            (random_array(rng, (n, n), dtype) + 2 * np.eye(n)).astype(dtype)
            for n in sizes
        ]
    B = [hpd(rng, n, dtype) for n in sizes]
    return A, B


@pytest.mark.parametrize("d", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_solve_any_number_of_factors(rng, d, dtype):
    sizes = [5, 4, 3, 2][:d]
    A, B = _pair(rng, sizes, dtype)
    S = KronOperator(*A) + KronOperator(*B)
    dense = kron_dense(A) + kron_dense(B)
    b = random_array(rng, (dense.shape[0], 2), dtype)
    x = S.solve(b)
    assert x.dtype == np.dtype(dtype)
    tol = 50 * eps(dtype) * dense.shape[0] * np.linalg.cond(dense)
    assert rel(x, np.linalg.solve(dense, hi(b))) <= tol
    assert rel(S.inv() @ b[:, 0], np.linalg.solve(dense, hi(b[:, 0]))) <= tol


@pytest.mark.parametrize("d", [1, 2, 3, 4])
@pytest.mark.parametrize("sign", [1, -1])
def test_logdet_against_dense(rng, d, sign):
    sizes = [5, 4, 3, 2][:d]
    A, B = _pair(rng, sizes, np.float64)
    S = KronOperator(*A) + sign * KronOperator(*B)
    dense = kron_dense(A) + sign * kron_dense(B)
    ref_sign, ref_log = np.linalg.slogdet(dense)
    got_sign, got_log = S.slogdet()
    assert got_sign == ref_sign
    assert abs(got_log - ref_log) <= 1e-10 * max(1.0, abs(ref_log))
    ld = S.logdet()
    if ref_sign > 0:
        assert isinstance(ld, float)
        assert abs(ld - ref_log) <= 1e-10 * abs(ref_log)
    else:
        assert abs(ld - complex(ref_log, np.pi)) <= 1e-10 * abs(ref_log)
    np.testing.assert_allclose(S.det(), np.linalg.det(dense), rtol=1e-9)


def test_definite_term_first_or_with_negative_pairs(rng):
    A, B = _pair(rng, (3, 4), np.float64)
    # the definite term first; and ⊗Bⱼ with two negated factors is still definite
    S = KronOperator(-B[0], -B[1]) + KronOperator(*A)
    dense = np.kron(B[0], B[1]) + kron_dense(A)
    b = rng.standard_normal(12)
    assert rel(S.solve(b), np.linalg.solve(dense, b)) <= 1e-12 * np.linalg.cond(dense)
    np.testing.assert_allclose(S.slogdet()[1], np.linalg.slogdet(dense)[1], rtol=1e-12)


def test_identity_factor_in_the_definite_term(rng):
    A = [hermitian(rng, 3, np.float64), hermitian(rng, 4, np.float64)]
    S = KronOperator(*A) + KronOperator(np.eye(3), hpd(rng, 4, np.float64))
    dense = S.toarray()
    b = rng.standard_normal(12)
    assert rel(S.solve(b), np.linalg.solve(dense, b)) <= 1e-12 * np.linalg.cond(dense)
    np.testing.assert_allclose(S.slogdet()[1], np.linalg.slogdet(dense)[1], rtol=1e-12)


def test_non_hermitian_first_term_goes_through_eig(rng):
    A, B = _pair(rng, (3, 4, 2), np.float64, first="general")
    S = KronOperator(*A) + KronOperator(*B)
    dense = kron_dense(A) + kron_dense(B)
    b = rng.standard_normal(24)
    dec = S.decomposition()
    tol = 1e-13 * np.linalg.cond(dense) * dec.vector_cond
    assert dec.vector_cond > 1
    x = S.solve(b)
    assert x.dtype == np.float64
    assert rel(x, np.linalg.solve(dense, b)) <= tol
    sign, logabs = S.slogdet()
    ref = np.linalg.slogdet(dense)
    assert sign == ref[0]
    assert abs(logabs - ref[1]) <= 1e-10 * abs(ref[1])


def test_non_hermitian_ill_conditioned_refuses(rng):
    # (A, B) with a defective pencil: κ(V) past 3/4 of the digits
    A = [np.array([[2.0, 1.0], [0.0, 2.0]]), hermitian(rng, 3, np.float64)]
    B = [np.eye(2) * 1.5, hpd(rng, 3, np.float64)]
    S = KronOperator(*A) + KronOperator(*B)
    with pytest.raises(np.linalg.LinAlgError, match="ill-conditioned"):
        S.solve(np.ones(6))
    # the determinant needs no eigenvectors
    np.testing.assert_allclose(
        S.slogdet()[1], np.linalg.slogdet(S.toarray())[1], rtol=1e-8
    )


def test_one_term_solves_as_its_term(rng):
    K = KronOperator(hpd(rng, 3, np.float64), random_array(rng, (2, 2), np.float64))
    S = KronProductSum(K)
    b = rng.standard_normal(6)
    np.testing.assert_allclose(S.solve(b), K.solve(b))
    np.testing.assert_allclose(S.slogdet(), K.slogdet())


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(2, 4), min_size=1, max_size=4),
    seed=st.integers(0, 2**32 - 1),
    cplx=st.booleans(),
    sign=st.sampled_from([1, -1]),
)
def test_random_shapes_solve_and_logdet(sizes, seed, cplx, sign):
    rng = np.random.default_rng(seed)
    dtype = np.complex128 if cplx else np.float64
    A, B = _pair(rng, sizes, dtype)
    S = KronOperator(*A) + sign * KronOperator(*B)
    dense = kron_dense(A) + sign * kron_dense(B)
    cond = np.linalg.cond(dense)
    if cond > 1e10:
        return
    b = random_array(rng, dense.shape[0], dtype)
    assert (
        rel(S.solve(b), np.linalg.solve(dense, b)) <= 100 * eps(dtype) * len(b) * cond
    )
    ref = np.linalg.slogdet(dense)
    got = S.slogdet()
    assert abs(got[1] - ref[1]) <= 1e-9 * max(1.0, abs(ref[1])) + 1e-12 * cond
    assert abs(got[0] - ref[0]) <= 1e-8


# ------------------------------------------------------------- from terms
@pytest.mark.parametrize("case", list(OP_CASES))
def test_trace_diagonal_norm_against_dense(rng, case):
    op, dense = TestKronProductSumContract().build(case, np.complex128, rng)
    if any(not f.has_entries for t in op.terms for f in t._factors):
        with pytest.raises(TypeError, match="factor"):
            op.norm()
        return
    np.testing.assert_allclose(op.diagonal(), np.diag(dense), rtol=1e-13, atol=1e-13)
    if op.shape[0] == op.shape[1]:
        np.testing.assert_allclose(op.trace(), np.trace(dense), rtol=1e-12)
    np.testing.assert_allclose(op.norm(), np.linalg.norm(dense), rtol=1e-12)
    np.testing.assert_allclose(op.norm("fro"), np.linalg.norm(dense), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_norm_dtypes_and_cancellation(rng, dtype):
    A, B = random_array(rng, (3, 3), dtype), random_array(rng, (4, 4), dtype)
    C = (B + 1e-3 * random_array(rng, (4, 4), dtype)).astype(dtype)
    S = KronOperator(A, B) - KronOperator(A, C)  # ‖S‖ ≈ 1e-3 Σ‖Kᵣ‖
    ref = np.linalg.norm(kron_dense([A, B]) - kron_dense([A, C]))
    ratio = (
        np.linalg.norm(hi(A)) * (np.linalg.norm(hi(B)) + np.linalg.norm(hi(C)))
    ) / ref
    np.testing.assert_allclose(S.norm(), ref, rtol=100 * eps(dtype) * ratio**2)
    assert isinstance(S.norm(), float)


def test_norm_other_orders_and_unaligned(rng):
    S = _k(rng, (3, 3), (2, 2)) + _k(rng, (3, 3), (2, 2))
    for order in (2, 1, np.inf, "nuc"):
        with pytest.raises(ValueError, match="fro"):
            S.norm(order)
    T = KronProductSum(_k(rng, (2, 2), (3, 3)), _k(rng, (3, 3), (2, 2)))
    with pytest.raises(ValueError, match=r"terms 0 and 1.*6×6"):
        T.norm()


def test_norm_merges_aligned_groups(rng):
    sp_factor = sp.random_array((4, 4), density=0.5, rng=rng, format="csr")
    T = KronProductSum(
        _k(rng, (2, 2), (3, 3), (4, 4)),
        KronOperator(random_array(rng, (6, 6), np.float64), sp_factor),
        KronOperator(np.eye(2), random_array(rng, (3, 3), np.float64), np.eye(4)),
    )
    np.testing.assert_allclose(T.norm(), np.linalg.norm(T.toarray()), rtol=1e-12)


# -------------------------------------------------------------- products
def test_products_accumulate_into_one_output(rng):
    Ks = [_k(rng, (32, 32), (32, 32), (32, 32)) for _ in range(4)]
    S = sum(Ks)
    x = rng.standard_normal((S.shape[1], 2))
    S @ x  # warm the work buffers
    _, peak = peak_bytes(S.matmat, x)
    # the result and one term's product at a time, not one array per term
    assert peak < 3.5 * x.nbytes


def test_pickle_round_trip(rng):
    A, B = _pair(rng, (3, 2), np.float64)
    S = KronOperator(*A) + KronOperator(*B)
    b = rng.standard_normal(6)
    x = S.solve(b)
    T = pickle.loads(pickle.dumps(S))
    assert type(T) is KronProductSum
    assert len(T.terms) == 2
    np.testing.assert_allclose(T.solve(b), x)
    np.testing.assert_allclose(T @ b, S @ b)


def test_works_with_scipy_solvers(rng):
    from scipy.sparse.linalg import gmres

    A, B = _pair(rng, (6, 5), np.float64)
    Ks = [KronOperator(*A), KronOperator(*B), 0.1 * KronOperator(*A)]
    S = sum(Ks)
    b = rng.standard_normal(30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sla.LinAlgWarning)
        x, info = gmres(S, b, M=(Ks[0] + Ks[1]).inv(), rtol=1e-12, atol=0)
    assert info == 0
    assert rel(S @ x, b) <= 1e-10
    assert isinstance(S, LinearOperator)
    assert reduce(lambda a, c: a + c, Ks).terms == tuple(Ks)


@st.composite
def sum_cases(draw):
    """Random terms of one shape: each term's factors split the same (M, N)."""
    d = draw(st.integers(1, 3))
    ms = draw(st.lists(st.integers(1, 4), min_size=d, max_size=d))
    ns = draw(st.lists(st.integers(1, 4), min_size=d, max_size=d))
    r = draw(st.integers(1, 4))
    merge = draw(st.lists(st.booleans(), min_size=r, max_size=r))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.complex64, np.complex128]))
    k = draw(st.integers(0, 3))
    return ms, ns, merge, dtype, k, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=100, deadline=None)
@given(sum_cases())
def test_random_sums_against_dense(case):
    ms, ns, merge, dtype, k, seed = case
    rng = np.random.default_rng(seed)
    terms, denses = [], []
    for whole in merge:
        if whole:  # one factor for the whole term: mixed factor counts
            shapes = [(int(np.prod(ms)), int(np.prod(ns)))]
        else:
            shapes = list(zip(ms, ns, strict=True))
        mats = [random_array(rng, s, dtype) for s in shapes]
        terms.append(KronOperator(*mats))
        denses.append(mats)
    S = KronProductSum(*terms)
    dense = sum_dense(denses)
    x = random_array(rng, (S.shape[1], k), dtype)
    y = S @ x
    assert y.shape == (S.shape[0], k)
    assert y.dtype == np.dtype(dtype)
    size = sum(np.abs(kron_dense(m)) for m in denses)  # |A| of every term: no cancel
    bound = 20 * eps(dtype) * (size @ np.abs(hi(x)) + 1e-30) * max(S.shape)
    assert np.all(np.abs(y - dense @ hi(x)) <= bound)
    yh = S.H @ random_array(rng, S.shape[0], dtype)
    assert yh.shape == (S.shape[1],)


def test_negative_diagonal_product_goes_to_the_general_sum():
    """K + D with D a Kronecker product of diagonals is the congruence form only
    for positive diagonals; other signs are a two-term sum that still solves."""
    rng = np.random.default_rng(3)
    A, B = hpd(rng, 2, np.float64), hpd(rng, 3, np.float64)
    K = KronOperator(A, B)
    D = KronOperator(np.diag([1.0, 2.0]), np.diag([1.0, 2.0, 3.0]))
    assert isinstance(K + D, KronPlusDiagonal)
    for S in (K - D, K + (-1.0) * D, -D + K):
        assert isinstance(S, KronProductSum)
        b = rng.standard_normal(6)
        dense = S.toarray()
        np.testing.assert_allclose(dense @ S.solve(b), b, atol=1e-10)


def test_the_better_conditioned_term_is_the_mass():
    """Both terms definite: the pencils use the well-conditioned one, so the
    accuracy follows κ of the sum, not of the ill-conditioned term, in either order."""
    rng = np.random.default_rng(4)

    def spd(n, cond):
        q, _ = np.linalg.qr(rng.standard_normal((n, n)))
        return (q * np.logspace(0, -np.log10(cond), n)) @ q.T

    P1, P2, N1, N2 = spd(6, 10), spd(6, 10), spd(6, 1e14), spd(6, 1e14)
    b = rng.standard_normal(36)
    for S in (
        KronOperator(N1, N2) + KronOperator(P1, P2),
        KronOperator(P1, P2) + KronOperator(N1, N2),
    ):
        dense = S.toarray()
        x = np.linalg.solve(dense, b)
        assert np.linalg.norm(S.solve(b) - x) <= 1e-12 * np.linalg.norm(x)
        np.testing.assert_allclose(
            S.slogdet()[1], np.linalg.slogdet(dense)[1], rtol=0, atol=1e-11
        )


@pytest.mark.parametrize("c", [2j, -1.5, 1 + 1j])
def test_complex_multiples_of_a_definite_term_still_solve(c):
    rng = np.random.default_rng(5)
    A = rng.standard_normal((3, 3))
    A = A + A.T
    P, Q = hpd(rng, 3, np.float64), hpd(rng, 2, np.float64)
    B = rng.standard_normal((2, 2))
    S = KronOperator(A, B + B.T) + KronOperator(P, Q)
    b = rng.standard_normal(6) + 1j * rng.standard_normal(6)
    for T in (c * S, KronOperator(A, B + B.T) + c * KronOperator(P, Q)):
        dense = T.toarray()
        np.testing.assert_allclose(T.solve(b), np.linalg.solve(dense, b), atol=1e-11)
        sign, logabs = T.slogdet()
        ref_sign, ref_logabs = np.linalg.slogdet(dense)
        np.testing.assert_allclose(logabs, ref_logabs, atol=1e-11)
        np.testing.assert_allclose(sign, ref_sign, atol=1e-11)


def test_non_hermitian_product_plus_diagonal_product_is_a_solvable_sum():
    rng = np.random.default_rng(6)
    A1, A2 = rng.standard_normal((3, 3)), rng.standard_normal((2, 2))
    for D in (
        KronOperator(np.eye(3), np.eye(2)),
        KronOperator(np.diag([1.0, 2.0, 3.0]), np.diag([1.0, 2.0])),
    ):
        S = KronOperator(A1, A2) + D
        assert isinstance(S, KronProductSum)
        b = rng.standard_normal(6)
        np.testing.assert_allclose(S.toarray() @ S.solve(b), b, atol=1e-12)


def test_shifted_products_and_identities_join_a_sum():
    """K + σD (or σI) plus another product, and a sum plus σI, keep their terms."""
    rng = np.random.default_rng(7)
    H1, H2 = hpd(rng, 3, np.float64), hpd(rng, 2, np.float64)
    A, B = rng.standard_normal((3, 3)), rng.standard_normal((2, 2))
    K, K3 = KronOperator(H1, H2), KronOperator(A, B)
    Kd = KronOperator(np.diag([1.0, 2.0, 3.0]), np.diag([1.0, 2.0]))
    eye = IdentityOperator((6, 6))
    x = rng.standard_normal(6)
    cases = [
        (sum([K, Kd, K3]), np.kron(H1, H2) + Kd.toarray() + np.kron(A, B)),
        (K3 + (K + Kd), np.kron(A, B) + np.kron(H1, H2) + Kd.toarray()),
        ((K + 0.5 * eye) + K3, np.kron(H1, H2) + 0.5 * np.eye(6) + np.kron(A, B)),
        (K + K3 + 2.5 * eye, np.kron(H1, H2) + np.kron(A, B) + 2.5 * np.eye(6)),
    ]
    for S, dense in cases:
        assert isinstance(S, KronProductSum)
        assert len(S.terms) == 3
        np.testing.assert_allclose(S @ x, dense @ x, atol=1e-13)
        np.testing.assert_allclose(S.toarray(), dense, atol=1e-13)


def test_non_finite_factor_message_names_the_term():
    A = np.eye(2)
    B = np.array([[1.0, np.nan], [0.0, 1.0]])
    S = KronOperator(A, A) + KronOperator(A, B)
    with pytest.raises(ValueError, match="term 1, factor 1"):
        S.slogdet()
