"""asv benchmarks: the fused-kernel targets, each with the fused kernels on and off.

``fused`` is a parameter: ``True`` runs kronop as installed (fused kernels when
the ``fast`` extra is there; the same as ``False`` without it), ``False`` runs
it with ``kronop.set_fused(False)`` (the numpy/BLAS engine). The targets:

* Kronecker-sum matvec, ``laplacian((n,)*3) @ x`` and a ``KronSum`` of three
  different random tridiagonal factors, n = 16 … 128 (against the copy time and
  CSR: ``benchmarks/poisson_cases.py``);
* products with small factors (d=6 n=10, d=4 n=30, d=5 n=16, d=8 n=6, d=6 n=8
  k=16) and middle ones (d=3 n=100 k=16, d=4 n=64, the rectangular case);
* ``cg`` on ``laplacian((n,)*3)``;
* the planner's calibration (:mod:`kronop._engine.calibrate`), measured alone.

Side by side with the plain loops and peers: ``benchmarks/compare.py``. This
module has no side effects on import.
"""

import math
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import cg

import kronop
from kronop.gallery import laplacian


def _switch(fused: bool) -> bool:
    """Set the fused kernels for a benchmark; returns the previous setting."""
    return kronop.set_fused(bool(fused))


def _tridiagonal(n, rng):
    return sp.diags_array(
        [-rng.random(n - 1), 2 + rng.random(n), -rng.random(n - 1)],
        offsets=[-1, 0, 1],
    ).tocsr()


class KronSumMatvecTargets:
    """Kronecker-sum matvec (a 7-point stencil) with the fused kernels on and off."""

    params = ((16, 32, 64, 128), ("laplacian", "random tridiagonal"), (True, False))
    param_names = ("n", "factors", "fused")

    def setup(self, n, factors, fused):
        rng = np.random.default_rng(0)
        if factors == "laplacian":
            self.op = laplacian((n, n, n))
        else:
            self.op = kronop.KronSum(*(_tridiagonal(n, rng) for _ in range(3)))
        self.x = rng.standard_normal(n**3)
        self.previous = _switch(fused)
        self.op @ self.x  # plans, buffers and (fused) compiled kernels

    def teardown(self, n, factors, fused):
        kronop.set_fused(self.previous)

    def time_matvec(self, n, factors, fused):
        self.op @ self.x


class KronProductTargets:
    """Dense Kronecker products at the issue's targets, fused kernels on and off."""

    cases: ClassVar[dict] = {
        "d6n10": ([(10, 10)] * 6, 1),
        "d4n30": ([(30, 30)] * 4, 1),
        "d5n16": ([(16, 16)] * 5, 1),
        "d8n6": ([(6, 6)] * 8, 1),
        "d6n8k16": ([(8, 8)] * 6, 16),
        "d3n100k16": ([(100, 100)] * 3, 16),
        "d4n64": ([(64, 64)] * 4, 1),
        "rect": ([(300, 100), (50, 400), (200, 200)], 1),
    }
    params = (tuple(cases), (True, False))
    param_names = ("case", "fused")

    def setup(self, case, fused):
        shapes, k = self.cases[case]
        rng = np.random.default_rng(0)
        mats = [rng.standard_normal((m, n)) / math.sqrt(n) for m, n in shapes]
        self.op = kronop.KronOperator(*mats)
        N = math.prod(n for _, n in shapes)
        self.x = rng.standard_normal((N, k) if k > 1 else N)
        self.previous = _switch(fused)
        self.op @ self.x

    def teardown(self, case, fused):
        kronop.set_fused(self.previous)

    def time_matvec(self, case, fused):
        self.op @ self.x


class PoissonCGTargets:
    """``cg`` to rtol 1e-8 on ``laplacian((n,)*3)`` (the CSR side: compare.py)."""

    params = ((64, 128), (True, False))
    param_names = ("n", "fused")
    timeout = 300

    def setup(self, n, fused):
        self.op = laplacian((n, n, n))
        self.b = np.random.default_rng(n).standard_normal(n**3)
        self.previous = _switch(fused)
        self.op @ self.b

    def teardown(self, n, fused):
        kronop.set_fused(self.previous)

    def time_cg(self, n, fused):
        cg(self.op, self.b, rtol=1e-8, maxiter=5000)


class PlannerCalibration:
    """The planner's first-use calibration (not cached: measured every call)."""

    def time_measure(self):
        from kronop._engine import calibrate

        calibrate.measure()
