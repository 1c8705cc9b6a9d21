"""Fused Kronecker sums of banded factors: one pass over memory (numba).

A Kronecker sum ``σI + A₁⊕…⊕A_d`` of banded factors is a stencil on the tensor
``(B, n₁, …, n_d, K)``. The numpy kernel runs it as a handful of whole-array
passes; the kernels here sweep the tensor once, *row by row*: a row is the
contiguous run of the last factor axis (``n_d·K`` values), and every output row
is formed from its own input row (the last factor's band and the diagonal) and
from a few neighbouring input rows (the other factors' bands, one scalar weight
per row). The output is written once and the input read once from memory; the
neighbouring rows come from cache.

A sum of Kronecker products of banded factors (a Kronecker sum with mass
matrices, ``Σᵣ cᵣ ⊗ⱼ Fᵣⱼ``) is swept the same way: per output row, the outer
factors give one scalar weight per (source row, last factor); the source rows
are combined with their weights into a row buffer, and each distinct last
factor is applied once to its buffer.

Both kernels read their band data from padded 2-D arrays, so one compiled
specialization per dtype serves every dimension, bandwidth and shape.
"""

from __future__ import annotations

import math

import numpy as np

from . import jit
from . import numpy_kernels as _np_kernels
from .plan import compute_dtype

__all__ = ["apply_sum", "apply_terms"]

#: below this many values (B·N·K) a product stays on the numpy kernels, whose
#: few whole-array passes cost less than a kernel call at that size
FUSED_MIN_SIZE = 64
#: a sum of Kronecker products is fused from this many values up: below it the
#: per-row bookkeeping (one weight per term and neighbouring row) costs more than
#: the numpy kernels' passes (measured: 0.8× at 16³, 1.1× at 32³, 5× at 64³)
TERMS_MIN_SIZE = 1 << 15
#: rows split between threads only above this many values (one thread below:
#: waking a second thread costs more than it saves)
THREADS_MIN_SIZE = 1 << 21
#: the right-hand-side count from which K is the row itself (every factor axis
#: is an outer axis); below it the last factor axis and K form the row
WIDE_K = 16


# ---------------------------------------------------------------------------
# Compiled kernels
# ---------------------------------------------------------------------------
# Element loops index flat arrays with unsigned offsets: numba then emits no
# negative-index fix-up per element, and LLVM vectorizes the loops. Sources are
# loaded into local scalars first, so the compiler need not reload them when the
# output might alias them.
@jit.njit(inline="always")
def _unravel(r, dims, idx):
    for j in range(dims.shape[0] - 1, -1, -1):
        idx[j] = r % dims[j]
        r //= dims[j]


@jit.njit(inline="always")
def _advance(dims, idx):
    for j in range(dims.shape[0] - 1, -1, -1):
        idx[j] += 1
        if idx[j] < dims[j]:
            return
        idx[j] = 0


@jit.njit(inline="always")
def _add_rows(x, y, yb, n, srcs, ws, start, count, first):
    """``y[yb:yb+n] (=|+=) Σ ws[q]·x[srcs[q]:srcs[q]+n]``, up to four rows a pass."""
    q = start
    stop = start + count
    while q < stop:
        g = min(4, stop - q)
        p0, w0 = np.uint64(srcs[q]), ws[q]
        if g == 1:
            if first:
                for e in range(n):
                    y[yb + e] = w0 * x[p0 + e]
            else:
                for e in range(n):
                    y[yb + e] += w0 * x[p0 + e]
        elif g == 2:
            p1, w1 = np.uint64(srcs[q + 1]), ws[q + 1]
            if first:
                for e in range(n):
                    y[yb + e] = w0 * x[p0 + e] + w1 * x[p1 + e]
            else:
                for e in range(n):
                    y[yb + e] += w0 * x[p0 + e] + w1 * x[p1 + e]
        elif g == 3:
            p1, w1 = np.uint64(srcs[q + 1]), ws[q + 1]
            p2, w2 = np.uint64(srcs[q + 2]), ws[q + 2]
            if first:
                for e in range(n):
                    y[yb + e] = w0 * x[p0 + e] + w1 * x[p1 + e] + w2 * x[p2 + e]
            else:
                for e in range(n):
                    y[yb + e] += w0 * x[p0 + e] + w1 * x[p1 + e] + w2 * x[p2 + e]
        else:
            p1, w1 = np.uint64(srcs[q + 1]), ws[q + 1]
            p2, w2 = np.uint64(srcs[q + 2]), ws[q + 2]
            p3, w3 = np.uint64(srcs[q + 3]), ws[q + 3]
            if first:
                for e in range(n):
                    y[yb + e] = (w0 * x[p0 + e] + w1 * x[p1 + e]) + (
                        w2 * x[p2 + e] + w3 * x[p3 + e]
                    )
            else:
                for e in range(n):
                    y[yb + e] += (w0 * x[p0 + e] + w1 * x[p1 + e]) + (
                        w2 * x[p2 + e] + w3 * x[p3 + e]
                    )
        first = False
        q += g


