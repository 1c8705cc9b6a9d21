r"""The lazy Kronecker sum ``KronSum`` = A₁ ⊕ … ⊕ A_d and its linear algebra.

A Kronecker sum acts on the tensor X = x.reshape(n₁, …, n_d) as
``Σⱼ X ×ⱼ Aⱼ``: one single-axis product per factor, summed into one output. Its
eigenvectors are those of a Kronecker product, ⊗Vⱼ, and its eigenvalues all sums
λ₁+…+λ_d of factor eigenvalues, so it solves, log-determines and exponentiates from
the factors (the *fast diagonalization method*, Lynch, Rice and Thomas 1964), and
through the factors' Schur forms when their eigenvectors are ill-conditioned.
"""

from __future__ import annotations

import math
import warnings
from functools import reduce
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from numpy.typing import ArrayLike
from scipy.linalg import LinAlgWarning
from scipy.sparse.linalg import LinearOperator, aslinearoperator

from . import _engine
from . import _factor as fct
from ._algebra import (
    ScalarAlgebra,
    StackedMatvec,
    check_block,
    check_rhs,
    is_scalar,
    restore_state,
)
from ._factor import DENSE, IDENTITY, LINOP, SPARSE, Factor, as_factor, describe_shape
from .decomposition import KronEigen, KronEigenvalues
from .kron import KronOperator

__all__ = ["KronSum", "kronsum"]

#: a sparse factor with at most this many nonzero diagonals is applied as a slicing
#: stencil along its axis (no transposes, no index arrays); denser ones through CSR
STENCIL_MAX_DIAGONALS = 9
#: a diagonal made of at most this many constant runs is applied run by run with
#: scalar coefficients; otherwise with its vector of values
_STENCIL_MAX_RUNS = 4
#: non-normal factors are diagonalized while ∏ κ₂(Vⱼ) stays below this; beyond it
#: solves go through the factors' complex Schur forms (Bartels–Stewart)
EIG_COND_LIMIT = 1e3


def _conj(s):
    """Complex conjugate of a scalar, keeping Python scalars Python (NEP 50)."""
    if isinstance(s, bool | int | float):
        return s
    if isinstance(s, complex):
        return s.conjugate()
    return np.conj(s)


def _name(f: Factor) -> str:
    return f"factor {f.index} ({describe_shape(f.shape)})"


def _real_dtype(dtype) -> np.dtype:
    return np.dtype(np.dtype(dtype).type(0).real.dtype)


def _float_dtype(*args) -> np.dtype:
    dtype = np.result_type(*args)
    if dtype.kind not in "fc":
        dtype = np.result_type(dtype, np.float64)
    return dtype


def _eps(dtype) -> float:
    return float(np.finfo(_real_dtype(dtype)).eps)


# ---------------------------------------------------------------------------
# Banded sparse factors as stencils
# ---------------------------------------------------------------------------
def _runs(v: np.ndarray) -> list[tuple[int, int, Any]]:
    """Constant runs ``(start, stop, value)`` of a 1-D array."""
    if v.size == 0:
        return []
    cut = np.flatnonzero(v[1:] != v[:-1]) + 1
    starts = [0, *cut.tolist()]
    stops = [*cut.tolist(), v.size]
    return [(a, b, v[a].item()) for a, b in zip(starts, stops, strict=True)]


def _banded(f: Factor):
    """``(c0, terms)`` if the sparse factor is banded, else None (cached).

    ``c0`` is the constant part of the main diagonal; ``terms`` are tuples
    ``(offset, lo, hi, coef)`` for ``y[i] += coef·x[i+offset]``, lo ≤ i < hi.
    """
    got = f._cache.get("banded", False)
    if got is not False:
        return got
    got = None
    a = f.matrix
    n = f.shape[0]
    coo = a.tocoo()
    keep = coo.data != 0
    offsets = np.unique(coo.col[keep].astype(np.int64) - coo.row[keep])
    if len(offsets) <= STENCIL_MAX_DIAGONALS:
        c0: Any = 0
        terms = []
        for k in offsets.tolist():
            v = np.asarray(a.diagonal(k))
            lo, hi = max(0, -k), n - max(0, k)
            runs = _runs(v)
            if len(runs) <= _STENCIL_MAX_RUNS:
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
                terms.append((k, lo, hi, v.copy()))
        got = (c0, terms)
    f._cache["banded"] = got
    return got


# ---------------------------------------------------------------------------
# Triangular Kronecker sums (the Schur path)
# ---------------------------------------------------------------------------
def _trsyl(dtype):
    return sla.get_lapack_funcs("trsyl", dtype=dtype)


def _schur_eigvals(T: np.ndarray) -> np.ndarray:
    """Eigenvalues of a (quasi-)triangular Schur form, from its diagonal blocks."""
    w = np.diagonal(T).astype(np.result_type(T.dtype, np.complex64))
    if np.isrealobj(T) and T.shape[0] > 1:
        for i in np.flatnonzero(np.diagonal(T, -1)).tolist():
            a, b, c, d = T[i, i], T[i, i + 1], T[i + 1, i], T[i + 1, i + 1]
            mean, disc = (a + d) / 2, np.sqrt(complex(((a - d) / 2) ** 2 + b * c))
            w[i], w[i + 1] = mean + disc, mean - disc
    return w if np.iscomplexobj(T) or np.any(w.imag) else w.real


def _tri_solve(Ts: list[np.ndarray], Y: np.ndarray, shift) -> np.ndarray:
    """Solve (T₁⊕…⊕T_d + shift·I) Z = Y for upper-triangular complex Tⱼ.

    With d ≤ 2 the Tⱼ may also be real quasi-triangular (real Schur forms).

    ``Y`` has shape (n₁, …, n_d, K). One axis at a time, back substitution:
    row i of axis 0 needs (T₂⊕…⊕T_d + (shift + T₁[i,i]) I) Z[i] = Y[i] −
    Σ_{k>i} T₁[i,k] Z[k], a (d−1)-dimensional system of the same kind; at d = 2 it
    is a triangular Sylvester equation, solved by LAPACK ``trsyl``.
    """
    d = len(Ts)
    if d == 1:
        T = Ts[0] + shift * np.eye(Ts[0].shape[0], dtype=Ts[0].dtype)
        if np.isrealobj(T):  # quasi-triangular: 2×2 blocks, use a general solve
            return sla.solve(T, Y, check_finite=False)
        return sla.solve_triangular(T, Y, check_finite=False)
    if d == 2:
        T1, T2 = Ts
        A = T1 + shift * np.eye(T1.shape[0], dtype=T1.dtype)
        if np.iscomplexobj(T1):
            B, tranb = np.ascontiguousarray(T2.conj()), "C"  # (conj T₂)ᴴ = T₂ᵀ
        else:
            B, tranb = T2, "T"
        trsyl = _trsyl(A.dtype)
        Z = np.empty(Y.shape, dtype=A.dtype)
        for k in range(Y.shape[-1]):
            # T₁ Z + Z T₂ᵀ = Y
            z, scale, _info = trsyl(A, B, Y[:, :, k], trana="N", tranb=tranb, isgn=1)
            Z[:, :, k] = z / scale if scale != 1 else z
        return Z
    T1 = Ts[0]
    n1 = T1.shape[0]
    Z = np.empty_like(Y)
    for i in range(n1 - 1, -1, -1):
        R = Y[i]
        if i + 1 < n1:
            R = R - np.tensordot(T1[i, i + 1 :], Z[i + 1 :], axes=1)
        Z[i] = _tri_solve(Ts[1:], R, shift + T1[i, i])
    return Z


# ---------------------------------------------------------------------------
# Inverses as operators
# ---------------------------------------------------------------------------
class _SolveOperator(LinearOperator):
    """S⁻¹ (or S⁺) as a lazy operator whose products are ``S.solve``."""

    def __init__(self, op: KronSum, pseudo: bool = False) -> None:
        self.op = op
        self.pseudo = pseudo
        super().__init__(dtype=op.dtype, shape=op.shape)

    def __repr__(self) -> str:
        what = "pinv" if self.pseudo else "inv"
        return f"<{what} of {self.op!r}>"

    def _solve(self, X):
        if self.pseudo:
            return self.op._pinv_solve(X)
        return self.op.solve(X)

    def _matmat(self, X):
        X = check_block(self, X)
        N = self.shape[1]
        if X.ndim == 2:
            return self._solve(X)
        lead = X.shape[:-2]
        K = X.shape[-1]
        flat = np.moveaxis(X.reshape(-1, N, K), 0, 1).reshape(N, -1)
        Y = self._solve(flat).reshape(N, -1, K)
        return np.moveaxis(Y, 1, 0).reshape(*lead, N, K)

    def _matvec(self, x):
        x = np.asarray(x)
        N = self.shape[1]
        if x.ndim == 2 and x.shape == (N, 1):
            return self._matmat(x)
        if x.shape[-1] != N:
            raise ValueError(
                f"dimension mismatch: operator has shape {self.shape}, got a vector "
                f"of shape {x.shape}"
            )
        if x.ndim == 1:
            return self._solve(x)
        lead = x.shape[:-1]
        return self._solve(x.reshape(-1, N).T).T.reshape(*lead, N)

    def _adjoint(self):
        return self.op.H.pinv() if self.pseudo else self.op.H.inv()

    def _transpose(self):
        return self.op.T.pinv() if self.pseudo else self.op.T.inv()

    def toarray(self) -> np.ndarray:
        """The dense inverse (for checking)."""
        return self.matmat(np.eye(self.shape[1], dtype=self.dtype))


