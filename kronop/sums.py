r"""``KronProductSum``: a lazy sum of Kronecker products Σᵣ A⁽ʳ⁾₁⊗…⊗A⁽ʳ⁾_d.

What ``KronOperator + KronOperator`` returns when the two have the same factor
shapes, and what ``sum([K₁, K₂, …])`` grows into. Products apply every term
through the engine into one output; a two-term sum with one Hermitian positive
definite term solves and log-determines directly from per-axis generalized
eigenproblems (:mod:`kronop._generalized`, the machinery of ``KronSum(mass=…)``).

Importing the module registers the sums it answers: ``KronOperator +
KronOperator`` (equal factor shapes; a product of diagonal factors still makes a
:class:`~kronop.KronPlusDiagonal`, which has priority), and ``KronProductSum`` plus
a ``KronOperator`` or another ``KronProductSum`` (one flat sum, in order).
"""

from __future__ import annotations

import math
from functools import reduce
from typing import Any

import numpy as np
import scipy.sparse as sp

from . import _engine, _generalized, _rules
from ._base import Factorization, Factorized, StructuredOperator
from ._factor import Factor
from .decomposition import KronEigen
from .kron import KronOperator
from .shifted import KronPlusDiagonal

__all__ = ["KronProductSum"]

#: how the errors of solve/inv/determinants name the way out
ITERATIVE_ROUTE = (
    "solve it iteratively instead: scipy.sparse.linalg.gmres(S, b) (or cg for a "
    "Hermitian positive definite S), with a preconditioner such as "
    "kron_preconditioner or one term's inv()"
)


