"""The 3-D Poisson comparison: −Δu = f (Dirichlet) on an n³ grid, every way, one process.

``run_poisson(ns=(64, 128), quick=False)`` returns markdown lines (a table per n
and the target ratios: direct solve against the yardsticks and pyamg, matvec
and cg against CSR); ``compare.py`` appends
them to its report, and ``python benchmarks/poisson_cases.py [--n 64 128]
[--quick] [--json PATH]`` prints them (and writes the same numbers as JSON).

Rows, all timed in this process on the same right-hand side:

* kronop direct solve (``laplacian(...).solve``; warm: factor spectra cached; the
  note gives the cold first call including setup),
* eigh + GEMM: the plain fast-diagonalization yardstick — ``numpy.linalg.eigh`` of
  the 1-D factor once, then three GEMMs, a division and three GEMMs, with the
  axis-rotating layout (``Vᵀ @ X.reshape(-1, n).T``) that needs no copies,
* ``scipy.fft.dstn``: the O(N log n) yardstick (DST-I, divide, inverse DST-I),
* pyamg smoothed aggregation to rtol 1e-8 (setup + solve),
* ``spsolve`` on the assembled CSR matrix (tried at n ≤ 64 in a subprocess and
  stopped after 120 s; not attempted beyond),
* ``cg`` on the CSR matrix and on the kronop operator, to rtol 1e-8,
* one matvec: CSR (``scipy.sparse.kronsum`` assembly) against ``KronSum``, with
  kronop's fused kernels and without them (``kronop.set_fused(False)``), and
  the memory limit: the time of copying the vector (read x, write y).

A second table (``matvec_rows``) times the matvec at n = 16, 32, 64, 128 for
the Laplacian and for a ``KronSum`` of three different random tridiagonal
factors, each against its CSR and the copy time.

Times are the minimum over repetitions after a warm-up (single runs for the
iterative solvers and pyamg, which take seconds); the machine is shared, so the
ratios are what carries over.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import textwrap
import time

import numpy as np
import scipy
import scipy.fft as sfft
import scipy.sparse as sp
from scipy.sparse.linalg import cg

import kronop
from kronop import KronSum

try:
    from benchmarks.timing import cpu_model
    from benchmarks.timing import interleaved as _interleaved
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from timing import cpu_model
    from timing import interleaved as _interleaved
from kronop.gallery import laplacian

RTOL = 1e-8
SPSOLVE_TIMEOUT = 120.0


# ---------------------------------------------------------------- timing
def best_of(fn, reps: int, warmup: bool = True) -> tuple[float, float]:
    """(minimum seconds over ``reps`` calls, seconds of the first call)."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    times = [] if warmup else [first]
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), first


def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return (
            f"{seconds * 1e3:.2f} ms" if seconds < 0.01 else f"{seconds * 1e3:.1f} ms"
        )
    return f"{seconds:.2f} s"


def dgemm_gflops(n: int = 2000, reps: int = 3) -> float:
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n)), rng.random((n, n))
    t, _ = best_of(lambda: a @ b, reps)
    return 2 * n**3 / t / 1e9


def machine_lines(quick: bool, record: dict | None = None) -> list[str]:
    """The machine lines of the report; ``record`` (if given) gets the same facts."""
    infos: list[dict] = []
    try:
        from threadpoolctl import threadpool_info

        infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        blas = ", ".join(
            f"{i.get('internal_api')} {i.get('architecture', '?')} ×{i.get('num_threads')}"
            for i in infos
        )
    except ImportError:  # pragma: no cover
        blas = "threadpoolctl not installed"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    gf = dgemm_gflops(1000 if quick else 2000)
    if record is not None:
        record.update(
            cpu=cpu_model(),
            ncpu=os.cpu_count(),
            arch=platform.machine(),
            platform=platform.platform(),
            blas=[
                {
                    key: i.get(key)
                    for key in (
                        "internal_api",
                        "version",
                        "architecture",
                        "num_threads",
                    )
                }
                for i in infos
            ],
            blas_line=blas,
            dgemm_gflops=gf,
            dgemm_size=1000 if quick else 2000,
            load=load,
            numpy=np.__version__,
            scipy=scipy.__version__,
            python=platform.python_version(),
            kronop=kronop.__version__,
            fused=kronop.fused_enabled(),
        )
    return [
        (
            f"Machine: {os.cpu_count()} cores, {platform.machine()}; BLAS (numpy, "
            f"scipy): {blas}; DGEMM {gf:.0f} GFLOP/s (measured now); load average "
            f"{load}."
        ),
        (
            f"numpy {np.__version__}, scipy {scipy.__version__}, Python "
            f"{platform.python_version()}."
        ),
    ]


