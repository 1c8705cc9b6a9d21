"""The one numeric engine: the only code in kronop that touches length-N arrays.

Operators hand the engine their :class:`~kronop._factor.Factor` objects and the
caller's array; the engine plans (:mod:`.plan`, backend-free) and runs the plan
with the kernels for the input's kind of array (:func:`kernels_for`: today
:mod:`.numpy_kernels`), and returns the result in natural layout, as a new array that
never aliases a work buffer. Every door below only dispatches; adding a backend
(compiled fused kernels, dask arrays) means adding a kernel module with the same
functions and choosing it in :func:`kernels_for` — operators do not change.

The doors:

* :func:`apply_product` — A₁⊗…⊗A_d applied to a block ``(B, N, K)``;
* :func:`apply_sum` — σI + A₁⊕…⊕A_d (banded factors as one fused stencil);
* :func:`apply_terms` — Σᵣ cᵣ·(⊗ factors of term r), into one output;
* :func:`apply_spectral` — V·diag(w)·V⁻¹ for Kronecker V (spectral solves);
* :func:`apply_blocks`, :func:`apply_batched`, :func:`solve_batched` — block-diagonal
  operators, each block on its own slab (any kind of block), or k equal dense blocks
  as one batched GEMM or one batched LU solve;
* :func:`tri_solve` — the triangular back substitution of a Schur solve;
* :func:`as_block`, :func:`as_columns`, :func:`from_columns`, :func:`finish`,
  :func:`cast`, :func:`scaled_copy` — the caller's input as the kernels read it,
  batches folded into columns and back, results in their dtype;
* :func:`kron_values`, :func:`kron_terms`, :func:`affine`, :func:`reciprocal`,
  :func:`scale_rows`,
  :func:`divide_rows`, :func:`any_zero`, :func:`log_abs_sum`, :func:`null_norms2`,
  :func:`column_norms`, :func:`k_extreme`, :func:`k_extreme_grid`, :func:`abs_extremes`,
  :func:`conjugate_closed`, :func:`kron_diagonal`, :func:`outer_abs_sum_max` — the
  length-N eigenvalue grid, diagonal scalings, reductions and diagonals of spectral
  solves, determinants and norms.

Each operator keeps one :class:`EngineCache` (plans and work buffers, never
pickled).
"""

from __future__ import annotations

import sys

import numpy as np

from . import fft_kernels, gather_kernels, jit, numpy_kernels
from .cache import EngineCache
from .gather_kernels import SegmentSum
from .plan import compute_dtype

__all__ = [
    "EngineCache",
    "SegmentSum",
    "abs_extremes",
    "affine",
    "any_null",
    "any_zero",
    "apply_batched",
    "apply_blocks",
    "apply_product",
    "apply_spectral",
    "apply_sum",
    "apply_terms",
    "as_block",
    "as_columns",
    "cast",
    "column_norms",
    "compute_dtype",
    "conjugate_closed",
    "contract_rows",
    "divide_rows",
    "expand_cols",
    "finish",
    "frequency_product",
    "from_columns",
    "is_lazy",
    "k_extreme",
    "k_extreme_grid",
    "kernels_for",
    "kron_diagonal",
    "kron_terms",
    "kron_values",
    "log_abs_sum",
    "null_norms2",
    "numpy_only",
    "outer_abs_sum_max",
    "reciprocal",
    "scale_rows",
    "scaled_copy",
    "scaled_rows",
    "shifted_reciprocal",
    "solve_batched",
    "through_spectrum",
    "tri_solve",
]


def kernels_for(x):
    """The kernel module that runs plans on arrays like ``x``.

    numpy arrays (and everything ``np.asarray`` accepts) run on
    :mod:`kronop._engine.fused_kernels` when the compiled kernels are enabled
    (:func:`jit.enabled`), else on :mod:`kronop._engine.numpy_kernels`; dask
    arrays run on :mod:`kronop._engine.dask_kernels` (the distributed plan).
    Backends are chosen here, below every operator.
    """
    if type(x) is not np.ndarray and is_lazy(x):
        return _dask_kernels()
    if jit.enabled():
        return _fused_kernels()
    return numpy_kernels


def _fused_kernels():
    # imported on first use (it compiles kernels with numba); kept, since this
    # runs several times per product
    global _FUSED
    if _FUSED is None:
        from . import fused_kernels

        _FUSED = fused_kernels
    return _FUSED


_FUSED = None


def is_lazy(x) -> bool:
    """Whether ``x`` is a dask array (checked without importing dask)."""
    mod = sys.modules.get("dask.array")
    return mod is not None and isinstance(x, mod.Array)


