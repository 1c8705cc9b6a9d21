"""What ``A + B`` and ``A @ B`` are: a small registry of rules by type pair.

Each operator module registers the pairs it knows (``kron.py`` the mixed product
of two Kronecker products, ``shifted.py`` a Kronecker product plus σI, ``kronsum.py``
a Kronecker sum plus σI or plus another sum, …), so imports only point down and no
module needs to know the ones above it. The operator shell asks :func:`add` and
:func:`matmul`; when no rule applies it falls back to scipy's lazy composites.

Sums are symmetric: a rule registered for ``(A, B)`` also answers ``B + A``.
Before the lookup, operands that *are* a multiple of the identity (scipy's and
kronop's ``IdentityOperator``, scalar multiples of them, an explicit identity
matrix wrapped by ``aslinearoperator``) are recognised as :class:`ScaledIdentity`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from scipy.sparse.linalg import LinearOperator
from scipy.sparse.linalg._interface import (
    IdentityOperator,
    MatrixLinearOperator,
    _AdjointMatrixOperator,
    _ScaledLinearOperator,
)

from ._factor import as_factor

__all__ = ["ScaledIdentity", "add", "matmul", "register_add", "register_matmul"]


class ScaledIdentity(NamedTuple):
    """σ·I of a given shape, recognised from whatever operator stood for it."""

    sigma: Any
    shape: tuple[int, int]


def scaled_identity(op: Any) -> ScaledIdentity | None:
    """``op`` as σ·I when it is a multiple of the identity, else None."""
    if isinstance(op, ScaledIdentity):
        return op
    if not isinstance(op, LinearOperator) or len(op.shape) != 2:
        return None
    if isinstance(op, IdentityOperator):
        sigma = getattr(op, "scale", 1.0)
    elif isinstance(op, MatrixLinearOperator | _AdjointMatrixOperator):
        try:
            f = as_factor(op.A, 0)
        except (TypeError, ValueError):
            return None
        if not f.is_identity:
            return None
        sigma = 1.0
    elif isinstance(op, _ScaledLinearOperator):
        inner, alpha = op.args
        got = scaled_identity(inner)
        if got is None:
            return None
        sigma = alpha * got.sigma
    else:
        return None
    return ScaledIdentity(sigma, tuple(int(s) for s in op.shape))


Rule = Callable[[Any, Any], Any]
_ADD: dict[tuple[type, type], list[tuple[int, Rule]]] = {}
_MATMUL: dict[tuple[type, type], list[tuple[int, Rule]]] = {}


def _register(table, left: type, right: type, rule: Rule, priority: int) -> None:
    rules = table.setdefault((left, right), [])
    rules.append((priority, rule))
    rules.sort(key=lambda r: -r[0])


def register_add(left: type, right: type, rule: Rule, priority: int = 0) -> None:
    """Register ``rule(a, b)`` for ``a + b`` with ``a`` a ``left``, ``b`` a ``right``.

    The rule returns the structured sum, or ``NotImplemented`` to pass (the next
    rule, or scipy's lazy sum, then applies). Higher ``priority`` runs first.
    """
    _register(_ADD, left, right, rule, priority)


def register_matmul(left: type, right: type, rule: Rule, priority: int = 0) -> None:
    """Register ``rule(a, b)`` for the composition ``a @ b`` (see :func:`register_add`)."""
    _register(_MATMUL, left, right, rule, priority)


def _lookup(table, a, b):
    for ta in type(a).__mro__:
        for tb in type(b).__mro__:
            for _, rule in table.get((ta, tb), ()):
                got = rule(a, b)
                if got is not NotImplemented:
                    return got
    return NotImplemented


def _normalised(x):
    got = scaled_identity(x)
    return x if got is None else got


def _candidates(table, a, b) -> list[tuple[int, Rule]]:
    return [
        (priority, rule)
        for ta in type(a).__mro__
        for tb in type(b).__mro__
        for priority, rule in table.get((ta, tb), ())
    ]


def add(a, b):
    """The structured ``a + b`` from the registered rules, or ``NotImplemented``.

    Both orders are asked, higher priority first whichever order registered it (a
    sum of a product and a diagonal product is the shifted product from either
    side, before the generic sum of two products).
    """
    a, b = _normalised(a), _normalised(b)
    found = [(p, rule, a, b) for p, rule in _candidates(_ADD, a, b)]
    found += [(p, rule, b, a) for p, rule in _candidates(_ADD, b, a)]
    found.sort(key=lambda c: -c[0])  # stable: the (a, b) order first among equals
    for _, rule, x, y in found:
        got = rule(x, y)
        if got is not NotImplemented:
            return got
    return NotImplemented


def matmul(a, b):
    """The structured composition ``a @ b``, or ``NotImplemented``."""
    return _lookup(_MATMUL, a, b)
