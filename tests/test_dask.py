"""kronop operators on dask arrays: lazy, chunked, equal to the numpy results.

Every entry point is checked against the numpy path (itself checked against
``np.kron`` elsewhere) to a dtype-scaled bound, for laziness (building the graph
runs no task), for chunking (no task's output is the whole vector, the result is
chunked like the input), on the threaded scheduler and a 2-process LocalCluster.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

from kronop import (
    BlockCirculant,
    BlockDiag,
    IdentityOperator,
    KronOperator,
    KronPlusDiagonal,
    KronProductSum,
    KronSum,
    laplacian,
)
from kronop.dask import slab_chunks

from .factories import (
    check_close,
    eps,
    hi,
    kron_dense,
    make_factor,
    make_square,
    random_array,
)

PerformanceWarning = da.PerformanceWarning
DTYPES = [np.float32, np.float64, np.complex128]


# ----------------------------------------------------------------- helpers
def _forbid(*args, **kwargs):
    raise AssertionError("a dask graph was computed while it was being built")


class _TaskSizes(dask.callbacks.Callback):
    """Records the largest array any task returned."""

    def __init__(self):
        super().__init__()
        self.largest = 0
        self.tasks = 0

    def _posttask(self, key, result, dsk, state, worker_id):
        self.tasks += 1
        if isinstance(result, np.ndarray):
            self.largest = max(self.largest, result.size)


def build(fn, *args):
    """``fn(*args)`` with every compute forbidden: graph building must be lazy."""
    with dask.config.set(scheduler=_forbid):
        return fn(*args)


def run(y, full: int | None = None):
    """Compute ``y`` (threads); with ``full``, check no task held ``full`` values."""
    sizes = _TaskSizes()
    with sizes:  # persist: the blocks as the tasks made them, never concatenated
        kept = y.persist(scheduler="threads")
    got = kept.compute(scheduler="sync")
    if full is not None:
        assert sizes.largest < full, (
            f"a task returned {sizes.largest} values, the whole vector has {full}"
        )
    return got


def rechunks(y) -> int:
    """Number of rechunk layers in the graph (all-to-alls)."""
    return sum(1 for name in y.__dask_graph__().layers if name.startswith("rechunk"))


def slabs(x, parts):
    """``x`` (numpy, on its grid) as a dask array in ``parts`` slabs along axis 0."""
    n0 = x.shape[0]
    size = -(-n0 // parts)
    return da.from_array(x, chunks=(size, *x.shape[1:]))


def tol_close(got, want, dtype, scale=1.0, c=20.0):
    want = np.asarray(want)
    bound = c * eps(dtype) * max(scale, 1.0) * max(float(np.max(np.abs(want))), 1e-300)
    err = float(np.max(np.abs(np.asarray(got) - want))) if want.size else 0.0
    assert err <= bound, f"error {err:.3g} > bound {bound:.3g} ({np.dtype(dtype)})"


# ------------------------------------------------------------ products
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["dense", "csr", "linop", "identity"])
def test_kron_product_flat_grid_block_adjoint(rng, dtype, kind):
    specs = [(5, 6), (4, 4), (3, 7)] if kind != "identity" else [(6, 6), (4, 4), (7, 7)]
    made = [
        make_factor(m, n, kind if j != 1 else "dense", dtype, rng)
        for j, (m, n) in enumerate(specs)
    ]
    K = KronOperator(*(f for f, _ in made))
    dense = kron_dense([hi(d) for _, d in made])
    N = K.shape[1]
    x = random_array(rng, (6, 4, 7), dtype)
    want = dense @ hi(x.ravel())

    # flat, chunked in whole slabs
    xf = da.from_array(x.ravel(), chunks=2 * 4 * 7)
    y = build(K.__matmul__, xf)
    assert isinstance(y, da.Array)
    assert y.shape == (K.shape[0],)
    check_close(run(y, N), want, dense, hi(x.ravel()), dtype)

    # on the grid: the result keeps the grid and the split
    xg = slabs(x, 3)
    yg = build(K.__matmul__, xg)
    out = tuple(m for m, _ in specs)
    assert yg.shape == out
    assert len(yg.chunks[0]) == 3
    assert all(len(c) == 1 for c in yg.chunks[1:])
    check_close(run(yg, N).ravel(), want, dense, hi(x.ravel()), dtype)
    assert rechunks(yg) == (2 if kind != "identity" else 0)

    # a block of right-hand sides, matmat and dot
    X = random_array(rng, (N, 3), dtype)
    Xd = da.from_array(X, chunks=(4 * 7 * 3, 2))
    for Y in (build(K.matmat, Xd), build(K.dot, Xd)):
        assert Y.chunks[1] == (2, 1)
        check_close(run(Y), dense @ hi(X), dense, hi(X), dtype)

    # the grid with k right-hand sides
    Xg = slabs(X.reshape(6, 4, 7, 3), 2)
    check_close(
        run(build(K.__matmul__, Xg)).reshape(-1, 3), dense @ hi(X), dense, hi(X), dtype
    )

    # adjoint and transpose
    z = random_array(rng, out, dtype)
    zd = slabs(z, 2)
    dh = dense.conj().T
    check_close(
        run(build(K.H.__matmul__, zd)).ravel(),
        dh @ hi(z.ravel()),
        dh,
        hi(z.ravel()),
        dtype,
    )
    check_close(
        run(build(K.rmatvec, zd.ravel())), dh @ hi(z.ravel()), dh, hi(z.ravel()), dtype
    )
    dt = dense.T
    check_close(
        run(build(K.T.__matmul__, zd)).ravel(),
        dt @ hi(z.ravel()),
        dt,
        hi(z.ravel()),
        dtype,
    )
    Z = random_array(rng, (K.shape[0], 2), dtype)
    check_close(
        run(build(K.rmatmat, da.from_array(Z, chunks=(2 * out[1] * out[2], 2)))),
        dh @ hi(Z),
        dh,
        hi(Z),
        dtype,
    )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    shapes=st.lists(
        st.tuples(st.integers(1, 5), st.integers(1, 5)), min_size=1, max_size=4
    ),
    parts=st.integers(1, 4),
    k=st.sampled_from([None, 1, 3]),
    seed=st.integers(0, 2**16),
)
def test_kron_random_shapes_and_chunks(shapes, parts, k, seed):
    rng = np.random.default_rng(seed)
    mats = [rng.standard_normal(s) for s in shapes]
    K = KronOperator(*mats)
    dense = kron_dense(mats)
    grid = tuple(n for _, n in shapes)
    shape = grid if k is None else (*grid, k)
    # (N, 1)-shaped grids are blocks of one column, as on the numpy path
    assume(not (k is None and len(grid) == 2 and grid[1] == 1))
    x = rng.standard_normal(shape)
    xd = slabs(x, parts)
    with warnings.catch_warnings():
        # one factor split along its only axis has to be gathered (warned)
        warnings.simplefilter("ignore", PerformanceWarning)
        y = build(K.__matmul__, xd)
    flat = x.reshape(K.shape[1], -1)
    want = dense @ flat
    out = tuple(m for m, _ in shapes)
    assert y.shape == (out if k is None else (*out, k))
    got = run(y).reshape(K.shape[0], -1)
    check_close(got, want, dense, flat, np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_laplacian_product_needs_halos_only(rng, dtype, backend):
    L = (
        laplacian((12, 5, 6), dtype=dtype)
        if dtype != np.complex128
        else laplacian((12, 5, 6)) * (1 + 1j)
    )
    x = random_array(rng, (12, 5, 6), dtype)
    xd = slabs(x, 4)
    y = build(L.__matmul__, xd)
    assert rechunks(y) == 0  # banded factors: halo exchange, no all-to-all
    assert y.chunks == xd.chunks
    dense = L.toarray().astype(np.complex128)
    check_close(
        run(y, x.size).ravel(), dense @ hi(x.ravel()), dense, hi(x.ravel()), dtype
    )


@pytest.mark.parametrize(
    "kinds", [("band-vec", "dense", "band-const"), ("dense", "band-const", "dense")]
)
def test_kronsum_product(rng, kinds, backend):
    made = [
        make_square(n, kind, np.float64, rng)
        for n, kind in zip((9, 4, 5), kinds, strict=True)
    ]
    S = KronSum(*(f for f, _ in made)) + 0.5 * IdentityOperator((180, 180))
    assert isinstance(S, KronSum)
    assert S.sigma == 0.5
    dense = S.toarray()
    x = rng.standard_normal((9, 4, 5))
    y = build(S.__matmul__, slabs(x, 3))
    assert rechunks(y) == (0 if kinds[0] != "dense" else 2)
    check_close(run(y, x.size).ravel(), dense @ x.ravel(), dense, x.ravel(), np.float64)


def test_kronsum_with_mass(rng):
    A = sp.diags_array([[-1.0] * 7, [2.0] * 8, [-1.0] * 7], offsets=[-1, 0, 1])
    mass = sp.diags_array([[1.0] * 7, [4.0] * 8, [1.0] * 7], offsets=[-1, 0, 1]) / 6
    B = rng.standard_normal((5, 5))
    S = KronSum(A, B, mass=[mass, None])
    x = rng.standard_normal((8, 5))
    dense = S.toarray()
    check_close(
        run(build(S.__matmul__, slabs(x, 2)), x.size).ravel(),
        dense @ x.ravel(),
        dense,
        x.ravel(),
        np.float64,
    )


def test_family_products(rng, backend):
    A, B = rng.standard_normal((4, 4)), rng.standard_normal((5, 5))
    C, D = rng.standard_normal((4, 4)), rng.standard_normal((5, 5))
    x = rng.standard_normal((4, 5))
    xd = slabs(x, 2)
    P = KronProductSum(KronOperator(A, B), KronOperator(C, D))
    dense = np.kron(A, B) + np.kron(C, D)
    check_close(
        run(build(P.__matmul__, xd), 20).ravel(),
        dense @ x.ravel(),
        dense,
        x.ravel(),
        np.float64,
    )
    Q = KronPlusDiagonal(
        KronOperator(A, B), 0.5, diagonals=[rng.random(4) + 1, rng.random(5) + 1]
    )
    dense = Q.toarray()
    check_close(
        run(build(Q.__matmul__, xd), 20).ravel(),
        dense @ x.ravel(),
        dense,
        x.ravel(),
        np.float64,
    )
    eye = IdentityOperator((20, 20)) * 3.0
    np.testing.assert_array_equal(run(build(eye.__matmul__, xd.ravel())), 3 * x.ravel())


def test_blockdiag_products_and_solve(rng):
    stack = rng.standard_normal((6, 4, 4)) + 4 * np.eye(4)
    Bd = BlockDiag(stack)
    x = rng.standard_normal(24)
    xd = da.from_array(x, chunks=8)
    dense = Bd.toarray()
    check_close(run(build(Bd.__matmul__, xd), 24), dense @ x, dense, x, np.float64)
    tol_close(run(build(Bd.solve, xd), 24), np.linalg.solve(dense, x), np.float64, 100)
    mixed = BlockDiag(
        [
            rng.standard_normal((3, 3)),
            KronOperator(rng.standard_normal((2, 2)), rng.standard_normal((3, 4))),
            np.eye(2),
        ]
    )
    x = rng.standard_normal(mixed.shape[1])
    dense = mixed.toarray()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PerformanceWarning)
        y = build(mixed.__matmul__, da.from_array(x, chunks=5))
    check_close(run(y), dense @ x, dense, x, np.float64)


# --------------------------------------------------------------- solves
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bc", ["dirichlet", "neumann", "periodic"])
def test_laplacian_solve(rng, dtype, bc, backend):
    L = laplacian((10, 6, 5), bc=bc, dtype=dtype)
    b = random_array(rng, (10, 6, 5), dtype)
    if bc != "dirichlet":
        b = b - b.mean()  # compatible with the null space
    bd = slabs(b, 3)
    x = build(L.solve, bd)
    assert x.chunks == bd.chunks
    assert x.dtype == L.solve(b.ravel()).dtype
    assert rechunks(x) == 2  # the two all-to-alls of a slab solve
    want = L.solve(b.ravel())
    tol_close(run(x, b.size).ravel(), want, dtype, scale=10)
    # through the inverse operator and the decomposition with a shift
    tol_close(
        run(
            build((L.inv() if bc == "dirichlet" else L.pinv()).__matmul__, bd), b.size
        ).ravel(),
        want,
        dtype,
        scale=100,
    )
    dec = L.eigh()
    tol_close(
        run(build(lambda r: dec.solve(r, shift=2.0), bd)).ravel(),
        dec.solve(b.ravel(), shift=2.0),
        dtype,
        100,
    )


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_dense_kronsum_and_kron_solve(rng, dtype):
    factors = [random_array(rng, (n, n), dtype) + 3 * n * np.eye(n) for n in (7, 5, 4)]
    S = KronSum(*factors)
    b = random_array(rng, (7, 5, 4), dtype)
    bd = slabs(b, 3)
    want = S.solve(b.ravel(), method="eig")
    tol_close(
        run(build(lambda r: S.solve(r, method="eig"), bd), b.size).ravel(),
        want,
        dtype,
        100,
    )
    K = KronOperator(*factors)
    tol_close(run(build(K.solve, bd.ravel()), b.size), K.solve(b.ravel()), dtype, 10)
    B2 = random_array(rng, (140, 2), dtype)
    tol_close(
        run(build(S.solve, da.from_array(B2, chunks=(40, 2)))), S.solve(B2), dtype, 100
    )


def test_singular_solves(rng):
    # Hermitian (unitary V): the minimum-norm solution, lazily
    L = laplacian((6, 5), bc="neumann")
    b = rng.standard_normal((6, 5))
    got = run(build(L.solve, slabs(b, 2))).ravel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = L.solve(b.ravel())
    np.testing.assert_allclose(got, want, atol=1e-12 * np.abs(want).max())
    # non-unitary V and a zero eigenvalue: an error when the result is computed
    A = np.array([[1.0, 1.0], [0.0, 2.0]])
    S = KronSum(A, -A)
    x = build(lambda r: S.solve(r, method="eig"), da.ones((2, 2), chunks=(1, 2)))
    with pytest.raises(np.linalg.LinAlgError, match="singular"):
        run(x)


# ---------------------------------------------------------- input checks
def test_shape_and_dtype_errors():
    K = KronOperator(np.ones((3, 4)), np.ones((2, 5)))
    with pytest.raises(ValueError, match="operator has shape"):
        K @ da.ones(7)
    with pytest.raises(ValueError, match="operator has shape"):
        K.matvec(da.ones((20, 2)))
    with pytest.raises(ValueError, match="operator has shape"):
        K @ da.ones((5, 4))  # the grid transposed
    with pytest.raises(TypeError, match="numeric dtype"):
        K @ da.from_array(np.array(["a"] * 20))
    L = laplacian((4, 5))
    with pytest.raises(ValueError, match="right-hand side"):
        L.solve(da.ones(21))
    C = BlockCirculant(np.ones((4, 2, 2)))
    with pytest.raises(TypeError, match="dask"):
        C @ da.ones(8)


def test_misaligned_chunks_rechunk_with_a_warning(rng):
    K = KronOperator(rng.standard_normal((4, 4)), rng.standard_normal((5, 5)))
    x = rng.standard_normal(20)
    with pytest.warns(PerformanceWarning, match="split rows"):
        y = K @ da.from_array(x, chunks=7)
    np.testing.assert_allclose(run(y), K @ x, rtol=1e-12)
    with pytest.warns(PerformanceWarning, match="slabs"):
        y = K @ da.from_array(x.reshape(4, 5), chunks=(4, 2))
    np.testing.assert_allclose(run(y).ravel(), K @ x, rtol=1e-12)


def test_caller_arrays_untouched(rng):
    K = KronOperator(rng.standard_normal((4, 4)), rng.standard_normal((5, 5)))
    x = rng.standard_normal((4, 5))
    keep = x.copy()
    xd = da.from_array(x, chunks=(2, 5))
    run(K @ xd)
    run(laplacian((4, 5)).solve(xd))
    np.testing.assert_array_equal(x, keep)


def test_chunk_size_and_method_config(rng):
    K = KronOperator(rng.standard_normal((16, 16)), rng.standard_normal((16, 16)))
    x = rng.standard_normal((16, 16))
    xd = slabs(x, 2)
    sizes = _TaskSizes()
    with dask.config.set({"kronop.chunk-size": 256, "kronop.rechunk-method": "tasks"}):
        y = K @ xd
    with sizes:
        kept = y.persist(scheduler="threads")
    # the transposed layout honours the block size: 256 bytes hold 32 values,
    # so its blocks (16 × 2) and those of the two slabs (8 × 16) are the largest
    assert y.chunks == xd.chunks
    assert sizes.largest == 128
    with dask.config.set({"kronop.chunk-size": "1MiB"}):
        y2 = K @ xd
    assert len(y2.__dask_graph__()) < len(y.__dask_graph__())
    np.testing.assert_allclose(
        kept.compute().ravel(), np.kron(*K.factors) @ x.ravel(), rtol=1e-12
    )
    with (
        dask.config.set({"kronop.rechunk-method": "bogus"}),
        pytest.raises(ValueError, match="rechunk-method"),
    ):
        K @ xd
    assert slab_chunks((8, 4), chunk_size=64) == ((2, 2, 2, 2), (4,))


# ------------------------------------------------------------- a cluster
@pytest.fixture
def client():
    """A 2-process LocalCluster, the default scheduler only inside its test."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def test_local_cluster(client, rng):
    L = laplacian((16, 8, 8))
    K = KronOperator(*(rng.standard_normal((n, n)) for n in (16, 8, 8)))
    b = rng.standard_normal((16, 8, 8))
    bd = slabs(b, 4)
    x = L.solve(bd)
    y = K @ bd
    with dask.config.set({"kronop.rechunk-method": "p2p"}):
        z = K @ bd
    got_x, got_y, got_z = dask.compute(x, y, z)
    tol_close(got_x.ravel(), L.solve(b.ravel()), np.float64, 100)
    want = K @ b.ravel()
    tol_close(got_y.ravel(), want, np.float64, 100)
    tol_close(got_z.ravel(), want, np.float64, 100)


