"""Dask arrays through the operator shell, before scipy gathers them.

scipy's ``LinearOperator`` entry points call ``np.asanyarray`` on their input,
which would compute a dask array into one numpy array. The shell
(:mod:`kronop._base`) sends dask arrays here instead: the array is checked, viewed
as the ``(1, N, K)`` block the operators' ``_apply`` take (a grid-shaped array
``(n₁, …, n_d[, k])`` included: with slab chunks the view is free), and the
result is given back in the caller's layout. The products themselves run on the
engine's dask kernels (:mod:`kronop._engine.dask_kernels`); nothing is computed.
"""

from __future__ import annotations

import math
import warnings

__all__ = ["as_slabs", "lazy_apply", "lazy_solve"]


def _check_dtype(x, what: str) -> None:
    if x.dtype.kind not in "biufc":
        raise TypeError(
            f"the {what} must have a numeric dtype, got a dask array of dtype {x.dtype}"
        )


def as_slabs(x, grid_ndim: int):
    """``x`` split along one grid axis only: slabs (a warning if it rechunks).

    The split axis is the first one longer than 1 (leading axes of length 1 are
    free); the grid axes after it must be whole.
    """
    from ._engine.dask_kernels import even_chunks, slab_axis

    a = slab_axis(x.shape[:grid_ndim])
    if all(len(c) == 1 for c in x.chunks[a + 1 : grid_ndim]):
        return x
    from dask.array import PerformanceWarning

    parts = math.prod(len(c) for c in x.chunks[:grid_ndim])
    warnings.warn(
        f"the array of shape {x.shape} is chunked along grid axes after axis {a} "
        f"(chunks {tuple(len(c) for c in x.chunks)} per axis); kronop rechunked it "
        f"into at most {x.shape[a]} slabs along axis {a} (an extra all-to-all). Use "
        "kronop.dask.slab_chunks to avoid this",
        PerformanceWarning,
        stacklevel=5,
    )
    new = {b: -1 for b in range(grid_ndim)}
    new[a] = even_chunks(x.shape[a], parts)
    return x.rechunk(new)


def _as_block(x, n: int, grid, form: str, describe):
    """``(block (1, n, K), restore(y, out_grid, m))`` for a dask array ``x``.

    A shape that is both a block ``(N, k)`` and the grid (a grid ``(N, 1)``) is
    a block, as on the numpy path.

    ``form`` is "vector" (matvec), "block" (matmat) or "any" (``@``, ``dot``,
    ``solve``); ``describe`` builds the ValueError for a shape that fits none.
    """
    shape = tuple(x.shape)
    grid = tuple(grid) if grid is not None else None
    vector_ok = form in ("vector", "any")
    block_ok = form in ("block", "any")
    if vector_ok and shape == (n,):
        return x.reshape(1, n, 1), lambda y, og, m: y.reshape(m)
    if (block_ok or shape == (n, 1)) and len(shape) == 2 and shape[0] == n:
        return x[None], lambda y, og, m: y[0]
    if grid is not None and len(grid) > 1:
        if vector_ok and shape == grid:
            x = as_slabs(x, len(grid))
            return x.reshape(1, n, 1), lambda y, og, m: y.reshape(og)
        if block_ok and len(shape) == len(grid) + 1 and shape[:-1] == grid:
            x = as_slabs(x, len(grid))
            k = shape[-1]
            return x.reshape(1, n, k), lambda y, og, m: y.reshape(*og, k)
    raise describe(x)


def lazy_apply(op, x, form: str, side: str):
    """``op @ x`` (or ``op.H @ x`` when ``side`` is the adjoint's) for a dask array.

    Accepts ``(N,)``, ``(N, k)``, and the operator's input grid ``(n₁, …, n_d)``
    or ``(n₁, …, n_d, k)``; returns a lazy dask array in the same layout.
    """
    target = op if side == "input" else op.H
    _check_dtype(x, side)
    n = target.shape[1]
    block, restore = _as_block(
        x,
        n,
        target._input_grid(),
        form,
        lambda x: op._shape_error(x, n, side),
    )
    m = target.shape[0]
    out_grid = target._output_grid() or (m,)
    if block.size == 0:
        import dask.array as da

        from ._engine import compute_dtype

        dtype = compute_dtype(target.dtype, x.dtype)
        y = da.zeros((1, m, block.shape[2]), dtype=dtype)
        return restore(y, out_grid, m)
    return restore(target._apply(block), out_grid, m)


def lazy_solve(solve, b, n: int, grid, describe):
    """``solve`` on a dask right-hand side, keeping its layout.

    ``solve`` takes the flat ``(N,)`` or ``(N, k)`` dask array; ``b`` may also be
    the grid ``(n₁, …, n_d[, k])``.
    """
    _check_dtype(b, "right-hand side")
    block, restore = _as_block(b, n, grid, "any", describe)
    vector = b.ndim == 1 or (grid is not None and tuple(b.shape) == tuple(grid))
    x = solve(block[0, :, 0] if vector else block[0])
    y = x[None, :, None] if vector else x[None]
    return restore(y, tuple(grid) if grid else (n,), n)


def describe_rhs(n: int):
    """The ValueError for a right-hand side of the wrong shape."""

    def error(b):
        return ValueError(
            f"right-hand side must have shape ({n},) or ({n}, k) (or the operator's "
            f"grid), got {tuple(b.shape)}"
        )

    return error
