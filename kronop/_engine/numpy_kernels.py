"""The numpy/BLAS kernels that run the engine's plans.

Every kernel reads C-ordered numpy arrays and writes numpy arrays: GEMMs on strided
views (``np.matmul``), CSR products, ``scipy.fft`` transforms, and slicing stencils.
Intermediates live in :class:`Workspace` buffers that an operator keeps between
calls. Plans come from :mod:`kronop._engine.plan`; nothing here decides *what* to
compute, only how to run it fast on numpy.
"""

from __future__ import annotations

import math
import threading
from functools import reduce
from typing import TYPE_CHECKING

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from .._factor import Factor

if TYPE_CHECKING:  # pragma: no cover
    from . import EngineCache
from .plan import (
    BATCH,
    RHS,
    Plan,
    SplitPlan,
    StencilPlan,
    StencilTerm,
    Step,
    compute_dtype,
    plan_chain,
    plan_split,
    plan_sum,
    prefer_batched,
)

__all__ = [
    "STENCIL_BLOCK_ABOVE",
    "STENCIL_SLAB_BYTES",
    "Workspace",
    "add_mode_product",
    "apply_product",
    "apply_spectral",
    "apply_sum",
    "apply_terms",
    "run_chain",
    "run_split",
    "run_stencil",
]


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

    def acquire(
        self, dtype: np.dtype, size: int, count: int = 2
    ) -> list[np.ndarray] | None:
        """Return ``count`` flat arrays of ≥ ``size`` elements, or None if busy."""
        if not self._lock.acquire(blocking=False):
            return None
        bufs = self._buffers.get(dtype)
        if bufs is None or bufs[0].size < size or len(bufs) != count:
            bufs = [np.empty(size, dtype) for _ in range(count)]
            self._buffers[dtype] = bufs
        return bufs

    def release(self) -> None:
        """Hand the buffers back."""
        self._lock.release()

    def clear(self) -> None:
        """Drop the buffers (memory is given back to the allocator)."""
        with self._lock:
            self._buffers.clear()

    def nbytes(self) -> int:
        """Bytes held."""
        return sum(b.nbytes for bufs in self._buffers.values() for b in bufs)


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
    temp: np.ndarray | None = None,
) -> np.ndarray:
    """Run one step: read ``x`` (flat, C-ordered), write ``out`` (flat) if given.

    GEMM factors write into ``out`` (a two-pass factor uses ``temp`` between its
    passes); sparse and operator factors return what their own product allocates
    (cast to ``dtype``).
    """
    L, n, R, m = step.L, step.n, step.R, step.m
    op = step.op
    if op == "along":
        y = f.apply_along(x.reshape(L, n, R), 1)
        return np.ascontiguousarray(y, dtype=dtype).reshape(-1)
    if f.gemm:
        left = True  # F @ B, else A @ Fᵀ
        if op == "front_keep":
            b, shape = x.reshape(n, R), (m, R)
        elif op == "back_rot":
            b, shape = x.reshape(L, n).T, (m, L)
        elif op == "front_rot":
            left, a, shape = False, x.reshape(n, R).T, (R, m)
        elif op == "back_keep":
            left, a, shape = False, x.reshape(L, n), (L, m)
        elif op == "mid_keep":
            b, shape = x.reshape(L, n, R), (L, m, R)
        else:  # mid_front
            t = scratch[: L * n * R].reshape(n, L, R)
            np.copyto(t, x.reshape(L, n, R).transpose(1, 0, 2))
            b, shape = t.reshape(n, L * R), (m, L * R)
        dst = None if out is None else out[: math.prod(shape)].reshape(shape)
        if left:
            y = f.matmul_left(mat, b, dst, temp)
        else:
            y = f.matmul_right(a, mat, dst, temp)
        return y.reshape(-1)

    # sparse or LinearOperator: F @ (n, ·) and take what comes back
    if op == "front_keep":
        rhs = x.reshape(n, R)
    elif op == "back_rot":
        rhs = x.reshape(L, n).T
    else:  # mid_front
        t = scratch[: L * n * R].reshape(n, L, R)
        np.copyto(t, x.reshape(L, n, R).transpose(1, 0, 2))
        rhs = t.reshape(n, L * R)
    y = f.apply_left(mat, rhs)
    return np.ascontiguousarray(y, dtype=dtype).reshape(-1)


