"""The operator shell every kronop operator inherits.

scipy's ``LinearOperator`` asks a subclass for ``_matvec`` or ``_matmat``; the
shell answers every form scipy 1.17 and 1.18 pass (vectors, ``(N, 1)`` columns,
stacks ``(..., N)`` and ``(..., N, K)``, sparse blocks) with one check and one call
of the operator's :meth:`StructuredOperator._apply` on a ``(B, N, K)`` block. It also
owns what every operator needs the same way:

* scalar multiples folded into the structure (``_scaled``), with NumPy's dtype rule
  (scipy 1.17's ``_ScaledLinearOperator`` declares float64 for float32 × 0.5);
* ``+`` and ``@`` through the rules of :mod:`kronop._rules`, scipy's lazy
  composites otherwise; ``0 + A`` and ``sum([A, B])``;
* adjoint and transpose built once and kept (without a reference cycle);
* ``args``, pickling without caches or work buffers, ``clear_workspace``;
* ``solve``, ``inv``, ``slogdet``, ``det`` and ``logdet`` derived from one
  :class:`Factorization` that each operator chooses once (:class:`Factorized`).

An operator writes its structure, ``_apply``, ``_make_adjoint``, ``_make_transpose``,
``_scaled`` and, if it solves, ``_factorize``.
"""

from __future__ import annotations

import math
import numbers
import weakref
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, overload

import numpy as np
from numpy.typing import ArrayLike
from scipy.sparse.linalg import LinearOperator
from scipy.sparse.linalg._interface import (
    _PowerLinearOperator,
    _ProductLinearOperator,
    _ScaledLinearOperator,
    _SumLinearOperator,
)

from . import _engine, _lazy, _rules
from ._compat import SCIPY_STACKS, restore_state

if TYPE_CHECKING:  # for the types users see: dask arrays in, dask arrays out
    from dask.array import Array as DaskArray

__all__ = [
    "Factorization",
    "Factorized",
    "LazyPower",
    "LazyProduct",
    "LazyScaled",
    "LazySum",
    "StructuredOperator",
    "check_block",
    "check_rhs",
    "det_from_slogdet",
    "is_scalar",
    "logdet_from_slogdet",
]


def is_scalar(x: Any) -> bool:
    """A Python or NumPy number, or a 0-d array."""
    if isinstance(x, np.ndarray):  # the hot path: an array operand
        return x.ndim == 0
    return isinstance(x, numbers.Number | np.generic) and np.ndim(x) == 0


def _scalar(x):
    """A 0-d array as the NumPy scalar it holds (scipy accepts only scalars)."""
    return x[()] if isinstance(x, np.ndarray) else x


def check_rhs(b, n: int) -> np.ndarray:
    """A right-hand side of shape (n,) or (n, k) as an array, or ``ValueError``."""
    b = _engine.as_block(b)
    if b.ndim not in (1, 2) or b.shape[0] != n:
        raise ValueError(
            f"right-hand side must have shape ({n},) or ({n}, k), got {b.shape}"
        )
    return b


def check_block(op, X) -> np.ndarray:
    """``_matmat`` input as an array of shape (..., N, K), or ``ValueError``."""
    X = _engine.as_block(X)
    N = op.shape[1]
    if X.ndim < 2 or X.shape[-2] != N:
        raise ValueError(
            f"dimension mismatch: operator has shape {op.shape}, so the input "
            f"needs {N} rows, got an array of shape {X.shape}"
        )
    return X


def det_from_slogdet(sign, logabs):
    """``sign·exp(logabs)`` as numpy computes it; ±inf past the float range, silently."""
    with np.errstate(over="ignore"):
        return sign * np.exp(logabs)


def logdet_from_slogdet(sign, logabs):
    """log det: a float when det > 0, ``-inf`` when 0, else the principal complex log."""
    if sign == 0:
        return -np.inf
    if sign == 1:
        return logabs
    return complex(logabs, float(np.angle(sign)))


