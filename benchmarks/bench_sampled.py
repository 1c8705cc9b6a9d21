"""asv benchmarks: SampledKron, selected rows of a Kronecker product.

A 200×200 ⊗ 200×200 product (N = 40 000) sampled at 1 %, 10 % and 50 % of its
rows (random, without repeats). ``time_sampled_*`` is the operator's product
(the path its cost model picks); ``time_full_*`` is the baseline it competes
with: the full product followed by a gather (``(K @ x)[rows]``) or, for the
adjoint, a scatter into a zero vector followed by the full adjoint product. The
forced ``rows``/``full`` paths show the crossover the cost model is meant to
find. Side-by-side ratios in one process: ``benchmarks/side_sampled.py``.
"""

import numpy as np

import kronop
from kronop.sampled import SampledKron

N1 = N2 = 200


def _setup(self, fraction, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((N1, N1)) / np.sqrt(N1)
    B = rng.standard_normal((N2, N2)) / np.sqrt(N2)
    self.K = kronop.KronOperator(A, B)
    M = self.K.shape[0]
    self.rows = np.sort(rng.choice(M, round(fraction * M), replace=False))
    self.S = SampledKron(self.K, self.rows)
    self.x = rng.standard_normal(self.K.shape[1])
    self.y = rng.standard_normal(len(self.rows))
    self.z = np.zeros(M)
    # warm-up: plans, cached factor rows and work buffers
    self.S @ self.x
    self.S.H @ self.y
    self.K @ self.x
    self.K.H @ self.z


class SampledMatvec:
    """Products of the sampled operator and of full-product-then-gather."""

    params = ((0.01, 0.1, 0.5),)
    param_names = ("fraction",)

    def setup(self, fraction):
        _setup(self, fraction)

    def time_sampled_matvec(self, fraction):
        self.S @ self.x

    def time_full_then_gather(self, fraction):
        (self.K @ self.x)[self.rows]

    def time_sampled_rmatvec(self, fraction):
        self.S.H @ self.y

    def time_scatter_then_full_adjoint(self, fraction):
        self.z[self.rows] = self.y
        self.K.H @ self.z

    def peakmem_sampled_matvec(self, fraction):
        self.S @ self.x


class SampledPaths:
    """Each product path forced, to show where the cost model's crossover lies."""

    params = ((0.01, 0.03, 0.1, 0.5), ("rows", "full"))
    param_names = ("fraction", "path")

    def setup(self, fraction, path):
        _setup(self, fraction)
        self.P = self.S._with_path(path)
        self.PH = self.P.H
        self.P @ self.x
        self.PH @ self.y

    def time_matvec(self, fraction, path):
        self.P @ self.x

    def time_rmatvec(self, fraction, path):
        self.PH @ self.y


class SampledBuild:
    """Construction and the first product (validation, plan, factor rows)."""

    params = ((0.01, 0.1),)
    param_names = ("fraction",)
    number = 1
    repeat = 10

    def setup(self, fraction):
        _setup(self, fraction)

    def time_build_and_matvec(self, fraction):
        SampledKron(self.K, self.rows) @ self.x


class SampledGP:
    """A GP covariance on an incomplete grid: S_r K S_rᵀ + σI in 30 CG steps."""

    params = ((400, 2000),)
    param_names = ("observed",)

    def setup(self, observed):
        from scipy.sparse.linalg import cg

        rng = np.random.default_rng(0)
        t = np.linspace(0, 1, N1)
        A = np.exp(-((t[:, None] - t[None, :]) ** 2) / 0.02)
        self.K = kronop.KronOperator(A, A)
        rows = rng.choice(self.K.shape[0], observed, replace=False)
        S = SampledKron(self.K, rows, rows)
        self.op = S + 0.1 * kronop.IdentityOperator(S.shape)
        self.b = rng.standard_normal(observed)
        self.cg = cg

    def time_cg_30_steps(self, observed):
        self.cg(self.op, self.b, maxiter=30)
