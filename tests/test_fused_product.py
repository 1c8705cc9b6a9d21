"""Fused Kronecker products and the fused spectral solve, against the numpy kernels.

Every fused result is compared with the numpy/BLAS chain (the reference) and, for
small sizes, with a dense oracle, within a bound scaled by the dtype's rounding
unit and by (⊗|Aⱼ|)|x| (the size of what is summed).
"""

from __future__ import annotations

import math
import warnings
from functools import reduce

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import LinAlgWarning

import kronop
from kronop._engine import EngineCache, fused_kernels, fused_product, jit, numpy_kernels
from kronop._factor import EigenSolveFactor, as_factor
from kronop.kron import KronOperator
from kronop.kronsum import KronSum
from tests.factories import eps, random_array

DTYPES = [np.float32, np.float64, np.complex64, np.complex128]

needs_numba = pytest.mark.skipif(not jit.available(), reason="numba is not installed")


@pytest.fixture
def wide(monkeypatch):
    """The crossover rule widened to every size and width (a no-op without numba)."""
    monkeypatch.setattr(fused_product, "MAX_FUSED_N", 40)
    monkeypatch.setattr(fused_product, "MIN_FUSED_K", 1)


@pytest.fixture
def fused_on(monkeypatch):
    """The fused kernels on, for every size and width (skipped without numba).

    The crossover rule keeps the kernels to the shapes where they measured
    faster; the tests widen it so that every shape runs through them.
    """
    if not jit.available():
        pytest.skip("numba is not installed (the fast extra)")
    monkeypatch.setattr(fused_product, "MAX_FUSED_N", 40)
    monkeypatch.setattr(fused_product, "MIN_FUSED_K", 1)
    previous = kronop.set_fused(True)
    yield
    kronop.set_fused(previous)


def make_factors(rng, shapes, dtype, identities=()):
    out = []
    for j, (m, n) in enumerate(shapes):
        if j in identities:
            out.append(as_factor(np.eye(n, dtype=dtype), j))
        else:
            out.append(as_factor(random_array(rng, (m, n), dtype) / math.sqrt(n), j))
    return out


def bound(factors, x, dtype, c=16.0):
    """c·ε·(Σ nⱼ)·(⊗|Aⱼ|)|x|: the forward-error bound of any summation order."""
    absf = [
        as_factor(np.abs(f.toarray()).astype(np.float64), j)
        for j, f in enumerate(factors)
    ]
    mag = numpy_kernels.apply_product(absf, np.abs(x).astype(np.float64), EngineCache())
    k = sum(f.shape[1] for f in factors)
    return c * eps(dtype) * k * mag


def check(factors, x, dtype=None, expect_fused=True):
    """Fused against numpy kernels; returns the fused result."""
    want = numpy_kernels.apply_product(factors, x, EngineCache(), dtype)
    got = fused_product.apply_product(factors, x, EngineCache(), dtype)
    if got is None:
        assert not expect_fused, "the fused kernel declined a case it should run"
        return None
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    err = np.abs(got - want)
    assert np.all(err <= bound(factors, x, got.dtype) + np.finfo(got.dtype).tiny)
    return got


# ---------------------------------------------------------------------------
# the product, direct calls
# ---------------------------------------------------------------------------
TARGETS = [
    # the benchmark shapes, scaled down: (d, n, K)
    (6, 5, 1),
    (4, 9, 1),
    (5, 6, 1),
    (8, 3, 1),
    (6, 4, 16),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("d", "n", "K"), TARGETS)