class StructuredOperator(LinearOperator):
    """Base of every kronop operator (see the module notes)."""

    #: attributes rebuilt after unpickling rather than pickled
    _transient: ClassVar[tuple[str, ...]] = ("_memo",)

    def __init__(self, dtype, shape) -> None:
        super().__init__(dtype=np.dtype(dtype), shape=(int(shape[0]), int(shape[1])))
        self._init_transient()

    def _init_transient(self) -> None:
        """(Re)create what is not pickled: caches and work buffers."""
        self._memo: dict[str, Any] = {}

    def _cached(self, key: str, build):
        got = self._memo.get(key)
        if got is None:
            got = build()
            self._memo[key] = got
        return got

    # ------------------------------------------------------------ products
    def _apply(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """The operator applied to ``x`` of shape (B, N, K); returns (B, M, K)."""
        raise NotImplementedError

    def _matmat(self, X):
        # (N, K), or on scipy 1.18 stacked (..., N, K)
        X = check_block(self, X)
        lead = X.shape[:-2]
        N, K = X.shape[-2:]
        if X.size == 0:  # (N, 0) blocks and empty stacks: empty results, as numpy
            dtype = _engine.compute_dtype(self.dtype, X.dtype)
            return np.zeros((*lead, self.shape[0], K), dtype=dtype)
        y = self._apply(X.reshape(math.prod(lead), N, K))
        return y.reshape(*lead, self.shape[0], K)

    def _matvec(self, x):
        # scipy ≤ 1.17 passes 1-D vectors and (N, 1) columns, 1.18 also stacks (..., N)
        N = self.shape[1]
        x = _engine.as_block(x)
        if x.ndim == 2 and x.shape == (N, 1):
            return self._matmat(x)
        if x.ndim == 0 or x.shape[-1] != N:
            raise ValueError(
                f"dimension mismatch: operator has shape {self.shape}, got a vector "
                f"of shape {x.shape}"
            )
        lead = x.shape[:-1]
        # math.prod, not reshape(-1, N): -1 cannot be inferred when N = 0
        flat = x.reshape(math.prod(lead), N)
        return self._matmat(flat.T).T.reshape(*lead, self.shape[0])

    # ---------------------------------------------------- shape messages
    def _input_grid(self) -> tuple[int, ...] | None:
        """The tensor shape an input vector is reshaped to (for error hints)."""
        return None

    def _output_grid(self) -> tuple[int, ...] | None:
        """The tensor shape of a result (a grid-shaped dask input keeps it)."""
        return None

    def _shape_error(self, x, n: int, side: str) -> ValueError:
        shape = tuple(np.shape(x))
        grid = self._input_grid() if side == "input" else None
        hint = ""
        if grid is not None and len(grid) > 1 and shape[: len(grid)] == grid:
            hint = (
                f" (the array has the grid's shape {grid}: pass it flattened, "
                "x.ravel(), in C order)"
            )
        return ValueError(
            f"dimension mismatch: operator has shape {self.shape}, so the {side} "
            f"needs {n} rows (a vector ({n},) or a block ({n}, k)), got an array of "
            f"shape {shape}{hint}"
        )

    def _check_operand(self, x, n: int, side: str, block: bool | None) -> None:
        """Validate an array operand's shape before scipy does (with our message)."""
        shape = np.shape(x)
        if not shape:
            return
        if block is None:  # dot/@: a vector or a block (stacks on scipy 1.18)
            ok = (len(shape) == 1 and shape[0] == n) or (
                len(shape) >= 2 and shape[-2] == n and (SCIPY_STACKS or len(shape) == 2)
            )
        elif block:
            ok = (
                len(shape) >= 2 and shape[-2] == n and (SCIPY_STACKS or len(shape) == 2)
            )
        else:
            ok = (shape[-1] == n and (SCIPY_STACKS or len(shape) == 1)) or shape == (
                n,
                1,
            )
        if not ok:
            raise self._shape_error(x, n, side)

    @overload
    def matvec(self, x: DaskArray) -> DaskArray: ...
    @overload
    def matvec(self, x: ArrayLike) -> np.ndarray: ...
    def matvec(self, x):
        """``A @ x`` for a vector ``x`` of shape (N,) (scipy's ``matvec``)."""
        if _engine.is_lazy(x):
            return _lazy.lazy_apply(self, x, "vector", "input")
        self._check_operand(x, self.shape[1], "input", False)
        return super().matvec(x)

    @overload
    def matmat(self, X: DaskArray) -> DaskArray: ...
    @overload
    def matmat(self, X: ArrayLike) -> np.ndarray: ...
    def matmat(self, X):
        """``A @ X`` for a block ``X`` of shape (N, k) (scipy's ``matmat``)."""
        if _engine.is_lazy(X):
            return _lazy.lazy_apply(self, X, "block", "input")
        self._check_operand(X, self.shape[1], "input", True)
        return super().matmat(X)

    @overload
    def rmatvec(self, x: DaskArray) -> DaskArray: ...
    @overload
    def rmatvec(self, x: ArrayLike) -> np.ndarray: ...
    def rmatvec(self, x):
        """``Aᴴ @ x`` for a vector ``x`` of shape (M,) (scipy's ``rmatvec``)."""
        if _engine.is_lazy(x):
            return _lazy.lazy_apply(self, x, "vector", "adjoint's input")
        self._check_operand(x, self.shape[0], "adjoint's input", False)
        return super().rmatvec(x)

    @overload
    def rmatmat(self, X: DaskArray) -> DaskArray: ...
    @overload
    def rmatmat(self, X: ArrayLike) -> np.ndarray: ...
    def rmatmat(self, X):
        """``Aᴴ @ X`` for a block ``X`` of shape (M, k) (scipy's ``rmatmat``)."""
        if _engine.is_lazy(X):
            return _lazy.lazy_apply(self, X, "block", "adjoint's input")
        self._check_operand(X, self.shape[0], "adjoint's input", True)
        return super().rmatmat(X)

    def _check_left(self, x) -> None:
        """``x @ A``: x must end in the operator's M rows."""
        M = self.shape[0]
        shape = np.shape(x)
        if isinstance(x, np.ndarray) and shape and shape[-1] != M:
            raise ValueError(
                f"dimension mismatch: operator has shape {self.shape}, so x in "
                f"x @ A needs {M} columns (a vector ({M},) or a block (k, {M})), got "
                f"an array of shape {shape}"
            )

    def _rdot(self, x):  # x @ A on scipy 1.17
        if _engine.is_lazy(x):
            return self._lazy_rdot(x)
        self._check_left(x)
        return super()._rdot(x)

    def rdot(self, x):
        """``x @ A`` (scipy 1.18's ``rdot``)."""
        if _engine.is_lazy(x):
            return self._lazy_rdot(x)
        self._check_left(x)
        return super().rdot(x)

    def _lazy_rdot(self, x):
        """``x @ A`` for a dask array: ``(Aᵀ xᵀ)ᵀ``, lazily (never gathered)."""
        if x.ndim == 2:
            return _lazy.lazy_apply(self.T, x.T, "block", "input").T
        return _lazy.lazy_apply(self.T, x, "any", "input")

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            f"a {type(self).__name__} is a lazy operator, not an array; use "
            f"toarray() for its dense {self.shape[0]}×{self.shape[1]} matrix (for "
            "checking: it forms every entry)"
        )

    def _rmatvec(self, x):
        return self.H._matvec(x)

    def _rmatmat(self, X):
        return self.H._matmat(X)

    # ------------------------------------------------------------- algebra
    def _scaled(self, alpha):  # pragma: no cover - abstract
        """``alpha * self`` with the scalar folded into the structure."""
        raise NotImplementedError

    def _make_adjoint(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _make_transpose(self):
        return self._make_adjoint().conj()

    def _related(self, key: str, build):
        # the adjoint (transpose) keeps only a weak reference back: no reference
        # cycle, so operators and their buffers are freed by reference counting
        ref = self._memo.get(key + "_of")
        if ref is not None:
            other = ref()
            if other is not None:
                return other
        got = self._memo.get(key)
        if got is None:
            got = build()
            if got is self:
                return self
            got._memo[key + "_of"] = weakref.ref(self)
            self._memo[key] = got
        return got

    def _adjoint(self):
        return self._related("adjoint", self._make_adjoint)

    def _transpose(self):
        return self._related("transpose", self._make_transpose)

    def conj(self):
        """The elementwise complex conjugate (the operator itself when real)."""
        if self.dtype.kind != "c":
            return self
        return self.H.T

    @overload
    def __mul__(self, x: complex | np.number) -> StructuredOperator: ...
    @overload
    def __mul__(self, x: LinearOperator) -> LinearOperator: ...
    @overload
    def __mul__(self, x: DaskArray) -> DaskArray: ...
    @overload
    def __mul__(self, x: ArrayLike) -> np.ndarray: ...
    def __mul__(self, x):
        if is_scalar(x):
            return self._scaled(_scalar(x))
        return self.dot(x)

    @overload
    def __rmul__(self, x: complex | np.number) -> StructuredOperator: ...
    @overload
    def __rmul__(self, x: Any) -> Any: ...
    def __rmul__(self, x):
        if is_scalar(x):
            return self._scaled(_scalar(x))
        return super().__rmul__(x)

    def __truediv__(self, other):
        if not is_scalar(other):
            raise ValueError(
                f"a {type(self).__name__} can only be divided by a scalar, got "
                f"{type(other).__name__}"
            )
        return self._scaled(1 / _scalar(other))

    def __neg__(self):
        return self._scaled(-1)

    @overload
    def dot(self, x: LinearOperator) -> LinearOperator: ...
    @overload
    def dot(self, x: complex | np.number) -> StructuredOperator: ...
    @overload
    def dot(self, x: DaskArray) -> DaskArray: ...
    @overload
    def dot(self, x: ArrayLike) -> np.ndarray: ...
    def dot(self, x):
        """Apply to an array, or compose with another operator (scalars fold in).

        Parameters
        ----------
        x : array_like, scalar or LinearOperator

        Returns
        -------
        ndarray or LinearOperator
            ``self @ x``: an array for an array, a (structured where a rule
            exists, else lazy) operator for an operator.
        """
        if is_scalar(x):
            return self._scaled(_scalar(x))
        if isinstance(x, np.ndarray):
            self._check_operand(x, self.shape[1], "input", None)
        elif _engine.is_lazy(x):  # before scipy's asanyarray gathers it
            return _lazy.lazy_apply(self, x, "any", "input")
        if isinstance(x, LinearOperator):
            if x.shape[0] != self.shape[1]:
                raise ValueError(
                    f"cannot compose operators of shapes {self.shape} and {x.shape}: "
                    f"the right operand needs {self.shape[1]} rows, it has "
                    f"{x.shape[0]}"
                )
            got = _rules.matmul(self, x)
            if got is not NotImplemented:
                return got
        if isinstance(x, LinearOperator):
            return LazyProduct(self, x)
        return super().dot(x)

    @overload
    def __matmul__(self, x: complex | np.number) -> NoReturn: ...
    @overload
    def __matmul__(self, x: LinearOperator) -> LinearOperator: ...
    @overload
    def __matmul__(self, x: DaskArray) -> DaskArray: ...
    @overload
    def __matmul__(self, x: ArrayLike) -> np.ndarray: ...
    def __matmul__(self, x):
        return super().__matmul__(x)

    def __pow__(self, p):
        if self.shape[0] != self.shape[1]:
            raise ValueError(f"a power needs a square operator, got {self.shape}")
        if not (isinstance(p, numbers.Integral) and p >= 0):
            raise ValueError(f"the power must be a non-negative integer, got {p!r}")
        return LazyPower(self, int(p))

    def __add__(self, x):
        if is_scalar(x) and x == 0:
            return self
        if isinstance(x, LinearOperator):
            if tuple(x.shape) != tuple(self.shape):
                raise ValueError(
                    f"cannot add operators of shapes {self.shape} and {x.shape}"
                )
            got = _rules.add(self, x)
            if got is not NotImplemented:
                return got
            return LazySum(self, x)
        return super().__add__(x)

    def __radd__(self, x):
        if is_scalar(x) and x == 0:  # sum([A, B]) starts from 0
            return self
        return NotImplemented

    def __sub__(self, x):
        if is_scalar(x) and x == 0:
            return self
        if isinstance(x, LinearOperator):
            return self.__add__(-x)
        return NotImplemented

    @property
    def args(self) -> tuple:
        """The operator's structure, as scipy's composites expose their operands."""
        return self._args()

    def _args(self) -> tuple:
        return ()

    # ---------------------------------------------------------- housekeeping
    def toarray(self) -> np.ndarray:
        """The dense matrix (for checking: the only path that forms it).

        Returns
        -------
        numpy.ndarray
            Shape ``self.shape``, dtype ``self.dtype``.
        """
        return self.matmat(np.eye(self.shape[1], dtype=self.dtype))

    def clear_workspace(self) -> None:
        """Free the work buffers kept between products (they regrow on use)."""
        cache = self.__dict__.get("_engine")
        if cache is not None:
            cache.clear()

    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())
        for name in type(self)._all_transient():
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict) -> None:
        restore_state(self, state)
        self._init_transient()

    @classmethod
    def _all_transient(cls) -> set[str]:
        names: set[str] = set()
        for klass in cls.__mro__:
            names.update(klass.__dict__.get("_transient", ()))
        return names


