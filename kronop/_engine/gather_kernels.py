"""Gather/scatter kernels (numpy backend) for sampled Kronecker products.

Rows of A₁⊗…⊗A_d at scattered multi-indices are Kronecker products of factor
rows; :func:`contract_rows` contracts an input against only those rows, one
axis at a time, and :func:`expand_cols` is its adjoint. The step plan (axis
order, dense or gathered steps, parents and picks) is made by the operator
(``kronop.sampled``); these functions only run it. :class:`SegmentSum` is the
scatter-add both use.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

__all__ = ["SegmentSum", "contract_rows", "expand_cols"]


class SegmentSum:
    """Sums of items into groups: ``out[g] = Σ_{i: ids[i] = g} x[i]`` (a scatter-add).

    Done as one sparse (groups × items) 0/1 matrix times x, kept per dtype: on
    the project machine that is 10–30× faster than ``np.add.reduceat`` along
    axis 0 and far faster than ``np.add.at``. When no two items share a group
    it is a plain scattered assignment.
    """

    def __init__(self, ids: np.ndarray, groups: int) -> None:
        self.ids = ids
        self.groups = int(groups)
        self.onto = len(ids) == self.groups  # every group exactly once
        self._mats: dict = {}

    def __getstate__(self) -> dict:
        return {"ids": self.ids, "groups": self.groups, "onto": self.onto}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._mats = {}

    def sum(self, x: np.ndarray) -> np.ndarray:
        """The group sums of the rows of x (items × …): (groups × …)."""
        if self.onto:
            out = np.empty((self.groups, *x.shape[1:]), dtype=x.dtype)
            out[self.ids] = x
            return out
        mat = self._mats.get(x.dtype)
        if mat is None:
            n = len(self.ids)
            mat = sp.csr_array(
                (np.ones(n, dtype=x.dtype), (self.ids, np.arange(n))),
                shape=(self.groups, n),
            )
            self._mats[x.dtype] = mat
        flat = x.reshape(x.shape[0], -1)
        return np.asarray(mat @ flat).reshape(self.groups, *x.shape[1:])


def _views(bufs, *shapes):
    """Views of the work buffers (fresh arrays when the workspace is busy)."""
    if bufs is None:
        return [None] * len(shapes)
    return [b[: math.prod(sh)].reshape(sh) for b, sh in zip(bufs, shapes, strict=False)]


def contract_rows(
    trick, mats, X: np.ndarray, grid: tuple[int, ...], space
) -> np.ndarray:
    """Rows of ⊗Aⱼ at the sampled multi-indices times X (N, L): returns (R, L).

    ``mats[s]`` holds ``A_{order[s]}[values[s], :]`` for a dense step and the
    rows of the step's own tuples, ``A_{order[s]}[values[s][picks[s]], :]``, for
    a gathered one. Gathered intermediates go into the work buffers of
    ``space`` (fresh memory costs page faults here).
    """
    d, L = len(grid), X.shape[1]
    order = trick.order
    bufs = space.acquire(X.dtype, trick.buffer_size(grid, L), 2)
    try:
        T = X.reshape(*grid, L)
        if order != tuple(range(d)):
            T = T.transpose(*order, d)
        T = T.reshape(1, -1)
        rest = T.size
        for s, j in enumerate(order):
            n = grid[j]
            rest //= n
            P, parent, pick = T.shape[0], trick.parents[s], trick.picks[s]
            if trick.dense[s]:
                # every (parent, distinct index) pair by GEMMs, then the pairs used
                U = mats[s].shape[0]
                if rest == 1:
                    Z = (T.reshape(P, n) @ mats[s].T).reshape(P, U, 1)
                else:
                    Z = np.matmul(mats[s], T.reshape(P, n, rest))
                T = Z[0] if P == 1 and len(parent) == U else Z[parent, pick]
            else:
                G, out = _views(
                    bufs[::-1] if bufs else None,
                    (len(parent), n, rest),
                    (len(parent), 1, rest),
                )
                # mode="clip": with "raise" numpy buffers the output (a copy)
                G = np.take(T.reshape(P, n, rest), parent, axis=0, out=G, mode="clip")
                T = np.matmul(mats[s][:, None, :], G, out=out)
                T = T.reshape(len(parent), rest)
        return T[trick.final]
    finally:
        if bufs is not None:
            space.release()


def expand_cols(trick, mats, x: np.ndarray, grid: tuple[int, ...], space) -> np.ndarray:
    """Columns of ⊗Aⱼ at the sampled multi-indices times x (C, L): returns (M, L).

    The adjoint of :func:`contract_rows`, steps in reverse: a gathered step becomes
    outer products summed onto the parents, a dense step a scatter of the
    tuples onto (parent, distinct index) pairs and GEMMs. ``mats[s]`` holds
    ``A_{order[s]}[:, values[s]]`` (dense) or ``A_{order[s]}[:, values[s][picks[s]]]ᵀ``
    (gathered).
    """
    d, L = len(grid), x.shape[1]
    order = trick.order
    T = trick.gather_final.sum(x)
    bufs = space.acquire(x.dtype, trick.buffer_size(grid, L), 1)
    rest = L
    try:
        for s in range(d - 1, -1, -1):
            j = order[s]
            m = grid[j]
            P = len(trick.segments[s].ids)
            groups = trick.segments[s].groups
            if trick.dense[s]:
                U = mats[s].shape[1]
                if groups == 1 and P == U:  # the first step: no pairs to scatter
                    Zs = T.reshape(1, U, rest)
                else:
                    Zs = np.zeros((groups, U, rest), dtype=T.dtype)
                    Zs[trick.parents[s], trick.picks[s]] = T.reshape(P, rest)
                if rest == 1:
                    T = Zs.reshape(groups, U) @ mats[s].T
                else:
                    T = np.matmul(mats[s], Zs)
            else:
                (E,) = _views(bufs, (P, m, rest))
                E = np.multiply(mats[s][:, :, None], T.reshape(P, 1, rest), out=E)
                T = trick.segments[s].sum(E.reshape(P, m * rest))
            rest *= m
            T = T.reshape(groups, rest)
    finally:
        if bufs is not None:
            space.release()
    Y = T.reshape(*(grid[j] for j in order), L)
    if order != tuple(range(d)):
        Y = Y.transpose(*np.argsort(order), d)
    return np.ascontiguousarray(Y).reshape(math.prod(grid), L)