def test_target_shapes_match_the_numpy_chain(fused_on, rng, dtype, d, n, K):
    factors = make_factors(rng, [(n, n)] * d, dtype)
    x = random_array(rng, (1, n**d, K), dtype)
    check(factors, x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_rectangular_batched_and_identities(fused_on, rng, dtype):
    shapes = [(3, 4), (5, 2), (4, 4), (2, 3), (6, 5)]
    factors = make_factors(rng, shapes, dtype, identities=(2,))
    x = random_array(rng, (3, math.prod(n for _, n in shapes), 2), dtype)
    check(factors, x)


def test_mixed_real_and_complex(fused_on, rng):
    real = make_factors(rng, [(4, 3), (3, 5), (5, 4)], np.float64)
    cx = random_array(rng, (1, 60, 3), np.complex64)
    got = check(real, cx)
    assert got.dtype == np.complex128
    cplx = make_factors(rng, [(4, 3), (3, 5), (5, 4)], np.complex64)
    got = check(cplx, random_array(rng, (1, 60, 3), np.float32))
    assert got.dtype == np.complex64
    # the operator's dtype, when given, replaces the factors' in the promotion
    got = check(real, random_array(rng, (1, 60, 1), np.float32), np.float32)
    assert got.dtype == np.float32


def test_fortran_strided_and_read_only_inputs_are_not_modified(fused_on, rng):
    factors = make_factors(rng, [(5, 5), (6, 6), (4, 4)], np.float64)
    base = random_array(rng, (1, 120, 6), np.float64)
    for x in (
        np.asfortranarray(base[0])[None],
        base[:, :, ::2],
        np.ascontiguousarray(base).copy(),
    ):
        before = x.copy()
        check(factors, x)
        np.testing.assert_array_equal(x, before)
    ro = base.copy()
    ro.setflags(write=False)
    check(factors, ro)


def test_result_is_a_fresh_array(fused_on, rng):
    factors = make_factors(rng, [(5, 5), (6, 6), (4, 4)], np.float64)
    x = random_array(rng, (1, 120, 1), np.float64)
    cache = EngineCache()
    a = fused_product.apply_product(factors, x, cache)
    b = fused_product.apply_product(factors, x, cache)
    assert a is not None
    assert not np.may_share_memory(a, b)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_blocks(fused_on, rng, dtype):
    factors = make_factors(rng, [(3, 4), (5, 2), (2, 3)], dtype)
    for shape, out in [((1, 24, 0), (1, 30, 0)), ((0, 24, 2), (0, 30, 2))]:
        got = fused_kernels.apply_product(
            factors, np.zeros(shape, dtype), EngineCache()
        )
        assert got.shape == out
        assert got.dtype == dtype
    w = np.ones(30)
    got = fused_kernels.apply_spectral(
        factors,
        w,
        [f.transpose() for f in factors],
        np.zeros((1, 24, 0), dtype),
        EngineCache(),
        dtype,
    )
    assert got.shape == (1, 24, 0)


def test_nan_and_inf_propagate_as_in_numpy(fused_on, rng):
    factors = make_factors(rng, [(4, 4), (5, 5), (3, 3)], np.float64)
    x = random_array(rng, (1, 60, 2), np.float64)
    x[0, 7, 0] = np.nan
    x[0, 31, 1] = np.inf
    want = numpy_kernels.apply_product(factors, x, EngineCache())
    got = fused_product.apply_product(factors, x, EngineCache())
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    fin = np.isfinite(want)
    np.testing.assert_allclose(got[fin], want[fin], rtol=1e-12, atol=1e-12)


def test_declines_what_blas_runs_better(fused_on, rng):
    x = random_array(rng, (1, 64, 1), np.float64)
    sparse = [as_factor(sp.random(8, 8, density=0.5, random_state=1, format="csr"), 0)]
    sparse.append(as_factor(rng.standard_normal((8, 8)), 1))
    assert fused_product.apply_product(sparse, x, EngineCache()) is None
    q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    eig = [EigenSolveFactor.of(q, np.arange(1.0, 9.0), 0)]
    eig.append(as_factor(rng.standard_normal((8, 8)), 1))
    assert fused_product.apply_product(eig, x, EngineCache()) is None
    big = fused_product.MAX_FUSED_N + 1
    large = make_factors(rng, [(big, big), (2, 2)], np.float64)
    xl = random_array(rng, (1, 2 * big, 1), np.float64)
    assert fused_product.apply_product(large, xl, EngineCache()) is None
    ident = [as_factor(np.eye(4), 0), as_factor(np.eye(3), 1)]
    assert fused_product.apply_product(ident, x[:, :12], EngineCache()) is None


@needs_numba
def test_default_rule_follows_the_measured_crossover(rng):
    # small factors with many right-hand sides fuse; one right-hand side, or
    # factors past the crossover, stay on the BLAS chain
    dt = np.dtype(np.float64)
    small = make_factors(rng, [(8, 8)] * 3, np.float64)
    assert fused_product._build(small, 1, 16, dt) is not None
    assert fused_product._build(small, 1, 1, dt) is None
    mid = make_factors(rng, [(10, 10)] * 3, np.float64)
    assert fused_product._build(mid, 1, 16, dt) is None


def test_off_switch_declines(rng):
    factors = make_factors(rng, [(3, 3), (3, 3)], np.float64)
    previous = kronop.set_fused(False)
    try:
        x = random_array(rng, (1, 9, 1), np.float64)
        assert fused_product.apply_product(factors, x, EngineCache()) is None
    finally:
        kronop.set_fused(previous)


def test_several_passes_and_threads(fused_on, rng, monkeypatch):
    # small tiles force several passes and many tiles on both threads
    monkeypatch.setattr(fused_product, "TILE_VALUES", 256)
    monkeypatch.setattr(fused_product, "MIN_WIDTH", 4)
    monkeypatch.setattr(fused_product, "THREADS_MIN_SIZE", 1)
    factors = make_factors(rng, [(4, 5), (6, 3), (5, 5), (3, 4), (4, 4)], np.float64)
    prod = fused_product._build(factors, 2, 3, np.dtype(np.float64))
    assert prod is not None
    assert len(prod.passes) >= 3
    x = random_array(rng, (2, 5 * 3 * 5 * 4 * 4, 3), np.float64)
    check(factors, x)


@needs_numba
@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    d=st.integers(1, 8),
    B=st.integers(1, 2),
    K=st.integers(1, 3),
    dtype=st.sampled_from(DTYPES),
)
def test_random_shapes(data, d, B, K, dtype):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    budget = 6000  # values of the largest tensor
    shapes = []
    for _ in range(d):
        cap = max(
            1,
            int(
                (budget / max(1, math.prod(max(s) for s in shapes)))
                ** (1 / max(1, d - len(shapes)))
            ),
        )
        hi = max(1, min(40, cap))
        m = data.draw(st.integers(1, hi))
        n = data.draw(st.integers(1, hi))
        shapes.append((m, n))
    ident = data.draw(st.sets(st.integers(0, d - 1), max_size=d))
    shapes = [(n, n) if j in ident else (m, n) for j, (m, n) in enumerate(shapes)]
    factors = make_factors(rng, shapes, dtype, identities=ident)
    x = random_array(rng, (B, math.prod(n for _, n in shapes), K), dtype)
    previous = kronop.set_fused(True)
    rule = fused_product.MAX_FUSED_N, fused_product.MIN_FUSED_K
    fused_product.MAX_FUSED_N, fused_product.MIN_FUSED_K = 40, 1
    try:
        check(factors, x, expect_fused=False)
    finally:
        fused_product.MAX_FUSED_N, fused_product.MIN_FUSED_K = rule
        kronop.set_fused(previous)