# ------------------------------------------------------ lazy composites
class _Composite:
    """scipy's lazy composites (sum, product, multiple, power) that keep dask lazy.

    On numpy arrays they are scipy's own classes, unchanged. A dask array goes to
    each operand's own product (kronop operators run it lazily); scipy's
    ``asanyarray`` would compute it into one numpy array.
    """

    def _lazy(self, x):  # pragma: no cover - abstract
        """The composite on a flat dask array (N,) or (N, k)."""
        raise NotImplementedError

    def _input_grid(self) -> tuple[int, ...] | None:
        return _grid_of(self.args[-1 if isinstance(self, LazyProduct) else 0], "in")

    def _output_grid(self) -> tuple[int, ...] | None:
        return _grid_of(self.args[0], "out")

    def _lazy_entry(self, x):
        """The composite on a dask array, flat or on its operands' grid."""
        N, M = self.shape[1], self.shape[0]
        if x.ndim == 1 or (x.ndim == 2 and x.shape[0] == N):
            if x.shape[0] != N:
                raise ValueError(
                    f"dimension mismatch: operator has shape {self.shape}, got an "
                    f"array of shape {x.shape}"
                )
            return self._lazy(x)
        grid = self._input_grid()
        if (
            grid is None
            or tuple(x.shape[: len(grid)]) != grid
            or x.ndim > len(grid) + 1
        ):
            raise ValueError(
                f"dimension mismatch: operator has shape {self.shape} (input grid "
                f"{grid}), got an array of shape {x.shape}"
            )
        k = tuple(x.shape[len(grid) :])
        flat = _lazy.as_slabs(x, len(grid)).reshape(N, *k)
        return self._lazy(flat).reshape(*(self._output_grid() or (M,)), *k)

    def dot(self, x):
        if _engine.is_lazy(x):
            return self._lazy_entry(x)
        return super().dot(x)

    def matvec(self, x):
        if _engine.is_lazy(x):
            return self._lazy_entry(x)
        return super().matvec(x)

    def matmat(self, X):
        if _engine.is_lazy(X):
            return self._lazy_entry(X)
        return super().matmat(X)

    def rmatvec(self, x):
        if _engine.is_lazy(x):
            return self.H._lazy_entry(x)
        return super().rmatvec(x)

    def rmatmat(self, X):
        if _engine.is_lazy(X):
            return self.H._lazy_entry(X)
        return super().rmatmat(X)

    def _rdot(self, x):
        if _engine.is_lazy(x):
            return self.T._lazy_entry(x.T).T
        return super()._rdot(x)


