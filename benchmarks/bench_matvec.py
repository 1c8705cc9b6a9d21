"""asv benchmarks: KronOperator matvec / matmat.

Every class keeps ``setup`` light (a handful of small factors and one input
block filled in place), because ``peakmem_*`` counts everything ``setup``
allocates: the reported peak is then roughly the interpreter, the input, the
output and kronop's work buffers, which is the memory claim (O(N), never
O(N²)). Parameter sets whose arithmetic would make one call take much more
than ~0.5 s on the project machine (2 cores, ~100 GFLOP/s) are skipped with
``NotImplementedError``, as asv documents.

Side-by-side timings against other libraries are in ``benchmarks/compare.py``.
"""

import math

import numpy as np
import scipy.sparse as sp

import kronop

# Skip a parameter set when one call needs more than this many real flops
# (complex arithmetic counted as 4 real flops per multiply-add pair).
FLOP_BUDGET = 2.5e10


def _flops(shapes, k, cost=None):
    """Flops of the product in the flop-optimal order (see DESIGN.md §5)."""
    if cost is None:
        cost = [2.0 * m for m, _ in shapes]
    order = sorted(
        range(len(shapes)),
        key=lambda j: (1.0 - shapes[j][0] / shapes[j][1]) / cost[j],
        reverse=True,
    )
    size = float(math.prod(n for _, n in shapes) * k)
    total = 0.0
    for j in order:
        m, n = shapes[j]
        total += cost[j] * size
        size *= m / n
    return total


def _filled(shape, dtype, rng):
    """A random array of `shape` and `dtype` without full-size temporaries."""
    dtype = np.dtype(dtype)
    out = np.empty(shape, dtype=dtype)
    real = out.view(dtype.type(0).real.dtype).reshape(-1)
    rng.random(out=real, dtype=real.dtype)  # real and imaginary parts alike
    real -= 0.5
    return out


def _dense_factors(shapes, dtype, rng):
    return [
        (_filled((m, n), dtype, rng) / math.sqrt(n)).astype(dtype, copy=False)
        for m, n in shapes
    ]


def _cube(spec):
    d, n = (int(v) for v in spec.split("x"))
    return [(n, n)] * d


class KronMatvec:
    """Square dense factors: d factors of size n × n, k right-hand sides."""

    params = (
        ("2x1000", "3x100", "4x30", "6x10"),
        (1, 16),
        ("float32", "float64", "complex128"),
    )
    param_names = ("d x n", "k", "dtype")

    def setup(self, dn, k, dtype):
        shapes = _cube(dn)
        factor = 4 if np.dtype(dtype).kind == "c" else 1
        if factor * _flops(shapes, k) > FLOP_BUDGET:
            raise NotImplementedError("too slow for a benchmark call")
        rng = np.random.default_rng(0)
        self.op = kronop.KronOperator(*_dense_factors(shapes, dtype, rng))
        n_in = self.op.shape[1]
        self.x = _filled((n_in,) if k == 1 else (n_in, k), dtype, rng)

    def time_matvec(self, dn, k, dtype):
        self.op @ self.x

    def peakmem_matvec(self, dn, k, dtype):
        self.op @ self.x


class KronMatvecCold:
    """The first product of a freshly built operator (work buffers included)."""

    params = (("2x1000", "3x100", "4x30", "6x10"),)
    param_names = ("d x n",)
    number = 1
    repeat = 10

    def setup(self, dn):
        rng = np.random.default_rng(0)
        self.factors = _dense_factors(_cube(dn), "float64", rng)
        n_in = math.prod(f.shape[1] for f in self.factors)
        self.x = _filled((n_in,), "float64", rng)

    def time_build_and_matvec(self, dn):
        kronop.KronOperator(*self.factors) @ self.x


class KronPlanning:
    """Planning the product for a new operator or a new number of right-hand sides.

    Many small factors: the product takes well under a millisecond, so planning
    must too (it takes the best of a few canonical chains and searches further
    only while the search costs a small share of the product).
    """

    params = (("8 rect", "16x2"), (1, 3, 17))
    param_names = ("factors", "k")

    def setup(self, factors, k):
        from kronop._engine.plan import plan_chain
        from kronop._factor import as_factor

        shapes = (
            [(3, 4), (5, 2), (2, 6), (4, 3), (3, 3), (6, 2), (2, 5), (4, 4)]
            if factors == "8 rect"
            else [(2, 2)] * 16
        )
        self.plan_chain = plan_chain
        self.factors = [as_factor(np.ones(s), j) for j, s in enumerate(shapes)]

    def time_plan(self, factors, k):
        self.plan_chain(self.factors, 1, k, "C", 8)


class KronMatvecRect:
    """Rectangular factors where the order matters: (300×100)⊗(50×400)⊗(200×200).

    N = 8e6 inputs, M = 3e6 outputs. The flop-optimal order (shrinking factor
    first) needs 1.8 GFlop; the natural order 8.4 GFlop.
    """

    params = (("float32", "float64", "complex128"),)
    param_names = ("dtype",)
    shapes = ((300, 100), (50, 400), (200, 200))

    def setup(self, dtype):
        rng = np.random.default_rng(0)
        self.op = kronop.KronOperator(*_dense_factors(self.shapes, dtype, rng))
        self.x = _filled((self.op.shape[1],), dtype, rng)

    def time_matvec(self, dtype):
        self.op @ self.x

    def peakmem_matvec(self, dtype):
        self.op @ self.x

    def track_flops_optimal_order(self, dtype):
        return _flops(self.shapes, 1)

    track_flops_optimal_order.unit = "flop"


class KronMatvecSparse:
    """Tridiagonal (CSR) factors, the factors of a d-D finite-difference operator."""

    params = (("2x1000", "3x64", "3x128"), (1, 16))
    param_names = ("d x n", "k")

    def setup(self, dn, k):
        shapes = _cube(dn)
        rng = np.random.default_rng(0)
        factors = [
            sp.diags_array(
                [-np.ones(n - 1), 2.0 + rng.random(n), -np.ones(n - 1)],
                offsets=[-1, 0, 1],
                shape=(n, n),
            ).tocsr()
            for _, n in shapes
        ]
        self.op = kronop.KronOperator(*factors)
        n_in = self.op.shape[1]
        self.x = _filled((n_in,) if k == 1 else (n_in, k), "float64", rng)

    def time_matvec(self, dn, k):
        self.op @ self.x

    def peakmem_matvec(self, dn, k):
        self.op @ self.x


class KronVsDense:
    """Lazy operator against the explicit np.kron matrix, where the latter fits.

    ``peakmem_matvec`` shows the memory claim: the dense matrix (built in
    setup) is N² numbers, the operator O(N).
    """

    params = (("2x30", "2x60", "3x15", "4x8"), ("kronop", "dense"))
    param_names = ("d x n", "impl")

    def setup(self, dn, impl):
        rng = np.random.default_rng(0)
        factors = _dense_factors(_cube(dn), "float64", rng)
        if impl == "kronop":
            self.op = kronop.KronOperator(*factors)
        else:
            mat = factors[0]
            for f in factors[1:]:
                mat = np.kron(mat, f)
            self.op = mat
        self.x = _filled((self.op.shape[1],), "float64", rng)

    def time_matvec(self, dn, impl):
        self.op @ self.x

    def peakmem_matvec(self, dn, impl):
        self.op @ self.x
