"""kronop: lazy structured linear operators on numpy and scipy.

The heart is :class:`KronOperator`, a ``scipy.sparse.linalg.LinearOperator`` for
A₁⊗…⊗A_d that multiplies through the vec identity and never forms the product.
"""

from .kron import KronOperator, kron
from .vec import unvec, vec

__all__ = ["KronOperator", "kron", "unvec", "vec"]
__version__ = "0.1.0"
