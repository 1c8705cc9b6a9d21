"""The operator shell every kronop operator inherits."""

import gc
import pickle
import warnings
import weakref

import numpy as np
import pytest
from scipy.sparse.linalg import aslinearoperator

from kronop import IdentityOperator, KronOperator, KronSum, laplacian

from .factories import hpd


def _operators():
    rng = np.random.default_rng(0)
    A, B = hpd(rng, 3, float), hpd(rng, 2, float)
    K = KronOperator(A, B)
    return {
        "kron": K,
        "kronsum": KronSum(A, B),
        "laplacian": laplacian((3, 2)),
        "shifted": K + 0.5 * IdentityOperator(K.shape),
        "expm": K.expm(),
        "inverse": KronSum(A, B).inv(),
    }


@pytest.fixture(params=list(_operators()))
def op(request):
    return _operators()[request.param]


@pytest.mark.parametrize("name", list(_operators()))
def test_adjoint_and_transpose_are_freed_by_reference_counting(name):
    """No reference cycles: an operator and its .H/.T die with their last name."""
    gc.collect()
    gc.disable()
    try:
        op = _operators()[name]
        x = np.ones(op.shape[1])
        H, T = op.H, op.T
        assert H.H is op
        assert T.T is op
        op @ x, H @ x, T @ x
        probes = [weakref.ref(op), weakref.ref(H), weakref.ref(T)]
        del op, H, T
        alive = [p() is not None for p in probes]
    finally:
        gc.enable()
    assert not any(alive)


def test_kron_and_its_buffers_die_without_the_cycle_collector():
    gc.collect()
    gc.disable()
    try:
        rng = np.random.default_rng(1)
        K = KronOperator(rng.standard_normal((40, 40)), rng.standard_normal((40, 40)))
        K @ np.ones(1600)
        K.H @ np.ones(1600)
        probe = weakref.ref(K)
        del K
        assert probe() is None
    finally:
        gc.enable()


def test_pickle_drops_caches_and_buffers(op):
    x = np.arange(op.shape[1], dtype=float)
    y = op @ x
    clone = pickle.loads(pickle.dumps(op))
    np.testing.assert_allclose(clone @ x, y, rtol=1e-14)
    np.testing.assert_allclose(clone.H @ x, op.H @ x, rtol=1e-14)


def test_args_expose_the_structure():
    A, B = np.eye(2) * 2, np.ones((3, 3))
    assert KronOperator(A, B).args == (A, B)
    assert KronSum(A, B).args == ((A, B), None, 0.0)
    M = (np.eye(2), None)
    args = KronSum(A, B, mass=M).shift(0.5).args
    assert args[0] == (A, B)
    assert args[1][0] is M[0]
    assert args[2] == 0.5


def test_scalar_multiples_keep_numpy_dtype_rules(op):
    f32 = KronOperator(np.eye(2, dtype=np.float32) * 3, np.ones((2, 2), np.float32))
    for scaled in (2.0 * f32, f32 * 2.0, f32 / 2.0, -f32, np.float32(2) * f32):
        assert scaled.dtype == np.float32
    assert (np.array(2.0) * op).shape == op.shape  # a 0-d array is a scalar


def test_det_past_the_float_range_is_inf_without_a_warning():
    K = KronOperator(*(np.diag([1e30, 1e30]) for _ in range(8)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert K.det() == np.inf
        big = KronOperator(np.array([[np.exp(709.5)]]), np.array([[1.0]])).det()
    assert np.isfinite(big)
    assert isinstance(big, np.floating)  # numpy's scalar, as numpy.linalg.det
    assert K.logdet() == pytest.approx(8 * 128 * 60 * np.log(10))  # det Aⱼ^(N/2)


def test_dot_checks_shapes():
    K = KronOperator(np.ones((2, 3)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="needs 6 rows"):
        K.dot(aslinearoperator(np.ones((5, 5))))
    with pytest.raises(ValueError, match="shape mismatch"):  # scipy's own check
        aslinearoperator(np.ones((5, 5))) @ K


# ------------------------------------------------------------------ messages
@pytest.mark.parametrize("name", list(_operators()))
def test_shape_errors_state_expected_and_received(name):
    op = _operators()[name]
    M, N = op.shape
    bad = [np.ones(N + 1), np.ones((N + 1, 2)), np.ones((N + 1, 1))]
    for x in bad:
        for call in (op.__matmul__, op.dot, op.matvec if x.ndim == 1 else op.matmat):
            with pytest.raises(
                ValueError,
                match=rf"dimension mismatch.*needs {N} rows.*got an array of shape \({N + 1},",
            ):
                call(x)
    with pytest.raises(ValueError, match=rf"needs {M} rows"):
        op.rmatvec(np.ones(M + 1))
    with pytest.raises(ValueError, match=rf"x @ A needs {M} columns"):
        np.ones(M + 1) @ op


def test_a_grid_shaped_input_gets_a_ravel_hint():
    L = laplacian((3, 4))
    img = np.ones((3, 4))
    with pytest.raises(ValueError, match=r"grid's shape \(3, 4\).*x\.ravel\(\)"):
        L @ img
    K = KronOperator(np.ones((2, 3)), np.ones((5, 4)))
    with pytest.raises(ValueError, match=r"grid's shape \(3, 4\)"):
        K @ np.ones((3, 4))
    np.testing.assert_allclose(L @ img.ravel(), L.toarray() @ img.ravel())


def test_a_three_dimensional_input_is_not_printed():
    from .contract.operator import SCIPY_118

    K = KronOperator(np.eye(2) * 2)
    x = np.arange(8.0).reshape(2, 2, 2) + 1000
    if SCIPY_118:  # a stack of blocks
        assert (K @ x).shape == (2, 2, 2)
        return
    with pytest.raises(ValueError, match=r"shape \(2, 2, 2\)") as info:
        K @ x
    assert "1000" not in str(info.value)


def test_an_operator_is_not_an_array():
    for op in _operators().values():
        with pytest.raises(TypeError, match=r"not an array; use toarray\(\)"):
            np.asarray(op)


def test_method_names_in_messages_have_no_stray_parentheses():
    from kronop import KronPlusDiagonal

    K = KronOperator(np.ones((2, 3)), np.eye(3))
    with pytest.raises(ValueError, match="K \\+ σD needs square factors") as info:
        KronPlusDiagonal(K, 0.5)
    assert "σD()" not in str(info.value)
    M = KronSum(np.eye(2) * 2, np.eye(3) * 3, mass=(np.eye(2) * 2, None))
    with pytest.raises(ValueError, match=r"norm\(2\) is not available") as info:
        M.norm(2)
    assert "norm(2)()" not in str(info.value)


@pytest.mark.parametrize("name", ["kron", "kronsum", "laplacian", "shifted"])
def test_inverses_and_decompositions_leave_no_reference_cycle(name):
    """scipy's gh-10634: operators are freed by reference counting alone."""
    gc.collect()
    gc.disable()
    try:
        op = _operators()[name]
        b = np.ones(op.shape[0])
        inv = op.inv()
        inv @ b, inv.H @ b, inv.T @ b, op.solve(b), op.slogdet()
        dec = op.eigh() if name != "shifted" else op.decomposition()
        dec.solve(b)
        probes = [weakref.ref(x) for x in (op, inv, dec)]
        del op, inv, dec
        alive = [p() is not None for p in probes]
    finally:
        gc.enable()
    assert not any(alive)
