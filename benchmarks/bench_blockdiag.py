"""asv benchmarks: BlockDiag (block-diagonal operators, batched products and solves).

``asv run --python=same --quick --bench bench_blockdiag``. The side-by-side table
(one process, interleaved repeats, ratios) is ``python benchmarks/side_blockdiag.py``.

* ``BlockDiagMatvec``: A @ x for k equal m×m blocks, K right-hand sides: kronop
  (one batched matmul on the (k, m, m) stack) against the CSR matrix
  ``scipy.sparse.block_diag(...).tocsr()`` and a Python loop over the blocks.
* ``BlockDiagSolve``: A x = b, kronop cold (first solve of a fresh operator: one
  batched LU), warm (cached inverses: one batched matmul), against
  ``scipy.sparse.linalg.spsolve`` on the CSR matrix (factorization included, as
  spsolve always does) and a Python loop of ``scipy.linalg.lu_solve``.
* ``BlockDiagMixed``: a list of blocks of every kind (dense stack, CSR,
  ``KronOperator``): product and solve.

``setup`` stays light for ``peakmem_*``; parameter sets that would take much more
than a second per call are skipped with ``NotImplementedError``.
"""

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from kronop import KronOperator
from kronop.blockdiag import BlockDiag


def make_stack(k, m, dtype="float64", seed=0):
    """k random m×m blocks, diagonally dominant (well conditioned)."""
    rng = np.random.default_rng(seed)
    S = rng.standard_normal((k, m, m)) / np.sqrt(m)
    if np.dtype(dtype).kind == "c":
        S = S + 1j * rng.standard_normal((k, m, m)) / np.sqrt(m)
    S += 3 * np.eye(m)
    return S.astype(dtype)


def loop_matmat(stack, X):
    """The product written as a Python loop over the blocks."""
    k, _m, n = stack.shape
    return np.concatenate([stack[i] @ X[i * n : (i + 1) * n] for i in range(k)])


class BlockDiagMatvec:
    """A @ x for k equal m×m blocks, K right-hand sides."""

    params = (
        (100, 1000, 10000),
        (8, 32, 128),
        (1, 16),
        ("float32", "float64", "complex128"),
        ("kronop", "csr", "loop"),
    )
    param_names = ("k", "m", "K", "dtype", "impl")

    def setup(self, k, m, K, dtype, impl):
        if k * m * m > 2e7 or k * m * m * K > 1e8:
            raise NotImplementedError("too slow for a benchmark call")
        stack = make_stack(k, m, dtype)
        rng = np.random.default_rng(1)
        self.x = rng.standard_normal((k * m, K)).astype(dtype)
        if K == 1:
            self.x = self.x[:, 0]
        if impl == "kronop":
            A = BlockDiag(stack)
            self.fn = lambda: A @ self.x
        elif impl == "csr":
            A = sp.block_diag(list(stack)).tocsr()
            self.fn = lambda: A @ self.x
        else:
            X = self.x if K > 1 else self.x[:, None]
            self.fn = lambda: loop_matmat(stack, X)
        self.fn()  # warm-up: buffers and casts

    def time_matmat(self, k, m, K, dtype, impl):
        self.fn()

    def peakmem_matmat(self, k, m, K, dtype, impl):
        self.fn()


class BlockDiagSolve:
    """A x = b for k equal m×m blocks."""

    params = (
        (100, 1000, 10000),
        (8, 32),
        ("float64", "complex128"),
        ("kronop-cold", "kronop-warm", "spsolve", "lu-loop"),
    )
    param_names = ("k", "m", "dtype", "impl")

    def setup(self, k, m, dtype, impl):
        if impl in ("spsolve", "lu-loop") and k * m > 100_000:
            raise NotImplementedError("too slow for a benchmark call")
        self.stack = make_stack(k, m, dtype)
        self.b = np.random.default_rng(2).standard_normal(k * m).astype(dtype)
        if impl == "kronop-warm":
            self.A = BlockDiag(self.stack)
            self.A.solve(self.b)
            self.A.solve(self.b)  # the inverses are formed on the second solve
        elif impl == "spsolve":
            self.csr = sp.block_diag(list(self.stack)).tocsc()
        elif impl == "lu-loop":
            self.lus = [sla.lu_factor(a) for a in self.stack]

    def time_solve(self, k, m, dtype, impl):
        if impl == "kronop-cold":
            BlockDiag(self.stack).solve(self.b)
        elif impl == "kronop-warm":
            self.A.solve(self.b)
        elif impl == "spsolve":
            spla.spsolve(self.csr, self.b)
        else:
            m = self.stack.shape[1]
            np.concatenate(
                [
                    sla.lu_solve(lu, self.b[i * m : (i + 1) * m])
                    for i, lu in enumerate(self.lus)
                ]
            )


class BlockDiagMixed:
    """A list of blocks of every kind: a dense stack, CSR blocks, a KronOperator."""

    params = ((1, 16),)
    param_names = ("K",)

    def setup(self, K):
        stack = make_stack(200, 16)
        lap = sp.diags_array(
            [-np.ones(999), 2.5 * np.ones(1000), -np.ones(999)],
            offsets=[-1, 0, 1],
            format="csr",
        )
        rng = np.random.default_rng(3)
        a, b = make_stack(1, 40)[0], make_stack(1, 50)[0]
        self.A = BlockDiag([*stack, lap, KronOperator(a, b)])
        self.x = rng.standard_normal((self.A.shape[1], K))
        self.A.solve(self.x)
        self.A.solve(self.x)

    def time_matmat(self, K):
        self.A @ self.x

    def time_solve_warm(self, K):
        self.A.solve(self.x)
