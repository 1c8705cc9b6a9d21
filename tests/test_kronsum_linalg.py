"""KronSum's linear algebra from the factors, against dense numpy/scipy oracles.

The shared :class:`LinalgContract` runs solve/inv/determinants/trace/diagonal/norms/
cond/eig/expm/eigh/shift on Kronecker sums. Its product-only tests (svd, cholesky,
integer and real powers) are replaced here by what a Kronecker sum offers instead:
matrix functions through ``eigh().apply`` and the pseudo-inverse of Hermitian sums.
"""

from functools import reduce

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp

from kronop.gallery import laplacian
from kronop.kronsum import KronSum

from .contract import eps, hi, random_array
from .linalg_contract import LinalgContract, rel
from .test_kron_linalg import general, hpd, tridiag


def jordan(n, dtype):
    """A non-normal factor: 2 on the diagonal, 1 above (one Jordan block)."""
    return (2.0 * np.eye(n) + np.eye(n, k=1)).astype(dtype)


def kronsum_dense(denses, shift=0.0):
    d = len(denses)
    out = 0
    for j, a in enumerate(denses):
        mats = [np.eye(x.shape[0]) for x in denses]
        mats[j] = hi(a)
        out = out + reduce(np.kron, mats)
    return out + shift * np.eye(out.shape[0]) if d else out


# name -> (list of (kind, n), shift, hpd)
CASES = {
    "d1-hpd": ([("hpd", 5)], 0.0, True),
    "d2-hpd": ([("hpd", 3), ("hpd", 4)], 0.0, True),
    "d3-hpd": ([("hpd", 3), ("hpd", 2), ("hpd", 3)], 0.0, True),
    "d4-hpd": ([("hpd", 2), ("hpd", 3), ("hpd", 2), ("hpd", 2)], 0.0, True),
    "d2-hpd-ill": ([("hpd-ill", 4), ("hpd", 3)], 0.0, True),
    "d2-indefinite": ([("hpd", 3), ("hpd", 4)], -7.0, False),
    "d2-general": ([("general", 3), ("general", 4)], 0.0, False),
    "d3-mixed": ([("general", 3), ("hpd", 2), ("general", 2)], 0.0, False),
    "d2-jordan": ([("jordan", 4), ("general", 3)], 0.0, False),
    "d3-jordan": ([("jordan", 3), ("jordan", 2), ("hpd", 2)], 0.5, False),
    "sparse": ([("sparse-hpd", 4), ("hpd", 3)], 0.0, True),
    "sparse-general": ([("sparse-general", 4), ("general", 2)], 0.0, False),
}


def _factor(kind, n, dtype, rng):
    if kind == "hpd":
        return hpd(rng, n, dtype)
    if kind == "hpd-ill":
        return hpd(rng, n, dtype, cond=1e3 if np.dtype(dtype).itemsize <= 4 else 1e6)
    if kind == "general":
        return (general(rng, n, dtype) + np.eye(n, dtype=dtype)).astype(dtype)
    if kind == "jordan":
        return jordan(n, dtype)
    if kind == "sparse-hpd":
        return tridiag(n, dtype)
    return sp.csr_array(
        general(rng, n, dtype) * (rng.random((n, n)) < 0.7) + 3 * np.eye(n, dtype=dtype)
    )


class TestKronSumLinalg(LinalgContract):
    cases = (*CASES, "laplacian", "laplacian-mixed-bc")

    def build(self, case, dtype, rng):
        if case == "laplacian":
            op = laplacian((3, 4, 2), spacing=(1.0, 0.5, 2.0), dtype=dtype)
            return op, kronsum_dense([f.toarray() for f in op.factors]), True
        if case == "laplacian-mixed-bc":
            # neumann ⊕ periodic ⊕ dirichlet: nonsingular thanks to the last axis
            op = laplacian(
                (3, 4, 3), bc=("neumann", "periodic", "dirichlet"), dtype=dtype
            )
            return op, kronsum_dense([f.toarray() for f in op.factors]), True
        specs, shift, is_hpd = CASES[case]
        factors = [_factor(k, n, dtype, rng) for k, n in specs]
        denses = [f.toarray() if sp.issparse(f) else f for f in factors]
        op = KronSum(*factors)
        if shift:
            op = op.shift(shift)
        return op, kronsum_dense(denses, shift), is_hpd

    # --- product-only tests, replaced by what a Kronecker sum offers -------------
    def test_svd(self, made):
        op, *_ = made
        assert not hasattr(op, "svd")  # singular values are not the factors'

    def test_pinv_and_lstsq(self, made):
        op, dense, _, dtype = made
        rng = np.random.default_rng(3)
        b = random_array(rng, dense.shape[0], dtype)
        if not op._hermitian():
            with pytest.raises(ValueError, match="Hermitian"):
                op.pinv()
            return
        ref = np.linalg.lstsq(dense, hi(b), rcond=None)[0]
        assert rel(op.lstsq(b), ref) <= self.tol(dtype, dense)
        assert rel(op.pinv().toarray(), sla.pinv(dense)) <= self.tol(dtype, dense)

    def test_power_integer(self, made):
        op, dense, _, dtype = made
        if not op._hermitian():
            return
        dec = op.eigh()
        for p in (0, 1, 3):
            ref = np.linalg.matrix_power(dense, p)
            got = dec.apply(lambda w, p=p: w**p).toarray()
            assert rel(got, ref) <= 100 * eps(dtype) * dense.shape[0] * max(
                1.0, np.linalg.cond(dense) if p > 1 else 1.0
            )

    def test_hpd_functions(self, made):
        op, dense, hpd_, dtype = made
        assert not hasattr(op, "cholesky")
        if not hpd_:
            return
        dec = op.eigh()
        R = dec.apply(np.sqrt).toarray()
        assert rel(R @ R, dense) <= 100 * eps(dtype) * dense.shape[0] * np.linalg.cond(
            dense
        )
        rng = np.random.default_rng(5)
        x = random_array(rng, dense.shape[0], dtype)
        ref = sla.logm(dense) @ hi(x)
        assert rel(dec.apply(np.log) @ x, ref) <= 1e3 * eps(dtype) * dense.shape[
            0
        ] * np.linalg.cond(dense)

    def test_eig_reconstructs(self, made):
        # As the shared test, but eigenvalues are matched by an optimal assignment:
        # a sum of real factors with complex pairs a±bi, c±di has the four values
        # (a+c) ± (b±d)i with one real part, which sort_complex orders by rounding.
        from scipy.optimize import linear_sum_assignment

        op, dense, _, dtype = made
        dec = op.eig()
        w, V = dec
        w = np.asarray(w)
        assert w.shape == (dense.shape[0],)
        Vd = V.toarray()
        resid = np.linalg.norm(dense @ Vd - Vd * w) / np.linalg.norm(dense)
        assert resid <= 100 * eps(dtype) * dense.shape[0] * max(1.0, dec.vector_cond)
        ref = np.linalg.eigvals(dense).astype(complex)
        got = op.eigvals().astype(complex)
        rows, cols = linear_sum_assignment(np.abs(ref[:, None] - got[None, :]))
        assert rel(got[cols], ref[rows]) <= 1e3 * eps(dtype) * dense.shape[0] * max(
            1, dec.vector_cond
        )
