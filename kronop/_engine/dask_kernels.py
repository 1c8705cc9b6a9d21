"""The engine's doors on dask arrays: the distributed plan.

A distributed vector is a dask array; the doors receive it as a ``(B, N, K)``
block like every backend, view it as the grid ``(B, n₁, …, n_d, K)`` and split it
in *slabs* along the first grid axis (the layout :func:`slab_chunks` makes; the
flat↔grid reshapes are then free). Each task runs kronop's own kernels (numpy or
fused) on one block, so the numeric hot loop stays in the engine.

The plan of one product, proved by the vec identity (factors on different axes
commute, so they may be applied in any order):

1. every factor whose axis is whole in a block is applied inside the block, in
   one task per block (``map_blocks``);
2. a *banded* square factor on a split axis (a stencil: ≤ 9 stored diagonals,
   half-bandwidth h) is applied there too, on the block extended by h rows from
   each neighbour (``overlap``): output rows [r₀, r₁) need only input rows
   [r₀ − h, r₁ + h), so the restriction of the factor to the extended rows gives
   the exact rows of the block. Halos only, no all-to-all: the finite-difference
   Laplacian runs this way;
3. any other factor on a split axis needs its whole axis: one ``rechunk`` moves
   the split to another (already applied) axis, the remaining factors run inside
   the blocks, and a second ``rechunk`` moves the split back, so the result is
   chunked like the input. Two all-to-alls per product, like a slab FFT.

A fast-diagonalization solve V·diag(w)·V⁻¹ is the same chain with the division
in the middle (in the transposed layout, where every block knows its indices):
the eigenvalue grid is computed per block from the factors' eigenvalues and never
stored. Two all-to-alls per solve.

The block size of the transposed layout and of :func:`slab_chunks` is the dask
config value ``kronop.chunk-size`` (default ``"100MiB"``); the rechunk method is
``kronop.rechunk-method`` (``"tasks"``, ``"p2p"``, or None for dask's own
``array.rechunk.method``).
"""

from __future__ import annotations

import math
import threading
import uuid
import warnings

import dask
import dask.array as da
import numpy as np
import scipy.sparse as sp
from dask.array import PerformanceWarning

from .._factor import Factor, as_factor
from . import jit, numpy_kernels
from .cache import EngineCache
from .plan import compute_dtype

#: dask config keys kronop reads, and their defaults
CHUNK_SIZE_KEY = "kronop.chunk-size"
RECHUNK_METHOD_KEY = "kronop.rechunk-method"
DEFAULT_CHUNK_SIZE = "100MiB"


def chunk_bytes() -> int:
    """The target block size in bytes (dask config ``kronop.chunk-size``)."""
    got = dask.config.get(CHUNK_SIZE_KEY, DEFAULT_CHUNK_SIZE)
    return int(dask.utils.parse_bytes(got) if isinstance(got, str) else got)


def rechunk_method() -> str | None:
    """The rechunk method (dask config ``kronop.rechunk-method``; None: dask's)."""
    got = dask.config.get(RECHUNK_METHOD_KEY, None)
    if got not in (None, "tasks", "p2p"):
        raise ValueError(
            f"dask config {RECHUNK_METHOD_KEY!r} must be 'tasks', 'p2p' or None, "
            f"got {got!r}"
        )
    return got


def _rechunk(x, chunks):
    method = rechunk_method()
    if method is None:
        return x.rechunk(chunks)
    return x.rechunk(chunks, method=method)


def even_chunks(n: int, parts: int, multiple: int = 1) -> tuple[int, ...]:
    """``n`` split into ``parts`` near-equal chunks, each a multiple of ``multiple``."""
    units = n // multiple
    parts = max(1, min(parts, units))
    base, extra = divmod(units, parts)
    return tuple((base + (i < extra)) * multiple for i in range(parts))


def slab_chunks(shape, dtype, chunk_size=None) -> tuple[tuple[int, ...], ...]:
    """Chunks splitting ``shape`` along axis 0 only, about ``chunk_size`` bytes each."""
    shape = tuple(int(s) for s in shape)
    target = chunk_bytes() if chunk_size is None else _parse_bytes(chunk_size)
    if not shape:
        return ()
    total = math.prod(shape) * np.dtype(dtype).itemsize
    parts = max(1, math.ceil(total / max(target, 1)))
    a = slab_axis(shape)
    out = [(s,) for s in shape]
    if shape[a]:
        out[a] = even_chunks(shape[a], parts)
    return tuple(out)


