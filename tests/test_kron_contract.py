"""KronOperator passes the shared operator contract on every kind of factor."""

from functools import reduce

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator
from scipy.sparse.linalg._interface import IdentityOperator

from kronop import KronOperator

from .contract import OperatorContract, hi, random_array

# (name, list of factor specs); a spec is (m, n, kind)
CASES = {
    "d1": [(4, 4, "dense")],
    "d2-square": [(3, 3, "dense"), (4, 4, "dense")],
    "d3-square": [(3, 3, "dense"), (2, 2, "dense"), (4, 4, "dense")],
    "d4-square": [(2, 2, "dense"), (3, 3, "dense"), (2, 2, "dense"), (2, 2, "dense")],
    "d5-square": [(2, 2, "dense")] * 3 + [(3, 3, "dense"), (1, 1, "dense")],
    "d2-rect": [(3, 5, "dense"), (4, 2, "dense")],
    "d3-rect": [(2, 3, "dense"), (5, 1, "dense"), (3, 4, "dense")],
    "d4-rect": [(1, 3, "dense"), (3, 2, "dense"), (2, 2, "dense"), (4, 3, "dense")],
    "sparse": [(4, 4, "csr"), (3, 5, "csc_matrix"), (3, 3, "coo")],
    "linop": [(3, 3, "linop"), (4, 2, "dense"), (2, 3, "linop")],
    "mixed": [(3, 4, "dense"), (3, 3, "csr"), (2, 3, "linop"), (2, 2, "identity")],
    "identity": [(3, 3, "identity"), (2, 4, "dense"), (2, 2, "identity_op")],
    "nested": [(2, 3, "dense"), (3, 2, "nested")],
}


def make_factor(m, n, kind, dtype, rng):
    """Return (factor, dense) for one spec."""
    a = random_array(rng, (m, n), dtype)
    if kind == "dense":
        return a, a
    if kind == "csr":
        s = sp.random_array((m, n), density=0.6, rng=rng, format="csr").astype(dtype)
        return s, s.toarray()
    if kind == "csc_matrix":
        s = sp.csc_matrix(sp.random_array((m, n), density=0.6, rng=rng)).astype(dtype)
        return s, s.toarray()
    if kind == "coo":
        s = sp.coo_array(a * (rng.random((m, n)) < 0.5))
        return s, s.toarray()
    if kind == "linop":
        return aslinearoperator(a), a
    if kind == "identity":
        return np.eye(m, dtype=dtype), np.eye(m)
    if kind == "identity_op":
        return IdentityOperator((m, m), dtype=dtype), np.eye(m)
    if kind == "nested":
        b = random_array(rng, (2, 1), dtype)
        c = random_array(rng, (m, n), dtype)
        return KronOperator(b, c), np.kron(b, c)
    raise AssertionError(kind)


class TestKronOperatorContract(OperatorContract):
    cases = tuple(CASES)

    def build(self, case, dtype, rng):
        made = [make_factor(m, n, kind, dtype, rng) for m, n, kind in CASES[case]]
        op = KronOperator(*(f for f, _ in made))
        dense = reduce(np.kron, [hi(d) for _, d in made])
        return op, dense

    def inner_size(self, op):
        return int(sum(f.shape[1] for f in op._factors) + 1)