@jit.njit(inline="always")
def _band(src, sb, y, yb, coef, cb, n, first):
    """``y[yb:yb+n] (=|+=) coef[cb:cb+n]·src[sb:sb+n]`` (unsigned offsets)."""
    if first:
        for e in range(n):
            y[yb + e] = coef[cb + e] * src[sb + e]
    else:
        for e in range(n):
            y[yb + e] += coef[cb + e] * src[sb + e]


@jit.njit
def _sum_rows(
    x, y, r0, r1, W, dims, strides, t_axis, t_off, t_lo, t_hi, t_coef, odiag, c0,
    idiag, i_off, i_lo, i_hi, i_coef,
):  # fmt: skip
    """Rows ``r0 … r1−1`` of ``y = (c₀ + Σ diagonals)·x + Σ bands`` (see apply_sum).

    Outer term t (axis ``t_axis``, row offset ``t_off``) adds
    ``t_coef[t, i]·x[row + t_off·stride]`` where the axis index i is in
    ``[t_lo, t_hi)``; inner term t adds ``i_coef[t·W + e]·x[row, e + i_off]`` for
    ``e`` in ``[i_lo, i_hi)``. One pass writes each row: the diagonal, up to four
    neighbouring rows and (where their ranges overlap) the first two inner
    bands; what is left is added by further passes over the row, in cache. The
    loops are written out here (no calls, no slices): a call or a slice per row
    costs reference counting that the short rows of a 3-D grid cannot repay.
    """
    m = dims.shape[0]
    n_out = t_axis.shape[0]
    n_in = i_off.shape[0]
    idx = np.empty(m, np.int64)
    _unravel(r0, dims, idx)
    srcs = np.empty(n_out + 1, np.int64)
    ws = np.empty(n_out + 1, y.dtype)
    # the interior where the first two inner bands join the first pass
    lo2, hi2 = 0, 0
    oa = ob = 0
    if n_in >= 2:
        lo2, hi2 = max(i_lo[0], i_lo[1]), min(i_hi[0], i_hi[1])
        oa, ob = i_off[0], i_off[1]
        if hi2 <= lo2 or oa == ob:
            lo2, hi2 = 0, 0
    fused = hi2 > lo2
    first_inner = 2 if fused else 0
    if not fused:
        lo2, hi2 = 0, W
    n = np.uint64(hi2 - lo2)
    dl = np.uint64(lo2)
    ca = np.uint64(lo2)
    cb = np.uint64(W + lo2)
    # constant diagonal and fused bands on the interior (a constant-coefficient
    # stencil): scalars instead of coefficient streams in the first pass
    const = True
    for e in range(lo2, hi2):
        if idiag[e] != idiag[lo2]:
            const = False
        if fused and (i_coef[e] != i_coef[lo2] or i_coef[W + e] != i_coef[W + lo2]):
            const = False
    if hi2 > lo2:
        d0, ka, kb = idiag[lo2], i_coef[lo2], i_coef[W + lo2]
    else:
        d0 = ka = kb = idiag[0]
    for row in range(r0, r1):
        s = c0[0]
        for j in range(m):
            s += odiag[j, idx[j]]
        sd = s + d0
        nsrc = 0
        for t in range(n_out):
            a = t_axis[t]
            i = idx[a]
            if t_lo[t] <= i < t_hi[t]:
                srcs[nsrc] = (row + t_off[t] * strides[a]) * W
                ws[nsrc] = t_coef[t, i]
                nsrc += 1
        base = row * W
        g = min(4, nsrc)
        # the row ends outside the fused interior (scalar code)
        for e in range(lo2):
            acc = (s + idiag[e]) * x[base + e]
            for q in range(g):
                acc += ws[q] * x[srcs[q] + e]
            y[base + e] = acc
        for e in range(hi2, W):
            acc = (s + idiag[e]) * x[base + e]
            for q in range(g):
                acc += ws[q] * x[srcs[q] + e]
            y[base + e] = acc
        # the first pass on the interior
        yb = np.uint64(base + lo2)
        w0 = w1 = w2 = w3 = s
        p0 = p1 = p2 = p3 = yb
        if g > 0:
            p0, w0 = np.uint64(srcs[0] + lo2), ws[0]
        if g > 1:
            p1, w1 = np.uint64(srcs[1] + lo2), ws[1]
        if g > 2:
            p2, w2 = np.uint64(srcs[2] + lo2), ws[2]
        if g > 3:
            p3, w3 = np.uint64(srcs[3] + lo2), ws[3]
        if not fused:
            if const:
                if g == 0:
                    for e in range(n):
                        y[yb + e] = sd * x[yb + e]
                elif g == 1:
                    for e in range(n):
                        y[yb + e] = sd * x[yb + e] + w0 * x[p0 + e]
                elif g == 2:
                    for e in range(n):
                        y[yb + e] = (sd * x[yb + e] + w0 * x[p0 + e]) + w1 * x[p1 + e]
                elif g == 3:
                    for e in range(n):
                        y[yb + e] = (sd * x[yb + e] + w0 * x[p0 + e]) + (
                            w1 * x[p1 + e] + w2 * x[p2 + e]
                        )
                else:
                    for e in range(n):
                        y[yb + e] = (
                            (sd * x[yb + e] + w0 * x[p0 + e])
                            + (w1 * x[p1 + e] + w2 * x[p2 + e])
                        ) + w3 * x[p3 + e]
            else:
                if g == 0:
                    for e in range(n):
                        y[yb + e] = (s + idiag[dl + e]) * x[yb + e]
                elif g == 1:
                    for e in range(n):
                        y[yb + e] = (s + idiag[dl + e]) * x[yb + e] + w0 * x[p0 + e]
                elif g == 2:
                    for e in range(n):
                        y[yb + e] = (
                            (s + idiag[dl + e]) * x[yb + e] + w0 * x[p0 + e]
                        ) + w1 * x[p1 + e]
                elif g == 3:
                    for e in range(n):
                        y[yb + e] = (
                            (s + idiag[dl + e]) * x[yb + e] + w0 * x[p0 + e]
                        ) + (w1 * x[p1 + e] + w2 * x[p2 + e])
                else:
                    for e in range(n):
                        y[yb + e] = (
                            ((s + idiag[dl + e]) * x[yb + e] + w0 * x[p0 + e])
                            + (w1 * x[p1 + e] + w2 * x[p2 + e])
                        ) + w3 * x[p3 + e]
        else:
            xa = np.uint64(base + lo2 + oa)
            xb = np.uint64(base + lo2 + ob)
            if const:
                if g == 0:
                    for e in range(n):
                        y[yb + e] = (sd * x[yb + e] + ka * x[xa + e]) + kb * x[xb + e]
                elif g == 1:
                    for e in range(n):
                        y[yb + e] = (sd * x[yb + e] + w0 * x[p0 + e]) + (
                            ka * x[xa + e] + kb * x[xb + e]
                        )
                elif g == 2:
                    for e in range(n):
                        y[yb + e] = (
                            (sd * x[yb + e] + w0 * x[p0 + e])
                            + (w1 * x[p1 + e] + ka * x[xa + e])
                        ) + kb * x[xb + e]
                elif g == 3:
                    for e in range(n):
                        y[yb + e] = (
                            (sd * x[yb + e] + w0 * x[p0 + e])
                            + (w1 * x[p1 + e] + w2 * x[p2 + e])
                        ) + (ka * x[xa + e] + kb * x[xb + e])
                else:
                    for e in range(n):
                        y[yb + e] = (
                            (sd * x[yb + e] + w0 * x[p0 + e])
                            + (w1 * x[p1 + e] + w2 * x[p2 + e])
                        ) + ((w3 * x[p3 + e] + ka * x[xa + e]) + kb * x[xb + e])
            else:
                if g == 0:
                    for e in range(n):
                        y[yb + e] = (
                            (s + idiag[dl + e]) * x[yb + e] + i_coef[ca + e] * x[xa + e]
                        ) + i_coef[cb + e] * x[xb + e]
                elif g == 1:
                    for e in range(n):
                        y[yb + e] = (
                            (s + idiag[dl + e]) * x[yb + e] + w0 * x[p0 + e]
                        ) + (i_coef[ca + e] * x[xa + e] + i_coef[cb + e] * x[xb + e])
                elif g == 2:
                    for e in range(n):
                        y[yb + e] = (
                            ((s + idiag[dl + e]) * x[yb + e] + w0 * x[p0 + e])
                            + (w1 * x[p1 + e] + i_coef[ca + e] * x[xa + e])
                        ) + i_coef[cb + e] * x[xb + e]
                elif g == 3:
                    for e in range(n):
                        y[yb + e] = (
                            ((s + idiag[dl + e]) * x[yb + e] + w0 * x[p0 + e])
                            + (w1 * x[p1 + e] + w2 * x[p2 + e])
                        ) + (i_coef[ca + e] * x[xa + e] + i_coef[cb + e] * x[xb + e])
                else:
                    for e in range(n):
                        y[yb + e] = (
                            ((s + idiag[dl + e]) * x[yb + e] + w0 * x[p0 + e])
                            + (w1 * x[p1 + e] + w2 * x[p2 + e])
                        ) + (
                            (w3 * x[p3 + e] + i_coef[ca + e] * x[xa + e])
                            + i_coef[cb + e] * x[xb + e]
                        )
            # the fused bands outside the interior
            for t in range(2):
                off = i_off[t]
                for e in range(i_lo[t], min(lo2, i_hi[t])):
                    y[base + e] += i_coef[t * W + e] * x[base + e + off]
                for e in range(max(hi2, i_lo[t]), i_hi[t]):
                    y[base + e] += i_coef[t * W + e] * x[base + e + off]
        # further neighbouring rows, two a pass
        ub = np.uint64(base)
        uW = np.uint64(W)
        q = g
        while q < nsrc:
            p0, w0 = np.uint64(srcs[q]), ws[q]
            if q + 1 < nsrc:
                p1, w1 = np.uint64(srcs[q + 1]), ws[q + 1]
                for e in range(uW):
                    y[ub + e] += w0 * x[p0 + e] + w1 * x[p1 + e]
                q += 2
            else:
                for e in range(uW):
                    y[ub + e] += w0 * x[p0 + e]
                q += 1
        # further inner bands
        for t in range(first_inner, n_in):
            lo, hi = i_lo[t], i_hi[t]
            if hi > lo:
                nb = np.uint64(hi - lo)
                yb = np.uint64(base + lo)
                xs = np.uint64(base + lo + i_off[t])
                cs = np.uint64(t * W + lo)
                for e in range(nb):
                    y[yb + e] += i_coef[cs + e] * x[xs + e]
        _advance(dims, idx)


