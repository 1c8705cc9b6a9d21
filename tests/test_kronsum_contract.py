"""KronSum passes the shared operator contract on every kind of factor, d = 1…4."""

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg._interface import IdentityOperator as ScipyIdentity

from kronop import IdentityOperator, KronSum, laplacian

from .contract.operator import OperatorContract
from .factories import ksum_dense, make_square, random_array

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
        "shifted-left",
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
        if case in ("shifted", "shifted-left", "shift-method"):
            made = [make_square(n, k, dtype, rng) for n, k in CASES["d3-banded"]]
            S = KronSum(*(f for f, _ in made))
            if case == "shifted":  # scipy's identity, on the right
                op = S + 0.7 * ScipyIdentity(S.shape, dtype=dtype)
            elif case == "shifted-left":  # kronop's identity, on the left
                op = 0.7 * IdentityOperator(S.shape, dtype=dtype) + S
            else:
                op = S.shift(0.7)
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
