"""The cost of distribution, side by side: ``python benchmarks/dask_cost.py``.

Runs the same kronop operations on a numpy vector and on a dask array (the grid
``(n, n, n)`` split in slabs along axis 0, :func:`kronop.dask.slab_chunks`) and
prints one markdown table of the times and of the dask task graphs:

* **solve** ``L.solve(b)`` of the float64 Dirichlet Laplacian ``L`` of an
  ``n × n × n`` grid (fast diagonalization: two all-to-all ``rechunk`` steps);
* **matvec** ``L @ x`` (a stencil on the split axis: halos only, no all-to-all);
* **kron** ``KronOperator(A, B, C) @ x`` with three dense random ``n × n``
  factors (two all-to-alls);
* **cg** ``kronop.dask.cg(L, b, maxiter=k, rtol=1e-30)`` against
  ``scipy.sparse.linalg.cg(L, b, maxiter=k, rtol=1e-30)``: seconds per iteration
  (the total over ``k`` iterations, setup included, divided by ``k``);
* **copy** ``np.copyto`` of one vector: the memory-bandwidth reference.

Each dask case runs (a) on the threaded scheduler (rechunk method ``tasks``;
``p2p`` needs a ``distributed`` client) and (b) on a
``distributed.LocalCluster(n_workers=W, threads_per_worker=T, processes=True)``
for each ``W`` of ``--workers`` (``T`` = cores // W unless ``--threads``), with
rechunk methods ``tasks`` and ``p2p``. A dask time is one ``persist`` of the
result, graph construction included, waited for (the result stays on the
workers; nothing is gathered to the client), and on a cluster the wait until the
scheduler has released it again (so no run finds the previous run's result still
in memory); ``kronop.dask.cg`` persists its own iterates. The right-hand side is
persisted on the scheduler's workers before timing. Every time is the least of
``--repeat`` runs, the numpy and dask variants interleaved round by round
(:func:`benchmarks.timing.interleaved`); the numpy reference is the least over
all rounds of all groups, and each dask row shows its ratio to it.

Graph statistics for every dask case: the number of tasks
(``len(y.__dask_graph__())``), the number of graph layers whose name starts
with ``rechunk`` (not the number of all-to-alls: ``p2p`` makes two layers per
all-to-all, ``tasks`` one or two stages), and the number of blocks of the
result. A second table shows how the task count grows with the number of slabs
(2, 4, 8, 16, 32; the transposed layout is sized to the same number of blocks
through ``kronop.chunk-size``) for the ``tasks`` and ``p2p`` methods; it only
builds graphs, nothing is computed.

BLAS threads: the numpy path and the threaded scheduler use the process's
OpenBLAS threads (the table reports the count, and ``OMP_NUM_THREADS`` /
``OPENBLAS_NUM_THREADS`` as set), so on the threaded scheduler every dask thread
may start that many BLAS threads. ``distributed`` workers start with one BLAS
thread: the nanny sets ``OMP_NUM_THREADS=1`` (and the MKL and OpenBLAS ones)
before it spawns a worker process (dask config
``distributed.nanny.pre-spawn-environ``); the table reports the count read in
each worker.

Usage::

    python benchmarks/dask_cost.py                  # n = 256, W in 1, 2
    python benchmarks/dask_cost.py --quick          # n = 64, 1 repeat (< 60 s)
    python benchmarks/dask_cost.py --n 128 --workers 1,2,4 --slabs 8 --json out.json

The machine may be shared, so the ratios are what carries over.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import glob
import json
import logging
import math
import os
import platform
import sys
import time
import warnings

import dask
import dask.array as da
import numpy as np
import scipy
import scipy.sparse.linalg as spla

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import kronop
import kronop.dask
from benchmarks.timing import cpu_model, interleaved

SLAB_COUNTS = (2, 4, 8, 16, 32)


# ------------------------------------------------------------------ machine
def blas_threads() -> int | None:
    """OpenBLAS threads of this process (numpy's bundled OpenBLAS), if readable."""
    libs = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in glob.glob(os.path.join(libs, "*openblas*")):
        lib = ctypes.CDLL(path)
        for name in (
            "scipy_openblas_get_num_threads64_",
            "scipy_openblas_get_num_threads",
            "openblas_get_num_threads64_",
            "openblas_get_num_threads",
        ):
            fn = getattr(lib, name, None)
            if fn is not None:
                return int(fn())
    return None


# ------------------------------------------------------------------ problem
def problem(n: int, slabs: int, seed: int = 0):
    """The operators, the numpy right-hand side and the dask chunks."""
    rng = np.random.default_rng(seed)
    L = kronop.laplacian((n, n, n))
    K = kronop.KronOperator(*(rng.standard_normal((n, n)) for _ in range(3)))
    b = rng.random(n**3)
    total = b.nbytes
    chunk = max(1, -(-total // slabs))
    return L, K, b, chunk


def operations(L, K) -> dict:
    """name -> function of a vector: numpy in, numpy out; dask in, lazy dask out."""
    return {
        "solve": lambda x: L.solve(x),
        "matvec": lambda x: L @ x,
        "kron": lambda x: K @ x,
    }


def graph_stats(y) -> dict:
    g = y.__dask_graph__()
    rechunks = sum(1 for name in g.layers if name.startswith("rechunk"))
    return {"tasks": len(g), "rechunk_layers": rechunks, "blocks": int(y.npartitions)}


def slab_table(L, K, n: int) -> list[dict]:
    """Task counts of each product for 2 … 32 slabs, both rechunk methods."""
    shape = (n, n, n)
    total = 8 * n**3
    rows = []
    for slabs in SLAB_COUNTS:
        if slabs > n:
            continue
        chunk = max(1, -(-total // slabs))
        x = da.zeros(shape, chunks=kronop.dask.slab_chunks(shape, "float64", chunk))
        row = {"slabs": len(x.chunks[0])}
        for method in ("tasks", "p2p"):
            cfg = {"kronop.chunk-size": chunk, "kronop.rechunk-method": method}
            with dask.config.set(cfg):
                for name, op in operations(L, K).items():
                    st = graph_stats(op(x))
                    row[f"{name}/{method}"] = st["tasks"]
                    row[f"{name}/{method}/rechunk"] = st["rechunk_layers"]
        rows.append(row)
    return rows


# ------------------------------------------------------------------ timing
def copy_time(b, reps: int) -> float:
    """Least seconds of ``np.copyto`` of one vector (the memory reference)."""
    dst = np.empty_like(b)
    return interleaved({"copy": lambda: np.copyto(dst, b)}, max(reps, 3))["copy"]


def _holds(keys, dask_scheduler=None) -> bool:
    """Whether the scheduler still holds any of ``keys``."""
    return any(key in dask_scheduler.tasks for key in keys)


def run_group(label, scheduler, client, methods, L, K, b_np, b, ops, k, reps, out):
    """Time every op under one scheduler, numpy interleaved with the dask runs."""
    nops = operations(L, K)

    def persist(y):
        if client is None:
            dask.persist(y, scheduler=scheduler)
            return
        from distributed import futures_of, wait

        futures = futures_of(client.persist(y))
        wait(futures)
        # wait for the result's release before the next run: dropping futures
        # is asynchronous, and a run building the same keys (the matvec graph
        # is the same for both rechunk methods) would find them still in memory
        keys = [f.key for f in futures]
        del futures
        deadline = time.perf_counter() + 5.0
        while client.run_on_scheduler(_holds, keys=keys):
            if time.perf_counter() > deadline:
                break
            time.sleep(0.001)

    for name, op in ops.items():
        fns = {"numpy": lambda nop=nops[name]: nop(b_np)}
        for method in methods:
            cfg = {"kronop.rechunk-method": method}

            def run(op=op, cfg=cfg):
                with dask.config.set(cfg):
                    persist(op(b))

            fns[method] = run
        best = interleaved(fns, reps, warm=1)
        out["numpy"][name] = min(out["numpy"].get(name, np.inf), best["numpy"])
        for method in methods:
            with dask.config.set({"kronop.rechunk-method": method}):
                t0 = time.perf_counter()
                y = op(b)
                build = time.perf_counter() - t0
                stats = graph_stats(y)
            out["dask"].append(
                {
                    "case": name,
                    "scheduler": label,
                    "method": method,
                    "seconds": best[method],
                    "build_s": build,
                    **stats,
                }
            )

    # cg: the vectors are persisted every iteration, so the scheduler must be
    # the active one (the client is the default while it is open)
    if client is None:
        ctx = dask.config.set(scheduler=scheduler)
    else:
        ctx = contextlib.nullcontext()
    with ctx:

        def run_cg():
            # cg persists its iterates every iteration: x is already computed
            kronop.dask.cg(L, b, maxiter=k, rtol=1e-30, atol=0.0)

        best = interleaved(
            {
                "numpy": lambda: spla.cg(L, b_np, maxiter=k, rtol=1e-30, atol=0.0),
                "dask": run_cg,
            },
            reps,
            warm=1,
        )
    out["numpy"]["cg"] = min(out["numpy"].get("cg", np.inf), best["numpy"] / k)
    out["dask"].append(
        {
            "case": "cg",
            "scheduler": label,
            "method": "-",
            "seconds": best["dask"] / k,
            "build_s": float("nan"),
            "tasks": None,
            "rechunk_layers": None,
            "blocks": int(b.npartitions),
        }
    )


def check(L, b_np, y) -> float:
    """Relative difference of a computed dask solve from the numpy one."""
    ref = L.solve(b_np)
    got = np.asarray(y).reshape(-1)
    return float(np.linalg.norm(got - ref) / np.linalg.norm(ref))


# ------------------------------------------------------------------ report
def fmt_s(t: float) -> str:
    if math.isnan(t):
        return "–"
    if t >= 1:
        return f"{t:.2f} s"
    return f"{t * 1e3:.1f} ms"


def report(meta, out, slab_rows) -> str:
    lines = []
    lines.append(
        f"### Cost of distribution: n = {meta['n']} (N = {meta['n'] ** 3}, "
        f"{meta['vector_MiB']:.0f} MiB per float64 vector), {meta['slabs']} slabs, "
        f"least of {meta['repeat']} interleaved runs\n"
    )
    lines.append(f"- CPU: {meta['cpu']} ({meta['cores']} cores)")
    lines.append(
        f"- numpy {meta['numpy']}, scipy {meta['scipy']}, dask {meta['dask']}, "
        f"distributed {meta['distributed']}, Python {meta['python']}"
    )
    lines.append(
        f"- BLAS threads: client/threaded scheduler {meta['blas_threads']} "
        f"(OMP_NUM_THREADS={meta['OMP_NUM_THREADS']}, "
        f"OPENBLAS_NUM_THREADS={meta['OPENBLAS_NUM_THREADS']}); "
        f"threaded scheduler {meta['threaded_workers']} dask threads, each may "
        "start that many BLAS threads; distributed workers "
        f"{meta['worker_blas_threads']} (nanny pre-spawn environment "
        f"{meta['pre_spawn_environ']})"
    )
    lines.append(
        f"- copy (np.copyto of one vector, memory reference): "
        f"{fmt_s(out['numpy']['copy'])}; cg: seconds per iteration over "
        f"{meta['cg_iters']} iterations\n"
    )
    lines.append(
        "| case | numpy | scheduler | rechunk | dask | dask / numpy | "
        "dask / copy | tasks | rechunk layers | blocks | graph build |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    copy = out["numpy"]["copy"]
    for row in out["dask"]:
        t_np = out["numpy"][row["case"]]
        lines.append(
            f"| {row['case']} | {fmt_s(t_np)} | {row['scheduler']} | "
            f"{row['method']} | {fmt_s(row['seconds'])} | "
            f"{row['seconds'] / t_np:.2f} | {row['seconds'] / copy:.1f} | "
            f"{row['tasks'] if row['tasks'] is not None else '–'} | "
            f"{row['rechunk_layers'] if row['rechunk_layers'] is not None else '–'} "
            f"| {row['blocks']} | {fmt_s(row['build_s'])} |"
        )
    lines.append("")
    lines.append(
        "#### Tasks per graph against the number of slabs (graphs only; "
        "rechunk layers in parentheses)\n"
    )
    names = ("solve", "matvec", "kron")
    head = " | ".join(f"{c} {m}" for c in names for m in ("tasks", "p2p"))
    lines.append(f"| slabs | {head} |")
    lines.append("|---" * (1 + 2 * len(names)) + "|")
    for r in slab_rows:
        cells = " | ".join(
            f"{r[f'{c}/{m}']} ({r[f'{c}/{m}/rechunk']})"
            for c in names
            for m in ("tasks", "p2p")
        )
        lines.append(f"| {r['slabs']} | {cells} |")
    return "\n".join(lines)


# ------------------------------------------------------------------ main
def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=None, help="grid side (default 256)")
    ap.add_argument("--quick", action="store_true", help="n = 64, 1 repeat")
    ap.add_argument("--repeat", type=int, default=None, help="runs (default 3)")
    ap.add_argument("--workers", default="1,2", help="LocalCluster sizes, e.g. 1,2")
    ap.add_argument("--threads", type=int, default=None, help="threads per worker")
    ap.add_argument("--slabs", type=int, default=4, help="slabs of the vector")
    ap.add_argument("--cg-iters", type=int, default=10, help="cg iterations k")
    ap.add_argument("--json", default=None, help="save the results here")
    args = ap.parse_args(argv)
    n = args.n or (64 if args.quick else 256)
    reps = args.repeat or (1 if args.quick else 3)
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    cores = os.cpu_count() or 1

    L, K, b_np, chunk = problem(n, args.slabs)
    shape = (n, n, n)
    chunks = kronop.dask.slab_chunks(shape, "float64", chunk)
    ops = operations(L, K)

    import distributed

    meta = {
        "n": n,
        "slabs": len(chunks[0]),
        "chunk_size": chunk,
        "repeat": reps,
        "cg_iters": args.cg_iters,
        "vector_MiB": b_np.nbytes / 2**20,
        "cpu": cpu_model(),
        "cores": cores,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "dask": dask.__version__,
        "distributed": distributed.__version__,
        "python": platform.python_version(),
        "blas_threads": blas_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "unset"),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
        "threaded_workers": dask.config.get("num_workers", None) or cores,
        "pre_spawn_environ": dask.config.get("distributed.nanny.pre-spawn-environ"),
        "worker_blas_threads": {},
        "check": {},
    }
    out = {"numpy": {"copy": copy_time(b_np, reps)}, "dask": []}
    slab_rows = slab_table(L, K, n)

    with dask.config.set({"kronop.chunk-size": chunk}):
        # (a) the threaded scheduler, before any client becomes the default
        b = da.from_array(b_np.reshape(shape), chunks=chunks)
        (b,) = dask.persist(b, scheduler="threads")
        with dask.config.set({"kronop.rechunk-method": "tasks"}):
            y = L.solve(b).compute(scheduler="threads")
        meta["check"]["threads"] = check(L, b_np, y)
        del y
        run_group(
            "threads",
            "threads",
            None,
            ["tasks"],
            L,
            K,
            b_np,
            b,
            ops,
            args.cg_iters,
            reps,
            out,
        )
        del b

        # (b) LocalCluster of W worker processes
        for W in workers:
            T = args.threads or max(1, cores // W)
            label = f"LocalCluster {W}×{T}"
            with (
                warnings.catch_warnings(),
                distributed.LocalCluster(
                    n_workers=W,
                    threads_per_worker=T,
                    processes=True,
                    dashboard_address=None,
                    # p2p logs every shuffle's start and end at WARNING
                    silence_logs=logging.ERROR,
                ) as cluster,
                distributed.Client(cluster) as client,
            ):
                warnings.simplefilter("ignore")
                meta["worker_blas_threads"][label] = sorted(
                    set(client.run(blas_threads).values())
                )
                b = da.from_array(b_np.reshape(shape), chunks=chunks)
                b = client.persist(b)
                distributed.wait(b)
                with dask.config.set({"kronop.rechunk-method": "p2p"}):
                    y = client.compute(L.solve(b)).result()
                meta["check"][label] = check(L, b_np, y)
                del y
                run_group(
                    label,
                    None,
                    client,
                    ["tasks", "p2p"],
                    L,
                    K,
                    b_np,
                    b,
                    ops,
                    args.cg_iters,
                    reps,
                    out,
                )
                del b

    print(report(meta, out, slab_rows))
    print(
        "\nsolve check, ‖dask − numpy‖/‖numpy‖: "
        + ", ".join(f"{k} {v:.1e}" for k, v in meta["check"].items())
    )
    result = {"meta": meta, "numpy": out["numpy"], "dask": out["dask"]}
    result["slabs"] = slab_rows
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2, default=str)
    return result


if __name__ == "__main__":
    main()
