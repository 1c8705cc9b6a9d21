r"""Sylvester and Lyapunov equations, and their d-dimensional (tensor) form.

All of them are one linear system with a Kronecker sum: in the row-major
convention of ``numpy``, vec(AX) = (A ⊗ I) vec(X) and vec(XB) = (I ⊗ Bᵀ) vec(X),
so AX + XB = C is (A ⊕ Bᵀ) vec(X) = vec(C), and Σⱼ X ×ⱼ Aⱼ = C is
(A₁ ⊕ … ⊕ A_d) vec(X) = vec(C). :class:`~kronop.KronSum` solves them from the
factors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from scipy.sparse.linalg import LinearOperator

from .kronsum import KronSum

__all__ = ["solve_lyapunov", "solve_sylvester", "solve_tensor_sylvester"]


def _square_shape(a: Any, name: str) -> int:
    shape = getattr(a, "shape", None)
    if shape is None:
        shape = np.shape(a)
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {tuple(shape)}")
    return int(shape[0])


def _result_dtype(*arrays) -> np.dtype:
    dtype = np.result_type(*(getattr(a, "dtype", np.asarray(a).dtype) for a in arrays))
    return dtype if dtype.kind in "fc" else np.dtype(np.float64)


def _transpose(a: Any) -> Any:
    if sp.issparse(a) or hasattr(a, "T"):
        return a.T
    return np.asarray(a).T


def solve_sylvester(A: Any, B: Any, C: ArrayLike, method: str = "auto") -> np.ndarray:
    r"""Solve the Sylvester equation AX + XB = C.

    Parameters
    ----------
    A : (m, m) array_like or sparse matrix
    B : (n, n) array_like or sparse matrix
    C : (m, n) array_like
    method : {"auto", "eig", "schur"}
        As in :meth:`KronSum.solve`: diagonalize A and B (Hermitian or
        well-conditioned eigenvectors), or use their complex Schur forms
        (Bartels–Stewart, LAPACK ``trsyl``).

    Returns
    -------
    numpy.ndarray
        X, shape (m, n).

    Raises
    ------
    ValueError
        If A or B is not square or C has the wrong shape.
    numpy.linalg.LinAlgError
        If A and −B share an eigenvalue (the equation is singular) and the
        system is not Hermitian.

    See Also
    --------
    scipy.linalg.solve_sylvester : the dense Bartels–Stewart solver.
    solve_tensor_sylvester : the d-dimensional form.

    Notes
    -----
    With X = vec⁻¹(x) in row-major order, AX + XB = C reads
    (A ⊗ I + I ⊗ Bᵀ) x = (A ⊕ Bᵀ) x = vec(C), solved by ``KronSum(A, B.T).solve``.
    For Hermitian (or diagonalizable) A and B that is the eigenvector method,
    X = V_A [(V_A⁻¹ C V_B) ⊘ (λᵢ + μⱼ)] V_B⁻¹: O(m³ + n³) once and two matrix
    products per equation; the factorizations are cached on the operator.

    Examples
    --------
    >>> import numpy as np
    >>> from kronop.sylvester import solve_sylvester
    >>> A = np.array([[3.0, 1.0], [0.0, 2.0]])
    >>> B = np.array([[1.0, 0.0, 0.0], [2.0, 4.0, 0.0], [0.0, 1.0, 5.0]])
    >>> C = np.arange(6.0).reshape(2, 3)
    >>> X = solve_sylvester(A, B, C)
    >>> bool(np.allclose(A @ X + X @ B, C))
    True
    """
    m = _square_shape(A, "A")
    n = _square_shape(B, "B")
    C = np.asarray(C)
    if C.shape != (m, n):
        raise ValueError(
            f"C must have shape ({m}, {n}) to match A and B, got {C.shape}"
        )
    if m == 0 or n == 0:  # as scipy.linalg.solve_sylvester: an empty X
        return np.empty((m, n), dtype=_result_dtype(A, B, C))
    S = KronSum(A, _transpose(B))
    return S.solve(C.reshape(-1), method=method).reshape(m, n)


def solve_lyapunov(A: Any, Q: ArrayLike, method: str = "auto") -> np.ndarray:
    r"""Solve the continuous Lyapunov equation AX + XAᴴ = Q.

    The same convention as ``scipy.linalg.solve_continuous_lyapunov``.

    Parameters
    ----------
    A : (n, n) array_like or sparse matrix
    Q : (n, n) array_like
    method : {"auto", "eig", "schur"}
        See :func:`solve_sylvester`.

    Returns
    -------
    numpy.ndarray
        X, shape (n, n).

    Notes
    -----
    A Sylvester equation with B = Aᴴ: (A ⊕ Ā) vec(X) = vec(Q).

    Examples
    --------
    >>> import numpy as np
    >>> from kronop.sylvester import solve_lyapunov
    >>> A = np.array([[-2.0, 1.0], [0.0, -3.0]])
    >>> Q = -np.eye(2)
    >>> X = solve_lyapunov(A, Q)
    >>> bool(np.allclose(A @ X + X @ A.T, Q))
    True
    """
    if isinstance(A, LinearOperator):
        raise TypeError(
            "solve_lyapunov() needs the entries of A; pass an ndarray or sparse "
            f"matrix, not a {type(A).__name__}"
        )
    _square_shape(A, "A")
    At = _transpose(A)
    AH = At.conj() if hasattr(At, "conj") else np.conj(At)
    return solve_sylvester(A, AH, Q, method=method)


def solve_tensor_sylvester(
    factors: Sequence[Any], C: ArrayLike, mass=None, method: str = "auto"
) -> np.ndarray:
    r"""Solve the tensor Sylvester equation Σⱼ X ×ⱼ Aⱼ = C.

    ``X ×ⱼ A`` multiplies along axis j: ``(X ×ⱼ A)[…, i, …] = Σₖ A[i, k] X[…, k, …]``.
    With two factors this is A₁X + XA₂ᵀ = C.

    Parameters
    ----------
    factors : sequence of square matrices
        A₁, …, A_d (ndarrays or sparse matrices).
    C : array_like, shape (n₁, …, n_d)
    mass : sequence, optional
        Mass matrices M₁, …, M_d for Σⱼ X ×₁ M₁ ⋯ ×ⱼ Aⱼ ⋯ ×_d M_d = C (the
        generalized Kronecker sum, see :class:`KronSum`).
    method : {"auto", "eig", "schur"}
        See :meth:`KronSum.solve`.

    Returns
    -------
    numpy.ndarray
        X, shape (n₁, …, n_d).

    Raises
    ------
    ValueError
        If C does not have the shape of the factors.

    Notes
    -----
    (A₁ ⊕ … ⊕ A_d) vec(X) = vec(C), solved by :meth:`KronSum.solve`. For
    non-normal factors with ill-conditioned eigenvectors the Schur path runs a
    recursive back substitution over the leading axes down to 2-D triangular
    Sylvester equations (LAPACK ``trsyl``).

    Examples
    --------
    >>> import numpy as np
    >>> from kronop.sylvester import solve_tensor_sylvester
    >>> rng = np.random.default_rng(0)
    >>> As = [np.eye(n) * 3 + rng.random((n, n)) for n in (2, 3, 4)]
    >>> C = rng.random((2, 3, 4))
    >>> X = solve_tensor_sylvester(As, C)
    >>> lhs = sum(np.moveaxis(np.tensordot(A, X, axes=(1, j)), 0, j)
    ...           for j, A in enumerate(As))
    >>> bool(np.allclose(lhs, C))
    True
    """
    factors = list(factors)
    if not factors:
        raise ValueError("solve_tensor_sylvester needs at least one factor")
    ns = tuple(_square_shape(a, f"factor {j}") for j, a in enumerate(factors))
    C = np.asarray(C)
    if C.shape != ns:
        raise ValueError(f"C must have shape {ns} to match the factors, got {C.shape}")
    if 0 in ns:
        return np.empty(ns, dtype=_result_dtype(*factors, C))
    S = KronSum(*factors, mass=mass)
    return S.solve(C.reshape(-1), method=method).reshape(ns)