def test_banded_first_factor_needs_halos_only(rng, backend):
    band = sp.diags_array(
        [rng.standard_normal(9), rng.standard_normal(10), rng.standard_normal(9)],
        offsets=[-1, 0, 1],
        format="csr",
    )
    K = KronOperator(band, rng.standard_normal((4, 4)), rng.standard_normal((3, 5)))
    x = rng.standard_normal((10, 4, 5))
    y = build(K.__matmul__, slabs(x, 5))
    assert rechunks(y) == 0
    dense = K.toarray()
    check_close(run(y, x.size).ravel(), dense @ x.ravel(), dense, x.ravel(), np.float64)


def test_unsupported_operations_refuse_dask(rng):
    from kronop import SampledKron

    A = rng.standard_normal((4, 4))
    S = KronSum(A, A.T)
    b = da.ones(16, chunks=8)
    with pytest.raises(TypeError, match="dask"):
        S.solve(b, method="schur")
    with pytest.raises(TypeError, match="dask"):
        laplacian((4, 4)).eigh().apply(np.exp) @ b  # a matrix function
    sampled = SampledKron(KronOperator(A, A), rows=([0, 1, 2], [2, 3, 0]))
    with pytest.raises(TypeError, match="dask"):
        sampled @ b


def test_left_products_stay_lazy(rng):
    A, B = rng.standard_normal((3, 4)), rng.standard_normal((2, 5))
    K = KronOperator(A, B)
    dense = np.kron(A, B)
    x = rng.standard_normal(6)
    y = build(lambda v: v @ K, da.from_array(x, chunks=2))
    assert isinstance(y, da.Array)
    check_close(run(y), x @ dense, dense.T, x, np.float64)
    X = rng.standard_normal((3, 6))
    Y = build(lambda v: v @ K, da.from_array(X, chunks=(2, 2)))
    assert isinstance(Y, da.Array)
    assert Y.shape == (3, 20)
    check_close(run(Y).T, (X @ dense).T, dense.T, X.T, np.float64)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    n0=st.integers(1, 12),
    h=st.integers(0, 3),
    cuts=st.lists(st.integers(1, 11), max_size=4),
    kind=st.sampled_from(["sum", "product"]),
    periodic=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_banded_split_axis_any_chunks(n0, h, cuts, kind, periodic, seed):
    """Halos of any width on any slab sizes (narrower than the halo included),
    straight or wrapping around (periodic stencils)."""
    rng = np.random.default_rng(seed)
    a = np.zeros((n0, n0))
    for i in range(n0):
        for k in range(-h, h + 1):
            j = i + k
            if periodic:
                a[i, j % n0] = rng.standard_normal()
            elif 0 <= j < n0:
                a[i, j] = rng.standard_normal()
    band = sp.csr_array(a)
    B = rng.standard_normal((3, 3))
    op = KronSum(band, B) if kind == "sum" else KronOperator(band, B)
    edges = sorted({c for c in cuts if c < n0})
    chunks = tuple(np.diff([0, *edges, n0]).tolist())
    x = rng.standard_normal((n0, 3))
    y = build(op.__matmul__, da.from_array(x, chunks=(chunks, 3)))
    assert y.chunks[0] == chunks
    dense = op.toarray()
    check_close(run(y).ravel(), dense @ x.ravel(), dense, x.ravel(), np.float64)


