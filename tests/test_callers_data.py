"""The caller's data is never changed, and nothing returned aliases a cache.

DESIGN §2: factors are used by reference and never modified (sparse index arrays
included), and every array an operator returns is either fresh or read-only, so
scribbling on it cannot change a later answer.
"""

import numpy as np
import pytest
import scipy.sparse as sp

from kronop import KronOperator, KronSum, laplacian

from .factories import hpd


def _non_canonical(fmt):
    """A sparse matrix with duplicate and unsorted entries."""
    data = np.array([2.0, 1.0, 3.0, 0.5, 4.0])
    rows = np.array([0, 0, 1, 0, 2])
    cols = np.array([1, 0, 1, 1, 2])
    if fmt == "coo":
        m = sp.coo_array(
            (np.r_[data, 1, 1, 1], (np.r_[rows, 0, 1, 2], np.r_[cols, 0, 1, 2])),
            shape=(3, 3),
        )
    else:
        m = getattr(sp, f"{fmt}_array")(
            sp.coo_array(
                (np.r_[data, 1, 1, 1], (np.r_[rows, 0, 1, 2], np.r_[cols, 0, 1, 2])),
                shape=(3, 3),
            )
        )
        if fmt in ("csr", "csc"):  # make it non-canonical again: duplicates, unsorted
            m = type(m)(
                (m.data[::-1].copy(), m.indices[::-1].copy(), m.indptr.copy()),
                shape=(3, 3),
            )
    return m


def _snapshot(a):
    if sp.issparse(a):
        return [
            np.array(getattr(a, k), copy=True)
            for k in ("data", "indices", "indptr", "row", "col", "offsets")
            if hasattr(a, k)
        ]
    return [np.array(a, copy=True)]


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "dense-int", "dense-f32"])
@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")  # non-normal eig()
def test_factors_are_never_modified(fmt):
    rng = np.random.default_rng(0)
    if fmt.startswith("dense"):
        f = (np.eye(3) * 3 + np.triu(np.ones((3, 3)), 1)).astype(
            np.int64 if fmt == "dense-int" else np.float32
        )
    else:
        f = _non_canonical(fmt)
    g = hpd(rng, 2, float)
    keep = _snapshot(f)
    b = rng.standard_normal(6)
    for op in (KronOperator(f, g), KronSum(f, g), KronSum(g, f).shift(0.5)):
        op @ b, op.H @ b, op.T @ b, 2.0 * op @ b
        op.solve(b), op.slogdet(), op.inv() @ b, op.eig(), op.trace(), op.diagonal()
        op.norm(), op.norm(1), op.norm(2), op.eigvals()
        # the transpose of a CSC factor is a CSR view of the caller's arrays
        for t in (op.T, op.H):
            t.solve(b), t.slogdet(), t.inv() @ b, t.eig(), t.eigvals(), t.norm(1)
            t.toarray(), t.diagonal()
    for before, after in zip(keep, _snapshot(f), strict=True):
        np.testing.assert_array_equal(before, after)


def _scribble(obj, seen=None):
    """Overwrite every writable array reachable from a returned object."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        if obj.flags.writeable:
            obj[...] = 7.0
        return
    if sp.issparse(obj):
        if obj.data.flags.writeable:
            obj.data[...] = 7.0
        return
    if isinstance(obj, tuple | list):
        for x in obj:
            _scribble(x, seen)
        return
    for name in ("factors", "values", "vectors", "inverse", "U", "s", "Vh"):
        if hasattr(obj, name) and not callable(getattr(type(obj), name, None)):
            _scribble(getattr(obj, name), seen)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("which", ["kron", "kronsum", "laplacian"])
def test_returned_objects_never_alias_caches(which, dtype):
    rng = np.random.default_rng(1)
    A, B = hpd(rng, 3, dtype, cond=1e8), hpd(rng, 2, dtype)  # eigen-solve factors too
    op = {
        "kron": KronOperator(A, B),
        "kronsum": KronSum(A, B),
        "laplacian": laplacian((3, 2)),
    }[which]
    b = rng.standard_normal(6)
    x0, ld0, w0 = op.solve(b), op.slogdet(), op.eigvals()
    f0 = op.eigh().apply(np.sqrt) @ b
    # f(K) operators and the adjoint share the cached eigenvectors (for complex
    # factors Vᴴ is new memory the decomposition keeps)
    returned = [
        op.eig().inverse,
        op.eigh().apply(np.abs),
        op.H,
        op.H.inv(),
        op.inv(),
        op.eigh(),
        np.asarray(op.eigh()[0]),
        op.eigvals(),
        op.diagonal(),
    ]
    returned += [op.eigh().eigvals(2), op.factorization()]
    if which == "kron":
        returned += [op.svd(), op.cholesky(), op.pinv(), op.sqrt(), op.eig(), op.logm()]
    for obj in returned:
        _scribble(obj)
    np.testing.assert_array_equal(op.solve(b), x0)
    assert op.slogdet() == ld0
    np.testing.assert_array_equal(op.eigvals(), w0)
    np.testing.assert_array_equal(op.inv() @ b, x0)
    np.testing.assert_array_equal(op.eigh().apply(np.sqrt) @ b, f0)
