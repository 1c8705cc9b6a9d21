"""The lazy Kronecker product operator ``KronOperator`` and its constructor ``kron``."""

from __future__ import annotations

import math
import numbers
from collections import OrderedDict
from functools import reduce
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, aslinearoperator

from . import _engine
from ._factor import DENSE, IDENTITY, LINOP, SPARSE, Factor, as_factor

__all__ = ["KronOperator", "kron"]


def _is_scalar(x: Any) -> bool:
    return isinstance(x, numbers.Number) or (
        isinstance(x, np.generic | np.ndarray) and np.ndim(x) == 0
    )


class KronOperator(LinearOperator):
    r"""Lazy Kronecker product A₁ ⊗ A₂ ⊗ … ⊗ A_d.

    A ``scipy.sparse.linalg.LinearOperator`` that never forms the product: it
    multiplies through the vec identity, one mode product (one BLAS call) per
    factor.

    Parameters
    ----------
    *factors : array_like, sparse matrix/array or LinearOperator
        The factors, outermost (slowest-varying) first. Each is a 2-D ndarray
        (rectangular allowed; integer and boolean arrays become float64), a scipy
        sparse matrix or array, or any ``LinearOperator``. A ``KronOperator``
        passed as a factor is spliced into its factors. Identity factors
        (``np.eye``, ``scipy.sparse.eye_array``, ``IdentityOperator``) are skipped
        in the arithmetic.

    Attributes
    ----------
    factors : tuple
        The user-level factors.
    shape : tuple of int
        ``(∏ mⱼ, ∏ nⱼ)``.
    dtype : numpy.dtype
        ``np.result_type`` of the factors.

    Raises
    ------
    ValueError
        If no factor is given, or a factor is not 2-D or is empty.
    TypeError
        If a factor has a non-numeric dtype.

    See Also
    --------
    kron : the same, as a function.
    numpy.kron : the dense product this operator equals.

    Notes
    -----
    The order is row-major, as in ``numpy.kron``: with ``X = x.reshape(n₁, …, n_d)``,

    .. math:: (A_1 \otimes \cdots \otimes A_d)\,x
              = \operatorname{vec}_r(X \times_1 A_1 \times_2 \cdots \times_d A_d),

    where :math:`\times_j` multiplies along axis j. For two factors this is
    ``(A @ X @ B.T).ravel()``. The cost is :math:`\sum_j c_j S_j` flops, with
    :math:`S_j` the tensor size when factor j is applied and :math:`c_j = 2m_j`
    (dense) or :math:`2\,\mathrm{nnz}_j/n_j` (sparse); for square dense factors
    :math:`2N\sum_j n_j` against :math:`2N^2` for the dense matrix. Rectangular
    factors are applied in the flop-optimal order (shrinking factors first).
    Several right-hand sides ``(N, k)`` go through the same BLAS calls, never a
    loop over columns. Intermediates live in two work buffers that the operator
    keeps between products (call :meth:`clear_workspace` to free them).

    Examples
    --------
    >>> import numpy as np
    >>> from kronop import KronOperator
    >>> rng = np.random.default_rng(0)
    >>> A, B, C = rng.random((2, 3)), rng.random((4, 4)), rng.random((3, 2))
    >>> K = KronOperator(A, B, C)
    >>> K.shape
    (24, 24)
    >>> x = rng.random(24)
    >>> bool(np.allclose(K @ x, np.kron(np.kron(A, B), C) @ x))
    True
    """

    def __init__(self, *factors: Any) -> None:
        if (
            len(factors) == 1
            and isinstance(factors[0], list | tuple)
            and not factors[0]
        ):
            factors = ()
        if not factors:
            raise ValueError("KronOperator needs at least one factor, got none")
        flat: list[Factor] = []
        for i, obj in enumerate(factors):
            if isinstance(obj, KronOperator):
                flat.extend(obj._factors)
            else:
                flat.append(as_factor(obj, i))
        self._init_from(flat)

    @classmethod
    def _from_factors(cls, factors: list[Factor]) -> KronOperator:
        self = cls.__new__(cls)
        self._init_from(list(factors))
        return self

    def _init_from(self, factors: list[Factor]) -> None:
        self._factors = tuple(factors)
        dtype = np.result_type(*(f.dtype for f in factors))
        m = math.prod(f.shape[0] for f in factors)
        n = math.prod(f.shape[1] for f in factors)
        super().__init__(dtype=dtype, shape=(int(m), int(n)))
        self._workspace = _engine.Workspace()
        self._plans: OrderedDict = OrderedDict()
        self._adj: KronOperator | None = None
        self._tr: KronOperator | None = None

    # ----------------------------------------------------------------- basics
    @property
    def factors(self) -> tuple:
        """The factors as the user gave them (integer arrays cast to float64)."""
        return tuple(f.user for f in self._factors)

    @property
    def ndim_factors(self) -> int:
        """Number of factors d."""
        return len(self._factors)

    def __repr__(self) -> str:
        inner = " ⊗ ".join(f.describe() for f in self._factors)
        return f"KronOperator({inner}, dtype={self.dtype})"

    def __getstate__(self) -> dict:
        # scipy 1.18 keeps the array namespace (a module) and pickles it its own way
        state = dict(super().__getstate__())
        state["_workspace"] = None
        state["_plans"] = OrderedDict()
        state["_adj"] = state["_tr"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        parent = getattr(super(), "__setstate__", None)
        if parent is not None:
            parent(state)
        else:
            self.__dict__.update(state)
        self._workspace = _engine.Workspace()

    def clear_workspace(self) -> None:
        """Free the work buffers kept between products (they regrow on use)."""
        self._workspace.clear()

    def toarray(self) -> np.ndarray:
        """The dense matrix ``np.kron(A₁, …, A_d)``: the only path that forms it.

        Returns
        -------
        numpy.ndarray
            Shape ``self.shape``, dtype ``self.dtype``.
        """
        dense = [f.toarray().astype(self.dtype, copy=False) for f in self._factors]
        return reduce(np.kron, dense)  # dense-ok: toarray is the explicit request

    # ----------------------------------------------------------- the products
    def _plan(self, batch: int, rhs: int, layout: str, itemsize: int):
        key = (batch, rhs, layout, itemsize)
        plan = self._plans.get(key)
        if plan is None:
            plan = _engine.plan_chain(list(self._factors), batch, rhs, layout, itemsize)
            self._plans[key] = plan
            if len(self._plans) > 16:
                self._plans.popitem(last=False)
        return plan

    def _apply3(self, x: np.ndarray) -> np.ndarray:
        """Apply to ``x`` of shape (B, N, K); returns (B, M, K)."""
        B, _N, K = x.shape
        dtype = np.result_type(self.dtype, x.dtype)
        if dtype.kind not in "fc":
            dtype = np.result_type(dtype, np.float64)
        if x.dtype == dtype and x.flags.c_contiguous:
            layout, flat = "C", x
        elif x.dtype == dtype and B == 1 and x[0].flags.f_contiguous and K > 1:
            layout, flat = "K", x[0].T
        else:
            layout, flat = "C", np.ascontiguousarray(x, dtype=dtype)
        plan = self._plan(B, K, layout, dtype.itemsize)
        y = _engine.run_chain(list(self._factors), plan, flat, dtype, self._workspace)
        d = len(self._factors)
        tensor = y.reshape(plan.sizes)
        want = (_engine._BATCH, *range(d), _engine._RHS)
        perm = [plan.layout.index(a) for a in want]
        return tensor.transpose(perm).reshape(B, self.shape[0], K)

    def _matmat(self, X):
        if sp.issparse(X):
            X = X.toarray()
        X = np.asarray(X)
        if X.ndim < 2 or X.shape[-2] != self.shape[1]:
            raise ValueError(
                f"dimension mismatch: operator has shape {self.shape}, so the input "
                f"needs {self.shape[1]} rows, got an array of shape {X.shape}"
            )
        lead = X.shape[:-2]
        N, K = X.shape[-2:]
        y = self._apply3(X.reshape(math.prod(lead), N, K))
        return y.reshape(*lead, self.shape[0], K)

    def _matvec(self, x):
        N, M = self.shape[1], self.shape[0]
        x = np.asarray(x)
        if x.ndim == 2 and x.shape == (N, 1):  # scipy <= 1.17 column vector
            return self._matmat(x)
        if x.shape[-1] != N:
            raise ValueError(
                f"dimension mismatch: operator has shape {self.shape}, got a vector "
                f"of shape {x.shape}"
            )
        lead = x.shape[:-1]
        y = self._apply3(x.reshape(-1, N).T[None])  # (1, N, B), Fortran-ordered
        return y[0].T.reshape(*lead, M)

    def _rmatvec(self, x):
        return self.H._matvec(x)

    def _rmatmat(self, X):
        return self.H._matmat(X)

    # ---------------------------------------------------------------- algebra
    def _adjoint(self) -> KronOperator:
        if self._adj is None:
            self._adj = KronOperator._from_factors([f.adjoint() for f in self._factors])
            self._adj._adj = self
        return self._adj

    def _transpose(self) -> KronOperator:
        if self._tr is None:
            self._tr = KronOperator._from_factors(
                [f.transpose() for f in self._factors]
            )
            self._tr._tr = self
        return self._tr

    def conj(self) -> KronOperator:
        """The elementwise complex conjugate Ā₁ ⊗ … ⊗ Ā_d.

        Returns
        -------
        KronOperator
        """
        if self.dtype.kind != "c":
            return self
        return KronOperator._from_factors([f.conj() for f in self._factors])

    def _scaled(self, alpha) -> KronOperator:
        """α·K with α folded into one factor (dense first, then sparse, …)."""
        rank = {DENSE: 0, SPARSE: 1, LINOP: 2, IDENTITY: 3}
        j = min(
            range(len(self._factors)),
            key=lambda i: (rank[self._factors[i].kind], self._factors[i].nnz),
        )
        factors = list(self._factors)
        f = factors[j]
        if f.kind == IDENTITY:
            factors[j] = as_factor(alpha * f.matrix, j)
        else:
            factors[j] = f.scaled(alpha)
        return KronOperator._from_factors(factors)

    def __mul__(self, x):
        if _is_scalar(x):
            return self._scaled(x)
        return self.dot(x)

    def __rmul__(self, x):
        if _is_scalar(x):
            return self._scaled(x)
        return super().__rmul__(x)

    def __truediv__(self, other):
        if not _is_scalar(other):
            raise ValueError(
                f"a KronOperator can only be divided by a scalar, got {type(other).__name__}"
            )
        return self._scaled(1 / other)

    def __neg__(self):
        return self._scaled(-1)

    def dot(self, x):
        """Apply to an array, or compose with another operator.

        ``K.dot(x)`` for an array is ``K @ x``. With a ``KronOperator`` whose
        factors conform pairwise the result is the structured mixed product
        (A₁⊗…)(C₁⊗…) = A₁C₁ ⊗ …; other operators give scipy's lazy product.

        Parameters
        ----------
        x : array_like, scalar or LinearOperator

        Returns
        -------
        ndarray or LinearOperator
        """
        if _is_scalar(x):
            return self._scaled(x)
        if isinstance(x, LinearOperator):
            if x.shape[0] != self.shape[1]:
                raise ValueError(
                    f"cannot compose operators of shapes {self.shape} and {x.shape}: "
                    f"the right operand needs {self.shape[1]} rows, it has {x.shape[0]}"
                )
            if isinstance(x, KronOperator) and self._conforms(x):
                return KronOperator._from_factors(
                    [
                        _factor_product(a, b, j)
                        for j, (a, b) in enumerate(
                            zip(self._factors, x._factors, strict=True)
                        )
                    ]
                )
        return super().dot(x)

    def _conforms(self, other: KronOperator) -> bool:
        return len(self._factors) == len(other._factors) and all(
            a.shape[1] == b.shape[0]
            for a, b in zip(self._factors, other._factors, strict=True)
        )

    def _rdot(self, x):
        if isinstance(x, LinearOperator) and x.shape[1] != self.shape[0]:
            raise ValueError(
                f"cannot compose operators of shapes {x.shape} and {self.shape}: "
                f"the left operand needs {self.shape[0]} columns, it has {x.shape[1]}"
            )
        return super()._rdot(x)


def _factor_product(a: Factor, b: Factor, index: int) -> Factor:
    """A·B for two conforming factors, keeping structure where possible."""
    if a.kind == IDENTITY:
        return b
    if b.kind == IDENTITY:
        return a
    if LINOP in (a.kind, b.kind):
        return as_factor(aslinearoperator(a.user) @ aslinearoperator(b.user), index)
    prod = a.matrix @ b.matrix
    return as_factor(prod, index)


def kron(*factors: Any) -> KronOperator:
    """Lazy Kronecker product of the factors: ``kron(A, B, C)`` is A ⊗ B ⊗ C.

    Parameters
    ----------
    *factors : array_like, sparse matrix/array or LinearOperator
        See :class:`KronOperator`.

    Returns
    -------
    KronOperator

    Examples
    --------
    >>> import numpy as np
    >>> import kronop
    >>> K = kronop.kron(np.eye(2), np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> K
    KronOperator(2×2 identity ⊗ 2×2 dense, dtype=float64)
    >>> print(K @ np.ones(4))
    [3. 7. 3. 7.]
    """
    return KronOperator(*factors)
