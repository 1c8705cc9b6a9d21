r"""Lyapunov, Sylvester and tensor Sylvester equations: kronop against scipy and dense.

All three are one linear system with a Kronecker sum. In numpy's row-major
convention vec(AX) = (A ⊗ I) vec(X) and vec(XB) = (I ⊗ Bᵀ) vec(X), so

* AX + XB = C              is  (A ⊕ Bᵀ) vec(X) = vec(C)            (Sylvester),
* AX + XAᴴ + BBᴴ = 0       is  (A ⊕ Ā) vec(X) = −vec(BBᴴ)          (Lyapunov),
* X ×₁ A₁ + X ×₂ A₂ + X ×₃ A₃ = F  is  (A₁ ⊕ A₂ ⊕ A₃) vec(X) = vec(F)  (tensor).

kronop solves them from the factors (``solve_lyapunov``, ``solve_sylvester``,
``solve_tensor_sylvester``): eigendecompositions for Hermitian factors, Schur forms
(Bartels–Stewart) for non-normal ones with ill-conditioned eigenvectors (and for
any non-Hermitian pair), O(Σ nⱼ³) work instead of O(N³) for N = ∏ nⱼ.

Part 1 — Gramians and Hankel singular values. The 1-D advection–diffusion
(heat) equation uₜ = ν uₓₓ − c uₓ on (0, 1), u = 0 at both ends, central
differences on n interior nodes, is a stable LTI system x' = Ax + Bu, y = Cx
with three actuators (Gaussian heat sources, the columns of B) and two sensors
(local averages, the rows of C). Its controllability Gramian P and
observability Gramian Q solve

    A P + P Aᵀ + B Bᵀ = 0,        Aᵀ Q + Q A + Cᵀ C = 0,

and the Hankel singular values σₖ = √λₖ(PQ) say how many states matter: balanced
truncation to order r has ‖G − Gᵣ‖_∞ ≤ 2 Σ_{k>r} σₖ. Two systems are solved:
the pure heat equation (c = 0, A symmetric: kronop's eigendecomposition route)
and advection–diffusion (c = ``--velocity``, A non-normal with ill-conditioned
eigenvectors: kronop's Schur route), each with kronop and with
``scipy.linalg.solve_continuous_lyapunov``.

Part 2 — a dense Sylvester equation AX + XB = C (random non-symmetric A, B with
separated spectra) with kronop and with ``scipy.linalg.solve_sylvester``.

Part 3 — the steady 3-D advection–diffusion equation −νΔu + c·∇u = f on the unit
cube (Dirichlet, central differences, n nodes per axis), whose matrix is exactly
A₁ ⊕ A₂ ⊕ A₃ with the 1-D operators Aⱼ = −ν D₂ + cⱼ D₁. scipy has no solver for
it as an equation; the alternative is to assemble the N×N matrix (N = n³) and
solve it dense (``numpy.linalg.solve``) or sparse (``scipy.sparse.linalg.spsolve``
on the 7-point CSC matrix), assembly included. Those are timed on a sweep of n
that stops before the dense solve would take more than ``--dense-budget``
seconds; the comparison is reported at the largest n whose dense solve took less
than that, and kronop alone at the full size (``--tensor-n``).

Printed: for every solve the relative residual (Lyapunov: ‖AX + XAᴴ + BBᴴ‖/‖BBᴴ‖,
and the normwise backward error ‖R‖/(2‖A‖₂‖X‖ + ‖BBᴴ‖); part 3:
‖Σⱼ X ×ⱼ Aⱼ − F‖/‖F‖ and ‖R‖/(Σⱼ‖Aⱼ‖₂‖X‖ + ‖F‖)), the relative difference
between kronop's and the reference solution, the median time of ``--repeat`` runs
of each, and the ratio (reference time / kronop time; > 1 means kronop is
faster). Part 1 also prints the leading Hankel singular values and the
balanced-truncation order for a 1e-6 relative error bound.

Run: python examples/sylvester_lyapunov.py [--quick] [--repeat 5] [--n 400]
     [--sylvester-m 300] [--sylvester-n 200] [--tensor-n 60] [--velocity 20]
     [--dense-budget 10] [--figure PATH | --no-figure]

``--quick`` (CI) uses n = 100, a 100×70 Sylvester equation, a 20³ tensor
equation, a 0.5 s dense budget and 3 repeats. The figure (matplotlib, optional)
shows the Hankel singular value decay and part 3's time against N.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from kronop import solve_lyapunov, solve_sylvester, solve_tensor_sylvester

DEFAULT_FIGURE = Path(__file__).resolve().parent / "figures" / "sylvester_lyapunov.png"
NU = 1.0  # diffusivity
TENSOR_VELOCITY = (10.0, 20.0, 5.0)  # c = (c₁, c₂, c₃) in part 3
HSV_TOL = 1e-6  # relative bound on the balanced-truncation error


# ----------------------------------------------------------------- helpers
def timed(fn: Callable[[], np.ndarray], repeat: int) -> tuple[float, np.ndarray]:
    """Median wall time of ``repeat`` calls and the last result."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def rel(a: np.ndarray, b: np.ndarray) -> float:
    """‖a − b‖ / ‖b‖ (Frobenius)."""
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def advection_diffusion_1d(n: int, velocity: float, nu: float = NU) -> sp.csr_array:
    """ν D₂ − c D₁ on n interior nodes of (0, 1), Dirichlet (central differences)."""
    h = 1.0 / (n + 1)
    lower = nu / h**2 + velocity / (2 * h)
    upper = nu / h**2 - velocity / (2 * h)
    return sp.diags_array(
        [np.full(n - 1, lower), np.full(n, -2 * nu / h**2), np.full(n - 1, upper)],
        offsets=[-1, 0, 1],
        format="csr",
    )


