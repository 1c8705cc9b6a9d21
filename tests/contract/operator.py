"""The shared operator contract: every kronop operator passes it against its dense oracle.

A test module opts in by subclassing :class:`OperatorContract` and saying how to build
its operator: ``cases`` names the variants and ``build(case, dtype, rng)`` returns the
operator and its dense equivalent (computed independently, e.g. with ``np.kron``). Every
``test_*`` method below then runs for each case and each dtype (float32, float64,
complex64, complex128). This is linear_operator's ``LinearOperatorTestCase`` pattern
with PyLops' dot-test added.

Tolerances come from :func:`~tests.factories.check_close`: a forward-error bound
``c·ε·(inner size)`` relative to ``|A|·|x|``, so they scale with the dtype and never
need loosening.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, aslinearoperator

from ..factories import DTYPES, check_close, eps, hi, random_array
from . import Contract

SCIPY_118 = tuple(int(v) for v in scipy.__version__.split(".")[:2]) >= (1, 18)


class OperatorContract(Contract):
    """Products, adjoints and algebra. Subclasses set ``cases`` and define ``build``."""

    def build(self, case: str, dtype, rng):
        """Return ``(operator, dense)`` for a variant; ``dense`` is the oracle."""
        raise NotImplementedError

    def inner_size(self, op) -> int:
        """Terms summed per output entry, for the error bound (override if known)."""
        return int(max(op.shape))

    # ---------------------------------------------------------------- fixtures
    @pytest.fixture(params=DTYPES, ids=lambda d: np.dtype(d).name)
    def dtype(self, request):
        return request.param

    @pytest.fixture
    def made(self, case, dtype, rng):
        op, dense = self.build(case, dtype, rng)
        return op, hi(dense), dtype

    # ------------------------------------------------------------------ tests
    def test_shape_and_dtype(self, made):
        op, dense, dtype = made
        assert op.shape == dense.shape
        assert all(type(s) is int for s in op.shape)
        assert isinstance(op, LinearOperator)
        assert op.dtype == np.dtype(dtype)
        # scipy's documented attribute: the operands, a tuple (empty for a leaf)
        assert isinstance(op.args, tuple)
        assert isinstance(op.H.args, tuple)
        assert isinstance(op.T.args, tuple)

    def test_toarray(self, made):
        op, dense, dtype = made
        arr = op.toarray()
        assert arr.shape == dense.shape
        np.testing.assert_allclose(
            arr, dense, rtol=20 * eps(dtype), atol=20 * eps(dtype)
        )

    def test_matvec(self, made, rng):
        op, dense, dtype = made
        x = random_array(rng, op.shape[1], dtype)
        y = op.matvec(x)
        assert y.shape == (op.shape[0],)
        assert y.dtype == np.result_type(op.dtype, x.dtype)
        check_close(y, dense @ hi(x), dense, hi(x), dtype, self.inner_size(op))
        check_close(op @ x, dense @ hi(x), dense, hi(x), dtype, self.inner_size(op))

    def test_matvec_column(self, made, rng):
        op, dense, dtype = made
        x = random_array(rng, (op.shape[1], 1), dtype)
        y = op @ x
        assert y.shape == (op.shape[0], 1)
        check_close(y, dense @ hi(x), dense, hi(x), dtype, self.inner_size(op))

    @pytest.mark.parametrize("order", ["C", "F"])
    def test_matmat(self, made, rng, order):
        op, dense, dtype = made
        x = np.asarray(random_array(rng, (op.shape[1], 3), dtype), order=order)
        y = op.matmat(x)
        assert y.shape == (op.shape[0], 3)
        check_close(y, dense @ hi(x), dense, hi(x), dtype, self.inner_size(op))

    def test_matmat_strided_input(self, made, rng):
        op, dense, dtype = made
        big = random_array(rng, (op.shape[1], 6), dtype)
        x = big[:, ::2]  # neither C- nor F-contiguous
        check_close(op @ x, dense @ hi(x), dense, hi(x), dtype, self.inner_size(op))

    def test_rmatvec_and_rmatmat(self, made, rng):
        op, dense, dtype = made
        y = random_array(rng, op.shape[0], dtype)
        dh = dense.conj().T
        check_close(op.rmatvec(y), dh @ hi(y), dh, hi(y), dtype, self.inner_size(op))
        Y = random_array(rng, (op.shape[0], 2), dtype)
        check_close(op.rmatmat(Y), dh @ hi(Y), dh, hi(Y), dtype, self.inner_size(op))

    def test_dot_test(self, made, rng):
        """⟨Ax, y⟩ = ⟨x, Aᴴy⟩ (PyLops' dot-test), without the dense matrix."""
        op, _, dtype = made
        x = random_array(rng, op.shape[1], dtype)
        y = random_array(rng, op.shape[0], dtype)
        lhs = np.vdot(y, op @ x)
        rhs = np.vdot(op.H @ y, x)
        scale = np.linalg.norm(op @ x) * np.linalg.norm(y) + np.linalg.norm(
            op.H @ y
        ) * np.linalg.norm(x)
        assert abs(lhs - rhs) <= 50 * eps(dtype) * self.inner_size(op) * scale

    def test_transpose_and_adjoint(self, made, rng):
        op, dense, dtype = made
        for got, want in ((op.T, dense.T), (op.H, dense.conj().T)):
            assert got.shape == want.shape
            assert got.dtype == op.dtype
            x = random_array(rng, got.shape[1], dtype)
            check_close(got @ x, want @ hi(x), want, hi(x), dtype, self.inner_size(op))
        x = random_array(rng, op.shape[1], dtype)
        check_close(op.T.T @ x, dense @ hi(x), dense, hi(x), dtype, self.inner_size(op))
        check_close(op.H.H @ x, dense @ hi(x), dense, hi(x), dtype, self.inner_size(op))

    def test_left_matmul(self, made, rng):
        op, dense, dtype = made
        x = random_array(rng, op.shape[0], dtype)
        check_close(x @ op, hi(x) @ dense, dense.T, hi(x), dtype, self.inner_size(op))
        X = random_array(rng, (2, op.shape[0]), dtype)
        got = X @ op
        assert got.shape == (2, op.shape[1])
        check_close(
            got.T, (hi(X) @ dense).T, dense.T, hi(X).T, dtype, self.inner_size(op)
        )

    @pytest.mark.parametrize("alpha", [2, 0.5, -1.5, 3j])
    def test_scalar_multiple(self, made, rng, alpha):
        op, dense, dtype = made
        if isinstance(alpha, complex) and np.dtype(dtype).kind != "c":
            want_dtype = np.result_type(dtype, np.complex64)
        else:
            want_dtype = np.dtype(dtype)
        for scaled in (alpha * op, op * alpha):
            # scipy 1.17's own scaled operator declares float64 for a float32
            # operator times a Python float: ours keeps the dtype NumPy would
            assert scaled.dtype == want_dtype, (scaled.dtype, want_dtype)
            x = random_array(rng, op.shape[1], dtype)
            check_close(
                scaled @ x,
                alpha * (dense @ hi(x)),
                dense,
                abs(alpha) * hi(x),
                dtype,
                self.inner_size(op),
            )
            assert (scaled @ x).dtype == want_dtype

    def test_negation_and_division(self, made, rng):
        op, dense, dtype = made
        x = random_array(rng, op.shape[1], dtype)
        check_close(-op @ x, -(dense @ hi(x)), dense, hi(x), dtype, self.inner_size(op))
        check_close(
            (op / 4) @ x, dense @ hi(x) / 4, dense, hi(x), dtype, self.inner_size(op)
        )
        assert (op / 4).dtype == op.dtype
        with pytest.raises((ValueError, TypeError)):
            op / np.ones(3)

    def test_sum_and_difference(self, made, rng):
        op, dense, dtype = made
        x = random_array(rng, op.shape[1], dtype)
        other = aslinearoperator(random_array(rng, op.shape, dtype))
        od = hi(other.matmat(np.eye(op.shape[1], dtype=dtype)))
        s, d = op + other, op - other
        assert s.shape == op.shape
        ref = np.abs(dense) + np.abs(od)
        check_close(s @ x, (dense + od) @ hi(x), ref, hi(x), dtype, self.inner_size(op))
        check_close(d @ x, (dense - od) @ hi(x), ref, hi(x), dtype, self.inner_size(op))
        with pytest.raises(ValueError, match=r"shape|dimension"):
            op + aslinearoperator(np.ones((op.shape[0] + 1, op.shape[1])))

    def test_product_with_operator(self, made, rng):
        op, dense, dtype = made
        right = aslinearoperator(random_array(rng, (op.shape[1], 3), dtype))
        rd = hi(right.matmat(np.eye(3, dtype=dtype)))
        prod = op @ right
        assert prod.shape == (op.shape[0], 3)
        x = random_array(rng, 3, dtype)
        check_close(
            prod @ x,
            dense @ (rd @ hi(x)),
            np.abs(dense) @ np.abs(rd),
            hi(x),
            dtype,
            self.inner_size(op) * 3,
        )
        with pytest.raises(ValueError, match="shape"):
            op @ aslinearoperator(np.ones((op.shape[1] + 1, 2)))

    def test_wrong_length_raises(self, made):
        op, _, dtype = made
        with pytest.raises(ValueError, match=r"(?i)dimension mismatch"):
            op @ np.ones(op.shape[1] + 1, dtype=dtype)
        with pytest.raises(ValueError, match=r"(?i)dimension mismatch"):
            op.matmat(np.ones((op.shape[1] + 1, 2), dtype=dtype))
        with pytest.raises(ValueError, match=r"(?i)dimension mismatch"):
            op.rmatvec(np.ones(op.shape[0] + 1, dtype=dtype))

    def test_readonly_input_untouched(self, made, rng):
        op, dense, dtype = made
        for shape in (op.shape[1], (op.shape[1], 2)):
            x = random_array(rng, shape, dtype)
            keep = x.copy()
            x.setflags(write=False)
            y = op @ x
            np.testing.assert_array_equal(x, keep)
            check_close(y, dense @ hi(x), dense, hi(x), dtype, self.inner_size(op))
            y2 = op.H @ random_array(rng, op.shape[0], dtype)
            assert y2.shape == (op.shape[1],)

    def test_results_do_not_alias(self, made, rng):
        """Work buffers are reused: a second product must not change the first."""
        op, _, dtype = made
        x1 = random_array(rng, (op.shape[1], 2), dtype)
        x2 = random_array(rng, (op.shape[1], 2), dtype)
        y1 = op @ x1
        keep = y1.copy()
        y2 = op @ x2
        np.testing.assert_array_equal(y1, keep)
        assert not np.shares_memory(y1, y2)
        v1 = op @ x1[:, 0]
        keepv = v1.copy()
        op @ x2[:, 0]
        np.testing.assert_array_equal(v1, keepv)

    def test_integer_and_mixed_inputs(self, made, rng):
        op, dense, dtype = made
        x = rng.integers(-3, 4, size=op.shape[1])
        y = op @ x
        assert y.dtype == np.result_type(op.dtype, x.dtype)
        check_close(
            y, dense @ x, dense, np.abs(x).astype(float), dtype, self.inner_size(op)
        )
        x64 = rng.standard_normal(op.shape[1])
        assert (op @ x64).dtype == np.result_type(op.dtype, np.float64)

    def test_sparse_input(self, made, rng):
        op, dense, dtype = made
        X = sp.random_array((op.shape[1], 2), density=0.5, rng=rng, dtype=np.float64)
        got = op @ X
        check_close(
            np.asarray(got),
            dense @ X.toarray(),
            dense,
            X.toarray(),
            dtype,
            self.inner_size(op),
        )

    @pytest.mark.skipif(not SCIPY_118, reason="stacked inputs arrived in scipy 1.18")
    def test_stacked_inputs_scipy_118(self, made, rng):
        op, dense, dtype = made
        xs = random_array(rng, (4, op.shape[1]), dtype)
        got = op.matvec(xs)
        assert got.shape == (4, op.shape[0])
        check_close(
            got.T, dense @ hi(xs).T, dense, hi(xs).T, dtype, self.inner_size(op)
        )
        X = random_array(rng, (2, op.shape[1], 3), dtype)
        got = op @ X
        assert got.shape == (2, op.shape[0], 3)
        for b in range(2):
            check_close(
                got[b], dense @ hi(X[b]), dense, hi(X[b]), dtype, self.inner_size(op)
            )
