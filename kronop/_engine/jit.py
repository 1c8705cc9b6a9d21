"""The compiled-kernel layer: numba when it is installed, and the switch for it.

Fused kernels (:mod:`.fused_stencil`, :mod:`.fused_product`) are written once as
plain Python loops and compiled by numba on first use (``kronop[fast]``). Without
numba, or with the switch off, the engine runs its numpy/BLAS kernels, which stay
the reference: both give the same results to rounding, and the test suite runs
both ways.

Three decisions live here:

* **Compilation** is lazy (the first call of a kernel with a new dtype compiles
  it) and cached on disk (``cache=True``: numba's cache beside the module, or
  under ``NUMBA_CACHE_DIR``), so a new process loads machine code instead of
  compiling again. ``fastmath`` is limited to contraction into FMAs and
  reassociation (vectorised sums): no ``nnan``/``ninf`` assumptions, so NaN and
  infinity propagate as in the numpy kernels.
* **Threads.** A kernel with its own spinning pool (OpenMP, numba's ``parallel``)
  next to OpenBLAS's threads was measured 4–10× slower on 2 cores. The kernels are
  compiled with ``nogil=True`` and run on this module's own small pool of Python
  threads (:func:`run_tasks`), which never spins and is idle while BLAS runs:
  one pool is busy at a time.
* **The switch.** ``KRONOP_FUSED=0`` in the environment, or
  :func:`kronop.set_fused` at run time, turns the fused kernels off.
"""

from __future__ import annotations

import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = [
    "available",
    "enabled",
    "njit",
    "num_threads",
    "run_tasks",
    "set_enabled",
]

_numba: Any = None
_tried = False
_enabled = os.environ.get("KRONOP_FUSED", "1").strip().lower() not in (
    "0",
    "false",
    "no",
    "off",
)


def _load():
    global _numba, _tried
    if not _tried:
        _tried = True
        try:
            import numba
        except ImportError:  # the extra is not installed: numpy kernels only
            numba = None
        _numba = numba
    return _numba


def available() -> bool:
    """Whether numba can be imported (the ``fast`` extra is installed)."""
    return _load() is not None


def enabled() -> bool:
    """Whether the engine uses the fused kernels now."""
    return _enabled and available()


def set_enabled(flag: bool) -> bool:
    """Turn the fused kernels on or off; returns the previous setting."""
    global _enabled
    old = _enabled
    _enabled = bool(flag)
    return old


#: what ``fastmath`` may assume: fused multiply-adds and reassociated sums only
FASTMATH = frozenset({"contract", "reassoc"})


def njit(fn=None, **options):
    """Compile ``fn`` with numba on first call (nogil, cached, limited fastmath).

    Without numba the plain Python function is returned: callers check
    :func:`enabled` before calling a kernel, so it is never run uncompiled on
    large arrays.
    """

    def wrap(f):
        nb = _load()
        if nb is None:
            return f
        kw = {"nogil": True, "cache": True, "fastmath": set(FASTMATH)}
        kw.update(options)
        try:
            return nb.njit(**kw)(f)
        except RuntimeError as exc:
            # no writable cache location (read-only site-packages, no HOME):
            # compile in memory, once per process, instead of failing
            warnings.warn(
                f"kronop: numba cannot cache compiled kernels on disk ({exc}); "
                "they are compiled in every new process. Set NUMBA_CACHE_DIR to a "
                "writable directory to keep them.",
                RuntimeWarning,
                stacklevel=2,
            )
            kw["cache"] = False
            return nb.njit(**kw)(f)

    return wrap if fn is None else wrap(fn)


def num_threads() -> int:
    """Threads the fused kernels use: the CPUs this process may run on.

    ``KRONOP_NUM_THREADS`` caps it (1 runs every kernel on the calling thread).
    """
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        n = os.cpu_count() or 1
    cap = os.environ.get("KRONOP_NUM_THREADS", "").strip()
    if cap.isdigit() and int(cap) > 0:
        n = min(n, int(cap))
    return max(1, n)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_local = threading.local()


def run_tasks(fn, count: int, threads: int | None = None) -> None:
    """Call ``fn(t, threads)`` for t = 0 … threads−1 on the pool, and wait.

    ``fn`` runs a nogil kernel over its share of the work (task t of ``threads``).
    A call from inside a pool thread (a kernel calling back into the engine) runs
    everything on the calling thread, so the pool can never wait on itself.
    """
    global _pool
    n = min(count, threads or num_threads())
    if n <= 1 or getattr(_local, "inside", False):
        fn(0, 1)
        return
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=max(1, num_threads() - 1),
                thread_name_prefix="kronop-fused",
                initializer=_mark_inside,
            )
        pool = _pool
    futures = [pool.submit(fn, t, n) for t in range(1, n)]
    _local.inside = True
    try:
        fn(0, n)
    finally:
        _local.inside = False
        # every task finishes before any error is raised: none may still write
        # into buffers the caller hands back
        errors = [f.exception() for f in futures]
    for e in errors:
        if e is not None:
            raise e


def _mark_inside() -> None:
    _local.inside = True


def _after_fork() -> None:
    # a forked child inherits the pool object but not its threads: start afresh
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
