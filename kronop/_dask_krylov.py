"""Krylov solvers (conjugate gradients and restarted GMRES) for dask arrays.

``scipy.sparse.linalg.cg`` and ``scipy.sparse.linalg.gmres`` start by calling
``np.asanyarray`` on the right-hand side and on every operator product, so a dask
vector is gathered into one in-memory numpy array and the solve runs on a single
machine. The solvers here keep every vector a chunked dask array for the whole
solve: only the handful of scalars that a Krylov method needs each iteration
(inner products, norms, the small Hessenberg least-squares problem of GMRES) come
back to the client, as Python numbers.

Cost per iteration
------------------
* :func:`cg` uses the Chronopoulos–Gear arrangement of (preconditioned) conjugate
  gradients, which is mathematically the textbook algorithm but gathers all its
  inner products into one reduction: each iteration is **one** ``dask.persist``
  of the iterate vectors (one product with ``A`` and one with ``M`` inside it)
  and **one** ``dask.compute`` of three scalars.
* :func:`gmres` orthogonalises with classical Gram–Schmidt applied twice (as
  accurate as modified Gram–Schmidt, but each pass is a single reduction rather
  than one per basis vector): each inner iteration is one ``dask.persist`` (the
  new basis vector and its product with ``M A``) and two ``dask.compute`` calls
  of ``k + 1`` scalars, with ``k`` the current size of the Krylov basis; each
  restart adds one persist of the new iterate and residual and one compute of
  their norms.

All the inner products of one ``dask.compute`` are taken together, one task per
chunk, and accumulated in double precision.

The vectors are persisted every iteration, so the task graph of the returned
solution (and of everything the solver holds on to) does not grow with the
number of iterations. The solvers work with any dask scheduler, the local
threaded one or a ``dask.distributed`` cluster.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import dask
import dask.array as da
import numpy as np
from scipy.linalg import get_lapack_funcs

__all__ = ["cg", "gmres"]

_Apply = Callable[[da.Array], da.Array]


def _as_apply(obj: Any, name: str) -> _Apply:
    """Turn an operator-like argument into a function ``x -> obj @ x``.

    Objects that support ``@`` (kronop operators, dask or numpy matrices) are
    applied with ``@``; other callables are called as ``obj(x)``.

    Parameters
    ----------
    obj : object
        An object with ``__matmul__``, or a callable.
    name : str
        The argument's name, used in the error message.

    Returns
    -------
    callable
        A function of one array.

    Raises
    ------
    TypeError
        If `obj` neither supports ``@`` nor is callable.

    Examples
    --------
    >>> import numpy as np
    >>> from kronop._dask_krylov import _as_apply
    >>> _as_apply(2 * np.eye(2), "A")(np.ones(2))
    array([2., 2.])
    >>> _as_apply(lambda v: 3 * v, "M")(np.ones(2))
    array([3., 3.])
    """
    if hasattr(type(obj), "__matmul__"):
        return lambda x: obj @ x
    if callable(obj):
        return obj
    raise TypeError(
        f"{name} must support `{name} @ x` or be a callable `{name}(x)`; "
        f"received an object of type {type(obj).__name__}"
    )


def _checked(apply: _Apply, name: str) -> _Apply:
    """Wrap `apply` so that its result is a dask array with the chunks of ``x``."""

    def wrapped(x: da.Array) -> da.Array:
        y = apply(x)
        if not isinstance(y, da.Array | np.ndarray):
            raise TypeError(
                f"{name} applied to a dask array must return a dask array; "
                f"received {type(y).__name__}"
            )
        if y.shape != x.shape:
            raise ValueError(
                f"{name} applied to an array of shape {x.shape} must return the "
                f"same shape; received shape {y.shape}"
            )
        if not isinstance(y, da.Array):
            warnings.warn(
                f"{name} returned a numpy array for a dask array: it computed the "
                "whole vector in one process (a scipy LinearOperator does); use a "
                "kronop operator or a function of dask arrays to stay distributed",
                da.PerformanceWarning,
                stacklevel=4,
            )
            y = da.from_array(y, chunks=x.chunks)
        if y.shape != x.shape:
            raise ValueError(
                f"{name} applied to an array of shape {x.shape} must return the "
                f"same shape; received shape {y.shape}"
            )
        # Products with a dask matrix may come back chunked differently; keeping
        # one chunking avoids a rechunk inside every vector update.
        if y.chunks != x.chunks:
            y = y.rechunk(x.chunks)
        return y

    return wrapped


def _block_inner(*blocks: np.ndarray, pairs: tuple) -> np.ndarray:
    """One block's share of ``vdot(blocks[i], blocks[j])`` for each ``(i, j)``.

    Accumulated in double precision, and shaped as one block of a
    ``(len(pairs), 1, ..., 1)`` array of partial sums.
    """
    ndim = blocks[0].ndim
    wide = np.complex128 if any(np.iscomplexobj(b) for b in blocks) else np.float64
    flat = [b.astype(wide, copy=False).ravel() for b in blocks]
    out = np.array([np.vdot(flat[i], flat[j]) for i, j in pairs], dtype=wide)
    return out.reshape((len(pairs),) + (1,) * ndim)


def _scalars(arrays: list[da.Array], pairs: list[tuple[int, int]]) -> list:
    """``vdot(arrays[i], arrays[j])`` for each pair, in one ``dask.compute``.

    All the inner products of a block are taken in one task, so the graph the
    client builds every iteration and the number of tasks the scheduler runs do
    not grow with the number of products. The results are Python numbers, real
    for a squared norm (``i == j``): Python scalars are weak (NEP 50), so a
    float32 vector stays float32 when it is scaled by them.
    """
    first = arrays[0]
    wide = np.complex128 if any(np.iscomplexobj(a) for a in arrays) else np.float64
    partial = da.map_blocks(
        _block_inner,
        *arrays,
        pairs=tuple(pairs),
        new_axis=0,
        chunks=((len(pairs),), *(((1,) * nb) for nb in first.numblocks)),
        dtype=wide,
        meta=np.empty((0,) * (first.ndim + 1), dtype=wide),
    )
    (values,) = dask.compute(partial.sum(axis=tuple(range(1, first.ndim + 1))))
    return [
        float(v.real) if i == j else v.item()
        for v, (i, j) in zip(values, pairs, strict=True)
    ]


def _block_combination(*basis: np.ndarray, coefs: np.ndarray) -> np.ndarray:
    out = coefs[0] * basis[0]
    for c, v in zip(coefs[1:], basis[1:], strict=True):
        out += c * v
    return out


def _combination(coefs: np.ndarray, basis: list[da.Array]) -> da.Array:
    """Lazy ``sum(c * v for c, v in zip(coefs, basis))``, one task per block."""
    dtype = basis[0].dtype
    return da.map_blocks(
        _block_combination,
        *basis,
        coefs=np.asarray(coefs).astype(dtype, copy=False),
        dtype=dtype,
        meta=np.empty((0,) * basis[0].ndim, dtype=dtype),
    )


def _finite(*values) -> bool:
    return all(math.isfinite(abs(v)) for v in values)


class _Problem:
    """Validated inputs shared by the solvers."""

    def __init__(self, A, b, x0, M, rtol, atol, maxiter, name):
        if isinstance(b, da.Array):
            pass
        elif hasattr(b, "shape") or isinstance(b, list | tuple):
            b = da.asarray(b)
        else:
            raise TypeError(
                f"b must be a dask array (or an array to wrap as one); "
                f"received {type(b).__name__}"
            )
        if b.ndim == 0:
            raise ValueError("b must have at least one dimension; received a 0-d array")
        n = b.size
        shape = getattr(A, "shape", None)
        if (
            not callable(shape)
            and isinstance(shape, tuple)
            and len(shape) == 2
            and tuple(shape) != (n, n)
        ):
            raise ValueError(
                f"A must have shape ({n}, {n}) to match b of shape {b.shape}; "
                f"received shape {tuple(shape)}"
            )
        dtypes = [b.dtype]
        a_dtype = getattr(A, "dtype", None)
        if a_dtype is not None and not callable(a_dtype):
            dtypes.append(np.dtype(a_dtype))
        if x0 is not None:
            if not hasattr(x0, "shape") or not hasattr(x0, "dtype"):
                raise TypeError(
                    f"x0 must be a dask or numpy array of shape {b.shape}; "
                    f"received {type(x0).__name__}"
                )
            if tuple(x0.shape) != b.shape:
                raise ValueError(
                    f"x0 must have the shape of b {b.shape}; received shape "
                    f"{tuple(x0.shape)}"
                )
            dtypes.append(np.dtype(x0.dtype))
        dtype = np.result_type(*dtypes)
        if dtype.kind not in "fc" or dtype.itemsize < 4:
            dtype = np.result_type(
                dtype, np.float32 if dtype.kind == "f" else np.float64
            )
        self.dtype = dtype
        self.b = b if b.dtype == dtype else b.astype(dtype)
        if x0 is not None:
            if not isinstance(x0, da.Array):
                x0 = da.from_array(x0, chunks=b.chunks)
            elif x0.chunks != b.chunks:
                x0 = x0.rechunk(b.chunks)
            if x0.dtype != dtype:
                x0 = x0.astype(dtype)
        self.x0 = x0
        self.A = _checked(_as_apply(A, "A"), "A")
        self.M = None if M is None else _checked(_as_apply(M, "M"), "M")
        for label, value in (("rtol", rtol), ("atol", atol)):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float | np.integer | np.floating)
                or not value >= 0
                or not math.isfinite(value)
            ):
                raise ValueError(
                    f"{label} must be a finite real number >= 0; received {value!r}"
                )
        self.rtol, self.atol = float(rtol), float(atol)
        if maxiter is not None and (
            isinstance(maxiter, bool)
            or not isinstance(maxiter, int | np.integer)
            or maxiter < 1
        ):
            raise ValueError(
                f"maxiter must be a positive integer; received {maxiter!r}"
            )
        self.maxiter = maxiter
        self.name = name

    def precondition(self, r: da.Array) -> da.Array:
        return r if self.M is None else self.M(r)

    def zeros(self) -> da.Array:
        (x,) = dask.persist(da.zeros_like(self.b, dtype=self.dtype))
        return x

    def tolerance(self, bnorm: float) -> float:
        return max(self.atol, self.rtol * bnorm)


def cg(
    A: Any,
    b: da.Array,
    x0: da.Array | np.ndarray | None = None,
    *,
    rtol: float = 1e-5,
    atol: float = 0.0,
    maxiter: int | None = None,
    M: Any = None,
    callback: Callable[[da.Array], object] | None = None,
) -> tuple[da.Array, int]:
    """Solve ``A x = b`` for a dask array `b` by (preconditioned) conjugate gradients.

    A drop-in for :func:`scipy.sparse.linalg.cg` that keeps every vector a dask
    array: the iterates never gather into one numpy array. `A` must be Hermitian
    positive definite (and `M` too, when given).

    Parameters
    ----------
    A : operator or callable
        Anything with ``A @ x`` (or a callable ``A(x)``) that maps a dask array of
        the shape of `b` to a dask array of the same shape: a kronop operator,
        a 2-D dask array (for a flat `b`), or a function.
    b : dask.array.Array
        Right-hand side: a flat vector ``(N,)`` or a grid array
        ``(n1, ..., nd)`` with ``N = n1 * ... * nd`` entries.
    x0 : dask.array.Array or numpy.ndarray, optional
        Starting guess, of the shape of `b`; zeros by default.
    rtol, atol : float, optional
        Convergence test ``norm(r) <= max(rtol * norm(b), atol)``, with the
        2-norm over all entries and ``r`` the recursively updated residual, as
        in scipy.
    maxiter : int, optional
        Maximum number of iterations; ``10 * N`` by default.
    M : operator or callable, optional
        Preconditioner approximating the inverse of `A`, applied as ``M @ r``
        (or ``M(r)``), with the same requirements as `A`.
    callback : callable, optional
        Called as ``callback(xk)`` after every iteration with the current
        iterate, a persisted dask array.

    Returns
    -------
    x : dask.array.Array
        The solution, persisted, with the shape and chunks of `b`. Its dtype is
        the result type of `A`'s dtype (when it has one), `b` and `x0`, and at
        least floating point.
    info : int
        ``0`` converged; ``> 0`` the number of iterations done without
        convergence (`maxiter`); ``-1`` breakdown (a zero or non-finite inner
        product: `A` or `M` not positive definite, or non-finite data).

    Raises
    ------
    TypeError
        If `A` or `M` neither supports ``@`` nor is callable, or `b` is not an
        array.
    ValueError
        If `x0` or `A` do not match the shape of `b`, or `rtol`, `atol` or
        `maxiter` is out of range.

    See Also
    --------
    gmres : for matrices that are not Hermitian positive definite.
    scipy.sparse.linalg.cg : the in-memory original.

    Notes
    -----
    The iteration is the Chronopoulos–Gear form of conjugate gradients: with
    ``u = M r`` and ``w = A u`` kept alongside ``r``, the three numbers
    ``(r, u)``, ``(u, w)`` and ``(r, r)`` give the step lengths of the textbook
    algorithm, so each iteration needs a single reduction (one
    ``dask.compute``) and one ``dask.persist`` of the vectors, with one
    product by `A` and one by `M`. Inner products are accumulated in double
    precision. Unlike scipy, the residual of the last iterate is checked too, so
    a solve that converges on iteration `maxiter` reports ``info = 0``. If `b`
    is zero the solution is zero and no iteration runs.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> from kronop._dask_krylov import cg
    >>> A = da.from_array(np.array([[4.0, 1.0, 0.0],
    ...                             [1.0, 3.0, 1.0],
    ...                             [0.0, 1.0, 2.0]]), chunks=2)
    >>> b = da.from_array(np.array([1.0, 2.0, 3.0]), chunks=2)
    >>> x, info = cg(A, b, rtol=1e-10)
    >>> info
    0
    >>> x.chunks == b.chunks
    True
    >>> np.allclose((A @ x).compute(), b.compute())
    True

    A Jacobi preconditioner as a function:

    >>> d = da.diagonal(A)
    >>> x, info = cg(A, b, M=lambda r: r / d, rtol=1e-10)
    >>> np.allclose(x.compute(), np.linalg.solve(A.compute(), b.compute()))
    True
    """
    p_ = _Problem(A, b, x0, M, rtol, atol, maxiter, "cg")
    b = p_.b
    maxiter = 10 * b.size if p_.maxiter is None else int(p_.maxiter)
    if b.size == 0:
        return p_.zeros(), 0

    x = p_.zeros() if p_.x0 is None else p_.x0
    r = b if p_.x0 is None else b - p_.A(p_.x0)
    u = p_.precondition(r)
    w = p_.A(u)
    x, r, u, w = dask.persist(x, r, u, w)
    bb, rr, gamma, delta = _scalars([b, r, u, w], [(0, 0), (1, 1), (1, 2), (2, 3)])
    bnorm = math.sqrt(bb)
    if bnorm == 0:
        return p_.zeros(), 0
    if not _finite(bnorm, rr):
        return x, -1
    tol = p_.tolerance(bnorm)

    p = s = None
    alpha_prev = gamma_prev = None
    for iteration in range(maxiter):
        if math.sqrt(rr) <= tol:
            return x, 0
        if iteration == 0:
            beta = 0.0
            pap = delta
        else:
            beta = gamma / gamma_prev
            pap = delta - beta * gamma / alpha_prev
        if gamma == 0 or pap == 0 or not _finite(gamma, delta, pap):
            return x, -1
        alpha = gamma / pap
        p = u if p is None else u + beta * p
        s = w if s is None else w + beta * s
        x = x + alpha * p
        r = r - alpha * s
        u = p_.precondition(r)
        w = p_.A(u)
        x, r, u, w, p, s = dask.persist(x, r, u, w, p, s)
        if callback is not None:
            callback(x)
        gamma_prev, alpha_prev = gamma, alpha
        if iteration + 1 < maxiter:
            rr, gamma, delta = _scalars([r, u, w], [(0, 0), (0, 1), (1, 2)])
        else:
            (rr,) = _scalars([r], [(0, 0)])
        if not math.isfinite(rr):
            return x, -1
    return x, (0 if math.sqrt(rr) <= tol else maxiter)


def gmres(
    A: Any,
    b: da.Array,
    x0: da.Array | np.ndarray | None = None,
    *,
    rtol: float = 1e-5,
    atol: float = 0.0,
    restart: int | None = 20,
    maxiter: int | None = None,
    M: Any = None,
    callback: Callable[[da.Array], object] | None = None,
    callback_type: str | None = None,
) -> tuple[da.Array, int]:
    """Solve ``A x = b`` for a dask array `b` by restarted GMRES.

    A drop-in for :func:`scipy.sparse.linalg.gmres` that keeps every vector a
    dask array: the Krylov basis and the iterates never gather into one numpy
    array; only the small Hessenberg least-squares problem is solved on the
    client, in numpy.

    Parameters
    ----------
    A : operator or callable
        Anything with ``A @ x`` (or a callable ``A(x)``) that maps a dask array of
        the shape of `b` to a dask array of the same shape: a kronop operator,
        a 2-D dask array (for a flat `b`), or a function. Need not be symmetric.
    b : dask.array.Array
        Right-hand side: a flat vector ``(N,)`` or a grid array
        ``(n1, ..., nd)`` with ``N = n1 * ... * nd`` entries.
    x0 : dask.array.Array or numpy.ndarray, optional
        Starting guess, of the shape of `b`; zeros by default.
    rtol, atol : float, optional
        Convergence test ``norm(b - A @ x) <= max(rtol * norm(b), atol)``, with
        the 2-norm over all entries and the true (unpreconditioned) residual,
        checked at the end of every restart cycle, as in scipy.
    restart : int, optional
        Size of the Krylov basis before a restart (``min(restart, N)`` is used);
        ``None`` means 20, as in scipy.
        Each basis vector is a persisted array of the size of `b`.
    maxiter : int, optional
        Maximum number of restart cycles, as in scipy's ``callback_type='x'``
        mode. By default ``ceil(10 * N / restart)``, so that at most about
        ``10 * N`` products with `A` are made, the budget of :func:`cg` (scipy
        allows ``10 * N`` cycles, which for a stagnating problem means up to
        ``10 * N * restart`` products).
    M : operator or callable, optional
        Preconditioner approximating the inverse of `A`, applied as ``M @ r``
        (or ``M(r)``). Left preconditioning, as in scipy: the inner iteration
        minimises ``norm(M @ (b - A @ x))``, while convergence is decided on the
        unpreconditioned residual.
    callback : callable, optional
        Called as ``callback(xk)`` at the end of every restart cycle with the
        current iterate, a persisted dask array.
    callback_type : {None, 'x'}, optional
        Only ``'x'`` (the default here) is supported; scipy's ``'pr_norm'`` and
        ``'legacy'`` are not.

    Returns
    -------
    x : dask.array.Array
        The solution, persisted, with the shape and chunks of `b`. Its dtype is
        the result type of `A`'s dtype (when it has one), `b` and `x0`, and at
        least floating point.
    info : int
        ``0`` converged; ``> 0`` the number of restart cycles done without
        convergence (`maxiter`); ``-1`` breakdown (the Krylov space stopped
        growing but the residual is above the tolerance, as for a singular `A`,
        or a non-finite scalar).

    Raises
    ------
    TypeError
        If `A` or `M` neither supports ``@`` nor is callable, or `b` is not an
        array.
    ValueError
        If `x0` or `A` do not match the shape of `b`; if `rtol`, `atol`,
        `restart` or `maxiter` is out of range; or for a `callback_type` other
        than ``'x'``.

    See Also
    --------
    cg : fewer reductions per iteration, for Hermitian positive definite `A`.
    scipy.sparse.linalg.gmres : the in-memory original.

    Notes
    -----
    The iteration follows scipy's GMRES(m), including its adaptive tolerance
    for the inner (preconditioned) residual, with two changes for distributed
    vectors: the basis is orthogonalised by classical Gram–Schmidt applied
    twice, so that each inner iteration needs two reductions (two
    ``dask.compute`` calls) instead of one per basis vector, and inner
    products are accumulated in double precision. Each inner iteration makes
    one product with `A` and one with `M`, and persists the new basis vector;
    each restart persists the new iterate and its residual. If `b` is zero the
    solution is zero and no iteration runs.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> from kronop._dask_krylov import gmres
    >>> A = da.from_array(np.array([[3.0, 2.0, 0.0],
    ...                             [1.0, -1.0, 0.0],
    ...                             [0.0, 5.0, 1.0]]), chunks=2)
    >>> b = da.from_array(np.array([2.0, 4.0, -1.0]), chunks=2)
    >>> x, info = gmres(A, b, rtol=1e-10)
    >>> info
    0
    >>> np.allclose((A @ x).compute(), b.compute())
    True
    >>> iterates = []
    >>> x, info = gmres(A, b, restart=1, maxiter=2, callback=iterates.append)
    >>> info, len(iterates)
    (2, 2)
    """
    if callback_type not in (None, "x"):
        raise ValueError(
            f"callback_type must be None or 'x' (callback(xk) once per restart "
            f"cycle); received {callback_type!r}"
        )
    if restart is None:
        restart = 20
    if (
        isinstance(restart, bool)
        or not isinstance(restart, int | np.integer)
        or restart < 1
    ):
        raise ValueError(f"restart must be a positive integer; received {restart!r}")
    p_ = _Problem(A, b, x0, M, rtol, atol, maxiter, "gmres")
    b = p_.b
    n = b.size
    if n == 0:
        return p_.zeros(), 0
    restart = min(int(restart), n)
    maxiter = (
        max(1, math.ceil(10 * n / restart)) if p_.maxiter is None else int(p_.maxiter)
    )
    eps = float(np.finfo(p_.dtype).eps)
    small = np.complex128 if p_.dtype.kind == "c" else np.float64
    lartg = get_lapack_funcs("lartg", dtype=np.dtype(small))

    x = p_.zeros() if p_.x0 is None else p_.x0
    r = b if p_.x0 is None else b - p_.A(p_.x0)
    z = p_.precondition(r)
    x, r, z = dask.persist(x, r, z)
    vectors = [b, r, z]
    if p_.M is not None and p_.x0 is not None:
        vectors.append(p_.M(b))
    squares = _scalars(vectors, [(i, i) for i in range(len(vectors))])
    bnorm, rnorm, znorm = (math.sqrt(v) for v in squares[:3])
    mbnorm = math.sqrt(squares[3]) if len(squares) > 3 else (znorm if p_.M else bnorm)
    if bnorm == 0:
        return p_.zeros(), 0
    if not _finite(bnorm, rnorm, znorm, mbnorm):
        return x, -1
    tol = p_.tolerance(bnorm)
    if rnorm <= tol:
        return x, 0

    # scipy's control of the inner (preconditioned) tolerance, gh-8400
    ptol_max_factor = 1.0
    ptol = mbnorm * min(ptol_max_factor, tol / bnorm)
    presid = 0.0
    for _cycle in range(maxiter):
        if znorm == 0 or not math.isfinite(znorm):
            return x, -1
        v = z * (1.0 / znorm)
        w = p_.A(v)
        basis, w = dask.persist(v, p_.precondition(w))
        basis = [basis]
        # H[k, j] holds the (rotated) Hessenberg matrix column j
        H = np.zeros((restart + 1, restart), dtype=small)
        rotations = np.zeros((restart, 2), dtype=small)
        S = np.zeros(restart + 1, dtype=small)
        S[0] = znorm
        breakdown = False
        for col in range(restart):
            # classical Gram–Schmidt, twice: one reduction per pass
            m = len(basis)
            products = [(i, m) for i in range(m)] + [(m, m)]
            *h_a, w_sq = _scalars([*basis, w], products)
            w1 = w - _combination(h_a, basis)
            *h_b, w1_sq = _scalars([*basis, w1], products)
            h = np.asarray(h_a, dtype=small) + np.asarray(h_b, dtype=small)
            # w2 = w1 - V h_b is orthogonal to V, so its norm follows from w1's
            h0 = math.sqrt(w_sq)
            h1 = math.sqrt(max(w1_sq - float(np.sum(np.abs(h_b) ** 2)), 0.0))
            if not _finite(h0, h1, *h):
                return x, -1
            H[: col + 1, col] = h
            H[col + 1, col] = h1
            if h1 <= eps * h0:
                # the Krylov space is invariant: the projected solution is exact
                H[col + 1, col] = 0
                breakdown = True
            for k in range(col):
                c, s = rotations[k]
                n0, n1 = H[k, col], H[k + 1, col]
                H[k, col] = c * n0 + s * n1
                H[k + 1, col] = -np.conj(s) * n0 + c * n1
            c, s, mag = lartg(H[col, col], H[col + 1, col])
            rotations[col] = c, s
            H[col, col], H[col + 1, col] = mag, 0
            S[col + 1] = -np.conj(s) * S[col]
            S[col] = c * S[col]
            presid = abs(S[col + 1])
            if presid <= ptol or breakdown or col + 1 == restart:
                break
            v = (w1 - _combination(h_b, basis)) * (1.0 / h1)
            v, w = dask.persist(v, p_.precondition(p_.A(v)))
            basis.append(v)

        # back substitution on the triangular H, allowing a singular last pivot
        if H[col, col] == 0:
            S[col] = 0
        y = S[: col + 1].copy()
        for k in range(col, 0, -1):
            if y[k] != 0:
                y[k] /= H[k, k]
                y[:k] -= y[k] * H[:k, k]
        if y[0] != 0:
            y[0] /= H[0, 0]
        x = x + _combination(y, basis)
        r = b - p_.A(x)
        if p_.M is None:
            x, r = dask.persist(x, r)
            (rr,) = _scalars([r], [(0, 0)])
            z, zz = r, rr
        else:
            x, r, z = dask.persist(x, r, p_.M(r))
            rr, zz = _scalars([r, z], [(0, 0), (1, 1)])
        del basis, w, w1
        rnorm, znorm = math.sqrt(rr), math.sqrt(zz)
        if callback is not None:
            callback(x)
        if not math.isfinite(rnorm):
            return x, -1
        if rnorm <= tol:
            return x, 0
        if breakdown:
            return x, -1
        if presid <= ptol:
            # the inner test passed but the outer did not: tighten it
            ptol_max_factor = max(eps, 0.25 * ptol_max_factor)
        else:
            ptol_max_factor = min(1.0, 1.5 * ptol_max_factor)
        ptol = presid * min(ptol_max_factor, tol / rnorm)
    return x, maxiter
