"""Planning the engine's work: no arrays, only shapes, costs and layouts.

A Kronecker product A₁⊗…⊗A_d acting on a block of right-hand sides is a chain of
*mode products*: view the input as a C-ordered tensor ``(B, n₁, …, n_d, K)`` (B:
stacked batch, K: right-hand sides) and apply each factor along its own axis. This
module

* plans the order of the chain (:func:`flop_optimal_order`, provably optimal in the
  flop model: cⱼ flops per input element for factor j),
* chooses, for every step, how to lay the tensor out so the step is one large BLAS
  call on a strided view (:func:`plan_chain`, whose own cost stays a small share
  of the product it plans: under a millisecond for d ≤ 16 small factors),
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

Which form is fastest depends on the CPU and the BLAS: on an AMD Zen 5 with
OpenBLAS ``front_keep`` and ``back_rot`` ran at 70–77 GF/s against 38–52 for the
other two (n = 100, peak 100), while on an AMD EPYC (Haswell kernel) all four run
within 10 % of each other and ``front_rot`` is often the fastest. What holds on
every machine measured is that ``mid_keep`` with a short trailing extent R (the
right-hand sides, k = 16) is a batch of thin GEMMs at a third of the peak or
less, while rotating the contracted axis to the end (``front_rot``) folds the
right-hand sides into one large GEMM per factor. The planner therefore estimates
every step from constants measured on the machine it runs on
(:mod:`kronop._engine.calibrate`):

* the efficiency (fraction of the GEMM peak) of each of the four single-GEMM
  forms at two factor sizes, interpolated in log n (small factors are
  memory-bound, middle ones compute-bound);
* the efficiency of ``mid_keep`` by factor size *and* trailing extent R (the
  thin-GEMM penalty, per-call overhead included);
* the rates of a long copy and of transposing copies by inner-run length
  (``mid_front``'s copy, the final copy into natural order, transform steps),
  and of a sparse (CSR) product with many columns (sparse and operator steps);
* the peak itself, which only matters against the bandwidths.

A middle axis costs either a batched matmul or one transposing copy; the planner
estimates both and takes the cheaper. Sparse and operator factors multiply only
from the left, so they use ``front_keep``, ``back_rot`` or ``mid_front``; a fast
transform works along any axis in place. The slice-by-slice thresholds
(``SPLIT_*``) are cache sizes, not speeds, and stay fixed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import permutations

import numpy as np

from .._factor import Factor
from .calibrate import Speeds, speeds

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
    "prefer_batched",
]


def compute_dtype(*dtypes) -> np.dtype:
    """The working dtype: NumPy's promotion, raised to floating point."""
    dtype = np.result_type(*dtypes)
    if dtype.kind not in "fc":
        dtype = np.result_type(dtype, np.float64)
    return dtype


# Axis ids in a layout: factor axes are 0..d-1; the two batch axes are negative.
BATCH, RHS = -1, -2


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
    final: bool = True  # the search ran to its end (False: worth refining on reuse)


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


def _after(layout: tuple[int, ...], p: int, op: str) -> tuple[int, ...]:
    """The layout after applying the axis at position ``p`` as ``op``."""
    if op in ("front_keep", "back_keep", "mid_keep", "along"):
        return layout
    rest = layout[:p] + layout[p + 1 :]
    if op in ("back_rot", "mid_front"):
        return (layout[p], *rest)
    return (*rest, layout[p])  # front_rot


def _seconds(
    f: Factor, op: str, L: int, n: int, R: int, m: int, itemsize: int, sp: Speeds
) -> float:
    """Estimated time of one step (see :mod:`.calibrate` for the constants)."""
    size = L * n * R
    if f.along_axis:
        # an FFT-based transform: a few passes over memory plus its flops
        return 3 * (size + L * m * R) * itemsize / sp.copy_bw + f.cost * size / (
            sp.peak * 0.1
        )
    t = 0.0
    if op == "mid_front":
        # the transposing copy to (n, L, R): inner runs of R elements
        t = 2 * size * itemsize / sp.transpose_rate(R)
    if not f.gemm:
        # sparse/operator products are memory-bound: read input, write output
        return t + (size + L * m * R) * itemsize / sp.sparse_bw
    form = "front_keep" if op == "mid_front" else op
    return t + f.cost * size / (sp.peak * sp.efficiency(form, min(m, n), R))


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


