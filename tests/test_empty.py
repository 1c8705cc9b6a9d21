"""Empty inputs: (N, 0) blocks, empty stacks and 0-sized problems give empty results.

DESIGN §2: empty inputs return empty results of the right shape and dtype, as
numpy and scipy do — for every operator and every solve.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator

from kronop import (
    IdentityOperator,
    KronOperator,
    KronSum,
    laplacian,
    solve_lyapunov,
    solve_sylvester,
    solve_tensor_sylvester,
)

from .contract.operator import SCIPY_118
from .factories import hpd


def _operators():
    rng = np.random.default_rng(0)
    A, B = hpd(rng, 3, float), hpd(rng, 2, float)
    K = KronOperator(A, B)
    S = KronSum(A, B)
    return {
        "kron": K,
        "kron-rect": KronOperator(np.ones((2, 3)), sp.eye_array(2) * 2.0),
        "kron-linop": KronOperator(aslinearoperator(A), B),
        "kronsum": S,
        "laplacian": laplacian((3, 2), bc=("neumann", "dirichlet")),
        "mass": KronSum(A, B, mass=(A, None)),
        "shifted": K + 0.5 * IdentityOperator(K.shape),
        "kron-diag": K + KronOperator(np.diag([1.0, 2.0, 3.0]), np.eye(2)),
        "expm": K.expm(),
        "sqrt": K.sqrt(),
        "inv-sum": S.inv(),
        "pinv-sum": S.pinv(),
        "identity": IdentityOperator((6, 6)),
    }


OPS = list(_operators())


@pytest.fixture(params=OPS)
def op(request):
    return _operators()[request.param]


def test_empty_blocks(op):
    M, N = op.shape
    for X, want in ((np.ones((N, 0)), (M, 0)), (np.ones((N, 0), np.float32), (M, 0))):
        Y = op @ X
        assert Y.shape == want
        assert Y.dtype == np.result_type(op.dtype, X.dtype)
        assert op.matmat(X).shape == want
    assert (op.H @ np.ones((M, 0))).shape == (N, 0)
    assert (np.ones((0, M)) @ op).shape == (0, N)


@pytest.mark.skipif(not SCIPY_118, reason="stacked inputs arrived in scipy 1.18")
def test_empty_stacks(op):
    M, N = op.shape
    assert op.matvec(np.ones((0, N))).shape == (0, M)
    assert (op @ np.ones((0, N, 2))).shape == (0, M, 2)
    assert (op @ np.ones((3, N, 0))).shape == (3, M, 0)


@pytest.mark.parametrize("name", ["kron", "kronsum", "laplacian", "mass", "shifted"])
def test_empty_right_hand_sides(name):
    op = _operators()[name]
    N = op.shape[0]
    for b in (np.ones((N, 0)), np.ones((N, 0), np.complex64)):
        x = op.solve(b)
        assert x.shape == (N, 0)
        assert x.dtype == np.result_type(op.dtype, b.dtype)
    assert (op.inv() @ np.ones((N, 0))).shape == (N, 0)


def test_zero_sized_sylvester_and_lyapunov_match_scipy():
    import scipy.linalg as sla

    A0, B2 = np.ones((0, 0)), np.eye(2)
    X = solve_sylvester(A0, B2, np.ones((0, 2)))
    ref = sla.solve_sylvester(A0, B2, np.ones((0, 2)))
    assert X.shape == ref.shape == (0, 2)
    assert solve_sylvester(B2, A0, np.ones((2, 0))).shape == (2, 0)
    assert solve_lyapunov(A0, np.ones((0, 0))).shape == (0, 0)
    assert solve_tensor_sylvester([B2, A0, B2], np.ones((2, 0, 2))).shape == (2, 0, 2)
    with pytest.raises(ValueError, match="shape"):
        solve_sylvester(A0, B2, np.ones((1, 2)))
