"""The one numeric engine: apply matrix-likes along the axes of a C-ordered tensor.

Everything in kronop ends here. A Kronecker product A₁⊗…⊗A_d acting on a block of
right-hand sides is a chain of *mode products*: view the input as a C-ordered tensor
``(B, n₁, …, n_d, K)`` (B: stacked batch, K: right-hand sides) and apply each factor
along its own axis. This module

* plans the order of the chain (:func:`flop_optimal_order`, provably optimal in the
  flop model of DESIGN.md §5),
* chooses, for every step, how to lay the tensor out so the step is one large BLAS
  call on a strided view (:func:`plan_chain`), and
* runs the chain through at most two reusable work buffers (:func:`run_chain`).

The engine knows nothing about operators: it sees :class:`~kronop._factor.Factor`
objects and arrays.

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
====================  ===============================  ==========================

``front_keep`` and ``back_rot`` write a short-and-wide result and run closest to the
DGEMM peak on OpenBLAS (measured 70–77 GF/s against 38–52 for the other two at
n = 100, peak 100), so the planner prefers chains of them: applying the factors from
the last axis to the first with ``back_rot`` rotates the tensor back into natural
order without a single copy. A middle axis costs either a batched matmul or one
transposing copy; the planner estimates both and takes the cheaper.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from ._factor import DENSE, IDENTITY, LINOP, Factor

__all__ = [
    "Workspace",
    "brute_force_order",
    "chain_flops",
    "flop_optimal_order",
    "plan_chain",
    "run_chain",
]

# Axis ids in a layout: factor axes are 0..d-1; the two batch axes are negative.
_BATCH, _RHS = -1, -2

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
    active = [j for j, f in enumerate(factors) if f.kind != IDENTITY]
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
    from itertools import permutations

    active = [j for j, f in enumerate(factors) if f.kind != IDENTITY]
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
    if f.kind == DENSE:
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
    if op in ("front_keep", "back_keep", "mid_keep"):
        return layout
    rest = tuple(a for a in layout if a != j)
    if op in ("back_rot", "mid_front"):
        return (j, *rest)
    return (*rest, j)  # front_rot


def _seconds(f: Factor, op: str, L: int, n: int, R: int, m: int, itemsize: int) -> float:
    """Rough time of one step: flops at the form's speed, plus per-call overhead."""
    size = L * n * R
    if f.kind != DENSE:
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
        layout0 = (_BATCH, *range(d), _RHS)
    else:
        layout0 = (_RHS, _BATCH, *range(d))
    base = {_BATCH: batch, _RHS: rhs}
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
# Work buffers
# ---------------------------------------------------------------------------
class Workspace:
    """Two work buffers per dtype, kept alive across calls.

    Fresh memory is slow on the project machine (page faults on every touch of a
    new allocation), so an operator keeps its intermediates between products.
    The buffers are guarded by a lock; a concurrent caller that finds them busy
    gets temporary arrays instead of waiting.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffers: dict[np.dtype, list[np.ndarray]] = {}

    def acquire(self, dtype: np.dtype, size: int) -> list[np.ndarray] | None:
        """Return two flat arrays of at least ``size`` elements, or None if busy."""
        if not self._lock.acquire(blocking=False):
            return None
        bufs = self._buffers.get(dtype)
        if bufs is None or bufs[0].size < size:
            bufs = [np.empty(size, dtype), np.empty(size, dtype)]
            self._buffers[dtype] = bufs
        return bufs

    def release(self) -> None:
        """Hand the buffers back."""
        self._lock.release()

    def clear(self) -> None:
        """Drop the buffers (memory is given back to the allocator)."""
        with self._lock:
            self._buffers.clear()


# ---------------------------------------------------------------------------
# Execution
# ---------------------------------------------------------------------------
def _apply(
    step: Step,
    f: Factor,
    mat,
    x: np.ndarray,
    out: np.ndarray | None,
    scratch: np.ndarray | None,
    dtype: np.dtype,
) -> np.ndarray:
    """Run one step: read ``x`` (flat, C-ordered), write ``out`` (flat) if given.

    Dense factors write into ``out``; sparse and operator factors return what
    their own product allocates (cast to ``dtype``).
    """
    L, n, R, m = step.L, step.n, step.R, step.m
    op = step.op
    if f.kind == DENSE:
        if op == "front_keep":
            a, b, shape = mat, x.reshape(n, R), (m, R)
        elif op == "back_rot":
            a, b, shape = mat, x.reshape(L, n).T, (m, L)
        elif op == "front_rot":
            a, b, shape = x.reshape(n, R).T, mat.T, (R, m)
        elif op == "back_keep":
            a, b, shape = x.reshape(L, n), mat.T, (L, m)
        elif op == "mid_keep":
            a, b, shape = mat, x.reshape(L, n, R), (L, m, R)
        else:  # mid_front
            t = scratch[: L * n * R].reshape(n, L, R)
            np.copyto(t, x.reshape(L, n, R).transpose(1, 0, 2))
            a, b, shape = mat, t.reshape(n, L * R), (m, L * R)
        if out is None:
            return np.matmul(a, b).reshape(-1)
        return np.matmul(a, b, out=out[: math.prod(shape)].reshape(shape)).reshape(-1)

    # sparse or LinearOperator: F @ (n, ·) and take what comes back
    if op == "front_keep":
        rhs = x.reshape(n, R)
    elif op == "back_rot":
        rhs = x.reshape(L, n).T
    else:  # mid_front
        t = scratch[: L * n * R].reshape(n, L, R)
        np.copyto(t, x.reshape(L, n, R).transpose(1, 0, 2))
        rhs = t.reshape(n, L * R)
    y = mat.matmat(rhs) if f.kind == LINOP else mat @ rhs
    return np.ascontiguousarray(y, dtype=dtype).reshape(-1)


def run_chain(
    factors: list[Factor],
    plan: Plan,
    x: np.ndarray,
    dtype: np.dtype,
    workspace: Workspace | None,
) -> np.ndarray:
    """Apply the planned chain to the flat, C-ordered input ``x`` (never modified).

    Returns the final tensor as a flat array whose layout is ``plan.layout``.
    The result never aliases a work buffer.
    """
    steps = plan.steps
    if not steps:
        return np.array(x, dtype=dtype, copy=True).reshape(-1)
    bufs = workspace.acquire(dtype, plan.max_size) if workspace is not None else None
    owned = bufs is not None
    if bufs is None:
        bufs = [np.empty(plan.max_size, dtype), np.empty(plan.max_size, dtype)]
    try:
        cur = x.reshape(-1)
        holder = None  # index of the buffer that holds `cur`, if any
        last = len(steps) - 1
        for i, step in enumerate(steps):
            f = factors[step.j]
            mat = f.as_dtype(dtype)
            free = 1 if holder == 0 else 0
            needs_scratch = step.op == "mid_front"
            if i == last and plan.direct_output:
                out = None  # write straight into a fresh result array
                scratch = bufs[free] if needs_scratch else None
            else:
                if needs_scratch:
                    # the copy goes in the free buffer, the product into the
                    # buffer that held the input (the input is read by then)
                    scratch = bufs[free]
                    out_idx = holder if holder is not None else 1 - free
                else:
                    scratch = None
                    out_idx = free
                out = bufs[out_idx]
            y = _apply(step, f, mat, cur, out, scratch, dtype)
            holder = out_idx if out is not None and np.shares_memory(y, out) else None
            cur = y
        if holder is not None:
            cur = cur.copy()
        return cur
    finally:
        if owned:
            workspace.release()
