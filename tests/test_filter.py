"""filter_operator(): equals scipy.ndimage.correlate1d / convolve1d along every axis.

The dense oracle is independent of kronop: ``scipy.ndimage`` applied to the
identity's columns (one image per column), for small sizes only.
"""

import math

import numpy as np
import pytest
import scipy.ndimage as ndi
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from kronop import KronOperator
from kronop.gallery import FILTER_MODES, filter_operator

from .contract.operator import OperatorContract
from .factories import eps, hi, random_array

ALIASES = {"grid-mirror": "reflect", "grid-constant": "constant", "grid-wrap": "wrap"}
ALL_MODES = (*FILTER_MODES, *ALIASES)


def _per_axis(value, d):
    return list(value) if isinstance(value, list | tuple) else [value] * d


def ndimage_filter(img, ws, modes, origins, kind="correlate"):
    """``img`` filtered along each axis in turn by ndimage (axis 0 first)."""
    fn = ndi.correlate1d if kind == "correlate" else ndi.convolve1d
    d = img.ndim
    out = img
    for j, (w, m, o) in enumerate(
        zip(_per_axis(ws, d), _per_axis(modes, d), _per_axis(origins, d), strict=True)
    ):
        out = fn(out, w, axis=j, mode=m, origin=o)
    return out


def ndimage_dense(shape, ws, modes="reflect", origins=0, kind="correlate"):
    """The N×N matrix of the filter: ndimage applied to every identity column."""
    d, N = len(shape), math.prod(shape)
    fn = ndi.correlate1d if kind == "correlate" else ndi.convolve1d
    cols = np.eye(N).reshape(N, *shape)  # image k is the k-th unit vector
    ws = [hi(w) for w in _per_axis(ws, d)]
    for j, (w, m, o) in enumerate(
        zip(ws, _per_axis(modes, d), _per_axis(origins, d), strict=True)
    ):
        cols = fn(cols, w, axis=j + 1, mode=m, origin=o)  # axis 0 is the column
    return cols.reshape(N, N).T


def bound_scale(img, ws, modes, origins, kind="correlate"):
    """An upper bound of |K|·|x|: the same filter with |w| on |x|, real."""
    d = img.ndim
    absw = [np.abs(hi(w)) for w in _per_axis(ws, d)]
    return ndimage_filter(np.abs(hi(img)), absw, modes, origins, kind)


def assert_filter_close(got, want, scale, dtype, terms):
    err = np.abs(hi(got) - hi(want))
    bound = 8 * eps(dtype) * max(terms, 1) * (scale + np.finfo(np.float64).tiny)
    worst = float(np.max(err / bound)) if err.size else 0.0
    assert worst <= 1.0, f"error {worst:.3g}× over the bound ({np.dtype(dtype)})"


# ------------------------------------------------------------------ contract
# (shape, lengths per axis, modes, origins, kind)
CASES = {
    **{f"2d-{m}": ((5, 4), (3, 3), m, 0, "correlate") for m in FILTER_MODES},
    "3d-mixed": (
        (3, 4, 5),
        (3, 5, 2),
        ("nearest", "wrap", "mirror"),
        (1, -2, 0),
        "correlate",
    ),
    "even": ((6, 5), (4, 2), ("reflect", "constant"), (-2, 0), "correlate"),
    "long": ((3, 4), (9, 12), ("reflect", "mirror"), (0, 3), "correlate"),
    "long-wrap": ((2, 3), (8, 7), ("wrap", "nearest"), (-1, 2), "correlate"),
    "n1": ((1, 4, 1), (3, 4, 5), ("mirror", "reflect", "wrap"), 0, "correlate"),
    "convolve": ((4, 5), (4, 3), ("mirror", "wrap"), (1, -1), "convolve"),
}

INNER = max(sum(lengths) for _, lengths, *_ in CASES.values()) + 1


class TestFilterContract(OperatorContract):
    cases = tuple(CASES)

    def build(self, case, dtype, rng):
        shape, lengths, modes, origins, kind = CASES[case]
        ws = [random_array(rng, L, dtype) for L in lengths]
        op = filter_operator(shape, ws, mode=modes, origin=origins, kind=kind)
        return op, ndimage_dense(shape, ws, modes, origins, kind)

    def inner_size(self, op):
        return INNER  # taps summed per output (over the axes), bounded for all cases


