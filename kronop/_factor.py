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

    __slots__ = ("_cache", "_cast", "dtype", "index", "kind", "matrix", "shape", "user")

    def __init__(self, user: Any, matrix: Any, kind: str, dtype: np.dtype):
        self.user = user
        #: what the engine applies: ndarray, CSR array or LinearOperator
        self.matrix = matrix
        self.kind = kind
        self.dtype = np.dtype(dtype)
        self.shape = (int(matrix.shape[0]), int(matrix.shape[1]))
        self._cast: dict[np.dtype, Any] = {}
        self._cache: dict[str, Any] = {}
        #: 0-based position in the user's argument list, for messages
        self.index = 0

    def reindexed(self, index: int) -> Factor:
        """The same factor (sharing its caches) at another position."""
        f = Factor.__new__(Factor)
        for name in Factor.__slots__:
            setattr(f, name, getattr(self, name))
        f.index = index
        return f

    def __getstate__(self) -> dict:
        # cached factorizations (SuperLU, closures) need not and cannot travel
        state = {name: getattr(self, name) for name in Factor.__slots__}
        state["_cache"] = {}
        state["_cast"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)

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
            scaled = alpha * self.user
            # scipy 1.17 declares float64 for float32 × Python float; NumPy's
            # weak-scalar rule (what the product computes) keeps float32
            scaled.dtype = np.result_type(self.dtype, alpha)
            return as_factor(scaled, self.index)
        user = self.user if self.kind != IDENTITY else self.matrix
        return as_factor(alpha * user, self.index)

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
    """Validate one user factor and wrap it (see :func:`_as_factor`)."""
    f = _as_factor(obj, index)
    f.index = index
    return f


def _as_factor(obj: Any, index: int) -> Factor:
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


# ---------------------------------------------------------------------------
# Decompositions of one factor, computed on first use and cached on the Factor.
# ---------------------------------------------------------------------------
#: explicit inverses are used in the hot loop up to this 1-norm condition number;
#: past it the factor is applied through its LU factors (backward stable) instead
INVERSE_COND_LIMIT = 1e6


def _name(f: Factor) -> str:
    return f"factor {f.index} ({describe_shape(f.shape)})"


def require_matrix(f: Factor, method: str) -> None:
    """Raise ``TypeError`` for an operator factor with no matrix behind it."""
    if f.kind == LINOP:
        raise TypeError(
            f"{method}() needs the entries of every factor, but {_name(f)} is a "
            f"{type(f.user).__name__} with no matrix behind it; pass it as an ndarray "
            "or sparse matrix (kronop never densifies an operator silently)"
        )


def require_square(f: Factor, method: str) -> None:
    """Raise ``ValueError`` unless the factor is square."""
    if f.shape[0] != f.shape[1]:
        raise ValueError(
            f"{method}() needs square factors, but {_name(f)} is not square"
        )


def dense_matrix(f: Factor, method: str) -> np.ndarray:
    """The factor as a finite dense ndarray for a decomposition (n×n: small)."""
    require_matrix(f, method)
    got = f._cache.get("dense")
    if got is None:
        got = f.toarray()
        f._cache["dense"] = got
    if "finite" not in f._cache:
        f._cache["finite"] = bool(np.all(np.isfinite(got)))
    if not f._cache["finite"]:
        raise ValueError(f"{method}(): {_name(f)} has non-finite entries (inf or nan)")
    return got


def is_hermitian(f: Factor) -> bool:
    """Whether the factor equals its conjugate transpose (to 100 ulps of its scale)."""
    if f.kind == IDENTITY:
        return True
    if f.kind == LINOP or f.shape[0] != f.shape[1]:
        return False
    got = f._cache.get("hermitian")
    if got is None:
        if f.kind == SPARSE:
            a = f.matrix
            diff = abs(a - a.conj().T)
            scale = abs(a).max() if a.nnz else 0.0
            worst = diff.max() if diff.nnz else 0.0
        else:
            a = f.matrix
            scale = np.max(np.abs(a))
            worst = np.max(np.abs(a - a.conj().T))
        tol = 100 * np.finfo(f.dtype).eps * scale
        got = bool(worst <= tol) and bool(np.all(np.isfinite(scale)))
        f._cache["hermitian"] = got
    return got


