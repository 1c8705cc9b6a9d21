"""asv benchmarks: Kronecker products of small factors and their spectral solves.

The same products on the fused kernels (numba, ``kronop.set_fused(True)``) and on
the numpy/BLAS chain (``set_fused(False)``): the ``backend`` parameter. Without
numba both rows run the numpy chain. Side-by-side ratios in one process, with the
plain loops and the machine's DGEMM, are in ``benchmarks/side_fused.py``.
"""

import numpy as np

import kronop
from kronop.kron import KronOperator
from kronop.kronsum import KronSum

# (d, n, k): the small-factor shapes of the product benchmarks
SHAPES = [(6, 10, 1), (4, 30, 1), (5, 16, 1), (8, 6, 1), (6, 8, 16)]


def _shape_id(shape):
    d, n, k = shape
    return f"d{d}n{n}" + (f"k{k}" if k > 1 else "")


class FusedProduct:
    """``K @ x`` for a product of d dense n×n factors and k right-hand sides."""

    params = ([_shape_id(s) for s in SHAPES], ["fused", "numpy"])
    param_names = ("shape", "backend")

    def setup(self, shape, backend):
        d, n, k = SHAPES[[_shape_id(s) for s in SHAPES].index(shape)]
        rng = np.random.default_rng(0)
        self.op = KronOperator(
            *[rng.standard_normal((n, n)) / np.sqrt(n) for _ in range(d)]
        )
        self.x = rng.standard_normal((n**d, k) if k > 1 else n**d)
        self.previous = kronop.set_fused(backend == "fused")
        self.op @ self.x  # plan, buffers and (first time) compilation

    def teardown(self, shape, backend):
        kronop.set_fused(self.previous)

    def time_matvec(self, shape, backend):
        self.op @ self.x


class FusedSpectralSolve:
    """``KronSum.eigh().solve(b)`` with dense eigenvectors (random symmetric factors)."""

    params = ([_shape_id(s) for s in SHAPES[:1] + SHAPES[4:]], ["fused", "numpy"])
    param_names = ("shape", "backend")

    def setup(self, shape, backend):
        d, n, k = SHAPES[[_shape_id(s) for s in SHAPES].index(shape)]
        rng = np.random.default_rng(0)
        mats = []
        for _ in range(d):
            a = rng.standard_normal((n, n))
            mats.append(a + a.T + 2 * n * np.eye(n))
        self.eig = KronSum(*mats).eigh()
        self.b = rng.standard_normal((n**d, k) if k > 1 else n**d)
        self.previous = kronop.set_fused(backend == "fused")
        self.eig.solve(self.b)

    def teardown(self, shape, backend):
        kronop.set_fused(self.previous)

    def time_solve(self, shape, backend):
        self.eig.solve(self.b)