def numpy_only(x, what: str) -> None:
    """A door without a dask implementation refuses dask arrays (never gathers)."""
    if is_lazy(x):
        _dask_kernels().unsupported(what)


def _dask_kernels():
    from . import dask_kernels

    return dask_kernels


# ------------------------------------------------------------------ products
def apply_product(factors, x, cache: EngineCache, dtype=None):
    """(A₁⊗…⊗A_d) applied to ``x`` of shape (B, N, K); returns (B, M, K).

    The working dtype is ``np.result_type`` of ``dtype`` (default: the factors')
    and ``x``, at least floating point. ``x`` is never modified; the result is a
    new array.
    """
    return kernels_for(x).apply_product(factors, x, cache, dtype)


def apply_sum(factors, shift, x, cache: EngineCache, dtype):
    """(σI + A₁⊕…⊕A_d) applied to ``x`` of shape (B, N, K); returns (B, N, K).

    ``dtype`` is the operator's; the work happens in its promotion with ``x``'s.
    Banded sparse factors, identities and the shift run as one compiled stencil;
    the other factors add their mode products into the same output.
    """
    return kernels_for(x).apply_sum(factors, shift, x, cache, dtype)


def apply_spectral(inverse, weights, vectors, x, cache: EngineCache, dtype):
    """(⊗ ``vectors``)·diag(``weights``)·(⊗ ``inverse``) applied to ``x`` (B, N, K).

    ``inverse`` and ``vectors`` are lists of factors (V⁻¹'s and V's), ``weights``
    a length-N vector (1/(w + shift) of a spectral solve, f(w) of a matrix
    function). The fused backend folds the scaling into one of the passes.
    """
    return kernels_for(x).apply_spectral(inverse, weights, vectors, x, cache, dtype)


def apply_terms(terms, x, cache: EngineCache, dtype):
    """Σᵣ cᵣ·(⊗ factors of term r) applied to ``x`` (B, N, K), into one output.

    ``terms`` is a sequence of ``(coefficient, factors)``; ``dtype`` the operator's.
    """
    return kernels_for(x).apply_terms(terms, x, cache, dtype)


def apply_blocks(appliers, x, rows: int, dtype):
    """diag(A₁, …, A_k) applied to ``x`` (B, N, K); returns (B, rows, K).

    ``appliers`` is a sequence of ``(apply, m, n)``, one per block: ``apply`` maps a
    (B, n, K) slab of the input to its (B, m, K) slab of the result (a kronop
    operator's ``_apply``, a factor's product, a solve). The slabs are views.
    """
    return kernels_for(x).run_blocks(appliers, x, rows, compute_dtype(dtype, x.dtype))


def apply_batched(stack, x, dtype):
    """k equal dense blocks ``stack`` (k, m, n) applied to ``x`` (B, k·n, K).

    One batched matmul, never a Python loop over the blocks.
    """
    return kernels_for(x).run_batched(stack, x, compute_dtype(dtype, x.dtype))


def solve_batched(stack, x, dtype):
    """k square blocks ``stack`` (k, m, m) solved against ``x`` (B, k·m, K), batched."""
    return kernels_for(x).run_batched_solve(stack, x, compute_dtype(dtype, x.dtype))


def through_spectrum(x, levels, n_in, n_out, real_op: bool, dtype, multiply):
    """A (multilevel) block-circulant product: FFT, ``multiply`` per frequency, iFFT."""
    numpy_only(x, "through_spectrum")
    return fft_kernels.through_spectrum(
        x, levels, n_in, n_out, real_op, dtype, multiply
    )


def frequency_product(S):
    """The per-frequency product with frequency blocks ``S`` (for through_spectrum)."""
    return fft_kernels.frequency_product(S)


def contract_rows(trick, mats, X, grid, space):
    """Rows of ⊗Aⱼ at sampled multi-indices times X (N, L), by the step plan."""
    numpy_only(X, "contract_rows")
    return gather_kernels.contract_rows(trick, mats, X, grid, space)


def expand_cols(trick, mats, x, grid, space):
    """Columns of ⊗Aⱼ at sampled multi-indices times x (C, L): the adjoint."""
    numpy_only(x, "expand_cols")
    return gather_kernels.expand_cols(trick, mats, x, grid, space)


def tri_solve(Ts, Y, shift, axes=None):
    """Solve (T₁⊕…⊕T_d + shift·I) Z = Y for triangular (Schur) factors Tⱼ.

    ``Y`` has shape (n₁, …, n_D, K); the Tⱼ act on ``axes`` (default: the first
    len(Ts) axes) and every other axis is a batch axis.
    """
    numpy_only(Y, "a Schur solve, method='schur'; solve with method='eig'")
    return kernels_for(Y).tri_solve_axes(Ts, Y, shift, axes)


