"""BlockCirculant side by side, in one process: ``python benchmarks/side_circulant.py``.

Prints two markdown tables for k = 256 blocks of 16×16 (N = 4096, float64):

* the product A @ x (one and 16 right-hand sides): kronop against the dense
  matrix (``D @ x``) and a hand-written numpy FFT product (``numpy.fft.rfft``,
  one batched matmul, ``irfft``: a sanity ratio, the same algorithm);
* the solve A x = b: kronop cold (frequency blocks factorized inside the timing)
  and warm, against dense LU (``scipy.linalg.lu_factor`` + ``lu_solve``, the
  factorization included), ``numpy.linalg.solve`` on the dense matrix and a
  hand-written numpy FFT solve (batched ``numpy.linalg.solve`` per frequency),
  with the relative error against the dense solve.

A third table times a 2-D periodic convolution (``BlockCirculant.from_kernel``,
512×512 image, 5×5 kernel) against ``scipy.ndimage.convolve(mode="wrap")`` and
``numpy.fft``.

Timings are interleaved: each repetition runs every implementation once, and the
tables report the minimum per implementation (``--reps``). The machine may be
shared, so the ratios are what carries over.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

import numpy as np
import scipy
import scipy.linalg as sla
import scipy.ndimage as ndi

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.bench_circulant import make_blocks, numpy_fft_matvec, numpy_fft_solve
from benchmarks.timing import interleaved
from kronop.circulant import BlockCirculant


def fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def rel(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def matvec_table(k: int, m: int, reps: int) -> list[str]:
    lines = [
        (
            "| k × (m×m) | N | K | kronop | dense D @ x | numpy FFT by hand | "
            "dense / kronop | numpy FFT / kronop | error vs dense |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    C = make_blocks(k, m)
    A = BlockCirculant(C)
    D = A.toarray()
    N = k * m
    rng = np.random.default_rng(1)
    for K in (1, 16):
        X = rng.standard_normal((N, K))
        x = X[:, 0] if K == 1 else X
        t = interleaved(
            {
                "kronop": lambda x=x: A @ x,
                "dense": lambda x=x: D @ x,
                "numpy": lambda X=X: numpy_fft_matvec(C, X),
            },
            reps,
        )
        err = rel(A @ x, D @ x)
        lines.append(
            f"| {k} × ({m}×{m}) | {N} | {K} | {fmt(t['kronop'])} | "
            f"{fmt(t['dense'])} | {fmt(t['numpy'])} | "
            f"{t['dense'] / t['kronop']:.1f} | {t['numpy'] / t['kronop']:.2f} | "
            f"{err:.1e} |"
        )
    return lines


def solve_table(k: int, m: int, reps: int) -> list[str]:
    C = make_blocks(k, m)
    A = BlockCirculant(C)
    D = A.toarray()
    b = np.random.default_rng(2).standard_normal(k * m)
    out = {}

    def cold():
        out["cold"] = BlockCirculant(C).solve(b)

    def warm():
        out["warm"] = A.solve(b)

    def lu():
        out["lu"] = sla.lu_solve(sla.lu_factor(D), b)

    def npsolve():
        out["np"] = np.linalg.solve(D, b)

    def byhand():
        out["hand"] = numpy_fft_solve(C, b[:, None])[:, 0]

    fns = {
        "kronop cold (factorize + solve)": cold,
        "kronop warm (solve)": warm,
        "dense LU (lu_factor + lu_solve)": lu,
        "dense numpy.linalg.solve": npsolve,
        "numpy FFT by hand": byhand,
    }
    keys = dict(zip(fns, ("cold", "warm", "lu", "np", "hand"), strict=True))
    t = interleaved(fns, reps)
    base = t["dense LU (lu_factor + lu_solve)"]
    ref = out["lu"]
    lines = [
        f"k = {k} blocks of {m}×{m} (N = {k * m}), κ₂(A) = {A.cond():.1f}",
        "",
        (
            "| method | time | dense LU / method | relative error vs dense LU | "
            "residual ‖Ax − b‖/‖b‖ |"
        ),
        "|---|---|---|---|---|",
    ]
    for name in fns:
        x = out[keys[name]]
        lines.append(
            f"| {name} | {fmt(t[name])} | {base / t[name]:.0f} | "
            f"{rel(x, ref):.1e} | {rel(D @ x, b):.1e} |"
        )
    return lines


def convolution_table(n: int, reps: int) -> list[str]:
    rng = np.random.default_rng(3)
    w = rng.standard_normal((5, 5))
    c = np.zeros((n, n))
    c[:5, :5] = w
    c = np.roll(c, (-2, -2), axis=(0, 1))
    image = rng.standard_normal((n, n))
    x = image.ravel()
    A = BlockCirculant.from_kernel(c)
    fc = np.fft.rfft2(c)
    t = interleaved(
        {
            "kronop": lambda: A @ x,
            "ndimage": lambda: ndi.convolve(image, w, mode="wrap"),
            "numpy": lambda: np.fft.irfft2(fc * np.fft.rfft2(image), s=(n, n)),
        },
        reps,
    )
    err = rel((A @ x).reshape(n, n), ndi.convolve(image, w, mode="wrap"))
    return [
        (
            "| image | kernel | kronop from_kernel | ndimage.convolve wrap | numpy rfft2 "
            "by hand | ndimage / kronop | numpy / kronop | error vs ndimage |"
        ),
        "|---|---|---|---|---|---|---|---|",
        (
            f"| {n}×{n} | 5×5 | {fmt(t['kronop'])} | {fmt(t['ndimage'])} | "
            f"{fmt(t['numpy'])} | {t['ndimage'] / t['kronop']:.2f} | "
            f"{t['numpy'] / t['kronop']:.2f} | {err:.1e} |"
        ),
    ]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("-k", type=int, default=256, help="number of blocks")
    p.add_argument("-m", type=int, default=16, help="block size")
    args = p.parse_args(argv)
    print(
        f"numpy {np.__version__}, scipy {scipy.__version__}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"min of {args.reps}\n"
    )
    print("\n".join(matvec_table(args.k, args.m, args.reps)))
    print()
    print("\n".join(solve_table(args.k, args.m, max(3, args.reps // 2))))
    print()
    print("\n".join(convolution_table(512, args.reps)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