#: Planning may cost at most this share of the product it plans (estimated): a
#: chain of tiny factors runs in microseconds and must not wait milliseconds
#: for a search, while a large one repays an exhaustive search at once.
SEARCH_SHARE = 0.05
#: Seconds per candidate step the planner looks at (CPython 3.11, measured on
#: d = 4..16 chains: 7–11 µs in the roll-out, 14–32 µs in the search; the
#: budget takes the search's typical cost).
_MOVE_SECONDS = 20e-6


#: the step forms a canonical chain prefers: rotations, to the front,
#: layout-keeping, any
_ROTATE = ("front_rot", "back_rot", "along")
_FRONT = ("back_rot", "mid_front", "along")
_KEEP = ("front_keep", "back_keep", "mid_keep", "along")
_POLICIES = (_ROTATE, _FRONT, _KEEP, ())
#: the chains tried first: (take the last factor of a tie first, preferred forms)
_QUICK = ((False, _ROTATE), (True, _FRONT), (True, _KEEP))


class _OverBudget(Exception):
    """The search would cost more than the product it plans is worth."""


class _Chain:
    """The planning problem for one input form: states, moves and their costs."""

    def __init__(self, factors, batch, rhs, input_layout, itemsize, sp=None):
        d = len(factors)
        self.factors = factors
        self.itemsize = itemsize
        self.speeds = speeds() if sp is None else sp
        self.layout0 = (
            (BATCH, *range(d), RHS) if input_layout == "C" else (RHS, BATCH, *range(d))
        )
        self.n = {BATCH: batch, RHS: rhs}
        self.m = {BATCH: batch, RHS: rhs}
        for j, f in enumerate(factors):
            self.m[j], self.n[j] = f.shape
        self.groups = tuple(tuple(g) for g in flop_optimal_order(factors))
        self.evaluated = 0
        self.budget = math.inf
        self.best = None  # (seconds, path) of the best chain found so far
        self.moves: dict = {}  # the moves from each state, evaluated once

    def size(self, a, done) -> int:
        return self.m[a] if a in done else self.n[a]

    def move(self, layout, done, j):
        """Every way to apply factor j now: (seconds, j, op, L, R, m, new_layout)."""
        self.evaluated += 1
        if self.evaluated > self.budget:
            raise _OverBudget
        key = (layout, done, j)
        got = self.moves.get(key)
        if got is not None:
            return got
        p = layout.index(j)
        sizes = [self.m[a] if a in done else self.n[a] for a in layout]
        L, R = math.prod(sizes[:p]), math.prod(sizes[p + 1 :])
        f = self.factors[j]
        m, n = f.shape
        got = self.moves[key] = [
            (
                _seconds(f, op, L, n, R, m, self.itemsize, self.speeds),
                j,
                op,
                L,
                R,
                m,
                _after(layout, p, op),
            )
            for op in _options(f, L, R)
        ]
        return got

    def final_cost(self, layout, done) -> float:
        """Seconds of the copy that puts the result in natural order, if needed."""
        sizes = tuple(self.size(a, done) for a in layout)
        if _acceptable(layout, sizes):
            return 0.0
        # the copy's contiguous inner run: the axes that end both orders alike
        natural = (BATCH, *range(len(self.factors)), RHS)
        big = {a for a, s in zip(layout, sizes, strict=True) if s > 1}
        cur = [a for a in layout if a in big]
        want = [a for a in natural if a in big]
        run = 1
        while cur and want and cur[-1] == want[-1]:
            run *= sizes[layout.index(cur.pop())]
            want.pop()
        rate = self.speeds.transpose_rate(run)
        return 2 * math.prod(sizes) * self.itemsize / rate

    def walk(self, pick_last: bool, prefer: tuple[str, ...], start=None):
        """One canonical chain: (seconds, path).

        Within a tie group the factor taken next is the one standing first (or
        last) in the current layout; each step takes the cheapest of the forms in
        ``prefer`` when one applies, else the cheapest form. Rotating from the
        first axis to the last (or the reverse) is the copy-free chain whenever
        one exists; keeping every axis in place never needs a final copy.
        ``start`` continues a partial chain (a list of moves) instead.
        """
        layout, done, total, path = self.layout0, frozenset(), 0.0, []
        for c in start or ():
            total += c[0]
            path.append(c)
            layout, done = c[6], done | {c[1]}
        for g in self.groups:
            left = set(g) - done
            while left:
                order = reversed(layout) if pick_last else layout
                j = next(a for a in order if a in left)
                options = self.move(layout, done, j)
                preferred = [c for c in options if c[2] in prefer]
                c = min(preferred or options, key=lambda c: c[0])
                total += c[0]
                path.append(c)
                layout, done = c[6], done | {j}
                left.discard(j)
        return total + self.final_cost(layout, done), path

    def offer(self, got) -> None:
        """Keep ``got`` = (seconds, path) if it beats the best chain so far."""
        if self.best is None or got[0] < self.best[0] * (1 - 1e-9):
            self.best = got

    def rollout(self) -> None:
        """Improve the best chain step by step (O(d³) steps evaluated).

        Along the best chain, at each step try every factor of the tie group and
        every form, finish each candidate with the canonical chains, and keep the
        best.
        """
        prefix: list = []
        layout, done = self.layout0, frozenset()
        for g in self.groups:
            for _ in g:
                left = [j for j in g if j not in done]
                for j in left:
                    for c in self.move(layout, done, j):
                        for prefer in _POLICIES:
                            self.offer(self.walk(False, prefer, [*prefix, c]))
                c = self.best[1][len(prefix)]
                prefix.append(c)
                layout, done = c[6], done | {c[1]}

    def quick(self) -> None:
        """The best of three canonical chains: O(d²) work, no search.

        Rotating from the first axis, moving to the front from the last, and
        keeping the layout from the last: on 900 random chains (d ≤ 8, dense and
        sparse, 1–32 right-hand sides) the best of these three is within 1 % of
        the best of all eight orders and policies in 99 % of cases, 9 % at worst.
        """
        for last, prefer in _QUICK:
            self.offer(self.walk(last, prefer))

    def search(self):
        """Least estimated time over orders within ties and forms: (seconds, path).

        Exhaustive (memoized over layouts) when no tie group has more than 4
        factors, else a beam search. Raises :class:`_OverBudget` when it would
        evaluate more steps than ``budget``.
        """
        groups = self.groups
        if max((len(g) for g in groups), default=0) <= 4:
            memo: dict = {}

            def best(layout, gi, left, done):
                if not left:
                    gi += 1
                    if gi == len(groups):
                        return self.final_cost(layout, done), None
                    left = frozenset(groups[gi])
                key = (layout, gi, left)
                if key in memo:
                    return memo[key]
                result = (math.inf, None)
                for j in left:
                    for c in self.move(layout, done, j):
                        rest, _ = best(c[6], gi, left - {j}, done | {j})
                        if c[0] + rest < result[0] * (1 - 1e-9):
                            result = (c[0] + rest, c)
                memo[key] = result
                return result

            total, _ = best(self.layout0, -1, frozenset(), frozenset())
            path, layout, gi, left, done = (
                [],
                self.layout0,
                -1,
                frozenset(),
                frozenset(),
            )
            while True:
                if not left:
                    gi += 1
                    if gi == len(groups):
                        return total, path
                    left = frozenset(groups[gi])
                _, c = memo[(layout, gi, left)]
                path.append(c)
                layout, left, done = c[6], left - {c[1]}, done | {c[1]}

        width = 48
        # state: (time so far, layout, group index, left, done, path)
        states = [(0.0, self.layout0, 0, frozenset(groups[0]), frozenset(), ())]
        for _ in range(sum(len(g) for g in groups)):
            nxt: dict = {}
            for t, lay, gi, left, done, path in states:
                if not left:
                    gi, left = gi + 1, frozenset(groups[gi + 1])
                for j in left:
                    for c in self.move(lay, done, j):
                        st = (t + c[0], c[6], gi, left - {j}, done | {j}, (*path, c))
                        key = st[1:4]
                        if key not in nxt or st[0] < nxt[key][0]:
                            nxt[key] = st
            states = sorted(nxt.values(), key=lambda s: s[0])[:width]
        end = min(states, key=lambda s: s[0] + self.final_cost(s[1], s[4]))
        return end[0] + self.final_cost(end[1], end[4]), list(end[5])


