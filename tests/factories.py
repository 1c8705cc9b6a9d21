"""Shared case builders and oracles for the test suite.

Every test module builds its operators and dense oracles from here, so no test
module imports another. Oracles are computed in float64/complex128 (``hi``) and are
independent of kronop (``np.kron``, sums of ``np.kron``).
"""

from __future__ import annotations

from functools import reduce

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator

import kronop

DTYPES = [np.float32, np.float64, np.complex64, np.complex128]
LINALG_DTYPES = [np.float32, np.float64, np.complex128]


# ---------------------------------------------------------------- numbers
def random_array(rng, shape, dtype):
    """Random test data in ``dtype`` (complex gets a random imaginary part)."""
    a = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(dtype)


def eps(dtype) -> float:
    """Unit roundoff of the real type underlying ``dtype``."""
    return float(np.finfo(np.dtype(dtype)).eps)


def hi(a):
    """The array in float64/complex128 (for exact-to-working-precision oracles)."""
    a = np.asarray(a)
    return a.astype(np.complex128 if a.dtype.kind == "c" else np.float64)


def dense_of(a) -> np.ndarray:
    """A factor (ndarray, sparse or operator) as a dense ndarray."""
    if sp.issparse(a):
        return a.toarray()
    if hasattr(a, "matmat"):
        return a.matmat(np.eye(a.shape[1], dtype=a.dtype))
    return np.asarray(a)


def rel(a, b) -> float:
    """Relative 2-norm (Frobenius) distance of a from b."""
    a, b = np.asarray(a), np.asarray(b)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), np.finfo(float).tiny))


def check_close(got, want, dense, x, dtype, inner: int | None = None, c: float = 8.0):
    """Assert ``got ≈ want = dense @ x`` within a dtype-scaled forward-error bound.

    ``|got − want| ≤ c · ε · k · (|dense| @ |x|)`` with k the number of terms summed
    per output (the inner dimension when known). ``want`` and ``dense`` are exact to
    working precision (computed in float64/complex128).
    """
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    scale = np.abs(dense) @ np.abs(x)
    k = inner if inner is not None else max(dense.shape)
    bound = c * eps(dtype) * max(k, 1) * (scale + np.finfo(np.float64).tiny)
    err = np.abs(got.astype(np.complex128) - want)
    worst = float(np.max(err / bound)) if err.size else 0.0
    assert worst <= 1.0, f"error {worst:.3g}× over the bound (dtype {np.dtype(dtype)})"


# ------------------------------------------------------------ matrices
def hpd(rng, n, dtype, cond=10.0):
    """Hermitian positive definite with a prescribed condition number."""
    q, _ = np.linalg.qr(
        random_array(
            rng, (n, n), np.complex128 if np.dtype(dtype).kind == "c" else np.float64
        )
    )
    w = np.geomspace(1.0, cond, n)
    a = (q * w) @ q.conj().T
    return ((a + a.conj().T) / 2).astype(dtype)


def spd(rng, n, shift=1.0):
    """A random real symmetric positive definite matrix (float64)."""
    a = rng.standard_normal((n, n))
    return a @ a.T / n + shift * np.eye(n)


def general(rng, n, dtype):
    """A random square matrix, shifted away from singularity."""
    a = random_array(rng, (n, n), dtype)
    return (a + 2 * np.eye(n)).astype(dtype)


def tridiag(n, dtype):
    """tridiag(−1, 2.5, −1) as CSR: sparse, symmetric positive definite."""
    return sp.diags_array(
        [[-1.0] * (n - 1), [2.5] * n, [-1.0] * (n - 1)],
        offsets=[-1, 0, 1],
        format="csr",
    ).astype(dtype)


def jordan(n, dtype):
    """A non-normal factor: 2 on the diagonal, 1 above (one Jordan block)."""
    return (2.0 * np.eye(n) + np.eye(n, k=1)).astype(dtype)


