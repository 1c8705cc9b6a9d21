r"""Entries and norms of a Kronecker sum, from its factors.

For S = σI + Σⱼ I⊗…⊗Aⱼ⊗…⊗I (optionally with mass matrices in place of the
identities), the trace, the diagonal, the Frobenius, 1 and ∞ norms and, for normal
factors, the 2-norm and condition number follow from the factors in O(Σnⱼ²) or
O(N); nothing N×N is formed. Each function takes the sum's factors, its mass
matrices (``None`` or a tuple with ``None`` for identities) and its shift.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.sparse.linalg import svds

from . import _engine
from ._factor import Factor
from .decomposition import KronEigenvalues

__all__ = ["abs_sum_max", "diagonal", "extreme_abs", "fro", "svd_extreme", "trace"]


def _eye_or(m: Factor | None, n: int, method: str):
    """(diagonal, trace) of a mass matrix, the identity's for None."""
    if m is None:
        return np.ones(n), n
    d = m.diagonal_entries(method)
    return d, d.sum()


def trace(factors: list[Factor], mass, shift):
    """tr S = Σⱼ (N/nⱼ) tr Aⱼ + Nσ; with mass Σⱼ tr Kⱼ ∏_{i≠j} tr Mᵢ + σ ∏ tr Mᵢ."""
    d = len(factors)
    ns = [f.shape[0] for f in factors]
    tr = [f.diagonal_entries("trace").sum() for f in factors]
    if mass is None:
        N = math.prod(ns)
        total = sum((N // n) * t for n, t in zip(ns, tr, strict=True)) + N * shift
    else:
        trm = [_eye_or(mass[j], ns[j], "trace")[1] for j in range(d)]
        total = sum(
            tr[j] * math.prod(trm[i] for i in range(d) if i != j) for j in range(d)
        ) + shift * math.prod(trm)
    return total.item() if isinstance(total, np.generic) else total


def diagonal(factors: list[Factor], mass, shift, dtype) -> np.ndarray:
    """All sums of the factor diagonals (+σ), ``np.kron`` order (products with mass)."""
    d = len(factors)
    diags = [f.diagonal_entries("diagonal") for f in factors]
    if mass is None:
        out = _engine.kron_values(diags, "sum", shift)
        return out.astype(dtype, copy=False)
    dm = [_eye_or(mass[j], len(diags[j]), "diagonal")[0] for j in range(d)]
    terms = [(shift, dm)] if shift != 0 else []
    for j in range(d):
        vs = list(dm)
        vs[j] = diags[j]
        terms.append((1, vs))
    work = np.result_type(dtype, *diags, *dm)
    return _engine.kron_terms(terms, work).astype(dtype, copy=False)


def fro(factors: list[Factor], mass, shift) -> float:
    r"""‖S‖_F, without cancellation when there is no mass matrix.

    Off the diagonal the terms I⊗…⊗Aⱼ⊗…⊗I never overlap, and on it the sums of the
    factors' diagonals dⱼ = μⱼ + eⱼ (mean μⱼ, Σeⱼ = 0) have no cross terms, so

    .. math:: \|S\|_F^2 = \sum_j \frac{N}{n_j}\big(\|A_j - D_j\|_F^2
              + \|e_j\|^2\big) + N\,|\sigma + \textstyle\sum_j \mu_j|^2 .

    With mass matrices it is the Gram sum Σ_{a,b} ∏ₖ ⟨F_{a,k}, F_{b,k}⟩ over the
    terms ⊗ₖF_{a,k}.
    """
    ns = [f.shape[0] for f in factors]
    N = math.prod(ns)
    if mass is None:
        total = 0.0
        c: complex = complex(shift)
        for f, n in zip(factors, ns, strict=True):
            f.require_entries("norm")
            dg = f.diagonal_entries("norm").astype(np.complex128)
            if f.stored_sparse:
                coo = f.matrix.tocoo()
                off = coo.row != coo.col
                off2 = float(np.sum(np.abs(coo.data[off]) ** 2))
            else:
                a = f.toarray()
                off2 = max(float(np.sum(np.abs(a) ** 2) - np.sum(np.abs(dg) ** 2)), 0.0)
            mu = dg.mean()
            e2 = float(np.sum(np.abs(dg - mu) ** 2))
            total += (N / n) * (off2 + e2)
            c += mu
        total += N * abs(c) ** 2
        return math.sqrt(total)
    d = len(factors)
    dense_m = [None if mass[j] is None else mass[j].dense("norm") for j in range(d)]
    terms = []
    for j, f in enumerate(factors):
        mats = list(dense_m)
        mats[j] = f.dense("norm")
        terms.append((1.0, mats))
    if shift != 0:
        terms.append((complex(shift), list(dense_m)))

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
                prod = prod * inner(fa[k], fb[k], ns[k])
            total += float(np.real(prod))
    return math.sqrt(max(total, 0.0))


def abs_sum_max(factors: list[Factor], shift, axis: int) -> float:
    """max over columns (axis 0: the 1-norm) or rows (axis 1: ∞) of |S|'s sums.

    |σ + Σⱼ dⱼ[cⱼ]| + Σⱼ (off-diagonal absolute sum of column cⱼ of Aⱼ), maximised
    over the grid one slab of axis 0 at a time.
    """
    ds, os = [], []
    for f in factors:
        f.require_entries("norm")
        dg = f.diagonal_entries("norm")
        if f.stored_sparse:
            tot = np.asarray(abs(f.matrix).sum(axis=axis)).ravel()
        else:
            tot = np.abs(f.toarray()).sum(axis=axis)
        ds.append(dg.astype(np.complex128))
        os.append(tot - np.abs(dg))
    return _engine.outer_abs_sum_max(ds, os, complex(shift))


def extreme_abs(factors: list[Factor], shift) -> tuple[float, float]:
    """(max |λ|, min |λ|) over the eigenvalues of a sum of normal factors."""
    vals = [f.eigenvalues("norm") for f in factors]
    if all(np.isrealobj(w) for w in vals) and np.imag(shift) == 0:
        s = float(np.real(shift))
        lo = sum(float(np.min(w)) for w in vals) + s
        hi = sum(float(np.max(w)) for w in vals) + s
        if lo > 0:
            return hi, lo
        if hi < 0:
            return -lo, -hi
    return _engine.abs_extremes(KronEigenvalues(vals, "sum", shift).full())


def svd_extreme(S) -> tuple[float, float]:
    """(σ_max, σ_min) of a non-normal sum, by Lanczos on S and on S⁻¹."""
    if S.shape[0] <= 2:
        s = np.linalg.svd(S.toarray(), compute_uv=False)
        return float(s[0]), float(s[-1])
    rng = np.random.default_rng(0)
    v0 = rng.standard_normal(S.shape[0])
    smax = svds(S, k=1, tol=0, return_singular_vectors=False, v0=v0)[0]
    try:
        inv = S.inv()
    except np.linalg.LinAlgError:
        return float(smax), 0.0
    smax_inv = svds(inv, k=1, tol=0, return_singular_vectors=False, v0=v0)[0]
    return float(smax), float(1.0 / smax_inv)
