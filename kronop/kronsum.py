r"""The lazy Kronecker sum ``KronSum`` = A₁ ⊕ … ⊕ A_d.

A Kronecker sum acts on the tensor X = x.reshape(n₁, …, n_d) as
``Σⱼ X ×ⱼ Aⱼ``: one single-axis product per factor, summed into one output. Its
eigenvectors are those of a Kronecker product, ⊗Vⱼ, and its eigenvalues all sums
λ₁+…+λ_d of factor eigenvalues, so it solves, log-determines and exponentiates from
the factors (the *fast diagonalization method*, Lynch, Rice and Thomas 1964), and
through the factors' Schur forms when their eigenvectors are ill-conditioned.

This module says what a Kronecker sum *is* and which factorization it uses; the
factorizations themselves live in :mod:`kronop.decomposition` (eigen),
:mod:`kronop._schur` and :mod:`kronop._generalized` (mass matrices), the norms in
:mod:`kronop._kronsum_norms`.
"""

from __future__ import annotations

import math
from functools import reduce
from typing import TYPE_CHECKING, Any, overload

import numpy as np
from numpy.typing import ArrayLike
from scipy.sparse.linalg import LinearOperator

from . import _engine, _generalized, _kronsum_norms, _rules
from ._base import (
    Factorization,
    Factorized,
    StructuredOperator,
    check_rhs,
    is_scalar,
)
from ._compat import call, conj_scalar
from ._factor import Factor, as_factor, describe_shape, factor_sum, operator_dtype
from ._schur import SchurFactorization
from .decomposition import KronEigen, KronEigenvalues
from .kron import KronOperator, eigen_from_factors

if TYPE_CHECKING:
    from dask.array import Array as DaskArray

__all__ = ["EIG_COND_LIMIT", "KronSum", "kronsum"]

#: non-normal factors are diagonalized while ∏ κ₂(Vⱼ) stays below this; beyond it
#: solves go through the factors' complex Schur forms (Bartels–Stewart)
EIG_COND_LIMIT = 1e3


