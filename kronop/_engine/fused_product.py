"""Fused Kronecker products: several modes per pass on cache-sized blocks (numba).

A Kronecker product of small factors is a chain of mode products that each do
little arithmetic per value (2n flops for 16 bytes moved at n ≲ 64), so a chain of
d whole-array passes is bound by memory, not by arithmetic. The kernels here
group neighbouring factor axes into *passes*. The tensor ``(B, n₁, …, n_d, K)`` is
viewed, for a pass over the axes ``a … b−1``, as ``(L, M, R)`` (M the pass's
axes, L and R everything before and after them). A *tile* takes G consecutive
indices of L and c consecutive indices of R, the whole of M: it is gathered into
a cache-resident buffer laid out ``(M, G, c)``, every factor of the pass is
applied to it in turn (each a mode product whose contiguous inner run is at
least G·c values long, so the loops vectorize), and it is written back once. A
product of d small factors then costs a few passes over memory instead of d.

Decisions are made per operator and input form and stored in the operator's
engine cache: which axes form each pass, in which order the passes and the
factors within a pass run (the flop-optimal order of :mod:`.plan` for
rectangular factors), and the tile shape. Factors that are not dense, two-pass
eigen-solves, factors larger than :data:`MAX_FUSED_N` and blocks of fewer than
:data:`MIN_FUSED_K` right-hand sides return None: the numpy chain (BLAS GEMMs)
measured as fast or faster there.

The spectral product (⊗V)·diag(w)·(⊗V⁻¹) runs the passes of both chains and
multiplies by w while the last pass of V⁻¹ writes its tiles, so no separate
sweep over the length-N vector is needed.

One compiled specialization per dtype serves every shape: per-pass factor data
are padded into 3-D arrays and the axis sizes passed as integer arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import jit
from .plan import compute_dtype

__all__ = ["apply_product", "apply_spectral"]

#: the largest factor (rows or columns) a fused product takes, and the fewest
#: right-hand sides. Measured on the project machine (AMD EPYC, OpenBLAS Haswell
#: kernels, one thread, CPU time) the mode-product kernel here reaches 15–25
#: GFLOP/s, about what OpenBLAS reaches on one mode product of a small factor, so
#: saving passes over memory pays only where the numpy chain also loses to short
#: GEMMs and layout changes: n ≤ 8 with k = 16 right-hand sides ran 1.2× faster
#: than the chain (1.9× the best plain loop), while d=6 n=10, d=8 n=6 (0.9×) and
#: d=4 n=30, d=5 n=16 (0.6–0.7×) with k = 1 ran slower
MAX_FUSED_N = 8
MIN_FUSED_K = 8
#: values per tile buffer (two per thread): 2¹⁵ float64 values are 256 KiB, so a
#: thread's pair stays in its 1 MiB L2 cache
TILE_VALUES = 1 << 15
#: the narrowest tile (G·c values): the kernel's inner loops run over it
MIN_WIDTH = 16
#: below this many values (B·N·K) one thread runs the whole product
THREADS_MIN_SIZE = 1 << 16


# ---------------------------------------------------------------------------
# Compiled kernels
# ---------------------------------------------------------------------------
# The element loops run over slices of flat arrays: numba then knows every
# index is in range and non-negative, emits no negative-index fix-up, and LLVM
# vectorizes the innermost loop.
@jit.njit
def _mode(F, m, n, src, dst, L, R):
    """``dst (L, m, R) = F (m, n) applied along the middle axis of src (L, n, R)``.

    Two output rows at a time, each the sum of source rows weighted by a row of
    F, four source rows per sweep: six loads and two stores per eight
    multiply-adds, and the inner loop over the contiguous axis R vectorizes with
    FMAs. (Two outputs and four sources are eight possible overlaps, which LLVM
    still checks at run time; more would keep the loop scalar.)
    """
    for l in range(L):
        so = l * n * R
        do = l * m * R
        i = 0
        while i + 2 <= m:
            d0 = dst[do + i * R : do + i * R + R]
            d1 = dst[do + i * R + R : do + i * R + 2 * R]
            for r in range(R):
                d0[r] = 0
                d1[r] = 0
            k = 0
            while k + 4 <= n:
                a0 = F[i, k]
                a1 = F[i, k + 1]
                a2 = F[i, k + 2]
                a3 = F[i, k + 3]
                b0 = F[i + 1, k]
                b1 = F[i + 1, k + 1]
                b2 = F[i + 1, k + 2]
                b3 = F[i + 1, k + 3]
                b = so + k * R
                s0 = src[b : b + R]
                s1 = src[b + R : b + 2 * R]
                s2 = src[b + 2 * R : b + 3 * R]
                s3 = src[b + 3 * R : b + 4 * R]
                for r in range(R):
                    x0 = s0[r]
                    x1 = s1[r]
                    x2 = s2[r]
                    x3 = s3[r]
                    d0[r] += a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3
                    d1[r] += b0 * x0 + b1 * x1 + b2 * x2 + b3 * x3
                k += 4
            while k < n:
                a0 = F[i, k]
                b0 = F[i + 1, k]
                s0 = src[so + k * R : so + k * R + R]
                for r in range(R):
                    x0 = s0[r]
                    d0[r] += a0 * x0
                    d1[r] += b0 * x0
                k += 1
            i += 2
        if i < m:
            d0 = dst[do + i * R : do + i * R + R]
            for r in range(R):
                d0[r] = 0
            for k in range(n):
                a0 = F[i, k]
                s0 = src[so + k * R : so + k * R + R]
                for r in range(R):
                    d0[r] += a0 * s0[r]


@jit.njit
def _run_pass(X, Y, Fs, mdims, ndims, order, Lx, R, G, c, W, wts, K, t, nt):
    """Task ``t`` of ``nt`` of one pass: its share of the tiles, X → Y.

    X is ``(Lx, ∏ndims, R)`` and Y ``(Lx, ∏mdims, R)``, both flat and C-ordered;
    ``order`` lists the pass's axes to apply (identities are left out), ``Fs[j]``
    holds axis j's factor (padded). ``W`` holds two tile buffers per task. With a
    non-empty ``wts``, each output value is multiplied by ``wts[i]``, i its index
    in the length-N vector of the ``(B, N, K)`` block (``K`` right-hand sides).
    """
    q = ndims.shape[0]
    Min = 1
    Mout = 1
    for j in range(q):
        Min *= ndims[j]
        Mout *= mdims[j]
    nl = (Lx + G - 1) // G
    nr = (R + c - 1) // c
    ntiles = nl * nr
    start = t * ntiles // nt
    stop = (t + 1) * ntiles // nt
    cur = np.empty(q, np.int64)
    A = W[2 * t]
    Bf = W[2 * t + 1]
    for tile in range(start, stop):
        l0 = (tile // nr) * G
        r0 = (tile % nr) * c
        g = min(G, Lx - l0)
        cc = min(c, R - r0)
        w = g * cc
        _gather(X, A, Min, R, l0, g, r0, cc)
        for j in range(q):
            cur[j] = ndims[j]
        src = A
        dst = Bf
        for p in range(order.shape[0]):
            j = order[p]
            Lm = 1
            for i in range(j):
                Lm *= cur[i]
            Rm = w
            for i in range(j + 1, q):
                Rm *= cur[i]
            _mode(Fs[j], mdims[j], ndims[j], src, dst, Lm, Rm)
            cur[j] = mdims[j]
            src, dst = dst, src
        _scatter(src, Y, Mout, R, l0, g, r0, cc, wts, K)


@jit.njit
def _gather(X, A, M, R, l0, g, r0, cc):
    """``A (M, g, cc) = X[l0:l0+g, :, r0:r0+cc]`` of X viewed (·, M, R)."""
    base = l0 * M * R + r0
    if g == 1:
        for mid in range(M):
            a = A[mid * cc : mid * cc + cc]
            b = X[base + mid * R : base + mid * R + cc]
            for e in range(cc):
                a[e] = b[e]
    elif cc == 1:
        # R = 1: the tile is the contiguous block (g, M); transpose it
        for gi in range(g):
            b = X[base + gi * M : base + gi * M + M]
            a = A[gi:]
            for mid in range(M):
                a[mid * g] = b[mid]
    else:
        for mid in range(M):
            for gi in range(g):
                a = A[(mid * g + gi) * cc : (mid * g + gi) * cc + cc]
                s = base + gi * M * R + mid * R
                b = X[s : s + cc]
                for e in range(cc):
                    a[e] = b[e]


@jit.njit
def _scatter(A, Y, M, R, l0, g, r0, cc, wts, K):
    """``Y[l0:l0+g, :, r0:r0+cc] = A (M, g, cc)`` of Y viewed (·, M, R).

    With a non-empty ``wts``, each value is multiplied by ``wts[i]``, i its row
    in the ``(B, N, K)`` block (N = ``len(wts)``).
    """
    base = l0 * M * R + r0
    N = wts.shape[0]
    if N == 0 and g == 1:
        for mid in range(M):
            a = A[mid * cc : mid * cc + cc]
            y = Y[base + mid * R : base + mid * R + cc]
            for e in range(cc):
                y[e] = a[e]
    elif N == 0 and cc == 1:
        for gi in range(g):
            y = Y[base + gi * M : base + gi * M + M]
            a = A[gi:]
            for mid in range(M):
                y[mid] = a[mid * g]
    else:
        for mid in range(M):
            for gi in range(g):
                a = A[(mid * g + gi) * cc : (mid * g + gi) * cc + cc]
                s = base + gi * M * R + mid * R
                y = Y[s : s + cc]
                if N == 0:
                    for e in range(cc):
                        y[e] = a[e]
                else:
                    # row of value s in the (B, N, K) block: (s mod N·K) // K
                    e0 = s % (N * K)
                    for e in range(cc):
                        y[e] = a[e] * wts[(e0 + e) // K]


# ---------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _Pass:
    """One pass over memory: the axes ``lo … hi−1`` applied to tiles."""

    lo: int
    hi: int
    Fs: np.ndarray  # (hi − lo, max m, max n) padded factors, working dtype
    mdims: np.ndarray
    ndims: np.ndarray
    order: np.ndarray  # positions (relative to lo) to apply, in order
    Lx: int
    R: int
    size_in: int
    size_out: int
    G: int
    c: int
    tile: int  # values per tile buffer


@dataclass(frozen=True)
class _Product:
    """A fused product: its passes in the order they run."""

    passes: tuple[_Pass, ...]
    work: int  # values of the larger intermediate between passes (0: none)
    tile: int  # values per tile buffer, the largest over the passes
    size: int  # B·N·K, for the thread decision


def _key(f) -> float:
    m, n = f.shape
    return (1.0 - m / n) / (2.0 * m)


def _peak(dims) -> int:
    """Largest intermediate of the in-pass chain (values of the M axes).

    ``dims`` holds ``(m, n, active, priority)`` per axis (see :func:`_weighted`).
    """
    cur = [d[1] for d in dims]
    best = math.prod(cur)
    for i in _order(dims):
        cur[i] = dims[i][0]
        best = max(best, math.prod(cur))
    return best


def _order(dims) -> list[int]:
    """The active axes of a pass in the order they are applied (shrinking first)."""
    return sorted((i for i, d in enumerate(dims) if d[2]), key=lambda i: -dims[i][3])


def _groups(factors) -> list[tuple[int, int]]:
    """Neighbouring axes grouped into passes, from the last axis to the first.

    A group grows while its largest intermediate leaves room for a tile at least
    :data:`MIN_WIDTH` wide; identity axes at a group's edge are left to L or R.
    """
    cap = TILE_VALUES // MIN_WIDTH
    groups: list[tuple[int, int]] = []
    hi = None
    lo = None
    for j in range(len(factors) - 1, -1, -1):
        f = factors[j]
        if hi is None:
            if f.is_identity:
                continue
            hi, lo = j + 1, j
            continue
        if _peak(_weighted(factors, j, hi)) <= cap:
            lo = j
            continue
        groups.append((lo, hi))
        hi = lo = None
        if not f.is_identity:
            hi, lo = j + 1, j
    if hi is not None:
        groups.append((lo, hi))
    # trim identity axes at the low edge of each group
    out = []
    for lo, hi in groups:
        while factors[lo].is_identity:
            lo += 1
        out.append((lo, hi))
    return out


def _weighted(factors, lo, hi):
    """``(m, n, active, priority)`` per axis ``lo … hi−1``; identities are inactive.

    The priority is the flop-optimal sort key of :mod:`.plan`.
    """
    return [
        (f.shape[0], f.shape[1], not f.is_identity, _key(f)) for f in factors[lo:hi]
    ]


def _tile_shape(peak: int, Lx: int, R: int) -> tuple[int, int]:
    """(G, c): rows of L and columns of R per tile, G·c·peak ≤ TILE_VALUES."""
    width = max(MIN_WIDTH, TILE_VALUES // max(peak, 1))
    if width <= R:
        c = width if width < 8 else width - width % 8
        return 1, c
    return max(1, min(Lx, width // R)), R


def _build(factors, B: int, K: int, dtype: np.dtype) -> _Product | None:
    """The fused plan for this input form, or None where the BLAS chain wins."""
    active = [f for f in factors if not f.is_identity]
    if not active:
        return None
    if K < MIN_FUSED_K:
        return None
    for f in active:
        if not f.gemm or f.gemm_passes != 1 or max(f.shape) > MAX_FUSED_N:
            return None
    groups = _groups(factors)
    # fusing pays only where some pass applies several factors
    multi = any(
        sum(not factors[i].is_identity for i in range(lo, hi)) > 1 for lo, hi in groups
    )
    if not multi:
        return None

    # passes run in the flop-optimal order of their groups (shrinking first)
    def gkey(g):
        lo, hi = g
        m = math.prod(factors[i].shape[0] for i in range(lo, hi))
        n = math.prod(factors[i].shape[1] for i in range(lo, hi))
        cost = sum(2.0 * factors[i].shape[0] for i in range(lo, hi))
        return -(1.0 - m / n) / cost

    groups = sorted(groups, key=gkey)
    cur = [f.shape[1] for f in factors]
    passes = []
    work = 0
    tile_max = 0
    for k, (lo, hi) in enumerate(groups):
        dims = _weighted(factors, lo, hi)
        peak = _peak(dims)
        Lx = B * math.prod(cur[:lo])
        R = math.prod(cur[hi:]) * K
        G, c = _tile_shape(peak, Lx, R)
        q = hi - lo
        mm = max(factors[i].shape[0] for i in range(lo, hi))
        nn = max(factors[i].shape[1] for i in range(lo, hi))
        Fs = np.zeros((q, mm, nn), dtype)
        for i in range(lo, hi):
            if not factors[i].is_identity:
                m, n = factors[i].shape
                Fs[i - lo, :m, :n] = factors[i].as_dtype(dtype)
        order = _order(dims)
        size_in = Lx * math.prod(cur[lo:hi]) * R
        for i in range(lo, hi):
            cur[i] = factors[i].shape[0]
        size_out = Lx * math.prod(cur[lo:hi]) * R
        if k < len(groups) - 1:
            work = max(work, size_out)
        tile = peak * G * c
        tile_max = max(tile_max, tile)
        passes.append(
            _Pass(
                lo,
                hi,
                Fs,
                np.array([factors[i].shape[0] for i in range(lo, hi)], np.int64),
                np.array([factors[i].shape[1] for i in range(lo, hi)], np.int64),
                np.array(order, np.int64),
                Lx,
                R,
                size_in,
                size_out,
                G,
                c,
                tile,
            )
        )
    size = B * math.prod(f.shape[1] for f in factors) * K
    return _Product(tuple(passes), work, tile_max, size)


# ---------------------------------------------------------------------------
# Execution
# ---------------------------------------------------------------------------
_NO_WEIGHTS: dict[np.dtype, np.ndarray] = {}


def _no_weights(dtype) -> np.ndarray:
    got = _NO_WEIGHTS.get(dtype)
    if got is None:
        got = _NO_WEIGHTS[dtype] = np.empty(0, dtype)
    return got


def _run(chains, x: np.ndarray, out: np.ndarray, cache, dtype, weights, K) -> None:
    """Run the passes of ``chains`` (a list of (_Product, scale_after)) x → out."""
    passes = [ps for prod, scale in chains for ps in _last_flag(prod, scale)]
    work = max(prod.work for prod, _ in chains)
    # a chain's output is the next chain's input: it needs a work buffer too
    for prod, _ in chains[:-1]:
        work = max(work, prod.passes[-1].size_out)
    tile = max(prod.tile for prod, _ in chains)
    threads = (
        jit.num_threads() if max(p.size for p, _ in chains) >= THREADS_MIN_SIZE else 1
    )
    # two buffers, as the numpy chain keeps: the operator's workspace is shared
    # with it and would be reallocated on every switch between the two
    nbufs = 2
    need_work = work if len(passes) > 1 else 0
    ws = cache.workspace.acquire(dtype, need_work, nbufs) if need_work else []
    owned_ws = bool(need_work) and ws is not None
    if ws is None:
        ws = [np.empty(need_work, dtype) for _ in range(nbufs)]
    tl = cache.split_workspace.acquire(dtype, 2 * threads * tile, 1)
    owned_tl = tl is not None
    T = (tl[0] if owned_tl else np.empty(2 * threads * tile, dtype))[
        : 2 * threads * tile
    ].reshape(2 * threads, tile)
    none = _no_weights(dtype)
    try:
        src = x
        last = len(passes) - 1
        for i, (p, scale) in enumerate(passes):
            dst = out if i == last else ws[i % len(ws)][: p.size_out]
            wts = weights if scale else none

            def task(t, nt, p=p, src=src, dst=dst, wts=wts):
                _run_pass(
                    src,
                    dst,
                    p.Fs,
                    p.mdims,
                    p.ndims,
                    p.order,
                    p.Lx,
                    p.R,
                    p.G,
                    p.c,
                    T,
                    wts,
                    K,
                    t,
                    nt,
                )

            ntiles = -(-p.Lx // p.G) * -(-p.R // p.c)
            jit.run_tasks(task, ntiles, threads)
            src = dst
    finally:
        if owned_ws:
            cache.workspace.release()
        if owned_tl:
            cache.split_workspace.release()


def _last_flag(prod: _Product, scale: bool):
    """The chain's passes, each with whether it scales (only the last may)."""
    n = len(prod.passes)
    return [(p, scale and i == n - 1) for i, p in enumerate(prod.passes)]


