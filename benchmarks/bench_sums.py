"""asv benchmarks: KronProductSum (sums of Kronecker products).

``asv run --python=same --quick --bench bench_sums``. The side-by-side table (one
process, interleaved repeats, ratios) is ``python benchmarks/side_sums.py``.

* ``SumMatvec``: one product with a 2- or 3-term sum, kronop (all terms into one
  output) against the naive way (each term applied on its own, then added); for
  banded (tridiagonal) factors also against the assembled CSR matrix, and for the
  small size against the dense matrix.
* ``SumSolve``: the two-term direct solve (one term Hermitian positive definite)
  against ``scipy.sparse.linalg.cg`` on the operator and dense LU, at N = 3600
  where the dense matrix fits, and the direct solve alone at N = 10⁶.

``setup`` stays light for ``peakmem_*``; parameter sets that would take much
more than a second per call, or do not fit, are skipped with
``NotImplementedError``.
"""

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.sparse.linalg import cg

from kronop.kron import KronOperator
from kronop.sums import KronProductSum

#: (d, n) of the matvec cases
SIZES = {"d3n32": (3, 32), "d2n300": (2, 300), "d2n60": (2, 60)}


def dense_factor(rng, n):
    return rng.standard_normal((n, n)) / np.sqrt(n)


def banded_factor(rng, n):
    diags = [rng.standard_normal(n - abs(k)) for k in (-1, 0, 1)]
    return sp.diags_array(diags, offsets=[-1, 0, 1], format="csr")


def make_terms(size, terms, kind, seed=0):
    d, n = SIZES[size]
    rng = np.random.default_rng(seed)
    make = dense_factor if kind == "dense" else banded_factor
    return [KronOperator(*(make(rng, n) for _ in range(d))) for _ in range(terms)]


def assembled(Ks):
    """Σ kron of the factors as CSR (banded factors only)."""
    out = None
    for K in Ks:
        m = K.factors[0]
        for f in K.factors[1:]:
            m = sp.kron(m, f, format="csr")
        out = m if out is None else out + m
    return sp.csr_array(out)


class SumMatvec:
    """S @ x for S = Σᵣ ⊗ⱼ A⁽ʳ⁾ⱼ with r = 2 or 3 terms."""

    params = (
        ("d3n32", "d2n300", "d2n60"),
        (2, 3),
        ("dense", "banded"),
        ("kronop", "naive", "matrix"),
    )
    param_names = ("size", "terms", "factors", "impl")

    def setup(self, size, terms, kind, impl):
        Ks = make_terms(size, terms, kind)
        N = Ks[0].shape[1]
        self.x = np.random.default_rng(1).standard_normal(N)
        if impl == "kronop":
            self.op = KronProductSum(*Ks)
            self.apply = self.op.matvec
        elif impl == "naive":
            self.Ks = Ks

            def naive(x):
                y = Ks[0] @ x
                for K in Ks[1:]:
                    y = y + K @ x
                return y

            self.apply = naive
        elif kind == "banded":
            M = assembled(Ks)
            self.apply = M.__matmul__
        elif N <= 4000:  # the dense matrix: N² entries
            M = KronProductSum(*Ks).toarray()
            self.apply = M.__matmul__
        else:
            raise NotImplementedError("the dense matrix does not fit")
        self.apply(self.x)  # warm: work buffers, plans

    def time_matvec(self, size, terms, kind, impl):
        self.apply(self.x)

    def peakmem_matvec(self, size, terms, kind, impl):
        self.apply(self.x)


def hpd_factor(rng, n):
    a = rng.standard_normal((n, n)) / np.sqrt(n)
    return a @ a.T + np.eye(n)


def laplacian_1d(n):
    return sp.diags_array(
        [-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], offsets=[-1, 0, 1]
    ).toarray()


def solve_case(d, n, seed=0):
    """A = ⊗ T (1-D Laplacians, n²-scaled), B = ⊗ Bⱼ (HPD): S = A + B is HPD."""
    rng = np.random.default_rng(seed)
    A = KronOperator(*(laplacian_1d(n) * n for _ in range(d)))
    B = KronOperator(*(hpd_factor(rng, n) for _ in range(d)))
    return A + B


class SumSolve:
    """Two-term direct solve against cg and dense LU (N = 3600), alone at N = 10⁶."""

    params = (("d2n60", "d3n100"), ("direct", "direct-cold", "cg", "lu"))
    param_names = ("size", "impl")

    def setup(self, size, impl):
        d, n = {"d2n60": (2, 60), "d3n100": (3, 100)}[size]
        if size != "d2n60" and impl in ("cg", "lu"):
            raise NotImplementedError("dense LU does not fit; cg takes minutes")
        self.S = solve_case(d, n)
        self.b = np.random.default_rng(1).standard_normal(self.S.shape[0])
        if impl == "direct":
            self.S.solve(self.b)  # warm: the per-axis pencils are cached
        elif impl == "lu":
            self.dense = self.S.toarray()

    def time_solve(self, size, impl):
        if impl == "direct":
            self.S.solve(self.b)
        elif impl == "direct-cold":
            solve_case(*{"d2n60": (2, 60), "d3n100": (3, 100)}[size]).solve(self.b)
        elif impl == "cg":
            cg(self.S, self.b, rtol=1e-8, maxiter=10000)
        else:
            sla.lu_solve(sla.lu_factor(self.dense), self.b)

    def peakmem_solve(self, size, impl):
        self.time_solve(size, impl)

    def track_relative_residual(self, size, impl):
        if impl in ("direct", "direct-cold"):
            x = self.S.solve(self.b)
        elif impl == "cg":
            x = cg(self.S, self.b, rtol=1e-8, maxiter=10000)[0]
        else:
            x = sla.lu_solve(sla.lu_factor(self.dense), self.b)
        return float(np.linalg.norm(self.S @ x - self.b) / np.linalg.norm(self.b))

    track_relative_residual.unit = "relative residual"
