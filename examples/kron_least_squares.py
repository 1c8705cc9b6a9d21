r"""Least squares with Kronecker-structured matrices: two problems, kronop vs dense.

**1. min ‖(A⊗B)x − y‖ for tall A (mₐ×nₐ) and B (m_b×n_b).** The pseudo-inverse of a
Kronecker product is the Kronecker product of the pseudo-inverses,
(A⊗B)⁺ = A⁺⊗B⁺, so the minimum-norm least-squares solution is, with the row-major
vec identity (A⊗B) vec(X) = vec(A X Bᵀ) (``vec`` = C-order ravel),

    x = (A⁺⊗B⁺) y = vec(A⁺ Y B⁺ᵀ),   Y = y.reshape(mₐ, m_b),

two small pseudo-inverses (SVDs of the factors) and two GEMMs instead of a
least-squares solve with the mₐm_b × nₐn_b matrix. ``KronOperator(A, B).lstsq(y)``
computes exactly this (``.pinv()`` returns A⁺⊗B⁺ as a lazy operator to reuse; when
the product is numerically rank-deficient while the factors are not, it returns the
truncated SVD of A⊗B instead, cutting at ``rcond·σ_max`` as numpy does). It is
compared with ``numpy.linalg.lstsq`` on the dense ``np.kron(A, B)``: solution
difference, residual norms, optimality ‖Kᵀr‖/(‖K‖₂‖y‖), time and the ratio
dense / kronop. A second case makes B rank-deficient (two columns that are
combinations of others), so the least-squares solution is not unique: the
minimum-norm one is checked against the dense minimum-norm solution, and against a
*basic* solution (drop the dependent columns) that has the same residual but a
larger norm and a component in the null space. The dense reference runs at a size
where np.kron(A, B) is small (``--a``/``--b``); kronop alone then solves a larger
problem (``--large-a``/``--large-b``, default 300×40 and 200×30: the dense matrix
would be 576 MB and one ``numpy.linalg.lstsq`` on it takes about a minute on two
cores) and is checked by its optimality condition, matrix-free.

**2. Separable regression from scattered samples (tensor-product P-splines).**
f(x, y) ≈ Σᵢⱼ Cᵢⱼ φᵢ(x) ψⱼ(y) with cubic B-splines φ (12 in x) and ψ (10 in y),
fitted to noisy samples zᵣ of Franke's test function at scattered points (xᵣ, yᵣ).
Row r of the design matrix is φ(xᵣ)ᵀ⊗ψ(yᵣ)ᵀ = row (r, r) of Φ⊗Ψ, where Φ = [φᵢ(xᵣ)]
and Ψ = [ψⱼ(yᵣ)] are the 1-D basis evaluations: the design matrix is
``SampledKron(KronOperator(Φ, Ψ), rows=(r, r))``, never formed. The smoothness
penalty on the coefficient grid is ‖D₂C‖² + ‖C D₂ᵀ‖² = cᵀ(D₂ᵀD₂ ⊕ D₂ᵀD₂)c, a
Kronecker sum (``KronSum``), and the fit solves the penalized normal equations

    (SᵀS + λ P) c = Sᵀ z,   P = D₂ᵀD₂ ⊗ I + I ⊗ D₂ᵀD₂,

with scipy's ``cg`` on the lazy operator ``S.H @ S + lam * P``. The reference forms
the dense design matrix and solves the augmented least-squares system
[S; √λ R] c ≈ [z; 0] (RᵀR = P) with ``numpy.linalg.lstsq``. λ is chosen by
generalized cross-validation, GCV(λ) = n‖z − Hz‖²/(n − tr H)², over a log grid
(``--lam`` fixes it instead); tr H = tr((SᵀS + λP)⁻¹SᵀS) uses the 120×120 normal
matrix, which is cheap at this size (a stochastic trace estimate would replace it
for large coefficient grids). Printed: coefficient difference, RMS error of both
fits against the true function on a fine grid (evaluated as ``KronOperator(Φ_fine,
Ψ_fine) @ c``), the noise level for scale, cg iterations and times. At 120
coefficients both take milliseconds and the ratio mostly measures per-call
overheads; the matrix-free form pays off when the coefficient grid and the sample
count grow (``--grid 40x40 --samples 3000 --lam 0.01``: the dense augmented system
is 6040×1600 and its solve takes seconds).

Run: python examples/kron_least_squares.py [--quick] [--repeat 5] [--no-figure]
     [--figure PATH] [--a 150x20] [--b 100x15] [--grid 12x10] [--samples 150]

Timings are medians of ``--repeat`` runs (5; 3 with ``--quick``). The figure
(truth and fit with the sample points) needs matplotlib and is skipped otherwise.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import numpy as np
from scipy.interpolate import BSpline
from scipy.sparse.linalg import cg

from kronop import KronOperator, KronSum, SampledKron

EPS = float(np.finfo(np.float64).eps)
CG_RTOL = 1e-12
DEFAULT_FIGURE = Path(__file__).resolve().parent / "figures" / "kron_least_squares.png"


# ------------------------------------------------------------------ helpers
def timed(fn, repeat: int):
    """(last result, median seconds) of ``repeat`` calls of ``fn``."""
    times = []
    out = None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def _fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def _shape(text: str) -> tuple[int, int]:
    try:
        m, n = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a shape like 150x20, got {text!r}"
        ) from None
    if m < 1 or n < 1:
        raise argparse.ArgumentTypeError(f"shape must be positive, got {text!r}")
    return m, n


def rel(a: np.ndarray, b: np.ndarray) -> float:
    """‖a − b‖/‖b‖."""
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# ------------------------------------------------- 1. Kronecker least squares
def ls_bound(
    s: np.ndarray, x_norm: float, r_norm: float, rank_tol: float
) -> tuple[float, float]:
    """(bound, κ): first-order relative perturbation bound of a least-squares solution.

    For a backward-stable solver the relative error is about
    ε(κ + κ²η), κ = σ_max/σ_min over the nonzero singular values s and
    η = ‖r‖/(‖K‖₂‖x‖) (Golub & Van Loan, §5.3.8). Both solutions carry it, so it
    scales the tolerance for their difference.
    """
    s = np.abs(s)
    keep = s[s > rank_tol * s.max()]
    kappa = float(keep.max() / keep.min())
    eta = r_norm / (float(keep.max()) * x_norm)
    return EPS * (kappa + kappa**2 * eta), kappa


def kron_case(A: np.ndarray, B: np.ndarray, y: np.ndarray, repeat: int, dense: bool):
    """Solve min ‖(A⊗B)x − y‖ with kronop (and dense numpy); return the numbers."""
    K = KronOperator(A, B)
    x_k, t_lstsq = timed(lambda: K.lstsq(y), repeat)
    P, t_pinv = timed(K.pinv, repeat)
    x_p, t_apply = timed(lambda: P @ y, repeat)
    r_k = K @ x_k - y
    # the singular values of A⊗B are the products of the factors' (K.svd())
    s = np.asarray(K.svd()[1])
    # numpy.linalg.lstsq's default cutoff on the dense matrix
    rank_tol = EPS * max(K.shape)
    rank = int(np.count_nonzero(s > rank_tol * s.max()))
    norm2 = float(s.max())
    # r = Kx − y is formed with rounding errors of size ε‖y‖, so Kᵀr can only be
    # zero to about ε‖K‖₂‖y‖
    y_norm = float(np.linalg.norm(y))
    out = {
        "shape": K.shape,
        "rank": rank,
        "t_lstsq": t_lstsq,
        "t_pinv": t_pinv,
        "t_apply": t_apply,
        "x": x_k,
        "pinv_vs_lstsq": rel(x_p, x_k),
        "res_kronop": float(np.linalg.norm(r_k)),
        # optimality: the residual is orthogonal to range(K)
        "opt_kronop": float(np.linalg.norm(K.T @ r_k) / (norm2 * y_norm)),
        "norm_kronop": float(np.linalg.norm(x_k)),
    }
    bound, kappa = ls_bound(s, out["norm_kronop"], out["res_kronop"], rank_tol)
    out["kappa"] = kappa
    out["bound"] = bound
    if dense:
        (D, t_form) = timed(lambda: np.kron(A, B), 1)
        (x_d, _, rank_d, _), t_dense = timed(
            lambda: np.linalg.lstsq(D, y, rcond=None), repeat
        )
        del D
        r_d = K @ x_d - y
        out.update(
            t_form=t_form,
            t_dense=t_dense,
            ratio=t_dense / t_lstsq,
            dense_mb=A.size * B.size * 8 / 1e6,
            diff=rel(x_k, x_d),
            res_dense=float(np.linalg.norm(r_d)),
            opt_dense=float(np.linalg.norm(K.T @ r_d) / (norm2 * y_norm)),
            norm_dense=float(np.linalg.norm(x_d)),
            rank_dense=int(rank_d),
        )
    return out


def deficient(B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """B with its last two columns made dependent, and an orthonormal null basis."""
    Bd = B.copy()
    n = B.shape[1]
    Bd[:, n - 1] = Bd[:, 0] + Bd[:, 1]
    Bd[:, n - 2] = 2.0 * Bd[:, 2]
    null = np.zeros((n, 2))
    null[[0, 1, n - 1], 0] = (1.0, 1.0, -1.0)
    null[[2, n - 2], 1] = (2.0, -1.0)
    return Bd, np.linalg.qr(null)[0]


def part1(a, b, large_a, large_b, repeat: int, seed: int, dense_large: bool) -> dict:
    rng = np.random.default_rng(seed)
    A = rng.standard_normal(a)
    B = rng.standard_normal(b)
    # a consistent part plus noise, so the residual is neither 0 nor everything
    x_true = rng.standard_normal(a[1] * b[1])
    y = KronOperator(A, B) @ x_true + 0.1 * rng.standard_normal(a[0] * b[0])

    full = kron_case(A, B, y, repeat, dense=True)

    Bd, null = deficient(B)
    rd = kron_case(A, Bd, y, repeat, dense=True)
    # the minimum-norm solution has no component in null(A⊗Bd) = ℝ^nₐ ⊗ null(Bd)
    X = rd["x"].reshape(a[1], b[1])
    rd["null_part"] = float(np.linalg.norm(X @ null) / np.linalg.norm(X))
    # a basic solution: drop the dependent columns, zero their coefficients
    keep = b[1] - 2
    Xb = np.zeros_like(X)
    Xb[:, :keep] = KronOperator(A, Bd[:, :keep]).lstsq(y).reshape(a[1], keep)
    xb = Xb.ravel()
    rd["res_basic"] = float(np.linalg.norm(KronOperator(A, Bd) @ xb - y))
    rd["norm_basic"] = float(np.linalg.norm(xb))
    rd["null_part_basic"] = float(np.linalg.norm(Xb @ null) / np.linalg.norm(Xb))

    AL = rng.standard_normal(large_a)
    BL = rng.standard_normal(large_b)
    yL = rng.standard_normal(large_a[0] * large_b[0])
    large = kron_case(AL, BL, yL, repeat, dense=dense_large)
    large["dense_mb"] = AL.size * BL.size * 8 / 1e6
    return {"full": full, "deficient": rd, "large": large}


def print_part1(res: dict, dense_large: bool) -> None:
    full, rd, large = res["full"], res["deficient"], res["large"]
    M, N = full["shape"]
    print(
        f"1. min ‖(A⊗B)x − y‖, A⊗B is {M}×{N} (dense np.kron {full['dense_mb']:.1f} MB)"
    )
    for name, r in (("full rank", full), ("B rank-deficient (2 dependent cols)", rd)):
        print(f"\n  {name}: rank {r['rank']} of {N} (dense lstsq: {r['rank_dense']})")
        print(
            f"    kronop K.lstsq(y)               {_fmt_time(r['t_lstsq']):>10}"
            f"   (K.pinv() {_fmt_time(r['t_pinv'])}, then P @ y "
            f"{_fmt_time(r['t_apply'])})"
        )
        print(
            f"    numpy lstsq(np.kron(A, B), y)   {_fmt_time(r['t_dense']):>10}"
            f"   (+ np.kron {_fmt_time(r['t_form'])});  dense / kronop = "
            f"{r['ratio']:.0f}×"
        )
        print(
            f"    ‖x_kronop − x_dense‖/‖x_dense‖  {r['diff']:.2e}   (perturbation "
            f"bound ε(κ + κ²η) = {r['bound']:.1e}, κ = {r['kappa']:.1f})"
        )
        print(f"    ‖P@y − lstsq‖/‖lstsq‖           {r['pinv_vs_lstsq']:.2e}")
        print(
            f"    residual ‖Kx − y‖: kronop {r['res_kronop']:.10e}, "
            f"dense {r['res_dense']:.10e}"
        )
        print(
            f"    ‖Kᵀr‖/(‖K‖₂‖y‖): kronop {r['opt_kronop']:.1e}, "
            f"dense {r['opt_dense']:.1e}"
        )
        print(f"    ‖x‖: kronop {r['norm_kronop']:.6f}, dense {r['norm_dense']:.6f}")
    print(
        f"    basic solution (dependent columns dropped): residual "
        f"{rd['res_basic']:.10e}, ‖x‖ {rd['norm_basic']:.6f}"
    )
    print(
        f"    null-space share ‖X N‖/‖X‖: minimum-norm {rd['null_part']:.1e}, "
        f"basic {rd['null_part_basic']:.2f}"
    )
    M, N = large["shape"]
    print(
        f"\n  larger: A⊗B is {M}×{N} (dense would be {large['dense_mb']:.1f} MB), "
        f"rank {large['rank']}, κ = {large['kappa']:.1f}"
    )
    print(
        f"    kronop K.lstsq(y) {_fmt_time(large['t_lstsq'])}; "
        f"‖Kᵀr‖/(‖K‖₂‖y‖) = {large['opt_kronop']:.1e}"
    )
    if dense_large:
        print(
            f"    numpy lstsq on the dense matrix {_fmt_time(large['t_dense'])} "
            f"(dense / kronop = {large['ratio']:.0f}×), ‖x_kronop − x_dense‖/‖x_dense‖"
            f" = {large['diff']:.1e}"
        )
    else:
        print("    (dense reference not run at this size: pass --dense-large)")


# ------------------------------------------------- 2. separable regression
def franke(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Franke's bivariate test function on [0, 1]² (smooth, not separable)."""
    return (
        0.75 * np.exp(-((9 * x - 2) ** 2) / 4 - (9 * y - 2) ** 2 / 4)
        + 0.75 * np.exp(-((9 * x + 1) ** 2) / 49 - (9 * y + 1) / 10)
        + 0.5 * np.exp(-((9 * x - 7) ** 2) / 4 - (9 * y - 3) ** 2 / 4)
        - 0.2 * np.exp(-((9 * x - 4) ** 2) - (9 * y - 7) ** 2)
    )