# ------------------------------------------------------------- yardsticks
def assembled(n: int) -> sp.csr_array:
    """−Δₕ (h = 1) assembled by scipy: kronsum is B⊕A-ordered, symmetric here."""
    t = sp.diags_array(
        [-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], offsets=[-1, 0, 1]
    ).tocsr()
    return sp.csr_array(sp.kronsum(sp.kronsum(t, t, format="csr"), t, format="csr"))


class EighGemm:
    """Plain fast diagonalization: eigh of the 1-D factor, GEMMs along each axis."""

    def __init__(self, n: int):
        t = laplacian(n).factors[0].toarray()
        w, self.V = np.linalg.eigh(t)
        self.Vt = np.ascontiguousarray(self.V.T)
        self.lam = (w[:, None, None] + w[None, :, None] + w[None, None, :]).reshape(-1)
        self.n = n

    @staticmethod
    def _apply(M, x, n):
        # three GEMMs, each rotating the next axis to the front: no copies
        y = x.reshape(-1, n)
        for _ in range(3):
            y = (M @ y.T).reshape(-1, n)
        return y.reshape(-1)

    def solve(self, b):
        y = self._apply(self.Vt, b, self.n)
        y /= self.lam
        return self._apply(self.V, y, self.n)


class Dstn:
    """The O(N log n) yardstick: DST-I in 3-D, divide, inverse DST-I."""

    def __init__(self, n: int):
        k = np.arange(1, n + 1)
        w = 4 * np.sin(np.pi * k / (2 * (n + 1))) ** 2
        self.lam = w[:, None, None] + w[None, :, None] + w[None, None, :]
        self.n = n

    def solve(self, b):
        y = sfft.dstn(b.reshape((self.n,) * 3), type=1, norm="ortho")
        y /= self.lam
        return sfft.idstn(y, type=1, norm="ortho").reshape(-1)


_SPSOLVE_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    sys.path.insert(0, {root!r})
    from benchmarks.poisson_cases import assembled
    from scipy.sparse.linalg import spsolve
    n = {n}
    A = assembled(n).tocsc()
    b = np.random.default_rng(0).standard_normal(n**3)
    t = time.perf_counter()
    x = spsolve(A, b)
    t = time.perf_counter() - t
    print(t, np.linalg.norm(A @ x - b) / np.linalg.norm(b))
    """
)


def spsolve_in_subprocess(n: int, timeout: float) -> tuple[float | None, str]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = _SPSOLVE_SCRIPT.format(root=root, n=n)
    try:
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return None, f"stopped after {timeout:.0f} s"
    except subprocess.CalledProcessError as exc:  # pragma: no cover
        return None, f"failed: {exc.stderr.strip().splitlines()[-1]}"
    t, res = (float(v) for v in out.stdout.split())
    return t, f"rel. residual {res:.1e}"


# ----------------------------------------------------------------- matvecs
def without_fused(fn):
    """``fn`` run with kronop's fused kernels switched off."""

    def call():
        previous = kronop.set_fused(False)
        try:
            return fn()
        finally:
            kronop.set_fused(previous)

    return call


def random_tridiagonal(n: int, rng) -> sp.csr_array:
    """A random nonsymmetric tridiagonal CSR matrix (diagonally dominant)."""
    return sp.diags_array(
        [-rng.random(n - 1), 2 + rng.random(n), -rng.random(n - 1)],
        offsets=[-1, 0, 1],
    ).tocsr()


