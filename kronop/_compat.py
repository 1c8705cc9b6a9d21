"""Compatibility: scipy 1.17 and 1.18, and NumPy 2's weak Python scalars (NEP 50)."""

from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import LinearOperator

__all__ = ["conj_scalar", "restore_state"]


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
