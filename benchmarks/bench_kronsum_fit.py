"""asv benchmarks: ``nearest_kronsum``, the Frobenius-nearest Kronecker sum.

``asv run --python=same --quick --bench bench_kronsum_fit``. The matrix is the
7-point finite-volume discretization of −∇·(a∇u) on an n³ grid with a smooth,
non-separable coefficient (10× contrast), as a Kronecker-sum preconditioner
would fit it: plain, and after the symmetric Jacobi scaling D^{-1/2} M D^{-1/2}.
The side-by-side table (kronop against a straightforward NumPy fit and a CSR
matvec as yardstick) is ``benchmarks/side_kronsum_fit.py``.

``setup`` assembles M, so ``peakmem_*`` reports M plus the fit's work arrays
(O(nnz) index and key arrays, never N×N).
"""

import importlib.util
import os

import numpy as np
import scipy.sparse as sp

from kronop._kronsum_fit import nearest_kronsum


def _example():
    """``examples/variable_diffusion.py`` (its assembler and coefficients), loaded once."""
    global _EXAMPLE
    if _EXAMPLE is None:
        path = os.path.join(
            os.path.dirname(__file__), "..", "examples", "variable_diffusion.py"
        )
        spec = importlib.util.spec_from_file_location("variable_diffusion", path)
        _EXAMPLE = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_EXAMPLE)
    return _EXAMPLE


_EXAMPLE = None


def variable_diffusion(n, coef="sines", contrast=10.0):
    """The example's 7-point finite-volume matrix for −∇·(a∇u), n³ unknowns (CSR)."""
    vd = _example()
    return vd.assemble(n, vd.coefficient(coef, contrast))


def jacobi_scaled(M):
    """D^{-1/2} M D^{-1/2}, D = diag M (CSR)."""
    s = sp.diags_array(1.0 / np.sqrt(M.diagonal()))
    return sp.csr_array(s @ M @ s)


class KronSumFitSparse:
    """nearest_kronsum of a sparse 7-point variable-diffusion matrix (nnz ≈ 7N)."""

    params = ((32, 64, 96), ("plain", "jacobi"))
    param_names = ("n", "scaling")

    def setup(self, n, scaling):
        M = variable_diffusion(n)
        self.M = jacobi_scaled(M) if scaling == "jacobi" else M

    def time_fit(self, n, scaling):
        nearest_kronsum(self.M, (n, n, n))

    def peakmem_fit(self, n, scaling):
        nearest_kronsum(self.M, (n, n, n))


class KronSumFitDense:
    """nearest_kronsum of a dense random M: d einsum passes over diagonal views."""

    params = (((12, 12, 12), (48, 48), (8, 8, 8, 8)),)
    param_names = ("sizes",)

    def setup(self, sizes):
        N = int(np.prod(sizes))
        self.M = np.random.default_rng(0).standard_normal((N, N))

    def time_fit(self, sizes):
        nearest_kronsum(self.M, sizes)
