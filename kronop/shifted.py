r"""Kronecker products plus a scaled identity or Kronecker diagonal: the GP workhorse.

``K + σI`` and, more generally, ``K + σD`` with ``D = D₁⊗…⊗D_d`` a Kronecker product
of positive diagonals, solved and log-determined exactly from the factors.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from scipy.sparse.linalg import LinearOperator

from . import _factor as fct
from ._algebra import ScalarAlgebra, StackedMatvec, check_rhs
from .decomposition import KronEigen, KronEigenvalues

__all__ = ["KronPlusDiagonal"]


def scaled_identity(op) -> complex | float | None:
    """σ if ``op`` is scipy's ``IdentityOperator`` or a scalar multiple of it."""
    name = type(op).__name__
    if name == "IdentityOperator":
        return 1.0
    if (
        name in ("MatrixLinearOperator", "_AdjointMatrixOperator")
        and len(op.shape) == 2
    ):
        try:
            f = fct.as_factor(op.A, 0)
        except (TypeError, ValueError):
            return None
        return 1.0 if f.kind == fct.IDENTITY else None
    if name == "_ScaledLinearOperator":
        inner, alpha = op.args
        inner_sigma = scaled_identity(inner)
        if inner_sigma is not None:
            return alpha * inner_sigma
    return None


def diagonal_kron_factors(op) -> list[np.ndarray] | None:
    """The factor diagonals if ``op`` is a KronOperator of diagonal factors."""
    out = []
    for f in op._factors:
        if f.kind == fct.LINOP or f.shape[0] != f.shape[1]:
            return None
        if f.kind in (fct.SPARSE, fct.IDENTITY):
            a = f.matrix
            if a.nnz and np.any(a.tocoo().row != a.tocoo().col):
                return None
            out.append(np.asarray(a.diagonal()))
        else:
            a = f.matrix
            d = np.diagonal(a)
            if np.count_nonzero(a) != np.count_nonzero(d):
                return None
            out.append(np.array(d))
    return out


class KronPlusDiagonal(ScalarAlgebra, StackedMatvec, LinearOperator):
    r"""A = K + σ·D with K = ⊗Aⱼ and D = ⊗Dⱼ a Kronecker product of diagonals.

    ``D`` defaults to the identity (``K + σI``). Usually built as ``K + sigma * I``
    (``I = kronop.IdentityOperator(K.shape)``, which is scipy's own class, or
    ``aslinearoperator(scipy.sparse.eye_array(N))``), ``K.shift(sigma)``, or
    ``K + KronOperator(diag(d₁), …)``. Put K on the left: ``I + K`` is scipy's
    plain lazy sum.

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

    def __init__(self, kron, sigma, diagonals=None) -> None:
        for f in kron._factors:
            fct.require_square(f, "K + σD")
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
        from .kron import KronOperator

        if diagonals is None:
            self._D = None
        else:
            self._D = KronOperator(*(sp.diags_array(dg).tocsr() for dg in diagonals))
        # NumPy's weak-scalar rule: a Python float keeps a float32 K in float32
        dtype = np.result_type(kron.dtype, sigma)
        if self._D is not None:
            dtype = np.result_type(dtype, self._D.dtype)
        super().__init__(dtype=dtype, shape=kron.shape)
        self._dec: KronEigen | None = None
        self._offset = 0.0

    def __repr__(self) -> str:
        d = "I" if self.diagonals is None else "D"
        return f"KronPlusDiagonal({self.kron!r} + {self.sigma}·{d})"

    def _scaled(self, alpha) -> KronPlusDiagonal:
        """α(K + σD) = (αK) + (ασ)D, still structured."""
        return KronPlusDiagonal(
            self.kron._scaled(alpha), alpha * self.sigma, self.diagonals
        )

    def _matmat(self, X):
        # (N, K), or stacked (..., N, K) on scipy 1.18: KronOperator handles both
        if sp.issparse(X):
            X = X.toarray()
        X = np.asarray(X)
        Y = self.kron._matmat(X)
        Z = self.sigma * (X if self._D is None else self._D._matmat(X))
        if np.result_type(Y, Z) == Y.dtype and Y.flags.writeable:
            Y += Z
            return Y
        return Y + Z

    def _adjoint(self):
        diags = None if self.diagonals is None else [np.conj(d) for d in self.diagonals]
        return KronPlusDiagonal(self.kron.H, self.sigma.conjugate(), diags)

    def _transpose(self):
        return KronPlusDiagonal(self.kron.T, self.sigma, self.diagonals)

    def toarray(self) -> np.ndarray:
        """The dense matrix (for checking)."""
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
        """
        if self._dec is None:
            K = self.kron
            if self.diagonals is None:
                base = K.eigh() if K._hermitian() else K.eig()
                self._dec = base.shift(self.sigma)
            else:
                self._dec, self._offset = self._congruence()
        return self._dec

    def _congruence(self):
        from .kron import KronOperator

        K = self.kron
        N = K.shape[0]
        vals, W, Winv = [], [], []
        offset = 0.0
        for j, (f, dg) in enumerate(zip(K._factors, self.diagonals, strict=True)):
            a = fct.dense_matrix(f, "solve")
            if not fct.is_hermitian(f):
                raise ValueError(
                    f"K + σD needs Hermitian factors; {fct._name(f)} is not Hermitian"
                )
            if np.iscomplexobj(dg) or not np.all(dg > 0):
                raise ValueError(
                    f"K + σD needs positive diagonals; diagonal {j} is not"
                )
            r = np.sqrt(dg)
            w, U = np.linalg.eigh(a / np.outer(r, r))
            vals.append(w)
            W.append(fct.as_factor(U / r[:, None], j))  # R⁻¹U: W⁻ᴴ
            Winv.append(fct.as_factor(U.conj().T / r[None, :], j))  # UᴴR⁻¹: W⁻¹
            offset += (N // len(dg)) * float(np.sum(np.log(dg)))
        dec = KronEigen(
            KronEigenvalues(vals, "product", self.sigma),
            KronOperator._from_factors(W),
            KronOperator._from_factors(Winv),
            hermitian=True,
            real=K.dtype.kind != "c" and np.isrealobj(self.sigma),
        )
        return dec, offset

    def solve(self, b: ArrayLike) -> np.ndarray:
        """Solve ``(K + σD) x = b`` for b of shape (N,) or (N, k)."""
        b = check_rhs(b, self.shape[0])
        return self.decomposition().solve(b)

    def logdet(self):
        """log det(K + σD): float, or complex when the determinant is not positive."""
        ld = self.decomposition().logdet()
        return ld + self._offset

    def slogdet(self) -> tuple:
        """``(sign, log|det|)`` as ``numpy.linalg.slogdet``."""
        sign, logabs = self.decomposition().slogdet()
        return sign, logabs + self._offset

    def det(self):
        """The determinant (may overflow to inf)."""
        sign, logabs = self.slogdet()
        return sign * math.exp(logabs) if logabs < 709 else sign * np.inf

    def inv(self) -> LinearOperator:
        """The inverse as a lazy operator."""
        dec = self.decomposition()
        return dec.apply(lambda w: 1.0 / w)

    def eigvals(self, k: int | None = None, which: str = "LA") -> np.ndarray:
        """Eigenvalues of ``K + σI`` (all, or k extreme ones); not offered for K + σD."""
        if self.diagonals is not None:
            raise ValueError("eigvals() is offered for K + σI, not for K + σD")
        return self.decomposition().eigvals(k, which)
