"""Which kernels run kronop's products: the fused compiled kernels or numpy/BLAS.

With the ``fast`` extra installed (``pip install "kronop[fast]"``, which brings
numba), products whose work can be fused run compiled kernels: a Kronecker sum of
banded factors in one pass over memory, products of small and middle factors with
several modes per pass. Without it, or with the fused kernels switched off, every
product runs the numpy/BLAS kernels, which give the same results to rounding.
"""

from __future__ import annotations

import numpy as np

from ._engine import jit

__all__ = ["fused_enabled", "set_fused"]


def fused_enabled() -> bool:
    """Whether products run the fused compiled kernels now.

    True when numba is installed and the kernels are not switched off (by
    :func:`set_fused` or ``KRONOP_FUSED=0`` in the environment).

    Returns
    -------
    bool

    Examples
    --------
    >>> import kronop
    >>> isinstance(kronop.fused_enabled(), bool)
    True
    """
    return jit.enabled()


def set_fused(enabled: bool) -> bool:
    """Switch the fused compiled kernels on or off for this process.

    Parameters
    ----------
    enabled : bool
        ``False`` runs every product on the numpy/BLAS kernels. ``True`` uses
        the fused kernels where they apply, when numba is installed (without it,
        this changes nothing).

    Returns
    -------
    bool
        The previous setting, to restore it.

    Notes
    -----
    The switch is global to the process and read at every product; results are
    the same either way to rounding. The environment variable ``KRONOP_FUSED=0``
    sets it off at import.

    Examples
    --------
    >>> import numpy as np
    >>> import kronop
    >>> L = kronop.laplacian((8, 8, 8))
    >>> x = np.ones(L.shape[1])
    >>> previous = kronop.set_fused(False)
    >>> y_numpy = L @ x
    >>> _ = kronop.set_fused(previous)
    >>> bool(np.allclose(L @ x, y_numpy))
    True
    """
    if not isinstance(enabled, bool | np.bool_):
        raise TypeError(
            f"set_fused() takes True or False, got {type(enabled).__name__} {enabled!r}"
        )
    return jit.set_enabled(bool(enabled))
