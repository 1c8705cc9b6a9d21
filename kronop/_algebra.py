"""Scalar multiples folded into an operator's structure.

scipy wraps ``alpha * A`` in a ``_ScaledLinearOperator`` whose declared dtype on
scipy 1.17 ignores NumPy's weak-scalar rule (a float32 operator times a Python float
claims float64). Structured operators instead fold the scalar into their structure
(a factor, a shift, a vector of values) through ``_scaled``, which keeps both the
structure and the dtype NumPy would give.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = [
    "ScalarAlgebra",
    "StackedMatvec",
    "check_block",
    "check_rhs",
    "is_scalar",
    "restore_state",
]


def is_scalar(x: Any) -> bool:
    """A Python or NumPy number, or a 0-d array."""
    return isinstance(x, numbers.Number) or (
        isinstance(x, np.generic | np.ndarray) and np.ndim(x) == 0
    )


class ScalarAlgebra:
    """Mixin for ``LinearOperator`` subclasses that implement ``_scaled(alpha)``."""

    def _scaled(self, alpha):  # pragma: no cover - every user overrides it
        raise NotImplementedError

    def __mul__(self, x):
        if is_scalar(x):
            return self._scaled(x)
        return self.dot(x)

    def __rmul__(self, x):
        if is_scalar(x):
            return self._scaled(x)
        return super().__rmul__(x)

    def __truediv__(self, other):
        if not is_scalar(other):
            raise ValueError(
                f"a {type(self).__name__} can only be divided by a scalar, got "
                f"{type(other).__name__}"
            )
        return self._scaled(1 / other)

    def __neg__(self):
        return self._scaled(-1)

    def dot(self, x):
        """Apply to an array, or compose with another operator (scalars fold in).

        Parameters
        ----------
        x : array_like, scalar or LinearOperator

        Returns
        -------
        ndarray or LinearOperator
        """
        from scipy.sparse.linalg import LinearOperator

        if is_scalar(x):
            return self._scaled(x)
        if isinstance(x, LinearOperator) and x.shape[0] != self.shape[1]:
            raise ValueError(
                f"cannot compose operators of shapes {self.shape} and {x.shape}: "
                f"the right operand needs {self.shape[1]} rows, it has {x.shape[0]}"
            )
        return super().dot(x)


class StackedMatvec:
    """``_matvec`` through ``_matmat``, for every input form scipy passes.

    scipy ≤ 1.17 hands ``_matvec`` 1-D vectors and ``(N, 1)`` columns; 1.18 also
    stacks of vectors ``(..., N)``. All become one ``_matmat`` on an ``(N, B)``
    block (research/conventions.md §1.5), so subclasses implement ``_matmat`` only.
    """

    def _matvec(self, x):
        N = self.shape[1]
        x = np.asarray(x)
        if x.ndim == 2 and x.shape == (N, 1):  # scipy <= 1.17 column vector
            return self._matmat(x)
        if x.ndim == 0 or x.shape[-1] != N:
            raise ValueError(
                f"dimension mismatch: operator has shape {self.shape}, got a vector "
                f"of shape {x.shape}"
            )
        lead = x.shape[:-1]
        return self._matmat(x.reshape(-1, N).T).T.reshape(*lead, self.shape[0])


def restore_state(obj, state: dict) -> None:
    """``__setstate__`` body: scipy 1.18's own restore (array namespace) or 1.17's."""
    from scipy.sparse.linalg import LinearOperator

    parent = getattr(LinearOperator, "__setstate__", None)
    if parent is not None:
        parent(obj, state)
    else:
        obj.__dict__.update(state)


def check_rhs(b, n: int) -> np.ndarray:
    """A right-hand side of shape (n,) or (n, k) as an ndarray, or ``ValueError``."""
    import scipy.sparse as sp

    if sp.issparse(b):
        b = b.toarray()
    b = np.asarray(b)
    if b.ndim not in (1, 2) or b.shape[0] != n:
        raise ValueError(
            f"right-hand side must have shape ({n},) or ({n}, k), got {b.shape}"
        )
    return b


def check_block(op, X) -> np.ndarray:
    """``_matmat`` input as an ndarray of shape (..., N, K), or ``ValueError``."""
    import scipy.sparse as sp

    if sp.issparse(X):
        X = X.toarray()
    X = np.asarray(X)
    N = op.shape[1]
    if X.ndim < 2 or X.shape[-2] != N:
        raise ValueError(
            f"dimension mismatch: operator has shape {op.shape}, so the input "
            f"needs {N} rows, got an array of shape {X.shape}"
        )
    return X
