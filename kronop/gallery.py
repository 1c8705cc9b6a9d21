r"""Operators of the tensor-grid gallery: the discrete Laplacian and its 1-D factors.

:func:`laplacian` builds −Δₕ on a tensor grid as a :class:`~kronop.KronSum` of 1-D
second differences. Its factors are sparse tridiagonal matrices that also carry
their *analytic* eigenpairs, so the Kronecker sum solves, log-determines and
diagonalizes without calling ``eigh``: the spectra are exact to rounding, and the
eigenbasis is applied either as a dense matrix (one GEMM per axis) or as a fast
transform (``scipy.fft`` DST-I, DCT-II or a real FFT), whichever measured faster
for the size.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from ._factor import Factor, TransformOperator, as_factor, transform_factor
from .kronsum import KronSum

__all__ = ["StencilSpectrum", "TransformOperator", "laplacian"]

_BCS = ("dirichlet", "neumann", "periodic")

#: an axis of at least this many points applies its eigenbasis by fast transform
#: rather than by GEMM. Measured on the project machine (2 cores, numpy/scipy's
#: OpenBLAS and pocketfft), one application along one axis of a 2·10⁶-element
#: tensor: GEMM beat ``dst(type=1)`` up to n = 512 (pocketfft's DST-I runs an FFT of
#: length 2(n+1), rarely a fast size) and lost at n = 1024 (23 ms against 10–16 ms);
#: ``dct(type=2)`` and ``rfft`` drew level with GEMM near n = 256 and were 3–5×
#: faster at n = 512. A 3-D 128³ Dirichlet solve by GEMM measured 3.4× faster than
#: one by ``dstn`` (48 against 162 ms, benchmarks/poisson_cases.py).
FAST_TRANSFORM_MIN_SIZE = {"dirichlet": 1024, "neumann": 512, "periodic": 512}


def _sin_pi(num: np.ndarray, den: int) -> np.ndarray:
    """sin(π·num/den) for integer ``num``, with the argument reduced exactly first."""
    r = np.mod(num, 2 * den)
    return np.sin(np.pi * (r / den))


def _cos_pi(num: np.ndarray, den: int) -> np.ndarray:
    """cos(π·num/den) for integer ``num``, with the argument reduced exactly first."""
    r = np.mod(num, 2 * den)
    return np.cos(np.pi * (r / den))


class StencilSpectrum:
    r"""The analytic eigenpairs of a 1-D second-difference matrix, times a scalar.

    The matrix is ``scale · T`` with T = tridiag(−1, 2, −1) and the boundary rows of
    ``bc``; its eigenvalues ``values`` are listed in the order of the columns of the
    real orthogonal eigenvector matrix V (ascending for a positive scale).

    Parameters
    ----------
    bc : {"dirichlet", "neumann", "periodic"}
    n : int
        Number of grid points.
    scale : scalar
        The factor multiplying the integer stencil (1/h² for spacing h).
    dtype : numpy.dtype
        dtype of the matrix (values and vectors are returned in it).

    Notes
    -----
    With k = 0, …, n−1 and points i = 0, …, n−1:

    * Dirichlet: λₖ = 4 sin²(π(k+1)/(2(n+1))), V[i,k] = √(2/(n+1)) sin(π(i+1)(k+1)/(n+1))
      (the orthonormal DST-I; Vᵀ = V).
    * Neumann: λₖ = 4 sin²(πk/(2n)), V[i,k] = cₖ cos(πk(2i+1)/(2n)), c₀ = √(1/n),
      cₖ = √(2/n) (Vᵀ is the orthonormal DCT-II).
    * Periodic: λ = 4 sin²(πk/n) for the real Fourier basis, ordered
      1/√n, then √(2/n) cos(2πki/n), √(2/n) sin(2πki/n) for k = 1, 2, …, and
      (−1)ⁱ/√n last when n is even (applied through ``rfft``).

    λ is computed in the 4 sin² form, which has no cancellation near zero, and every
    angle is reduced exactly in integers first, so the pairs are exact to rounding.
    For n = 1 the matrix is the 1×1 ``[[c]]`` that ``LaplacianNd`` builds (c = 2, 1, 1).
    """

    def __init__(self, bc: str, n: int, scale, dtype) -> None:
        self.bc = bc
        self.n = int(n)
        self.scale = scale
        self.dtype = np.dtype(dtype)
        self._vectors: dict[np.dtype, np.ndarray] = {}
        self._base_values = self._values()
        vals = self._base_values * scale
        real = bool(np.imag(scale) == 0)
        if real:
            vals = np.real(vals)
            vdtype = np.dtype(self.dtype.type(0).real.dtype)
        else:
            vdtype = np.result_type(self.dtype, np.complex64)
        self.values = np.asarray(vals, dtype=vdtype)
        self.values.setflags(write=False)
        #: whether the matrix is Hermitian (real symmetric times a real scale)
        self.hermitian = real

    # ------------------------------------------------------------ the spectrum
    def _values(self) -> np.ndarray:
        n = self.n
        if n == 1:
            return np.array([2.0 if self.bc == "dirichlet" else 1.0])
        k = np.arange(n)
        if self.bc == "dirichlet":
            return 4 * _sin_pi(k + 1, 2 * (n + 1)) ** 2
        if self.bc == "neumann":
            return 4 * _sin_pi(k, 2 * n) ** 2
        return 4 * _sin_pi(self._periodic_freq(), n) ** 2

    def _periodic_freq(self) -> np.ndarray:
        """Frequency of each column of the real periodic basis."""
        n = self.n
        freq = [0]
        for k in range(1, (n - 1) // 2 + 1):
            freq += [k, k]
        if n % 2 == 0:
            freq.append(n // 2)
        return np.array(freq)

    def vectors(self, dtype=None) -> np.ndarray:
        """The orthogonal eigenvector matrix V (n×n, cached per dtype)."""
        dtype = np.dtype(dtype or self.dtype)
        got = self._vectors.get(dtype)
        if got is None:
            got = self._dense_basis().astype(dtype)
            got.setflags(write=False)
            self._vectors[dtype] = got
        return got

    def _dense_basis(self) -> np.ndarray:
        n = self.n
        if n == 1:
            return np.ones((1, 1))
        i = np.arange(n)[:, None]
        k = np.arange(n)[None, :]
        if self.bc == "dirichlet":
            return math.sqrt(2 / (n + 1)) * _sin_pi((i + 1) * (k + 1), n + 1)
        if self.bc == "neumann":
            c = np.full(n, math.sqrt(2 / n))
            c[0] = math.sqrt(1 / n)
            return c * _cos_pi(k * (2 * i + 1), 2 * n)
        V = np.empty((n, n))
        V[:, 0] = 1 / math.sqrt(n)
        s = math.sqrt(2 / n)
        for kk in range(1, (n - 1) // 2 + 1):
            V[:, 2 * kk - 1] = s * _cos_pi(2 * kk * i[:, 0], n)
            V[:, 2 * kk] = s * _sin_pi(2 * kk * i[:, 0], n)
        if n % 2 == 0:
            V[:, n - 1] = np.where(i[:, 0] % 2 == 0, 1.0, -1.0) / math.sqrt(n)
        return V

    # ------------------------------------------------------------- structure
    def scaled(self, alpha) -> StencilSpectrum:
        """The spectrum of ``alpha`` times the matrix."""
        dtype = np.result_type(self.dtype, alpha)
        out = StencilSpectrum(self.bc, self.n, self.scale * alpha, dtype)
        out._vectors = self._vectors
        return out

    def promoted(self, dtype) -> StencilSpectrum:
        """The same spectrum computed in ``dtype`` (exact to its rounding)."""
        return StencilSpectrum(self.bc, self.n, self.scale, dtype)

    def conj(self) -> StencilSpectrum:
        """The spectrum of the conjugate (= adjoint: the matrix is symmetric)."""
        if not np.iscomplexobj(self.scale):
            return self
        return StencilSpectrum(self.bc, self.n, np.conj(self.scale), self.dtype)

    # ------------------------------------------------------ as a factor
    @property
    def use_transform(self) -> bool:
        """Whether the fast transform is the faster way to apply V (by size)."""
        return self.n >= FAST_TRANSFORM_MIN_SIZE[self.bc] and self.n > 1

    def transposed(self) -> StencilSpectrum:
        """The spectrum of the transpose (itself: the matrix is symmetric)."""
        return self

    def vectors_factor(self, dtype, index: int = 0) -> Factor:
        """V as a factor: a fast transform from ``FAST_TRANSFORM_MIN_SIZE`` on, else dense."""
        if self.use_transform:
            name = _TRANSFORM_OF[self.bc]
            return transform_factor(name, self.n, np.dtype(dtype), index)
        return as_factor(self.vectors(dtype), index)


#: the transform applying V for each boundary condition (its transpose applies Vᵀ)
_TRANSFORM_OF = {"dirichlet": "dst1", "neumann": "idct2", "periodic": "irfft"}


def _per_axis(value, d: int, name: str) -> list:
    if isinstance(value, np.ndarray):
        value = value.tolist() if value.ndim else value.item()
    if isinstance(value, str) or not isinstance(value, Sequence):
        return [value] * d
    value = list(value)
    if len(value) != d:
        raise ValueError(f"{name} needs one entry per axis ({d}), got {len(value)}")
    return value


def second_difference(n: int, bc: str = "dirichlet", scale=1.0, dtype=np.float64):
    """The 1-D second-difference matrix ``scale · T`` as a CSR array (T as in LaplacianNd)."""
    data_dtype = np.result_type(dtype, scale)
    if n == 1:
        c = 2.0 if bc == "dirichlet" else 1.0
        return sp.csr_array(np.array([[c * scale]], dtype=data_dtype))
    main = np.full(n, 2.0)
    off = np.full(n - 1, -1.0)
    if bc == "neumann":
        main[0] = main[-1] = 1.0
    diags = [off, main, off]
    offsets = [-1, 0, 1]
    if bc == "periodic":
        if n == 2:
            diags = [2 * off, main, 2 * off]
        else:
            diags += [np.array([-1.0]), np.array([-1.0])]
            offsets += [-(n - 1), n - 1]
    a = sp.diags_array(diags, offsets=offsets, shape=(n, n), format="csr")
    a = sp.csr_array(a * scale) if scale != 1 else a
    return a.astype(data_dtype)


def laplacian(shape, bc="dirichlet", spacing=1.0, dtype=np.float64):
    r"""The negative discrete Laplacian −Δₕ on a tensor grid, as a ``KronSum``.

    Parameters
    ----------
    shape : int or sequence of int
        Grid points per axis (n₁, …, n_d); axis 0 varies slowest (C order).
    bc : {"dirichlet", "neumann", "periodic"} or sequence of them
        Boundary condition, one for all axes or one per axis.
    spacing : float or sequence of float
        Grid spacing hⱼ per axis (or one for all); axis j is scaled by 1/hⱼ².
    dtype : dtype, optional
        float32, float64 (default), complex64 or complex128 (float16 becomes
        float32, as for factors: BLAS has no half precision).

    Returns
    -------
    KronSum
        L₁ ⊕ … ⊕ L_d with Lⱼ the sparse tridiagonal (CSR) matrix of axis j divided
        by hⱼ². Its ``solve``, ``eigh``, ``eigvals``, ``logdet`` and ``expm`` use the
        closed-form eigenpairs of each factor (no ``eigh``).

    Raises
    ------
    ValueError
        For an unknown boundary condition, a non-positive size or spacing, or
        per-axis lists of the wrong length.

    See Also
    --------
    scipy.sparse.linalg.LaplacianNd : the same grids with the opposite sign.
    KronSum.solve : direct solves (fast diagonalization).

    Notes
    -----
    With spacing 1 the result equals
    ``-scipy.sparse.linalg.LaplacianNd(shape, boundary_conditions=bc)`` exactly:

    * ``"dirichlet"``: tridiag(−1, 2, −1), symmetric positive definite;
    * ``"neumann"``: the same with 1 at both ends of the diagonal (singular: the
      constants are its null space);
    * ``"periodic"``: −1 also in the two corners (singular, constants again).

    The operator is positive definite as soon as one axis is Dirichlet. When every
    axis is Neumann or periodic it is singular with the constant vector as null
    space: ``solve`` then returns the zero-mean (minimum-norm) solution for a
    compatible right-hand side (one with zero sum) and warns with a
    ``LinAlgWarning`` when the right-hand side has a component along the constants,
    returning the minimum-norm least-squares solution.

    The eigenbasis of each axis (DST-I, DCT-II or a real Fourier basis) is applied
    by one GEMM per axis up to ``FAST_TRANSFORM_MIN_SIZE`` points and by
    ``scipy.fft`` beyond: at these sizes the O(n) flops per point of a GEMM at the
    machine's peak beat the O(log n) of the transform.

    Examples
    --------
    >>> import numpy as np
    >>> from kronop.gallery import laplacian
    >>> L = laplacian((4, 3))
    >>> L
    KronSum(4×4 csr nnz=10 ⊕ 3×3 csr nnz=7, dtype=float64)
    >>> from scipy.sparse.linalg import LaplacianNd
    >>> ref = -LaplacianNd((4, 3), boundary_conditions="dirichlet").toarray()
    >>> bool(np.array_equal(L.toarray(), ref))
    True
    >>> b = np.ones(12)
    >>> bool(np.allclose(L @ L.solve(b), b))
    True
    """
    if isinstance(shape, numbers.Integral):
        shape = (int(shape),)
    if not isinstance(shape, Sequence | np.ndarray):
        raise TypeError(
            f"shape must be an int or a sequence of ints (points per axis), got "
            f"{type(shape).__name__}"
        )
    if any(not isinstance(s, numbers.Integral) for s in shape):
        raise ValueError(f"shape entries must be integers, got {tuple(shape)}")
    shape = tuple(int(s) for s in shape)
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"shape needs at least one axis of positive size, got {shape}")
    d = len(shape)
    bcs = _per_axis(bc, d, "bc")
    for b in bcs:
        if b not in _BCS:
            raise ValueError(
                f"bc must be 'dirichlet', 'neumann' or 'periodic', got {b!r}"
            )
    hs = [float(h) for h in _per_axis(spacing, d, "spacing")]
    for h in hs:
        if not (h > 0 and math.isfinite(h)):
            raise ValueError(f"spacing must be positive and finite, got {h}")
        if not (h * h > 0 and math.isfinite(1.0 / (h * h))):
            raise ValueError(
                f"spacing {h} is outside the float range of the stencil: its "
                "coefficient 1/h² overflows (h ≳ 1.5e-154 is needed)"
            )
    dtype = np.dtype(dtype)
    if dtype.kind not in "fc":
        raise TypeError(
            f"dtype must be float32, float64, complex64 or complex128, got {dtype}"
        )
    if dtype == np.float16:  # no half precision in BLAS or scipy.sparse
        dtype = np.dtype(np.float32)
    factors = []
    for j, (n, b, h) in enumerate(zip(shape, bcs, hs, strict=True)):
        scale = 1.0 / (h * h)
        f = as_factor(second_difference(n, b, scale, dtype), j)
        factors.append(f.with_spectrum(StencilSpectrum(b, n, scale, dtype)))
    return KronSum._from_factors(factors)