@jit.njit
def _terms_rows(
    x, y, r0, r1, W, dims, strides, ptr, t_off, t_lo, t_hi, t_coef, rcoef, rinner,
    n_inner, iptr, i_off, i_lo, i_hi, i_coef,
):  # fmt: skip
    """Rows ``r0 … r1−1`` of ``y = Σᵣ cᵣ (⊗ⱼ Fᵣⱼ) x`` (see apply_terms).

    The band terms of term r on outer axis j are ``ptr[r·m + j] … ptr[r·m + j + 1]``
    (offset in rows, valid range, coefficients by axis index); term r's last
    factor is inner operator ``rinner[r]``, whose band terms are
    ``iptr[g] … iptr[g + 1]`` (offsets and ranges in row elements, coefficients
    ``i_coef[t·W + e]``).
    """
    m = dims.shape[0]
    n_terms = rcoef.shape[0]
    idx = np.empty(m, np.int64)
    _unravel(r0, dims, idx)
    per = 1
    cap = 1
    for r in range(n_terms):
        c = 1
        for j in range(m):
            k = ptr[r * m + j + 1] - ptr[r * m + j]
            per = max(per, k)
            c *= k
        cap += c
    valid = np.empty((m, per), np.int64)
    nvalid = np.empty(m, np.int64)
    sel = np.empty(m, np.int64)
    srcs = np.empty((n_inner, cap), np.int64)
    ws = np.empty((n_inner, cap), y.dtype)
    nsrc = np.empty(n_inner, np.int64)
    tmp = np.empty(W, y.dtype)
    uW = np.uint64(W)
    for row in range(r0, r1):
        nsrc[:] = 0
        for r in range(n_terms):
            ok = True
            for j in range(m):
                k = 0
                for t in range(ptr[r * m + j], ptr[r * m + j + 1]):
                    if t_lo[t] <= idx[j] < t_hi[t]:
                        valid[j, k] = t
                        k += 1
                nvalid[j] = k
                if k == 0:
                    ok = False
            if not ok:
                continue
            g = rinner[r]
            sel[:] = 0
            while True:
                w = rcoef[r]
                src = row
                for j in range(m):
                    t = valid[j, sel[j]]
                    w = w * t_coef[t, idx[j]]
                    src += t_off[t] * strides[j]
                src *= W
                found = False
                for q in range(nsrc[g]):
                    if srcs[g, q] == src:
                        ws[g, q] += w
                        found = True
                        break
                if not found:
                    srcs[g, nsrc[g]] = src
                    ws[g, nsrc[g]] = w
                    nsrc[g] += 1
                # the next combination of one valid term per axis
                j = m - 1
                while j >= 0:
                    sel[j] += 1
                    if sel[j] < nvalid[j]:
                        break
                    sel[j] = 0
                    j -= 1
                if j < 0:
                    break
        base = row * W
        written = False
        for g in range(n_inner):
            if nsrc[g] == 0:
                continue
            _add_rows(x, tmp, np.uint64(0), uW, srcs[g], ws[g], 0, nsrc[g], True)
            for t in range(iptr[g], iptr[g + 1]):
                lo, hi = i_lo[t], i_hi[t]
                if not written:
                    # what the first band does not reach starts at zero
                    y[base : base + lo] = 0
                    y[base + hi : base + W] = 0
                if hi > lo:
                    _band(
                        tmp, np.uint64(lo + i_off[t]), y, np.uint64(base + lo),
                        i_coef, np.uint64(t * W + lo), np.uint64(hi - lo),
                        not written,
                    )  # fmt: skip
                written = True
        if not written:
            y[base : base + W] = 0
        _advance(dims, idx)


