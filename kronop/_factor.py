"""Normalise what users pass as a factor into a :class:`Factor`.

A factor is a 2-D ndarray, a scipy sparse matrix or array, or a
``LinearOperator``. This module validates it once, records its shape, dtype and
kind, and caches the forms the engine applies (a dtype-cast copy, CSR for
sparse products). Everything downstream works with :class:`Factor` objects and
never re-validates.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

__all__ = ["Factor", "as_factor", "describe_shape"]

#: kinds of factor; "identity" is never applied, only reshaped around.
DENSE, SPARSE, LINOP, IDENTITY = "dense", "sparse", "linop", "identity"


def describe_shape(shape: tuple[int, ...]) -> str:
    """Format a shape the way the library's messages and reprs do, e.g. ``3×4``."""
    return "×".join(str(int(s)) for s in shape)


def _normalise_dtype(dtype: np.dtype, where: str) -> np.dtype:
    """Return the dtype a factor is stored in, or raise ``TypeError``.

    Booleans and integers become float64 (as ``np.kron`` of them times a float
    vector would); float16 becomes float32 since BLAS has no half precision.
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "biu":
        return np.dtype(np.float64)
    if dtype == np.float16:
        return np.dtype(np.float32)
    if dtype.kind in "fc":
        return dtype
    raise TypeError(f"{where} must have a numeric dtype, got dtype={dtype}")


def _is_identity_dense(a: np.ndarray) -> bool:
    n = a.shape[0]
    if a.shape != (n, n):
        return False
    # Cheap rejections first: the scan below is O(n^2) but runs once per factor.
    if n > 1 and (a[0, 1] != 0 or a[1, 0] != 0):
        return False
    if not np.all(a.diagonal() == 1):
        return False
    return np.count_nonzero(a) == n


def _is_identity_sparse(a: sp.csr_array) -> bool:
    n = a.shape[0]
    if a.shape != (n, n) or a.nnz < n:
        return False
    diag = a.diagonal()
    if not np.all(diag == 1):
        return False
    return a.count_nonzero() == n


class Factor:
    """One validated Kronecker factor.

    Attributes
    ----------
    user : object
        What ``.factors`` shows: the ndarray (integers cast to float64), the
        scipy sparse object, or the ``LinearOperator`` the user passed.
    kind : {"dense", "sparse", "linop", "identity"}
    shape : tuple of int
    dtype : numpy.dtype
    """

    __slots__ = ("_cast", "dtype", "kind", "matrix", "shape", "user")

    def __init__(self, user: Any, matrix: Any, kind: str, dtype: np.dtype):
        self.user = user
        #: what the engine applies: ndarray, CSR array or LinearOperator
        self.matrix = matrix
        self.kind = kind
        self.dtype = np.dtype(dtype)
        self.shape = (int(matrix.shape[0]), int(matrix.shape[1]))
        self._cast: dict[np.dtype, Any] = {}

    # ------------------------------------------------------------------ costs
    @property
    def nnz(self) -> int:
        """Stored entries: ``m*n`` for dense and operator factors."""
        if self.kind == SPARSE:
            return int(self.matrix.nnz)
        if self.kind == IDENTITY:
            return self.shape[0]
        return self.shape[0] * self.shape[1]

    @property
    def cost(self) -> float:
        """Flops per element of the input tensor when applied along its axis.

        Dense (and opaque operator) factors cost ``2m``; sparse ``2·nnz/n``.
        """
        m, n = self.shape
        if self.kind == IDENTITY:
            return 0.0
        if self.kind == SPARSE:
            # A zero factor still touches memory; keep the cost positive so
            # the planner's ratios stay finite.
            return max(2.0 * self.matrix.nnz / n, 1e-3)
        return 2.0 * m

    # ------------------------------------------------------------- application
    def as_dtype(self, dtype: np.dtype) -> Any:
        """The applied matrix in ``dtype`` (cached), so BLAS never casts per call."""
        dtype = np.dtype(dtype)
        if self.kind == LINOP or dtype == self.dtype:
            return self.matrix
        got = self._cast.get(dtype)
        if got is None:
            got = self.matrix.astype(dtype)
            self._cast[dtype] = got
        return got

    def toarray(self) -> np.ndarray:
        """The factor as a dense ndarray (small: ``m×n``)."""
        if self.kind == DENSE:
            return self.matrix
        if self.kind in (SPARSE, IDENTITY):
            return self.matrix.toarray()
        return self.matrix.matmat(np.eye(self.shape[1], dtype=self.dtype))

    # ---------------------------------------------------------------- algebra
    def transpose(self) -> Factor:
        """Aᵀ as a factor (a view for dense factors)."""
        return _derived(self, lambda a: a.T)

    def adjoint(self) -> Factor:
        """Aᴴ as a factor."""
        return _derived(self, lambda a: a.conj().T if self.kind != LINOP else a.H)

    def conj(self) -> Factor:
        """The elementwise conjugate Ā as a factor."""
        if np.dtype(self.dtype).kind != "c":
            return self
        return _derived(self, lambda a: a.conj() if self.kind != LINOP else a.H.T)

    def scaled(self, alpha: numbers.Number) -> Factor:
        """``alpha * A`` as a factor (NumPy's weak-scalar dtype rules)."""
        if self.kind == LINOP:
            return as_factor(alpha * self.user, 0)
        user = self.user if self.kind != IDENTITY else self.matrix
        return as_factor(alpha * user, 0)

    def describe(self) -> str:
        """Short text for ``repr``: ``100×100 dense``, ``50×50 csr nnz=148``."""
        shape = describe_shape(self.shape)
        if self.kind == DENSE:
            return f"{shape} dense"
        if self.kind == SPARSE:
            return f"{shape} {self.user.format} nnz={self.matrix.nnz}"
        if self.kind == IDENTITY:
            return f"{shape} identity"
        return f"{shape} {type(self.user).__name__}"


def _derived(f: Factor, op) -> Factor:
    """Apply a structural operation (transpose, conj, …) to user and matrix form."""
    if f.kind == IDENTITY and op(f.matrix).shape == f.shape:
        return f
    if f.kind == LINOP:
        new = op(f.user)
        return Factor(new, new, LINOP, f.dtype)
    user = op(f.user)
    if f.kind == DENSE:
        return Factor(user, user, DENSE, f.dtype)
    matrix = sp.csr_array(op(f.matrix))
    return Factor(user, matrix, f.kind, f.dtype)


def as_factor(obj: Any, index: int) -> Factor:
    """Validate one user factor and wrap it.

    Parameters
    ----------
    obj : array_like, sparse matrix/array or LinearOperator
        The factor.
    index : int
        Its 0-based position, used in error messages.

    Raises
    ------
    ValueError
        If the factor is not 2-D or has a zero dimension.
    TypeError
        If its dtype is not numeric, or it is a ``LinearOperator`` with no dtype.
    """
    where = f"factor {index}"
    if isinstance(obj, Factor):
        return obj
    if isinstance(obj, LinearOperator):
        if obj.dtype is None:
            raise TypeError(
                f"{where} is a LinearOperator with dtype=None; construct it with an "
                "explicit dtype"
            )
        if len(obj.shape) != 2:
            raise ValueError(
                f"{where} must be a 2-D operator, got shape {tuple(obj.shape)}"
            )
        _check_nonempty(obj.shape, where)
        dtype = _normalise_dtype(obj.dtype, where)
        if type(obj).__name__ == "IdentityOperator":
            eye = sp.eye_array(obj.shape[0], dtype=dtype, format="csr")
            return Factor(obj, eye, IDENTITY, dtype)
        return Factor(obj, obj, LINOP, dtype)
    if sp.issparse(obj):
        if obj.ndim != 2:
            raise ValueError(f"{where} must be 2-D, got shape {obj.shape}")
        _check_nonempty(obj.shape, where)
        dtype = _normalise_dtype(obj.dtype, where)
        user = obj if obj.dtype == dtype else obj.astype(dtype)
        csr = sp.csr_array(user)
        csr.sum_duplicates()
        kind = IDENTITY if _is_identity_sparse(csr) else SPARSE
        return Factor(user, csr, kind, dtype)
    try:
        arr = np.asarray(obj)
    except Exception as exc:  # pragma: no cover - depends on foreign objects
        raise TypeError(
            f"{where} must be an ndarray, a scipy sparse matrix/array or a "
            f"LinearOperator, got {type(obj).__name__}"
        ) from exc
    if arr.ndim != 2:
        hint = (
            " (a 1-D array is not a factor: use np.diag(d) or scipy.sparse.diags(d))"
            if arr.ndim == 1
            else ""
        )
        raise ValueError(
            f"{where} must be a 2-D matrix (m×n), got an array of shape "
            f"{arr.shape}{hint}"
        )
    _check_nonempty(arr.shape, where)
    dtype = _normalise_dtype(arr.dtype, where)
    if arr.dtype != dtype:
        arr = arr.astype(dtype)
    if _is_identity_dense(arr):
        eye = sp.eye_array(arr.shape[0], dtype=dtype, format="csr")
        return Factor(arr, eye, IDENTITY, dtype)
    return Factor(arr, arr, DENSE, dtype)


def _check_nonempty(shape, where: str) -> None:
    if any(int(s) == 0 for s in shape):
        raise ValueError(
            f"{where} has shape {describe_shape(shape)}; every factor needs at least "
            "one row and one column"
        )
