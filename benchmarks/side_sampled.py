"""SampledKron against the full product followed by a gather, side by side.

Run from the repository root::

    python benchmarks/side_sampled.py              # 15 interleaved repeats
    python benchmarks/side_sampled.py --repeats 31 --threads 2

Everything runs in one process. For a 200×200 ⊗ 200×200 product (N = 40 000)
with rows sampled at random (no repeats) the script first checks that every
path agrees with the baseline, then times in interleaved rounds (baseline,
SampledKron, forced paths, …) so that load on a shared machine hits all alike;
the table shows the fastest of the rounds. The baseline for ``S @ x`` is
``(K @ x)[rows]``; for ``S.H @ y`` it is a scatter into a zero vector followed
by ``K.H @ z`` (``np.bincount`` for the scatter-add). "ratio" is the baseline's time over SampledKron's (above 1:
SampledKron is faster). "rows"/"cols" and "full" are the sampled vec trick and
the full path forced, to show the crossover; "picked" is the cost model's choice.
The last rows sample along a few grid lines (sensors on tracks), where the
trick contracts few distinct factor rows. BLAS runs on one thread by default
(``--threads``): on a shared 2-core machine two-thread timings swing by 10×
between rounds, and both sides use the same BLAS either way.

This module has no side effects on import (asv imports every module in
``benchmarks/``).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import scipy
from threadpoolctl import threadpool_limits

import kronop
from kronop.sampled import SampledKron

N1 = N2 = 200


def _rows(kind: str, fraction: float, rng) -> np.ndarray:
    M = N1 * N2
    R = round(fraction * M)
    if kind == "random":
        return np.sort(rng.choice(M, R, replace=False))
    # R points on 4 grid lines of the first axis: 4 distinct rows of factor 1
    lines = rng.choice(N1, 4, replace=False)
    per = rng.choice(N2, (4, R // 4), replace=True)
    return np.ravel_multi_index((np.repeat(lines, R // 4), per.ravel()), (N1, N2))


def _ms(ts):
    # the fastest round: on a machine shared with other jobs, load only ever
    # adds time, and it hits the interleaved candidates alike
    return min(ts) * 1e3


def run_case(kind, fraction, repeats, rng):
    A = rng.standard_normal((N1, N1)) / np.sqrt(N1)
    B = rng.standard_normal((N2, N2)) / np.sqrt(N2)
    K = kronop.KronOperator(A, B)
    rows = _rows(kind, fraction, rng)
    S = SampledKron(K, rows)
    H = S.H
    trick, full = S._with_path("rows"), S._with_path("full")
    trick_h, full_h = trick.H, full.H
    x = rng.standard_normal(K.shape[1])
    y = rng.standard_normal(len(rows))

    def base_mv():
        return (K @ x)[rows]

    def base_rmv():
        # repeated rows (the "lines" cases) add up: a bincount scatter-add
        return K.H @ np.bincount(rows, weights=y, minlength=K.shape[0])

    want, want_h = base_mv(), base_rmv()
    for op in (S, trick, full):
        np.testing.assert_allclose(op @ x, want, rtol=1e-10, atol=1e-10)
    for op in (H, trick_h, full_h):
        np.testing.assert_allclose(op @ y, want_h, rtol=1e-10, atol=1e-10)

    fns = {
        "base": base_mv,
        "S": lambda: S @ x,
        "trick": lambda: trick @ x,
        "full": lambda: full @ x,
        "base_h": base_rmv,
        "H": lambda: H @ y,
        "trick_h": lambda: trick_h @ y,
        "full_h": lambda: full_h @ y,
    }
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    t = {k: _ms(v) for k, v in times.items()}
    return (
        f"| {kind} {fraction:.1%} | {len(rows)} | {t['base']:.3f} | {t['S']:.3f} "
        f"| **{t['base'] / t['S']:.2f}** | {t['trick']:.3f} | {t['full']:.3f} "
        f"| {S._path()} | {t['base_h']:.3f} | {t['H']:.3f} "
        f"| **{t['base_h'] / t['H']:.2f}** | {t['trick_h']:.3f} | {t['full_h']:.3f} "
        f"| {H._path()} |"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    with threadpool_limits(limits=args.threads, user_api="blas"):
        _table(args)


def _table(args) -> None:
    print(
        f"numpy {np.__version__}, scipy {scipy.__version__}, "
        f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores), "
        f"BLAS threads {args.threads}; 200×200 ⊗ 200×200 (N = 40 000); fastest of "
        f"{args.repeats} interleaved rounds, times in ms\n"
    )
    print(
        "| rows | R | (K@x)[rows] | S@x | ratio | rows trick | full | picked "
        "| scatter+K.H@z | S.H@y | ratio | cols trick | full | picked |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|")
    rng = np.random.default_rng(0)
    for kind, fraction in (
        ("random", 0.001),
        ("random", 0.01),
        ("random", 0.03),
        ("random", 0.1),
        ("random", 0.5),
        ("lines", 0.01),
        ("lines", 0.1),
    ):
        print(run_case(kind, fraction, args.repeats, rng), flush=True)


if __name__ == "__main__":
    main()