def cholesky(f: Factor) -> np.ndarray | None:
    """Lower Cholesky factor L (A = L Lᴴ), or None when A is not Hermitian PD."""
    if "chol" not in f._cache:
        L = None
        if is_hermitian(f):
            a = dense_matrix(f, "cholesky")
            try:
                L = np.linalg.cholesky(a)
            except np.linalg.LinAlgError:
                L = None
        f._cache["chol"] = L
    return f._cache["chol"]


def inverse(f: Factor, method: str = "solve") -> Any:
    """A matrix-like that applies A⁻¹, cached; raises if A is singular.

    Dense factors: the explicit inverse (one GEMM per application in the engine's
    one BLAS) when κ₁(A) ≤ ``INVERSE_COND_LIMIT``; otherwise an operator over the
    LU factors. A ``LinAlgWarning`` reports κ₁ when it exceeds 1/ε, as
    ``scipy.linalg.solve`` does. Sparse factors: ``splu``.
    """
    require_matrix(f, method)
    require_square(f, method)
    got = f._cache.get("inverse")
    if got is not None:
        return got
    import warnings

    import scipy.linalg as sla

    if f.kind == IDENTITY:
        got = f.matrix
    elif f.kind == SPARSE:
        if not np.all(np.isfinite(f.matrix.data)):
            raise ValueError(
                f"{method}(): {_name(f)} has non-finite entries (inf or nan)"
            )
        got = FactorSolve(f.matrix, sparse=True, name=_name(f))
    else:
        a = dense_matrix(f, method)
        getrf, getrs = sla.get_lapack_funcs(("getrf", "getrs"), (a,))
        lu, piv, info = getrf(a)
        if info > 0:
            raise np.linalg.LinAlgError(f"{_name(f)} is singular")
        eye = np.eye(a.shape[0], dtype=lu.dtype)
        inv, info = getrs(lu, piv, eye)
        cond = np.linalg.norm(a, 1) * np.linalg.norm(inv, 1)
        f._cache["cond1"] = cond
        if not np.isfinite(cond) or cond * np.finfo(a.dtype).eps > 1:
            warnings.warn(
                f"{_name(f)} is ill-conditioned (1-norm condition number "
                f"{cond:.3e}): the result may be inaccurate",
                sla.LinAlgWarning,
                stacklevel=4,
            )
        got = inv if cond <= INVERSE_COND_LIMIT else FactorSolve(a, name=_name(f))
    f._cache["inverse"] = got
    return got


def slogdet(f: Factor) -> tuple[Any, float]:
    """``(sign, log|det A|)`` of one square factor, by Cholesky, LU or splu."""
    require_matrix(f, "slogdet")
    require_square(f, "slogdet")
    got = f._cache.get("slogdet")
    if got is not None:
        return got
    if f.kind == IDENTITY:
        got = (1.0, 0.0)
    elif f.kind == SPARSE and f.shape[0] > 512:
        from scipy.sparse.linalg import splu

        if not np.all(np.isfinite(f.matrix.data)):
            raise ValueError(
                f"slogdet(): {_name(f)} has non-finite entries (inf or nan)"
            )
        try:
            lu = splu(sp.csc_array(f.matrix), permc_spec="COLAMD")
        except RuntimeError:
            got = (0.0, -np.inf)
        else:
            u = lu.U.diagonal()
            parity = _perm_parity(lu.perm_r) * _perm_parity(lu.perm_c)
            sgn = np.prod(u / np.abs(u)) * parity
            got = (
                sgn if np.iscomplexobj(u) else float(np.real(sgn)),
                float(np.sum(np.log(np.abs(u)))),
            )
    else:
        L = cholesky(f)
        if L is not None:
            got = (1.0, float(2 * np.sum(np.log(np.abs(np.diagonal(L))))))
        else:
            sign, logabs = np.linalg.slogdet(dense_matrix(f, "slogdet"))
            got = (sign if np.iscomplexobj(sign) else float(sign), float(logabs))
    f._cache["slogdet"] = got
    return got


def _perm_parity(p: np.ndarray) -> int:
    p = np.asarray(p).copy()
    seen = np.zeros(len(p), dtype=bool)
    parity = 1
    for i in range(len(p)):
        if not seen[i]:
            j, length = i, 0
            while not seen[j]:
                seen[j] = True
                j = p[j]
                length += 1
            if length % 2 == 0:
                parity = -parity
    return parity


