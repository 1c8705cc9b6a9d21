"""KronEigen.logdet_grad / logdet_shift_grad / quad_grad against dense references."""

import numpy as np
import pytest
import scipy.sparse

from kronop import KronOperator, KronSum

RTOL = 1e-6


def _spd(rng, n, complex_=False):
    a = rng.standard_normal((n, n))
    if complex_:
        a = a + 1j * rng.standard_normal((n, n))
    return a @ a.conj().T / n + 0.5 * np.eye(n)


def _sym(rng, n, complex_=False):
    a = rng.standard_normal((n, n))
    if complex_:
        a = a + 1j * rng.standard_normal((n, n))
    return (a + a.conj().T) / 2


def _dense(factors):
    out = np.ones((1, 1))
    for f in factors:
        out = np.kron(out, f)
    return out


def _moved(factors, j, dk, t):
    return [f + t * dk if k == j else f for k, f in enumerate(factors)]


def _logdet(factors, shift):
    m = _dense(factors)
    sign, logabs = np.linalg.slogdet(m + shift * np.eye(m.shape[0]))
    assert sign.real > 0
    return logabs


def _quad(factors, shift, y):
    m = _dense(factors)
    return float(np.real(np.vdot(y, np.linalg.solve(m + shift * np.eye(len(y)), y))))


def _central(f, h=1e-5):
    # fourth-order central difference: truncation ~h⁴, rounding ~ε/h
    return (-f(2 * h) + 8 * f(h) - 8 * f(-h) + f(-2 * h)) / (12 * h)


def _rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


@pytest.mark.parametrize("sizes", [(4, 5), (3, 4, 5)])
def test_logdet_grad_matches_finite_differences(rng, sizes):
    factors = [_spd(rng, n) for n in sizes]
    dks = [_sym(rng, n) for n in sizes]
    shift = 0.3
    dec = KronOperator(*factors).eigh()
    grads = dec.logdet_grad(dks, shift=shift)
    assert len(grads) == len(sizes)
    for j, dk in enumerate(dks):
        fd = _central(lambda t, j=j, dk=dk: _logdet(_moved(factors, j, dk, t), shift))
        assert isinstance(grads[j], float)
        assert _rel(grads[j], fd) <= RTOL
    fd = _central(lambda t: _logdet(factors, shift + t))
    assert _rel(dec.logdet_shift_grad(shift), fd) <= RTOL


@pytest.mark.parametrize("sizes", [(4, 5), (3, 4, 5)])
def test_quad_grad_matches_finite_differences(rng, sizes):
    factors = [_spd(rng, n) for n in sizes]
    dks = [_sym(rng, n) for n in sizes]
    shift = 0.2
    y = rng.standard_normal(int(np.prod(sizes)))
    dec = KronOperator(*factors).eigh()
    value, grads, dshift = dec.quad_grad(y, dks, shift=shift)
    assert isinstance(value, float)
    assert isinstance(dshift, float)
    assert _rel(value, _quad(factors, shift, y)) <= 1e-10
    for j, dk in enumerate(dks):
        fd = _central(lambda t, j=j, dk=dk: _quad(_moved(factors, j, dk, t), shift, y))
        assert _rel(grads[j], fd) <= RTOL
    fd = _central(lambda t: _quad(factors, shift + t, y))
    assert _rel(dshift, fd) <= RTOL


def test_against_dense_trace_formula(rng):
    sizes = (3, 4, 2)
    factors = [_spd(rng, n) for n in sizes]
    dks = [_sym(rng, n) for n in sizes]
    shift = 0.7
    dec = KronOperator(*factors).eigh()
    M = _dense(factors) + shift * np.eye(int(np.prod(sizes)))
    Minv = np.linalg.inv(M)
    y = rng.standard_normal(M.shape[0])
    alpha = Minv @ y
    _, qgrads, dshift = dec.quad_grad(y, dks, shift=shift)
    for j, g in enumerate(dec.logdet_grad(dks, shift=shift)):
        E = _dense([dks[j] if k == j else f for k, f in enumerate(factors)])
        np.testing.assert_allclose(g, np.trace(Minv @ E), rtol=1e-12)
        np.testing.assert_allclose(qgrads[j], -alpha @ E @ alpha, rtol=1e-12)
    np.testing.assert_allclose(dec.logdet_shift_grad(shift), np.trace(Minv))
    np.testing.assert_allclose(dshift, -alpha @ alpha, rtol=1e-12)


