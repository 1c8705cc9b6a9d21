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
import numbers
import warnings
from collections.abc import Callable, Iterator
from functools import reduce
from typing import Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from scipy.linalg import LinAlgWarning
from scipy.sparse.linalg import LinearOperator

from ._algebra import ScalarAlgebra, StackedMatvec

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
        # the unshifted N-vector, shared by every shifted copy (built once)
        self._store: dict = {}

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

    def base(self) -> np.ndarray:
        """The unshifted length-N vector (built once, shared with shifted copies)."""
        w = self._store.get("base")
        if w is None:
            w = _combine(list(self.factors), self.combine)
            w.setflags(write=False)
            self._store["base"] = w
        return w

    def full(self) -> np.ndarray:
        """The length-N vector, shift included (cached)."""
        if self._full is None:
            w = self.base()
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
        out = KronEigenvalues(list(self.factors), self.combine, self.shift + sigma)
        out._store = self._store
        return out

    def slog_sum(self) -> tuple:
        """``(sign, Σ log|wᵢ|)`` with sign = ∏ wᵢ/|wᵢ| (0 if some wᵢ = 0).

        The sign is ±1 for real values (from the parity of the negative ones) and
        a unit phase for complex ones; nothing is clamped. An unshifted product
        never forms the N values: each factor's values count N/nⱼ times.
        """
        real = all(np.isrealobj(f) for f in self.factors) and np.isrealobj(self.shift)
        if self.shift == 0 and self.combine == "product":
            N = len(self)
            parts = [(np.asarray(f), N // len(f), 0) for f in self.factors]
        else:
            # the shifted values in cache-sized chunks: no N-sized temporaries
            base = self.base()
            step = 1 << 16
            parts = [
                (base[i : i + step], 1, self.shift) for i in range(0, len(base), step)
            ]
        logabs = 0.0
        negatives = 0
        phase = 0.0
        for w, e, shift in parts:
            v = w + shift if shift != 0 else w
            a = np.abs(v)
            if not np.all(a):
                return 0.0, -np.inf
            logabs += e * float(np.sum(np.log(a, out=a)))
            if real:
                negatives += e * int(np.count_nonzero(v < 0))
            else:
                phase += e * float(np.sum(np.angle(v)))
        if real:
            return (-1.0 if negatives % 2 else 1.0), logabs
        phase = math.remainder(phase, 2 * math.pi)
        return complex(math.cos(phase), math.sin(phase)), logabs

    def log_sum(self) -> complex | float:
        """Σ log wᵢ: a float when ∏ wᵢ > 0, else the principal complex log."""
        sign, logabs = self.slog_sum()
        if sign == 0:
            return -np.inf
        if sign == 1:
            return logabs
        return complex(logabs, float(np.angle(sign)))

    def extreme(self, k: int, which: str = "LA") -> np.ndarray:
        """The k extreme eigenvalues, sorted.

        ``"LA"``/``"SA"``: largest/smallest algebraic; ``"LM"``/``"SM"``:
        largest/smallest magnitude. A best-first merge over the sorted factor spectra, O(k·d·log k), never all
        N: for sums with real spectra (LA/SA), and for products by magnitude (any
        spectra) or algebraically when the spectra are non-negative (to within
        rounding). Other cases partition the full vector.
        """
        N = len(self)
        if not isinstance(k, numbers.Integral) or not 1 <= k <= N:
            raise ValueError(f"k must be an integer between 1 and N={N}, got {k!r}")
        if which not in ("LA", "SA", "LM", "SM"):
            raise ValueError(f"which must be 'LA', 'SA', 'LM' or 'SM', got {which!r}")
        real = all(np.isrealobj(f) for f in self.factors) and np.isrealobj(self.shift)
        facs = [np.asarray(f) for f in self.factors]
        keys = None
        if self.combine == "sum" and real and which in ("LA", "SA"):
            keys = [f.astype(float) for f in facs]
            largest = which == "LA"
        elif self.combine == "product" and self.shift == 0:
            tiny = np.finfo(float).tiny
            if which in ("LM", "SM"):
                keys = [np.log(np.maximum(np.abs(f), tiny)) for f in facs]
                largest = which == "LM"
            elif real and all(
                np.min(f) >= -100 * np.finfo(f.dtype).eps * max(np.max(np.abs(f)), tiny)
                for f in facs
            ):
                # rounding can leave a PSD factor with eigenvalues like −1e-15
                keys = [np.log(np.maximum(f, tiny)) for f in facs]
                largest = which == "LA"
        if keys is not None:
            picks = _k_best_sums(keys, k, largest)
            op = np.multiply if self.combine == "product" else np.add
            vals = np.array(
                [
                    reduce(op, [f[i] for f, i in zip(facs, idx, strict=True)])
                    for idx in picks
                ]
            )
            vals = vals + self.shift
            key = {
                "LA": -vals.real,
                "SA": vals.real,
                "LM": -np.abs(vals),
                "SM": np.abs(vals),
            }[which]
            return vals[np.argsort(key, kind="stable")]
        w = self.full()
        key = {"LA": -w.real, "SA": w.real, "LM": -np.abs(w), "SM": np.abs(w)}[which]
        idx = np.argpartition(key, k - 1)[:k] if k < N else np.arange(N)
        return w[idx[np.argsort(key[idx], kind="stable")]]


def _k_best_sums(vals: list[np.ndarray], k: int, largest: bool) -> list[tuple]:
    """Index tuples of the k largest (or smallest) sums v₁[i₁]+…+v_d[i_d].

    A best-first search over the d sorted lists with a heap: O(k·d·log k).
    """
    sign = -1.0 if largest else 1.0
    orders = [np.argsort(sign * np.asarray(v), kind="stable") for v in vals]
    svals = [(sign * np.asarray(v))[o] for v, o in zip(vals, orders, strict=True)]
    start = (0,) * len(svals)
    heap = [(float(sum(v[0] for v in svals)), start)]
    seen = {start}
    out = []
    while heap and len(out) < k:
        s, idx = heapq.heappop(heap)
        out.append(tuple(int(o[i]) for o, i in zip(orders, idx, strict=True)))
        for j, v in enumerate(svals):
            if idx[j] + 1 < len(v):
                nxt = (*idx[:j], idx[j] + 1, *idx[j + 1 :])
                if nxt not in seen:
                    seen.add(nxt)
                    heapq.heappush(heap, (s - v[idx[j]] + v[idx[j] + 1], nxt))
    return out


class SpectralOperator(ScalarAlgebra, StackedMatvec, LinearOperator):
    r"""f(A) as a lazy operator, from an eigendecomposition A = V diag(w) V⁻¹.

    Applies ``V @ (f(w) * (V⁻¹ @ x))``: two Kronecker products and one length-N
    scaling. For a unitary V (Hermitian A) V⁻¹ = Vᴴ.

    Parameters
    ----------
    vectors, inverse : LinearOperator
        V and V⁻¹.
    values : ndarray, shape (N,)
        f(w).
    real : bool
        f(A) is known to be real (a real A whose f(w) is closed under conjugation):
        real inputs give real outputs, the complex rounding residue dropped.
    """

    def __init__(
        self, vectors, inverse, values: np.ndarray, real: bool = False
    ) -> None:
        self.vectors = vectors
        self.inverse = inverse
        self.values = values
        self.real = real
        dtype = np.result_type(vectors.dtype, inverse.dtype, values.dtype)
        if real and dtype.kind == "c":
            dtype = np.finfo(dtype).dtype
        super().__init__(
            dtype=dtype, shape=(int(vectors.shape[0]), int(inverse.shape[1]))
        )

    def _scaled(self, alpha) -> SpectralOperator:
        """α f(A): the scalar goes into the values."""
        values = alpha * self.values
        real = self.real and np.isrealobj(alpha)
        out = SpectralOperator(self.vectors, self.inverse, values, real)
        # NumPy's weak-scalar rule for the declared dtype
        out.dtype = np.result_type(self.dtype, alpha)
        return out

    def _matmat(self, X):
        # X: (N, K), or on scipy 1.18, stacked (..., N, K)
        if sp.issparse(X):
            X = X.toarray()
        X = np.asarray(X)
        lead = X.shape[:-2]
        N, K = X.shape[-2:]
        X2 = np.moveaxis(X.reshape(-1, N, K), 1, 0).reshape(N, -1)
        Y = self.inverse.matmat(X2)
        Y = Y * self.values[:, None]
        Y = self.vectors.matmat(Y)
        if self.real and not np.iscomplexobj(X):
            Y = Y.real
        M = self.shape[0]
        return np.moveaxis(Y.reshape(M, -1, K), 0, 1).reshape(*lead, M, K)

    def _adjoint(self):
        return SpectralOperator(
            self.inverse.H, self.vectors.H, self.values.conj(), self.real
        )

    def _transpose(self):
        return SpectralOperator(self.inverse.T, self.vectors.T, self.values, self.real)

    def toarray(self) -> np.ndarray:
        """Dense f(A) (for checking)."""
        return self.matmat(np.eye(self.shape[1], dtype=self.dtype))


def _conjugate_closed(w: np.ndarray) -> bool:
    """Whether the multiset of values is closed under conjugation (to rounding)."""
    if not np.iscomplexobj(w):
        return True
    a = np.sort_complex(w)
    b = np.sort_complex(w.conj())
    scale = max(float(np.max(np.abs(w))), np.finfo(float).tiny) if w.size else 1.0
    return bool(np.all(np.abs(a - b) <= 1e3 * np.finfo(w.real.dtype).eps * scale))


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
    >>> bool(np.allclose(np.sort(np.asarray(w)), np.linalg.eigvalsh(np.kron(A, A))))  # dense-ok: the oracle
    True
    >>> b = np.ones(4)
    >>> x = K.eigh().solve(b, shift=0.5)
    >>> bool(np.allclose((np.kron(A, A) + 0.5 * np.eye(4)) @ x, b))  # dense-ok: the oracle
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
        real: bool = False,
    ) -> None:
        self.values = values
        self.vectors = vectors
        self.inverse = inverse
        self.hermitian = hermitian
        self.vector_cond = float(vector_cond)
        #: the decomposed operator is real (its eigenpairs may still be complex)
        self.real = real

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
            self.real and np.isrealobj(sigma),
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
        w = self.values.full()
        real_out = self.real and np.isrealobj(shift) and not np.iscomplexobj(b)
        y = self.inverse @ b  # a fresh array: divide it in place
        if np.result_type(y, w, shift) != y.dtype:
            y = y.astype(np.result_type(y, w, shift))
        # in cache-sized chunks, so w + shift never needs an N-sized temporary
        step = 1 << 16
        for i in range(0, N, step):
            wc = w[i : i + step] + shift if shift != 0 else w[i : i + step]
            if not np.all(wc):
                raise np.linalg.LinAlgError(
                    f"the operator{' plus shift' if shift != 0 else ''} is "
                    "singular: it has a zero eigenvalue"
                )
            yc = y[i : i + step]
            np.divide(yc, wc[:, None] if y.ndim == 2 else wc, out=yc)
        x = self.vectors @ y
        return x.real if real_out and np.iscomplexobj(x) else x

    def logdet(self, shift=0.0):
        """log det(A + shift·I), principal branch.

        A float when the determinant is positive, else ``log|det| + i·arg det``;
        ``-inf`` if singular.
        """
        sign, logabs = self.slogdet(shift)
        if sign == 0:
            return -np.inf
        if sign == 1:
            return logabs
        return complex(logabs, float(np.angle(sign)))

    def slogdet(self, shift=0.0) -> tuple:
        """``(sign, logabsdet)`` of ``A + shift·I``, as ``numpy.linalg.slogdet``."""
        self._check_cond("logdet")
        vals = self.values if shift == 0 else self.values.shifted(shift)
        sign, logabs = vals.slog_sum()
        if self.real and np.isrealobj(shift) and isinstance(sign, complex):
            # conjugate pairs of a real operator: the phase is 0 or π up to rounding
            sign = 1.0 if sign.real > 0 else -1.0
        return sign, logabs

    def apply(
        self, f: Callable[[np.ndarray], np.ndarray], shift=0.0
    ) -> SpectralOperator:
        """f(A + shift·I) as a lazy operator, e.g. ``apply(np.sqrt)``, ``apply(np.exp)``.

        ``f`` must act elementwise on an array of eigenvalues.
        """
        self._check_cond("f(A)")
        fw = np.asarray(f(self._diag(shift)))
        real = self.real and np.isrealobj(shift) and _conjugate_closed(fw)
        return SpectralOperator(self.vectors, self.inverse, fw, real)

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
