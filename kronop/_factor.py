"""What a factor is: validated once, one class per kind.

A factor is a 2-D ndarray, a scipy sparse matrix or array, a ``LinearOperator``,
or (inside kronop) a fast transform. :func:`as_factor` validates what the user
passed and wraps it in one of the kinds below; everything downstream works with
:class:`Factor` objects and never re-validates.

=================  ==========================================================
kind               applied by the engine as
=================  ==========================================================
:class:`DenseFactor`      GEMMs from either side, written into work buffers
:class:`SparseFactor`     ``csr @ X`` (banded ones also as slicing stencils)
:class:`OperatorFactor`   ``op.matmat(X)`` (opaque: no entries)
:class:`IdentityFactor`   nothing (the axis is only reshaped around)
:class:`TransformFactor`  ``scipy.fft`` along the axis (DST, DCT, real FFT)
=================  ==========================================================

The engine reads only the capability flags (``gemm``, ``is_identity``,
``along_axis``, ``has_entries``, ``stored_sparse``) and :meth:`Factor.apply_left`;
this module is the only one that knows the kinds. Per-factor decompositions are
inherited from :class:`~kronop._factor_linalg.FactorLinalg`. A factor may carry a
``spectrum`` (analytic eigenpairs, e.g. of a Laplacian's 1-D stencil) that its
decompositions use instead of calling LAPACK.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, aslinearoperator
from scipy.sparse.linalg._interface import IdentityOperator

from ._compat import conj_scalar
from ._factor_linalg import FactorLinalg
from ._transforms import TRANSPOSE, apply_transform

__all__ = [
    "DenseFactor",
    "EigenSolveFactor",
    "Factor",
    "IdentityFactor",
    "OperatorFactor",
    "SparseFactor",
    "TransformFactor",
    "TransformOperator",
    "as_factor",
    "describe_shape",
    "factor_product",
    "factor_sum",
    "transform_factor",
]


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
    raise TypeError(
        f"{where} must have a numeric dtype (integer, float or complex), got "
        f"dtype={dtype}"
    )


class Factor(FactorLinalg):
    """One validated Kronecker factor (abstract: see the kinds below).

    Attributes
    ----------
    user : object
        What ``.factors`` shows: the ndarray (integers cast to float64), the
        scipy sparse object, or the ``LinearOperator`` the user passed.
    matrix : object
        What the engine applies: an ndarray, a CSR array or a ``LinearOperator``.
    shape : tuple of int
    dtype : numpy.dtype
    index : int
        0-based position among the operator's factors, for messages.
    spectrum : object or None
        Analytic eigenpairs, when known (see :mod:`kronop.gallery`).
    """

    __slots__ = (
        "_cast",
        "_memo",
        "dtype",
        "index",
        "matrix",
        "shape",
        "source_dtype",
        "spectrum",
        "user",
    )

    #: short name of the kind, for ``repr``
    label: ClassVar[str] = "factor"
    #: multiplied by GEMMs from either side, into a given output (dense only)
    gemm: ClassVar[bool] = False
    #: GEMM passes per product (2 for an eigen-solve: Vᴴ, then V); a second pass
    #: needs a scratch buffer of the step's size
    gemm_passes: ClassVar[int] = 1
    #: never applied: the axis is only reshaped around
    is_identity: ClassVar[bool] = False
    #: applied along an axis of an N-d view, any layout (fast transforms)
    along_axis: ClassVar[bool] = False
    #: its entries are known (not an opaque operator)
    has_entries: ClassVar[bool] = True
    #: stored as a scipy sparse matrix
    stored_sparse: ClassVar[bool] = False
    #: where a scalar multiple of the operator is folded in: the lowest first
    #: (a dense factor absorbs it for free; an identity would become a diagonal)
    fold_rank: ClassVar[int] = 2

    def __init__(
        self, user: Any, matrix: Any, dtype, index: int = 0, spectrum=None
    ) -> None:
        self.user = user
        self.matrix = matrix
        self.dtype = np.dtype(dtype)
        self.shape = (int(matrix.shape[0]), int(matrix.shape[1]))
        self.index = int(index)
        self.spectrum = spectrum
        #: the dtype the user gave (integers, booleans, float16 included; None for
        #: a dtype-less identity), from which the operator's dtype is promoted
        self.source_dtype: np.dtype | None = self.dtype
        self._cast: dict[np.dtype, Any] = {}
        self._memo: dict[str, Any] = {}

    # ------------------------------------------------------------- identity
    def reindexed(self, index: int) -> Factor:
        """The same factor (sharing its caches) at another position."""
        f = object.__new__(type(self))
        for name in Factor.__slots__:
            setattr(f, name, getattr(self, name))
        f.index = int(index)
        return f

    def with_spectrum(self, spectrum) -> Factor:
        """The same factor carrying analytic eigenpairs (fresh caches)."""
        return type(self)._make(
            self.user, self.matrix, self.dtype, self.index, spectrum
        )

    @classmethod
    def _make(cls, user, matrix, dtype, index, spectrum=None) -> Factor:
        return cls(user, matrix, dtype, index, spectrum)

    def promoted(self, dtype) -> Factor:
        """The factor in at least the precision of ``dtype`` (cached, own caches).

        Decompositions happen in the operator's precision: a float32 factor inside
        a float64 operator is factorized in float64. Only the precision is raised
        (a real factor stays real inside a complex operator).
        """
        target = np.result_type(self.dtype, np.finfo(np.dtype(dtype)).dtype)
        if target == self.dtype or not self.has_entries:
            return self
        key = f"promoted:{target}"
        got = self._memo.get(key)
        if got is None:
            got = self._promote(target)
            self._memo[key] = got
        return got

    def _promote(self, target: np.dtype) -> Factor:
        matrix = self.matrix.astype(target)
        spec = None if self.spectrum is None else self.spectrum.promoted(target)
        user = matrix if self.gemm else self.user
        return type(self)(user, matrix, target, self.index, spec)

    def wrap(self, obj: Any) -> Factor:
        """``obj`` (a matrix or operator derived from this factor) as a factor here."""
        return as_factor(obj, self.index)

    def eigen_solve(self, eigen) -> Factor:
        """V diag(1/λ) Vᴴ from the factor's unitary eigendecomposition, as a factor."""
        return EigenSolveFactor.of(
            eigen.vectors.toarray(), 1.0 / eigen.values, self.index
        )

    def __getstate__(self) -> dict:
        # cached factorizations (SuperLU, closures) need not and cannot travel
        state = {name: getattr(self, name) for name in Factor.__slots__}
        state["_cast"] = {}
        state["_memo"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def describe_shape(self) -> str:
        """``m×n``."""
        return describe_shape(self.shape)

    def describe(self) -> str:
        """Short text for ``repr``: ``100×100 dense``, ``50×50 csr nnz=148``."""
        return f"{self.describe_shape()} {self.label}"

    # ------------------------------------------------------------------ costs
    @property
    def nnz(self) -> int:
        """Stored entries (``m·n`` for dense and operator factors)."""
        return self.shape[0] * self.shape[1]

    @property
    def cost(self) -> float:
        """Flops per element of the input tensor when applied along its axis."""
        return 2.0 * self.shape[0]

    # ------------------------------------------------------------ application
    def as_dtype(self, dtype: np.dtype) -> Any:
        """The applied matrix in ``dtype`` (cached), so BLAS never casts per call."""
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self.matrix
        got = self._cast.get(dtype)
        if got is None:
            got = self.matrix.astype(dtype)
            self._cast[dtype] = got
        return got

    def apply_left(self, mat: Any, X: np.ndarray) -> np.ndarray:
        """``F @ X`` for a 2-D ``X`` of shape (n, R) (``mat`` from :meth:`as_dtype`)."""
        return mat @ X

    def toarray(self) -> np.ndarray:
        """The factor as a dense ndarray (small: ``m×n``)."""
        return np.asarray(self.matrix.toarray())

    def stored_values(self) -> np.ndarray:
        """The stored entries, for finiteness scans."""
        return np.asarray(self.matrix)

    def entries(self):
        """The matrix whose entries decompositions read (ndarray or CSR)."""
        return self.matrix

    # ---------------------------------------------------------------- algebra
    def _derived(self, fn, spectrum) -> Factor:
        """A factor from ``fn`` applied to the user form (transpose, conj, …)."""
        user = _private_readonly(fn(self.user), self.user)
        out = self._make(user, self._applied(user), self.dtype, self.index, spectrum)
        out.source_dtype = self.source_dtype
        return out

    def _applied(self, user) -> Any:
        return user

    def transpose(self) -> Factor:
        """Aᵀ as a factor."""
        spec = None if self.spectrum is None else self.spectrum.transposed()
        return self._derived(lambda a: a.T, spec)

    def adjoint(self) -> Factor:
        """Aᴴ as a factor."""
        spec = None if self.spectrum is None else self.spectrum.transposed()
        spec = None if spec is None else spec.conj()
        return self._derived(lambda a: a.conj().T, spec)

    def conj(self) -> Factor:
        """The elementwise conjugate Ā as a factor."""
        if self.dtype.kind != "c":
            return self
        spec = None if self.spectrum is None else self.spectrum.conj()
        return self._derived(lambda a: a.conj(), spec)

    def scaled(self, alpha: numbers.Number, dtype=None) -> Factor:
        """``alpha * A`` as a factor (NumPy's weak-scalar dtype rules).

        With ``dtype`` the factor is first cast to it (so the scalar is not rounded
        to a lower precision).
        """
        user = self.user if dtype is None else self.user.astype(dtype)
        out = as_factor(alpha * user, self.index)
        if self.spectrum is not None:
            out = out.with_spectrum(self.spectrum.scaled(alpha))
        return out


class DenseFactor(Factor):
    """A 2-D ndarray, applied by GEMMs."""

    __slots__ = ()
    label = "dense"
    gemm = True
    fold_rank = 0

    def toarray(self) -> np.ndarray:
        """The factor itself."""
        return self.matrix

    def apply_left(self, mat, X):
        """``F @ X`` by one GEMM."""
        return np.matmul(mat, X)

    def matmul_left(self, mat, B, out=None, temp=None):
        """``F @ B`` (B 2-D or a stack) into ``out``; ``mat`` from :meth:`as_dtype`."""
        return np.matmul(mat, B, out=out)

    def matmul_right(self, A, mat, out=None, temp=None):
        """``A @ Fᵀ`` into ``out``."""
        return np.matmul(A, mat.T, out=out)


class EigenSolveFactor(Factor):
    """A⁻¹ = V diag(1/λ) Vᴴ of an ill-conditioned Hermitian factor.

    Applied as two GEMMs with a scaling between them, which keeps the accuracy of
    the eigendecomposition (an explicit inverse would lose κ·ε relative to the
    solution's own size) and the speed of GEMMs. Its user form is a
    ``LinearOperator``; its entries are not offered for further decompositions.
    """

    __slots__ = ()
    label = "eigen-solve"
    gemm = True
    gemm_passes = 2
    has_entries = False

    @classmethod
    def of(cls, vectors: np.ndarray, inverse_values: np.ndarray, index: int = 0):
        """V diag(inverse_values) Vᴴ as a factor."""
        op = EigenSolveOperator(vectors, inverse_values)
        return cls(op, op, op.dtype, index)

    @property
    def cost(self) -> float:
        """Two GEMMs: 4n flops per element."""
        return 4.0 * self.shape[0]

    def as_dtype(self, dtype):
        """``(V, 1/λ, Vᴴ)`` in ``dtype`` (cached)."""
        dtype = np.dtype(dtype)
        got = self._cast.get(dtype)
        if got is None:
            op = self.matrix
            V = op.vectors.astype(dtype, copy=False)
            got = (V, op.inverse_values.astype(dtype), np.ascontiguousarray(V.conj().T))
            self._cast[dtype] = got
        return got

    def matmul_left(self, mat, B, out=None, temp=None):
        """``V (w (Vᴴ B))`` (B 2-D or a stack along its first axes)."""
        V, w, VH = mat
        shape = (*B.shape[:-2], VH.shape[0], B.shape[-1])
        into = None if temp is None else temp[: math.prod(shape)].reshape(shape)
        t = np.matmul(VH, B, out=into)
        t *= w[:, None]
        return np.matmul(V, t, out=out)

    def matmul_right(self, A, mat, out=None, temp=None):
        """``A Fᵀ = ((A V̄) w) Vᵀ``."""
        V, w, VH = mat
        shape = (*A.shape[:-1], VH.shape[0])
        into = None if temp is None else temp[: math.prod(shape)].reshape(shape)
        t = np.matmul(A, VH.T, out=into)
        t *= w
        return np.matmul(t, V.T, out=out)

    def apply_left(self, mat, X):
        """``F @ X``."""
        return self.matmul_left(mat, X)

    def toarray(self) -> np.ndarray:
        """V diag(1/λ) Vᴴ formed explicitly (for checking)."""
        op = self.matrix
        return (op.vectors * op.inverse_values) @ op.vectors.conj().T

    def _with(self, vectors, inverse_values) -> Factor:
        return EigenSolveFactor.of(vectors, inverse_values, self.index)

    def transpose(self) -> Factor:
        """Fᵀ = V̄ diag(1/λ) Vᵀ."""
        op = self.matrix
        return self._with(op.vectors.conj(), op.inverse_values)

    def adjoint(self) -> Factor:
        """Fᴴ = V diag(conj 1/λ) Vᴴ."""
        op = self.matrix
        return self._with(op.vectors, np.conj(op.inverse_values))

    def conj(self) -> Factor:
        """F̄ = V̄ diag(conj 1/λ) Vᵀ."""
        if self.dtype.kind != "c":
            return self
        op = self.matrix
        return self._with(op.vectors.conj(), np.conj(op.inverse_values))

    def scaled(self, alpha, dtype=None) -> Factor:
        """α F: the scalar goes into the inverse eigenvalues."""
        op = self.matrix
        return self._with(op.vectors, op.inverse_values * alpha)

    def stored_values(self) -> np.ndarray:
        """The inverse eigenvalues."""
        return self.matrix.inverse_values


class SparseFactor(Factor):
    """A scipy sparse matrix or array, applied in CSR form."""

    __slots__ = ()
    label = "sparse"
    stored_sparse = True
    fold_rank = 1

    @property
    def nnz(self) -> int:
        """Stored entries."""
        return int(self.matrix.nnz)

    @property
    def cost(self) -> float:
        """``2·nnz/n`` flops per input element (kept positive for the planner)."""
        # a zero factor still touches memory; keep the planner's ratios finite
        return max(2.0 * self.matrix.nnz / self.shape[1], 1e-3)

    def _applied(self, user) -> Any:
        return _canonical_csr(user)

    def stored_values(self) -> np.ndarray:
        """The stored entries (``data``)."""
        return self.matrix.data

    def describe(self) -> str:
        """``50×50 csr nnz=148``."""
        fmt = getattr(self.user, "format", "sparse")
        return f"{self.describe_shape()} {fmt} nnz={self.matrix.nnz}"


class IdentityFactor(SparseFactor):
    """An identity factor: costs nothing, never applied."""

    __slots__ = ()
    label = "identity"
    is_identity = True
    fold_rank = 3

    @property
    def nnz(self) -> int:
        """n."""
        return self.shape[0]

    @property
    def cost(self) -> float:
        """Zero."""
        return 0.0

    def transpose(self) -> Factor:
        """Itself."""
        return self

    def adjoint(self) -> Factor:
        """Itself."""
        return self

    def conj(self) -> Factor:
        """Itself."""
        return self

    def scaled(self, alpha, dtype=None) -> Factor:
        """``alpha·I`` as a (diagonal, sparse) factor."""
        eye = self.matrix if dtype is None else self.matrix.astype(dtype)
        return as_factor(alpha * eye, self.index)

    def describe(self) -> str:
        """``3×3 identity``."""
        return f"{self.describe_shape()} identity"


class OperatorFactor(Factor):
    """Any ``LinearOperator``: applied through ``matmat``; its entries are unknown."""

    __slots__ = ()
    has_entries = False

    def _applied(self, user) -> Any:
        return user if isinstance(user, LinearOperator) else aslinearoperator(user)

    def _derived(self, fn, spectrum) -> Factor:
        # a foreign operator (PyLops, anything aslinearoperator takes) is
        # transposed through scipy's wrapper of it
        if not isinstance(self.user, LinearOperator):
            out = OperatorFactor(
                fn(self.matrix), fn(self.matrix), self.dtype, self.index
            )
            out.source_dtype = self.source_dtype
            return out
        return super()._derived(fn, spectrum)

    def as_dtype(self, dtype):
        """The operator itself (it casts as it likes)."""
        return self.matrix

    def apply_left(self, mat, X):
        """``op.matmat(X)``."""
        return mat.matmat(X)

    def toarray(self) -> np.ndarray:
        """The operator applied to the identity (an explicit, small request)."""
        return np.asarray(self.matrix.matmat(np.eye(self.shape[1], dtype=self.dtype)))

    def transpose(self) -> Factor:
        """Aᵀ (the operator's own ``.T``)."""
        return self._derived(lambda a: a.T, None)

    def adjoint(self) -> Factor:
        """Aᴴ (the operator's own ``.H``)."""
        return self._derived(lambda a: a.H, None)

    def conj(self) -> Factor:
        """Ā = (Aᴴ)ᵀ."""
        if self.dtype.kind != "c":
            return self
        return self._derived(lambda a: a.H.T, None)

    def scaled(self, alpha, dtype=None) -> Factor:
        """``alpha * op`` with the dtype NumPy's weak-scalar rule gives."""
        scaled = alpha * self.user
        # scipy 1.17 declares float64 for float32 × Python float; NumPy's
        # weak-scalar rule (what the product computes) keeps float32
        scaled.dtype = np.result_type(self.dtype if dtype is None else dtype, alpha)
        return as_factor(scaled, self.index)

    def describe(self) -> str:
        """``3×3 MatrixLinearOperator``."""
        return f"{self.describe_shape()} {type(self.user).__name__}"


class TransformFactor(Factor):
    """A fast orthonormal transform (times a scalar), applied along its axis.

    ``name`` is one of :data:`kronop._transforms.TRANSPOSE`'s keys. The user form is
    a ``LinearOperator`` applying the same transform.
    """

    __slots__ = ()
    label = "transform"
    along_axis = True

    def __init__(self, user, matrix, dtype, index=0, spectrum=None) -> None:
        super().__init__(user, matrix, dtype, index, spectrum)

    @classmethod
    def of(cls, name: str, n: int, dtype, index: int = 0, scale=1.0):
        """The transform ``name`` on axes of length n, times ``scale``."""
        op = TransformOperator(name, n, dtype, scale)
        return cls(op, op, op.dtype, index)

    @property
    def cost(self) -> float:
        """About 5·log₂ n flops per element (an FFT-based transform)."""
        return 5.0 * math.log2(max(self.shape[0], 2))

    def as_dtype(self, dtype):
        """The transform (it works in the input's precision)."""
        return self.matrix

    def apply_along(self, x: np.ndarray, axis: int) -> np.ndarray:
        """The transform along ``axis`` of ``x`` (a new array)."""
        return self.matrix.apply_along(x, axis)

    def apply_left(self, mat, X):
        """Along axis 0 of a 2-D ``X``."""
        return mat.apply_along(X, 0)

    def toarray(self) -> np.ndarray:
        """The dense n×n matrix (the transform of the identity)."""
        return self.matrix.matmat(np.eye(self.shape[0], dtype=self.dtype))

    def _with(self, name: str, scale) -> Factor:
        return TransformFactor.of(name, self.shape[0], self.dtype, self.index, scale)

    def _promote(self, target: np.dtype) -> Factor:
        op = self.matrix
        return TransformFactor.of(op.name, self.shape[0], target, self.index, op.scale)

    def transpose(self) -> Factor:
        """The transposed transform (its inverse: the basis is orthonormal)."""
        op = self.matrix
        return self._with(TRANSPOSE[op.name], op.scale)

    def adjoint(self) -> Factor:
        """The transposed transform, conjugate scale."""
        op = self.matrix
        return self._with(TRANSPOSE[op.name], conj_scalar(op.scale))

    def conj(self) -> Factor:
        """The same transform with the conjugate scale (the basis is real)."""
        op = self.matrix
        return (
            self
            if np.isrealobj(op.scale)
            else self._with(op.name, conj_scalar(op.scale))
        )

    def scaled(self, alpha, dtype=None) -> Factor:
        """The transform with its scale multiplied by ``alpha``."""
        return self._with(self.matrix.name, self.matrix.scale * alpha)

    def stored_values(self) -> np.ndarray:
        """The scale (the basis itself is finite)."""
        return np.asarray([self.matrix.scale])

    def entries(self) -> np.ndarray:
        """The dense n×n matrix (decompositions of a transform read its entries)."""
        return self.dense("entries")

    def describe(self) -> str:
        """``1024×1024 dst1``."""
        return f"{self.describe_shape()} {self.matrix.name}"


class EigenSolveOperator(LinearOperator):
    """V diag(w) Vᴴ as a ``LinearOperator``: an ill-conditioned factor's inverse.

    What ``K.inv().factors`` shows for an ill-conditioned Hermitian factor:
    ``vectors`` V and ``inverse_values`` w = 1/λ.
    """

    def __init__(self, vectors: np.ndarray, inverse_values: np.ndarray) -> None:
        self.vectors = vectors
        self.inverse_values = inverse_values
        dtype = np.result_type(vectors, inverse_values)
        super().__init__(dtype=dtype, shape=vectors.shape)

    def _matmat(self, X):
        X = np.asarray(X)
        return self.vectors @ (
            self.inverse_values[:, None] * (self.vectors.conj().T @ X)
        )

    def _matvec(self, x):
        x = np.asarray(x)
        return self._matmat(x.reshape(self.shape[1], -1)).reshape(x.shape)

    def _adjoint(self):
        return EigenSolveOperator(self.vectors, np.conj(self.inverse_values))


class TransformOperator(LinearOperator):
    """A fast orthonormal transform as a ``LinearOperator`` (times ``scale``).

    What ``.factors`` shows for an eigenbasis applied by ``scipy.fft``: ``name`` is
    ``"dst1"``, ``"dct2"``, ``"idct2"``, ``"rfft"`` or ``"irfft"`` (see
    :mod:`kronop._transforms`); ``toarray()``-like dense forms come from applying it
    to the identity.
    """

    def __init__(self, name: str, n: int, dtype, scale=1.0) -> None:
        self.name = name
        self.scale = scale
        dtype = np.result_type(dtype, scale)
        super().__init__(dtype=dtype, shape=(int(n), int(n)))

    def apply_along(self, x: np.ndarray, axis: int) -> np.ndarray:
        y = apply_transform(self.name, x, axis)
        if self.scale == 1:
            return y
        if np.result_type(y, self.scale) != y.dtype:
            return y * self.scale
        y *= self.scale
        return y

    def _matmat(self, X):
        return self.apply_along(np.asarray(X), 0)

    def _matvec(self, x):
        x = np.asarray(x)
        return self.apply_along(x.reshape(self.shape[1], -1), 0).reshape(x.shape)

    def _adjoint(self):
        return TransformOperator(
            TRANSPOSE[self.name], self.shape[0], self.dtype, conj_scalar(self.scale)
        )

    def _transpose(self):
        return TransformOperator(
            TRANSPOSE[self.name], self.shape[0], self.dtype, self.scale
        )


def transform_factor(name: str, n: int, dtype, index: int = 0, scale=1.0) -> Factor:
    """The fast transform ``name`` on axes of length n (times ``scale``) as a factor."""
    return TransformFactor.of(name, n, dtype, index, scale)


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------
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
    if not np.all(a.diagonal() == 1):
        return False
    return a.count_nonzero() == n


def _sparse_identity(n: int, dtype) -> sp.csr_array:
    return sp.eye_array(n, dtype=dtype, format="csr")


def operator_dtype(factors) -> np.dtype:
    """The dtype of an operator of ``factors``: NumPy's promotion of the given dtypes.

    The result is at least floating point. Only integer or boolean factors give float64 (as ``np.kron`` of them times a
    float vector); with floats NumPy's rule holds (uint8 with float32 is float32);
    float16 becomes float32 (BLAS has no half precision); a dtype-less identity
    (scipy's ``IdentityOperator((n, n))``) adopts the others' dtype.
    """
    given = [f.source_dtype for f in factors if f.source_dtype is not None]
    if not given:
        return np.dtype(np.float64)
    dtype = np.result_type(*given)
    if dtype.kind in "biu":
        return np.dtype(np.float64)
    if dtype == np.float16:
        return np.dtype(np.float32)
    return dtype


def _private_readonly(derived, user):
    """``derived`` made read-only where it is new memory rather than a view.

    A derived factor (Āᵀ of a complex factor, the conjugate of a cached
    eigenvector matrix) lives as long as the operator that keeps it; an array
    handed out through ``.factors`` must not be a writable door into it. Views
    of the caller's own arrays stay as they are: that memory is the caller's.
    """
    arr = derived.data if sp.issparse(derived) else derived
    if isinstance(arr, np.ndarray) and arr.flags.writeable:
        src = user.data if sp.issparse(user) else user
        if not (isinstance(src, np.ndarray) and np.shares_memory(arr, src)):
            arr.setflags(write=False)
    return derived


def _canonical_csr(user) -> sp.csr_array:
    """``user`` as a CSR array in canonical form (sorted, no duplicates).

    ``sum_duplicates`` and scipy's solvers sort indices in place; a CSR view of
    the caller's arrays (a CSR input, or the transpose of a CSC one) is copied
    first so the caller's ``data``/``indices`` are never reordered.
    """
    csr = sp.csr_array(user)
    if not csr.has_canonical_format:
        csr = csr.copy()
        csr.sum_duplicates()
    return csr


def as_factor(obj: Any, index: int) -> Factor:
    """Validate one user factor and wrap it in its kind.

    Parameters
    ----------
    obj : array_like, sparse matrix/array, LinearOperator or Factor
        The factor (a :class:`Factor` is re-indexed, not re-validated). Anything
        ``scipy.sparse.linalg.aslinearoperator`` accepts (a PyLops operator, an
        object with ``shape``, ``dtype`` and ``matvec``) is an operator factor.
    index : int
        Its 0-based position, used in error messages.

    Raises
    ------
    ValueError
        If the factor is not 2-D or has a zero dimension.
    TypeError
        If its dtype is not numeric, or it is an operator with no dtype.
    """
    where = f"factor {index}"
    if isinstance(obj, Factor):
        return obj if obj.index == index else obj.reindexed(index)
    if not isinstance(obj, LinearOperator | np.ndarray) and not sp.issparse(obj):
        if hasattr(obj, "shape") and hasattr(obj, "matvec"):
            return _operator_factor(obj, aslinearoperator(obj), where, index)
        if isinstance(obj, list | tuple) and any(
            isinstance(a, LinearOperator) or sp.issparse(a) or np.ndim(a) == 2
            for a in obj
        ):
            raise TypeError(
                f"{where} is a {type(obj).__name__} of {len(obj)} matrices; pass "
                "the factors separately (unpack the list: KronOperator(*factors))"
            )
    if isinstance(obj, LinearOperator):
        return _operator_factor(obj, obj, where, index)
    if sp.issparse(obj):
        user, csr, dtype = sparse_matrix(obj, where)
        kind = IdentityFactor if _is_identity_sparse(csr) else SparseFactor
        return _sourced(kind(user, csr, dtype, index), obj.dtype)
    arr, source = dense_matrix(obj, where)
    dtype = arr.dtype
    if _is_identity_dense(arr):
        eye = _sparse_identity(arr.shape[0], dtype)
        return _sourced(IdentityFactor(arr, eye, dtype, index), source)
    return _sourced(DenseFactor(arr, arr, dtype, index), source)


def sparse_matrix(obj, where: str):
    """A scipy sparse factor or block: ``(user, canonical CSR, dtype)``, validated.

    ``user`` is the caller's object, cast only when its dtype is not a working
    one (integers → float64); the CSR never shares arrays that scipy would sort
    in place.
    """
    if obj.ndim != 2:
        raise ValueError(f"{where} must be 2-D, got shape {obj.shape}")
    _check_nonempty(obj.shape, where)
    dtype = _normalise_dtype(obj.dtype, where)
    user = obj if obj.dtype == dtype else obj.astype(dtype)
    return user, _canonical_csr(user), dtype


def dense_matrix(obj, where: str) -> tuple[np.ndarray, np.dtype]:
    """A dense factor or block as a 2-D ndarray in its working dtype, validated.

    Returns the array (the caller's own when no cast is needed) and the dtype the
    caller gave. Messages name ``where`` ("factor 1", "block 3").
    """
    try:
        arr = np.asarray(obj)
    except Exception as exc:  # pragma: no cover - depends on foreign objects
        raise TypeError(
            f"{where} must be an ndarray, a scipy sparse matrix/array or a "
            f"LinearOperator, got {type(obj).__name__}"
        ) from exc
    if arr.dtype == object and not isinstance(obj, np.ndarray):
        what = type(obj).__name__
        if isinstance(obj, list | tuple):
            what = f"a {what} that is not a matrix"
        raise TypeError(
            f"{where} must be an ndarray, a scipy sparse matrix/array or a "
            f"LinearOperator, got {what}"
        )
    if arr.ndim != 2:
        noun = where.split()[0]
        hint = (
            f" (a 1-D array is not a {noun}: use np.diag(d) or "
            "scipy.sparse.diags_array(d))"
            if arr.ndim == 1
            else ""
        )
        raise ValueError(
            f"{where} must be a 2-D matrix (m×n), got an array of shape "
            f"{arr.shape}{hint}"
        )
    _check_nonempty(arr.shape, where)
    source = arr.dtype
    dtype = _normalise_dtype(arr.dtype, where)
    if arr.dtype != dtype:
        arr = arr.astype(dtype)
    return arr, source


def _sourced(f: Factor, source) -> Factor:
    f.source_dtype = None if source is None else np.dtype(source)
    return f


def _operator_factor(user, op: LinearOperator, where: str, index: int) -> Factor:
    """An operator factor (or an identity one) from a ``LinearOperator``."""
    if len(op.shape) != 2:
        raise ValueError(f"{where} must be a 2-D operator, got shape {tuple(op.shape)}")
    _check_nonempty(op.shape, where)
    if op.dtype is None:
        if isinstance(op, IdentityOperator) and op.shape[0] == op.shape[1]:
            # scipy's IdentityOperator((n, n)) has no dtype: it costs nothing and
            # adopts the dtype of the other factors
            eye = _sparse_identity(op.shape[0], np.float32)
            return _sourced(IdentityFactor(user, eye, np.float32, index), None)
        raise TypeError(
            f"{where} is a LinearOperator with dtype=None; construct it with an "
            "explicit dtype"
        )
    dtype = _normalise_dtype(op.dtype, where)
    if isinstance(op, TransformOperator):  # keeps its fast application
        return _sourced(TransformFactor(op, op, dtype, index), op.dtype)
    if isinstance(op, EigenSolveOperator):
        return _sourced(EigenSolveFactor(op, op, dtype, index), op.dtype)
    if isinstance(op, IdentityOperator) and getattr(op, "scale", 1) == 1:
        eye = _sparse_identity(op.shape[0], dtype)
        return _sourced(IdentityFactor(user, eye, dtype, index), op.dtype)
    return _sourced(OperatorFactor(user, op, dtype, index), op.dtype)


def _check_nonempty(shape, where: str) -> None:
    if any(int(s) == 0 for s in shape):
        noun = where.split()[0]  # "factor 2" → factor, "block 3" → block
        raise ValueError(
            f"{where} has shape {describe_shape(shape)}; every {noun} needs at least "
            "one row and one column"
        )


# ---------------------------------------------------------------------------
# Factor arithmetic (the mixed product and the Kronecker sum of two sums)
# ---------------------------------------------------------------------------
def factor_product(a: Factor, b: Factor, index: int) -> Factor:
    """A·B for two conforming factors, keeping structure where possible."""
    if a.is_identity:
        return b.reindexed(index)
    if b.is_identity:
        return a.reindexed(index)
    if not (a.has_entries and b.has_entries) or a.along_axis or b.along_axis:
        return as_factor(aslinearoperator(a.user) @ aslinearoperator(b.user), index)
    return as_factor(a.matrix @ b.matrix, index)


def factor_sum(a: Factor, b: Factor, index: int) -> Factor:
    """A + B for two square factors of the same size."""
    if not (a.has_entries and b.has_entries) or a.along_axis or b.along_axis:
        return as_factor(aslinearoperator(a.user) + aslinearoperator(b.user), index)
    if a.stored_sparse and b.stored_sparse:
        return as_factor(sp.csr_array(a.matrix + b.matrix), index)
    return as_factor(a.toarray() + b.toarray(), index)
