"""asv benchmarks: the Kronecker sum (matvec, direct solves, Schur path, Sylvester).

``asv run --python=same --quick --bench bench_kronsum``. The side-by-side Poisson
table (kronop against dstn / eigh+GEMM yardsticks, pyamg, spsolve and cg on CSR)
is ``benchmarks/poisson_cases.py``.

``setup`` stays light for ``peakmem_*`` (which counts what setup allocates): the
Laplacian itself is O(Σn) memory; the input vector and, for the CSR rows, the
assembled matrix are the rest. Parameter sets that take more than ~1 s per call
on the project machine are skipped with ``NotImplementedError``.
"""

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from kronop.gallery import laplacian
from kronop.kronsum import KronSum
from kronop.sylvester import solve_sylvester


def _assembled(n: int) -> sp.csr_array:
    t = laplacian(n).factors[0]
    return sp.csr_array(sp.kronsum(sp.kronsum(t, t, format="csr"), t, format="csr"))


class KronSumMatvec:
    """One product with the 3-D Laplacian: KronSum stencil against assembled CSR."""

    params = ((32, 64, 128), ("kronsum", "csr"))
    param_names = ("n", "impl")

    def setup(self, n, impl):
        self.x = np.random.default_rng(0).standard_normal(n**3)
        self.op = laplacian((n, n, n)) if impl == "kronsum" else _assembled(n)
        self.op @ self.x  # warm: work buffers and cached stencil plan

    def time_matvec(self, n, impl):
        self.op @ self.x

    def peakmem_matvec(self, n, impl):
        self.op @ self.x


class KronSumMatmat:
    """A block of 8 right-hand sides (cache-blocked stencil, shared index work)."""

    params = ((32, 64),)
    param_names = ("n",)

    def setup(self, n):
        self.X = np.random.default_rng(0).standard_normal((n**3, 8))
        self.op = laplacian((n, n, n))
        self.op @ self.X

    def time_matmat(self, n):
        self.op @ self.X


class LaplacianSolve:
    """Direct solves by fast diagonalization (warm: factor spectra cached)."""

    params = ((32, 64, 128), ("dirichlet", "neumann", "periodic"))
    param_names = ("n", "bc")

    def setup(self, n, bc):
        b = np.random.default_rng(0).standard_normal(n**3)
        self.b = b - b.mean()
        self.op = laplacian((n, n, n), bc=bc)
        self.op.solve(self.b)

    def time_solve(self, n, bc):
        self.op.solve(self.b)

    def peakmem_solve(self, n, bc):
        self.op.solve(self.b)

    def time_setup_and_solve(self, n, bc):
        laplacian((n, n, n), bc=bc).solve(self.b)


class LaplacianSpectrum:
    """The k smallest eigenvalues by the k-way merge (never all N), and log det."""

    params = ((64, 128),)
    param_names = ("n",)

    def setup(self, n):
        self.op = laplacian((n, n, n))
        self.op.logdet()

    def time_eigvals_k100(self, n):
        self.op.eigvals(100, "SA")

    def time_logdet_cold(self, n):
        laplacian((n, n, n)).logdet()  # O(N): the N eigenvalue sums, then logs


class GeneralSolve:
    """Dense non-symmetric factors: diagonalization against the Schur path."""

    params = ((16, 32), ("eig", "schur"))
    param_names = ("n", "method")

    def setup(self, n, method):
        rng = np.random.default_rng(0)
        self.op = KronSum(
            *(
                rng.standard_normal((n, n)) + 2 * np.sqrt(n) * np.eye(n)
                for _ in range(3)
            )
        )
        self.b = rng.standard_normal(n**3)
        self.op.solve(self.b, method=method)

    def time_solve(self, n, method):
        self.op.solve(self.b, method=method)


class Sylvester:
    """AX + XB = C: kronop (cached factorizations) against scipy's Bartels–Stewart."""

    params = ((200, 800), ("symmetric", "general"), ("kronop", "scipy"))
    param_names = ("n", "kind", "impl")

    def setup(self, n, kind, impl):
        rng = np.random.default_rng(0)
        A, B = rng.standard_normal((n, n)), rng.standard_normal((n, n))
        if kind == "symmetric":
            A, B = A @ A.T / n + np.eye(n), B @ B.T / n + np.eye(n)
        else:
            A, B = A + 2 * np.sqrt(n) * np.eye(n), B + 2 * np.sqrt(n) * np.eye(n)
        self.A, self.B, self.C = A, B, rng.standard_normal((n, n))

    def time_solve(self, n, kind, impl):
        if impl == "kronop":
            solve_sylvester(self.A, self.B, self.C)
        else:
            sla.solve_sylvester(self.A, self.B, self.C)
