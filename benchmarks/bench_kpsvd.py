"""asv benchmarks: ``nearest_kron`` (Van Loan–Pitsianis), rank 1 and rank 3.

Cases:

* ``dense900``: a dense 900×900 matrix, factors 30×30 ⊗ 30×30 (a Kronecker
  product plus noise); the rearrangement is 900×900 (810 000 entries), so the
  leading singular triplets come from ``svds``.
* ``sparse4096``: a banded (5 diagonals) 4096×4096 CSR matrix, factors
  64×64 ⊗ 64×64; the rearrangement is a 4096×4096 sparse matrix with the same
  nnz, never dense.

Implementations: ``kronop`` (``nearest_kron``) and ``naive`` (the six lines a
user writes by hand: reshape/transpose of the dense matrix — densified first when
sparse — and a full ``numpy.linalg.svd``).

Side by side in one process (interleaved repeats, minimum of each)::

    python benchmarks/bench_kpsvd.py --reps 5
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kronop._kpsvd import nearest_kron

CASES = {"dense900": ((30, 30), (30, 30)), "sparse4096": ((64, 64), (64, 64))}


def make_matrix(case: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    if case == "dense900":
        B = rng.standard_normal((30, 30))
        C = rng.standard_normal((30, 30))
        return np.kron(B, C) + 0.1 * rng.standard_normal((900, 900))
    n, offs = 4096, (-2, -1, 0, 1, 2)
    return sp.diags_array(
        [rng.standard_normal(n - abs(k)) for k in offs], offsets=offs, format="csr"
    )


def naive(M, sb, sc, rank):
    """By hand: dense rearrangement and a full SVD."""
    (mb, nb), (mc, nc) = sb, sc
    A = M.toarray() if sp.issparse(M) else M
    R = A.reshape(mb, mc, nb, nc).transpose(0, 2, 1, 3).reshape(mb * nb, mc * nc)
    U, s, Vh = np.linalg.svd(R, full_matrices=False)
    return [
        (np.sqrt(s[r]) * U[:, r].reshape(sb), np.sqrt(s[r]) * Vh[r].reshape(sc))
        for r in range(rank)
    ]


IMPLS = {
    "kronop": lambda M, sb, sc, r: nearest_kron(M, sb, sc, rank=r),
    "naive": naive,
}


class NearestKron:
    """Time and peak memory of one fit."""

    params = (tuple(CASES), (1, 3), tuple(IMPLS))
    param_names = ("case", "rank", "impl")

    def setup(self, case, rank, impl):
        if impl == "naive" and case == "sparse4096":
            # a dense SVD of a 4096×4096 matrix: ~30 s a call here (see main())
            raise NotImplementedError
        self.M = make_matrix(case)
        self.sb, self.sc = CASES[case]

    def time_fit(self, case, rank, impl):
        IMPLS[impl](self.M, self.sb, self.sc, rank)

    def peakmem_fit(self, case, rank, impl):
        IMPLS[impl](self.M, self.sb, self.sc, rank)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for case, (sb, sc) in CASES.items():
        M = make_matrix(case)
        for rank in (1, 3):
            times = {k: [] for k in IMPLS}
            for f in IMPLS.values():  # warm-up
                f(M, sb, sc, rank)
            for _ in range(args.reps):
                order = list(IMPLS)
                random.shuffle(order)
                for k in order:
                    t0 = time.perf_counter()
                    IMPLS[k](M, sb, sc, rank)
                    times[k].append(time.perf_counter() - t0)
            best = {k: min(v) for k, v in times.items()}
            rows.append((case, rank, best["kronop"], best["naive"]))
    print("| case | rank | kronop (s) | naive dense SVD (s) | naive / kronop |")
    print("|---|---|---|---|---|")
    for case, rank, tk, tn in rows:
        print(f"| {case} | {rank} | {tk:.4f} | {tn:.4f} | {tn / tk:.1f}× |")


if __name__ == "__main__":
    main()
