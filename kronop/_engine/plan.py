"""Planning the engine's work: no arrays, only shapes, costs and layouts.

A Kronecker product A₁⊗…⊗A_d acting on a block of right-hand sides is a chain of
*mode products*: view the input as a C-ordered tensor ``(B, n₁, …, n_d, K)`` (B:
stacked batch, K: right-hand sides) and apply each factor along its own axis. This
module

* plans the order of the chain (:func:`flop_optimal_order`, provably optimal in the
  flop model of DESIGN.md §5),
* chooses, for every step, how to lay the tensor out so the step is one large BLAS
  call on a strided view (:func:`plan_chain`),
* decides when to run the chain slice by slice in cache (:func:`plan_split`), and
* compiles a sum of banded single-axis products into few array passes
  (:func:`plan_stencil`).

It is backend-free: the kernels that run the plans live beside it
(:mod:`kronop._engine.numpy_kernels`). It reads only the factors' shapes, costs and
capability flags.

How a step is done. Let the current tensor be C-ordered with its axes in some order
(the *layout*), and the axis to contract at position p with L elements before it and
R after it. Numpy's ``matmul`` maps onto one GEMM when each operand has a unit stride
in one of its two dimensions, so these are copy-free:

====================  ===============================  ==========================
name                  call                             layout afterwards
====================  ===============================  ==========================
``front_keep`` (L=1)  ``F @ X(n,R)`` → (m,R)           unchanged
``back_rot``  (R=1)   ``F @ X(L,n).T`` → (m,L)         axis moves to the front
``front_rot`` (L=1)   ``X(n,R).T @ F.T`` → (R,m)       axis moves to the end
``back_keep`` (R=1)   ``X(L,n) @ F.T`` → (L,m)         unchanged
``mid_keep``          ``F @ X(L,n,R)``, L GEMMs        unchanged
``mid_front``         copy to (n,L,R), then one GEMM   axis moves to the front
``along``             a fast transform along the axis  unchanged
====================  ===============================  ==========================

``front_keep`` and ``back_rot`` write a short-and-wide result and run closest to the
DGEMM peak on OpenBLAS (measured 70–77 GF/s against 38–52 for the other two at
n = 100, peak 100), so the planner prefers chains of them: applying the factors from
the last axis to the first with ``back_rot`` rotates the tensor back into natural
order without a single copy. A middle axis costs either a batched matmul or one
transposing copy; the planner estimates both and takes the cheaper. Sparse and
operator factors multiply only from the left, so they use ``front_keep``,
``back_rot`` or ``mid_front``; a fast transform works along any axis in place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import permutations

import numpy as np

from .._factor import Factor

__all__ = [
    "BATCH",
    "RHS",
    "Plan",
    "SplitPlan",
    "StencilPlan",
    "StencilTerm",
    "Step",
    "brute_force_order",
    "chain_flops",
    "compute_dtype",
    "flop_optimal_order",
    "plan_chain",
    "plan_split",
    "plan_stencil",
]


def compute_dtype(*dtypes) -> np.dtype:
    """The working dtype: NumPy's promotion, raised to floating point."""
    dtype = np.result_type(*dtypes)
    if dtype.kind not in "fc":
        dtype = np.result_type(dtype, np.float64)
    return dtype


# Axis ids in a layout: factor axes are 0..d-1; the two batch axes are negative.
BATCH, RHS = -1, -2

# Relative speed of each step form (fraction of the speed of ``front_keep``),
# measured with numpy 2.4 / OpenBLAS (SkylakeX and Haswell kernels) on the project
# machine for factors of size 10..400 (``mid_front`` includes its copy). Only the
# ratios matter: they steer the choice between layouts, never correctness.
_EFFICIENCY = {
    "front_keep": 1.0,
    "back_rot": 1.0,
    "back_keep": 0.85,
    "mid_keep": 0.8,
    "front_rot": 0.7,
    "mid_front": 0.65,
}
_PEAK_FLOPS = 100e9  # per second; only the ratio to the bandwidths below matters
_COPY_BW = 20e9  # bytes/s for a copy whose inner contiguous run is long
_TRANSPOSE_BW = 2.5e9  # bytes/s when the inner run is short (a true 2-D transpose)
_CALL_OVERHEAD = 1.5e-6  # seconds per BLAS call inside a batched matmul


# ---------------------------------------------------------------------------
# Order of the chain
# ---------------------------------------------------------------------------
def _key(f: Factor) -> float:
    m, n = f.shape
    return (1.0 - m / n) / f.cost


