"""BlockCirculant against an independent dense assembly (loops over the blocks)."""

import itertools
import pickle

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.ndimage as ndi
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment
from scipy.sparse.linalg import aslinearoperator

from kronop import IdentityOperator
from kronop.circulant import BlockCirculant

from .contract.linalg import LinalgContract
from .contract.operator import OperatorContract
from .factories import check_close, eps, hi, random_array, rel


# ------------------------------------------------------------------ oracles
def assemble(blocks) -> np.ndarray:
    """The block-circulant matrix, block by block: block (i, j) = C[(i − j) % k]."""
    blocks = [hi(b) for b in blocks]
    k = len(blocks)
    m, n = blocks[0].shape
    dense = np.zeros((k * m, k * n), dtype=np.result_type(*blocks))
    for i in range(k):
        for j in range(k):
            dense[i * m : (i + 1) * m, j * n : (j + 1) * n] = blocks[(i - j) % k]
    return dense


def assemble_kernel(c) -> np.ndarray:
    """The multilevel circulant of a d-D kernel: entry (i, j) = c[(i − j) mod shape]."""
    c = hi(c)
    idx = list(itertools.product(*(range(s) for s in c.shape)))
    dense = np.zeros((len(idx), len(idx)), dtype=c.dtype)
    for r, i in enumerate(idx):
        for s, j in enumerate(idx):
            dense[r, s] = c[
                tuple((a - b) % k for a, b, k in zip(i, j, c.shape, strict=True))
            ]
    return dense


# ------------------------------------------------------------ the contract
def build_case(case, dtype, rng):
    if case == "square-k5-3x3":
        C = random_array(rng, (5, 3, 3), dtype)
        return BlockCirculant(C), assemble(C)
    if case == "rect-k4-2x3":
        C = random_array(rng, (4, 2, 3), dtype)
        return BlockCirculant(C), assemble(C)
    if case == "tall-k3-3x2":
        C = random_array(rng, (3, 3, 2), dtype)
        return BlockCirculant(C), assemble(C)
    if case == "k1":
        C = random_array(rng, (1, 3, 3), dtype)
        return BlockCirculant(C), assemble(C)
    if case == "k2":
        C = random_array(rng, (2, 2, 3), dtype)
        return BlockCirculant(C), assemble(C)
    if case == "k6-even":
        C = random_array(rng, (6, 2, 2), dtype)
        return BlockCirculant(C), assemble(C)
    if case == "list-form":
        blocks = [random_array(rng, (2, 3), dtype) for _ in range(3)]
        return BlockCirculant(blocks), assemble(blocks)
    if case == "sparse-list":
        blocks = [
            sp.random_array((3, 3), density=0.5, rng=rng, format="csr").astype(dtype)
            for _ in range(4)
        ]
        return BlockCirculant(blocks), assemble([b.toarray() for b in blocks])
    if case == "kernel-1d":
        c = random_array(rng, (7,), dtype)
        return BlockCirculant.from_kernel(c), assemble_kernel(c)
    if case == "kernel-2d":
        c = random_array(rng, (4, 5), dtype)
        return BlockCirculant.from_kernel(c), assemble_kernel(c)
    if case == "kernel-3d":
        c = random_array(rng, (2, 3, 4), dtype)
        return BlockCirculant.from_kernel(c), assemble_kernel(c)
    raise AssertionError(case)


class TestBlockCirculantContract(OperatorContract):
    cases = (
        "square-k5-3x3",
        "rect-k4-2x3",
        "tall-k3-3x2",
        "k1",
        "k2",
        "k6-even",
        "list-form",
        "sparse-list",
        "kernel-1d",
        "kernel-2d",
        "kernel-3d",
    )

    def build(self, case, dtype, rng):
        return build_case(case, dtype, rng)