class KronProductSum(Factorized, StructuredOperator):
    r"""Lazy sum of Kronecker products S = Σᵣ A⁽ʳ⁾₁ ⊗ … ⊗ A⁽ʳ⁾_{d_r}.

    Usually built as ``K1 + K2`` (two ``KronOperator``\ s with the same factor
    shapes), ``sum([K1, K2, K3])``, ``K1 - K2`` or ``S + K``. Nothing is formed:
    a product applies each term through the vec identity, adding into one output.

    Parameters
    ----------
    *terms : KronOperator or KronProductSum
        The terms, all of the same shape; a ``KronProductSum`` passed as a term is
        spliced into its terms. The factor counts and factor shapes may differ
        between terms (a term with one N×N factor beside one with two).

    Attributes
    ----------
    terms : tuple of KronOperator
        The terms (scalar multiples are folded into them).
    shape : tuple of int
    dtype : numpy.dtype
        ``np.result_type`` of the terms.

    Raises
    ------
    ValueError
        If no term is given or the terms' shapes differ (naming the term).
    TypeError
        If a term is not a ``KronOperator`` or ``KronProductSum``.

    Notes
    -----
    **Products.** :math:`Sx = \sum_r (\otimes_j A^{(r)}_j)\,x` costs the sum of the
    terms' costs (for square dense factors :math:`2N\sum_r\sum_j n^{(r)}_j` flops);
    each term's result is added into one output, so at most one term's result is
    alive beside it. The adjoint and the transpose are the sums of the terms'.

    **Direct solve of two terms.** With :math:`A = \otimes_j A_j` and
    :math:`B = \otimes_j B_j`, every :math:`B_j` Hermitian positive definite (or
    negative definite: then :math:`B = s\,\otimes_j |B_j|` with :math:`s = \pm 1`)
    and :math:`A_j, B_j` of equal square shapes, the per-axis generalized
    eigenproblems :math:`A_j V_j = B_j V_j \Lambda_j` give

    .. math:: A + B = (\otimes_j B_j V_j)\,(\otimes_j \Lambda_j + s)\,
              (\otimes_j V_j)^{-1},

    so :math:`x = (\otimes_j V_j)(\Lambda + s)^{-1}(\otimes_j B_j V_j)^{-1} b` (two
    Kronecker products and a division) and
    :math:`\log\det(A+B) = \sum_i \log(\prod_j\lambda_{j,i_j} + s) +
    \sum_j (N/n_j)\log\det|B_j|`, for any number of factors d. For Hermitian
    :math:`A_j` (``scipy.linalg.eigh(Aⱼ, Bⱼ)``) :math:`V_j^H B_j V_j = I`, so
    :math:`(\otimes_j B_j V_j)^{-1} = \otimes_j V_j^H` and everything is backward
    stable. Non-Hermitian :math:`A_j` go through ``scipy.linalg.eig(Aⱼ, Bⱼ)`` (a
    non-unitary :math:`V_j`): the result loses about
    :math:`\log_{10}\prod_j\kappa_2(V_j)` digits, so it warns
    (``LinAlgWarning``) past half of the dtype's digits and raises
    ``LinAlgError`` past three quarters, as :class:`~kronop.KronEigen` does. The
    term tried as the definite one is the second, then the first.

    Any other sum (three or more terms, no definite term, factor shapes that do
    not match) has no direct solve from its factors: ``solve``, ``inv``,
    ``slogdet``, ``det`` and ``logdet`` raise ``numpy.linalg.LinAlgError`` (a
    ``ValueError``) that names the iterative route. A one-term sum solves as its
    term.

    Examples
    --------
    >>> import numpy as np
    >>> from kronop import KronOperator
    >>> A1 = np.array([[2.0, 1.0], [1.0, 0.0]])
    >>> A2 = np.array([[1.0, 0.5], [0.5, 3.0]])
    >>> B1 = np.array([[2.0, 0.5], [0.5, 1.0]])
    >>> B2 = np.eye(2)
    >>> S = KronOperator(A1, A2) + KronOperator(B1, B2)
    >>> type(S).__name__, len(S.terms)
    ('KronProductSum', 2)
    >>> dense = np.kron(A1, A2) + np.kron(B1, B2)
    >>> x = np.arange(4.0)
    >>> bool(np.allclose(S @ x, dense @ x))
    True
    >>> bool(np.allclose(S.solve(x), np.linalg.solve(dense, x)))
    True
    >>> sign, logabs = S.slogdet()
    >>> bool(np.allclose([sign, logabs], np.linalg.slogdet(dense)))
    True
    """

    _transient = ("_engine",)

    def __init__(self, *terms: KronOperator | KronProductSum) -> None:
        if len(terms) == 1 and isinstance(terms[0], list | tuple):
            terms = tuple(terms[0])
        if not terms:
            raise ValueError("KronProductSum needs at least one term, got none")
        flat: list[KronOperator] = []
        shape = None
        for i, t in enumerate(terms):
            if not isinstance(t, KronOperator | KronProductSum):
                raise TypeError(
                    f"term {i} must be a KronOperator (or a KronProductSum), got "
                    f"{type(t).__name__}; wrap factors as KronOperator(A1, A2, ...)"
                )
            if shape is None:
                shape = tuple(t.shape)
            elif tuple(t.shape) != shape:
                raise ValueError(
                    f"term {i} has shape {tuple(t.shape)}, expected {shape} (every "
                    "term must have the shape of term 0)"
                )
            flat.extend(t.terms if isinstance(t, KronProductSum) else (t,))
        self._terms = tuple(flat)
        super().__init__(np.result_type(*(t.dtype for t in flat)), shape)

    @property
    def terms(self) -> tuple[KronOperator, ...]:
        """The terms, each a ``KronOperator`` (a tuple).

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> K = KronOperator(np.eye(2), np.ones((3, 3)))
        >>> len((K + 2 * K).terms)
        2
        """
        return self._terms

    def __repr__(self) -> str:
        inner = " + ".join(
            "(" + " ⊗ ".join(f.describe() for f in t._factors) + ")"
            for t in self._terms
        )
        return f"KronProductSum({inner}, dtype={self.dtype})"

    def _args(self) -> tuple:
        return self._terms

    def _input_grid(self) -> tuple[int, ...] | None:
        grids = {t._input_grid() for t in self._terms}
        return grids.pop() if len(grids) == 1 else None

    def _output_grid(self) -> tuple[int, ...] | None:
        grids = {t._output_grid() for t in self._terms}
        return grids.pop() if len(grids) == 1 else None

    def _init_transient(self) -> None:
        super()._init_transient()
        self._engine = _engine.EngineCache()

    # ----------------------------------------------------------- products
    def _apply(self, x: np.ndarray) -> np.ndarray:
        terms = self._cached(
            "engine_terms", lambda: [(1, t._factors) for t in self._terms]
        )
        return _engine.apply_terms(terms, x, self._engine, self.dtype)

    def toarray(self) -> np.ndarray:
        """The dense matrix Σᵣ ⊗ⱼ A⁽ʳ⁾ⱼ (for checking: the only path that forms it).

        Returns
        -------
        numpy.ndarray
            Shape ``self.shape``, dtype ``self.dtype``.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> K = KronOperator(np.eye(2), np.eye(2))
        >>> (K + K).toarray()[0]
        array([2., 0., 0., 0.])
        """
        out = np.zeros(self.shape, dtype=self.dtype)
        for t in self._terms:
            out += t.toarray()
        return out

    # ------------------------------------------------------------ algebra
    def _scaled(self, alpha) -> KronProductSum:
        """α·S with α folded into every term."""
        return KronProductSum(*(t._scaled(alpha) for t in self._terms))

    def _make_adjoint(self) -> KronProductSum:
        return KronProductSum(*(t.H for t in self._terms))

    def _make_transpose(self) -> KronProductSum:
        return KronProductSum(*(t.T for t in self._terms))

    # ------------------------------------------------- scalars from terms
    def trace(self):
        """tr S = Σᵣ tr(⊗ⱼ A⁽ʳ⁾ⱼ), each from its factors.

        Returns
        -------
        scalar

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> K = KronOperator(np.array([[1.0, 5.0], [0.0, 2.0]]), np.eye(3))
        >>> float((K + 2 * K).trace())
        27.0
        """
        out = sum(t.trace() for t in self._terms)
        return np.asarray(out, dtype=self.dtype)[()]

    def diagonal(self) -> np.ndarray:
        """The main diagonal (length min(M, N)): the sum of the terms' diagonals.

        Returns
        -------
        numpy.ndarray

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> K = KronOperator(np.array([[1.0, 5.0], [0.0, 2.0]]), np.eye(2))
        >>> (K + K).diagonal()
        array([2., 2., 4., 4.])
        """
        out = np.zeros(min(self.shape), dtype=self.dtype)
        for t in self._terms:
            out += t.diagonal()
        return out

    def norm(self, ord: str = "fro") -> float:
        r"""The Frobenius norm, exactly from the factors (``ord="fro"`` only).

        Parameters
        ----------
        ord : {"fro"}

        Returns
        -------
        float

        Raises
        ------
        ValueError
            For another ``ord`` (use ``scipy.sparse.linalg.onenormest`` or
            ``svds`` on the operator), or when two terms' factors do not line up
            without forming a matrix larger than any factor.
        TypeError
            If a factor is a ``LinearOperator`` with no entries behind it.

        Notes
        -----
        .. math:: \|S\|_F^2 = \sum_{r,s} \langle K_r, K_s\rangle_F
                  = \sum_{r,s} \prod_j \langle A^{(r)}_j, A^{(s)}_j\rangle_F,

        with :math:`\langle X, Y\rangle_F = \sum \bar X Y`, when the terms' factors
        have equal shapes (otherwise consecutive factors are merged until they
        line up). The cost is that of reading the factors, r² times; the sum is
        accumulated in double precision. When the terms nearly cancel
        (:math:`\|S\|_F \ll \sum_r \|K_r\|_F`) the relative error grows by that
        ratio, as for any formula from the terms.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> A, B = np.array([[1.0, 2.0], [3.0, 4.0]]), np.eye(2)
        >>> S = KronOperator(A, B) - KronOperator(B, A)
        >>> bool(np.isclose(S.norm(), np.linalg.norm(np.kron(A, B) - np.kron(B, A))))
        True
        """
        if ord != "fro":
            raise ValueError(
                f"KronProductSum.norm offers ord='fro' only, got {ord!r}; for 1 use "
                "scipy.sparse.linalg.onenormest(S), for 2 scipy.sparse.linalg.svds"
            )
        terms = self._terms
        total = 0.0
        for r in range(len(terms)):
            total += _inner(terms[r], terms[r], r, r).real
            for s in range(r + 1, len(terms)):
                total += 2.0 * _inner(terms[r], terms[s], r, s).real
        return float(math.sqrt(max(total, 0.0)))

    # ------------------------------------------------------ linear algebra
    def _factorize(self) -> Factorization:
        terms = self._terms
        if len(terms) == 1:
            return terms[0].factorization()
        if len(terms) != 2:
            raise np.linalg.LinAlgError(
                "a direct solve, inverse or determinant of a KronProductSum needs "
                "exactly two terms, one of them Hermitian positive definite; this "
                f"sum has {len(terms)} terms: {ITERATIVE_ROUTE}"
            )
        a, b = terms
        if self.shape[0] != self.shape[1]:
            raise ValueError(
                f"a direct solve needs a square operator, got shape {self.shape}"
            )
        fa = [f.promoted(self.dtype) for f in a._factors]
        fb = [f.promoted(self.dtype) for f in b._factors]
        shapes_a = [f.shape for f in fa]
        shapes_b = [f.shape for f in fb]
        if shapes_a != shapes_b or any(m != n for m, n in shapes_a):
            raise np.linalg.LinAlgError(
                "a direct solve of two terms needs square factors of pairwise equal "
                f"shapes; term 0 has factor shapes {shapes_a}, term 1 {shapes_b}: "
                f"{ITERATIVE_ROUTE}"
            )
        for t, factors in enumerate((fa, fb)):
            for f in factors:
                if not f.is_finite():
                    raise ValueError(
                        f"a direct solve, inverse or determinant: term {t}, "
                        f"{f.name}, has non-finite entries (inf or nan)"
                    )
        # both terms may qualify as the definite one: the better conditioned is
        # the mass (the pencils' accuracy follows κ of the mass, not of the sum)
        found = []
        for other, definite in ((fa, fb), (fb, fa)):
            got = _definite(definite)
            if got is not None:
                found.append((got[2], other, got))
        if found:
            _, other, (scale, masses, _) = min(found, key=lambda c: c[0])
            return _pencil_solver(other, masses, scale, self.dtype)
        raise np.linalg.LinAlgError(
            "a direct solve of a two-term KronProductSum needs one term that is a "
            "scalar multiple of a product of Hermitian positive definite factors; "
            f"neither term is: {ITERATIVE_ROUTE}"
        )

    def decomposition(self) -> Factorization:
        """The factored form ``solve``/``inv``/``slogdet`` use (cached).

        For two terms a :class:`~kronop.KronEigen` holding the congruence
        (⊗BⱼVⱼ)(Λ + s)(⊗Vⱼ)⁻¹ of the class notes (not an eigendecomposition of
        S); for one term, that term's factorization.

        Returns
        -------
        Factorization

        Raises
        ------
        numpy.linalg.LinAlgError
            When the sum has no direct factorization (see the class notes).

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> A, B = np.array([[0.0, 1.0], [1.0, 0.0]]), np.eye(2)
        >>> S = KronOperator(A, A) + KronOperator(B, 2 * B)
        >>> np.asarray(S.decomposition().eigenvalues)  # λ(A)⊗λ(A)/2 + 1
        array([1.5, 0.5, 0.5, 1.5])
        """
        return self.factorization()