def flop_optimal_order(factors: list[Factor]) -> list[list[int]]:
    """Order in which to apply the non-identity factors, as groups of equal rank.

    Returns
    -------
    list of list of int
        Factor indices grouped by the sort key ``(1 − mⱼ/nⱼ)/cⱼ`` (largest first).
        Any order *within* a group costs the same, which leaves the executor free
        to pick the order that needs no copies.

    Notes
    -----
    Applying factor j (mⱼ×nⱼ, cost cⱼ flops per input element) to a tensor of S
    elements costs cⱼS flops and leaves S·rⱼ elements, rⱼ = mⱼ/nⱼ. For two factors
    a, b applied in turn to size S the cost is ``S(c_a + r_a c_b)``; swapped it is
    ``S(c_b + r_b c_a)``. Everything before and after the pair is unchanged by the
    swap (the size after both is ``S r_a r_b`` either way), so a before b is no
    worse exactly when ``c_a + r_a c_b ≤ c_b + r_b c_a``, i.e.
    ``c_a(1 − r_b) ≤ c_b(1 − r_a)``, i.e. (dividing by ``c_a c_b > 0``)
    ``(1 − r_a)/c_a ≥ (1 − r_b)/c_b``. Any order can be bubble-sorted by this key
    through adjacent swaps, none of which raises the cost, so the sorted order is
    optimal; orders that differ only within ties cost the same. Shrinking factors
    (r < 1) come first, cheapest per unit of shrinkage first; growing ones last.
    """
    active = [j for j, f in enumerate(factors) if not f.is_identity]
    keyed = sorted(active, key=lambda j: -_key(factors[j]))
    groups: list[list[int]] = []
    for j in keyed:
        if groups and math.isclose(
            _key(factors[groups[-1][0]]), _key(factors[j]), rel_tol=1e-12, abs_tol=1e-15
        ):
            groups[-1].append(j)
        else:
            groups.append([j])
    return groups


def chain_flops(
    factors: list[Factor], order: list[int], size: int | None = None
) -> float:
    """Flops of applying ``factors`` in ``order`` to a tensor of ``size`` elements.

    ``size`` defaults to ∏ nⱼ (one right-hand side).
    """
    s = float(size if size is not None else math.prod(f.shape[1] for f in factors))
    total = 0.0
    for j in order:
        f = factors[j]
        total += f.cost * s
        s *= f.shape[0] / f.shape[1]
    return total


def brute_force_order(factors: list[Factor]) -> tuple[float, list[int]]:
    """Cheapest order by trying every permutation (for tests; d ≤ 7)."""
    active = [j for j, f in enumerate(factors) if not f.is_identity]
    best = (math.inf, active)
    for perm in permutations(active):
        c = chain_flops(factors, list(perm))
        if c < best[0]:
            best = (c, list(perm))
    return best


# ---------------------------------------------------------------------------
# Layout planning
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """One mode product: apply factor ``j`` as ``op`` on a tensor viewed (L, n, R)."""

    j: int
    op: str
    L: int
    n: int
    R: int
    m: int


@dataclass(frozen=True)
class Plan:
    """A planned chain: the steps, the final layout and the largest intermediate."""

    steps: tuple[Step, ...]
    layout: tuple[int, ...]  # axis ids of the final tensor, outermost first
    sizes: tuple[int, ...]  # their sizes
    max_size: int  # elements of the largest intermediate (for buffers)
    direct_output: bool  # the last step can write the result in place


def _options(f: Factor, L: int, R: int) -> list[str]:
    if f.along_axis:
        return ["along"]
    if f.gemm:
        if L == 1 and R == 1:
            return ["front_keep"]
        if L == 1:
            return ["front_keep", "front_rot"]
        if R == 1:
            return ["back_rot", "back_keep"]
        return ["mid_keep", "mid_front"]
    # sparse and operator factors only multiply from the left: F @ X(n, ·)
    if L == 1:
        return ["front_keep"]
    if R == 1:
        return ["back_rot"]
    return ["mid_front"]


def _after(layout: tuple[int, ...], j: int, op: str) -> tuple[int, ...]:
    if op in ("front_keep", "back_keep", "mid_keep", "along"):
        return layout
    rest = tuple(a for a in layout if a != j)
    if op in ("back_rot", "mid_front"):
        return (j, *rest)
    return (*rest, j)  # front_rot


