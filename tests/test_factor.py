"""Validation and normalisation of factors."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, aslinearoperator
from scipy.sparse.linalg._interface import IdentityOperator

from kronop import KronOperator
from kronop._factor import DENSE, IDENTITY, LINOP, SPARSE


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
    K = KronOperator(a, s, lo, np.eye(3), IdentityOperator((2, 2), dtype=float))
    kinds = [f.kind for f in K._factors]
    assert kinds == [DENSE, SPARSE, LINOP, IDENTITY, IDENTITY]
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
    K = KronOperator(near)
    assert K._factors[0].kind == DENSE
    assert KronOperator(np.eye(3) * 1.0)._factors[0].kind == IDENTITY
    assert KronOperator(sp.eye_array(3) * 2)._factors[0].kind == SPARSE
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
    assert KronOperator(s)._factors[0].kind == IDENTITY


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
