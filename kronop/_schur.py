r"""Solving a Kronecker sum through its factors' Schur forms (Bartels–Stewart).

With Aⱼ = ZⱼTⱼZⱼᴴ (Tⱼ upper triangular, Zⱼ unitary), the sum is
S = Z (T₁⊕…⊕T_d + σI) Zᴴ with Z = ⊗Zⱼ, so a solve is two Kronecker products around
a triangular tensor back substitution. Unlike diagonalization this stays backward
stable whatever the eigenvectors' condition (Jordan blocks included). For d ≤ 2
with real factors the real (quasi-triangular) Schur forms and LAPACK ``trsyl`` are
used, as ``scipy.linalg.solve_sylvester`` does; otherwise complex Schur forms and a
recursion over the leading axes down to 2-D triangular Sylvester equations.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.linalg import LinAlgWarning

from . import _engine
from ._base import Factorization
from ._factor import Factor, as_factor
from .decomposition import KronEigenvalues, SolveOperator, sign_like
from .kron import KronOperator

__all__ = ["SchurFactorization", "schur_eigvals"]


def schur_eigvals(T: np.ndarray) -> np.ndarray:
    """Eigenvalues of a (quasi-)triangular Schur form, from its diagonal blocks."""
    w = np.diagonal(T).astype(np.result_type(T.dtype, np.complex64))
    if np.isrealobj(T) and T.shape[0] > 1:
        for i in np.flatnonzero(np.diagonal(T, -1)).tolist():
            a, b, c, d = T[i, i], T[i, i + 1], T[i + 1, i], T[i + 1, i + 1]
            mean, disc = (a + d) / 2, np.sqrt(complex(((a - d) / 2) ** 2 + b * c))
            w[i], w[i + 1] = mean + disc, mean - disc
    return w if np.iscomplexobj(T) or np.any(w.imag) else w.real


def _schur_forms(factors, axes, real: bool) -> dict:
    """``{j: (Tⱼ, Zⱼ)}``, one Schur decomposition per distinct factor.

    A factor equal to another, or to its conjugate (the Lyapunov equation
    AX + XAᴴ = Q is the sum A ⊕ Ā), reuses its form: conj(A) = Z̄ T̄ Zᵀ.
    """
    parts: dict = {}
    for j in axes:
        f = factors[j]
        got = None
        for i, (T, Z) in parts.items():
            g = factors[i]
            if g.shape != f.shape or not isinstance(f.matrix, np.ndarray):
                continue
            if not isinstance(g.matrix, np.ndarray):
                continue
            if f.matrix is g.matrix or np.array_equal(f.matrix, g.matrix):
                got = (T, Z)
            elif np.array_equal(f.matrix, np.conj(g.matrix)):
                got = (T, Z) if real else (T.conj(), Z.conj())
            if got is not None:
                break
        parts[j] = got if got is not None else f.schur(real)
    return parts


class SchurFactorization(Factorization):
    """S = Z (T₁⊕…⊕T_d + σI) Zᴴ for a Kronecker sum of square factors.

    Parameters
    ----------
    factors : sequence of Factor
        The square factors Aⱼ (their Schur forms are cached on them).
    shift : scalar
        σ.
    dtype : numpy.dtype
        The sum's dtype.
    """

    def __init__(self, factors: list[Factor], shift, dtype) -> None:
        self.factors = tuple(factors)
        self.shift = shift
        self.dtype = np.dtype(dtype)
        # an identity factor adds 1 to every eigenvalue and acts on nothing: its
        # axis rides along as a batch axis, never densified
        self.axes = [j for j, f in enumerate(self.factors) if not f.is_identity]
        active = [self.factors[j] for j in self.axes]
        self.real = len(active) <= 2 and self.dtype.kind == "f" and np.imag(shift) == 0
        parts = _schur_forms(self.factors, self.axes, self.real)
        self.Ts = [parts[j][0] for j in self.axes]
        self.Z = KronOperator._from_factors(
            [
                as_factor(parts[j][1], j) if j in parts else f
                for j, f in enumerate(factors)
            ]
        )
        spectra = []
        for j, f in enumerate(self.factors):
            if j not in parts:
                spectra.append(np.ones(f.shape[0]))
            elif f.is_hermitian():  # its Schur diagonal is real up to rounding
                spectra.append(schur_eigvals(parts[j][0]).real)
            else:
                spectra.append(schur_eigvals(parts[j][0]))
        exact = [j not in parts for j in range(len(self.factors))]
        self.values = KronEigenvalues(spectra, "sum", shift, exact)
        self.shape = (self.Z.shape[0], self.Z.shape[0])
        self._singular: bool | None = None

    def grid(self) -> tuple[int, ...]:
        """The tensor shape of a right-hand side, ``(n₁, …, n_d)``."""
        return tuple(f.shape[0] for f in self.factors)

    def __repr__(self) -> str:
        return f"SchurFactorization({len(self.factors)} factors, shift={self.shift})"

    def is_singular(self) -> bool:
        """Whether an eigenvalue sum is zero to working precision."""
        if self._singular is None:
            w, tol = self.values.full(), self.values.null_tolerance()
            self._singular = _engine.any_null(w, tol)
        return self._singular

    def _check(self, what: str = "") -> None:
        if self.is_singular():
            raise np.linalg.LinAlgError(
                f"{what}the Kronecker sum is singular: an eigenvalue sum is zero to "
                "working precision"
            )

    def solve(self, b: np.ndarray) -> np.ndarray:
        """x = Z (T + σ)⁻¹ Zᴴ b by triangular back substitution."""
        self._check()
        if self.real and np.iscomplexobj(b):
            # the real Schur path (LAPACK's real trsyl) is a real operator: solve
            # the real and imaginary parts separately
            x = self.solve(b.real) + 1j * self.solve(b.imag)
            return _engine.finish(x, _engine.compute_dtype(self.dtype, b.dtype))
        work = self.Ts[0].dtype if self.Ts else np.result_type(self.dtype, 1.0)
        y = self.Z.H @ _engine.cast(b, np.result_type(work, b.dtype))
        K = 1 if y.ndim == 1 else y.shape[1]
        Y = y.reshape(*(f.shape[0] for f in self.factors), K)
        idle = len(self.factors) - len(self.axes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LinAlgWarning)
            X = _engine.tri_solve(self.Ts, Y, self.shift + idle, axes=self.axes)
        x = self.Z @ X.reshape(y.shape)
        return _engine.finish(x, _engine.compute_dtype(self.dtype, b.dtype))

    def inverse_operator(self) -> SolveOperator:
        """S⁻¹ as a lazy operator whose products are Schur solves."""
        self._check("inv(): ")
        return SolveOperator(self, self.shape, _engine.compute_dtype(self.dtype))

    def adjoint(self) -> SchurFactorization:
        """The Schur factorization of Sᴴ."""
        return SchurFactorization(
            [f.adjoint() for f in self.factors], np.conj(self.shift), self.dtype
        )

    def transpose(self) -> SchurFactorization:
        """The Schur factorization of Sᵀ."""
        return SchurFactorization(
            [f.transpose() for f in self.factors], self.shift, self.dtype
        )

    def slogdet(self) -> tuple:
        """``(sign, log|det S|)`` from the eigenvalue sums (the Schur diagonals)."""
        sign, logabs = self.values.slog_sum()
        if sign == 0:
            return 0.0, -np.inf
        real = self.dtype.kind != "c" and np.isrealobj(self.shift)
        return sign_like(sign, real, self.dtype), logabs