def _seconds(
    f: Factor, op: str, L: int, n: int, R: int, m: int, itemsize: int
) -> float:
    """Rough time of one step: flops at the form's speed, plus per-call overhead."""
    size = L * n * R
    if f.along_axis:
        # an FFT-based transform: a few passes over memory plus its flops
        return 3 * (size + L * m * R) * itemsize / _COPY_BW + f.cost * size / (
            _PEAK_FLOPS * 0.1
        )
    if not f.gemm:
        # sparse/operator products are memory-bound: read input, write output
        t = (size + L * m * R) * itemsize / _COPY_BW
        if op == "mid_front":
            t += 2 * size * itemsize / (_COPY_BW if R >= 64 else _TRANSPOSE_BW)
        return t
    t = f.cost * size / (_PEAK_FLOPS * _EFFICIENCY[op])
    if op == "mid_keep":
        t += L * _CALL_OVERHEAD
    return t


def _acceptable(layout, sizes) -> bool:
    """Whether the factor axes sit together, in order, so the result is a view.

    Axes of size 1 may sit anywhere: they take no room in memory.
    """
    big = [a for a, s in zip(layout, sizes, strict=True) if s > 1]
    fa = [a for a in big if a >= 0]
    if fa != sorted(fa):
        return False
    if not fa:
        return True
    i0, i1 = big.index(fa[0]), big.index(fa[-1])
    return i1 - i0 + 1 == len(fa)


def plan_chain(
    factors: list[Factor],
    batch: int,
    rhs: int,
    input_layout: str,
    itemsize: int = 8,
) -> Plan:
    """Plan the mode products for an input ``(batch, N, rhs)``.

    The order of the factors is fixed up to ties by :func:`flop_optimal_order`;
    within ties, and for the form of each step, the planner searches for the
    chain of least estimated time (exhaustively, memoized over layouts; by a beam
    search when more than 4 factors tie).

    Parameters
    ----------
    factors : list of Factor
    batch, rhs : int
        Sizes of the stacked-batch and right-hand-side axes (1 when absent).
    input_layout : {"C", "K"}
        ``"C"``: the input is C-ordered (B, N, K). ``"K"``: it is C-ordered as
        (K, B, N) (the transpose of a Fortran-ordered (N, K) block).
    itemsize : int
        Bytes per element, for the copy estimates.
    """
    d = len(factors)
    if input_layout == "C":
        layout0 = (BATCH, *range(d), RHS)
    else:
        layout0 = (RHS, BATCH, *range(d))
    base = {BATCH: batch, RHS: rhs}
    groups = tuple(tuple(g) for g in flop_optimal_order(factors))
    done_after = []  # factor axes applied before each group
    acc: tuple[int, ...] = ()
    for g in groups:
        done_after.append(acc)
        acc = acc + g

    def sizes_of(done: frozenset) -> dict:
        sz = dict(base)
        for j, f in enumerate(factors):
            sz[j] = f.shape[0] if j in done else f.shape[1]
        return sz

    def moves(layout, gi, left, done):
        """Candidate steps from a state: (seconds, j, op, L, R, m, new_layout)."""
        sz = sizes_of(done)
        out = []
        for j in left:
            p = layout.index(j)
            L = math.prod(sz[a] for a in layout[:p])
            R = math.prod(sz[a] for a in layout[p + 1 :])
            f = factors[j]
            for op in _options(f, L, R):
                t = _seconds(f, op, L, sz[j], R, f.shape[0], itemsize)
                out.append((t, j, op, L, R, f.shape[0], _after(layout, j, op)))
        return out

    def final_cost(layout, done) -> float:
        sz = sizes_of(done)
        sizes = tuple(sz[a] for a in layout)
        if _acceptable(layout, sizes):
            return 0.0
        return 2 * math.prod(sizes) * itemsize / _TRANSPOSE_BW

    exhaustive = max((len(g) for g in groups), default=0) <= 4
    memo: dict = {}

    def best(layout, gi, left, done):
        """Least time from this state to the end, and the first move taken."""
        if not left:
            gi += 1
            if gi == len(groups):
                return final_cost(layout, done), None
            left = frozenset(groups[gi])
        key = (layout, gi, left)
        if key in memo:
            return memo[key]
        result = (math.inf, None)
        for c in moves(layout, gi, left, done):
            rest, _ = best(c[6], gi, left - {c[1]}, done | {c[1]})
            if c[0] + rest < result[0] * (1 - 1e-9):
                result = (c[0] + rest, c)
        memo[key] = result
        return result

    def beam(width: int = 48):
        """Beam search over whole chains, for many tied factors."""
        # state: (time so far, layout, group index, left, done, moves)
        states = [(0.0, layout0, 0, frozenset(groups[0]), frozenset(), ())]
        for _ in range(sum(len(g) for g in groups)):
            nxt = {}
            for t, lay, gi, left, done, path in states:
                if not left:
                    gi, left = gi + 1, frozenset(groups[gi + 1])
                for c in moves(lay, gi, left, done):
                    st = (t + c[0], c[6], gi, left - {c[1]}, done | {c[1]}, (*path, c))
                    key = st[1:4]
                    if key not in nxt or st[0] < nxt[key][0]:
                        nxt[key] = st
            states = sorted(nxt.values(), key=lambda s: s[0])[:width]
        return min(states, key=lambda s: s[0] + final_cost(s[1], s[4]))[5]

    if exhaustive:
        path = []
        layout, gi = layout0, 0
        left = frozenset(groups[0]) if groups else frozenset()
        done: frozenset = frozenset()
        while groups and (left or gi + 1 < len(groups)):
            if not left:
                gi += 1
                left = frozenset(groups[gi])
            _, move = best(layout, gi, left, done)
            path.append(move)
            layout = move[6]
            left, done = left - {move[1]}, done | {move[1]}
    else:
        path = list(beam())

    steps: list[Step] = []
    layout = layout0
    done = frozenset()
    cur = batch * rhs * math.prod(f.shape[1] for f in factors)
    max_size = 0
    for _, j, op, L, R, m, _after_step in path:
        n = factors[j].shape[1]
        steps.append(Step(j, op, L, n, R, m))
        if op == "mid_front":
            max_size = max(max_size, cur)
        cur = cur // n * m
        max_size = max(max_size, cur)
        done = done | {j}
    layout = path[-1][6] if path else layout0
    sz = sizes_of(done)
    sizes = tuple(sz[a] for a in layout)
    return Plan(tuple(steps), layout, sizes, max_size, _acceptable(layout, sizes))


