r"""``BlockCirculant``: block-circulant operators, applied and solved by FFT.

A block-circulant matrix is fixed by its first block column C₀, …, C_{k−1}
(m×n blocks): block (i, j) is ``C[(i − j) % k]``. The discrete Fourier transform
along the block axis block-diagonalizes it, so a product is an FFT, k small
matrix products (one batched ``np.matmul``) and an inverse FFT, and a solve,
determinant or spectrum needs only the k frequency blocks. The same algebra holds
for several circulant levels at once (block-circulant with circulant blocks, i.e.
a periodic convolution), which :meth:`BlockCirculant.from_kernel` builds without
forming any block.
"""

from __future__ import annotations

import itertools
import math
import warnings
from functools import reduce
from typing import Any

import numpy as np
import scipy.fft as sfft
import scipy.linalg as sla
import scipy.sparse as sp
from numpy.typing import ArrayLike
from scipy.sparse.linalg import LinearOperator

from . import _engine, _rules
from ._base import Factorization, Factorized, StructuredOperator
from ._compat import call
from ._factor import _normalise_dtype, describe_shape
from ._factor_linalg import INVERSE_COND_LIMIT, _readonly

__all__ = ["BlockCirculant"]


# ------------------------------------------------------------------ helpers
def _complex_of(dtype) -> np.dtype:
    """The complex dtype of ``dtype``'s precision (complex64 for float32)."""
    return np.result_type(dtype, np.complex64)


def _real_of(dtype) -> np.dtype:
    return np.dtype(np.dtype(dtype).type(0).real.dtype)


def _as_blocks(blocks) -> np.ndarray:
    """The first block column as a new (k, m, n) array, or a typed error."""
    if isinstance(blocks, LinearOperator):
        raise TypeError(
            "BlockCirculant needs its first block column as a (k, m, n) array or a "
            f"list of k 2-D arrays, got a {type(blocks).__name__}"
        )
    if isinstance(blocks, list | tuple):
        if not blocks:
            raise ValueError(
                "BlockCirculant needs at least one block, got an empty list"
            )
        arrays = []
        for i, b in enumerate(blocks):
            if isinstance(b, LinearOperator):
                raise TypeError(
                    f"block {i} is a {type(b).__name__}; BlockCirculant needs the "
                    "blocks' entries (ndarrays or scipy sparse matrices)"
                )
            a = b.toarray() if sp.issparse(b) else np.asarray(b)
            if a.ndim != 2:
                raise ValueError(
                    f"block {i} must be a 2-D array (m×n), got shape {a.shape}"
                )
            if arrays and a.shape != arrays[0].shape:
                raise ValueError(
                    f"block {i} has shape {a.shape}, expected {arrays[0].shape} (the "
                    "shape of block 0): all blocks must have the same shape"
                )
            _normalise_dtype(a.dtype, f"block {i}")
            arrays.append(a)
        dtype = reduce(np.promote_types, (a.dtype for a in arrays))
        dtype = _normalise_dtype(dtype, "the blocks")
        core = np.empty((len(arrays), *arrays[0].shape), dtype=dtype)
        for i, a in enumerate(arrays):
            core[i] = a
    else:
        if sp.issparse(blocks):
            raise ValueError(
                "blocks must be a (k, m, n) array or a list of k 2-D blocks, got a "
                f"2-D sparse matrix of shape {blocks.shape}"
            )
        a = np.asarray(blocks)
        dtype = _normalise_dtype(a.dtype, "blocks")
        if a.ndim != 3:
            raise ValueError(
                "blocks must be a 3-D array (k, m, n) or a list of k 2-D blocks, "
                f"got an array of shape {a.shape}"
            )
        if a.shape[0] == 0:
            raise ValueError(
                "BlockCirculant needs at least one block, got an array of shape "
                f"{a.shape}"
            )
        core = np.array(a, dtype=dtype)  # our own copy: caches stay valid
    if 0 in core.shape[1:]:
        raise ValueError(
            f"blocks must not be empty, got blocks of shape {core.shape[1:]}"
        )
    return core


def _negate_levels(a: np.ndarray, d: int) -> np.ndarray:
    """``a[(-i) % k]`` on each of the first ``d`` axes."""
    for axis in range(d):
        a = np.roll(np.flip(a, axis), 1, axis)
    return a


def _full_from_half(half: np.ndarray, levels: tuple[int, ...]) -> np.ndarray:
    """The full frequency grid of a real sequence from its ``rfftn`` half.

    ``X[f] = conj(X[-f])``: the missing frequencies are exact conjugates of stored
    ones (so spectra of real operators are exactly conjugate-closed).
    """
    d = len(levels)
    kd = levels[-1]
    kept = half.shape[d - 1]
    if kept == kd:
        return half.copy()
    mirror = _negate_levels(half, d - 1)
    # frequencies f_d = kept … kd−1 come from kd − f_d = kd − kept … 1
    rest = np.take(mirror, np.arange(kd - kept, 0, -1), axis=d - 1).conj()
    return np.concatenate([half, rest], axis=d - 1)


