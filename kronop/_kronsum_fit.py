r"""The Frobenius-nearest Kronecker sum to a given matrix: ``nearest_kronsum``.

Kronecker sums A₁ ⊕ … ⊕ A_d form a linear subspace of the N×N matrices, so the
nearest one to M is an orthogonal projection. It splits into one partial trace of
M per axis (the traceless part of each factor) and one shared multiple of the
identity, all computed from M's entries without forming anything larger than M
(dense) or than its list of nonzeros (sparse).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from .kronsum import KronSum

__all__ = ["nearest_kronsum"]

#: largest index the sparse path computes in int32 (beyond it: int64)
_INDEX32_LIMIT = int(np.iinfo(np.int32).max)


def _shape_entry(entry: Any, j: int) -> int:
    """n_j from one entry of ``shapes``: an int n or a square pair (n, n)."""
    if isinstance(entry, (tuple, list, np.ndarray)):
        pair = tuple(entry)
        if len(pair) != 2:
            raise ValueError(
                f"shapes[{j}] must be an int n or a pair (n, n), got {len(pair)} entries"
                f" {pair!r}"
            )
        rows, cols = (_shape_entry(v, j) for v in pair)
        if rows != cols:
            raise ValueError(
                f"factor {j} of a Kronecker sum must be square: expected shape (n, n),"
                f" got {rows}×{cols}"
            )
        return rows
    if isinstance(entry, (bool, np.bool_)):
        raise TypeError(f"shapes[{j}] must be an int, got a bool {entry!r}")
    try:
        n = operator.index(entry)
    except TypeError:
        raise TypeError(
            f"shapes[{j}] must be an int n or a pair (n, n), got {type(entry).__name__}"
            f" {entry!r}"
        ) from None
    if n < 1:
        raise ValueError(f"factor {j} needs size n ≥ 1, got {n}")
    return n


def _parse_shapes(shapes: Any) -> tuple[int, ...]:
    is_sequence = isinstance(shapes, Sequence) and not isinstance(shapes, (str, bytes))
    is_array = isinstance(shapes, np.ndarray) and shapes.ndim > 0
    if not (is_sequence or is_array):
        raise TypeError(
            "shapes must be a sequence of factor sizes n_j or square pairs"
            f" (n_j, n_j), got {type(shapes).__name__} {shapes!r}"
        )
    sizes = tuple(_shape_entry(entry, j) for j, entry in enumerate(shapes))
    if not sizes:
        raise ValueError("shapes must name at least one factor, got an empty sequence")
    return sizes


def _as_matrix(M: Any) -> np.ndarray | sp.sparray | sp.spmatrix:
    if isinstance(M, LinearOperator):
        raise TypeError(
            "nearest_kronsum needs the entries of M (a dense array or a scipy sparse"
            f" matrix), got a {type(M).__name__}: its partial traces would take N"
            " products with M. Pass M.toarray(), or assemble M as a sparse matrix."
        )
    if sp.issparse(M):
        return M
    arr = np.asarray(M)
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"M must have a numeric dtype, got {arr.dtype}")
    return arr


def _partial_traces_dense(M: np.ndarray, sizes: tuple[int, ...], acc) -> list:
    """Σ over the other axes' shared index of each n_j×n_j block, one einsum per axis.

    The einsum reads a strided diagonal view of M (repeated subscripts), N·n_j
    entries for axis j, and accumulates in ``acc`` (float64 or complex128).
    """
    d = len(sizes)
    # a strided view, never a copy: reshape would copy a Fortran-ordered or
    # sliced M, and any 2-D stride pattern splits into per-axis strides
    row_steps = [M.strides[0] * math.prod(sizes[k + 1 :]) for k in range(d)]
    col_steps = [M.strides[1] * math.prod(sizes[k + 1 :]) for k in range(d)]
    tensor = np.lib.stride_tricks.as_strided(
        M, shape=sizes + sizes, strides=row_steps + col_steps, writeable=False
    )
    letters = [chr(ord("a") + i) for i in range(2 * d)]
    rows = letters[:d]
    out = []
    for j in range(d):
        cols = list(rows)
        cols[j] = letters[d + j]
        spec = f"{''.join(rows)}{''.join(cols)}->{rows[j]}{cols[j]}"
        out.append(np.einsum(spec, tensor, dtype=acc))
    return out


def _partial_traces_sparse(M, sizes: tuple[int, ...], acc) -> list:
    """The same sums from M's nonzeros, O(nnz·d), never densified.

    An off-diagonal entry counts for axis j exactly when its row and column
    multi-indices differ on axis j and on no other axis; a diagonal entry counts
    for every axis. So the off-diagonal entries go through one ``bincount`` over
    all d blocks laid end to end (the rest into a discarded bin), and the
    diagonal is summed over the other axes separately. Duplicate COO entries add
    up, as in the matrix they stand for.
    """
    coo = M.tocoo()
    data = np.asarray(coo.data)
    d = len(sizes)
    # int32 index arithmetic when it fits: half the memory traffic of int64
    largest = max(math.prod(sizes), d * (1 + sum(n * n for n in sizes)))
    itype = np.int32 if largest <= _INDEX32_LIMIT else np.int64
    row = np.asarray(coo.row).astype(itype, copy=False)
    col = np.asarray(coo.col).astype(itype, copy=False)
    r_idx: list = [None] * d
    c_idx: list = [None] * d
    for j in range(d - 1, 0, -1):
        n = itype(sizes[j])
        # division by a scalar is vectorized (libdivide); the remainder is not
        row_q, col_q = row // n, col // n
        r_idx[j] = np.subtract(row, np.multiply(row_q, n), dtype=itype)
        c_idx[j] = np.subtract(col, np.multiply(col_q, n), dtype=itype)
        row, col = row_q, col_q
    r_idx[0], c_idx[0] = row, col
    # bin 0 is discarded; block j occupies bins offsets[j] + 1 … offsets[j+1]
    offsets = np.concatenate(([1], 1 + np.cumsum([n * n for n in sizes])))
    key = np.zeros(data.shape, dtype=itype)
    n_differ = np.zeros(data.shape, dtype=np.int8)
    for j, n in enumerate(sizes):
        differ = r_idx[j] != c_idx[j]
        n_differ += differ
        local = r_idx[j] * itype(n)
        local += c_idx[j]
        local += itype(offsets[j])
        local *= differ
        key += local
    # only entries off the diagonal in exactly one axis count (the diagonal is below)
    key *= n_differ == 1
    length = int(offsets[-1])
    if data.dtype.kind == "c":
        sums = np.bincount(key, weights=data.real, minlength=length).astype(acc)
        sums += 1j * np.bincount(key, weights=data.imag, minlength=length)
    else:
        sums = np.bincount(key, weights=data, minlength=length).astype(acc)
    diag = np.asarray(M.diagonal()).astype(acc, copy=False).reshape(sizes)
    out = []
    for j, n in enumerate(sizes):
        block = sums[offsets[j] : offsets[j + 1]].reshape(n, n)
        others = tuple(i for i in range(d) if i != j)
        block[np.diag_indices(n)] = diag.sum(axis=others) if others else diag
        out.append(block)
    return out


def nearest_kronsum(M: Any, shapes: Sequence[Any]) -> KronSum:
    r"""The Kronecker sum A₁ ⊕ … ⊕ A_d nearest to M in the Frobenius norm.

    Parameters
    ----------
    M : array_like or scipy sparse matrix/array, shape (N, N)
        The matrix to approximate, N = n₁·…·n_d. A sparse M is read from its
        nonzeros and never densified.
    shapes : sequence
        The factor sizes n₁, …, n_d, outermost (slowest-varying axis) first, each an
        int n_j or a square pair (n_j, n_j).

    Returns
    -------
    KronSum
        S = A₁ ⊕ … ⊕ A_d = Σⱼ I ⊗ … ⊗ Aⱼ ⊗ … ⊗ I (``numpy.kron`` order) minimising
        ‖M − S‖_F, with dense ndarray factors Aⱼ of M's dtype (float64 for integer
        or bool M). The multiple of the identity in S is shared equally between the
        factors (see Notes). If M is Hermitian, so are the factors, up to rounding
        in the summation order.

    Raises
    ------
    ValueError
        If M is not a square 2-D matrix, ``shapes`` is empty, names a non-square pair
        or a size below 1, or the sizes' product is not N.
    TypeError
        If M is a ``LinearOperator`` (its entries are needed; see Notes) or not
        numeric, or an entry of ``shapes`` is not an int or a pair of ints.

    See Also
    --------
    KronSum : the returned operator; it solves by fast diagonalization.
    nearest_kron : the nearest Kronecker *product* (Van Loan–Pitsianis).

    Notes
    -----
    **The subspace.** Write Iⱼ(B) = I ⊗ … ⊗ B ⊗ … ⊗ I with B on axis j and
    B = E + βI, tr E = 0. The Frobenius inner product of Kronecker products factors,
    ⟨X₁⊗…⊗X_d, Y₁⊗…⊗Y_d⟩ = ∏ₖ tr(Xₖᴴ Yₖ), so for traceless E, F and j ≠ k

    .. math:: \langle I_j(E), I_k(F)\rangle
              = \overline{\operatorname{tr} E}\,\operatorname{tr} F
                \prod_{i\ne j,k} n_i = 0, \qquad
              \langle I_j(E), I\rangle
              = \overline{\operatorname{tr} E} \prod_{i\ne j} n_i = 0.

    The Kronecker sums are therefore the *orthogonal* direct sum
    span{I} ⊕ Ĩ₁ ⊕ … ⊕ Ĩ_d, Ĩⱼ = {Iⱼ(E) : tr E = 0}, and the nearest sum is the
    sum of M's projections onto each piece. The only non-uniqueness is the
    identity: Iⱼ(I) = I for every j, so S fixes Σⱼ βⱼ but not the βⱼ.

    **The projections.** ⟨M, Iⱼ(e_a e_bᴴ)⟩ is the partial trace
    Pⱼ(M)_{ab} = Σ M[(…, a, …), (…, b, …)] over the multi-indices of the other
    axes (equal in row and column), and ‖Iⱼ(e_a e_bᴴ)‖²_F = N/nⱼ. With
    Tⱼ = Pⱼ(M)/(N/nⱼ) the traceless part of the factor is
    Ãⱼ = Tⱼ − (tr Tⱼ/nⱼ) I, and the identity coefficient is c = tr M / N
    (tr Tⱼ/nⱼ = c for every j).

    **Convention.** The identity is split equally: Aⱼ = Ãⱼ + (c/d) I, so every
    factor has mean diagonal c/d. This keeps the fit symmetric in the axes
    (permuting the axes of M permutes the factors), keeps each factor's
    spectrum centred alike, and returns the factors of an exact Kronecker sum
    unchanged whenever they share one mean diagonal — e.g. a Laplacian with equal
    spacing, whatever the grid sizes. In general an exact sum ⊕Bⱼ comes back as
    Aⱼ = Bⱼ − (tr Bⱼ/nⱼ − c/d) I: the same operator, identity moved between axes.

    **Cost.** Dense M: one pass over a strided diagonal view per axis, O(N·Σnⱼ)
    reads, nothing larger than n_j×n_j allocated. Sparse M: O(nnz·d) from the
    COO entries (an entry counts for axis j when its row and column indices agree
    on all other axes); sums accumulate in float64/complex128 and are cast to M's
    dtype at the end. A ``LinearOperator`` M is refused: each partial trace needs
    the diagonal blocks of M, i.e. N products with M.

    Examples
    --------
    >>> import numpy as np
    >>> from kronop import nearest_kronsum
    >>> from kronop.kronsum import KronSum
    >>> A = np.array([[2.0, -1.0], [-1.0, 2.0]])
    >>> B = np.array([[2.0, -1.0, 0.0], [-1.0, 2.0, -1.0], [0.0, -1.0, 2.0]])
    >>> M = KronSum(A, B).toarray()
    >>> S = nearest_kronsum(M, [2, 3])      # equal mean diagonals: exact factors
    >>> bool(np.allclose(S.factors[0], A) and np.allclose(S.factors[1], B))
    True
    >>> noisy = M + 0.01 * np.random.default_rng(0).standard_normal(M.shape)
    >>> S = nearest_kronsum(noisy, [(2, 2), (3, 3)])
    >>> bool(np.linalg.norm(noisy - S.toarray()) <= np.linalg.norm(noisy - M))
    True
    """
    M = _as_matrix(M)
    sizes = _parse_shapes(shapes)
    if M.ndim != 2:
        raise ValueError(f"M must be a 2-D matrix, got {M.ndim}-D with shape {M.shape}")
    if M.shape[0] != M.shape[1]:
        raise ValueError(
            f"M must be square to be near a Kronecker sum, got shape"
            f" {M.shape[0]}×{M.shape[1]}"
        )
    N = math.prod(sizes)
    if M.shape[0] != N:
        raise ValueError(
            f"the factor sizes {' × '.join(map(str, sizes))} = {N} do not match M:"
            f" expected M of shape {N}×{N}, got {M.shape[0]}×{M.shape[1]}"
        )
    dtype = M.dtype if M.dtype.kind in "fc" else np.dtype(np.float64)
    acc = np.complex128 if dtype.kind == "c" else np.float64
    if sp.issparse(M):
        blocks = _partial_traces_sparse(M, sizes, acc)
    else:
        blocks = _partial_traces_dense(M, sizes, acc)
    d = len(sizes)
    factors = []
    # c = tr M / N = tr Pⱼ(M) / N for every j; take it from axis 0's block
    share = np.trace(blocks[0]) / N / d
    for n, block in zip(sizes, blocks, strict=True):
        t = block / (N // n)
        mean = np.trace(t) / n
        t[np.diag_indices(n)] += share - mean
        factors.append(t.astype(dtype, copy=False))
    return KronSum(*factors)