# ---------------------------------------------------------------------------
# through the operator, both backends
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_operator_matches_the_dense_product(backend, wide, rng, dtype):
    mats = [random_array(rng, s, dtype) for s in [(3, 4), (4, 4), (5, 2), (2, 3)]]
    K = KronOperator(*mats)
    dense = reduce(np.kron, mats)
    x = random_array(rng, (K.shape[1], 3), dtype)
    y = K @ x
    tol = (
        64 * eps(dtype) * 13 * (reduce(np.kron, [np.abs(a) for a in mats]) @ np.abs(x))
    )
    assert np.all(np.abs(y - dense @ x) <= tol)
    v = K @ x[:, 0]
    assert np.all(np.abs(v - dense @ x[:, 0]) <= tol[:, 0])


# ---------------------------------------------------------------------------
# the spectral product and solve
# ---------------------------------------------------------------------------
def _spd(rng, n, dtype):
    a = random_array(rng, (n, n), dtype)
    return (a @ a.conj().T + n * np.eye(n)).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_apply_spectral_matches_the_reference(fused_on, rng, dtype):
    vecs = [np.linalg.qr(random_array(rng, (n, n), dtype))[0] for n in (4, 5, 3)]
    vf = [as_factor(v, j) for j, v in enumerate(vecs)]
    inv = [as_factor(np.ascontiguousarray(v.conj().T), j) for j, v in enumerate(vecs)]
    w = random_array(rng, 60, np.float64) + 3
    for K in (1, 3):
        x = random_array(rng, (2, 60, K), dtype)
        want = numpy_kernels.apply_spectral(inv, w, vf, x, EngineCache(), dtype)
        got = fused_product.apply_spectral(inv, w, vf, x, EngineCache(), dtype)
        assert got is not None
        assert got.dtype == want.dtype
        tol = 64 * eps(dtype) * 12 * np.abs(w).max() * np.linalg.norm(x, axis=1).max()
        assert np.abs(got - want).max() <= tol


@pytest.mark.parametrize("dtype", [np.float64, np.complex128, np.float32])
@pytest.mark.parametrize("K", [1, 3])
def test_kronsum_solve_matches_dense(backend, wide, rng, dtype, K):
    mats = [_spd(rng, n, dtype) for n in (4, 5, 3)]
    S = KronSum(*mats)
    dense = S.toarray().astype(
        np.complex128 if np.dtype(dtype).kind == "c" else np.float64
    )
    N = S.shape[0]
    b = random_array(rng, (N, K) if K > 1 else N, dtype)
    E = S.eigh()
    rtol = 1e3 * eps(dtype)
    for shift in (0.0, 0.75):
        x = E.solve(b, shift=shift)
        want = np.linalg.solve(dense + shift * np.eye(N), b.astype(dense.dtype))
        assert x.shape == b.shape
        assert x.dtype == np.result_type(dtype, S.dtype)
        np.testing.assert_allclose(x, want, rtol=rtol, atol=rtol * np.abs(want).max())
    np.testing.assert_allclose(
        S.solve(b), np.linalg.solve(dense, b), rtol=rtol, atol=rtol * 10
    )