class KronSum(ScalarAlgebra, StackedMatvec, LinearOperator):
    r"""Lazy Kronecker sum A₁ ⊕ A₂ ⊕ … ⊕ A_d = Σⱼ I ⊗ … ⊗ Aⱼ ⊗ … ⊗ I.

    A ``scipy.sparse.linalg.LinearOperator`` that never forms the sum: a product is
    one single-axis product per factor, accumulated into one output buffer, and
    solves, determinants, eigenvalues and the exponential come from the factors.

    Parameters
    ----------
    *factors : array_like, sparse matrix/array or LinearOperator
        Square factors A₁, …, A_d, outermost (slowest-varying) first. A ``KronSum``
        without mass matrices passed as a factor is spliced in (⊕ is associative).
    mass : sequence, optional
        Mass matrices (M₁, …, M_d), one per factor (``None`` for an identity), for
        the generalized sum Σⱼ M₁ ⊗ … ⊗ Mⱼ₋₁ ⊗ Aⱼ ⊗ Mⱼ₊₁ ⊗ … ⊗ M_d: the
        tensor-product finite-element or spectral stiffness matrix.

    Attributes
    ----------
    factors : tuple
        The user-level factors.
    mass : tuple or None
        The user-level mass matrices (``None`` entries for identities).
    sigma : scalar
        σ in ``S + σI`` (``S + σ·M₁⊗…⊗M_d`` with mass matrices).
    grid_shape : tuple of int
        (n₁, …, n_d).

    Raises
    ------
    ValueError
        If no factor is given, a factor is not square, or a mass matrix does not
        match its factor's shape.
    TypeError
        If a factor has a non-numeric dtype.

    See Also
    --------
    kronsum : the same, as a function.
    KronOperator : the Kronecker product.
    laplacian : −Δₕ on a tensor grid as a ``KronSum``.

    Notes
    -----
    **Order.** ``KronSum(A, B)`` equals numpy's ``kron(A, I) + kron(I, B)``, the textbook
    A ⊕ B, in the row-major convention of ``numpy.kron``: with
    ``X = x.reshape(n₁, …, n_d)``,

    .. math:: (A_1 \oplus \cdots \oplus A_d)\,x
              = \operatorname{vec}_r\Big(\sum_j X \times_j A_j\Big).

    ``scipy.sparse.kronsum(A, B)`` is the *reverse*, ``kron(I, A) + kron(B, I)``
    = B ⊕ A.

    **Products.** Each factor is applied along its own axis into one output: a
    banded sparse factor (at most ``STENCIL_MAX_DIAGONALS`` diagonals, e.g. any
    finite-difference stencil) as a slicing stencil — O(N) per diagonal, no index
    arrays, swept in cache-sized slabs — a dense factor as GEMMs, other sparse
    factors and operators through one transposed copy. A d-dimensional Laplacian
    costs O(d·N), never N×N storage.

    **Spectral algebra.** With Aⱼ = VⱼΛⱼVⱼ⁻¹, V = ⊗Vⱼ diagonalizes the sum:
    S = V (Λ₁ ⊕ … ⊕ Λ_d) V⁻¹, whose eigenvalues are all sums λ₁ᵢ+…+λ_dₖ. So
    ``solve`` costs O(Σnⱼ³) once and two Kronecker products plus one division per
    right-hand side. Non-normal factors use Schur forms Aⱼ = QⱼTⱼQⱼᴴ instead and
    a triangular back substitution (Bartels–Stewart; for d ≥ 3 a recursion over
    the leading axes down to 2-D triangular Sylvester equations): always for
    d ≤ 2, where it costs no more than diagonalizing, and for d ≥ 3 when the
    eigenvectors are ill-conditioned (∏κ(Vⱼ) > ``EIG_COND_LIMIT``). With mass
    matrices the generalized eigenproblems Kⱼvⱼ = λMⱼvⱼ play the role of the
    factor eigenproblems.

    Examples
    --------
    >>> import numpy as np
    >>> from kronop.kronsum import KronSum
    >>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
    >>> B = np.array([[4.0, 0.0, 1.0], [0.0, 5.0, 0.0], [1.0, 0.0, 6.0]])
    >>> S = KronSum(A, B)
    >>> dense = np.kron(A, np.eye(3)) + np.kron(np.eye(2), B)  # dense-ok: the oracle
    >>> x = np.arange(6.0)
    >>> bool(np.allclose(S @ x, dense @ x))
    True
    >>> bool(np.allclose(S @ S.solve(x), x))
    True
    """

    def __init__(self, *factors: Any, mass=None) -> None:
        if not factors:
            raise ValueError("KronSum needs at least one factor, got none")
        flat: list[Any] = []
        spectra: list[Any] = []
        shift: Any = 0.0
        if mass is None:
            for i, obj in enumerate(factors):
                if isinstance(obj, KronSum) and obj._mass is None:
                    flat.extend(obj._factors)
                    spectra.extend(obj._spectra)
                    shift = shift + obj._shift
                else:
                    flat.append(as_factor(obj, i))
                    spectra.append(None)
            self._init_from(flat, None, shift, spectra)
            return
        mass = list(mass)
        if len(mass) != len(factors):
            raise ValueError(
                f"mass needs one matrix (or None) per factor ({len(factors)}), "
                f"got {len(mass)}"
            )
        flat = [as_factor(obj, i) for i, obj in enumerate(factors)]
        masses = [None if m is None else as_factor(m, i) for i, m in enumerate(mass)]
        self._init_from(flat, masses, shift, [None] * len(flat))

    @classmethod
    def _from_parts(cls, factors, mass, shift, spectra) -> KronSum:
        self = cls.__new__(cls)
        fs = [as_factor(f, j) for j, f in enumerate(factors)]
        ms = None
        if mass is not None:
            ms = [None if m is None else as_factor(m, j) for j, m in enumerate(mass)]
        self._init_from(fs, ms, shift, list(spectra))
        return self

    def _init_from(self, factors: list[Factor], mass, shift, spectra) -> None:
        for j, f in enumerate(factors):
            f.index = j
            if f.shape[0] != f.shape[1]:
                raise ValueError(
                    f"KronSum needs square factors, but factor {j} "
                    f"({describe_shape(f.shape)}) is not square"
                )
        if mass is not None:
            for j, (m, f) in enumerate(zip(mass, factors, strict=True)):
                if m is not None and m.shape != f.shape:
                    raise ValueError(
                        f"mass matrix {j} has shape {describe_shape(m.shape)}, but "
                        f"factor {j} is {describe_shape(f.shape)}; they must match"
                    )
            if all(m is None for m in mass):
                mass = None
        if not is_scalar(shift):
            raise TypeError(f"shift must be a scalar, got {type(shift).__name__}")
        self._factors = tuple(factors)
        self._mass = tuple(mass) if mass is not None else None
        self._shift = shift
        self._spectra = tuple(spectra)
        self._ns = tuple(f.shape[0] for f in factors)
        dts = [f.dtype for f in factors]
        if self._mass is not None:
            dts += [m.dtype for m in self._mass if m is not None]
        dtype = np.result_type(*dts)
        if shift != 0:
            dtype = np.result_type(dtype, shift)
        dtype = _float_dtype(dtype)
        N = math.prod(self._ns)
        super().__init__(dtype=dtype, shape=(int(N), int(N)))
        self._workspace = _engine.Workspace()
        self._cache: dict = {}

    # ----------------------------------------------------------------- basics
    @property
    def factors(self) -> tuple:
        """The factors as the user gave them (integer arrays cast to float64)."""
        return tuple(f.user for f in self._factors)

    @property
    def mass(self) -> tuple | None:
        """The mass matrices as given (``None`` entries for identities), or None."""
        if self._mass is None:
            return None
        return tuple(None if m is None else m.user for m in self._mass)

    @property
    def sigma(self):
        """σ: the operator is the sum plus σI (plus σ·M₁⊗…⊗M_d with mass)."""
        return self._shift

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """(n₁, …, n_d): the tensor shape a vector is reshaped to."""
        return self._ns

    @property
    def ndim_factors(self) -> int:
        """Number of factors d."""
        return len(self._factors)

    def __repr__(self) -> str:
        inner = " ⊕ ".join(f.describe() for f in self._factors)
        extra = ""
        if self._mass is not None:
            ms = ", ".join("I" if m is None else m.describe() for m in self._mass)
            extra += f", mass=({ms})"
        if self._shift != 0:
            extra += f", shift={self._shift}"
        return f"KronSum({inner}{extra}, dtype={self.dtype})"

    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())
        state["_workspace"] = None
        state["_cache"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        restore_state(self, state)
        self._workspace = _engine.Workspace()

    def clear_workspace(self) -> None:
        """Free the work buffers kept between products (they regrow on use)."""
        self._workspace.clear()

    def _eye_factor(self, j: int) -> Factor:
        n = self._ns[j]
        return as_factor(sp.eye_array(n, dtype=self._factors[j].dtype, format="csr"), j)

    def _mass_factor(self, j: int) -> Factor:
        m = self._mass[j] if self._mass is not None else None
        return self._eye_factor(j) if m is None else m

    def toarray(self) -> np.ndarray:
        """The dense matrix: the only path that forms it (for checking).

        Returns
        -------
        numpy.ndarray
            ``Σⱼ kron(M₁, …, Aⱼ, …, M_d) + σ·kron(M₁, …, M_d)`` (identities for
            absent mass matrices), shape ``self.shape``, dtype ``self.dtype``.
        """
        d = len(self._factors)
        dense_m = [self._mass_factor(j).toarray().astype(self.dtype) for j in range(d)]
        out = np.zeros(self.shape, dtype=self.dtype)
        for j, f in enumerate(self._factors):
            mats = list(dense_m)
            mats[j] = f.toarray().astype(self.dtype)
            out += reduce(np.kron, mats)  # dense-ok: toarray is the explicit request
        if self._shift != 0:
            out += self._shift * reduce(np.kron, dense_m)  # dense-ok: as above
        return out

    # ----------------------------------------------------------- the products
    def _stencil_plan(self, dtype: np.dtype):
        """(StencilPlan or None, axes applied by mode products), cached per dtype."""
        key = ("plan", dtype)
        got = self._cache.get(key)
        if got is not None:
            return got
        c0: Any = self._shift
        terms = []
        other = []
        for j, f in enumerate(self._factors):
            if f.kind == IDENTITY:
                c0 = c0 + 1
                continue
            band = _banded(f) if f.kind == SPARSE else None
            if band is None:
                other.append(j)
                continue
            part, tlist = band
            c0 = c0 + part
            for k, lo, hi, coef in tlist:
                if np.ndim(coef):
                    coef = np.asarray(coef, dtype=dtype)
                terms.append(_engine.StencilTerm(j, k, lo, hi, coef))
        plan = None
        if terms or c0 != 0:
            plan = _engine.plan_stencil(c0, terms)
        got = (plan, tuple(other))
        self._cache[key] = got
        return got

    def _mass_terms(self) -> list[tuple[Any, KronOperator]]:
        got = self._cache.get("mass_terms")
        if got is None:
            d = len(self._factors)
            ms = [self._mass_factor(j) for j in range(d)]
            got = []
            for j, f in enumerate(self._factors):
                fs = list(ms)
                fs[j] = f
                got.append((1, KronOperator._from_factors(fs)))
            if self._shift != 0:
                got.append((self._shift, KronOperator._from_factors(list(ms))))
            self._cache["mass_terms"] = got
        return got

    def _apply3(self, x: np.ndarray) -> np.ndarray:
        """Apply to ``x`` of shape (B, N, K); returns a new (B, N, K) array."""
        B, N, K = x.shape
        dtype = _float_dtype(self.dtype, x.dtype)
        if B == 1 and K > 1 and x.dtype == dtype and x[0].flags.f_contiguous:
            # a Fortran-ordered block: its transpose is a C-ordered batch of vectors
            y = self._apply3(x[0].T[:, :, None])
            return y[:, :, 0].T[None]
        x = np.ascontiguousarray(x, dtype=dtype)
        if self._mass is not None:
            y = None
            for coef, term in self._mass_terms():
                t = term._apply3(x)
                if coef != 1:
                    t = t * coef
                y = t if y is None else np.add(y, t, out=y)
            return y
        shape = (B, *self._ns, K)
        X = x.reshape(shape)
        Y = np.empty(shape, dtype=dtype)
        plan, other = self._stencil_plan(dtype)
        size = B * N * K
        need = size if (other or (plan is not None and plan.needs_scratch)) else 0
        bufs = self._workspace.acquire(dtype, need) if need else []
        owned = bufs is not None and need > 0
        if bufs is None:
            bufs = [np.empty(need, dtype), np.empty(need, dtype)]
        try:
            accumulate = False
            if plan is not None:
                _engine.run_stencil(plan, X, Y, bufs[0] if need else None)
                accumulate = True
            for j in other:
                f = self._factors[j]
                n = self._ns[j]
                L = B * math.prod(self._ns[:j])
                R = math.prod(self._ns[j + 1 :]) * K
                _engine.add_mode_product(
                    f,
                    f.as_dtype(dtype),
                    X.reshape(L, n, R),
                    Y.reshape(L, n, R),
                    bufs,
                    accumulate,
                )
                accumulate = True
            if not accumulate:
                Y.fill(0)
        finally:
            if owned:
                self._workspace.release()
        return Y.reshape(B, N, K)

    def _matmat(self, X):
        X = check_block(self, X)
        N = self.shape[1]
        lead = X.shape[:-2]
        K = X.shape[-1]
        y = self._apply3(X.reshape(math.prod(lead), N, K))
        return y.reshape(*lead, N, K)

    def _rmatvec(self, x):
        return self.H._matvec(x)

    def _rmatmat(self, X):
        return self.H._matmat(X)

    # ---------------------------------------------------------------- algebra
    def _derive(self, factor_fn, mass_fn, shift, spectrum_fn) -> KronSum:
        fs = [factor_fn(f) for f in self._factors]
        ms = None
        if self._mass is not None:
            ms = [None if m is None else mass_fn(m) for m in self._mass]
        sps = [None if s is None else spectrum_fn(s) for s in self._spectra]
        out = KronSum._from_parts(fs, ms, shift, sps)
        # a scaled LinearOperator factor may declare a wider dtype (scipy ≤ 1.17);
        # transposes and adjoints keep the operator's own
        out.dtype = self.dtype
        return out

    def _adjoint(self) -> KronSum:
        got = self._cache.get("adjoint")
        if got is None:
            got = self._derive(
                Factor.adjoint, Factor.adjoint, _conj(self._shift), lambda s: s.conj()
            )
            got._cache["adjoint"] = self
            self._cache["adjoint"] = got
        return got

    def _transpose(self) -> KronSum:
        got = self._cache.get("transpose")
        if got is None:
            got = self._derive(
                Factor.transpose, Factor.transpose, self._shift, lambda s: s
            )
            got._cache["transpose"] = self
            self._cache["transpose"] = got
        return got

    def conj(self) -> KronSum:
        """The elementwise complex conjugate (conjugate factors and shift).

        Returns
        -------
        KronSum
        """
        if self.dtype.kind != "c":
            return self
        return self._derive(
            Factor.conj, Factor.conj, _conj(self._shift), lambda s: s.conj()
        )

    def _scaled(self, alpha) -> KronSum:
        """α·S: every factor scaled (only the Aⱼ with mass matrices), and the shift."""
        fs = [self._scale_factor(f, alpha) for f in self._factors]
        sps = [None if s is None else s.scaled(alpha) for s in self._spectra]
        shift = self._shift * alpha if self._shift != 0 else self._shift
        out = KronSum._from_parts(fs, self._mass, shift, sps)
        # keep NumPy's weak-scalar dtype rule even when a factor is an identity
        want = np.result_type(self.dtype, alpha)
        if out.dtype != want and want.kind in "fc":
            out.dtype = want
        return out

    @staticmethod
    def _scale_factor(f: Factor, alpha) -> Factor:
        if f.kind == IDENTITY:
            return as_factor(alpha * f.matrix, f.index)
        return f.scaled(alpha)

    def __add__(self, x):
        from .shifted import scaled_identity

        if isinstance(x, LinearOperator) and x.shape != self.shape:
            raise ValueError(
                f"cannot add operators of shapes {self.shape} and {x.shape}"
            )
        if isinstance(x, LinearOperator):
            sigma = scaled_identity(x)
            if sigma is not None and self._mass is None:
                return self.shift(sigma)
            if (
                isinstance(x, KronSum)
                and self._mass is None
                and x._mass is None
                and x._ns == self._ns
            ):
                fs = [
                    _factor_sum(a, b, j)
                    for j, (a, b) in enumerate(
                        zip(self._factors, x._factors, strict=True)
                    )
                ]
                return KronSum._from_parts(
                    fs, None, self._shift + x._shift, [None] * len(fs)
                )
        return super().__add__(x)

    def shift(self, sigma) -> KronSum:
        """S + σI as a ``KronSum`` (σ·M₁⊗…⊗M_d with mass matrices).

        The shift is kept in the structure: products add σx, and ``solve``,
        ``eigvals`` and determinants shift the factored spectrum.

        Parameters
        ----------
        sigma : scalar

        Returns
        -------
        KronSum

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.gallery import laplacian
        >>> H = laplacian((30, 30)).shift(-0.5)  # a Helmholtz-like operator
        >>> b = np.ones(900)
        >>> bool(np.allclose(H @ H.solve(b), b))
        True
        """
        if not is_scalar(sigma):
            raise TypeError(f"sigma must be a scalar, got {type(sigma).__name__}")
        out = KronSum._from_parts(
            self._factors, self._mass, self._shift + sigma, self._spectra
        )
        want = np.result_type(self.dtype, sigma)
        if out.dtype != want and want.kind in "fc":
            out.dtype = want
        return out

    # ---------------------------------------------------------- spectral core
    def _require_no_mass(self, method: str) -> None:
        if self._mass is not None:
            raise ValueError(
                f"{method}() is not available for a Kronecker sum with mass matrices: "
                "its eigenvalues do not follow from the factors. generalized_eigh() "
                "gives the generalized eigenpairs of (S, M₁⊗…⊗M_d); solve, logdet, "
                "trace, diagonal and norm('fro') work as usual"
            )

    def _factor_hermitian(self, j: int) -> bool:
        spec = self._spectra[j]
        if spec is not None:
            return spec.hermitian
        return fct.is_hermitian(self._factors[j])

    def _factor_normal(self, j: int) -> bool:
        if self._factor_hermitian(j) or self._spectra[j] is not None:
            return True
        f = self._factors[j]
        got = f._cache.get("normal")
        if got is None:
            a = fct.dense_matrix(f, "norm")
            c = a @ a.conj().T - a.conj().T @ a
            scale = np.linalg.norm(a) ** 2
            got = bool(np.linalg.norm(c) <= 100 * a.shape[0] * _eps(a.dtype) * scale)
            f._cache["normal"] = got
        return got

    def _hermitian(self) -> bool:
        """Whether S is Hermitian (every factor, every mass matrix, real shift)."""
        if np.imag(self._shift) != 0:
            return False
        ok = all(self._factor_hermitian(j) for j in range(len(self._factors)))
        if self._mass is not None:
            ok = ok and all(m is None or fct.is_hermitian(m) for m in self._mass)
        return ok

    def _factor_eig(self, j: int, method: str):
        """``(w, V, V⁻¹, κ(V))`` of factor j (analytic when known)."""
        spec = self._spectra[j]
        f = self._factors[j]
        if spec is not None:
            V = spec.vectors(f.dtype)
            return spec.values, V, V.T, 1.0
        fct.require_matrix(f, method)
        return fct.eig(f)

    def _vectors(self, parts, j_index=1) -> KronOperator:
        return KronOperator._from_factors(
            [as_factor(np.asarray(p[j_index]), j) for j, p in enumerate(parts)]
        )

    def eigh(self) -> KronEigen:
        """Eigendecomposition of a Kronecker sum of Hermitian factors.

        Returns
        -------
        KronEigen
            Unpacks as ``w, V``: ``np.asarray(w)`` holds the N eigenvalues, all sums
            λ₁+…+λ_d (+σ), in ``np.kron`` order (built on demand; ``w.factors`` are
            the factor spectra), ``V = ⊗Vⱼ`` a unitary ``KronOperator``. It also
            offers ``solve(b, shift)``, ``logdet(shift)``, ``apply(f)`` (f(S) as an
            operator), ``shift(σ)`` and ``eigvals(k, which)``.

        Raises
        ------
        ValueError
            If a factor is not Hermitian or not finite, the shift is not real, or
            the sum has mass matrices.
        TypeError
            If a factor is a ``LinearOperator`` with no matrix behind it.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.kronsum import KronSum
        >>> S = KronSum(np.diag([1.0, 2.0]), np.diag([10.0, 20.0]))
        >>> w, V = S.eigh()
        >>> print(np.asarray(w))
        [11. 21. 12. 22.]
        >>> print(S.eigh().eigvals(2, "SA"))
        [11. 12.]
        """
        self._require_no_mass("eigh")
        self._check_factors("eigh")
        for j, f in enumerate(self._factors):
            if not self._factor_hermitian(j):
                fct.dense_matrix(f, "eigh")
                raise ValueError(
                    f"eigh() needs Hermitian factors, but {_name(f)} is not "
                    "Hermitian; use eig()"
                )
        if np.imag(self._shift) != 0:
            raise ValueError("eigh() needs a real shift; use eig()")
        parts = [self._factor_eig(j, "eigh") for j in range(len(self._factors))]
        V = self._vectors(parts)
        values = KronEigenvalues([p[0] for p in parts], "sum", self._shift)
        return KronEigen(values, V, V.H, hermitian=True)

    def eig(self) -> KronEigen:
        """Eigendecomposition of a Kronecker sum of square factors.

        Hermitian factors use ``eigh``, others ``eig``; ``vector_cond`` records
        ∏κ₂(Vⱼ). When it exceeds 1e8 this warns (``LinAlgWarning``): ``solve`` and
        ``slogdet`` of the operator itself stay accurate (Schur forms).

        Returns
        -------
        KronEigen
            As :meth:`eigh`; ``V`` need not be unitary (``inverse`` holds ⊗Vⱼ⁻¹).
        """
        self._require_no_mass("eig")
        self._check_factors("eig")
        dec = self._eig_dec()
        if dec.vector_cond > KronEigen.COND_WARN:
            warnings.warn(
                f"eig(): the eigenvectors are ill-conditioned (κ(V) = "
                f"{dec.vector_cond:.2e}); S.solve and S.slogdet stay accurate",
                LinAlgWarning,
                stacklevel=2,
            )
        return dec

    def _eig_dec(self) -> KronEigen:
        got = self._cache.get("eig")
        if got is None:
            parts = [self._factor_eig(j, "eig") for j in range(len(self._factors))]
            V = self._vectors(parts)
            herm = self._hermitian()
            Vinv = V.H if herm else self._vectors(parts, 2)
            cond = math.prod(p[3] for p in parts)
            values = KronEigenvalues([p[0] for p in parts], "sum", self._shift)
            got = KronEigen(values, V, Vinv, hermitian=herm, vector_cond=cond)
            self._cache["eig"] = got
        return got

    def generalized_eigh(self) -> KronEigen:
        r"""Generalized eigenpairs of (S, M₁⊗…⊗M_d) for a sum with mass matrices.

        Returns
        -------
        KronEigen
            ``w, V``: S V = (⊗Mⱼ) V diag(w), with ``w`` all sums of the factors'
            generalized eigenvalues (Kⱼvⱼ = λMⱼvⱼ) plus σ, and V = ⊗Vⱼ. The object
            is the eigendecomposition of M⁻¹S (``inverse`` = V⁻¹ = ⊗Vⱼ⁻¹), so its
            ``solve(b)`` solves M⁻¹S x = b; ``S.solve`` solves S x = b.

        Notes
        -----
        For Hermitian Kⱼ and Hermitian positive definite Mⱼ the factor problems use
        ``scipy.linalg.eigh(K, M)`` (Vⱼᴴ Mⱼ Vⱼ = I, so V⁻¹ = Vᴴ(⊗Mⱼ)); otherwise
        ``scipy.linalg.eig(K, M)``.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.kronsum import KronSum
        >>> K = np.array([[2.0, -1.0], [-1.0, 2.0]])
        >>> M = np.array([[4.0, 1.0], [1.0, 4.0]]) / 6
        >>> S = KronSum(K, K, mass=(M, M))
        >>> w, V = S.generalized_eigh()
        >>> Sd, Vd = S.toarray(), V.toarray()
        >>> bool(np.allclose(Sd @ Vd, np.kron(M, M) @ Vd * np.asarray(w)))  # dense-ok: the oracle
        True
        """
        if self._mass is None:
            return self.eigh() if self._hermitian() else self.eig()
        parts = self._generalized_parts()
        V = KronOperator._from_factors(
            [as_factor(p[1], j) for j, p in enumerate(parts)]
        )
        Vinv = KronOperator._from_factors(
            [as_factor(p[3], j) for j, p in enumerate(parts)]
        )
        values = KronEigenvalues([p[0] for p in parts], "sum", self._shift)
        return KronEigen(values, V, Vinv, hermitian=False)

    def _generalized_parts(self):
        """Per axis ``(w, V, W, V⁻¹, logdet M parts)`` with S⁻¹ = V (Λ+σ)⁻¹ W."""
        got = self._cache.get("gen_parts")
        if got is not None:
            return got
        got = []
        for j, f in enumerate(self._factors):
            m = self._mass[j]
            K = fct.dense_matrix(f, "solve")
            if m is None:
                w, V, Vinv, _ = self._factor_eig(j, "solve")
                got.append((w, V, Vinv, Vinv, (1.0, 0.0)))
                continue
            M = fct.dense_matrix(m, "solve")
            sign, logabs = fct.slogdet(m)
            if sign == 0:
                raise np.linalg.LinAlgError(
                    f"mass matrix {j} ({m.shape[0]}×{m.shape[0]}) is singular"
                )
            if (
                fct.is_hermitian(f)
                and fct.is_hermitian(m)
                and fct.cholesky(m) is not None
            ):
                w, V = sla.eigh(K, M)
                W = V.conj().T
                Vinv = W @ M
            else:
                w, V = sla.eig(K, M)
                W = np.linalg.inv(M @ V)
                Vinv = np.linalg.inv(V)
            got.append((w, V, W, Vinv, (sign, logabs)))
        self._cache["gen_parts"] = got
        return got

    def decomposition(self) -> KronEigen:
        """The factored form that ``solve``, ``inv`` and the determinants use (cached).

        Without mass matrices: the eigendecomposition (``eigh`` for Hermitian
        factors), shifted by σ. With mass matrices: the congruence
        S = W⁻¹ (Λ + σ) V⁻¹ of the generalized factor problems, packed as a
        ``KronEigen`` whose ``solve`` solves with S.

        Returns
        -------
        KronEigen
        """
        got = self._cache.get("dec")
        if got is None:
            if self._mass is None:
                got = self._eig_dec()
            else:
                parts = self._generalized_parts()
                V = KronOperator._from_factors(
                    [as_factor(p[1], j) for j, p in enumerate(parts)]
                )
                W = KronOperator._from_factors(
                    [as_factor(p[2], j) for j, p in enumerate(parts)]
                )
                values = KronEigenvalues([p[0] for p in parts], "sum", self._shift)
                got = KronEigen(values, V, W, hermitian=self._hermitian())
            self._cache["dec"] = got
        return got

    def eigvals(self, k: int | None = None, which: str = "LA") -> np.ndarray:
        """Eigenvalues: all N in ``np.kron`` order, or the k extreme ones sorted.

        Parameters
        ----------
        k : int, optional
            Return only the k largest/smallest: a k-way merge over the sorted
            factor spectra, O(k·d·log k), never all N (real spectra).
        which : {"LA", "SA", "LM", "SM"}
            Largest/smallest algebraic, largest/smallest magnitude.

        Returns
        -------
        numpy.ndarray

        Examples
        --------
        >>> from kronop.gallery import laplacian
        >>> L = laplacian((100, 100, 100))  # N = 10⁶: only the factor spectra
        >>> print(L.eigvals(3, "SA").round(6))
        [0.002902 0.005804 0.005804]
        """
        self._require_no_mass("eigvals")
        self._check_factors("eigvals")
        vals = [self._factor_eig(j, "eigvals")[0] for j in range(len(self._factors))]
        w = KronEigenvalues(vals, "sum", self._shift)
        return np.array(w.full()) if k is None else w.extreme(k, which)

    # ---------------------------------------------------------------- solves
    def _null_tol(self, values: KronEigenvalues) -> float:
        """|λ| at or below which an eigenvalue of the sum counts as zero.

        Each factor eigenvalue carries an error of about ε‖Aⱼ‖ (backward-stable
        eigh, or the analytic formula), so a sum is zero to working precision
        below a small multiple of ε·Σ‖Aⱼ‖. A factor of n here (an earlier version)
        flagged float32 Dirichlet Laplacians from n = 200 on as singular.
        """
        scale = sum(float(np.max(np.abs(w))) for w in values.factors)
        scale += abs(values.shift)
        dtype = _float_dtype(*values.factors)
        return 10 * len(values.factors) * _eps(dtype) * scale

    def _spectral(self):
        """Cached ``(basis, inv_w, null)`` for the spectral solve of the sum.

        ``basis`` = (forward KronOperator or None, backward KronOperator or None,
        transforms [(axis, spectrum)]); ``inv_w`` the reciprocal eigenvalues with
        zeros on the null set; ``null`` the indices of zero eigenvalues.
        """
        got = self._cache.get("spectral")
        if got is not None:
            return got
        dec = self.decomposition()
        transforms = []
        fwd_f, bwd_f = [], []
        if self._mass is None:
            for j, spec in enumerate(self._spectra):
                if spec is not None and spec.use_transform:
                    transforms.append((j, spec))
                    fwd_f.append(self._eye_factor(j))
                    bwd_f.append(self._eye_factor(j))
                else:
                    fwd_f.append(dec.inverse._factors[j])
                    bwd_f.append(dec.vectors._factors[j])
        else:
            fwd_f = list(dec.inverse._factors)
            bwd_f = list(dec.vectors._factors)
        gemm = any(f.kind != IDENTITY for f in fwd_f)
        fwd = KronOperator._from_factors(fwd_f) if gemm else None
        bwd = KronOperator._from_factors(bwd_f) if gemm else None
        w = dec.values.full()
        tol = self._null_tol(dec.values)
        null = np.flatnonzero(np.abs(w) <= tol)
        with np.errstate(divide="ignore"):
            inv_w = 1.0 / w
        if null.size:
            inv_w = inv_w.copy()
            inv_w[null] = 0
        got = ((fwd, bwd, transforms), inv_w, null)
        self._cache["spectral"] = got
        return got

    def _tensor_view(self, b: np.ndarray) -> np.ndarray:
        return b.reshape(*self._ns, *b.shape[1:])

    def _forward(self, basis, b: np.ndarray) -> np.ndarray:
        fwd, _, transforms = basis
        if transforms:
            t = self._tensor_view(b)
            for j, spec in transforms:
                t = spec.forward(t, j)
            b = t.reshape(b.shape)
        if fwd is not None:
            b = fwd @ b
        return b

    def _backward(self, basis, y: np.ndarray) -> np.ndarray:
        _, bwd, transforms = basis
        if bwd is not None:
            y = bwd @ y
        if transforms:
            t = self._tensor_view(y)
            for j, spec in reversed(transforms):
                t = spec.backward(t, j)
            y = t.reshape(y.shape)
        return y

    def _check_factors(self, method: str) -> None:
        """Raise for operator factors (TypeError) and non-finite ones (ValueError)."""
        named = [(f, _name(f)) for f in self._factors]
        named += [
            (m, f"mass matrix {j} ({describe_shape(m.shape)})")
            for j, m in enumerate(self._mass or ())
            if m is not None
        ]
        for f, name in named:
            if f.kind == IDENTITY:
                continue
            fct.require_matrix(f, method)
            ok = f._cache.get("finite")
            if ok is None:
                data = f.matrix.data if f.kind == SPARSE else f.matrix
                ok = bool(np.all(np.isfinite(data)))
                f._cache["finite"] = ok
            if not ok:
                raise ValueError(
                    f"{method}(): {name} has non-finite entries (inf or nan)"
                )

    def _method(self, method: str) -> str:
        if method not in ("auto", "eig", "schur"):
            raise ValueError(f"method must be 'auto', 'eig' or 'schur', got {method!r}")
        self._check_factors("solve")
        if method != "auto":
            if self._mass is not None and method == "schur":
                raise ValueError("method='schur' is not available with mass matrices")
            return method
        if self._mass is not None or self._unitary_basis():
            return "eig"
        if len(self._factors) <= 2:
            # Bartels–Stewart costs no more than diagonalizing here and is
            # backward stable whatever the eigenvectors: skip the eig() test
            return "schur"
        parts = [self._factor_eig(j, "solve") for j in range(len(self._factors))]
        cond = math.prod(p[3] for p in parts)
        return "eig" if cond <= EIG_COND_LIMIT else "schur"

    def _result_dtype(self, b: np.ndarray) -> np.dtype:
        return _float_dtype(self.dtype, b.dtype)

    def _finish(self, x: np.ndarray, b: np.ndarray) -> np.ndarray:
        dtype = self._result_dtype(b)
        if dtype.kind == "f" and np.iscomplexobj(x):
            x = x.real
        return np.ascontiguousarray(x, dtype=dtype) if x.dtype != dtype else x

    def _unitary_basis(self) -> bool:
        """Whether the spectral basis is unitary (a Hermitian sum, or analytic)."""
        return self._mass is None and (
            self._hermitian()
            or all(
                self._spectra[j] is not None or self._factor_hermitian(j)
                for j in range(len(self._factors))
            )
        )

    def solve(self, b: ArrayLike, method: str = "auto") -> np.ndarray:
        r"""Solve ``S x = b`` from the factors (fast diagonalization or Schur).

        Parameters
        ----------
        b : array_like, shape (N,) or (N, k)
        method : {"auto", "eig", "schur"}
            ``"eig"``: diagonalize, x = V (Λ⁻¹ (V⁻¹ b)). ``"schur"``: Schur forms
            and a triangular tensor back substitution (any square factors,
            backward stable; real quasi-triangular forms and LAPACK ``trsyl`` for
            real d ≤ 2, complex forms otherwise). ``"auto"`` takes ``"eig"`` for
            Hermitian factors, analytic spectra (``laplacian``) and mass matrices;
            ``"schur"`` for other factors when d ≤ 2; for d ≥ 3 ``"eig"`` while
            ∏κ(Vⱼ) ≤ ``EIG_COND_LIMIT``, else ``"schur"``.

        Returns
        -------
        numpy.ndarray
            Same shape as ``b``; dtype ``np.result_type(S.dtype, b.dtype)``.

        Raises
        ------
        ValueError
            If ``b`` has the wrong shape or a factor is not finite.
        numpy.linalg.LinAlgError
            If S is singular and not Hermitian (a Hermitian singular S gives the
            minimum-norm solution instead, see Notes).
        TypeError
            If a factor is a ``LinearOperator`` with no matrix behind it.

        Warns
        -----
        LinAlgWarning
            A singular Hermitian S and a right-hand side with a component in its
            null space (no exact solution exists).

        Notes
        -----
        Costs O(Σnⱼ³) once (cached), then per right-hand side two Kronecker products
        (4N·Σnⱼ flops, or fast transforms for large ``laplacian`` axes) and one
        length-N division. The Schur path costs O(N·Σnⱼ) per right-hand side as
        well, but runs a Python loop over ∏_{j<d−2} nⱼ LAPACK ``trsyl`` calls
        (one for d = 2).

        **Singular Hermitian sums** (Neumann or periodic Laplacians, or any sum
        with eigenvalues |λ| ≤ 4·max nⱼ·ε·Σ‖Aⱼ‖₂): ``solve`` returns the
        minimum-norm solution x = S⁺b, which is orthogonal to the null space (zero
        mean for the Laplacians). If b has a component in the null space (its sum
        is not zero, for the Laplacians) there is no solution; ``solve`` warns and
        returns the minimum-norm least-squares solution, S⁺b.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.kronsum import KronSum
        >>> A = np.array([[3.0, 1.0], [0.0, 2.0]])
        >>> S = KronSum(A, A, A)
        >>> b = np.arange(8.0)
        >>> x = S.solve(b)
        >>> bool(np.allclose(S @ x, b))
        True
        >>> bool(np.allclose(S.solve(b, method="schur"), x))
        True
        """
        b = check_rhs(b, self.shape[0])
        method = self._method(method)
        if method == "schur":
            return self._schur_solve(b)
        basis, inv_w, null = self._spectral()
        if null.size and not self._unitary_basis():
            raise np.linalg.LinAlgError(
                "the Kronecker sum is singular: an eigenvalue sum is zero to "
                "working precision"
            )
        return self._spectral_solve(b, basis, inv_w, null, warn=True)

    def _spectral_solve(self, b, basis, inv_w, null, warn: bool) -> np.ndarray:
        y = self._forward(basis, b)
        if np.may_share_memory(y, b):
            # an identity eigenbasis (diagonal or 1×1 factors) hands b back:
            # scale a copy, never the caller's array
            y = y.copy()
        if null.size and warn:
            self._check_compatible(y, b, null)
        scale = inv_w[:, None] if y.ndim == 2 else inv_w
        if np.iscomplexobj(scale) and not np.iscomplexobj(y):
            y = y * scale
        elif y.dtype == np.result_type(y, scale):
            np.multiply(y, scale, out=y, casting="same_kind")
        else:
            y = y * scale
        return self._finish(self._backward(basis, y), b)

    def _check_compatible(self, y, b, null) -> None:
        comp = np.linalg.norm(y[null], axis=0)
        size = np.linalg.norm(b, axis=0)
        tol = 100 * _eps(self._result_dtype(b)) * sum(self._ns)
        if np.any(comp > tol * np.maximum(size, np.finfo(float).tiny)):
            worst = float(np.max(comp / np.maximum(size, np.finfo(float).tiny)))
            warnings.warn(
                "solve(): the Kronecker sum is singular and the right-hand side has "
                f"a component in its null space (relative size {worst:.2e}; for a "
                "Neumann or periodic Laplacian, b does not sum to zero), so S x = b "
                "has no solution; returning the minimum-norm least-squares solution",
                LinAlgWarning,
                stacklevel=3,
            )

    def _pinv_solve(self, b) -> np.ndarray:
        b = check_rhs(b, self.shape[0])
        if not self._unitary_basis():
            raise ValueError(
                "pinv() needs Hermitian (or analytic normal) factors and no mass "
                "matrices"
            )
        basis, inv_w, null = self._spectral()
        return self._spectral_solve(b, basis, inv_w, null, warn=False)

    def _schur_parts(self):
        """``(Ts, Z)``: Schur forms Tⱼ and the KronOperator ⊗Zⱼ (cached).

        Real factors and shift with d ≤ 2 keep LAPACK's real (quasi-triangular)
        Schur form, as ``scipy.linalg.solve_sylvester`` does; otherwise every
        factor is brought to complex (triangular) Schur form.
        """
        got = self._cache.get("schur")
        if got is None:
            real = (
                len(self._factors) <= 2
                and self.dtype.kind == "f"
                and np.imag(self._shift) == 0
            )
            key = "schur_real" if real else "schur_complex"
            Ts, Zs, eigs = [], [], []
            for f in self._factors:
                cached = f._cache.get(key)
                if cached is None:
                    a = fct.dense_matrix(f, "solve")
                    if real:
                        T, Z = sla.schur(a.astype(np.float64), output="real")
                    else:
                        T, Z = sla.schur(a.astype(np.complex128), output="complex")
                    cached = (T, Z)
                    f._cache[key] = cached
                Ts.append(cached[0])
                Zs.append(cached[1])
                eigs.append(_schur_eigvals(cached[0]))
            Z = KronOperator._from_factors([as_factor(z, j) for j, z in enumerate(Zs)])
            diag = KronEigenvalues(eigs, "sum", self._shift)
            if np.any(np.abs(diag.full()) <= self._null_tol(diag)):
                raise np.linalg.LinAlgError(
                    "the Kronecker sum is singular: an eigenvalue sum is zero to "
                    "working precision"
                )
            got = (Ts, Z)
            self._cache["schur"] = got
        return got

    def _schur_solve(self, b: np.ndarray) -> np.ndarray:
        Ts, Z = self._schur_parts()
        work = Ts[0].dtype
        y = Z.H @ b.astype(np.result_type(work, b.dtype), copy=False)
        K = 1 if y.ndim == 1 else y.shape[1]
        Y = y.reshape(*self._ns, K)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LinAlgWarning)
            X = _tri_solve(Ts, Y, self._shift)
        x = Z @ X.reshape(y.shape)
        return self._finish(x, b)

    def inv(self) -> LinearOperator:
        """The inverse S⁻¹ as a lazy operator (cached); its products call ``solve``.

        Returns
        -------
        LinearOperator

        Raises
        ------
        numpy.linalg.LinAlgError
            If S is singular (use :meth:`pinv` for a singular Hermitian sum).

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.gallery import laplacian
        >>> L = laplacian((4, 5))
        >>> Linv = L.inv()
        >>> x = np.arange(20.0)
        >>> bool(np.allclose(Linv @ (L @ x), x))
        True
        """
        got = self._cache.get("inv")
        if got is None:
            if self._method("auto") == "eig":
                _, _, null = self._spectral()
                if null.size:
                    raise np.linalg.LinAlgError(
                        "inv(): the Kronecker sum is singular (an eigenvalue sum is "
                        "zero to working precision); use pinv()"
                    )
            else:
                self._schur_parts()
            got = _SolveOperator(self)
            self._cache["inv"] = got
        return got

    def pinv(self) -> LinearOperator:
        """The Moore–Penrose pseudo-inverse S⁺ as a lazy operator (Hermitian sums).

        Returns
        -------
        LinearOperator
            V Λ⁺ Vᴴ, with Λ⁺ zero on the eigenvalues that are zero to working
            precision.

        Raises
        ------
        ValueError
            If the factors are not Hermitian (normal analytic factors are fine) or
            the sum has mass matrices.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.gallery import laplacian
        >>> L = laplacian((4, 5), bc="periodic")  # singular: constants
        >>> x = L.pinv() @ np.ones(20)  # the constant direction is projected out
        >>> print(np.abs(x).max() < 1e-14)
        True
        """
        if not self._unitary_basis():
            raise ValueError(
                "pinv() needs Hermitian (or analytic normal) factors and no mass "
                "matrices"
            )
        got = self._cache.get("pinv")
        if got is None:
            got = _SolveOperator(self, pseudo=True)
            self._cache["pinv"] = got
        return got

    def lstsq(self, b: ArrayLike) -> np.ndarray:
        """Minimum-norm least-squares solution S⁺b (Hermitian sums), without warnings.

        Parameters
        ----------
        b : array_like, shape (N,) or (N, k)

        Returns
        -------
        numpy.ndarray
        """
        return self._pinv_solve(b)

    # ---------------------------------------------------------- determinants
    def slogdet(self) -> tuple:
        """Sign and natural log of |det S|, as ``numpy.linalg.slogdet``.

        ``det S = ∏ᵢ (λᵢ + σ)`` over all N eigenvalue sums: O(N) after the factor
        decompositions (no shortcut exists for sums). With mass matrices the
        congruence adds Σⱼ (N/nⱼ) log det Mⱼ.

        Returns
        -------
        sign : float or complex
            ±1 for a real S (0 when singular), a unit complex number otherwise.
        logabsdet : float

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.kronsum import KronSum
        >>> S = KronSum(np.diag([1.0, 2.0]), np.diag([-3.0, 1.0]))
        >>> sign, logabs = S.slogdet()  # eigenvalues -2, 2, -1, 3
        >>> print(sign, round(float(np.exp(logabs)), 6))
        1.0 12.0
        """
        self._check_factors("slogdet")
        if self._mass is None:
            values = self._eig_dec().values
        else:
            values = self.decomposition().values
        w = values.full()
        w = w.astype(np.complex128 if np.iscomplexobj(w) else np.float64)
        if np.any(w == 0):
            return 0.0, -np.inf
        logabs = float(np.sum(np.log(np.abs(w))))
        if np.iscomplexobj(w):
            theta = float(np.sum(np.angle(w)))
        else:
            theta = math.pi * (int(np.count_nonzero(w < 0)) % 2)
        if self._mass is not None:
            N = self.shape[0]
            for j, p in enumerate(self._generalized_parts()):
                s_m, l_m = p[4]
                e = N // self._ns[j]
                logabs += e * l_m
                if np.iscomplexobj(s_m):
                    theta += e * float(np.angle(s_m))
                elif s_m < 0 and e % 2:
                    theta += math.pi
        theta = math.remainder(theta, 2 * math.pi)
        if self.dtype.kind != "c":
            return (1.0 if math.cos(theta) > 0 else -1.0), logabs
        return complex(math.cos(theta), math.sin(theta)), logabs

    def det(self):
        """The determinant (may overflow to inf, like numpy)."""
        sign, logabs = self.slogdet()
        return sign * np.exp(logabs)

    def logdet(self):
        """log det S: a float when det S > 0, else the principal complex log.

        Returns ``-inf`` for a singular S; nothing is clamped.
        """
        sign, logabs = self.slogdet()
        if sign == 0:
            return -np.inf
        if sign == 1:
            return logabs
        return complex(logabs, float(np.angle(sign)))

    # ------------------------------------------------------- entries, norms
    def _factor_diag(self, f: Factor, method: str) -> np.ndarray:
        fct.require_matrix(f, method)
        if f.kind in (SPARSE, IDENTITY):
            return np.asarray(f.matrix.diagonal())
        return np.asarray(np.diagonal(f.matrix))

    def trace(self):
        """The trace, from the factors.

        tr S = Σⱼ (N/nⱼ) tr Aⱼ + Nσ; with mass matrices
        Σⱼ tr Kⱼ ∏_{i≠j} tr Mᵢ + σ ∏ tr Mᵢ.

        Returns
        -------
        scalar

        Examples
        --------
        >>> from kronop.gallery import laplacian
        >>> print(laplacian((3, 4)).trace())  # 2 per point per axis
        48.0
        """
        d = len(self._factors)
        tr = [self._factor_diag(f, "trace").sum() for f in self._factors]
        if self._mass is None:
            N = self.shape[0]
            total = (
                sum((N // n) * t for n, t in zip(self._ns, tr, strict=True))
                + N * self._shift
            )
        else:
            trm = [
                self._factor_diag(self._mass_factor(j), "trace").sum() for j in range(d)
            ]
            total = sum(
                tr[j] * math.prod(trm[i] for i in range(d) if i != j) for j in range(d)
            ) + self._shift * math.prod(trm)
        return total.item() if isinstance(total, np.generic) else total

    def diagonal(self) -> np.ndarray:
        """The main diagonal (length N), from the factors' diagonals.

        Returns
        -------
        numpy.ndarray
            All sums dⱼ[i₁] + … + d_d[i_d] (+σ) of the factor diagonals, in
            ``np.kron`` order (products with mass-matrix diagonals for those).

        Examples
        --------
        >>> from kronop.gallery import laplacian
        >>> print(laplacian((2, 3), bc="neumann").diagonal())
        [2. 3. 2. 2. 3. 2.]
        """
        d = len(self._factors)
        diags = [self._factor_diag(f, "diagonal") for f in self._factors]
        if self._mass is None:
            out = reduce(np.add.outer, diags).reshape(-1)
            out = out + self._shift if self._shift != 0 else out
        else:
            dm = [self._factor_diag(self._mass_factor(j), "diagonal") for j in range(d)]
            out = 0
            for j in range(d):
                vs = list(dm)
                vs[j] = diags[j]
                out = out + reduce(np.multiply.outer, vs).reshape(-1)
            if self._shift != 0:
                out = out + self._shift * reduce(np.multiply.outer, dm).reshape(-1)
        return np.asarray(out).astype(self.dtype, copy=False)

    def _fro(self) -> float:
        N = self.shape[0]
        if self._mass is None:
            total = 0.0
            c: complex = complex(self._shift)
            for f, n in zip(self._factors, self._ns, strict=True):
                fct.require_matrix(f, "norm")
                dg = self._factor_diag(f, "norm").astype(np.complex128)
                if f.kind in (SPARSE, IDENTITY):
                    coo = f.matrix.tocoo()
                    off = coo.row != coo.col
                    off2 = float(np.sum(np.abs(coo.data[off]) ** 2))
                else:
                    a = f.matrix
                    off2 = max(
                        float(np.sum(np.abs(a) ** 2) - np.sum(np.abs(dg) ** 2)), 0.0
                    )
                mu = dg.mean()
                e2 = float(np.sum(np.abs(dg - mu) ** 2))
                total += (N / n) * (off2 + e2)
                c += mu
            total += N * abs(c) ** 2
            return math.sqrt(total)
        # with mass matrices: Gram matrix of the terms ⊗ F_{a,k}
        d = len(self._factors)
        dense_m = [
            None if self._mass[j] is None else fct.dense_matrix(self._mass[j], "norm")
            for j in range(d)
        ]
        terms = []
        for j, f in enumerate(self._factors):
            mats = list(dense_m)
            mats[j] = fct.dense_matrix(f, "norm")
            terms.append((1.0, mats))
        if self._shift != 0:
            terms.append((complex(self._shift), list(dense_m)))

        def inner(a, b, n):
            if a is None and b is None:
                return n
            if a is None:
                return np.trace(b)
            if b is None:
                return np.conj(np.trace(a))
            return np.vdot(a, b)

        total = 0.0
        for ca, fa in terms:
            for cb, fb in terms:
                prod = np.conj(ca) * cb
                for k in range(d):
                    prod = prod * inner(fa[k], fb[k], self._ns[k])
                total += float(np.real(prod))
        return math.sqrt(max(total, 0.0))

    def _abs_sum_max(self, axis: int) -> float:
        """max over columns (axis 0) or rows (axis 1) of the absolute sums."""
        ds, os = [], []
        for f in self._factors:
            fct.require_matrix(f, "norm")
            dg = self._factor_diag(f, "norm")
            if f.kind in (SPARSE, IDENTITY):
                absm = abs(sp.csr_array(f.matrix))
                tot = np.asarray(absm.sum(axis=axis)).ravel()
            else:
                tot = np.abs(f.matrix).sum(axis=axis)
            ds.append(dg.astype(np.complex128))
            os.append(tot - np.abs(dg))
        off = reduce(np.add.outer, os)
        best = 0.0
        shift = complex(self._shift)
        rest_d = reduce(np.add.outer, ds[1:]) if len(ds) > 1 else np.zeros(())
        for i in range(self._ns[0]):
            val = np.abs(ds[0][i] + rest_d + shift) + off[i]
            best = max(best, float(np.max(val)))
        return best

    def _normal(self) -> bool:
        return self._mass is None and all(
            self._factor_normal(j) for j in range(len(self._factors))
        )

    def _extreme_abs(self) -> tuple[float, float]:
        """(max |λ|, min |λ|) over the eigenvalues of a normal sum."""
        vals = [self._factor_eig(j, "norm")[0] for j in range(len(self._factors))]
        if all(np.isrealobj(w) for w in vals) and np.imag(self._shift) == 0:
            s = float(np.real(self._shift))
            lo = sum(float(np.min(w)) for w in vals) + s
            hi = sum(float(np.max(w)) for w in vals) + s
            if lo > 0:
                return hi, lo
            if hi < 0:
                return -lo, -hi
        w = np.abs(KronEigenvalues(vals, "sum", self._shift).full())
        return float(np.max(w)), float(np.min(w))

    def _svd_extreme(self) -> tuple[float, float]:
        """(σ_max, σ_min) of a non-normal sum, by Lanczos bidiagonalization."""
        from scipy.sparse.linalg import svds

        if self.shape[0] <= 2:
            s = np.linalg.svd(self.toarray(), compute_uv=False)
            return float(s[0]), float(s[-1])
        rng = np.random.default_rng(0)
        v0 = rng.standard_normal(self.shape[0])
        smax = svds(self, k=1, tol=0, return_singular_vectors=False, v0=v0)[0]
        try:
            inv = self.inv()
        except np.linalg.LinAlgError:
            return float(smax), 0.0
        smax_inv = svds(inv, k=1, tol=0, return_singular_vectors=False, v0=v0)[0]
        return float(smax), float(1.0 / smax_inv)

    def norm(self, ord: str | float = "fro") -> float:
        r"""Matrix norm from the factors: ``"fro"``, ``2``, ``1`` or ``inf``.

        Parameters
        ----------
        ord : {"fro", 2, 1, inf}

        Returns
        -------
        float

        Notes
        -----
        **Frobenius**, exactly and without cancellation: off the diagonal the terms
        I⊗…⊗Aⱼ⊗…⊗I never overlap, and on it the sums of the factors' diagonals
        dⱼ = μⱼ + eⱼ (mean μⱼ, Σeⱼ = 0) have no cross terms, so

        .. math:: \|S\|_F^2 = \sum_j \frac{N}{n_j}\big(\|A_j - D_j\|_F^2
                  + \|e_j\|^2\big) + N\,|\sigma + \textstyle\sum_j \mu_j|^2 .

        With mass matrices it is the Gram sum Σ_{a,b} ∏ₖ ⟨F_{a,k}, F_{b,k}⟩ over the
        terms ⊗ₖF_{a,k} (which can lose digits to cancellation when terms nearly
        cancel). **1 / inf**: the largest column / row absolute sum,
        |σ + Σⱼ dⱼ[cⱼ]| + Σⱼ (off-diagonal absolute sum of column cⱼ of Aⱼ),
        maximised over the grid in O(N). **2**: max |λ| for normal factors; for
        non-normal factors (singular values are not those of the factors) the
        largest singular value by ``scipy.sparse.linalg.svds`` to machine
        precision.
        """
        if ord not in ("fro", 2, 1, np.inf, "inf"):
            raise ValueError(f"ord must be 'fro', 2, 1 or inf, got {ord!r}")
        if ord == "fro":
            return self._fro()
        self._require_no_mass(f"norm({ord!r})")
        self._check_factors("norm")
        if ord == 2:
            if self._normal():
                return self._extreme_abs()[0]
            return self._svd_extreme()[0]
        return self._abs_sum_max(0 if ord == 1 else 1)

    def cond(self) -> float:
        """2-norm condition number σ_max/σ_min (inf when singular).

        Normal factors: max|λ|/min|λ| over the eigenvalue sums (O(Σnⱼ) for real
        spectra of one sign, O(N) otherwise). Non-normal factors: ``svds`` on S and
        on S⁻¹ (whose products are fast solves), to machine precision.

        Examples
        --------
        >>> from kronop.gallery import laplacian
        >>> print(round(laplacian((50, 50, 50)).cond(), 2))
        1053.48
        """
        self._require_no_mass("cond")
        self._check_factors("cond")
        hi, lo = self._extreme_abs() if self._normal() else self._svd_extreme()
        return np.inf if lo == 0 else hi / lo

    # ------------------------------------------------------ matrix functions
    def expm(self) -> KronOperator:
        """exp(S) = exp(A₁) ⊗ … ⊗ exp(A_d) (times e^σ) as a lazy ``KronOperator``.

        The terms I⊗…⊗Aⱼ⊗…⊗I commute, so the exponential of their sum is the
        product of their exponentials, a Kronecker product.

        Returns
        -------
        KronOperator

        Examples
        --------
        >>> import numpy as np
        >>> from scipy.linalg import expm
        >>> from kronop.kronsum import KronSum
        >>> A = np.array([[0.0, 1.0], [-1.0, 0.0]])
        >>> B = np.array([[0.5, 0.0], [0.2, -0.3]])
        >>> E = KronSum(A, B).expm()
        >>> ref = expm(np.kron(A, np.eye(2)) + np.kron(np.eye(2), B))  # dense-ok: the oracle
        >>> bool(np.allclose(E.toarray(), ref))
        True
        """
        self._require_no_mass("expm")
        self._check_factors("expm")
        mats = []
        for j, f in enumerate(self._factors):
            spec = self._spectra[j]
            if spec is not None:
                V = spec.vectors(np.float64)
                e = (V * np.exp(spec.values.astype(np.complex128))) @ V.T
                e = e.real if spec.hermitian else e
            else:
                e = sla.expm(fct.dense_matrix(f, "expm"))
            mats.append(np.asarray(e))
        if self._shift != 0:
            mats[0] = mats[0] * np.exp(self._shift)
        want = _float_dtype(self.dtype, *(m.dtype for m in mats))
        if want.kind == "c" and self.dtype.kind == "c":
            want = self.dtype
        elif want.kind == "f":
            want = self.dtype if self.dtype.kind == "f" else want
        return KronOperator(*(m.astype(want, copy=False) for m in mats))


def _factor_sum(a: Factor, b: Factor, j: int) -> Factor:
    """A + B for two square factors of the same size."""
    if LINOP in (a.kind, b.kind):
        return as_factor(aslinearoperator(a.user) + aslinearoperator(b.user), j)
    if a.kind != DENSE and b.kind != DENSE:
        return as_factor(sp.csr_array(a.matrix + b.matrix), j)
    return as_factor(a.toarray() + b.toarray(), j)


def kronsum(*factors: Any, mass=None) -> KronSum:
    """Lazy Kronecker sum of square factors: ``kronsum(A, B)`` is A ⊕ B.

    Parameters
    ----------
    *factors : array_like, sparse matrix/array or LinearOperator
        See :class:`KronSum`.
    mass : sequence, optional
        Mass matrices for the generalized sum (see :class:`KronSum`).

    Returns
    -------
    KronSum

    Notes
    -----
    ``kronsum(A, B)`` equals numpy's ``kron(A, I) + kron(I, B)``; ``scipy.sparse.kronsum(A, B)``
    is the reverse order, B ⊕ A.

    Examples
    --------
    >>> import numpy as np
    >>> from kronop import kronsum
    >>> A, B = np.array([[1.0, 2.0], [0.0, 3.0]]), np.array([[5.0]])
    >>> S = kronsum(A, B)
    >>> print(S.toarray())
    [[6. 2.]
     [0. 8.]]
    """
    return KronSum(*factors, mass=mass)