def slab_axis(shape) -> int:
    """The axis slabs split: the first one longer than 1 (leading 1s are free)."""
    for a, n in enumerate(shape):
        if n > 1:
            return a
    return 0


def _parse_bytes(size) -> int:
    return int(dask.utils.parse_bytes(size) if isinstance(size, str) else size)


def _local():
    """The kernels that run inside a task (numpy blocks): fused when enabled."""
    if jit.enabled():
        from . import fused_kernels

        return fused_kernels
    return numpy_kernels


def _local_product(factors, x, cache, dtype):
    return _local().apply_product(factors, x, cache, dtype)


def _local_sum(factors, shift, x, cache, dtype):
    return _local().apply_sum(factors, shift, x, cache, dtype)


# ---------------------------------------------------------------- the grid
def _warn_rechunk(what: str) -> None:
    warnings.warn(
        f"{what}; kronop rechunked the array (an extra all-to-all per call). "
        "Chunk it along its first grid axis only (kronop.dask.slab_chunks) to "
        "avoid this",
        PerformanceWarning,
        stacklevel=6,
    )


def to_grid(x, ns):
    """A (B, N, K) dask array as the grid (B, n₁, …, n_d, K), split in slabs."""
    B, N, K = x.shape
    inner = math.prod(ns[slab_axis(ns) + 1 :])
    bounds = np.cumsum(x.chunks[1])
    if inner > 1 and np.any(bounds % inner):
        _warn_rechunk(
            f"the vector's chunks split rows of its grid {tuple(ns)} (each chunk "
            f"must hold whole slabs of {inner} entries)"
        )
        parts = len(x.chunks[1])
        x = _rechunk(x, {1: even_chunks(N, parts, inner)})
    return x.reshape(B, *ns, K)


def from_grid(y):
    """The grid (B, m₁, …, m_d, K) back as (B, M, K) (free for slab chunks)."""
    B, K = y.shape[0], y.shape[-1]
    grid = y.shape[1:-1]
    a = slab_axis(grid)
    later = [b + 1 for b in range(a + 1, len(grid)) if len(y.chunks[b + 1]) > 1]
    if later:  # never from the plans below
        y = _rechunk(y, dict.fromkeys(later, -1))
    return y.reshape(B, math.prod(grid), K)


def _halo(f: Factor | None) -> tuple[int, bool] | None:
    """``(h, periodic)`` for a square banded factor, else None.

    h is the half-bandwidth (0: diagonal); a factor whose far corners hold the
    wrap-around of a periodic stencil has the circular half-bandwidth, with
    ``periodic`` true: its first rows couple to the last planes.
    """
    if f is None or f.shape[0] != f.shape[1]:
        return None
    if f.is_identity:  # a Kronecker sum's identity term: diagonal
        return 0, False
    # planning asks several times per product: kept on the factor
    return f._memoized("dask-halo", lambda: _bandwidth(f))


def _bandwidth(f: Factor) -> tuple[int, bool] | None:
    bands = f.bands()
    if bands is None:
        return None
    coo = f.matrix.tocoo()
    if coo.nnz == 0:
        return 0, False
    n = f.shape[0]
    off = np.abs(coo.col.astype(np.int64) - coo.row)
    straight = int(off.max())
    circular = int(np.minimum(off, n - off).max())
    if circular < straight:
        return circular, True
    return straight, False


def _halo_fits(g, j: int, f: Factor | None, periodic_ok: bool) -> bool:
    """Whether factor ``f`` on split grid axis j runs with halos (no all-to-all).

    The halo must fit in every block (wider ones would merge blocks: a factor
    with a far diagonal moves the split instead). Periodic couplings run on the
    neighbour-planes path only, with the two neighbours of a block distinct.
    """
    info = _halo(f)
    if info is None:
        return False
    h, periodic = info
    chunks = g.chunks[j + 1]
    if h > min(chunks):
        return False
    if periodic:
        return periodic_ok and (len(chunks) >= 3 or min(chunks) >= 2 * h)
    return True


def _identity(n: int, dtype, index: int) -> Factor:
    return as_factor(sp.eye_array(n, dtype=dtype, format="csr"), index)


def _zero(n: int, dtype, index: int) -> Factor:
    return as_factor(sp.csr_array((n, n), dtype=dtype), index)


