"""KronOperator passes the shared operator contract on every kind of factor."""

from kronop import KronOperator

from .contract.operator import OperatorContract
from .factories import kron_dense, make_factor

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


class TestKronOperatorContract(OperatorContract):
    cases = tuple(CASES)

    def build(self, case, dtype, rng):
        made = [make_factor(m, n, kind, dtype, rng) for m, n, kind in CASES[case]]
        op = KronOperator(*(f for f, _ in made))
        return op, kron_dense([d for _, d in made])

    def inner_size(self, op):
        return int(sum(f.shape[1] for f in op.factors) + 1)
