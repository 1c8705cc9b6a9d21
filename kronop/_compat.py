"""Compatibility: scipy 1.17 and 1.18, and NumPy 2's weak Python scalars (NEP 50)."""

from __future__ import annotations

import numpy as np
import scipy
from scipy.sparse.linalg import LinearOperator

#: scipy ≥ 1.18 passes stacked inputs (..., N) and (..., N, K) to operators
SCIPY_STACKS = tuple(int(v) for v in scipy.__version__.split(".")[:2]) >= (1, 18)

__all__ = ["SCIPY_STACKS", "call", "conj_scalar", "restore_state"]


def restore_state(obj, state: dict) -> None:
    """``__setstate__`` body: scipy 1.18's own restore (array namespace) or 1.17's."""
    parent = getattr(LinearOperator, "__setstate__", None)
    if parent is not None:
        parent(obj, state)
    else:
        obj.__dict__.update(state)


def conj_scalar(s):
    """Complex conjugate of a scalar, keeping Python scalars Python (NEP 50)."""
    if isinstance(s, bool | int | float):
        return s
    if isinstance(s, complex):
        return s.conjugate()
    return np.conj(s)


def call(method: str) -> str:
    """How messages name a method: ``solve()``, but ``norm(2)`` or ``K + σD`` as is."""
    return (
        method if (method.endswith(")") or not method.isidentifier()) else f"{method}()"
    )
