r"""Eigen- and singular-value decompositions kept in factored form.

A Kronecker product ⊗Aⱼ and a Kronecker sum ⊕Aⱼ share eigenvectors ⊗Vⱼ; their
eigenvalues are the products λ₁λ₂⋯ or the sums λ₁+λ₂+⋯ of the factor eigenvalues.
:class:`KronEigen` keeps the factor spectra and the factor eigenvectors and answers
solves, log-determinants, shifts, matrix functions and extreme eigenvalues from
them, building a length-N vector only where the answer needs one. It is *the* spectral
factorization of the library: ``S.solve``, ``S.eigh().solve`` and ``(K + σI).solve``
all run its :meth:`KronEigen.solve`, with one null-space policy
(:meth:`KronEigenvalues.null_tolerance`). Fast transforms (DST, DCT, real FFT) ride
in its eigenvector operators as factors, so the engine applies them.
"""

from __future__ import annotations

import heapq
import math
import numbers
import sys
import warnings
from collections.abc import Callable, Iterator
from functools import partial, reduce
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg import LinAlgWarning
from scipy.sparse.linalg import LinearOperator

from . import _engine, _lazy
from ._base import (
    Factorization,
    LazyScaled,
    StructuredOperator,
    check_rhs,
    logdet_from_slogdet,
)
from ._compat import call

if TYPE_CHECKING:
    from dask.array import Array as DaskArray

__all__ = [
    "KronEigen",
    "KronEigenvalues",
    "KronSVD",
    "SolveOperator",
    "SpectralOperator",
    "sign_like",
    "unit_power",
]

Combine = Literal["product", "sum"]


def _real_dtype(dtype) -> np.dtype:
    return np.dtype(np.dtype(dtype).type(0).real.dtype)


