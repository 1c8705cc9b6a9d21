"""Krylov solvers on dask arrays: kronop._dask_krylov.cg and .gmres."""

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
sla = pytest.importorskip("scipy.sparse.linalg")

from kronop._dask_krylov import _as_apply, cg, gmres

N = 40
CHUNK = 15  # uneven chunks on purpose: 15, 15, 10


def _complex(dtype):
    return np.dtype(dtype).kind == "c"


def _random(rng, shape, dtype):
    out = rng.standard_normal(shape)
    if _complex(dtype):
        out = out + 1j * rng.standard_normal(shape)
    return out.astype(dtype)


def _spd(rng, n, dtype):
    """Hermitian positive definite, condition number about 20."""
    q, _ = np.linalg.qr(
        _random(rng, (n, n), np.complex128 if _complex(dtype) else float)
    )
    eig = np.linspace(1.0, 20.0, n)
    return ((q * eig) @ q.conj().T).astype(dtype)


def _nonsymmetric(rng, n, dtype):
    return (_random(rng, (n, n), dtype) + 3 * n**0.5 * np.eye(n)).astype(dtype)


def _dask(a, chunk=CHUNK):
    return da.from_array(a, chunks=chunk)


def _relres(A, x, b):
    x = np.asarray(x, dtype=np.complex128)
    return np.linalg.norm(b - A @ x) / np.linalg.norm(b)


TOL = {np.float32: 3e-4, np.float64: 1e-8, np.complex64: 3e-4, np.complex128: 1e-8}
DTYPES = [np.float32, np.float64, np.complex64, np.complex128]


# -- agreement with scipy and with a direct solve -------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_cg_matches_scipy_and_solve(rng, dtype):
    A = _spd(rng, N, dtype)
    b = _random(rng, N, dtype)
    rtol = TOL[dtype]
    x, info = cg(_dask(A), _dask(b), rtol=rtol)
    assert isinstance(x, da.Array)
    assert (info, x.dtype, x.shape, x.chunks) == (
        0,
        np.dtype(dtype),
        b.shape,
        _dask(b).chunks,
    )
    xs, info_s = sla.cg(A, b, rtol=rtol)
    assert info_s == 0
    xc = x.compute()
    exact = np.linalg.solve(A.astype(np.complex128), b)
    # the recursive residual meets rtol; the true one may drift by rounding
    assert _relres(A, xc, b) <= 2 * rtol
    # error bound from the residual: cond(A) * relative residual
    assert np.linalg.norm(xc - exact) <= 2 * 20 * rtol * np.linalg.norm(exact)
    assert np.linalg.norm(xc - xs) <= 4 * 20 * rtol * np.linalg.norm(exact)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gmres_matches_scipy_on_a_nonsymmetric_matrix(rng, dtype):
    A = _nonsymmetric(rng, N, dtype)
    b = _random(rng, N, dtype)
    rtol = TOL[dtype]
    x, info = gmres(_dask(A), _dask(b), rtol=rtol, restart=8)
    xs, info_s = sla.gmres(A, b, rtol=rtol, restart=8)
    assert (info, info_s) == (0, 0)
    assert (x.dtype, x.chunks) == (np.dtype(dtype), _dask(b).chunks)
    xc = x.compute()
    exact = np.linalg.solve(A.astype(np.complex128), b)
    cond = np.linalg.cond(A.astype(np.complex128))
    assert _relres(A, xc, b) <= 2 * rtol  # gmres checks the true residual
    assert np.linalg.norm(xc - exact) <= 2 * cond * rtol * np.linalg.norm(exact)
    if np.finfo(dtype).eps < 1e-10:
        # the same algorithm as scipy (left preconditioning, same inner tolerance)
        assert np.linalg.norm(xc - xs) <= 1e-10 * np.linalg.norm(exact)


# -- preconditioners --------------------------------------------------------------


def _jacobi_problem(rng):
    """SPD with a wildly scaled diagonal, so that Jacobi helps a lot."""
    scale = np.logspace(0, 3, N)
    A = _spd(rng, N, float) * np.sqrt(np.outer(scale, scale))
    return A, rng.standard_normal(N)


