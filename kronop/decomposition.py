r"""Eigen- and singular-value decompositions kept in factored form.

A Kronecker product ⊗Aⱼ and a Kronecker sum ⊕Aⱼ share eigenvectors ⊗Vⱼ; their
eigenvalues are the products λ₁λ₂⋯ or the sums λ₁+λ₂+⋯ of the factor eigenvalues.
:class:`KronEigen` keeps the factor spectra and the factor eigenvectors and answers
solves, log-determinants, shifts, matrix functions and extreme eigenvalues from
them, building a length-N vector only where the answer needs one.
"""

from __future__ import annotations

import heapq
import math
import warnings
from collections.abc import Callable, Iterator
from functools import reduce
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg import LinAlgWarning
from scipy.sparse.linalg import LinearOperator

__all__ = ["KronEigen", "KronEigenvalues", "KronSVD", "SpectralOperator"]

Combine = Literal["product", "sum"]


def _combine(values: list[np.ndarray], how: Combine) -> np.ndarray:
    """Length-N vector of all products (or sums) of factor values, ``np.kron`` order."""
    op = np.multiply if how == "product" else np.add
    return reduce(op.outer, values).reshape(-1)


class KronEigenvalues:
    """Eigenvalues of a Kronecker product or sum, kept as factor spectra.

    ``np.asarray(w)`` is the length-N vector in ``np.kron`` order (built on demand
    and cached); ``w.factors`` are the factor spectra; ``w.shift`` is added to every
    value.

    Parameters
    ----------
    factors : list of ndarray
        Eigenvalues of each factor.
    combine : {"product", "sum"}
        How factor eigenvalues combine: a Kronecker product or a Kronecker sum.
    shift : scalar, optional
        Added to every combined value.
    """

    def __init__(self, factors: list[np.ndarray], combine: Combine, shift=0.0) -> None:
        self.factors = tuple(np.asarray(f) for f in factors)
        self.combine = combine
        self.shift = shift
        self._full: np.ndarray | None = None

    @property
    def dtype(self) -> np.dtype:
        """dtype of the eigenvalues."""
        return np.result_type(*self.factors, self.shift)

    def __len__(self) -> int:
        return math.prod(len(f) for f in self.factors)

    @property
    def shape(self) -> tuple[int]:
        """``(N,)``."""
        return (len(self),)

    def full(self) -> np.ndarray:
        """The length-N vector (cached)."""
        if self._full is None:
            w = _combine(list(self.factors), self.combine)
            if self.shift != 0:
                w = w + self.shift
            w.setflags(write=False)
            self._full = w
        return self._full

    def __array__(self, dtype=None, copy=None):
        w = self.full()
        if dtype is not None:
            return w.astype(dtype)
        return w.copy() if copy else w

    def __repr__(self) -> str:
        parts = " and ".join(f"{len(f)}" for f in self.factors)
        shift = f" + {self.shift}" if self.shift != 0 else ""
        return f"KronEigenvalues(N={len(self)}, {self.combine} of spectra of sizes {parts}{shift})"

    def shifted(self, sigma) -> KronEigenvalues:
        """The eigenvalues of the operator plus ``sigma·I``."""
        return KronEigenvalues(list(self.factors), self.combine, self.shift + sigma)

    def log_sum(self) -> complex | float:
        """Σ log wᵢ (complex when some wᵢ are negative or complex)."""
        if self.shift == 0 and self.combine == "product":
            N = len(self)
            total = 0.0
            for f in self.factors:
                total = total + (N // len(f)) * np.sum(_log(f))
            return total
        return np.sum(_log(self.full()))

    def extreme(self, k: int, which: str = "LA") -> np.ndarray:
        """The k largest (``"LA"``) or smallest (``"SA"``) eigenvalues, sorted.

        A k-way merge over the sorted factor spectra: O(k·d·log k), never all N,
        for Kronecker sums with real spectra and for products of positive spectra.
        Other cases (mixed signs in a product, complex spectra, ``"LM"``/``"SM"``)
        partition the full vector.
        """
        N = len(self)
        if not 1 <= k <= N:
            raise ValueError(f"k must be between 1 and N={N}, got {k}")
        if which not in ("LA", "SA", "LM", "SM"):
            raise ValueError(f"which must be 'LA', 'SA', 'LM' or 'SM', got {which!r}")
        real = all(np.isrealobj(f) for f in self.factors) and np.isrealobj(self.shift)
        positive = real and all(np.all(f > 0) for f in self.factors)
        if which in ("LA", "SA") and real and (self.combine == "sum" or positive):
            logs = self.combine == "product"
            vals = [
                np.log(f) if logs else np.asarray(f, dtype=float) for f in self.factors
            ]
            top = _k_best_sums(vals, k, largest=(which == "LA"))
            out = np.exp(top) if logs else top
            out = out + self.shift
            return np.sort(out)[::-1] if which == "LA" else np.sort(out)
        w = self.full()
        key = {"LA": -w.real, "SA": w.real, "LM": -np.abs(w), "SM": np.abs(w)}[which]
        idx = np.argpartition(key, k - 1)[:k] if k < N else np.arange(N)
        return w[idx[np.argsort(key[idx], kind="stable")]]


def _log(x):
    x = np.asarray(x)
    if np.iscomplexobj(x) or np.any(x < 0):
        return np.log(x.astype(np.complex128))
    return np.log(x)


def _k_best_sums(vals: list[np.ndarray], k: int, largest: bool) -> np.ndarray:
    """k largest (or smallest) sums v₁[i₁]+…+v_d[i_d], by a best-first heap."""
    sign = -1.0 if largest else 1.0
    svals = [np.sort(sign * np.asarray(v)) for v in vals]  # ascending in sign·v
    start = (0,) * len(svals)
    heap = [(float(sum(v[0] for v in svals)), start)]
    seen = {start}
    out = []
    while heap and len(out) < k:
        s, idx = heapq.heappop(heap)
        out.append(sign * s)
        for j, v in enumerate(svals):
            if idx[j] + 1 < len(v):
                nxt = (*idx[:j], idx[j] + 1, *idx[j + 1 :])
                if nxt not in seen:
                    seen.add(nxt)
                    heapq.heappush(heap, (s - v[idx[j]] + v[idx[j] + 1], nxt))
    return np.asarray(out)


class SpectralOperator(LinearOperator):
    r"""f(A) as a lazy operator, from an eigendecomposition A = V diag(w) V⁻¹.

    Applies ``V @ (f(w) * (V⁻¹ @ x))``: two Kronecker products and one length-N
    scaling. For a unitary V (Hermitian A) V⁻¹ = Vᴴ.

    Parameters
    ----------
    vectors, inverse : LinearOperator
        V and V⁻¹.
    values : ndarray, shape (N,)
        f(w).
    """

    def __init__(self, vectors, inverse, values: np.ndarray) -> None:
        self.vectors = vectors
        self.inverse = inverse
        self.values = values
        dtype = np.result_type(vectors.dtype, inverse.dtype, values.dtype)
        super().__init__(
            dtype=dtype, shape=(int(vectors.shape[0]), int(inverse.shape[1]))
        )

    def _matmat(self, X):
        X = np.asarray(X)
        Y = self.inverse.matmat(X) if X.ndim == 2 else self.inverse @ X
        Y = (
            Y * self.values.reshape(-1, *([1] * (Y.ndim - 1)))
            if Y.ndim > 1
            else Y * self.values
        )
        return self.vectors.matmat(Y) if Y.ndim == 2 else self.vectors @ Y

    def _matvec(self, x):
        x = np.asarray(x)
        if x.ndim == 2:
            return self._matmat(x)
        return self._matmat(x.reshape(-1, 1))[:, 0]

    def _adjoint(self):
        return SpectralOperator(self.inverse.H, self.vectors.H, self.values.conj())

    def _transpose(self):
        return SpectralOperator(self.inverse.T, self.vectors.T, self.values)

    def toarray(self) -> np.ndarray:
        """Dense f(A) (for checking)."""
        return self.matmat(np.eye(self.shape[1], dtype=self.dtype))


class KronEigen:
    r"""Eigendecomposition of a Kronecker product or sum, kept in factored form.

    Unpacks as ``w, V = decomposition``: ``w`` is a :class:`KronEigenvalues`
    (``np.asarray(w)`` gives the length-N vector in ``np.kron`` order), ``V`` the
    eigenvectors ⊗Vⱼ as a ``KronOperator``.

    Parameters
    ----------
    values : KronEigenvalues
    vectors : KronOperator
        ⊗Vⱼ.
    inverse : KronOperator
        ⊗Vⱼ⁻¹ (⊗Vⱼᴴ when every factor is Hermitian).
    hermitian : bool
        Whether V is unitary (every factor Hermitian).
    vector_cond : float
        max over factors of the eigenvector condition number κ(Vⱼ) (1 when unitary).

    Notes
    -----
    With :math:`A = V \Lambda V^{-1}`, everything reduces to the diagonal:

    .. math:: (A + \sigma I)^{-1} b = V (\Lambda + \sigma)^{-1} V^{-1} b, \qquad
              \log\det(A + \sigma I) = \textstyle\sum_i \log(\lambda_i + \sigma),
              \qquad f(A) = V f(\Lambda) V^{-1}.

    A solve costs two Kronecker products and one length-N division; a log-determinant
    O(N) (O(Σnⱼ) for an unshifted product). For non-normal factors the accuracy of
    these formulas degrades with κ(V); when ``vector_cond`` exceeds 1e8 they warn
    (``LinAlgWarning``).

    Examples
    --------
    >>> import numpy as np
    >>> from kronop import KronOperator
    >>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
    >>> K = KronOperator(A, A)
    >>> w, V = K.eigh()
    >>> bool(np.allclose(np.sort(np.asarray(w)), np.linalg.eigvalsh(np.kron(A, A))))
    True
    >>> b = np.ones(4)
    >>> x = K.eigh().solve(b, shift=0.5)
    >>> bool(np.allclose((np.kron(A, A) + 0.5 * np.eye(4)) @ x, b))
    True
    """

    COND_WARN = 1e8

    def __init__(
        self,
        values: KronEigenvalues,
        vectors,
        inverse,
        hermitian: bool,
        vector_cond: float = 1.0,
    ) -> None:
        self.values = values
        self.vectors = vectors
        self.inverse = inverse
        self.hermitian = hermitian
        self.vector_cond = float(vector_cond)

    def __iter__(self) -> Iterator:
        yield self.values
        yield self.vectors

    def __getitem__(self, i: int):
        return (self.values, self.vectors)[i]

    def __len__(self) -> int:
        return 2

    def __repr__(self) -> str:
        return f"KronEigen({self.values!r}, hermitian={self.hermitian})"

    @property
    def eigenvalues(self) -> KronEigenvalues:
        """The eigenvalues (alias of ``values``)."""
        return self.values

    @property
    def eigenvectors(self):
        """The eigenvectors ⊗Vⱼ (alias of ``vectors``)."""
        return self.vectors

    def _check_cond(self, what: str) -> None:
        if self.vector_cond > self.COND_WARN:
            warnings.warn(
                f"{what} from an eigendecomposition whose eigenvectors are "
                f"ill-conditioned (κ(V) = {self.vector_cond:.2e}): the result may be "
                "inaccurate",
                LinAlgWarning,
                stacklevel=3,
            )

    def _diag(self, shift) -> np.ndarray:
        w = self.values.full()
        return w + shift if shift != 0 else w

    def shift(self, sigma) -> KronEigen:
        """The decomposition of ``A + sigma·I`` (same vectors, shifted values)."""
        return KronEigen(
            self.values.shifted(sigma),
            self.vectors,
            self.inverse,
            self.hermitian,
            self.vector_cond,
        )

    def solve(self, b: ArrayLike, shift=0.0) -> np.ndarray:
        """Solve ``(A + shift·I) x = b`` for b of shape (N,) or (N, k).

        Raises
        ------
        numpy.linalg.LinAlgError
            If ``A + shift·I`` is singular (an eigenvalue is zero).
        """
        b = np.asarray(b)
        N = len(self.values)
        if b.shape[:1] != (N,) or b.ndim > 2:
            raise ValueError(f"b must have shape ({N},) or ({N}, k), got {b.shape}")
        self._check_cond("solve")
        w = self._diag(shift)
        if np.any(w == 0):
            raise np.linalg.LinAlgError(
                f"the operator{' plus shift' if shift != 0 else ''} is singular: "
                "it has a zero eigenvalue"
            )
        y = self.inverse @ b  # a fresh array: divide in place
        wd = w[:, None] if y.ndim == 2 else w
        if np.result_type(y, wd) == y.dtype:
            np.divide(y, wd, out=y)
        else:
            y = y / wd
        return self.vectors @ y

    def logdet(self, shift=0.0):
        """log det(A + shift·I): a float, or complex when the determinant is not positive."""
        self._check_cond("logdet")
        vals = self.values if shift == 0 else self.values.shifted(shift)
        total = vals.log_sum()
        if np.iscomplexobj(total):
            # the imaginary part is only defined modulo 2π
            total = complex(total.real, math.remainder(total.imag, 2 * math.pi))
            if total.imag == 0 and total.real == total.real:
                return float(total.real)
        return total

    def slogdet(self, shift=0.0) -> tuple:
        """``(sign, logabsdet)`` of ``A + shift·I``, as ``numpy.linalg.slogdet``."""
        ld = self.logdet(shift)
        if isinstance(ld, complex):
            sign = np.exp(1j * ld.imag)
            if abs(sign.imag) < 1e-12 and not np.iscomplexobj(
                np.asarray(self.values.factors[0])
            ):
                sign = float(np.sign(sign.real))
            return sign, ld.real
        if ld == -np.inf:
            return 0.0, -np.inf
        return 1.0, float(ld)

    def apply(
        self, f: Callable[[np.ndarray], np.ndarray], shift=0.0
    ) -> SpectralOperator:
        """f(A + shift·I) as a lazy operator, e.g. ``apply(np.sqrt)``, ``apply(np.exp)``.

        ``f`` must act elementwise on an array of eigenvalues.
        """
        self._check_cond("f(A)")
        fw = np.asarray(f(self._diag(shift)))
        return SpectralOperator(self.vectors, self.inverse, fw)

    def eigvals(self, k: int | None = None, which: str = "LA") -> np.ndarray:
        """All N eigenvalues (``np.kron`` order), or the k extreme ones (sorted).

        ``which``: ``"LA"``/``"SA"`` largest/smallest algebraic, ``"LM"``/``"SM"``
        largest/smallest magnitude.
        """
        if k is None:
            return np.array(self.values.full())
        return self.values.extreme(k, which)

    def operator(self) -> SpectralOperator:
        """A = V diag(w) V⁻¹ rebuilt as an operator (for checking)."""
        return self.apply(lambda w: w)


class KronSVD:
    """Thin SVD of a Kronecker product: unpacks as ``U, s, Vh``.

    ``U`` (M×r) and ``Vh`` (r×N) are ``KronOperator``s with orthonormal columns/rows,
    ``s`` a :class:`KronEigenvalues` (``np.asarray(s)`` gives the r singular values
    in ``np.kron`` order, not sorted), r = ∏ min(mⱼ, nⱼ).
    """

    def __init__(self, U, s: KronEigenvalues, Vh) -> None:
        self.U, self.s, self.Vh = U, s, Vh

    def __iter__(self) -> Iterator:
        yield self.U
        yield self.s
        yield self.Vh

    def __getitem__(self, i: int):
        return (self.U, self.s, self.Vh)[i]

    def __len__(self) -> int:
        return 3

    def __repr__(self) -> str:
        return f"KronSVD(U {self.U.shape}, s {self.s!r}, Vh {self.Vh.shape})"
