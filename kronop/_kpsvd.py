r"""Nearest Kronecker products: the Van Loan–Pitsianis rearrangement and its SVD.

For a matrix M of shape :math:`(m_b m_c, n_b n_c)` the rearrangement
:math:`\mathcal R(M)`, of shape :math:`(m_b n_b, m_c n_c)`, has as row
:math:`(i_b, j_b)` the row-major vectorization of the block
:math:`M[i_b m_c:(i_b+1) m_c,\ j_b n_c:(j_b+1) n_c]`. With the row-major
convention of ``numpy.kron``, :math:`M = B\otimes C` exactly when
:math:`\mathcal R(M) = \operatorname{vec}(B)\operatorname{vec}(C)^T`, and
:math:`\|M - \sum_r B_r\otimes C_r\|_F = \|\mathcal R(M) - \sum_r
\operatorname{vec}(B_r)\operatorname{vec}(C_r)^T\|_F`, so the nearest sum of r
Kronecker products is the rank-r truncated SVD of :math:`\mathcal R(M)`.

Dense M is rearranged by a reshape and a transpose; sparse M by index
arithmetic on its coordinates (the rearrangement has the same number of stored
entries); a ``LinearOperator`` M is rearranged matrix-free, through products
with M.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, svds

from .kron import KronOperator
from .sums import KronProductSum

__all__ = ["nearest_kron"]

#: a rearrangement with at most this many entries is decomposed by a dense SVD
#: (for a sparse or operator M only then is it formed densely)
_DENSE_LIMIT = 250_000
#: a dense SVD that svds cannot replace (rank ≥ min(R.shape) − 1) is still
#: allowed up to this many entries of R
_DENSE_FALLBACK_LIMIT = 4_000_000
#: an operator M with at most this many entries is formed once (n_b n_c products)
#: rather than used matrix-free (about that many products per Lanczos step)
_OPERATOR_DENSE_LIMIT = 4_000_000
#: entries of one block of columns sent to an operator M's matmat
_BLOCK_ENTRIES = 1 << 22


# ------------------------------------------------------------------ checks
def _shape2(name: str, s: Any) -> tuple[int, int]:
    """A (rows, cols) pair of non-negative Python ints."""
    try:
        t = tuple(s)
    except TypeError:
        raise TypeError(f"{name} must be a pair (rows, cols); got {s!r}") from None
    if len(t) != 2 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in t
    ):
        raise TypeError(f"{name} must be a pair of ints (rows, cols); got {s!r}")
    if min(t) < 0:
        raise ValueError(f"{name} must be non-negative; got {t}")
    return int(t[0]), int(t[1])


def _as_matrix(M: Any):
    """M as (kind, object, dtype): kind is 'dense', 'sparse' or 'operator'."""
    if sp.issparse(M):
        if M.ndim != 2:
            raise ValueError(f"M must be 2-D; got a sparse array of shape {M.shape}")
        kind, obj = "sparse", M
        dtype = M.dtype
    elif isinstance(M, LinearOperator):
        kind, obj, dtype = "operator", M, np.dtype(M.dtype)
    else:
        obj = np.asarray(M)
        if obj.ndim != 2:
            raise ValueError(
                f"M must be a 2-D matrix; got an array of shape {obj.shape} "
                f"({obj.ndim}-D)"
            )
        if obj.dtype == object or obj.dtype.kind not in "biufc":
            raise TypeError(f"M must hold numbers; got dtype {obj.dtype}")
        kind, dtype = "dense", obj.dtype
    dtype = np.dtype(dtype)
    if dtype.kind in "biu":
        dtype = np.dtype(np.float64)
    elif dtype.kind not in "fc":
        raise TypeError(f"M must hold numbers; got dtype {dtype}")
    elif dtype == np.float16:
        # LAPACK and ARPACK work in single or double precision only
        dtype = np.dtype(np.float32)
    elif dtype.itemsize > (16 if dtype.kind == "c" else 8):
        dtype = np.dtype(np.complex128 if dtype.kind == "c" else np.float64)
    return kind, obj, dtype


def _check_rank(rank: Any) -> int:
    if not isinstance(rank, numbers.Integral) or isinstance(rank, bool):
        raise TypeError(f"rank must be a positive int; got {rank!r}")
    if rank < 1:
        raise ValueError(f"rank must be at least 1; got {rank}")
    return int(rank)


def _check_finite(values: np.ndarray) -> None:
    if not np.isfinite(values).all():
        raise ValueError("M has non-finite entries (NaN or inf); cannot fit factors")


# ---------------------------------------------------------- rearrangement
def _rearrange_dense(M: np.ndarray, sb, sc) -> np.ndarray:
    (mb, nb), (mc, nc) = sb, sc
    return M.reshape(mb, mc, nb, nc).transpose(0, 2, 1, 3).reshape(mb * nb, mc * nc)


def _rearrange_sparse(M, sb, sc, dtype):
    """R(M) as a CSR array with the same stored entries as M (never dense)."""
    (mb, nb), (mc, nc) = sb, sc
    coo = M.tocoo()
    row = coo.row.astype(
        np.int64
    )  # fresh arrays: the caller's indices stay as they are
    col = coo.col.astype(np.int64)
    data = np.asarray(coo.data, dtype=dtype)
    _check_finite(data)
    ib, ic = np.divmod(row, mc) if mc else (row, row)
    jb, jc = np.divmod(col, nc) if nc else (col, col)
    R = sp.coo_array((data, (ib * nb + jb, ic * nc + jc)), shape=(mb * nb, mc * nc))
    return R.tocsr()


class _RearrangedOperator(LinearOperator):
    """R(M) for a LinearOperator M, through matrix products with M or Mᵀ.

    ``R(M) v`` with V = unvec(v) (m_c×n_c) needs ⟨M_block(i_b, j_b), V⟩ for every
    block: products of M with the n_b·m_c columns e_{j_b} ⊗ V[i_c, :], or of Mᵀ
    with the m_b·n_c columns e_{i_b} ⊗ V[:, j_c]; the smaller count is used, and
    likewise for the adjoint. The columns go in chunks of whole blocks so that one
    chunk holds about ``_BLOCK_ENTRIES`` entries (never an N×N array).
    """

    def __init__(self, M: LinearOperator, sb, sc, dtype) -> None:
        self.M, self.sb, self.sc = M, sb, sc
        (mb, nb), (mc, nc) = sb, sc
        super().__init__(dtype=dtype, shape=(mb * nb, mc * nc))

    def _chunks(self, units: int, rows: int, per_unit: int):
        step = max(1, _BLOCK_ENTRIES // max(1, rows * per_unit))
        for j0 in range(0, units, step):
            yield j0, min(units, j0 + step)

    def _contract_out_c(self, V: np.ndarray) -> np.ndarray:
        """W[ib, jb] = Σ_{ic, jc} T[ib, ic, jb, jc] V[ic, jc]."""
        (mb, nb), (mc, nc) = self.sb, self.sc
        dt = np.result_type(self.dtype, V.dtype)
        out = np.zeros((mb, nb), dtype=dt)
        if nb * mc <= mb * nc:
            for j0, j1 in self._chunks(nb, nb * nc, mc):
                cnt = j1 - j0
                X = np.zeros((nb, nc, cnt, mc), dtype=dt)
                X[np.arange(j0, j1), :, np.arange(cnt), :] = V.T
                Y = self.M.matmat(X.reshape(nb * nc, cnt * mc))
                out[:, j0:j1] = np.einsum("aiui->au", np.reshape(Y, (mb, mc, cnt, mc)))
        else:
            for j0, j1 in self._chunks(mb, mb * mc, nc):
                cnt = j1 - j0
                X = np.zeros((mb, mc, cnt, nc), dtype=dt)
                X[np.arange(j0, j1), :, np.arange(cnt), :] = V
                Y = self.M.T.matmat(X.reshape(mb * mc, cnt * nc))
                out[j0:j1, :] = np.einsum("bjuj->ub", np.reshape(Y, (nb, nc, cnt, nc)))
        return out

    def _contract_out_b(self, W: np.ndarray) -> np.ndarray:
        """V[ic, jc] = Σ_{ib, jb} T[ib, ic, jb, jc] W[ib, jb]."""
        (mb, nb), (mc, nc) = self.sb, self.sc
        dt = np.result_type(self.dtype, W.dtype)
        out = np.zeros((mc, nc), dtype=dt)
        if mb * nc <= nb * mc:
            for j0, j1 in self._chunks(mb, nb * nc, nc):
                cnt = j1 - j0
                X = np.einsum("ua,pq->apuq", W[j0:j1], np.eye(nc, dtype=dt))
                Y = self.M.matmat(X.reshape(nb * nc, cnt * nc))
                Y = np.reshape(Y, (mb, mc, cnt, nc))
                out += Y[np.arange(j0, j1), :, np.arange(cnt), :].sum(axis=0)
        else:
            for j0, j1 in self._chunks(nb, mb * mc, mc):
                cnt = j1 - j0
                X = np.einsum("au,pq->apuq", W[:, j0:j1], np.eye(mc, dtype=dt))
                Y = self.M.T.matmat(X.reshape(mb * mc, cnt * mc))
                Y = np.reshape(Y, (nb, nc, cnt, mc))
                out += Y[np.arange(j0, j1), :, np.arange(cnt), :].sum(axis=0).T
        return out

    def _matvec(self, v):
        mc, nc = self.sc
        return self._contract_out_c(np.reshape(v, (mc, nc))).reshape(-1)

    def _rmatvec(self, u):
        mb, nb = self.sb
        W = np.conj(np.reshape(u, (mb, nb)))
        return np.conj(self._contract_out_b(W)).reshape(-1)


# ------------------------------------------------------------------- SVD
def _leading_svd(R, rank: int, dtype, dense_of=None, dense_limit=None):
    """The ``rank`` leading singular triplets of R, descending."""
    p = min(R.shape)
    size = R.shape[0] * R.shape[1]
    need_dense = rank >= p - 1
    if dense_limit is None:
        dense_limit = _DENSE_LIMIT
    if size <= dense_limit or (need_dense and size <= _DENSE_FALLBACK_LIMIT):
        A = dense_of() if dense_of is not None else R
        U, s, Vh = np.linalg.svd(np.asarray(A, dtype=dtype), full_matrices=False)
        return U[:, :rank], s[:rank], Vh[:rank]
    if need_dense:
        raise ValueError(
            f"rank {rank} needs all but at most one of the {p} singular values of the "
            f"{R.shape[0]}×{R.shape[1]} rearrangement; iterative SVD (svds) needs rank "
            f"< {p - 1}, and a dense SVD of {size} entries is over the limit of "
            f"{_DENSE_FALLBACK_LIMIT}"
        )
    # A fixed start vector keeps the result deterministic.
    v0 = np.random.default_rng(0).standard_normal(p).astype(dtype)
    U, s, Vh = svds(R, k=rank, v0=v0, solver="arpack")
    order = np.argsort(s)[::-1]
    return U[:, order], s[order], Vh[order]


def _normalized_pair(u, s, vh, sb, sc, dtype):
    """(B, C) with vec(B) vec(C)ᵀ = s u vhᵀ; B's largest entry real positive."""
    root = math.sqrt(float(s))
    k = int(np.argmax(np.abs(u)))
    mag = abs(u[k])
    phase = u[k] / mag if mag > 0 else 1.0
    B = (u * (root / phase)).reshape(sb)
    C = (vh * (root * phase)).reshape(sc)
    if np.dtype(dtype).kind != "c":
        B, C = B.real, C.real
    return np.ascontiguousarray(B, dtype=dtype), np.ascontiguousarray(C, dtype=dtype)