@pytest.mark.parametrize("solver", ["cg", "gmres"])
def test_preconditioner_as_callable_and_as_dask_matrix(rng, solver):
    A, b = _jacobi_problem(rng)
    d = np.diag(A).copy()
    dd = _dask(d)
    solve = {"cg": cg, "gmres": gmres}[solver]
    sp = {"cg": sla.cg, "gmres": sla.gmres}[solver]
    Ad, bd = _dask(A), _dask(b)
    # full GMRES (one cycle): restarted GMRES stagnates without the preconditioner
    kw = {"restart": N} if solver == "gmres" else {}

    counts = {}
    for label, M in [
        ("none", None),
        ("callable", lambda r: r / dd),
        ("matrix", _dask(np.diag(1 / d))),
    ]:
        calls = []
        x, info = solve(Ad, bd, rtol=1e-8, M=M, callback=calls.append, **kw)
        assert info == 0, label
        assert _relres(A, x.compute(), b) <= 1e-6
        counts[label] = len(calls)
    assert counts["callable"] == counts["matrix"]
    if solver == "cg":
        assert counts["callable"] < counts["none"] / 2
    Ms = sla.LinearOperator(A.shape, matvec=lambda r: r / d, dtype=float)
    xs, _ = sp(A, b, rtol=1e-8, M=Ms, **kw)
    x, _ = solve(Ad, bd, rtol=1e-8, M=lambda r: r / dd, **kw)
    np.testing.assert_allclose(x.compute(), xs, rtol=1e-5, atol=1e-12)


# -- x0, atol, maxiter, b = 0 ---------------------------------------------------


@pytest.mark.parametrize("solver", [cg, gmres])
def test_x0_is_used_and_not_modified(rng, solver):
    A = _spd(rng, N, float)
    b = rng.standard_normal(N)
    exact = np.linalg.solve(A, b)
    x0 = exact + 1e-4 * rng.standard_normal(N)
    x0_copy = x0.copy()
    cold, warm = [], []
    kw = {"restart": 4} if solver is gmres else {}
    solver(_dask(A), _dask(b), rtol=1e-9, callback=cold.append, **kw)
    for start in (x0, _dask(x0, chunk=7)):  # numpy, and dask with other chunks
        warm.clear()
        x, info = solver(
            _dask(A), _dask(b), start, rtol=1e-9, callback=warm.append, **kw
        )
        assert info == 0
        assert x.chunks == _dask(b).chunks
        np.testing.assert_allclose(x.compute(), exact, rtol=1e-6)
        assert len(warm) < len(cold)
    np.testing.assert_array_equal(x0, x0_copy)


@pytest.mark.parametrize("solver", [cg, gmres])
def test_atol_alone(rng, solver):
    A = _spd(rng, N, float)
    b = 100 * rng.standard_normal(N)
    x, info = solver(_dask(A), _dask(b), rtol=0.0, atol=1e-3)
    assert info == 0
    assert np.linalg.norm(b - A @ x.compute()) <= 2e-3
    # and the looser of the two tolerances wins
    x, info = solver(_dask(A), _dask(b), rtol=1e-12, atol=1.0)
    assert info == 0
    assert np.linalg.norm(b - A @ x.compute()) <= 2.0


def test_maxiter_reached_gives_positive_info(rng):
    A = _spd(rng, N, float)
    b = rng.standard_normal(N)
    x, info = cg(_dask(A), _dask(b), rtol=1e-14, maxiter=3)
    assert info == 3
    _, info_s = sla.cg(A, b, rtol=1e-14, maxiter=3)
    assert info_s == 3
    An = _nonsymmetric(rng, N, float)
    x, info = gmres(_dask(An), _dask(b), rtol=1e-14, restart=2, maxiter=3)
    assert info == 3
    assert x.shape == b.shape


@pytest.mark.parametrize("solver", [cg, gmres])
@pytest.mark.parametrize("with_x0", [False, True])
def test_zero_rhs_gives_zero_without_iterating(rng, solver, with_x0):
    A = _spd(rng, N, float)
    b = _dask(np.zeros(N))
    calls = []
    x0 = rng.standard_normal(N) if with_x0 else None
    x, info = solver(_dask(A), b, x0, callback=calls.append)
    assert info == 0
    assert calls == []
    assert x.chunks == b.chunks
    np.testing.assert_array_equal(x.compute(), np.zeros(N))


def test_dtype_promotion(rng):
    A = _spd(rng, N, float)
    b_int = _dask(np.arange(N))
    x, info = cg(_dask(A), b_int, rtol=1e-8)
    assert (info, x.dtype) == (0, np.float64)
    # float32 right-hand side, float64 operator: float64 result
    x, info = gmres(_dask(A), _dask(np.ones(N, np.float32)), rtol=1e-8)
    assert (info, x.dtype) == (0, np.float64)
    # a callable has no dtype: b's dtype is kept
    A32 = _dask(A.astype(np.float32))
    x, info = cg(lambda v: A32 @ v, _dask(np.ones(N, np.float32)), rtol=1e-4)
    assert (info, x.dtype) == (0, np.float32)


# -- errors -------------------------------------------------------------------


