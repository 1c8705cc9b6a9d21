"""Fused Kronecker products side by side, in one process: ``python benchmarks/side_fused.py``.

Prints two markdown tables:

* ``K @ x`` for products of dense factors: kronop on the fused kernels
  (``set_fused(True)``; the kernels run where the crossover rule of
  :mod:`kronop._engine.fused_product` takes them, otherwise this row is the numpy
  chain too), the numpy/BLAS chain (``set_fused(False)``), and the best plain loop
  (``tensordot`` or ``shuffle`` from ``benchmarks/compare.py``), with the fused
  row's share of the DGEMM rate measured in the same process.
* ``KronSum.eigh().solve(b)`` with dense eigenvectors, fused and numpy.

Timings are interleaved (each repetition runs every implementation once, in a
shuffled order) and the table reports the minimum per implementation.
``--single`` runs everything on one thread (OpenBLAS and the fused kernels) and
measures CPU time, which is robust to other processes sharing the machine.
``--force`` widens the crossover rule so that every case runs the fused kernel
(to measure the kernel where the rule would decline it).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
from threadpoolctl import threadpool_limits

import kronop
from benchmarks.compare import (
    Case,
    _cube,
    _impl_shuffle,
    _impl_tensordot,
    flop_count,
    make_factors,
)
from benchmarks.timing import interleaved
from kronop._engine import fused_product
from kronop.kron import KronOperator
from kronop.kronsum import KronSum

CASES = (
    _cube("d6n10", 6, 10),
    _cube("d4n30", 4, 30),
    _cube("d5n16", 5, 16),
    _cube("d8n6", 8, 6),
    _cube("d6n8k16", 6, 8, k=16),
    _cube("d4n64", 4, 64),
    _cube("d3n100k16", 3, 100, k=16),
    Case("rect", "(300×100)⊗(50×400)⊗(200×200)", ((300, 100), (50, 400), (200, 200))),
)
SOLVES = ((6, 10, 1), (4, 30, 1), (6, 8, 16), (8, 6, 1))


def dgemm_rate(clock, n: int = 1500) -> float:
    a = np.random.default_rng(1).standard_normal((n, n))
    out = np.empty_like(a)
    np.matmul(a, a, out=out)
    best = math.inf
    for _ in range(5):
        t0 = clock()
        np.matmul(a, a, out=out)
        best = min(best, clock() - t0)
    return 2.0 * n**3 / best / 1e9


def product_table(cases, reps, clock, gflops) -> None:
    rng = np.random.default_rng(0)
    print(
        "| case | fused ms | numpy chain ms | best loop ms | numpy/fused "
        "| loop/fused | fused % DGEMM | numpy % DGEMM |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for case in cases:
        fs = make_factors(case, rng)
        op = KronOperator(*fs)
        shape = (case.n_in, case.k) if case.k > 1 else (case.n_in,)
        x = rng.standard_normal(shape)
        sh, td = _impl_shuffle(fs, case), _impl_tensordot(fs, case)

        def fused(op=op, x=x):
            kronop.set_fused(True)
            return op @ x

        def chain(op=op, x=x):
            kronop.set_fused(False)
            return op @ x

        ref = chain()
        err = np.abs(fused() - ref).max() / np.abs(ref).max()
        assert err < 1e-12, err
        best = interleaved(
            {
                "fused": fused,
                "numpy": chain,
                "shuffle": lambda sh=sh, x=x: sh(x),
                "tensordot": lambda td=td, x=x: td(x),
            },
            reps,
            2,
            clock,
            shuffle=True,
        )
        loop = min(best["shuffle"], best["tensordot"])
        fl = flop_count(case.shapes, case.k) / 1e9
        print(
            f"| {case.key} | {best['fused'] * 1e3:.2f} | {best['numpy'] * 1e3:.2f} "
            f"| {loop * 1e3:.2f} | {best['numpy'] / best['fused']:.2f} "
            f"| {loop / best['fused']:.2f} | {fl / best['fused'] / gflops:.0%} "
            f"| {fl / best['numpy'] / gflops:.0%} |",
            flush=True,
        )


def solve_table(reps, clock) -> None:
    rng = np.random.default_rng(0)
    print("\n| KronSum.eigh().solve | fused ms | numpy ms | numpy/fused |")
    print("|---|---|---|---|")
    for d, n, k in SOLVES:
        mats = []
        for _ in range(d):
            a = rng.standard_normal((n, n))
            mats.append(a + a.T + 2 * n * np.eye(n))
        eig = KronSum(*mats).eigh()
        b = rng.standard_normal((n**d, k) if k > 1 else n**d)

        def fused(eig=eig, b=b):
            kronop.set_fused(True)
            return eig.solve(b)

        def chain(eig=eig, b=b):
            kronop.set_fused(False)
            return eig.solve(b)

        assert np.allclose(fused(), chain(), rtol=1e-9, atol=1e-12)
        best = interleaved(
            {"fused": fused, "numpy": chain}, reps, 2, clock, shuffle=True
        )
        label = f"d={d} n={n}" + (f" k={k}" if k > 1 else "")
        print(
            f"| {label} | {best['fused'] * 1e3:.2f} | {best['numpy'] * 1e3:.2f} "
            f"| {best['numpy'] / best['fused']:.2f} |",
            flush=True,
        )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default="all", help="comma-separated case keys")
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--single", action="store_true", help="one thread, CPU time")
    p.add_argument("--force", action="store_true", help="fuse every case")
    p.add_argument("--no-solve", action="store_true")
    args = p.parse_args(argv)
    cases = [c for c in CASES if args.cases == "all" or c.key in args.cases.split(",")]
    if args.force:
        fused_product.MAX_FUSED_N, fused_product.MIN_FUSED_K = 40, 1
    previous = kronop.set_fused(True)
    if args.single:
        os.environ["KRONOP_NUM_THREADS"] = "1"
    clock = time.thread_time if args.single else time.perf_counter
    try:
        with threadpool_limits(1 if args.single else None):
            gflops = dgemm_rate(clock)
            mode = "1 thread, CPU time" if args.single else "wall time"
            print(
                f"DGEMM {gflops:.1f} GFLOP/s ({mode}); rule: n ≤ "
                f"{fused_product.MAX_FUSED_N}, k ≥ {fused_product.MIN_FUSED_K}\n"
            )
            product_table(cases, args.reps, clock, gflops)
            if not args.no_solve:
                solve_table(args.reps, clock)
    finally:
        kronop.set_fused(previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
