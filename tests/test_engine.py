"""The mode-product engine: flop-optimal order, layouts, buffers."""

import math
import threading
from functools import reduce

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from kronop import KronOperator, KronSum, _engine, laplacian
from kronop._engine import numpy_kernels
from kronop._engine import plan as plan_module
from kronop._engine.plan import (
    StencilTerm,
    brute_force_order,
    chain_flops,
    flop_optimal_order,
    plan_chain,
    plan_split,
    plan_stencil,
)
from kronop._factor import TransformFactor, as_factor

from .factories import eps, hi, random_array


@st.composite
def factor_lists(draw, max_d=5, max_n=40):
    d = draw(st.integers(min_value=1, max_value=max_d))
    out = []
    for j in range(d):
        m, n = draw(st.integers(1, max_n)), draw(st.integers(1, max_n))
        kind = draw(st.sampled_from(["dense", "dense", "sparse", "identity"]))
        if kind == "identity":
            out.append(as_factor(np.eye(n), j))
        elif kind == "sparse":
            density = draw(st.floats(0.05, 1.0))
            s = sp.random_array((m, n), density=density, rng=draw(st.integers(0, 99)))
            out.append(as_factor(s if s.nnz else sp.eye_array(m, n), j))
        else:
            out.append(as_factor(np.ones((m, n)), j))
    return out


@settings(max_examples=300, deadline=None)
@given(factor_lists())
def test_planner_order_is_flop_optimal(factors):
    order = [j for g in flop_optimal_order(factors) for j in g]
    best, _ = brute_force_order(factors)
    assert chain_flops(factors, order) <= best * (1 + 1e-9) + 1e-9


@settings(max_examples=100, deadline=None)
@given(factor_lists(max_d=4))
def test_order_within_ties_does_not_matter(factors):
    groups = flop_optimal_order(factors)
    base = [j for g in groups for j in g]
    rev = [j for g in groups for j in reversed(g)]
    assert math.isclose(
        chain_flops(factors, base), chain_flops(factors, rev), rel_tol=1e-9
    )


def test_rectangular_order_matters():
    """(2×400)⊗(400×400): applying the shrinking factor first is ~200× cheaper."""
    fs = [as_factor(np.ones((400, 400)), 0), as_factor(np.ones((2, 400)), 1)]
    order = [j for g in flop_optimal_order(fs) for j in g]
    assert order == [1, 0]
    assert chain_flops(fs, [0, 1]) / chain_flops(fs, order) > 100


@pytest.mark.parametrize(
    ("batch", "rhs", "layout"),
    [(1, 1, "C"), (1, 4, "C"), (3, 1, "C"), (3, 4, "C"), (1, 1, "K"), (1, 4, "K")],
)
def test_plans_for_every_input_layout(rng, batch, rhs, layout):
    shapes = [(3, 5), (4, 4), (6, 2), (2, 3)]
    mats = [rng.standard_normal(s) for s in shapes]
    factors = [as_factor(m, j) for j, m in enumerate(mats)]
    dense = reduce(np.kron, mats)
    N = dense.shape[1]
    x = rng.standard_normal((batch, N, rhs))
    if layout == "K":
        x = np.asfortranarray(x[0])[None]
    y = _engine.apply_product(factors, x, _engine.EngineCache())
    np.testing.assert_allclose(
        y, np.einsum("mn,bnk->bmk", dense, x), rtol=1e-12, atol=1e-12
    )


def test_buffers_bounded_by_largest_intermediate():
    fs = [
        as_factor(np.ones((m, n)), j)
        for j, (m, n) in enumerate([(20, 5), (3, 30), (10, 10)])
    ]
    plan = plan_chain(fs, 1, 2, "C")
    sizes = [2 * 5 * 30 * 10]
    s = sizes[0]
    for st_ in plan.steps:
        s = s // st_.n * st_.m
        sizes.append(s)
    assert plan.max_size <= max(sizes)


def test_square_chain_needs_no_copy():
    """Square dense factors with one right-hand side: pure rotations, result in place."""
    fs = [as_factor(np.ones((8, 8)), j) for j in range(4)]
    plan = plan_chain(fs, 1, 1, "C")
    assert all(
        s.op in ("back_rot", "front_keep", "front_rot", "back_keep") for s in plan.steps
    )
    assert plan.direct_output
    for rhs, layout in ((16, "C"), (16, "K")):
        plan = plan_chain(fs, 1, rhs, layout)
        assert plan.direct_output
        assert not any(s.op == "mid_front" for s in plan.steps)