class EigenvalueVector:
    """A length-N vector of eigenvalues kept in parts, built on demand.

    The shared protocol of :class:`KronEigenvalues` and the block-diagonal
    eigenvalues: ``np.asarray(w)`` is the vector (cached, read-only; the unshifted
    vector is shared by every shifted copy), ``len``/``size``/``shape``, and
    pickling without the N-vectors. A subclass sets ``factors``, ``shift``,
    ``_full`` and ``_store`` and says how its N values are built (``_build``)
    and counted (``size``).
    """

    factors: tuple
    shift: Any
    _full: np.ndarray | None
    _store: dict

    @property
    def size(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _build(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getstate__(self) -> dict:
        # the length-N vectors are rebuilt on demand, never pickled
        return {**self.__dict__, "_full": None, "_store": {}}

    @property
    def dtype(self) -> np.dtype:
        """dtype of the eigenvalues."""
        return np.result_type(*self.factors, self.shift)

    def __len__(self) -> int:
        n = self.size
        if n > sys.maxsize:
            # Python's len() is capped at sys.maxsize; say where the count lives
            raise OverflowError(
                f"there are {n} eigenvalues, more than len() can return "
                f"({sys.maxsize}); use .size"
            )
        return n

    @property
    def shape(self) -> tuple[int]:
        """``(N,)``."""
        return (self.size,)

    def base(self) -> np.ndarray:
        """The unshifted length-N vector (built once, shared with shifted copies)."""
        w = self._store.get("base")
        if w is None:
            w = self._build()
            w.setflags(write=False)
            self._store["base"] = w
        return w

    def full(self) -> np.ndarray:
        """The length-N vector, shift included (cached, read-only)."""
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


class KronEigenvalues(EigenvalueVector):
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
    exact : sequence of bool, optional
        Per factor, whether its values are exact to rounding (analytic spectra,
        identities): they then carry an error ε·|λ| instead of ε·‖A‖, which
        decides what counts as a zero eigenvalue (:meth:`null_bound`).

    Examples
    --------
    >>> import numpy as np
    >>> from kronop import KronEigenvalues
    >>> w = KronEigenvalues([np.array([1.0, 2.0]), np.array([3.0, 5.0])], "product")
    >>> print(np.asarray(w))
    [ 3.  5.  6. 10.]
    >>> s = KronEigenvalues([np.array([1.0, 2.0]), np.array([10.0, 20.0])], "sum")
    >>> print(np.asarray(s))
    [11. 21. 12. 22.]
    """

    def __init__(
        self, factors: list[np.ndarray], combine: Combine, shift=0.0, exact=None
    ) -> None:
        self.factors = tuple(_readonly_view(f) for f in factors)
        self.combine = combine
        self.shift = shift
        self.exact = (
            (False,) * len(self.factors) if exact is None else tuple(map(bool, exact))
        )
        self._full: np.ndarray | None = None
        # the unshifted N-vector, shared by every shifted copy (built once)
        self._store: dict = {}

    @property
    def size(self) -> int:
        """N, the number of eigenvalues (a Python int: any size).

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronEigenvalues
        >>> w = KronEigenvalues([np.ones(10**5)] * 4, "sum")
        >>> w.size  # counted from the factors, never built
        100000000000000000000
        """
        return math.prod(len(f) for f in self.factors)

    def _build(self) -> np.ndarray:
        return _engine.kron_values(list(self.factors), self.combine)

    def __repr__(self) -> str:
        parts = " and ".join(f"{len(f)}" for f in self.factors)
        shift = f" + {self.shift}" if self.shift != 0 else ""
        return (
            f"KronEigenvalues(N={self.size}, {self.combine} of spectra of sizes "
            f"{parts}{shift})"
        )

    def shifted(self, sigma) -> KronEigenvalues:
        """The eigenvalues of the operator plus ``sigma·I``.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronEigenvalues
        >>> w = KronEigenvalues([np.array([1.0, 2.0]), np.array([3.0, 5.0])], "product")
        >>> print(np.asarray(w.shifted(1.0)))
        [ 4.  6.  7. 11.]
        """
        out = KronEigenvalues(
            list(self.factors), self.combine, self.shift + sigma, self.exact
        )
        out._store = self._store
        return out

    def conj(self) -> KronEigenvalues:
        """The conjugate eigenvalues (of the adjoint).

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronEigenvalues
        >>> w = KronEigenvalues([np.array([1j, 2.0]), np.array([3.0, 5.0])], "product")
        >>> bool(np.allclose(np.asarray(w.conj()), np.conj(np.asarray(w))))
        True
        """
        if np.isrealobj(self.shift) and all(np.isrealobj(f) for f in self.factors):
            return self
        return KronEigenvalues(
            [np.conj(f) for f in self.factors],
            self.combine,
            np.conj(self.shift),
            self.exact,
        )

    def null_bound(self) -> tuple:
        """``(base, a, b)``: an eigenvalue i is zero when |λᵢ| ≤ a·base[i] + b.

        This is the one null-space policy: an eigenvalue is zero when it is within
        its own rounding error of zero. A factor's computed eigenvalues carry an
        error of about ε‖Aⱼ‖ (backward-stable ``eigh``/``eig``; ‖Aⱼ‖ taken as
        max |λⱼ|), or ε|λⱼ| when they are exact (analytic spectra). A sum
        λ₁+…+λ_d + σ then carries about ε(Σⱼ errⱼ + |σ|), a product
        λ₁⋯λ_d + σ about ε(Σⱼ errⱼ ∏_{k≠j} |λₖ| + |σ|); ``a`` is d·ε in the
        operator's precision. So a float32 operator is singular only when it is
        singular in float32 (κ ≳ 1/ε), the constant mode of a Neumann Laplacian
        (λ = 0 exactly) is always null, and a product of small but accurate factor
        eigenvalues never is. ``base`` is None when the bound is the same for every
        eigenvalue (``b`` alone), else a length-N array built once and shared by
        every shifted copy.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import laplacian
        >>> w, V = laplacian((3, 4), bc="neumann").eigh()  # the constants are null
        >>> base, a, b = w.null_bound()
        >>> int(np.count_nonzero(np.abs(np.asarray(w)) <= a * base + b))
        1
        """
        d = len(self.factors)
        eps = float(np.finfo(_engine.compute_dtype(*self.factors)).eps)
        a = d * eps
        mags = [float(np.max(np.abs(f))) if f.size else 0.0 for f in self.factors]
        if self.combine == "sum" and not any(self.exact):
            return None, a, a * (sum(mags) + abs(self.shift))
        base = self._store.get("error_base")
        if base is None:
            absf = [np.abs(f) for f in self.factors]
            # the error of factor j's value: ε|λⱼ| if exact, else ε‖Aⱼ‖
            errs = [
                absf[j] if self.exact[j] else np.full(len(absf[j]), mags[j])
                for j in range(d)
            ]
            if self.combine == "sum":
                base = _engine.kron_values(errs, "sum")
            else:
                terms = []
                for j in range(d):
                    vectors = list(absf)
                    vectors[j] = errs[j]
                    terms.append((1.0, vectors))
                base = _engine.kron_terms(terms, np.float64)
            base.setflags(write=False)
            self._store["error_base"] = base
        return base, a, a * abs(self.shift)

    def block(self, ranges) -> np.ndarray:
        """The values on one block of the grid, shift included (grid-shaped).

        ``ranges`` holds one ``(start, stop)`` per factor; the result has shape
        ``(stop₁ − start₁, …)`` and costs only its own size.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronEigenvalues
        >>> s = KronEigenvalues([np.array([1.0, 2.0]), np.array([10.0, 20.0])], "sum")
        >>> print(s.block([(1, 2), (0, 2)]))
        [[12. 22.]]
        """
        self._check_ranges(ranges, "block")
        vals = _on_block(self.factors, self.combine, ranges)
        return vals + self.shift if self.shift != 0 else vals

    def _check_ranges(self, ranges, method: str) -> None:
        sizes = [len(f) for f in self.factors]
        got = [tuple(r) for r in ranges]
        if len(got) != len(sizes) or any(
            len(r) != 2 or not 0 <= r[0] <= r[1] <= n
            for r, n in zip(got, sizes, strict=False)
        ):
            raise ValueError(
                f"{method}(): ranges must be one (start, stop) per factor with "
                f"0 ≤ start ≤ stop ≤ nⱼ for the grid {tuple(sizes)}, got {got}"
            )

    def null_bound_block(self, ranges) -> tuple:
        """:meth:`null_bound` on one block of the grid: ``(base, a, b)``.

        ``base`` is None or grid-shaped like :meth:`block`; the policy is the same.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import laplacian
        >>> w, V = laplacian((3, 4), bc="neumann").eigh()
        >>> base, a, b = w.null_bound_block([(0, 2), (0, 4)])
        >>> block = w.block([(0, 2), (0, 4)])
        >>> int(np.count_nonzero(np.abs(block) <= a * base + b))  # the constant
        1
        """
        self._check_ranges(ranges, "null_bound_block")
        d = len(self.factors)
        eps = float(np.finfo(_engine.compute_dtype(*self.factors)).eps)
        a = d * eps
        mags = [float(np.max(np.abs(f))) if f.size else 0.0 for f in self.factors]
        if self.combine == "sum" and not any(self.exact):
            return None, a, a * (sum(mags) + abs(self.shift))
        absf = [
            np.abs(f[r0:r1]) for f, (r0, r1) in zip(self.factors, ranges, strict=True)
        ]
        errs = [
            absf[j] if self.exact[j] else np.full(len(absf[j]), mags[j])
            for j in range(d)
        ]
        whole = [(0, len(v)) for v in absf]
        if self.combine == "sum":
            base = _on_block(errs, "sum", whole)
        else:
            base = 0
            for j in range(d):
                vectors = list(absf)
                vectors[j] = errs[j]
                base = base + _on_block(vectors, "product", whole)
        return base, a, a * abs(self.shift)

    def null_tolerance(self):
        """The bound of :meth:`null_bound`: a float for sums, length N for products.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import laplacian
        >>> w, V = laplacian((3, 4), bc="neumann").eigh()  # the constants are null
        >>> int(np.count_nonzero(np.abs(np.asarray(w)) <= w.null_tolerance()))
        1
        """
        base, a, b = self.null_bound()
        return b if base is None else _engine.affine(base, a, b)

    def slog_sum(self) -> tuple:
        """``(sign, Σ log|wᵢ|)`` with sign = ∏ wᵢ/|wᵢ| (0 if some wᵢ = 0).

        The sign is ±1 for real values (from the parity of the negative ones) and
        a unit phase for complex ones; nothing is clamped. An unshifted product
        never forms the N values: each factor's values count N/nⱼ times.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronEigenvalues
        >>> f1, f2 = np.array([1.0, 2.0]), np.array([3.0, 5.0])
        >>> w = KronEigenvalues([f1, f2], "product", shift=-4.0)  # -1, 1, 2, 6
        >>> sign, logabs = w.slog_sum()
        >>> sign, bool(np.isclose(logabs, np.log(12.0)))
        (-1.0, True)
        """
        real = all(np.isrealobj(f) for f in self.factors) and np.isrealobj(self.shift)
        if self.shift == 0 and self.combine == "product":
            N = self.size
            parts = [(f, N // len(f), 0) for f in self.factors]
        else:
            parts = [(self.base(), 1, self.shift)]
        negatives, logabs, phase = _engine.log_abs_sum(parts, real)
        if logabs == -np.inf:
            return 0.0, -np.inf
        if real:
            return (-1.0 if negatives % 2 else 1.0), logabs
        phase = math.remainder(phase, 2 * math.pi)
        return complex(math.cos(phase), math.sin(phase)), logabs

    def log_sum(self) -> complex | float:
        """Σ log wᵢ: a float when ∏ wᵢ > 0, else the principal complex log.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronEigenvalues
        >>> f1, f2 = np.array([1.0, 2.0]), np.array([3.0, 5.0])
        >>> w = KronEigenvalues([f1, f2], "product")  # 3, 5, 6, 10
        >>> bool(np.isclose(w.log_sum(), np.log(900.0)))
        True
        >>> z = w.shifted(-4.0).log_sum()  # -1, 1, 2, 6: a negative product
        >>> bool(np.isclose(z, np.log(-12.0 + 0j)))
        True
        """
        return logdet_from_slogdet(*self.slog_sum())

    def extreme(self, k: int, which: str = "LA") -> np.ndarray:
        """The k extreme eigenvalues, sorted.

        ``"LA"``/``"SA"``: largest/smallest algebraic; ``"LM"``/``"SM"``:
        largest/smallest magnitude. Never all N at once: a best-first merge over the
        sorted factor spectra, O(k·d·log k), for sums with real spectra (LA, SA and
        LM, the largest magnitudes being among the k largest and k smallest values)
        and for products by magnitude (any spectra) or algebraically when the
        spectra are non-negative (to within rounding); the other cases (SM of a sum,
        complex sums, shifted products) stream over the grid in slabs, O(N) time and
        O(N/n₁ + k) memory.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronEigenvalues
        >>> w = KronEigenvalues([np.array([1.0, 2.0]), np.array([3.0, 5.0])], "product")
        >>> print(w.extreme(2), w.extreme(2, "SA"))
        [10.  6.] [3. 5.]
        """
        N = self.size
        if not isinstance(k, numbers.Integral) or not 1 <= k <= N:
            raise ValueError(f"k must be an integer between 1 and N={N}, got {k!r}")
        if which not in ("LA", "SA", "LM", "SM"):
            raise ValueError(f"which must be 'LA', 'SA', 'LM' or 'SM', got {which!r}")
        real = all(np.isrealobj(f) for f in self.factors) and np.isrealobj(self.shift)
        facs = list(self.factors)
        key = partial(_order_key, which=which)
        if self.combine == "sum" and real and which != "SM":
            keys = [f.astype(float) for f in facs]
            if which == "LM":  # among the k largest and the k smallest values
                picks = set(_k_best_sums(keys, k, True)) | set(
                    _k_best_sums(keys, k, False)
                )
                return _sorted(self._values_at(sorted(picks)), key)[:k]
            return self._merge(keys, k, which == "LA")
        if self.combine == "product" and self.shift == 0:
            tiny = np.finfo(float).tiny
            if which in ("LM", "SM"):
                keys = [np.log(np.maximum(np.abs(f), tiny)) for f in facs]
                return _sorted(self._merge(keys, k, which == "LM"), key)
            if real and all(
                np.min(f) >= -100 * np.finfo(f.dtype).eps * max(np.max(np.abs(f)), tiny)
                for f in facs
            ):
                # rounding can leave a PSD factor with eigenvalues like −1e-15
                keys = [np.log(np.maximum(f, tiny)) for f in facs]
                return _sorted(self._merge(keys, k, which == "LA"), key)
        return _engine.k_extreme_grid(facs, self.combine, self.shift, k, key)

    def _merge(self, keys: list[np.ndarray], k: int, largest: bool) -> np.ndarray:
        """The combined values at the k best index tuples of Σ keys (sorted)."""
        vals = self._values_at(_k_best_sums(keys, k, largest))
        return vals[np.argsort(-vals.real if largest else vals.real, kind="stable")]

    def _values_at(self, picks) -> np.ndarray:
        """The combined values (shift included) at the given index tuples."""
        op = np.multiply if self.combine == "product" else np.add
        vals = np.array(
            [
                reduce(op, [f[i] for f, i in zip(self.factors, idx, strict=True)])
                for idx in picks
            ]
        )
        return vals + self.shift


def _sorted(vals: np.ndarray, key) -> np.ndarray:
    return vals[np.argsort(key(vals), kind="stable")]


def unit_power(z, e: int):
    """z**e for a sign (±1 or a unit complex number), exact for real signs."""
    if not isinstance(z, complex | np.complexfloating):
        return 1.0 if (z > 0 or e % 2 == 0) else -1.0
    result, base = complex(1.0), complex(z)
    while e:
        if e & 1:
            result *= base
            result /= abs(result)
        base *= base
        base /= abs(base)
        e >>= 1
    return result


def sign_like(sign, real: bool, dtype):
    """A determinant's sign as numpy gives it, for an operator of ``dtype``.

    ±1 for a real operator (the phase of conjugate pairs is 0 or π up to rounding),
    a complex number for a complex one.
    """
    if real:
        return 1.0 if np.real(sign) > 0 else -1.0
    if np.dtype(dtype).kind == "c":
        return complex(sign)
    return sign if isinstance(sign, complex) else float(sign)


def _readonly_view(a) -> np.ndarray:
    v = np.asarray(a).view()
    v.setflags(write=False)
    return v


def _order_key(vals: np.ndarray, which: str) -> np.ndarray:
    """Ascending in this key = most extreme first."""
    if which == "LA":
        return -vals.real
    if which == "SA":
        return vals.real
    if which == "LM":
        return -np.abs(vals)
    return np.abs(vals)


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


def _apply_operator(op, x: np.ndarray) -> np.ndarray:
    """``op`` applied to a block (B, N, K): through the engine for kronop operators."""
    if isinstance(op, StructuredOperator):
        return op._apply(x)
    if _engine.is_lazy(x):  # an opaque operator: inside the tasks, whole columns
        from ._factor import as_factor

        return _engine.apply_product([as_factor(op, 0)], x, _engine.EngineCache())
    B, _, K = x.shape
    return _engine.from_columns(op.matmat(_engine.as_columns(x)), B, K)


class SpectralOperator(StructuredOperator):
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

    Examples
    --------
    >>> import numpy as np
    >>> from kronop import KronOperator
    >>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
    >>> K = KronOperator(A, A)
    >>> dec = K.eigh()
    >>> R = dec.apply(np.sqrt)  # the square root of K, as a SpectralOperator
    >>> x = np.arange(4.0)
    >>> bool(np.allclose(R @ (R @ x), K @ x))
    True
    """

    def __init__(
        self, vectors, inverse, values: np.ndarray, real: bool = False
    ) -> None:
        self.vectors = vectors
        self.inverse = inverse
        # the operator's own state: handed out read-only, like every cache
        self.values = (
            _readonly_view(values) if isinstance(values, np.ndarray) else values
        )
        self.real = real
        dtype = np.result_type(vectors.dtype, inverse.dtype, values.dtype)
        if real and dtype.kind == "c":
            dtype = _real_dtype(dtype)
        super().__init__(dtype, (vectors.shape[0], inverse.shape[1]))

    def _args(self) -> tuple:
        return (self.vectors, self.values, self.inverse)

    def _scaled(self, alpha) -> SpectralOperator:
        """α f(A): the scalar goes into the values."""
        values = alpha * self.values
        real = self.real and np.isrealobj(alpha)
        out = SpectralOperator(self.vectors, self.inverse, values, real)
        # NumPy's weak-scalar rule for the declared dtype
        out.dtype = np.result_type(self.dtype, alpha)
        return out

    def _apply(self, x: np.ndarray) -> np.ndarray:
        y = _apply_operator(self.inverse, x)
        y = _engine.cast(y, np.result_type(y, self.values))
        _engine.scale_rows(y, self.values)
        y = _apply_operator(self.vectors, y)
        if self.real and not np.iscomplexobj(x):
            y = _engine.finish(y, _real_dtype(y.dtype))
        return y

    def _make_adjoint(self):
        return SpectralOperator(
            self.inverse.H, self.vectors.H, self.values.conj(), self.real
        )

    def _make_transpose(self):
        return SpectralOperator(self.inverse.T, self.vectors.T, self.values, self.real)


class SolveOperator(StructuredOperator):
    """A⁻¹ (or the pseudo-inverse A⁺) as a lazy operator: products are solves.

    What ``inv()`` and ``pinv()`` of an operator return when the inverse is not
    itself a structured operator: every product calls the factorization's solve.

    Parameters
    ----------
    factorization : Factorization
        The operator's factored form (for example a :class:`KronEigen`).
    shape : tuple of int
    dtype : numpy.dtype
    pseudo : bool
        Apply the minimum-norm least-squares solution A⁺b (no warnings).

    Examples
    --------
    >>> import numpy as np
    >>> from kronop import laplacian
    >>> L = laplacian((3, 4))
    >>> Linv = L.inv()  # a SolveOperator: each product is a solve
    >>> b = np.arange(12.0)
    >>> bool(np.allclose(L @ (Linv @ b), b))
    True
    """

    def __init__(self, factorization, shape, dtype, pseudo: bool = False) -> None:
        self.factorization = factorization
        self.pseudo = pseudo
        super().__init__(dtype, shape)

    def __repr__(self) -> str:
        what = "pinv" if self.pseudo else "inv"
        return f"<{what} of {self.factorization!r}>"

    def _args(self) -> tuple:
        return (self.factorization,)

    def _input_grid(self) -> tuple[int, ...] | None:
        return getattr(self.factorization, "grid", lambda: None)()

    def _output_grid(self) -> tuple[int, ...] | None:
        return getattr(self.factorization, "grid", lambda: None)()

    def _apply(self, x: np.ndarray) -> np.ndarray:
        B, _, K = x.shape
        b = _engine.as_columns(x)
        y = self.factorization.lstsq(b) if self.pseudo else self.factorization.solve(b)
        return _engine.from_columns(y, B, K)

    def _scaled(self, alpha):
        return LazyScaled(self, alpha)

    def _make_adjoint(self):
        return SolveOperator(
            self.factorization.adjoint(), self.shape[::-1], self.dtype, self.pseudo
        )

    def _make_transpose(self):
        return SolveOperator(
            self.factorization.transpose(), self.shape[::-1], self.dtype, self.pseudo
        )


def _on_block(vectors, how: str, ranges) -> np.ndarray:
    """All sums or products of one entry per vector, on a block of the grid."""
    op = np.multiply if how == "product" else np.add
    d = len(vectors)
    out: Any = None
    for j, (v, (r0, r1)) in enumerate(zip(vectors, ranges, strict=True)):
        shape = [1] * d
        shape[j] = r1 - r0
        part = np.asarray(v[r0:r1]).reshape(shape)
        out = part if out is None else op(out, part)
    return out


def _reciprocal_block(values: KronEigenvalues, unitary: bool, ranges) -> np.ndarray:
    """1/w on one block of the eigenvalue grid; 0 on the null space (unitary V).

    Runs inside a dask task: a null value with a non-unitary V raises there.
    """
    w = values.block(ranges)
    base, a, b = values.null_bound_block(ranges)
    tol = b if base is None else (a * base + b).reshape(-1)
    out, null = _engine.reciprocal(w.reshape(-1), tol)
    if null.size and not unitary:
        raise np.linalg.LinAlgError(
            "the operator is singular: an eigenvalue is zero to working precision"
        )
    return out.reshape(w.shape)


class KronEigen(Factorization):
    r"""Eigendecomposition of a Kronecker product or sum, kept in factored form.

    Unpacks as ``w, V = decomposition``: ``w`` is a :class:`KronEigenvalues`
    (``np.asarray(w)`` gives the length-N vector in ``np.kron`` order), ``V`` the
    eigenvectors ⊗Vⱼ as a ``KronOperator``.

    Parameters
    ----------
    values : KronEigenvalues
    vectors : KronOperator
        ⊗Vⱼ (fast transforms among the factors are applied as such).
    inverse : KronOperator
        ⊗Vⱼ⁻¹ (⊗Vⱼᴴ when every factor is Hermitian).
    hermitian : bool
        Whether the decomposed operator is Hermitian (then V is unitary).
    vector_cond : float
        The product over the factors of κ₂(Vⱼ) (1 when unitary).
    real : bool
        Whether the decomposed operator is real (its eigenpairs may still be
        complex): real right-hand sides then give real solutions.
    unitary : bool, optional
        Whether V is unitary (default: ``hermitian``); normal operators with an
        orthonormal eigenbasis (a complex multiple of a Laplacian) have one too.
    dtype : dtype, optional
        The decomposed operator's dtype (default: from ``real`` and the parts).
    det_offset : tuple, optional
        ``(sign, log|c|)`` of a constant c with det A = c·∏ wᵢ, when the
        decomposition is a congruence A = W⁻¹ diag(w) V⁻¹ rather than a similarity
        (mass matrices, K + σD).

    Notes
    -----
    With :math:`A = V \Lambda V^{-1}`, everything reduces to the diagonal:

    .. math:: (A + \sigma I)^{-1} b = V (\Lambda + \sigma)^{-1} V^{-1} b, \qquad
              \log\det(A + \sigma I) = \textstyle\sum_i \log(\lambda_i + \sigma),
              \qquad f(A) = V f(\Lambda) V^{-1}.

    A solve costs two Kronecker products and one length-N division; a log-determinant
    O(N) (O(Σnⱼ) for an unshifted product). For non-normal factors the accuracy of
    these formulas degrades with κ(V): they lose about log₁₀ ``vector_cond``
    digits, so they warn (``LinAlgWarning``) past half the digits of the dtype
    (κ(V) > 1e8 in float64) and raise ``LinAlgError`` past three quarters (a
    defective factor gives κ(V) = ∞); ``slogdet`` is unaffected.

    **Singular operators.** Eigenvalues with |λ| at most
    :meth:`KronEigenvalues.null_tolerance` are zero to working precision. With a
    unitary V, ``solve`` then returns the minimum-norm solution V Λ⁺ Vᴴ b and warns
    (``LinAlgWarning``) when b has a component in the null space (no exact solution
    exists); with a non-unitary V it raises ``LinAlgError``.

    Examples
    --------
    >>> import numpy as np
    >>> from kronop import KronOperator
    >>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
    >>> K = KronOperator(A, A)
    >>> w, V = K.eigh()
    >>> ref = np.linalg.eigvalsh(K.toarray())
    >>> bool(np.allclose(np.sort(np.asarray(w)), ref))
    True
    >>> b = np.ones(4)
    >>> x = K.eigh().solve(b, shift=0.5)
    >>> bool(np.allclose(K @ x + 0.5 * x, b))
    True
    """

    def __init__(
        self,
        values: KronEigenvalues,
        vectors,
        inverse,
        hermitian: bool,
        vector_cond: float = 1.0,
        real: bool = False,
        *,
        unitary: bool | None = None,
        dtype=None,
        det_offset: tuple | None = None,
    ) -> None:
        self.values = values
        self.vectors = vectors
        self.inverse = inverse
        self.hermitian = bool(hermitian)
        self.vector_cond = float(vector_cond)
        #: the decomposed operator is real (its eigenpairs may still be complex)
        self.real = bool(real)
        #: V is unitary, so V⁻¹ = Vᴴ and zero eigenvalues give a pseudo-inverse
        self.unitary = self.hermitian if unitary is None else bool(unitary)
        if dtype is None:
            dtype = np.result_type(vectors.dtype, inverse.dtype, values.dtype)
            dtype = _real_dtype(dtype) if real else dtype
        self.dtype = np.dtype(dtype)
        self.det_offset = (1.0, 0.0) if det_offset is None else det_offset
        self._memo: dict = {}

    def __getstate__(self) -> dict:
        # the length-N reciprocals are rebuilt on demand, never pickled
        return {**self.__dict__, "_memo": {}}

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
    def shape(self) -> tuple[int, int]:
        """``(N, N)``.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> dec = KronOperator(np.diag([1.0, 2.0]), np.eye(3)).eigh()
        >>> dec.shape
        (6, 6)
        """
        return (int(self.vectors.shape[0]), int(self.inverse.shape[1]))

    @property
    def eigenvalues(self) -> KronEigenvalues:
        """The eigenvalues (alias of ``values``).

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> dec = KronOperator(np.diag([1.0, 2.0]), np.diag([3.0, 5.0])).eigh()
        >>> print(np.asarray(dec.eigenvalues))
        [ 3.  5.  6. 10.]
        """
        return self.values

    @property
    def eigenvectors(self):
        """The eigenvectors ⊗Vⱼ (alias of ``vectors``).

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
        >>> K = KronOperator(A, A)
        >>> dec = K.eigh()
        >>> V, w = dec.eigenvectors.toarray(), np.asarray(dec.eigenvalues)
        >>> bool(np.allclose(V @ np.diag(w) @ V.T, K.toarray()))
        True
        """
        return self.vectors

    def _digits(self) -> tuple[float, float]:
        """(digits a result through V loses ≈ log₁₀ κ(V), digits the dtype has)."""
        eps = float(np.finfo(_real_dtype(self.dtype)).eps)
        lost = math.log10(self.vector_cond) if self.vector_cond > 0 else 0.0
        return min(lost, math.inf), -math.log10(eps)

    def warn_vectors(self, where: str) -> None:
        """Warn (``LinAlgWarning``) when results through V would lose half the digits.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> import warnings
        >>> A = np.array([[1.0, 1.0], [0.0, 1.0 + 1e-10]])  # nearly defective
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     dec = KronOperator(A, np.eye(2)).eig()  # eig() itself warns
        ...     dec.warn_vectors("my_step()")
        >>> [str(c.message).split(":")[0] for c in caught]
        ['eig()', 'my_step()']
        """
        lost, total = self._digits()
        if lost > total / 2:
            warnings.warn(
                f"{where}: the eigenvectors are ill-conditioned (κ(V) = "
                f"{self.vector_cond:.2e}): solves and functions computed through them "
                f"lose about {min(lost, total):.0f} of {total:.0f} digits (refused past "
                f"{0.75 * total:.0f}); the operator's own solve() and slogdet() stay "
                "accurate",
                LinAlgWarning,
                stacklevel=3,
            )

    def _check_cond(self, what: str) -> None:
        """The eigenvector policy: refuse past 3/4 of the digits lost, warn past 1/2.

        A solve or f(A) through V = ⊗Vⱼ carries a relative error of about κ(V)·ε;
        with a defective factor (a Jordan block) κ(V) is ∞ and the answer noise.
        """
        lost, total = self._digits()
        if lost > 0.75 * total:
            raise np.linalg.LinAlgError(
                f"{what}: the eigenvectors are too ill-conditioned to compute it "
                f"(κ(V) = {self.vector_cond:.2e}: about {min(lost, total):.0f} of "
                f"{total:.0f} digits would be lost, a defective factor gives ∞); use "
                "a backward-stable route: a Kronecker product's solve() (LU), a "
                "Kronecker sum's solve(method='schur'), or an iterative solver such "
                "as scipy.sparse.linalg.gmres"
            )
        if lost > total / 2:
            warnings.warn(
                f"{what} from an eigendecomposition whose eigenvectors are "
                f"ill-conditioned (κ(V) = {self.vector_cond:.2e}): about "
                f"{min(lost, total):.0f} "
                f"of {total:.0f} digits are lost",
                LinAlgWarning,
                stacklevel=3,
            )

    def _derived(self, values, vectors, inverse, real, dtype) -> KronEigen:
        # type(self): a subclass (the block-diagonal decomposition) stays itself
        return type(self)(
            values,
            vectors,
            inverse,
            self.hermitian,
            self.vector_cond,
            real,
            unitary=self.unitary,
            dtype=dtype,
            det_offset=self.det_offset,
        )

    def shift(self, sigma) -> KronEigen:
        """The decomposition of ``A + sigma·I`` (same vectors, shifted values).

        Parameters
        ----------
        sigma : scalar

        Returns
        -------
        KronEigen

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
        >>> K = KronOperator(A, A)
        >>> dec = K.eigh()
        >>> b = np.arange(4.0)
        >>> x = dec.shift(1.0).solve(b)
        >>> bool(np.allclose(np.linalg.solve(K.toarray() + np.eye(4), b), x))
        True
        """
        real = self.real and np.isrealobj(sigma)
        dtype = np.result_type(self.dtype, sigma)
        return self._derived(
            self.values.shifted(sigma), self.vectors, self.inverse, real, dtype
        )

    def adjoint(self) -> KronEigen:
        """The decomposition of Aᴴ = V⁻ᴴ Λ̄ Vᴴ.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> K = KronOperator(np.array([[2.0, 1j], [0.0, 3.0]]), np.eye(2))
        >>> dec = K.eig()
        >>> bool(np.allclose(dec.adjoint().operator().toarray(), K.toarray().conj().T))
        True
        """
        sign, logabs = self.det_offset
        out = self._derived(
            self.values.conj(), self.inverse.H, self.vectors.H, self.real, self.dtype
        )
        out.det_offset = (np.conj(sign), logabs)
        return out

    def transpose(self) -> KronEigen:
        """The decomposition of Aᵀ = V⁻ᵀ Λ Vᵀ.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> K = KronOperator(np.array([[2.0, 1.0], [0.0, 3.0]]), np.diag([1.0, 4.0]))
        >>> dec = K.eig()
        >>> bool(np.allclose(dec.transpose().operator().toarray(), K.toarray().T))
        True
        """
        return self._derived(
            self.values, self.inverse.T, self.vectors.T, self.real, self.dtype
        )

    # ------------------------------------------------------------- solving
    def _null(self) -> tuple[np.ndarray, np.ndarray]:
        """``(1/w, null)`` of the unshifted spectrum: reciprocals, zero-set (cached)."""
        got = self._memo.get("reciprocal")
        if got is None:
            w = self.values.full()
            got = _engine.reciprocal(w, self.values.null_tolerance())
            self._memo["reciprocal"] = got
            # the condition number of what is solved (the null space left out)
            self._memo["cond"] = (
                _engine.abs_extremes(w)[0] * _engine.abs_extremes(got[0])[0]
            )
        return got

    def _warn_ill_conditioned(self) -> None:
        cond = self._memo["cond"]
        eps = float(np.finfo(_real_dtype(self.dtype)).eps)
        if cond * eps > 1:
            # as scipy.linalg.solve does: solved, with a warning, not dropped
            warnings.warn(
                f"solve(): the operator is ill-conditioned (condition number "
                f"{cond:.3e}): the result may be inaccurate",
                LinAlgWarning,
                stacklevel=4,
            )

    def is_singular(self) -> bool:
        """Whether some eigenvalue is zero to working precision.

        Examples
        --------
        >>> from kronop import laplacian
        >>> laplacian((3, 4)).eigh().is_singular()
        False
        >>> laplacian((3, 4), bc="neumann").eigh().is_singular()  # the constants
        True
        """
        return bool(self._null()[1].size)

    def _singular_error(self, what: str = "") -> np.linalg.LinAlgError:
        hint = "; use pinv() for the pseudo-inverse" if self.unitary else ""
        return np.linalg.LinAlgError(
            f"{what}the operator is singular: an eigenvalue is zero to working "
            f"precision{hint}"
        )

    def _spectral_solve(self, b: np.ndarray, shift, warn: bool) -> np.ndarray:
        if _engine.is_lazy(b):
            return self._lazy_spectral_solve(b, shift)
        w = self.values.full()
        dtype = _engine.compute_dtype(self.dtype, b.dtype, shift)
        chains = self._kron_chains()
        if shift == 0:
            inv_w, null = self._null()
            if warn:
                self._warn_ill_conditioned()
            if chains is not None and not null.size:
                # V diag(1/w) V⁻¹ b in one engine call (the scaling fused into a pass)
                return _engine.finish(self._through(chains, inv_w, b), dtype)
            y = self.inverse @ b  # a new array, never the caller's: scale it in place
            y = _engine.cast(y, np.result_type(y, w, shift))
            if null.size:
                if not self.unitary:
                    raise self._singular_error()
                if warn:
                    self._warn_incompatible(_engine.null_norms2(y, null), b)
            _engine.scale_rows(y, inv_w)
        else:
            if chains is not None:
                # the reciprocals of the last shift are kept (a time-stepping
                # loop solves with one shift many times); the engine decides how
                # to apply them
                weights = self._shifted_reciprocal(w, shift)
                if weights is not None:
                    return _engine.finish(self._through(chains, weights, b), dtype)
            y = self.inverse @ b
            y = _engine.cast(y, np.result_type(y, w, shift))
            bound = self.values.shifted(shift).null_bound()
            null2 = _engine.divide_rows(y, w, shift, bound)
            if null2 is not None:
                if not self.unitary:
                    raise self._singular_error("with this shift, ")
                if warn:
                    self._warn_incompatible(null2, b)
        return _engine.finish(self.vectors @ y, dtype)

    def grid(self) -> tuple[int, ...] | None:
        """The eigenvalue grid's shape ``(n₁, …, n_d)`` (None when not a grid).

        A dask right-hand side may have this shape (see :mod:`kronop.dask`).

        Examples
        --------
        >>> from kronop import laplacian
        >>> laplacian((3, 4)).eigh().grid()
        (3, 4)
        """
        if isinstance(self.values, KronEigenvalues):
            return tuple(len(f) for f in self.values.factors)
        return None

    def _lazy_spectral_solve(self, b, shift):
        """The spectral solve of a dask right-hand side, as a lazy dask array.

        The reciprocals 1/(w + shift) are computed per block of the grid inside
        the tasks (the N-vector is never formed); null values give 0 (unitary V)
        or a ``LinAlgError`` when the result is computed.
        """
        chains = self._kron_chains()
        values = self.values
        if chains is None or not isinstance(values, KronEigenvalues):
            raise TypeError(
                "solve() on a dask array needs a Kronecker eigendecomposition "
                "(V = V₁⊗…⊗V_d and eigenvalues on a grid); this one is a "
                f"{type(values).__name__} with V a {type(self.vectors).__name__}: "
                "compute the right-hand side first (b.compute())"
            )
        from ._engine import dask_kernels

        shifted = values.shifted(shift) if shift != 0 else values
        # a fresh copy: the tasks carry the factors' values, never the N-vectors
        light = KronEigenvalues(
            list(shifted.factors), shifted.combine, shifted.shift, shifted.exact
        )
        wdtype = np.result_type(_engine.compute_dtype(*light.factors), light.shift)
        weights = dask_kernels.GridWeights(
            partial(_reciprocal_block, light, self.unitary),
            wdtype,
            dask_kernels.token_of(
                "kron-reciprocal",
                light.factors,
                light.combine,
                light.shift,
                light.exact,
                self.unitary,
            ),
        )
        dtype = _engine.compute_dtype(self.dtype, b.dtype, shift)
        return _engine.finish(self._through(chains, weights, b), dtype)

    def _kron_chains(self):
        """``(inverse factors, vector factors)`` when V⁻¹ and V are Kronecker products."""
        # kron imports this module, so it is looked up, not imported: an operator
        # can only be a KronOperator once kron is loaded
        kron = sys.modules.get("kronop.kron")
        if kron is None:
            return None
        inv, vec = self.inverse, self.vectors
        if type(inv) is kron.KronOperator and type(vec) is kron.KronOperator:
            return inv._factors, vec._factors
        return None

    def _through(self, chains, weights, b):
        """V diag(weights) V⁻¹ b through the engine's spectral door (b 1-D or 2-D).

        ``weights`` is a length-N array, or per-block weights for a dask ``b``.
        """
        cache = self._memo.get("engine")
        if cache is None:
            cache = self._memo.setdefault("engine", _engine.EngineCache())
        N = b.shape[0]
        K = b.shape[1] if b.ndim == 2 else 1
        work = np.result_type(self.inverse.dtype, self.vectors.dtype)
        y = _engine.apply_spectral(
            chains[0], weights, chains[1], b.reshape(1, N, K), cache, work
        )
        return y.reshape(y.shape[1]) if b.ndim == 1 else y[0]

    def _shifted_reciprocal(self, w: np.ndarray, shift) -> np.ndarray | None:
        """1/(w + shift), or None when some w + shift is null (the bound of solve).

        The last shift's reciprocals are kept: repeated solves with one shift (a
        time-stepping loop) form them once.
        """
        # the dtype is part of the key: np.float32(0.1) == 0.1 under NumPy 2
        key = (np.asarray(shift).dtype, shift)
        got = self._memo.get("shifted")
        if got is not None and got[0] == key:
            return got[1]
        bound = self.values.shifted(shift).null_bound()
        v = _engine.shifted_reciprocal(w, shift, bound)
        if v is None:
            return None
        v.setflags(write=False)
        self._memo["shifted"] = (key, v)
        return v

    def _warn_incompatible(self, null2: np.ndarray, b: np.ndarray) -> None:
        comp = np.sqrt(null2)
        size = _engine.column_norms(b)
        eps = float(
            np.finfo(_real_dtype(_engine.compute_dtype(self.dtype, b.dtype))).eps
        )
        tol = 100 * eps * sum(len(f) for f in self.values.factors)
        tiny = np.finfo(float).tiny
        if np.any(comp > tol * np.maximum(size, tiny)):
            worst = float(np.max(comp / np.maximum(size, tiny)))
            warnings.warn(
                "solve(): the operator is singular and the right-hand side has a "
                f"component in its null space (relative size {worst:.2e}; for a "
                "Neumann or periodic Laplacian, b does not sum to zero), so A x = b "
                "has no solution; returning the minimum-norm least-squares solution",
                LinAlgWarning,
                stacklevel=4,
            )

    @overload
    def solve(self, b: DaskArray, shift=...) -> DaskArray: ...
    @overload
    def solve(self, b: ArrayLike, shift=...) -> np.ndarray: ...
    def solve(self, b, shift=0.0):
        """Solve ``(A + shift·I) x = b`` for b of shape (N,) or (N, k).

        Parameters
        ----------
        b : array_like, shape (N,) or (N, k)
        shift : scalar, optional

        Returns
        -------
        numpy.ndarray or dask.array.Array
            Same shape as ``b`` (lazy, chunked like ``b``, for a dask ``b``).

        Raises
        ------
        numpy.linalg.LinAlgError
            If ``A + shift·I`` is singular and V is not unitary.

        Warns
        -----
        LinAlgWarning
            If ``A + shift·I`` is singular (V unitary) and ``b`` has a component
            in its null space: the minimum-norm least-squares solution is returned.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
        >>> K = KronOperator(A, A)
        >>> dec = K.eigh()
        >>> b = np.arange(8.0).reshape(4, 2)
        >>> bool(np.allclose(dec.solve(b), np.linalg.solve(K.toarray(), b)))
        True
        """
        if _engine.is_lazy(b):
            self._check_cond("solve()")
            n = self.shape[0]
            return _lazy.lazy_solve(
                lambda r: self._spectral_solve(check_rhs(r, n), shift, warn=True),
                b,
                n,
                self.grid(),
                _lazy.describe_rhs(n),
            )
        b = check_rhs(b, self.shape[0])
        self._check_cond("solve()")
        return self._spectral_solve(b, shift, warn=True)

    def lstsq(self, b: ArrayLike) -> np.ndarray:
        """The minimum-norm least-squares solution A⁺b (unitary V), without warnings.

        Parameters
        ----------
        b : array_like, shape (N,) or (N, k)

        Returns
        -------
        numpy.ndarray

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import laplacian
        >>> L = laplacian((3, 4), bc="neumann")  # singular
        >>> b = np.arange(12.0)
        >>> bool(np.allclose(L.eigh().lstsq(b), np.linalg.pinv(L.toarray()) @ b))
        True
        """
        b = check_rhs(b, self.shape[0])
        self._require_unitary("lstsq")
        return self._spectral_solve(b, 0.0, warn=False)

    def _require_unitary(self, method: str) -> None:
        if not self.unitary:
            raise ValueError(
                f"{call(method)} needs an orthonormal eigenbasis (Hermitian or analytic "
                "normal factors, no mass matrices)"
            )

    def inverse_operator(self) -> LinearOperator:
        """A⁻¹ as a lazy operator (raises ``LinAlgError`` when A is singular).

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
        >>> K = KronOperator(A, A)
        >>> dec = K.eigh()
        >>> Kinv = dec.inverse_operator()
        >>> b = np.arange(4.0)
        >>> bool(np.allclose(Kinv @ b, np.linalg.solve(K.toarray(), b)))
        True
        """
        if self.is_singular():
            raise self._singular_error("inv(): ")
        return SolveOperator(self, self.shape, self._op_dtype())

    def pseudo_inverse(self) -> LinearOperator:
        """A⁺ = V Λ⁺ Vᴴ as a lazy operator (unitary V).

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import laplacian
        >>> L = laplacian((3, 4), bc="neumann")  # singular
        >>> P = L.eigh().pseudo_inverse()
        >>> b = np.arange(12.0)
        >>> bool(np.allclose(P @ b, np.linalg.pinv(L.toarray()) @ b))
        True
        """
        self._require_unitary("pinv")
        return SolveOperator(self, self.shape, self._op_dtype(), pseudo=True)

    def _op_dtype(self) -> np.dtype:
        return _engine.compute_dtype(self.dtype)

    # --------------------------------------------------------- determinants
    def logdet(self, shift=0.0):
        """log det(A + shift·I), principal branch.

        A float when the determinant is positive, else ``log|det| + i·arg det``;
        ``-inf`` if singular.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
        >>> K = KronOperator(A, A)
        >>> dec = K.eigh()
        >>> sign, logabs = np.linalg.slogdet(K.toarray() + np.eye(4))
        >>> bool(np.isclose(dec.logdet(shift=1.0), logabs))
        True
        """
        return logdet_from_slogdet(*self.slogdet(shift))

    def slogdet(self, shift=0.0) -> tuple:
        """``(sign, logabsdet)`` of ``A + shift·I``, as ``numpy.linalg.slogdet``.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
        >>> K = KronOperator(A, A)
        >>> dec = K.eigh()
        >>> sign, logabs = dec.slogdet(shift=-3.0)
        >>> ref = np.linalg.slogdet(K.toarray() - 3.0 * np.eye(4))
        >>> sign, bool(np.isclose(logabs, ref.logabsdet))
        (-1.0, True)
        """
        vals = self.values if shift == 0 else self.values.shifted(shift)
        sign, logabs = vals.slog_sum()
        if sign == 0:
            return 0.0, -np.inf
        off_sign, off_log = self.det_offset
        return sign_like(
            sign * off_sign, self.real and np.isrealobj(shift), self.dtype
        ), (logabs + off_log)

    # ---------------------------------------------------------- derivatives
    def _require_kron_product(self, method: str) -> tuple:
        """``(inverse factors, vector factors)`` of a plain Kronecker-product eigh/eig."""
        values = self.values
        chains = self._kron_chains()
        if (
            not isinstance(values, KronEigenvalues)
            or values.combine != "product"
            or chains is None
            or tuple(self.det_offset) != (1.0, 0.0)
        ):
            what = (
                f"a Kronecker {values.combine}'s"
                if isinstance(values, KronEigenvalues)
                else f"a {type(values).__name__}'s"
            )
            if tuple(self.det_offset) != (1.0, 0.0):
                what = "a congruence's (mass matrix or K + σD)"
            raise TypeError(
                f"{call(method)} needs the eigendecomposition of a Kronecker product "
                "K₁⊗…⊗K_d, as KronOperator(K1, ..., Kd).eigh() (or .eig()) returns, "
                "possibly shifted; got "
                f"{what} eigendecomposition"
            )
        return chains

    def _check_dfactors(self, dfactors, method: str) -> list:
        """The factor derivatives as dense arrays (None kept), shapes checked."""
        from scipy import sparse

        sizes = [len(f) for f in self.values.factors]
        if isinstance(dfactors, np.ndarray) or not isinstance(dfactors, (list, tuple)):
            raise TypeError(
                f"{call(method)}: dfactors must be a list or tuple with one entry "
                f"(None or an nⱼ×nⱼ matrix) per factor, got {type(dfactors).__name__}"
            )
        if len(dfactors) != len(sizes):
            raise ValueError(
                f"{call(method)}: dfactors must have one entry per factor "
                f"({len(sizes)}), got {len(dfactors)}"
            )
        out = []
        for j, (dk, n) in enumerate(zip(dfactors, sizes, strict=True)):
            if dk is None:
                out.append(None)
                continue
            arr = dk.toarray() if sparse.issparse(dk) else np.asarray(dk)
            if arr.shape != (n, n):
                raise ValueError(
                    f"{call(method)}: dfactors[{j}] must have the shape of factor {j}, "
                    f"({n}, {n}), got shape {arr.shape}"
                )
            if arr.dtype.kind not in "biufc":
                raise TypeError(
                    f"{call(method)}: dfactors[{j}] must be numeric, got dtype "
                    f"{arr.dtype}"
                )
            out.append(arr)
        return out

    def _factor_matrices(self) -> list[np.ndarray]:
        """The factors Kⱼ = Vⱼ diag(λⱼ) Vⱼ⁻¹ as dense matrices (nⱼ×nⱼ, cached)."""
        got = self._memo.get("factor_matrices")
        if got is None:
            inv, vec = self._kron_chains()
            got = []
            for lam, vi, v in zip(self.values.factors, inv, vec, strict=True):
                k = (v.toarray() * np.asarray(lam)) @ vi.toarray()
                if self.hermitian:
                    # exactly Hermitian, as the factor it was computed from
                    k = (k + k.conj().T) / 2
                k.setflags(write=False)
                got.append(k)
            self._memo["factor_matrices"] = got
        return got

    def _real_result(self, shift, *arrays) -> bool:
        """Whether a trace or quadratic form of (A + shift·I)⁻¹ with these is real.

        Real when everything is real, or when A + shift·I is Hermitian and the
        arrays are Hermitian matrices (a trace) or any vector (yᴴ(A + sI)⁻¹y).
        """
        real_shift = np.isrealobj(shift) and np.isrealobj(self.values.shift)
        if self.real and real_shift and all(np.isrealobj(a) for a in arrays):
            return True
        return (
            self.hermitian
            and real_shift
            and all(
                a.ndim == 1 or np.allclose(a, a.conj().T, rtol=1e-12, atol=0)
                for a in arrays
            )
        )

    def _grid_marginals(self, shift, need: list[bool], method: str) -> tuple:
        """``(u, Σw)``: uⱼ[i] = Σ over the grid with iⱼ = i of w ∏_{k≠j} λₖ.

        w = 1/(λ + shift) on the eigenvalue grid, built one slab of the first axis
        at a time (never a length-N vector when N is large).
        """
        values = self.values if shift == 0 else self.values.shifted(shift)
        lams = [np.asarray(f) for f in values.factors]
        d = len(lams)
        sizes = [len(f) for f in lams]
        dtype = _engine.compute_dtype(*lams, values.shift)
        u = [np.zeros(n, dtype) if need[j] else None for j, n in enumerate(sizes)]
        total = dtype.type(0)
        rest = math.prod(sizes[1:])
        if not sizes or sizes[0] == 0 or rest == 0:
            return u, total
        # slabs of about 2²⁰ values: O(N/n₁) memory, BLAS-sized reductions
        step = max(1, (1 << 20) // rest)
        for r0 in range(0, sizes[0], step):
            r1 = min(sizes[0], r0 + step)
            ranges = [(r0, r1)] + [(0, n) for n in sizes[1:]]
            try:  # 1/(λ + shift) on the slab, with the one null-space policy
                w = _reciprocal_block(values, False, ranges)
            except np.linalg.LinAlgError:
                raise np.linalg.LinAlgError(
                    f"{call(method)}: A + shift·I is singular (an eigenvalue is zero "
                    "to working precision): its log-determinant has no derivative"
                ) from None
            total += w.sum()
            for j in range(d):
                if not need[j]:
                    continue
                t = w
                # contract the last axes first, so the axis numbers of the rest hold
                for k in range(d - 1, -1, -1):
                    if k != j:
                        lam = lams[k][r0:r1] if k == 0 else lams[k]
                        t = np.tensordot(t, lam, axes=([k], [0]))
                if j == 0:
                    u[0][r0:r1] += t
                else:
                    u[j] += t
        return u, total

    def logdet_grad(self, dfactors: list | tuple, shift=0.0) -> list:
        r"""Derivatives of log det(A + shift·I) along a change of each factor.

        For A = K₁⊗…⊗K_d (this decomposition, with any shift it already carries),
        entry j is the derivative at t = 0 of
        log det(K₁⊗…⊗(Kⱼ + t·dKⱼ)⊗…⊗K_d + shift·I): the sensitivity to factor j
        moving along ``dfactors[j]``, e.g. dKⱼ/dθ for a hyperparameter θ of Kⱼ.

        Parameters
        ----------
        dfactors : list or tuple
            One entry per factor: None (factor j does not move), or a square
            matrix dKⱼ of the shape of factor j (array_like or scipy sparse).
        shift : scalar, optional
            Added to the diagonal, as in :meth:`logdet`.

        Returns
        -------
        list
            One derivative per factor, index-aligned with ``dfactors``: 0.0 for a
            None entry. Floats when A + shift·I is Hermitian with a real shift and
            dKⱼ is Hermitian (then the derivative is real), else complex.

        Raises
        ------
        TypeError
            If this is not the eigendecomposition of a Kronecker product (a
            Kronecker sum's, a mass-matrix congruence's): only
            ``KronOperator(K1, ..., Kd).eigh()`` / ``.eig()`` and its shifts are
            supported. Also if ``dfactors`` is not a list or tuple, or an entry
            is not numeric.
        ValueError
            If ``dfactors`` has the wrong length or an entry the wrong shape.
        numpy.linalg.LinAlgError
            If A + shift·I is singular.

        See Also
        --------
        logdet_shift_grad : the derivative with respect to the shift.
        quad_grad : derivatives of yᴴ(A + shift·I)⁻¹y.

        Notes
        -----
        With Kⱼ = Vⱼ Λⱼ Vⱼ⁻¹ and w = 1/(λ + shift) on the eigenvalue grid,

        .. math:: \frac{d}{dt}\log\det(A + tE_j + sI)
                  = \operatorname{tr}\big((A + sI)^{-1}E_j\big)
                  = \sum_{i} w_i\,(V_j^{-1}\,dK_j\,V_j)_{i_j i_j}
                    \prod_{k\ne j}\lambda_{k,i_k},

        with :math:`E_j = K_1\otimes\cdots\otimes dK_j\otimes\cdots\otimes K_d`,
        because :math:`V^{-1}E_jV` is a Kronecker product of the diagonal
        matrices Λₖ and Vⱼ⁻¹dKⱼVⱼ, whose diagonal is the Kronecker product of the
        diagonals. The sum over the grid is a contraction of w with the vectors
        λₖ along every axis k ≠ j: O(dN) time, w built one slab of the first axis
        at a time (O(N/n₁) memory), plus O(nⱼ³) per factor for Vⱼ⁻¹dKⱼVⱼ. No
        N×N matrix and no length-N vector is formed.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
        >>> B = np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]])
        >>> dA = np.array([[1.0, 0.5], [0.5, 0.0]])
        >>> dec = KronOperator(A, B).eigh()
        >>> g = dec.logdet_grad([dA, None], shift=0.5)
        >>> M = np.kron(A, B) + 0.5 * np.eye(6)
        >>> ref = np.trace(np.linalg.solve(M, np.kron(dA, B)))
        >>> bool(np.isclose(g[0], ref)), g[1]
        (True, 0.0)
        """
        inv, vec = self._require_kron_product("logdet_grad")
        dks = self._check_dfactors(dfactors, "logdet_grad")
        need = [dk is not None for dk in dks]
        u, _ = self._grid_marginals(shift, need, "logdet_grad")
        out: list = []
        for j, dk in enumerate(dks):
            if dk is None:
                out.append(0.0)
                continue
            # the diagonal of Vⱼ⁻¹ dKⱼ Vⱼ
            diag = np.einsum("ij,ji->i", inv[j].toarray() @ dk, vec[j].toarray())
            g = complex(np.dot(diag, u[j]))
            out.append(g.real if self._real_result(shift, dk) else g)
        return out

    def logdet_shift_grad(self, shift=0.0):
        r"""d/dshift of log det(A + shift·I): tr((A + shift·I)⁻¹) = Σᵢ 1/(λᵢ + shift).

        Parameters
        ----------
        shift : scalar, optional

        Returns
        -------
        float or complex
            A float when A + shift·I is Hermitian with a real shift.

        Raises
        ------
        TypeError
            If this is not the eigendecomposition of a Kronecker product (see
            :meth:`logdet_grad`).
        numpy.linalg.LinAlgError
            If A + shift·I is singular.

        Notes
        -----
        .. math:: \frac{d}{ds}\log\det(A + sI) = \operatorname{tr}(A + sI)^{-1}
                  = \sum_i \frac{1}{\lambda_i + s},

        summed over the eigenvalue grid one slab of the first axis at a time:
        O(N) time, O(N/n₁) memory.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
        >>> dec = KronOperator(A, A).eigh()
        >>> g = dec.logdet_shift_grad(shift=0.5)
        >>> ref = np.trace(np.linalg.inv(np.kron(A, A) + 0.5 * np.eye(4)))
        >>> bool(np.isclose(g, ref))
        True
        """
        self._require_kron_product("logdet_shift_grad")
        d = len(self.values.factors)
        _, total = self._grid_marginals(shift, [False] * d, "logdet_shift_grad")
        return float(total.real) if self._real_result(shift) else complex(total)

    def quad_grad(self, y: ArrayLike, dfactors: list | tuple, shift=0.0) -> tuple:
        r"""yᴴ(A + shift·I)⁻¹y and its derivatives along each factor and the shift.

        One solve gives the value and every derivative: the objective and
        gradient of a Gaussian-process data-fit term ½yᵀ(K + σ²I)⁻¹y.

        Parameters
        ----------
        y : array_like, shape (N,)
        dfactors : list or tuple
            One entry per factor: None, or a square matrix dKⱼ of the shape of
            factor j (array_like or scipy sparse), as in :meth:`logdet_grad`.
        shift : scalar, optional

        Returns
        -------
        value : float or complex
            yᴴ(A + shift·I)⁻¹y (yᵀ… for real y).
        grads : list
            Per factor (index-aligned with ``dfactors``, 0.0 for None) the
            derivative at t = 0 of yᴴ(K₁⊗…⊗(Kⱼ + t·dKⱼ)⊗…⊗K_d + shift·I)⁻¹y.
        shift_grad : float or complex
            The derivative with respect to ``shift``.

            Floats when A + shift·I is Hermitian with a real shift (for ``grads``:
            and dKⱼ Hermitian), else complex. The solution α = (A + shift·I)⁻¹y
            itself is :meth:`solve` ``(y, shift)``.

        Raises
        ------
        TypeError
            If this is not the eigendecomposition of a Kronecker product, or
            ``dfactors`` is not a list or tuple (see :meth:`logdet_grad`).
        ValueError
            If ``y`` is not a length-N vector, or ``dfactors`` has the wrong
            length or an entry the wrong shape.
        numpy.linalg.LinAlgError
            If A + shift·I is singular (as :meth:`logdet_grad`).

        Notes
        -----
        With α = (A + sI)⁻¹y and β = (A + sI)⁻ᴴy (β = α for Hermitian A, real s),

        .. math:: \frac{d}{dt}\,y^H(A + tE_j + sI)^{-1}y = -\beta^H E_j\,\alpha,
                  \qquad \frac{d}{ds}\,y^H(A + sI)^{-1}y = -\beta^H\alpha,

        with :math:`E_j = K_1\otimes\cdots\otimes dK_j\otimes\cdots\otimes K_d`
        applied as a ``KronOperator`` (the factors Kₖ = Vₖ Λₖ Vₖ⁻¹ rebuilt from
        their eigenpairs, nₖ×nₖ each): one spectral solve plus one Kronecker
        product per moving factor, O(N Σₖnₖ) each; nothing N×N is formed.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
        >>> B = np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]])
        >>> dB = np.eye(3)
        >>> y = np.arange(1.0, 7.0)
        >>> value, grads, dshift = KronOperator(A, B).eigh().quad_grad(
        ...     y, [None, dB], shift=0.5)
        >>> M = np.kron(A, B) + 0.5 * np.eye(6)
        >>> alpha = np.linalg.solve(M, y)
        >>> bool(np.isclose(value, y @ alpha))
        True
        >>> bool(np.isclose(grads[1], -alpha @ np.kron(A, dB) @ alpha)), grads[0]
        (True, 0.0)
        >>> bool(np.isclose(dshift, -alpha @ alpha))
        True
        """
        # kron imports this module: looked up, not imported (it is loaded
        # whenever a Kronecker product's decomposition exists)
        KronOperator = sys.modules["kronop.kron"].KronOperator

        self._require_kron_product("quad_grad")
        yv = np.asarray(y)
        n = self.shape[0]
        if yv.ndim != 1 or yv.shape[0] != n:
            raise ValueError(
                f"quad_grad(): y must be a vector of length {n} (the operator's "
                f"size), got an array of shape {yv.shape}"
            )
        dks = self._check_dfactors(dfactors, "quad_grad")
        if (self.shift(shift) if shift != 0 else self).is_singular():
            # as logdet_grad: the derivatives of a singular form do not exist
            raise np.linalg.LinAlgError(
                "quad_grad(): A + shift·I is singular (an eigenvalue is zero to "
                "working precision)"
            )
        alpha = self.solve(yv, shift=shift)
        real = self._real_result(shift, yv)
        if self.hermitian and np.isrealobj(shift) and np.isrealobj(self.values.shift):
            beta = alpha
        else:
            beta = self.adjoint().solve(yv, shift=np.conj(shift))
        value = np.vdot(yv, alpha)
        shift_grad = -np.vdot(beta, alpha)
        mats = self._factor_matrices()
        grads: list = []
        for j, dk in enumerate(dks):
            if dk is None:
                grads.append(0.0)
                continue
            E = KronOperator(*mats[:j], dk, *mats[j + 1 :])
            g = -complex(np.vdot(beta, E @ alpha))
            grads.append(g.real if self._real_result(shift, yv, dk) else g)
        if real:
            return float(value.real), grads, float(shift_grad.real)
        return complex(value), grads, complex(shift_grad)

    # ------------------------------------------------------------ functions

    def apply(
        self, f: Callable[[np.ndarray], np.ndarray], shift=0.0
    ) -> SpectralOperator:
        """f(A + shift·I) as a lazy operator, e.g. ``apply(np.sqrt)``, ``apply(np.exp)``.

        ``f`` must act elementwise on an array of eigenvalues.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
        >>> K = KronOperator(A, A)
        >>> dec = K.eigh()
        >>> from scipy.linalg import expm
        >>> E = dec.apply(np.exp)  # exp(K), never formed
        >>> x = np.arange(4.0)
        >>> bool(np.allclose(E @ x, expm(K.toarray()) @ x))
        True
        """
        self._check_cond("f(A)")
        values = self.values if shift == 0 else self.values.shifted(shift)
        fw = np.asarray(f(values.full()))
        real = self.real and np.isrealobj(shift) and _engine.conjugate_closed(fw)
        return SpectralOperator(self.vectors, self.inverse, fw, real)

    def eigvals(self, k: int | None = None, which: str = "LA") -> np.ndarray:
        """All N eigenvalues (``np.kron`` order), or the k extreme ones (sorted).

        ``which``: ``"LA"``/``"SA"`` largest/smallest algebraic, ``"LM"``/``"SM"``
        largest/smallest magnitude.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> dec = KronOperator(np.diag([1.0, 2.0]), np.diag([3.0, 5.0])).eigh()
        >>> print(dec.eigvals())
        [ 3.  5.  6. 10.]
        >>> print(dec.eigvals(2), dec.eigvals(1, "SA"))
        [10.  6.] [3.]
        """
        if k is None:
            return np.array(self.values.full())
        return self.values.extreme(k, which)

    def operator(self) -> SpectralOperator:
        """A = V diag(w) V⁻¹ rebuilt as an operator (for checking).

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
        >>> K = KronOperator(A, A)
        >>> dec = K.eigh()
        >>> bool(np.allclose(dec.operator().toarray(), K.toarray()))
        True
        """
        return self.apply(lambda w: w)


class KronSVD:
    """Thin SVD of a Kronecker product: unpacks as ``U, s, Vh``.

    ``U`` (M×r) and ``Vh`` (r×N) are ``KronOperator``s with orthonormal columns/rows,
    ``s`` a :class:`KronEigenvalues` (``np.asarray(s)`` gives the r singular values
    in ``np.kron`` order, not sorted), r = ∏ min(mⱼ, nⱼ).

    Examples
    --------
    >>> import numpy as np
    >>> from kronop import KronOperator
    >>> A = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0]])
    >>> K = KronOperator(A, np.diag([3.0, 4.0]))
    >>> U, s, Vh = K.svd()
    >>> U.shape, np.asarray(s).shape, Vh.shape
    ((4, 4), (4,), (4, 6))
    >>> bool(np.allclose((U.toarray() * np.asarray(s)) @ Vh.toarray(), K.toarray()))
    True
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