def bspline_basis(t: np.ndarray, n: int, k: int = 3) -> np.ndarray:
    """Values of the n clamped uniform B-splines of degree k on [0, 1] at t (len×n)."""
    inner = np.linspace(0.0, 1.0, n - k + 1)
    knots = np.concatenate([np.zeros(k), inner, np.ones(k)])
    return BSpline.design_matrix(t, knots, k).toarray()


def second_difference(n: int) -> np.ndarray:
    """D₂ ((n−2)×n): second differences of a coefficient vector."""
    return np.diff(np.eye(n), 2, axis=0)


def gcv_lambda(G: np.ndarray, P: np.ndarray, Xtz: np.ndarray, z: np.ndarray):
    """λ minimising GCV(λ) = n‖z − Hz‖²/(n − tr H)² over a log grid, and the grid.

    ‖z − Hz‖² = zᵀz − 2cᵀXᵀz + cᵀGc with c = (G + λP)⁻¹Xᵀz and G = XᵀX, so only
    coefficient-space quantities are needed.
    """
    n = z.shape[0]
    grid = np.logspace(-6, 2, 33)
    scores = []
    for lam in grid:
        M = G + lam * P
        c = np.linalg.solve(M, Xtz)
        rss = float(z @ z - 2 * c @ Xtz + c @ G @ c)
        edf = float(np.trace(np.linalg.solve(M, G)))
        scores.append(n * max(rss, 0.0) / (n - edf) ** 2)
    return float(grid[int(np.argmin(scores))]), grid, np.array(scores)