# ------------------------------------------------------------- planning cost
#: eight mixed rectangular factors: a product of well under a millisecond
RECT8 = [(3, 4), (5, 2), (2, 6), (4, 3), (3, 3), (6, 2), (2, 5), (4, 4)]


def _count_steps(monkeypatch):
    """Count the candidate steps the planner looks at."""
    calls = []
    move = plan_module._Chain.move

    def counted(self, *args):
        calls.append(1)
        return move(self, *args)

    monkeypatch.setattr(plan_module._Chain, "move", counted)
    return calls


@pytest.mark.parametrize("shapes", [RECT8, [(2, 2)] * 16, [(2, 3), (3, 2)] * 8])
@pytest.mark.parametrize("rhs", [1, 3, 17])
@pytest.mark.parametrize("layout", ["C", "K"])
def test_planning_costs_a_bounded_share_of_the_product(
    monkeypatch, shapes, rhs, layout
):
    """Three canonical chains (3·d steps), then a search only within its budget."""
    factors = [as_factor(np.ones(s), j) for j, s in enumerate(shapes)]
    chain = plan_module._Chain(factors, 1, rhs, layout, 8)
    chain.quick()
    estimate = chain.best[0]
    calls = _count_steps(monkeypatch)
    plan = plan_chain(factors, 1, rhs, layout)
    d = len(shapes)
    share = estimate * plan_module.SEARCH_SHARE / plan_module._MOVE_SECONDS
    assert len(calls) <= 3 * d + share + 1
    assert len(plan.steps) == d
    if estimate < 1e-4:  # a product of microseconds: no search at all
        assert len(calls) <= 3 * d + 1
        assert not plan.final


def test_a_new_width_or_operator_stays_within_the_budget(monkeypatch, rng):
    """New right-hand-side widths and new operators of small factors plan in O(d²)
    steps plus the search share of their product."""
    mats = [rng.standard_normal(s) for s in RECT8]
    factors = [as_factor(m, j) for j, m in enumerate(mats)]
    dense = reduce(np.kron, mats)
    allowed = 0.0
    for k in range(1, 9):
        chain = plan_module._Chain(factors, 1, k, "C", 8)
        chain.quick()
        share = chain.best[0] * plan_module.SEARCH_SHARE / plan_module._MOVE_SECONDS
        allowed += 3 * len(mats) + share + 1
    calls = _count_steps(monkeypatch)
    for k in range(1, 9):
        X = rng.standard_normal((dense.shape[1], k))
        np.testing.assert_allclose(
            KronOperator(*mats) @ X, dense @ X, rtol=1e-12, atol=1e-12
        )
    assert len(calls) <= allowed
    assert allowed < 8 * 100  # far from the thousands of steps a search takes


def test_plans_are_refined_as_they_are_reused(monkeypatch, rng):
    """A plan whose search was cut short is searched again after 8, 64, … uses."""
    seen = []
    build = numpy_kernels.plan_chain

    def recording(*args, **kw):
        plan = build(*args, **kw)
        seen.append((args[-1], plan.final))
        return plan

    monkeypatch.setattr(numpy_kernels, "plan_chain", recording)
    mats = [rng.standard_normal((2, 2)) for _ in range(12)]
    K = KronOperator(*mats)
    x = rng.standard_normal(K.shape[1])
    y = K @ x
    for _ in range(70):
        np.testing.assert_allclose(K @ x, y, rtol=1e-12, atol=1e-12)
    runs = [r for r, _ in seen]
    assert runs[:3] == [1, 8, 64]
    assert all(not final for _, final in seen[:-1])
    dense = reduce(np.kron, mats)
    np.testing.assert_allclose(y, dense @ x, rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    factor_lists(max_d=5, max_n=6), st.sampled_from([(1, 1), (1, 3), (2, 1), (2, 4)])
)
def test_quick_and_searched_plans_agree_with_dense(factors, form):
    """Whichever chain the budget allows, the product is exact, and the search
    never picks a chain it estimates slower than the canonical ones."""
    batch, rhs = form
    dense = reduce(np.kron, [f.toarray() for f in factors])
    x = np.random.default_rng(0).standard_normal((batch, dense.shape[1], rhs))
    want = np.einsum("mn,bnk->bmk", dense, x)
    layouts = ["C", "K"] if batch == 1 else ["C"]
    for layout in layouts:
        chain = plan_module._Chain(factors, batch, rhs, layout, 8)
        chain.quick()
        quick = chain.best[0]
        chain.rollout()
        chain.offer(chain.search())
        assert chain.best[0] <= quick * (1 + 1e-9)
    for share in (0.0, math.inf):
        plan_module.SEARCH_SHARE, saved = share, plan_module.SEARCH_SHARE
        try:
            y = _engine.apply_product(factors, x, _engine.EngineCache())
        finally:
            plan_module.SEARCH_SHARE = saved
        np.testing.assert_allclose(
            y, want, rtol=1e-12, atol=1e-12 * (1 + abs(want).max())
        )