# ----------------------------------------------------- part 1: Gramians
def lti_system(n: int, velocity: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A, B, C) of the discretized heat/advection–diffusion equation."""
    A = advection_diffusion_1d(n, velocity).toarray()
    x = np.arange(1, n + 1) / (n + 1)
    # actuators: Gaussian heat sources; sensors: averages over a window
    B = np.stack([np.exp(-(((x - s) / 0.05) ** 2)) for s in (0.2, 0.5, 0.8)], axis=1)
    C = np.stack(
        [
            (np.abs(x - s) <= 0.05) / max(1, np.sum(np.abs(x - s) <= 0.05))
            for s in (0.3, 0.7)
        ]
    )
    return A, B, C.astype(float)


def lyapunov_residuals(
    A: np.ndarray, X: np.ndarray, Q: np.ndarray
) -> tuple[float, float]:
    """‖AX + XAᴴ − Q‖/‖Q‖ and the normwise backward error ‖R‖/(2‖A‖₂‖X‖ + ‖Q‖)."""
    R = A @ X + X @ A.conj().T - Q
    nr = np.linalg.norm(R)
    back = nr / (2 * np.linalg.norm(A, 2) * np.linalg.norm(X) + np.linalg.norm(Q))
    return float(nr / np.linalg.norm(Q)), float(back)


def hankel_singular_values(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """σₖ = √λₖ(PQ), as the singular values of Lqᵀ Lp (P = Lp Lpᵀ, Q = Lq Lqᵀ).

    The Gramians are positive semidefinite and numerically of low rank, so their
    square-root factors come from ``eigh`` with the rounding-level negative
    eigenvalues clipped (a Cholesky factorization would fail).
    """

    def factor(G):
        w, V = np.linalg.eigh((G + G.T) / 2)
        return V * np.sqrt(np.clip(w, 0, None))

    return np.linalg.svd(factor(Q).T @ factor(P), compute_uv=False)


def truncation_order(hsv: np.ndarray, tol: float = HSV_TOL) -> int:
    """The smallest r with 2 Σ_{k>r} σₖ ≤ tol · σ₁."""
    tail = 2 * np.cumsum(hsv[::-1])[::-1]  # tail[r] = 2 Σ_{k≥r} σₖ (0-based)
    ok = np.nonzero(np.append(tail, 0.0) <= tol * hsv[0])[0]
    return int(ok[0])


def gramians(name: str, n: int, velocity: float, repeat: int) -> dict:
    """Controllability and observability Gramians with kronop and scipy."""
    A, B, C = lti_system(n, velocity)
    BB, CC = -B @ B.T, -C.T @ C
    t_k, P_k = timed(lambda: solve_lyapunov(A, BB), repeat)
    t_s, P_s = timed(lambda: sla.solve_continuous_lyapunov(A, BB), repeat)
    # the observability Gramian only feeds the Hankel singular values: solved once
    Q_k = solve_lyapunov(A.T, CC)
    Q_s = sla.solve_continuous_lyapunov(A.T, CC)
    res_k, back_k = lyapunov_residuals(A, P_k, BB)
    res_s, back_s = lyapunov_residuals(A, P_s, BB)
    hsv_k = hankel_singular_values(P_k, Q_k)
    hsv_s = hankel_singular_values(P_s, Q_s)
    # the values that decide the truncation order; far below σ₁ the rounding
    # errors in P and Q decide their digits, in either solver
    lead = hsv_s >= HSV_TOL * hsv_s[0]
    return {
        "name": name,
        "n": n,
        "time_kronop": t_k,
        "time_scipy": t_s,
        "ratio": t_s / t_k,
        "residual_kronop": res_k,
        "residual_scipy": res_s,
        "backward_kronop": back_k,
        "backward_scipy": back_s,
        "difference": rel(P_k, P_s),
        "obs_residual_kronop": lyapunov_residuals(A.T, Q_k, CC)[0],
        "obs_residual_scipy": lyapunov_residuals(A.T, Q_s, CC)[0],
        "obs_difference": rel(Q_k, Q_s),
        "hsv_kronop": hsv_k,
        "hsv_scipy": hsv_s,
        "hsv_difference": float(np.max(np.abs(hsv_k[lead] / hsv_s[lead] - 1))),
        "hsv_leading": int(np.sum(lead)),
        "order_kronop": truncation_order(hsv_k),
        "order_scipy": truncation_order(hsv_s),
    }


def print_gramians(rows: list[dict]) -> None:
    print("Part 1: controllability Gramian  A P + P Aᵀ + B Bᵀ = 0")
    print(
        "| system | n | kronop s | scipy s | scipy/kronop | residual kronop "
        "| residual scipy | backward err kronop | backward err scipy | ‖Pk−Ps‖/‖Ps‖ |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['name']} | {r['n']} | {r['time_kronop']:.3f} | {r['time_scipy']:.3f} "
            f"| {r['ratio']:.2f} | {r['residual_kronop']:.1e} | {r['residual_scipy']:.1e} "
            f"| {r['backward_kronop']:.1e} | {r['backward_scipy']:.1e} "
            f"| {r['difference']:.1e} |"
        )
    print("\nObservability Gramian Aᵀ Q + Q A + Cᵀ C = 0 and Hankel singular values")
    for r in rows:
        h = r["hsv_kronop"] / r["hsv_kronop"][0]
        shown = ", ".join(f"{v:.1e}" for v in h[:10])
        print(
            f"  {r['name']}: residual kronop {r['obs_residual_kronop']:.1e}, "
            f"scipy {r['obs_residual_scipy']:.1e}, ‖Qk−Qs‖/‖Qs‖ "
            f"{r['obs_difference']:.1e}\n"
            f"    σₖ/σ₁ (kronop), k = 1..10: {shown}\n"
            f"    σ₁ = {r['hsv_kronop'][0]:.4e}; {r['hsv_leading']} values above "
            f"{HSV_TOL:g}·σ₁, where kronop and scipy differ by at most "
            f"{r['hsv_difference']:.1e} (relative)\n"
            f"    balanced truncation with 2Σ_(k>r) σₖ ≤ {HSV_TOL:g}·σ₁: "
            f"r = {r['order_kronop']} (kronop), {r['order_scipy']} (scipy) "
            f"of n = {r['n']}"
        )


# ---------------------------------------------------- part 2: Sylvester
def sylvester(m: int, n: int, repeat: int, seed: int = 0) -> dict:
    """AX + XB = C with random non-normal A (m×m) and B (n×n)."""
    rng = np.random.default_rng(seed)
    # spectra in discs of radius ≈ 1 about 3 and 2: A and −B are well separated
    A = 3 * np.eye(m) + rng.standard_normal((m, m)) / np.sqrt(m)
    B = 2 * np.eye(n) + rng.standard_normal((n, n)) / np.sqrt(n)
    C = rng.standard_normal((m, n))
    t_k, X_k = timed(lambda: solve_sylvester(A, B, C), repeat)
    t_s, X_s = timed(lambda: sla.solve_sylvester(A, B, C), repeat)
    return {
        "m": m,
        "n": n,
        "time_kronop": t_k,
        "time_scipy": t_s,
        "ratio": t_s / t_k,
        "residual_kronop": rel(A @ X_k + X_k @ B, C),
        "residual_scipy": rel(A @ X_s + X_s @ B, C),
        "difference": rel(X_k, X_s),
    }


def print_sylvester(r: dict) -> None:
    print(
        f"\nPart 2: Sylvester A X + X B = C, A {r['m']}×{r['m']}, B {r['n']}×{r['n']}"
    )
    print("| method | median s | ‖AX + XB − C‖/‖C‖ |")
    print("|---|---:|---:|")
    print(
        f"| kronop solve_sylvester | {r['time_kronop']:.3f} | {r['residual_kronop']:.1e} |"
    )
    print(
        f"| scipy solve_sylvester | {r['time_scipy']:.3f} | {r['residual_scipy']:.1e} |"
    )
    print(f"scipy/kronop time {r['ratio']:.2f}; ‖Xk − Xs‖/‖Xs‖ = {r['difference']:.1e}")


# ---------------------------------------------- part 3: tensor Sylvester
def tensor_problem(n: int) -> tuple[list[sp.csr_array], np.ndarray]:
    """Factors Aⱼ = −ν D₂ + cⱼ D₁ and a Gaussian source f on an n³ grid."""
    factors = [-advection_diffusion_1d(n, c) for c in TENSOR_VELOCITY]
    x = np.arange(1, n + 1) / (n + 1)
    g = [np.exp(-(((x - s) / 0.15) ** 2)) for s in (0.3, 0.5, 0.6)]
    return factors, np.einsum("i,j,k->ijk", *g)


def apply_kronsum(factors: Sequence, X: np.ndarray) -> np.ndarray:
    """Σⱼ X ×ⱼ Aⱼ, axis by axis (an independent check of kronop's answer)."""
    out = np.zeros_like(X)
    for j, A in enumerate(factors):
        Xj = np.moveaxis(X, j, 0)
        out += np.moveaxis((A @ Xj.reshape(Xj.shape[0], -1)).reshape(Xj.shape), 0, j)
    return out


def tensor_backward_error(factors: Sequence, X: np.ndarray, F: np.ndarray) -> float:
    """‖R‖/(‖A₁ ⊕ A₂ ⊕ A₃‖₂‖X‖ + ‖F‖), with ‖⊕Aⱼ‖₂ bounded by Σⱼ ‖Aⱼ‖₂."""
    norm = sum(np.linalg.norm(A.toarray(), 2) for A in factors)
    r = np.linalg.norm(apply_kronsum(factors, X) - F)
    return float(r / (norm * np.linalg.norm(X) + np.linalg.norm(F)))


def assemble_kronsum(factors: Sequence, fmt: str = "csc") -> sp.sparray:
    """A₁ ⊗ I ⊗ I + I ⊗ A₂ ⊗ I + I ⊗ I ⊗ A₃ with scipy.sparse.kron."""
    ns = [A.shape[0] for A in factors]
    M = None
    for j, A in enumerate(factors):
        term = sp.kron(
            sp.kron(sp.eye_array(int(np.prod(ns[:j]))), A),
            sp.eye_array(int(np.prod(ns[j + 1 :]))),
        )
        M = term if M is None else M + term
    return M.asformat(fmt)


def dense_solve(factors: Sequence, F: np.ndarray) -> np.ndarray:
    M = assemble_kronsum(factors, "csr").toarray()
    return np.linalg.solve(M, F.reshape(-1)).reshape(F.shape)


def sparse_solve(factors: Sequence, F: np.ndarray) -> np.ndarray:
    return spsolve(assemble_kronsum(factors, "csc"), F.reshape(-1)).reshape(F.shape)


def tensor_compare(n: int, repeat: int) -> dict:
    """kronop, dense and sparse solves of the n³ problem: times and errors."""
    factors, F = tensor_problem(n)
    t_k, X_k = timed(lambda: solve_tensor_sylvester(factors, F), repeat)
    t_d, X_d = timed(lambda: dense_solve(factors, F), repeat)
    t_s, X_s = timed(lambda: sparse_solve(factors, F), repeat)
    return {
        "n": n,
        "N": n**3,
        "time_kronop": t_k,
        "time_dense": t_d,
        "time_sparse": t_s,
        "residual_kronop": rel(apply_kronsum(factors, X_k), F),
        "residual_dense": rel(apply_kronsum(factors, X_d), F),
        "backward_kronop": tensor_backward_error(factors, X_k, F),
        "difference_dense": rel(X_k, X_d),
        "difference_sparse": rel(X_k, X_s),
    }


def tensor_sweep(n_full: int, dense_budget: float, repeat: int) -> list[dict]:
    """kronop, dense and sparse solves for n = 6, 8, …, while dense fits the budget.

    The next n is skipped when the last dense time, scaled by the O(N³) cost of
    LU, predicts more than ``dense_budget`` seconds.
    """
    rows = []
    n = 6
    while n < n_full:
        rows.append(tensor_compare(n, repeat))
        t_d = rows[-1]["time_dense"]
        if t_d >= dense_budget or t_d * ((n + 2) / n) ** 9 > dense_budget:
            break
        n += 2
    return rows


def tensor_full(n: int, repeat: int) -> dict:
    factors, F = tensor_problem(n)
    t_k, X_k = timed(lambda: solve_tensor_sylvester(factors, F), repeat)
    return {
        "n": n,
        "N": n**3,
        "time_kronop": t_k,
        "residual_kronop": rel(apply_kronsum(factors, X_k), F),
        "backward_kronop": tensor_backward_error(factors, X_k, F),
    }


def compared_row(sweep: list[dict], dense_budget: float) -> dict:
    """The largest n whose dense solve took less than the budget (else the first)."""
    under = [r for r in sweep if r["time_dense"] < dense_budget]
    return under[-1] if under else sweep[0]


def print_tensor(sweep: list[dict], full: dict, dense_budget: float) -> None:
    print(
        "\nPart 3: tensor Sylvester X ×₁ A₁ + X ×₂ A₂ + X ×₃ A₃ = F "
        "(3-D advection–diffusion, N = n³)"
    )
    print(
        "| n | N | kronop s | dense s | sparse s | dense/kronop | sparse/kronop "
        "| residual kronop | residual dense | ‖xk−xd‖/‖xd‖ | ‖xk−xs‖/‖xs‖ |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in sweep:
        print(
            f"| {r['n']} | {r['N']:,} | {r['time_kronop']:.4f} | {r['time_dense']:.3f} "
            f"| {r['time_sparse']:.4f} | {r['time_dense'] / r['time_kronop']:.0f} "
            f"| {r['time_sparse'] / r['time_kronop']:.1f} | {r['residual_kronop']:.1e} "
            f"| {r['residual_dense']:.1e} | {r['difference_dense']:.1e} "
            f"| {r['difference_sparse']:.1e} |"
        )
    last = compared_row(sweep, dense_budget)
    print(
        f"largest n with a dense solve under {dense_budget:g} s: n = {last['n']}, "
        f"dense/kronop time {last['time_dense'] / last['time_kronop']:.0f}, "
        f"sparse/kronop {last['time_sparse'] / last['time_kronop']:.1f}"
    )
    print(
        f"kronop alone at n = {full['n']} (N = {full['N']:,}): "
        f"{full['time_kronop']:.3f} s, residual ‖ΣX×ⱼAⱼ − F‖/‖F‖ "
        f"{full['residual_kronop']:.1e}, backward error "
        f"{full['backward_kronop']:.1e} "
        f"(a dense matrix would take {8 * full['N'] ** 2 / 2**30:.3g} GiB)"
    )


# ---------------------------------------------------------------- figure
def save_figure(path: Path, lyap: list[dict], sweep: list[dict], full: dict) -> str:
    try:
        import matplotlib
    except ImportError:
        return (
            "figure skipped: matplotlib is not installed (pip install kronop[examples])"
        )
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for r, color in zip(lyap, ("C0", "C1"), strict=False):
        k = np.arange(1, len(r["hsv_kronop"]) + 1)
        ax1.semilogy(
            k,
            r["hsv_kronop"] / r["hsv_kronop"][0],
            ".",
            color=color,
            label=f"{r['name']}: kronop",
        )
        ax1.semilogy(
            k,
            r["hsv_scipy"] / r["hsv_scipy"][0],
            "-",
            color=color,
            lw=0.8,
            label=f"{r['name']}: scipy",
        )
    ax1.axhline(np.finfo(float).eps, color="gray", ls=":", label="machine ε")
    ax1.set_xlim(0, 60)
    ax1.set_ylim(1e-20, 2)
    ax1.set_xlabel("k")
    ax1.set_ylabel("σₖ / σ₁")
    ax1.set_title(f"Hankel singular values, n = {lyap[0]['n']}")
    ax1.legend(fontsize=8)

    N = [r["N"] for r in sweep]
    ax2.loglog(
        [*N, full["N"]],
        [r["time_kronop"] for r in sweep] + [full["time_kronop"]],
        "o-",
        label="kronop solve_tensor_sylvester",
    )
    ax2.loglog(N, [r["time_dense"] for r in sweep], "s-", label="dense numpy solve")
    ax2.loglog(N, [r["time_sparse"] for r in sweep], "^-", label="sparse spsolve")
    ax2.set_xlabel("N = n³")
    ax2.set_ylabel("median time (s), assembly included")
    ax2.set_title("(A₁ ⊕ A₂ ⊕ A₃) x = f")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return f"figure saved to {path}"


# ------------------------------------------------------------------ main
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (CI)")
    p.add_argument("--repeat", type=int, default=None, help="timing runs (5; quick 3)")
    p.add_argument(
        "--n", type=int, default=None, help="part 1 state size (400; quick 100)"
    )
    p.add_argument(
        "--sylvester-m", type=int, default=None, help="part 2 m (300; quick 100)"
    )
    p.add_argument(
        "--sylvester-n", type=int, default=None, help="part 2 n (200; quick 70)"
    )
    p.add_argument("--tensor-n", type=int, default=None, help="part 3 n (60; quick 20)")
    p.add_argument("--velocity", type=float, default=20.0, help="part 1 c (default 20)")
    p.add_argument(
        "--dense-budget",
        type=float,
        default=None,
        help="part 3 dense seconds (10; quick 0.5)",
    )
    p.add_argument("--figure", type=Path, default=DEFAULT_FIGURE)
    p.add_argument("--no-figure", action="store_true")
    args = p.parse_args(argv)
    defaults = {
        "repeat": (5, 3),
        "n": (400, 100),
        "sylvester_m": (300, 100),
        "sylvester_n": (200, 70),
        "tensor_n": (60, 20),
        "dense_budget": (10.0, 0.5),
    }
    for key, (full, quick) in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, quick if args.quick else full)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    if min(args.n, args.sylvester_m, args.sylvester_n) < 2 or args.tensor_n < 8:
        p.error("--n, --sylvester-m, --sylvester-n must be ≥ 2 and --tensor-n ≥ 8")
    if args.velocity == 0:
        p.error("--velocity must be nonzero (c = 0 is the heat equation, always run)")
    return args


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the three parts; return the measured residuals, differences and ratios.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    dict
        ``lyapunov`` (one dict per system: residuals, backward errors, difference
        to scipy, time ratio, Hankel singular values), ``sylvester`` and
        ``tensor`` (``sweep`` rows and the ``full``-size run).
    """
    args = parse_args(argv)
    print(f"repeat = {args.repeat} (times are medians)\n")
    lyap = [
        gramians("heat (c = 0)", args.n, 0.0, args.repeat),
        gramians(
            f"advection–diffusion (c = {args.velocity:g})",
            args.n,
            args.velocity,
            args.repeat,
        ),
    ]
    print_gramians(lyap)
    syl = sylvester(args.sylvester_m, args.sylvester_n, args.repeat)
    print_sylvester(syl)
    sweep = tensor_sweep(args.tensor_n, args.dense_budget, args.repeat)
    full = tensor_full(args.tensor_n, args.repeat)
    print_tensor(sweep, full, args.dense_budget)
    if args.no_figure:
        print("\nfigure skipped (--no-figure)")
    else:
        print("\n" + save_figure(args.figure, lyap, sweep, full))
    last = compared_row(sweep, args.dense_budget)
    return {
        "lyapunov": lyap,
        "sylvester": syl,
        "tensor": {
            "sweep": sweep,
            "full": full,
            "n_compared": last["n"],
            "ratio_dense": last["time_dense"] / last["time_kronop"],
            "ratio_sparse": last["time_sparse"] / last["time_kronop"],
        },
    }


if __name__ == "__main__":
    main()