def part2(grid, samples: int, noise: float, lam, repeat: int, seed: int, fine: int):
    nx, ny = grid
    rng = np.random.default_rng(seed + 1)
    xs, ys = rng.random(samples), rng.random(samples)
    z = franke(xs, ys) + noise * rng.standard_normal(samples)
    Px = second_difference(nx).T @ second_difference(nx)
    Py = second_difference(ny).T @ second_difference(ny)
    r = np.arange(samples)

    def operators():
        Phi, Psi = bspline_basis(xs, nx), bspline_basis(ys, ny)
        # sample r is row (r, r) of Φ⊗Ψ: φ(xᵣ)ᵀ⊗ψ(yᵣ)ᵀ
        S = SampledKron(KronOperator(Phi, Psi), rows=(r, r))
        return S, KronSum(Px, Py)

    S, P = operators()
    Xtz = S.H @ z
    if lam is None:
        # the 120×120 normal matrix, for GCV's trace only
        G = S.H @ S.toarray()
        lam, lam_grid, _ = gcv_lambda(G, P.toarray(), Xtz, z)
        lam_how = "GCV"
    else:
        lam_how = "fixed (--lam)"

    iters = [0]

    def kronop_fit():
        S, P = operators()
        op = S.H @ S + lam * P
        iters[0] = 0

        def count(_):
            iters[0] += 1

        c, info = cg(
            op, S.H @ z, rtol=CG_RTOL, maxiter=20 * op.shape[0], callback=count
        )
        if info != 0:
            raise np.linalg.LinAlgError(f"cg did not converge (info={info})")
        return c

    def dense_fit():
        Phi, Psi = bspline_basis(xs, nx), bspline_basis(ys, ny)
        X = np.einsum("ri,rj->rij", Phi, Psi).reshape(samples, nx * ny)
        R = np.vstack(
            [
                np.kron(second_difference(nx), np.eye(ny)),
                np.kron(np.eye(nx), second_difference(ny)),
            ]
        )
        aug = np.vstack([X, math.sqrt(lam) * R])
        rhs = np.concatenate([z, np.zeros(R.shape[0])])
        return np.linalg.lstsq(aug, rhs, rcond=None)[0], X

    c_k, t_k = timed(kronop_fit, repeat)
    (c_d, X), t_d = timed(dense_fit, repeat)
    Nmat = X.T @ X + lam * P.toarray()
    w = np.linalg.eigvalsh(Nmat)
    kappa_n = float(w[-1] / w[0])

    xf = np.linspace(0.0, 1.0, fine)
    Kf = KronOperator(bspline_basis(xf, nx), bspline_basis(xf, ny))
    truth = franke(xf[:, None], xf[None, :])
    fit_k = (Kf @ c_k).reshape(fine, fine)
    fit_d = (Kf @ c_d).reshape(fine, fine)
    out = {
        "grid": (nx, ny),
        "samples": samples,
        "lam": lam,
        "lam_how": lam_how,
        "cg_iters": iters[0],
        "t_kronop": t_k,
        "t_dense": t_d,
        "ratio": t_d / t_k,
        "diff": rel(c_k, c_d),
        "kappa_normal": kappa_n,
        # cg stops at ‖res‖ ≤ rtol‖b‖, so the coefficients carry up to κ·rtol
        "bound": kappa_n * (CG_RTOL + EPS),
        "rms_kronop": float(np.sqrt(np.mean((fit_k - truth) ** 2))),
        "rms_dense": float(np.sqrt(np.mean((fit_d - truth) ** 2))),
        "rms_truth": float(np.sqrt(np.mean(truth**2))),
        "noise": noise,
        "design_check": float(np.max(np.abs(S.toarray() - X))),
        "xs": xs,
        "ys": ys,
        "xf": xf,
        "truth": truth,
        "fit": fit_k,
    }
    if lam_how == "GCV":
        out["lam_range"] = (float(lam_grid[0]), float(lam_grid[-1]), len(lam_grid))
    return out