def test_workspace_is_reused_and_thread_safe(rng):
    mats = [rng.standard_normal((6, 6)) for _ in range(3)]
    factors = [as_factor(m, j) for j, m in enumerate(mats)]
    cache = _engine.EngineCache()
    x = rng.standard_normal((1, 216, 3))
    _engine.apply_product(factors, x, cache)
    held = cache.nbytes()
    assert held > 0
    y1 = _engine.apply_product(factors, x, cache)
    y2 = _engine.apply_product(factors, 2 * x, cache)
    assert cache.nbytes() == held  # the same buffers, not new ones
    assert not np.shares_memory(y1, y2)
    cache.clear()
    assert cache.nbytes() == 0
    K = KronOperator(*mats)
    dense = reduce(np.kron, mats)
    errors = []

    def work(seed):
        r = np.random.default_rng(seed)
        for _ in range(50):
            v = r.standard_normal((216, 2))
            if not np.allclose(K @ v, dense @ v):
                errors.append(seed)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    K.clear_workspace()
    np.testing.assert_allclose(K @ x[0], dense @ x[0], rtol=1e-12)


def test_workspace_grows():
    ws = numpy_kernels.Workspace()
    a = ws.acquire(np.dtype(np.float64), 10)
    assert ws.acquire(np.dtype(np.float64), 10) is None  # busy: caller allocates
    ws.release()
    b = ws.acquire(np.dtype(np.float64), 100)
    assert b[0].size >= 100
    assert b[0] is not a[0]
    ws.release()