@pytest.mark.parametrize("solver", [cg, gmres])
def test_input_errors(rng, solver):
    A = _dask(_spd(rng, N, float))
    b = _dask(rng.standard_normal(N))
    with pytest.raises(ValueError, match=r"x0 must have the shape of b \(40,\)"):
        solver(A, b, np.zeros(N + 1))
    with pytest.raises(ValueError, match=r"A must have shape \(40, 40\)"):
        solver(_dask(np.eye(N + 1)), b)
    with pytest.raises(TypeError, match=r"A must support `A @ x`.*received.*str"):
        solver("A", b)
    with pytest.raises(TypeError, match=r"M must support `M @ x`.*int"):
        solver(A, b, M=3)
    with pytest.raises(ValueError, match="atol must be"):
        solver(A, b, atol=-1.0)
    with pytest.raises(ValueError, match="rtol must be"):
        solver(A, b, rtol=float("nan"))
    with pytest.raises(ValueError, match="maxiter must be a positive integer"):
        solver(A, b, maxiter=0)
    with pytest.raises(ValueError, match="same shape; received shape"):
        solver(lambda v: v[:-1], b)
    with pytest.raises(TypeError, match="must return a dask array"):
        solver(lambda v: 1.0, b)
    with pytest.raises(ValueError, match="at least one dimension"):
        solver(A, da.asarray(1.0))


def test_gmres_only_errors(rng):
    A = _dask(_spd(rng, N, float))
    b = _dask(rng.standard_normal(N))
    with pytest.raises(ValueError, match="callback_type must be None or 'x'"):
        gmres(A, b, callback=print, callback_type="pr_norm")
    with pytest.raises(ValueError, match="restart must be a positive integer"):
        gmres(A, b, restart=0)
    _, info = gmres(A, b, callback_type="x", rtol=1e-8)
    assert info == 0


def test_as_apply():
    matrix = np.eye(2)
    assert _as_apply(matrix, "A")(np.ones(2)).tolist() == [1.0, 1.0]
    assert _as_apply(lambda v: 2 * v, "M")(np.ones(2)).tolist() == [2.0, 2.0]
    with pytest.raises(TypeError, match=r"M must support .*received an object of type"):
        _as_apply(object(), "M")


def test_breakdown_gives_negative_info(rng):
    b = _dask(rng.standard_normal(N))
    # zero operator: CG's step length is 0/0, GMRES's Krylov space is {0}
    x, info = cg(lambda v: 0 * v, b)
    assert info < 0
    x, info = gmres(lambda v: 0 * v, b)
    assert info < 0
    assert x.shape == b.shape


# -- callbacks and the size of the task graph --------------------------------------


def test_callback_once_per_iteration(rng):
    A = _spd(rng, N, float)
    b = rng.standard_normal(N)
    seen = []
    x, info = cg(_dask(A), _dask(b), rtol=1e-14, maxiter=4, callback=seen.append)
    assert info == 4
    assert len(seen) == 4
    assert all(isinstance(s, da.Array) and s.shape == (N,) for s in seen)
    np.testing.assert_array_equal(seen[-1].compute(), x.compute())
    # scipy calls its callback as often, with the same iterates
    ref = []
    sla.cg(A, b, rtol=1e-14, maxiter=4, callback=lambda xk: ref.append(xk.copy()))
    np.testing.assert_allclose(
        np.array([s.compute() for s in seen]), np.array(ref), rtol=1e-8, atol=1e-12
    )
    # gmres: once per restart cycle
    seen.clear()
    gmres(_dask(A), _dask(b), rtol=1e-14, restart=3, maxiter=5, callback=seen.append)
    assert len(seen) == 5


def _graph_size(x):
    return len(dict(x.__dask_graph__()))


def test_graph_does_not_grow_with_iterations(rng):
    # an ill-conditioned SPD matrix: no convergence to 1e-15 in 50 iterations
    q, _ = np.linalg.qr(rng.standard_normal((N, N)))
    A = _dask((q * np.logspace(0, 8, N)) @ q.T)
    b = _dask(rng.standard_normal(N))
    x5, info5 = cg(A, b, rtol=1e-15, maxiter=5)
    x50, info50 = cg(A, b, rtol=1e-15, maxiter=50)
    assert (info5, info50) == (5, 50)
    assert _graph_size(x5) == _graph_size(x50) == len(b.chunks[0])
    g2, info2 = gmres(A, b, rtol=1e-15, restart=4, maxiter=2)
    g8, info8 = gmres(A, b, rtol=1e-15, restart=4, maxiter=8)
    assert (info2, info8) == (2, 8)
    assert _graph_size(g2) == _graph_size(g8) == len(b.chunks[0])


# -- grid-shaped right-hand sides with an operator on N-d arrays ------------------------


