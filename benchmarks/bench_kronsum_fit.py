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

import numpy as np
import scipy.sparse as sp

from kronop._kronsum_fit import nearest_kronsum


def smooth_coefficient(x, y, z, contrast=10.0):
    """1 … ``contrast``: a product-of-sines bump, not separable as a sum."""
    return 1.0 + (contrast - 1.0) * np.sin(np.pi * x) * np.sin(np.pi * y) * np.sin(
        np.pi * z
    )


def variable_diffusion(n, coeff=smooth_coefficient):
    """7-point finite volumes for −∇·(a∇u) on (0,1)³, n³ unknowns, Dirichlet (CSR).

    The coefficient is evaluated at the face centres; h = 1/(n+1).
    """
    h = 1.0 / (n + 1)
    nodes = (np.arange(n) + 1.0) * h
    faces = (np.arange(n + 1) + 0.5) * h
    idx = np.arange(n**3).reshape(n, n, n)
    diag = np.zeros((n, n, n))
    rows, cols, vals = [idx.ravel()], [idx.ravel()], []
    for j in range(3):
        grids = [nodes, nodes, nodes]
        grids[j] = faces
        w = coeff(*np.meshgrid(*grids, indexing="ij")) / h**2
        lo, up, first, last = ([slice(None)] * 3 for _ in range(4))
        lo[j], up[j] = slice(0, n), slice(1, n + 1)
        diag += w[tuple(lo)] + w[tuple(up)]
        first[j], last[j] = slice(0, n - 1), slice(1, n)
        r, c = idx[tuple(first)].ravel(), idx[tuple(last)].ravel()
        v = -w[tuple(last)].ravel()  # the face between node i and i+1 along axis j
        rows += [r, c]
        cols += [c, r]
        vals += [v, v]
    vals.insert(0, diag.ravel())
    N = n**3
    return sp.csr_array(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(N, N),
    )


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