def test_none_entries_and_sparse(rng):
    factors = [_spd(rng, n) for n in (3, 4)]
    dk = _sym(rng, 4)
    dec = KronOperator(*factors).eigh()
    g = dec.logdet_grad([None, dk], shift=0.1)
    assert g[0] == 0.0
    g2 = dec.logdet_grad((None, scipy.sparse.csr_array(dk)), shift=0.1)
    np.testing.assert_allclose(g2[1], g[1], rtol=1e-14)
    y = rng.standard_normal(12)
    _, grads, _ = dec.quad_grad(y, [None, None], shift=0.1)
    assert grads == [0.0, 0.0]


def test_existing_shift_of_the_decomposition_adds(rng):
    # dec.shift(s) carries s; the shift argument adds to it
    factors = [_spd(rng, n) for n in (3, 4)]
    dks = [_sym(rng, n) for n in (3, 4)]
    base = KronOperator(*factors).eigh()
    np.testing.assert_allclose(
        base.shift(0.25).logdet_grad(dks, shift=0.25),
        base.logdet_grad(dks, shift=0.5),
        rtol=1e-12,
    )
    y = rng.standard_normal(12)
    a = base.shift(0.25).quad_grad(y, dks, shift=0.25)
    b = base.quad_grad(y, dks, shift=0.5)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-12)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-12)
    np.testing.assert_allclose(a[2], b[2], rtol=1e-12)


def test_complex_hermitian(rng):
    sizes = (3, 4)
    factors = [_spd(rng, n, complex_=True) for n in sizes]
    dks = [_sym(rng, n, complex_=True) for n in sizes]
    shift = 0.4
    dec = KronOperator(*factors).eigh()
    y = rng.standard_normal(12) + 1j * rng.standard_normal(12)
    grads = dec.logdet_grad(dks, shift=shift)
    value, qgrads, dshift = dec.quad_grad(y, dks, shift=shift)
    assert all(isinstance(g, float) for g in grads + qgrads)
    assert isinstance(value, float)
    assert _rel(value, _quad(factors, shift, y)) <= 1e-10
    for j, dk in enumerate(dks):
        fd = _central(lambda t, j=j, dk=dk: _logdet(_moved(factors, j, dk, t), shift))
        assert _rel(grads[j], fd) <= RTOL
        fd = _central(lambda t, j=j, dk=dk: _quad(_moved(factors, j, dk, t), shift, y))
        assert _rel(qgrads[j], fd) <= RTOL
    fd = _central(lambda t: _quad(factors, shift + t, y))
    assert _rel(dshift, fd) <= RTOL


def test_non_hermitian_eig_matches_dense(rng):
    # the formulas hold for any diagonalizable product (eig, non-unitary V)
    factors = [_spd(rng, n) + 0.3 * rng.standard_normal((n, n)) for n in (3, 4)]
    dks = [rng.standard_normal((n, n)) for n in (3, 4)]
    shift = 2.0
    dec = KronOperator(*factors).eig()
    M = _dense(factors) + shift * np.eye(12)
    Minv = np.linalg.inv(M)
    y = rng.standard_normal(12)
    value, qgrads, dshift = dec.quad_grad(y, dks, shift=shift)
    np.testing.assert_allclose(value, y @ Minv @ y, rtol=1e-10)
    np.testing.assert_allclose(dshift, -(y @ Minv) @ (Minv @ y), rtol=1e-10)
    for j, g in enumerate(dec.logdet_grad(dks, shift=shift)):
        E = _dense([dks[j] if k == j else f for k, f in enumerate(factors)])
        np.testing.assert_allclose(g, np.trace(Minv @ E), rtol=1e-10)
        np.testing.assert_allclose(qgrads[j], -(y @ Minv) @ E @ (Minv @ y), rtol=1e-10)