def _definite(factors: list[Factor]):
    """``(c, masses, κ)`` when ⊗Bⱼ = c·⊗Mⱼ with every Mⱼ HPD, else None.

    Each factor may be a unimodular multiple of an HPD matrix (−B for a negative
    definite factor, or e^{iθ}B after a complex scalar folded into it); ``c`` is
    the product of those phases. ``masses`` holds the Mⱼ (None for identity
    factors, which need no pencil); κ = ∏ κ₂(Mⱼ) ranks candidate terms.
    """
    scale: complex | float = 1
    masses: list[Factor | None] = []
    cond = 1.0
    for f in factors:
        if f.is_identity:
            masses.append(None)
            continue
        if f.cholesky() is None:
            phase = _phase(f)
            if phase is None:
                return None
            f = f.scaled(1 / phase, f.dtype)  # in the promoted precision
            if f.cholesky() is None:
                return None
            scale = scale * phase
        w = f.eigh("solve").values
        cond *= float(w[-1] / w[0])
        masses.append(f)
    if isinstance(scale, complex) and scale.imag == 0:
        scale = scale.real
    return scale, masses, cond


def _phase(f: Factor):
    """The unit scalar c with f/c possibly HPD (from the trace), or None."""
    t = complex(np.trace(f.dense("solve")))
    if t == 0:
        return None
    c = t / abs(t)
    if c.imag == 0:
        return float(c.real)
    return c if f.dtype.kind == "c" else None