def _half_weights(levels: tuple[int, ...]) -> np.ndarray:
    """How often each ``rfftn`` frequency occurs in the full grid (1 or 2)."""
    kd = levels[-1]
    kept = kd // 2 + 1
    w = np.full(kept, 2.0)
    w[0] = 1.0
    if kd % 2 == 0:
        w[-1] = 1.0
    return w


def _self_conjugate(levels: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The frequencies f with f ≡ −f (each fᵢ is 0 or kᵢ/2)."""
    choices = [(0, k // 2) if k % 2 == 0 and k > 1 else (0,) for k in levels]
    return list(itertools.product(*choices))


def _is_hermitian(core: np.ndarray, d: int) -> bool:
    """A = Aᴴ exactly, i.e. C_{−j} = Cⱼᴴ for every j (square blocks)."""
    if core.shape[-1] != core.shape[-2]:
        return False
    adjoint = _negate_levels(core, d).swapaxes(-1, -2).conj()
    return bool(np.array_equal(adjoint, core))


def _frequency_name(flat: int, shape: tuple[int, ...]) -> str:
    idx = np.unravel_index(flat, shape)
    return str(int(idx[0])) if len(idx) == 1 else str(tuple(int(i) for i in idx))


def _spectrum_of(core, d: int, real: bool, cdt) -> np.ndarray:
    """Ĉ: ``rfftn`` (real) or ``fftn`` of the first block column over its levels."""
    axes = tuple(range(d))
    if real:
        return _readonly(sfft.rfftn(core.astype(_real_of(cdt), copy=False), axes=axes))
    return _readonly(sfft.fftn(core.astype(cdt, copy=False), axes=axes))


def _core_of(spectrum, levels, real: bool, dtype) -> np.ndarray:
    """The first block column whose spectrum is ``spectrum`` (inverse of the above)."""
    axes = tuple(range(len(levels)))
    if real:
        core = sfft.irfftn(spectrum, s=levels, axes=axes)
    else:
        core = sfft.ifftn(spectrum, axes=axes)
    return np.ascontiguousarray(core, dtype=dtype)


# -------------------------------------------------------------- the operator
class BlockCirculant(Factorized, StructuredOperator):
    r"""Block-circulant operator from its first block column.

    Block (i, j) is ``blocks[(i − j) % k]``: each block row is the previous one
    shifted right by one block, cyclically.

    Parameters
    ----------
    blocks : array_like or list of array_like
        The first block column: a (k, m, n) array, or a list of k 2-D arrays (or
        scipy sparse matrices, densified) of equal shape m×n. Square or
        rectangular, real or complex; integer and boolean entries become float64,
        float16 becomes float32. The blocks are copied.

    Attributes
    ----------
    blocks : numpy.ndarray
        The first block column, (k, m, n), read-only.
    levels : tuple of int
        The circulant sizes: ``(k,)``, or the kernel's shape for
        :meth:`from_kernel`.
    shape : tuple of int
        ``(k·m, k·n)``.
    dtype : numpy.dtype

    Raises
    ------
    ValueError
        An empty list, blocks of different shapes (naming the block), an array
        that is not 3-D, or empty blocks.
    TypeError
        Non-numeric entries, or a ``LinearOperator`` as a block.

    See Also
    --------
    BlockCirculant.from_kernel : the nested case (circulant blocks, periodic
        convolution), never forming a block.
    scipy.linalg.circulant : the dense circulant matrix (m = n = 1).

    Notes
    -----
    With x split into k blocks xⱼ of length n, ``y = A x`` is the cyclic
    convolution :math:`y_i = \sum_j C_{(i-j) \bmod k}\, x_j`. The DFT along the
    block axis turns it into k independent products,

    .. math:: \hat y_f = \hat C_f\, \hat x_f, \qquad
              \hat C_f = \sum_{j=0}^{k-1} C_j\, e^{-2\pi i\, jf/k},

    so ``A = (F⊗I_m)⁻¹ diag(Ĉ₀, …, Ĉ_{k−1}) (F⊗I_n)`` with F the DFT matrix, and
    ``(F/√k)⊗I`` is unitary. A product costs an FFT of length k on each of the n
    input and the m output components and one batched ``np.matmul`` of the k
    frequency blocks: O(kmn + (m+n)·k log k) per right-hand side against O(k²mn)
    for the dense matrix. Real blocks and a
    real input use ``rfft``/``irfft`` (half the frequencies; the output is real and
    keeps float32); a complex input to a real operator is transformed as its real
    and imaginary parts. The frequency blocks Ĉ (k×m×n) are computed once per
    precision and cached.

    Everything else comes from the frequency blocks: ``solve``/``inv`` from their
    inverses, ``eigvals`` is the union of their eigenvalues, ``det A = ∏_f det Ĉ_f``,
    the singular values of A are those of all Ĉ_f (``norm(2)``, ``cond``), and
    ``‖A‖_F² = k Σⱼ ‖Cⱼ‖_F²``. ``Aᴴ`` is block-circulant with first block column
    ``[C₀ᴴ, C_{k−1}ᴴ, …, C₁ᴴ]`` (frequency blocks Ĉ_fᴴ), and ``Aᵀ`` likewise.

    A non-finite entry spreads through the FFT to every entry of a product (the
    dense product would confine it to the rows that touch it); solves and
    decompositions raise ``ValueError`` on non-finite blocks.

    Examples
    --------
    >>> import numpy as np
    >>> from kronop.circulant import BlockCirculant
    >>> rng = np.random.default_rng(0)
    >>> C = rng.standard_normal((4, 2, 3))  # k = 4 blocks of 2×3
    >>> A = BlockCirculant(C)
    >>> A.shape
    (8, 12)
    >>> dense = np.block([[C[(i - j) % 4] for j in range(4)] for i in range(4)])
    >>> x = rng.standard_normal(12)
    >>> bool(np.allclose(A @ x, dense @ x))
    True
    """

    _transient = ("_spectra",)

    def __init__(self, blocks: ArrayLike | list) -> None:
        core = _as_blocks(blocks)
        self._init_core(core, (core.shape[0],), kernel_form=False)

    @classmethod
    def from_kernel(cls, kernel: ArrayLike) -> BlockCirculant:
        r"""The periodic convolution with a d-D kernel (multilevel circulant).

        For a 2-D kernel c of shape (k, m) this is the block-circulant matrix with
        circulant blocks (BCCB): k×k blocks, block (i, j) the m×m circulant of
        row ``c[(i − j) % k]``, i.e. entry ``((i₁, i₂), (j₁, j₂))`` is
        ``c[(i₁ − j₁) % k, (i₂ − j₂) % m]``. It acts on an image ``X`` (k, m),
        flattened in C order, as the cyclic convolution of X with c.

        Parameters
        ----------
        kernel : array_like
            c, of any number d ≥ 1 of axes (d = 1: a circulant matrix,
            ``scipy.linalg.circulant(c)``); its origin is ``c[0, …, 0]``.

        Returns
        -------
        BlockCirculant
            Of shape (N, N), N = c.size; ``levels`` is ``c.shape`` and
            ``kernel`` is c (read-only copy).

        Raises
        ------
        ValueError
            If the kernel has no axes or an empty axis.
        TypeError
            If it is not numeric.

        Notes
        -----
        This is the nested case of the block-circulant algebra, with every level
        circulant and 1×1 blocks at the bottom: the d-D DFT diagonalizes it,

        .. math:: A x = \operatorname{ifftn}(\operatorname{fftn}(c) \cdot
                  \operatorname{fftn}(X)),

        so a product costs two d-D FFTs of N points and N multiplications; no
        block is formed. The eigenvalues are ``fftn(c)`` (C order), solves divide
        by them, and ``log|det A| = Σ log|ĉ_f|``. It is a Kronecker product of
        circulant factors only when c is separable (rank one), which is why it is
        a case of its own.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.circulant import BlockCirculant
        >>> rng = np.random.default_rng(1)
        >>> c = rng.standard_normal((4, 5))  # a 2-D periodic kernel
        >>> A = BlockCirculant.from_kernel(c)
        >>> X = rng.standard_normal((4, 5))  # an image
        >>> y = A @ X.ravel()
        >>> ref = np.fft.ifft2(np.fft.fft2(c) * np.fft.fft2(X)).real
        >>> bool(np.allclose(y, ref.ravel()))
        True
        """
        if sp.issparse(kernel):
            kernel = kernel.toarray()
        if isinstance(kernel, LinearOperator):
            raise TypeError(f"kernel must be an array, got a {type(kernel).__name__}")
        c = np.asarray(kernel)
        dtype = _normalise_dtype(c.dtype, "kernel")
        if c.ndim == 0:
            raise ValueError("kernel must have at least one axis, got a scalar")
        for axis, size in enumerate(c.shape):
            if size == 0:
                raise ValueError(
                    f"kernel axis {axis} is empty (kernel shape {c.shape})"
                )
        core = np.array(c, dtype=dtype)[..., None, None]
        self = cls.__new__(cls)
        self._init_core(core, c.shape, kernel_form=True)
        return self

    @classmethod
    def _from_core(cls, core, levels, kernel_form: bool) -> BlockCirculant:
        self = cls.__new__(cls)
        self._init_core(np.ascontiguousarray(core), levels, kernel_form)
        return self

    def _init_core(self, core: np.ndarray, levels, kernel_form: bool) -> None:
        self._core = _readonly(core)
        self._levels = tuple(int(k) for k in levels)
        self._kernel_form = bool(kernel_form)
        L = math.prod(self._levels)
        m, n = core.shape[-2:]
        super().__init__(core.dtype, (L * m, L * n))

    def _init_transient(self) -> None:
        super()._init_transient()
        # shared with the factorization (a dict, not a reference to the operator)
        self._spectra: dict[np.dtype, np.ndarray] = {}
        core = self.__dict__.get("_core")
        if core is not None and core.flags.writeable:  # after unpickling
            core.setflags(write=False)

    # ---------------------------------------------------------------- structure
    @property
    def levels(self) -> tuple[int, ...]:
        """The circulant sizes ``(k,)`` (or the kernel's shape).

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.circulant import BlockCirculant
        >>> BlockCirculant(np.ones((4, 2, 3))).levels
        (4,)
        >>> BlockCirculant.from_kernel(np.ones((3, 5))).levels
        (3, 5)
        """
        return self._levels

    @property
    def block_shape(self) -> tuple[int, int]:
        """``(m, n)``: the shape of one block of the first block column.

        For :meth:`from_kernel` operators this is ``(1, 1)``, the innermost level.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.circulant import BlockCirculant
        >>> BlockCirculant(np.ones((4, 2, 3))).block_shape
        (2, 3)
        """
        return (int(self._core.shape[-2]), int(self._core.shape[-1]))

    @property
    def kernel(self) -> np.ndarray | None:
        """The kernel of a :meth:`from_kernel` operator (read-only), else None.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.circulant import BlockCirculant
        >>> BlockCirculant.from_kernel([1.0, 2.0]).kernel
        array([1., 2.])
        >>> BlockCirculant(np.ones((2, 1, 1))).kernel is None
        True
        """
        if not self._kernel_form:
            return None
        return self._core[..., 0, 0]

    @property
    def blocks(self) -> np.ndarray:
        """The first block column, (k, m, n), read-only.

        For a :meth:`from_kernel` operator with d ≥ 2 axes the k₁ blocks (each the
        (N/k₁)×(N/k₁) multilevel circulant of one kernel slice) are formed on
        request: use it for inspection of small problems only.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.circulant import BlockCirculant
        >>> BlockCirculant.from_kernel(np.array([[1.0, 2.0], [3.0, 4.0]])).blocks
        array([[[1., 2.],
                [2., 1.]],
        <BLANKLINE>
               [[3., 4.],
                [4., 3.]]])
        """
        if len(self._levels) == 1:
            return self._core
        k1 = self._levels[0]
        out = np.stack(
            [
                BlockCirculant._from_core(
                    self._core[i], self._levels[1:], True
                ).toarray()
                for i in range(k1)
            ]
        )
        return _readonly(out)

    def __repr__(self) -> str:
        M, N = self.shape
        if self._kernel_form:
            what = f"periodic convolution, kernel {describe_shape(self._levels)}"
        else:
            k = self._levels[0]
            what = f"{k} blocks {describe_shape(self.block_shape)}"
        return f"<{M}×{N} BlockCirculant ({what}), dtype={self.dtype}>"

    def _args(self) -> tuple:
        return (self.kernel,) if self._kernel_form else (self._core,)

    def _spectrum(self, dtype) -> np.ndarray:
        """Ĉ at the precision of ``dtype``: the ``rfftn`` half for a real operator."""
        cdt = _complex_of(dtype)
        got = self._spectra.get(cdt)
        if got is None:
            got = _spectrum_of(
                self._core, len(self._levels), self.dtype.kind != "c", cdt
            )
            self._spectra[cdt] = got
        return got

    def frequency_blocks(self) -> np.ndarray:
        """The frequency blocks Ĉ_f = Σⱼ Cⱼ e^{−2πi jf/k}, all of them (a new array).

        Returns
        -------
        numpy.ndarray
            Shape ``(*levels, m, n)``, complex, in ``numpy.fft`` frequency order;
            for a real operator ``Ĉ_{−f}`` is exactly ``conj(Ĉ_f)``.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.circulant import BlockCirculant
        >>> C = np.arange(8.0).reshape(2, 2, 2)
        >>> F = BlockCirculant(C).frequency_blocks()
        >>> bool(np.allclose(F, np.fft.fft(C, axis=0)))
        True
        """
        S = self._spectrum(self.dtype)
        if self.dtype.kind == "c":
            return S.copy()
        return _full_from_half(S, self._levels)

    # ----------------------------------------------------------------- products
    def _apply(self, x: np.ndarray) -> np.ndarray:
        dtype = _engine.compute_dtype(self.dtype, x.dtype)
        m, n = self.block_shape
        S = self._spectrum(dtype)
        return _engine.through_spectrum(
            x,
            self._levels,
            n,
            m,
            self.dtype.kind != "c",
            dtype,
            _engine.frequency_product(S),
        )

    def _adjoint_core(self, conjugate: bool) -> np.ndarray:
        core = _negate_levels(self._core, len(self._levels)).swapaxes(-1, -2)
        return np.ascontiguousarray(core.conj() if conjugate else core)

    def _make_adjoint(self) -> BlockCirculant:
        return BlockCirculant._from_core(
            self._adjoint_core(True), self._levels, self._kernel_form
        )

    def _make_transpose(self) -> BlockCirculant:
        return BlockCirculant._from_core(
            self._adjoint_core(False), self._levels, self._kernel_form
        )

    def _scaled(self, alpha) -> BlockCirculant:
        dtype = np.result_type(self.dtype, alpha)
        core = np.asarray(self._core * alpha, dtype=dtype)
        return BlockCirculant._from_core(core, self._levels, self._kernel_form)

    def toarray(self) -> np.ndarray:
        """The dense matrix (for checking: it forms every entry).

        Returns
        -------
        numpy.ndarray
            Shape ``self.shape``, dtype ``self.dtype``.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.circulant import BlockCirculant
        >>> BlockCirculant.from_kernel(np.array([1.0, 2.0, 3.0])).toarray()
        array([[1., 3., 2.],
               [2., 1., 3.],
               [3., 2., 1.]])
        """
        levels = self._levels
        d = len(levels)
        L = math.prod(levels)
        m, n = self.block_shape
        idx = np.indices(levels).reshape(d, L)
        sizes = np.array(levels)[:, None, None]
        diff = (idx[:, :, None] - idx[:, None, :]) % sizes
        flat = np.ravel_multi_index(tuple(diff), levels)
        dense = self._core.reshape(L, m, n)[flat]  # (L, L, m, n)
        return dense.transpose(0, 2, 1, 3).reshape(L * m, L * n).astype(self.dtype)

    # -------------------------------------------------------- linear algebra
    def _require_square(self, method: str) -> None:
        m, n = self.block_shape
        if m != n:
            raise ValueError(
                f"{call(method)} needs square blocks, got blocks of shape {m}×{n} "
                f"(operator shape {self.shape})"
            )

    def _require_finite(self, method: str) -> None:
        if not np.all(np.isfinite(self._core)):
            raise ValueError(
                f"{call(method)} needs finite blocks; the first block column has "
                "non-finite entries"
            )

    def _factorize(self) -> BlockCirculantFactorization:
        self._require_square("solve")
        return BlockCirculantFactorization(
            self._core, self._levels, self.dtype, self._spectra, self._kernel_form
        )

    def solve(self, b: ArrayLike) -> np.ndarray:
        """Solve ``A x = b`` frequency by frequency.

        Parameters
        ----------
        b : array_like, shape (N,) or (N, k)

        Returns
        -------
        numpy.ndarray
            Same shape as ``b``, dtype ``np.result_type(A.dtype, b.dtype)`` (a real
            operator and a real b give a real x; float32 stays float32).

        Raises
        ------
        ValueError
            If the blocks are not square or not finite, or ``b`` has the wrong
            length.
        numpy.linalg.LinAlgError
            If a frequency block is singular (the message names the frequency).

        Notes
        -----
        ``x̂_f = Ĉ_f⁻¹ b̂_f``. The frequency blocks are factorized once per
        precision (batched ``numpy.linalg.inv``) and applied by one batched
        ``np.matmul`` between two FFTs; a frequency block whose 1-norm condition
        number exceeds 1e6 is applied by its LU factors instead (LAPACK
        ``getrf`` once, ``getrs`` per solve), which keep the accuracy an explicit
        inverse loses. Cost per right-hand side: O(km² + m·k log k). A
        ``LinAlgWarning`` reports a frequency block whose condition number
        exceeds 1/ε. Scalar frequency blocks (:meth:`from_kernel`) divide.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.circulant import BlockCirculant
        >>> rng = np.random.default_rng(0)
        >>> A = BlockCirculant(rng.standard_normal((5, 3, 3)) + 3 * np.eye(3))
        >>> b = rng.standard_normal(15)
        >>> bool(np.allclose(A @ A.solve(b), b))
        True
        """
        self._require_square("solve")
        return super().solve(b)

    def inv(self) -> BlockCirculant:
        """The inverse, itself block-circulant (cached).

        Returns
        -------
        BlockCirculant
            First block column ``ifft(Ĉ_f⁻¹)``; its products use the inverse
            frequency blocks directly (no round trip through the blocks) at the
            operator's precision.

        Raises
        ------
        ValueError
            If the blocks are not square or not finite.
        numpy.linalg.LinAlgError
            If a frequency block is singular.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.circulant import BlockCirculant
        >>> A = BlockCirculant.from_kernel(np.array([4.0, 1.0, 0.0, 1.0]))
        >>> Ainv = A.inv()
        >>> bool(np.allclose(Ainv.toarray() @ A.toarray(), np.eye(4)))
        True
        """
        self._require_square("inv")
        return super().inv()

    def slogdet(self) -> tuple:
        """Sign and log|det A| from the frequency blocks, as ``numpy.linalg.slogdet``.

        Returns
        -------
        sign : float or complex
            For a real operator exactly ±1 (0 when singular): frequencies f and −f
            contribute det Ĉ_f · conj(det Ĉ_f) > 0, so only the real frequency
            blocks (f ≡ −f) decide the sign, each computed in real arithmetic. A
            unit complex number for a complex operator.
        logabsdet : float
            ``Σ_f log|det Ĉ_f|``.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.circulant import BlockCirculant
        >>> rng = np.random.default_rng(3)
        >>> A = BlockCirculant(rng.standard_normal((6, 2, 2)))
        >>> s, ld = A.slogdet()
        >>> rs, rld = np.linalg.slogdet(A.toarray())
        >>> bool(s == rs and np.isclose(ld, rld))
        True
        """
        self._require_square("slogdet")
        return super().slogdet()

    def eigvals(self) -> np.ndarray:
        """All eigenvalues: the union of the frequency blocks' eigenvalues.

        Returns
        -------
        numpy.ndarray
            Length N, frequency-major: entries ``f·m … f·m + m − 1`` are the
            eigenvalues of Ĉ_f, f running over the frequency grid in C order
            (``numpy.fft`` order on each level). Within a frequency block LAPACK's
            order, or ascending for a Hermitian operator, whose eigenvalues are
            returned real. A real operator's spectrum is exactly conjugate-closed.
            For :meth:`from_kernel` operators this is ``fftn(kernel).ravel()``.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.circulant import BlockCirculant
        >>> A = BlockCirculant.from_kernel(np.array([2.0, -1.0, 0.0, -1.0]))
        >>> A.eigvals()  # Hermitian: real
        array([0., 2., 4., 2.])
        """
        self._require_square("eigvals")
        self._require_finite("eigvals")
        S = self._spectrum(self.dtype)
        hermitian = self._hermitian()
        if S.shape[-2:] == (1, 1):
            w = S[..., 0]
            if hermitian:
                w = w.real
        elif hermitian:
            w = np.linalg.eigvalsh(S)
        else:
            w = np.linalg.eigvals(S)
            if self.dtype.kind != "c":
                # real frequency blocks in real arithmetic: exact conjugate pairs
                for f in _self_conjugate(self._levels):
                    w[f] = np.linalg.eigvals(S[f].real)
        if self.dtype.kind != "c":
            w = _full_from_half(w, self._levels)
        if hermitian:
            w = np.ascontiguousarray(w.real)
        return w.reshape(-1)

    def _hermitian(self) -> bool:
        return _is_hermitian(self._core, len(self._levels))

    def trace(self):
        """tr A = k · tr C₀ (square blocks); the diagonal's sum otherwise.

        Returns
        -------
        scalar

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.circulant import BlockCirculant
        >>> float(BlockCirculant(np.arange(12.0).reshape(3, 2, 2)).trace())
        9.0
        """
        m, n = self.block_shape
        if m != n:
            return self.diagonal().sum()
        L = math.prod(self._levels)
        return self.dtype.type(L * np.trace(self._core[(0,) * len(self._levels)]))

    def diagonal(self) -> np.ndarray:
        """The main diagonal (length min(M, N)), from the first block column.

        Returns
        -------
        numpy.ndarray

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.circulant import BlockCirculant
        >>> BlockCirculant(np.arange(12.0).reshape(3, 2, 2)).diagonal()
        array([0., 3., 0., 3., 0., 3.])
        """
        m, n = self.block_shape
        r = np.arange(min(self.shape))
        i, a = np.divmod(r, m)
        j, b = np.divmod(r, n)
        ii = np.unravel_index(i, self._levels)
        jj = np.unravel_index(j, self._levels)
        diff = tuple((p - q) % k for p, q, k in zip(ii, jj, self._levels, strict=True))
        return np.array(self._core[(*diff, a, b)], dtype=self.dtype)

    def _singular_values(self, method: str) -> np.ndarray:
        """Every singular value of A (those of the frequency blocks), unordered."""
        self._require_finite(method)
        S = self._spectrum(self.dtype)
        if S.shape[-2:] == (1, 1):
            return np.abs(S).reshape(-1)
        # the mirrored half of a real operator's spectrum has the same values
        return np.linalg.svd(S, compute_uv=False).reshape(-1)

    def norm(self, ord: str | float = "fro") -> float:
        """Matrix norm from the first block column: ``"fro"``, ``2``, ``1`` or ``inf``.

        Parameters
        ----------
        ord : {"fro", 2, 1, inf}

        Returns
        -------
        float

        Notes
        -----
        Every block appears k times, so ``‖A‖_F = √(k Σⱼ‖Cⱼ‖_F²)``; every block
        column (row) holds every block once, so the 1-norm (∞-norm) is the largest
        column (row) sum of ``Σⱼ|Cⱼ|``; ``‖A‖₂ = max_f σ_max(Ĉ_f)``.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.circulant import BlockCirculant
        >>> A = BlockCirculant(np.arange(12.0).reshape(3, 2, 2))
        >>> bool(np.isclose(A.norm(), np.linalg.norm(A.toarray())))
        True
        >>> bool(np.isclose(A.norm(2), np.linalg.norm(A.toarray(), 2)))
        True
        """
        if ord not in ("fro", 2, 1, np.inf, "inf"):
            raise ValueError(f"ord must be 'fro', 2, 1 or inf, got {ord!r}")
        d = len(self._levels)
        if ord == "fro":
            L = math.prod(self._levels)
            return float(math.sqrt(L) * np.linalg.norm(self._core.reshape(-1)))
        if ord == 2:
            return float(self._singular_values("norm(2)").max())
        summed = np.abs(self._core).sum(axis=tuple(range(d)))  # Σⱼ|Cⱼ|, (m, n)
        axis = 0 if ord == 1 else 1
        return float(summed.sum(axis=axis).max())

    def cond(self) -> float:
        """2-norm condition number from the frequency blocks' singular values.

        Returns
        -------
        float
            σ_max/σ_min over all frequencies (inf when some σ is 0).

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.circulant import BlockCirculant
        >>> A = BlockCirculant.from_kernel(np.array([3.0, 1.0, 0.0, 1.0]))
        >>> round(A.cond(), 6)  # eigenvalues 5, 3, 1, 3
        5.0
        """
        s = self._singular_values("cond")
        lo = float(s.min())
        return np.inf if lo == 0 else float(s.max()) / lo


class BlockCirculantFactorization(Factorization):
    """How a block-circulant operator solves: its frequency blocks, factorized.

    Per working precision, the frequency blocks' inverses (batched), with LU
    factors kept for any frequency block too ill-conditioned for its inverse.
    """

    def __init__(self, core, levels, dtype, spectra: dict, kernel_form: bool):
        self._core = core
        self._levels = tuple(levels)
        self.dtype = np.dtype(dtype)
        self._real = self.dtype.kind != "c"
        self._spectra = spectra
        self._kernel_form = kernel_form
        self._solvers: dict[np.dtype, _FrequencySolver] = {}
        L = math.prod(self._levels)
        m = core.shape[-1]
        self.shape = (L * m, L * m)

    def __repr__(self) -> str:
        return f"BlockCirculantFactorization(levels={self._levels})"

    def _spectrum(self, cdt) -> np.ndarray:
        got = self._spectra.get(cdt)
        if got is None:
            got = _spectrum_of(self._core, len(self._levels), self._real, cdt)
            self._spectra[cdt] = got
        return got

    def _solver(self, cdt) -> _FrequencySolver:
        got = self._solvers.get(cdt)
        if got is None:
            if not np.all(np.isfinite(self._core)):
                raise ValueError(
                    "solve() needs finite blocks; the first block column has "
                    "non-finite entries"
                )
            got = _FrequencySolver(self._spectrum(cdt))
            self._solvers[cdt] = got
        return got

    def solve(self, b: np.ndarray) -> np.ndarray:
        """x with A x = b, b of shape (N,) or (N, K)."""
        N = self.shape[0]
        dtype = _engine.compute_dtype(self.dtype, b.dtype)
        if b.size == 0:
            return np.zeros(b.shape, dtype=dtype)
        solver = self._solver(_complex_of(dtype))
        m = self._core.shape[-1]
        x = _engine.through_spectrum(
            b.reshape(1, N, -1), self._levels, m, m, self._real, dtype, solver.apply
        )
        return x.reshape(b.shape)

    def inverse_operator(self) -> BlockCirculant:
        """A⁻¹ as a ``BlockCirculant`` (its spectrum seeded with Ĉ_f⁻¹)."""
        cdt = _complex_of(self.dtype)
        inverse = self._solver(cdt).inverse()
        core = _core_of(inverse, self._levels, self._real, self.dtype)
        op = BlockCirculant._from_core(core, self._levels, self._kernel_form)
        op._spectra[cdt] = _readonly(inverse)
        return op

    def _related(self, conjugate: bool) -> BlockCirculantFactorization:
        d = len(self._levels)
        core = _negate_levels(self._core, d).swapaxes(-1, -2)
        core = np.ascontiguousarray(core.conj() if conjugate else core)
        return BlockCirculantFactorization(
            _readonly(core), self._levels, self.dtype, {}, self._kernel_form
        )

    def adjoint(self) -> BlockCirculantFactorization:
        """The factorization of Aᴴ (frequency blocks Ĉ_fᴴ)."""
        return self._related(True)

    def transpose(self) -> BlockCirculantFactorization:
        """The factorization of Aᵀ (frequency blocks Ĉ_fᵀ)."""
        return self._related(False)

    def slogdet(self) -> tuple:
        """``Σ_f slogdet(Ĉ_f)``; a real operator's sign is exactly ±1 or 0."""
        if not np.all(np.isfinite(self._core)):
            raise ValueError(
                "slogdet() needs finite blocks; the first block column has "
                "non-finite entries"
            )
        S = self._spectrum(_complex_of(self.dtype))
        if S.shape[-2:] == (1, 1):
            vals = S[..., 0, 0]
            absval = np.abs(vals)
            if not np.all(absval):
                return self._singular()
            signs, logs = vals / absval, np.log(absval)
        else:
            signs, logs = np.linalg.slogdet(S)
            if not np.all(signs):
                return self._singular()
        logs = logs.astype(np.float64)
        if not self._real:
            if _is_hermitian(self._core, len(self._levels)):
                # Hermitian frequency blocks: real determinants, an exact ±1
                return complex(np.prod(np.sign(signs.real))), float(np.sum(logs))
            angle = float(np.sum(np.angle(signs).astype(np.float64)))
            return complex(np.exp(1j * angle)), float(np.sum(logs))
        logabs = float(np.sum(logs * _half_weights(self._levels)))
        sign = 1.0
        for f in _self_conjugate(self._levels):
            block = S[f].real  # exactly real in exact arithmetic
            if block.shape == (1, 1):
                s = np.sign(block[0, 0])
            else:
                s = np.linalg.slogdet(block)[0]
            sign *= float(s)
        return sign, logabs

    def _singular(self) -> tuple:
        return (0.0 if self._real else 0j), -np.inf


class _FrequencySolver:
    """Ĉ_f⁻¹ for every frequency: batched inverses, LU for ill-conditioned ones."""

    def __init__(self, S: np.ndarray) -> None:
        self.S = S
        grid = S.shape[:-2]
        m = S.shape[-1]
        self.scalar = m == 1
        if self.scalar:
            zero = np.flatnonzero(S.reshape(-1) == 0)
            if zero.size:
                raise np.linalg.LinAlgError(
                    "BlockCirculant is singular: its eigenvalue at frequency "
                    f"{_frequency_name(int(zero[0]), grid)} is 0"
                )
            self._lu: dict[int, Any] = {}
            return
        flat = S.reshape(-1, m, m)
        try:
            inv = np.linalg.inv(flat)
        except np.linalg.LinAlgError:
            inv = None
        if inv is None:
            signs = np.linalg.slogdet(flat)[0]
            f = int(np.flatnonzero(signs == 0)[0])
            raise np.linalg.LinAlgError(
                f"BlockCirculant is singular: frequency block "
                f"{_frequency_name(f, grid)} ({m}×{m}) is singular"
            ) from None
        cond = np.abs(flat).sum(axis=-2).max(axis=-1) * np.abs(inv).sum(axis=-2).max(
            axis=-1
        )
        worst = int(np.argmax(np.where(np.isfinite(cond), cond, np.inf)))
        eps = np.finfo(S.dtype).eps
        if not np.isfinite(cond[worst]) or cond[worst] * eps > 1:
            warnings.warn(
                f"BlockCirculant: frequency block {_frequency_name(worst, grid)} is "
                f"ill-conditioned (1-norm condition number {cond[worst]:.3e}): the "
                "result may be inaccurate",
                sla.LinAlgWarning,
                stacklevel=6,
            )
        self.inv = _readonly(inv.reshape(S.shape))
        self._lu = {}
        getrf = sla.get_lapack_funcs("getrf", (flat,))
        for f in np.flatnonzero(~(cond <= INVERSE_COND_LIMIT)):
            lu, piv, info = getrf(flat[f])
            if info > 0:
                raise np.linalg.LinAlgError(
                    f"BlockCirculant is singular: frequency block "
                    f"{_frequency_name(int(f), grid)} ({m}×{m}) is singular"
                )
            self._lu[int(f)] = (lu, piv)

    def inverse(self) -> np.ndarray:
        """The inverse frequency blocks, (grid…, m, m)."""
        return 1.0 / self.S if self.scalar else self.inv

    def apply(self, X: np.ndarray) -> np.ndarray:
        """Ĉ_f⁻¹ X̂_f for X̂ of shape (B, grid…, m, K)."""
        if self.scalar:
            s = self.S[..., 0, 0]
            X /= s if X.ndim == s.ndim + 1 else s[..., None]
            return X
        Y = np.matmul(self.inv, X)
        if self._lu:
            getrs = sla.get_lapack_funcs("getrs", (self.S,))
            grid = self.S.shape[:-2]
            B, K, m = X.shape[0], X.shape[-1], X.shape[-2]
            for f, (lu, piv) in self._lu.items():
                at = (slice(None), *np.unravel_index(f, grid))
                cols = np.moveaxis(X[at], 0, 1).reshape(m, B * K)
                sol, _ = getrs(lu, piv, cols)
                Y[at] = np.moveaxis(sol.reshape(m, B, K), 1, 0)
        return Y


# --------------------------------------------------------------------- rules
def _same_levels(a: BlockCirculant, b: BlockCirculant) -> bool:
    return a.levels == b.levels


def _add_circulants(a: BlockCirculant, b: BlockCirculant):
    if not _same_levels(a, b) or a.block_shape != b.block_shape:
        return NotImplemented
    return BlockCirculant._from_core(
        a._core + b._core, a.levels, a._kernel_form and b._kernel_form
    )


def _add_identity(a: BlockCirculant, eye: _rules.ScaledIdentity):
    m, n = a.block_shape
    if m != n:
        return NotImplemented
    dtype = np.result_type(a.dtype, eye.sigma)
    core = np.array(a._core, dtype=dtype)
    first = core[(0,) * len(a.levels)]
    first[np.diag_indices(m)] += eye.sigma
    return BlockCirculant._from_core(core, a.levels, a._kernel_form)


def _compose_circulants(a: BlockCirculant, b: BlockCirculant):
    """Same levels: the product is block-circulant with Ĉ_f D̂_f as frequency blocks."""
    if not _same_levels(a, b):
        return NotImplemented
    dtype = np.result_type(a.dtype, b.dtype)
    real = dtype.kind != "c"
    cdt = _complex_of(dtype)
    d = len(a.levels)
    Sa = _spectrum_of(a._core, d, real, cdt)
    Sb = _spectrum_of(b._core, d, real, cdt)
    core = _core_of(np.matmul(Sa, Sb), a.levels, real, dtype)
    return BlockCirculant._from_core(core, a.levels, a._kernel_form and b._kernel_form)


_rules.register_add(BlockCirculant, BlockCirculant, _add_circulants)
_rules.register_add(BlockCirculant, _rules.ScaledIdentity, _add_identity)
_rules.register_matmul(BlockCirculant, BlockCirculant, _compose_circulants)