@pytest.mark.parametrize("dtype", [np.float64, np.complex64])
def test_complex_shift_and_weights(backend, wide, rng, dtype):
    mats = [_spd(rng, n, dtype) for n in (4, 3, 5)]
    S = KronSum(*mats)
    dense = S.toarray().astype(np.complex128)
    b = random_array(rng, (60, 2), dtype)
    shift = 0.5 - 1.5j
    x = S.eigh().solve(b, shift=shift)
    assert x.dtype == np.result_type(dtype, np.complex64)
    want = np.linalg.solve(dense + shift * np.eye(60), b)
    rtol = 1e3 * eps(dtype)
    np.testing.assert_allclose(x, want, rtol=rtol, atol=rtol * np.abs(want).max())


def test_concurrent_products_share_one_operator(fused_on, rng):
    from concurrent.futures import ThreadPoolExecutor

    mats = [random_array(rng, (5, 5), np.float64) for _ in range(4)]
    K = KronOperator(*mats)
    xs = [random_array(rng, (625, 3), np.float64) for _ in range(8)]
    with ThreadPoolExecutor(4) as pool:
        ys = list(pool.map(lambda x: K @ x, xs))
    dense = reduce(np.kron, mats)
    for x, y in zip(xs, ys, strict=True):
        np.testing.assert_allclose(y, dense @ x, rtol=1e-12, atol=1e-12)


def test_fused_solve_runs_the_fused_kernel(fused_on, rng, monkeypatch):
    calls = []
    real = fused_product._run

    def spy(*args, **kw):
        calls.append(len(args[0]))
        return real(*args, **kw)

    monkeypatch.setattr(fused_product, "_run", spy)
    mats = [_spd(rng, n, np.float64) for n in (6, 5, 4)]
    S = KronSum(*mats)
    b = rng.standard_normal(S.shape[0])
    x = S.eigh().solve(b)
    assert calls == [2]  # one call, both chains
    np.testing.assert_allclose(S @ x, b, rtol=1e-10, atol=1e-10)
    calls.clear()
    x = S.eigh().solve(b, shift=2.0)
    assert calls == [2]
    np.testing.assert_allclose(S @ x + 2.0 * x, b, rtol=1e-10, atol=1e-10)


def test_reference_solve_equals_the_two_product_path(rng):
    previous = kronop.set_fused(False)
    try:
        mats = [_spd(rng, n, np.float64) for n in (6, 5, 4)]
        E = KronSum(*mats).eigh()
        b = rng.standard_normal((120, 2))
        y = E.inverse @ b
        numpy_kernels.scale_rows(y, 1.0 / np.asarray(E.values))
        old = E.vectors @ y
        np.testing.assert_allclose(E.solve(b), old, rtol=1e-14, atol=1e-15)
    finally:
        kronop.set_fused(previous)


def test_singular_solve_keeps_its_null_space_policy(backend, wide, rng):
    # graph Laplacians: the constant vector is the null space of their sum
    def lap(n):
        a = rng.random((n, n))
        a = a + a.T
        np.fill_diagonal(a, 0)
        return np.diag(a.sum(1)) - a

    S = KronSum(lap(4), lap(5))
    b = rng.standard_normal(20)
    with pytest.warns(LinAlgWarning, match="null space"):
        x = S.eigh().solve(b)
    P = np.linalg.pinv(S.toarray())
    np.testing.assert_allclose(x, P @ b, rtol=1e-8, atol=1e-10)
    b0 = b - b.mean()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x0 = S.eigh().lstsq(b0)
    np.testing.assert_allclose(x0, P @ b0, rtol=1e-8, atol=1e-10)


def test_shifted_solves_keep_the_shift_dtype_apart(backend):
    """np.float32(0.1) == 0.1 under NumPy 2: the cached reciprocals must differ."""
    from kronop.kronsum import KronSum

    rng = np.random.default_rng(3)
    mats = []
    for n in (6, 5, 4):
        a = rng.standard_normal((n, n))
        mats.append(a @ a.T + n * np.eye(n))
    b = rng.standard_normal(120)
    dense = KronSum(*mats).toarray()
    s32 = np.float32(0.1)
    want = np.linalg.solve(dense + float(s32) * np.eye(120), b)
    E = KronSum(*mats).eigh()
    E.solve(b, shift=0.1)
    got = E.solve(b, shift=s32)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
