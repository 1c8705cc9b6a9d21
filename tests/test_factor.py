"""Validation and normalisation of factors."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, aslinearoperator
from scipy.sparse.linalg._interface import IdentityOperator

from kronop import KronOperator, KronSum, laplacian
from kronop._factor import (
    DenseFactor,
    EigenSolveFactor,
    IdentityFactor,
    OperatorFactor,
    SparseFactor,
    as_factor,
)


def test_no_factors():
    with pytest.raises(ValueError, match="at least one factor"):
        KronOperator()
    with pytest.raises(ValueError, match="at least one factor"):
        KronOperator([])


@pytest.mark.parametrize(
    ("bad", "msg"),
    [
        (np.ones(3), r"factor 1 must be a 2-D matrix.*shape \(3,\).*np.diag"),
        (np.ones((2, 2, 2)), r"factor 1 must be a 2-D matrix.*\(2, 2, 2\)"),
        (np.float64(3.0), r"factor 1 must be a 2-D matrix.*\(\)"),
        (np.ones((0, 3)), r"factor 1 has shape 0×3"),
    ],
)
def test_bad_shapes_name_the_factor(bad, msg):
    with pytest.raises(ValueError, match=msg):
        KronOperator(np.eye(2), bad)


@pytest.mark.parametrize(
    "bad",
    [
        np.array([["a", "b"], ["c", "d"]]),
        np.array([[object(), 1], [2, 3]], dtype=object),
        np.array([[1, 2]], dtype="datetime64[s]"),
    ],
)
def test_non_numeric_dtype_is_type_error(bad):
    with pytest.raises(TypeError, match="factor 0 must have a numeric dtype"):
        KronOperator(bad, np.eye(2))


def test_linear_operator_without_dtype():
    class NoDtype(LinearOperator):
        def __init__(self):
            super().__init__(dtype=None, shape=(2, 2))

        def _matvec(self, x):
            return x

    with pytest.raises(TypeError, match="factor 0 is a LinearOperator with dtype=None"):
        KronOperator(NoDtype())


def test_integer_and_bool_factors_promote_to_float64():
    K = KronOperator(
        np.array([[1, 2], [3, 4]]), np.array([[True, False], [True, True]])
    )
    assert K.dtype == np.float64
    assert all(f.dtype == np.float64 for f in K.factors)
    dense = np.kron(
        np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 0.0], [1.0, 1.0]])
    )
    np.testing.assert_array_equal(K @ np.ones(4), dense @ np.ones(4))
    S = KronOperator(sp.csr_array(np.array([[1, 0], [0, 2]], dtype=np.int32)))
    assert S.dtype == np.float64
    assert sp.issparse(S.factors[0])


def test_float16_promotes_to_float32():
    K = KronOperator(np.eye(2, dtype=np.float16) * 2)
    assert K.dtype == np.float32


def test_kinds_and_user_factors_are_kept():
    a = np.arange(6.0).reshape(2, 3)
    s = sp.csr_matrix(np.array([[1.0, 0.0], [2.0, 3.0]]))
    lo = aslinearoperator(np.ones((2, 2)))
    users = (a, s, lo, np.eye(3), IdentityOperator((2, 2), dtype=float))
    K = KronOperator(*users)
    kinds = [type(as_factor(u, j)) for j, u in enumerate(users)]
    assert kinds == [
        DenseFactor,
        SparseFactor,
        OperatorFactor,
        IdentityFactor,
        IdentityFactor,
    ]
    assert K.factors[0] is a
    assert K.factors[1] is s  # the user's sparse object, not an internal CSR copy
    assert K.factors[2] is lo
    assert K.shape == (2 * 2 * 2 * 3 * 2, 3 * 2 * 2 * 3 * 2)


def test_nested_kron_is_spliced():
    a, b, c = np.ones((2, 2)), 2 * np.ones((3, 1)), np.eye(2)[::-1]
    K = KronOperator(a, KronOperator(b, c))
    assert len(K.factors) == 3
    np.testing.assert_array_equal(K.toarray(), np.kron(np.kron(a, b), c))


def test_identity_detection_is_exact():
    near = np.eye(3)
    near[0, 2] = 1e-300
    assert type(as_factor(near, 0)) is DenseFactor
    assert type(as_factor(np.eye(3) * 1.0, 0)) is IdentityFactor
    assert type(as_factor(sp.eye_array(3) * 2, 0)) is SparseFactor
    # a sparse identity with an explicit zero stored is still the identity
    s = sp.csr_array(
        (
            np.array([1.0, 0.0, 1.0, 1.0]),
            np.array([0, 1, 1, 2]),
            np.array([0, 2, 3, 4]),
        ),
        shape=(3, 3),
    )
    assert s.nnz == 4
    assert type(as_factor(s, 0)) is IdentityFactor


def test_caller_arrays_are_not_modified():
    a = np.array([[1, 2], [3, 4]])
    keep = a.copy()
    K = KronOperator(a, a)
    _ = 3.0 * K
    _ = K @ np.ones(4)
    np.testing.assert_array_equal(a, keep)
    b = np.array([[1.0, 2.0], [3.0, 4.0]])
    K2 = -KronOperator(b)
    np.testing.assert_array_equal(b, [[1.0, 2.0], [3.0, 4.0]])
    assert K2.factors[0] is not b


def test_list_of_lists_factor():
    K = KronOperator([[1, 2], [3, 4]], [[1.5]])
    np.testing.assert_array_equal(K.toarray(), [[1.5, 3.0], [4.5, 6.0]])


def test_banded_detection():
    T = laplacian(6, bc="neumann").factors[0]
    c0, terms = as_factor(T, 0).bands()
    assert c0 == 2.0
    assert sorted((k, lo, hi, c) for k, lo, hi, c in terms) == [
        (-1, 1, 6, -1.0),
        (0, 0, 1, -1.0),
        (0, 5, 6, -1.0),
        (1, 0, 5, -1.0),
    ]
    dense_band = sp.csr_array(np.triu(np.ones((12, 12))))  # 12 diagonals
    assert as_factor(dense_band, 0).bands() is None
    assert as_factor(np.ones((3, 3)), 0).bands() is None


def test_non_canonical_sparse_input_is_not_modified():
    # duplicates and unsorted indices: canonicalising works on a copy
    data = np.array([1.0, 2.0, 3.0, 4.0])
    indices = np.array([1, 0, 1, 0])
    indptr = np.array([0, 3, 4])
    s = sp.csr_array((data, indices, indptr), shape=(2, 2))
    keep = (s.data.copy(), s.indices.copy(), s.indptr.copy())
    f = as_factor(s, 0)
    np.testing.assert_array_equal(f.toarray(), [[2.0, 4.0], [4.0, 0.0]])
    for got, want in zip((s.data, s.indices, s.indptr), keep, strict=True):
        np.testing.assert_array_equal(got, want)


def test_solver_policy_explicit_inverse_eigen_or_lu():
    well = as_factor(np.array([[2.0, 1.0], [1.0, 3.0]]), 0)
    assert isinstance(well.solver(), DenseFactor)  # κ ≤ 1e6: one GEMM
    herm = as_factor(np.diag([1.0, 1e-9]) + np.array([[0.0, 1e-12], [1e-12, 0.0]]), 1)
    nonh = as_factor(np.array([[1.0, 1e3], [0.0, 1e-6]]), 2)
    b = np.array([[1.0, 2.0], [1.0, -1.0]])
    for f, kind in ((herm, EigenSolveFactor), (nonh, OperatorFactor)):
        solver = f.solver()
        assert isinstance(solver, kind)  # κ > 1e6: V Λ⁻¹ Vᴴ, or LU solves
        got = solver.apply_left(solver.as_dtype(np.float64), b)
        np.testing.assert_allclose(got, np.linalg.solve(f.toarray(), b), rtol=1e-12)
        np.testing.assert_allclose(solver.toarray(), np.linalg.inv(f.toarray()))
        assert f.solver() is solver  # cached on the factor


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_eigen_solve_factor_algebra_and_every_layout(rng, dtype):
    """The two-pass factor in every step form, and its transpose and adjoint."""
    from functools import reduce

    a = rng.standard_normal((5, 5)) + (
        1j * rng.standard_normal((5, 5)) if dtype == np.complex128 else 0
    )
    a = a @ a.conj().T
    w, V = np.linalg.eigh(a)
    w[0] = 1e-9  # ill-conditioned: the eigen-solve route
    a = (V * w) @ V.conj().T
    f = as_factor(a.astype(dtype), 1)
    S = f.solver()
    assert isinstance(S, EigenSolveFactor)
    inv = np.linalg.inv(a)
    # both sides carry errors of ε·κ relative to the inverse's largest entries
    atol = 100 * 5 * np.finfo(float).eps * np.linalg.cond(a) * np.abs(inv).max()
    for got, want in ((S, inv), (S.transpose(), inv.T), (S.adjoint(), inv.conj().T)):
        np.testing.assert_allclose(got.toarray(), want, rtol=0, atol=atol)
    others = [rng.standard_normal((3, 3)), rng.standard_normal((4, 4))]
    K = KronOperator(others[0], a.astype(dtype), others[1])
    dense = reduce(np.kron, [others[0], a, others[1]])
    x = rng.standard_normal((60, 3))
    scale = np.linalg.norm(dense, 2)
    for b in (x, x[:, 0], np.asfortranarray(x)):
        y = K.solve(b)  # backward stable: a small residual relative to ‖K‖‖y‖
        resid = np.linalg.norm(dense @ y - b)
        assert resid <= 100 * 60 * np.finfo(float).eps * scale * np.linalg.norm(y)


def test_cached_decompositions_are_read_only():
    f = as_factor(np.array([[2.0, 1.0], [1.0, 3.0]]), 0)
    e = f.eigen()
    for arr in (e.values, f.dense("x"), f.svd()[1]):
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 0.0


# ------------------------------------------------------------- dtypes and kinds
@pytest.mark.parametrize(
    ("dtypes", "want"),
    [
        ((np.uint8, np.float32), np.float32),
        ((np.int16, np.float32), np.float32),
        ((np.int64, np.float32), np.float64),
        ((np.bool_, np.complex64), np.complex64),
        ((np.int32, np.int8), np.float64),
        ((np.float16,), np.float32),
        ((np.float16, np.float32), np.float32),
        ((np.float16, np.complex64), np.complex64),
        ((np.float32, np.float64), np.float64),
    ],
)
def test_operator_dtype_follows_numpy_promotion(dtypes, want):
    """Integer/bool factors promote with the others by NumPy's rules; alone, float64."""
    mats = [(np.eye(2) * 2 + 1).astype(dt) for dt in dtypes]
    ref = np.result_type(*dtypes)
    ref = (
        np.float64 if ref.kind in "biu" else (np.float32 if ref == np.float16 else ref)
    )
    assert np.dtype(want) == np.dtype(ref)
    for op in (KronOperator(*mats), KronSum(*mats)):
        assert op.dtype == np.dtype(want)
        x = np.ones(op.shape[1], dtype=want)
        assert (op @ x).dtype == np.dtype(want)


