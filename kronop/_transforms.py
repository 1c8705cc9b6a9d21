"""Orthonormal fast transforms applied along one axis of an array.

These are the eigenbases of the 1-D second-difference matrices (see
:class:`kronop.gallery.StencilSpectrum`), applied in O(n log n) by ``scipy.fft``
instead of an n×n GEMM:

==================  =====================================================
name                the matrix applied along the axis
==================  =====================================================
``"dst1"``          the orthonormal DST-I basis V (symmetric: V = Vᵀ)
``"dct2"``          Vᵀ of the Neumann basis (orthonormal DCT-II)
``"idct2"``         V of the Neumann basis (its inverse, DCT-III)
``"rfft"``          Vᵀ of the real periodic basis (packed real FFT)
``"irfft"``         V of the real periodic basis
==================  =====================================================

The real periodic basis is ordered 1/√n, then √(2/n)·cos(2πki/n),
√(2/n)·sin(2πki/n) for k = 1, 2, …, and (−1)ⁱ/√n last when n is even.

Each function returns a new array and never writes into its input. A transform
of a length-1 axis is the 1×1 identity.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft

__all__ = ["TRANSPOSE", "apply_transform"]

#: the transform whose matrix is the transpose of each (all are real orthogonal,
#: so the transpose is also the inverse and, up to conjugation, the adjoint)
TRANSPOSE = {
    "dst1": "dst1",
    "dct2": "idct2",
    "idct2": "dct2",
    "rfft": "irfft",
    "irfft": "rfft",
}


def apply_transform(name: str, x: np.ndarray, axis: int) -> np.ndarray:
    """The transform ``name`` applied along ``axis`` of ``x`` (a new array)."""
    n = x.shape[axis]
    if n == 1:
        return np.array(x, copy=True)
    if name == "dst1":
        return scipy.fft.dst(x, type=1, axis=axis, norm="ortho")
    if name == "dct2":
        return scipy.fft.dct(x, type=2, axis=axis, norm="ortho")
    if name == "idct2":
        return scipy.fft.idct(x, type=2, axis=axis, norm="ortho")
    if name == "rfft":
        return _real_parts(x, axis, _rfft_pack)
    if name == "irfft":
        return _real_parts(x, axis, _rfft_unpack)
    raise ValueError(f"unknown transform {name!r}")


def _real_parts(x: np.ndarray, axis: int, fn) -> np.ndarray:
    # the basis is real: a complex input is two real transforms
    if np.iscomplexobj(x):
        re = fn(np.ascontiguousarray(x.real), axis)
        im = fn(np.ascontiguousarray(x.imag), axis)
        return re + 1j * im
    return fn(x, axis)


def _rfft_pack(x: np.ndarray, axis: int) -> np.ndarray:
    n = x.shape[axis]
    r = np.moveaxis(scipy.fft.rfft(x, axis=axis), axis, 0)
    out = np.empty((n, *r.shape[1:]), dtype=r.real.dtype)
    out[0] = r[0].real / math.sqrt(n)
    m = (n - 1) // 2
    s = math.sqrt(2 / n)
    out[1 : 2 * m : 2] = s * r[1 : m + 1].real
    out[2 : 2 * m + 1 : 2] = -s * r[1 : m + 1].imag
    if n % 2 == 0:
        out[n - 1] = r[n // 2].real / math.sqrt(n)
    return np.moveaxis(out, 0, axis)


def _rfft_unpack(c: np.ndarray, axis: int) -> np.ndarray:
    n = c.shape[axis]
    c = np.moveaxis(c, axis, 0)
    r = np.zeros((n // 2 + 1, *c.shape[1:]), dtype=np.result_type(c, 1j))
    r[0] = c[0] * math.sqrt(n)
    m = (n - 1) // 2
    s = math.sqrt(n / 2)
    r[1 : m + 1] = s * (c[1 : 2 * m : 2] - 1j * c[2 : 2 * m + 1 : 2])
    if n % 2 == 0:
        r[n // 2] = c[n - 1] * math.sqrt(n)
    return np.moveaxis(scipy.fft.irfft(r, n=n, axis=0), 0, axis)