def test_transposes_in_one_graph_get_their_own_keys(rng):
    A, B = rng.standard_normal((4, 4)), rng.standard_normal((5, 5))
    x = rng.standard_normal((4, 5))
    xd = slabs(x, 2)
    K, S = KronOperator(A, B), KronSum(A, B)
    Bd = BlockDiag(rng.standard_normal((4, 5, 5)) + 5 * np.eye(5))
    pairs = [
        (K @ xd, K.T @ xd, K @ x.ravel(), K.T @ x.ravel()),
        (S @ xd, S.T @ xd, S @ x.ravel(), S.T @ x.ravel()),
        (
            KronOperator(A, B) @ xd,
            KronOperator(np.asfortranarray(A.T), B) @ xd,
            K @ x.ravel(),
            KronOperator(A.T, B) @ x.ravel(),
        ),
        (
            Bd.solve(xd.ravel()),
            Bd.T.solve(xd.ravel()),
            Bd.solve(x.ravel()),
            Bd.T.solve(x.ravel()),
        ),
    ]
    for lazy_a, lazy_b, want_a, want_b in pairs:
        got_a, got_b = dask.compute(lazy_a, lazy_b, scheduler="threads")
        tol_close(got_a.ravel(), want_a, np.float64, 10)
        tol_close(got_b.ravel(), want_b, np.float64, 10)
    both = K + K.T
    tol_close(run(both @ xd).ravel(), both @ x.ravel(), np.float64, 10)