# ---------------------------------------------------------------------------
# Band data
# ---------------------------------------------------------------------------
def _segments(covered: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs ``[a, b)`` of True in a boolean vector."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], covered.view(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _axis_band(f, dtype, with_diagonal: bool):
    """One factor as ``(c0, diag, terms)`` or None when it is not banded.

    ``diag`` is the varying part of the main diagonal (length n, or None) and
    ``terms`` are ``(offset, lo, hi, coef)`` with ``coef`` a length-n vector used
    on ``[lo, hi)``. Terms of one offset are merged where their ranges touch, so
    a stencil pass covers a whole diagonal; positions that no stored diagonal
    reaches stay outside every range (as in the CSR product, an infinite input
    there contributes nothing). With ``with_diagonal`` the constant is folded into
    the diagonal term too (offset 0, the whole axis).
    """
    n = f.shape[0]
    if f.is_identity:
        c0, raw = 1, ()
    else:
        band = f.bands()
        if band is None:
            return None
        c0, raw = band
    diag = None
    by_offset: dict[int, list] = {}
    for k, lo, hi, coef in raw:
        if k == 0:
            if diag is None:
                diag = np.zeros(n, dtype)
            diag[lo:hi] += np.asarray(coef, dtype=dtype)
        else:
            by_offset.setdefault(k, []).append((lo, hi, coef))
    terms = []
    for k, parts in sorted(by_offset.items()):
        vec = np.zeros(n, dtype)
        covered = np.zeros(n, bool)
        for lo, hi, coef in parts:
            vec[lo:hi] += np.asarray(coef, dtype=dtype)
            covered[lo:hi] = True
        for a, b in _segments(covered):
            terms.append((k, a, b, vec))
    if with_diagonal:
        full = np.full(n, c0, dtype=dtype)
        if diag is not None:
            full += diag
        terms.insert(0, (0, 0, n, full))
    return c0, diag, terms


def _expand(vec: np.ndarray, K: int) -> np.ndarray:
    return vec if K == 1 else np.repeat(vec, K)


def _pad_rows(vectors, width: int, dtype) -> np.ndarray:
    out = np.zeros((max(1, len(vectors)), max(1, width)), dtype)
    for t, v in enumerate(vectors):
        out[t, : len(v)] = v
    return out


def _ints(values) -> np.ndarray:
    return np.asarray(values, dtype=np.int64).reshape(-1)


class _SumPlan:
    """The padded band arrays of one Kronecker sum for one (dtype, K)."""

    def __init__(self, factors, shift, dtype, K, B):
        ns = [f.shape[0] for f in factors]
        d = len(ns)
        wide = K >= WIDE_K
        n_outer = d if wide else d - 1
        self.W = K if wide else ns[-1] * K
        self.dims = _ints([B, *ns[:n_outer]])
        self.strides = _ints(
            [math.prod(self.dims[p + 1 :].tolist()) for p in range(len(self.dims))]
        )
        c0 = shift
        has_diagonal = False
        odiag = [np.zeros(1, dtype)]  # the batch axis: no diagonal
        outer, inner = [], []
        idiag = np.zeros(self.W, dtype)
        self.others = []
        for j, f in enumerate(factors):
            band = _axis_band(f, dtype, with_diagonal=False)
            if band is None:
                self.others.append(j)
                if j < n_outer:
                    odiag.append(np.zeros(1, dtype))
                continue
            part, diag, terms = band
            c0 = c0 + part
            has_diagonal = has_diagonal or diag is not None
            if j < n_outer:
                odiag.append(diag if diag is not None else np.zeros(1, dtype))
                outer.extend((j + 1, k, lo, hi, v) for k, lo, hi, v in terms)
            else:
                if diag is not None:
                    idiag += _expand(diag, K)
                inner.extend(
                    (k * K, lo * K, hi * K, _expand(v, K)) for k, lo, hi, v in terms
                )
        # the two longest inner bands are fused into the first pass
        inner.sort(key=lambda t: t[1] - t[2])
        self.any_band = len(self.others) < d or shift != 0
        # no stored diagonal at all: the kernel would multiply x by zeros (an
        # infinite x[i] giving NaN), where the CSR product and the numpy kernel
        # never touch it; such operators run the numpy kernel
        self.no_diagonal = c0 == 0 and not has_diagonal
        self.c0 = np.asarray([c0], dtype=dtype)
        self.odiag = _pad_rows(odiag, max(B, *ns), dtype)
        self.t_axis = _ints([t[0] for t in outer])
        self.t_off = _ints([t[1] for t in outer])
        self.t_lo = _ints([t[2] for t in outer])
        self.t_hi = _ints([t[3] for t in outer])
        self.t_coef = _pad_rows([t[4] for t in outer], max(ns), dtype)
        self.idiag = idiag
        self.i_off = _ints([t[0] for t in inner])
        self.i_lo = _ints([t[1] for t in inner])
        self.i_hi = _ints([t[2] for t in inner])
        self.i_coef = _pad_rows([t[3] for t in inner], self.W, dtype).reshape(-1)

        self.rows = int(np.prod(self.dims))
        self.kernel = _sum_rows
        self.args = (
            self.W, self.dims, self.strides, self.t_axis, self.t_off, self.t_lo,
            self.t_hi, self.t_coef, self.odiag, self.c0, self.idiag, self.i_off,
            self.i_lo, self.i_hi, self.i_coef,
        )  # fmt: skip


class _TermsPlan:
    """The padded band arrays of a sum of Kronecker products of banded factors."""

    def __init__(self, terms, dtype, K, B):
        ns = [f.shape[0] for f in terms[0][1]]
        d = len(ns)
        wide = K >= WIDE_K
        n_outer = d if wide else d - 1
        self.W = K if wide else ns[-1] * K
        self.dims = _ints([B, *ns[:n_outer]])
        m = len(self.dims)
        self.strides = _ints([math.prod(self.dims[p + 1 :].tolist()) for p in range(m)])
        ones_b = np.ones(B, dtype)
        ptr, outer = [0], []
        rcoef, rinner = [], []
        inner_keys: dict = {}
        inner_terms: list[list] = []
        self.ok = True
        for coef, factors in terms:
            bands = [_axis_band(f, dtype, with_diagonal=True) for f in factors]
            # a factor without a stored diagonal would still get the kernel's
            # full-length diagonal pass (0·inf = NaN where CSR has no entry)
            if any(b is None or (b[0] == 0 and b[1] is None) for b in bands):
                self.ok = False
                return
            outer.append((0, 0, B, ones_b))  # the batch axis
            ptr.append(len(outer))
            for j in range(n_outer):
                outer.extend(bands[j][2])
                ptr.append(len(outer))
            if wide:
                key = "identity"
                last = [(0, 0, K, np.ones(K, dtype))]
            else:
                f = factors[-1]
                key = id(f)
                last = [
                    (k * K, lo * K, hi * K, _expand(v, K))
                    for k, lo, hi, v in bands[-1][2]
                ]
            g = inner_keys.get(key)
            if g is None:
                g = inner_keys[key] = len(inner_terms)
                inner_terms.append(last)
            rcoef.append(coef)
            rinner.append(g)
        self.ptr = _ints(ptr)
        self.t_off = _ints([t[0] for t in outer])
        self.t_lo = _ints([t[1] for t in outer])
        self.t_hi = _ints([t[2] for t in outer])
        self.t_coef = _pad_rows([t[3] for t in outer], max(B, *ns), dtype)
        self.rcoef = np.asarray(rcoef, dtype=dtype)
        self.rinner = _ints(rinner)
        self.n_inner = len(inner_terms)
        flat = [t for ts in inner_terms for t in ts]
        self.iptr = _ints(np.cumsum([0, *(len(ts) for ts in inner_terms)]))
        self.i_off = _ints([t[0] for t in flat])
        self.i_lo = _ints([t[1] for t in flat])
        self.i_hi = _ints([t[2] for t in flat])
        self.i_coef = _pad_rows([t[3] for t in flat], self.W, dtype).reshape(-1)

        self.rows = int(np.prod(self.dims))
        self.kernel = _terms_rows
        self.args = (
            self.W, self.dims, self.strides, self.ptr, self.t_off, self.t_lo,
            self.t_hi, self.t_coef, self.rcoef, self.rinner, self.n_inner, self.iptr,
            self.i_off, self.i_lo, self.i_hi, self.i_coef,
        )  # fmt: skip


def _sweep(plan, x: np.ndarray, y: np.ndarray) -> None:
    """Run ``plan`` on all rows, split between threads when the tensor is large."""
    rows = plan.rows
    if x.size < THREADS_MIN_SIZE or jit.num_threads() == 1:
        plan.kernel(x, y, 0, rows, *plan.args)
        return

    def task(t, n):
        plan.kernel(x, y, rows * t // n, rows * (t + 1) // n, *plan.args)

    jit.run_tasks(task, rows)


def _as_rows(x: np.ndarray, dtype):
    """``x`` as one flat, read-only, C-ordered array of ``dtype``.

    A view when ``x`` already is one. Always read-only: numba compiles one
    specialization per argument type, and read-only is part of an array's type,
    so writeable and read-only inputs share one compiled kernel this way.
    """
    flat = np.ascontiguousarray(x, dtype=dtype).reshape(-1).view()
    flat.flags.writeable = False
    return flat


# ---------------------------------------------------------------------------
# The doors
# ---------------------------------------------------------------------------
def apply_sum(factors, shift, x, cache, dtype):
    r"""(σI + A₁⊕…⊕A_d) x in one pass, or None when the fused kernel does not apply.

    Same contract as :func:`kronop._engine.numpy_kernels.apply_sum`: ``x`` has
    shape (B, N, K), any dtype and layout, and is never modified; the result is a
    new (B, N, K) array in the promotion of ``dtype`` and ``x.dtype``. Banded
    factors, identities and the shift are swept in one pass; other factors add
    their mode products afterwards.

    Parameters
    ----------
    factors : list of Factor
        The square factors A₁ … A_d (axis 0 slowest).
    shift : scalar
        σ.
    x : ndarray, shape (B, N, K)
        The stacked input blocks.
    cache : EngineCache
        The operator's plans and buffers (the band arrays are kept there).
    dtype : dtype
        The operator's dtype.

    Returns
    -------
    ndarray or None
        ``y`` of shape (B, N, K); None when numba is missing or switched off, the
        product is too small to repay a kernel call, or no factor is banded.

    Notes
    -----
    With ``x`` viewed as rows of the last factor axis, output row
    ``(i₁, …, i_{d−1})`` is

    .. math::

        y_{i} = \Big(\sigma + \sum_{j<d} a^{(j)}_{i_j i_j}\Big) x_{i}
              + A_d\, x_{i}
              + \sum_{j<d} \sum_{k \ne 0} a^{(j)}_{i_j, i_j + k}\, x_{i + k e_j},

    one scalar weight per neighbouring row. The rows are split between threads
    above :data:`THREADS_MIN_SIZE` values. From :data:`WIDE_K` right-hand sides
    up the row is the K values of one grid point and every factor gives weights.

    Examples
    --------
    >>> import numpy as np
    >>> from kronop._engine import EngineCache
    >>> from kronop.gallery import laplacian
    >>> L = laplacian((8, 8, 8))
    >>> x = np.ones((1, 512, 1))
    >>> y = apply_sum(L._factors, 0, x, EngineCache(), L.dtype)
    >>> y is None or bool(np.allclose(y[0, :, 0], L @ x[0, :, 0]))
    True
    """
    B, N, K = x.shape
    if not jit.enabled() or B * N * K < FUSED_MIN_SIZE:
        return None
    dtype = compute_dtype(dtype, x.dtype)
    if B == 1 and K > 1 and x.dtype == dtype and x[0].flags.f_contiguous:
        # a Fortran-ordered block: its transpose is a C-ordered batch of vectors
        y = apply_sum(factors, shift, x[0].T[:, :, None], cache, dtype)
        return None if y is None else y[:, :, 0].T[None]
    plan = cache.plan(
        ("fused_sum", dtype, B, K),
        lambda _runs: _SumPlan(factors, shift, dtype, K, B),
    )
    if not plan.any_band or plan.no_diagonal:
        return None
    flat = _as_rows(x, dtype)
    y = np.empty(B * N * K, dtype)
    _sweep(plan, flat, y)
    if plan.others:
        ns = [f.shape[0] for f in factors]
        size = B * N * K
        bufs = cache.workspace.acquire(dtype, size)
        owned = bufs is not None
        if not owned:
            bufs = [np.empty(size, dtype), np.empty(size, dtype)]
        try:
            X = flat.reshape(B, *ns, K)
            Y = y.reshape(B, *ns, K)
            for j in plan.others:
                f = factors[j]
                L = B * math.prod(ns[:j])
                R = math.prod(ns[j + 1 :]) * K
                _np_kernels.add_mode_product(
                    f,
                    f.as_dtype(dtype),
                    X.reshape(L, ns[j], R),
                    Y.reshape(L, ns[j], R),
                    bufs,
                    True,
                )
        finally:
            if owned:
                cache.workspace.release()
    return y.reshape(B, N, K)


def apply_terms(terms, x, cache, dtype):
    r"""Σᵣ cᵣ·(⊗ banded factors of term r) x in one pass, or None.

    ``terms`` is a sequence of ``(coefficient, factors)``, all square and of the
    same sizes; None is returned when a factor is neither banded nor an identity
    (the numpy kernels run the sum then).

    Parameters
    ----------
    terms : sequence of (scalar, list of Factor)
        The coefficients cᵣ and the factors of each Kronecker product.
    x : ndarray, shape (B, N, K)
        The stacked input blocks.
    cache : EngineCache
        The operator's plans and buffers.
    dtype : dtype
        The operator's dtype.

    Returns
    -------
    ndarray or None
        ``y`` of shape (B, N, K), or None (numba missing or off, fewer than
        :data:`TERMS_MIN_SIZE` values, a factor that is not banded, or a
        coefficient wider than the operator's dtype).

    Notes
    -----
    For output row i (the outer axes' multi-index), every term r and every choice
    of one band per outer axis gives a source row ``s`` and a weight
    ``cᵣ ∏ⱼ Fᵣⱼ[iⱼ, sⱼ]``; weights of one source row and one last factor G add up.
    Then

    .. math::

        y_i = \sum_G G \Big(\sum_s w_{G,s}\, x_s\Big),

    so each distinct last factor is applied once per row, to a weighted sum of
    rows held in cache.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from kronop._engine import EngineCache
    >>> from kronop.kronsum import KronSum
    >>> m = sp.diags_array([np.full(31, 1.0), np.full(32, 4.0), np.full(31, 1.0)],
    ...                    offsets=[-1, 0, 1], format="csr")
    >>> op = KronSum(m, m, m, mass=[m, m, m])
    >>> x = np.ones((1, op.shape[1], 1))
    >>> y = apply_terms(op._mass_terms(), x, EngineCache(), op.dtype)
    >>> y is None or bool(np.allclose(y[0, :, 0], op @ x[0, :, 0]))
    True
    """
    B, N, K = x.shape
    if not jit.enabled() or not terms or B * N * K < TERMS_MIN_SIZE:
        return None
    ns = [f.shape for f in terms[0][1]]
    if any(a != b for a, b in ns) or any(
        [f.shape for f in fs] != ns for _, fs in terms
    ):
        return None
    dtype = compute_dtype(dtype, x.dtype)
    if any(np.result_type(dtype, c) != dtype for c, _ in terms):
        return None  # a coefficient wider than the operator: the numpy kernels
    if B == 1 and K > 1 and x.dtype == dtype and x[0].flags.f_contiguous:
        y = apply_terms(terms, x[0].T[:, :, None], cache, dtype)
        return None if y is None else y[:, :, 0].T[None]
    plan = cache.plan(
        ("fused_terms", dtype, B, K),
        lambda _runs: _TermsPlan(terms, dtype, K, B),
    )
    if not plan.ok:
        return None
    flat = _as_rows(x, dtype)
    y = np.empty(B * N * K, dtype)
    _sweep(plan, flat, y)
    return y.reshape(B, N, K)
