"""What differs between the scipy versions kronop supports (1.17, 1.18)."""

from __future__ import annotations

from scipy.sparse.linalg import LinearOperator

__all__ = ["restore_state"]


def restore_state(obj, state: dict) -> None:
    """``__setstate__`` body: scipy 1.18's own restore (array namespace) or 1.17's."""
    parent = getattr(LinearOperator, "__setstate__", None)
    if parent is not None:
        parent(obj, state)
    else:
        obj.__dict__.update(state)