@pytest.mark.parametrize("parts", [2, 3, 4, 6])
@pytest.mark.parametrize("bc", ["periodic", "neumann"])
def test_periodic_and_neumann_products_use_halos(rng, parts, bc):
    L = laplacian((12, 5, 6), bc=bc)
    x = rng.standard_normal((12, 5, 6))
    y = build(L.__matmul__, slabs(x, parts))
    assert rechunks(y) == 0
    dense = L.toarray()
    check_close(run(y, x.size).ravel(), dense @ x.ravel(), dense, x.ravel(), np.float64)


def test_far_diagonal_moves_the_split_instead_of_merging(rng):
    n = 40
    far = sp.diags_array([np.ones(1), 2 * np.ones(n)], offsets=[-39, 0], format="csr")
    K = KronSum(far, rng.standard_normal((3, 3)))
    x = rng.standard_normal((n, 3))
    y = build(K.__matmul__, da.from_array(x, chunks=(10, 3)))
    assert y.chunks == ((10, 10, 10, 10), (3,))
    dense = K.toarray()
    check_close(run(y, x.size).ravel(), dense @ x.ravel(), dense, x.ravel(), np.float64)


def test_blockdiag_with_sparse_and_operator_blocks(rng):
    from scipy.sparse.linalg import aslinearoperator

    band = sp.diags_array(
        [rng.standard_normal(11), 4 + rng.random(12), rng.standard_normal(11)],
        offsets=[-1, 0, 1],
        format="csr",
    )
    general = sp.random_array(
        (6, 6), density=0.5, rng=rng, format="csr"
    ) + 6 * sp.eye_array(6)
    blocks = [
        band,
        laplacian((3, 4)),
        KronOperator(2 * np.eye(2), rng.standard_normal((3, 3)) + 3 * np.eye(3)),
        general,
    ]
    Bd = BlockDiag(blocks)
    N = Bd.shape[1]
    x = rng.standard_normal(N)
    xd = da.from_array(x, chunks=6)
    dense = Bd.toarray()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PerformanceWarning)  # chunks across blocks
        y = build(Bd.__matmul__, xd)
        s = build(Bd.solve, xd)
        t = build(Bd.H.__matmul__, xd)
    check_close(run(y), dense @ x, dense, x, np.float64)
    tol_close(run(s), np.linalg.solve(dense, x), np.float64, 100)
    check_close(run(t), dense.T @ x, dense.T, x, np.float64)
    # an opaque LinearOperator block: applied inside the tasks (warned gather of
    # its own slab along its only axis), never computed while building
    opaque = BlockDiag([aslinearoperator(rng.standard_normal((4, 4))), np.eye(2)])
    x = rng.standard_normal(6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PerformanceWarning)
        y = build(opaque.__matmul__, da.from_array(x, chunks=2))
    dense = opaque.toarray()
    check_close(run(y), dense @ x, dense, x, np.float64)


