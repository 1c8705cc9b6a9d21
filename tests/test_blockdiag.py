"""BlockDiag: the shared contracts against scipy.linalg.block_diag, plus its own rules.

The oracle is always ``scipy.linalg.block_diag`` of the blocks' dense matrices
(computed independently, in float64/complex128).
"""

import pickle
import warnings

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import LinearOperator, aslinearoperator

from kronop import KronOperator, KronSum
from kronop.blockdiag import BlockDiag, BlockEigen

from .contract.linalg import LinalgContract
from .contract.operator import OperatorContract
from .factories import (
    dense_of,
    eps,
    hi,
    hpd,
    ksum_dense,
    linalg_factor,
    make_factor,
    peak_bytes,
    random_array,
    rel,
)


def oracle(denses) -> np.ndarray:
    return sla.block_diag(*(hi(d) for d in denses))


# ------------------------------------------------------------------ products
# name -> list of block specs (m, n, kind); "stack" cases build a (k, m, n) array
CASES = {
    "list-shapes": [(3, 3, "dense"), (2, 4, "dense"), (5, 2, "dense"), (1, 1, "dense")],
    "equal-list": [(3, 3, "dense")] * 4,
    "equal-runs": [
        (2, 2, "dense"),
        (2, 2, "dense"),
        (3, 3, "csr"),
        (2, 3, "dense"),
        (2, 3, "dense"),
        (2, 3, "dense"),
        (4, 1, "dense"),
    ],
    "mixed": [
        (3, 4, "dense"),
        (4, 4, "csr"),
        (2, 3, "linop"),
        (4, 6, "kron"),
        (6, 6, "kronsum"),
        (3, 2, "csc_matrix"),
    ],
    "single": [(4, 3, "dense")],
    "single-kron": [(4, 6, "kron")],
    "nested": [(2, 2, "dense"), (5, 4, "blockdiag")],
}
STACKS = {"stack": (5, 3, 4), "stack-square": (6, 3, 3), "stack-one": (1, 4, 2)}


