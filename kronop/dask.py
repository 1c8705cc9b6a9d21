"""kronop on dask arrays: problems larger than one machine's memory.

Install with ``pip install "kronop[dask]"``. Every kronop operator that runs on
the engine's dask kernels takes a dask array where it takes a numpy array and
returns a *lazy* dask array, chunked like the input; nothing is computed until
you call ``.compute()`` or ``.persist()``, and no task ever holds the whole
vector:

* products ``K @ x``, ``K.matvec``, ``K.matmat``, ``K.H @ y``, ``K.rmatvec`` of
  :class:`~kronop.KronOperator`, :class:`~kronop.KronSum` (and
  :func:`~kronop.laplacian`), :class:`~kronop.KronProductSum`,
  :class:`~kronop.KronPlusDiagonal`, :class:`~kronop.BlockDiag` and
  :class:`~kronop.IdentityOperator`;
* solves ``S.solve(b)``, ``K.solve(b)``, ``dec.solve(b, shift=σ)`` and
  ``S.inv() @ b`` through a Kronecker eigendecomposition (fast diagonalization)
  or factor-wise inverses, and :class:`~kronop.BlockDiag` solves;
* the Krylov solvers :func:`cg` and :func:`gmres` below (scipy's would gather
  the vectors into one numpy array).

``x`` may be a flat ``(N,)`` or ``(N, k)`` array, or a grid ``(n₁, …, n_d)``
(``(n₁, …, n_d, k)``) shaped like the operator's factors; keep vectors on the
grid and split them along the first axis only (:func:`slab_chunks`), so every
reshape is free.

How a product runs (the distributed plan): the factors on whole axes are applied
inside each block with kronop's own kernels; a banded factor (a finite-difference
stencil) on the split axis is applied there too with a halo from the neighbouring
blocks; any other factor on the split axis costs one ``rechunk`` that moves the
split to another axis and one that moves it back (two all-to-alls, like a slab
FFT). A fast-diagonalization solve is the same chain with the division by the
eigenvalues in the middle, computed per block and never stored: two all-to-alls.

Settings (``dask.config``):

``kronop.chunk-size``
    target bytes per block of the transposed layout and of :func:`slab_chunks`
    (default ``"100MiB"``).
``kronop.rechunk-method``
    ``"tasks"``, ``"p2p"`` or None (dask's ``array.rechunk.method``): how the
    all-to-alls run. ``"p2p"`` needs a ``distributed`` client and keeps memory
    flat on large problems.

Unlike the numpy path, solves on dask arrays do not warn about ill-conditioned
operators or right-hand sides with a null-space component (that would need a pass
over the data); a singular operator with non-unitary eigenvectors raises
``LinAlgError`` when the result is computed. scipy's own composites (the sum of
two unrelated operators, ``aslinearoperator``) gather a dask input into numpy.

Examples
--------
>>> import numpy as np
>>> import dask.array as da
>>> import kronop
>>> from kronop.dask import slab_chunks
>>> L = kronop.laplacian((16, 16, 16))
>>> shape = (16, 16, 16)
>>> b = da.ones(shape, chunks=slab_chunks(shape, np.float64, chunk_size="8KiB"))
>>> x = L.solve(b)  # lazy: nothing has run yet
>>> x.chunks == b.chunks
True
>>> bool(np.allclose((L @ x).compute(), 1.0))
True
"""

from __future__ import annotations

import numpy as np

from ._dask_krylov import cg, gmres
from ._engine.dask_kernels import (
    CHUNK_SIZE_KEY,
    DEFAULT_CHUNK_SIZE,
    RECHUNK_METHOD_KEY,
)
from ._engine.dask_kernels import slab_chunks as _slab_chunks

__all__ = [
    "CHUNK_SIZE_KEY",
    "DEFAULT_CHUNK_SIZE",
    "RECHUNK_METHOD_KEY",
    "cg",
    "gmres",
    "slab_chunks",
]


def slab_chunks(
    shape: tuple[int, ...], dtype=np.float64, chunk_size: int | str | None = None
) -> tuple[tuple[int, ...], ...]:
    """Chunks for a grid vector: slabs along the first axis, the others whole.

    The layout kronop's distributed plan expects: flattening and unflattening
    are free, factors on the other axes run inside each block, and only the
    first axis needs halos or an all-to-all.

    Parameters
    ----------
    shape : tuple of int
        The array's shape, ``(n₁, …, n_d)`` or ``(n₁, …, n_d, k)``.
    dtype : dtype, optional
        Its dtype (for the bytes per block).
    chunk_size : int or str, optional
        Target bytes per block (``"100MiB"``); default: the dask config value
        ``kronop.chunk-size``.

    Returns
    -------
    tuple of tuple of int
        dask's ``chunks`` for ``da.from_array``, ``da.zeros``, ``x.rechunk``…

    Examples
    --------
    >>> from kronop.dask import slab_chunks
    >>> c = slab_chunks((1024, 1024, 1024), "float64")  # 8 GiB in ~100 MiB slabs
    >>> len(c[0]), max(c[0]), c[1:]
    (82, 13, ((1024,), (1024,)))
    >>> slab_chunks((8, 4), chunk_size=64)
    ((2, 2, 2, 2), (4,))
    """
    return _slab_chunks(shape, dtype, chunk_size)