# ------------------------------------------------------------ d > 2: ALS
def _tensor_dense(M: np.ndarray, shapes) -> np.ndarray:
    """M as the d-way tensor X[(i1, j1), …, (id, jd)] (a copy)."""
    ms = [m for m, _ in shapes]
    ns = [n for _, n in shapes]
    d = len(shapes)
    T = M.reshape(*ms, *ns)
    perm = [ax for j in range(d) for ax in (j, d + j)]
    return T.transpose(perm).reshape([m * n for m, n in shapes])


def _sparse_coords(M, shapes, dtype):
    """(data, per-factor flat indices (i_j·n_j + j_j)) of a sparse M."""
    coo = M.tocoo()
    data = np.asarray(coo.data, dtype=dtype)
    _check_finite(data)
    rows = np.unravel_index(coo.row.astype(np.int64), [m for m, _ in shapes])
    cols = np.unravel_index(coo.col.astype(np.int64), [n for _, n in shapes])
    idx = [r * n + c for r, c, (_, n) in zip(rows, cols, shapes, strict=True)]
    return data, idx


def _contract_all_but(X, vecs, j, sparse):
    """Σ over every axis but j of X · Π_{k≠j} conj(vecs[k])."""
    if sparse:
        data, idx, sizes = X
        w = data.copy()
        for k, v in enumerate(vecs):
            if k != j:
                w = w * np.conj(v)[idx[k]]
        out = np.bincount(idx[j], weights=w.real, minlength=sizes[j]).astype(w.dtype)
        if np.iscomplexobj(w):
            out = out + 1j * np.bincount(idx[j], weights=w.imag, minlength=sizes[j])
        return out
    T = X
    # contract the trailing axes first, then the leading ones, leaving axis j
    for k in range(len(vecs) - 1, j, -1):
        T = T @ np.conj(vecs[k])
    for k in range(j):
        T = np.tensordot(np.conj(vecs[k]), T, axes=(0, 0))
    return T