def _input(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """x as a flat C-ordered array of ``dtype`` (x itself when it already is)."""
    return np.ascontiguousarray(x, dtype=dtype).reshape(-1)


def _fused_shape(factors, x) -> tuple[int, int, int] | None:
    """The result's shape (B, M, K), or None when nothing should be fused.

    None when the compiled kernels are off, or the input or the result is empty
    (the numpy kernel returns those).
    """
    if not jit.enabled() or x.size == 0:
        return None
    B, _N, K = x.shape
    M = math.prod(f.shape[0] for f in factors)
    return (B, M, K) if B * M * K > 0 else None


def apply_product(factors, x, cache, dtype=None):
    r"""(A₁⊗…⊗A_d) x in a few fused passes, or None when BLAS passes are faster.

    Same contract as :func:`kronop._engine.numpy_kernels.apply_product`: ``x`` has
    shape (B, N, K), any dtype and layout, and is never modified; the working
    dtype is NumPy's promotion of ``dtype`` (default: the factors') and
    ``x.dtype``, at least floating point; the result is a new (B, M, K) array.

    Parameters
    ----------
    factors : list of Factor
        A₁ … A_d (axis 0 slowest); rectangular factors and identities allowed.
    x : ndarray, shape (B, N, K)
        The stacked input blocks.
    cache : EngineCache
        The operator's plans and buffers (the fused plan is kept there).
    dtype : dtype, optional
        The operator's dtype.

    Returns
    -------
    ndarray or None
        ``y`` of shape (B, M, K); None when numba is missing or switched off, the
        block is empty, a factor is not dense (sparse, operator, transform,
        eigen-solve) or larger than :data:`MAX_FUSED_N`, K is below
        :data:`MIN_FUSED_K`, or no pass would apply two factors.

    Notes
    -----
    A pass over the axes a … b−1 views the tensor as (L, M, R) and computes, tile
    by tile (G rows of L, c columns of R, the whole of M),

    .. math::

        Y[l, :, r] = \Big(\bigotimes_{j=a}^{b-1} A_j\Big)\, X[l, :, r],

    one mode product after another on the cache-resident tile. Passes run in the
    flop-optimal order of their groups, so a product of d small factors reads and
    writes the tensor once per pass instead of once per factor.

    Examples
    --------
    >>> import numpy as np
    >>> from kronop._engine import EngineCache
    >>> from kronop._factor import as_factor
    >>> rng = np.random.default_rng(0)
    >>> factors = [as_factor(rng.standard_normal((4, 4)), j) for j in range(3)]
    >>> x = rng.standard_normal((1, 64, 8))
    >>> y = apply_product(factors, x, EngineCache())
    >>> dense = np.kron(np.kron(factors[0].matrix, factors[1].matrix),
    ...                 factors[2].matrix)
    >>> y is None or bool(np.allclose(y[0], dense @ x[0]))
    True
    """
    shape = _fused_shape(factors, x)
    if shape is None:
        return None
    B, M, K = shape
    if dtype is None:
        dtype = np.result_type(*(f.dtype for f in factors))
    dtype = compute_dtype(dtype, x.dtype)
    prod = cache.plan(
        ("fused", B, K, dtype), lambda _runs: _build(factors, B, K, dtype)
    )
    if prod is None:
        return None
    out = np.empty((B, M, K), dtype)
    _run([(prod, False)], _input(x, dtype), out.reshape(-1), cache, dtype, None, K)
    return out


def apply_spectral(inverse, weights, vectors, x, cache, dtype):
    r"""(⊗ vectors)·diag(weights)·(⊗ inverse) x, the scaling folded into a pass.

    Same contract as :func:`kronop._engine.numpy_kernels.apply_spectral`.

    Parameters
    ----------
    inverse, vectors : list of Factor
        The factors of V⁻¹ and V.
    weights : ndarray, shape (N,)
        The diagonal (1/(w + shift) of a spectral solve, f(w) of a function).
    x : ndarray, shape (B, N, K)
        The stacked input blocks.
    cache : EngineCache
        The plans and buffers (one child cache per chain).
    dtype : dtype
        The working dtype of the chains (promoted with ``x`` and ``weights``).

    Returns
    -------
    ndarray or None
        ``y`` of shape (B, M, K); None (the numpy kernel then runs) unless both
        chains are fused products (see :func:`apply_product`).

    Notes
    -----
    The last pass of the V⁻¹ chain writes each value times its weight,

    .. math::

        y = \Big(\bigotimes_j V_j\Big)\, \mathrm{diag}(w)\,
            \Big(\bigotimes_j V_j^{-1}\Big)\, x,

    so the scaling costs no pass of its own over the length-N vector.

    Examples
    --------
    >>> import numpy as np
    >>> from kronop._engine import EngineCache
    >>> from kronop._factor import as_factor
    >>> rng = np.random.default_rng(0)
    >>> qs = [np.linalg.qr(rng.standard_normal((4, 4)))[0] for _ in range(2)]
    >>> V = [as_factor(q, j) for j, q in enumerate(qs)]
    >>> Vi = [as_factor(np.ascontiguousarray(q.T), j) for j, q in enumerate(qs)]
    >>> w = np.arange(1.0, 17.0)
    >>> x = rng.standard_normal((1, 16, 8))
    >>> y = apply_spectral(Vi, w, V, x, EngineCache(), np.float64)
    >>> Q = np.kron(qs[0], qs[1])
    >>> y is None or bool(np.allclose(y[0], Q @ (w[:, None] * (Q.T @ x[0]))))
    True
    """
    shape = _fused_shape(vectors, x)
    if shape is None:
        return None
    B, M, K = shape
    dt = compute_dtype(dtype, x.dtype, weights.dtype)
    first = cache.sub("inverse").plan(
        ("fused", B, K, dt), lambda _runs: _build(inverse, B, K, dt)
    )
    if first is None:
        return None
    second = cache.sub("vectors").plan(
        ("fused", B, K, dt), lambda _runs: _build(vectors, B, K, dt)
    )
    if second is None:
        return None
    out = np.empty((B, M, K), dt)
    w = np.ascontiguousarray(weights, dtype=dt).reshape(-1)
    _run(
        [(first, True), (second, False)],
        _input(x, dt),
        out.reshape(-1),
        cache,
        dt,
        w,
        K,
    )
    return out