def _pencil_solver(factors, masses, sign, dtype) -> KronEigen:
    """A + s·M = (⊗MⱼVⱼ)(⊗Λⱼ + s)(⊗Vⱼ)⁻¹ from the axis pencils (Aⱼ, Mⱼ)."""
    pencils = _generalized.pencils(factors, masses)
    hermitian = all(f.is_hermitian() for f in factors)
    cond = 1.0
    if not hermitian:
        for f, p in zip(factors, pencils, strict=True):
            if not f.is_hermitian():
                cond *= float(np.linalg.cond(p.vectors.toarray()))
    return _generalized.generalized_solver(
        pencils, sign, dtype, hermitian, combine="product", vector_cond=cond
    )


# ------------------------------------------------------------------ norms
def _entries(f: Factor):
    """A factor's entries in double precision (sparse stays sparse)."""
    f.require_entries("norm")
    a = f.entries()
    dtype = np.result_type(a.dtype, np.float64)
    return a.astype(dtype) if sp.issparse(a) else np.asarray(a, dtype=dtype)


def _frob(a, b) -> complex:
    """⟨a, b⟩_F = Σ ā b for dense or sparse matrices of one shape."""
    if sp.issparse(a):
        return complex(sp.csr_array(a).conj().multiply(b).sum())
    if sp.issparse(b):
        return complex(np.conj(sp.csr_array(b).conj().multiply(a).sum()))
    return complex(np.vdot(a, b))


