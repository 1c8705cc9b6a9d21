"""Decompositions of one factor: named, cached, and the policies that choose them.

Every question kronop asks about a single factor — is it finite, Hermitian,
normal; its LU, Cholesky, eigen-, Schur or singular-value decomposition; how to
apply its inverse; its log-determinant; its bands — is a method of
:class:`FactorLinalg`, which every :class:`~kronop._factor.Factor` inherits. Each
answer is computed on first use and kept on the factor (so an operator, its
transpose, its inverse and its decompositions share it), and each *policy* lives
in exactly one method here:

* which inverse a factor gets (:meth:`FactorLinalg.solver`): an explicit inverse
  applied by GEMM while κ₁ ≤ :data:`INVERSE_COND_LIMIT`, otherwise its
  eigendecomposition V diag(1/λ) Vᴴ (Hermitian) or its LU factors (``splu`` for
  sparse factors);
* which eigendecomposition (:meth:`FactorLinalg.eigen`): the analytic one when the
  factor carries it, ``eigh`` when Hermitian, ``eig`` otherwise;
* the Hermitian, normality and positivity tests (100 ulps of the factor's scale).

Cached arrays are read-only, so nothing a caller receives can corrupt a cache.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, splu

from ._compat import call, restore_state

if TYPE_CHECKING:  # pragma: no cover
    from ._factor import Factor

__all__ = [
    "INVERSE_COND_LIMIT",
    "STENCIL_MAX_DIAGONALS",
    "FactorEigen",
    "FactorLinalg",
    "FactorSolve",
]

#: explicit inverses are used in the hot loop up to this 1-norm condition number;
#: past it the factor is applied through its eigendecomposition (Hermitian) or its
#: LU factors, both backward stable. Measured on a GP factor with κ = 4e8:
#: explicit inverse forward error 6e-4, LU 6e-9, eigh 9e-9.
INVERSE_COND_LIMIT = 1e6
#: a sparse factor with at most this many nonzero diagonals is a stencil: applied
#: by slicing along its axis (no transposes, no index arrays)
STENCIL_MAX_DIAGONALS = 9
#: a diagonal made of at most this many constant runs is applied run by run with
#: scalar coefficients; otherwise with its vector of values
STENCIL_MAX_RUNS = 4
#: sparse factors larger than this get their log-determinant from ``splu``
SPARSE_SLOGDET_ABOVE = 512

_MISSING = object()


class FactorEigen(NamedTuple):
    """The eigendecomposition A = V diag(values) V⁻¹ of one factor."""

    values: np.ndarray
    vectors: Factor
    inverse: Factor
    #: κ₂(V) (1 for a unitary V)
    cond: float
    #: whether V is unitary (Hermitian or analytic normal factors)
    unitary: bool
    #: the values are exact to rounding (analytic: each carries ε·|λ|, not ε·‖A‖)
    exact: bool = False


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


class FactorLinalg:
    """Per-factor decompositions, each behind one named, cached method.

    Mixed into :class:`~kronop._factor.Factor`; relies on its ``shape``, ``dtype``,
    ``index``, ``matrix``, ``spectrum``, the kind flags and ``_memo``.
    """

    __slots__ = ()

    # ----------------------------------------------------------------- memo
    def _memoized(self, key: str, build) -> Any:
        got = self._memo.get(key, _MISSING)
        if got is _MISSING:
            got = build()
            self._memo[key] = got
        return got

    @property
    def name(self) -> str:
        """How messages name the factor: ``factor 1 (3×4)``."""
        return f"factor {self.index} ({self.describe_shape()})"

    # ----------------------------------------------------------- conditions
    def require_entries(self, method: str) -> None:
        """Raise ``TypeError`` for an operator factor with no matrix behind it."""
        if not self.has_entries:
            raise TypeError(
                f"{call(method)} needs the entries of every factor, but {self.name} is a "
                f"{type(self.user).__name__} with no matrix behind it; pass it as an "
                "ndarray or sparse matrix (kronop never densifies an operator silently)"
            )

    def require_square(self, method: str) -> None:
        """Raise ``ValueError`` unless the factor is square."""
        if self.shape[0] != self.shape[1]:
            raise ValueError(
                f"{call(method)} needs square factors, but {self.name} is not square"
            )

    def is_finite(self) -> bool:
        """Whether every stored entry is finite (operator factors: assumed)."""
        if not self.has_entries:
            return True
        return self._memoized(
            "finite", lambda: bool(np.all(np.isfinite(self.stored_values())))
        )

    def check_finite(self, method: str) -> None:
        """``require_entries`` plus ``ValueError`` for inf or nan entries."""
        self.require_entries(method)
        if not self.is_finite():
            raise ValueError(
                f"{call(method)}: {self.name} has non-finite entries (inf or nan)"
            )

    def dense(self, method: str) -> np.ndarray:
        """The factor as a finite, read-only dense ndarray (n×n: small)."""
        self.check_finite(method)
        return self._memoized("dense", lambda: _readonly(np.array(self.toarray())))

    # ------------------------------------------------------------ structure
    def is_hermitian(self) -> bool:
        """Whether A = Aᴴ to 100 ulps of its largest entry."""
        if self.is_identity:
            return True
        if self.spectrum is not None:
            return bool(self.spectrum.hermitian)
        if not self.has_entries or self.shape[0] != self.shape[1]:
            return False
        return self._memoized("hermitian", self._hermitian_test)

    def _hermitian_test(self) -> bool:
        a = self.entries()
        if sp.issparse(a):
            diff = abs(a - a.conj().T)
            scale = abs(a).max() if a.nnz else 0.0
            worst = diff.max() if diff.nnz else 0.0
        else:
            scale = np.max(np.abs(a))
            worst = np.max(np.abs(a - a.conj().T))
        tol = 100 * np.finfo(self.dtype).eps * scale
        return bool(worst <= tol) and bool(np.isfinite(scale))

    def is_normal(self) -> bool:
        """Whether AAᴴ = AᴴA (to rounding): its eigenvectors can be orthonormal."""
        if self.is_hermitian() or self.spectrum is not None:
            return True
        if self.shape[0] != self.shape[1]:
            return False

        def test() -> bool:
            a = self.dense("norm")
            c = a @ a.conj().T - a.conj().T @ a
            scale = np.linalg.norm(a) ** 2
            eps = np.finfo(a.dtype).eps
            return bool(np.linalg.norm(c) <= 100 * a.shape[0] * eps * scale)

        return self._memoized("normal", test)

    def bands(self):
        """``(c0, terms)`` when the factor is a banded stencil, else None.

        ``c0`` is the constant part of the main diagonal; ``terms`` are tuples
        ``(offset, lo, hi, coef)`` for ``y[i] += coef·x[i+offset]``, lo ≤ i < hi
        (``coef`` a scalar or a vector of ``hi − lo`` values). Only sparse factors
        with at most :data:`STENCIL_MAX_DIAGONALS` diagonals are stencils.
        """
        if not self.stored_sparse or self.is_identity:
            return None
        return self._memoized("bands", self._band_terms)

    def _band_terms(self):
        a = self.matrix
        n = self.shape[0]
        coo = a.tocoo()
        keep = coo.data != 0
        offsets = np.unique(coo.col[keep].astype(np.int64) - coo.row[keep])
        if len(offsets) > STENCIL_MAX_DIAGONALS:
            return None
        c0: Any = 0
        terms = []
        for k in offsets.tolist():
            v = np.asarray(a.diagonal(k))
            lo, hi = max(0, -k), n - max(0, k)
            runs = _runs(v)
            if len(runs) <= STENCIL_MAX_RUNS:
                cover: dict[Any, int] = {}
                for r0, r1, val in runs:
                    cover[val] = cover.get(val, 0) + (r1 - r0)
                base = max(cover, key=lambda val: cover[val])
                if k == 0:
                    c0 = c0 + base
                elif base != 0:
                    terms.append((k, lo, hi, base))
                for r0, r1, val in runs:
                    if val != base:
                        terms.append((k, lo + r0, lo + r1, val - base))
            else:
                terms.append((k, lo, hi, _readonly(v.copy())))
        return (c0, tuple(terms))

    def diagonal_only(self) -> np.ndarray | None:
        """The diagonal when the factor is square and diagonal, else None."""
        if not self.has_entries or self.shape[0] != self.shape[1]:
            return None
        if self.is_identity:
            return np.ones(self.shape[0], dtype=self.dtype)
        a = self.entries()
        if self.stored_sparse:
            coo = a.tocoo()
            if coo.nnz and np.any(coo.row != coo.col):
                return None
            return np.asarray(a.diagonal())
        d = np.diagonal(a)
        if np.count_nonzero(a) != np.count_nonzero(d):
            return None
        return np.array(d)

    def diagonal_entries(self, method: str) -> np.ndarray:
        """The main diagonal (a new array)."""
        self.require_entries(method)
        if self.is_identity:
            return np.ones(self.shape[0], dtype=self.dtype)
        return np.array(self.entries().diagonal())

    # -------------------------------------------------------- factorizations
    def cholesky(self) -> np.ndarray | None:
        """Lower Cholesky factor L (A = L Lᴴ), or None when A is not Hermitian PD."""

        def build():
            if not self.is_hermitian():
                return None
            a = self.dense("cholesky")
            try:
                return _readonly(np.linalg.cholesky(a))
            except np.linalg.LinAlgError:
                return None

        return self._memoized("cholesky", build)

    def solver(self, method: str = "solve") -> Factor:
        """A factor that applies A⁻¹ (cached); raises if A is singular.

        The policy: identities are their own inverse; sparse factors solve through
        ``splu``; dense factors are LU-factorized once, and applied by their
        explicit inverse (one GEMM in the engine) while κ₁(A) ≤
        :data:`INVERSE_COND_LIMIT`, else — Hermitian factors — through their
        eigendecomposition V diag(1/λ) Vᴴ (two GEMMs), or their LU factors, which
        stay backward stable. A ``LinAlgWarning`` reports κ₁ when it exceeds 1/ε,
        as ``scipy.linalg.solve`` does.
        """
        self.require_square(method)
        if self.is_identity:
            return self
        self.check_finite(method)
        return self._memoized("solver", lambda: self._make_solver(method))

    def _make_solver(self, method: str) -> Factor:
        if self.stored_sparse:
            return self.wrap(FactorSolve(self.matrix, "splu", self.name))
        a = self.dense(method)
        # numpy's inv (LU with partial pivoting, as getrf + getrs): scipy's
        # threaded OpenBLAS getrs measured 12–22 ms on a 16×16 factor on a
        # loaded 2-core machine, numpy's inv 0.02 ms
        try:
            inv = np.linalg.inv(a)
        except np.linalg.LinAlgError:
            raise np.linalg.LinAlgError(f"{self.name} is singular") from None
        cond = float(np.linalg.norm(a, 1) * np.linalg.norm(inv, 1))
        if not np.isfinite(cond) or cond * np.finfo(a.dtype).eps > 1:
            warnings.warn(
                f"{self.name} is ill-conditioned (1-norm condition number "
                f"{cond:.3e}): the result may be inaccurate",
                sla.LinAlgWarning,
                stacklevel=5,
            )
        if cond <= INVERSE_COND_LIMIT:
            return self.wrap(_readonly(inv))
        if self.is_hermitian():
            # V diag(1/λ) Vᴴ: as accurate as Cholesky (measured forward error 9e-9
            # at κ = 4e8, against 6e-4 for the explicit inverse) and two GEMMs
            e = self.eigen(method)
            if not np.all(e.values):
                raise np.linalg.LinAlgError(f"{self.name} is singular")
            return self.eigen_solve(e)
        return self.wrap(FactorSolve(a, "lu", self.name))

    def slogdet(self) -> tuple[Any, float]:
        """``(sign, log|det A|)`` by Cholesky (Hermitian PD), LU or ``splu``."""
        self.require_square("slogdet")
        if self.is_identity:
            return (1.0, 0.0)
        self.check_finite("slogdet")
        return self._memoized("slogdet", self._slogdet)

    def _slogdet(self) -> tuple[Any, float]:
        if self.stored_sparse and self.shape[0] > SPARSE_SLOGDET_ABOVE:
            try:
                lu = splu(sp.csc_array(self.matrix), permc_spec="COLAMD")
            except RuntimeError:
                return (0.0, -np.inf)
            u = lu.U.diagonal()
            parity = _perm_parity(lu.perm_r) * _perm_parity(lu.perm_c)
            sgn = np.prod(u / np.abs(u)) * parity
            return (
                sgn if np.iscomplexobj(u) else float(np.real(sgn)),
                float(np.sum(np.log(np.abs(u)))),
            )
        L = self.cholesky()
        if L is not None:
            return (1.0, float(2 * np.sum(np.log(np.abs(np.diagonal(L))))))
        sign, logabs = np.linalg.slogdet(self.dense("slogdet"))
        return (sign if np.iscomplexobj(sign) else float(sign), float(logabs))

    # ---------------------------------------------------------------- spectra
    def eigh(self, method: str = "eigh") -> FactorEigen:
        """Eigendecomposition of a Hermitian factor (ascending for ``eigh``).

        Raises ``ValueError`` (naming the factor) when it is not Hermitian.
        """
        self.require_square(method)
        if not self.is_hermitian():
            self.dense(method)  # operator / non-finite factors fail first
            hint = "; use eig()" if method == "eigh" else ""
            raise ValueError(
                f"{call(method)} needs Hermitian factors, but {self.name} is not "
                f"Hermitian{hint}"
            )
        return self.eigen(method)

    def eigen(self, method: str = "eig") -> FactorEigen:
        """The factor's eigendecomposition, by the one policy.

        Analytic when the factor carries its spectrum (the eigenvectors may then
        be a fast transform); an identity is its own eigenbasis; ``eigh`` for
        Hermitian factors; ``eig`` otherwise, with κ₂(V) recorded.
        """
        self.require_square(method)
        if self.spectrum is not None:
            return self._memoized("eigen", self._analytic_eigen)
        if self.is_identity:
            ones = _readonly(np.ones(self.shape[0], dtype=_real(self.dtype)))
            return FactorEigen(ones, self, self, 1.0, True, True)
        self.dense(method)
        return self._memoized("eigen", self._numeric_eigen)

    def _analytic_eigen(self) -> FactorEigen:
        spec = self.spectrum
        V = spec.vectors_factor(self.dtype, self.index)
        return FactorEigen(spec.values, V, V.transpose(), 1.0, True, True)

    def _numeric_eigen(self) -> FactorEigen:
        a = self.dense("eig")
        if self.is_hermitian():
            w, V = np.linalg.eigh(a)
            Vf = self.wrap(_readonly(V))
            return FactorEigen(_readonly(w), Vf, Vf.adjoint(), 1.0, True)
        w, V = np.linalg.eig(a)
        s = np.linalg.svd(V, compute_uv=False)
        cond = float(s[0] / s[-1]) if s[-1] > 0 else np.inf
        Vinv = np.linalg.inv(V) if np.isfinite(cond) else np.full_like(V, np.nan)
        return FactorEigen(
            _readonly(w),
            self.wrap(_readonly(V)),
            self.wrap(_readonly(Vinv)),
            cond,
            False,
        )

    def positive_eigen(self, method: str, allow_zero: bool = False) -> FactorEigen:
        """``eigh`` of a factor that must be Hermitian positive (semi)definite.

        Eigenvalues down to −100 ulps of the largest count as zero (rounding leaves
        a semidefinite factor with values like −1e-15); ``ValueError`` otherwise.
        """
        e = self.eigh(method)
        w = e.values
        tol = 100 * np.finfo(w.dtype).eps * max(1.0, float(np.max(np.abs(w))))
        if (np.min(w) < -tol) if allow_zero else (np.min(w) <= 0):
            kind = "semidefinite" if allow_zero else "definite"
            raise ValueError(
                f"{call(method)} needs Hermitian positive {kind} factors; "
                f"{self.name} has eigenvalue {np.min(w):.3e}"
            )
        return e

    def eigenvalues(self, method: str = "eigvals") -> np.ndarray:
        """The factor's eigenvalues (order of :meth:`eigen`)."""
        return self.eigen(method).values

    def schur(self, real: bool) -> tuple[np.ndarray, np.ndarray]:
        """``(T, Z)`` with A = Z T Zᴴ: real quasi-triangular or complex triangular."""
        key = "schur_real" if real else "schur_complex"

        def build():
            a = self.dense("solve")
            if real:
                T, Z = sla.schur(a.astype(np.float64), output="real")
            else:
                T, Z = sla.schur(a.astype(np.complex128), output="complex")
            return _readonly(T), _readonly(Z)

        return self._memoized(key, build)

    def svd(self, method: str = "svd") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Thin ``(U, s, Vh)`` of the factor (read-only arrays)."""
        a = self.dense(method)

        def build():
            U, s, Vh = np.linalg.svd(a, full_matrices=False)
            return _readonly(U), _readonly(s), _readonly(Vh)

        return self._memoized("svd", build)

    def expm(self) -> np.ndarray:
        """exp(A) (spectral when the factor carries its eigenpairs)."""
        self.require_square("expm")
        if self.is_identity:
            return np.eye(self.shape[0]) * np.e
        if self.spectrum is not None:
            spec = self.spectrum
            V = spec.vectors_factor(np.float64, self.index).toarray()
            e = (V * np.exp(spec.values.astype(np.complex128))) @ V.T
            return e.real if spec.hermitian else e
        return sla.expm(self.dense("expm"))


def _real(dtype) -> np.dtype:
    return np.dtype(np.dtype(dtype).type(0).real.dtype)


def _runs(v: np.ndarray) -> list[tuple[int, int, Any]]:
    """Constant runs ``(start, stop, value)`` of a 1-D array."""
    if v.size == 0:
        return []
    cut = np.flatnonzero(v[1:] != v[:-1]) + 1
    starts = [0, *cut.tolist()]
    stops = [*cut.tolist(), v.size]
    return [(a, b, v[a].item()) for a, b in zip(starts, stops, strict=True)]


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


class FactorSolve(LinearOperator):
    """A⁻¹ of one square factor, applied through its LU or SuperLU factors.

    Used for factors too ill-conditioned for an explicit inverse, and for sparse
    factors. The factorization is made per working dtype on first use (a complex
    right-hand side with a real factor factorizes once more, in complex), so every
    dtype the engine passes in is solved at its own precision. Pickles without its
    factorizations.
    """

    def __init__(self, matrix, how: str, name: str = "factor") -> None:
        self._matrix = matrix
        self._how = how
        self._name = name
        self._lu: dict = {}
        super().__init__(dtype=np.dtype(matrix.dtype), shape=matrix.shape)
        self._factor(self.dtype)  # raise on a singular factor now, not later

    def _factor(self, dtype: np.dtype):
        lu = self._lu.get(dtype)
        if lu is None:
            a = self._matrix.astype(dtype)
            if self._how == "splu":
                try:
                    lu = splu(sp.csc_array(a))
                except RuntimeError as exc:
                    raise np.linalg.LinAlgError(f"{self._name} is singular") from exc
            else:
                getrf, getrs = sla.get_lapack_funcs(("getrf", "getrs"), (a,))
                lu_, piv, info = getrf(a)
                if info > 0:
                    raise np.linalg.LinAlgError(f"{self._name} is singular")
                lu = ("lu", getrs, lu_, piv)
            self._lu[dtype] = lu
        return lu

    def _solve(self, X, adjoint: bool):
        X = np.asarray(X)
        dtype = np.result_type(self.dtype, X.dtype)
        lu = self._factor(dtype)
        Xc = np.ascontiguousarray(X, dtype=dtype)
        if self._how == "splu":
            return lu.solve(Xc, trans="H" if adjoint else "N")
        out, _ = lu[1](lu[2], lu[3], Xc, trans=2 if adjoint else 0)
        return out

    def _matmat(self, X):
        return self._solve(X, False)

    def _matvec(self, x):
        return self._solve(x, False)

    def _rmatmat(self, X):
        return self._solve(X, True)

    def _rmatvec(self, x):
        return self._solve(x, True)

    def _adjoint(self):
        return _AdjointSolve(self)

    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())
        state["_lu"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        restore_state(self, state)


class _AdjointSolve(LinearOperator):
    """A⁻ᴴ through the same factorization."""

    def __init__(self, solve: FactorSolve) -> None:
        self._of = solve
        super().__init__(dtype=solve.dtype, shape=solve.shape[::-1])

    def _matmat(self, X):
        return self._of._solve(X, True)

    def _matvec(self, x):
        return self._of._solve(x, True)

    def _rmatmat(self, X):
        return self._of._solve(X, False)

    def _rmatvec(self, x):
        return self._of._solve(x, False)

    def _adjoint(self):
        return self._of