def _nearest_kron_multi(kind, obj, shapes, dtype, tol, maxiter):
    d = len(shapes)
    sizes = [m * n for m, n in shapes]
    if kind == "sparse":
        data, idx = _sparse_coords(obj, shapes, dtype)
        X = (data, idx, sizes)
        norm_x = float(np.linalg.norm(data))
    else:
        Md = np.asarray(obj, dtype=dtype)
        _check_finite(Md)
        X = _tensor_dense(Md, shapes)
        norm_x = float(np.linalg.norm(Md))
    sparse = kind == "sparse"

    # start: Van Loan–Pitsianis on the split (first factor, the rest), recursively
    vecs = []
    rest = obj if kind == "sparse" else Md
    for j in range(d - 1):
        tail = (
            math.prod(m for m, _ in shapes[j + 1 :]),
            math.prod(n for _, n in shapes[j + 1 :]),
        )
        K = _nearest_kron_pair(
            "sparse" if sp.issparse(rest) else "dense", rest, shapes[j], tail, 1, dtype
        )[0][0]
        B, C = K.factors
        vecs.append(B.reshape(-1))
        rest = C
    vecs.append(np.asarray(rest).reshape(-1))
    vecs = [np.asarray(v, dtype=dtype) for v in vecs]

    scale = math.prod(float(np.linalg.norm(v)) for v in vecs)
    if scale == 0.0 or norm_x == 0.0:
        vecs = [np.zeros(s, dtype=dtype) for s in sizes]
    else:
        for _ in range(maxiter):
            for j in range(d):
                others = math.prod(
                    float(np.vdot(v, v).real) for k, v in enumerate(vecs) if k != j
                )
                vecs[j] = (_contract_all_but(X, vecs, j, sparse) / others).astype(dtype)
            new = math.prod(float(np.linalg.norm(v)) for v in vecs)
            done = abs(new - scale) <= tol * max(new, np.finfo(float).tiny)
            scale = new
            if done or scale == 0.0:
                break
    # balance: every factor the same norm; all but the last have their
    # largest-magnitude entry real positive (the last carries the phase)
    per = scale ** (1.0 / d) if scale > 0 else 0.0
    factors = []
    phase_total = 1.0
    for j, v in enumerate(vecs):
        nv = float(np.linalg.norm(v))
        w = v / nv if nv > 0 else v
        if j < d - 1 and nv > 0:
            k = int(np.argmax(np.abs(w)))
            ph = w[k] / abs(w[k])
            w = w / ph
            phase_total = phase_total * ph
        factors.append(w * per)
    factors[-1] = factors[-1] * phase_total
    out = []
    for f, shp in zip(factors, shapes, strict=True):
        f = f if np.dtype(dtype).kind == "c" else np.real(f)
        out.append(np.ascontiguousarray(np.asarray(f).reshape(shp), dtype=dtype))
    return KronOperator(*out), np.array([scale], dtype=np.finfo(dtype).dtype)