def test_streamed_slabs_match_dense_formula(rng):
    # n₂n₃ > 2²⁰ would stream one row at a time; here a tall first axis with
    # several slabs is checked against the one-vector formula
    sizes = (300, 70, 60)
    lams = [rng.uniform(0.5, 2.0, n) for n in sizes]
    dec = KronOperator(*(np.diag(v) for v in lams)).eigh()
    dks = [np.diag(rng.standard_normal(n)) for n in sizes]
    shift = 0.1
    w = 1 / (np.einsum("i,j,k->ijk", *lams) + shift)
    ref = [
        np.einsum("ijk,i,j,k->", w, np.diag(dks[0]), lams[1], lams[2]),
        np.einsum("ijk,i,j,k->", w, lams[0], np.diag(dks[1]), lams[2]),
        np.einsum("ijk,i,j,k->", w, lams[0], lams[1], np.diag(dks[2])),
    ]
    np.testing.assert_allclose(dec.logdet_grad(dks, shift=shift), ref, rtol=1e-10)
    np.testing.assert_allclose(dec.logdet_shift_grad(shift), w.sum(), rtol=1e-10)


def test_errors(rng):
    factors = [_spd(rng, n) for n in (3, 4)]
    dec = KronOperator(*factors).eigh()
    with pytest.raises(ValueError, match="one entry per factor"):
        dec.logdet_grad([None])
    with pytest.raises(ValueError, match=r"dfactors\[1\].*\(4, 4\).*\(3, 3\)"):
        dec.logdet_grad([None, np.eye(3)])
    with pytest.raises(TypeError, match="list or tuple"):
        dec.logdet_grad(np.eye(3))
    with pytest.raises(ValueError, match="length 12"):
        dec.quad_grad(np.ones(11), [None, None])
    with pytest.raises(ValueError, match="length 12"):
        dec.quad_grad(np.ones((12, 2)), [None, None])
    with pytest.raises(ValueError, match="one entry per factor"):
        dec.quad_grad(np.ones(12), [None, None, None])
    ksum = KronSum(*factors).eigh()
    for call in (
        lambda: ksum.logdet_grad([None, None]),
        lambda: ksum.logdet_shift_grad(),
        lambda: ksum.quad_grad(np.ones(12), [None, None]),
    ):
        with pytest.raises(TypeError, match=r"Kronecker product.*Kronecker sum"):
            call()
    singular = KronOperator(np.diag([1.0, 0.0]), np.eye(2)).eigh()
    with pytest.raises(np.linalg.LinAlgError, match="singular"):
        singular.logdet_grad([np.eye(2), None])


def test_inputs_not_modified(rng):
    factors = [_spd(rng, n) for n in (3, 4)]
    dks = [_sym(rng, n) for n in (3, 4)]
    copies = [d.copy() for d in dks]
    y = rng.standard_normal(12)
    y0 = y.copy()
    dec = KronOperator(*factors).eigh()
    dec.logdet_grad(dks, shift=0.1)
    dec.quad_grad(y, dks, shift=0.1)
    for d, c in zip(dks, copies, strict=True):
        np.testing.assert_array_equal(d, c)
    np.testing.assert_array_equal(y, y0)


def test_quad_grad_of_a_singular_form_raises_like_logdet_grad():
    dec = KronOperator(np.diag([1.0, 0.0]), np.eye(2)).eigh()
    with pytest.raises(np.linalg.LinAlgError, match="singular"):
        dec.quad_grad(np.ones(4), [np.eye(2), None])
