"""SampledKron: selected rows/columns of a Kronecker product, against np.kron oracles."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import aslinearoperator, cg, lsmr, lsqr
from scipy.sparse.linalg._interface import IdentityOperator as ScipyIdentity

from kronop import IdentityOperator, KronOperator
from kronop.sampled import SampledKron

from .contract.operator import OperatorContract
from .factories import hpd, kron_dense, make_factor, random_array

# (factor specs (m, n, kind), rows, cols, forced path or None); a selection is
# None, ("flat", count) random flat indices with repeats, ("axes", count) a
# tuple of per-axis arrays, or an explicit list.
CASES = {
    "rows-flat": ([(4, 4, "dense"), (5, 5, "dense")], ("flat", 7), None, None),
    "cols-flat": ([(4, 4, "dense"), (5, 5, "dense")], None, ("flat", 6), None),
    "both-flat": ([(4, 3, "dense"), (5, 5, "dense")], ("flat", 6), ("flat", 8), None),
    "rows-axes-d3": (
        [(3, 3, "dense"), (2, 4, "dense"), (4, 2, "dense")],
        ("axes", 9),
        None,
        None,
    ),
    "both-axes-d3": (
        [(3, 2, "dense"), (2, 3, "dense"), (3, 3, "dense")],
        ("axes", 5),
        ("axes", 7),
        None,
    ),
    "dups-unsorted": (
        [(4, 4, "dense"), (3, 3, "dense")],
        [11, 2, 2, 7, 0, 11, 11],
        [5, 5, 1, 9, 0],
        None,
    ),
    "d1": ([(7, 5, "dense")], ("flat", 4), ("flat", 3), None),
    "d1-rows": ([(7, 5, "dense")], [6, 0, 6], None, None),
    "rect-d3": (
        [(2, 3, "dense"), (5, 1, "dense"), (3, 4, "dense")],
        ("flat", 8),
        None,
        None,
    ),
    "sparse": (
        [(4, 4, "csr"), (3, 5, "csc_matrix"), (3, 3, "coo")],
        ("flat", 6),
        ("flat", 9),
        None,
    ),
    "linop": (
        [(3, 3, "linop"), (4, 2, "dense"), (2, 3, "linop")],
        ("flat", 5),
        ("flat", 4),
        None,
    ),
    "identity": ([(3, 3, "identity"), (2, 4, "dense")], ("flat", 4), None, None),
    # each path forced, so all of them run through the whole contract
    "few-rows-trick": (
        [(5, 5, "dense"), (6, 4, "dense"), (3, 3, "dense")],
        ("flat", 4),
        None,
        "rows",
    ),
    "many-rows-full": ([(5, 5, "dense"), (6, 4, "dense")], ("flat", 25), None, "full"),
    "cols-trick": (
        [(5, 4, "dense"), (3, 6, "dense"), (3, 3, "dense")],
        None,
        ("flat", 5),
        "cols",
    ),
    "both-rows-trick": (
        [(5, 4, "dense"), (3, 6, "dense")],
        ("flat", 4),
        ("flat", 9),
        "rows",
    ),
    "both-cols-trick": (
        [(5, 4, "dense"), (3, 6, "dense")],
        ("flat", 4),
        ("flat", 9),
        "cols",
    ),
    "both-explicit": (
        [(5, 4, "dense"), (3, 6, "linop")],
        ("flat", 6),
        ("flat", 9),
        "explicit",
    ),
    "linop-trick": ([(3, 3, "linop"), (4, 5, "csr")], ("flat", 3), ("flat", 4), "rows"),
}


STEP_CASES = {
    # the trick's two step forms, each forced on every step
    "rows-dense-steps": (
        [(3, 4, "dense"), (4, 3, "dense"), (3, 2, "dense")],
        ("flat", 9),
        None,
        ("rows", "dense"),
    ),
    "rows-gathered-steps": (
        [(3, 4, "dense"), (4, 3, "csr"), (3, 2, "linop")],
        ("flat", 9),
        ("flat", 5),
        ("rows", "gathered"),
    ),
    "cols-dense-steps": (
        [(3, 4, "dense"), (4, 3, "linop"), (3, 2, "dense")],
        ("flat", 4),
        ("flat", 9),
        ("cols", "dense"),
    ),
    "cols-gathered-steps": (
        [(3, 4, "dense"), (4, 3, "dense"), (3, 2, "csr")],
        None,
        ("flat", 9),
        ("cols", "gathered"),
    ),
}
CASES.update(STEP_CASES)


def _select(spec, grid, rng):
    """A selection spec as the argument and as flat oracle indices."""
    size = int(np.prod(grid))
    if spec is None:
        return None, np.arange(size)
    if isinstance(spec, list):
        return np.array(spec), np.array(spec)
    kind, count = spec
    flat = rng.integers(0, size, count)
    if kind == "flat":
        return flat, flat
    return np.unravel_index(flat, grid), flat


def build_case(case, dtype, rng):
    specs, rspec, cspec, path = CASES[case]
    made = [make_factor(m, n, kind, dtype, rng) for m, n, kind in specs]
    K = KronOperator(*(f for f, _ in made))
    rows, rflat = _select(rspec, [m for m, _, _ in specs], rng)
    cols, cflat = _select(cspec, [n for _, n, _ in specs], rng)
    op = SampledKron(K, rows, cols)
    if path is not None:
        path, steps = path if isinstance(path, tuple) else (path, None)
        op = op._with_path(path, steps)
        assert op._path() == path
    dense = kron_dense([d for _, d in made])[np.ix_(rflat, cflat)]
    return op, dense


class TestSampledKronContract(OperatorContract):
    cases = tuple(CASES)

    def build(self, case, dtype, rng):
        return build_case(case, dtype, rng)

    def inner_size(self, op):
        # terms per output: the factor contractions, and the repeated columns
        # (or the explicit matrix's row) summed by a scatter-add
        fs = op.kron.factors
        return int(sum(f.shape[1] for f in fs) + len(fs) + op.shape[1] + 1)


# ---------------------------------------------------------------- the paths
def _dense_factors(rng, shapes, dtype=np.float64):
    return [random_array(rng, s, dtype) for s in shapes]


def test_cost_model_picks_the_trick_for_few_rows_and_full_for_many(rng):
    A, B = _dense_factors(rng, [(100, 100), (100, 100)])
    K = KronOperator(A, B)
    D = np.kron(A, B)
    few = SampledKron(K, rng.choice(10000, 50, replace=False))
    many = SampledKron(K, rng.choice(10000, 5000, replace=False))
    assert few._path() == "rows"
    assert few.H._path() == "cols"
    assert many._path() == "full"
    assert many.H._path() == "full"
    x = rng.standard_normal(10000)
    for S in (few, many):
        np.testing.assert_allclose(S @ x, D[S.rows] @ x, rtol=1e-10, atol=1e-10)
        y = rng.standard_normal(S.shape[0])
        np.testing.assert_allclose(S.H @ y, D[S.rows].T @ y, rtol=1e-10, atol=1e-10)


def test_cost_model_keeps_cheap_sparse_factors_on_the_full_path(rng):
    # a banded product costs ~6 flops per entry: sampled dense rows cannot beat it
    T = sp.diags_array(
        [-np.ones(99), 2 * np.ones(100), -np.ones(99)], offsets=[-1, 0, 1]
    )
    S = SampledKron(KronOperator(T.tocsr(), T.tocsr()), rng.choice(10000, 50))
    assert S._path() == "full"
    x = rng.standard_normal(10000)
    D = sp.kron(T, T).toarray()[S.rows]
    np.testing.assert_allclose(S @ x, D @ x, rtol=1e-12, atol=1e-12)


def test_small_two_sided_selection_uses_the_explicit_matrix(rng):
    A, B = _dense_factors(rng, [(30, 30), (30, 30)])
    rows = rng.choice(900, 20, replace=False)
    S = SampledKron(KronOperator(A, B), rows, rows)
    assert S._path() == "explicit"
    D = np.kron(A, B)[np.ix_(rows, rows)]
    x = rng.standard_normal(20)
    np.testing.assert_allclose(S @ x, D @ x, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("path", ["full", "rows", "cols", "explicit"])
def test_every_path_agrees_with_the_oracle_in_d4(rng, path):
    shapes = [(2, 3), (3, 2), (2, 2), (3, 3)]
    fs = _dense_factors(rng, shapes, np.complex128)
    K = KronOperator(*fs)
    D = kron_dense(fs)
    rows = rng.integers(0, K.shape[0], 11)
    cols = rng.integers(0, K.shape[1], 13)
    for r, c in ((rows, None), (None, cols), (rows, cols)):
        S = SampledKron(K, r, c)._with_path(path)
        ref = D[
            np.ix_(
                np.arange(D.shape[0]) if r is None else r,
                np.arange(D.shape[1]) if c is None else c,
            )
        ]
        X = random_array(rng, (S.shape[1], 3), np.complex128)
        Y = random_array(rng, (S.shape[0], 2), np.complex128)
        np.testing.assert_allclose(S @ X, ref @ X, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(S.H @ Y, ref.conj().T @ Y, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(S.T @ Y, ref.T @ Y, rtol=1e-12, atol=1e-12)


def test_unknown_path_knob_raises(rng):
    S = SampledKron(KronOperator(np.eye(2)), [0])
    with pytest.raises(ValueError, match="path"):
        S._with_path("fast")
    with pytest.raises(ValueError, match="steps"):
        S._with_path("rows", "fast")


@pytest.mark.parametrize("steps", [None, "dense", "gathered"])
@pytest.mark.parametrize("path", ["rows", "cols"])
def test_trick_step_forms_agree_in_d3_with_blocks(rng, path, steps):
    shapes = [(4, 3), (3, 5), (2, 4)]
    fs = _dense_factors(rng, shapes, np.complex64)
    K = KronOperator(*fs)
    D = kron_dense(fs)
    rows = rng.integers(0, K.shape[0], 10)
    cols = rng.integers(0, K.shape[1], 12)
    for r, c in ((rows, None), (None, cols), (rows, cols)):
        S = SampledKron(K, r, c)._with_path(path, steps)
        ref = D[
            np.ix_(
                np.arange(D.shape[0]) if r is None else r,
                np.arange(D.shape[1]) if c is None else c,
            )
        ]
        X = random_array(rng, (S.shape[1], 3), np.complex64)
        Y = random_array(rng, (S.shape[0], 4), np.complex64)
        np.testing.assert_allclose(S @ X, ref @ X, rtol=2e-5, atol=2e-5)
        np.testing.assert_allclose(S.H @ Y, ref.conj().T @ Y, rtol=2e-5, atol=2e-5)


# ------------------------------------------------------------ structure
def test_attributes_are_private_readonly_copies(rng):
    A, B = _dense_factors(rng, [(3, 3), (4, 4)])
    K = KronOperator(A, B)
    rows = np.array([5, 1, 1])
    S = SampledKron(K, rows, (np.array([0, 2]), np.array([3, 1])))
    assert S.kron is K
    assert S.rows.dtype == np.int64
    np.testing.assert_array_equal(S.rows, [5, 1, 1])
    np.testing.assert_array_equal(S.cols, [3, 9])
    with pytest.raises(ValueError, match="read-only"):
        S.rows[0] = 2
    rows[0] = 0  # the caller's array changes; the operator does not
    np.testing.assert_array_equal(S.rows, [5, 1, 1])
    assert SampledKron(K, rows).cols is None
    assert SampledKron(K).rows is None
    assert S.args[0] is K


def test_adjoint_transpose_and_scalars_stay_structured(rng):
    A, B = _dense_factors(rng, [(3, 4), (2, 5)], np.complex128)
    K = KronOperator(A, B)
    S = SampledKron(K, [1, 4], [0, 19, 7])
    for got in (S.H, S.T, 2 * S, S * 0.5, -S, S / 3):
        assert isinstance(got, SampledKron)
    np.testing.assert_array_equal(S.H.rows, S.cols)
    np.testing.assert_array_equal(S.H.cols, S.rows)
    D = np.kron(A, B)[np.ix_([1, 4], [0, 19, 7])]
    np.testing.assert_allclose((3j * S).toarray(), 3j * D, rtol=1e-13)
    np.testing.assert_allclose(S.H.toarray(), D.conj().T, rtol=1e-13)
    np.testing.assert_allclose(S.T.toarray(), D.T, rtol=1e-13)


def test_toarray_never_forms_the_full_matrix(rng, monkeypatch):
    A, B = _dense_factors(rng, [(6, 5), (4, 7)])
    K = KronOperator(A, B)
    D = np.kron(A, B)
    rows, cols = [3, 20, 3], [34, 0]

    def boom(*args, **kwargs):
        raise AssertionError("formed the full Kronecker product")

    monkeypatch.setattr(KronOperator, "toarray", boom)
    np.testing.assert_allclose(SampledKron(K, rows).toarray(), D[rows])
    np.testing.assert_allclose(SampledKron(K, cols=cols).toarray(), D[:, cols])
    np.testing.assert_allclose(
        SampledKron(K, rows, cols).toarray(), D[np.ix_(rows, cols)]
    )


def test_diagonal(rng):
    A, B = _dense_factors(rng, [(3, 4), (5, 2)])
    D = np.kron(A, B)
    K = KronOperator(A, B)
    for r, c in (([4, 0, 14, 9], None), (None, [7, 1]), ([2, 2, 3], [1, 5, 0, 6])):
        S = SampledKron(K, r, c)
        np.testing.assert_allclose(S.diagonal(), np.diagonal(S.toarray()))
    np.testing.assert_allclose(SampledKron(K).diagonal(), np.diagonal(D))


def test_boolean_mask_selects_rows(rng):
    A, B = _dense_factors(rng, [(3, 3), (4, 4)])
    mask = rng.random(12) < 0.5
    S = SampledKron(KronOperator(A, B), rows=mask)
    np.testing.assert_array_equal(S.rows, np.flatnonzero(mask))
    with pytest.raises(ValueError, match=r"mask must have shape \(12,\)"):
        SampledKron(KronOperator(A, B), rows=mask[:5])


def test_empty_selection(rng):
    A, B = _dense_factors(rng, [(3, 3), (4, 4)])
    S = SampledKron(KronOperator(A, B), rows=[], cols=[2, 3])
    assert S.shape == (0, 2)
    assert (S @ np.ones(2)).shape == (0,)
    np.testing.assert_array_equal(S.H @ np.ones(0), np.zeros(2))
    assert S.toarray().shape == (0, 2)


def test_pickle_round_trip(rng):
    A, B = _dense_factors(rng, [(5, 5), (6, 6)])
    S = SampledKron(KronOperator(A, B), [3, 3, 29, 0], [1, 1, 8])
    x = rng.standard_normal(3)
    want = S @ x
    T = pickle.loads(pickle.dumps(S))
    np.testing.assert_allclose(T @ x, want, rtol=1e-14)
    for path in ("rows", "cols"):
        np.testing.assert_allclose(
            pickle.loads(pickle.dumps(S._with_path(path))) @ x, want, rtol=1e-12
        )


def test_scatter_add_does_not_touch_the_input(rng):
    A, B = _dense_factors(rng, [(3, 3), (4, 4)])
    S = SampledKron(KronOperator(A, B), cols=[5, 5, 5, 2])
    x = np.array([1.0, 2.0, 3.0, 4.0])
    x.setflags(write=False)
    D = np.kron(A, B)[:, [5, 5, 5, 2]]
    for path in ("full", "cols"):
        np.testing.assert_allclose(S._with_path(path) @ x, D @ x, rtol=1e-13)


# ------------------------------------------------------------ bad inputs
@pytest.fixture
def K23():
    return KronOperator(np.ones((2, 3)), np.ones((3, 4)))


def test_rejects_a_non_kron_operator():
    with pytest.raises(TypeError, match="KronOperator"):
        SampledKron(np.eye(4), [0])
    with pytest.raises(TypeError, match="KronOperator"):
        SampledKron(aslinearoperator(np.eye(4)), [0])


def test_out_of_range_flat_index_names_the_range(K23):
    with pytest.raises(ValueError, match=r"rows \(flat\).*0 ≤ i < 6.*got 6"):
        SampledKron(K23, [0, 6])
    with pytest.raises(ValueError, match=r"cols \(flat\).*0 ≤ i < 12.*got -1"):
        SampledKron(K23, cols=[-1])


def test_out_of_range_axis_index_names_the_axis(K23):
    with pytest.raises(ValueError, match=r"rows \(axis 1\).*0 ≤ i < 3.*got 3"):
        SampledKron(K23, (np.array([0, 1]), np.array([1, 3])))
    with pytest.raises(ValueError, match=r"cols \(axis 0\).*0 ≤ i < 3.*got -2"):
        SampledKron(K23, cols=(np.array([-2]), np.array([1])))


def test_wrong_number_of_axis_arrays(K23):
    with pytest.raises(ValueError, match=r"needs 2 arrays, got 3"):
        SampledKron(K23, ([0], [1], [0]))


def test_unequal_axis_lengths(K23):
    with pytest.raises(ValueError, match=r"equal lengths.*\[2, 1\]"):
        SampledKron(K23, cols=([0, 1], [2]))


def test_float_indices_raise_type_error(K23):
    with pytest.raises(TypeError, match=r"rows \(flat\).*integers.*float64"):
        SampledKron(K23, [0.0, 1.0])
    with pytest.raises(TypeError, match=r"cols \(axis 1\).*integers"):
        SampledKron(K23, cols=([0], [1.5]))


def test_two_dimensional_index_arrays_raise(K23):
    with pytest.raises(ValueError, match=r"rows \(flat\).*1-D.*\(2, 2\)"):
        SampledKron(K23, np.zeros((2, 2), dtype=int))
    with pytest.raises(ValueError, match=r"cols \(axis 0\).*1-D"):
        SampledKron(K23, cols=(np.zeros((1, 1), dtype=int), np.zeros(1, dtype=int)))


def test_wrong_input_length_raises(K23):
    S = SampledKron(K23, [0, 1, 2])
    with pytest.raises(ValueError, match=r"(?i)dimension mismatch"):
        S @ np.ones(5)


# ------------------------------------------------------------ solvers
def test_lsqr_and_lsmr_match_dense_least_squares(rng):
    A, B = _dense_factors(rng, [(8, 3), (7, 4)])
    K = KronOperator(A, B)
    rows = rng.choice(56, 30, replace=False)
    S = SampledKron(K, rows)
    D = np.kron(A, B)[rows]
    b = rng.standard_normal(30)
    want = np.linalg.lstsq(D, b, rcond=None)[0]
    got = lsqr(S, b, atol=1e-14, btol=1e-14, iter_lim=500)[0]
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10)
    got = lsmr(S, b, atol=1e-14, btol=1e-14, maxiter=500)[0]
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("eye", ["kronop", "scipy", "left"])
def test_gp_on_an_incomplete_grid_solves_in_cg(rng, eye):
    n1, n2 = 12, 10
    A, B = hpd(rng, n1, np.float64), hpd(rng, n2, np.float64)
    K = KronOperator(A, B)
    obs = rng.choice(n1 * n2, 70, replace=False)
    S = SampledKron(K, obs, obs)
    sigma = 0.3
    if eye == "kronop":
        op = S + sigma * IdentityOperator(S.shape)
    elif eye == "scipy":
        op = S + sigma * ScipyIdentity(S.shape, dtype=np.float64)
    else:
        op = sigma * IdentityOperator(S.shape) + S
    dense = np.kron(A, B)[np.ix_(obs, obs)] + sigma * np.eye(70)
    b = rng.standard_normal(70)
    x, info = cg(op, b, rtol=1e-12, maxiter=1000)
    assert info == 0
    np.testing.assert_allclose(x, np.linalg.solve(dense, b), rtol=1e-8, atol=1e-10)
    # the structured sums of a full Kronecker product are untouched
    assert type(K + sigma * IdentityOperator(K.shape)).__name__ == "KronPlusDiagonal"


# ------------------------------------------------------------ hypothesis
@st.composite
def sampled_problems(draw):
    d = draw(st.integers(1, 3))
    shapes = [(draw(st.integers(1, 4)), draw(st.integers(1, 4))) for _ in range(d)]
    M = int(np.prod([m for m, _ in shapes]))
    N = int(np.prod([n for _, n in shapes]))
    rows = draw(st.one_of(st.none(), st.lists(st.integers(0, M - 1), max_size=8)))
    cols = draw(st.one_of(st.none(), st.lists(st.integers(0, N - 1), max_size=8)))
    as_axes = draw(st.booleans())
    path = draw(st.sampled_from([None, "full", "rows", "cols", "explicit"]))
    steps = draw(st.sampled_from([None, "dense", "gathered"]))
    seed = draw(st.integers(0, 2**32 - 1))
    return shapes, rows, cols, as_axes, (path, steps), seed


@settings(max_examples=150, deadline=None)
@given(sampled_problems())
def test_random_selections_match_the_dense_oracle(problem):
    shapes, rows, cols, as_axes, path, seed = problem
    rng = np.random.default_rng(seed)
    fs = [rng.standard_normal(s) for s in shapes]
    K = KronOperator(*fs)
    D = kron_dense(fs)
    r = None if rows is None else np.array(rows, dtype=np.int64)
    c = None if cols is None else np.array(cols, dtype=np.int64)
    ra = r
    if as_axes and r is not None:
        ra = np.unravel_index(r, [m for m, _ in shapes])
    S = SampledKron(K, ra, c)._with_path(*path)
    ref = D[
        np.ix_(
            np.arange(D.shape[0]) if r is None else r,
            np.arange(D.shape[1]) if c is None else c,
        )
    ]
    assert S.shape == ref.shape
    np.testing.assert_allclose(S.toarray(), ref, rtol=1e-13, atol=1e-13)
    X = rng.standard_normal((S.shape[1], 2))
    Y = rng.standard_normal((S.shape[0], 2))
    np.testing.assert_allclose(S @ X, ref @ X, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(S.H @ Y, ref.T @ Y, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(S.diagonal(), np.diagonal(ref), rtol=1e-13, atol=1e-13)


def test_sparse_factor_rows_and_columns_are_not_densified_whole(rng):
    # a large sparse factor: only the selected rows/columns become dense
    n = 3000
    big = sp.random_array((n, n), density=1e-3, rng=rng, format="csr")
    small = rng.standard_normal((3, 3))
    K = KronOperator(big, small)
    rows = rng.integers(0, n * 3, 5)
    S = SampledKron(K, rows)._with_path("rows")
    x = rng.standard_normal(n * 3)
    np.testing.assert_allclose(S @ x, (K @ x)[rows], rtol=1e-12, atol=1e-12)
    assert S.toarray().shape == (5, n * 3)


@pytest.mark.parametrize("path", ["explicit", "rows", "cols", "full"])
def test_every_path_computes_in_the_products_precision(path):
    """A float64 input to a float32 operator: float64 products on every path."""
    rng = np.random.default_rng(11)
    A = rng.standard_normal((4, 4)).astype(np.float32)
    B = rng.standard_normal((3, 3)).astype(np.float32)
    rows, cols = [0, 5, 7], [1, 2, 3, 9]
    S = SampledKron(KronOperator(A, B), rows=rows, cols=cols)._with_path(path)
    x = rng.standard_normal(4)
    dense = np.kron(A.astype(np.float64), B.astype(np.float64))[rows][:, cols]
    y = S @ x
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, dense @ x, rtol=1e-13, atol=1e-13)


def test_a_list_of_points_gets_a_hint():
    K = KronOperator(np.eye(2), np.eye(3))
    with pytest.raises(ValueError, match=r"tuple\(np.asarray\(points\).T\)"):
        SampledKron(K, rows=[(0, 1), (1, 2)])