def eigh(f: Factor, method: str = "eigh") -> tuple[np.ndarray, np.ndarray]:
    """``(w, V)`` of a Hermitian factor (ascending w, unitary V)."""
    got = f._cache.get("eigh")
    if got is None:
        require_square(f, method)
        a = dense_matrix(f, method)
        if not is_hermitian(f):
            hint = "; use eig()" if method == "eigh" else ""
            raise ValueError(
                f"{method}() needs Hermitian factors, but {_name(f)} is not "
                f"Hermitian{hint}"
            )
        got = np.linalg.eigh(a)
        f._cache["eigh"] = got
    return got


def eig(f: Factor) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """``(w, V, V⁻¹, κ₂(V))`` of a general square factor (eigh when Hermitian)."""
    got = f._cache.get("eig")
    if got is None:
        require_square(f, "eig")
        a = dense_matrix(f, "eig")
        if is_hermitian(f):
            w, V = eigh(f)
            got = (w, V, V.conj().T, 1.0)
        else:
            w, V = np.linalg.eig(a)
            s = np.linalg.svd(V, compute_uv=False)
            cond = float(s[0] / s[-1]) if s[-1] > 0 else np.inf
            Vinv = np.linalg.inv(V) if np.isfinite(cond) else np.full_like(V, np.nan)
            got = (w, V, Vinv, cond)
        f._cache["eig"] = got
    return got


def svd(f: Factor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thin ``(U, s, Vh)`` of one factor."""
    got = f._cache.get("svd")
    if got is None:
        a = dense_matrix(f, "svd")
        got = np.linalg.svd(a, full_matrices=False)
        f._cache["svd"] = got
    return got


class FactorSolve(LinearOperator):
    """A⁻¹ of one square factor, applied through its LU factors (dense or SuperLU).

    Used for factors too ill-conditioned for an explicit inverse, and for sparse
    factors. The factorization is made per working dtype on first use (a complex
    right-hand side with a real factor factorizes once more, in complex), so
    every dtype the engine passes in is solved at its own precision. Pickles
    without its factorizations.
    """

    def __init__(self, matrix, sparse: bool = False, name: str = "factor") -> None:
        self._matrix = matrix
        self._sparse = sparse
        self._name = name
        self._lu: dict = {}
        super().__init__(dtype=np.dtype(matrix.dtype), shape=matrix.shape)
        self._factor(self.dtype)  # raise on a singular factor now, not later

    def _factor(self, dtype: np.dtype):
        lu = self._lu.get(dtype)
        if lu is None:
            a = self._matrix.astype(dtype)
            if self._sparse:
                from scipy.sparse.linalg import splu

                try:
                    lu = splu(sp.csc_array(a))
                except RuntimeError as exc:
                    raise np.linalg.LinAlgError(f"{self._name} is singular") from exc
            else:
                import scipy.linalg as sla

                getrf, getrs = sla.get_lapack_funcs(("getrf", "getrs"), (a,))
                lu_, piv, info = getrf(a)
                if info > 0:
                    raise np.linalg.LinAlgError(f"{self._name} is singular")
                lu = (getrs, lu_, piv)
            self._lu[dtype] = lu
        return lu

    def _solve(self, X, trans: int):
        X = np.asarray(X)
        dtype = np.result_type(self.dtype, X.dtype)
        lu = self._factor(dtype)
        Xc = np.ascontiguousarray(X, dtype=dtype)
        if self._sparse:
            return lu.solve(Xc, trans="N" if trans == 0 else "H")
        getrs, lu_, piv = lu
        out, _ = getrs(lu_, piv, Xc, trans=trans)
        return out

    def _matmat(self, X):
        return self._solve(X, 0)

    def _matvec(self, x):
        return self._solve(x, 0)

    def _rmatmat(self, X):
        return self._solve(X, 2)

    def _rmatvec(self, x):
        return self._solve(x, 2)

    def _adjoint(self):
        return _AdjointSolve(self)

    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())
        state["_lu"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        from ._algebra import restore_state

        restore_state(self, state)


class _AdjointSolve(LinearOperator):
    """A⁻ᴴ through the same factorization."""

    def __init__(self, solve: FactorSolve) -> None:
        self._of = solve
        super().__init__(dtype=solve.dtype, shape=solve.shape[::-1])

    def _matmat(self, X):
        return self._of._solve(X, 2)

    def _matvec(self, x):
        return self._of._solve(x, 2)

    def _rmatmat(self, X):
        return self._of._solve(X, 0)

    def _rmatvec(self, x):
        return self._of._solve(x, 0)

    def _adjoint(self):
        return self._of