# ---------------------------------------------------------------------------
# Slice-by-slice execution for tensors larger than the cache
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SplitPlan:
    """Apply factors 1..d-1 slice by slice (cache-resident), then factor 0 once.

    A chain over a tensor much larger than the caches streams it through memory
    once per factor. Cutting the tensor along axis 0 into slices of a few MB and
    running the inner chain on each slice while it sits in cache leaves two
    passes over memory (the slices, then factor 0), whatever d is.
    """

    inner: Plan  # the chain of factors 1..d-1 on one slice
    n0: int
    m0: int
    slice_in: int  # elements of one input slice
    slice_out: int  # elements of one slice after the inner chain


#: slices larger than this are not expected to stay in cache
SPLIT_SLICE_BYTES = 8 << 20
#: factors up to this size are memory-bound when streamed (measured: d=4 n=64
#: gains, d=3 n=200 loses 1.6× to the slicing)
SPLIT_MAX_N = 64
#: tensors smaller than this already sit in the last-level cache
SPLIT_MIN_BYTES = 32 << 20


def plan_split(factors: list[Factor], rhs: int, itemsize: int) -> SplitPlan | None:
    """A :class:`SplitPlan` when slicing along axis 0 should pay, else None.

    Pays when every factor is dense, d ≥ 3, the tensor is far larger than the
    cache while a slice is not, and applying factor 0 last is flop-optimal.
    """
    d = len(factors)
    if d < 3 or not all(f.gemm for f in factors):
        return None
    if max(max(f.shape) for f in factors) > SPLIT_MAX_N:
        return None  # large factors are compute-bound: passes cost little
    if rhs > 1 and d < 5:
        # the slice chain then ends in a (k, ·) layout and needs a copy per slice:
        # measured a loss at d=4 n=30 k=16, a 2× gain at d=6 n=8 k=16
        return None
    n0, m0 = factors[0].shape[1], factors[0].shape[0]
    inner_in = math.prod(f.shape[1] for f in factors[1:]) * rhs
    inner_out = math.prod(f.shape[0] for f in factors[1:]) * rhs
    biggest = max(n0 * max(inner_in, inner_out), m0 * inner_out)
    if biggest * itemsize < SPLIT_MIN_BYTES:
        return None
    if max(inner_in, inner_out) * itemsize > SPLIT_SLICE_BYTES:
        return None
    best = chain_flops(factors, [j for g in flop_optimal_order(factors) for j in g])
    if chain_flops(factors, [*range(1, d), 0]) > best * (1 + 1e-9):
        return None
    inner = plan_chain(list(factors[1:]), 1, rhs, "C", itemsize)
    return SplitPlan(inner, n0, m0, inner_in, inner_out)


@dataclass(frozen=True)
class StencilTerm:
    """``y[…, i, …] += coef[i] · x[…, i + offset, …]`` for ``lo ≤ i < hi`` on ``axis``.

    ``coef`` is a scalar (the same value on the whole run) or a 1-D array of
    ``hi − lo`` values. ``axis`` counts the factor axes from 0.
    """

    axis: int
    offset: int
    lo: int
    hi: int
    coef: object


