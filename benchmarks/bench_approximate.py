"""asv benchmarks: ``kron_preconditioner`` setup and application.

The matrix is the 7-point finite-volume discretization of −∇·(a∇u) on an n³ grid
(``examples/variable_diffusion.py``, coefficient ``"sines"``, contrast 10),
assembled once in ``setup``. ``time_setup`` is the fit (Jacobi scaling, the
nearest Kronecker sum, the factors' eigendecompositions); ``time_apply`` one
application of the preconditioner to a vector (two diagonal scalings and a fast
diagonalization solve). The end-to-end comparison with plain ``cg`` and pyamg is
``benchmarks/side_preconditioner.py``.
"""

import importlib.util
import os

import numpy as np

from kronop.approximate import kron_preconditioner

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _diffusion():
    spec = importlib.util.spec_from_file_location(
        "variable_diffusion", os.path.join(_ROOT, "examples", "variable_diffusion.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class KronPreconditioner:
    params = ((16, 32, 64), ("sum", "product"))
    param_names = ("n", "kind")

    def setup(self, n, kind):
        vd = _diffusion()
        self.M = vd.assemble(n, vd.coefficient("sines", 10.0))
        self.shapes = (n, n, n)
        self.P = kron_preconditioner(self.M, self.shapes, kind=kind, indefinite="clip")
        self.x = np.random.default_rng(0).standard_normal(n**3)

    def time_setup(self, n, kind):
        kron_preconditioner(self.M, self.shapes, kind=kind, indefinite="clip")

    def time_apply(self, n, kind):
        self.P @ self.x

    def peakmem_apply(self, n, kind):
        self.P @ self.x