# ------------------------------------------------------- arrays in and out
def as_block(X):
    """The caller's input as an array the kernels read (sparse inputs densified)."""
    return kernels_for(X).as_block(X)


def as_columns(x):
    """A block (B, N, K) as the columns of one (N, B·K) array (a view when B = 1)."""
    return kernels_for(x).as_columns(x)


def from_columns(y, B: int, K: int):
    """The inverse of :func:`as_columns`: (M, B·K) back to (B, M, K)."""
    return kernels_for(y).from_columns(y, B, K)


def finish(x, dtype):
    """A result in its dtype: the real part when the dtype is real, cast if needed."""
    return kernels_for(x).finish(x, np.dtype(dtype))


def cast(x, dtype):
    """``x`` in ``dtype`` (itself when it already is)."""
    return kernels_for(x).cast(x, np.dtype(dtype))


def scaled_copy(x, alpha, dtype):
    """``alpha·x`` as a new array of ``dtype``."""
    return kernels_for(x).scaled_copy(x, alpha, np.dtype(dtype))


# ---------------------------------------------------- length-N vectors
def kron_values(vectors, how: str, shift=0):
    """All products (``"product"``) or sums (``"sum"``) of one entry per vector, + shift."""
    return kernels_for(vectors[0]).kron_values(vectors, how, shift)


def kron_terms(terms, dtype):
    """Σᵣ cᵣ · (all products of one entry per vector of term r), ``np.kron`` order."""
    return kernels_for(terms[0][1][0]).kron_terms(terms, dtype)


def reciprocal(w, tol):
    """``(1/w, null)``: reciprocals with 0 where ``|w| ≤ tol``, and those indices."""
    return kernels_for(w).reciprocal(w, tol)


def scale_rows(y, w, shift=0, divide: bool = False) -> None:
    """``y[…, i, :] *= w[i] + shift`` (or ``/=``) in place."""
    kernels_for(y).scale_rows(y, w, shift, divide)


def scaled_rows(y, w):
    """``y[i] · w[i]`` as a new array, for y of shape (N,) or (N, K)."""
    return kernels_for(y).scaled_rows(y, w)


def divide_rows(y, w, shift, bound):
    """``y[i] /= w[i] + shift`` in place; null rows (see the kernel) are zeroed."""
    return kernels_for(y).divide_rows(y, w, shift, bound)


def shifted_reciprocal(w, shift, bound):
    """``1/(w + shift)`` (a new array), or None when some value is null (see divide_rows)."""
    return kernels_for(w).shifted_reciprocal(w, shift, bound)


def affine(x, a, b):
    """a·x + b (a new array)."""
    return kernels_for(x).affine(x, a, b)


def any_null(w, tol) -> bool:
    """Whether some |w[i]| ≤ tol (a scalar or one bound per value)."""
    return kernels_for(w).any_null(w, tol)


def any_zero(w, shift=0) -> bool:
    """Whether some ``w[i] + shift`` is exactly zero."""
    return kernels_for(w).any_zero(w, shift)


def log_abs_sum(parts, real: bool):
    """Σ log|v| over ``parts`` = [(values, multiplicity, shift)], with the sign data."""
    return kernels_for(parts[0][0]).log_abs_sum(parts, real)


def null_norms2(y, null):
    """Squared norms (per column) of the rows ``null`` of y."""
    return kernels_for(y).null_norms2(y, null)


def column_norms(b):
    """2-norms of the columns of b (of b itself when 1-D)."""
    return kernels_for(b).column_norms(b)


def k_extreme(w, k: int, key):
    """The k entries of w with the smallest ``key(w)``, sorted by it."""
    return kernels_for(w).k_extreme(w, k, key)


def k_extreme_grid(vectors, how: str, shift, k: int, key):
    """The k most extreme values of the grid of sums or products, without forming it."""
    return kernels_for(vectors[0]).k_extreme_grid(vectors, how, shift, k, key)


def abs_extremes(w) -> tuple[float, float]:
    """``(max |w|, min |w|)``."""
    return kernels_for(w).abs_extremes(w)


def conjugate_closed(w) -> bool:
    """Whether the multiset of values is closed under conjugation (to rounding)."""
    return kernels_for(w).conjugate_closed(w)


def kron_diagonal(mats, dtype):
    """The main diagonal of ⊗ mats (rectangular factors)."""
    return kernels_for(mats[0]).kron_diagonal(mats, dtype)


def outer_abs_sum_max(diags, offs, shift) -> float:
    """max over the grid of |shift + Σⱼ diagsⱼ[iⱼ]| + Σⱼ offsⱼ[iⱼ]."""
    return kernels_for(diags[0]).outer_abs_sum_max(diags, offs, shift)
