"""Two checkouts of kronop side by side, in one process, call by call.

For a change that should not move speed (a refactor), the cleanest comparison on a
shared, noisy machine: both versions are imported into the same process (the first
one's operators are built before the second replaces it in ``sys.modules``), and
every case alternates calls between them, so both see the same machine state.

Run from the repository root::

    git worktree add /tmp/kronop-old <commit>
    python benchmarks/ab_checkouts.py /tmp/kronop-old .        # median of 40 pairs
    python benchmarks/ab_checkouts.py /tmp/kronop-old . --reps 80

The table reports the median time of each and their ratio (new / old; < 1 is
faster). This module has no side effects on import (asv imports ``benchmarks/``).
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.linalg import LinAlgWarning


def _load(path: str):
    for name in [m for m in sys.modules if m == "kronop" or m.startswith("kronop.")]:
        del sys.modules[name]
    sys.path.insert(0, str(Path(path).resolve()))
    try:
        return importlib.import_module("kronop")
    finally:
        sys.path.pop(0)


#: eight mixed rectangular factors (m, n)
_RECT8 = [(3, 4), (5, 2), (2, 6), (4, 3), (3, 3), (6, 2), (2, 5), (4, 4)]


def _rbf(n: int, ell: float) -> np.ndarray:
    t = np.linspace(0, 1, n)
    return np.exp(-0.5 * (t[:, None] - t[None, :]) ** 2 / ell**2)


def cases(k) -> dict:
    """The timed calls for one kronop module ``k`` (operators built now)."""
    rng = np.random.default_rng(0)
    L64, L128, L8 = (k.laplacian((n, n, n)) for n in (64, 128, 8))
    b64, b128 = rng.standard_normal(64**3), rng.standard_normal(128**3)
    K3 = k.KronOperator(*(rng.standard_normal((100, 100)) for _ in range(3)))
    K6 = k.KronOperator(*(rng.standard_normal((10, 10)) for _ in range(6)))
    K4 = k.KronOperator(*(rng.standard_normal((64, 64)) for _ in range(4)))
    x6, x4 = rng.standard_normal(10**6), rng.standard_normal(64**4)
    X16 = rng.standard_normal((10**6, 16))
    K5 = k.KronOperator(*(rng.standard_normal((16, 16)) for _ in range(5)))
    K8 = k.KronOperator(*(rng.standard_normal((4, 4)) for _ in range(8)))
    X5, X8 = rng.standard_normal((16**5, 16)), rng.standard_normal((4**8, 16))
    # planning: a new operator (or a new width) is planned on its first product
    rect = [rng.standard_normal(s) for s in _RECT8]
    x_rect = rng.standard_normal(math.prod(n for _, n in _RECT8))
    tiny = [rng.standard_normal((2, 2)) for _ in range(16)]
    x_tiny = rng.standard_normal(2**16)
    G = k.KronOperator(_rbf(120, 0.2), _rbf(120, 0.3), _rbf(120, 0.5))
    y = rng.standard_normal(G.shape[0])
    dec = G.eigh()
    G.solve(y)  # factorizations once, outside the timing
    return {
        "laplacian 8³ matvec": lambda: L8 @ b64[:512],
        "laplacian 8³ solve": lambda: L8.solve(b64[:512]),
        "laplacian 64³ matvec": lambda: L64 @ b64,
        "laplacian 64³ solve": lambda: L64.solve(b64),
        "laplacian 128³ matvec": lambda: L128 @ b128,
        "laplacian 128³ solve": lambda: L128.solve(b128),
        "kron d3 n100": lambda: K3 @ x6,
        "kron d3 n100 k16": lambda: K3 @ X16,
        "kron d4 n64": lambda: K4 @ x4,
        "kron d6 n10": lambda: K6 @ x6,
        "kron d5 n16 k16": lambda: K5 @ X5,
        "kron d8 n4 k16": lambda: K8 @ X8,
        "new kron d8 rect: first product": lambda: k.KronOperator(*rect) @ x_rect,
        "new kron d16 n2: first product": lambda: k.KronOperator(*tiny) @ x_tiny,
        "GP n120 (K+σ²I) solve": lambda: dec.solve(y, shift=0.01),
        "GP n120 logdet(K+σ²I)": lambda: dec.logdet(shift=0.01),
        "GP n120 K solve (κ≈1e8)": lambda: G.solve(y),
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("old", help="path of the old checkout (the folder holding kronop/)")
    p.add_argument("new", help="path of the new checkout")
    p.add_argument("--reps", type=int, default=40, help="timed pairs per case")
    args = p.parse_args(argv)
    # the GP factors are numerically singular (κ₁ ≈ 1e19): both versions warn
    warnings.simplefilter("ignore", LinAlgWarning)
    old = _load(args.old)
    c_old = cases(old)  # built before the new version replaces sys.modules
    new = _load(args.new)
    c_new = cases(new)
    print(f"old: {old.__file__}\nnew: {new.__file__}")
    print(
        f"| case | old | new | new / old |  (median of {args.reps} interleaved calls)"
    )
    print("|---|---:|---:|---:|")
    for name, f_old in c_old.items():
        f_new = c_new[name]
        for _ in range(3):
            f_old()
            f_new()
        t_old, t_new = [], []
        for i in range(args.reps):
            order = ((f_old, t_old), (f_new, t_new))
            for f, acc in order if i % 2 == 0 else order[::-1]:
                t0 = time.perf_counter()
                f()
                acc.append(time.perf_counter() - t0)
        mo, mn = float(np.median(t_old)), float(np.median(t_new))
        unit, s = ("ms", 1e3) if mo > 1e-3 else ("µs", 1e6)
        print(f"| {name} | {mo * s:.2f} {unit} | {mn * s:.2f} {unit} | {mn / mo:.3f} |")


if __name__ == "__main__":
    main()