def print_part2(r: dict) -> None:
    nx, ny = r["grid"]
    print(
        f"\n2. tensor-product P-spline fit of Franke's function: {nx}×{ny} cubic "
        f"B-spline coefficients, {r['samples']} scattered samples, noise σ = "
        f"{r['noise']:g}"
    )
    how = r["lam_how"]
    if "lam_range" in r:
        lo, hi, count = r["lam_range"]
        how += f" over [{lo:g}, {hi:g}], {count} log-spaced values"
    print(f"  λ = {r['lam']:.3g} ({how})")
    print(f"  design matrix: max |SampledKron − dense rows| = {r['design_check']:.1e}")
    print(
        f"  kronop: cg on (SᵀS + λ P) c = Sᵀz, rtol {CG_RTOL:g}: "
        f"{r['cg_iters']} iterations, {_fmt_time(r['t_kronop'])}"
    )
    print(
        f"  dense: lstsq on [X; √λ R] ({r['samples']}+{(nx - 2) * ny + nx * (ny - 2)}"
        f" × {nx * ny}): {_fmt_time(r['t_dense'])};  dense / kronop = "
        f"{r['ratio']:.2f}×"
    )
    print(
        f"  ‖c_kronop − c_dense‖/‖c_dense‖ = {r['diff']:.2e}   (κ(SᵀS + λP) = "
        f"{r['kappa_normal']:.1e}, bound κ·(rtol + ε) = {r['bound']:.1e})"
    )
    print(
        f"  RMS error on a {len(r['xf'])}² grid: kronop {r['rms_kronop']:.4f}, "
        f"dense {r['rms_dense']:.4f}  (RMS of f {r['rms_truth']:.3f})"
    )


