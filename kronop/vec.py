"""Column-major (textbook) vectorization: ``vec`` and ``unvec``.

kronop itself is row-major like ``numpy.kron``: ``kron(A, B) @ X.ravel()`` equals
``(A @ X @ B.T).ravel()``. Textbooks write the same identity column-major,
``vec(A X B) = (Bᵀ ⊗ A) vec(X)``, with ``vec`` stacking columns. These helpers give
that convention, so formulas can be copied from a paper as they stand.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["unvec", "vec"]


def vec(X: ArrayLike) -> np.ndarray:
    r"""Stack the columns of a matrix into one vector (column-major order).

    Parameters
    ----------
    X : array_like, shape (m, n)
        The matrix (a stack ``(..., m, n)`` gives ``(..., m*n)``).

    Returns
    -------
    numpy.ndarray, shape (m*n,)
        ``[X[:, 0], X[:, 1], …]``.

    Raises
    ------
    ValueError
        If ``X`` has fewer than two dimensions.

    See Also
    --------
    unvec : the inverse.

    Notes
    -----
    With this ``vec``, :math:`\operatorname{vec}(AXB) = (B^T \otimes A)\operatorname{vec}(X)`,
    so ``kron(B.T, A) @ vec(X) == vec(A @ X @ B)``. The row-major form used by the
    library is ``kron(A, B.T) @ X.ravel() == (A @ X @ B).ravel()``.

    Examples
    --------
    >>> import numpy as np
    >>> from kronop import kron, vec, unvec
    >>> A, X, B = np.arange(4.0).reshape(2, 2), np.eye(2), np.ones((2, 2))
    >>> bool(np.allclose(kron(B.T, A) @ vec(X), vec(A @ X @ B)))
    True
    >>> print(vec(np.array([[1, 2], [3, 4]])))
    [1 3 2 4]
    """
    X = np.asarray(X)
    if X.ndim < 2:
        raise ValueError(f"vec needs a matrix (at least 2-D), got shape {X.shape}")
    m, n = X.shape[-2:]
    return np.swapaxes(X, -1, -2).reshape(*X.shape[:-2], m * n)


def unvec(v: ArrayLike, shape: tuple[int, int]) -> np.ndarray:
    """Undo :func:`vec`: fill an ``(m, n)`` matrix column by column.

    Parameters
    ----------
    v : array_like, shape (m*n,)
        The vector (a stack ``(..., m*n)`` gives ``(..., m, n)``).
    shape : tuple of int
        ``(m, n)``.

    Returns
    -------
    numpy.ndarray, shape (m, n)

    Raises
    ------
    ValueError
        If ``len(v)`` is not ``m*n``.

    Examples
    --------
    >>> import numpy as np
    >>> from kronop import unvec
    >>> print(unvec(np.array([1, 3, 2, 4]), (2, 2)))
    [[1 2]
     [3 4]]
    """
    v = np.asarray(v)
    if np.ndim(shape) != 1 or len(shape) != 2:
        raise ValueError(
            f"unvec needs the matrix shape (m, n), got {shape!r}; for a d-way tensor "
            "in C order use v.reshape(shape)"
        )
    m, n = (int(s) for s in shape)
    if v.ndim < 1 or v.shape[-1] != m * n:
        raise ValueError(
            f"unvec to shape ({m}, {n}) needs a vector of length {m * n}, "
            f"got shape {v.shape}"
        )
    return np.swapaxes(v.reshape(*v.shape[:-1], n, m), -1, -2)