def _merged(group: list) -> Any:
    if not group:
        return np.ones((1, 1))
    if any(sp.issparse(g) for g in group):
        return reduce(lambda x, y: sp.kron(x, y, format="csr"), group)
    return reduce(np.kron, group)


def _aligned(kr: KronOperator, ks: KronOperator, r: int, s: int):
    """The two terms' factors regrouped so that the groups' shapes pair up."""
    fr, fs = kr._factors, ks._factors
    if [f.shape for f in fr] == [f.shape for f in fs]:
        return [_entries(f) for f in fr], [_entries(f) for f in fs]

    def prefixes(fs_):
        out, m, n = [], 1, 1
        for f in fs_:
            m, n = m * f.shape[0], n * f.shape[1]
            out.append((m, n))
        return out

    pr, ps = prefixes(fr), prefixes(fs)
    cuts = sorted(set(pr) & set(ps))  # a chain: both terms' prefixes are

    def groups(factors, pre):
        out = [[] for _ in cuts]
        for f, p in zip(factors, pre, strict=True):
            k = next(i for i, c in enumerate(cuts) if c[0] >= p[0] and c[1] >= p[1])
            out[k].append(_entries(f))
        return [_merged(g) for g in out]

    gr, gs = groups(fr, pr), groups(fs, ps)
    largest = max(f.shape[0] * f.shape[1] for f in (*fr, *fs))
    for g in gr + gs:
        if g.shape[0] * g.shape[1] > largest:
            raise ValueError(
                f"norm(): the factors of terms {r} and {s} do not line up (factor "
                f"shapes {[f.shape for f in fr]} and {[f.shape for f in fs]}): "
                f"pairing them would form a {g.shape[0]}×{g.shape[1]} matrix, larger "
                "than any factor"
            )
    return gr, gs


