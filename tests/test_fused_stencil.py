"""The fused Kronecker-sum stencil (numba) against dense oracles and the numpy kernel.

Every operator test runs on both backends (the ``backend`` fixture); the direct
comparisons call :mod:`kronop._engine.fused_stencil` and the numpy reference
kernels on the same input. Without numba the fused cases are skipped.
"""

from __future__ import annotations

from functools import reduce

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import aslinearoperator

from kronop._engine import EngineCache, jit
from kronop._engine import numpy_kernels as nk
from kronop.gallery import laplacian
from kronop.kronsum import KronSum
from tests.factories import DTYPES, check_close, eps, hi, random_array

needs_numba = pytest.mark.skipif(not jit.available(), reason="numba not installed")


@pytest.fixture
def fused():
    """The fused kernels switched on (for tests that call them directly)."""
    previous = jit.set_enabled(True)
    yield
    jit.set_enabled(previous)


# ------------------------------------------------------------------ builders
def banded(rng, n, dtype, offsets, variable=True):
    """A CSR factor with the given diagonals (random values, or constant ones)."""
    diags, offs = [], []
    for k in offsets:
        if abs(k) >= n:
            continue
        m = n - abs(k)
        if variable:
            v = random_array(rng, m, dtype)
        else:
            v = np.full(m, random_array(rng, 1, dtype)[0])
        diags.append(v)
        offs.append(k)
    if not diags:
        diags, offs = [random_array(rng, n, dtype)], [0]
    return sp.diags_array(diags, offsets=offs, shape=(n, n), format="csr").astype(dtype)


def random_offsets(rng, width):
    """Main diagonal plus a random subset of offsets within ``±width``."""
    pool = [k for k in range(-width, width + 1) if k]
    pick = rng.choice(pool, size=min(len(pool), rng.integers(0, len(pool) + 1)))
    return sorted({0, *pick.tolist()})


def dense_factor(a):
    if sp.issparse(a):
        return a.toarray()
    if hasattr(a, "matmat"):
        return a.matmat(np.eye(a.shape[1], dtype=a.dtype))
    return np.asarray(a)


def dense_sum(factors, shift=0, mass=None):
    """Σⱼ M₁⊗…⊗Aⱼ⊗…⊗M_d + σ M₁⊗…⊗M_d, in complex128 (identities for no mass)."""
    mats = [hi(dense_factor(f)) for f in factors]
    ns = [m.shape[0] for m in mats]
    ms = [
        np.eye(n) if mass is None or mass[j] is None else hi(dense_factor(mass[j]))
        for j, n in enumerate(ns)
    ]
    out = shift * reduce(np.kron, ms, np.ones((1, 1)))
    for j, a in enumerate(mats):
        parts = list(ms)
        parts[j] = a
        out = out + reduce(np.kron, parts, np.ones((1, 1)))
    return out


def abs_sum(factors, shift=0, mass=None):
    """The oracle's entrywise bound: every part of every entry taken in absolute value.

    A diagonal entry of a Kronecker sum adds d + 1 numbers; where they cancel, the
    rounding error scales with their magnitudes, not with the sum's.
    """
    mats = [np.abs(dense_factor(f)) for f in factors]
    mass = None if mass is None else [None if m is None else abs(m) for m in mass]
    return dense_sum(mats, abs(shift), mass).real


def check_op(op, dense, x, dtype, backend, bound=None):
    """``op @ x`` against the oracle (``bound``: |parts| for the error scale)."""
    got = op @ x
    want = dense @ hi(x)
    bound = np.abs(dense) if bound is None else bound
    k = int(np.max(np.count_nonzero(dense, axis=1))) if dense.size else 1
    check_close(got, want, bound, hi(x), dtype, inner=max(k, 1) + 1)
    return got


# ------------------------------------------------------------ operator level
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape",
    [(7,), (6, 5), (4, 3, 5), (3, 2, 4, 3), (1, 6), (2, 1, 5), (2, 2, 2), (9, 1)],
)
@pytest.mark.parametrize("bc", ["dirichlet", "neumann", "periodic"])
def test_laplacian_matches_dense(backend, rng, dtype, shape, bc):
    if bc == "periodic" and min(shape) < 1:
        pytest.skip("no grid")
    L = laplacian(shape, bc=bc, spacing=0.7, dtype=dtype)
    dense = hi(L.toarray())
    N = dense.shape[0]
    for K in (1, 3):
        x = random_array(rng, (N, K), dtype)
        check_op(L, dense, x, dtype, backend)
    check_op(L, dense, random_array(rng, N, dtype), dtype, backend)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("width", [1, 2, 4])
