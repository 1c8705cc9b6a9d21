"""The BLAS ceiling for a Kronecker matvec: how fast is one mode product's GEMM?

A d-factor Kronecker matvec with square n×n factors is d GEMMs of shape
(n×n)·(n×N/n). Their speed, not the library around them, bounds every BLAS-based
implementation. This script times that single GEMM (into a preallocated output, the
faster of the two copy-free forms) against the machine's 2000×2000 DGEMM, in one
process:

    python benchmarks/gemm_ceiling.py
"""

from __future__ import annotations

import time

import numpy as np


def best(fn, reps: int = 7) -> float:
    fn()
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def main() -> None:
    rng = np.random.default_rng(0)
    a = rng.random((2000, 2000))
    c = np.empty_like(a)
    peak = 2 * 2000**3 / best(lambda: np.matmul(a, a, out=c), 5) / 1e9
    print(f"DGEMM 2000×2000: {peak:.1f} GFLOP/s")
    print("| factor n | tensor N | GEMM (n×n)·(n×N/n) GF/s | % of DGEMM |")
    print("|---:|---:|---:|---:|")
    for n, N in (
        (1000, 10**6),
        (200, 8 * 10**6),
        (100, 10**6),
        (64, 64**4),
        (30, 30**4),
    ):
        F = rng.random((n, n))
        X = rng.random(N)
        out = np.empty(N)
        L = N // n
        t1 = best(
            lambda F=F, X=X, out=out, L=L, n=n: np.matmul(
                F, X.reshape(L, n).T, out=out.reshape(n, L)
            )
        )
        t2 = best(
            lambda F=F, X=X, out=out, L=L, n=n: np.matmul(
                F, X.reshape(n, L), out=out.reshape(n, L)
            )
        )
        gf = 2 * n * N / min(t1, t2) / 1e9
        print(f"| {n} | {N:.3g} | {gf:.1f} | {100 * gf / peak:.0f} |")


if __name__ == "__main__":
    main()
