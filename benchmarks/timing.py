"""The one timing loop of the side-by-side scripts: least time, calls interleaved.

Interleaving the implementations round by round exposes them to the same
moments of a shared, noisy machine; the least time over the rounds is the one
least disturbed. No module-level name starts with an asv prefix.
"""

from __future__ import annotations

import math
import platform
import time

import numpy as np


def interleaved(
    fns: dict, reps: int, warm: int = 1, clock=time.perf_counter, shuffle: bool = False
) -> dict:
    """Least seconds per named callable, the callables run in turn per repetition.

    ``warm`` untimed calls of each come first (e.g. past the engine's re-planning
    after 8 and 64 uses). With ``shuffle`` the order changes every round (seeded),
    so no implementation always runs right after another's big sweep. ``clock``
    may be ``time.process_time`` to count CPU time only.
    """
    for fn in fns.values():
        for _ in range(warm):
            fn()
    best = dict.fromkeys(fns, math.inf)
    names = list(fns)
    rng = np.random.default_rng(0)
    for _ in range(reps):
        order = [names[i] for i in rng.permutation(len(names))] if shuffle else names
        for name in order:
            t0 = clock()
            fns[name]()
            best[name] = min(best[name], clock() - t0)
    return best


def cpu_model() -> str:
    """The CPU's model name, as the machine lines of the benchmarks print it."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