def save_figure(r: dict, path: Path) -> str:
    try:
        import matplotlib
    except ImportError:
        return "figure skipped: matplotlib is not installed"
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), constrained_layout=True)
    vmin = min(r["truth"].min(), r["fit"].min())
    vmax = max(r["truth"].max(), r["fit"].max())
    for ax, data, title in (
        (axes[0], r["truth"], "Franke's function (truth)"),
        (
            axes[1],
            r["fit"],
            f"P-spline fit, λ = {r['lam']:.2g}, RMS error {r['rms_kronop']:.3f}",
        ),
    ):
        # arrays are indexed [x, y]; imshow wants [row = y, column = x]
        im = ax.imshow(
            data.T,
            origin="lower",
            extent=(0, 1, 0, 1),
            vmin=vmin,
            vmax=vmax,
            cmap="viridis",
        )
        ax.scatter(r["xs"], r["ys"], s=8, c="white", edgecolors="black", lw=0.4)
        ax.set_title(title)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    fig.colorbar(im, ax=axes, shrink=0.9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return f"figure saved to {path}"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, 3 repeats")
    ap.add_argument("--repeat", type=int, default=None, help="timing repeats (5)")
    ap.add_argument("--a", type=_shape, default=None, help="A for the dense check")
    ap.add_argument("--b", type=_shape, default=None, help="B for the dense check")
    ap.add_argument("--large-a", type=_shape, default=None, help="A, kronop only")
    ap.add_argument("--large-b", type=_shape, default=None, help="B, kronop only")
    ap.add_argument(
        "--dense-large",
        action="store_true",
        help="also run dense lstsq at the large size (576 MB, minutes by default)",
    )
    ap.add_argument("--grid", type=_shape, default=(12, 10), help="coefficients")
    ap.add_argument("--samples", type=int, default=150)
    ap.add_argument("--noise", type=float, default=0.05)
    ap.add_argument("--lam", type=float, default=None, help="fix λ (default: GCV)")
    ap.add_argument("--fine", type=int, default=101, help="evaluation grid size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--figure", type=Path, default=DEFAULT_FIGURE)
    ap.add_argument("--no-figure", action="store_true")
    args = ap.parse_args(argv)

    repeat = args.repeat or (3 if args.quick else 5)
    a = args.a or ((60, 10) if args.quick else (150, 20))
    b = args.b or ((50, 8) if args.quick else (100, 15))
    large_a = args.large_a or ((120, 20) if args.quick else (300, 40))
    large_b = args.large_b or ((100, 16) if args.quick else (200, 30))
    if b[1] < 5 or b[0] < b[1]:
        # the rank-deficient case rewrites columns 0, 1, 2, n−2 and n−1 of B
        raise ValueError(f"--b must be tall with at least 5 columns, got {b}")

    p1 = part1(a, b, large_a, large_b, repeat, args.seed, args.dense_large)
    print_part1(p1, args.dense_large)
    p2 = part2(
        args.grid, args.samples, args.noise, args.lam, repeat, args.seed, args.fine
    )
    print_part2(p2)
    if args.no_figure:
        print("figure skipped (--no-figure)")
    else:
        print(save_figure(p2, args.figure))

    full, rd, large = p1["full"], p1["deficient"], p1["large"]
    return {
        "lstsq_diff": full["diff"],
        "lstsq_bound": full["bound"],
        "lstsq_pinv_diff": full["pinv_vs_lstsq"],
        "lstsq_res_kronop": full["res_kronop"],
        "lstsq_res_dense": full["res_dense"],
        "lstsq_opt": full["opt_kronop"],
        "lstsq_ratio": full["ratio"],
        "deficient_diff": rd["diff"],
        "deficient_bound": rd["bound"],
        "deficient_rank": rd["rank"],
        "deficient_rank_dense": rd["rank_dense"],
        "deficient_res_kronop": rd["res_kronop"],
        "deficient_res_dense": rd["res_dense"],
        "deficient_res_basic": rd["res_basic"],
        "deficient_norm_kronop": rd["norm_kronop"],
        "deficient_norm_basic": rd["norm_basic"],
        "deficient_null_part": rd["null_part"],
        "deficient_ratio": rd["ratio"],
        "large_opt": large["opt_kronop"],
        "regression_diff": p2["diff"],
        "regression_bound": p2["bound"],
        "regression_rms_kronop": p2["rms_kronop"],
        "regression_rms_dense": p2["rms_dense"],
        "regression_rms_truth": p2["rms_truth"],
        "regression_noise": p2["noise"],
        "regression_lam": p2["lam"],
        "regression_design_check": p2["design_check"],
        "regression_ratio": p2["ratio"],
    }


if __name__ == "__main__":
    main()
