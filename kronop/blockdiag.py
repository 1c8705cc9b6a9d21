r"""The block-diagonal operator ``BlockDiag``: diag(B₁, …, B_k), block by block.

Blocks of any kind and shape sit on the diagonal: dense, sparse, plain
``LinearOperator``\ s and kronop operators (a ``KronOperator`` block keeps its
structure and its own fast solve). Equal-shaped dense blocks, given as a
``(k, m, n)`` array or as consecutive list entries, are held as one stack and
multiplied by one batched matmul. Linear algebra (solve, determinants, spectra,
norms) is done block by block, each block with its own cached factorization.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from numpy.typing import ArrayLike
from scipy.sparse.linalg import LinearOperator, aslinearoperator
from scipy.sparse.linalg import norm as sparse_norm
from scipy.sparse.linalg._interface import _ScaledLinearOperator

from . import _engine, _rules
from ._base import Factorization, Factorized, StructuredOperator, check_rhs
from ._compat import call
from ._factor import (
    _check_nonempty,
    _normalise_dtype,
    as_factor,
    dense_matrix,
    describe_shape,
    sparse_matrix,
)
from ._factor_linalg import INVERSE_COND_LIMIT, FactorSolve
from .decomposition import (
    EigenvalueVector,
    KronEigen,
    SolveOperator,
    _apply_operator,
    _order_key,
    sign_like,
)
from .decomposition import (
    _readonly_view as _readonly,
)
from .identity import IdentityOperator

if TYPE_CHECKING:
    from dask.array import Array as DaskArray

__all__ = ["BlockDiag", "BlockEigen", "BlockEigenvalues", "BlockFactorization"]


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------
def _block_name(index: int, shape) -> str:
    return f"block {index} ({describe_shape(shape)})"


def _validate_block(obj: Any, index: int):
    """One user block as ``(kind, payload, user)``; kind is dense, sparse or operator."""
    where = f"block {index}"
    if isinstance(obj, LinearOperator):
        op = obj
    elif sp.issparse(obj):
        user, csr, _ = sparse_matrix(obj, where)
        return "sparse", csr, user
    elif (
        not isinstance(obj, np.ndarray)
        and hasattr(obj, "shape")
        and hasattr(obj, "matvec")
    ):
        op = aslinearoperator(obj)  # a PyLops-style operator
    else:
        arr, _ = dense_matrix(obj, where)
        return "dense", arr, arr
    if len(op.shape) != 2:
        raise ValueError(f"{where} must be a 2-D operator, got shape {op.shape}")
    _check_nonempty(op.shape, where)
    if op.dtype is None:
        raise TypeError(
            f"{where} is a LinearOperator with dtype=None; construct it with an "
            "explicit dtype (for an identity, kronop.IdentityOperator((n, n)))"
        )
    _normalise_dtype(op.dtype, where)
    return "operator", op, obj


def _stack_from_array(blocks: np.ndarray) -> np.ndarray:
    """A user (k, m, n) array as a read-only stack, or a typed error."""
    dtype = _normalise_dtype(blocks.dtype, "the (k, m, n) array of blocks")
    if blocks.ndim != 3:
        hint = (
            " (for one block, pass a list: BlockDiag([A]))" if blocks.ndim == 2 else ""
        )
        raise ValueError(
            "blocks must be a list of 2-D blocks or a 3-D array (k, m, n) of k equal "
            f"m×n blocks; got an array of shape {blocks.shape}{hint}"
        )
    if blocks.shape[0] == 0:
        raise ValueError("BlockDiag needs at least one block, got a (0, m, n) array")
    if blocks.shape[1] == 0 or blocks.shape[2] == 0:
        raise ValueError(
            f"the blocks of a (k, m, n) array need at least one row and one column, "
            f"got shape {blocks.shape}"
        )
    if blocks.dtype != dtype:
        blocks = blocks.astype(dtype)
    return _readonly(blocks)


def _work_dtype(dtype, op_dtype) -> np.dtype:
    """A block's dtype raised to the operator's precision (decompositions run there)."""
    return np.result_type(dtype, np.finfo(np.dtype(op_dtype)).dtype)


def _real_dtype(dtype) -> np.dtype:
    return np.dtype(np.dtype(dtype).type(0).real.dtype)


def _hermitian_flags(a: np.ndarray) -> np.ndarray:
    """Per block of a square stack: A = Aᴴ to 100 ulps of its largest entry."""
    if a.dtype.kind == "c":
        diff = np.abs(a - a.conj().transpose(0, 2, 1))
    else:
        diff = np.abs(a - a.transpose(0, 2, 1))
    worst = diff.max(axis=(1, 2))
    scale = np.abs(a).max(axis=(1, 2))
    tol = 100 * np.finfo(a.dtype).eps * scale
    return (worst <= tol) & np.isfinite(scale)


def _combine_signs(signs: list, real: bool):
    """The product of block determinant signs: exact ±1 for real, a unit phase else."""
    if any(s == 0 for s in signs):
        return 0.0
    if real:
        neg = sum(1 for s in signs if np.real(s) < 0)
        return -1.0 if neg % 2 else 1.0
    phase = math.fsum(float(np.angle(s)) for s in signs)
    phase = math.remainder(phase, 2 * math.pi)
    return complex(math.cos(phase), math.sin(phase))


class _BlockError:
    """Re-raise a kronop block's own error with the block named first."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is None or kind not in (
            ValueError,
            TypeError,
            np.linalg.LinAlgError,
        ):
            return False
        raise kind(f"{self.name}: {exc}") from exc