def fem_1d(n, h=1.0):
    """Linear finite elements on a uniform grid, Dirichlet: stiffness and mass."""
    K = (
        sp.diags_array(
            [[-1.0] * (n - 1), [2.0] * n, [-1.0] * (n - 1)], offsets=[-1, 0, 1]
        )
        / h
    )
    M = sp.diags_array(
        [[1.0] * (n - 1), [4.0] * n, [1.0] * (n - 1)], offsets=[-1, 0, 1]
    ) * (h / 6)
    return K.tocsr(), M.tocsr()


# --------------------------------------------------------------- oracles
def kron_dense(mats):
    """np.kron of the factors, in high precision."""
    return reduce(np.kron, [hi(dense_of(m)) for m in mats])


def ksum_dense(denses, masses=None, shift=0.0):
    """Σⱼ kron(M₁, …, Aⱼ, …, M_d) + shift·kron(M…), in high precision."""
    d = len(denses)
    if masses is None:
        masses = [np.eye(dense_of(a).shape[0]) for a in denses]
    masses = [
        np.eye(dense_of(a).shape[0]) if m is None else dense_of(m)
        for a, m in zip(denses, masses, strict=True)
    ]
    out = 0
    for j in range(d):
        mats = [hi(m) for m in masses]
        mats[j] = hi(dense_of(denses[j]))
        out = out + reduce(np.kron, mats)
    if shift != 0:
        out = out + shift * reduce(np.kron, [hi(m) for m in masses])
    return out


# ------------------------------------------------------- factor specs
def make_factor(m, n, kind, dtype, rng):
    """Return (factor, dense) for one Kronecker-product factor spec."""
    a = random_array(rng, (m, n), dtype)
    if kind == "dense":
        return a, a
    if kind == "csr":
        s = sp.random_array((m, n), density=0.6, rng=rng, format="csr").astype(dtype)
        return s, s.toarray()
    if kind == "csc_matrix":
        s = sp.csc_matrix(sp.random_array((m, n), density=0.6, rng=rng)).astype(dtype)
        return s, s.toarray()
    if kind == "coo":
        s = sp.coo_array(a * (rng.random((m, n)) < 0.5))
        return s, s.toarray()
    if kind == "linop":
        return aslinearoperator(a), a
    if kind == "identity":
        return np.eye(m, dtype=dtype), np.eye(m)
    if kind == "identity_op":
        return kronop.IdentityOperator((m, m), dtype=dtype), np.eye(m)
    if kind == "nested":
        b = random_array(rng, (2, 1), dtype)
        c = random_array(rng, (m, n), dtype)
        return kronop.KronOperator(b, c), np.kron(b, c)
    raise AssertionError(kind)


def make_square(n, kind, dtype, rng):
    """Return (factor, dense) for one square Kronecker-sum factor spec."""
    if kind == "dense":
        a = random_array(rng, (n, n), dtype)
        return a, a
    if kind == "band-const":
        # constant diagonals with boundary runs: scalar stencil terms
        main = np.full(n, 2.0)
        main[0] = main[-1] = 1.0
        a = sp.diags_array(
            [np.full(n - 1, -1.5), main, np.full(n - 1, 0.5)],
            offsets=[-1, 0, 1],
            format="csr",
        ).astype(dtype)
        return a, a.toarray()
    if kind == "band-vec":
        # random values on five diagonals: vector stencil terms
        diags = [random_array(rng, n - abs(k), dtype) for k in (-2, -1, 0, 1, 2)]
        a = sp.diags_array(diags, offsets=[-2, -1, 0, 1, 2], format="csr")
        return a, a.toarray()
    if kind == "band-periodic":
        a = sp.diags_array(
            [
                [-1.0],
                np.full(n - 1, -1.0),
                np.full(n, 2.0),
                np.full(n - 1, -1.0),
                [-1.0],
            ],
            offsets=[-(n - 1), -1, 0, 1, n - 1],
            format="csr",
        ).astype(dtype)
        return a, a.toarray()
    if kind == "sparse-general":
        a = sp.random_array((n, n), density=0.7, rng=rng, format="csr").astype(dtype)
        anti = random_array(rng, (n, 1), dtype) * (
            np.arange(n)[None, :] == (n - 1 - np.arange(n))[:, None]
        )
        a = sp.csr_array(a + sp.csr_array(anti))
        return a, a.toarray()
    if kind == "csc_matrix":
        a = sp.csc_matrix(sp.random_array((n, n), density=0.6, rng=rng)).astype(dtype)
        return a, a.toarray()
    if kind == "linop":
        a = random_array(rng, (n, n), dtype)
        return aslinearoperator(a), a
    if kind == "identity":
        return np.eye(n, dtype=dtype), np.eye(n)
    if kind == "identity_op":
        return kronop.IdentityOperator((n, n), dtype=dtype), np.eye(n)
    raise AssertionError(kind)