def _grid_of(op, side: str) -> tuple[int, ...] | None:
    if isinstance(op, StructuredOperator | _Composite):
        return op._input_grid() if side == "in" else op._output_grid()
    return None


def _lazy_part(op, x):
    """``op @ x`` for a dask array: kronop's operators and composites only."""
    if isinstance(op, StructuredOperator | _Composite):
        return op.dot(x)
    _engine.numpy_only(
        x, f"a product with {type(op).__name__}, which is not a kronop operator"
    )
    return op.dot(x)  # pragma: no cover - numpy_only raised


class LazySum(_Composite, _SumLinearOperator):
    """A + B, lazily (scipy's sum; dask arrays stay lazy)."""

    def _lazy(self, x):
        A, B = self.args
        return _lazy_part(A, x) + _lazy_part(B, x)

    def _adjoint(self):
        A, B = self.args
        return LazySum(A.H, B.H)

    def _transpose(self):
        A, B = self.args
        return LazySum(A.T, B.T)


class LazyProduct(_Composite, _ProductLinearOperator):
    """A B, lazily (scipy's product; dask arrays stay lazy)."""

    def _lazy(self, x):
        A, B = self.args
        return _lazy_part(A, _lazy_part(B, x))

    def _adjoint(self):
        A, B = self.args
        return LazyProduct(B.H, A.H)

    def _transpose(self):
        A, B = self.args
        return LazyProduct(B.T, A.T)