@dataclass(frozen=True)
class StencilPlan:
    """A compiled banded sum: ``y = c₀·x + Σ terms``, as a list of array ops.

    ``ops`` entries: ``("init", s)`` (y = s·x), ``("add", term, sign)``
    (y ±= x on the term's slices), ``("scale", s)`` (y *= s), ``("axpy", term)``
    (y += coef·x through a scratch buffer). ``prepared`` caches, per array shape
    and slab, the index tuples of every op (built once, reused by every product).
    """

    ops: tuple
    needs_scratch: bool
    prepared: dict  # filled on use; never part of equality in practice


def _group_key(s):
    """Representative of ``±s``: |s|, or for a complex s the one with Re > 0.

    Real coefficients stay real: a complex detour would turn a NaN into NaN+NaN·j,
    which a real array cannot hold.
    """
    if np.iscomplexobj(s):
        s = complex(s)
        if s.real < 0 or (s.real == 0 and s.imag < 0):
            s = -s
        return s
    return abs(float(s))


def _real_if(v):
    if isinstance(v, complex) and v.imag == 0:
        return v.real
    return v


def plan_stencil(c0, terms: list[StencilTerm]) -> StencilPlan:
    """Compile ``y = c₀·x + Σ terms`` into few passes (Horner over scalar groups).

    Scalar terms are grouped by their coefficient up to sign, ``±g``. With
    ``y`` holding the partial sum divided by the current group's ``g``, a term of
    that group is a plain add or subtract: ``y = (c₀/g₁)x; y ±= …; y *= g₁/g₂;
    y ±= …; …; y *= g_k``. A 3-D Laplacian with unit spacing becomes one scaled
    copy and six subtractions; with spacing h, one more scaling by 1/h². Terms
    with varying coefficients go last, through a scratch buffer.
    """
    scalar = [t for t in terms if np.ndim(t.coef) == 0 and t.coef != 0]
    vector = [t for t in terms if np.ndim(t.coef) != 0]
    coefs = [t.coef for t in scalar]
    mags = [abs(complex(c)) for c in coefs]
    if not (np.all(np.isfinite([*coefs, c0])) and _ratios_safe(mags)):
        # non-finite coefficients (NaN, inf: they propagate as in a CSR product)
        # or scales so far apart that Horner's ratios could over- or underflow:
        # every term on its own, through the scratch buffer
        ops = [("init", _real_if(c0)), *(("axpy", t) for t in scalar + vector)]
        return StencilPlan(tuple(ops), bool(ops[1:]), {})
    groups: dict = {}
    for t in scalar:
        groups.setdefault(_group_key(t.coef), []).append(t)
    ops: list[tuple] = []
    keys = list(groups)
    if keys:
        g_prev = keys[0]
        ops.append(("init", _real_if(c0 / g_prev)))
        for gi, g in enumerate(keys):
            if gi:
                ops.append(("scale", _real_if(g_prev / g)))
                g_prev = g
            for t in groups[g]:
                ops.append(("add", t, 1 if t.coef == g else -1))
        if g_prev != 1:
            ops.append(("scale", _real_if(g_prev)))
    else:
        ops.append(("init", _real_if(c0)))
    ops.extend(("axpy", t) for t in vector)
    return StencilPlan(tuple(ops), bool(vector), {})


def _ratios_safe(mags: list[float]) -> bool:
    """Whether every ratio of these magnitudes is far from over- and underflow."""
    if not mags:
        return True
    hi, lo = max(mags), min(mags)
    return hi <= 1e150 and lo >= 1e-150 and hi / lo <= 1e150


def plan_sum(factors: list[Factor], shift, dtype: np.dtype):
    """Plan a Kronecker sum ``shift·I + Σⱼ (I⊗…⊗Aⱼ⊗…⊗I)``.

    Returns ``(stencil, others)``: the compiled :class:`StencilPlan` of every
    banded factor, identity and the shift (None when there is none), and the axes
    whose factors are applied as mode products (dense, other sparse, operators).
    """
    c0 = shift
    terms = []
    others = []
    for j, f in enumerate(factors):
        if f.is_identity:
            c0 = c0 + 1
            continue
        band = f.bands()
        if band is None:
            others.append(j)
            continue
        part, tlist = band
        c0 = c0 + part
        for k, lo, hi, coef in tlist:
            if np.ndim(coef):
                coef = np.asarray(coef, dtype=dtype)
            terms.append(StencilTerm(j, k, lo, hi, coef))
    stencil = plan_stencil(c0, terms) if (terms or c0 != 0) else None
    return stencil, tuple(others)