# ------------------------------------------------------------------ d = 2
def _nearest_kron_pair(kind, obj, sb, sc, rank, dtype):
    (mb, nb), (mc, nc) = sb, sc
    p = min(mb * nb, mc * nc)
    if rank > p:
        raise ValueError(
            f"rank {rank} exceeds the largest possible rank {p} of the "
            f"{mb * nb}×{mc * nc} rearrangement (shape_b {sb}, shape_c {sc})"
        )
    if kind == "dense":
        Md = np.asarray(obj, dtype=dtype)
        _check_finite(Md)
        R = _rearrange_dense(Md, sb, sc)
        if R.shape[0] * R.shape[1] > _DENSE_LIMIT and rank < p - 1:
            R = np.ascontiguousarray(R)  # one copy for svds' products
        U, s, Vh = _leading_svd(R, rank, dtype)
    elif kind == "sparse":
        R = _rearrange_sparse(obj, sb, sc, dtype)
        U, s, Vh = _leading_svd(R, rank, dtype, dense_of=R.toarray)
    else:
        R = _RearrangedOperator(obj, sb, sc, dtype)

        def dense_of():
            N = obj.shape[1]
            Md = np.asarray(obj.matmat(np.eye(N, dtype=dtype)), dtype=dtype)
            _check_finite(Md)
            return _rearrange_dense(Md, sb, sc)

        U, s, Vh = _leading_svd(
            R, rank, dtype, dense_of=dense_of, dense_limit=_OPERATOR_DENSE_LIMIT
        )
    terms = [
        KronOperator(*_normalized_pair(U[:, r], s[r], Vh[r], sb, sc, dtype))
        for r in range(rank)
    ]
    return terms, np.asarray(s, dtype=np.finfo(dtype).dtype)