def _inner(kr: KronOperator, ks: KronOperator, r: int, s: int) -> complex:
    """⟨K_r, K_s⟩_F = ∏ⱼ ⟨A⁽ʳ⁾ⱼ, A⁽ˢ⁾ⱼ⟩_F."""
    gr, gs = _aligned(kr, ks, r, s)
    out = 1.0 + 0j
    for a, b in zip(gr, gs, strict=True):
        out *= _frob(a, b)
    return out


# ------------------------------------------------------------------ rules
def _same_factor_shapes(a: KronOperator, b: KronOperator) -> bool:
    return len(a._factors) == len(b._factors) and all(
        fa.shape == fb.shape for fa, fb in zip(a._factors, b._factors, strict=True)
    )


def _kron_plus_kron(a: KronOperator, b: KronOperator):
    if not _same_factor_shapes(a, b):
        return NotImplemented
    return KronProductSum(a, b)


def _sum_plus_term(s: KronProductSum, k: KronOperator | KronProductSum):
    return KronProductSum(s, k)


def _term_plus_sum(k: KronOperator, s: KronProductSum):
    return KronProductSum(k, s)


_rules.register_add(KronOperator, KronOperator, _kron_plus_kron)
_rules.register_add(KronProductSum, KronOperator, _sum_plus_term)
_rules.register_add(KronOperator, KronProductSum, _term_plus_sum)
_rules.register_add(KronProductSum, KronProductSum, _sum_plus_term)


def _shifted_plus_term(s: KronPlusDiagonal, k: KronOperator | KronProductSum):
    if s.shape != k.shape:
        return NotImplemented
    return KronProductSum(*s.terms, k)


def _term_plus_shifted(k: KronOperator | KronProductSum, s: KronPlusDiagonal):
    if s.shape != k.shape:
        return NotImplemented
    return KronProductSum(k, *s.terms)


def _sum_plus_identity(s: KronProductSum, eye: _rules.ScaledIdentity):
    if s.shape[0] != s.shape[1] or eye.shape != s.shape:
        return NotImplemented
    ns = [f.shape[0] for f in s.terms[0]._factors]
    if any(f.shape[0] != f.shape[1] for f in s.terms[0]._factors):
        ns = [s.shape[0]]
    ident = KronOperator(*(sp.eye_array(n, format="csr") for n in ns)) * eye.sigma
    return KronProductSum(s, ident)


# K + σD plus another term is a sum of three Kronecker products; a sum plus σI
# keeps its terms (and gains one)
_rules.register_add(KronPlusDiagonal, KronOperator, _shifted_plus_term)
_rules.register_add(KronOperator, KronPlusDiagonal, _term_plus_shifted)
_rules.register_add(KronPlusDiagonal, KronProductSum, _shifted_plus_term)
_rules.register_add(KronProductSum, KronPlusDiagonal, _term_plus_shifted)
_rules.register_add(KronProductSum, _rules.ScaledIdentity, _sum_plus_identity)