# ------------------------------------------------------- against ndimage
SHAPES = [(1,), (7,), (4, 5), (3, 1, 6), (2, 9)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("length", [1, 2, 3, 4, 5, 8, 11])
@pytest.mark.parametrize("mode", ALL_MODES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_matches_ndimage(shape, mode, length, dtype, rng):
    w = random_array(rng, length, dtype)
    img = random_array(rng, shape, dtype)
    K = filter_operator(shape, w, mode=mode)
    assert K.dtype == np.dtype(dtype)
    got = (K @ img.ravel()).reshape(shape)
    assert got.dtype == np.dtype(dtype)
    want = ndimage_filter(img, w, mode, 0)
    scale = bound_scale(img, w, mode, 0)
    assert_filter_close(got, want, scale, dtype, len(shape) * length + 1)


@pytest.mark.parametrize("mode", FILTER_MODES)
@pytest.mark.parametrize("length", [1, 2, 3, 4, 5, 6, 9])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_every_origin_1d(n, length, mode, rng):
    """Each admissible origin, short and long filters, as exact matrices."""
    w = rng.standard_normal(length)
    for o in range(-(length // 2), (length - 1) // 2 + 1):
        K = filter_operator(n, w, mode=mode, origin=o)
        want = ndimage_dense((n,), [w], mode, o)
        np.testing.assert_allclose(K.toarray(), want, rtol=1e-14, atol=1e-14)
        C = filter_operator(n, w, mode=mode, origin=o, kind="convolve")
        want = ndimage_dense((n,), [w], mode, o, kind="convolve")
        np.testing.assert_allclose(C.toarray(), want, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("mode", FILTER_MODES)
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_filter_much_longer_than_axis(n, mode, rng):
    """Taps fold many times over (and are merged before the matrix is built)."""
    length = 1001
    w = rng.standard_normal(length)
    for o in (-(length // 2), -7, 0, 3, (length - 1) // 2):
        for kind in ("correlate", "convolve"):
            K = filter_operator(n, w, mode=mode, origin=o, kind=kind)
            want = ndimage_dense((n,), [w], mode, o, kind)
            scale = np.abs(w).sum()
            np.testing.assert_allclose(K.toarray(), want, rtol=0, atol=1e-13 * scale)


@pytest.mark.parametrize("mode", ALL_MODES)
def test_aliases_and_cval_ignored_elsewhere(mode, rng):
    w = rng.standard_normal(4)
    K = filter_operator((5, 3), w, mode=mode)
    canon = ALIASES.get(mode, mode)
    np.testing.assert_array_equal(
        K.toarray(), filter_operator((5, 3), w, mode=canon).toarray()
    )
    if canon != "constant":  # ndimage ignores cval for the other modes
        K2 = filter_operator((5, 3), w, mode=mode, cval=2.5)
        img = rng.standard_normal((5, 3))
        want = ndi.correlate1d(
            ndi.correlate1d(img, w, 0, mode=mode, cval=2.5), w, 1, mode=mode, cval=2.5
        )
        np.testing.assert_allclose(
            (K2 @ img.ravel()).reshape(5, 3), want, rtol=1e-13, atol=1e-13
        )


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("kind", ["correlate", "convolve"])
def test_complex_weights_follow_ndimage(dtype, kind, rng):
    """ndimage conjugates complex weights in a correlation (not in a convolution)."""
    shape, ws = (6, 5), [random_array(rng, 4, dtype), random_array(rng, 3, dtype)]
    K = filter_operator(shape, ws, mode=("wrap", "reflect"), origin=(1, 0), kind=kind)
    assert K.dtype == np.dtype(dtype)
    img = random_array(rng, shape, dtype)
    got = (K @ img.ravel()).reshape(shape)
    want = ndimage_filter(
        hi(img), [hi(w) for w in ws], ("wrap", "reflect"), (1, 0), kind
    )
    scale = bound_scale(img, ws, ("wrap", "reflect"), (1, 0), kind)
    assert_filter_close(got, want, scale, dtype, 8)
    one = filter_operator(1, np.array([2j]))
    assert one.toarray()[0, 0] == -2j  # correlate1d([1], [2j]) == [-2j]


def test_per_axis_mode_origin_float32(rng):
    shape = (7, 6, 5)
    ws = [random_array(rng, L, np.float32) for L in (2, 7, 4)]
    modes, origins = ("constant", "mirror", "grid-wrap"), (0, -3, 1)
    K = filter_operator(shape, ws, mode=modes, origin=origins)
    img = random_array(rng, shape, np.float32)
    got = (K @ img.ravel()).reshape(shape)
    want = ndimage_filter(img, ws, modes, origins)
    assert_filter_close(got, want, bound_scale(img, ws, modes, origins), np.float32, 14)


@settings(max_examples=80, deadline=None)
@given(
    data=st.data(),
    d=st.integers(1, 3),
    dtype=st.sampled_from([np.float32, np.float64, np.complex64, np.complex128]),
    kind=st.sampled_from(["correlate", "convolve"]),
)
def test_random_filters_match_ndimage(data, d, dtype, kind):
    shape = tuple(data.draw(st.lists(st.integers(1, 9), min_size=d, max_size=d)))
    lengths = data.draw(st.lists(st.integers(1, 13), min_size=d, max_size=d))
    modes = tuple(
        data.draw(st.lists(st.sampled_from(ALL_MODES), min_size=d, max_size=d))
    )
    origins = tuple(data.draw(st.integers(-(L // 2), (L - 1) // 2)) for L in lengths)
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    ws = [random_array(rng, L, dtype) for L in lengths]
    K = filter_operator(shape, ws, mode=modes, origin=origins, kind=kind)
    assert K.dtype == np.dtype(dtype)
    img = random_array(rng, shape, dtype)
    got = (K @ img.ravel()).reshape(shape)
    want = ndimage_filter(hi(img), [hi(w) for w in ws], modes, origins, kind)
    scale = bound_scale(img, ws, modes, origins, kind)
    assert_filter_close(got, want, scale, dtype, sum(lengths) + 1)


@pytest.mark.parametrize("case", ["2d-reflect", "3d-mixed", "long", "n1", "convolve"])
def test_transpose_against_brute_force(case, rng):
    """K.T and K.H against the transpose of K's own columns (K applied to I)."""
    shape, lengths, modes, origins, kind = CASES[case]
    ws = [random_array(rng, L, np.complex128) for L in lengths]
    K = filter_operator(shape, ws, mode=modes, origin=origins, kind=kind)
    N = K.shape[0]
    cols = K @ np.eye(N)  # brute force: the matrix, column by column
    y = random_array(rng, (N, 2), np.complex128)
    np.testing.assert_allclose(K.T @ y, cols.T @ y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(K.H @ y, cols.conj().T @ y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        K.T.toarray(), ndimage_dense(shape, ws, modes, origins, kind).T, atol=1e-12
    )


# ----------------------------------------------------------------- structure
def test_factors_are_banded_csr():
    w = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    K = filter_operator((6, 1, 40), w, mode="constant")
    assert isinstance(K, KronOperator)
    assert len(K.factors) == 3
    for f, n in zip(K.factors, (6, 1, 40), strict=True):
        assert sp.issparse(f)
        assert f.format == "csr"
        assert f.shape == (n, n)
        assert f.nnz <= n * min(5, n)
        i, j = f.nonzero()
        assert np.all(np.abs(i - j) <= 2)  # banded: taps i−2 … i+2


def test_large_axis_built_by_index_arithmetic(monkeypatch):
    """Never by filtering identity columns: ndimage is not called at all."""

    def refuse(*args, **kwargs):
        raise AssertionError("filter_operator must not call ndimage")

    monkeypatch.setattr(ndi, "correlate1d", refuse)
    monkeypatch.setattr(ndi, "convolve1d", refuse)
    n = 200_000
    K = filter_operator((n,), np.ones(9) / 9, mode="mirror")
    assert K.factors[0].nnz <= 9 * n
    x = np.ones(n)
    np.testing.assert_allclose(K @ x, x, rtol=1e-14)


@pytest.mark.parametrize(
    ("weights", "want"),
    [
        (np.array([1, 2, 1]), np.float64),
        (np.array([True, False]), np.float64),
        (np.array([1, 2], dtype=np.float16), np.float32),
        (np.array([1, 2], dtype=np.float32), np.float32),
        ([1.0, 2.0], np.float64),
        (np.array([1, 2j], dtype=np.complex64), np.complex64),
        ([np.ones(2, np.float32), np.ones(3, np.float64)], np.float64),
        ([np.ones(2, np.float32), np.ones(3, np.complex64)], np.complex64),
    ],
)
def test_dtype_is_result_type_of_weights(weights, want):
    K = filter_operator((3, 4), weights)
    assert K.dtype == np.dtype(want)
    assert all(f.dtype == np.dtype(want) for f in K.factors)
    assert (K @ np.ones(12, np.float32)).dtype == np.dtype(want)
    assert (K @ np.ones(12)).dtype == np.result_type(want, np.float64)


def test_caller_weights_untouched_and_empty_block(rng):
    w = rng.standard_normal(4) + 1j * rng.standard_normal(4)
    keep = w.copy()
    w.setflags(write=False)
    K = filter_operator((3, 5), w, mode="wrap", kind="convolve")
    K2 = filter_operator((3, 5), [w, w], mode="reflect")
    K @ np.ones(15)
    K2.H @ np.ones(15)
    np.testing.assert_array_equal(w, keep)
    Y = K @ np.ones((15, 0))
    assert Y.shape == (15, 0)
    assert Y.dtype == np.complex128


def test_identity_filter():
    K = filter_operator((4, 3), [1.0])
    np.testing.assert_array_equal(K.toarray(), np.eye(12))
    x = np.arange(12.0)
    np.testing.assert_array_equal(K @ x, x)


# ------------------------------------------------------------------- errors
def test_bad_mode():
    with pytest.raises(
        ValueError,
        match=r"mode must be one of 'reflect'.*'wrap'.*"
        r"got 'periodic'",
    ):
        filter_operator((3, 3), [1.0, 2.0], mode="periodic")
    with pytest.raises(ValueError, match=r"mode\[1\] \(axis 1\).*got 'zero'"):
        filter_operator((3, 3), [1.0, 2.0], mode=("reflect", "zero"))
    with pytest.raises(ValueError, match=r"mode needs one entry per axis \(2\), got 3"):
        filter_operator((3, 3), [1.0, 2.0], mode=("reflect",) * 3)


def test_bad_weights():
    with pytest.raises(ValueError, match=r"weights must be 1-D.*\(2, 3\).*list of 1-D"):
        filter_operator((3, 3), np.ones((2, 3)))
    with pytest.raises(ValueError, match="weights is empty"):
        filter_operator((3, 3), [])
    with pytest.raises(ValueError, match=r"weights\[1\] \(axis 1\) is empty"):
        filter_operator((3, 3), [np.ones(2), np.ones(0)])
    with pytest.raises(ValueError, match=r"weights\[0\] \(axis 0\) must be 1-D"):
        filter_operator((3, 3), [np.ones((2, 2)), np.ones(2)])
    with pytest.raises(ValueError, match=r"one 1-D array per axis \(3 .*got 2"):
        filter_operator((3, 3, 2), [np.ones(2), np.ones(3)])
    with pytest.raises(TypeError, match="numeric"):
        filter_operator((3, 3), np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"weights must be 1-D.*shape \(\)"):
        filter_operator((3, 3), 2.0)


def test_bad_shape():
    with pytest.raises(
        TypeError,
        match=r"shape\[1\] \(axis 1\) must be a positive int, "
        r"got 2.5",
    ):
        filter_operator((3, 2.5), [1.0])
    with pytest.raises(ValueError, match=r"shape\[0\] \(axis 0\) .* got 0"):
        filter_operator((0, 3), [1.0])
    with pytest.raises(ValueError, match=r"shape\[2\] \(axis 2\) .* got -1"):
        filter_operator((2, 3, -1), [1.0])
    with pytest.raises(TypeError, match="shape must be an int or a sequence"):
        filter_operator("33", [1.0])
    with pytest.raises(TypeError, match=r"shape\[0\]"):
        filter_operator((True, 3), [1.0])
    with pytest.raises(ValueError, match="at least one axis"):
        filter_operator((), [1.0])


def test_bad_origin_cval_kind():
    with pytest.raises(
        ValueError,
        match=r"origin for axis 0 .* \[-2, 1\] for 4 "
        r"weights; got 2",
    ):
        filter_operator((5, 5), np.ones(4), origin=2)
    with pytest.raises(ValueError, match=r"origin for axis 1 .*\[-1, 1\].*got -2"):
        filter_operator((5, 5), [np.ones(4), np.ones(3)], origin=(0, -2))
    with pytest.raises(
        ValueError, match=r"origin needs one entry per axis \(2\), got 3"
    ):
        filter_operator((5, 5), np.ones(3), origin=(0, 0, 0))
    with pytest.raises(TypeError, match="origin for axis 0 must be an int"):
        filter_operator((5, 5), np.ones(3), origin=0.5)
    with pytest.raises(ValueError, match="affine, not linear"):
        filter_operator((5, 5), np.ones(3), mode="constant", cval=1.0)
    with pytest.raises(ValueError, match="affine, not linear"):
        filter_operator((5, 5), np.ones(3), mode=("wrap", "grid-constant"), cval=-1)
    with pytest.raises(TypeError, match="cval must be a number"):
        filter_operator((5, 5), np.ones(3), cval="0")
    with pytest.raises(ValueError, match=r"kind must be 'correlate' or 'convolve'"):
        filter_operator((5, 5), np.ones(3), kind="conv")
    # ndimage refuses the same origins
    with pytest.raises(ValueError, match=r"(?i)invalid origin"):
        ndi.correlate1d(np.ones(5), np.ones(4), origin=2)


def test_nonzero_cval_is_the_operator_plus_an_offset(rng):
    """The documented recipe: correlate1d with cval c = K @ x + (filter of zeros)."""
    img = rng.standard_normal((5, 4))
    ws = [rng.standard_normal(3), rng.standard_normal(4)]
    K = filter_operator(img.shape, ws, mode="constant", cval=np.array(0.0))
    offset = ndimage_filter_cval(np.zeros_like(img), ws, cval=2.0)
    want = ndimage_filter_cval(img, ws, cval=2.0)
    got = (K @ img.ravel()).reshape(img.shape) + offset
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


def ndimage_filter_cval(img, ws, cval):
    out = img
    for j, w in enumerate(ws):
        out = ndi.correlate1d(out, w, axis=j, mode="constant", cval=cval)
    return out
