"""``IdentityOperator``: scipy's identity, scaled and summed in kronop's algebra.

``σ * IdentityOperator(shape)`` stays an identity (with ``scale`` σ), and
``σI + K`` reaches the same structured rules as ``K + σI`` (scipy's own
``IdentityOperator`` works on the right of a kronop operator only, since its ``+``
builds scipy's lazy sum before kronop is asked).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.linalg._interface import IdentityOperator as _ScipyIdentity

from . import _engine
from ._base import StructuredOperator
from ._compat import conj_scalar

__all__ = ["IdentityOperator"]


class IdentityOperator(StructuredOperator, _ScipyIdentity):
    """σ·I as a ``LinearOperator`` (a subclass of scipy's ``IdentityOperator``).

    Parameters
    ----------
    shape : tuple of int
        ``(N, N)``.
    dtype : dtype, optional
        float64 by default (scipy's leaves it None, which its solvers reject).
    scale : scalar, optional
        σ (1 by default).

    Examples
    --------
    >>> import numpy as np
    >>> from kronop import IdentityOperator, KronOperator
    >>> K = KronOperator(np.array([[2.0, 1.0], [1.0, 2.0]]), np.eye(3))
    >>> S = 0.5 * IdentityOperator(K.shape) + K  # structured: it solves
    >>> bool(np.allclose(S @ S.solve(np.ones(6)), 1.0))
    True
    """

    def __init__(self, shape, dtype=None, scale=1.0) -> None:
        self.scale = scale
        dtype = np.float64 if dtype is None else dtype
        super().__init__(np.result_type(dtype, scale), shape)
        if self.shape[0] != self.shape[1]:
            raise ValueError(f"an identity operator is square, got shape {self.shape}")

    def __repr__(self) -> str:
        s = "" if self.scale == 1 else f"{self.scale}·"
        return (
            f"<{self.shape[0]}×{self.shape[1]} {s}IdentityOperator, dtype={self.dtype}>"
        )

    def _args(self) -> tuple:
        return (self.scale,)

    def _apply(self, x: np.ndarray) -> np.ndarray:
        return _engine.scaled_copy(x, self.scale, np.result_type(self.dtype, x.dtype))

    def _scaled(self, alpha) -> IdentityOperator:
        return IdentityOperator(
            self.shape, np.result_type(self.dtype, alpha), self.scale * alpha
        )

    def _make_adjoint(self) -> IdentityOperator:
        return IdentityOperator(self.shape, self.dtype, conj_scalar(self.scale))

    def _make_transpose(self) -> IdentityOperator:
        return self

    def toarray(self) -> np.ndarray:
        """σ·I as a dense matrix.

        Examples
        --------
        >>> from kronop import IdentityOperator
        >>> print((0.5 * IdentityOperator((3, 3))).toarray())
        [[0.5 0.  0. ]
         [0.  0.5 0. ]
         [0.  0.  0.5]]
        """
        return self.scale * np.eye(self.shape[0], dtype=self.dtype)
