"""Contract for the structured linear algebra of square operators.

Like :mod:`tests.contract.operator`, a test class says how to build its operator
(``build`` returns ``(op, dense, hpd)``, where ``hpd`` says whether the operator is
Hermitian positive definite), declares the capabilities it ``offers`` and inherits
every test that needs only those:

``solve``, ``inv``, ``slogdet``, ``trace`` (and diagonal), ``norm``, ``cond``,
``eig``, ``eigh`` (the decomposition object), ``svd``, ``pinv`` (and lstsq, any
operator), ``power`` (integer powers), ``expm``, ``cholesky`` (with sqrt, real
powers and logm), ``shift`` (op + σI structured).

Oracles are numpy/scipy on the dense matrix, in float64/complex128. Tolerances scale
with the dtype's ε and, for solves, with the condition number of the dense oracle,
never with a fixed fudge.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg as sla

from ..factories import LINALG_DTYPES, eps, hi, random_array, rel
from . import Contract, needs

ALL = frozenset(
    {
        "solve",
        "inv",
        "slogdet",
        "trace",
        "norm",
        "cond",
        "eig",
        "eigh",
        "svd",
        "pinv",
        "power",
        "expm",
        "cholesky",
        "shift",
    }
)


def decompose(op, hermitian: bool = False):
    """``op.eigh()`` or ``op.eig()``, asserting the eigenvector warning policy.

    A ``LinAlgWarning`` is due exactly when κ(V) costs more than half the digits of
    the decomposition's dtype; other warnings pass through.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dec = op.eigh() if hermitian else op.eig()
    digits = -np.log10(eps(dec.dtype))
    due = dec.vector_cond > 1 and np.log10(dec.vector_cond) > digits / 2
    warned = [w for w in caught if issubclass(w.category, sla.LinAlgWarning)]
    assert bool(warned) == due, (dec.vector_cond, [str(w.message) for w in warned])
    for w in caught:
        if not issubclass(w.category, sla.LinAlgWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return dec


class LinalgContract(Contract):
    """Linear algebra of square operators against dense numpy/scipy oracles."""

    def build(self, case, dtype, rng):
        """Return ``(operator, dense, hpd)`` for a variant."""
        raise NotImplementedError

    def expm_cond(self, op, hpd) -> float:
        """The factor by which ``expm()``'s error may exceed ε·n·‖A‖: κ(V) of the
        eigendecomposition it is computed through (an operator that computes it
        otherwise says so)."""
        return max(1.0, decompose(op, hpd).vector_cond)

    @pytest.fixture(params=LINALG_DTYPES, ids=lambda d: np.dtype(d).name)
    def dtype(self, request):
        return request.param

    @pytest.fixture
    def made(self, case, dtype):
        rng = np.random.default_rng(99)
        op, dense, hpd = self.build(case, dtype, rng)
        return op, hi(dense), hpd, dtype

    # ---------------------------------------------------------------- helpers
    @staticmethod
    def tol(dtype, dense, c=50.0) -> float:
        """c·ε·n·κ(dense): the forward-error scale of a backward-stable method."""
        return c * eps(dtype) * dense.shape[0] * np.linalg.cond(dense)

    # ------------------------------------------------------------------ tests
    @needs("solve")
    def test_solve_vector_and_block(self, made):
        op, dense, _, dtype = made
        rng = np.random.default_rng(1)
        for shape in (dense.shape[0], (dense.shape[0], 3)):
            b = random_array(rng, shape, dtype)
            x = op.solve(b)
            assert x.shape == b.shape
            assert rel(x, np.linalg.solve(dense, hi(b))) <= self.tol(dtype, dense)
        with pytest.raises(ValueError, match="shape"):
            op.solve(np.ones(dense.shape[0] + 1))

    @needs("inv")
    def test_inv_is_lazy_and_right(self, made):
        op, dense, _, dtype = made
        inv = op.inv()
        assert inv.shape == op.shape
        rng = np.random.default_rng(2)
        b = random_array(rng, dense.shape[0], dtype)
        assert rel(inv @ b, np.linalg.solve(dense, hi(b))) <= self.tol(dtype, dense)
        assert op.inv() is inv  # cached

    @needs("slogdet")
    def test_slogdet_det_logdet(self, made):
        op, dense, _, dtype = made
        sign, logabs = op.slogdet()
        ref_sign, ref_logabs = np.linalg.slogdet(dense)
        scale = max(1.0, abs(ref_logabs))
        assert abs(logabs - ref_logabs) <= 100 * eps(dtype) * dense.shape[0] * scale + (
            10 * eps(dtype) * np.linalg.cond(dense)
        )
        assert (
            abs(sign - ref_sign) <= self.tol(dtype, dense)
            if np.dtype(dtype).kind == "c"
            else sign == ref_sign
        )
        ld = op.logdet()
        if abs(ref_sign - 1) < 1e-6:
            assert isinstance(ld, float)
            assert abs(ld - ref_logabs) <= abs(logabs - ref_logabs) + 1e-12 * scale
        else:
            assert isinstance(ld, complex)
            ref = ref_logabs + 1j * np.angle(ref_sign)
            assert abs(np.exp(1j * ld.imag) - np.exp(1j * ref.imag)) < self.tol(
                dtype, dense
            )
        det = op.det()
        ref_det = np.linalg.det(dense)
        assert (
            abs(det - ref_det) <= 1e-3 * abs(ref_det)
            if np.dtype(dtype) != np.float64
            else (
                abs(det - ref_det)
                <= 1e-9 * abs(ref_det) * max(1, np.linalg.cond(dense) * 1e-6)
            )
        )

    @needs("trace")
    def test_trace_and_diagonal(self, made):
        op, dense, _, dtype = made
        bound = 20 * eps(dtype) * np.sum(np.abs(np.diag(dense))) + 1e-30
        assert abs(op.trace() - np.trace(dense)) <= bound * dense.shape[0]
        diag = op.diagonal()
        assert diag.shape == (dense.shape[0],)
        np.testing.assert_allclose(diag, np.diag(dense), rtol=20 * eps(dtype), atol=0)

    @needs("norm")
    @pytest.mark.parametrize("order", ["fro", 2, 1, np.inf])
    def test_norm(self, made, order):
        op, dense, _, dtype = made
        np.testing.assert_allclose(
            op.norm(order),
            np.linalg.norm(dense, order),
            rtol=50 * eps(dtype) * dense.shape[0],
        )

    @needs("cond")
    def test_cond(self, made):
        op, dense, _, dtype = made
        ref = np.linalg.cond(dense)
        bound = self.cond_tolerance(op, dense, dtype)
        assert bound < 0.5  # the test can fail
        np.testing.assert_allclose(op.cond(), ref, rtol=bound)

    def cond_tolerance(self, op, dense, dtype) -> float:
        """Relative tolerance for ``cond()`` (σ_min carries a relative error ε·n·κ);
        an operator that computes it from parts may bound it by theirs."""
        return 20 * eps(dtype) * dense.shape[0] * np.linalg.cond(dense)

    @needs("eig")
    def test_eig_reconstructs(self, made):
        # eigenvalues are matched by an optimal assignment: a sum of real factors
        # with complex pairs a±bi, c±di has the values (a+c) ± (b±d)i with one real
        # part, which sort_complex would order by rounding
        from scipy.optimize import linear_sum_assignment

        op, dense, _, dtype = made
        dec = decompose(op)
        w, V = dec
        w = np.asarray(w)
        assert w.shape == (dense.shape[0],)
        Vd = V.toarray()
        # A V = V Λ, column by column, scaled by κ(V)
        resid = np.linalg.norm(dense @ Vd - Vd * w) / np.linalg.norm(dense)
        assert resid <= 100 * eps(dtype) * dense.shape[0] * max(1.0, dec.vector_cond)
        ref = np.linalg.eigvals(dense).astype(complex)
        got = op.eigvals().astype(complex)
        rows, cols = linear_sum_assignment(np.abs(ref[:, None] - got[None, :]))
        assert rel(got[cols], ref[rows]) <= 1e3 * eps(dtype) * dense.shape[0] * max(
            1, dec.vector_cond
        )

    @needs("svd")
    def test_svd(self, made):
        op, dense, _, dtype = made
        U, s, Vh = op.svd()
        s = np.asarray(s)
        rebuilt = (U.toarray() * s) @ Vh.toarray()
        assert rel(rebuilt, dense) <= 100 * eps(dtype) * dense.shape[0]
        np.testing.assert_allclose(
            np.sort(s)[::-1],
            np.linalg.svd(dense, compute_uv=False),
            rtol=100 * eps(dtype) * dense.shape[0] * np.linalg.cond(dense),
            atol=0,
        )

    @needs("pinv")
    def test_pinv_and_lstsq(self, made):
        op, dense, _, dtype = made
        rng = np.random.default_rng(3)
        b = random_array(rng, dense.shape[0], dtype)
        ref = np.linalg.lstsq(dense, hi(b), rcond=None)[0]
        assert rel(op.lstsq(b), ref) <= self.tol(dtype, dense)
        assert rel(op.pinv().toarray(), np.linalg.pinv(dense)) <= self.tol(dtype, dense)

    @needs("power")
    def test_power_integer(self, made):
        op, dense, _, dtype = made
        for p in (0, 1, 3):
            ref = np.linalg.matrix_power(dense, p)
            assert rel(op.power(p).toarray(), ref) <= 100 * eps(dtype) * dense.shape[
                0
            ] * (np.linalg.cond(dense) if p > 1 else 1)
        ref = np.linalg.matrix_power(np.linalg.inv(dense), 2)
        assert rel(op.power(-2).toarray(), ref) <= self.tol(dtype, dense) * 10

    @needs("expm")
    def test_expm_apply(self, made):
        op, dense, hpd, dtype = made
        c = 2.0 / np.linalg.norm(dense, 2)  # keep exp(A) finite
        op, dense = op * c, dense * c
        kappa = self.expm_cond(op, hpd)
        E = op.expm()
        ref = sla.expm(dense)
        rng = np.random.default_rng(4)
        x = random_array(rng, dense.shape[0], dtype)
        assert rel(E @ x, ref @ hi(x)) <= 1e3 * eps(dtype) * dense.shape[
            0
        ] * kappa * max(1.0, np.linalg.norm(dense, 2))

    @needs("cholesky")
    def test_hpd_functions(self, made):
        op, dense, hpd, dtype = made
        if not hpd:
            with pytest.raises((ValueError, np.linalg.LinAlgError)):
                op.cholesky()
            return
        L = op.cholesky()
        Ld = L.toarray()
        assert np.allclose(np.triu(Ld, 1), 0)
        assert rel(Ld @ Ld.conj().T, dense) <= 100 * eps(dtype) * dense.shape[0]
        R = op.sqrt().toarray()
        assert rel(R @ R, dense) <= 100 * eps(dtype) * dense.shape[0] * np.linalg.cond(
            dense
        )
        assert rel(op.power(0.5).toarray(), R) <= 100 * eps(dtype) * dense.shape[0]
        rng = np.random.default_rng(5)
        x = random_array(rng, dense.shape[0], dtype)
        with warnings.catch_warnings():  # the oracle's own accuracy note
            warnings.simplefilter("ignore", RuntimeWarning)
            ref = sla.logm(dense) @ hi(x)
        assert rel(op.logm() @ x, ref) <= 1e3 * eps(dtype) * dense.shape[
            0
        ] * np.linalg.cond(dense)

    @needs("eigh")
    def test_eigh_decomposition_object(self, made):
        op, dense, hpd, dtype = made
        if not hpd:
            return
        dec = op.eigh()
        w, V = dec
        assert len(w) == dense.shape[0]
        np.testing.assert_allclose(
            np.sort(np.asarray(w)),
            np.linalg.eigvalsh(dense),
            rtol=0,
            atol=100 * eps(dtype) * dense.shape[0] * np.linalg.norm(dense, 2),
        )
        Vd = V.toarray()
        assert (
            rel(Vd.conj().T @ Vd, np.eye(dense.shape[0]))
            <= 100 * eps(dtype) * dense.shape[0]
        )
        rng = np.random.default_rng(6)
        b = random_array(rng, (dense.shape[0], 2), dtype)
        for sigma in (0.0, 0.1, 3.0):
            shifted = dense + sigma * np.eye(dense.shape[0])
            x = dec.solve(b, shift=sigma)
            assert rel(x, np.linalg.solve(shifted, hi(b))) <= self.tol(dtype, shifted)
            ld = dec.logdet(shift=sigma)
            ref = np.linalg.slogdet(shifted)[1]
            # each eigenvalue carries an error ε‖A‖, i.e. ε·κ relative to the smallest
            assert abs(ld - ref) <= self.tol(dtype, shifted) * max(1, abs(ref))
        s2 = dec.shift(0.5)
        np.testing.assert_allclose(
            np.sort(np.asarray(s2.values)),
            np.linalg.eigvalsh(dense) + 0.5,
            rtol=0,
            atol=100 * eps(dtype) * dense.shape[0] * np.linalg.norm(dense, 2),
        )
        sq = dec.apply(np.sqrt)
        Rd = sq.toarray()
        assert rel(Rd @ Rd, dense) <= 100 * eps(dtype) * dense.shape[
            0
        ] * np.linalg.cond(dense)
        ref_sorted = np.sort(np.linalg.eigvalsh(dense))
        for k in (1, 3):
            atol = 100 * eps(dtype) * dense.shape[0] * np.linalg.norm(dense, 2)
            np.testing.assert_allclose(
                dec.eigvals(k, "LA"), ref_sorted[::-1][:k], rtol=0, atol=atol
            )
            np.testing.assert_allclose(
                dec.eigvals(k, "SA"), ref_sorted[:k], rtol=0, atol=atol
            )

    @needs("shift")
    def test_shifted_operator(self, made):
        from kronop import IdentityOperator

        op, dense, _, dtype = made
        sigma = 0.7
        S = op + sigma * IdentityOperator(op.shape, dtype=dtype)
        Sd = dense + sigma * np.eye(dense.shape[0])
        rng = np.random.default_rng(7)
        b = random_array(rng, dense.shape[0], dtype)
        np.testing.assert_allclose(
            S.toarray(),
            Sd,
            rtol=10 * eps(dtype),
            atol=10 * eps(dtype) * np.abs(Sd).max(),
        )
        dec = S.decomposition()
        kappa = max(1.0, dec.vector_cond)
        assert (
            rel(S.solve(b), np.linalg.solve(Sd, hi(b))) <= self.tol(dtype, Sd) * kappa
        )
        sign, logabs = S.slogdet()
        ref_sign, ref_logabs = np.linalg.slogdet(Sd)
        # each eigenvalue carries an error ε‖A‖: ε·κ(Sd) relative to the smallest
        assert abs(logabs - ref_logabs) <= self.tol(dtype, Sd) * kappa * max(
            1, abs(ref_logabs)
        )
        assert abs(sign - ref_sign) < self.tol(dtype, Sd) * kappa
        assert rel(S @ b, Sd @ hi(b)) <= 100 * eps(dtype) * dense.shape[0]
