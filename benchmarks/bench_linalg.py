"""Linear algebra from the factors: asv benchmarks and a side-by-side table.

asv: ``asv run --python=same --quick --bench bench_linalg``.
Table (the Gaussian-process story, K = K₁⊗K₂⊗K₃, eigh once then solve + logdet per
σ²): ``python benchmarks/bench_linalg.py [--n 200] [--d 3]``.

Compared, in one process:

* kronop: ``K.eigh()`` once, then ``dec.solve(y, shift=σ²)`` and
  ``dec.logdet(shift=σ²)``; ``K.solve`` and ``K.logdet`` (unshifted);
* "eig formulas": the GPyTorch ``KroneckerProductAddedDiag`` recipe written out in
  numpy (per-factor ``eigh``, the N-vector of eigenvalue products, two tensordot
  Kronecker products per solve);
* pykronecker: ``KroneckerProduct(...).inv() @ y`` (unshifted solve only; it has
  no shift, eig or logdet);
* dense ``numpy.linalg`` (``cholesky`` + solves, ``slogdet``) where N ≤ 4096.
"""

from __future__ import annotations

import argparse
import time
from functools import reduce

import numpy as np


def rbf(n: int, ell: float, seed: int) -> np.ndarray:
    """A squared-exponential kernel matrix on a jittered grid (SPD, decaying spectrum)."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.random(n))
    k = np.exp(-0.5 * (t[:, None] - t[None, :]) ** 2 / ell**2)
    return k + 1e-6 * np.eye(n)


def factors_for(n: int, d: int) -> list[np.ndarray]:
    return [rbf(n, 0.1 + 0.1 * j, j) for j in range(d)]


def tensordot_kron(mats, x):
    """Plain numpy Kronecker matvec: one tensordot per factor."""
    X = x.reshape([m.shape[1] for m in mats])
    for j, m in enumerate(mats):
        X = np.moveaxis(np.tensordot(m, X, axes=(1, j)), 0, j)
    return X.reshape(-1)


class EigFormulas:
    """GPyTorch-style eig-based solve/logdet for K + σ²I, written out in numpy."""

    def __init__(self, mats):
        pairs = [np.linalg.eigh(m) for m in mats]
        self.V = [v for _, v in pairs]
        self.VT = [v.T for v in self.V]
        self.evals = reduce(np.multiply.outer, [w for w, _ in pairs]).reshape(-1)

    def solve(self, y, s2):
        z = tensordot_kron(self.VT, y) / (self.evals + s2)
        return tensordot_kron(self.V, z)

    def logdet(self, s2):
        return float(np.sum(np.log(self.evals + s2)))


# ------------------------------------------------------------------ asv suite
class KronLinalg:
    params = ([(3, 60), (3, 100), (2, 400)],)
    param_names = ("(d, n)",)

    def setup(self, dn):
        from kronop import KronOperator

        d, n = dn
        self.mats = factors_for(n, d)
        self.K = KronOperator(*self.mats)
        self.dec = self.K.eigh()
        self.y = np.random.default_rng(0).standard_normal(self.K.shape[0])
        self.dec.solve(self.y, shift=0.1)

    def time_eigh(self, dn):
        from kronop import KronOperator

        KronOperator(*self.mats).eigh()

    def time_shifted_solve(self, dn):
        self.dec.solve(self.y, shift=0.1)

    def time_shifted_logdet(self, dn):
        self.dec.logdet(shift=0.1)

    def time_solve(self, dn):
        self.K.solve(self.y)

    def time_logdet(self, dn):
        from kronop import KronOperator

        KronOperator(*self.mats).logdet()

    def time_eig_formulas_solve(self, dn):
        EigFormulas(self.mats).solve(self.y, 0.1)

    def peakmem_shifted_solve(self, dn):
        self.dec.solve(self.y, shift=0.1)


# ------------------------------------------------------------------ the table
def _time(fn, reps=5):
    fn()
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return float(np.median(out))


def main(argv=None) -> None:
    from kronop import KronOperator

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--d", type=int, default=3)
    ap.add_argument("--sigmas", type=float, nargs="*", default=[1e-3, 1e-2, 1e-1, 1.0])
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args(argv)
    n, d = args.n, args.d
    mats = factors_for(n, d)
    N = n**d
    y = np.random.default_rng(1).standard_normal(N)
    rows = []

    t0 = time.perf_counter()
    K = KronOperator(*mats)
    dec = K.eigh()
    t_eigh = time.perf_counter() - t0
    t0 = time.perf_counter()
    ef = EigFormulas(mats)
    t_ef = time.perf_counter() - t0
    rows.append(("eigh of the factors (once)", t_eigh, t_ef, None, None))

    for s2 in args.sigmas:
        ts = _time(lambda s2=s2: dec.solve(y, shift=s2), args.reps)
        te = _time(lambda s2=s2: ef.solve(y, s2), args.reps)
        x = dec.solve(y, shift=s2)
        res = np.linalg.norm(K @ x + s2 * x - y) / np.linalg.norm(y)
        rows.append(
            (f"solve (K+{s2:g}I) x = y  [rel. residual {res:.1e}]", ts, te, None, None)
        )
        tl = _time(lambda s2=s2: dec.logdet(shift=s2), args.reps)
        tle = _time(lambda s2=s2: ef.logdet(s2), args.reps)
        rows.append((f"logdet(K+{s2:g}I)", tl, tle, None, None))

    t_solve = _time(lambda: K.solve(y), args.reps)
    t_pk = None
    try:
        from pykronecker import KroneckerProduct

        P = KroneckerProduct(mats)
        Pinv = P.inv()
        t_pk = _time(lambda: Pinv @ y, args.reps)
    except (ImportError, AssertionError, ValueError):  # peers are optional
        t_pk = None
    rows.append(("solve K x = y (unshifted)", t_solve, None, t_pk, None))
    t_ld = _time(lambda: KronOperator(*mats).logdet(), args.reps)
    dense_ld = None
    if N <= 4096:
        D = reduce(np.kron, mats)
        dense_ld = _time(lambda: np.linalg.slogdet(D), 3)
    rows.append(("logdet K (Cholesky per factor)", t_ld, None, None, dense_ld))

    from threadpoolctl import threadpool_info

    blas = ", ".join(
        f"{i.get('internal_api')} {i.get('architecture')} ({i.get('num_threads')} threads)"
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    )
    print(f"d={d}, n={n}, N={N:.3g}; BLAS: {blas}")
    print()
    print(
        "| task | kronop | eig formulas (GPyTorch recipe, numpy) | pykronecker | dense numpy |"
    )
    print("|---|---:|---:|---:|---:|")

    def fmt(t):
        return "—" if t is None else f"{t * 1e3:.1f} ms"

    for name, a, b, c, e in rows:
        print(f"| {name} | {fmt(a)} | {fmt(b)} | {fmt(c)} | {fmt(e)} |")


if __name__ == "__main__":
    main()
