r"""Operators of the tensor-grid gallery: the discrete Laplacian and its 1-D factors.

:func:`laplacian` builds −Δₕ on a tensor grid as a :class:`~kronop.KronSum` of 1-D
second differences. Its factors are sparse tridiagonal matrices that also carry
their *analytic* eigenpairs, so the Kronecker sum solves, log-determines and
diagonalizes without calling ``eigh``: the spectra are exact to rounding, and the
eigenbasis is applied either as a dense matrix (one GEMM per axis) or as a fast
transform (``scipy.fft`` DST-I, DCT-II or a real FFT), whichever measured faster
for the size.

:func:`filter_operator` builds the separable filter that ``scipy.ndimage.correlate1d``
applies along every axis in turn as a :class:`~kronop.KronOperator` of banded sparse
factors, one per axis, so the filter has a transpose, composes with other operators
and goes into scipy's solvers (deblurring, regularised inversion).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from ._factor import Factor, TransformOperator, as_factor, transform_factor
from .kron import KronOperator
from .kronsum import KronSum

__all__ = ["StencilSpectrum", "TransformOperator", "filter_operator", "laplacian"]

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


# ---------------------------------------------------------------------------
# Separable filters (scipy.ndimage.correlate1d along every axis)
# ---------------------------------------------------------------------------
#: the boundary modes of ``scipy.ndimage``'s filters
FILTER_MODES = ("reflect", "constant", "nearest", "mirror", "wrap")
#: ndimage's other names for them (for its filters they are exact synonyms)
_FILTER_MODE_ALIASES = {
    "grid-mirror": "reflect",
    "grid-constant": "constant",
    "grid-wrap": "wrap",
}
_FILTER_KINDS = ("correlate", "convolve")


def _fold_index(src: np.ndarray, n: int, mode: str):
    """Where each (possibly outside) source index ``src`` reads from an axis of n points.

    Returns ``(cols, keep)``: ``cols[t]`` in ``[0, n)`` and ``keep`` a mask of the
    taps that read a point at all (``None``: every tap does). See
    :func:`_filter_matrix` for the rule of each mode.
    """
    if mode == "constant":
        keep = (src >= 0) & (src < n)
        return src, keep
    if mode == "nearest":
        return np.clip(src, 0, n - 1), None
    if mode == "wrap":
        return np.mod(src, n), None
    if mode == "reflect":
        r = np.mod(src, 2 * n)
        return np.where(r >= n, 2 * n - 1 - r, r), None
    # mirror
    if n == 1:  # the period 2n − 2 is 0: ndimage repeats the single point
        return np.zeros_like(src), None
    period = 2 * n - 2
    r = np.mod(src, period)
    return np.where(r >= n, period - r, r), None


def _fold_taps(taps: np.ndarray, n: int, mode: str, shift: int):
    """Merge the taps that read the same point from every row: ``(taps, shift)``.

    The periodic modes fold source indices with a period P (n for ``"wrap"``, 2n
    for ``"reflect"``, 2n − 2 for ``"mirror"``, 1 for ``"mirror"`` with n = 1), so
    taps k and k + P always land together and are summed into one. For
    ``"constant"`` only taps that reach [0, n) from some row are kept; for
    ``"nearest"`` the taps left of ``shift − n`` (right of ``shift + n``) read point
    0 (n − 1) from every row and are added to that tap.
    """
    length = taps.shape[0]
    if mode in ("wrap", "reflect", "mirror"):
        if mode == "wrap":
            period = n
        elif mode == "reflect":
            period = 2 * n
        else:
            period = max(2 * n - 2, 1)
        if length <= period:
            return taps, shift
        padded = np.zeros(-(-length // period) * period, dtype=taps.dtype)
        padded[:length] = taps
        return padded.reshape(-1, period).sum(axis=0), shift
    if mode == "constant":
        # never empty: 0 <= shift < len(taps) for every admissible origin
        lo, hi = max(0, shift - n + 1), min(length, shift + n)
        return taps[lo:hi], shift - lo
    # nearest
    lo, hi = max(0, shift - n), min(length - 1, shift + n)
    if lo == 0 and hi == length - 1:
        return taps, shift
    out = taps[lo : hi + 1].copy()
    out[0] += taps[:lo].sum()
    out[-1] += taps[hi + 1 :].sum()
    return out, shift - lo


def _filter_matrix(
    n: int, taps: np.ndarray, mode: str, shift: int, dtype: np.dtype
) -> sp.csr_array:
    r"""The n×n matrix of a 1-D filter with boundary ``mode``, built by index folding.

    Row i is ``y[i] = Σₖ taps[k] · x̃[i + k − shift]`` where x̃ is the axis extended
    beyond its ends by the mode; ``shift`` is ``len(taps)//2 + origin`` (ndimage's
    centre). Each source index s = i + k − shift is folded back onto a point
    φ(s) ∈ [0, n), and ``taps[k]`` is added to entry (i, φ(s)):

    * ``"constant"`` (``0 0 | a b c d | 0 0``): taps with s outside [0, n) read the
      constant and are dropped (the constant is 0 here: the map must be linear);
    * ``"nearest"`` (``a a | a b c d | d d``): φ(s) = clip(s, 0, n − 1);
    * ``"wrap"`` (``c d | a b c d | a b``): φ(s) = s mod n;
    * ``"reflect"`` (``b a | a b c d | d c``, half-sample symmetric, period 2n):
      r = s mod 2n, φ(s) = r if r < n else 2n − 1 − r;
    * ``"mirror"`` (``c b | a b c d | c b``, whole-sample symmetric, period
      2n − 2): r = s mod (2n − 2), φ(s) = r if r < n else 2n − 2 − r; for n = 1 the
      period is 0 and every s reads the single point (as ndimage does).

    Because the periodic modes fold with a modulus rather than one reflection, a
    filter longer than the axis folds as many times as needed, exactly as
    ndimage's line extension does. Taps that land on the same entry are summed (in
    float64/complex128 before rounding to ``dtype``, so each entry is the exact
    matrix entry rounded once). The cost is O(n·len(taps)) index arithmetic: the
    matrix is never found by filtering identity columns. Taps that act alike on
    every row are merged first (:func:`_fold_taps`), so a filter much longer than
    the axis costs O(n·min(len(taps), 2n + 1)).

    Returns
    -------
    scipy.sparse.csr_array
        Canonical CSR (sorted, no duplicates), dtype ``dtype``, at most
        ``min(len(taps), n)`` entries per row.
    """
    work = np.result_type(taps.dtype, np.float64)
    taps, shift = _fold_taps(taps.astype(work, copy=False), n, mode, shift)
    L = taps.shape[0]
    rows = np.arange(n, dtype=np.intp)[:, None]
    src = rows + (np.arange(L, dtype=np.intp) - shift)[None, :]
    cols, keep = _fold_index(src, n, mode)
    rows = np.broadcast_to(rows, src.shape)
    data = np.broadcast_to(taps, src.shape)
    if keep is not None:
        rows, cols, data = rows[keep], cols[keep], data[keep]
    coo = sp.coo_array(
        (data.ravel(), (rows.ravel(), cols.ravel())), shape=(n, n), dtype=work
    )
    csr = coo.tocsr()  # sums duplicates: the folded taps of one entry
    if not csr.has_canonical_format:
        csr.sum_duplicates()
    return csr.astype(dtype)


def _filter_shape(shape) -> tuple[int, ...]:
    if isinstance(shape, np.ndarray) and shape.ndim == 0:
        shape = shape.item()
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, Sequence | np.ndarray) or isinstance(shape, str):
        raise TypeError(
            "shape must be an int or a sequence of ints (points per axis), got "
            f"{type(shape).__name__}"
        )
    shape = tuple(shape)
    if not shape:
        raise ValueError("shape needs at least one axis, got ()")
    for j, s in enumerate(shape):
        if isinstance(s, bool | np.bool_) or not isinstance(s, numbers.Integral):
            raise TypeError(
                f"shape[{j}] (axis {j}) must be a positive int, got {s!r} of type "
                f"{type(s).__name__}"
            )
        if s < 1:
            raise ValueError(f"shape[{j}] (axis {j}) must be a positive int, got {s}")
    return tuple(int(s) for s in shape)


def _one_weights(w, where: str) -> np.ndarray:
    try:
        arr = np.asarray(w)
    except Exception as exc:  # pragma: no cover - ragged or foreign objects
        raise TypeError(
            f"{where} must be a 1-D array of numbers, got {type(w).__name__}"
        ) from exc
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"{where} must be numeric, got dtype={arr.dtype}")
    if arr.ndim != 1:
        hint = (
            " (for one filter per axis pass a list of 1-D arrays)"
            if where == "weights" and arr.ndim == 2
            else ""
        )
        raise ValueError(
            f"{where} must be 1-D, got an array of shape {arr.shape}{hint}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{where} is empty: a filter needs at least one weight")
    return arr


def _filter_weights(weights, d: int) -> list[np.ndarray]:
    """One 1-D weight array per axis, from one shared array or a sequence of them."""
    per_axis = isinstance(weights, list | tuple) and any(
        np.ndim(w) > 0 for w in weights
    )
    if not per_axis:
        return [_one_weights(weights, "weights")] * d
    if len(weights) != d:
        raise ValueError(
            f"weights needs one 1-D array per axis ({d} for a {d}-D shape), got "
            f"{len(weights)}"
        )
    return [_one_weights(w, f"weights[{j}] (axis {j})") for j, w in enumerate(weights)]


def _filter_modes(mode, d: int) -> list[str]:
    modes = [mode] * d if isinstance(mode, str) else list(_per_axis(mode, d, "mode"))
    out = []
    for j, m in enumerate(modes):
        key = _FILTER_MODE_ALIASES.get(m, m) if isinstance(m, str) else None
        if key not in FILTER_MODES:
            where = "mode" if isinstance(mode, str) else f"mode[{j}] (axis {j})"
            valid = ", ".join(repr(v) for v in (*FILTER_MODES, *_FILTER_MODE_ALIASES))
            raise ValueError(f"{where} must be one of {valid}; got {m!r}")
        out.append(key)
    return out


def _filter_origins(origin, lengths: list[int]) -> list[int]:
    d = len(lengths)
    scalar = isinstance(origin, numbers.Integral) or (
        isinstance(origin, np.ndarray) and origin.ndim == 0
    )
    origins = [origin] * d if scalar else _per_axis(origin, d, "origin")
    out = []
    for j, (o, L) in enumerate(zip(origins, lengths, strict=True)):
        if isinstance(o, bool | np.bool_) or not isinstance(o, numbers.Integral):
            raise TypeError(
                f"origin for axis {j} must be an int, got {o!r} of type "
                f"{type(o).__name__}"
            )
        lo, hi = -(L // 2), (L - 1) // 2
        if not lo <= o <= hi:
            raise ValueError(
                f"origin for axis {j} must satisfy -(len(weights)//2) <= origin <= "
                f"(len(weights)-1)//2, i.e. lie in [{lo}, {hi}] for {L} weights; "
                f"got {o}"
            )
        out.append(int(o))
    return out


def filter_operator(
    shape: int | Sequence[int],
    weights: ArrayLike | Sequence[ArrayLike],
    mode: str | Sequence[str] = "reflect",
    cval: numbers.Number = 0.0,
    origin: int | Sequence[int] = 0,
    *,
    kind: str = "correlate",
) -> KronOperator:
    r"""The separable filter ``scipy.ndimage.correlate1d`` along every axis, as an operator.

    Parameters
    ----------
    shape : int or sequence of int
        The image (tensor) shape (n₁, …, n_d); the operator acts on
        ``img.ravel()`` (C order) and is N×N with N = ∏ nⱼ.
    weights : 1-D array_like or sequence of 1-D array_like
        One 1-D filter for every axis, or a list/tuple of one 1-D filter per axis
        (lengths may differ). Real or complex; integer and boolean weights give a
        float64 operator, float16 ones a float32 operator (as for any factor).
    mode : str or sequence of str, optional
        Boundary mode, one for all axes or one per axis: ``"reflect"`` (default),
        ``"constant"``, ``"nearest"``, ``"mirror"`` or ``"wrap"``, as in
        ``scipy.ndimage``; its synonyms ``"grid-mirror"`` (= reflect),
        ``"grid-constant"`` (= constant) and ``"grid-wrap"`` (= wrap) are accepted.
    cval : scalar, optional
        The value outside the image for ``"constant"``. Only 0 is accepted there:
        with any other value the filter is affine, not linear (see Raises). It is
        ignored by the other modes, as in ndimage.
    origin : int or sequence of int, optional
        ndimage's ``origin``, one for all axes or one per axis: 0 centres the filter
        on the point (the centre of an even-length filter is ``len(weights)//2``),
        a positive value shifts it to the left. It must satisfy
        ``-(len(w)//2) <= origin <= (len(w)-1)//2`` for each axis's weights.
    kind : {"correlate", "convolve"}, optional
        ``"convolve"`` gives ``scipy.ndimage.convolve1d`` along every axis instead
        (same ``origin`` meaning as there).

    Returns
    -------
    KronOperator
        F₁ ⊗ … ⊗ F_d with Fⱼ the nⱼ×nⱼ banded CSR matrix of the 1-D filter of
        axis j (``.factors``). Its dtype is ``np.result_type`` of the weights.

    Raises
    ------
    ValueError
        For an unknown ``mode`` or ``kind``; weights that are not 1-D or are empty;
        a number of per-axis weights, modes or origins other than ``len(shape)``;
        a non-positive size; an ``origin`` outside ndimage's range; or ``cval != 0``
        with ``"constant"``: ``correlate1d`` then returns ``K @ x`` plus a fixed
        offset (the filter of an all-zero image with that ``cval``), an affine map
        that no matrix represents; build the operator with ``cval=0`` and add that
        offset yourself.
    TypeError
        For non-integer sizes or origins, non-numeric weights or a non-numeric
        ``cval``.

    See Also
    --------
    scipy.ndimage.correlate1d, scipy.ndimage.convolve1d : the filters this equals.
    KronOperator : the operator returned.

    Notes
    -----
    Along one axis of n points with weights w₀ … w_{L−1}, origin o and
    c = ⌊L/2⌋ + o, ``correlate1d`` computes

    .. math:: y_i = \sum_{k=0}^{L-1} \bar w_k \, \tilde x_{i+k-c},

    where :math:`\tilde x` is x extended beyond its ends by the boundary mode and
    :math:`\bar w` the complex conjugate (ndimage conjugates complex weights in a
    correlation; real weights are unchanged). Folding each index i + k − c back
    into [0, n) by the mode (reflection, mirroring, clamping, wrapping, or dropping
    the tap for ``"constant"``) turns this into y = Fx with F the banded n×n matrix

    .. math:: F_{im} = \sum_{k:\ \varphi(i+k-c) = m} \bar w_k ,

    which has at most min(L, n) entries per row; a filter longer than the axis
    folds repeatedly, as ndimage's boundary extension does. Filtering axis j of the
    C-ordered tensor is the mode product by Fⱼ, and mode products along different
    axes commute, so the filter along every axis in turn is

    .. math:: K = F_1 \otimes F_2 \otimes \cdots \otimes F_d

    acting on ``img.ravel()``. Each Fⱼ is built by index arithmetic in
    O(nⱼ·min(Lⱼ, 2nⱼ + 1)) (taps that act alike on every row are merged first);
    a product costs about 2 Σⱼ nnz(Fⱼ)/nⱼ flops per pixel (sparse
    products, one per axis). ``K.T`` (and ``K.H``) is the adjoint filter that
    least-squares deblurring needs, again a Kronecker product of banded factors.

    Convolution is correlation with the weights reversed: ``convolve1d(x, w,
    origin=o)`` equals ``correlate1d(x, w[::-1], origin=-o - (1 if len(w) is
    even else 0))`` for real weights (and without the conjugation for complex
    ones); ``kind="convolve"`` builds exactly that.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage
    >>> from kronop.gallery import filter_operator
    >>> img = np.arange(30.0).reshape(5, 6) % 7
    >>> w = np.array([1.0, 2.0, 1.0]) / 4
    >>> K = filter_operator(img.shape, w, mode="reflect")
    >>> K
    KronOperator(5×5 csr nnz=13 ⊗ 6×6 csr nnz=16, dtype=float64)
    >>> ref = ndimage.correlate1d(ndimage.correlate1d(img, w, axis=0), w, axis=1)
    >>> bool(np.allclose((K @ img.ravel()).reshape(img.shape), ref))
    True

    One filter per axis, an even-length one included, with a per-axis mode:

    >>> w0, w1 = np.array([1.0, -1.0]), np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16
    >>> K = filter_operator((5, 6), [w0, w1], mode=("nearest", "wrap"))
    >>> ref = ndimage.correlate1d(img, w0, axis=0, mode="nearest")
    >>> ref = ndimage.correlate1d(ref, w1, axis=1, mode="wrap")
    >>> bool(np.allclose((K @ img.ravel()).reshape(img.shape), ref))
    True
    >>> C = filter_operator((5, 6), w0, kind="convolve")
    >>> ref = ndimage.convolve1d(ndimage.convolve1d(img, w0, axis=0), w0, axis=1)
    >>> bool(np.allclose((C @ img.ravel()).reshape(img.shape), ref))
    True
    """
    shape = _filter_shape(shape)
    d = len(shape)
    if kind not in _FILTER_KINDS:
        raise ValueError(f"kind must be 'correlate' or 'convolve', got {kind!r}")
    ws = _filter_weights(weights, d)
    modes = _filter_modes(mode, d)
    origins = _filter_origins(origin, [w.shape[0] for w in ws])
    cv = np.asarray(cval)
    if cv.ndim != 0 or cv.dtype.kind not in "biufc":
        raise TypeError(f"cval must be a number, got {cval!r}")
    if cv != 0 and "constant" in modes:
        raise ValueError(
            f"cval={cval!r} with mode 'constant' makes the filter affine, not "
            "linear: correlate1d then returns K @ x plus a fixed offset (the "
            "filter of an all-zero image with that cval), which no matrix "
            "represents; use cval=0 and add that offset yourself, or another mode"
        )
    dtype = np.result_type(*(_normalise_weights_dtype(w.dtype) for w in ws))
    factors = []
    for n, w, m, o in zip(shape, ws, modes, origins, strict=True):
        L = w.shape[0]
        if kind == "correlate":
            taps = np.conj(w) if w.dtype.kind == "c" else w
        else:  # convolve1d: reversed weights, mirrored origin (and no conjugate)
            taps, o = w[::-1], -o - (1 - L % 2)
        factors.append(_filter_matrix(n, taps, m, L // 2 + o, dtype))
    return KronOperator(*factors)


def _normalise_weights_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype a factor of these weights is stored in (as :func:`as_factor` does)."""
    if dtype.kind in "biu":
        return np.dtype(np.float64)
    if dtype == np.float16:
        return np.dtype(np.float32)
    return dtype
