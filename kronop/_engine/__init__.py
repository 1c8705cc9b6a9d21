"""The one numeric engine: the only code in kronop that touches length-N arrays.

Operators hand the engine their :class:`~kronop._factor.Factor` objects and the
caller's array; the engine plans (:mod:`.plan`, backend-free), runs the plan with
the kernels for the input's kind of array (:mod:`.numpy_kernels` today), and returns
the result in natural layout, as a new array that never aliases a work buffer.
The doors:

* :func:`apply_product` — A₁⊗…⊗A_d applied to a block ``(B, N, K)``;
* :func:`apply_sum` — σI + A₁⊕…⊕A_d (banded factors as one fused stencil);
* :func:`apply_terms` — Σᵣ cᵣ·(⊗ factors of term r), into one output;
* :func:`apply_blocks`, :func:`apply_batched` — block-diagonal operators, each block
  on its own slab (any kind of block), or k equal dense blocks as one batched GEMM;
* :func:`tri_solve` — the triangular back substitution of a Schur solve;
* :func:`as_block`, :func:`as_columns`, :func:`from_columns`, :func:`finish` — the
  caller's input as the kernels read it, batches folded into columns and back,
  results in their dtype;
* :func:`kron_values`, :func:`reciprocal`, :func:`scale_rows`,
  :func:`divide_rows`, :func:`any_zero`, :func:`log_abs_sum`, :func:`null_norms2`,
  :func:`column_norms`, :func:`k_extreme`, :func:`abs_extremes`,
  :func:`kron_diagonal`, :func:`kron_terms`, :func:`outer_abs_sum_max` — the length-N eigenvalue grid,
  diagonal scalings, reductions and diagonals of spectral solves, determinants and
  norms.

Each operator keeps one :class:`EngineCache` (plans and work buffers, never
pickled). Adding a backend (compiled fused kernels, dask arrays) means adding a
kernel module and choosing it here, from the input array; operators do not change.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._factor import Factor
from . import numpy_kernels as _np
from .numpy_kernels import (
    Workspace,
    abs_extremes,
    any_zero,
    column_norms,
    divide_rows,
    finish,
    k_extreme,
    kron_diagonal,
    kron_terms,
    kron_values,
    log_abs_sum,
    null_norms2,
    outer_abs_sum_max,
    reciprocal,
    scale_rows,
    tri_solve,
)
from .plan import BATCH, RHS, plan_chain, plan_split, plan_sum

__all__ = [
    "EngineCache",
    "Workspace",
    "abs_extremes",
    "any_zero",
    "apply_batched",
    "apply_blocks",
    "apply_product",
    "apply_sum",
    "apply_terms",
    "as_block",
    "as_columns",
    "column_norms",
    "compute_dtype",
    "divide_rows",
    "finish",
    "from_columns",
    "k_extreme",
    "kernels_for",
    "kron_diagonal",
    "kron_terms",
    "kron_values",
    "log_abs_sum",
    "null_norms2",
    "outer_abs_sum_max",
    "reciprocal",
    "scale_rows",
    "tri_solve",
]

#: plans kept per operator (one per input form: batch, width, layout, dtype)
_PLANS_KEPT = 16
_MISSING = object()


class EngineCache:
    """What the engine keeps for one operator between calls: plans and buffers.

    Transient: an operator rebuilds it after unpickling, and :meth:`clear` frees
    the buffers (they regrow on use).
    """

    def __init__(self) -> None:
        self.plans: OrderedDict = OrderedDict()
        self.workspace = Workspace()
        self.split_workspace = Workspace()
        self._subs: dict[Any, EngineCache] = {}
        self._lock = threading.Lock()

    def plan(self, key, build):
        """The plan stored under ``key``, built on first use (a few kept)."""
        got = self.plans.get(key, _MISSING)
        if got is _MISSING:
            got = build()
            with self._lock:
                self.plans[key] = got
                while len(self.plans) > _PLANS_KEPT:
                    self.plans.popitem(last=False)
        return got

    def sub(self, key) -> EngineCache:
        """A child cache (one per term of a sum of products)."""
        got = self._subs.get(key)
        if got is None:
            got = self._subs.setdefault(key, EngineCache())
        return got

    def clear(self) -> None:
        """Free the work buffers."""
        self.workspace.clear()
        self.split_workspace.clear()
        for s in self._subs.values():
            s.clear()

    def nbytes(self) -> int:
        """Bytes held in work buffers."""
        total = self.workspace.nbytes() + self.split_workspace.nbytes()
        return total + sum(s.nbytes() for s in self._subs.values())


def kernels_for(x):
    """The kernel module that runs plans on arrays like ``x``.

    numpy arrays (and everything ``np.asarray`` accepts) run on
    :mod:`kronop._engine.numpy_kernels`; a backend for another kind of array (dask,
    compiled fused kernels) is chosen here, below every operator.
    """
    return _np


def compute_dtype(*dtypes) -> np.dtype:
    """The working dtype: NumPy's promotion, raised to floating point."""
    dtype = np.result_type(*dtypes)
    if dtype.kind not in "fc":
        dtype = np.result_type(dtype, np.float64)
    return dtype


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
            ("split", K, itemsize), lambda: plan_split(factors, K, itemsize)
        )
        if split is not None:
            y = kernels_for(x).run_split(
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
        lambda: plan_chain(factors, B, K, layout, itemsize),
    )
    y = kernels_for(x).run_chain(factors, plan, flat, dtype, cache.workspace)
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
        ("sum", dtype), lambda: plan_sum(factors, shift, dtype)
    )
    size = B * N * K
    need = size if (others or (stencil is not None and stencil.needs_scratch)) else 0
    bufs = cache.workspace.acquire(dtype, need) if need else []
    owned = bufs is not None and need > 0
    if bufs is None:
        bufs = [np.empty(need, dtype), np.empty(need, dtype)]
    kernels = kernels_for(x)
    try:
        accumulate = False
        if stencil is not None:
            kernels.run_stencil(stencil, X, Y, bufs[0] if need else None)
            accumulate = True
        for j in others:
            f = factors[j]
            L = B * math.prod(ns[:j])
            R = math.prod(ns[j + 1 :]) * K
            kernels.add_mode_product(
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


def apply_blocks(appliers, x: np.ndarray, rows: int, dtype) -> np.ndarray:
    """diag(A₁, …, A_k) applied to ``x`` (B, N, K); returns (B, rows, K).

    ``appliers`` is a sequence of ``(apply, m, n)``, one per block: ``apply`` maps a
    (B, n, K) slab of the input to its (B, m, K) slab of the result (a kronop
    operator's ``_apply``, a factor's product, a solve). The slabs are views.
    """
    dtype = compute_dtype(dtype, x.dtype)
    return kernels_for(x).run_blocks(appliers, x, rows, dtype)


def apply_batched(stack: np.ndarray, x: np.ndarray, dtype) -> np.ndarray:
    """k equal dense blocks ``stack`` (k, m, n) applied to ``x`` (B, k·n, K).

    One batched matmul, never a Python loop over the blocks.
    """
    dtype = compute_dtype(dtype, x.dtype)
    return kernels_for(x).run_batched(stack, x, dtype)


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
