"""What A + B and A @ B are: the registered rules, in both orders."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, aslinearoperator
from scipy.sparse.linalg._interface import IdentityOperator as ScipyIdentity

from kronop import (
    IdentityOperator,
    KronOperator,
    KronPlusDiagonal,
    KronSum,
    laplacian,
)

from .factories import hpd


@pytest.fixture
def K():
    rng = np.random.default_rng(0)
    return KronOperator(hpd(rng, 3, float), hpd(rng, 2, float))


def _identities(shape, sigma):
    return {
        "kronop": sigma * IdentityOperator(shape),
        "scipy": sigma * ScipyIdentity(shape, dtype=float),
        "matrix": sigma * aslinearoperator(sp.eye_array(shape[0])),
    }


@pytest.mark.parametrize("which", ["kronop", "scipy", "matrix"])
def test_kron_plus_scaled_identity_on_either_side(K, which):
    eye = _identities(K.shape, 0.5)[which]
    b = np.arange(6.0)
    ref = np.linalg.solve(K.toarray() + 0.5 * np.eye(6), b)
    sums = [K + eye, K.shift(0.5)]
    if which == "kronop":  # scipy's own operators add lazily when on the left
        sums.append(eye + K)
    for S in sums:
        assert isinstance(S, KronPlusDiagonal)
        np.testing.assert_allclose(S.solve(b), ref, rtol=1e-12)
        np.testing.assert_allclose(S @ b, K @ b + 0.5 * b, rtol=1e-14)


def test_kron_plus_diagonal_kron_either_side(K):
    D = KronOperator(np.diag([1.0, 2.0, 3.0]), sp.diags_array([0.5, 1.5]))
    for S in (K + 0.1 * D, 0.1 * D + K):
        assert isinstance(S, KronPlusDiagonal)
        dense = K.toarray() + 0.1 * D.toarray()
        np.testing.assert_allclose(S.toarray(), dense, rtol=1e-14)
        np.testing.assert_allclose(
            S.solve(np.ones(6)), np.linalg.solve(dense, np.ones(6)), rtol=1e-12
        )


def test_zero_plus_and_builtin_sum(K):
    assert 0 + K is K
    assert K + 0 is K
    assert K - 0 is K
    K2 = KronOperator(np.eye(3) * 2, np.ones((2, 2)))
    total = sum([K, K2])
    x = np.arange(6.0)
    np.testing.assert_allclose(total @ x, K @ x + K2 @ x, rtol=1e-14)
    S = sum([K, 0.25 * IdentityOperator(K.shape)])
    assert isinstance(S, KronPlusDiagonal)
    L = laplacian((3, 2))
    T = sum([L, L, 2 * IdentityOperator(L.shape)])
    assert isinstance(T, KronSum)
    assert T.sigma == 2
    np.testing.assert_allclose(T.toarray(), 2 * L.toarray() + 2 * np.eye(6))


def test_kronsum_plus_identity_either_side():
    L = laplacian((4, 3))
    for S in (L + 0.5 * IdentityOperator(L.shape), 0.5 * IdentityOperator(L.shape) + L):
        assert isinstance(S, KronSum)
        assert S.sigma == 0.5


def test_no_rule_falls_back_to_scipy(K):
    other = aslinearoperator(np.ones((6, 6)))
    for S in (K + other, other + K, K - other):
        assert isinstance(S, LinearOperator)
        assert not isinstance(S, KronOperator | KronPlusDiagonal)
    x = np.arange(6.0)
    np.testing.assert_allclose((K - other) @ x, K @ x - other @ x, rtol=1e-14)
    with pytest.raises(ValueError, match="cannot add operators of shapes"):
        K + aslinearoperator(np.ones((5, 5)))


def test_identity_operator_algebra():
    eye = IdentityOperator((3, 3), dtype=np.float32)
    assert isinstance(eye, ScipyIdentity)  # still scipy's class
    half = eye * 0.5
    assert half.dtype == np.float32
    assert half.scale == 0.5
    x = np.arange(3.0, dtype=np.float32)
    np.testing.assert_array_equal(half @ x, 0.5 * x)
    np.testing.assert_array_equal((-eye) @ x, -x)
    assert (eye @ x) is not x  # never hands the caller's array back
    np.testing.assert_array_equal(((1j * eye).H @ x), -1j * x)
    np.testing.assert_array_equal(half.toarray(), 0.5 * np.eye(3))
    with pytest.raises(ValueError, match="square"):
        IdentityOperator((3, 4))


def test_shift_of_rectangular_factors_is_a_clear_error():
    K = KronOperator(np.ones((2, 3)), np.ones((3, 2)))  # square K, 6×6
    with pytest.raises(ValueError, match=r"square factors.*2×3 ⊗ 3×2"):
        K.shift(0.5)
    S = K + 0.5 * IdentityOperator(K.shape)  # still a (lazy) sum
    np.testing.assert_allclose(S @ np.ones(6), K @ np.ones(6) + 0.5)
