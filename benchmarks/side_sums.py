"""KronProductSum side by side, in one process: ``python benchmarks/side_sums.py``.

Prints two markdown tables.

* Matvec of a 2- and 3-term sum of Kronecker products (d = 3, n = 32: N = 32768;
  d = 2, n = 300: N = 90000; d = 2, n = 60: N = 3600, where the dense matrix
  fits), dense and banded (tridiagonal) factors: kronop (every term into one
  output) against the naive way (each term applied on its own, results added) and
  against the assembled matrix (CSR for banded factors, dense where N² fits).
* The two-term direct solve (A = ⊗ n·T, 1-D Laplacians; B = ⊗Bⱼ random HPD) at
  d = 2, n = 60 (N = 3600) against ``scipy.sparse.linalg.cg`` on the operator
  (rtol 1e-8) and dense LU (``scipy.linalg.lu_factor`` + ``lu_solve``), and alone
  at N = 10⁶ (d = 3, n = 100) and N = 4·10⁶ (d = 2, n = 2000): time and
  relative residual ‖S x − b‖/‖b‖.

Timings are interleaved: each repetition runs every implementation once, in a
shuffled order, and the table reports the minimum per implementation (``--reps``
for the matvecs, after 70 warm-up calls; a fifth of it for the solves). The
machine may be shared, so the ratios are what carries over.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import scipy.linalg as sla
from scipy.sparse.linalg import cg

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.bench_sums import assembled, make_terms, solve_case
from benchmarks.timing import interleaved
from kronop.sums import KronProductSum


def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def matvec_table(reps: int) -> list[str]:
    lines = [
        (
            "| case | N | terms | factors | kronop | naive (terms apart, added) | "
            "matrix | naive / kronop | matrix / kronop |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size in ("d3n32", "d2n300", "d2n60"):
        for kind in ("dense", "banded"):
            for r in (2, 3):
                Ks = make_terms(size, r, kind)
                N = Ks[0].shape[1]
                x = np.random.default_rng(1).standard_normal(N)
                S = KronProductSum(*Ks)

                def naive(Ks=Ks, x=x):
                    y = Ks[0] @ x
                    for K in Ks[1:]:
                        y = y + K @ x
                    return y

                fns = {"kronop": lambda S=S, x=x: S @ x, "naive": naive}
                if kind == "banded":
                    M = assembled(Ks)
                    fns["matrix"] = lambda M=M, x=x: M @ x
                    label = "CSR"
                elif N <= 4000:
                    M = S.toarray()
                    fns["matrix"] = lambda M=M, x=x: M @ x
                    label = "dense"
                else:
                    label = "dense (does not fit)"
                ref = S.toarray() @ x if N <= 4000 else naive()
                assert np.allclose(S @ x, ref)
                t = interleaved(fns, reps, warm=70, shuffle=True)
                tm = t.get("matrix")
                ratio = "—" if tm is None else f"{tm / t['kronop']:.2f}"
                lines.append(
                    f"| {size} | {N} | {r} | {kind} | {fmt(t['kronop'])} | "
                    f"{fmt(t['naive'])} | {label}: {fmt(tm)} | "
                    f"{t['naive'] / t['kronop']:.2f} | "
                    f"{ratio} |"
                )
    return lines


def _rel(S, x, b) -> float:
    return float(np.linalg.norm(S @ x - b) / np.linalg.norm(b))


def solve_table(reps: int, big: bool) -> list[str]:
    lines = [
        "| case | N | method | time | relative residual | time / direct (warm) |",
        "|---|---|---|---|---|---|",
    ]
    d, n = 2, 60
    S = solve_case(d, n)
    b = np.random.default_rng(1).standard_normal(S.shape[0])
    dense = S.toarray()
    out = {}

    def cold():
        out["cold"] = solve_case(d, n).solve(b)

    def warm():
        out["warm"] = S.solve(b)

    def run_cg():
        out["cg"] = cg(S, b, rtol=1e-8, maxiter=20000)[0]

    def lu():
        out["lu"] = sla.lu_solve(sla.lu_factor(dense), b)

    t = interleaved(
        {"direct (warm)": warm, "direct (cold)": cold, "cg": run_cg, "dense LU": lu},
        reps,
        shuffle=True,
    )
    keys = {
        "direct (warm)": "warm",
        "direct (cold)": "cold",
        "cg": "cg",
        "dense LU": "lu",
    }
    for name, key in keys.items():
        lines.append(
            f"| d2n60 | {S.shape[0]} | {name} | {fmt(t[name])} | "
            f"{_rel(S, out[key], b):.1e} | {t[name] / t['direct (warm)']:.1f} |"
        )
    sizes = [(3, 100)] + ([(2, 2000)] if big else [])
    for d, n in sizes:
        S = solve_case(d, n)
        b = np.random.default_rng(1).standard_normal(S.shape[0])
        t0 = time.perf_counter()
        x = S.solve(b)
        t_cold = time.perf_counter() - t0
        t_warm = interleaved(
            {"warm": lambda S=S, b=b: S.solve(b)}, max(1, reps // 2), shuffle=True
        )
        res = _rel(S, x, b)
        lines.append(
            f"| d{d}n{n} | {S.shape[0]} | direct (warm) | {fmt(t_warm['warm'])} | "
            f"{res:.1e} | 1.0 |"
        )
        lines.append(
            f"| d{d}n{n} | {S.shape[0]} | direct (cold) | {fmt(t_cold)} | "
            f"{res:.1e} | {t_cold / t_warm['warm']:.1f} |"
        )
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=30)
    p.add_argument("--no-big", action="store_true", help="skip the N = 4·10⁶ solve")
    args = p.parse_args(argv)
    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs, min of {args.reps}\n")
    print("\n".join(matvec_table(args.reps)))
    print()
    print("\n".join(solve_table(max(3, args.reps // 5), not args.no_big)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