# ---------------------------------------------------------------------------
# Parts: runs of blocks that are stored and computed alike
# ---------------------------------------------------------------------------
class _Part:
    """A run of consecutive diagonal blocks (rows × cols in all)."""

    rows: int
    cols: int
    first: int
    dtype: np.dtype
    #: its product can be returned as the operator's result without a copy
    fresh_result: bool = True

    def __getstate__(self) -> dict:
        # cached factorizations (SuperLU objects, inverses) are rebuilt on demand
        return {**self.__dict__, "_memo": {}}

    def _cached(self, key: str, build):
        got = self._memo.get(key)
        if got is None:
            got = build()
            self._memo[key] = got
        return got

    def shapes(self) -> list[tuple[int, int]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def names(self) -> Iterator[str]:
        for i, shape in enumerate(self.shapes()):
            yield _block_name(self.first + i, shape)

    def require_square(self, method: str) -> None:
        for i, (m, n) in enumerate(self.shapes()):
            if m != n:
                raise ValueError(
                    f"{call(method)} needs square blocks, but block {self.first + i} has "
                    f"shape {m}×{n}"
                )


class _Stack(_Part):
    """k equal dense blocks as one read-only (k, m, n) array: batched matmuls."""

    def __init__(self, stack: np.ndarray, first: int, users=None, as_array=False):
        self.stack = stack
        self.k, self.m, self.n = (int(s) for s in stack.shape)
        self.rows, self.cols = self.k * self.m, self.k * self.n
        self.first = first
        self.dtype = stack.dtype
        #: the user's blocks (None: read-only views of the stack)
        self.users = users
        #: the user gave the (k, m, n) array itself
        self.as_array = as_array
        self._memo: dict = {}

    def describe(self) -> str:
        if self.k == 1:
            return f"{self.m}×{self.n} dense"
        return f"{self.k} × {self.m}×{self.n} dense"

    def shapes(self):
        return [(self.m, self.n)] * self.k

    def user_blocks(self) -> tuple:
        if self.users is not None:
            return tuple(self.users)
        return tuple(self.stack[i] for i in range(self.k))

    def dense_blocks(self) -> list:
        return list(self.stack)

    def _as(self, dtype) -> np.ndarray:
        """The stack in ``dtype`` (cast once), so BLAS never casts per call."""
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self.stack
        return self._cached(f"as:{dtype}", lambda: _readonly(self.stack.astype(dtype)))

    def apply(self, x: np.ndarray, dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        x = _engine.cast(x, dtype)
        if (
            dtype.kind == "c"
            and self.dtype.kind != "c"
            and isinstance(x, np.ndarray)
            and x.flags.c_contiguous
        ):
            # a real stack on a complex block: its real and imaginary parts are
            # interleaved columns of one real block, so one real batched matmul
            # (half the flops of a complex one, no complex copy of the stack)
            real = _real_dtype(dtype)
            y = _engine.apply_batched(self._as(real), x.view(real), real)
            return y.view(dtype)
        return _engine.apply_batched(self._as(dtype), x, dtype)

    def _derived(self, stack: np.ndarray) -> _Stack:
        # the blocks of a derived stack are read-only views of it
        return _Stack(_readonly(stack), self.first, None, self.as_array)

    def adjoint(self) -> _Stack:
        t = self.stack.transpose(0, 2, 1)
        return self._derived(t.conj() if self.dtype.kind == "c" else t)

    def transpose(self) -> _Stack:
        return self._derived(self.stack.transpose(0, 2, 1))

    def scaled(self, alpha) -> _Stack:
        return self._derived(alpha * self.stack)

    # ---------------------------------------------------------- linalg
    def work(self, op_dtype) -> np.ndarray:
        return self._as(_work_dtype(self.dtype, op_dtype))

    def check_finite(self, method: str) -> None:
        finite = self._cached(
            "finite", lambda: np.isfinite(self.stack).all(axis=(1, 2))
        )
        if not finite.all():
            i = int(np.flatnonzero(~finite)[0])
            raise ValueError(
                f"{call(method)}: {_block_name(self.first + i, (self.m, self.n))} has "
                "non-finite entries (inf or nan)"
            )

    def hermitian(self) -> np.ndarray:
        if self.m != self.n:
            return np.zeros(self.k, dtype=bool)
        return self._cached("hermitian", lambda: _hermitian_flags(self.stack))

    def solver(self, op_dtype) -> _StackSolver:
        self.require_square("solve")
        self.check_finite("solve")
        return self._cached(
            f"solver:{op_dtype}", lambda: _StackSolver(self, self.work(op_dtype))
        )

    def slogdet(self, op_dtype) -> tuple:
        self.require_square("slogdet")
        self.check_finite("slogdet")
        a = self.work(op_dtype)

        def build():
            sign, logabs = np.linalg.slogdet(a)
            if np.any(sign == 0):
                return 0.0, -np.inf
            if a.dtype.kind == "c":
                herm = self.hermitian()
                # det of a Hermitian block is real: its sign is exactly ±1
                sign = np.where(herm, np.where(sign.real > 0, 1.0, -1.0), sign)
            real = a.dtype.kind != "c"
            return (
                _combine_signs(list(sign), real),
                math.fsum(np.asarray(logabs, dtype=np.float64).tolist()),
            )

        return self._cached(f"slogdet:{a.dtype}", build)

    def trace(self):
        self.require_square("trace")
        return np.trace(self.stack, axis1=1, axis2=2).sum()

    def diagonal(self) -> np.ndarray:
        self.require_square("diagonal")
        return np.diagonal(self.stack, axis1=1, axis2=2).reshape(-1)

    def norm(self, ord) -> float:
        """fro: the sum of squares; 1, inf, 2: the largest over the blocks."""
        a = np.abs(self.stack)
        if ord == "fro":
            a = a.astype(np.float64, copy=False).reshape(-1)
            return float(np.dot(a, a))
        if ord == 1:
            return float(np.max(a.sum(axis=1)))
        if ord == np.inf:
            return float(np.max(a.sum(axis=2)))
        return self.sv_extremes("norm", None)[0]

    def sv_extremes(self, method: str, op_dtype) -> tuple[float, float]:
        self.check_finite(f"{method}")
        a = self.stack if op_dtype is None else self.work(op_dtype)
        s = self._cached(f"svd:{a.dtype}", lambda: np.linalg.svd(a, compute_uv=False))
        return float(np.max(s[:, 0])), float(np.min(s[:, -1]))

    def eigvals(self, op_dtype) -> np.ndarray:
        self.require_square("eigvals")
        self.check_finite("eigvals")
        a = self.work(op_dtype)
        if self.hermitian().all():
            return np.linalg.eigvalsh(a).reshape(-1)
        return np.linalg.eigvals(a).reshape(-1)

    def eigen(self, method: str, op_dtype) -> _PartEigen:
        self.require_square(method)
        self.check_finite(method)
        a = self.work(op_dtype)
        return self._cached(f"eigen:{a.dtype}", lambda: _stack_eigen(a, self))


def _stack_eigen(a: np.ndarray, part: _Stack) -> _PartEigen:
    """Batched eigendecomposition of a square stack (eigh when every block is Hermitian)."""
    m = a.shape[1]
    if part.hermitian().all():
        w, V = np.linalg.eigh(a)
        vectors = _Stack(_readonly(V), part.first)
        tol = _value_tolerance(w, m)
        return _PartEigen(
            w.reshape(-1), vectors, vectors.adjoint(), 1.0, True, True, tol
        )
    w, V = np.linalg.eig(a)
    s = np.linalg.svd(V, compute_uv=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        conds = np.where(s[:, -1] > 0, s[:, 0] / s[:, -1], np.inf)
    Vinv = np.full_like(V, np.nan)
    ok = np.isfinite(conds)
    if ok.any():
        try:
            Vinv[ok] = np.linalg.inv(V[ok])
        except np.linalg.LinAlgError:
            for i in np.flatnonzero(ok):
                try:
                    Vinv[i] = np.linalg.inv(V[i])
                except np.linalg.LinAlgError:
                    conds[i] = np.inf
    return _PartEigen(
        w.reshape(-1),
        _Stack(_readonly(V), part.first),
        _Stack(_readonly(Vinv), part.first),
        float(np.max(conds)),
        False,
        False,
        _value_tolerance(w, m),
    )


def _value_tolerance(w: np.ndarray, m: int) -> np.ndarray:
    """ε·max|λ| per block (the error of computed eigenvalues), one per value."""
    eps = float(np.finfo(_real_dtype(w.dtype)).eps)
    mags = np.max(np.abs(w), axis=1).astype(np.float64)
    return np.repeat(eps * mags, m)


class _StackSolver:
    """Solves with a square stack: batched LU once, then the cached inverses.

    A single solve goes straight through ``numpy.linalg.solve`` (one batched LU,
    nothing kept: a one-off solve never pays for an inverse). From the second
    solve on (or from ``inv()``), the blocks' inverses are formed once, by one
    batched call, and each solve is one batched matmul. Blocks whose 1-norm
    condition number exceeds ``INVERSE_COND_LIMIT`` are solved through their own
    cached LU factors instead, which stay backward stable.
    """

    def __init__(self, part: _Stack, a: np.ndarray) -> None:
        self.part = part
        self.a = a
        self.k, self.m = part.k, part.m
        self.used = False
        self.inv: np.ndarray | None = None
        self.lu: dict[int, FactorSolve] = {}
        self._cast: dict = {}

    def _singular(self) -> np.linalg.LinAlgError:
        sign, _ = np.linalg.slogdet(self.a)
        bad = np.flatnonzero(sign == 0)
        if bad.size == 0:
            return np.linalg.LinAlgError(
                f"blocks {self.part.first}..{self.part.first + self.k - 1} "
                f"({self.m}×{self.m}): one is singular"
            )
        more = f" (and {bad.size - 1} more)" if bad.size > 1 else ""
        name = _block_name(self.part.first + int(bad[0]), (self.m, self.m))
        return np.linalg.LinAlgError(f"{name} is singular{more}")

    def _as(self, which: str, arr: np.ndarray, dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        if arr.dtype == dtype:
            return arr
        key = (which, dtype)
        got = self._cast.get(key)
        if got is None:
            got = self._cast[key] = _readonly(arr.astype(dtype))
        return got

    def prepare(self) -> None:
        """Form the inverses (and LU factors of ill-conditioned blocks) once."""
        if self.inv is not None:
            return
        a = self.a
        try:
            inv = np.linalg.inv(a)
        except np.linalg.LinAlgError:
            raise self._singular() from None
        conds = np.abs(a).sum(axis=1).max(axis=1) * np.abs(inv).sum(axis=1).max(axis=1)
        eps = float(np.finfo(a.dtype).eps)
        ill = np.flatnonzero(~(conds * eps <= 1))
        if ill.size:
            i = int(ill[0])
            more = f" (and {ill.size - 1} more blocks)" if ill.size > 1 else ""
            warnings.warn(
                f"{_block_name(self.part.first + i, (self.m, self.m))} is "
                f"ill-conditioned (1-norm condition number {conds[i]:.3e}){more}: "
                "the result may be inaccurate",
                sla.LinAlgWarning,
                stacklevel=5,
            )
        for i in np.flatnonzero(~(conds <= INVERSE_COND_LIMIT)).tolist():
            name = _block_name(self.part.first + i, (self.m, self.m))
            self.lu[i] = FactorSolve(np.array(a[i]), "lu", name)
        self.inv = _readonly(inv)

    def solve(self, slab: np.ndarray, dtype) -> np.ndarray:
        """``slab`` (1, k·m, K) → the solutions, same shape, in ``dtype``."""
        K = slab.shape[-1]
        if _engine.is_lazy(slab):  # a dask slab: batched LU inside its tasks
            return _engine.solve_batched(self._as("a", self.a, dtype), slab, dtype)
        if self.inv is None and not self.used:
            self.used = True
            try:
                return _engine.solve_batched(self._as("a", self.a, dtype), slab, dtype)
            except np.linalg.LinAlgError:
                raise self._singular() from None
        self.prepare()
        x = _engine.apply_batched(self._as("inv", self.inv, dtype), slab, dtype)
        if self.lu:  # ill-conditioned blocks: their LU factors, block by block
            b = _engine.cast(slab, dtype).reshape(self.k, self.m, K)
            xs = x.reshape(self.k, self.m, K)
            for i, lu in self.lu.items():
                xs[i] = lu.matmat(b[i])
        return x


class _Sparse(_Part):
    """One scipy sparse block, applied as CSR; solved by ``splu``."""

    def __init__(self, csr, first: int, user=None) -> None:
        self.csr = csr
        self.user = csr if user is None else user
        self.m, self.n = (int(s) for s in csr.shape)
        self.rows, self.cols = self.m, self.n
        self.first = first
        self.dtype = np.dtype(csr.dtype)
        self._memo: dict = {}

    def describe(self) -> str:
        return f"{self.m}×{self.n} {type(self.user).__name__} nnz={self.csr.nnz}"

    def shapes(self):
        return [(self.m, self.n)]

    def user_blocks(self) -> tuple:
        return (self.user,)

    def dense_blocks(self) -> list:
        return [self.csr.toarray()]

    def apply(self, x: np.ndarray, dtype) -> np.ndarray:
        B, _, K = x.shape
        if _engine.is_lazy(x):  # scipy's csr @ would gather a dask array
            factor = self._cached("factor", lambda: as_factor(self.csr, 0))
            return _engine.apply_product([factor], x, _engine.EngineCache(), dtype)
        return _engine.from_columns(self.csr @ _engine.as_columns(x), B, K)

    def _derived(self, mat) -> _Sparse:
        csr = sp.csr_array(mat)
        if not csr.has_canonical_format:
            csr.sum_duplicates()
        csr.data.setflags(write=False)
        return _Sparse(csr, self.first)

    def adjoint(self) -> _Sparse:
        return self._derived(self.csr.conj().T)

    def transpose(self) -> _Sparse:
        return self._derived(self.csr.T)

    def scaled(self, alpha) -> _Sparse:
        return self._derived(self.csr * alpha)

    # ---------------------------------------------------------- linalg
    @property
    def name(self) -> str:
        return _block_name(self.first, (self.m, self.n))

    def factor(self, op_dtype):
        """The block as a kronop factor (its cached per-factor linear algebra)."""
        dtype = _work_dtype(self.dtype, op_dtype)
        mat = self.csr if dtype == self.dtype else self.csr.astype(dtype)
        return self._cached(f"factor:{dtype}", lambda: as_factor(mat, self.first))

    def check_finite(self, method: str) -> None:
        if not self._cached("finite", lambda: bool(np.isfinite(self.csr.data).all())):
            raise ValueError(
                f"{call(method)}: {self.name} has non-finite entries (inf or nan)"
            )

    def hermitian(self) -> np.ndarray:
        return np.array([self.factor(self.dtype).is_hermitian()])

    def solver(self, op_dtype) -> _SparseSolver:
        self.require_square("solve")
        self.check_finite("solve")
        dtype = _work_dtype(self.dtype, op_dtype)
        return self._cached(
            f"solver:{dtype}",
            lambda: _SparseSolver(
                FactorSolve(self.csr.astype(dtype), "splu", self.name)
            ),
        )

    def slogdet(self, op_dtype) -> tuple:
        self.require_square("slogdet")
        self.check_finite("slogdet")
        f = self.factor(op_dtype)
        sign, logabs = f.slogdet()
        if f.is_hermitian() and sign != 0:
            sign = 1.0 if np.real(sign) > 0 else -1.0
        return sign, float(logabs)

    def trace(self):
        self.require_square("trace")
        return self.csr.diagonal().sum()

    def diagonal(self) -> np.ndarray:
        self.require_square("diagonal")
        return np.asarray(self.csr.diagonal())

    def norm(self, ord) -> float:
        if ord == "fro":
            return float(sparse_norm(self.csr, "fro")) ** 2
        if ord in (1, np.inf):
            return float(sparse_norm(self.csr, ord))
        return self.sv_extremes("norm", self.dtype)[0]

    def sv_extremes(self, method: str, op_dtype) -> tuple[float, float]:
        self.check_finite(method)
        s = self.factor(self.dtype if op_dtype is None else op_dtype).svd(method)[1]
        return float(s[0]), float(s[-1])

    def eigvals(self, op_dtype) -> np.ndarray:
        self.require_square("eigvals")
        self.check_finite("eigvals")
        return np.asarray(self.factor(op_dtype).eigenvalues("eigvals"))

    def eigen(self, method: str, op_dtype) -> _PartEigen:
        self.require_square(method)
        self.check_finite(method)
        dense = self.factor(op_dtype).dense(method)
        stack = _Stack(_readonly(dense[None]), self.first)
        return stack.eigen(method, dense.dtype)


class _SparseSolver:
    def __init__(self, fs: FactorSolve) -> None:
        self.fs = fs

    def prepare(self) -> None:
        return None  # factorized on construction (raises when singular)

    def solve(self, slab: np.ndarray, dtype) -> np.ndarray:
        B, _, K = slab.shape
        if _engine.is_lazy(slab):  # the LU solve inside the tasks, whole columns
            factor = as_factor(self.fs, 0)
            return _engine.apply_product([factor], slab, _engine.EngineCache(), dtype)
        y = self.fs.matmat(_engine.as_columns(_engine.cast(slab, dtype)))
        return _engine.from_columns(np.asarray(y), B, K)


class _Operator(_Part):
    """One ``LinearOperator`` block: a kronop operator (its own structure) or opaque."""

    def __init__(self, op: LinearOperator, first: int, user=None) -> None:
        self.op = op
        self.user = op if user is None else user
        self.m, self.n = (int(s) for s in op.shape)
        self.rows, self.cols = self.m, self.n
        self.first = first
        self.dtype = _normalise_dtype(op.dtype, f"block {first}")
        self.kronop = isinstance(op, StructuredOperator)
        # scipy's own operators may hand back their input (an identity) or a cache
        self.fresh_result = self.kronop
        self._memo: dict = {}

    def describe(self) -> str:
        return f"{self.m}×{self.n} {type(self.op).__name__}"

    def shapes(self):
        return [(self.m, self.n)]

    def user_blocks(self) -> tuple:
        return (self.user,)

    def dense_blocks(self) -> list:
        op = self.op
        if hasattr(op, "toarray"):
            return [np.asarray(op.toarray())]
        return [np.asarray(op.matmat(np.eye(self.n, dtype=self.dtype)))]

    def apply(self, x: np.ndarray, dtype) -> np.ndarray:
        return _apply_operator(self.op, x)

    def adjoint(self) -> _Operator:
        return _Operator(self.op.H, self.first)

    def transpose(self) -> _Operator:
        return _Operator(self.op.T, self.first)

    def scaled(self, alpha) -> _Operator:
        if self.kronop:
            return _Operator(self.op._scaled(alpha), self.first)
        out = _ScaledLinearOperator(self.op, alpha)
        # NumPy's weak-scalar rule (scipy 1.17 declares float64 for float32 × 0.5)
        out.dtype = np.result_type(self.dtype, alpha)
        return _Operator(out, self.first)

    # ---------------------------------------------------------- linalg
    @property
    def name(self) -> str:
        return _block_name(self.first, (self.m, self.n))

    def method(self, name: str, hint: str = "") -> Callable:
        """The kronop block's own ``name`` method, or ``TypeError`` naming the block."""
        fn = getattr(self.op, name, None) if self.kronop else None
        if fn is None:
            raise TypeError(
                f"{call(name)} needs the entries or a factorization of every block, but "
                f"{self.name} is a {type(self.op).__name__} with no matrix behind it"
                f"{hint}; pass the block as an ndarray, a sparse matrix or a kronop "
                "operator"
            )
        return fn

    def hermitian(self) -> np.ndarray:
        return np.array([False])

    def solver(self, op_dtype) -> _OperatorSolver:
        self.require_square("solve")
        hint = (
            " (BlockDiag never densifies an operator silently); or solve the whole "
            "system iteratively with scipy.sparse.linalg.gmres (cg for a Hermitian "
            "positive definite operator), which only needs products"
        )
        return _OperatorSolver(self, self.method("solve", hint))

    def slogdet(self, op_dtype) -> tuple:
        self.require_square("slogdet")
        with _BlockError(self.name):
            sign, logabs = self.method("slogdet")()
        return sign, float(logabs)

    def trace(self):
        self.require_square("trace")
        with _BlockError(self.name):
            return self.method("trace")()

    def diagonal(self) -> np.ndarray:
        self.require_square("diagonal")
        with _BlockError(self.name):
            return np.asarray(self.method("diagonal")())

    def norm(self, ord) -> float:
        with _BlockError(self.name):
            value = float(self.method("norm")(ord))
        return value**2 if ord == "fro" else value

    def sv_extremes(self, method: str, op_dtype) -> tuple[float, float]:
        with _BlockError(self.name):
            smax = float(self.method("norm")(2))
            cond = float(self.method("cond")())
        # σ_min = σ_max / κ₂ (0 for a rank-deficient block, κ = ∞)
        return smax, (0.0 if not np.isfinite(cond) or cond == 0 else smax / cond)

    def eigvals(self, op_dtype) -> np.ndarray:
        self.require_square("eigvals")
        with _BlockError(self.name):
            return np.asarray(self.method("eigvals")())

    def eigen(self, method: str, op_dtype) -> _PartEigen:
        self.require_square(method)
        fn = self.method(method)

        def build():
            with _BlockError(self.name), warnings.catch_warnings():
                # the eigenvector warning is issued once, for the whole operator
                warnings.simplefilter("ignore", sla.LinAlgWarning)
                dec = fn()
            if tuple(getattr(dec, "det_offset", (1.0, 0.0))) != (1.0, 0.0):
                raise ValueError(
                    f"{call(method)}: {self.name} gives a congruence, not an "
                    "eigendecomposition"
                )
            n = self.m
            tol = np.broadcast_to(
                np.asarray(dec.values.null_tolerance(), dtype=np.float64), (n,)
            )
            return _PartEigen(
                np.asarray(dec.values),
                _Operator(dec.vectors, self.first),
                _Operator(dec.inverse, self.first),
                float(dec.vector_cond),
                bool(dec.unitary),
                bool(dec.hermitian),
                np.array(tol),
            )

        return self._cached(f"eigen:{method}", build)


class _OperatorSolver:
    def __init__(self, part: _Operator, solve) -> None:
        self.part = part
        self.fn = solve

    def prepare(self) -> None:
        with _BlockError(self.part.name):
            inv = getattr(self.part.op, "inv", None)
            if inv is not None:
                inv()  # raises now (LinAlgError) when the block is singular

    def solve(self, slab: np.ndarray, dtype) -> np.ndarray:
        B, _, K = slab.shape
        if not self.part.kronop:  # an opaque solve would gather a dask array
            _engine.numpy_only(slab, f"solve with {self.part.name}")
        with _BlockError(self.part.name):
            y = self.fn(_engine.as_columns(slab))
        if not _engine.is_lazy(y):
            y = np.asarray(y)
        return _engine.from_columns(_engine.cast(y, dtype), B, K)


class _PartEigen:
    """One part's eigendecomposition: values, V and V⁻¹ as parts, κ(V), tolerances."""

    __slots__ = ("cond", "hermitian", "inverse", "tol", "unitary", "values", "vectors")

    def __init__(self, values, vectors, inverse, cond, unitary, hermitian, tol):
        self.values = values
        self.vectors = vectors
        self.inverse = inverse
        self.cond = cond
        self.unitary = unitary
        self.hermitian = hermitian
        self.tol = tol


def _parts_from_blocks(blocks) -> list[_Part]:
    """Validated user blocks as parts; consecutive equal dense blocks become stacks."""
    parts: list[_Part] = []
    run: list[tuple[int, np.ndarray]] = []

    def close_run() -> None:
        if not run:
            return
        first = run[0][0]
        arrays = [a for _, a in run]
        if len(arrays) == 1:
            stack = _readonly(arrays[0][None])  # a view: one block is never copied
        else:
            stack = _readonly(np.stack(arrays))
        parts.append(_Stack(stack, first, tuple(arrays)))
        run.clear()

    for i, obj in enumerate(blocks):
        kind, payload, user = _validate_block(obj, i)
        if kind == "dense":
            if run and run[0][1].shape != payload.shape:
                close_run()
            run.append((i, payload))
            continue
        close_run()
        if kind == "sparse":
            parts.append(_Sparse(payload, i, user))
        else:
            parts.append(_Operator(payload, i, user))
    close_run()
    return parts


# ---------------------------------------------------------------------------
# The operator
# ---------------------------------------------------------------------------
class BlockDiag(Factorized, StructuredOperator):
    r"""Lazy block-diagonal operator diag(B₁, …, B_k).

    Parameters
    ----------
    blocks : list of blocks, or ndarray of shape (k, m, n)
        The diagonal blocks, top-left first. A block is a 2-D ndarray, a scipy
        sparse matrix or array, any ``LinearOperator``, or a kronop operator
        (which keeps its structure: a ``KronOperator`` block multiplies and
        solves through its factors). Blocks may be rectangular. A 3-D array holds
        k equal m×n blocks; consecutive dense blocks of one shape in a list are
        stacked into the same form (copied once). Integer and boolean blocks
        become float64.

    Attributes
    ----------
    blocks : tuple or ndarray
        The user's blocks (for a 3-D array, a read-only view of it).
    shape : tuple of int
        ``(Σ mᵢ, Σ nᵢ)``.
    dtype : numpy.dtype
        ``np.result_type`` of the blocks.

    Raises
    ------
    ValueError
        If there is no block, a block is not 2-D or is empty, or ``blocks`` is
        an array that is not 3-D.
    TypeError
        If a block has a non-numeric dtype or is an operator without a dtype.

    See Also
    --------
    scipy.linalg.block_diag : the dense matrix this operator equals.

    Notes
    -----
    With :math:`x = (x_1; \dots; x_k)` split by the blocks' column counts,

    .. math:: \operatorname{diag}(B_1, \dots, B_k)\,x = (B_1 x_1; \dots; B_k x_k),

    so a product costs the sum of the blocks' products. k equal dense blocks
    act as one batched matmul: x of shape (N, K) is viewed as (k, n, K) and
    multiplied by the (k, m, n) stack, with no Python loop over the blocks.

    For square blocks everything spectral splits block by block:
    :math:`\det A = \prod_i \det B_i` (the sign is the exact product of the
    blocks' signs), :math:`A^{-1} = \operatorname{diag}(B_i^{-1})`, the
    eigenvalues are those of the blocks in block order, and the eigenvectors
    are diag(V₁, …, V_k). Norms follow from the blocks:
    :math:`\|A\|_F^2 = \sum_i \|B_i\|_F^2` and
    :math:`\|A\|_p = \max_i \|B_i\|_p` for p = 1, 2, ∞; the 2-norm condition
    number is :math:`\max_i \sigma_{\max}(B_i) / \min_i \sigma_{\min}(B_i)`.

    Each block keeps its own factorization: dense stacks a batched LU (a single
    solve) and then their cached inverses (one batched matmul per solve; blocks
    with κ₁ > 10⁶ keep their LU factors instead), sparse blocks ``splu``,
    kronop blocks their own ``solve`` and ``slogdet``. A plain
    ``LinearOperator`` block multiplies but cannot be solved directly (use an
    iterative solver on the whole operator). Eigendecompositions, 2-norms and
    condition numbers of a sparse block come from its dense matrix (m×m for an
    m×m block: fine for the many-small-blocks case, costly for one huge block).

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.linalg as sla
    >>> from kronop.blockdiag import BlockDiag
    >>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
    >>> B = np.array([[4.0]])
    >>> D = BlockDiag([A, B])
    >>> D.shape
    (3, 3)
    >>> x = np.array([1.0, 2.0, 3.0])
    >>> bool(np.allclose(D @ x, sla.block_diag(A, B) @ x))
    True
    >>> bool(np.allclose(D @ D.solve(x), x))
    True

    A (k, m, n) array multiplies as one batched matmul:

    >>> stack = np.stack([np.eye(2) * (i + 1) for i in range(3)])
    >>> print(BlockDiag(stack) @ np.ones(6))
    [1. 1. 2. 2. 3. 3.]
    """

    def __init__(self, blocks: Any) -> None:
        if isinstance(blocks, np.ndarray):
            parts: list[_Part] = [
                _Stack(_stack_from_array(blocks), 0, None, as_array=True)
            ]
        elif isinstance(blocks, LinearOperator) or sp.issparse(blocks):
            raise TypeError(
                "blocks must be a list of blocks or a (k, m, n) array, got a "
                f"{type(blocks).__name__}; for one block, pass a list: BlockDiag([A])"
            )
        else:
            try:
                blocks = list(blocks)
            except TypeError:
                raise TypeError(
                    "blocks must be a list of blocks or a (k, m, n) array, got "
                    f"{type(blocks).__name__}"
                ) from None
            if not blocks:
                raise ValueError("BlockDiag needs at least one block, got none")
            parts = _parts_from_blocks(blocks)
        self._init_from(parts)

    @classmethod
    def _from_parts(cls, parts: list[_Part]) -> BlockDiag:
        self = cls.__new__(cls)
        self._init_from(list(parts))
        return self

    def _init_from(self, parts: list[_Part]) -> None:
        self._parts = tuple(parts)
        rows = sum(p.rows for p in parts)
        cols = sum(p.cols for p in parts)
        super().__init__(np.result_type(*(p.dtype for p in parts)), (rows, cols))

    # ----------------------------------------------------------------- basics
    @property
    def blocks(self) -> tuple | np.ndarray:
        """The user's blocks: a tuple, or for a (k, m, n) array a read-only view.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.blockdiag import BlockDiag
        >>> A = np.eye(2)
        >>> BlockDiag([A, np.ones((1, 3))]).blocks[0] is A
        True
        >>> BlockDiag(np.zeros((4, 2, 2))).blocks.flags.writeable
        False
        """
        if len(self._parts) == 1 and getattr(self._parts[0], "as_array", False):
            return self._parts[0].stack
        out: list = []
        for p in self._parts:
            out.extend(p.user_blocks())
        return tuple(out)

    @property
    def nblocks(self) -> int:
        """k, the number of diagonal blocks.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.blockdiag import BlockDiag
        >>> BlockDiag(np.zeros((5, 2, 3))).nblocks
        5
        """
        return sum(len(p.shapes()) for p in self._parts)

    @property
    def block_shapes(self) -> tuple[tuple[int, int], ...]:
        """The (mᵢ, nᵢ) of every block, in order.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.blockdiag import BlockDiag
        >>> BlockDiag([np.ones((2, 3)), np.ones((1, 1))]).block_shapes
        ((2, 3), (1, 1))
        """
        out: list = []
        for p in self._parts:
            out.extend(p.shapes())
        return tuple(out)

    def __repr__(self) -> str:
        inner = ", ".join(p.describe() for p in self._parts)
        return f"BlockDiag({inner}, dtype={self.dtype})"

    def _args(self) -> tuple:
        b = self.blocks
        return tuple(b) if isinstance(b, tuple) else (b,)

    # --------------------------------------------------------------- products
    def _apply(self, x: np.ndarray) -> np.ndarray:
        dtype = _engine.compute_dtype(self.dtype, x.dtype)
        if len(self._parts) == 1 and self._parts[0].fresh_result:
            return _engine.finish(self._parts[0].apply(x, dtype), dtype)
        appliers = [
            (partial(p.apply, dtype=dtype), p.rows, p.cols) for p in self._parts
        ]
        return _engine.apply_blocks(appliers, x, self.shape[0], self.dtype)

    def _scaled(self, alpha) -> BlockDiag:
        """α·diag(Bᵢ) = diag(α·Bᵢ): the scalar folds into every block."""
        return BlockDiag._from_parts([p.scaled(alpha) for p in self._parts])

    def _make_adjoint(self) -> BlockDiag:
        return BlockDiag._from_parts([p.adjoint() for p in self._parts])

    def _make_transpose(self) -> BlockDiag:
        return BlockDiag._from_parts([p.transpose() for p in self._parts])

    def toarray(self) -> np.ndarray:
        """The dense matrix, ``scipy.linalg.block_diag`` of the dense blocks.

        Returns
        -------
        numpy.ndarray
            Shape ``self.shape``, dtype ``self.dtype`` (for checking: it forms every
            entry).

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.blockdiag import BlockDiag
        >>> print(BlockDiag([np.ones((1, 2)), 2 * np.eye(1)]).toarray())
        [[1. 1. 0.]
         [0. 0. 2.]]
        """
        dense: list = []
        for p in self._parts:
            dense.extend(p.dense_blocks())
        return np.asarray(sla.block_diag(*dense), dtype=self.dtype)

    # ------------------------------------------------------------ linear algebra
    def _require_square(self, method: str) -> None:
        for p in self._parts:
            p.require_square(method)

    def _factorize(self) -> BlockFactorization:
        self._require_square("solve")
        return BlockFactorization(self._parts, self.shape, self.dtype)

    @overload
    def solve(self, b: DaskArray) -> DaskArray: ...
    @overload
    def solve(self, b: ArrayLike) -> np.ndarray: ...
    def solve(self, b):
        """Solve ``A x = b`` block by block.

        Parameters
        ----------
        b : array_like, shape (N,) or (N, k)

        Returns
        -------
        numpy.ndarray or dask.array.Array
            Same shape as ``b`` (lazy, chunked like ``b``, for a dask ``b``); dtype ``np.result_type(A.dtype, b.dtype)``.

        Raises
        ------
        ValueError
            If ``b`` has the wrong shape, or a block is not square or not finite.
        numpy.linalg.LinAlgError
            If a block is singular (the message names it).
        TypeError
            If a block is a ``LinearOperator`` with no matrix behind it.

        Notes
        -----
        xᵢ = Bᵢ⁻¹ bᵢ with each block's own factorization (see the class notes):
        a stack of equal dense blocks is solved by one batched LU the first time
        and by one batched matmul with the cached inverses afterwards.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop import KronOperator
        >>> from kronop.blockdiag import BlockDiag
        >>> K = KronOperator(np.array([[2.0, 1.0], [0.0, 1.0]]), 3 * np.eye(2))
        >>> D = BlockDiag([K, np.array([[5.0]])])
        >>> b = np.arange(5.0)
        >>> bool(np.allclose(D @ D.solve(b), b))
        True
        """
        return super().solve(b)

    def inv(self) -> LinearOperator:
        """The inverse diag(Bᵢ⁻¹) as a lazy operator (cached).

        Every block's factorization is formed now, so a singular block raises
        here.

        Returns
        -------
        LinearOperator

        Raises
        ------
        numpy.linalg.LinAlgError
            If a block is singular (the message names it).

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.blockdiag import BlockDiag
        >>> D = BlockDiag(np.stack([2 * np.eye(2), 4 * np.eye(2)]))
        >>> print(D.inv() @ np.ones(4))
        [0.5  0.5  0.25 0.25]
        """
        return super().inv()

    def slogdet(self) -> tuple:
        """Sign and natural log of |det A| = ∏ |det Bᵢ|, as ``numpy.linalg.slogdet``.

        Each block by its own LU (one batched call for a stack), ``splu`` for a
        large sparse block, its own ``slogdet`` for a kronop block. The sign is
        the exact product of the blocks' signs (±1 for a real operator, a unit
        phase for a complex one); nothing is clamped.

        Returns
        -------
        sign : float or complex
        logabsdet : float

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.blockdiag import BlockDiag
        >>> D = BlockDiag([np.array([[-2.0]]), np.diag([3.0, 0.5])])
        >>> sign, logabs = D.slogdet()
        >>> print(sign, round(float(np.exp(logabs)), 6))
        -1.0 3.0
        """
        self._require_square("slogdet")
        signs, logabs = [], 0.0
        for p in self._parts:
            s, la = p.slogdet(self.dtype)
            if s == 0:
                return 0.0, -np.inf
            signs.append(s)
            logabs += la
        real = self.dtype.kind != "c"
        return sign_like(_combine_signs(signs, real), real, self.dtype), float(logabs)

    def det(self):
        """The determinant ∏ det Bᵢ (±inf past the floating-point range, like numpy).

        Returns
        -------
        float or complex

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.blockdiag import BlockDiag
        >>> print(round(BlockDiag([np.array([[-2.0]]), np.eye(2) * 3]).det(), 6))
        -18.0
        """
        return super().det()

    def logdet(self):
        """log det A = Σ log det Bᵢ: a float when det A > 0, else the principal log.

        Returns
        -------
        float or complex
            ``-inf`` when a block is singular.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.blockdiag import BlockDiag
        >>> print(round(BlockDiag([np.eye(2) * np.e, np.array([[1.0]])]).logdet(), 6))
        2.0
        """
        return super().logdet()

    def trace(self):
        """tr A = Σ tr Bᵢ (square blocks).

        Returns
        -------
        scalar

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.blockdiag import BlockDiag
        >>> print(BlockDiag(np.stack([np.eye(2), 3 * np.eye(2)])).trace())
        8.0
        """
        self._require_square("trace")
        total = sum(p.trace() for p in self._parts)
        return self.dtype.type(total)

    def diagonal(self) -> np.ndarray:
        """The main diagonal: the blocks' diagonals one after another (square blocks).

        Returns
        -------
        numpy.ndarray
            Length N, dtype ``self.dtype``.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.blockdiag import BlockDiag
        >>> print(BlockDiag([np.diag([1.0, 2.0]), np.array([[7.0]])]).diagonal())
        [1. 2. 7.]
        """
        self._require_square("diagonal")
        return np.concatenate([p.diagonal() for p in self._parts]).astype(
            self.dtype, copy=False
        )

    def norm(self, ord: str | float = "fro") -> float:
        r"""Matrix norm from the blocks: ``"fro"``, ``1``, ``2`` or ``inf``.

        Parameters
        ----------
        ord : {"fro", 1, 2, inf}

        Returns
        -------
        float

        Notes
        -----
        :math:`\|A\|_F = (\sum_i \|B_i\|_F^2)^{1/2}`; the 1-, 2- and ∞-norms are
        the largest of the blocks' (a column, a singular value, a row belongs to
        one block). Any block shape. NaN and inf entries propagate into
        ``"fro"``, 1 and ∞ as in ``numpy.linalg.norm``; 2 needs an SVD and raises
        ``ValueError`` for them.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.blockdiag import BlockDiag
        >>> D = BlockDiag([3 * np.eye(1), 4 * np.eye(1)])
        >>> print(D.norm(), D.norm(2))
        5.0 4.0
        """
        if isinstance(ord, str):
            ord = np.inf if ord == "inf" else ord
        if not (ord == "fro" or (not isinstance(ord, str) and ord in (1, 2, np.inf))):
            raise ValueError(f"ord must be 'fro', 1, 2 or inf, got {ord!r}")
        values = np.array([p.norm(ord) for p in self._parts], dtype=np.float64)
        if ord == "fro":
            return float(np.sqrt(np.sum(values)))
        return float(np.max(values))

    def cond(self) -> float:
        """2-norm condition number max σ / min σ over all blocks' singular values.

        Infinite when a block is rank-deficient (or, for rectangular blocks, when
        the blocks have fewer singular values than min(M, N)).

        Returns
        -------
        float

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.blockdiag import BlockDiag
        >>> print(BlockDiag([np.diag([1.0, 2.0]), np.array([[8.0]])]).cond())
        8.0
        """
        if sum(min(s) for s in self.block_shapes) < min(self.shape):
            return np.inf
        hi, lo = 0.0, np.inf
        for p in self._parts:
            smax, smin = p.sv_extremes("cond", self.dtype)
            hi, lo = max(hi, smax), min(lo, smin)
        return np.inf if lo == 0 else hi / lo

    # ----------------------------------------------------------------- spectra
    def _eigen(self, method: str) -> BlockEigen:
        def build() -> BlockEigen:
            self._require_square(method)
            parts = [p.eigen(method, self.dtype) for p in self._parts]
            V = BlockDiag._from_parts([e.vectors for e in parts])
            Vinv = BlockDiag._from_parts([e.inverse for e in parts])
            unitary = all(e.unitary for e in parts)
            return BlockEigen(
                BlockEigenvalues([e.values for e in parts], [e.tol for e in parts]),
                V,
                Vinv,
                hermitian=all(e.hermitian for e in parts),
                vector_cond=max(e.cond for e in parts),
                real=self.dtype.kind != "c",
                unitary=unitary,
                dtype=self.dtype,
            )

        return self._cached(f"eigen:{method}", build)

    def eigh(self) -> BlockEigen:
        """Eigendecomposition of a block-diagonal operator of Hermitian blocks.

        Returns
        -------
        BlockEigen
            Unpacks as ``w, V``: ``np.asarray(w)`` holds the blocks' eigenvalues
            in block order (ascending within a dense block), ``V`` = diag(Vᵢ) is a
            unitary ``BlockDiag`` (a kronop block keeps its structured Vᵢ). Also
            ``solve(b, shift)``, ``logdet(shift)``, ``apply(f)``, ``shift(σ)`` and
            ``eigvals(k, which)``.

        Raises
        ------
        ValueError
            If a block is not square, not Hermitian or not finite (named).
        TypeError
            If a block is a ``LinearOperator`` with no matrix behind it.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.blockdiag import BlockDiag
        >>> D = BlockDiag([np.diag([2.0, 1.0]), np.array([[5.0]])])
        >>> w, V = D.eigh()
        >>> print(np.asarray(w))
        [1. 2. 5.]
        """
        for p in self._parts:
            p.require_square("eigh")
            if isinstance(p, _Stack | _Sparse):
                p.check_finite("eigh")
                herm = p.hermitian()
                if not herm.all():
                    i = p.first + int(np.flatnonzero(~herm)[0])
                    shape = p.shapes()[0]
                    raise ValueError(
                        f"eigh() needs Hermitian blocks, but "
                        f"{_block_name(i, shape)} is not Hermitian; use eig()"
                    )
        return self._eigen("eigh")

    def eig(self) -> BlockEigen:
        """Eigendecomposition of a block-diagonal operator of square blocks.

        Hermitian blocks use ``eigh``; others ``eig``, with κ₂ of their
        eigenvector matrices recorded: ``vector_cond`` is the largest over the
        blocks (a block's results lose digits with its own κ, the blocks do not
        mix). Results computed through V lose about log₁₀ κ digits: this warns
        (``LinAlgWarning``) past half the digits of the dtype; :meth:`solve` and
        :meth:`slogdet` use LU and stay accurate.

        Returns
        -------
        BlockEigen
            As :meth:`eigh`; ``V`` need not be unitary.

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.blockdiag import BlockDiag
        >>> D = BlockDiag([np.array([[2.0, 1.0], [0.0, 3.0]]), np.array([[-1.0]])])
        >>> print(np.sort(D.eig().eigvals().real))
        [-1.  2.  3.]
        """
        dec = self._eigen("eig")
        dec.warn_vectors("eig()")
        return dec

    def eigvals(self, k: int | None = None, which: str = "LA") -> np.ndarray:
        """Eigenvalues: all N in block order, or the k extreme ones sorted.

        Parameters
        ----------
        k : int, optional
            Return only the k most extreme.
        which : {"LA", "SA", "LM", "SM"}
            Largest/smallest algebraic, largest/smallest magnitude.

        Returns
        -------
        numpy.ndarray

        Examples
        --------
        >>> import numpy as np
        >>> from kronop.blockdiag import BlockDiag
        >>> D = BlockDiag(np.stack([np.diag([1.0, 4.0]), np.diag([2.0, 3.0])]))
        >>> print(D.eigvals(2, "LA"))
        [4. 3.]
        """
        self._require_square("eigvals")
        w = np.concatenate([p.eigvals(self.dtype) for p in self._parts])
        if k is None:
            return w
        return _extreme(w, k, which)


def _extreme(w: np.ndarray, k, which: str) -> np.ndarray:
    N = len(w)
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or not 1 <= k <= N:
        raise ValueError(f"k must be an integer between 1 and N={N}, got {k!r}")
    if which not in ("LA", "SA", "LM", "SM"):
        raise ValueError(f"which must be 'LA', 'SA', 'LM' or 'SM', got {which!r}")
    return _engine.k_extreme(w, int(k), partial(_order_key, which=which))


# ---------------------------------------------------------------------------
# Factorization and eigendecomposition
# ---------------------------------------------------------------------------
class BlockFactorization(Factorization):
    """The blocks' own factorizations, side by side (what ``solve``/``inv`` use).

    Parameters
    ----------
    parts : sequence
        The operator's runs of blocks (internal).
    shape : tuple of int
    dtype : numpy.dtype

    Examples
    --------
    >>> import numpy as np
    >>> from kronop.blockdiag import BlockDiag
    >>> f = BlockDiag([2 * np.eye(2), np.array([[4.0]])]).factorization()
    >>> print(f.solve(np.ones(3)), f.slogdet()[0])
    [0.5  0.5  0.25] 1.0
    """

    def __init__(self, parts, shape, dtype) -> None:
        self._parts = tuple(parts)
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self._solvers = [p.solver(self.dtype) for p in self._parts]

    def solve(self, b: np.ndarray) -> np.ndarray:
        """x with A x = b, for b of shape (N,) or (N, k)."""
        b = check_rhs(b, self.shape[0])
        shape = b.shape
        B = b.reshape(1, shape[0], -1)
        dtype = _engine.compute_dtype(self.dtype, b.dtype)
        if B.shape[-1] == 0:
            return np.zeros(shape, dtype=dtype)
        if len(self._solvers) == 1:
            y = self._solvers[0].solve(B, dtype)
        else:
            appliers = [
                (partial(s.solve, dtype=dtype), p.rows, p.rows)
                for s, p in zip(self._solvers, self._parts, strict=True)
            ]
            y = _engine.apply_blocks(appliers, B, self.shape[0], self.dtype)
        return _engine.finish(y, dtype).reshape(shape)

    def inverse_operator(self) -> LinearOperator:
        """A⁻¹ as a lazy operator (raises ``LinAlgError`` when a block is singular)."""
        for s in self._solvers:
            s.prepare()
        return SolveOperator(self, self.shape, self.dtype)

    def adjoint(self) -> BlockFactorization:
        """The factorization of Aᴴ."""
        return BlockFactorization(
            [p.adjoint() for p in self._parts], self.shape[::-1], self.dtype
        )

    def transpose(self) -> BlockFactorization:
        """The factorization of Aᵀ."""
        return BlockFactorization(
            [p.transpose() for p in self._parts], self.shape[::-1], self.dtype
        )

    def slogdet(self) -> tuple:
        """``(sign, log|det A|)`` from the blocks."""
        return BlockDiag._from_parts(list(self._parts)).slogdet()


class BlockEigenvalues(EigenvalueVector):
    """Eigenvalues of a block-diagonal operator: the blocks' spectra, concatenated.

    ``np.asarray(w)`` is the length-N vector in block order (cached, read-only);
    ``w.factors`` are the per-part spectra; ``w.shift`` is added to every value.

    Parameters
    ----------
    parts : list of ndarray
        Eigenvalues of consecutive runs of blocks.
    tolerances : list of ndarray
        Per value, the error its computation carries (ε‖Bᵢ‖ for its block):
        a value this close to zero is zero to working precision.
    shift : scalar, optional

    Examples
    --------
    >>> import numpy as np
    >>> from kronop.blockdiag import BlockDiag
    >>> w, _ = BlockDiag([np.diag([1.0, 2.0]), np.array([[3.0]])]).eigh()
    >>> print(np.asarray(w.shifted(1.0)))
    [2. 3. 4.]
    """

    def __init__(self, parts, tolerances, shift=0.0) -> None:
        self.factors = tuple(_readonly(np.asarray(p)) for p in parts)
        self.tolerances = tuple(np.asarray(t, dtype=np.float64) for t in tolerances)
        self.shift = shift
        self._full: np.ndarray | None = None
        self._store: dict = {}

    @property
    def size(self) -> int:
        """N."""
        return sum(len(f) for f in self.factors)

    def _build(self) -> np.ndarray:
        return np.concatenate(self.factors)

    def __repr__(self) -> str:
        shift = f" + {self.shift}" if self.shift != 0 else ""
        return f"BlockEigenvalues(N={self.size}{shift})"

    def shifted(self, sigma) -> BlockEigenvalues:
        """The eigenvalues of the operator plus ``sigma·I``."""
        out = BlockEigenvalues(self.factors, self.tolerances, self.shift + sigma)
        out._store = self._store
        return out

    def conj(self) -> BlockEigenvalues:
        """The conjugate eigenvalues (of the adjoint)."""
        if np.isrealobj(self.shift) and all(np.isrealobj(f) for f in self.factors):
            return self
        return BlockEigenvalues(
            [np.conj(f) for f in self.factors], self.tolerances, np.conj(self.shift)
        )

    def null_bound(self) -> tuple:
        """``(base, a, b)``: value i is zero when |λᵢ + shift| ≤ a·base[i] + b.

        ``base`` holds each value's own error (ε‖Bᵢ‖ of its block), ``a`` = 1 and
        ``b`` = ε|shift|.
        """
        base = self._store.get("tol")
        if base is None:
            base = np.concatenate(self.tolerances)
            base.setflags(write=False)
            self._store["tol"] = base
        eps = float(np.finfo(_real_dtype(_engine.compute_dtype(*self.factors))).eps)
        return base, 1.0, eps * abs(self.shift)

    def null_tolerance(self) -> np.ndarray:
        """The bound of :meth:`null_bound`, one per value."""
        base, a, b = self.null_bound()
        return _engine.affine(base, a, b)

    def slog_sum(self) -> tuple:
        """``(sign, Σ log|wᵢ|)``; sign ±1 for real values, a unit phase otherwise."""
        real = all(np.isrealobj(f) for f in self.factors) and np.isrealobj(self.shift)
        negatives, logabs, phase = _engine.log_abs_sum(
            [(self.base(), 1, self.shift)], real
        )
        if logabs == -np.inf:
            return 0.0, -np.inf
        if real:
            return (-1.0 if negatives % 2 else 1.0), logabs
        phase = math.remainder(phase, 2 * math.pi)
        return complex(math.cos(phase), math.sin(phase)), logabs

    def extreme(self, k: int, which: str = "LA") -> np.ndarray:
        """The k extreme eigenvalues, sorted (``"LA"``, ``"SA"``, ``"LM"``, ``"SM"``)."""
        return _extreme(self.full(), k, which)


class BlockEigen(KronEigen):
    r"""Eigendecomposition of a block-diagonal operator, kept block by block.

    Unpacks as ``w, V = decomposition``: ``w`` a :class:`BlockEigenvalues` (the
    blocks' eigenvalues in block order), ``V`` = diag(V₁, …, V_k) a
    :class:`BlockDiag` (kronop blocks keep their structured eigenvectors). It
    offers what :class:`~kronop.KronEigen` offers: ``values``, ``vectors``,
    ``solve(b, shift=0.0)``, ``logdet(shift=0.0)``, ``apply(f)``, ``shift(σ)``,
    ``eigvals(k, which)``, ``vector_cond`` and the same eigenvector policy.

    Notes
    -----
    With :math:`B_i = V_i \Lambda_i V_i^{-1}`,

    .. math:: (A + \sigma I)^{-1} b = V (\Lambda + \sigma)^{-1} V^{-1} b, \qquad
              V = \operatorname{diag}(V_i),

    one block-diagonal product on each side and a length-N division.
    ``vector_cond`` is :math:`\max_i \kappa_2(V_i)`: block i's results carry its
    own κ(Vᵢ)·ε, since the blocks never mix.

    Examples
    --------
    >>> import numpy as np
    >>> from kronop.blockdiag import BlockDiag
    >>> D = BlockDiag([np.array([[2.0, 1.0], [1.0, 2.0]]), np.array([[4.0]])])
    >>> dec = D.eigh()
    >>> x = dec.solve(np.ones(3), shift=1.0)
    >>> bool(np.allclose(D @ x + x, 1.0))
    True
    """

    def __repr__(self) -> str:
        return f"BlockEigen({self.values!r}, hermitian={self.hermitian})"


# ---------------------------------------------------------------------------
# Rules: what A + B and A @ B are when both are block-diagonal
# ---------------------------------------------------------------------------
def _block_objects(D: BlockDiag) -> list:
    """Every block as the object its products use (ndarray, CSR or operator)."""
    out: list = []
    for p in D._parts:
        if isinstance(p, _Stack):
            out.extend(p.stack[i] for i in range(p.k))
        elif isinstance(p, _Sparse):
            out.append(p.csr)
        else:
            out.append(p.op)
    return out


def _single_stack(D: BlockDiag) -> np.ndarray | None:
    if len(D._parts) == 1 and isinstance(D._parts[0], _Stack):
        return D._parts[0].stack
    return None


def _as_operator(a) -> LinearOperator:
    return a if isinstance(a, LinearOperator) else aslinearoperator(a)


def _pair_product(a, b):
    if isinstance(a, LinearOperator) or isinstance(b, LinearOperator):
        return _as_operator(a) @ _as_operator(b)  # kronop's rules, else scipy's
    out = a @ b
    return sp.csr_array(out) if sp.issparse(out) else np.asarray(out)


def _pair_sum(a, b):
    if isinstance(a, LinearOperator) or isinstance(b, LinearOperator):
        return _as_operator(a) + _as_operator(b)
    if sp.issparse(a) and sp.issparse(b):
        return sp.csr_array(a + b)
    return np.asarray((a.toarray() if sp.issparse(a) else a) + b)


def _blockdiag_product(a: BlockDiag, b: BlockDiag):
    """diag(Aᵢ) diag(Bᵢ) = diag(AᵢBᵢ) when the partitions conform."""
    sa, sb = a.block_shapes, b.block_shapes
    if len(sa) != len(sb) or any(x[1] != y[0] for x, y in zip(sa, sb, strict=True)):
        return NotImplemented
    ta, tb = _single_stack(a), _single_stack(b)
    if ta is not None and tb is not None:
        return BlockDiag(np.matmul(ta, tb))  # one batched matmul
    return BlockDiag(
        [
            _pair_product(x, y)
            for x, y in zip(_block_objects(a), _block_objects(b), strict=True)
        ]
    )


def _blockdiag_sum(a: BlockDiag, b: BlockDiag):
    """diag(Aᵢ) + diag(Bᵢ) = diag(Aᵢ + Bᵢ) for blocks of the same shapes."""
    if a.block_shapes != b.block_shapes:
        return NotImplemented
    ta, tb = _single_stack(a), _single_stack(b)
    if ta is not None and tb is not None:
        return BlockDiag(ta + tb)
    return BlockDiag(
        [
            _pair_sum(x, y)
            for x, y in zip(_block_objects(a), _block_objects(b), strict=True)
        ]
    )


def _shifted_part(p: _Part, sigma) -> _Part:
    if isinstance(p, _Stack):
        eye = np.eye(p.m, dtype=p.dtype)
        return _Stack(_readonly(p.stack + sigma * eye), p.first, None, p.as_array)
    if isinstance(p, _Sparse):
        eye = sp.eye_array(p.m, dtype=p.dtype, format="csr")
        return p._derived(p.csr + sigma * eye)
    eye = IdentityOperator((p.m, p.m), dtype=p.dtype, scale=sigma)
    # kronop blocks meet their own rules (K + σI solves from K's factors)
    return _Operator(p.op + eye, p.first)


def _blockdiag_plus_identity(a: BlockDiag, eye: _rules.ScaledIdentity):
    """diag(Bᵢ) + σI = diag(Bᵢ + σI) (square blocks): still block by block."""
    if any(m != n for m, n in a.block_shapes):
        return NotImplemented
    return BlockDiag._from_parts([_shifted_part(p, eye.sigma) for p in a._parts])


_rules.register_matmul(BlockDiag, BlockDiag, _blockdiag_product)
_rules.register_add(BlockDiag, BlockDiag, _blockdiag_sum)
_rules.register_add(BlockDiag, _rules.ScaledIdentity, _blockdiag_plus_identity)
