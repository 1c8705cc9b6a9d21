"""asv benchmarks: Kronecker sums of banded factors on the fused and numpy kernels.

``laplacian((n,)*3) @ x``, a Kronecker sum of three different random tridiagonal
factors, and the same sum with tridiagonal mass matrices, each with the fused
kernels on and off (``kronop.set_fused``). Side-by-side ratios against CSR and a
plain copy, measured in one process, come from ``/work/bench``-style scripts; the
numbers asv records here are the absolute times.
"""

import numpy as np
import scipy.sparse as sp

import kronop
from kronop._engine import jit
from kronop.gallery import laplacian
from kronop.kronsum import KronSum


def _tridiagonal(n, rng):
    return sp.diags_array(
        [rng.random(n - 1) - 1.0, 2.0 + rng.random(n), rng.random(n - 1) - 1.0],
        offsets=[-1, 0, 1],
        format="csr",
    )


class FusedStencil:
    """One product with a 3-D Kronecker sum of banded factors."""

    params = (
        ["laplacian", "tridiagonal", "mass"],
        [16, 32, 64, 128],
        [True, False],
    )
    param_names = ("operator", "n", "fused")

    def setup(self, operator, n, fused):
        if fused and not jit.available():
            raise NotImplementedError("numba is not installed")
        rng = np.random.default_rng(0)
        if operator == "laplacian":
            self.op = laplacian((n, n, n))
        else:
            ns = (n, n + 3, max(2, n - 2))
            factors = [_tridiagonal(m, rng) for m in ns]
            mass = None
            if operator == "mass":
                mass = [_tridiagonal(m, rng) for m in ns]
            self.op = KronSum(*factors, mass=mass)
        self.x = rng.standard_normal(self.op.shape[1])
        self.previous = kronop.set_fused(fused)
        self.op @ self.x  # plans, buffers and compiled code in place

    def teardown(self, operator, n, fused):
        kronop.set_fused(self.previous)

    def time_matvec(self, operator, n, fused):
        self.op @ self.x

    def peakmem_matvec(self, operator, n, fused):
        self.op @ self.x
