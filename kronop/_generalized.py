r"""Per-axis generalized eigenproblems: Kronecker sums with mass matrices.

The tensor-product finite-element (or spectral) stiffness matrix
S = Σⱼ M₁⊗…⊗Mⱼ₋₁⊗Kⱼ⊗Mⱼ₊₁⊗…⊗M_d + σ M₁⊗…⊗M_d is diagonalized axis by axis
(Lynch, Rice and Thomas 1964): with the generalized factor eigenproblems
Kⱼ Vⱼ = Mⱼ Vⱼ Λⱼ,

.. math:: S = (\otimes_j M_j V_j)\,(\Lambda_1 \oplus \cdots \oplus \Lambda_d
          + \sigma I)\,(\otimes_j V_j^{-1}),

so S⁻¹ = V (Λ+σ)⁻¹ W with V = ⊗Vⱼ and W = ⊗(MⱼVⱼ)⁻¹, and
det S = ∏(λᵢ+σ) · ∏ⱼ det(Mⱼ)^(N/nⱼ). For Hermitian Kⱼ and Hermitian positive
definite Mⱼ, ``scipy.linalg.eigh(K, M)`` gives VⱼᴴMⱼVⱼ = I, so W = Vᴴ.
The same per-axis problems solve a two-term sum A⊗B + C⊗D with one positive
definite term.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import scipy.linalg as sla

from ._factor import Factor, as_factor
from .decomposition import KronEigen, KronEigenvalues, unit_power
from .kron import KronOperator

__all__ = [
    "AxisPencil",
    "axis_pencil",
    "generalized_eigen",
    "generalized_solver",
    "pencils",
]


class AxisPencil(NamedTuple):
    """The generalized eigenproblem K V = M V Λ of one axis."""

    values: np.ndarray
    #: V
    vectors: Factor
    #: W = (M V)⁻¹ (Vᴴ when Vᴴ M V = I)
    left: Factor
    #: V⁻¹
    inverse: Factor
    #: (sign, log|det M|)
    mass_slogdet: tuple


def axis_pencil(K: Factor, M: Factor | None, j: int) -> AxisPencil:
    """The generalized eigenpairs of (K, M) on axis j (M None: the identity)."""
    if M is None:
        e = K.eigen("solve")
        return AxisPencil(e.values, e.vectors, e.inverse, e.inverse, (1.0, 0.0))
    Kd = K.dense("solve")
    Md = M.dense("solve")
    sign, logabs = M.slogdet()
    if sign == 0:
        raise np.linalg.LinAlgError(
            f"mass matrix {j} ({M.shape[0]}×{M.shape[0]}) is singular"
        )
    if K.is_hermitian() and M.is_hermitian() and M.cholesky() is not None:
        w, V = sla.eigh(Kd, Md)
        W = V.conj().T
        Vinv = W @ Md
    else:
        w, V = sla.eig(Kd, Md)
        W = np.linalg.inv(Md @ V)
        Vinv = np.linalg.inv(V)
    return AxisPencil(
        w, as_factor(V, j), as_factor(W, j), as_factor(Vinv, j), (sign, logabs)
    )


def pencils(factors, masses) -> list[AxisPencil]:
    """The pencil of every axis (``masses`` entries None for identities)."""
    return [
        axis_pencil(f, m, j)
        for j, (f, m) in enumerate(zip(factors, masses, strict=True))
    ]


def generalized_solver(
    pencils,
    shift,
    dtype,
    hermitian: bool,
    combine: str = "sum",
    vector_cond: float = 1.0,
) -> KronEigen:
    """S = W⁻¹ (Λ + σ) V⁻¹ packed as a ``KronEigen`` whose ``solve`` solves with S.

    ``combine`` is how the axis eigenvalues meet: ``"sum"`` for a Kronecker sum with
    mass matrices, ``"product"`` for a two-term sum ⊗Aⱼ + σ⊗Mⱼ (Λ = ⊗Λⱼ).
    ``vector_cond`` is κ(V) for the eigenvector policy of :class:`KronEigen`.
    """
    ns = [len(p.values) for p in pencils]
    N = math.prod(ns)
    sign: complex | float = 1.0
    logabs = 0.0
    for n, p in zip(ns, pencils, strict=True):
        s_m, l_m = p.mass_slogdet
        e = N // n
        sign = sign * unit_power(s_m, e)
        logabs += e * l_m
    return KronEigen(
        KronEigenvalues([p.values for p in pencils], combine, shift),
        KronOperator._from_factors([p.vectors for p in pencils]),
        KronOperator._from_factors([p.left for p in pencils]),
        hermitian=hermitian,
        vector_cond=vector_cond,
        real=np.dtype(dtype).kind != "c",
        unitary=False,
        dtype=dtype,
        det_offset=(sign, logabs),
    )


def generalized_eigen(pencils, shift, dtype) -> KronEigen:
    """The eigendecomposition of M⁻¹S: V = ⊗Vⱼ, V⁻¹ = ⊗Vⱼ⁻¹, sums of the λⱼ."""
    return KronEigen(
        KronEigenvalues([p.values for p in pencils], "sum", shift),
        KronOperator._from_factors([p.vectors for p in pencils]),
        KronOperator._from_factors([p.inverse for p in pencils]),
        hermitian=False,
        real=np.dtype(dtype).kind != "c",
        unitary=False,
        dtype=dtype,
    )
