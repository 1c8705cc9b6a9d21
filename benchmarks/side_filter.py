"""filter_operator against scipy.ndimage.correlate1d along every axis, side by side.

Run from the repository root::

    python benchmarks/side_filter.py            # 9 interleaved repeats per case
    python benchmarks/side_filter.py --repeats 21

Everything runs in one process. For each case the two implementations are first
checked against each other (to a dtype-scaled tolerance), then timed in
interleaved rounds (kronop, ndimage, kronop, ndimage, …) so that load on a shared
machine hits both alike; the table shows the median of the rounds, and the ratio
is kronop's time over ndimage's (below 1: kronop is faster). "build" is the time to
construct the operator (the banded factors, from the weights); "apply" excludes it
and follows one warm-up product (plan and work buffers). The engine path taken
for the product is printed under the table.

This module has no side effects on import (asv imports every module in
``benchmarks/``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import scipy
import scipy.ndimage as ndi

import kronop
from kronop.gallery import filter_operator

# (label, shape, taps per axis, mode, dtype)
CASES = [
    ("1024² 5-tap reflect f64", (1024, 1024), (5, 5), "reflect", "float64"),
    ("1024² 9-tap reflect f64", (1024, 1024), (9, 9), "reflect", "float64"),
    ("1024² 5-tap reflect f32", (1024, 1024), (5, 5), "reflect", "float32"),
    ("1024² 9-tap constant f64", (1024, 1024), (9, 9), "constant", "float64"),
    ("1024² 9-tap wrap f64", (1024, 1024), (9, 9), "wrap", "float64"),
    ("2048² 9-tap reflect f64", (2048, 2048), (9, 9), "reflect", "float64"),
    ("128³ 7/4/3-tap mirror f64", (128, 128, 128), (7, 4, 3), "mirror", "float64"),
]


def _weights(taps, dtype):
    rng = np.random.default_rng(1)
    out = []
    for t in taps:
        w = rng.random(t)
        out.append((w / w.sum()).astype(dtype))
    return out


def _ndimage(img, ws, mode):
    out = img
    for j, w in enumerate(ws):
        out = ndi.correlate1d(out, w, axis=j, mode=mode)
    return out


def _engine_path(op) -> str:
    """The steps of the product's plan: which factor, how, on which view."""
    plans = [entry[0] for entry in op._engine.plans.values()]
    steps = getattr(plans[-1], "steps", ()) if plans else ()
    return ", ".join(f"factor {s.j} {s.op} (L={s.L}, n={s.n}, R={s.R})" for s in steps)


def run_case(label, shape, taps, mode, dtype, repeats):
    ws = _weights(taps, dtype)
    img = np.random.default_rng(0).random(shape).astype(dtype)
    x = img.ravel()

    builds = []
    for _ in range(repeats):
        t = time.perf_counter()
        op = filter_operator(shape, ws, mode=mode)
        builds.append(time.perf_counter() - t)

    got = (op @ x).reshape(shape)  # warm-up and check
    want = _ndimage(img, ws, mode)
    tol = 50 * np.finfo(dtype).eps * sum(taps) * float(np.abs(want).max())
    err = float(np.abs(got.astype(np.float64) - want).max())
    if err > tol:
        raise SystemExit(f"{label}: kronop and ndimage differ by {err:.3g} > {tol:.3g}")

    tk, tn = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        op @ x
        tk.append(time.perf_counter() - t)
        t = time.perf_counter()
        _ndimage(img, ws, mode)
        tn.append(time.perf_counter() - t)
    k, n, b = (statistics.median(v) * 1e3 for v in (tk, tn, builds))
    return (label, k, n, k / n, b, err), _engine_path(op)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    print(
        f"kronop {kronop.__version__ if hasattr(kronop, '__version__') else '?'}, "
        f"numpy {np.__version__}, scipy {scipy.__version__}; median of "
        f"{args.repeats} interleaved rounds\n"
    )
    print(
        "| case | kronop apply (ms) | ndimage ×d (ms) | ratio | kronop build (ms) "
        "| max abs diff |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    paths = {}
    for case in CASES:
        row, path = run_case(*case, args.repeats)
        label, k, n, r, b, err = row
        print(f"| {label} | {k:.2f} | {n:.2f} | {r:.2f} | {b:.2f} | {err:.1e} |")
        paths[label] = path
    print("\nEngine path of each product:")
    for label, path in paths.items():
        print(f"- {label}: {path}")


if __name__ == "__main__":
    main()