def _restricted(f: Factor, lo: int, hi: int) -> Factor:
    """A banded square factor restricted to rows and columns [lo, hi)."""
    if lo == 0 and hi == f.shape[0]:
        return f
    return as_factor(f.matrix[lo:hi, lo:hi], f.index)


# ---------------------------------------------------------- block programs
class _Program:
    """What one task does to its block: the factors per grid axis, and the kind.

    ``ops[j]`` is the factor on grid axis j (None: not applied in this stage; in
    a sum, no term along j). A task calls the program with its block, the block's
    index ranges on the grid and, per axis, the extended range its halos cover
    (None: the axis is whole or has no banded factor).
    """

    def __init__(self, kind, ops, dtype, shift=0, inverse=None, weights=None):
        self.kind = kind  # "product", "sum" or "spectral"
        self.ops = ops  # per grid axis: Factor or None
        self.inverse = inverse  # spectral: the V⁻¹ factor per axis (or None)
        self.weights = weights  # spectral: ranges -> weights on the block
        self.dtype = np.dtype(dtype)
        self.shift = shift
        self._init_transient()

    def _init_transient(self) -> None:
        # what the tasks of one process share: plans and the filler factors of
        # each block shape (most blocks have one of two shapes)
        self._caches: dict = {}
        self._fillers: dict = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for name in ("_caches", "_fillers", "_lock"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._init_transient()

    def cache(self, key) -> EngineCache:
        """The engine cache for blocks of one shape (plans reused across tasks)."""
        with self._lock:
            got = self._caches.get(key)
            if got is None:
                got = self._caches[key] = EngineCache()
            return got

    def _filler(self, n: int, j: int) -> Factor:
        """The identity (a zero term, in a sum) of extent n on axis j, built once."""
        key = (n, j)
        got = self._fillers.get(key)
        if got is None:
            make = _zero if self.kind == "sum" else _identity
            got = self._fillers.setdefault(key, make(n, self.dtype, j))
        return got

    def factors_for(self, ops, extents, ranges, ext):
        out = []
        for j, f in enumerate(ops):
            if f is None:
                out.append(self._filler(extents[j], j))
            elif ext[j] is not None:  # banded, on a split axis
                out.append(_restricted(f, *ext[j]))
            else:
                out.append(f)
        return out

    def __call__(self, block, ranges, ext):
        b, k = block.shape[0], block.shape[-1]
        extents = block.shape[1:-1]
        flat = block.reshape(b, math.prod(extents), k)
        # blocks without halos share their factors, so their plans are shared;
        # a block's halo restricts its factors: plans of its own
        shared = all(e is None for e in ext)
        cache = self.cache((block.shape, block.dtype.str)) if shared else EngineCache()
        try:
            return self._run(block, flat, extents, ranges, ext, cache)
        finally:
            # the work buffers go with the task, as a block's memory should
            cache.clear()

    def _run(self, block, flat, extents, ranges, ext, cache):
        b, k = block.shape[0], block.shape[-1]
        if self.kind == "product":
            fs = self.factors_for(self.ops, extents, ranges, ext)
            y = _local_product(fs, flat, cache, self.dtype)
            out = [f.shape[0] for f in fs]
        elif self.kind == "sum":
            fs = self.factors_for(self.ops, extents, ranges, ext)
            y = _local_sum(fs, self.shift, flat, cache, self.dtype)
            out = list(extents)
        else:
            fs = self.factors_for(self.inverse, extents, ranges, ext)
            t = _local_product(fs, flat, cache.sub(0), self.dtype)
            mid = [f.shape[0] for f in fs]
            w = self.weights(ranges)
            t = t.reshape(b, *mid, k)
            t = t * w.reshape(1, *w.shape, 1)
            gs = self.factors_for(self.ops, mid, ranges, [None] * len(mid))
            y = _local_product(gs, t.reshape(b, -1, k), cache.sub(1), t.dtype)
            out = [g.shape[0] for g in gs]
        y = y.reshape(b, *out, k)
        # the halo rows were only borrowed: keep the block's own rows
        crop = [slice(None)] * y.ndim
        for j, e in enumerate(ext):
            if e is not None:
                lo = ranges[j][0] - e[0]
                crop[j + 1] = slice(lo, lo + ranges[j][1] - ranges[j][0])
        return y[tuple(crop)]


def _run_block(block, program, bounds, halos, sizes, block_id=None):
    """One task: the program on one (possibly halo-extended) block."""
    ranges, ext = [], []
    for j, (edges, h) in enumerate(zip(bounds, halos, strict=True)):
        i = block_id[j + 1]
        r = (int(edges[i]), int(edges[i + 1]))
        ranges.append(r)
        ext.append(None if h is None else (max(0, r[0] - h), min(sizes[j], r[1] + h)))
    return program(block, ranges, ext)


def _stage(g, program: _Program, out_extents):
    """Run ``program`` on every block of the grid ``g`` (one task per block).

    Banded factors on split axes get their halos through ``overlap``; every other
    factor of the program must act on a whole axis of the blocks.
    """
    d = g.ndim - 2
    sizes = g.shape[1:-1]
    halos, periodic = [], []
    for j in range(d):
        split = len(g.chunks[j + 1]) > 1
        fs = [program.ops[j]]
        if program.kind == "spectral":
            fs.append(program.inverse[j])
        applied = [f for f in fs if f is not None]
        if not split or not applied:
            halos.append(None)
            continue
        infos = [_halo(f) for f in applied]
        if any(i is None or i[0] > min(g.chunks[j + 1]) for i in infos):
            # the plans below send such factors through an all-to-all
            raise RuntimeError(
                f"internal: a factor that needs its whole axis on split axis {j}"
            )
        halos.append(max(i[0] for i in infos))
        periodic.append(any(i[1] for i in infos))
    bounds = [np.concatenate([[0], np.cumsum(c)]) for c in g.chunks[1:-1]]
    depth = {j + 1: h for j, h in enumerate(halos) if h}
    split = [a for a in range(1, g.ndim - 1) if len(g.chunks[a]) > 1]
    if program.kind != "spectral" and len(depth) == 1 and split == list(depth):
        axis = split[0]
        return _stage_with_halos(
            g, program, out_extents, axis, depth[axis], any(periodic)
        )
    if any(periodic):
        raise RuntimeError("internal: periodic halos on more than one split axis")
    src = da.overlap.overlap(g, depth=depth, boundary="none") if depth else g
    chunks = [g.chunks[0]]
    for j in range(d):
        chunks.append(
            g.chunks[j + 1] if len(g.chunks[j + 1]) > 1 else (out_extents[j],)
        )
    chunks.append(g.chunks[-1])
    dtype = _result_dtype(program, g.dtype)
    token = dask.base.tokenize(program_token(program), g.name, depth)
    prog = dask.delayed(program, pure=True, name=f"kronop-program-{token}")
    return da.map_blocks(
        _run_block,
        src,
        prog,
        [tuple(int(v) for v in e) for e in bounds],
        halos,
        tuple(sizes),
        dtype=dtype,
        chunks=tuple(chunks),
        meta=np.empty((0,) * g.ndim, dtype=dtype),
        name=f"kronop-{program.kind}-{token}",
    )


def _neighbour_planes(g, axis: int, h: int, side: str, periodic: bool):
    """Per block of ``g``, the ``h`` planes along ``axis`` just before (after) it.

    The first (last) block's neighbour is the last (first) block when the
    coupling is periodic; otherwise it has none and gets its own first (last)
    planes, which its task ignores, so every block has exactly h planes.
    """
    edges = np.concatenate([[0], np.cumsum(g.chunks[axis])])
    n = g.shape[axis]
    parts = []
    for i in range(len(g.chunks[axis])):
        if side == "left":
            lo = edges[i] - h if i > 0 else (n - h if periodic else 0)
        else:
            last = i == len(edges) - 2
            lo = edges[i + 1] if not last else (0 if periodic else n - h)
        index = [slice(None)] * g.ndim
        index[axis] = slice(int(lo), int(lo) + h)
        parts.append(g[tuple(index)])
    return da.concatenate(parts, axis=axis)


def _run_with_halos(
    block, left, right, which, program, edges, axis, h, periodic, dtype
):
    """One task: the program on its block, plus the rows its neighbours reach.

    The banded factor on ``axis`` is restricted to the block's own rows and
    columns; the rows within h of an edge then add the coupling to the h
    neighbouring planes (the other factors' terms of a sum are row-local, a
    product applies them to the planes too). No block is copied to extend it.
    """
    i = int(which[0])
    j = axis - 1
    r0, r1 = int(edges[i]), int(edges[i + 1])
    n = int(edges[-1])
    d = block.ndim - 2
    ranges = [(0, block.shape[k + 1]) for k in range(d)]
    ranges[j] = (r0, r1)
    ext = [None] * d
    ext[j] = (r0, r1)
    y = program(block, ranges, ext)
    f = program.ops[j]
    couplings = []
    if r0 > 0 or periodic:
        c0 = r0 - h if r0 > 0 else n - h
        couplings.append((left, (r0, min(r1, r0 + h)), (c0, c0 + h)))
    if r1 < n or periodic:
        c0 = r1 if r1 < n else 0
        couplings.append((right, (max(r0, r1 - h), r1), (c0, c0 + h)))
    b, k = block.shape[0], block.shape[-1]
    for planes, (lo, hi), (c0, c1) in couplings:
        part = f.matrix[lo:hi, c0:c1]
        if part.nnz == 0:
            continue
        coupling = as_factor(part, j)
        if program.kind == "sum":
            fs = [
                coupling if m == j else _identity(planes.shape[m + 1], dtype, m)
                for m in range(d)
            ]
        else:
            fs = program.factors_for(
                program.ops, planes.shape[1:-1], ranges, [None] * d
            )
            fs[j] = coupling
        add = _local_product(fs, planes.reshape(b, -1, k), EngineCache(), program.dtype)
        index = [slice(None)] * y.ndim
        index[axis] = slice(lo - r0, hi - r0)
        y[tuple(index)] += add.reshape(y[tuple(index)].shape)
    return y


def _stage_with_halos(
    g, program: _Program, out_extents, axis: int, h: int, periodic: bool
):
    """A stage whose only split axis carries a banded factor: neighbour planes only.

    Each task gets its block and the h planes on either side (small slices of the
    neighbouring blocks), never a copy of the block extended by them.
    """
    left = _neighbour_planes(g, axis, h, "left", periodic)
    right = _neighbour_planes(g, axis, h, "right", periodic)
    parts = len(g.chunks[axis])
    which = da.arange(parts, chunks=1)
    edges = tuple(int(v) for v in np.concatenate([[0], np.cumsum(g.chunks[axis])]))
    dtype = _result_dtype(program, g.dtype)
    token = dask.base.tokenize(program_token(program), g.name, axis, h, periodic)
    prog = dask.delayed(program, pure=True, name=f"kronop-program-{token}")
    index = tuple(range(g.ndim))
    adjust = {a: (out_extents[a - 1],) for a in range(1, g.ndim - 1) if a != axis}
    return da.blockwise(
        _run_with_halos,
        index,
        g,
        index,
        left,
        index,
        right,
        index,
        which,
        (axis,),
        prog,
        None,
        edges,
        None,
        axis,
        None,
        h,
        None,
        periodic,
        None,
        dtype,
        None,
        align_arrays=False,
        concatenate=True,
        adjust_chunks=adjust,
        dtype=dtype,
        meta=np.empty((0,) * g.ndim, dtype=dtype),
        name=f"kronop-{program.kind}-halo-{token}",
    )


def _content(a):
    """An array's content for a token, in C order.

    dask hashes ``ravel("K")``: an array and its transposed view would otherwise
    share a token, and two different products a dask key.
    """
    if sp.issparse(a):
        a = a.tocsr()
        return (
            a.format,
            a.shape,
            _content(a.data),
            _content(a.indices),
            _content(a.indptr),
        )
    a = np.asarray(a)
    return (a.shape, a.dtype.str, np.ascontiguousarray(a))


def _factor_token(f):
    """A token naming a factor's content (kept on the factor: computed once)."""
    if f is None:
        return None
    got = f._memo.get("dask-token")
    if got is None:
        m = f.matrix
        if isinstance(m, np.ndarray) or sp.issparse(m):
            parts = (_content(m),)
        elif hasattr(m, "vectors") and hasattr(m, "inverse_values"):
            # an eigen-solve factor: V diag(1/λ) Vᴴ
            parts = (_content(m.vectors), _content(m.inverse_values))
        elif hasattr(m, "name") and hasattr(m, "scale"):  # a fast transform
            parts = (m.name, m.shape, repr(m.scale))
        else:  # an opaque operator: unique to this factor object
            parts = (uuid.uuid4().hex,)
        got = dask.base.tokenize(type(f).__name__, f.dtype.str, f.shape, *parts)
        f._memo["dask-token"] = got
    return got


def program_token(program: _Program) -> str:
    """A deterministic token for a program: its kind, dtype and factors' content."""
    parts = [program.kind, program.dtype.str, repr(program.shift)]
    for fs in (program.ops, program.inverse or ()):
        parts.extend(_factor_token(f) for f in fs)
    if program.weights is not None:
        parts.append(program.weights.token)
    return dask.base.tokenize(*parts)


def _result_dtype(program: _Program, xdtype) -> np.dtype:
    dtype = compute_dtype(program.dtype, xdtype)
    if program.kind == "spectral":
        dtype = np.result_type(dtype, program.weights.dtype)
    return np.dtype(dtype)


# ------------------------------------------------------------ moving splits
def _split_axes(g, ops) -> list[int]:
    return [j for j, f in enumerate(ops) if f is not None and len(g.chunks[j + 1]) > 1]


def _remote(g, ops, periodic_ok: bool = True) -> list[int]:
    """Grid axes whose factor needs the whole axis but is split."""
    split = _split_axes(g, ops)
    one = sum(len(c) > 1 for c in g.chunks[1:-1]) == 1
    return [j for j in split if not _halo_fits(g, j, ops[j], periodic_ok and one)]


def _transposed(g, remote: list[int]):
    """``g`` rechunked so the ``remote`` axes are whole, split along another axis.

    Returns the rechunked array, or None when no other axis can carry the split.
    """
    d = g.ndim - 2
    parts = math.prod(len(g.chunks[j + 1]) for j in remote)
    nbytes = g.size * g.dtype.itemsize
    parts = max(parts, math.ceil(nbytes / max(chunk_bytes(), 1)))
    candidates = [j + 1 for j in range(d) if j not in remote and g.shape[j + 1] > 1]
    if not candidates:  # the right-hand sides, then the batch
        candidates = [a for a in (g.ndim - 1, 0) if g.shape[a] > 1]
    if not candidates:
        return None
    target = max(candidates, key=lambda a: g.shape[a])
    new = {j + 1: -1 for j in remote}
    new[target] = even_chunks(g.shape[target], parts)
    return _rechunk(g, new)


def _restored(y, like):
    """``y`` rechunked back to the layout of ``like`` (splits on the same axes)."""
    want = []
    for a in range(y.ndim):
        if y.shape[a] == like.shape[a]:
            want.append(tuple(like.chunks[a]))
        else:
            want.append(even_chunks(y.shape[a], len(like.chunks[a])))
    if tuple(want) == tuple(tuple(c) for c in y.chunks):
        return y
    return _rechunk(y, tuple(want))


def _moved(g, remote: list[int]):
    """``g`` with the ``remote`` axes whole: the split moved, or (warned) gathered."""
    moved = _transposed(g, remote)
    return _gathered(g, remote) if moved is None else moved


def _gathered(g, axes: list[int]):
    warnings.warn(
        "the operator needs whole axes that are split and no other axis can hold "
        f"the split (grid {g.shape[1:-1]}): the vector is gathered into one chunk "
        "along them",
        PerformanceWarning,
        stacklevel=6,
    )
    return _rechunk(g, {j + 1: -1 for j in axes})


def product_grid(ops, g, dtype):
    """(⊗ ops) on the grid ``g`` (B, n₁, …, n_d, K); None in ``ops`` is the identity."""
    d = len(ops)
    outs = [g.shape[j + 1] if f is None else f.shape[0] for j, f in enumerate(ops)]
    if all(f is None for f in ops):
        return g.astype(compute_dtype(dtype, g.dtype))
    remote = _remote(g, ops)
    if not remote:
        return _stage(g, _Program("product", ops, dtype), outs)
    local = [None if j in remote else f for j, f in enumerate(ops)]
    y = g
    if any(f is not None for f in local):
        y = _stage(g, _Program("product", local, dtype), outs)
    moved = _moved(y, remote)
    far = [ops[j] if j in remote else None for j in range(d)]
    z = _stage(moved, _Program("product", far, dtype), outs)
    return _restored(z, g)


# --------------------------------------------------------------- the doors
def apply_product(factors, x, cache, dtype=None):
    """(A₁⊗…⊗A_d) applied to the dask block ``x`` (B, N, K), lazily."""
    if dtype is None:
        dtype = np.result_type(*(f.dtype for f in factors))
    dtype = compute_dtype(dtype, x.dtype)
    g = to_grid(x, [f.shape[1] for f in factors])
    ops = [None if f.is_identity else f for f in factors]
    return from_grid(product_grid(ops, g, dtype))


def apply_sum(factors, shift, x, cache, dtype):
    """(σI + A₁⊕…⊕A_d) applied to the dask block ``x`` (B, N, K), lazily.

    Banded factors (the finite-difference Laplacian) need halos only; another
    factor on the split axis adds its own product (two all-to-alls).
    """
    dtype = compute_dtype(dtype, x.dtype)
    ns = [f.shape[0] for f in factors]
    g = to_grid(x, ns)
    ops = list(factors)
    remote = _remote(g, ops)
    local = [None if j in remote else f for j, f in enumerate(ops)]
    y = _stage(g, _Program("sum", local, dtype, shift=shift), ns)
    for j in remote:
        y = y + product_grid(
            [ops[j] if i == j else None for i in range(len(ops))], g, dtype
        )
    return from_grid(y)


def apply_terms(terms, x, cache, dtype):
    """Σᵣ cᵣ·(⊗ factors of term r) on the dask block ``x``: the terms' products summed."""
    dtype = compute_dtype(dtype, x.dtype)
    y = None
    for coef, factors in terms:
        t = apply_product(factors, x, cache, dtype)
        if coef != 1:
            t = t * coef
        y = t if y is None else y + t
    return y


def token_of(*parts) -> str:
    """A dask token naming ``parts`` by content (arrays hashed)."""
    return dask.base.tokenize(*parts)


class GridWeights:
    """Weights on the eigenvalue grid, computed per block: ``fn(ranges)``.

    ``fn`` maps the index ranges [(start, stop) per grid axis] of a block to the
    weights there, shaped like the block's grid; ``dtype`` is theirs and ``token``
    names their content (dask keys are built from it).
    """

    def __init__(self, fn, dtype, token: str) -> None:
        self.fn = fn
        self.dtype = np.dtype(dtype)
        self.token = token

    def __call__(self, ranges):
        return self.fn(ranges)


def apply_spectral(inverse, weights: GridWeights, vectors, x, cache, dtype):
    """(⊗ vectors)·diag(weights)·(⊗ inverse) on the dask block ``x`` (B, N, K).

    The weights are a :class:`GridWeights` evaluated per block, never stored whole.
    """
    dtype = compute_dtype(dtype, x.dtype)
    g = to_grid(x, [f.shape[1] for f in inverse])
    inv = [None if f.is_identity else f for f in inverse]
    vec = [None if f.is_identity else f for f in vectors]
    d = len(inv)
    mids = [f.shape[0] for f in inverse]
    outs = [f.shape[0] for f in vectors]
    remote = sorted(set(_remote(g, inv, periodic_ok=False)) | set(_split_axes(g, vec)))
    # weights live on every axis: a split axis must be whole or be carried by
    # the block's own index range (it is: ranges are global), so only the
    # factors decide the plan
    remote = [j for j in remote if (inv[j] is not None or vec[j] is not None)]
    if not remote:
        return from_grid(
            _stage(
                g, _Program("spectral", vec, dtype, inverse=inv, weights=weights), outs
            )
        )
    near_inv = [None if j in remote else f for j, f in enumerate(inv)]
    y = g
    if any(f is not None for f in near_inv):
        y = _stage(g, _Program("product", near_inv, dtype), mids)
    moved = _moved(y, remote)
    far_inv = [inv[j] if j in remote else None for j in range(d)]
    far_vec = [vec[j] if j in remote else None for j in range(d)]
    z = _stage(
        moved,
        _Program("spectral", far_vec, dtype, inverse=far_inv, weights=weights),
        [outs[j] if j in remote else mids[j] for j in range(d)],
    )
    z = _restored(z, g)
    near_vec = [None if j in remote else f for j, f in enumerate(vec)]
    if any(f is not None for f in near_vec):
        z = _stage(z, _Program("product", near_vec, z.dtype), outs)
    return from_grid(z)


def run_blocks(appliers, x, rows: int, dtype):
    """diag(A₁, …, A_k) on the dask block ``x``: each block's slab, concatenated."""
    parts = []
    c = 0
    for apply, _m, n in appliers:
        parts.append(apply(x[:, c : c + n]).astype(dtype))
        c += n
    return da.concatenate(parts, axis=1)


def _batched_block(block, stack, bounds, solve: bool, dtype, block_id=None):
    i = block_id[1]
    part = np.asarray(stack[bounds[i] : bounds[i + 1]]).astype(dtype, copy=False)
    block = block.astype(dtype, copy=False)
    if solve:  # (b, c, m, K): one batched LU per block
        xs = np.moveaxis(block, 0, 2)  # (c, m, b, K)
        c, m, b, K = xs.shape
        y = np.linalg.solve(part, xs.reshape(c, m, b * K)).reshape(c, m, b, K)
        return np.moveaxis(y, 2, 0)
    return np.matmul(part, block)


def _batched(stack, x, dtype, solve: bool):
    B, _, K = x.shape
    k, m, n = stack.shape
    bounds = np.cumsum(x.chunks[1])
    if n > 1 and np.any(bounds % n):
        _warn_rechunk(f"the vector's chunks split some of the {k} blocks of size {n}")
        x = _rechunk(x, {1: even_chunks(k * n, len(x.chunks[1]), n)})
    xs = x.reshape(B, k, n, K)
    edges = tuple(int(v) for v in np.concatenate([[0], np.cumsum(xs.chunks[1])]))
    token = token_of("kronop-batched", _content(stack), solve, np.dtype(dtype).str)
    st = dask.delayed(stack, pure=True, name=f"kronop-stack-{token}")
    y = da.map_blocks(
        _batched_block,
        xs,
        st,
        edges,
        solve,
        np.dtype(dtype),
        dtype=dtype,
        chunks=(xs.chunks[0], xs.chunks[1], (m,), xs.chunks[3]),
        meta=np.empty((0, 0, 0, 0), dtype=dtype),
    )
    return y.reshape(B, k * m, K)


def run_batched(stack, x, dtype):
    """k equal dense blocks (k, m, n) on the dask block ``x`` (B, k·n, K)."""
    return _batched(stack, x, dtype, solve=False)


def run_batched_solve(stack, x, dtype):
    """k square blocks solved against the dask block ``x``, batched per chunk.

    A singular block raises ``LinAlgError`` when the result is computed.
    """
    return _batched(stack, x, dtype, solve=True)


# ---------------------------------------------------------- arrays in and out
def as_block(X):
    """A dask array as it is (validated by the caller)."""
    return X


def as_columns(x):
    """A block (B, N, K) as the columns (N, B·K)."""
    B, N, K = x.shape
    if B == 1:
        return x[0]
    return da.moveaxis(x, 1, 0).reshape(N, B * K)


def from_columns(y, B: int, K: int):
    """The inverse of :func:`as_columns`."""
    if B == 1:
        return y[None]
    return da.moveaxis(y.reshape(y.shape[0], B, K), 0, 1)


def finish(x, dtype):
    """A result in its dtype: the real part when the dtype is real."""
    dtype = np.dtype(dtype)
    if x.dtype.kind == "c" and dtype.kind != "c":
        x = x.real
    return x if x.dtype == dtype else x.astype(dtype)


def cast(x, dtype):
    """``x`` in ``dtype``."""
    return x if x.dtype == dtype else x.astype(dtype)


def scaled_copy(x, alpha, dtype):
    """``alpha·x`` in ``dtype``."""
    return (x * alpha).astype(dtype) if alpha != 1 else x.astype(dtype)


def scaled_rows(y, w):
    """``y[i] · w[i]`` for the dask array y (N,) or (N, K); w a length-N array."""
    if not isinstance(w, da.Array):
        w = da.from_array(np.asarray(w), chunks=(y.chunks[0],))
    return y * (w if y.ndim == 1 else w[:, None])


def column_norms(b):
    """2-norms of the columns (lazy)."""
    return da.sqrt((abs(b) ** 2).sum(axis=0))


def unsupported(name: str):
    """Refuse an operation that has no dask implementation (a TypeError)."""
    raise TypeError(
        f"this kronop operation ({name}) does not run on dask arrays; compute the "
        "array first (x.compute()) or use one of the operators listed in "
        "kronop.dask"
    )


def __getattr__(name: str):
    # a door without a dask implementation: a clear error, never a silent gather
    if name.startswith("_") or not callable(getattr(numpy_kernels, name, None)):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    def refuse(*args, **kwargs):
        unsupported(name)

    return refuse