# ---------------------------------------------------------------- public
def nearest_kron(
    M: Any,
    shape_b: tuple[int, int] | None = None,
    shape_c: tuple[int, int] | None = None,
    rank: int = 1,
    *,
    shapes: list[tuple[int, int]] | None = None,
    return_singular_values: bool = False,
    tol: float = 1e-10,
    maxiter: int = 200,
) -> Any:
    r"""The Kronecker product (or sum of r of them) nearest to M in the Frobenius norm.

    Parameters
    ----------
    M : array_like, scipy sparse matrix or array, or LinearOperator
        The matrix to approximate, of shape :math:`(m_b m_c,\ n_b n_c)`. A sparse
        M is never made dense (unless the rearrangement is small, see Notes); a
        ``LinearOperator`` is used only through products (``matmat`` of M and of
        ``M.T``).
    shape_b, shape_c : pair of int
        The shapes :math:`(m_b, n_b)` and :math:`(m_c, n_c)` of the factors B and
        C; required unless ``shapes`` is given.
    rank : int, default 1
        The number r of Kronecker products in the approximation.
    shapes : list of pairs of int, keyword-only
        The shapes of d ≥ 2 factors, instead of ``shape_b``/``shape_c``. With
        d = 2 this is the same as ``shape_b, shape_c = shapes``; with d > 2 the
        single Kronecker product :math:`A_1\otimes\cdots\otimes A_d` is fitted by
        alternating least squares (``rank`` must be 1; M dense or sparse).
    return_singular_values : bool, default False
        Also return the ``rank`` leading singular values of the rearrangement
        (descending; for d > 2 the one number :math:`\|A_1\|_F\cdots\|A_d\|_F`).
    tol, maxiter : float, int, keyword-only
        For d > 2 only: stop the alternating sweeps when the relative change of
        :math:`\|A_1\|_F\cdots\|A_d\|_F` falls below ``tol`` or after ``maxiter``
        sweeps.

    Returns
    -------
    KronOperator or KronProductSum
        For rank 1 a ``KronOperator`` whose ``.factors`` are ndarrays (B, C) (or
        :math:`A_1, \dots, A_d`); for rank r > 1 a ``KronProductSum`` of r
        ``KronOperator`` terms, leading term first.
    s : ndarray, optional
        The singular values, when ``return_singular_values`` is true.

    Raises
    ------
    TypeError
        If the factor shapes are missing, given twice (``shapes`` beside
        ``shape_b``/``shape_c``), not pairs of ints, if ``rank`` is not an int,
        or M is an operator with d > 2 factors.
    ValueError
        If M is not 2-D, the factor shapes do not multiply to M's shape,
        ``rank < 1``, ``rank`` exceeds the rank of the rearrangement, rank > 1
        with d > 2 factors, or M has non-finite entries.

    Notes
    -----
    **Rearrangement (Van Loan–Pitsianis).** Row :math:`(i_b, j_b)` of
    :math:`\mathcal R(M)` (shape :math:`(m_b n_b,\ m_c n_c)`) is the row-major
    vectorization of block :math:`(i_b, j_b)` of M, so that
    :math:`\mathcal R(B\otimes C) = \operatorname{vec}(B)\operatorname{vec}(C)^T`
    with the plain transpose (complex factors are not conjugated, as in
    ``numpy.kron``). The rearrangement is an isometry for the Frobenius norm;
    with :math:`\mathcal R(M) = \sum_i \sigma_i u_i v_i^H`, the best rank-r
    approximation is :math:`\sum_{r'\le r} B_{r'}\otimes C_{r'}` with
    :math:`\operatorname{vec}(B_{r'}) = \sqrt{\sigma_{r'}}\,u_{r'}` and
    :math:`\operatorname{vec}(C_{r'}) = \sqrt{\sigma_{r'}}\,\bar v_{r'}`, and its
    error is :math:`\|M - \sum_{r'} B_{r'}\otimes C_{r'}\|_F =
    (\sum_{i>r}\sigma_i^2)^{1/2} = (\|M\|_F^2 - \sum_{i\le r}\sigma_i^2)^{1/2}`
    (Eckart–Young).

    **Normalization.** Each term's singular value is split evenly,
    :math:`\|B_r\|_F = \|C_r\|_F = \sqrt{\sigma_r}`, and the scalar phase is fixed
    by making the largest-magnitude entry of :math:`B_r` real and positive (the
    first such entry in row-major order), so the result is deterministic.

    **Precision.** The factors have M's precision: float32 and complex64 M give
    float32 and complex64 factors (the SVD runs in that precision); integer M
    gives float64.

    **Algorithms and cost.** A dense M is rearranged by a reshape and a transpose;
    a sparse M by index arithmetic on its coordinates (same number of stored
    entries, :math:`O(\mathrm{nnz})`). When :math:`\mathcal R(M)` has at most
    250 000 entries it is decomposed by a dense SVD (LAPACK); otherwise the
    ``rank`` leading triplets come from ``scipy.sparse.linalg.svds`` (ARPACK, a
    fixed start vector), which needs ``rank < min(R.shape) - 1``; a larger rank
    falls back to a dense SVD up to 4 000 000 entries and raises ``ValueError``
    beyond.

    **LinearOperator M: cost.** An operator with at most 4 000 000 entries is
    formed once, by :math:`n_b n_c` products (one ``matmat`` with the identity),
    and treated as dense: that is cheaper than the matrix-free path. A larger one
    is used matrix-free: one product with :math:`\mathcal R(M)` (or its adjoint)
    costs :math:`\min(n_b m_c,\ m_b n_c)` products with M (``matmat`` of M) or
    with ``M.T`` (whichever count is smaller), sent in blocks of about
    :math:`2^{22}` entries. For square factors that is :math:`N = n_b n_c`
    products per step — as many as forming M — and Lanczos (ARPACK) needs tens
    of steps, so the matrix-free path costs tens of times a dense formation of
    M; it exists for operators too large to store, and pays when M's products
    are cheap (a sparse or structured M). Rectangular factors with
    :math:`m_c \ll n_c` or :math:`m_b \ll n_b` make it cheaper.

    **d > 2 factors.** The problem :math:`\min\|M - A_1\otimes\cdots\otimes
    A_d\|_F` is a best rank-one approximation of a d-way tensor; it has no
    closed form and alternating least squares (higher-order power iteration)
    finds a *local* optimum. Each sweep updates :math:`A_j` in closed form with
    the others fixed, :math:`\operatorname{vec}(A_j) = \mathcal X
    \times_{k\ne j}\bar a_k / \prod_{k\ne j}\|A_k\|_F^2`, which never increases
    the error. The start is the two-factor solution applied recursively
    (:math:`A_1` versus the rest, then the rest split again). Cost per sweep:
    :math:`O(d\cdot\mathrm{size}(M))` for dense M, :math:`O(d\cdot\mathrm{nnz})`
    for sparse M. The factors are balanced to equal Frobenius norms; all but the
    last have their largest-magnitude entry real and positive.

    Examples
    --------
    >>> import numpy as np
    >>> from kronop import nearest_kron
    >>> rng = np.random.default_rng(0)
    >>> B, C = rng.standard_normal((3, 2)), rng.standard_normal((4, 5))
    >>> K = nearest_kron(np.kron(B, C), (3, 2), (4, 5))
    >>> np.allclose(K.toarray(), np.kron(B, C))
    True
    >>> M = np.kron(B, C) + 0.1 * rng.standard_normal((12, 10))
    >>> S, s = nearest_kron(M, (3, 2), (4, 5), rank=2, return_singular_values=True)
    >>> len(S.terms), s.shape
    (2, (2,))
    >>> err = np.linalg.norm(M - S.toarray())
    >>> bool(np.isclose(err**2, np.linalg.norm(M) ** 2 - np.sum(s**2)))
    True
    """
    kind, obj, dtype = _as_matrix(M)
    rank = _check_rank(rank)
    if shapes is not None:
        if shape_b is not None or shape_c is not None:
            raise TypeError(
                "give the factor shapes either as shape_b, shape_c or as shapes=[...], "
                "not both"
            )
        shapes = [_shape2(f"shapes[{j}]", s) for j, s in enumerate(shapes)]
        if len(shapes) < 2:
            raise ValueError(
                f"shapes must list at least 2 factor shapes; got {len(shapes)}"
            )
    else:
        if shape_b is None or shape_c is None:
            missing = "shape_b" if shape_b is None else "shape_c"
            raise TypeError(
                f"nearest_kron needs the factor shapes: {missing} is missing "
                "(give shape_b and shape_c, or shapes=[...])"
            )
        shapes = [_shape2("shape_b", shape_b), _shape2("shape_c", shape_c)]
    want = (math.prod(m for m, _ in shapes), math.prod(n for _, n in shapes))
    if tuple(int(v) for v in obj.shape) != want:
        raise ValueError(
            f"the factor shapes {shapes} make a {want[0]}×{want[1]} Kronecker "
            f"product, but M is {obj.shape[0]}×{obj.shape[1]}"
        )
    if len(shapes) == 2:
        terms, s = _nearest_kron_pair(kind, obj, shapes[0], shapes[1], rank, dtype)
        op = terms[0] if rank == 1 else KronProductSum(*terms)
    else:
        if rank != 1:
            raise ValueError(
                f"rank {rank} with {len(shapes)} factors is not supported: d > 2 "
                "fits one Kronecker product (rank=1)"
            )
        if kind == "operator":
            raise TypeError(
                "a LinearOperator M supports two factors only (shape_b, shape_c); "
                f"got {len(shapes)} factor shapes"
            )
        if not (isinstance(tol, numbers.Real) and tol >= 0):
            raise ValueError(f"tol must be a non-negative number; got {tol!r}")
        if not isinstance(maxiter, numbers.Integral) or maxiter < 0:
            raise ValueError(f"maxiter must be a non-negative int; got {maxiter!r}")
        op, s = _nearest_kron_multi(kind, obj, shapes, dtype, float(tol), int(maxiter))
    return (op, s) if return_singular_values else op