def plan_chain(
    factors: list[Factor],
    batch: int,
    rhs: int,
    input_layout: str,
    itemsize: int = 8,
    runs: int = 1,
) -> Plan:
    """Plan the mode products for an input ``(batch, N, rhs)``.

    The order of the factors is fixed up to ties by :func:`flop_optimal_order`;
    within ties, and for the form of each step, the planner takes the best of a
    few canonical chains (first-to-last and last-to-first, rotating or cheapest
    forms: O(d²) work), then searches for the chain of least estimated time
    (exhaustively, memoized over layouts; by a beam search when more than 4
    factors tie) only while the search costs less than :data:`SEARCH_SHARE` of
    the estimated time of the product it plans. A chain of small factors is thus
    planned in well under a millisecond whatever d is, and a large one gets the
    full search.

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
    runs : int
        How many times one product runs the plan (slices of a split chain), for
        the search budget.
    """
    chain = _Chain(factors, batch, rhs, input_layout, itemsize)
    final = True
    if not chain.groups:
        path: list = []
    else:
        chain.quick()
        share = chain.best[0] * runs * SEARCH_SHARE
        chain.budget = chain.evaluated + share / _MOVE_SECONDS
        try:
            chain.rollout()
            chain.offer(chain.search())
        except _OverBudget:
            final = False
        path = chain.best[1]
    steps: list[Step] = []
    done: frozenset = frozenset()
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
    layout = path[-1][6] if path else chain.layout0
    sizes = tuple(chain.size(a, done) for a in layout)
    return Plan(
        tuple(steps), layout, sizes, max_size, _acceptable(layout, sizes), final
    )


