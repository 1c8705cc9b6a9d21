"""Kronecker matvec side by side: kronop, its peers, and the machine's limits.

Everything is measured in one process: the machine (DGEMM GFLOP/s, copy GB/s,
the active BLAS kernel) first, then one row per case with the time of every
implementation, float64.

Run from the repository root::

    python benchmarks/compare.py                   # all standard cases
    python benchmarks/compare.py --quick           # fewer repetitions
    python benchmarks/compare.py --cases d3n100,rect
    python benchmarks/compare.py --cases all       # standard + extra cases
    python benchmarks/compare.py --list            # case keys
    python benchmarks/compare.py --format csv --out results.csv
    python benchmarks/compare.py --poisson ""      # without the Poisson solves
    python benchmarks/compare.py --json compare.json  # also the numbers as JSON

Rules of the table:

* every implementation's result is checked against the tensordot reference
  (relative 2-norm error <= 1e-8) before it is timed; a mismatch is "WRONG";
* a warm-up call, then the median of R calls (R chosen so that a cell takes
  about ``--target`` seconds); kronop's first call after construction is
  reported on its own ("cold");
* a peer that is not installed or does not support the case is "n/a", one
  that raises is "error", one whose single call takes more than 10 s "skip";
* GFLOP/s use one flop count per case for every implementation: the
  flop-optimal order of the factors (see :func:`flop_count`).

This module has no side effects on import (asv imports every module in
``benchmarks/``), and no module-level name starts with an asv prefix.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import math
import os
import platform
import shlex
import signal
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from importlib.metadata import PackageNotFoundError, version

import numpy as np

try:
    from benchmarks.timing import cpu_model
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from timing import cpu_model

CELL_LIMIT_S = 10.0  # a single call slower than this is reported as "skip"
RTOL = 1e-8  # relative 2-norm error allowed against the reference
DENSE_LIMIT_BYTES = 2e9  # np.kron(...) is formed only when M*N*8 <= this
SPARSE_NNZ_LIMIT = 2e8  # scipy.sparse.kron(...) is formed only when nnz <= this

PEERS = ("pylops", "pykronecker", "pyfastkron")
IMPLS = (
    "kronop",
    "kronop_numpy",
    "pylops",
    "pykronecker",
    "pyfastkron",
    "tensordot",
    "shuffle",
    "dense",
    "sparse",
)
LABELS = {
    "kronop": "kronop",
    "kronop_numpy": "kronop (numpy)",
    "pylops": "pylops",
    "pykronecker": "pykronecker",
    "pyfastkron": "pyfastkron",
    "tensordot": "tensordot loop",
    "shuffle": "shuffle loop",
    "dense": "np.kron @ x",
    "sparse": "sparse.kron @ x",
}


# ---------------------------------------------------------------------------
# cases


@dataclass(frozen=True)
class Case:
    """One Kronecker matvec problem: factor shapes (m_j, n_j) and k columns."""

    key: str
    label: str
    shapes: tuple[tuple[int, int], ...]
    k: int = 1
    sparse: bool = False  # tridiagonal CSR factors instead of dense ones

    @property
    def n_in(self) -> int:
        return math.prod(n for _, n in self.shapes)

    @property
    def n_out(self) -> int:
        return math.prod(m for m, _ in self.shapes)

    @property
    def square(self) -> bool:
        return all(m == n for m, n in self.shapes)


def _cube(key, d, n, k=1, sparse=False):
    label = f"{'tridiag ' if sparse else ''}d={d} n={n}" + (f", k={k}" if k > 1 else "")
    return Case(key, label, ((n, n),) * d, k, sparse)


STANDARD_CASES = (
    _cube("d2n1000", 2, 1000),
    _cube("d2n3000", 2, 3000),
    _cube("d3n100", 3, 100),
    _cube("d3n200", 3, 200),
    _cube("d4n30", 4, 30),
    _cube("d4n64", 4, 64),
    _cube("d6n10", 6, 10),
    _cube("d5n16", 5, 16),
    _cube("d8n6", 8, 6),
    _cube("d6n8k16", 6, 8, k=16),
    Case("rect", "(300×100)⊗(50×400)⊗(200×200)", ((300, 100), (50, 400), (200, 200))),
    _cube("d3n100k16", 3, 100, k=16),
)

# Not run by default (``--cases all`` or by key): a case where the dense
# matrix fits, and sparse tridiagonal factors (a 3-D Laplacian's factors).
EXTRA_CASES = (
    _cube("d2n100", 2, 100),
    _cube("d4n30k16", 4, 30, k=16),
    _cube("d2n1000k16", 2, 1000, k=16),
    _cube("tri3n64", 3, 64, sparse=True),
    _cube("tri3n128", 3, 128, sparse=True),
    _cube("tri3n128k16", 3, 128, k=16, sparse=True),
)

ALL_CASES = STANDARD_CASES + EXTRA_CASES


def select_cases(spec: str | None) -> list[Case]:
    """Cases named by a comma-separated list of keys, labels or substrings."""
    if not spec:
        return list(STANDARD_CASES)
    if spec.strip() == "all":
        return list(ALL_CASES)
    chosen: list[Case] = []
    for word in (w.strip() for w in spec.split(",")):
        if not word:
            continue
        exact = [c for c in ALL_CASES if word in (c.key, c.label)]
        found = exact or [c for c in ALL_CASES if word in c.key or word in c.label]
        if not found:
            keys = ", ".join(c.key for c in ALL_CASES)
            raise SystemExit(f"unknown case {word!r}; known: {keys}")
        chosen.extend(c for c in found if c not in chosen)
    return chosen


def make_factors(case: Case, rng: np.random.Generator) -> list:
    """Random dense factors (scaled so products stay O(1)) or tridiagonal CSR."""
    if case.sparse:
        import scipy.sparse as sp

        factors = []
        for m, n in case.shapes:
            diag = 2.0 + rng.random(min(m, n))
            off = -rng.random(min(m, n) - 1)
            factors.append(
                sp.diags_array(
                    [off, diag, off], offsets=[-1, 0, 1], shape=(m, n)
                ).tocsr()
            )
        return factors
    return [rng.standard_normal((m, n)) / math.sqrt(n) for m, n in case.shapes]


def dense_of(factor) -> np.ndarray:
    return factor.toarray() if hasattr(factor, "toarray") else np.asarray(factor)


def nnz_of(factor) -> int:
    if hasattr(factor, "nnz"):
        return int(factor.nnz)
    return int(np.count_nonzero(factor))


def flop_count(shapes: Sequence[tuple[int, int]], k: int = 1, nnz=None) -> float:
    """Flops of A_1⊗…⊗A_d @ X applied one factor at a time, in the best order.

    Factor j (m_j × n_j, cost c_j = 2·nnz_j/n_j per entry, 2·m_j when dense)
    applied to a tensor of current size S costs c_j·S flops and turns the size
    into S·m_j/n_j; S starts at N·k. Sorting by (1 − m_j/n_j)/c_j, largest
    first, minimises the total.
    """
    if nnz is None:
        nnz = [m * n for m, n in shapes]
    costs = [2.0 * z / n for z, (_, n) in zip(nnz, shapes, strict=True)]
    order = sorted(
        range(len(shapes)),
        key=lambda j: (1.0 - shapes[j][0] / shapes[j][1]) / costs[j],
        reverse=True,
    )
    size = float(math.prod(n for _, n in shapes) * k)
    total = 0.0
    for j in order:
        m, n = shapes[j]
        total += costs[j] * size
        size = size * m / n
    return total


# ---------------------------------------------------------------------------
# implementations: each builder returns a callable x -> y, or raises
# Unavailable (cell "n/a"); any other exception makes the cell "error".


class Unavailable(Exception):
    """The implementation is not installed or does not support this case."""


def _impl_kronop(factors, case):
    try:
        import kronop
    except ImportError as exc:
        raise Unavailable(f"import kronop failed: {exc}") from exc
    op = kronop.KronOperator(*factors)
    return lambda x: op @ x


def _impl_kronop_numpy(factors, case):
    """kronop with its fused kernels switched off: the numpy/BLAS engine."""
    try:
        import kronop
    except ImportError as exc:
        raise Unavailable(f"import kronop failed: {exc}") from exc
    if not hasattr(kronop, "set_fused"):
        raise Unavailable("this kronop has no fused-kernel switch")
    op = kronop.KronOperator(*factors)

    def apply(x):
        previous = kronop.set_fused(False)
        try:
            return op @ x
        finally:
            kronop.set_fused(previous)

    return apply


def _impl_pylops(factors, case):
    try:
        import pylops
    except ImportError as exc:
        raise Unavailable("pylops not installed") from exc
    dtype = np.result_type(*(f.dtype for f in factors))
    # pylops.Kronecker takes exactly two operators (a third positional
    # argument is its dtype), so nest: Kronecker(Kronecker(A, B), C).
    ops = [pylops.MatrixMult(f, dtype=dtype) for f in factors]
    op = reduce(lambda a, b: pylops.Kronecker(a, b, dtype=dtype), ops)
    return lambda x: op @ x


def _impl_pykronecker(factors, case):
    if not case.square:
        raise Unavailable("pykronecker 0.1.3: square factors only")
    try:
        with contextlib.redirect_stdout(sys.stderr):  # it prints its backend
            from pykronecker import KroneckerProduct
    except ImportError as exc:
        raise Unavailable("pykronecker not installed") from exc
    op = KroneckerProduct(list(factors))
    return lambda x: op @ x


def _impl_pyfastkron(factors, case):
    try:
        from pyfastkron import fastkronbase
        from pyfastkron.fastkronnumpy import FastKronNumpy
    except ImportError as exc:
        raise Unavailable("pyfastkron not installed") from exc
    if fastkronbase.fastkronX86 is None:
        raise Unavailable("pyfastkron: x86 kernel library not loaded")
    fk = FastKronNumpy()
    # gemkm computes Z = X @ (F_1⊗…⊗F_d) with X of shape (k, N): the row-vector
    # convention. So feed it x as (k, N) and the transposed factors, and read
    # the (k, M) result back transposed. Dense float32/float64 only.
    fts = [np.ascontiguousarray(dense_of(f).T) for f in factors]
    probe = np.zeros((1, case.n_in), dtype=fts[0].dtype)
    if not fk.isSupported(probe, fts):
        raise Unavailable("pyfastkron: dtype or platform not supported")

    def apply(x):
        if x.ndim == 1:
            return fk.gemkm(x.reshape(1, -1), fts).reshape(-1)
        return fk.gemkm(x.T, fts).T  # x.T is an F-ordered view: no copy

    return apply


def _impl_tensordot(factors, case):
    mats = [dense_of(f) for f in factors]
    ns = tuple(f.shape[1] for f in mats)
    m_out = case.n_out

    def apply(x):
        t = x.reshape(ns + x.shape[1:])
        for j, f in enumerate(mats):
            t = np.tensordot(f, t, axes=(1, j))
            t = np.moveaxis(t, 0, j)
        return t.reshape((m_out, *x.shape[1:]))

    return apply


def _impl_shuffle(factors, case):
    # Rotate the contracted axis to the end: (n1, rest) -> (rest, m1) ->
    # (n2, rest') -> ... -> (k, m1, ..., md). One GEMM per factor, one
    # reshape (no copy) between them. Sparse factors use F @ X instead.
    ns = [f.shape[1] for f in factors]
    m_out = case.n_out
    sparse = [hasattr(f, "tocsr") for f in factors]
    fts = [None if s else f.T for f, s in zip(factors, sparse, strict=True)]
    d = len(factors)

    def apply(x):
        k = x.shape[1] if x.ndim == 2 else 1
        t = x.reshape(ns[0], -1)
        for j in range(d):
            t = (factors[j] @ t).T if sparse[j] else t.T @ fts[j]
            if j + 1 < d:
                t = t.reshape(ns[j + 1], -1)
        if x.ndim == 1:
            return t.reshape(m_out)
        return t.reshape(k, m_out).T

    return apply


def _impl_dense(factors, case):
    nbytes = 8.0 * case.n_in * case.n_out
    if nbytes > DENSE_LIMIT_BYTES:
        raise Unavailable(f"dense matrix would take {nbytes / 1e9:.3g} GB")
    mat = reduce(np.kron, [dense_of(f) for f in factors])
    return lambda x: mat @ x


def _impl_sparse(factors, case):
    import scipy.sparse as sp

    nnz = math.prod(nnz_of(f) for f in factors)
    if nnz > SPARSE_NNZ_LIMIT:
        raise Unavailable(f"sparse.kron would hold {nnz:.3g} nonzeros")
    mats = [sp.csr_array(f) for f in factors]
    mat = reduce(lambda a, b: sp.kron(a, b, format="csr"), mats)
    return lambda x: mat @ x


BUILDERS: dict[str, Callable] = {
    "kronop": _impl_kronop,
    "kronop_numpy": _impl_kronop_numpy,
    "pylops": _impl_pylops,
    "pykronecker": _impl_pykronecker,
    "pyfastkron": _impl_pyfastkron,
    "tensordot": _impl_tensordot,
    "shuffle": _impl_shuffle,
    "dense": _impl_dense,
    "sparse": _impl_sparse,
}


# ---------------------------------------------------------------------------
# timing


class _CellTimeout(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Raise _CellTimeout after `seconds` (SIGALRM; a no-op where unsupported).

    The exception fires when control returns to the interpreter, so a single
    long BLAS call finishes first, but Python-level loops are interrupted.
    """
    if not hasattr(signal, "setitimer") or seconds <= 0:
        yield
        return

    def _handler(signum, frame):
        raise _CellTimeout

    old = signal.signal(signal.SIGALRM, _handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@dataclass
class Cell:
    """The outcome of one implementation on one case."""

    status: str  # "ok", "n/a", "error", "skip", "WRONG"
    seconds: float = math.nan  # median warm time
    cold: float = math.nan  # first call
    reps: int = 0
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def rel_error(y, ref) -> float:
    y = np.asarray(y)
    if y.shape != ref.shape:
        return math.inf
    scale = np.linalg.norm(ref)
    return float(np.linalg.norm(y - ref) / (scale if scale else 1.0))


def probe(fn, x, ref) -> Cell:
    """The cold first call, the check against `ref`, and one warm call.

    Returns an "ok" cell whose ``seconds`` is the warm call (an estimate used to
    size the repetitions), or a cell saying why the implementation is not timed.
    """
    try:
        with _time_limit(CELL_LIMIT_S):
            t0 = time.perf_counter()
            y = fn(x)
            cold = time.perf_counter() - t0
    except _CellTimeout:
        return Cell("skip", note=f"first call > {CELL_LIMIT_S:g} s")
    except Exception as exc:  # noqa: BLE001  (a peer's failure must not stop the table)
        return Cell("error", note=f"{type(exc).__name__}: {exc}"[:200])
    err = rel_error(y, ref)
    del y
    if not err <= RTOL:
        return Cell("WRONG", cold=cold, note=f"relative error {err:.2e}")
    try:
        with _time_limit(CELL_LIMIT_S):
            t0 = time.perf_counter()
            fn(x)
            warm = time.perf_counter() - t0
    except _CellTimeout:
        return Cell("skip", cold=cold, note=f"second call > {CELL_LIMIT_S:g} s")
    except Exception as exc:  # noqa: BLE001
        return Cell("error", cold=cold, note=f"{type(exc).__name__}: {exc}"[:200])
    return Cell("ok", warm, cold, 1)


def timed_calls(fn, x, reps: int, warmup: bool, star: bool = False) -> list[float]:
    """`reps` timed calls of fn(x) (fn(*x) if `star`), after one untimed call."""
    args = tuple(x) if star else (x,)
    if warmup:
        fn(*args)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return times


# ---------------------------------------------------------------------------
# the machine


@dataclass
class Machine:
    dgemm_gflops: float
    copy_gbs: float
    blas: list[dict]
    coretype: str
    cpu: str
    ncpu: int
    load: str = "?"
    dgemm_end: float = math.nan  # measured again after the cases
    load_end: str = "?"

    @property
    def peak(self) -> float:
        """The DGEMM rate used for "% DGEMM": the higher of start and end."""
        return max(v for v in (self.dgemm_gflops, self.dgemm_end) if math.isfinite(v))


def measure_dgemm(reps: int = 10, n: int = 2000) -> float:
    """GFLOP/s of np.matmul on n × n float64 into a preallocated output (median)."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((n, n))
    b = rng.standard_normal((n, n))
    out = np.empty((n, n))
    for _ in range(2):
        np.matmul(a, b, out=out)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - t0)
    return 2.0 * n**3 / statistics.median(times) / 1e9


def _loadavg() -> str:
    try:
        return "/".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


def measure_machine(quick: bool = False) -> Machine:
    """DGEMM GFLOP/s and copy bandwidth, measured in this process."""
    import scipy.linalg  # noqa: F401  (so threadpoolctl also lists scipy's BLAS)

    load = _loadavg()

    dgemm = measure_dgemm(5 if quick else 10)

    count = 256 * 2**20 // 8  # 256 MiB of float64
    src = np.ones(count)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # touch every page once
    times = []
    for _ in range(3 if quick else 7):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - t0)
    copy = 2.0 * src.nbytes / statistics.median(times) / 1e9  # read + write
    del src, dst

    try:
        from threadpoolctl import threadpool_info

        blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    except ImportError:
        blas = []
    return Machine(
        load=load,
        dgemm_gflops=dgemm,
        copy_gbs=copy,
        blas=blas,
        coretype=os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
        cpu=cpu_model(),
        ncpu=os.cpu_count() or 0,
    )


def _versions() -> str:
    import scipy

    parts = [f"python {platform.python_version()}", f"numpy {np.__version__}"]
    parts.append(f"scipy {scipy.__version__}")
    for name in ("kronop", "pylops", "pykronecker", "pyfastkron"):
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} (not installed)")
    return ", ".join(parts)


def describe_machine(mach: Machine) -> list[str]:
    lines = [
        f"- CPU: {mach.cpu}, {mach.ncpu} logical cores",
        f"- DGEMM (np.matmul 2000×2000 float64): **{mach.dgemm_gflops:.1f} GFLOP/s**",
        (
            "- copy bandwidth (np.copyto, 256 MiB, read+write): "
            f"**{mach.copy_gbs:.1f} GB/s**"
        ),
        f"- OPENBLAS_CORETYPE: {mach.coretype}",
        f"- load average at start (1/5/15 min): {mach.load}",
    ]
    if not mach.blas:
        lines.append("- BLAS: (threadpoolctl not available)")
    for info in mach.blas:
        kernel = info.get("architecture") or info.get("corename") or "?"
        lib = os.path.basename(info.get("filepath", "")) or info.get("prefix", "")
        lines.append(
            f"- BLAS: {info.get('internal_api')} {info.get('version')}, "
            f"kernel {kernel}, {info.get('num_threads')} threads ({lib})"
        )
    lines.append(f"- versions: {_versions()}")
    lines.append(f"- kronop engine: {_kronop_engine()}")
    return lines


def _kronop_engine() -> str:
    """Fused kernels on or off, and where the planner's speed constants came from.

    Reading the constants runs kronop's calibration now (when not cached), so
    its cost is not in any cell's first call.
    """
    try:
        import kronop
        from kronop._engine import calibrate
    except ImportError:
        return "(not importable)"
    fused = "on" if getattr(kronop, "fused_enabled", lambda: False)() else "off"
    try:
        s = calibrate.speeds()
    except Exception as exc:  # noqa: BLE001  (an older kronop, a broken cache...)
        return f"fused kernels {fused}; planner constants: {type(exc).__name__}"
    how = {
        "measured": f"measured now in {s.seconds:.2f} s",
        "cache": f"read from the cache (measured in {s.seconds:.2f} s)",
        "default": "built-in defaults (KRONOP_CALIBRATION=off)",
    }.get(s.source, s.source)
    return (
        f"fused kernels {fused}; planner constants {how}: peak "
        f"{s.peak / 1e9:.0f} GF/s, copy {s.copy_bw / 1e9:.0f} GB/s"
    )


# ---------------------------------------------------------------------------
# the self-check: every adapter against np.kron on tiny cases


def self_check(impls: Sequence[str]) -> dict[str, str]:
    """Compare each implementation with np.kron(...) @ x on tiny cases.

    Returns {impl: "ok" | reason}. This is what proves the adapters'
    conventions (pyfastkron's row-vector gemkm, the shuffle loop's final
    transpose, ...) before anything is timed.
    """
    rng = np.random.default_rng(7)
    tiny = (
        Case("t-sq", "", ((3, 3), (4, 4), (2, 2))),
        Case("t-sq-k", "", ((3, 3), (4, 4), (2, 2)), k=5),
        Case("t-rect", "", ((3, 4), (5, 2), (2, 3))),
        Case("t-rect-k", "", ((3, 4), (5, 2), (2, 3)), k=3),
        Case("t-sparse", "", ((5, 5), (4, 4)), k=2, sparse=True),
    )
    verdict: dict[str, str] = {}
    for case in tiny:
        factors = make_factors(case, rng)
        full = reduce(np.kron, [dense_of(f) for f in factors])
        shape = (case.n_in,) if case.k == 1 else (case.n_in, case.k)
        x = rng.standard_normal(shape)
        ref = full @ x
        for impl in impls:
            if verdict.get(impl, "ok") != "ok":
                continue
            try:
                fn = BUILDERS[impl](factors, case)
                err = rel_error(fn(x), ref)
            except Unavailable:
                continue
            except Exception as exc:  # noqa: BLE001
                verdict[impl] = f"raised {type(exc).__name__} on {case.key}: {exc}"
                continue
            if not err <= 1e-12:
                verdict[impl] = f"WRONG on {case.key} (relative error {err:.1e})"
            else:
                verdict.setdefault(impl, "ok")
    return verdict


# ---------------------------------------------------------------------------
# one case


@dataclass
class Row:
    case: Case
    flops: float
    cells: dict[str, Cell]
    copy: float = math.nan  # the memory limit: a copy of max(N, M)·k elements


def run_case(
    case: Case,
    impls: Sequence[str],
    *,
    target: float,
    min_reps: int,
    max_reps: int,
    rounds: int = 1,
    seed: int = 0,
    log=None,
) -> Row:
    rng = np.random.default_rng(seed)
    factors = make_factors(case, rng)
    shape = (case.n_in,) if case.k == 1 else (case.n_in, case.k)
    x = rng.standard_normal(shape)
    flops = flop_count(case.shapes, case.k, [nnz_of(f) for f in factors])

    ref = _impl_tensordot(factors, case)(x)  # the reference, independent of kronop
    cells: dict[str, Cell] = {}
    fns: dict[str, Callable] = {}
    # Phase 1: build, cold call, check, one warm call (sizes the repetitions).
    for impl in impls:
        try:
            with _time_limit(4 * CELL_LIMIT_S):
                fn = BUILDERS[impl](factors, case)
        except Unavailable as exc:
            cells[impl] = Cell("n/a", note=str(exc))
            continue
        except _CellTimeout:
            cells[impl] = Cell("skip", note="construction took > 40 s")
            continue
        except Exception as exc:  # noqa: BLE001
            cells[impl] = Cell("error", note=f"{type(exc).__name__}: {exc}"[:200])
            continue
        cells[impl] = probe(fn, x, ref)
        if cells[impl].ok:
            fns[impl] = fn
        del fn
        gc.collect()
    # Phase 2: the repetitions, split into rounds that cycle through the
    # implementations, so a change of the machine's load during the case hits
    # them all alike. Each round's block starts with an untimed call (unless
    # calls are long), so every implementation is timed in its steady state.
    plan = {}
    for impl in fns:
        est = max(cells[impl].seconds, 1e-9)
        total = max(min_reps, min(max_reps, math.ceil(target / est)))
        plan[impl] = (max(1, math.ceil(total / rounds)), est < 0.1 * target)
    times: dict[str, list[float]] = {impl: [] for impl in fns}
    # the memory limit, timed in the same rounds: reading x and writing y once
    count = max(case.n_in, case.n_out) * case.k
    src = np.ones(count)
    dst = np.empty(count)
    copy_times: list[float] = []
    for _ in range(rounds):
        copy_times += timed_calls(np.copyto, (dst, src), 5, True, star=True)
        for impl, (reps, warmup) in plan.items():
            if cells[impl].ok:
                try:
                    times[impl] += timed_calls(fns[impl], x, reps, warmup)
                except Exception as exc:  # noqa: BLE001
                    cells[impl] = Cell(
                        "error",
                        cold=cells[impl].cold,
                        note=f"{type(exc).__name__}: {exc}"[:200],
                    )
    for impl in fns:
        if cells[impl].ok:
            cells[impl].seconds = statistics.median(times[impl])
            cells[impl].reps = len(times[impl])
    del src, dst
    if log:
        log(f"  {case.key:>12} copy {statistics.median(copy_times) * 1e3:.3f} ms")
        for impl in impls:
            c = cells[impl]
            log(
                f"  {case.key:>12} {impl:<12} {c.status} {c.seconds * 1e3:.3f} ms "
                f"(cold {c.cold * 1e3:.3f} ms, R={c.reps}) {c.note}"
            )
    return Row(case, flops, cells, statistics.median(copy_times))


# ---------------------------------------------------------------------------
# output


def fmt_ms(seconds: float) -> str:
    ms = seconds * 1e3
    if not math.isfinite(ms):
        return "?"
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


def _fmt_count(n: int) -> str:
    if n < 10_000:
        return str(n)
    e = len(str(n)) - 1
    return f"{n / 10**e:.3g}e{e}"


def _cell_text(cell: Cell | None) -> str:
    if cell is None:
        return ""
    return fmt_ms(cell.seconds) if cell.ok else cell.status


def _best(row: Row, names: Sequence[str]) -> tuple[str, float] | None:
    done = [
        (n, row.cells[n].seconds) for n in names if n in row.cells and row.cells[n].ok
    ]
    return min(done, key=lambda p: p[1]) if done else None


def table_rows(rows: Sequence[Row], impls: Sequence[str], mach: Machine):
    header = ["case", "N", "GFlop"]
    for impl in impls:
        header.append(f"{LABELS[impl]} ms")
        if impl == "kronop":
            header.append("kronop cold ms")
    header += ["copy ms", "kronop / copy"]
    if "kronop_numpy" in impls:
        header.append("fused ×")
    header += ["kronop GF/s", "% DGEMM", "kronop / best peer", "kronop / best other"]
    body = []
    others = [i for i in impls if not i.startswith("kronop")]
    for row in rows:
        line = [row.case.label, _fmt_count(row.case.n_in), f"{row.flops / 1e9:.3g}"]
        for impl in impls:
            cell = row.cells.get(impl)
            line.append(_cell_text(cell))
            if impl == "kronop":
                line.append(
                    fmt_ms(cell.cold) if cell and math.isfinite(cell.cold) else ""
                )
        kron = row.cells.get("kronop")
        ok = kron is not None and kron.ok
        line.append(fmt_ms(row.copy))
        line.append(f"{kron.seconds / row.copy:.2f}" if ok else "n/a")
        if "kronop_numpy" in impls:
            plain = row.cells.get("kronop_numpy")
            line.append(
                f"{plain.seconds / kron.seconds:.2f}"
                if ok and plain is not None and plain.ok
                else "n/a"
            )
        if ok:
            gf = row.flops / kron.seconds / 1e9
            line += [f"{gf:.1f}", f"{100 * gf / mach.peak:.1f}"]
            for names in ([p for p in PEERS if p in impls], others):
                best = _best(row, names)
                line.append(
                    f"{kron.seconds / best[1]:.2f} ({LABELS[best[0]]})"
                    if best
                    else "n/a"
                )
        else:
            line += ["n/a"] * 4
        body.append(line)
    return header, body


def render_markdown(header, body) -> str:
    right = [i for i, h in enumerate(header) if i > 0]
    out = ["| " + " | ".join(header) + " |"]
    out.append(
        "|"
        + "|".join("---:" if i in right else "---" for i in range(len(header)))
        + "|"
    )
    out += ["| " + " | ".join(line) + " |" for line in body]
    return "\n".join(out)


def render_csv(header, body) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(body)
    return buf.getvalue()


def notes_for(rows: Sequence[Row]) -> list[str]:
    """Why a cell has no time (the size limits of the explicit matrices once)."""
    notes = []
    limits = False
    for row in rows:
        for impl, cell in row.cells.items():
            if cell.ok or not cell.note:
                continue
            if impl in ("dense", "sparse") and cell.status == "n/a":
                limits = True
                continue
            notes.append(
                f"- {row.case.label}, {LABELS[impl]}: {cell.status}: {cell.note}"
            )
    if limits:
        notes.append(
            f"- {LABELS['dense']} / {LABELS['sparse']}: n/a where the matrix would "
            f"exceed {DENSE_LIMIT_BYTES / 1e9:g} GB / {SPARSE_NNZ_LIMIT:.0e} nonzeros"
        )
    return notes


# ---------------------------------------------------------------------------
# JSON output


def _finite(value: float) -> float | None:
    """JSON has no NaN or infinity: a missing time is null."""
    return float(value) if math.isfinite(value) else None


def machine_record(mach: Machine) -> dict:
    """The machine as measured and described in the report's header."""
    blas = [
        {
            key: info.get(key)
            for key in (
                "internal_api",
                "version",
                "architecture",
                "num_threads",
                "filepath",
                "prefix",
            )
        }
        for info in mach.blas
    ]
    return {
        "cpu": mach.cpu,
        "ncpu": mach.ncpu,
        "dgemm_gflops_start": _finite(mach.dgemm_gflops),
        "dgemm_gflops_end": _finite(mach.dgemm_end),
        "dgemm_gflops_peak": _finite(mach.peak),
        "copy_gbs": _finite(mach.copy_gbs),
        "openblas_coretype": mach.coretype,
        "load_start": mach.load,
        "load_end": mach.load_end,
        "blas": blas,
        "platform": platform.platform(),
        "description": describe_machine(mach),
    }


def case_record(row: Row, impls: Sequence[str], mach: Machine) -> dict:
    """One case: its shape, flops, copy time, every cell and the table's ratios."""
    case = row.case
    cells = {}
    for impl in impls:
        cell = row.cells.get(impl)
        if cell is None:
            continue
        cells[impl] = {
            "label": LABELS[impl],
            "status": cell.status,
            "seconds": _finite(cell.seconds) if cell.ok else None,
            "cold_seconds": _finite(cell.cold),
            "reps": cell.reps,
            "note": cell.note,
        }
    kron = row.cells.get("kronop")
    ok = kron is not None and kron.ok
    derived: dict[str, object] = {}
    if ok:
        gf = row.flops / kron.seconds / 1e9
        derived["kronop_over_copy"] = _finite(kron.seconds / row.copy)
        derived["kronop_gflops"] = _finite(gf)
        derived["percent_dgemm"] = _finite(100 * gf / mach.peak)
        plain = row.cells.get("kronop_numpy")
        if plain is not None and plain.ok:
            derived["fused_speedup"] = _finite(plain.seconds / kron.seconds)
        others = [i for i in impls if not i.startswith("kronop")]
        for name, names in (
            ("best_peer", [p for p in PEERS if p in impls]),
            ("best_other", others),
        ):
            best = _best(row, names)
            if best:
                derived[f"kronop_over_{name}"] = _finite(kron.seconds / best[1])
                derived[name] = best[0]
    return {
        "key": case.key,
        "label": case.label,
        "shapes": [list(s) for s in case.shapes],
        "d": len(case.shapes),
        "k": case.k,
        "sparse": case.sparse,
        "square": case.square,
        "n_in": case.n_in,
        "n_out": case.n_out,
        "flops": row.flops,
        "copy_seconds": _finite(row.copy),
        "dgemm_peak_seconds": _finite(row.flops / (mach.peak * 1e9)),
        "cells": cells,
        "derived": derived,
    }


def json_report(
    *,
    command: str,
    date: str,
    mach: Machine,
    checks: dict[str, str],
    settings: dict,
    rows: Sequence[Row],
    impls: Sequence[str],
    table: tuple[list[str], list[list[str]]],
    notes: list[str],
    poisson: dict | None,
) -> dict:
    """Everything the report prints, as numbers (times in seconds)."""
    header, body = table
    return {
        "tool": "benchmarks/compare.py",
        "command": command,
        "date": date,
        "versions": _versions(),
        "machine": machine_record(mach),
        "settings": settings,
        "impls": list(impls),
        "labels": {impl: LABELS[impl] for impl in impls},
        "self_check": {impl: checks.get(impl, "n/a") for impl in impls},
        "cases": [case_record(row, impls, mach) for row in rows],
        "table": {"header": header, "rows": body},
        "notes": notes,
        "poisson": poisson,
    }


# ---------------------------------------------------------------------------
# main


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Kronecker matvec (float64): kronop vs peers, side by side."
    )
    p.add_argument(
        "--quick", action="store_true", help="fewer repetitions (about 0.15 s per cell)"
    )
    p.add_argument(
        "--cases",
        default=None,
        help="comma-separated case keys/substrings, or 'all' "
        "(default: the standard cases; see --list)",
    )
    p.add_argument(
        "--impls",
        default=",".join(IMPLS),
        help=f"comma-separated subset of {','.join(IMPLS)}",
    )
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument(
        "--format",
        choices=("markdown", "csv"),
        default="markdown",
        help="table format (default markdown)",
    )
    fmt.add_argument(
        "--markdown",
        dest="format",
        action="store_const",
        const="markdown",
        help="same as --format markdown",
    )
    fmt.add_argument(
        "--csv",
        dest="format",
        action="store_const",
        const="csv",
        help="same as --format csv",
    )
    p.add_argument(
        "--target",
        type=float,
        default=None,
        help="seconds of repetitions per cell (default 0.75, 0.15 with --quick)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="split each cell's repetitions into this many rounds that cycle "
        "through the implementations (default 3, 2 with --quick)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--poisson",
        default="64,128",
        help="grid sizes n of the 3-D Poisson solve comparison ('' to skip; "
        "see benchmarks/poisson_cases.py)",
    )
    p.add_argument("--out", default=None, help="also write the report here")
    p.add_argument(
        "--json",
        default=None,
        metavar="PATH",
        help="also write the measurements (every case and implementation, the "
        "derived ratios and the machine) as JSON here",
    )
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    command = shlex.join(
        ["python", "benchmarks/compare.py", *(sys.argv[1:] if argv is None else argv)]
    )
    date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    if args.list:
        for c in ALL_CASES:
            tag = "standard" if c in STANDARD_CASES else "extra"
            print(f"{c.key:>12}  {tag:<8}  {c.label}  (N={c.n_in}, k={c.k})")
        return 0
    impls = [i.strip() for i in args.impls.split(",") if i.strip()]
    bad = [i for i in impls if i not in BUILDERS]
    if bad:
        raise SystemExit(f"unknown implementation(s) {bad}; known: {list(IMPLS)}")
    cases = select_cases(args.cases)
    target = args.target if args.target is not None else (0.15 if args.quick else 0.75)
    min_reps, max_reps = (2, 10) if args.quick else (3, 100)
    rounds = args.rounds if args.rounds else (2 if args.quick else 3)

    def log(msg):
        if args.verbose:
            print(msg, file=sys.stderr, flush=True)

    mach = measure_machine(args.quick)
    checks = self_check(impls)
    lines = ["# Kronecker matvec, float64, side by side (one process)", ""]
    lines += describe_machine(mach)
    lines.append(
        "- self-check against np.kron(...) @ x on tiny square, "
        "rectangular, k>1 and sparse cases: "
        + ", ".join(f"{LABELS[i]} {checks.get(i, 'n/a')}" for i in impls)
    )
    lines.append(
        f"- times: median of R warm calls (target {target:g} s per cell, R in "
        f"[{min_reps}, {max_reps}], in {rounds} rounds cycling through the "
        "implementations, each block after an untimed warm-up call); "
        "'kronop cold' is its first "
        "call after construction; results checked against the tensordot loop "
        f"(relative error <= {RTOL:g}) before timing"
    )
    lines.append(
        "- 'copy ms': the memory limit, a copy of max(N, M)·k float64 elements "
        "(read x, write y) timed in the same rounds; 'kronop / copy' its multiple; "
        "'fused ×': kronop (numpy) / kronop (> 1: the fused kernels help)"
    )
    lines.append(
        "- ratios: kronop time / best time (< 1 means kronop is faster); "
        "peers = pylops, pykronecker, pyfastkron; 'other' adds the "
        "tensordot and shuffle loops and the explicit matrices (never kronop (numpy))"
    )
    if any(c.sparse for c in cases):
        lines.append(
            "- tridiagonal cases: kronop, pylops, pykronecker, the shuffle loop and "
            "sparse.kron get the CSR factors; pyfastkron and the tensordot loop "
            "get dense copies (they take dense arrays only)"
        )
    lines.append("")
    header_text = "\n".join(lines)
    print(header_text, flush=True)

    rows = []
    for case in cases:
        log(f"case {case.key}: {case.label}")
        rows.append(
            run_case(
                case,
                impls,
                target=target,
                min_reps=min_reps,
                max_reps=max_reps,
                rounds=rounds,
                seed=args.seed,
                log=log,
            )
        )
        gc.collect()

    mach.dgemm_end = measure_dgemm(5 if args.quick else 10)
    mach.load_end = _loadavg()
    header, body = table_rows(rows, impls, mach)
    table = (render_markdown if args.format == "markdown" else render_csv)(header, body)
    notes = notes_for(rows)
    notes.append(
        f"- DGEMM {mach.dgemm_gflops:.1f} GFLOP/s at the start, "
        f"{mach.dgemm_end:.1f} at the end (load average {mach.load_end}); "
        f"'% DGEMM' uses the higher, {mach.peak:.1f}. A large gap means the "
        "machine was busy: compare the ratios, not the absolute times."
    )
    tail = table + ("\n\nNotes:\n" + "\n".join(notes) if notes else "")
    print(tail)
    ns = tuple(int(v) for v in args.poisson.split(",") if v.strip())
    poisson_record: dict | None = None
    if ns:
        try:
            from benchmarks.poisson_cases import run_poisson
        except ImportError:  # run as a script: benchmarks/ is on sys.path
            from poisson_cases import run_poisson
        poisson_record = {} if args.json else None
        poisson = "\n".join(run_poisson(ns=ns, quick=args.quick, record=poisson_record))
        print("\n" + poisson, flush=True)
        tail += "\n\n" + poisson
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(header_text + "\n" + tail + "\n")
    if args.json:
        report = json_report(
            command=command,
            date=date,
            mach=mach,
            checks=checks,
            settings={
                "quick": args.quick,
                "target_seconds": target,
                "min_reps": min_reps,
                "max_reps": max_reps,
                "rounds": rounds,
                "seed": args.seed,
                "rtol": RTOL,
                "cell_limit_seconds": CELL_LIMIT_S,
            },
            rows=rows,
            impls=impls,
            table=(header, body),
            notes=notes,
            poisson=poisson_record,
        )
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=1, ensure_ascii=False)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
