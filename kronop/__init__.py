"""kronop: lazy structured linear operators on numpy and scipy.

The heart is :class:`KronOperator`, a ``scipy.sparse.linalg.LinearOperator`` for
A₁⊗…⊗A_d that multiplies through the vec identity and never forms the product;
:class:`KronSum` is A₁⊕…⊕A_d (the Laplacian on a tensor grid, :func:`laplacian`),
solved directly by fast diagonalization.
"""

# scipy's identity operator is not exported by scipy.sparse.linalg (1.17, 1.18);
# re-export it so ``K + sigma * IdentityOperator(K.shape)`` reads naturally.
from scipy.sparse.linalg._interface import IdentityOperator

from .decomposition import KronEigen, KronEigenvalues, KronSVD, SpectralOperator
from .gallery import laplacian
from .kron import KronOperator, kron
from .kronsum import KronSum, kronsum
from .shifted import KronPlusDiagonal
from .sylvester import solve_lyapunov, solve_sylvester, solve_tensor_sylvester
from .vec import unvec, vec

__all__ = [
    "IdentityOperator",
    "KronEigen",
    "KronEigenvalues",
    "KronOperator",
    "KronPlusDiagonal",
    "KronSVD",
    "KronSum",
    "SpectralOperator",
    "kron",
    "kronsum",
    "laplacian",
    "solve_lyapunov",
    "solve_sylvester",
    "solve_tensor_sylvester",
    "unvec",
    "vec",
]
__version__ = "0.1.0"
