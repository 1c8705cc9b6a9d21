"""nearest_kronsum against a straightforward NumPy fit, side by side.

Run from the repository root::

    python benchmarks/side_kronsum_fit.py              # 9 interleaved repeats
    python benchmarks/side_kronsum_fit.py --repeats 15 --sizes 32 64 96

Everything runs in one process. M is the 7-point finite-volume matrix of
−∇·(a∇u) on an n³ grid with a smooth 10×-contrast coefficient, Jacobi-scaled
(D^{-1/2} M D^{-1/2}) as a Kronecker-sum preconditioner fits it. The script
first checks that both fits agree, then times them in interleaved rounds (so
that load on a shared machine hits both alike); the table shows the fastest
round. "naive" is the fit as one writes it first: ``np.unravel_index`` of the
COO rows and columns, one mask per axis, ``np.add.at`` into each factor.
"ratio" is naive over kronop (above 1: kronop is faster). One CSR matvec
``M @ x`` and the ``tocoo()`` conversion alone are yardsticks.

This module has no side effects on import (asv imports every module in
``benchmarks/``).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import scipy

from benchmarks.bench_kronsum_fit import jacobi_scaled, variable_diffusion
from kronop._kronsum_fit import nearest_kronsum


def naive_fit(M, sizes):
    """The Frobenius-nearest sum's factors, written the obvious way."""
    coo = M.tocoo()
    r = np.unravel_index(coo.row, sizes)
    c = np.unravel_index(coo.col, sizes)
    d, N = len(sizes), int(np.prod(sizes))
    factors = []
    for j, n in enumerate(sizes):
        keep = np.ones(coo.nnz, dtype=bool)
        for i in range(d):
            if i != j:
                keep &= r[i] == c[i]
        block = np.zeros((n, n))
        np.add.at(block, (r[j][keep], c[j][keep]), coo.data[keep])
        factors.append(block / (N // n))
    c_total = M.diagonal().sum() / N
    for f, n in zip(factors, sizes, strict=True):
        f[np.diag_indices(n)] += c_total / d - np.trace(f) / n
    return factors


def run_case(n, repeats):
    M = jacobi_scaled(variable_diffusion(n))
    sizes = (n, n, n)
    x = np.ones(M.shape[0])
    for a, b in zip(
        nearest_kronsum(M, sizes).factors, naive_fit(M, sizes), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    fns = {
        "kronop": lambda: nearest_kronsum(M, sizes),
        "naive": lambda: naive_fit(M, sizes),
        "matvec": lambda: M @ x,
        "tocoo": M.tocoo,
    }
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    t = {k: min(v) * 1e3 for k, v in times.items()}
    return (
        f"| {n}³ = {n**3} | {M.nnz} | {t['kronop']:.1f} | {t['naive']:.1f} "
        f"| **{t['naive'] / t['kronop']:.1f}** | {t['matvec']:.2f} "
        f"| {t['kronop'] / t['matvec']:.0f} | {t['tocoo']:.1f} |"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 96])
    args = parser.parse_args(argv)
    print(
        f"numpy {np.__version__}, scipy {scipy.__version__},"
        f" python {platform.python_version()}, fastest of {args.repeats} rounds (ms)\n"
    )
    print("| grid | nnz | kronop | naive | ratio | CSR matvec | fit / matvec | tocoo |")
    print("|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        print(run_case(n, args.repeats))


if __name__ == "__main__":
    main()