def linalg_factor(kind, n, dtype, rng):
    """A square factor for the linear-algebra suites.

    Kinds: ``hpd``, ``hpd-ill`` (κ = 1e3 in single, 1e6 in double precision),
    ``general``, ``jordan``, ``sparse-hpd``, ``sparse-general``.
    """
    if kind == "hpd":
        return hpd(rng, n, dtype)
    if kind == "hpd-ill":
        # κ = 1e3 in float32 keeps the oracle meaningful; 1e6 in double
        cond = 1e3 if np.dtype(dtype).itemsize <= 4 else 1e6
        return hpd(rng, n, dtype, cond=cond)
    if kind == "general":
        return general(rng, n, dtype)
    if kind == "general-shifted":
        return (general(rng, n, dtype) + np.eye(n, dtype=dtype)).astype(dtype)
    if kind == "jordan":
        return jordan(n, dtype)
    if kind == "sparse-hpd":
        return tridiag(n, dtype)
    if kind == "sparse-general":
        return sp.csr_array(
            general(rng, n, dtype) * (rng.random((n, n)) < 0.7)
            + 3 * np.eye(n, dtype=dtype)
        )
    raise AssertionError(kind)


def peak_bytes(fn, *args, **kwargs):
    """``(fn(*args, **kwargs), peak bytes numpy and Python allocated meanwhile)``."""
    import tracemalloc

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = fn(*args, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return out, peak


def no_dense_eigensolver(monkeypatch) -> None:
    """Make numpy's and scipy's dense eigensolvers raise (for "analytic" tests)."""
    import scipy.linalg as sla

    def boom(*args, **kwargs):
        raise AssertionError("called a dense eigensolver")

    for name in ("eig", "eigh"):
        monkeypatch.setattr(np.linalg, name, boom)
        monkeypatch.setattr(sla, name, boom)


def variable_diffusion(n, coeff):
    """7-point finite volumes for −∇·(a∇u) on (0,1)³, n³ unknowns, Dirichlet.

    The coefficient is evaluated at the face centres; h = 1/(n+1).
    """
    h = 1.0 / (n + 1)
    nodes = (np.arange(n) + 1.0) * h
    faces = (np.arange(n + 1) + 0.5) * h
    idx = np.arange(n**3).reshape(n, n, n)
    diag = np.zeros((n, n, n))
    rows, cols, vals = [idx.ravel()], [idx.ravel()], []
    for j in range(3):
        grids = [nodes, nodes, nodes]
        grids[j] = faces
        w = coeff(*np.meshgrid(*grids, indexing="ij")) / h**2
        lo, up, first, last = ([slice(None)] * 3 for _ in range(4))
        lo[j], up[j] = slice(0, n), slice(1, n + 1)
        diag += w[tuple(lo)] + w[tuple(up)]
        first[j], last[j] = slice(0, n - 1), slice(1, n)
        r, c = idx[tuple(first)].ravel(), idx[tuple(last)].ravel()
        v = -w[tuple(last)].ravel()  # the face between node i and i+1 along axis j
        rows += [r, c]
        cols += [c, r]
        vals += [v, v]
    vals.insert(0, diag.ravel())
    N = n**3
    return sp.csr_array(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(N, N),
    )