def test_random_banded_variable_coefficients(backend, rng, dtype, width):
    ns = [5, 1, 7, 2][: 2 + width % 3]
    factors = [banded(rng, n, dtype, random_offsets(rng, width)) for n in ns]
    shift = random_array(rng, 1, dtype)[0]
    op = KronSum._from_factors([KronSum(f)._factors[0] for f in factors], None, shift)
    dense = dense_sum(factors, shift)
    bound = abs_sum(factors, shift)
    for K in (1, 2, 17):
        x = random_array(rng, (dense.shape[0], K), dtype)
        check_op(op, dense, x, dtype, backend, bound)


@pytest.mark.parametrize("dtype", DTYPES)
def test_wide_band_and_constant_runs(backend, rng, dtype):
    # nine diagonals (the widest stencil), some constant, some varying, holes
    a = banded(rng, 11, dtype, range(-4, 5), variable=False)
    b = banded(rng, 6, dtype, range(-4, 5), variable=True)
    c = banded(rng, 9, dtype, [-3, 0, 2], variable=False).tolil()
    c[4, 6] = 0  # a hole inside a stored diagonal
    c[0, 0] = 5  # a run of another value on the main diagonal
    c = c.tocsr()
    c.eliminate_zeros()
    op = KronSum(a, b, c)
    dense = dense_sum([a, b, c])
    x = random_array(rng, (dense.shape[0], 2), dtype)
    check_op(op, dense, x, dtype, backend, abs_sum([a, b, c]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_complex_shift_on_real_factors(backend, rng, dtype):
    L = laplacian((4, 5, 3), bc="neumann")
    op = KronSum._from_factors(L._factors, None, 0.5 - 2j)
    dense = dense_sum([f.matrix for f in L._factors], 0.5 - 2j)
    x = random_array(rng, (dense.shape[0], 2), dtype)
    got = check_op(op, dense, x, np.complex64 if dtype == np.complex64 else dtype,
                   backend)  # fmt: skip
    assert got.dtype == np.result_type(np.complex128, dtype)


@pytest.mark.parametrize("xdtype", DTYPES)
@pytest.mark.parametrize("opdtype", DTYPES)
def test_mixed_dtypes(backend, rng, xdtype, opdtype):
    factors = [banded(rng, n, opdtype, [-1, 0, 2]) for n in (4, 3, 5)]
    op = KronSum(*factors)
    dense = dense_sum(factors)
    x = random_array(rng, (dense.shape[0], 2), xdtype)
    got = op @ x
    want_dtype = np.result_type(opdtype, xdtype)
    assert got.dtype == want_dtype
    check_close(got, dense @ hi(x), abs_sum(factors), hi(x), want_dtype, inner=6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adjoint_and_transpose(backend, rng, dtype):
    factors = [banded(rng, n, dtype, [-2, -1, 0, 1, 3]) for n in (5, 4, 6)]
    op = KronSum._from_factors(
        KronSum(*factors)._factors, None, random_array(rng, 1, dtype)[0]
    )
    dense = dense_sum(factors, op._shift)
    bound = abs_sum(factors, op._shift).T
    x = random_array(rng, (dense.shape[0], 3), dtype)
    check_op(op.H, dense.conj().T, x, dtype, backend, bound)
    check_op(op.T, dense.T, x, dtype, backend, bound)
    xr = x[:, 0]
    got = op.rmatvec(xr)
    check_close(got, dense.conj().T @ hi(xr), bound, hi(xr), dtype, inner=8)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_and_operator_factors_mixed_in(backend, rng, dtype):
    a = banded(rng, 5, dtype, [-1, 0, 1])
    b = random_array(rng, (4, 4), dtype)  # dense: a mode product
    c = aslinearoperator(banded(rng, 3, dtype, [0, 2]))  # an operator
    d = banded(rng, 6, dtype, [-1, 0, 1, 2, 3, 4, 5])  # too many diagonals
    op = KronSum(a, b, c, d)
    dense = dense_sum([a, b, c, d])
    x = random_array(rng, (dense.shape[0], 2), dtype)
    check_op(op, dense, x, dtype, backend, abs_sum([a, b, c, d]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_mass_matrices(backend, rng, dtype, monkeypatch):
    from kronop._engine import fused_stencil as fs

    monkeypatch.setattr(fs, "TERMS_MIN_SIZE", 1)  # fused at this small size too
    ns = (4, 5, 6)
    A = [banded(rng, n, dtype, [-1, 0, 1]) for n in ns]
    M = [banded(rng, ns[0], dtype, [-1, 0, 1]), None, banded(rng, ns[2], dtype, [0, 2])]
    op = KronSum(*A, mass=M)
    dense = dense_sum(A, 0, M)
    bound = abs_sum(A, 0, M)
    x = random_array(rng, (dense.shape[0], 3), dtype)
    check_op(op, dense, x, dtype, backend, bound)
    shifted = KronSum._from_factors(op._factors, op._mass, 1.5)
    check_op(shifted, dense_sum(A, 1.5, M), x, dtype, backend, abs_sum(A, 1.5, M))
    check_op(op.H, dense.conj().T, x, dtype, backend, bound.T)


def test_empty_columns(backend, rng):
    L = laplacian((4, 5, 3))
    for dtype in DTYPES:
        x = np.zeros((60, 0), dtype)
        y = L @ x
        assert y.shape == (60, 0)
        assert y.dtype == np.result_type(np.float64, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_and_inf_propagate_like_numpy(rng, dtype):
    L = laplacian((5, 6, 7), bc="periodic", dtype=dtype)
    x = random_array(rng, (L.shape[0], 2), dtype)
    x[17, 0] = np.nan
    x[101, 1] = np.inf
    from kronop import set_fused

    prev = set_fused(False)
    try:
        with np.errstate(invalid="ignore"):  # numpy warns on complex inf·0
            want = L @ x
    finally:
        set_fused(prev)
    if jit.available():
        prev = set_fused(True)
        try:
            got = L @ x
        finally:
            set_fused(prev)
        if np.dtype(dtype).kind == "f":
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
            np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
        else:
            # complex infinities: (−1+0j)·(inf+0j) has a NaN imaginary part (as
            # in a CSR product), where a subtraction keeps it finite; the same
            # entries are non-finite either way
            np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))
        fin = np.isfinite(want)
        scale = np.max(np.abs(want[fin]))
        assert np.max(np.abs(got[fin] - want[fin])) <= 64 * eps(dtype) * scale


# -------------------------------------------------------------- kernel level
def _both(factors, shift, x, dtype):
    from kronop._engine import fused_stencil as fs

    ref = nk.apply_sum(factors, shift, x, EngineCache(), dtype)
    got = fs.apply_sum(factors, shift, x, EngineCache(), dtype)
    return got, ref


def _close(got, ref, dtype, scale):
    tol = 64 * eps(dtype) * scale
    assert got.shape == ref.shape
    assert got.dtype == ref.dtype
    assert np.max(np.abs(got - ref), initial=0.0) <= tol


@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_kernel_matches_numpy_reference(fused, rng, dtype, layout):
    factors = KronSum(
        *(banded(rng, n, dtype, [-2, -1, 0, 1]) for n in (6, 5, 7))
    )._factors
    N = 210
    for B, K in [(1, 1), (3, 1), (1, 4), (2, 5), (2, 20)]:
        base = random_array(rng, (B, N, 2 * K), dtype)
        if layout == "C":
            x = np.ascontiguousarray(base[:, :, :K])
        elif layout == "F":
            x = np.asfortranarray(base[:, :, :K])
        else:
            x = base[:, :, ::2]
        before = x.copy()
        got, ref = _both(factors, 0.25, x, dtype)
        np.testing.assert_array_equal(x, before)  # never modified
        assert not np.shares_memory(got, x)
        _close(got, ref, dtype, 16 * np.max(np.abs(x)))


@needs_numba
def test_kernel_applies_and_declines(fused, rng):
    from kronop._engine import fused_stencil as fs

    L = laplacian((6, 7, 8))
    x = rng.standard_normal((1, L.shape[0], 1))
    assert fs.apply_sum(L._factors, 0, x, EngineCache(), np.float64) is not None
    tiny = rng.standard_normal((1, 6, 1))
    small = laplacian((2, 3))
    assert fs.apply_sum(small._factors, 0, tiny, EngineCache(), np.float64) is None
    dense_only = KronSum(rng.standard_normal((8, 8)), rng.standard_normal((9, 9)))
    x = rng.standard_normal((1, 72, 1))
    assert fs.apply_sum(dense_only._factors, 0, x, EngineCache(), np.float64) is None
    prev = jit.set_enabled(False)
    try:
        assert fs.apply_sum(L._factors, 0, x, EngineCache(), np.float64) is None
    finally:
        jit.set_enabled(prev)


@needs_numba
def test_result_owns_its_memory(fused, rng):
    from kronop._engine import fused_stencil as fs

    L = laplacian((9, 8, 7))
    cache = EngineCache()
    x = rng.standard_normal((1, L.shape[0], 2))
    y1 = fs.apply_sum(L._factors, 0, x, cache, np.float64)
    y2 = fs.apply_sum(L._factors, 0, 2 * x, cache, np.float64)
    assert not np.shares_memory(y1, y2)
    assert y1.flags.writeable
    np.testing.assert_allclose(y2, 2 * y1, rtol=1e-13, atol=1e-13)


@needs_numba
def test_threads_give_the_same_result(fused, rng, monkeypatch):
    from kronop._engine import fused_stencil as fs

    L = laplacian((40, 30, 20), bc="periodic")
    x = rng.standard_normal((1, L.shape[0], 1))
    one = fs.apply_sum(L._factors, 0.5, x, EngineCache(), np.float64)
    monkeypatch.setattr(fs, "THREADS_MIN_SIZE", 1)
    monkeypatch.setattr(jit, "num_threads", lambda: 2)
    two = fs.apply_sum(L._factors, 0.5, x, EngineCache(), np.float64)
    np.testing.assert_array_equal(one, two)


@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
def test_terms_kernel_matches_numpy(fused, rng, dtype):
    from kronop._engine import fused_stencil as fs

    ns = (5, 4, 6)
    A = [banded(rng, n, dtype, [-1, 0, 1]) for n in ns]
    M = [banded(rng, n, dtype, [-1, 0, 1]) for n in ns]
    op = KronSum._from_factors(KronSum(*A)._factors, KronSum(*M)._factors, 0.5)
    terms = op._mass_terms()
    for B, K in [(1, 1), (2, 3), (1, 16)]:  # K·300: above the fused threshold
        x = random_array(rng, (B, 120, K * 300), dtype)
        ref = nk.apply_terms(terms, x, EngineCache(), op.dtype)
        got = fs.apply_terms(terms, x, EngineCache(), op.dtype)
        assert got is not None
        _close(got, ref, dtype, 64 * np.max(np.abs(x)))
    dense_mass = [random_array(rng, (n, n), dtype) for n in ns]
    op2 = KronSum._from_factors(KronSum(*A)._factors, KronSum(*dense_mass)._factors)
    x = random_array(rng, (1, 120, 300), dtype)
    assert fs.apply_terms(op2._mass_terms(), x, EngineCache(), op2.dtype) is None


# ---------------------------------------------------------------- hypothesis
@needs_numba
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    ns=st.lists(st.integers(1, 7), min_size=1, max_size=4),
    B=st.integers(1, 3),
    K=st.sampled_from([1, 2, 5, 16, 18]),
    width=st.integers(0, 4),
    seed=st.integers(0, 2**31),
    complex_op=st.booleans(),
)
def test_random_shapes_match_dense(fused, ns, B, K, width, seed, complex_op):
    from kronop._engine import fused_stencil as fs

    rng = np.random.default_rng(seed)
    dtype = np.complex128 if complex_op else np.float64
    factors = [banded(rng, n, dtype, random_offsets(rng, width)) for n in ns]
    op = KronSum(*factors)
    dense = dense_sum(factors, 0.75)
    N = dense.shape[0]
    x = rng.standard_normal((B, N, K))
    got = fs.apply_sum(op._factors, 0.75, x, EngineCache(), dtype)
    if got is None:  # too small for the fused kernel
        assert B * N * K < fs.FUSED_MIN_SIZE
        return
    want = np.einsum("ij,bjk->bik", dense, x)
    scale = np.einsum("ij,bjk->bik", abs_sum(factors, 0.75), np.abs(x))
    assert np.all(np.abs(got - want) <= 32 * eps(np.float64) * (scale + 1e-300))


def test_factors_without_a_diagonal_propagate_inf_like_csr(backend):
    """Off-diagonal-only factors: an infinite x[i] reaches only its neighbours."""
    import scipy.sparse as sp

    from kronop.kron import KronOperator
    from kronop.kronsum import KronSum
    from kronop.sums import KronProductSum

    n = 40
    A = sp.diags_array([np.ones(n - 1), -np.ones(n - 1)], offsets=[-1, 1], format="csr")
    D = sp.eye_array(n, format="csr") * 2.0
    eye = sp.eye_array(n, format="csr")

    def k3(a, b, c):
        return sp.kron(sp.kron(a, b), c, format="csr")

    cases = [
        (KronSum(A, A, A), k3(A, eye, eye) + k3(eye, A, eye) + k3(eye, eye, A)),
        (
            KronProductSum(KronOperator(A, A, D), KronOperator(D, A, A)),
            k3(A, A, D) + k3(D, A, A),
        ),
    ]
    for op, csr in cases:
        x = np.ones(op.shape[1])
        x[5 * n * n + 5 * n + 5] = np.inf
        y, ref = op @ x, csr @ x
        np.testing.assert_array_equal(np.isnan(y), np.isnan(ref))
        np.testing.assert_array_equal(np.isinf(y), np.isinf(ref))
