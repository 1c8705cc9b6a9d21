"""The fused backend: numpy arrays, with compiled kernels where they beat BLAS passes.

Every function of :mod:`.numpy_kernels` is available here unchanged; the doors
whose work can be fused override it and fall back to the numpy kernel whenever
the fused kernel does not apply (its ``apply_*`` returns None):

* :func:`apply_sum` — a Kronecker sum of banded factors as one pass over memory
  (:mod:`.fused_stencil`);
* :func:`apply_terms` — a sum of Kronecker products of banded factors (a
  Kronecker sum with mass matrices) likewise;
* :func:`apply_product` — products with small and middle factors, several modes
  per pass on cache-sized blocks (:mod:`.fused_product`);
* :func:`apply_spectral` — V·diag(w)·V⁻¹ with the scaling folded into a pass.

:func:`kronop._engine.kernels_for` chooses this module for numpy arrays when
:func:`kronop._engine.jit.enabled`.
"""

from __future__ import annotations

from . import fused_product, fused_stencil
from . import numpy_kernels as _reference

__all__ = ["apply_product", "apply_spectral", "apply_sum", "apply_terms"]


def __getattr__(name: str):
    # every other door is the numpy kernel itself
    return getattr(_reference, name)


def apply_sum(factors, shift, x, cache, dtype):
    """(σI + A₁⊕…⊕A_d) x: fused when every factor is banded (see numpy_kernels)."""
    y = fused_stencil.apply_sum(factors, shift, x, cache, dtype)
    if y is None:
        y = _reference.apply_sum(factors, shift, x, cache, dtype)
    return y


def apply_terms(terms, x, cache, dtype):
    """Σᵣ cᵣ·(⊗ factors of term r) x: fused when every factor is banded."""
    y = fused_stencil.apply_terms(terms, x, cache, dtype)
    if y is None:
        y = _reference.apply_terms(terms, x, cache, dtype)
    return y


def apply_product(factors, x, cache, dtype=None):
    """(A₁⊗…⊗A_d) x: fused passes for small and middle dense factors."""
    y = fused_product.apply_product(factors, x, cache, dtype)
    if y is None:
        y = _reference.apply_product(factors, x, cache, dtype)
    return y


def apply_spectral(inverse, weights, vectors, x, cache, dtype):
    """(⊗ vectors)·diag(weights)·(⊗ inverse) x, the scaling folded into a pass."""
    y = fused_product.apply_spectral(inverse, weights, vectors, x, cache, dtype)
    if y is None:
        y = _reference.apply_spectral(inverse, weights, vectors, x, cache, dtype)
    return y
