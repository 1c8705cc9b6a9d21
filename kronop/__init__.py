"""kronop: lazy structured linear operators on numpy and scipy.

The heart is :class:`KronOperator`, a ``scipy.sparse.linalg.LinearOperator`` for
A₁⊗…⊗A_d that multiplies through the vec identity and never forms the product;
:class:`KronSum` is A₁⊕…⊕A_d (the Laplacian on a tensor grid, :func:`laplacian`),
solved directly by fast diagonalization.
"""

# Importing an operator module registers its rules for ``+`` and ``@``
# (kronop._rules), so every module is imported here.
from .approximate import (
    KronPreconditioner,
    kron_preconditioner,
    nearest_kron,
    nearest_kronsum,
)
from .backend import fused_enabled, set_fused
from .blockdiag import BlockDiag
from .circulant import BlockCirculant
from .decomposition import (
    KronEigen,
    KronEigenvalues,
    KronSVD,
    SolveOperator,
    SpectralOperator,
)
from .gallery import filter_operator, laplacian
from .identity import IdentityOperator
from .kron import KronOperator, kron
from .kronsum import KronSum, kronsum
from .sampled import SampledKron
from .shifted import KronPlusDiagonal
from .sums import KronProductSum
from .sylvester import solve_lyapunov, solve_sylvester, solve_tensor_sylvester
from .vec import unvec, vec

__all__ = [
    "BlockCirculant",
    "BlockDiag",
    "IdentityOperator",
    "KronEigen",
    "KronEigenvalues",
    "KronOperator",
    "KronPlusDiagonal",
    "KronPreconditioner",
    "KronProductSum",
    "KronSVD",
    "KronSum",
    "SampledKron",
    "SolveOperator",
    "SpectralOperator",
    "filter_operator",
    "fused_enabled",
    "kron",
    "kron_preconditioner",
    "kronsum",
    "laplacian",
    "nearest_kron",
    "nearest_kronsum",
    "set_fused",
    "solve_lyapunov",
    "solve_sylvester",
    "solve_tensor_sylvester",
    "unvec",
    "vec",
]
__version__ = "0.1.0"
