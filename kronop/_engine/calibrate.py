"""The planner's speed constants, measured on the machine that runs the planner.

The planner (:mod:`kronop._engine.plan`) chooses between step forms and layouts
by estimated time. Those estimates need a few numbers that differ from one CPU
and BLAS to the next: how fast each step form runs at small and middle factor
sizes, how a batch of small GEMMs slows down as its matrices get thin, and how
fast memory copies and transposes. Constants tuned on one CPU picked the wrong
chains on another (a batch of thin GEMMs that one BLAS runs well and another runs
at a third of its peak), so they are measured here, once per machine:

* on first use, a short calibration (about 0.3 s) times every step form at two
  factor sizes, the batched form at four trailing extents, a GEMM, a copy,
  transposing copies and a sparse (CSR) product;
* the result is cached on disk as JSON, under ``$XDG_CACHE_HOME/kronop`` (or
  ``~/.cache/kronop``), keyed by the CPU model and flags, the numpy version and
  the BLAS library, kernel and thread count; a cache that cannot be read or
  written is ignored (the constants then live in memory for the process);
* ``KRONOP_CALIBRATION=off`` uses built-in defaults instead (reproducible plans:
  the test suite sets it), ``KRONOP_CALIBRATION=refresh`` measures again.

Only ratios steer the planner, and only between correct plans: a calibration
disturbed by a busy machine can cost speed, never correctness.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import math
import os
import platform
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

__all__ = [
    "DEFAULT",
    "ENV_VAR",
    "Speeds",
    "cache_path",
    "machine_key",
    "measure",
    "plausible",
    "reset",
    "speeds",
]

#: the environment switch: ``off`` (built-in defaults), ``refresh``, or on
ENV_VAR = "KRONOP_CALIBRATION"
#: bumped whenever the measurements change meaning (older cache files are ignored)
FORMAT = 2
#: factor sizes at which the step forms are timed
SIZES = (16, 128)
#: trailing extents R at which the batched form (L GEMMs of n × R) is timed
RUNS = (4, 16, 64, 256)
#: contiguous inner runs (elements) at which transposing copies are timed
INNER = (1, 16, 128)
#: the simple step forms (one GEMM on a strided view)
FORMS = ("front_keep", "back_rot", "front_rot", "back_keep")


def _interp(points, v: float) -> float:
    """Piecewise linear in log2 through ``points`` ((x, y), x ascending), clamped."""
    if v <= points[0][0]:
        return points[0][1]
    if v >= points[-1][0]:
        return points[-1][1]
    lv = math.log2(v)
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if v <= x1:
            w = (lv - math.log2(x0)) / (math.log2(x1) - math.log2(x0))
            return y0 + w * (y1 - y0)
    return points[-1][1]  # pragma: no cover  (the clamp above returns first)


@dataclass(frozen=True)
class Speeds:
    """The speed constants the planner reads.

    Attributes
    ----------
    peak : float
        Flops per second of a large float64 GEMM.
    copy_bw : float
        Bytes per second (read plus written) of a long contiguous copy.
    transpose_bw : tuple of (int, float)
        Bytes per second of a transposing copy by the length of its contiguous
        inner run (elements).
    sparse_bw : float
        Bytes per second (input plus output) of a tridiagonal CSR matrix times
        a dense block of many columns (scipy's sparse product is far from a
        copy's speed).
    forms : dict
        For each simple step form, ``(factor size, fraction of peak)`` pairs.
    mid_keep : tuple of (int, tuple of (int, float))
        For the batched form, per factor size, ``(trailing extent R, fraction
        of peak)`` pairs: a batch of n × R GEMMs slows down as R shrinks.
    source : str
        ``"default"``, ``"measured"`` or ``"cache"``.
    seconds : float
        What the calibration cost when it ran (0 for the defaults).

    Notes
    -----
    A step that applies an m × n factor to a tensor of S elements costs
    ``c·S`` flops (c = 2m for a dense factor) and is estimated at
    ``c·S / (peak · e)``, where the efficiency e of its form is interpolated
    linearly in log₂ of the factor size min(m, n) (and, for the batched form, in
    log₂ R) between the measured points and clamped outside them. A copy of S
    elements of b bytes through a transposing view with inner run r costs
    ``2·S·b / transpose_bw(r)``.

    Examples
    --------
    >>> from kronop._engine.calibrate import DEFAULT
    >>> 0 < DEFAULT.efficiency("front_rot", 100, 1) <= 1
    True
    >>> DEFAULT.efficiency("mid_keep", 100, 4) < DEFAULT.efficiency("mid_keep", 100, 256)
    True
    """

    peak: float
    copy_bw: float
    sparse_bw: float
    transpose_bw: tuple
    forms: dict
    mid_keep: tuple
    source: str = "default"
    seconds: float = 0.0
    _memo: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    def efficiency(self, op: str, n: int, R: int) -> float:
        """Fraction of :attr:`peak` of step form ``op`` at factor size ``n``.

        ``R`` is the trailing extent (used by ``mid_keep`` only).

        Examples
        --------
        >>> from kronop._engine.calibrate import DEFAULT
        >>> round(DEFAULT.efficiency("front_keep", 16, 1), 2) == DEFAULT.forms["front_keep"][0][1]
        True
        """
        key = (op, n, R if op == "mid_keep" else 0)
        got = self._memo.get(key)
        if got is not None:
            return got
        if op == "mid_keep":
            rows = [(s, _interp(pts, R)) for s, pts in self.mid_keep]
            got = _interp(rows, n)
        else:
            got = _interp(self.forms[op], n)
        got = max(got, 1e-3)
        if len(self._memo) < 65536:
            self._memo[key] = got
        return got

    def transpose_rate(self, inner: int) -> float:
        """Bytes per second of a transposing copy with inner runs of ``inner``.

        Examples
        --------
        >>> from kronop._engine.calibrate import DEFAULT
        >>> DEFAULT.transpose_rate(1) <= DEFAULT.transpose_rate(128)
        True
        """
        return min(_interp(self.transpose_bw, max(inner, 1)), self.copy_bw)

    def to_json(self) -> dict:
        """The constants as a JSON-ready dict (without the memo).

        Examples
        --------
        >>> from kronop._engine.calibrate import DEFAULT, Speeds
        >>> Speeds.from_json(DEFAULT.to_json()) == DEFAULT
        True
        """
        d = asdict(self)
        d.pop("_memo")
        return d

    @classmethod
    def from_json(cls, d: dict, source: str | None = None) -> Speeds:
        """Read :meth:`to_json`'s dict back; raises ValueError when malformed.

        Examples
        --------
        >>> from kronop._engine.calibrate import DEFAULT, Speeds
        >>> Speeds.from_json({"peak": 1.0})
        Traceback (most recent call last):
        ...
        ValueError: calibration data: missing or malformed 'copy_bw'
        """

        def number(name, v):
            v = float(v)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"calibration data: {name} must be > 0, got {v}")
            return v

        def pairs(name, v):
            out = tuple((int(a), number(name, b)) for a, b in v)
            if not out or any(a <= 0 for a, _ in out):
                raise ValueError(f"calibration data: {name} has no valid points")
            return tuple(sorted(out))

        try:
            peak = number("peak", d["peak"])
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise ValueError("calibration data: missing or malformed 'peak'") from exc
        parsed = {"peak": peak}
        for name, read in (
            ("copy_bw", lambda v: number("copy_bw", v)),
            ("sparse_bw", lambda v: number("sparse_bw", v)),
            ("transpose_bw", lambda v: pairs("transpose_bw", v)),
            (
                "forms",
                lambda v: {op: pairs(op, v[op]) for op in FORMS},
            ),
            (
                "mid_keep",
                lambda v: tuple(
                    sorted((int(s), pairs("mid_keep", pts)) for s, pts in v)
                ),
            ),
        ):
            try:
                parsed[name] = read(d[name])
            except (
                KeyError,
                TypeError,
                ValueError,
                IndexError,
                ArithmeticError,
            ) as exc:
                raise ValueError(
                    f"calibration data: missing or malformed {name!r}"
                ) from exc
        if not parsed["mid_keep"]:
            raise ValueError("calibration data: missing or malformed 'mid_keep'")
        return cls(
            **parsed,
            source=source or str(d.get("source", "cache")),
            seconds=float(d.get("seconds", 0.0)),
        )


#: Built-in constants (``KRONOP_CALIBRATION=off``, and the fallback): measured
#: with numpy 2.4 / OpenBLAS 0.3.31 (Haswell kernel, 2 threads) on an AMD EPYC,
#: where DGEMM runs at ≈ 63 GF/s and a copy at ≈ 20 GB/s. The efficiencies are
#: fractions of the peak; the thin batched GEMMs' slowdown (mid_keep at small R)
#: is the one effect that decides most chains and holds on every BLAS measured.
DEFAULT = Speeds(
    peak=63e9,
    copy_bw=20e9,
    sparse_bw=6e9,
    transpose_bw=((1, 2.2e9), (16, 7.0e9), (128, 11e9)),
    forms={
        "front_keep": ((16, 0.38), (128, 0.85)),
        "back_rot": ((16, 0.40), (128, 0.85)),
        "front_rot": ((16, 0.30), (128, 0.90)),
        "back_keep": ((16, 0.35), (128, 0.90)),
    },
    mid_keep=(
        (16, ((4, 0.12), (16, 0.20), (64, 0.20), (256, 0.24))),
        (128, ((4, 0.18), (16, 0.36), (64, 0.72), (256, 0.75))),
    ),
)


# ---------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------
def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return max(time.perf_counter() - t0, 1e-9)


#: rounds over all measurements (each keeps its least time)
ROUNDS = 3
#: seconds of large GEMMs before timing: BLAS threads and clocks ramp up first
WARMUP = 0.03
#: no further rounds once the measurement has taken this long (a loaded machine)
BUDGET = 0.5
#: a measurement that took longer than this was disturbed: used by this process
#: but not cached, so the next process measures again
SAVE_WITHIN = 1.5


def measure() -> Speeds:
    """Time the step forms, a GEMM, a copy and transposing copies (≈ 0.2 s).

    Returns
    -------
    Speeds
        ``source="measured"``, ``seconds`` what the measurement took.

    Notes
    -----
    Each form applies an n × n factor (n in :data:`SIZES`) to a float64 tensor
    of 2²⁰ elements (2¹⁹ at the largest n) into a preallocated output. After
    :data:`WARMUP` seconds of GEMMs, every measurement runs once per round for
    :data:`ROUNDS` rounds (two once :data:`BUDGET` seconds are spent) and
    keeps its least time, so a passing disturbance of a shared machine hits all
    of them alike and the least time filters it.
    Efficiencies are the rates divided by the peak, the highest rate seen
    (a 384³ GEMM or any form).

    Examples
    --------
    >>> from kronop._engine.calibrate import measure
    >>> s = measure()
    >>> s.source, s.peak > 0, s.copy_bw > 0
    ('measured', True, True)
    """
    t_start = time.perf_counter()
    rng = np.random.default_rng(0)
    big = 1 << 20
    x = rng.standard_normal(big)
    y = np.empty(big)

    g = 384
    a = rng.standard_normal((g, g))
    b = rng.standard_normal((g, g))
    c = np.empty((g, g))
    # (name, work: flops or bytes, call)
    jobs: list = [("peak", 2.0 * g**3, lambda: np.matmul(a, b, out=c))]
    for n in SIZES:
        S = big if n == SIZES[0] else big // 2
        F = rng.standard_normal((n, n)) / math.sqrt(n)
        P = S // n
        xs, ys = x[: n * P], y[: n * P]
        flops = 2.0 * n * n * P
        jobs += [
            (
                ("front_keep", n),
                flops,
                lambda F=F, xs=xs, ys=ys, n=n, P=P: np.matmul(
                    F, xs.reshape(n, P), out=ys.reshape(n, P)
                ),
            ),
            (
                ("back_rot", n),
                flops,
                lambda F=F, xs=xs, ys=ys, n=n, P=P: np.matmul(
                    F, xs.reshape(P, n).T, out=ys.reshape(n, P)
                ),
            ),
            (
                ("front_rot", n),
                flops,
                lambda F=F, xs=xs, ys=ys, n=n, P=P: np.matmul(
                    xs.reshape(n, P).T, F.T, out=ys.reshape(P, n)
                ),
            ),
            (
                ("back_keep", n),
                flops,
                lambda F=F, xs=xs, ys=ys, n=n, P=P: np.matmul(
                    xs.reshape(P, n), F.T, out=ys.reshape(P, n)
                ),
            ),
        ]
        for R in RUNS:
            L = P // R
            xm, ym = x[: L * n * R], y[: L * n * R]
            jobs.append(
                (
                    ("mid_keep", n, R),
                    2.0 * n * n * L * R,
                    lambda F=F, xm=xm, ym=ym, L=L, n=n, R=R: np.matmul(
                        F, xm.reshape(L, n, R), out=ym.reshape(L, n, R)
                    ),
                )
            )
    jobs.append(("copy", 2.0 * x.nbytes, lambda: np.copyto(y, x)))
    ns = 64
    T = sp.diags_array(
        [-np.ones(ns - 1), 2 * np.ones(ns), -np.ones(ns - 1)], offsets=[-1, 0, 1]
    ).tocsr()
    xb = x.reshape(ns, -1)
    jobs.append(("sparse", 2.0 * x.nbytes, lambda: T @ xb))
    rows = 512
    for inner in INNER:
        cols = big // (rows * inner)
        count = rows * cols * inner
        src = x[:count].reshape(cols, rows, inner).transpose(1, 0, 2)
        dst = y[:count].reshape(rows, cols, inner)
        jobs.append(
            (
                ("transpose", inner),
                2.0 * dst.nbytes,
                lambda src=src, dst=dst: np.copyto(dst, src),
            )
        )

    until = time.perf_counter() + WARMUP
    for name, _, fn in jobs:
        if name == "sparse":
            fn()  # its output is allocated per call: let the allocator settle
    while time.perf_counter() < until:
        jobs[0][2]()
    best = [math.inf] * len(jobs)
    for r in range(ROUNDS):
        for i, (_, _, fn) in enumerate(jobs):
            best[i] = min(best[i], _timed(fn))
        if r >= 1 and time.perf_counter() - t_start > BUDGET:
            break
    rate = {name: work / t for (name, work, _), t in zip(jobs, best, strict=True)}

    top = max(
        v
        for k, v in rate.items()
        if k not in ("copy", "sparse") and k[0] != "transpose"
    )
    forms = {op: tuple((n, rate[(op, n)] / top) for n in SIZES) for op in FORMS}
    mid_keep = tuple(
        (n, tuple((R, rate[("mid_keep", n, R)] / top) for R in RUNS)) for n in SIZES
    )
    return Speeds(
        peak=top,
        copy_bw=rate["copy"],
        sparse_bw=rate["sparse"],
        transpose_bw=tuple((r, rate[("transpose", r)]) for r in INNER),
        forms=forms,
        mid_keep=mid_keep,
        source="measured",
        seconds=time.perf_counter() - t_start,
    )


# ---------------------------------------------------------------------------
# the machine's key and the cache on disk
# ---------------------------------------------------------------------------
def _cpu() -> tuple[str, str]:
    """The CPU model and a digest of its feature flags."""
    model, flags = platform.processor() or platform.machine(), ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name") and ":" in line:
                    model = line.split(":", 1)[1].strip()
                elif line.startswith(("flags", "Features")) and ":" in line:
                    flags = line.split(":", 1)[1].strip()
                if model and flags and line.strip() == "":
                    break
    except OSError:
        pass
    return model, hashlib.sha1(flags.encode()).hexdigest()[:12]


def _blas() -> dict:
    """The BLAS library, its kernel and its threads, as far as can be learned."""
    info: dict = {}
    with contextlib.suppress(Exception):
        dep = np.__config__.CONFIG["Build Dependencies"]["blas"]
        info["name"] = str(dep.get("name"))
        info["version"] = str(dep.get("version"))
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        with contextlib.suppress(Exception):
            for lib in threadpool_info():
                if lib.get("user_api") == "blas":
                    info["kernel"] = str(lib.get("architecture"))
                    info["threads"] = int(lib.get("num_threads"))
                    break
    if "threads" not in info:
        # without threadpoolctl: what decides OpenBLAS's thread count
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            info[var] = os.environ.get(var, "")
        try:
            info["cpus"] = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            info["cpus"] = os.cpu_count() or 1
    info["coretype"] = os.environ.get("OPENBLAS_CORETYPE", "")
    return info


def machine_key() -> dict:
    """What the cached constants depend on: CPU, numpy, BLAS.

    Examples
    --------
    >>> from kronop._engine.calibrate import machine_key
    >>> sorted(machine_key())
    ['blas', 'cpu', 'cpu_flags', 'format', 'numpy']
    """
    model, flags = _cpu()
    return {
        "format": FORMAT,
        "cpu": model,
        "cpu_flags": flags,
        "numpy": np.__version__,
        "blas": _blas(),
    }


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    root = Path(base) if base else Path.home() / ".cache"
    return root / "kronop"


def cache_path(key: dict | None = None) -> Path:
    """The JSON file that holds this machine's constants.

    Examples
    --------
    >>> from kronop._engine.calibrate import cache_path
    >>> cache_path().suffix
    '.json'
    """
    key = machine_key() if key is None else key
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return _cache_dir() / f"calibration-{digest}.json"


def _load(path: Path, key: dict) -> Speeds | None:
    try:
        with open(path) as fh:
            data = json.load(fh)
        if not isinstance(data, dict) or data.get("key") != key:
            return None
        return Speeds.from_json(data["speeds"], source="cache")
    except (OSError, ValueError, KeyError, TypeError, ArithmeticError):
        return None  # missing, unreadable or corrupt: measure again


def _save(path: Path, key: dict, s: Speeds) -> bool:
    """Write atomically (a temporary file renamed); False when impossible."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".calibration-")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump({"key": key, "speeds": s.to_json()}, fh, indent=1)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError:
        return False
    return True


_current: Speeds | None = None
_lock = threading.Lock()


#: the single-GEMM forms at one factor size never differ by more than this on
#: the CPUs measured (2× on a Zen 5); a wider spread means a disturbed reading
PLAUSIBLE_SPREAD = 3.0


def plausible(s: Speeds) -> bool:
    """Whether a measurement looks undisturbed by other work on the machine.

    The single-GEMM forms at each factor size lie within
    :data:`PLAUSIBLE_SPREAD` of each other, and a long batch of GEMMs
    (``mid_keep`` at the largest R) within that spread of ``front_keep``.

    Examples
    --------
    >>> from kronop._engine.calibrate import DEFAULT, plausible
    >>> plausible(DEFAULT)
    True
    """
    for i, (n, _) in enumerate(s.forms["front_keep"]):
        effs = [s.forms[op][i][1] for op in FORMS]
        keep = dict(s.mid_keep).get(n)
        if keep:
            effs.append(keep[-1][1])
        if max(effs) > PLAUSIBLE_SPREAD * min(effs):
            return False
    return True


def _mode() -> str:
    v = os.environ.get(ENV_VAR, "on").strip().lower()
    if v in ("off", "0", "false", "no", "default", "defaults"):
        return "off"
    if v == "refresh":
        return "refresh"
    return "on"


def speeds() -> Speeds:
    """The constants for this process: measured once, cached on disk.

    With ``KRONOP_CALIBRATION=off``, :data:`DEFAULT`. Otherwise the cached
    measurement of this machine when there is one, else a fresh
    :func:`measure` (written to the cache when its directory is writable and
    the measurement was not disturbed: it took at most :data:`SAVE_WITHIN`
    seconds). A measurement that fails :func:`plausible` is taken once more;
    failing again, the process uses :data:`DEFAULT` and caches nothing.

    Examples
    --------
    >>> from kronop._engine.calibrate import speeds
    >>> speeds().peak > 0
    True
    """
    global _current
    got = _current
    if got is not None:
        return got
    with _lock:
        if _current is None:
            mode = _mode()
            if mode == "off":
                _current = DEFAULT
            else:
                key = machine_key()
                path = cache_path(key)
                got = _load(path, key) if mode == "on" else None
                if got is None:
                    got = measure()
                    if not plausible(got):
                        got = measure()  # once more: the machine was busy
                    if not plausible(got):
                        got = dataclasses.replace(DEFAULT, seconds=got.seconds)
                    elif got.seconds <= SAVE_WITHIN:
                        _save(path, key, got)
                _current = got
        return _current


def reset(value: Speeds | None = None) -> None:
    """Forget the constants (read again on next use), or set them.

    Examples
    --------
    >>> from kronop._engine.calibrate import DEFAULT, reset, speeds
    >>> reset(DEFAULT)
    >>> speeds() is DEFAULT
    True
    >>> reset()
    """
    global _current
    with _lock:
        _current = value