def run_chain(
    factors: list[Factor],
    plan: Plan,
    x: np.ndarray,
    dtype: np.dtype,
    workspace: Workspace | None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Apply the planned chain to the flat, C-ordered input ``x`` (never modified).

    Returns the final tensor as a flat array whose layout is ``plan.layout``.
    The result never aliases a work buffer. With ``out`` (flat, the right size)
    and ``plan.direct_output``, the last dense step writes into ``out``.
    """
    steps = plan.steps
    if not steps:
        return np.array(x, dtype=dtype, copy=True).reshape(-1)
    # a two-pass factor (an eigen-solve) needs a third buffer between its passes
    count = 3 if any(factors[s.j].gemm_passes > 1 for s in steps) else 2
    bufs = (
        workspace.acquire(dtype, plan.max_size, count)
        if workspace is not None
        else None
    )
    owned = bufs is not None
    if bufs is None:
        bufs = [np.empty(plan.max_size, dtype) for _ in range(count)]
    temp = bufs[2] if count == 3 else None
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
                dest = out  # straight into the result (fresh when None)
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
                dest = bufs[out_idx]
            y = _apply(step, f, mat, cur, dest, scratch, dtype, temp)
            holder = (
                out_idx
                if dest is not None and dest is not out and np.may_share_memory(y, dest)
                else None
            )
            cur = y
        if holder is not None:
            cur = cur.copy()
        return cur
    finally:
        if owned:
            workspace.release()


def run_split(
    factors: list[Factor],
    split: SplitPlan,
    x: np.ndarray,
    dtype: np.dtype,
    workspace: Workspace,
    inner_workspace: Workspace,
) -> np.ndarray:
    """Run a :class:`SplitPlan` on the flat C-ordered ``x``; natural-order result."""
    inner = split.inner
    big = split.n0 * split.slice_out
    bufs = workspace.acquire(dtype, big, count=1)
    owned = bufs is not None
    T = bufs[0][:big] if owned else np.empty(big, dtype)
    try:
        natural = (*range(len(factors) - 1), RHS)
        perm = [inner.layout.index(a) for a in (BATCH, *natural)]
        shape = tuple(inner.sizes[p] for p in perm)
        direct = [
            a for a, n in zip(inner.layout, inner.sizes, strict=True) if n > 1
        ] == [a for a, n in zip((BATCH, *natural), shape, strict=True) if n > 1]
        for i in range(split.n0):
            xi = x[i * split.slice_in : (i + 1) * split.slice_in]
            dest = T[i * split.slice_out : (i + 1) * split.slice_out]
            y = run_chain(
                factors[1:],
                inner,
                xi,
                dtype,
                inner_workspace,
                out=dest if direct else None,
            )
            if not (direct and np.may_share_memory(y, dest)):
                # put the slice in natural order (in cache: cheap)
                view = y.reshape(inner.sizes).transpose(perm)
                np.copyto(dest.reshape(shape), view)
        f0 = factors[0]
        mat = f0.as_dtype(dtype)
        return f0.matmul_left(mat, T.reshape(split.n0, split.slice_out)).reshape(-1)
    finally:
        if owned:
            workspace.release()


# ---------------------------------------------------------------------------
# Sums of single-axis products (the Kronecker sum's engine)
# ---------------------------------------------------------------------------
#: a dense factor is never multiplied as a batch of L small GEMMs when the
#: trailing extent R is below this (one transposing copy and one GEMM win on
#: every machine measured); above it the calibrated estimates decide
#: (:func:`~kronop._engine.plan.prefer_batched`)
BATCHED_MIN_R = 8


def add_mode_product(
    f: Factor,
    mat,
    x3: np.ndarray,
    y3: np.ndarray,
    bufs: list[np.ndarray],
    accumulate: bool,
) -> None:
    """``y3 (+)= x3 ×₁ F``: apply one square factor along the middle axis.

    ``x3`` and ``y3`` are C-ordered views of shape ``(L, n, R)`` (the tensor axes
    before, at and after the factor's axis). With ``accumulate`` the product is
    added to ``y3``, otherwise it overwrites it. ``bufs`` are two flat scratch
    arrays of at least ``L·n·R`` elements in ``y3``'s dtype (contents are
    clobbered). ``mat`` is the factor's applied form in that dtype (ndarray, CSR
    array or ``LinearOperator``).
    """
    L, n, R = x3.shape
    size = L * n * R
    dtype = y3.dtype
    if f.gemm and (
        L == 1
        or R == 1
        or (R >= BATCHED_MIN_R and prefer_batched(n, L, R, dtype.itemsize))
    ):
        if R == 1 and L > 1:
            shape, dest = (L, n), y3[:, :, 0]
            out = bufs[0][:size].reshape(shape) if accumulate else dest
            f.matmul_right(x3[:, :, 0], mat, out)
        else:
            b = x3[0] if L == 1 else x3
            shape, dest = b.shape, (y3[0] if L == 1 else y3)
            out = bufs[0][:size].reshape(shape) if accumulate else dest
            f.matmul_left(mat, b, out)
        if accumulate:
            np.add(dest, out, out=dest)
        return
    # (n, L·R) layout: one GEMM / sparse product on a transposed copy
    if L == 1:
        rhs = x3[0]
    else:
        t = bufs[0][:size].reshape(n, L, R)
        np.copyto(t, x3.transpose(1, 0, 2))
        rhs = t.reshape(n, L * R)
    if f.gemm:
        prod = bufs[1][:size].reshape(n, L * R)
        f.matmul_left(mat, rhs, prod)
    else:
        prod = np.asarray(f.apply_left(mat, rhs))
    src = prod.reshape(1, n, R) if L == 1 else prod.reshape(n, L, R).transpose(1, 0, 2)
    if accumulate:
        np.add(y3, src, out=y3)
    else:
        np.copyto(y3, src, casting="unsafe" if prod.dtype != dtype else "same_kind")


#: tensors larger than this (bytes, one array) are swept in slabs along the first
#: factor axis so that x, y and the scratch slab stay in cache between the passes
STENCIL_BLOCK_ABOVE = 6 << 20
#: target bytes of one slab of one array
STENCIL_SLAB_BYTES = 1 << 20


def _term_slices(t: StencilTerm, ndim: int, ax: int, lo: int, hi: int):
    sy = [slice(None)] * ndim
    sx = [slice(None)] * ndim
    sy[ax] = slice(lo, hi)
    sx[ax] = slice(lo + t.offset, hi + t.offset)
    return tuple(sy), tuple(sx)


def _coef_view(coef: np.ndarray, start: int, stop: int, trailing: int) -> np.ndarray:
    return coef[start:stop].reshape(-1, *([1] * trailing))


def _prepare(plan: StencilPlan, ndim: int, shift: int, rows):
    """The plan's ops with their index tuples, for arrays of ``ndim`` dimensions.

    Returns a tuple of ``(kind, a, b, c)``: ``("init"|"scale", s, _, _)``,
    ``("add", ys, xs, sign)`` or ``("axpy", ys, xs, coef)``, where ``ys``/``xs``
    index the whole arrays (the slab's rows included).
    """
    key = (ndim, shift, rows)
    got = plan.prepared.get(key)
    if got is not None:
        return got
    out = []
    s0, s1 = rows if rows is not None else (None, None)
    for op in plan.ops:
        kind = op[0]
        if kind in ("init", "scale"):
            out.append((kind, op[1], None, None))
            continue
        term = op[1]
        ax = term.axis + shift
        lo, hi = term.lo, term.hi
        if rows is not None and ax == 0:
            lo, hi = max(lo, s0), min(hi, s1)
            if lo >= hi:
                continue
        ys, xs = _term_slices(term, ndim, ax, lo, hi)
        if rows is not None and ax != 0:
            ys = (slice(s0, s1), *ys[1:])
            xs = (slice(s0, s1), *xs[1:])
        if kind == "add":
            out.append(("add", ys, xs, op[2]))
        elif np.ndim(term.coef) == 0:
            out.append(("axpy", ys, xs, term.coef))
        else:
            start = lo - term.lo
            coef = _coef_view(term.coef, start, start + (hi - lo), ndim - ax - 1)
            out.append(("axpy", ys, xs, coef))
    got = tuple(out)
    if len(plan.prepared) < 4096:
        plan.prepared[key] = got
    return got


def _run_ops(plan: StencilPlan, x, y, t, shift: int, rows: tuple[int, int] | None):
    """Run the plan on arrays whose factor axis j sits at array axis ``j + shift``.

    With ``rows = (s0, s1)`` only that slab of array axis 0 (factor axis 0) is
    written; ``x``, ``y`` and ``t`` are the whole arrays.
    """
    if rows is not None:
        yv, xv = y[rows[0] : rows[1]], x[rows[0] : rows[1]]
    else:
        yv, xv = y, x
    for kind, a, b, c in _prepare(plan, x.ndim, shift, rows):
        if kind == "add":
            ysl = y[a]
            if c > 0:
                np.add(ysl, x[b], out=ysl)
            else:
                np.subtract(ysl, x[b], out=ysl)
        elif kind == "init":
            if a == 0:
                yv.fill(0)
            elif a == 1:
                np.copyto(yv, xv)
            else:
                np.multiply(xv, a, out=yv)
        elif kind == "scale":
            np.multiply(yv, a, out=yv)
        else:  # axpy
            ysl, tsl = y[a], t[a]
            np.multiply(x[b], c, out=tsl)
            np.add(ysl, tsl, out=ysl)


def run_stencil(
    plan: StencilPlan, x: np.ndarray, y: np.ndarray, scratch: np.ndarray | None
) -> None:
    """``y = plan(x)`` for C-ordered tensors ``(B, n₁, …, n_d, K)`` (y overwritten).

    ``scratch`` is a flat array of at least ``x.size`` elements when
    ``plan.needs_scratch``. Large tensors are swept slab by slab along n₁ so that
    every pass of the plan hits cache.
    """
    t = scratch[: x.size].reshape(x.shape) if plan.needs_scratch else None
    B = x.shape[0]
    per_batch = x.size // B
    if per_batch * x.itemsize <= STENCIL_BLOCK_ABOVE or x.shape[1] == 1:
        _run_ops(plan, x, y, t, 1, None)
        return
    n1 = x.shape[1]
    row_bytes = per_batch // n1 * x.itemsize
    step = max(1, STENCIL_SLAB_BYTES // row_bytes)
    for b in range(B):
        xb, yb = x[b], y[b]
        tb = t[b] if t is not None else None
        for s0 in range(0, n1, step):
            _run_ops(plan, xb, yb, tb, 0, (s0, min(n1, s0 + step)))


# ---------------------------------------------------------------------------
# Length-N vectors from factor vectors, and diagonal scalings
# ---------------------------------------------------------------------------
#: elements per chunk when a shifted length-N vector is formed on the fly: the
#: chunk stays in cache and no N-sized temporary is ever allocated
CHUNK = 1 << 16


def kron_values(vectors: list[np.ndarray], how: str, shift=0) -> np.ndarray:
    """All products (``"product"``) or sums (``"sum"``) of one entry per vector, + shift.

    The length-N result is in ``np.kron`` order (the last vector varies fastest).
    """
    op = np.multiply if how == "product" else np.add
    out = vectors[0]
    for v in vectors[1:]:
        out = op.outer(out, v).reshape(-1)
    out = np.array(out, copy=True).reshape(-1)
    if shift != 0:
        out = out + shift
    return out


def kron_terms(terms, dtype) -> np.ndarray:
    """Σᵣ cᵣ · (all products of one entry per vector of term r), ``np.kron`` order."""
    out = None
    for coef, vectors in terms:
        v = kron_values(vectors, "product")
        if coef != 1:
            v = v * coef
        if out is None:
            out = v.astype(dtype)
        else:
            out += v
    return out


def scale_rows(y: np.ndarray, w: np.ndarray, shift=0, divide: bool = False) -> None:
    """``y[…, i, :] *= w[i] + shift`` (or ``/=``) in place.

    ``y`` has shape (N,), (N, k) or (B, N, k) and a dtype that holds the result. A
    shifted ``w`` is formed chunk by chunk, never as a whole.
    """
    fn = np.divide if divide else np.multiply
    if y.ndim == 3:
        for yb in y:
            scale_rows(yb, w, shift, divide)
        return
    N = y.shape[0]
    if shift == 0:
        fn(y, w[:, None] if y.ndim == 2 else w, out=y)
        return
    for i in range(0, N, CHUNK):
        wc = w[i : i + CHUNK] + shift
        yc = y[i : i + CHUNK]
        fn(yc, wc[:, None] if y.ndim == 2 else wc, out=yc)


def scaled_rows(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``y[i] · w[i]`` as a new array, for y of shape (N,) or (N, K)."""
    return y * (w if y.ndim == 1 else w[:, None])


def any_null(w: np.ndarray, tol) -> bool:
    """Whether some |w[i]| ≤ tol (a scalar or one bound per value)."""
    return bool(np.any(np.abs(w) <= tol))


def any_zero(w: np.ndarray, shift=0) -> bool:
    """Whether some ``w[i] + shift`` is exactly zero (chunked)."""
    if shift == 0:
        return not np.all(w)
    return any(not np.all(w[i : i + CHUNK] + shift) for i in range(0, len(w), CHUNK))


def log_abs_sum(parts, real: bool) -> tuple[int | float, float, float]:
    """Σ log|v| over ``parts`` = [(values, multiplicity, shift)], chunk by chunk.

    Returns ``(negatives, logabs, phase)``: the count of negative values (real
    values) or the summed argument (complex ones), each weighted by its
    multiplicity; ``logabs`` is ``-inf`` as soon as one value is zero. Logarithms
    are summed in double precision whatever the values' dtype.
    """
    logabs = 0.0
    negatives = 0
    phase = 0.0
    for w, e, shift in parts:
        for i in range(0, len(w), CHUNK):
            v = w[i : i + CHUNK]
            v = v + shift if shift != 0 else v
            a = np.abs(v).astype(np.float64)
            if not np.all(a):
                return 0, -np.inf, 0.0
            logabs += e * float(np.sum(np.log(a, out=a)))
            if real:
                negatives += e * int(np.count_nonzero(v < 0))
            else:
                phase += e * float(np.sum(np.angle(v)))
    return negatives, logabs, phase


def reciprocal(w: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """``(1/w, null)``: reciprocals with 0 where ``|w| ≤ tol``, and those indices."""
    null = np.flatnonzero(np.abs(w) <= tol)
    # 1/0 is inf for real w and nan for complex w; both are overwritten below
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / w
    if null.size:
        inv[null] = 0
    return inv, null


def affine(x: np.ndarray, a, b) -> np.ndarray:
    """a·x + b (a new array)."""
    return a * x + b


def divide_rows(y: np.ndarray, w: np.ndarray, shift, bound) -> np.ndarray | None:
    """``y[i] /= w[i] + shift`` in place, chunk by chunk; zero the null rows.

    ``bound = (base, a, b)``: row i is null when |w[i] + shift| ≤ a·base[i] + b
    (``base`` None: ≤ b). Returns the squared norms (one per column) of what was
    zeroed, or None when no row was null.
    """
    base, a, b = bound
    null2 = None
    for i in range(0, y.shape[0], CHUNK):
        wc = w[i : i + CHUNK]
        wc = wc + shift if shift != 0 else wc.copy()
        yc = y[i : i + CHUNK]
        tol = b if base is None else a * base[i : i + CHUNK] + b
        small = np.abs(wc) <= tol
        if small.any():
            part = np.sum(np.abs(yc[small]) ** 2, axis=0)
            null2 = part if null2 is None else null2 + part
            yc[small] = 0
            wc[small] = 1
        np.divide(yc, wc[:, None] if y.ndim == 2 else wc, out=yc)
    return null2


def shifted_reciprocal(w: np.ndarray, shift, bound) -> np.ndarray | None:
    """``1/(w + shift)`` as a new array, or None when some value is null.

    ``bound`` as in :func:`divide_rows`; formed chunk by chunk, so no N-sized
    temporary besides the result.
    """
    base, a, b = bound
    out = np.empty(w.shape, np.result_type(w, shift))
    for i in range(0, w.shape[0], CHUNK):
        vc = out[i : i + CHUNK]
        np.add(w[i : i + CHUNK], shift, out=vc)
        tol = b if base is None else a * base[i : i + CHUNK] + b
        if np.any(np.abs(vc) <= tol):
            return None
        np.reciprocal(vc, out=vc)
    return out


def finish(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A result in its dtype: the real part when the dtype is real, cast if needed."""
    if dtype.kind == "f" and np.iscomplexobj(x):
        x = x.real
    return np.ascontiguousarray(x, dtype=dtype) if x.dtype != dtype else x


def null_norms2(y: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Squared norms (per column) of the rows ``null`` of y."""
    return np.sum(np.abs(y[null]) ** 2, axis=0)


def column_norms(b: np.ndarray) -> np.ndarray:
    """2-norms of the columns of b (of b itself when 1-D)."""
    return np.linalg.norm(b, axis=0)


def k_extreme(w: np.ndarray, k: int, key) -> np.ndarray:
    """The k entries of w with the smallest ``key(w)``, sorted by it."""
    keys = key(w)
    N = len(w)
    idx = np.argpartition(keys, k - 1)[:k] if k < N else np.arange(N)
    return w[idx[np.argsort(keys[idx], kind="stable")]]


def abs_extremes(w: np.ndarray) -> tuple[float, float]:
    """``(max |w|, min |w|)``."""
    a = np.abs(w)
    return float(np.max(a)), float(np.min(a))


def kron_diagonal(mats: list[np.ndarray], dtype) -> np.ndarray:
    """The main diagonal of ⊗ mats (rectangular factors), in chunks of 2²⁰."""
    rows = [a.shape[0] for a in mats]
    cols = [a.shape[1] for a in mats]
    n_out = min(math.prod(rows), math.prod(cols))
    out = np.empty(n_out, dtype=dtype)
    step = 1 << 20
    for start in range(0, n_out, step):
        i = np.arange(start, min(n_out, start + step))
        r = np.unravel_index(i, rows)
        c = np.unravel_index(i, cols)
        val = np.ones(len(i), dtype=dtype)
        for j, a in enumerate(mats):
            val *= a[r[j], c[j]]
        out[start : start + len(i)] = val
    return out


def outer_abs_sum_max(diags: list[np.ndarray], offs: list[np.ndarray], shift) -> float:
    """max over the grid of |shift + Σⱼ diagsⱼ[iⱼ]| + Σⱼ offsⱼ[iⱼ] (one slab at a time)."""
    off = reduce(np.add.outer, offs)
    rest = reduce(np.add.outer, diags[1:]) if len(diags) > 1 else np.zeros(())
    best = 0.0
    for i in range(len(diags[0])):
        val = float(np.max(np.abs(diags[0][i] + rest + shift) + off[i]))
        if math.isnan(val):  # NaN propagates, as in numpy's norm
            return val
        best = max(best, val)
    return best


def tri_solve_axes(Ts, Y: np.ndarray, shift, axes=None) -> np.ndarray:
    """:func:`tri_solve` with the Tⱼ acting on ``axes`` of Y, the others batch axes."""
    d = Y.ndim - 1
    axes = list(range(len(Ts))) if axes is None else list(axes)
    if not Ts:  # only identities: (shift)·I
        return Y / shift
    if axes == list(range(d)):
        return tri_solve(Ts, Y, shift)
    rest = [a for a in range(Y.ndim) if a not in axes]  # batch axes, K last
    Yt = np.transpose(Y, axes + rest)
    shape = Yt.shape
    Z = tri_solve(Ts, Yt.reshape(*shape[: len(axes)], -1), shift)
    return np.transpose(Z.reshape(shape), np.argsort(axes + rest))


def tri_solve(Ts: list[np.ndarray], Y: np.ndarray, shift) -> np.ndarray:
    """Solve (T₁⊕…⊕T_d + shift·I) Z = Y for upper-triangular complex Tⱼ.

    With d ≤ 2 the Tⱼ may also be real quasi-triangular (real Schur forms, real Y).

    ``Y`` has shape (n₁, …, n_d, K). One axis at a time, back substitution:
    row i of axis 0 needs (T₂⊕…⊕T_d + (shift + T₁[i,i]) I) Z[i] = Y[i] −
    Σ_{k>i} T₁[i,k] Z[k], a (d−1)-dimensional system of the same kind; at d = 2 it
    is a triangular Sylvester equation, solved by LAPACK ``trsyl``.
    """
    d = len(Ts)
    if d == 1:
        T = Ts[0] + shift * np.eye(Ts[0].shape[0], dtype=Ts[0].dtype)
        if np.isrealobj(T):  # quasi-triangular: 2×2 blocks, use a general solve
            return sla.solve(T, Y, check_finite=False)
        return sla.solve_triangular(T, Y, check_finite=False)
    if d == 2:
        T1, T2 = Ts
        A = T1 + shift * np.eye(T1.shape[0], dtype=T1.dtype)
        if np.iscomplexobj(T1):
            B, tranb = np.ascontiguousarray(T2.conj()), "C"  # (conj T₂)ᴴ = T₂ᵀ
        else:
            B, tranb = T2, "T"
        trsyl = sla.get_lapack_funcs("trsyl", dtype=A.dtype)
        Z = np.empty(Y.shape, dtype=A.dtype)
        for k in range(Y.shape[-1]):
            # T₁ Z + Z T₂ᵀ = Y
            z, scale, _info = trsyl(A, B, Y[:, :, k], trana="N", tranb=tranb, isgn=1)
            Z[:, :, k] = z / scale if scale != 1 else z
        return Z
    T1 = Ts[0]
    n1 = T1.shape[0]
    Z = np.empty_like(Y)
    for i in range(n1 - 1, -1, -1):
        R = Y[i]
        if i + 1 < n1:
            R = R - np.tensordot(T1[i, i + 1 :], Z[i + 1 :], axes=1)
        Z[i] = tri_solve(Ts[1:], R, shift + T1[i, i])
    return Z


def run_blocks(appliers, x: np.ndarray, rows: int, dtype) -> np.ndarray:
    """A block-diagonal operator on ``x`` (B, N, K): block i on its own rows.

    ``appliers`` is a sequence of ``(apply, m, n)``: ``apply`` maps a (B, n, K)
    block of x to a (B, m, K) block of the result.
    """
    B, _, K = x.shape
    out = np.empty((B, rows, K), dtype=dtype)
    r = c = 0
    for apply, m, n in appliers:
        out[:, r : r + m] = apply(x[:, c : c + n])
        r += m
        c += n
    return out


def run_batched(stack: np.ndarray, x: np.ndarray, dtype) -> np.ndarray:
    """k equal dense blocks (k, m, n) on ``x`` (B, k·n, K): one batched matmul."""
    B, _, K = x.shape
    k, m, n = stack.shape
    xs = x.reshape(B, k, n, K)
    return np.matmul(stack, xs, dtype=dtype).reshape(B, k * m, K)


def run_batched_solve(stack: np.ndarray, x: np.ndarray, dtype) -> np.ndarray:
    """k square blocks (k, m, m) solved against ``x`` (B, k·m, K): one batched LU.

    ``numpy.linalg.solve`` runs LAPACK ``gesv`` for every block in one C loop
    (raises ``LinAlgError`` if a block is singular).
    """
    B, _, K = x.shape
    k, m, _ = stack.shape
    xs = np.moveaxis(x.reshape(B, k, m, K), 0, 1).reshape(k, m, B * K)
    y = np.linalg.solve(stack.astype(dtype, copy=False), xs.astype(dtype, copy=False))
    return np.moveaxis(y.reshape(k, m, B, K), 2, 0).reshape(B, k * m, K)


# ---------------------------------------------------------------------------
# The doors' numpy implementations (see kronop._engine)
# ---------------------------------------------------------------------------
def as_block(X) -> np.ndarray:
    """The caller's input as an array the kernels read (sparse inputs densified)."""
    if sp.issparse(X):
        X = X.toarray()
    return np.asarray(X)


def as_columns(x: np.ndarray) -> np.ndarray:
    """A block (B, N, K) as the columns of one (N, B·K) array (a view when B = 1)."""
    B, N, K = x.shape
    return np.moveaxis(x, 1, 0).reshape(N, B * K)


def from_columns(y: np.ndarray, B: int, K: int) -> np.ndarray:
    """The inverse of :func:`as_columns`: (M, B·K) back to (B, M, K)."""
    return np.moveaxis(y.reshape(y.shape[0], B, K), 0, 1)


def apply_product(
    factors: list[Factor], x: np.ndarray, cache: EngineCache, dtype=None
) -> np.ndarray:
    """(A₁⊗…⊗A_d) applied to ``x`` of shape (B, N, K); returns (B, M, K).

    The working dtype is ``np.result_type`` of ``dtype`` (default: the factors')
    and ``x``, at least floating point. ``x`` is never modified; the result is a
    new array.
    """
    B, _N, K = x.shape
    if dtype is None:
        dtype = np.result_type(*(f.dtype for f in factors))
    dtype = compute_dtype(dtype, x.dtype)
    if x.dtype == dtype and x.flags.c_contiguous:
        layout, flat = "C", x
    elif x.dtype == dtype and B == 1 and x[0].flags.f_contiguous and K > 1:
        layout, flat = "K", x[0].T
    else:
        layout, flat = "C", np.ascontiguousarray(x, dtype=dtype)
    M = math.prod(f.shape[0] for f in factors)
    itemsize = dtype.itemsize
    if layout == "C" and B == 1:
        split = cache.plan(
            ("split", K, itemsize), lambda runs: plan_split(factors, K, itemsize, runs)
        )
        if split is not None:
            y = run_split(
                factors,
                split,
                flat.reshape(-1),
                dtype,
                cache.split_workspace,
                cache.workspace,
            )
            return y.reshape(1, M, K)
    plan = cache.plan(
        ("chain", B, K, layout, itemsize),
        lambda runs: plan_chain(factors, B, K, layout, itemsize, runs),
    )
    y = run_chain(factors, plan, flat, dtype, cache.workspace)
    tensor = y.reshape(plan.sizes)
    want = (BATCH, *range(len(factors)), RHS)
    perm = [plan.layout.index(a) for a in want]
    return tensor.transpose(perm).reshape(B, M, K)


def apply_sum(
    factors: list[Factor], shift, x: np.ndarray, cache: EngineCache, dtype
) -> np.ndarray:
    """(σI + A₁⊕…⊕A_d) applied to ``x`` of shape (B, N, K); returns (B, N, K).

    ``dtype`` is the operator's; the work happens in its promotion with ``x``'s.
    Banded sparse factors, identities and the shift run as one compiled stencil
    (swept in cache-sized slabs); the other factors add their mode products into
    the same output.
    """
    B, N, K = x.shape
    dtype = compute_dtype(dtype, x.dtype)
    if B == 1 and K > 1 and x.dtype == dtype and x[0].flags.f_contiguous:
        # a Fortran-ordered block: its transpose is a C-ordered batch of vectors
        y = apply_sum(factors, shift, x[0].T[:, :, None], cache, dtype)
        return y[:, :, 0].T[None]
    x = np.ascontiguousarray(x, dtype=dtype)
    ns = [f.shape[0] for f in factors]
    shape = (B, *ns, K)
    X = x.reshape(shape)
    Y = np.empty(shape, dtype=dtype)
    stencil, others = cache.plan(
        ("sum", dtype), lambda _runs: plan_sum(factors, shift, dtype)
    )
    size = B * N * K
    need = size if (others or (stencil is not None and stencil.needs_scratch)) else 0
    bufs = cache.workspace.acquire(dtype, need) if need else []
    owned = bufs is not None and need > 0
    if bufs is None:
        bufs = [np.empty(need, dtype), np.empty(need, dtype)]
    try:
        accumulate = False
        if stencil is not None:
            run_stencil(stencil, X, Y, bufs[0] if need else None)
            accumulate = True
        for j in others:
            f = factors[j]
            L = B * math.prod(ns[:j])
            R = math.prod(ns[j + 1 :]) * K
            add_mode_product(
                f,
                f.as_dtype(dtype),
                X.reshape(L, ns[j], R),
                Y.reshape(L, ns[j], R),
                bufs,
                accumulate,
            )
            accumulate = True
        if not accumulate:
            Y.fill(0)
    finally:
        if owned:
            cache.workspace.release()
    return Y.reshape(B, N, K)


def apply_spectral(
    inverse, weights: np.ndarray, vectors, x: np.ndarray, cache: EngineCache, dtype
) -> np.ndarray:
    """(⊗ vectors)·diag(weights)·(⊗ inverse) applied to ``x`` (B, N, K).

    Three steps: the inverse chain, the scaling in place, the vectors' chain.
    """
    y = apply_product(inverse, x, cache.sub("inverse"), dtype)
    y = cast(y, np.result_type(y, weights))
    scale_rows(y, weights)
    return apply_product(vectors, y, cache.sub("vectors"), dtype)


def apply_terms(terms, x: np.ndarray, cache: EngineCache, dtype) -> np.ndarray:
    """Σᵣ cᵣ·(⊗ factors of term r) applied to ``x`` (B, N, K), into one output.

    ``terms`` is a sequence of ``(coefficient, factors)``; ``dtype`` the operator's.
    """
    dtype = compute_dtype(dtype, x.dtype)
    x = np.ascontiguousarray(x, dtype=dtype)
    y = None
    for r, (coef, factors) in enumerate(terms):
        t = apply_product(factors, x, cache.sub(r), dtype)
        if coef != 1:
            if np.result_type(t, coef) == t.dtype:
                t *= coef
            else:
                t = t * coef
        if y is None:
            y = t
        elif np.result_type(y, t) == y.dtype:
            y += t
        else:
            y = y + t
    return y


def cast(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``x`` in ``dtype`` (itself when it already is)."""
    return x if x.dtype == dtype else x.astype(dtype)


def scaled_copy(x: np.ndarray, alpha, dtype: np.dtype) -> np.ndarray:
    """``alpha·x`` as a new array of ``dtype``."""
    if alpha == 1:
        return np.array(x, dtype=dtype, copy=True)
    return np.multiply(x, alpha, dtype=dtype)


def conjugate_closed(w: np.ndarray) -> bool:
    """Whether the multiset of values is closed under conjugation (to rounding)."""
    if not np.iscomplexobj(w):
        return True
    a = np.sort_complex(w)
    b = np.sort_complex(w.conj())
    scale = max(float(np.max(np.abs(w))), np.finfo(float).tiny) if w.size else 1.0
    return bool(np.all(np.abs(a - b) <= 1e3 * np.finfo(w.real.dtype).eps * scale))


#: a grid up to this many values is searched whole; larger ones stream in slabs
GRID_WHOLE = 1 << 22


def k_extreme_grid(vectors, how: str, shift, k: int, key) -> np.ndarray:
    """The k grid values with the smallest ``key``, sorted by it, never all at once.

    The grid holds all sums or products of one entry per vector, plus ``shift``.
    Grids up to :data:`GRID_WHOLE` values are searched whole; larger ones one slab
    of the first vector's entries at a time (memory N/n₁ + k).
    """
    if math.prod(len(v) for v in vectors) <= GRID_WHOLE or len(vectors) == 1:
        return k_extreme(kron_values(list(vectors), how, shift), k, key)
    op = np.multiply if how == "product" else np.add
    rest = kron_values(list(vectors[1:]), how)
    best = None
    for v in vectors[0]:
        slab = op(v, rest)
        if shift != 0:
            slab = slab + shift
        cand = slab if best is None else np.concatenate([best, slab])
        if len(cand) > k:
            cand = cand[np.argpartition(key(cand), k - 1)[:k]]
        best = cand
    return best[np.argsort(key(best), kind="stable")]