class _GridLaplacian:
    """``K0 ⊗ I + I ⊗ K1`` acting on (n0, n1) dask arrays (C order), shift > 0."""

    def __init__(self, n0, n1, shift=0.5):
        self.K0 = self._second_difference(n0, shift)
        self.K1 = self._second_difference(n1, shift)
        n = n0 * n1
        self.shape = (n, n)
        self.dtype = np.dtype(float)

    @staticmethod
    def _second_difference(n, shift):
        return (2 + shift) * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)

    def dense(self):
        n0, n1 = len(self.K0), len(self.K1)
        return np.kron(self.K0, np.eye(n1)) + np.kron(np.eye(n0), self.K1)

    def __matmul__(self, x):
        # axis 0 is one chunk, so the tensordot needs no communication
        along0 = da.tensordot(da.from_array(self.K0), x, axes=(1, 0))
        return along0 + x @ da.from_array(self.K1, chunks=x.chunks[1][0])


@pytest.mark.parametrize("solver", [cg, gmres])
def test_grid_shaped_rhs(rng, solver):
    n0, n1 = 6, 10
    op = _GridLaplacian(n0, n1)
    b = rng.standard_normal((n0, n1))
    bd = da.from_array(b, chunks=(n0, 4))
    x0 = da.from_array(0.1 * rng.standard_normal((n0, n1)), chunks=(n0, 4))
    kw = {"restart": 30} if solver is gmres else {}
    x, info = solver(op, bd, x0, rtol=1e-10, **kw)
    assert info == 0
    assert (x.shape, x.chunks) == (bd.shape, bd.chunks)
    exact = np.linalg.solve(op.dense(), b.ravel()).reshape(n0, n1)
    np.testing.assert_allclose(x.compute(), exact, rtol=1e-7, atol=1e-9)


def test_numpy_matrix_and_numpy_rhs(rng):
    A = _spd(rng, N, float)
    b = rng.standard_normal(N)
    x, info = cg(A, b, rtol=1e-10)  # numpy A @ dask x is a dask array
    assert info == 0
    assert isinstance(x, da.Array)
    np.testing.assert_allclose(x.compute(), np.linalg.solve(A, b), rtol=1e-7)


# -- a dask.distributed cluster ------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=50,
    ) as cluster:
        yield cluster


def test_on_a_local_cluster(rng, cluster):
    distributed = pytest.importorskip("distributed")
    A = _spd(rng, N, float)
    An = _nonsymmetric(rng, N, float)
    b = rng.standard_normal(N)
    d = _dask(1 / np.diag(A))
    with distributed.Client(cluster):
        x, info = cg(_dask(A), _dask(b), rtol=1e-10, M=_dask(np.diag(1 / np.diag(A))))
        assert info == 0
        np.testing.assert_allclose(x.compute(), np.linalg.solve(A, b), rtol=1e-7)
        x, info = gmres(_dask(An), _dask(b), rtol=1e-10, M=lambda r: r * d, restart=10)
        assert info == 0
        np.testing.assert_allclose(x.compute(), np.linalg.solve(An, b), rtol=1e-7)
        assert _graph_size(x) == len(x.chunks[0])


@pytest.mark.parametrize("solver", [cg, gmres])
def test_grid_chunked_along_every_axis(rng, solver):
    # a diagonal operator as a callable, on a 3-d grid chunked along all axes
    d = da.from_array(rng.uniform(1.0, 2.0, (4, 5, 6)), chunks=(2, 3, 4))
    b = da.from_array(rng.standard_normal((4, 5, 6)), chunks=(2, 3, 4))
    x, info = solver(lambda v: d * v, b, rtol=1e-10)
    assert info == 0
    assert x.chunks == b.chunks
    np.testing.assert_allclose(x.compute(), (b / d).compute(), rtol=1e-8)


# -- how often the scheduler runs --------------------------------------------------


def _count_scheduler_calls(run):
    calls = []

    def get(dsk, keys, **kwargs):
        calls.append(keys)
        return dask.threaded.get(dsk, keys, **kwargs)

    with dask.config.set(scheduler=get):
        run()
    return len(calls)


def test_scheduler_runs_per_iteration(rng):
    A = _dask(_spd(rng, N, float))
    b = _dask(rng.standard_normal(N))

    def cg_calls(maxiter):
        return _count_scheduler_calls(lambda: cg(A, b, rtol=1e-15, maxiter=maxiter))

    # one persist of the vectors and one compute of the scalars per iteration
    assert cg_calls(6) - cg_calls(3) == 3 * 2

    def gmres_calls(maxiter):
        return _count_scheduler_calls(
            lambda: gmres(A, b, rtol=1e-15, restart=3, maxiter=maxiter)
        )

    # per restart cycle of m inner iterations: m persists of a basis vector and
    # two computes each, plus one persist and one compute for the new iterate
    assert gmres_calls(2) - gmres_calls(1) == 3 * 3 + 2