def prefer_batched(n: int, L: int, R: int, itemsize: int) -> bool:
    """Whether L GEMMs of (n × n)·(n × R) beat a transposing copy and one GEMM.

    For a square dense factor applied along a middle axis of an (L, n, R)
    tensor into a separate output (a Kronecker sum's mode products): the
    batched form (``mid_keep``) against copying to (n, L·R), one GEMM and
    copying back, estimated with the calibrated constants.
    """
    sp = speeds()
    work = 2.0 * n * n * L * R
    batched = work / (sp.peak * sp.efficiency("mid_keep", n, R))
    copies = 4.0 * n * L * R * itemsize / sp.transpose_rate(R)
    one = work / (sp.peak * sp.efficiency("front_keep", n, L * R)) + copies
    return batched <= one


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

    @property
    def final(self) -> bool:
        return self.inner.final


#: slices larger than this are not expected to stay in cache
SPLIT_SLICE_BYTES = 8 << 20
#: factors up to this size are memory-bound when streamed (measured: d=4 n=64
#: gains, d=3 n=200 loses 1.6× to the slicing)
SPLIT_MAX_N = 64
#: tensors smaller than this already sit in the last-level cache
SPLIT_MIN_BYTES = 32 << 20


def plan_split(
    factors: list[Factor], rhs: int, itemsize: int, runs: int = 1
) -> SplitPlan | None:
    """A :class:`SplitPlan` when slicing along axis 0 should pay, else None.

    Pays when every factor is dense, d ≥ 3, there is one right-hand side, the
    tensor is far larger than the cache while a slice is not, and applying
    factor 0 last is flop-optimal.
    """
    d = len(factors)
    if d < 3 or not all(f.gemm for f in factors):
        return None
    if max(max(f.shape) for f in factors) > SPLIT_MAX_N:
        return None  # large factors are compute-bound: passes cost little
    if rhs > 1:
        # the chain folds the k columns into every GEMM (rotating each axis to
        # the end), while a slice chain ends in a (k, ·) layout and needs a copy
        # per slice: measured 1.3–1.6× slower at d=6 n=8 k=16, a loss at d=4
        # n=30 k=16
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
    inner = plan_chain(list(factors[1:]), 1, rhs, "C", itemsize, runs=runs * n0)
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
