"""KronSum passes the shared operator contract on every kind of factor, d = 1…4."""

from functools import reduce

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator
from scipy.sparse.linalg._interface import IdentityOperator

from kronop.gallery import laplacian
from kronop.kronsum import KronSum

from .contract import OperatorContract, hi, random_array


def make_square(n, kind, dtype, rng):
    """Return (factor, dense) for one square factor spec."""
    if kind == "dense":
        a = random_array(rng, (n, n), dtype)
        return a, a
    if kind == "band-const":
        # constant diagonals with boundary runs: scalar stencil terms
        main = np.full(n, 2.0)
        main[0] = main[-1] = 1.0
        a = sp.diags_array(
            [np.full(n - 1, -1.5), main, np.full(n - 1, 0.5)],
            offsets=[-1, 0, 1],
            format="csr",
        ).astype(dtype)
        return a, a.toarray()
    if kind == "band-vec":
        # random values on five diagonals: vector stencil terms
        diags = [random_array(rng, n - abs(k), dtype) for k in (-2, -1, 0, 1, 2)]
        a = sp.diags_array(diags, offsets=[-2, -1, 0, 1, 2], format="csr")
        return a, a.toarray()
    if kind == "band-periodic":
        a = sp.diags_array(
            [
                [-1.0],
                np.full(n - 1, -1.0),
                np.full(n, 2.0),
                np.full(n - 1, -1.0),
                [-1.0],
            ],
            offsets=[-(n - 1), -1, 0, 1, n - 1],
            format="csr",
        ).astype(dtype)
        return a, a.toarray()
    if kind == "sparse-general":
        a = sp.random_array((n, n), density=0.7, rng=rng, format="csr").astype(dtype)
        a = sp.csr_array(
            a
            + sp.csr_array(
                random_array(rng, (n, 1), dtype)
                * (np.arange(n)[None, :] == (n - 1 - np.arange(n))[:, None])
            )
        )
        return a, a.toarray()
    if kind == "csc_matrix":
        a = sp.csc_matrix(sp.random_array((n, n), density=0.6, rng=rng)).astype(dtype)
        return a, a.toarray()
    if kind == "linop":
        a = random_array(rng, (n, n), dtype)
        return aslinearoperator(a), a
    if kind == "identity":
        return np.eye(n, dtype=dtype), np.eye(n)
    if kind == "identity_op":
        return IdentityOperator((n, n), dtype=dtype), np.eye(n)
    raise AssertionError(kind)


def ksum_dense(denses, masses=None, shift=0.0):
    """Σⱼ kron(M₁, …, Aⱼ, …, M_d) + shift·kron(M…), in high precision."""
    d = len(denses)
    if masses is None:
        masses = [np.eye(a.shape[0]) for a in denses]
    out = 0
    for j in range(d):
        mats = [hi(m) for m in masses]
        mats[j] = hi(denses[j])
        out = out + reduce(np.kron, mats)
    if shift != 0:
        out = out + shift * reduce(np.kron, [hi(m) for m in masses])
    return out


CASES = {
    "d1": [(4, "dense")],
    "d1-one": [(1, "dense")],
    "d2-dense": [(3, "dense"), (4, "dense")],
    "d3-dense": [(3, "dense"), (2, "dense"), (4, "dense")],
    "d4-dense": [(2, "dense"), (3, "dense"), (2, "dense"), (2, "dense")],
    "d3-banded": [(5, "band-const"), (4, "band-vec"), (6, "band-periodic")],
    "d4-banded": [
        (3, "band-vec"),
        (4, "band-const"),
        (3, "band-periodic"),
        (5, "band-vec"),
    ],
    "d2-sparse": [(4, "sparse-general"), (3, "csc_matrix")],
    "linop": [(3, "linop"), (4, "dense"), (2, "linop")],
    "mixed": [(3, "dense"), (4, "band-vec"), (2, "linop"), (3, "identity")],
    "identity": [(3, "identity"), (2, "identity_op")],
}


class TestKronSumContract(OperatorContract):
    cases = (
        *CASES,
        "shifted",
        "shift-method",
        "scaled",
        "nested",
        "laplacian",
        "mass",
        "mass-sparse",
    )

    def build(self, case, dtype, rng):
        if case in CASES:
            made = [make_square(n, kind, dtype, rng) for n, kind in CASES[case]]
            return KronSum(*(f for f, _ in made)), ksum_dense([d for _, d in made])
        if case in ("shifted", "shift-method"):
            made = [make_square(n, k, dtype, rng) for n, k in CASES["d3-banded"]]
            S = KronSum(*(f for f, _ in made))
            op = (
                S + 0.7 * IdentityOperator(S.shape, dtype=dtype)
                if case == "shifted"
                else S.shift(0.7)
            )
            assert isinstance(op, KronSum)
            return op, ksum_dense([d for _, d in made], shift=0.7)
        if case == "scaled":
            made = [make_square(n, k, dtype, rng) for n, k in CASES["mixed"]]
            S = KronSum(*(f for f, _ in made)).shift(0.25)
            op = S * 1.5
            assert isinstance(op, KronSum)
            return op, 1.5 * ksum_dense([d for _, d in made], shift=0.25)
        if case == "nested":
            made = [make_square(n, k, dtype, rng) for n, k in CASES["d3-dense"]]
            (a, _), (b, _), (c, _) = made
            op = KronSum(KronSum(a, b).shift(0.5), c)
            assert len(op.factors) == 3
            return op, ksum_dense([d for _, d in made], shift=0.5)
        if case == "laplacian":
            op = laplacian(
                (4, 3, 5),
                bc=("dirichlet", "neumann", "periodic"),
                spacing=(0.5, 1.0, 2.0),
                dtype=dtype,
            )
            dense = ksum_dense([f.toarray() for f in op.factors])
            return op, dense
        if case == "mass":
            made = [make_square(n, "dense", dtype, rng) for n in (3, 2, 4)]
            masses = [
                random_array(rng, (3, 3), dtype),
                None,
                make_square(4, "band-vec", dtype, rng)[0],
            ]
            op = KronSum(*(f for f, _ in made), mass=masses).shift(0.3)
            md = [
                np.eye(2) if m is None else (m.toarray() if sp.issparse(m) else m)
                for m in masses
            ]
            md[1] = np.eye(2)
            return op, ksum_dense([d for _, d in made], md, shift=0.3)
        if case == "mass-sparse":
            made = [make_square(n, "band-const", dtype, rng) for n in (4, 5)]
            masses = [
                make_square(4, "band-vec", dtype, rng)[0],
                make_square(5, "dense", dtype, rng)[0],
            ]
            op = KronSum(*(f for f, _ in made), mass=masses)
            md = [m.toarray() if sp.issparse(m) else m for m in masses]
            return op, ksum_dense([d for _, d in made], md)
        raise AssertionError(case)

    def inner_size(self, op):
        if op.mass is not None:
            return int(op.shape[0] + 1)
        return int(sum(op.grid_shape) + 1)
