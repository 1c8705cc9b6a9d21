"""Solve a 3-factor Kronecker system with scipy's CG and check it against dense numpy.

K = A₁ ⊗ A₂ ⊗ A₃ with symmetric positive definite factors (n = 12, 10, 8, so
N = 960): ``cg`` only ever sees the lazy operator; the dense 960×960 matrix is formed
once at the end, for the check.

Run: python examples/kron_cg.py
"""

import time

import numpy as np
from scipy.sparse.linalg import cg

from kronop import KronOperator


def spd(rng, n):
    a = rng.standard_normal((n, n))
    return a @ a.T / n + np.eye(n)


def main() -> None:
    rng = np.random.default_rng(0)
    factors = [spd(rng, n) for n in (12, 10, 8)]
    K = KronOperator(*factors)
    b = rng.standard_normal(K.shape[0])

    t0 = time.perf_counter()
    x, info = cg(K, b, rtol=1e-10, maxiter=1000)
    t_cg = time.perf_counter() - t0

    dense = K.toarray()  # only for the check
    x_ref = np.linalg.solve(dense, b)
    print(K)
    print(f"cg: info={info}, {t_cg * 1e3:.1f} ms")
    print(
        f"relative residual ‖b − Kx‖/‖b‖ = {np.linalg.norm(b - K @ x) / np.linalg.norm(b):.2e}"
    )
    print(
        f"relative error vs dense solve  = {np.linalg.norm(x - x_ref) / np.linalg.norm(x_ref):.2e}"
    )
    print(f"max |K x − dense x| = {np.max(np.abs(K @ x - dense @ x)):.2e}")
    ok = info == 0 and np.allclose(x, x_ref, rtol=1e-7, atol=1e-9)
    print("OK" if ok else "MISMATCH")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