def test_kron_preconditioner_and_krylov_with_kronop_operators(rng):
    from kronop import kron_preconditioner
    from kronop.dask import cg, gmres

    n = 8
    coeff = 1 + rng.random((n, n))
    L = laplacian((n, n))
    A = L.toarray() * (1 + 0.2 * coeff.ravel())[:, None]  # variable coefficient
    A = 0.5 * (A + A.T)
    Asp = sp.csr_array(A)
    P = kron_preconditioner(Asp, (n, n), kind="sum")
    b = rng.standard_normal((n, n))
    bd = slabs(b, 2)
    # the preconditioner alone: Jacobi scalings and a fast-diagonalization solve
    tol_close(
        run(build(P.__matmul__, bd), b.size).ravel(), P @ b.ravel(), np.float64, 10
    )
    # cg with a kronop operator and a kronop preconditioner, on the grid
    op = KronSum(L.factors[0], L.factors[1])  # the Laplacian, grid-aware
    x, info = cg(op, bd, rtol=1e-10, M=P)
    assert info == 0
    assert x.shape == (n, n)
    tol_close(run(op @ x).ravel(), b.ravel(), np.float64, 1e4)
    x, info = gmres(op, bd.ravel(), rtol=1e-10, M=op.inv())
    assert info == 0
    tol_close(run(x), L.solve(b.ravel()), np.float64, 100)