class KronSum(Factorized, StructuredOperator):
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
    args : tuple
        ``(factors, mass, sigma)``, as scipy's composites expose their operands.

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
    banded sparse factor (at most 9 diagonals, e.g. any finite-difference stencil)
    as a slicing stencil — O(N) per diagonal, no index arrays, swept in cache-sized
    slabs — a dense factor as GEMMs, other sparse factors and operators through one
    transposed copy. A d-dimensional Laplacian costs O(d·N), never N×N storage.

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
    >>> dense = np.kron(A, np.eye(3)) + np.kron(np.eye(2), B)
    >>> x = np.arange(6.0)
    >>> bool(np.allclose(S @ x, dense @ x))
    True
    >>> bool(np.allclose(S @ S.solve(x), x))
    True
    """

    _transient = ("_engine",)

    def __init__(self, *factors: Any, mass=None) -> None:
        if not factors:
            raise ValueError("KronSum needs at least one factor, got none")
        shift: Any = 0.0
        if mass is None:
            flat: list[Factor] = []
            for i, obj in enumerate(factors):
                if isinstance(obj, KronSum) and obj._mass is None:
                    flat.extend(obj._factors)
                    shift = shift + obj._shift
                else:
                    flat.append(as_factor(obj, i))
            self._init_from(flat, None, shift)
            return
        mass = list(mass)
        if len(mass) != len(factors):
            raise ValueError(
                f"mass needs one matrix (or None) per factor ({len(factors)}), "
                f"got {len(mass)}"
            )
        flat = [as_factor(obj, i) for i, obj in enumerate(factors)]
        masses = [None if m is None else as_factor(m, i) for i, m in enumerate(mass)]
        self._init_from(flat, masses, shift)

    @classmethod
    def _from_factors(cls, factors, mass=None, shift=0.0) -> KronSum:
        """A sum of (validated) factors; the factors may carry analytic spectra."""
        self = cls.__new__(cls)
        fs = [as_factor(f, j) for j, f in enumerate(factors)]
        ms = None
        if mass is not None:
            ms = [None if m is None else as_factor(m, j) for j, m in enumerate(mass)]
        self._init_from(fs, ms, shift)
        return self

    def _init_from(self, factors: list[Factor], mass, shift) -> None:
        factors = [as_factor(f, j) for j, f in enumerate(factors)]
        for f in factors:
            if f.shape[0] != f.shape[1]:
                raise ValueError(
                    f"KronSum needs square factors, but {f.name} is not square"
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
        self._ns = tuple(f.shape[0] for f in factors)
        parts = list(factors)
        if self._mass is not None:
            parts += [m for m in self._mass if m is not None]
        dtype = operator_dtype(parts)
        if shift != 0:
            dtype = np.result_type(dtype, shift)
        dtype = _engine.compute_dtype(dtype)
        if isinstance(shift, np.generic):
            # a NumPy scalar of lower precision works in the operator's precision
            shift = np.result_type(shift, dtype).type(shift)
        self._shift = shift
        super().__init__(dtype, (math.prod(self._ns),) * 2)

    def _init_transient(self) -> None:
        super()._init_transient()
        self._engine = _engine.EngineCache()

    @property
    def _wf(self) -> tuple[Factor, ...]:
        """The factors in the operator's precision, for every decomposition."""
        return self._cached(
            "work", lambda: tuple(f.promoted(self.dtype) for f in self._factors)
        )

    @property
    def _wm(self):
        """The mass matrices in the operator's precision (None without mass)."""
        if self._mass is None:
            return None
        return self._cached(
            "work_mass",
            lambda: tuple(
                None if m is None else m.promoted(self.dtype) for m in self._mass
            ),
        )

    # ----------------------------------------------------------------- basics
    @property
    def factors(self) -> tuple:
        """The factors as the user gave them (integer arrays cast to float64).

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronSum
        >>> A, B = np.array([[2.0, 1.0], [1.0, 3.0]]), np.diag([4.0, 5.0, 6.0])
        >>> S = KronSum(A, B)
        >>> len(S.factors), bool(np.array_equal(S.factors[1], B))
        (2, True)
        """
        return tuple(f.user for f in self._factors)

    @property
    def mass(self) -> tuple | None:
        """The mass matrices as given (``None`` entries for identities), or None.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronSum
        >>> K = np.array([[2.0, -1.0], [-1.0, 2.0]])
        >>> M = np.array([[4.0, 1.0], [1.0, 4.0]]) / 6
        >>> print(KronSum(K, K).mass)
        None
        >>> S = KronSum(K, K, mass=(M, None))  # None: an identity mass matrix
        >>> S.mass[0].shape, S.mass[1]
        ((2, 2), None)
        """
        if self._mass is None:
            return None
        return tuple(None if m is None else m.user for m in self._mass)

    @property
    def sigma(self):
        """σ: the operator is the sum plus σI (plus σ·M₁⊗…⊗M_d with mass).

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronSum
        >>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
        >>> S = KronSum(A, A).shift(0.5)
        >>> print(S.sigma)
        0.5
        >>> dense = np.kron(A, np.eye(2)) + np.kron(np.eye(2), A) + 0.5 * np.eye(4)
        >>> bool(np.allclose(S.toarray(), dense))
        True
        """
        return self._shift

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """(n₁, …, n_d): the tensor shape a vector is reshaped to.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronSum
        >>> S = KronSum(np.eye(2), np.eye(3), np.eye(4))
        >>> S.grid_shape, S.shape
        ((2, 3, 4), (24, 24))
        """
        return self._ns

    @property
    def ndim_factors(self) -> int:
        """Number of factors d.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronSum
        >>> KronSum(np.eye(2), np.eye(3), np.eye(4)).ndim_factors
        3
        """
        return len(self._factors)

    def _args(self) -> tuple:
        return (self.factors, self.mass, self.sigma)

    def _input_grid(self) -> tuple[int, ...]:
        return self._ns

    def _output_grid(self) -> tuple[int, ...]:
        return self._ns

    def __repr__(self) -> str:
        inner = " ⊕ ".join(f.describe() for f in self._factors)
        extra = ""
        if self._mass is not None:
            ms = ", ".join("I" if m is None else m.describe() for m in self._mass)
            extra += f", mass=({ms})"
        if self._shift != 0:
            extra += f", shift={self._shift}"
        return f"KronSum({inner}{extra}, dtype={self.dtype})"

    def toarray(self) -> np.ndarray:
        """The dense matrix: the only path that forms it (for checking).

        Returns
        -------
        numpy.ndarray
            ``Σⱼ kron(M₁, …, Aⱼ, …, M_d) + σ·kron(M₁, …, M_d)`` (identities for
            absent mass matrices), shape ``self.shape``, dtype ``self.dtype``.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronSum
        >>> A, B = np.array([[1.0, 2.0], [0.0, 3.0]]), np.array([[5.0]])
        >>> print(KronSum(A, B).toarray())
        [[6. 2.]
         [0. 8.]]
        """
        d = len(self._factors)
        masses = self._mass or (None,) * d
        dense_m = [
            np.eye(n, dtype=self.dtype) if m is None else m.toarray().astype(self.dtype)
            for n, m in zip(self._ns, masses, strict=True)
        ]
        out = np.zeros(self.shape, dtype=self.dtype)
        for j, f in enumerate(self._factors):
            mats = list(dense_m)
            mats[j] = f.toarray().astype(self.dtype)
            out += reduce(np.kron, mats)
        if self._shift != 0:
            out += self._shift * reduce(np.kron, dense_m)
        return out

    # ----------------------------------------------------------- the products
    def _mass_terms(self) -> list:
        """The sum as terms (coefficient, factors) of Kronecker products."""

        def build():
            ms = [
                m if m is not None else as_factor(np.eye(n, dtype=f.dtype), j)
                for j, (f, m, n) in enumerate(
                    zip(self._factors, self._mass, self._ns, strict=True)
                )
            ]
            terms = []
            for j, f in enumerate(self._factors):
                fs = list(ms)
                fs[j] = f
                terms.append((1, fs))
            if self._shift != 0:
                terms.append((self._shift, list(ms)))
            return terms

        return self._cached("mass_terms", build)

    def _apply(self, x: np.ndarray) -> np.ndarray:
        if self._mass is not None:
            return _engine.apply_terms(self._mass_terms(), x, self._engine, self.dtype)
        return _engine.apply_sum(
            self._factors, self._shift, x, self._engine, self.dtype
        )

    # ---------------------------------------------------------------- algebra
    def _derive(self, factor_fn, shift) -> KronSum:
        fs = [factor_fn(f) for f in self._factors]
        ms = None
        if self._mass is not None:
            ms = [None if m is None else factor_fn(m) for m in self._mass]
        out = KronSum._from_factors(fs, ms, shift)
        # a scaled LinearOperator factor may declare a wider dtype (scipy ≤ 1.17);
        # transposes and adjoints keep the operator's own
        out.dtype = self.dtype
        return out

    def _make_adjoint(self) -> KronSum:
        return self._derive(lambda f: f.adjoint(), conj_scalar(self._shift))

    def _make_transpose(self) -> KronSum:
        return self._derive(lambda f: f.transpose(), self._shift)

    def conj(self) -> KronSum:
        """The elementwise complex conjugate (conjugate factors and shift).

        Returns
        -------
        KronSum

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronSum
        >>> S = KronSum(np.array([[1.0, 1j], [0.0, 2.0]]), np.eye(2))
        >>> bool(np.allclose(S.conj().toarray(), S.toarray().conj()))
        True
        """
        if self.dtype.kind != "c":
            return self
        return self._derive(lambda f: f.conj(), conj_scalar(self._shift))

    def _scaled(self, alpha) -> KronSum:
        """α·S: every factor scaled (only the Aⱼ with mass matrices), and the shift."""
        fs = [f.scaled(alpha) for f in self._factors]
        shift = self._shift * alpha if self._shift != 0 else self._shift
        out = KronSum._from_factors(fs, self._mass, shift)
        # keep NumPy's weak-scalar dtype rule even when a factor is an identity
        want = np.result_type(self.dtype, alpha)
        if out.dtype != want and want.kind in "fc":
            out.dtype = want
        return out

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
        out = KronSum._from_factors(self._factors, self._mass, self._shift + sigma)
        want = np.result_type(self.dtype, sigma)
        if out.dtype != want and want.kind in "fc":
            out.dtype = want
        return out

    # ---------------------------------------------------------- spectral core
    def _require_no_mass(self, method: str) -> None:
        if self._wm is not None:
            raise ValueError(
                f"{call(method)} is not available for a Kronecker sum with mass matrices: "
                "its eigenvalues do not follow from the factors. generalized_eigh() "
                "gives the generalized eigenpairs of (S, M₁⊗…⊗M_d); solve, logdet, "
                "trace, diagonal and norm('fro') work as usual"
            )

    def _check_factors(self, method: str) -> None:
        """Raise for operator factors (TypeError) and non-finite ones (ValueError)."""
        for f in self._wf:
            if not f.is_identity:
                f.check_finite(method)
        for j, m in enumerate(self._wm or ()):
            if m is not None and not m.is_finite():
                raise ValueError(
                    f"{call(method)}: mass matrix {j} ({describe_shape(m.shape)}) has "
                    "non-finite entries (inf or nan)"
                )
            if m is not None:
                m.require_entries(method)

    def _hermitian(self) -> bool:
        """Whether S is Hermitian (every factor, every mass matrix, real shift)."""
        if np.imag(self._shift) != 0:
            return False
        ok = all(f.is_hermitian() for f in self._wf)
        if self._wm is not None:
            ok = ok and all(m is None or m.is_hermitian() for m in self._wm)
        return ok

    def _normal(self) -> bool:
        return self._wm is None and all(f.is_normal() for f in self._wf)

    def _eigen(self) -> KronEigen:
        """V (Λ₁⊕…⊕Λ_d + σ) V⁻¹ from each factor's eigendecomposition (cached)."""

        def build() -> KronEigen:
            parts = [f.eigen("eig") for f in self._wf]
            return eigen_from_factors(
                parts, "sum", self._shift, self._hermitian(), self.dtype
            )

        self._require_no_mass("eig")
        self._check_factors("eig")
        return self._cached("eigen", build)

    def _pencils(self):
        return self._cached("pencils", lambda: _generalized.pencils(self._wf, self._wm))

    def eigh(self) -> KronEigen:
        """Eigendecomposition of a Kronecker sum of Hermitian factors.

        Returns
        -------
        KronEigen
            Unpacks as ``w, V``: ``np.asarray(w)`` holds the N eigenvalues, all sums
            λ₁+…+λ_d (+σ), in ``np.kron`` order (built on demand; ``w.factors`` are
            the factor spectra), ``V = ⊗Vⱼ`` a unitary ``KronOperator``. It also
            offers ``solve(b, shift)``, ``logdet(shift)``, ``apply(f)`` (f(S) as an
            operator), ``shift(σ)`` and ``eigvals(k, which)``. Its ``solve`` is
            the one :meth:`solve` uses.

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
        for f in self._wf:
            f.eigh("eigh")  # names the first factor that is not Hermitian
        if np.imag(self._shift) != 0:
            raise ValueError("eigh() needs a real shift; use eig()")
        return self._eigen()

    def eig(self) -> KronEigen:
        """Eigendecomposition of a Kronecker sum of square factors.

        Hermitian factors use ``eigh``, others ``eig``; ``vector_cond`` records
        ∏κ₂(Vⱼ). Results computed through V lose about log₁₀ κ(V) digits: this
        warns (``LinAlgWarning``) past half the digits of the dtype, and solves and
        functions through V raise ``LinAlgError`` past three quarters (a defective
        factor). ``solve`` and ``slogdet`` of the operator itself stay accurate
        (Schur forms).

        Returns
        -------
        KronEigen
            As :meth:`eigh`; ``V`` need not be unitary (``inverse`` holds ⊗Vⱼ⁻¹).

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronSum
        >>> A = np.array([[3.0, 1.0], [0.0, 2.0]])  # not symmetric
        >>> S = KronSum(A, A)
        >>> w, V = S.eig()
        >>> Vd = V.toarray()
        >>> bool(np.allclose(S.toarray() @ Vd, Vd * np.asarray(w)))
        True
        """
        dec = self._eigen()
        dec.warn_vectors("eig()")
        return dec

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
        >>> Sd, Vd, Md = S.toarray(), V.toarray(), np.kron(M, M)
        >>> bool(np.allclose(Sd @ Vd, Md @ Vd * np.asarray(w)))
        True
        """
        if self._wm is None:
            return self.eigh() if self._hermitian() else self.eig()
        self._check_factors("generalized_eigh")
        return self._cached(
            "generalized_eigen",
            lambda: _generalized.generalized_eigen(
                self._pencils(), self._shift, self.dtype
            ),
        )

    def decomposition(self) -> KronEigen:
        """The spectral factored form (cached): eigendecomposition or congruence.

        Without mass matrices: the eigendecomposition (``eigh`` for Hermitian
        factors), shifted by σ — the object :meth:`eigh`/:meth:`eig` return. With
        mass matrices: the congruence S = W⁻¹ (Λ + σ) V⁻¹ of the generalized
        factor problems, packed as a ``KronEigen`` whose ``solve`` solves with S.
        :meth:`factorization` tells which factored form ``solve`` uses.

        Returns
        -------
        KronEigen

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronSum
        >>> K = np.array([[2.0, -1.0], [-1.0, 2.0]])
        >>> M = np.array([[4.0, 1.0], [1.0, 4.0]]) / 6
        >>> S = KronSum(K, K, mass=(M, M))
        >>> b = np.arange(4.0)
        >>> bool(np.allclose(S.toarray() @ S.decomposition().solve(b), b))
        True
        """
        if self._wm is None:
            return self._eigen()
        return self._generalized_solver()

    def _generalized_solver(self) -> KronEigen:
        self._check_factors("solve")
        return self._cached(
            "generalized_solver",
            lambda: _generalized.generalized_solver(
                self._pencils(), self._shift, self.dtype, self._hermitian()
            ),
        )

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
        vals = [f.eigenvalues("eigvals") for f in self._wf]
        w = KronEigenvalues(vals, "sum", self._shift)
        return np.array(w.full()) if k is None else w.extreme(k, which)

    # ---------------------------------------------------------------- solves
    def _method(self, method: str) -> str:
        """The factorization a solve with ``method`` uses: eig, schur or generalized."""
        if method not in ("auto", "eig", "schur"):
            raise ValueError(f"method must be 'auto', 'eig' or 'schur', got {method!r}")
        self._check_factors("solve")
        if self._wm is not None:
            if method == "schur":
                raise ValueError("method='schur' is not available with mass matrices")
            return "generalized"
        if method != "auto":
            return method
        if all(f.is_hermitian() or f.spectrum is not None for f in self._wf):
            return "eig"  # an orthonormal eigenbasis: diagonalizing is stable
        if len(self._wf) <= 2:
            # Bartels–Stewart costs no more than diagonalizing here and is
            # backward stable whatever the eigenvectors: skip the eig() test
            return "schur"
        cond = math.prod(f.eigen("solve").cond for f in self._wf)
        return "eig" if cond <= EIG_COND_LIMIT else "schur"

    def _factorization_for(self, method: str) -> Factorization:
        route = self._cached("route:" + method, lambda: self._method(method))
        if route == "generalized":
            return self._generalized_solver()
        if route == "eig":
            return self._eigen()
        return self._cached(
            "schur", lambda: SchurFactorization(self._wf, self._shift, self.dtype)
        )

    def _factorize(self) -> Factorization:
        return self._factorization_for("auto")

    @overload
    def solve(self, b: DaskArray, method: str = ...) -> DaskArray: ...
    @overload
    def solve(self, b: ArrayLike, method: str = ...) -> np.ndarray: ...
    def solve(self, b, method: str = "auto"):
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
        numpy.ndarray or dask.array.Array
            Same shape as ``b`` (lazy, chunked like ``b``, for a dask ``b``); dtype ``np.result_type(S.dtype, b.dtype)``.

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
        (one for d = 2). The eig path is :meth:`eigh`'s decomposition: ``S.solve(b)``
        and ``S.eigh().solve(b)`` are one computation.

        **Singular Hermitian sums** (Neumann or periodic Laplacians, or any sum
        with eigenvalues zero to working precision, see
        :meth:`KronEigenvalues.null_tolerance`): ``solve`` returns the
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
        if _engine.is_lazy(b):
            # on dask arrays only the eigendecomposition runs (a Schur back
            # substitution is sequential along every axis)
            method = "eig" if method == "auto" else method
            return self._lazy_solve(b, self._factorization_for(method).solve)
        b = check_rhs(b, self.shape[0])
        return self._factorization_for(method).solve(b)

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
        return super().inv()

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
        self._require_no_mass("pinv")
        return self._cached("pinv", lambda: self._eigen().pseudo_inverse())

    def lstsq(self, b: ArrayLike) -> np.ndarray:
        """Minimum-norm least-squares solution S⁺b (Hermitian sums), without warnings.

        Parameters
        ----------
        b : array_like, shape (N,) or (N, k)

        Returns
        -------
        numpy.ndarray

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.gallery import laplacian
        >>> L = laplacian((4, 5), bc="periodic")  # singular: constants
        >>> b = np.arange(20.0)  # not in the range of L
        >>> x = L.lstsq(b)
        >>> bool(np.allclose(x, np.linalg.pinv(L.toarray()) @ b))
        True
        """
        self._require_no_mass("lstsq")
        return self._eigen().lstsq(b)

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
        return super().slogdet()

    # ------------------------------------------------------- entries, norms
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
        return _kronsum_norms.trace(self._wf, self._wm, self._shift)

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
        return _kronsum_norms.diagonal(self._wf, self._wm, self._shift, self.dtype)

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
        precision. NaN and inf entries propagate into ``"fro"``, 1 and ∞, as in
        ``numpy.linalg.norm``; 2 raises ``ValueError`` for them.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronSum
        >>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
        >>> S = KronSum(A, np.diag([4.0, 5.0, 6.0]))
        >>> bool(np.isclose(S.norm(), np.linalg.norm(S.toarray())))
        True
        >>> bool(np.isclose(S.norm(2), np.linalg.norm(S.toarray(), 2)))
        True
        """
        if ord not in ("fro", 2, 1, np.inf, "inf"):
            raise ValueError(f"ord must be 'fro', 2, 1 or inf, got {ord!r}")
        if ord == "fro":
            return _kronsum_norms.fro(self._wf, self._wm, self._shift)
        self._require_no_mass(f"norm({ord!r})")
        if ord == 2:  # from spectra or svds: finite factors only
            self._check_factors("norm(2)")
            if self._normal():
                return _kronsum_norms.extreme_abs(self._wf, self._shift)[0]
            return _kronsum_norms.svd_extreme(self)[0]
        return _kronsum_norms.abs_sum_max(self._wf, self._shift, 0 if ord == 1 else 1)

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
        if self._normal():
            hi, lo = _kronsum_norms.extreme_abs(self._wf, self._shift)
        else:
            hi, lo = _kronsum_norms.svd_extreme(self)
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
        >>> ref = expm(np.kron(A, np.eye(2)) + np.kron(np.eye(2), B))
        >>> bool(np.allclose(E.toarray(), ref))
        True
        """
        self._require_no_mass("expm")
        self._check_factors("expm")
        mats = [np.asarray(f.expm()) for f in self._wf]
        if self._shift != 0:
            mats[0] = mats[0] * np.exp(self._shift)
        want = _engine.compute_dtype(self.dtype, *(m.dtype for m in mats))
        if want.kind == "c" and self.dtype.kind == "c":
            want = self.dtype
        elif want.kind == "f":
            want = self.dtype if self.dtype.kind == "f" else want
        return KronOperator(*(m.astype(want, copy=False) for m in mats))


def _sum_plus_identity(S: KronSum, eye: _rules.ScaledIdentity):
    if S._mass is not None:
        return NotImplemented
    return S.shift(eye.sigma)


def _sum_plus_sum(a: KronSum, b: KronSum):
    if a._mass is not None or b._mass is not None or a._ns != b._ns:
        return NotImplemented
    fs = [
        factor_sum(fa, fb, j)
        for j, (fa, fb) in enumerate(zip(a._factors, b._factors, strict=True))
    ]
    return KronSum._from_factors(fs, None, a._shift + b._shift)


_rules.register_add(KronSum, _rules.ScaledIdentity, _sum_plus_identity)
_rules.register_add(KronSum, KronSum, _sum_plus_sum)


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
