"""Solve the 3-D Poisson equation −Δu = f on the unit cube, six ways, and compare.

A manufactured solution u (so the exact answer is known) is sampled on an n×n×n
grid; −Δₕ is kronop's ``laplacian`` (a Kronecker sum of three 1-D second
differences, never assembled). The script solves −Δₕ uₕ = f with

* kronop's direct solve (fast diagonalization: 1-D eigenbases along each axis),
* scipy's ``cg`` on the kronop operator,
* scipy's ``gmres`` preconditioned with kronop's inverse of a nearby operator
  (the Laplacian shifted by σ: a preconditioner for a problem kronop cannot solve
  directly would look the same),
* scipy's assembled sparse matrix with ``spsolve`` (only up to ``--spsolve-max-n``:
  sparse LU fill-in makes it minutes at n = 64) and with ``cg``,
* pyamg's smoothed aggregation, if pyamg is installed,

and prints, per method: wall time, iterations, relative residual ‖f − Au‖/‖f‖,
the largest error against the exact solution, and the peak memory the method
allocated (``tracemalloc``: numpy/Python allocations; C++ internals of SuperLU and
pyamg are not traced). The error against the exact solution is the discretization
error, O(h²): it falls about 4× each time n doubles.

Run: python examples/poisson3d.py [--n 64] [--bc dirichlet|neumann|periodic]
"""

from __future__ import annotations

import argparse
import math
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np
from scipy.sparse.linalg import cg, gmres, spsolve

from kronop.gallery import laplacian

RTOL = 1e-8


@dataclass
class Problem:
    """−Δₕ u = f on an n³ grid with the exact solution u."""

    n: int
    bc: str
    L: object  # the kronop Laplacian (KronSum)
    f: np.ndarray
    u: np.ndarray  # the exact solution on the grid


