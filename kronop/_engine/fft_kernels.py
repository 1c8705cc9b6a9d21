"""FFT kernels (numpy/scipy.fft backend) for block-circulant products.

A block-circulant operator is diagonalized by the DFT along its level axes; a
product is an FFT of the input over those axes, one small product per frequency
(one batched matmul, or a broadcast multiply for scalar blocks), and the inverse
FFT. Real operators work on the half spectrum.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft as sfft

__all__ = ["frequency_product", "through_spectrum"]


def through_spectrum(x, levels, n_in, n_out, real_op: bool, dtype, multiply):
    """FFT over the level axes, ``multiply`` per frequency, inverse FFT.

    ``x`` is (B, L·n_in, K); the result (B, L·n_out, K) in ``dtype``. A real
    operator works on the half spectrum (``rfftn``); a complex input then travels
    as its real and imaginary parts side by side (a view, no copy), since a real
    operator maps them separately. With scalar blocks (a kernel) the singleton
    block axis, and a single column, are dropped: the FFTs run on the plain grid.
    """
    B, _, K = x.shape
    d = len(levels)
    L = math.prod(levels)
    axes = tuple(range(1, d + 1))
    scalar = n_in == 1 and n_out == 1

    def grid(cols: int, n: int) -> tuple[int, ...]:
        if scalar:
            return (B, *levels) if cols == 1 else (B, *levels, cols)
        return (B, *levels, n, cols)

    if real_op:
        rdt = np.dtype(np.dtype(dtype).type(0).real.dtype)
        if dtype.kind == "c":
            xr = np.ascontiguousarray(x, dtype=dtype).view(rdt)
        else:
            xr = x.astype(rdt, copy=False)
        cols = xr.shape[-1]
        xr = xr.reshape(grid(cols, n_in))
        if d == 1:  # the 1-D transforms skip the n-D machinery's copies
            y = sfft.irfft(multiply(sfft.rfft(xr, axis=1)), n=L, axis=1)
        else:
            y = sfft.irfftn(multiply(sfft.rfftn(xr, axes=axes)), s=levels, axes=axes)
        y = y.reshape(B, L * n_out, cols)
        if dtype.kind == "c":
            y = np.ascontiguousarray(y).view(dtype)
        return y
    xc = x.astype(dtype, copy=False).reshape(grid(K, n_in))
    if d == 1:
        y = sfft.ifft(multiply(sfft.fft(xc, axis=1)), axis=1)
    else:
        y = sfft.ifftn(multiply(sfft.fftn(xc, axes=axes)), axes=axes)
    return y.reshape(B, L * n_out, K)


def frequency_product(S: np.ndarray):
    """Multiply every frequency of X̂ by its block of S (one batched matmul)."""
    if S.shape[-2:] == (1, 1):  # scalar frequency blocks: a broadcast product
        s = S[..., 0, 0]

        def multiply(X):
            X *= s if X.ndim == s.ndim + 1 else s[..., None]
            return X

        return multiply
    return lambda X: np.matmul(S, X)