def test_dtype_less_identity_and_foreign_operators_are_factors():
    scipy_eye = IdentityOperator((3, 3))  # dtype None: adopts the others
    assert scipy_eye.dtype is None
    K = KronOperator(np.eye(2, dtype=np.float32) * 2, scipy_eye)
    assert K.dtype == np.float32
    np.testing.assert_array_equal(K @ np.ones(6, np.float32), 2 * np.ones(6))
    assert KronOperator(scipy_eye).dtype == np.float64

    class Foreign:  # what scipy's aslinearoperator accepts: a PyLops operator
        def __init__(self, a):
            self.a, self.shape, self.dtype = a, a.shape, a.dtype

        def matvec(self, x):
            return self.a @ x

        def rmatvec(self, x):
            return self.a.conj().T @ x

    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    f = Foreign(a)
    K = KronOperator(f, np.eye(3) * 2)
    assert K.factors[0] is f
    np.testing.assert_allclose(
        K @ np.arange(6.0), np.kron(a, 2 * np.eye(3)) @ np.arange(6.0)
    )
    np.testing.assert_allclose(
        K.H @ np.arange(6.0), np.kron(a, 2 * np.eye(3)).T @ np.arange(6.0)
    )
    with pytest.raises(TypeError, match="no matrix behind it"):
        K.solve(np.ones(6))


def test_a_zero_dimensional_array_is_a_scalar_for_every_factor_kind():
    lo = aslinearoperator(np.eye(2) * 3)
    for K in (KronOperator(lo, np.eye(2)), KronOperator(lo), KronSum(lo, np.eye(2))):
        for s in (np.array(2.0), np.float64(2.0), np.array(2.0 + 1j)):
            scaled = s * K
            np.testing.assert_allclose(
                scaled @ np.ones(K.shape[1]), s * (K @ np.ones(K.shape[1]))
            )


def test_a_list_of_factors_is_not_one_factor():
    with pytest.raises(TypeError, match=r"unpack the list: KronOperator\(\*factors\)"):
        KronOperator([np.eye(2), np.eye(3)])
    with pytest.raises(TypeError, match="unpack"):
        KronSum([np.eye(2), sp.eye_array(3)])
