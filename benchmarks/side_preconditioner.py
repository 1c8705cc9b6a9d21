"""Kronecker-sum preconditioning side by side, in one process: ``python benchmarks/side_preconditioner.py``.

Prints two markdown tables for −∇·(a∇u) = f (``examples/variable_diffusion.py``:
7-point finite volumes, harmonic faces, Dirichlet; f = M u*), every solve with
scipy's ``cg`` to rtol 1e-8.

1. **Targets** (``--n``, default 64; contrast ``--contrast``, default 10; the three
   smooth coefficient shapes and the checkerboard of jumps): plain ``cg``, ``cg``
   with ``kron_preconditioner(M, (n, n, n), kind="sum")`` (default Jacobi
   scaling), and ``cg`` with pyamg smoothed
   aggregation: setup, solve and total time, iterations, and the ratios the targets
   are stated in (iterations cg / cg+kron; total cg+kron / cg; total cg+kron /
   pyamg). Interleaved: each repetition runs every method once in a shuffled order;
   the table reports the minimum time per method over ``--reps`` repetitions.
2. **Which fit** (``--fit-n``, default 32, contrast 10): iterations of ``cg`` with
   the inverse of (a) the Frobenius-nearest Kronecker sum of M; (b) the nearest sum
   of D^{-1/2} M D^{-1/2} (D = diag M), applied as D^{-1/2} S⁻¹ D^{-1/2} (the
   default); (c) the same with each factor's eigenvalues clipped to ≥ 10⁻³ of its
   largest (factors projected to positive definite); (d) D^{-1/2} (−Δₕ)⁻¹ D^{-1/2}
   with the constant-coefficient Laplacian (no fit); plus the fitted sum's
   λ_min/λ_max (negative: indefinite). ``--maxiter`` caps the iterations (the
   plain fit stalls).

The machine may be shared, so the ratios are what carries over.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import sys
import time
import warnings

import numpy as np
from scipy.sparse.linalg import cg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from kronop.approximate import KronPreconditioner, kron_preconditioner
from kronop.gallery import laplacian
from kronop.kronsum import KronSum

_spec = importlib.util.spec_from_file_location(
    "variable_diffusion", os.path.join(ROOT, "examples", "variable_diffusion.py")
)
vd = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vd)

RTOL = 1e-8


def solve(M, f, P, maxiter):
    res = []
    u, info = cg(M, f, rtol=RTOL, atol=0.0, maxiter=maxiter, M=P, callback=res.append)
    return u, info, len(res)


def methods(n):
    out = {
        "cg": lambda M: None,
        "cg + kron": lambda M: kron_preconditioner(M, (n, n, n), kind="sum"),
    }
    try:
        import pyamg
    except ImportError:  # pragma: no cover
        return out
    out["cg + pyamg SA"] = lambda M: pyamg.smoothed_aggregation_solver(
        M
    ).aspreconditioner()
    return out


def targets(n, contrast, reps, maxiter):
    print(
        f"### Targets: n = {n} (N = {n**3}), contrast {contrast:g}, rtol {RTOL:g}, "
        f"min of {reps} interleaved runs\n"
    )
    print(
        "| coefficient | method | setup s | solve s | total s | iterations "
        "| rel. error | its cg / its | total / cg | total / pyamg |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for coef in vd.COEFFICIENTS:
        M = vd.assemble(n, vd.coefficient(coef, contrast))
        u_star = vd.exact_solution(n)
        f = M @ u_star
        ms = methods(n)
        best = {k: None for k in ms}
        for _ in range(reps):
            order = list(ms)
            random.shuffle(order)
            for name in order:
                t0 = time.perf_counter()
                P = ms[name](M)
                t1 = time.perf_counter()
                u, info, its = solve(M, f, P, maxiter)
                t2 = time.perf_counter()
                err = np.linalg.norm(u - u_star) / np.linalg.norm(u_star)
                row = (t1 - t0, t2 - t1, t2 - t0, its, info == 0, err)
                if best[name] is None or row[2] < best[name][2]:
                    best[name] = row
        cg_row, amg = best["cg"], best.get("cg + pyamg SA")
        for name, (ts, tv, tt, its, ok, err) in best.items():
            r_its = f"{cg_row[3] / its:.1f}×"
            r_cg = f"{tt / cg_row[2]:.2f}"
            r_amg = f"{tt / amg[2]:.2f}" if amg else "–"
            print(
                f"| {coef} | {name} | {ts:.3f} | {tv:.3f} | {tt:.3f} | "
                f"{its}{'' if ok else ' (not converged)'} | {err:.1e} | {r_its} | "
                f"{r_cg} | {r_amg} |"
            )
    print()


def _clip(S):
    out = []
    for F in S.factors:
        w, V = np.linalg.eigh(F)
        out.append((V * np.maximum(w, 1e-3 * w[-1])) @ V.T)
    return KronSum(*out)


def _extent(S):
    lo = sum(np.linalg.eigvalsh(F)[0] for F in S.factors)
    hi = sum(np.linalg.eigvalsh(F)[-1] for F in S.factors)
    return lo / hi


def fits(n, contrast, maxiter):
    print(f"### Which fit: n = {n}, contrast {contrast:g}: cg iterations (λmin/λmax)\n")
    names = [
        "none",
        "(a) nearest sum of M",
        "(b) nearest sum of D⁻½MD⁻½ (default)",
        "(c) (b), factors clipped PD",
        "(d) D⁻½(−Δₕ)⁻¹D⁻½",
    ]
    print("| coefficient | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for coef in vd.COEFFICIENTS:
        M = vd.assemble(n, vd.coefficient(coef, contrast))
        f = M @ vd.exact_solution(n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            Pa = kron_preconditioner(
                M, (n, n, n), kind="sum", scaling=None, indefinite="warn"
            )
        Pb = kron_preconditioner(M, (n, n, n), kind="sum")
        Pc = KronPreconditioner(_clip(Pb.fit), Pb.scaling)
        Pd = KronPreconditioner(laplacian((n, n, n)), Pb.scaling)
        cells = []
        for P in (None, Pa, Pb, Pc, Pd):
            _, info, its = solve(M, f, P, maxiter)
            cell = f"{its}" + ("" if info == 0 else "*")
            if P is not None and isinstance(P.fit, KronSum) and P is not Pd:
                cell += f" ({_extent(P.fit):.3f})"
            cells.append(cell)
        print(f"| {coef} | " + " | ".join(cells) + " |")
    print("\n\\* not converged within --maxiter\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--fit-n", type=int, default=32)
    p.add_argument("--contrast", type=float, default=10.0)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--maxiter", type=int, default=1000)
    p.add_argument("--skip-fits", action="store_true")
    args = p.parse_args(argv)
    random.seed(0)
    targets(args.n, args.contrast, args.reps, 20 * args.n**3)
    if not args.skip_fits:
        fits(args.fit_n, args.contrast, args.maxiter)


if __name__ == "__main__":
    main()