def hermitian_blocks(rng, k, m, dtype):
    """C_{−j} = C_jᴴ and a dominant C₀: a Hermitian positive definite operator."""
    C = random_array(rng, (k, m, m), dtype) * 0.3
    for j in range(k):
        if (-j) % k == j:
            C[j] = (C[j] + C[j].conj().T) / 2
        elif j < (-j) % k:
            C[(-j) % k] = C[j].conj().T
    C[0] += 2 * k * np.eye(m, dtype=dtype)
    return C


class TestBlockCirculantLinalg(LinalgContract):
    cases = (
        "k5-3x3",
        "k4-2x2",
        "k1",
        "k2",
        "indefinite",
        "hermitian-pd",
        "kernel-2d",
        "kernel-1d-indefinite",
    )
    offers = frozenset({"solve", "inv", "slogdet", "trace", "norm", "cond"})

    def build(self, case, dtype, rng):
        if case == "k5-3x3":
            C = random_array(rng, (5, 3, 3), dtype)
            C[0] += 4 * np.eye(3, dtype=dtype)
            return BlockCirculant(C), assemble(C), False
        if case == "k4-2x2":
            C = random_array(rng, (4, 2, 2), dtype)
            C[1] += 3 * np.eye(2, dtype=dtype)
            return BlockCirculant(list(C)), assemble(C), False
        if case == "k1":
            C = random_array(rng, (1, 4, 4), dtype) + 3 * np.eye(4, dtype=dtype)
            return BlockCirculant(C), assemble(C), False
        if case == "k2":
            C = random_array(rng, (2, 3, 3), dtype)
            C[0] += 5 * np.eye(3, dtype=dtype)
            return BlockCirculant(C), assemble(C), False
        if case == "indefinite":
            C = random_array(rng, (6, 2, 2), dtype) * 0.3
            C[0] += np.diag([-3.0, 4.0]).astype(dtype)
            return BlockCirculant(C), assemble(C), False
        if case == "hermitian-pd":
            C = hermitian_blocks(rng, 5, 3, dtype)
            return BlockCirculant(C), assemble(C), True
        if case == "kernel-2d":
            c = random_array(rng, (3, 4), dtype)
            c[0, 0] += 8
            return BlockCirculant.from_kernel(c), assemble_kernel(c), False
        if case == "kernel-1d-indefinite":
            c = random_array(rng, (6,), dtype) * 0.2
            c[3] -= 3  # eigenvalues ≈ ±3: det changes sign with the parity
            return BlockCirculant.from_kernel(c), assemble_kernel(c), False
        raise AssertionError(case)


# -------------------------------------------------------------- direct tests
def matched_error(got, ref) -> float:
    """Relative error of two spectra paired by an optimal assignment."""
    got, ref = np.asarray(got, complex), np.asarray(ref, complex)
    rows, cols = linear_sum_assignment(np.abs(ref[:, None] - got[None, :]))
    return rel(got[cols], ref[rows])


