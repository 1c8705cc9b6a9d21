"""The 3-D Poisson equation on a dask cluster: a direct solve and a preconditioned cg.

−Δu = f on the unit cube with Dirichlet boundaries and the manufactured solution
u = g(x)g(y)g(z), g = x(1−x)eˣ, on an n×n×n grid. Every vector is a dask array
split in slabs along the first axis; nothing is ever gathered on one machine, so
n can be larger than the workers' memory (dask spills blocks to disk):

* direct solve ``L.solve(f)``: kronop's fast diagonalization — the 1-D eigenbases
  along the two whole axes inside each block, one all-to-all, the first axis and
  the division by the eigenvalues (computed per block, never stored), one
  all-to-all back;
* ``kronop.dask.cg`` preconditioned with the inverse of the shifted Laplacian
  L + σI (a preconditioner for a problem kronop could not solve directly, e.g. a
  variable coefficient, would look the same); each iteration is one halo product
  and one preconditioner solve.

Printed per method: wall time, the error against the exact solution (the largest
over the grid and at sampled points), the relative residual ‖f − Lu‖/‖f‖, the
peak memory of each worker (resident set size) and the bytes spilled to disk.

Needs the dask extra: ``pip install -e ".[dask]"``. Run::

    python examples/poisson_dask.py --n 256 --workers 2 --memory-limit 4GiB
    python examples/poisson_dask.py --n 1024 --workers 2 --memory-limit 4GiB --no-cg
    python examples/poisson_dask.py --quick   # n = 32, for CI

The dashboard address is printed: open it to watch the tasks and the spilling.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import resource
import shutil
import threading
import time

import dask
import dask.array as da
import numpy as np
from distributed import Client, LocalCluster, wait

import kronop
from kronop.dask import cg, slab_chunks


def profile(n: int):
    """Grid points, g and g'' of the 1-D profile g = x(1−x)eˣ (g(0) = g(1) = 0)."""
    h = 1.0 / (n + 1)
    x = h * np.arange(1, n + 1)
    e = np.exp(x)
    return h, x * (1 - x) * e, -x * (x + 3) * e


def _block(n: int, which: str, block_info=None):
    """One block of the exact solution u or of f = −Δu, from its index ranges."""
    (i0, i1), (j0, j1), (k0, k1) = block_info[None]["array-location"]
    _h, g, gpp = profile(n)
    a, b, c = g[i0:i1, None, None], g[None, j0:j1, None], g[None, None, k0:k1]
    if which == "u":
        return a * b * c
    ap, bp, cp = gpp[i0:i1, None, None], gpp[None, j0:j1, None], gpp[None, None, k0:k1]
    return -(ap * b * c + a * bp * c + a * b * cp)


def grid_array(n: int, which: str, chunks):
    """u or f on the n³ grid as a lazy dask array: each task makes its own block."""
    return da.map_blocks(
        _block,
        n,
        which,
        dtype=np.float64,
        chunks=chunks,
        meta=np.empty((0, 0, 0)),
        name=f"poisson-{which}-{n}-{hash(chunks)}",
    )


class Monitor:
    """Polls the workers: peak resident memory, bytes spilled and on local disk."""

    def __init__(self, client: Client, every: float = 0.5) -> None:
        self.client = client
        self.every = every
        self.peak_rss: dict[str, int] = {}
        self.peak_disk = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._poll()

    def _poll(self) -> None:
        try:
            got = self.client.run(_worker_state)
        except (OSError, TimeoutError):  # a worker restarting: try next time
            return
        disk = 0
        for addr, (rss, used) in got.items():
            self.peak_rss[addr] = max(self.peak_rss.get(addr, 0), rss)
            disk += used
        self.peak_disk = max(self.peak_disk, disk)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._poll()


def _worker_state(dask_worker):
    """(peak RSS in bytes since the worker started, bytes under its local dir)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    used = 0
    for root, _dirs, files in os.walk(dask_worker.local_directory):
        for f in files:
            with contextlib.suppress(OSError):  # a spill file removed meanwhile
                used += os.path.getsize(os.path.join(root, f))
    return rss, used


def _spilled(dask_worker):
    m = getattr(dask_worker.data, "cumulative_metrics", {})
    return float(
        sum(
            v
            for (label, unit), v in m.items()
            if label == "disk-write" and unit == "bytes"
        )
    )


def gib(b: float) -> str:
    return f"{b / 2**30:.2f} GiB"


def check(client, u_hat, exact, f, L, rng, samples: int = 64):
    """Largest error, sampled errors and the relative residual, in one pass."""
    n = u_hat.shape[0]
    idx = tuple(rng.integers(0, n, samples) for _ in range(3))
    err = da.max(da.abs(u_hat - exact))
    r = f - L @ u_hat
    rnorm = da.sqrt(da.sum(r * r))
    fnorm = da.sqrt(da.sum(f * f))
    got = u_hat.vindex[idx]
    err_max, rn, fn, picked = dask.compute(err, rnorm, fnorm, got)
    return float(err_max), idx, picked, float(rn / fn)