class LazyScaled(_Composite, _ScaledLinearOperator):
    """α A, lazily, with NumPy's dtype rule (dask arrays stay lazy)."""

    def __init__(self, A, alpha) -> None:
        super().__init__(A, alpha)
        # NumPy's weak-scalar rule (scipy 1.17 declares float64 for float32 × 0.5)
        self.dtype = np.result_type(A.dtype, alpha)

    def _lazy(self, x):
        A, alpha = self.args
        return _lazy_part(A, x) * alpha

    def _adjoint(self):
        A, alpha = self.args
        return LazyScaled(A.H, np.conj(alpha))

    def _transpose(self):
        A, alpha = self.args
        return LazyScaled(A.T, alpha)


class LazyPower(_Composite, _PowerLinearOperator):
    """Aᵖ, lazily (scipy's power; dask arrays stay lazy)."""

    def _lazy(self, x):
        A, p = self.args
        for _ in range(p):
            x = _lazy_part(A, x)
        return x

    def _adjoint(self):
        A, p = self.args
        return LazyPower(A.H, p)

    def _transpose(self):
        A, p = self.args
        return LazyPower(A.T, p)


class Factorization:
    """What ``solve``, ``inv`` and the determinants of an operator derive from.

    A subclass knows how to solve with the operator (eigen-, Schur or factor-wise
    inverses) and answers :meth:`solve`, :meth:`inverse_operator`, :meth:`slogdet`,
    and the factorizations of the adjoint and the transpose.
    """

    def solve(self, b: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """x with A x = b, for b of shape (N,) or (N, k) (already checked)."""
        raise NotImplementedError

    def inverse_operator(self) -> LinearOperator:  # pragma: no cover - abstract
        """A⁻¹ as a lazy operator (raises ``LinAlgError`` when A is singular)."""
        raise NotImplementedError

    def adjoint(self) -> Factorization:  # pragma: no cover - abstract
        """The factorization of Aᴴ."""
        raise NotImplementedError

    def transpose(self) -> Factorization:  # pragma: no cover - abstract
        """The factorization of Aᵀ."""
        raise NotImplementedError

    def slogdet(self) -> tuple:  # pragma: no cover - abstract
        """``(sign, log|det A|)`` as ``numpy.linalg.slogdet``."""
        raise NotImplementedError

    def grid(self) -> tuple[int, ...] | None:
        """The tensor shape of a right-hand side (None: only flat vectors)."""
        return None


class Factorized:
    """Mixin: ``solve``/``inv``/determinants from the operator's one factorization.

    The operator implements ``_factorize()``, called once; everything else follows.
    """

    def _factorize(self) -> Factorization:  # pragma: no cover - abstract
        raise NotImplementedError

    def factorization(self) -> Factorization:
        """The factored form every solve, inverse and determinant uses (cached).

        Returns
        -------
        Factorization
            The object the operator chose once for itself (for example a
            :class:`~kronop.KronEigen`).
        """
        return self._cached("factorization", self._factorize)

    @overload
    def solve(self, b: DaskArray) -> DaskArray: ...
    @overload
    def solve(self, b: ArrayLike) -> np.ndarray: ...
    def solve(self, b):
        """Solve ``A x = b`` for b of shape (N,) or (N, k).

        Parameters
        ----------
        b : array_like, shape (N,) or (N, k)

        Returns
        -------
        numpy.ndarray or dask.array.Array
            Same shape as ``b`` (lazy, chunked like ``b``, for a dask ``b``).
        """
        if _engine.is_lazy(b):
            return self._lazy_solve(b, self.factorization().solve)
        b = check_rhs(b, self.shape[0])
        return self.factorization().solve(b)

    def _lazy_solve(self, b, solve):
        """``solve`` on a dask right-hand side (flat or on the grid), lazily."""
        n = self.shape[0]
        return _lazy.lazy_solve(
            lambda r: solve(check_rhs(r, n)),
            b,
            n,
            self._output_grid(),
            _lazy.describe_rhs(n),
        )

    def inv(self) -> LinearOperator:
        """The inverse as a lazy operator (cached).

        Returns
        -------
        LinearOperator
        """
        return self._cached("inv", lambda: self.factorization().inverse_operator())

    def slogdet(self) -> tuple:
        """Sign and natural log of |det A|, as ``numpy.linalg.slogdet``.

        Returns
        -------
        sign : float or complex
            ±1 (0 when singular), or a unit complex number.
        logabsdet : float
        """
        return self.factorization().slogdet()

    def det(self):
        """The determinant (±inf past the floating-point range, like numpy).

        Returns
        -------
        float or complex
        """
        return det_from_slogdet(*self.slogdet())

    def logdet(self):
        """log det A: a float when det A > 0, else the principal complex log.

        ``-inf`` for a singular operator; nothing is clamped (an indefinite A gives
        ``log|det A| + iπ``).

        Returns
        -------
        float or complex
        """
        return logdet_from_slogdet(*self.slogdet())