def _profile(bc: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1-D profile g and its second derivative g'' for u = g(x)g(y)g(z)."""
    if bc == "dirichlet":  # g(0) = g(1) = 0
        e = np.exp(x)
        return x * (1 - x) * e, -x * (x + 3) * e
    if bc == "neumann":  # g'(0) = g'(1) = 0
        return x**2 * (1 - x) ** 2, 2 * (1 - 6 * x + 6 * x**2)
    s, c = np.sin(2 * np.pi * x), np.cos(2 * np.pi * x)  # 1-periodic
    g = np.exp(s / 2)
    return g, np.pi**2 * (c**2 - 2 * s) * g


def manufactured(n: int, bc: str = "dirichlet") -> Problem:
    """Grid, operator, right-hand side and exact solution for one boundary condition.

    u(x, y, z) = g(x) g(y) g(z) with a smooth g that meets the boundary condition
    and is *not* an eigenvector of the discrete operator (so iterative methods have
    real work to do):

    * Dirichlet: g = x(1−x)eˣ at the interior points x = ih, h = 1/(n+1);
    * Neumann: g = x²(1−x)² at the cell centres x = (i+½)h, h = 1/n;
    * periodic: g = exp(½ sin 2πx) at x = ih, h = 1/n.

    f = −Δu = −(g''gg + gg''g + ggg''). For Neumann and periodic the operator is
    singular (constants): f and u are taken with their grid mean removed, and the
    solvers return the zero-mean solution.
    """
    if bc == "dirichlet":
        h = 1.0 / (n + 1)
        x = np.arange(1, n + 1) * h
    elif bc == "neumann":
        h = 1.0 / n
        x = (np.arange(n) + 0.5) * h
    elif bc == "periodic":
        h = 1.0 / n
        x = np.arange(n) * h
    else:
        raise ValueError(f"unknown bc {bc!r}")
    g, g2 = _profile(bc, x)
    u = np.einsum("i,j,k->ijk", g, g, g).reshape(-1)
    f = -(
        np.einsum("i,j,k->ijk", g2, g, g)
        + np.einsum("i,j,k->ijk", g, g2, g)
        + np.einsum("i,j,k->ijk", g, g, g2)
    ).reshape(-1)
    if bc != "dirichlet":
        u -= u.mean()
        f -= f.mean()  # exactly compatible with the singular operator
    return Problem(n, bc, laplacian((n, n, n), bc=bc, spacing=h), f, u)


def discretization_error(n: int, bc: str = "dirichlet") -> float:
    """max |uₕ − u| for the direct solve at size n (second order: O(h²))."""
    p = manufactured(n, bc)
    return float(np.max(np.abs(p.L.solve(p.f) - p.u)))


def convergence(n: int, bc: str = "dirichlet", levels: int = 3):
    """(n, max error, observed order) for grids whose spacing halves up to n.

    The order log(e₁/e₂)/log(h₁/h₂) is 2 for this second-order scheme.
    """
    sizes = [n]
    for _ in range(levels - 1):
        prev = sizes[-1]
        sizes.append((prev + 1) // 2 - 1 if bc == "dirichlet" else prev // 2)
    sizes = [m for m in reversed(sizes) if m >= 2]
    out = []
    for i, m in enumerate(sizes):
        e = discretization_error(m, bc)
        order = None
        if i:
            h0 = 1 / (sizes[i - 1] + 1) if bc == "dirichlet" else 1 / sizes[i - 1]
            h1 = 1 / (m + 1) if bc == "dirichlet" else 1 / m
            order = math.log(out[-1][1] / e) / math.log(h0 / h1)
        out.append((m, e, order))
    return out


@dataclass
class Row:
    method: str
    seconds: float | None
    iterations: str
    residual: float | None
    error: float | None
    peak_mb: float | None
    note: str = ""


def _measure(fn, memory: bool = True):
    """(result, seconds, peak MB allocated) of ``fn``.

    The time is taken on a plain run; the memory on a second run under
    ``tracemalloc`` (which slows allocations down too much to time with it).
    """
    t0 = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t0
    if not memory:
        return out, seconds, None
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return out, seconds, peak / 2**20


def assembled(p: Problem):
    """The CSR matrix of −Δₕ (scipy), for the sparse baselines."""
    from scipy.sparse.linalg import LaplacianNd

    h2 = {"dirichlet": (p.n + 1) ** 2, "neumann": p.n**2, "periodic": p.n**2}[p.bc]
    A = -LaplacianNd((p.n,) * 3, boundary_conditions=p.bc, dtype=np.float64).tosparse()
    return (A * h2).tocsr()


def run_methods(
    n: int = 64,
    bc: str = "dirichlet",
    spsolve_max_n: int = 24,
    amg: bool = True,
    sparse: bool = True,
    memory: bool = True,
) -> tuple[Problem, list[Row]]:
    """Solve the problem with every method; return the table rows."""
    p = manufactured(n, bc)
    L, f, u = p.L, p.f, p.u
    nf = np.linalg.norm(f)
    rows: list[Row] = []

    def run(name, fn, note=""):
        """fn() -> (x, iterations or None, info or 0)."""
        (x, its, info), seconds, peak = _measure(fn, memory)
        x = np.asarray(x).reshape(-1)
        if bc != "dirichlet":
            x = x - x.mean()  # compare in the zero-mean class
        res = float(np.linalg.norm(f - L @ x) / nf)
        err = float(np.max(np.abs(x - u)))
        its = "-" if its is None else str(its)
        note = ("not converged " if info else "") + note
        rows.append(Row(name, seconds, its, res, err, peak, note.strip()))

    def krylov(solver, A, **kw):
        def fn():
            count = [0]

            def cb(_):
                count[0] += 1

            x, info = solver(A, f, rtol=RTOL, callback=cb, **kw)
            return x, count[0], info

        return fn

    # (a) direct: fast diagonalization from the factors. The first call on a new
    # operator includes the setup (the 1-D eigenbases and the N eigenvalue sums);
    # later calls reuse it.
    h = _h(p)
    run(
        "kronop solve (direct, first call)",
        lambda: (laplacian((n,) * 3, bc=bc, spacing=h).solve(f), None, 0),
    )
    L.solve(f)
    run("kronop solve (direct, warm)", lambda: (L.solve(f), None, 0))

    # (b) cg on the lazy operator
    run("scipy cg on kronop operator", krylov(cg, L, maxiter=5000))

    # (c) gmres preconditioned with the inverse of a nearby operator
    sigma = 0.5 * float(L.eigvals(2, "SA")[-1])  # half the smallest nonzero λ-gap
    M = L.shift(sigma).inv()
    run(
        f"scipy gmres, M = (L + {sigma:.3g}·I)⁻¹ by kronop",
        krylov(gmres, L, M=M, restart=50, maxiter=20, callback_type="pr_norm"),
    )

    if sparse:
        t0 = time.perf_counter()
        A = assembled(p)
        note = f"assembly {time.perf_counter() - t0:.2f} s"
        if bc != "dirichlet":
            rows.append(
                Row(
                    "scipy spsolve on CSR",
                    None,
                    "-",
                    None,
                    None,
                    None,
                    "skipped: singular matrix",
                )
            )
        elif n > spsolve_max_n:
            rows.append(
                Row(
                    "scipy spsolve on CSR",
                    None,
                    "-",
                    None,
                    None,
                    None,
                    f"skipped: n > {spsolve_max_n} (sparse LU fill-in: "
                    "minutes at n = 64)",
                )
            )
        else:
            Acsc = A.tocsc()
            run("scipy spsolve on CSR", lambda: (spsolve(Acsc, f), None, 0), note)
        run("scipy cg on CSR", krylov(cg, A, maxiter=5000), note)
        if amg:
            try:
                import pyamg
            except ImportError:
                rows.append(Row("pyamg", None, "-", None, None, None, "not installed"))
            else:

                def amg_solve():
                    res: list[float] = []
                    ml = pyamg.smoothed_aggregation_solver(A)
                    x = ml.solve(f, tol=RTOL, maxiter=500, residuals=res)
                    return x, len(res) - 1, 0

                run("pyamg smoothed aggregation (setup + solve)", amg_solve)
    return p, rows


def _h(p: Problem) -> float:
    return 1.0 / (p.n + 1) if p.bc == "dirichlet" else 1.0 / p.n


def format_table(p: Problem, rows: list[Row]) -> str:
    head = (
        f"-Δu = f on the unit cube, n = {p.n} (N = {p.n**3:,}), bc = {p.bc}, "
        f"iterative rtol = {RTOL:g}"
    )
    cols = [
        "method",
        "time",
        "iterations",
        "rel. residual",
        "max error",
        "peak MB",
        "note",
    ]
    body = []
    for r in rows:
        body.append(
            [
                r.method,
                "-" if r.seconds is None else _fmt_time(r.seconds),
                r.iterations,
                "-" if r.residual is None else f"{r.residual:.1e}",
                "-" if r.error is None else f"{r.error:.2e}",
                "-" if r.peak_mb is None else f"{r.peak_mb:.1f}",
                r.note,
            ]
        )
    widths = [max(len(c), *(len(b[i]) for b in body)) for i, c in enumerate(cols)]

    def line(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))

    out = [head, "", line(cols), line(["-" * w for w in widths])]
    out += [line(b) for b in body]
    return "\n".join(out)


def _fmt_time(s: float) -> str:
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64, help="grid points per axis (64)")
    ap.add_argument(
        "--bc", default="dirichlet", choices=["dirichlet", "neumann", "periodic"]
    )
    ap.add_argument(
        "--spsolve-max-n",
        type=int,
        default=24,
        help="largest n for spsolve (sparse LU; default 24)",
    )
    ap.add_argument("--no-amg", action="store_true", help="skip pyamg")
    ap.add_argument("--no-sparse", action="store_true", help="skip the CSR baselines")
    ap.add_argument(
        "--no-memory", action="store_true", help="skip the tracemalloc re-runs"
    )
    ap.add_argument(
        "--convergence",
        action="store_true",
        help="also print the error on coarser grids (second order: ÷4 per halving h)",
    )
    args = ap.parse_args(argv)
    p, rows = run_methods(
        args.n,
        args.bc,
        args.spsolve_max_n,
        amg=not args.no_amg,
        sparse=not args.no_sparse,
        memory=not args.no_memory,
    )
    print(format_table(p, rows))
    if args.convergence:
        print("\nconvergence of the direct solve: max error, observed order")
        for m, e, order in convergence(args.n, args.bc):
            tail = "" if order is None else f"  (order {order:.2f})"
            print(f"  n = {m:4d}: {e:.3e}{tail}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