@pytest.mark.parametrize(
    "make", [lambda r, d: (r.standard_normal((5, 3, 3))).astype(d)], ids=["k5"]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_real_in_real_out(make, dtype):
    rng = np.random.default_rng(0)
    C = make(rng, dtype)
    C[0] += 4 * np.eye(3, dtype=dtype)
    A = BlockCirculant(C)
    dense = assemble(C)
    for shape in (15, (15, 2)):
        x = rng.standard_normal(shape).astype(dtype)
        y = A @ x
        assert y.dtype == np.dtype(dtype)
        check_close(y, dense @ hi(x), dense, hi(x), dtype)
        z = A.solve(x)
        assert z.dtype == np.dtype(dtype)
        assert rel(z, np.linalg.solve(dense, hi(x))) <= 50 * eps(dtype) * 15 * (
            np.linalg.cond(dense)
        )
        assert (A.H @ x).dtype == np.dtype(dtype)
    assert A.inv().dtype == np.dtype(dtype)
    assert A.inv().blocks.dtype == np.dtype(dtype)


def test_complex_input_to_real_operator():
    rng = np.random.default_rng(1)
    C = rng.standard_normal((4, 2, 2)).astype(np.float32)
    C[0] += 3 * np.eye(2, dtype=np.float32)
    A, dense = BlockCirculant(C), assemble(C)
    x = random_array(rng, (8, 3), np.complex64)
    y = A @ x
    assert y.dtype == np.complex64
    check_close(y, dense @ hi(x), dense, hi(x), np.float32)
    xs = x[:, ::2]  # not contiguous
    check_close(A @ xs, dense @ hi(xs), dense, hi(xs), np.float32)
    z = A.solve(x)
    assert z.dtype == np.complex64
    assert rel(z, np.linalg.solve(dense, hi(x))) <= 1e-5
    z64 = A.solve(x.astype(np.complex128))
    assert z64.dtype == np.complex128
    assert rel(z64, np.linalg.solve(dense, hi(x))) <= 1e-12


def test_mixed_precision_works_in_the_wider_type():
    rng = np.random.default_rng(2)
    C = rng.standard_normal((5, 2, 2)).astype(np.float32)
    C[0] += 3 * np.eye(2, dtype=np.float32)
    A, dense = BlockCirculant(C), assemble(C)
    b = rng.standard_normal(10)
    x = A.solve(b)
    assert x.dtype == np.float64
    assert rel(x, np.linalg.solve(dense, b)) <= 1e-13
    assert rel(A @ b, dense @ b) <= 1e-14


@settings(max_examples=30, deadline=None)
@given(
    k=st.integers(1, 9),
    m=st.integers(1, 4),
    n=st.integers(1, 4),
    cols=st.integers(1, 3),
    dtype=st.sampled_from([np.float32, np.float64, np.complex64, np.complex128]),
    seed=st.integers(0, 2**16),
)
def test_random_shapes_match_dense(k, m, n, cols, dtype, seed):
    rng = np.random.default_rng(seed)
    C = random_array(rng, (k, m, n), dtype)
    A, dense = BlockCirculant(C), assemble(C)
    x = random_array(rng, (k * n, cols), dtype)
    check_close(A @ x, dense @ hi(x), dense, hi(x), dtype)
    y = random_array(rng, (k * m, cols), dtype)
    dh = dense.conj().T
    check_close(A.H @ y, dh @ hi(y), dh, hi(y), dtype)
    np.testing.assert_allclose(A.diagonal(), np.diag(dense), rtol=0, atol=0)
    np.testing.assert_allclose(
        A.norm(2), np.linalg.norm(dense, 2), rtol=100 * eps(dtype) * k
    )
    np.testing.assert_allclose(
        A.cond(), np.linalg.cond(dense), rtol=1e3 * eps(dtype) * np.linalg.cond(dense)
    )


def test_adjoint_and_transpose_blocks():
    rng = np.random.default_rng(3)
    C = random_array(rng, (4, 2, 3), np.complex128)
    A = BlockCirculant(C)
    want = [C[0].conj().T, C[3].conj().T, C[2].conj().T, C[1].conj().T]
    assert isinstance(A.H, BlockCirculant)
    np.testing.assert_array_equal(A.H.blocks, np.array(want))
    np.testing.assert_array_equal(A.T.blocks, np.array(want).conj())
    np.testing.assert_allclose(A.H.toarray(), assemble(C).conj().T)


def test_scalars_fold_into_the_blocks():
    C = np.arange(12.0).reshape(3, 2, 2)
    A = BlockCirculant(C)
    B = 2 * A
    assert isinstance(B, BlockCirculant)
    np.testing.assert_array_equal(B.blocks, 2 * C)
    assert isinstance(-A, BlockCirculant)
    assert (A * 1j).dtype == np.complex128
    f = BlockCirculant(C.astype(np.float32)) * 0.5
    assert f.dtype == np.float32


def test_eigvals_order_and_values():
    rng = np.random.default_rng(4)
    C = rng.standard_normal((5, 3, 3))
    A = BlockCirculant(C)
    w = A.eigvals()
    F = np.fft.fft(C, axis=0)
    for f in range(5):
        assert matched_error(w[3 * f : 3 * f + 3], np.linalg.eigvals(F[f])) <= 1e-12
    assert matched_error(w, np.linalg.eigvals(assemble(C))) <= 1e-12
    # a real operator's spectrum is exactly closed under conjugation
    np.testing.assert_array_equal(np.sort_complex(w), np.sort_complex(w.conj()))


@pytest.mark.parametrize("dtype", [np.float32, np.complex128])
def test_eigvals_complex_blocks(dtype):
    rng = np.random.default_rng(5)
    C = random_array(rng, (4, 2, 2), dtype)
    A = BlockCirculant(C)
    w = A.eigvals()
    assert matched_error(w, np.linalg.eigvals(assemble(C))) <= 1e3 * eps(dtype)


def test_eigvals_of_a_hermitian_operator_are_real_and_ascending_per_frequency():
    rng = np.random.default_rng(6)
    C = hermitian_blocks(rng, 6, 3, np.complex128)
    A = BlockCirculant(C)
    w = A.eigvals()
    assert w.dtype == np.float64
    assert all(np.all(np.diff(w[3 * f : 3 * f + 3]) >= 0) for f in range(6))
    np.testing.assert_allclose(
        np.sort(w), np.linalg.eigvalsh(assemble(C)), rtol=0, atol=1e-12 * 30
    )


def test_kernel_eigvals_are_its_dft():
    rng = np.random.default_rng(7)
    c = rng.standard_normal((3, 4, 2))
    A = BlockCirculant.from_kernel(c)
    np.testing.assert_allclose(A.eigvals(), np.fft.fftn(c).ravel(), atol=1e-13)


def test_periodic_convolution_matches_ndimage_wrap():
    rng = np.random.default_rng(8)
    image = rng.standard_normal((6, 7))
    w = rng.standard_normal((3, 3))
    # the kernel with its centre moved to the origin, periodically
    c = np.zeros_like(image)
    c[:3, :3] = w
    c = np.roll(c, (-1, -1), axis=(0, 1))
    A = BlockCirculant.from_kernel(c)
    ref = ndi.convolve(image, w, mode="wrap")
    np.testing.assert_allclose((A @ image.ravel()).reshape(6, 7), ref, atol=1e-13)
    np.testing.assert_allclose(A.toarray(), assemble_kernel(c), atol=0)
    # it is also the block-circulant matrix of its circulant blocks
    blocks = [sla.circulant(c[i]) for i in range(6)]
    np.testing.assert_array_equal(A.blocks, np.array(blocks))
    np.testing.assert_allclose(A.toarray(), assemble(blocks))


def test_kernel_solve_and_logdet():
    rng = np.random.default_rng(9)
    c = rng.standard_normal((4, 6)) * 0.1
    c[0, 0] = 2.0
    A = BlockCirculant.from_kernel(c)
    dense = assemble_kernel(c)
    b = rng.standard_normal(24)
    assert rel(A.solve(b), np.linalg.solve(dense, b)) <= 1e-13
    s, ld = A.slogdet()
    rs, rld = np.linalg.slogdet(dense)
    assert s == rs
    assert abs(ld - rld) <= 1e-12 * abs(rld)
    assert isinstance(A.inv(), BlockCirculant)
    assert A.inv().kernel is not None
    assert rel(A.inv().toarray(), np.linalg.inv(dense)) <= 1e-13


@pytest.mark.parametrize("k", [1, 2, 3, 4, 7, 8])
def test_real_slogdet_sign_is_exact(k):
    rng = np.random.default_rng(k)
    for trial in range(6):
        C = rng.standard_normal((k, 3, 3))
        A = BlockCirculant(C)
        s, ld = A.slogdet()
        rs, rld = np.linalg.slogdet(assemble(C))
        assert isinstance(s, float)
        assert s == rs, (k, trial)
        assert abs(ld - rld) <= 1e-10 * max(1.0, abs(rld))


def test_multilevel_real_slogdet_sign():
    rng = np.random.default_rng(10)
    for shape in [(2, 3), (4, 4), (3, 2, 2), (5,)]:
        for _ in range(4):
            c = rng.standard_normal(shape)
            s, ld = BlockCirculant.from_kernel(c).slogdet()
            rs, rld = np.linalg.slogdet(assemble_kernel(c))
            assert s == rs
            assert abs(ld - rld) <= 1e-10 * max(1.0, abs(rld))


def singular_at_frequency_one():
    """Blocks whose frequency blocks 1 and 3 vanish exactly (C₀ = C₂, C₁ = C₃)."""
    C0 = np.array([[2.0, 1.0], [0.0, 1.0]])
    C1 = np.array([[0.0, 1.0], [-1.0, 0.0]])
    return np.array([C0, C1, C0, C1])


def test_singular_frequency_block_is_named():
    C = singular_at_frequency_one()
    A = BlockCirculant(C)
    s, ld = A.slogdet()
    assert s == 0.0
    assert ld == -np.inf
    assert A.det() == 0.0
    assert A.logdet() == -np.inf
    with pytest.raises(np.linalg.LinAlgError, match=r"frequency block 1 \(2×2\)"):
        A.solve(np.ones(8))
    with pytest.raises(np.linalg.LinAlgError, match="frequency block 1"):
        A.inv()
    Z = BlockCirculant(C.astype(complex))
    assert Z.slogdet() == (0j, -np.inf)
    with pytest.raises(np.linalg.LinAlgError, match="frequency 1 is 0"):
        BlockCirculant.from_kernel([1.0, 1.0]).solve(np.ones(2))
    with pytest.raises(np.linalg.LinAlgError, match=r"frequency \(1, 0\) is 0"):
        BlockCirculant.from_kernel([[1.0, 0.0], [1.0, 0.0]]).solve(np.ones(4))


def test_ill_conditioned_frequency_uses_lu():
    rng = np.random.default_rng(12)
    F = np.zeros((5, 3, 3), dtype=complex)
    for f in range(5):
        F[f] = np.eye(3) * 2 + 0.1 * rng.standard_normal((3, 3))
    U, _, Vh = np.linalg.svd(rng.standard_normal((3, 3)))
    F[2] = U @ np.diag([1.0, 1e-2, 1e-8]) @ Vh  # κ ≈ 1e8: past the inverse's limit
    F[3] = F[2].conj()
    F[0] = F[0].real
    C = np.fft.ifft(F, axis=0).real
    A = BlockCirculant(C)
    dense = assemble(C)
    b = rng.standard_normal((15, 2))
    x = A.solve(b)
    solver = next(iter(A.factorization()._solvers.values()))
    assert set(solver._lu) == {2}
    ref = np.linalg.solve(dense, b)
    assert rel(x, ref) <= 50 * eps(np.float64) * 15 * np.linalg.cond(dense)
    # LU keeps the backward error at roundoff level
    resid = np.linalg.norm(dense @ x - b)
    assert resid <= 1e-13 * np.linalg.norm(dense) * np.linalg.norm(x)


def test_ill_conditioned_frequency_block_warns():
    # Ĉ₁ = C₀ − C₂ = diag(1, 1e-20) exactly: κ(Ĉ₁) = 1e20 > 1/ε
    P = np.array([[0.0, 1.0], [1.0, 0.0]])
    C = np.array([P + np.diag([1.0, 0.0]), P, P + np.diag([0.0, -1e-20]), P])
    A = BlockCirculant(C)
    with pytest.warns(sla.LinAlgWarning, match="frequency block 1 is ill-conditioned"):
        A.solve(np.ones(8))
    # a tiny but well-conditioned frequency block is no reason to warn
    Q = np.array([P + np.eye(2), P, P - 1e-20 * np.eye(2), P])
    x = BlockCirculant(Q).solve(np.ones(8))
    assert np.all(np.isfinite(x))


def test_bad_inputs():
    rng = np.random.default_rng(13)
    with pytest.raises(ValueError, match="empty list"):
        BlockCirculant([])
    with pytest.raises(
        ValueError, match=r"block 2 has shape \(2, 3\), expected \(3, 3\)"
    ):
        BlockCirculant([np.eye(3), np.eye(3), np.ones((2, 3))])
    with pytest.raises(ValueError, match=r"block 1 must be a 2-D"):
        BlockCirculant([np.eye(3), np.ones(3)])
    with pytest.raises(
        ValueError, match=r"3-D array .* got an array of shape \(3, 3\)"
    ):
        BlockCirculant(np.eye(3))
    with pytest.raises(ValueError, match="at least one block"):
        BlockCirculant(np.zeros((0, 2, 2)))
    with pytest.raises(ValueError, match="empty"):
        BlockCirculant(np.zeros((3, 0, 2)))
    with pytest.raises(TypeError, match="numeric"):
        BlockCirculant(np.array([[["a"]]]))
    with pytest.raises(TypeError, match="block 0"):
        BlockCirculant([aslinearoperator(np.eye(2))])
    with pytest.raises(TypeError):
        BlockCirculant(aslinearoperator(np.eye(2)))
    with pytest.raises(ValueError, match="axis 1 is empty"):
        BlockCirculant.from_kernel(np.zeros((2, 0)))
    with pytest.raises(ValueError, match="at least one axis"):
        BlockCirculant.from_kernel(3.0)
    R = BlockCirculant(rng.standard_normal((3, 2, 3)))
    for method in ("solve", "inv", "slogdet", "eigvals"):
        with pytest.raises(ValueError, match=r"square blocks, got blocks of shape 2×3"):
            getattr(R, method)(*([np.ones(6)] if method == "solve" else []))
    A = BlockCirculant(rng.standard_normal((3, 2, 2)))
    with pytest.raises(ValueError, match="shape"):
        A.solve(np.ones(7))
    with pytest.raises(ValueError, match="ord"):
        A.norm("nuc")
    N = BlockCirculant(np.array([[[1.0, np.nan], [0.0, 1.0]]] * 2))
    with pytest.raises(ValueError, match="finite"):
        N.solve(np.ones(4))
    with pytest.raises(ValueError, match="finite"):
        N.slogdet()
    with pytest.raises(ValueError, match="finite"):
        N.norm(2)


def test_integer_and_bool_blocks_become_float64():
    A = BlockCirculant(np.arange(8).reshape(2, 2, 2))
    assert A.dtype == np.float64
    assert BlockCirculant([np.eye(2, dtype=bool)] * 2).dtype == np.float64
    assert BlockCirculant(np.ones((2, 2, 2), np.float16)).dtype == np.float32
    assert BlockCirculant([np.eye(2, dtype=np.float32), np.eye(2)]).dtype == np.float64


def test_callers_array_is_copied_and_caches_are_readonly():
    C = np.arange(8.0).reshape(2, 2, 2)
    keep = C.copy()
    A = BlockCirculant(C)
    C[0, 0, 0] = 100.0
    np.testing.assert_array_equal(A.blocks, keep)
    with pytest.raises(ValueError, match="read-only"):
        A.blocks[0, 0, 0] = 1.0
    F = A.frequency_blocks()
    F[0] = 0  # a new array: the cache is untouched
    np.testing.assert_allclose(A.frequency_blocks(), np.fft.fft(keep, axis=0))
    with pytest.raises(ValueError, match="read-only"):
        A._spectrum(A.dtype)[0] = 0  # the cached frequency blocks are read-only


def test_empty_inputs():
    A = BlockCirculant(np.ones((3, 2, 4), np.float32))
    y = A @ np.zeros((12, 0), np.float32)
    assert y.shape == (6, 0)
    assert y.dtype == np.float32
    S = BlockCirculant(np.eye(2)[None] * np.array([3.0, 1.0])[:, None, None])
    x = S.solve(np.zeros((4, 0)))
    assert x.shape == (4, 0)
    assert x.dtype == np.float64


def test_structured_sums_and_products():
    rng = np.random.default_rng(14)
    C = rng.standard_normal((4, 2, 3))
    D = rng.standard_normal((4, 3, 2))
    E = rng.standard_normal((4, 2, 3)) + 1j * rng.standard_normal((4, 2, 3))
    A, B, G = BlockCirculant(C), BlockCirculant(D), BlockCirculant(E)
    P = A @ B
    assert isinstance(P, BlockCirculant)
    assert P.dtype == np.float64
    np.testing.assert_allclose(P.toarray(), assemble(C) @ assemble(D), atol=1e-13)
    S = A + G
    assert isinstance(S, BlockCirculant)
    assert S.dtype == np.complex128
    np.testing.assert_allclose(S.toarray(), assemble(C) + assemble(E), atol=1e-14)
    sq = BlockCirculant(rng.standard_normal((4, 2, 2)))
    shifted = sq + 5.0 * IdentityOperator(sq.shape)
    assert isinstance(shifted, BlockCirculant)
    dense = sq.toarray() + 5 * np.eye(8)
    np.testing.assert_allclose(shifted.toarray(), dense, atol=1e-14)
    b = rng.standard_normal(8)
    assert rel(shifted.solve(b), np.linalg.solve(dense, b)) <= 1e-13
    k = BlockCirculant.from_kernel(rng.standard_normal((3, 3)))
    assert (k @ k).kernel is not None
    np.testing.assert_allclose((k @ k).toarray(), k.toarray() @ k.toarray(), atol=1e-13)
    # different levels: no rule, scipy's lazy product still right
    other = BlockCirculant(rng.standard_normal((2, 4, 2)))
    mixed = BlockCirculant(rng.standard_normal((4, 2, 2))) @ other
    assert not isinstance(mixed, BlockCirculant)


def test_pickle_round_trip():
    rng = np.random.default_rng(15)
    C = rng.standard_normal((3, 2, 2)) + 2 * np.eye(2)
    A = BlockCirculant(C)
    b = rng.standard_normal(6)
    x = A.solve(b)
    B = pickle.loads(pickle.dumps(A))
    assert not B._spectra
    np.testing.assert_allclose(B.solve(b), x, rtol=1e-14)
    assert not B.blocks.flags.writeable


def test_inverse_is_block_circulant_and_cached():
    rng = np.random.default_rng(16)
    C = rng.standard_normal((6, 3, 3))
    C[0] += 4 * np.eye(3)
    A = BlockCirculant(C)
    inv = A.inv()
    assert isinstance(inv, BlockCirculant)
    assert inv is A.inv()
    np.testing.assert_allclose(inv.toarray(), np.linalg.inv(assemble(C)), atol=1e-14)
    b = rng.standard_normal(18)
    np.testing.assert_allclose(inv @ b, A.solve(b), rtol=1e-12)


def test_repr():
    assert "4 blocks 2×3" in repr(BlockCirculant(np.ones((4, 2, 3))))
    assert "kernel 3×5" in repr(BlockCirculant.from_kernel(np.ones((3, 5))))


def test_list_and_array_forms_agree():
    rng = np.random.default_rng(17)
    C = rng.standard_normal((4, 2, 3))
    A, B = BlockCirculant(C), BlockCirculant(list(C))
    np.testing.assert_array_equal(A.blocks, B.blocks)
    assert A.dtype == B.dtype
    x = rng.standard_normal((12, 2))
    np.testing.assert_array_equal(A @ x, B @ x)
    np.testing.assert_array_equal(A.toarray(), B.toarray())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_keeps_real_precision(dtype):
    rng = np.random.default_rng(18)
    c = rng.standard_normal((8, 6)).astype(dtype)
    c[0, 0] += 10
    A = BlockCirculant.from_kernel(c)
    dense = assemble_kernel(c)
    x = rng.standard_normal((48, 3)).astype(dtype)
    y = A @ x
    assert y.dtype == np.dtype(dtype)
    check_close(y, dense @ hi(x), dense, hi(x), dtype)
    z = A.solve(x[:, 0])
    assert z.dtype == np.dtype(dtype)
    assert rel(z, np.linalg.solve(dense, hi(x[:, 0]))) <= 100 * eps(dtype)