@pytest.mark.parametrize(
    ("shapes", "rhs"),
    [
        ([(3, 3)] * 4, 1),
        ([(4, 2), (2, 3), (3, 3), (2, 2)], 1),
        ([(2, 2)] * 5, 3),
        ([(3, 2), (2, 3), (2, 2), (3, 3), (2, 2)], 2),
    ],
)
def test_split_execution_matches_dense(monkeypatch, rng, shapes, rhs):
    """Slice-by-slice execution (for tensors larger than the cache) is exact."""
    from kronop._engine import plan

    monkeypatch.setattr(plan, "SPLIT_MIN_BYTES", 0)
    mats = [rng.standard_normal(s) for s in shapes]
    K = KronOperator(*mats)
    split = plan_split([as_factor(m, j) for j, m in enumerate(mats)], rhs, 8)
    x = (
        rng.standard_normal((K.shape[1], rhs))
        if rhs > 1
        else rng.standard_normal(K.shape[1])
    )
    dense = reduce(np.kron, mats)
    # several right-hand sides: the chain folds them into its GEMMs instead
    assert (split is None) == (rhs > 1)
    y = K @ x
    np.testing.assert_allclose(y, dense @ x, rtol=1e-12, atol=1e-12)
    y2 = K @ (2 * x)
    np.testing.assert_allclose(y2, 2 * (dense @ x), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------ fast transforms
@pytest.mark.parametrize("name", ["dst1", "dct2", "idct2", "rfft", "irfft"])
@pytest.mark.parametrize("rhs", [1, 3])
def test_transform_factors_run_along_their_axis(rng, name, rhs):
    """A transform factor is one step that keeps the layout, any position."""
    T = TransformFactor.of(name, 6, np.float64, 1, scale=0.5)
    factors = [as_factor(rng.standard_normal((3, 4)), 0), T, as_factor(np.eye(2), 2)]
    plan = plan_chain(factors, 1, rhs, "C")
    assert [s.op for s in plan.steps if s.j == 1] == ["along"]
    dense = reduce(np.kron, [f.toarray() for f in factors])
    x = rng.standard_normal((1, dense.shape[1], rhs))
    y = _engine.apply_product(factors, x, _engine.EngineCache())
    np.testing.assert_allclose(y[0], dense @ x[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(T.transpose().toarray(), T.toarray().T, atol=1e-15)


# ----------------------------------------------------------------- stencils
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
@pytest.mark.parametrize("rhs", [None, 1, 3])
def test_stencil_in_slabs(rng, monkeypatch, dtype, rhs):
    """The cache-blocked sweep gives the same numbers as the dense matrix."""
    monkeypatch.setattr(numpy_kernels, "STENCIL_BLOCK_ABOVE", 0)
    monkeypatch.setattr(numpy_kernels, "STENCIL_SLAB_BYTES", 1)
    n = (7, 5, 6)
    diags = [random_array(rng, n[1] - abs(k), dtype) for k in (-1, 0, 2)]
    vec = sp.diags_array(diags, offsets=[-1, 0, 2], format="csr")
    S = KronSum(
        laplacian(n[0], bc="neumann", spacing=0.7, dtype=dtype).factors[0],
        vec,
        laplacian(n[2], bc="periodic", dtype=dtype).factors[0],
    ).shift(0.3)
    dense = S.toarray().astype(np.complex128)
    shape = (S.shape[0],) if rhs is None else (S.shape[0], rhs)
    x = random_array(rng, shape, dtype)
    y = S @ x
    want = dense @ hi(x)
    bound = 50 * eps(dtype) * (np.abs(dense) @ np.abs(hi(x)) + 1e-30)
    assert np.all(np.abs(y - want) <= bound)
    if rhs == 3:  # Fortran-ordered block and a stacked batch take other layouts
        np.testing.assert_allclose(S @ np.asfortranarray(x), y, rtol=0, atol=0)
        xs = random_array(rng, (2, S.shape[0], 2), dtype)
        factors = [as_factor(f, j) for j, f in enumerate(S.factors)]
        ys = _engine.apply_sum(factors, 0.3, xs, _engine.EngineCache(), S.dtype)
        for b in range(2):
            assert np.all(
                np.abs(ys[b] - dense @ hi(xs[b]))
                <= 50 * eps(dtype) * (np.abs(dense) @ np.abs(hi(xs[b])) + 1e-30)
            )


def test_plan_stencil_groups_scalars():
    t = [StencilTerm(0, 1, 0, 4, -0.25), StencilTerm(1, -1, 1, 5, 0.25)]
    plan = plan_stencil(1.0, t)
    kinds = [op[0] for op in plan.ops]
    assert kinds == ["init", "add", "add", "scale"]
    assert plan.ops[0][1] == 4.0
    assert plan.ops[-1][1] == 0.25
    assert not plan.needs_scratch


def test_length_n_helpers_work_in_chunks(monkeypatch, rng):
    monkeypatch.setattr(numpy_kernels, "CHUNK", 7)
    base = np.abs(rng.standard_normal(50))
    got = np.ones((50, 1))
    _engine.divide_rows(got, base * 1e-3, 0.0, (base, 1e-3, 0.0))  # all null
    assert np.all(got == 0)
    w = rng.standard_normal(50) + 3
    y = rng.standard_normal((50, 2))
    got = y.copy()
    _engine.scale_rows(got, w, 0.5, divide=True)
    np.testing.assert_allclose(got, y / (w + 0.5)[:, None], rtol=1e-15)
    got = y.copy()
    null2 = _engine.divide_rows(got, w, -w[3], (None, 0.0, 1e-12))
    np.testing.assert_allclose(null2, y[3] ** 2, rtol=1e-15)
    assert np.all(got[3] == 0)
    assert _engine.any_zero(w, -w[10])
    assert not _engine.any_zero(w, 100.0)
    neg, logabs, _ = _engine.log_abs_sum([(w - 3, 1, 0.0)], real=True)
    assert neg == np.count_nonzero(w - 3 < 0)
    np.testing.assert_allclose(logabs, np.sum(np.log(np.abs(w - 3))), rtol=1e-13)


def test_block_doors(rng):
    """diag(A₁, …) on slabs, and k equal dense blocks as one batched matmul."""
    import scipy.linalg as sla

    A, B = rng.standard_normal((3, 2)), rng.standard_normal((4, 5))
    fa, fb = as_factor(A, 0), as_factor(B, 1)
    cache = _engine.EngineCache()
    parts = [
        (lambda x: _engine.apply_product([fa], x, cache.sub(0)), 3, 2),
        (lambda x: _engine.apply_product([fb], x, cache.sub(1)), 4, 5),
    ]
    x = rng.standard_normal((2, 7, 3))
    y = _engine.apply_blocks(parts, x, 7, np.float64)
    dense = sla.block_diag(A, B)
    for b in range(2):
        np.testing.assert_allclose(y[b], dense @ x[b], rtol=1e-13)
    stack = rng.standard_normal((4, 3, 2))
    x = rng.standard_normal((2, 8, 3)).astype(np.float32)
    y = _engine.apply_batched(stack, x, np.float64)
    dense = sla.block_diag(*stack)
    assert y.dtype == np.float64
    for b in range(2):
        np.testing.assert_allclose(y[b], dense @ x[b], rtol=1e-6)