def matvec_rows(
    ns=(16, 32, 64, 128), quick: bool = False, record: list | None = None
) -> list[str]:
    """Markdown: KronSum matvec (fused and numpy) against CSR and the copy time.

    ``record`` (if given) gets one dict per row with the same numbers (seconds).
    """
    lines = [
        "### Kronecker-sum matvec against CSR and the memory limit",
        "",
        (
            "| operator | n | CSR | KronSum (fused) | KronSum (numpy) | copy | "
            "fused / copy | numpy / copy | CSR / fused | CSR / numpy |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rng = np.random.default_rng(11)
    for n in ns:
        N = n**3
        reps = max(3, min(50, int((2e7 if quick else 1e8) / N)))
        x = rng.standard_normal(N)
        y = np.empty_like(x)
        cases = [("laplacian((n,)*3)", laplacian((n, n, n)), assembled(n))]
        tri = [random_tridiagonal(n, rng) for _ in range(3)]
        ks = KronSum(*tri)
        # KronSum(A, B, C) = A⊗I⊗I + I⊗B⊗I + I⊗I⊗C; scipy's kronsum(A, B) = B⊗I + I⊗A
        csr = sp.csr_array(
            sp.kronsum(sp.kronsum(tri[2], tri[1], format="csr"), tri[0], format="csr")
        )
        cases.append(("KronSum of 3 random tridiagonal", ks, csr))
        for name, op, A in cases:
            err = np.linalg.norm(op @ x - A @ x) / np.linalg.norm(A @ x)
            if not err <= 1e-12:
                lines.append(f"| {name} | {n} | WRONG (relative error {err:.1e}) |")
                if record is not None:
                    record.append(
                        {"operator": name, "n": n, "N": N, "wrong": float(err)}
                    )
                continue
            t = _interleaved(
                {
                    "csr": lambda A=A, x=x: A @ x,
                    "fused": lambda op=op, x=x: op @ x,
                    "numpy": without_fused(lambda op=op, x=x: op @ x),
                    "copy": lambda x=x, y=y: np.copyto(y, x),
                },
                reps,
            )
            c = t["copy"]
            if record is not None:
                record.append(
                    {
                        "operator": name,
                        "n": n,
                        "N": N,
                        "reps": reps,
                        "csr": t["csr"],
                        "fused": t["fused"],
                        "numpy": t["numpy"],
                        "copy": c,
                        "fused_over_copy": t["fused"] / c,
                        "numpy_over_copy": t["numpy"] / c,
                        "csr_over_fused": t["csr"] / t["fused"],
                        "csr_over_numpy": t["csr"] / t["numpy"],
                    }
                )
            lines.append(
                f"| {name} | {n} | {fmt(t['csr'])} | {fmt(t['fused'])} | "
                f"{fmt(t['numpy'])} | {fmt(c)} | {t['fused'] / c:.2f} | "
                f"{t['numpy'] / c:.2f} | {t['csr'] / t['fused']:.2f} | "
                f"{t['csr'] / t['numpy']:.2f} |"
            )
    lines += [
        "",
        (
            "Least time over interleaved repetitions; targets: fused / copy ≤ 2 at "
            "n = 128 and ≤ 2.5 at n = 64, CSR / KronSum > 1 at every n."
        ),
        "",
    ]
    return lines


# ----------------------------------------------------------------- the table
def _cg(A, b, maxiter=5000):
    count = [0]

    def cb(_):
        count[0] += 1

    t0 = time.perf_counter()
    x, info = cg(A, b, rtol=RTOL, maxiter=maxiter, callback=cb)
    return x, time.perf_counter() - t0, count[0], info


def _one_size(n: int, quick: bool, record: dict | None = None) -> tuple[list[str], str]:
    """The table for one n, and its line of the targets table.

    ``record`` (if given) gets the same numbers (seconds, iterations).
    """
    reps = 2 if quick else 7
    N = n**3
    b = np.random.default_rng(n).standard_normal(N)
    nb = np.linalg.norm(b)
    rows: list[tuple[str, float | None, str, str, str]] = []

    # kronop direct solve: cold (setup included), then warm
    t0 = time.perf_counter()
    L = laplacian((n, n, n))
    x = L.solve(b)
    cold = time.perf_counter() - t0

    def resid(x):
        return f"{np.linalg.norm(L @ x - b) / nb:.1e}"

    t_kron, _ = best_of(lambda: L.solve(b), reps)
    note = f"cold first call incl. setup {fmt(cold)}"
    rows.append(("kronop `laplacian(...).solve`", t_kron, "—", resid(x), note))

    t0 = time.perf_counter()
    eg = EighGemm(n)
    note = f"eigh of the 1-D factor {fmt(time.perf_counter() - t0)} (not included)"
    t_eg, _ = best_of(lambda: eg.solve(b), reps)
    rows.append(("eigh + GEMM yardstick", t_eg, "—", resid(eg.solve(b)), note))

    ds = Dstn(n)
    t_ds, _ = best_of(lambda: ds.solve(b), reps)
    rows.append(("`scipy.fft.dstn` yardstick", t_ds, "—", resid(ds.solve(b)), ""))

    # one matvec each way
    t0 = time.perf_counter()
    A = assembled(n)
    note = f"assembly {fmt(time.perf_counter() - t0)}, {A.nnz / 1e6:.1f}M nonzeros"
    mreps = 5 if quick else 30
    y = np.empty_like(b)
    mv = _interleaved(
        {
            "csr": lambda: A @ b,
            "fused": lambda: L @ b,
            "numpy": without_fused(lambda: L @ b),
            "copy": lambda: np.copyto(y, b),
        },
        mreps,
    )
    t_mv_csr, t_mv_ks, t_copy = mv["csr"], mv["fused"], mv["copy"]
    rows.append(("matvec: CSR (assembled)", t_mv_csr, "—", "—", note))
    on = "fused kernels" if kronop.fused_enabled() else "fused kernels unavailable"
    note = f"{on}; {t_mv_ks / t_copy:.2f}× the copy"
    rows.append(("matvec: kronop `KronSum`", t_mv_ks, "—", "—", note))
    note = f"`kronop.set_fused(False)`; {mv['numpy'] / t_copy:.2f}× the copy"
    rows.append(("matvec: kronop `KronSum` (numpy)", mv["numpy"], "—", "—", note))
    rows.append(("copy of the vector (memory limit)", t_copy, "—", "—", ""))

    t_amg = None
    if not quick:
        try:
            import pyamg
        except ImportError:
            rows.append(("pyamg smoothed aggregation", None, "—", "—", "not installed"))
        else:
            res: list[float] = []
            t0 = time.perf_counter()
            ml = pyamg.smoothed_aggregation_solver(A)
            xa = ml.solve(b, tol=RTOL, maxiter=500, residuals=res)
            t_amg = time.perf_counter() - t0
            name = "pyamg smoothed aggregation (setup + solve)"
            rows.append((name, t_amg, str(len(res) - 1), resid(xa), ""))
        if n <= 64:
            t_sp, note = spsolve_in_subprocess(n, SPSOLVE_TIMEOUT)
            rows.append(("`spsolve` on CSR", t_sp, "—", "—", note))
        else:
            note = "not attempted (did not finish n = 64 in 120 s)"
            rows.append(("`spsolve` on CSR", None, "—", "—", note))
    xc, t_cg_csr, it, info = _cg(A, b)
    note = "" if info == 0 else "not converged"
    rows.append(("`cg` on CSR", t_cg_csr, str(it), resid(xc), note))
    it_csr, info_csr = it, info
    xk, t_cg_k, it, info = _cg(L, b)
    note = "" if info == 0 else "not converged"
    rows.append(("`cg` on kronop `KronSum`", t_cg_k, str(it), resid(xk), note))
    if record is not None:
        record.update(
            n=n,
            N=N,
            quick=quick,
            kronop_direct=t_kron,
            kronop_direct_cold=cold,
            eigh_gemm=t_eg,
            dstn=t_ds,
            matvec_csr=t_mv_csr,
            matvec_fused=t_mv_ks,
            matvec_numpy=mv["numpy"],
            copy=t_copy,
            fused=kronop.fused_enabled(),
            pyamg=t_amg,
            cg_csr=t_cg_csr,
            cg_csr_iterations=it_csr,
            cg_csr_converged=info_csr == 0,
            cg_kronsum=t_cg_k,
            cg_kronsum_iterations=it,
            cg_kronsum_converged=info == 0,
            rows=[
                {
                    "method": name,
                    "seconds": t,
                    "iterations": None if its == "—" else int(its),
                    "residual": None if res == "—" else float(res),
                    "note": note,
                }
                for name, t, its, res, note in rows
            ],
        )

    lines = [
        f"### n = {n} (N = {N:,})",
        "",
        "| method | time | iterations | rel. residual | × kronop direct | note |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, t, its, res, note in rows:
        matvec = name.startswith(("matvec", "copy"))
        ratio = "—" if t is None or matvec else f"{t / t_kron:.2f}"
        lines.append(f"| {name} | {fmt(t)} | {its} | {res} | {ratio} | {note} |")
    lines.append("")
    amg = f"{t_amg / t_kron:.0f}× (≥ 100×)" if t_amg else "—"
    cgr = f"{t_cg_csr / t_cg_k:.2f}× (≥ 3)" if t_cg_k else "—"
    target = (
        f"| {n} | {t_kron / min(t_eg, t_ds):.2f} (≤ 1.2) | {amg} | "
        f"{t_mv_csr / t_mv_ks:.2f}× (≥ 1) | {t_mv_ks / t_copy:.2f} | {cgr} |"
    )
    return lines, target


def run_poisson(
    ns=(64, 128), quick: bool = False, record: dict | None = None
) -> list[str]:
    """Markdown lines: the Poisson table for each n and the targets with ratios.

    Parameters
    ----------
    ns : sequence of int
        Grid points per axis.
    quick : bool
        Fewer repetitions, no pyamg / spsolve (cg runs either way).
    record : dict, optional
        Filled with the same measurements as numbers (seconds): ``"machine"``,
        ``"sizes"`` (one dict per n) and ``"matvec"`` (one dict per row of the
        matvec table).

    Returns
    -------
    list of str
    """
    machine: dict | None = None if record is None else {}
    sizes: list | None = None if record is None else []
    matvecs: list | None = None if record is None else []
    if record is not None:
        record.update(machine=machine, sizes=sizes, matvec=matvecs)
    lines = ["## 3-D Poisson, Dirichlet, −Δₕu = f on n³ points", ""]
    lines += machine_lines(quick, machine)
    lines.append("")
    targets = []
    for n in ns:
        size: dict | None = None if sizes is None else {}
        body, target = _one_size(n, quick, size)
        if sizes is not None:
            sizes.append(size)
        lines += body
        targets.append(target)
    lines += [
        "### Target ratios",
        "",
        (
            "| n | kronop direct / faster yardstick | pyamg / kronop direct | "
            "CSR matvec / KronSum matvec | KronSum matvec / copy | "
            "cg on CSR / cg on KronSum |"
        ),
        "|---:|---:|---:|---:|---:|---:|",
        *targets,
        "",
    ]
    lines += matvec_rows(quick=quick, record=matvecs)
    return lines


def _json_safe(value):
    """NaN and infinity as null: JSON has neither."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument(
        "--json",
        default=None,
        metavar="PATH",
        help="also write the measurements and the machine as JSON here",
    )
    args = ap.parse_args(argv)
    command = shlex.join(
        [
            "python",
            "benchmarks/poisson_cases.py",
            *(sys.argv[1:] if argv is None else argv),
        ]
    )
    date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    record: dict | None = {} if args.json else None
    print("\n".join(run_poisson(tuple(args.n), quick=args.quick, record=record)))
    if args.json:
        report = {
            "tool": "benchmarks/poisson_cases.py",
            "command": command,
            "date": date,
            "settings": {"ns": list(args.n), "quick": args.quick, "rtol": RTOL},
            **(record or {}),
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(_json_safe(report), fh, indent=1, ensure_ascii=False)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
