r"""``SampledKron``: selected rows and/or columns of a Kronecker product.

S_r (A₁⊗…⊗A_d) S_cᵀ is the design matrix of a grid observed at scattered points,
and, with the same selection on both sides plus σI, the covariance of a Gaussian
process on an incomplete grid. Its products choose, by a cost model, between the
full Kronecker product followed by a gather, a *sampled vec trick* that contracts
only the selected rows (or expands only the selected columns), and, when both
sides are selected and the selection is small, the explicit R×C matrix built
from factor entries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from . import _engine
from ._base import StructuredOperator
from .kron import KronOperator

__all__ = ["SampledKron"]

# ------------------------------------------------------------- cost model
# Every path is priced in flop-equivalents per right-hand side; only ratios
# matter. Measured with numpy 2.4 / OpenBLAS (Haswell kernel) on the project
# machine (2 cores) for factors of 20..400:
#
# * a GEMM flop (the full product's mode products; a *dense* step of the
#   sampled vec trick, which multiplies every prefix tuple by every distinct
#   factor row it needs) costs 1 (~40 GFLOP/s on one core);
# * a flop of a *gathered* step (a gather of the partial result per sampled
#   tuple and one short dot product each: memory-bound, a BLAS call per tuple)
#   costs ``_GATHERED`` ≈ 20 (measured 15–30 against the GEMM rate); each step
#   takes the cheaper form, so a step with few parents and few distinct
#   indices (points on a few grid lines) is dense, a scattered one gathered;
# * each element written or read by a scatter, a gather, a zero fill or a
#   transposing copy costs ``_TOUCH`` ≈ 12 (measured 4–10 for a zero fill or a
#   copy, more for a random gather);
# * a flop of the explicit R×C matrix (one GEMV over it) costs ``_EXPLICIT``
#   ≈ 4 (memory-bound for one right-hand side: measured 2.8–4.6);
# * every step costs ``_CALL`` ≈ 2·10⁴ (a few microseconds of numpy calls), so
#   tiny problems take the path with the fewest steps.
_GATHERED = 20.0
_TOUCH = 12.0
_EXPLICIT = 4.0
_CALL = 2.0e4
#: the explicit matrix is never larger than this many entries (16 MiB in float64)
_EXPLICIT_MAX = 1 << 21
#: the contraction order is searched exhaustively up to this many factors
_EXHAUSTIVE_D = 6

_PATHS = ("full", "rows", "cols", "explicit")


# ------------------------------------------------------------ selections
def _readonly(a: np.ndarray) -> np.ndarray:
    """A private read-only int64 copy (never an alias of the caller's array)."""
    a = np.array(a, dtype=np.int64, copy=True)
    a.setflags(write=False)
    return a


def _int_array(obj: Any, where: str) -> np.ndarray:
    """One 1-D integer index array (or ``TypeError``/``ValueError`` naming it)."""
    if sp.issparse(obj) or isinstance(obj, LinearOperator):
        raise TypeError(
            f"{where} must be a 1-D integer array, got {type(obj).__name__}"
        )
    arr = np.asarray(obj)
    if arr.size == 0 and arr.ndim == 1:
        return np.empty(0, dtype=np.int64)
    if arr.ndim != 1:
        raise ValueError(
            f"{where} must be a 1-D array of indices, got an array of shape {arr.shape}"
            + (
                " (for a list of (i₁, …, i_d) points pass tuple(np.asarray(points).T),"
                " one index array per axis)"
                if arr.ndim == 2
                else ""
            )
        )
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{where} must hold integers, got dtype={arr.dtype}")
    return arr


def _check_range(arr: np.ndarray, size: int, where: str, what: str) -> None:
    bad = np.flatnonzero((arr < 0) | (arr >= size))
    if bad.size:
        pos = int(bad[0])
        raise ValueError(
            f"{where} out of range: valid indices are 0 ≤ i < {size} ({what}), got "
            f"{arr[pos]} at position {pos}"
        )


@dataclass(eq=False)
class _Selection:
    """Validated indices into one side of the grid: flat, per axis, and runs.

    ``flat`` and ``axes`` are read-only int64 arrays; repeated indices are
    summed by a :class:`_engine.SegmentSum` scatter-add.
    """

    flat: np.ndarray
    axes: tuple[np.ndarray, ...]
    grid: tuple[int, ...]
    _segs: tuple | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.flat.shape[0])

    @property
    def size(self) -> int:
        """Length of the full side (∏ grid)."""
        return math.prod(self.grid)

    def segments(self) -> tuple[np.ndarray, _engine.SegmentSum]:
        """The distinct flat indices and the scatter-add of samples onto them."""
        if self._segs is None:
            targets, inv = np.unique(self.flat, return_inverse=True)
            self._segs = (targets, _engine.SegmentSum(inv.reshape(-1), len(targets)))
        return self._segs

    def scatter(self, x: np.ndarray) -> np.ndarray:
        """Sᵀx: rows of ``x`` (n, L) added into a zero (size, L) array."""
        out = np.zeros((self.size, x.shape[1]), dtype=x.dtype)
        if not len(self):
            return out
        targets, segs = self.segments()
        if segs.onto:
            out[self.flat] = x
        else:
            out[targets] = segs.sum(x)
        return out

    def unique_axis(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Distinct indices on axis j and each selected index's position among them."""
        u, inv = np.unique(self.axes[j], return_inverse=True)
        return u, inv.reshape(-1)


def _selection(obj: Any, grid: tuple[int, ...], where: str) -> _Selection | None:
    """``rows``/``cols`` as a :class:`_Selection` (None for all)."""
    if obj is None:
        return None
    d = len(grid)
    size = math.prod(grid)
    if isinstance(obj, tuple):
        if len(obj) != d:
            raise ValueError(
                f"{where}: a tuple gives one index array per factor, so it needs {d} "
                f"arrays, got {len(obj)}"
            )
        axes = [_int_array(a, f"{where} (axis {j})") for j, a in enumerate(obj)]
        lengths = {a.shape[0] for a in axes}
        if len(lengths) > 1:
            raise ValueError(
                f"{where}: the per-axis index arrays must have equal lengths, got "
                f"{[a.shape[0] for a in axes]}"
            )
        for j, (a, n) in enumerate(zip(axes, grid, strict=True)):
            _check_range(a, n, f"{where} (axis {j})", f"factor {j} has {n} along it")
        axes = [a.astype(np.int64) for a in axes]
        flat = (
            np.ravel_multi_index(axes, grid)
            if axes[0].size
            else np.empty(0, dtype=np.int64)
        )
    else:
        arr = np.asarray(obj) if not sp.issparse(obj) else obj
        if isinstance(arr, np.ndarray) and arr.dtype == bool:
            if arr.shape != (size,):
                raise ValueError(
                    f"{where}: a boolean mask must have shape ({size},), got {arr.shape}"
                )
            flat = np.flatnonzero(arr)
        else:
            flat = _int_array(obj, f"{where} (flat)")
            _check_range(flat, size, f"{where} (flat)", f"the grid {grid} has {size}")
            flat = flat.astype(np.int64)
        axes = (
            list(np.unravel_index(flat, grid))
            if flat.size
            else [np.empty(0, dtype=np.int64)] * d
        )
    return _Selection(_readonly(flat), tuple(_readonly(a) for a in axes), tuple(grid))


# -------------------------------------------------------- factor entries
def _rows_of(f, idx: np.ndarray) -> np.ndarray:
    """A[idx, :] of a factor as a dense array (no more than those rows formed)."""
    mat = f.matrix
    if isinstance(mat, np.ndarray):
        return mat[idx]
    if sp.issparse(mat):
        return mat[idx].toarray()
    if isinstance(mat, LinearOperator):
        # A[idx, :] = (Aᴴ E)ᴴ with E the identity's columns idx
        E = np.zeros((f.shape[0], len(idx)), dtype=f.dtype)
        E[idx, np.arange(len(idx))] = 1
        return np.asarray(mat.H.matmat(E)).conj().T
    return f.toarray()[idx]  # pragma: no cover - every kind is one of the above


def _cols_of(f, idx: np.ndarray) -> np.ndarray:
    """A[:, idx] of a factor as a dense array."""
    mat = f.matrix
    if isinstance(mat, np.ndarray):
        return mat[:, idx]
    if sp.issparse(mat):
        return sp.csc_array(mat)[:, idx].toarray()
    if isinstance(mat, LinearOperator):
        E = np.zeros((f.shape[1], len(idx)), dtype=f.dtype)
        E[idx, np.arange(len(idx))] = 1
        return np.asarray(mat.matmat(E))
    return f.toarray()[:, idx]  # pragma: no cover


def _block_of(f, rows: np.ndarray | None, cols: np.ndarray | None) -> np.ndarray:
    """A[rows][:, cols] (None: all) without forming more than one side's slice."""
    if rows is None and cols is None:
        return np.asarray(f.toarray())
    if rows is None:
        return _cols_of(f, cols)
    out = _rows_of(f, rows)
    return out if cols is None else out[:, cols]


# ---------------------------------------------------- the sampled vec trick
@dataclass(eq=False)
class _Trick:
    """A contraction order for sampled multi-indices and its unique-prefix maps.

    Step s contracts axis ``order[s]``. ``parents[s][q]`` is the prefix tuple (of
    step s − 1) that tuple q of step s extends, ``values[s]`` the distinct
    indices on the new axis and ``picks[s][q]`` the position of tuple q's index
    among them; ``segments[s]`` sums step-s tuples onto their parents;
    ``final[r]`` is the tuple of sample r after the last step and
    ``gather_final`` sums samples onto final tuples. ``dense[s]`` says how step s
    runs: for every (parent, distinct index) pair by GEMMs (True), or for the
    step's own tuples only by a gather and batched dot products (False).
    """

    order: tuple[int, ...]
    parents: list[np.ndarray]
    values: list[np.ndarray]
    picks: list[np.ndarray]
    dense: list[bool]
    segments: list[_engine.SegmentSum]
    final: np.ndarray
    gather_final: _engine.SegmentSum
    cost: float

    def buffer_size(self, grid: tuple[int, ...], L: int) -> int:
        """Elements of the largest gathered intermediate for L columns."""
        rest = math.prod(grid) * L
        size = 1
        for s, j in enumerate(self.order):
            if not self.dense[s]:
                size = max(size, len(self.parents[s]) * rest)
            rest //= grid[j]
        return size


def _combine(ids: np.ndarray, idx: np.ndarray, m: int):
    key = ids * m + idx
    uniq, inv = np.unique(key, return_inverse=True)
    return uniq, inv.reshape(-1)


def _step_cost(before: int, after: int, distinct: int, n: int, rest: int):
    """``(cost, dense)`` of one step (see the module's cost model).

    ``before``/``after`` prefix tuples, ``distinct`` indices on the axis, ``n``
    its length contracted over, ``rest`` the other axes' size still to go.
    """
    dense = 2.0 * before * distinct * n * rest + _TOUCH * after * rest
    gathered = _GATHERED * 2.0 * after * n * rest
    return (dense, True) if dense <= gathered else (gathered, False)


def _plan_trick(
    axes: tuple[np.ndarray, ...],
    sampled: tuple[int, ...],
    other: tuple[int, ...],
    steps: str | None = None,
) -> _Trick:
    """The cheapest order to contract sampled multi-indices (see the class notes).

    ``sampled`` are the grid sizes the indices point into, ``other`` the sizes
    contracted over (for the transposed problem the roles swap). The number of
    distinct prefix tuples depends only on the set of axes contracted so far, so
    the order is a shortest path over subsets (exhaustive for a few factors,
    greedy beyond). ``steps`` ("dense" or "gathered") forces every step's form.
    """
    d = len(axes)
    R = len(axes[0])
    total = math.prod(other)
    distinct = [len(np.unique(a)) for a in axes]
    ids = {0: np.zeros(R, dtype=np.int64)}
    count = {0: 1}

    def extend(S: int, j: int) -> tuple[int, float]:
        T = S | (1 << j)
        if T not in count:
            uniq, inv = _combine(ids[S], axes[j], sampled[j])
            ids[T], count[T] = inv, len(uniq)
        rest = total // math.prod(other[t] for t in range(d) if T >> t & 1)
        cost, _ = _step_cost(count[S], count[T], distinct[j], other[j], rest)
        return T, cost + _CALL

    if d <= _EXHAUSTIVE_D:
        best: dict[int, tuple[float, tuple[int, ...]]] = {0: (0.0, ())}
        for S in sorted(range(1 << d), key=lambda s: s.bit_count()):
            if S not in best:
                continue
            c0, order = best[S]
            for j in range(d):
                if not S >> j & 1:
                    T, c = extend(S, j)
                    if T not in best or c0 + c < best[T][0]:
                        best[T] = (c0 + c, (*order, j))
        cost, order = best[(1 << d) - 1]
    else:
        S, order, cost = 0, (), 0.0
        for _ in range(d):
            options = [(*extend(S, j)[::-1], j) for j in range(d) if not S >> j & 1]
            c, T, j = min(options)
            S, order, cost = T, (*order, j), cost + c
    # the steps along the chosen order, with their own tuple numbering
    parents, values, picks, dense, segments = [], [], [], [], []
    cur = np.zeros(R, dtype=np.int64)
    groups = 1
    rest = total
    for j in order:
        uniq, cur = _combine(cur, axes[j], sampled[j])
        parent = uniq // sampled[j]
        vals, pos = np.unique(uniq % sampled[j], return_inverse=True)
        rest //= other[j]
        _, how = _step_cost(groups, len(uniq), len(vals), other[j], rest)
        how = {"dense": True, "gathered": False}.get(steps, how)
        parents.append(parent)
        values.append(vals)
        picks.append(pos.reshape(-1))
        dense.append(how)
        segments.append(_engine.SegmentSum(parent, groups))
        groups = len(uniq)
    if order != tuple(range(d)):
        cost += _TOUCH * total  # the transposing copy of the input
    return _Trick(
        tuple(order),
        parents,
        values,
        picks,
        dense,
        segments,
        cur,
        _engine.SegmentSum(cur, groups),
        cost,
    )


def _product_flops(factors) -> float:
    """Flops per column of the full product in the flop-optimal order (DESIGN §5)."""
    order = sorted(
        factors,
        key=lambda f: (1.0 - f.shape[0] / f.shape[1]) / max(f.cost, 1e-3),
        reverse=True,
    )
    size = float(math.prod(f.shape[1] for f in factors))
    total = 0.0
    for f in order:
        total += f.cost * size
        size *= f.shape[0] / f.shape[1]
    return total


# ---------------------------------------------------------------- the operator
class SampledKron(StructuredOperator):
    r"""Selected rows and/or columns of a Kronecker product: S_r (A₁⊗…⊗A_d) S_cᵀ.

    Parameters
    ----------
    K : KronOperator
        The Kronecker product A₁⊗…⊗A_d (any factor kinds, rectangular allowed).
        To sample a product of plain factors, pass ``KronOperator(*factors)``.
    rows, cols : array_like or tuple of array_like, optional
        The selected rows of K (``rows``) and columns (``cols``); None (default)
        keeps them all. Either a 1-D integer array of flat indices in
        ``numpy.kron`` order (C order over the grid of factor row sizes for
        ``rows``, column sizes for ``cols``), a boolean mask over the flat
        indices, or a *tuple* of one integer array per factor, of equal
        lengths, as ``numpy.unravel_index`` returns. Any order; repeats are
        allowed (a point observed twice is two rows). Negative indices are
        rejected, not wrapped.

    Attributes
    ----------
    kron : KronOperator
        K.
    rows, cols : numpy.ndarray or None
        The selection as flat int64 indices (read-only), or None for all.
    shape : tuple of int
        ``(len(rows), len(cols))``, with M or N for an unselected side.
    dtype : numpy.dtype
        K's dtype.

    Raises
    ------
    TypeError
        If K is not a ``KronOperator``, or indices are not integers.
    ValueError
        If an index is out of range (the message names the axis and the valid
        range), a tuple has the wrong number of arrays or unequal lengths, or
        an index array is not 1-D.

    See Also
    --------
    KronOperator : the full product.

    Notes
    -----
    Row r of K at the multi-index (i₁, …, i_d) is a Kronecker product of factor
    rows, :math:`e_r^T K = \bigotimes_j A_j[i_j, :]`, and column s at
    (c₁, …, c_d) is :math:`\bigotimes_j A_j[:, c_j]`. Products take the cheapest
    of these paths (by a flop-and-memory model, per right-hand side):

    **full** — :math:`\tilde x = S_c^T x` (a scatter-add: repeated columns sum),
    :math:`K\tilde x` by the vec trick, then the selected rows: about
    :math:`2N\sum_j n_j` flops for square dense factors.

    **rows** (the sampled vec trick) — with X the input as an
    :math:`n_1\times\cdots\times n_d` tensor, contract one axis at a time against
    only the factor rows that are sampled. For d = 2,
    :math:`y_r = A[i_r,:]\,X\,B[j_r,:]^T`: first :math:`W = A[u,:]X` for the
    U distinct :math:`i_r` (one GEMM, :math:`2NU` flops), then
    :math:`y_r = W[i_r,:]\cdot B[j_r,:]` (:math:`2Rn_2`). In general step s
    contracts axis :math:`\pi_s` for the :math:`P_s` distinct prefix tuples
    :math:`(i_{\pi_1}, …, i_{\pi_s})`, either *gathered* (one dot product per
    tuple, :math:`2P_s\prod_{t\ge s}n_{\pi_t}` flops, memory-bound) or *dense*
    (every parent tuple times every distinct index by GEMMs,
    :math:`2P_{s-1}U_{\pi_s}\prod_{t\ge s}n_{\pi_t}` flops), whichever the
    model prices lower; the number of tuples depends only on the set of axes
    contracted so far, so the order π minimising the total is a shortest path
    over subsets of axes (exhaustive up to six factors, greedy beyond). Its
    cost is about :math:`2NU` against the full product's
    :math:`2N\sum_j n_j`: it wins when the sampled points use few distinct
    rows of some factor (few points, or points on a few grid lines).

    **cols** — the transposed problem, the adjoint of the rows path run
    backwards: it expands only the selected columns (gathers become
    scatter-adds, done as one sparse 0/1 matrix product).

    **explicit** — when both sides are selected and R·C is small, the R×C matrix
    itself, :math:`E_{rs} = \prod_j A_j[i_{rj}, c_{sj}]` (built once from factor
    entries in O(R·C·d) and cached; never more than 2²¹ entries).

    ``toarray()`` forms the R×C matrix the same way, never the full M×N one.
    The adjoint is ``SampledKron(K.H, rows=cols, cols=rows)`` and scalars fold
    into K. With the same selection on both sides and a shift,
    ``SampledKron(K, rows, rows) + sigma * IdentityOperator`` is the covariance
    of a Gaussian process observed on part of a grid; it goes into ``cg``
    through scipy's lazy sum.

    Examples
    --------
    >>> import numpy as np
    >>> from kronop import KronOperator
    >>> from kronop.sampled import SampledKron
    >>> rng = np.random.default_rng(0)
    >>> A, B = rng.random((4, 4)), rng.random((5, 5))
    >>> K = KronOperator(A, B)
    >>> rows = np.array([3, 17, 17, 0])
    >>> S = SampledKron(K, rows=rows)
    >>> S.shape
    (4, 20)
    >>> x = rng.random(20)
    >>> bool(np.allclose(S @ x, np.kron(A, B)[rows] @ x))
    True
    >>> P = SampledKron(K, rows=(np.array([0, 3]), np.array([1, 4])), cols=rows)
    >>> bool(np.allclose(P.toarray(), np.kron(A, B)[[1, 19]][:, rows]))
    True
    """

    def __init__(self, K: KronOperator, rows: Any = None, cols: Any = None) -> None:
        if not isinstance(K, KronOperator):
            raise TypeError(
                f"SampledKron samples a KronOperator, got {type(K).__name__}; wrap "
                "plain factors as KronOperator(*factors)"
            )
        out_grid = tuple(f.shape[0] for f in K._factors)
        in_grid = tuple(f.shape[1] for f in K._factors)
        self._init_from(
            K,
            _selection(rows, out_grid, "rows"),
            _selection(cols, in_grid, "cols"),
            None,
        )

    @classmethod
    def _make(cls, K, rsel, csel, path, steps=None) -> SampledKron:
        self = cls.__new__(cls)
        self._init_from(K, rsel, csel, path, steps)
        return self

    _transient = ("_space",)

    def _init_transient(self) -> None:
        super()._init_transient()
        self._space = _engine.numpy_kernels.Workspace()

    def clear_workspace(self) -> None:
        """Free the work buffers kept between products (they regrow on use).

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator, SampledKron
        >>> S = SampledKron(KronOperator(np.eye(3), np.ones((2, 2))), rows=[0, 5])
        >>> y = S @ np.ones(6)
        >>> S.clear_workspace()
        >>> bool(np.allclose(S @ np.ones(6), y))
        True
        """
        self._space.clear()
        self.kron.clear_workspace()

    def _init_from(self, K, rsel, csel, path, steps=None) -> None:
        self.kron = K
        self._rsel = rsel
        self._csel = csel
        self._force = path
        self._steps = steps
        M = K.shape[0] if rsel is None else len(rsel)
        N = K.shape[1] if csel is None else len(csel)
        super().__init__(K.dtype, (M, N))

    # ------------------------------------------------------------- basics
    @property
    def rows(self) -> np.ndarray | None:
        """The selected rows as flat read-only int64 indices (None: all).

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator, SampledKron
        >>> K = KronOperator(np.ones((2, 2)), np.eye(3))
        >>> S = SampledKron(K, rows=(np.array([1, 0]), np.array([2, 0])))  # per factor
        >>> S.rows  # flat, in numpy.kron order: 1·3 + 2, 0·3 + 0
        array([5, 0])
        >>> print(SampledKron(K, cols=[1]).rows)
        None
        """
        return None if self._rsel is None else self._rsel.flat

    @property
    def cols(self) -> np.ndarray | None:
        """The selected columns as flat read-only int64 indices (None: all).

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator, SampledKron
        >>> K = KronOperator(np.ones((2, 2)), np.eye(3))
        >>> mask = np.array([True, False, False, False, True, False])
        >>> SampledKron(K, cols=mask).cols
        array([0, 4])
        """
        return None if self._csel is None else self._csel.flat

    def _args(self) -> tuple:
        return (self.kron, self.rows, self.cols)

    def __repr__(self) -> str:
        r = "all" if self._rsel is None else len(self._rsel)
        c = "all" if self._csel is None else len(self._csel)
        return f"SampledKron({self.kron!r}, rows={r}, cols={c})"

    def _with_path(self, path: str | None, steps: str | None = None) -> SampledKron:
        """The same operator forced onto one product path (for tests/benchmarks).

        ``steps`` ("dense" or "gathered") also forces the form of every step of
        the sampled vec trick.
        """
        if path is not None and path not in _PATHS:
            raise ValueError(f"path must be one of {_PATHS} or None, got {path!r}")
        if steps not in (None, "dense", "gathered"):
            raise ValueError(
                f"steps must be 'dense', 'gathered' or None, got {steps!r}"
            )
        return SampledKron._make(self.kron, self._rsel, self._csel, path, steps)

    # ------------------------------------------------------------ algebra
    def _scaled(self, alpha) -> SampledKron:
        return SampledKron._make(
            self.kron._scaled(alpha), self._rsel, self._csel, self._force, self._steps
        )

    def _mirror(self) -> str | None:
        return {"rows": "cols", "cols": "rows"}.get(self._force, self._force)

    def _make_adjoint(self) -> SampledKron:
        return SampledKron._make(
            self.kron.H, self._csel, self._rsel, self._mirror(), self._steps
        )

    def _make_transpose(self) -> SampledKron:
        return SampledKron._make(
            self.kron.T, self._csel, self._rsel, self._mirror(), self._steps
        )

    # ------------------------------------------------------- path choice
    def _costs(self) -> dict[str, float]:
        """Modelled cost per right-hand side of each available path."""
        K, rs, cs = self.kron, self._rsel, self._csel
        M, N = K.shape
        scatter = 0.0 if cs is None else _TOUCH * N
        gather = 0.0 if rs is None else _TOUCH * M
        costs = {"full": scatter + _product_flops(K._factors) + gather + _CALL * 4}
        if rs is not None and len(rs):
            costs["rows"] = scatter + self._trick("rows").cost
        if cs is not None and len(cs):
            costs["cols"] = self._trick("cols").cost + gather
        if rs is not None and cs is not None and len(rs) * len(cs) <= _EXPLICIT_MAX:
            costs["explicit"] = _EXPLICIT * 2.0 * len(rs) * len(cs) + _CALL
        return costs

    def _path(self) -> str:
        if self._force is not None:
            if self._force in ("rows", "explicit") and self._rsel is None:
                return "full"
            if self._force in ("cols", "explicit") and self._csel is None:
                return "full"
            return self._force

        def choose():
            costs = self._costs()
            return min(costs, key=costs.get)

        return self._cached("path", choose)

    def _trick(self, side: str) -> _Trick:
        def build():
            fs = self.kron._factors
            out_grid = tuple(f.shape[0] for f in fs)
            in_grid = tuple(f.shape[1] for f in fs)
            if side == "rows":
                return _plan_trick(self._rsel.axes, out_grid, in_grid, self._steps)
            return _plan_trick(self._csel.axes, in_grid, out_grid, self._steps)

        return self._cached("trick_" + side, build)

    def _trick_mats(self, side: str, dtype: np.dtype) -> list[np.ndarray]:
        """The factor rows (or columns) each step of the trick multiplies by."""

        def build():
            trick = self._trick(side)
            fs = self.kron._factors
            mats = []
            for s, j in enumerate(trick.order):
                idx = trick.values[s]
                if not trick.dense[s]:
                    idx = idx[trick.picks[s]]
                if side == "rows":
                    m = _rows_of(fs[j], idx)
                else:
                    m = _cols_of(fs[j], idx)
                    m = m if trick.dense[s] else m.T
                m = np.ascontiguousarray(m, dtype=dtype)
                m.setflags(write=False)
                mats.append(m)
            return mats

        return self._cached(f"mats_{side}_{dtype.str}", build)

    def _explicit(self, dtype: np.dtype) -> np.ndarray:
        def build():
            # built in the product's precision: a float64 input to a float32
            # operator gets float64 products of the factor entries, as on the
            # other paths (which work in that precision too)
            out = self._entries(dtype)
            out.setflags(write=False)
            return out

        return self._cached(f"explicit_{dtype.str}", build)

    # ------------------------------------------------------------ products
    def _apply(self, x: np.ndarray) -> np.ndarray:
        B, _, Kc = x.shape
        dtype = _engine.compute_dtype(self.dtype, x.dtype)
        path = self._path()
        if path == "full":
            y = x
            if self._csel is not None:
                cols = _engine.cast(_engine.as_columns(x), dtype)
                y = _engine.from_columns(self._csel.scatter(cols), B, Kc)
            y = self.kron._apply(y)
            if self._rsel is not None:
                y = y[:, self._rsel.flat, :]
            return y
        cols = _engine.cast(_engine.as_columns(x), dtype)
        fs = self.kron._factors
        if path == "explicit":
            y = np.matmul(self._explicit(dtype), cols)
        elif path == "rows":
            if self._csel is not None:
                cols = self._csel.scatter(cols)
            grid = tuple(f.shape[1] for f in fs)
            mats = self._trick_mats("rows", dtype)
            y = _engine.contract_rows(
                self._trick("rows"), mats, cols, grid, self._space
            )
        else:  # cols
            grid = tuple(f.shape[0] for f in fs)
            mats = self._trick_mats("cols", dtype)
            y = _engine.expand_cols(self._trick("cols"), mats, cols, grid, self._space)
            if self._rsel is not None:
                y = y[self._rsel.flat]
        return np.ascontiguousarray(_engine.from_columns(y, B, Kc))

    # ------------------------------------------------------------- entries
    def _entries(self, dtype=None) -> np.ndarray:
        """The R×C matrix from factor entries, O(R·C·d), in ``dtype`` (own by default)."""
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        rs, cs = self._rsel, self._csel
        R, C = self.shape
        out = np.ones((1 if rs is None else R, 1 if cs is None else C), dtype)
        for j, f in enumerate(self.kron._factors):
            ur, ir = (None, None) if rs is None else rs.unique_axis(j)
            uc, ic = (None, None) if cs is None else cs.unique_axis(j)
            blk = np.asarray(_block_of(f, ur, uc))
            if ir is not None:
                blk = blk[ir]
            if ic is not None:
                blk = blk[:, ic]
            if rs is None:  # every row of the grid: the rows' Kronecker product
                out = out[:, None, :] * blk[None, :, :]
                out = out.reshape(out.shape[0] * out.shape[1], C)
            elif cs is None:  # every column: each row is a Kronecker product of rows
                out = out[:, :, None] * blk[:, None, :]
                out = out.reshape(R, out.shape[1] * out.shape[2])
            else:  # one entry per (row, column) pair
                out = out * blk
        return out.astype(dtype, copy=False)

    def toarray(self) -> np.ndarray:
        r"""The dense R×C matrix, from the sampled factor entries.

        Entry (r, s) is :math:`\prod_j A_j[i_{rj}, c_{sj}]`: O(R·C·d) work and
        no M×N intermediate (only the selected block is ever formed).

        Returns
        -------
        numpy.ndarray
            Shape ``self.shape``, dtype ``self.dtype``.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> from kronop.sampled import SampledKron
        >>> A, B = np.arange(4.0).reshape(2, 2), np.eye(2)
        >>> SampledKron(KronOperator(A, B), rows=[3, 0]).toarray()
        array([[0., 2., 0., 3.],
               [0., 0., 1., 0.]])
        """
        if self._rsel is None and self._csel is None:
            return self.kron.toarray()
        return self._entries()

    def diagonal(self) -> np.ndarray:
        """The main diagonal (length min(R, C)), from factor entries.

        Returns
        -------
        numpy.ndarray

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> from kronop.sampled import SampledKron
        >>> A = np.array([[1.0, 2.0], [3.0, 4.0]])
        >>> S = SampledKron(KronOperator(A, A), rows=[3, 0], cols=[3, 1])
        >>> S.diagonal()
        array([16.,  2.])
        """
        k = min(self.shape)
        fs = self.kron._factors
        out_grid = tuple(f.shape[0] for f in fs)
        in_grid = tuple(f.shape[1] for f in fs)
        ri = (
            np.unravel_index(np.arange(k), out_grid)
            if self._rsel is None
            else tuple(a[:k] for a in self._rsel.axes)
        )
        ci = (
            np.unravel_index(np.arange(k), in_grid)
            if self._csel is None
            else tuple(a[:k] for a in self._csel.axes)
        )
        out = np.ones(k, dtype=self.dtype)
        for j, f in enumerate(fs):
            u, inv = np.unique(ri[j], return_inverse=True)
            out *= _rows_of(f, u)[inv.reshape(-1), ci[j]]
        return out