def test_auto_method_is_eig_on_dask(rng):
    A, B = rng.standard_normal((4, 4)) + 4 * np.eye(4), rng.standard_normal((5, 5))
    S = KronSum(A, B + 5 * np.eye(5))  # not Hermitian: numpy's auto picks Schur
    b = rng.standard_normal((4, 5))
    tol_close(
        run(build(S.solve, slabs(b, 2))).ravel(), S.solve(b.ravel()), np.float64, 100
    )
    tol_close(
        run(build(S.eig().inverse_operator().__matmul__, slabs(b, 2))).ravel(),
        S.solve(b.ravel()),
        np.float64,
        100,
    )
    with pytest.raises(TypeError, match="method='eig'"):
        S.solve(slabs(b, 2), method="schur")
    with pytest.raises(TypeError, match="method='eig'"):
        S.inv() @ slabs(b, 2)  # inv() keeps numpy's choice, a Schur solve


def test_composites_stay_lazy(rng):
    from scipy.sparse.linalg import aslinearoperator

    L = laplacian((4, 5))
    K = KronOperator(rng.standard_normal((4, 4)), rng.standard_normal((5, 5)))
    eye = IdentityOperator((20, 20))
    x = rng.standard_normal((4, 5))
    xd = slabs(x, 2)
    ops = [
        2 * L.inv(),
        -L.inv(),
        L.inv() / 2,
        L.pinv() * 2,
        L @ L,
        L * L,
        L.inv() @ L,
        L.inv() @ L.inv(),
        L.inv() + eye,
        K**2,
        K + L,
        L @ K,
        (K + L).H,
        (L @ K).T,
        (2 * L.inv()).H,
        (K**2).T,
    ]
    for op in ops:
        want = op @ x.ravel()
        got = build(op.__matmul__, xd)
        assert isinstance(got, da.Array), type(op).__name__
        tol_close(run(got, x.size).ravel(), want, np.float64, 100)
        got = build(op.matvec, xd.ravel())
        tol_close(run(got), want, np.float64, 100)
        got = build(op.rmatvec, xd.ravel())
        tol_close(run(got), op.H @ x.ravel(), np.float64, 100)
    opaque = K + aslinearoperator(rng.standard_normal((20, 20)))
    with pytest.raises(TypeError, match="dask"):
        opaque @ xd.ravel()


def test_leading_unit_axes_are_free(rng):
    L = laplacian((1, 16, 8))
    b = rng.standard_normal((1, 16, 8))
    chunks = slab_chunks(b.shape, chunk_size=256)
    assert chunks == ((1,), (4,) * 4, (8,))
    bd = da.from_array(b, chunks=chunks)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerformanceWarning)  # no rechunk warning
        x = build(L.solve, bd)
        y = build(L.__matmul__, bd)
        z = build(L.solve, bd.ravel())
    assert x.chunks == bd.chunks
    tol_close(run(x, b.size).ravel(), L.solve(b.ravel()), np.float64, 100)
    tol_close(run(y, b.size).ravel(), L @ b.ravel(), np.float64, 10)
    tol_close(run(z, b.size), L.solve(b.ravel()), np.float64, 100)


def test_identity_term_of_a_sum_needs_no_all_to_all(rng):
    S = KronSum(np.eye(6), rng.standard_normal((4, 4)))
    x = rng.standard_normal((6, 4))
    y = build(S.__matmul__, slabs(x, 3))
    assert rechunks(y) == 0
    dense = S.toarray()
    check_close(run(y, x.size).ravel(), dense @ x.ravel(), dense, x.ravel(), np.float64)