def timed(client, build, repeat: int):
    """Median wall time of ``repeat`` runs of ``build()`` persisted, and the last result."""
    times, out = [], None
    for _ in range(repeat):
        out = None  # release the previous result first
        t0 = time.perf_counter()
        out = build()
        wait(out[0] if isinstance(out, tuple) else out)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def run_methods(client, args, n: int) -> list:
    """The direct solve and pcg on the cluster; one row of results per method."""
    rng = np.random.default_rng(0)
    h, g, _ = profile(n)
    L = kronop.laplacian((n, n, n), spacing=h)
    chunks = slab_chunks((n, n, n), np.float64)
    exact = grid_array(n, "u", chunks)
    f = grid_array(n, "f", chunks)
    print(f"blocks: {len(chunks[0])} slabs of ≤ {max(chunks[0])}×{n}×{n}")
    rows = []
    spilled_before = 0.0

    def record(name, t, u, mon, its):
        nonlocal spilled_before
        err, idx, picked, res = check(client, u, exact, f, L, rng)
        spilled = sum(client.run(_spilled).values())
        want = g[idx[0]] * g[idx[1]] * g[idx[2]]
        serr = float(np.max(np.abs(picked - want)))
        rows.append((name, t, err, serr, res, mon, spilled - spilled_before, its))
        spilled_before = spilled

    # the direct solve: the graph is built lazily, then persisted on the workers
    with Monitor(client) as mon:
        t, u_hat = timed(client, lambda: L.solve(f).persist(), args.repeat)
        record("direct solve", t, u_hat, mon, "-")
    del u_hat

    if not args.no_cg:
        # preconditioner: the inverse of L + σI, σ three times the smallest
        # eigenvalue of one axis (solved by fast diagonalization, lazily)
        sigma = 3 * float(L.eigh().values.factors[0].min())
        M = (L + sigma * kronop.IdentityOperator(L.shape)).inv()
        counted = []

        def pcg():
            counted.clear()
            return cg(
                L,
                f,
                rtol=args.rtol,
                maxiter=args.maxiter,
                M=M,
                callback=lambda xk: counted.append(1),
            )

        with Monitor(client) as mon:
            t, (u_cg, info) = timed(client, pcg, args.repeat)
            record("pcg, M = (L+σI)⁻¹", t, u_cg, mon, f"{len(counted)} (info {info})")
    return rows, h


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=128, help="grid points per axis")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="threads per worker")
    p.add_argument("--memory-limit", default="4GiB", help="per worker")
    p.add_argument("--chunk-size", default="64MiB", help="bytes per block")
    p.add_argument("--rechunk-method", default="p2p", choices=["p2p", "tasks"])
    p.add_argument("--rtol", type=float, default=1e-6, help="cg tolerance")
    p.add_argument("--maxiter", type=int, default=50, help="cg iterations at most")
    p.add_argument("--repeat", type=int, default=3, help="runs per method (median)")
    p.add_argument("--no-cg", action="store_true", help="the direct solve only")
    p.add_argument("--quick", action="store_true", help="n = 32 (CI)")
    p.add_argument("--local-directory", default=None, help="where workers spill")
    args = p.parse_args(argv)
    # the scheduler (in this process) logs every p2p rechunk at WARNING level
    logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)
    n = 32 if args.quick else args.n
    if args.quick:  # several blocks even at n = 32, so the all-to-alls run
        args.chunk_size = "64KiB"
    print(f"n = {n} (N = {n**3:,}, {gib(8 * n**3)} per float64 vector)")
    print(
        f"LocalCluster: {args.workers} workers × {args.threads} thread(s), "
        f"memory limit {args.memory_limit} each; rechunk method {args.rechunk_method}"
        f"; {args.repeat} run(s) per method, median time"
    )
    settings = {
        "kronop.chunk-size": args.chunk_size,
        "kronop.rechunk-method": args.rechunk_method,
    }
    with (
        dask.config.set(settings),
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=args.threads,
            memory_limit=args.memory_limit,
            processes=True,
            local_directory=args.local_directory,
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):
        print(f"dashboard: {client.dashboard_link}")
        rows, h = run_methods(client, args, n)

    print()
    print(
        "| method | time | iterations | max error | sampled error | residual | "
        "peak worker memory | spilled | local disk peak |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, t, err, serr, res, mon, sp, its in rows:
        peak = max(mon.peak_rss.values()) if mon.peak_rss else 0
        print(
            f"| {name} | {t:.2f} s | {its} | {err:.2e} | {serr:.2e} | {res:.1e} | "
            f"{gib(peak)} | {gib(sp)} | {gib(mon.peak_disk)} |"
        )
    print(
        "\nmax error: against the exact solution over the grid (the discretization "
        f"error, O(h²), h = {h:.2e}); sampled: at 64 random points; residual: "
        "‖f − L u‖/‖f‖ (the solver's); peak worker memory: the largest resident set "
        "of one worker process; spilled: bytes the workers wrote to disk when over "
        "their memory target; local disk peak: spill and p2p shuffle files together."
    )
    if args.local_directory:
        shutil.rmtree(
            os.path.join(args.local_directory, "dask-scratch-space"), ignore_errors=True
        )


if __name__ == "__main__":
    main()
