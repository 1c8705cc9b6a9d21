"""The mode-product engine: flop-optimal order, layouts, buffers."""

import math
import threading
from functools import reduce

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from kronop import KronOperator
from kronop._engine import (
    Workspace,
    brute_force_order,
    chain_flops,
    flop_optimal_order,
    plan_chain,
)
from kronop._factor import as_factor

dims = st.integers(min_value=1, max_value=40)


@st.composite
def factor_lists(draw, max_d=5):
    d = draw(st.integers(min_value=1, max_value=max_d))
    out = []
    for j in range(d):
        m, n = draw(dims), draw(dims)
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
    K = KronOperator(*mats)
    dense = reduce(np.kron, mats)
    N = K.shape[1]
    x = rng.standard_normal((batch, N, rhs))
    if layout == "K":
        x = np.asfortranarray(x[0])[None]
    y = K._apply3(x)
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


def test_workspace_is_reused_and_thread_safe(rng):
    mats = [rng.standard_normal((6, 6)) for _ in range(3)]
    K = KronOperator(*mats)
    dense = reduce(np.kron, mats)
    x = rng.standard_normal((216, 3))
    K @ x
    bufs = K._workspace._buffers[np.dtype(np.float64)]
    K @ x
    assert K._workspace._buffers[np.dtype(np.float64)] is bufs
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
    assert not K._workspace._buffers


def test_workspace_grows():
    ws = Workspace()
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
    from kronop import _engine

    monkeypatch.setattr(_engine, "SPLIT_MIN_BYTES", 0)
    mats = [rng.standard_normal(s) for s in shapes]
    K = KronOperator(*mats)
    split = _engine.plan_split(list(K._factors), rhs, 8)
    x = (
        rng.standard_normal((K.shape[1], rhs))
        if rhs > 1
        else rng.standard_normal(K.shape[1])
    )
    dense = reduce(np.kron, mats)
    assert split is not None
    y = K @ x
    np.testing.assert_allclose(y, dense @ x, rtol=1e-12, atol=1e-12)
    y2 = K @ (2 * x)
    np.testing.assert_allclose(y2, 2 * (dense @ x), rtol=1e-12, atol=1e-12)
