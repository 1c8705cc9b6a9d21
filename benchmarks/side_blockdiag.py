"""BlockDiag side by side, in one process: ``python benchmarks/side_blockdiag.py``.

Prints two markdown tables for k = 1000 equal blocks of 32×32 (N = 32000, float64):

* the product A @ x (K = 1 and K = 16 right-hand sides): kronop (one batched
  matmul on the (k, m, m) stack) against ``scipy.sparse.block_diag(...).tocsr()``
  and a Python loop over the blocks; and the same blocks given as a list;
* the solve A x = b: kronop's first solve of a fresh operator (one batched LU,
  nothing cached: ``numpy.linalg.solve`` on the stack), its second solve (which
  forms the blocks' inverses once) and its repeated solve (cached inverses, one
  batched matmul), against ``scipy.sparse.linalg.spsolve`` on the CSR matrix
  (SuperLU, factorization included: spsolve keeps nothing) and against
  ``splu`` kept and reused, with the relative error against spsolve.

Product timings are taken two ways, both reported: interleaved (each repetition
runs every implementation once, so each call starts with the others' data in the
caches: the stack and the CSR matrix are 8-12 MB each, and a product of one
right-hand side is memory-bound) and back to back (one implementation repeated,
its data warm in the 32 MB L3, as asv measures). Solve timings are interleaved.
Every cell is the minimum over ``--reps``. The machine may be shared, so the
ratios are what carries over.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
import scipy
import scipy.sparse as sp
import scipy.sparse.linalg as spla

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.bench_blockdiag import loop_matmat, make_stack
from benchmarks.timing import interleaved
from kronop.blockdiag import BlockDiag


def fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def back_to_back(fns: dict, reps: int) -> dict:
    """Minimum seconds per named callable, each repeated on its own (warm caches)."""
    best = {}
    for name, fn in fns.items():
        fn()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        best[name] = min(times)
    return best


def rel(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def matvec_table(k: int, m: int, reps: int) -> list[str]:
    stack = make_stack(k, m)
    A = BlockDiag(stack)
    L = BlockDiag(list(stack))
    csr = sp.block_diag(list(stack)).tocsr()
    rng = np.random.default_rng(1)
    lines = [
        (
            "| k × (m×m) | K | timing | kronop (k, m, m) array | kronop list | CSR | "
            "Python loop | CSR / kronop | loop / kronop | error vs CSR |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for K in (1, 16):
        X = rng.standard_normal((k * m, K))
        x = X[:, 0] if K == 1 else X
        fns = {
            "kronop": lambda x=x: A @ x,
            "list": lambda x=x: L @ x,
            "csr": lambda x=x: csr @ x,
            "loop": lambda X=X: loop_matmat(stack, X),
        }
        err = rel(A @ x, csr @ x)
        for how, t in (
            ("interleaved", interleaved(fns, reps)),
            ("back to back", back_to_back(fns, reps)),
        ):
            lines.append(
                f"| {k} × ({m}×{m}) | {K} | {how} | {fmt(t['kronop'])} | "
                f"{fmt(t['list'])} | {fmt(t['csr'])} | {fmt(t['loop'])} | "
                f"{t['csr'] / t['kronop']:.1f} | {t['loop'] / t['kronop']:.1f} | "
                f"{err:.1e} |"
            )
    return lines


def solve_table(k: int, m: int, reps: int) -> list[str]:
    stack = make_stack(k, m)
    csr = sp.block_diag(list(stack)).tocsr()
    csc = csr.tocsc()
    b = np.random.default_rng(2).standard_normal(k * m)
    warm = BlockDiag(stack)
    warm.solve(b)
    warm.solve(b)
    lu = spla.splu(csc)
    out: dict = {}
    state: dict = {}

    def first():
        out["first"] = BlockDiag(stack).solve(b)

    def second():
        # a fresh operator's second solve: the inverses are formed here
        A = BlockDiag(stack)
        A.solve(b)
        t0 = time.perf_counter()
        out["second"] = A.solve(b)
        state["second"] = time.perf_counter() - t0

    def repeated():
        out["repeated"] = warm.solve(b)

    def spsolve():
        out["spsolve"] = spla.spsolve(csr, b)

    def splu_kept():
        out["splu"] = lu.solve(b)

    fns = {
        "kronop first solve (batched LU, nothing cached)": first,
        "kronop repeated solve (cached inverses)": repeated,
        "scipy spsolve on the CSR (SuperLU, factorization included)": spsolve,
        "scipy splu kept, solve only": splu_kept,
    }
    keys = dict(zip(fns, ("first", "repeated", "spsolve", "splu"), strict=True))
    t = interleaved(fns, reps)
    seconds = []
    for _ in range(reps):
        second()
        seconds.append(state["second"])
    base = t["scipy spsolve on the CSR (SuperLU, factorization included)"]
    ref = out["spsolve"]
    rows = [(name, t[name], out[keys[name]]) for name in fns]
    rows.insert(
        1,
        (
            "kronop second solve (forms the inverses once)",
            min(seconds),
            out["second"],
        ),
    )
    lines = [
        f"k = {k} blocks of {m}×{m} (N = {k * m}), float64",
        "",
        (
            "| method | time | spsolve / method | relative error vs spsolve | "
            "residual ‖Ax − b‖/‖b‖ |"
        ),
        "|---|---|---|---|---|",
    ]
    for name, sec, x in rows:
        lines.append(
            f"| {name} | {fmt(sec)} | {base / sec:.1f} | {rel(x, ref):.1e} | "
            f"{rel(csr @ x, b):.1e} |"
        )
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=9)
    p.add_argument("-k", type=int, default=1000, help="number of blocks")
    p.add_argument("-m", type=int, default=32, help="block size")
    args = p.parse_args(argv)
    print(
        f"numpy {np.__version__}, scipy {scipy.__version__}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"min of {args.reps}\n"
    )
    print("\n".join(matvec_table(args.k, args.m, args.reps)))
    print()
    print("\n".join(solve_table(args.k, args.m, max(3, args.reps // 2))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
