"""KronSum's linear algebra from the factors, against dense numpy/scipy oracles.

The shared :class:`LinalgContract` runs solve/inv/determinants/trace/diagonal/norms/
cond/eig/expm/eigh/shift on Kronecker sums. A Kronecker sum offers no SVD, Cholesky
or integer powers from its factors; it offers matrix functions through
``eigh().apply`` and the pseudo-inverse of Hermitian sums, tested below.
"""

import warnings

import numpy as np
import pytest
import scipy.linalg as sla

from kronop import KronSum, laplacian

from .contract.linalg import ALL, LinalgContract
from .factories import eps, hi, ksum_dense, linalg_factor, random_array, rel

# name -> (list of (kind, n), shift, hpd)
CASES = {
    "d1-hpd": ([("hpd", 5)], 0.0, True),
    "d2-hpd": ([("hpd", 3), ("hpd", 4)], 0.0, True),
    "d3-hpd": ([("hpd", 3), ("hpd", 2), ("hpd", 3)], 0.0, True),
    "d4-hpd": ([("hpd", 2), ("hpd", 3), ("hpd", 2), ("hpd", 2)], 0.0, True),
    "d2-hpd-ill": ([("hpd-ill", 4), ("hpd", 3)], 0.0, True),
    "d2-indefinite": ([("hpd", 3), ("hpd", 4)], -7.0, False),
    "d2-general": ([("general-shifted", 3), ("general-shifted", 4)], 0.0, False),
    "d3-mixed": (
        [("general-shifted", 3), ("hpd", 2), ("general-shifted", 2)],
        0.0,
        False,
    ),
    "d2-jordan": ([("jordan", 4), ("general-shifted", 3)], 0.0, False),
    "d3-jordan": ([("jordan", 3), ("jordan", 2), ("hpd", 2)], 0.5, False),
    "sparse": ([("sparse-hpd", 4), ("hpd", 3)], 0.0, True),
    "sparse-general": ([("sparse-general", 4), ("general", 2)], 0.0, False),
}


class TestKronSumLinalg(LinalgContract):
    cases = (*CASES, "laplacian", "laplacian-mixed-bc")
    offers = ALL - {"svd", "cholesky", "power", "pinv"}

    def expm_cond(self, op, hpd) -> float:
        return 1.0  # exp(A₁) ⊗ … ⊗ exp(A_d): no eigenvectors involved

    def build(self, case, dtype, rng):
        if case == "laplacian":
            op = laplacian((3, 4, 2), spacing=(1.0, 0.5, 2.0), dtype=dtype)
            return op, ksum_dense(op.factors), True
        if case == "laplacian-mixed-bc":
            # neumann ⊕ periodic ⊕ dirichlet: nonsingular thanks to the last axis
            op = laplacian(
                (3, 4, 3), bc=("neumann", "periodic", "dirichlet"), dtype=dtype
            )
            return op, ksum_dense(op.factors), True
        specs, shift, is_hpd = CASES[case]
        factors = [linalg_factor(k, n, dtype, rng) for k, n in specs]
        op = KronSum(*factors)
        if shift:
            op = op.shift(shift)
        return op, ksum_dense(factors, shift=shift), is_hpd


def _hermitian(dense) -> bool:
    return bool(np.allclose(dense, dense.conj().T, rtol=0, atol=0))


@pytest.fixture(params=[*CASES, "laplacian", "laplacian-mixed-bc"])
def made(request):
    dtype = np.float64
    op, dense, hpd_ = TestKronSumLinalg().build(
        request.param, dtype, np.random.default_rng(99)
    )
    return op, hi(dense), hpd_, dtype


def test_no_product_only_methods(made):
    op, *_ = made
    for name in ("svd", "cholesky", "power", "sqrt"):
        assert not hasattr(op, name)  # not the factors' for a sum


def test_pinv_and_lstsq_of_hermitian_sums(made):
    op, dense, _, dtype = made
    rng = np.random.default_rng(3)
    b = random_array(rng, dense.shape[0], dtype)
    if not _hermitian(dense):
        with pytest.raises(ValueError, match="Hermitian"):
            op.pinv()
        return
    tol = LinalgContract.tol(dtype, dense)
    ref = np.linalg.lstsq(dense, hi(b), rcond=None)[0]
    assert rel(op.lstsq(b), ref) <= tol
    assert rel(op.pinv().toarray(), sla.pinv(dense)) <= tol


def test_integer_powers_through_eigh(made):
    op, dense, _, dtype = made
    if not _hermitian(dense):
        return
    dec = op.eigh()
    for p in (0, 1, 3):
        ref = np.linalg.matrix_power(dense, p)
        got = dec.apply(lambda w, p=p: w**p).toarray()
        assert rel(got, ref) <= 100 * eps(dtype) * dense.shape[0] * max(
            1.0, np.linalg.cond(dense) if p > 1 else 1.0
        )


def test_hpd_functions_through_eigh(made):
    op, dense, hpd_, dtype = made
    if not hpd_:
        return
    dec = op.eigh()
    R = dec.apply(np.sqrt).toarray()
    assert rel(R @ R, dense) <= 100 * eps(dtype) * dense.shape[0] * np.linalg.cond(
        dense
    )
    rng = np.random.default_rng(5)
    x = random_array(rng, dense.shape[0], dtype)
    with warnings.catch_warnings():  # the oracle's own accuracy note
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = sla.logm(dense) @ hi(x)
    assert rel(dec.apply(np.log) @ x, ref) <= 1e3 * eps(dtype) * dense.shape[
        0
    ] * np.linalg.cond(dense)
