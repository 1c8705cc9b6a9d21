r"""Kronecker products plus a scaled identity or Kronecker diagonal: the GP workhorse.

``K + σI`` and, more generally, ``K + σD`` with ``D = D₁⊗…⊗D_d`` a Kronecker product
of positive diagonals, solved and log-determined exactly from the factors. This
module registers the sums that produce them: ``K + σI`` and ``σI + K`` (any
multiple of scipy's or kronop's ``IdentityOperator``), and ``K + D`` for a
``KronOperator`` D of diagonal factors.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from . import _engine, _rules
from ._base import Factorized, StructuredOperator
from ._compat import conj_scalar
from ._factor import as_factor
from .decomposition import KronEigen, KronEigenvalues
from .kron import KronOperator

__all__ = ["KronPlusDiagonal"]


class KronPlusDiagonal(Factorized, StructuredOperator):
    r"""A = K + σ·D with K = ⊗Aⱼ and D = ⊗Dⱼ a Kronecker product of diagonals.

    ``D`` defaults to the identity (``K + σI``). Usually built as ``K + sigma * I``
    or ``sigma * I + K`` (``I = kronop.IdentityOperator(K.shape)``; scipy's own
    ``IdentityOperator`` and ``aslinearoperator(scipy.sparse.eye_array(N))`` work
    on the right of K), ``K.shift(sigma)``, or ``K + KronOperator(diag(d₁), …)``.

    Parameters
    ----------
    kron : KronOperator
        K, with square factors.
    sigma : scalar
        σ.
    diagonals : list of 1-D arrays, optional
        The diagonals dⱼ of Dⱼ (positive, one per factor of K).

    Notes
    -----
    **Shift only.** With K = V Λ V⁻¹, ``(K + σI)⁻¹ = V (Λ + σ)⁻¹ V⁻¹`` and
    ``log det(K + σI) = Σ log(λᵢ + σ)``: one eigendecomposition per factor
    (cached), then two Kronecker products per solve and O(N) per log-determinant,
    for every σ.

    **Kronecker diagonal** (Hermitian factors, positive dⱼ). Pull the diagonal
    across: with Rⱼ = Dⱼ^{1/2} and Ãⱼ = Rⱼ⁻¹AⱼRⱼ⁻¹ = UⱼΛⱼUⱼᴴ,

    .. math:: K + \sigma D = R\,(\textstyle\bigotimes_j \tilde A_j + \sigma I)\,R
              = W (\Lambda + \sigma) W^H, \quad W = \bigotimes_j R_j U_j,

    so ``solve(b) = W⁻ᴴ (Λ+σ)⁻¹ W⁻¹ b`` with ``W⁻¹ = ⊗UⱼᴴRⱼ⁻¹`` and
    ``log det = Σ log(λᵢ+σ) + Σⱼ (N/nⱼ) Σ log dⱼ``. This holds for any number of
    factors, not just two; it needs D to be a Kronecker product (a general
    diagonal has no such factorization).

    Examples
    --------
    >>> import numpy as np
    >>> from kronop import IdentityOperator, KronOperator
    >>> A = np.array([[2.0, 1.0], [1.0, 2.0]])
    >>> K = KronOperator(A, A, A)
    >>> S = K + 0.1 * IdentityOperator(K.shape)
    >>> b = np.ones(8)
    >>> bool(np.allclose(S @ S.solve(b), b))
    True
    >>> ld = S.logdet()
    >>> bool(np.isclose(ld, np.linalg.slogdet(S.toarray())[1]))
    True
    """

    _transient = ("_engine",)

    def __init__(self, kron, sigma, diagonals=None) -> None:
        for f in kron._factors:
            f.require_square("K + σD")
        if np.ndim(sigma) != 0 or not np.issubdtype(np.asarray(sigma).dtype, np.number):
            raise TypeError(
                f"sigma must be a scalar, got {type(sigma).__name__} of shape "
                f"{np.shape(sigma)} (for a diagonal, add a KronOperator of diagonal "
                "factors)"
            )
        self.kron = kron
        self.sigma = sigma
        if diagonals is not None:
            diagonals = [np.asarray(dg) for dg in diagonals]
            if len(diagonals) != len(kron._factors):
                raise ValueError(
                    f"need one diagonal per factor ({len(kron._factors)}), "
                    f"got {len(diagonals)}"
                )
            for j, (dg, f) in enumerate(zip(diagonals, kron._factors, strict=True)):
                if dg.shape != (f.shape[0],):
                    raise ValueError(
                        f"diagonal {j} must have shape ({f.shape[0]},), got {dg.shape}"
                    )
        self.diagonals = diagonals
        if diagonals is None:
            self._D = None
        else:
            self._D = KronOperator(*(sp.diags_array(dg).tocsr() for dg in diagonals))
        # NumPy's weak-scalar rule: a Python float keeps a float32 K in float32
        dtype = np.result_type(kron.dtype, sigma)
        if self._D is not None:
            dtype = np.result_type(dtype, self._D.dtype)
        super().__init__(dtype, kron.shape)

    def __repr__(self) -> str:
        d = "I" if self.diagonals is None else "D"
        return f"KronPlusDiagonal({self.kron!r} + {self.sigma}·{d})"

    def _args(self) -> tuple:
        return (self.kron, self.sigma, self._D)

    def _input_grid(self) -> tuple[int, ...]:
        return self.kron._input_grid()

    def _output_grid(self) -> tuple[int, ...]:
        return self.kron._output_grid()

    def _scaled(self, alpha) -> KronPlusDiagonal:
        """α(K + σD) = (αK) + (ασ)D, still structured."""
        return KronPlusDiagonal(
            self.kron._scaled(alpha), alpha * self.sigma, self.diagonals
        )

    def _init_transient(self) -> None:
        super()._init_transient()
        self._engine = _engine.EngineCache()

    def _terms(self) -> list:
        """K + σD as two Kronecker products (D of identity factors for σI)."""

        def build():
            if self._D is None:
                D = [
                    as_factor(np.eye(f.shape[0], dtype=f.dtype), j)
                    for j, f in enumerate(self.kron._factors)
                ]
            else:
                D = list(self._D._factors)
            return [(1, list(self.kron._factors)), (self.sigma, D)]

        return self._cached("terms", build)

    def _apply(self, x: np.ndarray) -> np.ndarray:
        return _engine.apply_terms(self._terms(), x, self._engine, self.dtype)

    def _make_adjoint(self):
        diags = None if self.diagonals is None else [np.conj(d) for d in self.diagonals]
        return KronPlusDiagonal(self.kron.H, conj_scalar(self.sigma), diags)

    def _make_transpose(self):
        return KronPlusDiagonal(self.kron.T, self.sigma, self.diagonals)

    @property
    def terms(self) -> tuple[KronOperator, KronOperator]:
        """A as a sum of two Kronecker products: ``(K, σ·D₁⊗…⊗D_d)`` (D = I if none).

        The same ``.terms`` a :class:`~kronop.KronProductSum` has; this operator is
        the two-term sum whose second term is a scaled Kronecker diagonal, which it
        solves by the congruence of the class notes.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> A = KronOperator(np.eye(2), 2 * np.eye(3)).shift(0.5)
        >>> K, D = A.terms
        >>> bool(np.allclose(K.toarray() + D.toarray(), A.toarray()))
        True
        """
        ns = [f.shape[0] for f in self.kron._factors]
        diags = self.diagonals
        mats = [
            sp.eye_array(n, format="csr") if diags is None else sp.diags_array(d)
            for n, d in zip(ns, diags or [None] * len(ns), strict=True)
        ]
        return self.kron, KronOperator(*mats) * self.sigma

    def toarray(self) -> np.ndarray:
        """The dense matrix (for checking).

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> A = np.array([[2.0, 1.0], [1.0, 2.0]])
        >>> D = KronOperator(np.diag([1.0, 2.0]), np.diag([3.0, 4.0]))
        >>> S = KronOperator(A, A) + D  # K + 1·D
        >>> dense = np.kron(A, A) + np.diag(np.kron([1.0, 2.0], [3.0, 4.0]))
        >>> bool(np.allclose(S.toarray(), dense))
        True
        """
        out = self.kron.toarray().astype(self.dtype)
        if self._D is None:
            out[np.diag_indices_from(out)] += self.sigma
        else:
            out[np.diag_indices_from(out)] += self.sigma * self._D.diagonal()
        return out

    def decomposition(self) -> KronEigen:
        """The factored form that ``solve``/``logdet`` use (cached).

        For ``K + σI`` this is K's eigendecomposition shifted by σ (``eigh`` when
        every factor is Hermitian). For ``K + σD`` it is the congruence W(Λ+σ)Wᴴ of
        the class notes (not an eigendecomposition of A).

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator, KronPlusDiagonal
        >>> A = np.array([[2.0, 1.0], [1.0, 2.0]])
        >>> d1, d2 = np.array([1.0, 2.0]), np.array([3.0, 4.0])
        >>> S = KronPlusDiagonal(KronOperator(A, A), 0.5, [d1, d2])  # K + 0.5·D
        >>> b = np.arange(4.0)
        >>> bool(np.allclose(S.toarray() @ S.decomposition().solve(b), b))
        True
        """
        return self.factorization()

    def _factorize(self) -> KronEigen:
        if self.diagonals is None:
            return self.kron._spectral().shift(self.sigma)
        return self._congruence()

    def _congruence(self) -> KronEigen:
        K = self.kron
        N = K.shape[0]
        vals, W, Winv = [], [], []
        offset = 0.0
        for j, (f, dg) in enumerate(zip(K._work, self.diagonals, strict=True)):
            a = f.dense("solve")
            if not f.is_hermitian():
                raise ValueError(
                    f"K + σD needs Hermitian factors; {f.name} is not Hermitian"
                )
            if np.iscomplexobj(dg) or not np.all(dg > 0):
                raise ValueError(
                    f"K + σD needs positive diagonals; diagonal {j} is not"
                )
            r = np.sqrt(dg)
            w, U = np.linalg.eigh(a / np.outer(r, r))
            vals.append(w)
            W.append(as_factor(U / r[:, None], j))  # R⁻¹U: W⁻ᴴ
            Winv.append(as_factor(U.conj().T / r[None, :], j))  # UᴴR⁻¹: W⁻¹
            offset += (N // len(dg)) * float(np.sum(np.log(dg)))
        return KronEigen(
            KronEigenvalues(vals, "product", self.sigma),
            KronOperator._from_factors(W),
            KronOperator._from_factors(Winv),
            hermitian=True,
            real=K.dtype.kind != "c" and np.isrealobj(self.sigma),
            dtype=self.dtype,
            det_offset=(1.0, offset),
        )

    def inv(self):
        """The inverse as a lazy operator.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> A = np.array([[2.0, 1.0], [1.0, 2.0]])
        >>> S = KronOperator(A, A).shift(0.5)
        >>> x = np.arange(4.0)
        >>> bool(np.allclose(S.inv() @ (S @ x), x))
        True
        """
        return super().inv()

    def _eigen_of_shift(self, method: str) -> KronEigen:
        if self.diagonals is not None:
            raise ValueError(
                f"{method}() is offered for K + σI, not for K + σD (D is not the "
                "identity, so K's eigenvectors are not A's); use decomposition()"
            )
        return getattr(self.kron, method)().shift(self.sigma)

    def eig(self) -> KronEigen:
        """Eigendecomposition of ``K + σI``: K's, with every eigenvalue shifted by σ.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> A = KronOperator(np.array([[2.0, 1.0], [0.0, 3.0]]), np.eye(2)).shift(1.0)
        >>> np.sort(A.eig().eigvals().real)
        array([3., 3., 4., 4.])
        """
        return self._eigen_of_shift("eig")

    def eigh(self) -> KronEigen:
        """Eigendecomposition of ``K + σI`` for Hermitian factors (real σ).

        Raises ``ValueError`` (naming the factor) when a factor is not Hermitian.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> A = KronOperator(np.diag([1.0, 2.0]), np.diag([1.0, 3.0])).shift(0.5)
        >>> np.sort(A.eigh().eigvals())
        array([1.5, 2.5, 3.5, 6.5])
        """
        return self._eigen_of_shift("eigh")

    def eigvals(self, k: int | None = None, which: str = "LA") -> np.ndarray:
        """Eigenvalues of ``K + σI`` (all, or k extreme ones); not offered for K + σD.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> A = np.array([[2.0, 1.0], [1.0, 2.0]])  # eigenvalues 1 and 3
        >>> S = KronOperator(A, A).shift(0.5)
        >>> print(S.eigvals())
        [1.5 3.5 3.5 9.5]
        >>> print(S.eigvals(2, "SA"))
        [1.5 3.5]
        """
        if self.diagonals is not None:
            raise ValueError("eigvals() is offered for K + σI, not for K + σD")
        return self.decomposition().eigvals(k, which)


def _diagonal_factors(op: KronOperator) -> list[np.ndarray] | None:
    """The factor diagonals if ``op`` is a KronOperator of square diagonal factors."""
    out = [f.diagonal_only() for f in op._factors]
    return None if any(d is None for d in out) else out


def _square(K: KronOperator) -> bool:
    return all(f.shape[0] == f.shape[1] for f in K._factors)


def _kron_plus_identity(K: KronOperator, eye: _rules.ScaledIdentity):
    if not _square(K):
        return NotImplemented
    return KronPlusDiagonal(K, eye.sigma)


def _kron_plus_kron_diagonal(K: KronOperator, D: KronOperator):
    if not _square(K):
        return NotImplemented
    diags = _diagonal_factors(D)
    if diags is None or len(diags) != len(K._factors):
        return NotImplemented
    if any(len(dg) != f.shape[0] for dg, f in zip(diags, K._factors, strict=True)):
        return NotImplemented
    if any(np.iscomplexobj(dg) or not np.all(dg > 0) for dg in diags):
        # the congruence needs positive diagonals; the general two-term sum
        # (KronProductSum) takes the others
        return NotImplemented
    if not all(f.has_entries and f.is_hermitian() for f in K._work):
        # ... and Hermitian factors; KronProductSum solves non-Hermitian K + D
        return NotImplemented
    return KronPlusDiagonal(K, 1.0, diags)


_rules.register_add(KronOperator, _rules.ScaledIdentity, _kron_plus_identity)
_rules.register_add(KronOperator, KronOperator, _kron_plus_kron_diagonal, priority=10)
