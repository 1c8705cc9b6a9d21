r"""Gaussian-process regression on a 3-D grid: marginal likelihood, gradient, fit.

The problem
-----------
Noisy values y of a smooth field f on a grid x₁ × x₂ × x₃ (each axis n points in
[0, 1]) are modelled by a GP with a product of squared-exponential kernels, one per
axis, so on the grid the covariance is a Kronecker product:

.. math:: K = s\,K_1\otimes K_2\otimes K_3,\qquad
          (K_j)_{ab} = \exp\!\big(-(x_{j,a} - x_{j,b})^2 / (2\ell_j^2)\big),
          \qquad C = K + \sigma^2 I.

The hyperparameters θ = (log ℓ₁, log ℓ₂, log ℓ₃, log s, log σ²) are fitted by
minimising the negative log marginal likelihood

.. math:: \mathcal L(\theta) = \tfrac12 y^T C^{-1} y + \tfrac12\log\det C
          + \tfrac N2\log 2\pi

with ``scipy.optimize.minimize(method="L-BFGS-B", jac=True)``.

The Kronecker identities used
-----------------------------
With Kⱼ = Qⱼ Λⱼ Qⱼᵀ, ``KronOperator(sK₁, K₂, K₃).eigh()`` keeps C = (⊗Qⱼ)(⊗Λⱼ +
σ²)(⊗Qⱼ)ᵀ in factored form, so α = C⁻¹y costs O(N Σnⱼ) and log det C = Σ log(λ + σ²)
O(N). For a hyperparameter moving factor j (E = K₁⊗…⊗∂Kⱼ⊗…⊗K₃),

.. math:: \partial\mathcal L = \tfrac12\operatorname{tr}(C^{-1}E)
          - \tfrac12\alpha^T E\,\alpha,

where ``KronEigen.logdet_grad`` evaluates tr(C⁻¹E) = Σᵢ wᵢ (QⱼᵀdKⱼQⱼ)_{iⱼiⱼ}
∏_{k≠j}λ_{k,iₖ} (w = 1/(λ + σ²)) by contractions of the eigenvalue grid (O(N)), and
``KronEigen.quad_grad`` gives yᵀC⁻¹y, −αᵀEα (a ``KronOperator`` product) and
−αᵀα = ∂/∂σ² yᵀC⁻¹y from one solve. The chain rule goes through each factor's kernel
matrix: ∂Kⱼ/∂log ℓⱼ = Kⱼ ⊙ D²ⱼ/ℓⱼ². The scale s multiplies the whole product, so
∂K/∂log s = K and, with K = C − σ²I, αᵀKα = yᵀα − σ²αᵀα and tr(C⁻¹K) = N − σ² tr C⁻¹
(``logdet_shift_grad``): no extra solve. ∂/∂log σ² = σ²·∂/∂σ².

The reference is the same objective through a dense Cholesky factorization
(``scipy.linalg.cho_factor``), the gradient from ½ tr((C⁻¹ − ααᵀ) ∂C), fitted with the
same optimizer from the same start.

The incomplete grid
-------------------
When only a random 70% of the grid is observed (rows S), the covariance of the
observations, S K Sᵀ + σ²I, is no longer a Kronecker product; it is applied lazily as
``SampledKron(K, obs, obs) + σ²·IdentityOperator`` and the posterior mean
m = K Sᵀ (S K Sᵀ + σ²I)⁻¹ y_obs is computed with scipy's ``cg``, then compared with a
dense Cholesky solve and, at the 30% held-out points, with the noiseless truth.

Run
---
``python examples/gp_grid.py`` (``--quick`` for the CI size; ``--repeat R`` timing
repeats; ``--seed``; ``--figure PATH`` / ``--no-figure``).

What is printed
---------------
1. The gradient check at the starting θ: for every hyperparameter the analytic
   kronop gradient, a fourth-order central finite difference of the kronop objective,
   their relative difference, and the relative difference to the dense gradient.
2. The fit at small N (8×8×8) by kronop and by dense Cholesky: fitted θ, the
   differences, the two minimal NLLs, iterations and evaluations.
3. Times (medians of ``--repeat``) of one objective + gradient evaluation: kronop
   and dense at the largest N dense is run at, with the ratio dense / kronop, and
   kronop at an N dense cannot reach (64³ = 262144; quick: 16³), with the dense
   memory that would need.
4. A kronop fit at that large N: fitted against true θ, and the posterior-mean
   error against the noiseless field.
5. The incomplete grid: cg iterations, posterior mean relative difference to the
   dense solve, held-out error, times.

A figure (a slice of truth and posterior means, and the optimizer traces) is saved
when matplotlib is installed.

On a machine with few cores and other load, OpenBLAS's thread pools can make the
same evaluation 5–20× slower from one run to the next (both sides use BLAS);
``OPENBLAS_NUM_THREADS=1`` gives steadier single-thread times.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import scipy.linalg
import scipy.optimize
from scipy.sparse.linalg import cg

from kronop import IdentityOperator, KronOperator, SampledKron

DEFAULT_FIGURE = Path(__file__).resolve().parent / "figures" / "gp_grid.png"
NAMES = ("log ℓ₁", "log ℓ₂", "log ℓ₃", "log s", "log σ²")
# the field is drawn from the model itself, so the fit can be judged against these
THETA_TRUE = np.log([0.15, 0.25, 0.4, 1.0, 0.01])
THETA_START = np.log([0.3, 0.3, 0.3, 0.5, 0.05])
BOUNDS = [(math.log(0.02), math.log(5.0))] * 3 + [(-5.0, 5.0), (-12.0, 2.0)]
# tight enough that both fits stop at the optimum, not at a tolerance of their own
OPTIONS = {"ftol": 1e-13, "gtol": 1e-7, "maxiter": 500}


# --------------------------------------------------------------------------- model


def axis_points(shape: Sequence[int]) -> list[np.ndarray]:
    return [np.linspace(0.0, 1.0, n) for n in shape]


def factor_kernels(theta: np.ndarray, axes: list[np.ndarray]) -> tuple[list, list]:
    """The factors (sK₁, K₂, K₃) and their derivatives with respect to log ℓⱼ."""
    ell, s = np.exp(theta[:3]), math.exp(theta[3])
    factors, derivs = [], []
    for j, (x, lj) in enumerate(zip(axes, ell, strict=True)):
        d2 = (x[:, None] - x[None, :]) ** 2 / lj**2
        k = np.exp(-0.5 * d2)
        if j == 0:
            k = s * k  # the scale rides in the first factor
        factors.append(k)
        derivs.append(k * d2)  # ∂/∂log ℓ of exp(−D²/2ℓ²)
    return factors, derivs


def nll_kron(theta: np.ndarray, axes: list[np.ndarray], y: np.ndarray):
    """L(θ) and ∇L(θ) from the factor eigendecompositions (nothing N×N)."""
    factors, derivs = factor_kernels(theta, axes)
    noise = math.exp(theta[4])
    n = y.size
    dec = KronOperator(*factors).eigh()
    quad, qgrad, qshift = dec.quad_grad(y, derivs, shift=noise)
    lgrad = dec.logdet_grad(derivs, shift=noise)
    tr_inv = dec.logdet_shift_grad(noise)
    value = 0.5 * quad + 0.5 * dec.logdet(shift=noise) + 0.5 * n * math.log(2 * math.pi)
    grad = np.empty(5)
    grad[:3] = 0.5 * (np.asarray(qgrad) + np.asarray(lgrad))
    # ∂K/∂log s = K = C − σ²I: αᵀKα = yᵀα − σ²αᵀα, tr(C⁻¹K) = N − σ² tr C⁻¹
    grad[3] = -0.5 * (quad + noise * qshift) + 0.5 * (n - noise * tr_inv)
    grad[4] = 0.5 * noise * (qshift + tr_inv)
    return float(value), grad


def _dense_kron(mats: Sequence[np.ndarray]) -> np.ndarray:
    return np.kron(np.kron(mats[0], mats[1]), mats[2])


def nll_dense(theta: np.ndarray, axes: list[np.ndarray], y: np.ndarray):
    """L(θ) and ∇L(θ) through the assembled N×N covariance and its Cholesky factor."""
    factors, derivs = factor_kernels(theta, axes)
    noise = math.exp(theta[4])
    n = y.size
    K = _dense_kron(factors)
    C = K + noise * np.eye(n)
    cf = scipy.linalg.cho_factor(C, lower=True)
    alpha = scipy.linalg.cho_solve(cf, y)
    logdet = 2.0 * np.sum(np.log(np.diag(cf[0])))
    value = 0.5 * y @ alpha + 0.5 * logdet + 0.5 * n * math.log(2 * math.pi)
    # ∂L = ½ tr(W ∂C) with W = C⁻¹ − ααᵀ (both symmetric: a sum of products)
    W = scipy.linalg.cho_solve(cf, np.eye(n))
    W -= np.outer(alpha, alpha)
    grad = np.empty(5)
    for j in range(3):
        mats = [derivs[k] if k == j else factors[k] for k in range(3)]
        grad[j] = 0.5 * np.sum(W * _dense_kron(mats))
    grad[3] = 0.5 * np.sum(W * K)
    grad[4] = 0.5 * noise * np.trace(W)
    return float(value), grad


def sample_field(shape, theta, rng) -> tuple[list, np.ndarray, np.ndarray]:
    """(axes, f, y): f drawn from the GP prior on the grid, y = f + noise."""
    axes = axis_points(shape)
    factors, _ = factor_kernels(theta, axes)
    roots = []
    for k in factors:
        lam, Q = np.linalg.eigh(k)
        # the symmetric square root: (⊗Rⱼ)(⊗Rⱼ)ᵀ = ⊗Kⱼ (tiny negative λ are rounding)
        roots.append((Q * np.sqrt(np.clip(lam, 0.0, None))) @ Q.T)
    N = math.prod(shape)
    f = KronOperator(*roots) @ rng.standard_normal(N)
    y = f + math.sqrt(math.exp(theta[4])) * rng.standard_normal(N)
    return axes, f, y


# --------------------------------------------------------------------------- checks


def gradient_check(theta, axes, y, h: float = 1e-3) -> dict:
    """Analytic kronop gradient against central differences and the dense gradient."""
    _, g = nll_kron(theta, axes, y)
    _, g_dense = nll_dense(theta, axes, y)
    fd = np.empty(5)
    for i in range(5):

        def f(t, i=i):
            th = theta.copy()
            th[i] += t
            return nll_kron(th, axes, y)[0]

        # fourth order: truncation O(h⁴), rounding O(ε|L|/h), both ≪ 1e-6 here
        fd[i] = (-f(2 * h) + 8 * f(h) - 8 * f(-h) + f(-2 * h)) / (12 * h)
    rel_fd = np.abs(g - fd) / np.abs(fd)
    rel_dense = np.abs(g - g_dense) / np.abs(g_dense)
    return {"grad": g, "fd": fd, "rel_fd": rel_fd, "rel_dense": rel_dense}


def fit(objective: Callable, theta0: np.ndarray, axes, y) -> dict:
    trace: list[float] = []

    def fun(theta):
        value, grad = objective(theta, axes, y)
        return value, grad

    def record(intermediate_result):
        trace.append(float(intermediate_result.fun))

    t0 = time.perf_counter()
    res = scipy.optimize.minimize(
        fun,
        theta0,
        jac=True,
        method="L-BFGS-B",
        bounds=BOUNDS,
        options=OPTIONS,
        callback=record,
    )
    return {
        "theta": res.x,
        "nll": float(res.fun),
        "nit": res.nit,
        "nfev": res.nfev,
        "message": str(res.message),
        "grad_max": float(np.max(np.abs(res.jac))),
        "trace": trace,
        "time": time.perf_counter() - t0,
    }


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def incomplete_grid(shape, theta, frac: float, rng, repeat: int) -> dict:
    """Posterior mean from a random fraction of the grid: cg on S K Sᵀ + σ²I vs dense."""
    axes, f, y = sample_field(shape, theta, rng)
    N = f.size
    obs = np.sort(rng.choice(N, size=round(frac * N), replace=False))
    held = np.setdiff1d(np.arange(N), obs)
    factors, _ = factor_kernels(theta, axes)
    noise = math.exp(theta[4])
    K = KronOperator(*factors)
    m = obs.size
    A = SampledKron(K, rows=obs, cols=obs) + noise * IdentityOperator((m, m))
    cross = SampledKron(K, cols=obs)  # K Sᵀ: every grid point against the observed
    iters = []

    def solve_kron():
        iters.clear()
        v, info = cg(A, y[obs], rtol=1e-12, maxiter=20 * m, callback=iters.append)
        if info != 0:
            raise RuntimeError(f"cg did not converge (info={info})")
        return cross @ v

    def solve_dense():
        Kd = _dense_kron(factors)
        C = Kd[np.ix_(obs, obs)] + noise * np.eye(m)
        v = scipy.linalg.cho_solve(scipy.linalg.cho_factor(C), y[obs])
        return Kd[:, obs] @ v

    mean = solve_kron()
    n_iter = len(iters)
    mean_dense = solve_dense()
    rms_f = float(np.sqrt(np.mean(f**2)))
    return {
        "shape": shape,
        "observed": m,
        "cg_iterations": n_iter,
        "rel_diff": float(
            np.linalg.norm(mean - mean_dense) / np.linalg.norm(mean_dense)
        ),
        "heldout_rmse": float(np.sqrt(np.mean((mean[held] - f[held]) ** 2))),
        "rms_f": rms_f,
        "noise_std": math.sqrt(noise),
        "t_kron": median_time(solve_kron, repeat),
        "t_dense": median_time(solve_dense, repeat),
        "slice": (f.reshape(shape), mean.reshape(shape), obs),
    }


# --------------------------------------------------------------------------- driver


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="CI size (< 20 s)")
    p.add_argument(
        "--repeat", type=int, default=None, help="timing repeats (5; quick 3)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--figure", type=Path, default=DEFAULT_FIGURE)
    p.add_argument("--no-figure", action="store_true")
    args = p.parse_args(argv)
    if args.repeat is None:
        args.repeat = 3 if args.quick else 5
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    return args


def save_figure(path: Path, panels: dict) -> str:
    try:
        import matplotlib
    except ImportError:
        return (
            "figure skipped: matplotlib is not installed (pip install kronop[examples])"
        )
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 4, figsize=(16, 3.8))
    truth, mean, inc_truth, inc_mean, inc_mask = panels["slices"]
    lim = float(np.max(np.abs(truth)))
    for ax, img, title in (
        (axs[0], truth, "truth f (middle slice)"),
        (axs[1], mean, "posterior mean, full grid"),
    ):
        ax.imshow(img, cmap="RdBu_r", vmin=-lim, vmax=lim, origin="lower")
        ax.set_title(title)
    lim = float(np.max(np.abs(inc_truth)))
    axs[2].imshow(inc_mean, cmap="RdBu_r", vmin=-lim, vmax=lim, origin="lower")
    iy, ix = np.nonzero(~inc_mask)
    axs[2].plot(ix, iy, "k.", ms=3, label="held out")
    axs[2].set_title("posterior mean, 70% observed")
    axs[2].legend(loc="upper right", fontsize=7)
    # the two traces coincide: kronop drawn thick, dense thin on top
    for (label, tr), style in zip(
        panels["traces"].items(),
        ({"lw": 4, "alpha": 0.5}, {"ls": "--", "marker": "."}),
        strict=True,
    ):
        tr = np.asarray(tr)
        gap = tr - tr.min() + 1e-12  # the last point touches the floor
        axs[3].semilogy(np.arange(1, len(tr) + 1), gap, label=label, **style)
    axs[3].set_xlabel("L-BFGS-B iteration")
    axs[3].set_ylabel("NLL − final")
    axs[3].set_title("optimizer trace (small N)")
    axs[3].legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"figure saved to {path}"


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the example; return the measured errors, differences and times.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    dict
        ``grad_rel_fd`` (per hyperparameter, analytic vs finite differences),
        ``grad_rel_dense``, ``theta_diff`` (|θ_kronop − θ_dense|, per
        hyperparameter), ``nll_rel_diff``, ``time_ratio`` (dense / kronop at the
        dense size), ``big_n``, ``t_big``, ``big_theta_err``, ``big_mean_rmse``,
        ``incomplete_rel_diff``, ``incomplete_heldout_rmse`` and more.

    Examples
    --------
    >>> r = main(["--quick", "--no-figure", "--repeat", "1"])  # doctest: +ELLIPSIS
    GP regression...
    >>> bool(max(r["grad_rel_fd"]) < 1e-6)
    True
    """
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    small = (6, 7, 8) if args.quick else (8, 8, 8)
    dense_shape = (8, 8, 8) if args.quick else (16, 16, 16)
    big = (16, 16, 16) if args.quick else (64, 64, 64)
    inc_shape = (6, 7, 8) if args.quick else (16, 16, 16)
    print(
        "GP regression on a 3-D grid, K = s·K₁⊗K₂⊗K₃ + σ²I (squared-exponential "
        f"per axis), float64; true θ = exp({', '.join(NAMES)}) = "
        f"{np.round(np.exp(THETA_TRUE), 4).tolist()}"
    )
    out: dict = {}

    # 1. gradient check
    axes, _, y_small = sample_field(small, THETA_TRUE, rng)
    chk = gradient_check(THETA_START, axes, y_small)
    print(f"\n1. Gradient at the start θ, N = {y_small.size} {small}")
    print(
        f"   {'θ':8s} {'analytic':>14s} {'central FD':>14s} {'rel. diff':>10s} "
        f"{'vs dense':>10s}"
    )
    for i, name in enumerate(NAMES):
        print(
            f"   {name:8s} {chk['grad'][i]:14.8f} {chk['fd'][i]:14.8f} "
            f"{chk['rel_fd'][i]:10.2e} {chk['rel_dense'][i]:10.2e}"
        )
    out["grad_rel_fd"] = chk["rel_fd"].tolist()
    out["grad_rel_dense"] = chk["rel_dense"].tolist()

    # 2. the fits at small N
    fk = fit(nll_kron, THETA_START, axes, y_small)
    fd_ = fit(nll_dense, THETA_START, axes, y_small)
    diff = np.abs(fk["theta"] - fd_["theta"])
    nll_rel = abs(fk["nll"] - fd_["nll"]) / abs(fd_["nll"])
    print(
        f"\n2. L-BFGS-B fit at N = {y_small.size}, from θ₀ = exp(θ₀) = "
        f"{np.round(np.exp(THETA_START), 4).tolist()}"
    )
    print(
        f"   {'θ':8s} {'kronop':>14s} {'dense Chol.':>14s} {'|diff|':>10s} "
        f"{'true':>10s}"
    )
    for i, name in enumerate(NAMES):
        print(
            f"   {name:8s} {fk['theta'][i]:14.8f} {fd_['theta'][i]:14.8f} "
            f"{diff[i]:10.2e} {THETA_TRUE[i]:10.5f}"
        )
    print(
        f"   NLL: kronop {fk['nll']:.12f}, dense {fd_['nll']:.12f}, relative "
        f"difference {nll_rel:.2e}"
    )
    print(
        f"   kronop: {fk['nit']} iterations, {fk['nfev']} evaluations, "
        f"{fk['time']:.2f} s, max|∇L| {fk['grad_max']:.1e} ({fk['message']})"
    )
    print(
        f"   dense:  {fd_['nit']} iterations, {fd_['nfev']} evaluations, "
        f"{fd_['time']:.2f} s, max|∇L| {fd_['grad_max']:.1e} ({fd_['message']})"
    )
    out["theta_diff"] = diff.tolist()
    out["nll_rel_diff"] = float(nll_rel)
    out["nll_kron"], out["nll_dense"] = fk["nll"], fd_["nll"]

    # 3. timing of one objective + gradient evaluation
    axes_d, _, y_d = sample_field(dense_shape, THETA_TRUE, rng)
    t_dense = median_time(lambda: nll_dense(THETA_TRUE, axes_d, y_d), args.repeat)
    t_kd = median_time(lambda: nll_kron(THETA_TRUE, axes_d, y_d), args.repeat)
    axes_b, f_b, y_b = sample_field(big, THETA_TRUE, rng)
    t_big = median_time(lambda: nll_kron(THETA_TRUE, axes_b, y_b), args.repeat)
    Nd, Nb = y_d.size, y_b.size
    print(f"\n3. One NLL + gradient evaluation (median of {args.repeat})")
    print(
        f"   N = {Nd:7d} {dense_shape}: dense Cholesky {t_dense:9.4f} s, kronop "
        f"{t_kd:9.4f} s, ratio dense/kronop {t_dense / t_kd:8.1f}"
    )
    gib = 3 * Nb**2 * 8 / 2**30  # C, C⁻¹ and one ∂C in float64
    print(
        f"   N = {Nb:7d} {big}: kronop {t_big:9.4f} s; dense would hold "
        f"≥ {gib:,.1f} GiB of N×N matrices and ~(N/{Nd})³ = "
        f"{(Nb / Nd) ** 3:,.0f}× the Cholesky work of N = {Nd}"
    )
    out["time_ratio"] = t_dense / t_kd
    out["t_dense"], out["t_kron_dense_n"], out["t_big"] = t_dense, t_kd, t_big
    out["big_n"] = Nb

    # 4. the fit at the large N, and the posterior mean there
    fb = fit(nll_kron, THETA_START, axes_b, y_b)
    factors, _ = factor_kernels(fb["theta"], axes_b)
    noise = math.exp(fb["theta"][4])
    dec = KronOperator(*factors).eigh()
    mean_b = KronOperator(*factors) @ dec.solve(y_b, shift=noise)
    rmse = float(np.sqrt(np.mean((mean_b - f_b) ** 2)))
    print(
        f"\n4. kronop fit at N = {Nb}: {fb['nit']} iterations, {fb['nfev']} "
        f"evaluations, {fb['time']:.2f} s"
    )
    print(f"   fitted exp(θ) {np.round(np.exp(fb['theta']), 4).tolist()}")
    print(f"   true   exp(θ) {np.round(np.exp(THETA_TRUE), 4).tolist()}")
    print(
        f"   posterior mean K C⁻¹y vs noiseless f: RMSE {rmse:.4f} (noise std "
        f"{math.exp(THETA_TRUE[4] / 2):.4f}, RMS of f {np.sqrt(np.mean(f_b**2)):.4f})"
    )
    out["big_theta_err"] = np.abs(fb["theta"] - THETA_TRUE).tolist()
    out["big_mean_rmse"] = rmse

    # 5. incomplete grid
    inc = incomplete_grid(inc_shape, fk["theta"], 0.7, rng, args.repeat)
    print(
        f"\n5. Incomplete grid {inc_shape}: {inc['observed']} of "
        f"{math.prod(inc_shape)} points observed (70%), fitted θ from 2."
    )
    print(
        f"   cg on SampledKron + σ²I: {inc['cg_iterations']} iterations (rtol 1e-12); "
        f"posterior mean vs dense Cholesky: relative difference {inc['rel_diff']:.2e}"
    )
    print(
        f"   held-out (30%) RMSE vs noiseless f: {inc['heldout_rmse']:.4f} (noise std "
        f"{inc['noise_std']:.4f}, RMS of f {inc['rms_f']:.4f})"
    )
    print(
        f"   time (median of {args.repeat}): kronop cg {inc['t_kron']:.4f} s, dense "
        f"{inc['t_dense']:.4f} s, ratio dense/kronop {inc['t_dense'] / inc['t_kron']:.2f}"
    )
    out["incomplete_rel_diff"] = inc["rel_diff"]
    out["incomplete_heldout_rmse"] = inc["heldout_rmse"]
    out["incomplete_cg_iterations"] = inc["cg_iterations"]

    if args.no_figure:
        print("\nfigure skipped (--no-figure)")
    else:
        mid = big[2] // 2
        f3, m3, obs = inc["slice"]
        mask = np.zeros(math.prod(inc_shape), bool)
        mask[obs] = True
        k = inc_shape[2] // 2
        panels = {
            "slices": (
                f_b.reshape(big)[:, :, mid],
                mean_b.reshape(big)[:, :, mid],
                f3[:, :, k],
                m3[:, :, k],
                mask.reshape(inc_shape)[:, :, k],
            ),
            "traces": {"kronop": fk["trace"], "dense Cholesky": fd_["trace"]},
        }
        print("\n" + save_figure(args.figure, panels))
    return out


if __name__ == "__main__":
    main()