def make_block(m, n, kind, dtype, rng):
    """(block, dense oracle) for one spec."""
    if kind == "kron":  # (2×2) ⊗ (2×3)
        a, b = (
            random_array(rng, (2, 2), dtype),
            random_array(rng, (m // 2, n // 2), dtype),
        )
        return KronOperator(a, b), np.kron(hi(a), hi(b))
    if kind == "kronsum":  # (2×2) ⊕ (3×3)
        a, b = random_array(rng, (2, 2), dtype), random_array(rng, (3, 3), dtype)
        return KronSum(a, b), ksum_dense([a, b])
    if kind == "blockdiag":
        inner = [
            make_factor(3, 2, "dense", dtype, rng),
            make_factor(2, 2, "csr", dtype, rng),
        ]
        return BlockDiag([b for b, _ in inner]), oracle([d for _, d in inner])
    return make_factor(m, n, kind, dtype, rng)


class TestBlockDiagContract(OperatorContract):
    cases = (*CASES, *STACKS)

    def build(self, case, dtype, rng):
        if case in STACKS:
            stack = random_array(rng, STACKS[case], dtype)
            return BlockDiag(stack), oracle(list(stack))
        made = [make_block(m, n, kind, dtype, rng) for m, n, kind in CASES[case]]
        return BlockDiag([b for b, _ in made]), oracle([d for _, d in made])

    def inner_size(self, op):
        return max(n for _, n in op.block_shapes) + 1


# ------------------------------------------------------------ linear algebra
# name -> (list of (kind, n)), hpd; kinds of tests.factories.linalg_factor plus
# "kron-hpd"/"kron-general" (2×2 ⊗ n/2×n/2) and "kronsum-hpd" (2×2 ⊕ n/2×n/2)
LINALG = {
    "list-hpd": ([("hpd", 3), ("hpd", 4), ("hpd", 1)], True),
    "list-general": ([("general", 3), ("general", 2), ("general-shifted", 4)], False),
    "list-indefinite": ([("indefinite", 3), ("negative", 2), ("hpd", 2)], False),
    "equal-list-hpd": ([("hpd", 3)] * 4, True),
    "mixed": (
        [
            ("general", 3),
            ("sparse-hpd", 4),
            ("kron-general", 4),
            ("kronsum-hpd", 6),
            ("sparse-general", 3),
        ],
        False,
    ),
    "mixed-hpd": (
        [("hpd", 2), ("sparse-hpd", 4), ("kron-hpd", 4), ("kronsum-hpd", 4)],
        True,
    ),
    "single": ([("general", 5)], False),
    "ill": ([("hpd-ill", 4), ("hpd", 3)], True),
    "jordan": ([("jordan", 3), ("hpd", 2)], False),
}
LINALG_STACKS = {"stack-hpd": ("hpd", 5, 3), "stack-general": ("general", 4, 3)}


def linalg_block(kind, n, dtype, rng):
    if kind == "indefinite":  # Hermitian, eigenvalues of both signs
        a = (hpd(rng, n, dtype) - 5.5 * np.eye(n)).astype(dtype)
        return a, a
    if kind == "negative":
        a = (-hpd(rng, n, dtype)).astype(dtype)
        return a, a
    if kind in ("kron-hpd", "kron-general"):
        base = "hpd" if kind == "kron-hpd" else "general-shifted"
        a, b = (
            linalg_factor(base, 2, dtype, rng),
            linalg_factor("hpd", n // 2, dtype, rng),
        )
        return KronOperator(a, b), np.kron(hi(a), hi(b))
    if kind == "kronsum-hpd":
        a, b = (
            linalg_factor("hpd", 2, dtype, rng),
            linalg_factor("hpd", n // 2, dtype, rng),
        )
        return KronSum(a, b), ksum_dense([a, b])
    a = linalg_factor(kind, n, dtype, rng)
    return a, dense_of(a)


class TestBlockDiagLinalg(LinalgContract):
    cases = (*LINALG, *LINALG_STACKS)
    offers = frozenset(
        {"solve", "inv", "slogdet", "trace", "norm", "cond", "eig", "eigh"}
    )

    def build(self, case, dtype, rng):
        if case in LINALG_STACKS:
            kind, k, n = LINALG_STACKS[case]
            stack = np.stack([linalg_factor(kind, n, dtype, rng) for _ in range(k)])
            return BlockDiag(stack), oracle(list(stack)), kind == "hpd"
        specs, is_hpd = LINALG[case]
        made = [linalg_block(kind, n, dtype, rng) for kind, n in specs]
        return BlockDiag([b for b, _ in made]), oracle([d for _, d in made]), is_hpd

    def cond_tolerance(self, op, dense, dtype) -> float:
        # each block's σ carries ε·n·κ of that block only
        return 20 * eps(dtype) * dense.shape[0] * max(1.0, np.linalg.cond(dense))


# ------------------------------------------------------------------ structure
@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_blocks_attribute_list(rng):
    a, s, op = rng.random((2, 3)), sp.random_array((3, 3), density=0.5, rng=rng), None
    op = aslinearoperator(rng.random((2, 2)))
    D = BlockDiag([a, s, op])
    assert isinstance(D.blocks, tuple)
    assert D.blocks[0] is a
    assert D.blocks[1] is s
    assert D.blocks[2] is op
    assert D.args == D.blocks
    assert D.nblocks == 3
    assert D.block_shapes == ((2, 3), (3, 3), (2, 2))


def test_blocks_attribute_stack_is_readonly_view(rng):
    stack = rng.random((4, 2, 3))
    keep = stack.copy()
    D = BlockDiag(stack)
    b = D.blocks
    assert isinstance(b, np.ndarray)
    assert b.shape == (4, 2, 3)
    assert np.shares_memory(b, stack)
    assert not b.flags.writeable
    assert stack.flags.writeable  # the caller's array is left as it was
    D @ rng.random(12)
    D.H @ rng.random(8)
    np.testing.assert_array_equal(stack, keep)
    assert not D.H.blocks.flags.writeable


def test_equal_dense_blocks_are_stacked(rng):
    blocks = [rng.random((3, 3)) for _ in range(5)]
    D = BlockDiag(blocks)
    assert len(D._parts) == 1
    assert D._parts[0].stack.shape == (5, 3, 3)
    assert all(u is v for u, v in zip(D.blocks, blocks, strict=True))
    runs = BlockDiag(
        [blocks[0], blocks[1], sp.eye_array(2), blocks[2], rng.random((2, 3))]
    )
    assert [type(p).__name__ for p in runs._parts] == [
        "_Stack",
        "_Sparse",
        "_Stack",
        "_Stack",
    ]
    assert runs._parts[0].stack.shape == (2, 3, 3)


@pytest.mark.parametrize("form", ["array", "list"])
def test_equal_blocks_one_batched_matmul(monkeypatch, rng, form):
    """k equal dense blocks on (N, K): one np.matmul, no Python loop over blocks."""
    stack = rng.random((50, 4, 3))
    D = BlockDiag(stack if form == "array" else list(stack))
    X = rng.random((150, 7))
    calls = []
    real = np.matmul

    def counting(*args, **kwargs):
        calls.append(np.shape(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(np, "matmul", counting)
    y = D @ X
    assert calls == [(50, 4, 3)]
    calls.clear()
    D.matvec(X[:, 0])
    assert calls == [(50, 4, 3)]
    np.testing.assert_allclose(y, oracle(list(stack)) @ X, rtol=1e-12)


def test_adjoint_transpose_scalar_are_blockdiags(rng):
    a = random_array(rng, (3, 2), np.complex128)
    D = BlockDiag([a, sp.csr_array(random_array(rng, (2, 2), np.complex128))])
    dense = D.toarray()
    for got, want in ((D.H, dense.conj().T), (D.T, dense.T), (2j * D, 2j * dense)):
        assert isinstance(got, BlockDiag)
        np.testing.assert_allclose(got.toarray(), want, rtol=1e-14)
    assert D.H.block_shapes == ((2, 3), (2, 2))
    # the scalar folds into the blocks: no lazy scipy wrapper
    assert isinstance((0.5 * D).blocks[0], np.ndarray)
    assert isinstance((D * 3).blocks[1], sp.sparray)


def test_toarray_matches_scipy_block_diag(rng):
    blocks = [
        rng.random((2, 3)),
        sp.random_array((3, 1), density=1.0, rng=rng),
        rng.random((1, 1)),
    ]
    want = sla.block_diag(blocks[0], blocks[1].toarray(), blocks[2])
    np.testing.assert_array_equal(BlockDiag(blocks).toarray(), want)


def test_integer_blocks_become_float64():
    D = BlockDiag([np.eye(2, dtype=int), np.ones((1, 3), dtype=np.int8)])
    assert D.dtype == np.float64
    assert D.blocks[0].dtype == np.float64
    assert BlockDiag(np.ones((2, 2, 2), dtype=bool)).dtype == np.float64
    assert (
        BlockDiag([np.eye(2, dtype=np.float32), np.eye(1, dtype=np.float16)]).dtype
        == np.float32
    )


def test_pickle_after_factorizations(rng):
    D = BlockDiag(
        [
            hpd(rng, 3, float),
            sp.eye_array(2) * 3.0,
            KronOperator(hpd(rng, 2, float), np.eye(2)),
        ]
    )
    b = rng.random(9)
    x = D.solve(b)
    D.solve(b)  # forms the cached inverses and LU factors
    E = pickle.loads(pickle.dumps(D))
    np.testing.assert_allclose(E.solve(b), x, rtol=1e-12)


def test_empty_inputs(rng):
    D = BlockDiag([hpd(rng, 3, float), rng.random((2, 2)) + 2 * np.eye(2)])
    assert (D @ np.zeros((5, 0))).shape == (5, 0)
    got = D.solve(np.zeros((5, 0), dtype=np.float32))
    assert got.shape == (5, 0)
    assert (D.inv() @ np.zeros((5, 0))).shape == (5, 0)


@settings(max_examples=25, deadline=None)
@given(
    shapes=st.lists(
        st.tuples(
            st.integers(1, 4),
            st.integers(1, 4),
            st.sampled_from(["dense", "csr", "linop"]),
        ),
        min_size=1,
        max_size=6,
    ),
    k=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_random_block_shapes(shapes, k, seed):
    rng = np.random.default_rng(seed)
    made = [make_factor(m, n, kind, np.float64, rng) for m, n, kind in shapes]
    D = BlockDiag([b for b, _ in made])
    dense = oracle([d for _, d in made])
    x = rng.standard_normal((D.shape[1], k))
    y = rng.standard_normal((D.shape[0], k))
    np.testing.assert_allclose(D @ x, dense @ x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(D.H @ y, dense.T @ y, rtol=1e-12, atol=1e-12)
    if any(kind == "linop" for *_, kind in shapes):
        with pytest.raises(TypeError, match="no matrix behind it"):
            D.norm()
        return
    for ord in ("fro", 1, np.inf, 2):
        np.testing.assert_allclose(D.norm(ord), np.linalg.norm(dense, ord), rtol=1e-12)
    if all(m == n for m, n, _ in shapes):
        np.testing.assert_allclose(D.trace(), np.trace(dense), rtol=1e-12, atol=1e-12)


# -------------------------------------------------------------- structure kept
def test_kron_block_solves_through_its_own_structure(monkeypatch, rng):
    A, B = hpd(rng, 60, float), hpd(rng, 60, float)
    K = KronOperator(A, B)
    D = BlockDiag([K])
    b = rng.standard_normal(K.shape[0])
    want = K.solve(b)
    calls = []
    real = KronOperator.solve

    def spy(self, rhs):
        calls.append(np.shape(rhs))
        return real(self, rhs)

    monkeypatch.setattr(KronOperator, "solve", spy)
    x, peak = peak_bytes(D.solve, b)
    assert calls == [(3600, 1)]
    np.testing.assert_allclose(x, want, rtol=1e-12)
    # a dense 3600×3600 would be 100 MB; the structured solve needs a few vectors
    assert peak < 2_000_000, peak
    # and with other blocks next to it
    C = hpd(rng, 3, float)
    D2 = BlockDiag([K, C])
    b2 = rng.standard_normal(3603)
    x2 = D2.solve(b2)
    np.testing.assert_allclose(x2[:3600], want * 0 + K.solve(b2[:3600]), rtol=1e-12)
    np.testing.assert_allclose(x2[3600:], np.linalg.solve(C, b2[3600:]), rtol=1e-12)


def test_kron_block_slogdet_and_eigvectors_keep_structure(rng):
    K = KronOperator(hpd(rng, 3, float), hpd(rng, 2, float))
    C = hpd(rng, 2, float)
    D = BlockDiag([K, C])
    sign, logabs = D.slogdet()
    ks, kl = K.slogdet()
    cs, cl = np.linalg.slogdet(C)
    assert sign == ks * cs
    assert abs(logabs - (kl + cl)) < 1e-12
    w, V = D.eigh()
    assert isinstance(w.factors, tuple)
    assert isinstance(V, BlockDiag)
    assert isinstance(V.blocks[0], KronOperator)


def test_stack_solve_first_direct_then_cached(monkeypatch, rng):
    stack = np.stack([hpd(rng, 4, float) for _ in range(6)])
    D = BlockDiag(stack)
    b = rng.standard_normal((24, 2))
    ref = np.concatenate(
        [
            np.linalg.solve(a, bb)
            for a, bb in zip(stack, b.reshape(6, 4, 2), strict=True)
        ]
    )
    inv_calls = []
    real_inv = np.linalg.inv

    def spy(a):
        inv_calls.append(a.shape)
        return real_inv(a)

    monkeypatch.setattr(np.linalg, "inv", spy)
    np.testing.assert_allclose(D.solve(b), ref, rtol=1e-12)
    assert inv_calls == []  # a single solve: one batched LU, nothing kept
    np.testing.assert_allclose(D.solve(b), ref, rtol=1e-12)
    np.testing.assert_allclose(D.solve(b[:, 0]), ref[:, 0], rtol=1e-12)
    assert inv_calls == [(6, 4, 4)]  # formed once, on the second solve
    np.testing.assert_allclose(D.inv() @ b, ref, rtol=1e-12)
    np.testing.assert_allclose(
        D.inv().H @ b, np.linalg.solve(oracle(list(stack)).T, b), rtol=1e-12
    )


def test_ill_conditioned_block_uses_lu(rng):
    good = hpd(rng, 3, float)
    bad = hpd(rng, 3, float, cond=1e9)
    D = BlockDiag([good, bad])
    b = rng.standard_normal(6)
    D.solve(b)
    x = D.solve(b)  # cached path: the bad block through its own LU
    assert 1 in D._parts[0].solver(D.dtype).lu
    ref = np.linalg.solve(oracle([good, bad]), b)
    assert rel(x, ref) < 1e-6


def test_slogdet_sign_is_exact_product():
    blocks = [
        np.array([[-2.0]]),
        np.diag([-3.0, 1.0]),
        np.array([[0.0, 1.0], [1.0, 0.0]]),
    ]
    sign, logabs = BlockDiag(blocks).slogdet()
    assert sign == -1.0
    assert abs(logabs - np.log(6.0)) < 1e-14
    stack = np.stack([np.diag([-1.0, 2.0]), np.diag([-1.0, 3.0]), np.diag([1.0, 5.0])])
    sign, logabs = BlockDiag(stack).slogdet()
    assert sign == 1.0
    assert abs(logabs - np.log(30.0)) < 1e-14
    assert BlockDiag([np.eye(2), np.zeros((1, 1))]).slogdet() == (0.0, -np.inf)
    assert BlockDiag([np.eye(2), np.zeros((1, 1))]).logdet() == -np.inf


def test_norm_and_cond_rectangular(rng):
    blocks = [rng.random((2, 3)), rng.random((4, 1)), sp.csr_array(rng.random((2, 2)))]
    D = BlockDiag(blocks)
    dense = oracle([dense_of(b) for b in blocks])
    for ord in ("fro", 1, 2, np.inf, "inf"):
        want = np.linalg.norm(dense, np.inf if ord == "inf" else ord)
        np.testing.assert_allclose(D.norm(ord), want, rtol=1e-12)
    with pytest.raises(ValueError, match="ord"):
        D.norm("nuc")
    # 2 + 1 + 2 = 5 singular values < min(8, 6): rank-deficient
    assert D.cond() == np.inf
    tall = BlockDiag([rng.random((3, 2)), rng.random((2, 1))])
    np.testing.assert_allclose(tall.cond(), np.linalg.cond(tall.toarray()), rtol=1e-10)


@pytest.mark.parametrize("which", ["LA", "SA", "LM", "SM"])
def test_eigvals_extreme(rng, which):
    D = BlockDiag(
        [
            hpd(rng, 3, float) - 4 * np.eye(3),
            np.diag([0.5, -7.0]),
            KronSum(np.diag([1.0, 2.0]), np.diag([0.1, 3.0])),
        ]
    )
    w = np.linalg.eigvalsh(D.toarray())
    key = {"LA": -w, "SA": w, "LM": -np.abs(w), "SM": np.abs(w)}[which]
    want = w[np.argsort(key, kind="stable")][:3]
    np.testing.assert_allclose(D.eigvals(3, which), want, rtol=1e-12)
    np.testing.assert_allclose(D.eigh().eigvals(3, which), want, rtol=1e-12)
    with pytest.raises(ValueError, match="k must"):
        D.eigvals(0)
    with pytest.raises(ValueError, match="which"):
        D.eigvals(2, "XX")


def test_eig_decomposition_object(rng):
    a = linalg_factor("general", 3, float, rng)
    D = BlockDiag([a, KronOperator(hpd(rng, 2, float), hpd(rng, 2, float))])
    dec = D.eig()
    assert isinstance(dec, BlockEigen)
    w, V = dec
    assert len(w) == 7
    assert dec.values is w
    assert dec.vectors is V
    dense = D.toarray()
    b = rng.standard_normal(7)
    np.testing.assert_allclose(dec.solve(b), np.linalg.solve(dense, b), rtol=1e-10)
    np.testing.assert_allclose(
        dec.solve(b, shift=0.3), np.linalg.solve(dense + 0.3 * np.eye(7), b), rtol=1e-10
    )
    sign, logabs = np.linalg.slogdet(dense + 0.3 * np.eye(7))
    np.testing.assert_allclose(
        np.exp(dec.logdet(shift=0.3)), sign * np.exp(logabs), rtol=1e-10
    )
    E = dec.apply(np.exp)
    np.testing.assert_allclose(E @ b, sla.expm(dense) @ b, rtol=1e-9)
    assert repr(dec).startswith("BlockEigen(")
    assert isinstance(dec.shift(1.0), BlockEigen)


# ------------------------------------------------------------------ bad input
def test_bad_inputs():
    with pytest.raises(ValueError, match="at least one block"):
        BlockDiag([])
    with pytest.raises(ValueError, match=r"block 1 must be a 2-D.*\(3,\).*np\.diag"):
        BlockDiag([np.eye(2), np.ones(3)])
    with pytest.raises(ValueError, match=r"block 0 must be a 2-D.*\(2, 2, 2\)"):
        BlockDiag([np.ones((2, 2, 2))])
    with pytest.raises(
        ValueError, match=r"3-D array \(k, m, n\).*\(4, 4\).*BlockDiag\(\[A\]\)"
    ):
        BlockDiag(np.eye(4))
    with pytest.raises(ValueError, match=r"3-D array.*\(2, 2, 2, 2\)"):
        BlockDiag(np.ones((2, 2, 2, 2)))
    with pytest.raises(ValueError, match="at least one block"):
        BlockDiag(np.ones((0, 2, 2)))
    with pytest.raises(ValueError, match="at least one row"):
        BlockDiag(np.ones((3, 0, 2)))
    with pytest.raises(ValueError, match=r"block 1 has shape 0×3"):
        BlockDiag([np.eye(2), np.ones((0, 3))])
    with pytest.raises(TypeError, match=r"block 1 must have a numeric dtype.*<U1"):
        BlockDiag([np.eye(2), np.array([["a", "b"]])])
    with pytest.raises(TypeError, match=r"block 0 must be an ndarray"):
        BlockDiag([None])
    with pytest.raises(TypeError, match=r"numeric dtype.*object"):
        BlockDiag(np.empty((2, 2, 2), dtype=object))
    with pytest.raises(TypeError, match=r"BlockDiag\(\[A\]\)"):
        BlockDiag(sp.eye_array(3))
    with pytest.raises(TypeError, match=r"BlockDiag\(\[A\]\)"):
        BlockDiag(aslinearoperator(np.eye(3)))
    with pytest.raises(TypeError, match="list of blocks"):
        BlockDiag(3.0)

    class NoDtype(LinearOperator):
        def __init__(self):
            super().__init__(dtype=None, shape=(2, 2))

        def _matvec(self, x):
            return x

    with pytest.raises(TypeError, match=r"block 1 is a LinearOperator with dtype=None"):
        BlockDiag([np.eye(1), NoDtype()])


def test_square_only_methods_name_the_block(rng):
    D = BlockDiag([np.eye(2), rng.random((2, 3)), np.eye(1)])
    for call in (
        lambda: D.solve(np.ones(5)),
        D.inv,
        D.slogdet,
        D.det,
        D.eigh,
        D.eig,
        D.eigvals,
        D.trace,
        D.diagonal,
    ):
        with pytest.raises(
            ValueError, match=r"square blocks, but block 1 has shape 2×3"
        ):
            call()


def test_operator_block_solve_is_a_clear_type_error(rng):
    op = aslinearoperator(hpd(rng, 3, float))
    D = BlockDiag([np.eye(2), op])
    np.testing.assert_allclose(D @ np.ones(5), np.r_[1.0, 1.0, op @ np.ones(3)])
    with pytest.raises(
        TypeError, match=r"block 1 \(3×3\) is a MatrixLinearOperator.*gmres"
    ):
        D.solve(np.ones(5))
    for call in (D.slogdet, D.trace, D.eigh, lambda: D.norm(1)):
        with pytest.raises(TypeError, match=r"block 1 \(3×3\)"):
            call()


def test_singular_blocks_raise_naming_the_block(rng):
    stack = np.stack([np.eye(3), np.eye(3), np.diag([1.0, 0.0, 2.0])])
    D = BlockDiag(stack)
    with pytest.raises(np.linalg.LinAlgError, match=r"block 2 \(3×3\) is singular"):
        D.solve(np.ones(9))
    with pytest.raises(np.linalg.LinAlgError, match=r"block 2 \(3×3\) is singular"):
        D.inv()
    S = BlockDiag([np.eye(1), sp.csr_array(np.diag([1.0, 0.0]))])
    with pytest.raises(np.linalg.LinAlgError, match=r"block 1 \(2×2\) is singular"):
        S.solve(np.ones(3))
    K = BlockDiag([np.eye(1), KronOperator(np.eye(2), np.zeros((2, 2)))])
    with pytest.raises(np.linalg.LinAlgError, match=r"block 1 \(4×4\).*singular"):
        K.solve(np.ones(5))


def test_non_finite_blocks_refuse_decompositions():
    a = np.eye(2)
    a[0, 1] = np.nan
    D = BlockDiag([np.eye(1), a])
    assert np.isnan(D @ np.ones(3)).any()  # products propagate, as the dense one
    for call in (lambda: D.solve(np.ones(3)), D.slogdet, D.eig, D.cond):
        with pytest.raises(ValueError, match=r"block 1 \(2×2\) has non-finite"):
            call()


def test_eigh_refuses_non_hermitian_blocks(rng):
    D = BlockDiag([hpd(rng, 2, float), np.array([[1.0, 2.0], [0.0, 1.0]])])
    with pytest.raises(ValueError, match=r"block 1 \(2×2\) is not Hermitian; use eig"):
        D.eigh()
    K = BlockDiag(
        [np.eye(1), KronOperator(np.array([[1.0, 2.0], [0.0, 1.0]]), np.eye(2))]
    )
    with pytest.raises(ValueError, match=r"block 1 \(4×4\): .*Hermitian"):
        K.eigh()


def test_solve_leaves_rhs_and_returns_no_cache_alias(rng):
    D = BlockDiag(np.stack([hpd(rng, 3, float) for _ in range(3)]))
    b = rng.standard_normal(9)
    keep = b.copy()
    x1 = D.solve(b)
    x2 = D.solve(b)
    x3 = D.solve(b)
    np.testing.assert_array_equal(b, keep)
    assert not np.shares_memory(x2, x3)
    assert not np.shares_memory(x1, x2)
    w = D.eigvals()
    w[0] = 1e9
    assert D.eigvals()[0] != 1e9
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = D.diagonal()
        d[0] = 1e9
        assert D.diagonal()[0] != 1e9


# ------------------------------------------------------------------- rules
def test_product_of_conforming_blockdiags_is_blockdiag(rng):
    a, b = rng.random((4, 2, 3)), rng.random((4, 3, 5))
    P = BlockDiag(a) @ BlockDiag(b)
    assert isinstance(P, BlockDiag)
    assert P.block_shapes == ((2, 5),) * 4
    np.testing.assert_allclose(
        P.toarray(), oracle(list(a)) @ oracle(list(b)), rtol=1e-13
    )
    K1 = KronOperator(rng.random((2, 2)), rng.random((2, 2)))
    K2 = KronOperator(rng.random((2, 2)), rng.random((2, 3)))
    left = BlockDiag([K1, sp.csr_array(rng.random((3, 2))), rng.random((2, 2))])
    right = BlockDiag(
        [K2, sp.csr_array(rng.random((2, 2))), aslinearoperator(rng.random((2, 1)))]
    )
    P = left @ right
    assert isinstance(P, BlockDiag)
    assert isinstance(P.blocks[0], KronOperator)  # the mixed product, structured
    np.testing.assert_allclose(
        P.toarray(), left.toarray() @ right.toarray(), rtol=1e-13
    )
    # partitions that do not conform: scipy's lazy product, still right
    other = BlockDiag([rng.random((6, 4)), rng.random((4, 3))])
    Q = BlockDiag(np.stack([np.eye(2)] * 5)) @ other
    assert not isinstance(Q, BlockDiag)
    np.testing.assert_allclose(Q @ np.ones(7), other.toarray() @ np.ones(7))


def test_sum_of_blockdiags_and_shift(rng):
    from kronop import IdentityOperator, KronPlusDiagonal

    a, b = rng.random((3, 2, 2)), rng.random((3, 2, 2))
    S = BlockDiag(a) + BlockDiag(b)
    assert isinstance(S, BlockDiag)
    np.testing.assert_allclose(S.toarray(), oracle(list(a + b)), rtol=1e-14)
    D = BlockDiag(
        [
            hpd(rng, 3, float),
            sp.csr_array(hpd(rng, 2, float)),
            KronOperator(hpd(rng, 2, float), np.eye(2)),
        ]
    )
    for shifted in (
        D + 0.5 * IdentityOperator(D.shape),
        0.5 * IdentityOperator(D.shape) + D,
    ):
        assert isinstance(shifted, BlockDiag)
        assert isinstance(shifted.blocks[2], KronPlusDiagonal)
        want = D.toarray() + 0.5 * np.eye(9)
        np.testing.assert_allclose(shifted.toarray(), want, rtol=1e-14)
        b = rng.standard_normal(9)
        np.testing.assert_allclose(
            shifted.solve(b), np.linalg.solve(want, b), rtol=1e-11
        )
    f32 = BlockDiag(np.stack([np.eye(2, dtype=np.float32)] * 2))
    assert (
        f32 + 0.5 * IdentityOperator(f32.shape, dtype=np.float32)
    ).dtype == np.float32
    diff = D - D
    assert isinstance(diff, BlockDiag)
    np.testing.assert_allclose(diff.toarray(), 0 * D.toarray(), atol=1e-15)


def test_complex_input_on_real_stack(rng):
    stack = rng.standard_normal((20, 3, 4))
    D = BlockDiag(stack)
    for shape in (80, (80, 3)):
        x = random_array(rng, shape, np.complex128)
        y = D @ x
        assert y.dtype == np.complex128
        np.testing.assert_allclose(y, oracle(list(stack)) @ x, rtol=1e-13, atol=1e-13)
        x64 = random_array(rng, shape, np.complex64)
        assert (D @ x64).dtype == np.complex128
