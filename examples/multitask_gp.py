r"""A multi-task Gaussian process with per-task noise, fitted and solved through kronop.

The problem
-----------
T related functions f₁, …, f_T ("tasks") are observed with noise at the same n inputs
x₁, …, x_n (1-D or 2-D, ``--dim``): y_t(xᵢ) = f_t(xᵢ) + ε_{t,i}, ε_{t,i} ~ N(0, σ_t²),
each task with its own noise level. The intrinsic coregionalization model puts the
prior cov(f_t(x), f_u(x')) = K_task[t, u] · k(x, x') on the latent functions, with a
free-form T×T task covariance K_task = L Lᵀ (L lower triangular, its diagonal kept
positive through a log) and the squared-exponential input kernel
k(x, x') = exp(−‖x − x'‖² / (2ℓ²)). Stacking the observations task by task
(``y = Y.ravel()`` for Y of shape (T, n), row-major like ``np.kron``), the covariance
of y is

.. math:: C = K_\text{task} \otimes K_x + D \otimes I_n,
          \qquad D = \operatorname{diag}(\sigma_1^2, \dots, \sigma_T^2),

an nT × nT matrix: a Kronecker product plus a *Kronecker diagonal*, not plus a scaled
identity, so the usual "eigendecompose K_x and shift" trick does not apply as is.

The Kronecker identity used
---------------------------
Whiten by the noise: with R = D^{1/2} ⊗ I_n and K̃_task = D^{-1/2} K_task D^{-1/2},

.. math:: C = R\,(\tilde K_\text{task} \otimes K_x + I)\,R, \qquad
          \tilde K_\text{task} = U_t \Lambda_t U_t^T,\; K_x = U_x \Lambda_x U_x^T,

so C = W (Λ_t ⊗ Λ_x + I) Wᵀ with W = (D^{1/2} U_t) ⊗ U_x, hence

.. math:: C^{-1} y = (D^{-1/2} U_t \otimes U_x)(\Lambda_t \otimes \Lambda_x + I)^{-1}
          (U_t^T D^{-1/2} \otimes U_x^T)\, y, \qquad
          \log\det C = n \sum_t \log \sigma_t^2 + \sum_{i,j} \log(\lambda_{t,i}
          \lambda_{x,j} + 1).

kronop offers this form directly: ``KronPlusDiagonal(KronOperator(K_task, K_x), 1.0,
diagonals=[σ², ones(n)])`` (the object that ``KronOperator(K_task, K_x) +
KronOperator(diag(σ²), I_n)`` produces) whitens each factor by the square root of its
diagonal (only the task factor changes here: the input factor's diagonal is all ones),
eigendecomposes the two small factors (T×T and n×n, O(T³ + n³)) and then ``solve`` is
two Kronecker products and ``logdet`` an O(nT) sum. The fit takes the same route
spelled out: ``KronOperator(K̃_task, K_x).eigh()``, then ``.solve(·, shift=1)`` and
``.logdet(shift=1)`` between the two diagonal scalings. Written that way, K_x is a
factor the script keeps while ℓ does not change, and kronop caches a factor's
eigendecomposition, so of the 1 + dim θ NLL evaluations of a finite-difference
gradient only the one that moves ℓ pays for an n × n ``eigh``; the others cost a 4×4
``eigh`` and two Kronecker products. Both routes are checked against dense; the nT × nT
matrix is never formed on a kronop path. The negative log marginal likelihood

.. math:: \text{NLL}(\theta) = \tfrac12 y^T C^{-1} y + \tfrac12 \log\det C
          + \tfrac{nT}{2}\log 2\pi

is minimised over θ = (the T(T+1)/2 entries of L, log ℓ, log σ₁², …, log σ_T²) with
``scipy.optimize.minimize`` (L-BFGS-B) and *finite-difference gradients* (scipy's
default forward differences: 1 + dim θ NLL evaluations per gradient; no analytic
gradient is used here). The posterior mean at held-out inputs X* is
(K_task ⊗ K_{*x}) C⁻¹ y, one more Kronecker product.

The comparisons
---------------
- **Dense reference**: the same model at the same (fitted) hyperparameters with
  ``np.kron`` and ``scipy.linalg.cho_factor`` / ``cho_solve`` on the nT × nT matrix:
  the NLL and the posterior means must agree with kronop's to rounding.
- **Independent GPs**: one single-task GP per task (own signal variance, lengthscale
  and noise, fitted the same way on an n × n dense Cholesky). The data come from a
  known, seeded model whose tasks are strongly correlated (|ρ| ≈ 0.90–0.99), so the
  multi-task model pools the noisy tasks and predicts the held-out noise-free
  functions better.

Run
---
``python examples/multitask_gp.py`` (T = 4 tasks, n = 300 inputs, 200 held out);
``--quick`` (n = 60, 60 held out) is the CI size. Options: ``--n``, ``--n-test``,
``--tasks``, ``--dim {1,2}``, ``--seed``, ``--maxiter``, ``--repeat R`` (timing
repeats; 5, quick 3), ``--figure PATH`` / ``--no-figure``.

What is printed
---------------
The true and fitted hyperparameters (task correlations, lengthscale, noise levels) and
the optimiser's summary; the relative difference between kronop's and the dense NLL
and posterior means at the fitted hyperparameters; the held-out RMSE against the
noise-free truth for the multi-task GP and for the independent GPs, per task and
overall; and the median times of one NLL evaluation (whitened route, KronPlusDiagonal,
and whitened with K_x's eigendecomposition reused) and of one prediction, each from
scratch unless said (factorization included), for kronop and dense, with the ratio
dense / kronop. A figure (per task: data, held-out truth, both posterior means; for
2-D inputs, posterior mean against truth) is saved when matplotlib is installed.

The small sizes make the times sensitive to BLAS threading: on a loaded machine with
few cores OpenBLAS's thread pools can cost milliseconds per call
(``OPENBLAS_NUM_THREADS=1`` shows the single-thread times).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.optimize import minimize

from kronop import KronOperator, KronPlusDiagonal

DEFAULT_FIGURE = Path(__file__).resolve().parent / "figures" / "multitask_gp.png"
LOG_2PI = float(np.log(2.0 * np.pi))


# ----------------------------------------------------------------------- the model


def se_kernel(xa: np.ndarray, xb: np.ndarray, ell: float) -> np.ndarray:
    """Squared-exponential kernel matrix exp(−‖a − b‖² / (2ℓ²)) between point sets.

    Parameters
    ----------
    xa, xb : ndarray, shape (m, d) and (k, d)
        Input points.
    ell : float
        Lengthscale ℓ > 0.

    Returns
    -------
    ndarray, shape (m, k)

    Examples
    --------
    >>> x = np.array([[0.0], [1.0]])
    >>> print(np.round(se_kernel(x, x, 1.0), 4))
    [[1.     0.6065]
     [0.6065 1.    ]]
    """
    d2 = (
        np.sum(xa**2, axis=1)[:, None]
        + np.sum(xb**2, axis=1)[None, :]
        - 2.0 * xa @ xb.T
    )
    # the expansion can go slightly negative for coincident points
    return np.exp(-0.5 * np.maximum(d2, 0.0) / ell**2)


def unpack(theta: np.ndarray, tasks: int) -> tuple[np.ndarray, float, np.ndarray]:
    """Hyperparameter vector θ → (K_task = L Lᵀ, lengthscale ℓ, noise variances σ²).

    θ holds the lower triangle of L row by row (its diagonal as logarithms), then
    log ℓ, then log σ₁², …, log σ_T².

    Parameters
    ----------
    theta : ndarray, shape (T(T+1)/2 + 1 + T,)
        Unconstrained hyperparameters.
    tasks : int
        Number of tasks T.

    Returns
    -------
    K_task : ndarray, shape (T, T)
    ell : float
    sig2 : ndarray, shape (T,)

    Examples
    --------
    >>> K, ell, s2 = unpack(np.zeros(6), 2)
    >>> print(K, ell, s2)
    [[1. 0.]
     [0. 2.]] 1.0 [1. 1.]
    """
    m = tasks * (tasks + 1) // 2
    L = np.zeros((tasks, tasks))
    L[np.tril_indices(tasks)] = theta[:m]
    L[np.diag_indices(tasks)] = np.exp(np.diag(L))
    return L @ L.T, float(np.exp(theta[m])), np.exp(theta[m + 1 :])


def pack(K_task: np.ndarray, ell: float, sig2: np.ndarray) -> np.ndarray:
    """Inverse of :func:`unpack` (K_task must be positive definite).

    Examples
    --------
    >>> K = np.array([[2.0, 0.5], [0.5, 1.0]])
    >>> K2, ell, s2 = unpack(pack(K, 0.3, np.array([0.1, 0.2])), 2)
    >>> bool(np.allclose(K2, K) and np.isclose(ell, 0.3) and np.allclose(s2, [0.1, 0.2]))
    True
    """
    L = np.linalg.cholesky(K_task)
    L[np.diag_indices(len(L))] = np.log(np.diag(L))
    return np.concatenate(
        [L[np.tril_indices(len(L))], [np.log(ell)], np.log(np.asarray(sig2))]
    )


def covariance_operator(
    K_task: np.ndarray, Kx: np.ndarray, sig2: np.ndarray
) -> KronPlusDiagonal:
    """K_task ⊗ K_x + D ⊗ I_n as one kronop operator (never formed).

    Examples
    --------
    >>> Kt, Kx = np.array([[1.0, 0.5], [0.5, 1.0]]), np.eye(3)
    >>> C = covariance_operator(Kt, Kx, np.array([0.1, 0.2]))
    >>> dense = np.kron(Kt, Kx) + np.kron(np.diag([0.1, 0.2]), np.eye(3))
    >>> bool(np.allclose(C.toarray(), dense))
    True
    """
    n = Kx.shape[0]
    return KronPlusDiagonal(
        KronOperator(K_task, Kx), 1.0, diagonals=[np.asarray(sig2), np.ones(n)]
    )


def input_factor(X: np.ndarray, ell: float, cache: dict | None = None) -> KronOperator:
    """K_x as a one-factor KronOperator, kept for the two latest lengthscales.

    A KronOperator built on this one shares its factor, and with it the factor's
    cached eigendecomposition. A forward-difference gradient evaluates the NLL at
    θ, then at θ + h·eᵢ for each coordinate in turn: only the step in log ℓ needs a
    new K_x, and keeping two lengthscales lets the steps after it find θ's K_x again.

    Examples
    --------
    >>> X, cache = np.array([[0.0], [1.0]]), {}
    >>> op = input_factor(X, 0.5, cache)
    >>> _ = input_factor(X, 0.6, cache)
    >>> input_factor(X, 0.5, cache) is op
    True
    """
    if cache is not None and ell in cache:
        return cache[ell]
    op = KronOperator(se_kernel(X, X, ell))
    if cache is not None:
        if len(cache) >= 2:
            del cache[next(iter(cache))]  # dicts keep insertion order: the oldest
        cache[ell] = op
    return op


def whitened_solve(
    theta: np.ndarray, X: np.ndarray, Y: np.ndarray, cache: dict | None = None
) -> tuple[np.ndarray, float]:
    """C⁻¹ y and log det C for C = K_task ⊗ K_x + D ⊗ I_n, through the whitening.

    (D^{-1/2} ⊗ I) C (D^{-1/2} ⊗ I) = K̃_task ⊗ K_x + I with K̃_task =
    D^{-1/2} K_task D^{-1/2}: one ``KronOperator(K̃_task, K_x).eigh()``, shifted by 1.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.random((5, 1)), rng.standard_normal((2, 5))
    >>> K_task, ell, sig2 = unpack(np.zeros(6), 2)
    >>> alpha, logdet = whitened_solve(np.zeros(6), X, Y)
    >>> C = dense_covariance(K_task, se_kernel(X, X, ell), sig2)
    >>> bool(np.allclose(C @ alpha, Y.ravel()))
    True
    >>> bool(np.isclose(logdet, np.linalg.slogdet(C)[1]))
    True
    """
    T, n = Y.shape
    K_task, ell, sig2 = unpack(theta, T)
    w = 1.0 / np.sqrt(sig2)
    dec = KronOperator(K_task * np.outer(w, w), input_factor(X, ell, cache)).eigh()
    z = (Y * w[:, None]).ravel()
    alpha = (dec.solve(z, shift=1.0).reshape(T, n) * w[:, None]).ravel()
    logdet = n * float(np.sum(np.log(sig2))) + float(dec.logdet(shift=1.0))
    return alpha, logdet


def nll_kronop(
    theta: np.ndarray, X: np.ndarray, Y: np.ndarray, cache: dict | None = None
) -> float:
    """Negative log marginal likelihood of the multi-task GP, through kronop.

    Parameters
    ----------
    theta : ndarray
        Hyperparameters (see :func:`unpack`).
    X : ndarray, shape (n, d)
        Training inputs, shared by all tasks.
    Y : ndarray, shape (T, n)
        Observations, one row per task.
    cache : dict, optional
        Keeps K_x's eigendecomposition between calls with the same lengthscale
        (see :func:`input_factor`); ``None`` computes everything from scratch.

    Returns
    -------
    float

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.random((5, 1)), rng.standard_normal((2, 5))
    >>> theta = np.zeros(6)
    >>> bool(np.isclose(nll_kronop(theta, X, Y), nll_dense(theta, X, Y)))
    True
    """
    alpha, logdet = whitened_solve(theta, X, Y, cache)
    y = Y.ravel()
    return 0.5 * float(y @ alpha) + 0.5 * logdet + 0.5 * y.size * LOG_2PI


def nll_kron_plus_diagonal(theta: np.ndarray, X: np.ndarray, Y: np.ndarray) -> float:
    """The same NLL through ``KronPlusDiagonal``'s own ``solve`` and ``logdet``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.random((5, 1)), rng.standard_normal((2, 5))
    >>> theta = np.zeros(6)
    >>> bool(np.isclose(nll_kron_plus_diagonal(theta, X, Y), nll_kronop(theta, X, Y)))
    True
    """
    K_task, ell, sig2 = unpack(theta, Y.shape[0])
    C = covariance_operator(K_task, se_kernel(X, X, ell), sig2)
    y = Y.ravel()
    # solve and logdet share one cached factorization of C
    return (
        0.5 * float(y @ C.solve(y)) + 0.5 * float(C.logdet()) + 0.5 * y.size * LOG_2PI
    )


def dense_covariance(
    K_task: np.ndarray, Kx: np.ndarray, sig2: np.ndarray
) -> np.ndarray:
    return np.kron(K_task, Kx) + np.kron(np.diag(sig2), np.eye(Kx.shape[0]))


def nll_dense(theta: np.ndarray, X: np.ndarray, Y: np.ndarray) -> float:
    """The same NLL from the assembled nT × nT matrix and its Cholesky factor.

    Examples
    --------
    >>> X, Y = np.array([[0.0], [1.0]]), np.array([[1.0, 0.0]])
    >>> print(round(nll_dense(np.zeros(3), X, Y), 6))  # C = [[2, .61], [.61, 2]]
    2.758107
    """
    K_task, ell, sig2 = unpack(theta, Y.shape[0])
    c = cho_factor(dense_covariance(K_task, se_kernel(X, X, ell), sig2), lower=True)
    y = Y.ravel()
    logdet = 2.0 * float(np.sum(np.log(np.diag(c[0]))))
    return 0.5 * float(y @ cho_solve(c, y)) + 0.5 * logdet + 0.5 * y.size * LOG_2PI


def predict_kronop(
    theta: np.ndarray, X: np.ndarray, Y: np.ndarray, Xs: np.ndarray
) -> np.ndarray:
    """Posterior means (K_task ⊗ K_*x) C⁻¹ y at Xs, shape (T, len(Xs)), via kronop.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X, Y, Xs = rng.random((5, 1)), rng.standard_normal((2, 5)), rng.random((3, 1))
    >>> theta = np.zeros(6)
    >>> bool(np.allclose(predict_kronop(theta, X, Y, Xs), predict_dense(theta, X, Y, Xs)))
    True
    """
    K_task, ell, _ = unpack(theta, Y.shape[0])
    alpha, _ = whitened_solve(theta, X, Y)
    cross = KronOperator(K_task, se_kernel(Xs, X, ell))
    return (cross @ alpha).reshape(Y.shape[0], Xs.shape[0])


def predict_dense(
    theta: np.ndarray, X: np.ndarray, Y: np.ndarray, Xs: np.ndarray
) -> np.ndarray:
    """The same posterior means with np.kron and a dense Cholesky solve.

    Examples
    --------
    >>> X, Y = np.array([[0.0], [1.0]]), np.array([[1.0, 0.0]])
    >>> print(np.round(predict_dense(np.zeros(3), X, Y, X), 3))
    [[0.449 0.167]]
    """
    K_task, ell, sig2 = unpack(theta, Y.shape[0])
    c = cho_factor(dense_covariance(K_task, se_kernel(X, X, ell), sig2), lower=True)
    alpha = cho_solve(c, Y.ravel())
    mean = np.kron(K_task, se_kernel(Xs, X, ell)) @ alpha
    return mean.reshape(Y.shape[0], Xs.shape[0])


# ------------------------------------------------------------- independent GPs


def nll_single(phi: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
    """NLL of one single-task GP, φ = (log s², log ℓ, log σ²), dense Cholesky.

    Examples
    --------
    >>> X, y = np.array([[0.0], [1.0]]), np.array([1.0, 0.0])
    >>> bool(np.isclose(nll_single(np.zeros(3), X, y), nll_dense(np.zeros(3), X, y[None])))
    True
    """
    s2, ell, noise = np.exp(phi)
    K = s2 * se_kernel(X, X, ell)
    K[np.diag_indices_from(K)] += noise
    c = cho_factor(K, lower=True)
    logdet = 2.0 * float(np.sum(np.log(np.diag(c[0]))))
    return 0.5 * float(y @ cho_solve(c, y)) + 0.5 * logdet + 0.5 * y.size * LOG_2PI


def fit_independent(
    X: np.ndarray, Y: np.ndarray, Xs: np.ndarray, ell0: float, maxiter: int
) -> tuple[np.ndarray, list]:
    """Fit one GP per task (same optimiser) and return the posterior means at Xs.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> X = rng.random((20, 1))
    >>> Y = np.sin(6 * X.T) + 0.1 * rng.standard_normal((1, 20))
    >>> mean, _ = fit_independent(X, Y, X, 0.2, 50)
    >>> bool(np.sqrt(np.mean((mean - np.sin(6 * X.T)) ** 2)) < 0.1)
    True
    """
    means, results = [], []
    for y in Y:
        v = float(np.var(y))
        phi0 = np.log([v, ell0, 0.2 * v])
        res = minimize(
            nll_single, phi0, args=(X, y), method="L-BFGS-B",
            options={"maxiter": maxiter},
        )  # fmt: skip
        s2, ell, noise = np.exp(res.x)
        K = s2 * se_kernel(X, X, ell)
        K[np.diag_indices_from(K)] += noise
        alpha = cho_solve(cho_factor(K, lower=True), y)
        means.append(s2 * se_kernel(Xs, X, ell) @ alpha)
        results.append(res)
    return np.array(means), results


# ------------------------------------------------------------------------ the data


def true_model(tasks: int, dim: int) -> tuple[np.ndarray, float, np.ndarray]:
    """The generating hyperparameters: strongly correlated tasks, unequal noise.

    K_task = b bᵀ + diag(s² (1 − ρ)) with b = ±s √ρ: the correlation of tasks t and u
    is ±√(ρ_t ρ_u), between about 0.90 and 0.99 in magnitude.

    Examples
    --------
    >>> K, ell, s2 = true_model(4, 1)
    >>> C = K / np.sqrt(np.outer(np.diag(K), np.diag(K)))
    >>> bool(np.all(np.abs(C[np.triu_indices(4, 1)]) > 0.8))
    True
    """
    t = np.linspace(0.0, 1.0, tasks)
    scale = 0.8 + 0.4 * t
    rho = 0.99 - 0.09 * t
    signs = np.where(np.arange(tasks) % 3 == 2, -1.0, 1.0)
    b = signs * scale * np.sqrt(rho)
    K_task = np.outer(b, b) + np.diag(scale**2 * (1.0 - rho))
    noise_std = 0.4 + 0.4 * t
    ell = 0.12 if dim == 1 else 0.15
    return K_task, ell, noise_std**2


def make_data(rng: np.random.Generator, n: int, n_test: int, tasks: int, dim: int):
    """Inputs, noisy training data and noise-free held-out truth from the true model.

    The latent functions at all n + n_test inputs are drawn jointly,
    vec(F) = (L_task ⊗ R_x) z with L_task L_taskᵀ = K_task and R_x R_xᵀ = K_x.

    Examples
    --------
    >>> X, Y, Xs, Fs, truth = make_data(np.random.default_rng(0), 10, 5, 3, 2)
    >>> X.shape, Y.shape, Xs.shape, Fs.shape
    ((10, 2), (3, 10), (5, 2), (3, 5))
    """
    K_task, ell, sig2 = true_model(tasks, dim)
    X_all = rng.random((n + n_test, dim))
    w, V = np.linalg.eigh(se_kernel(X_all, X_all, ell))
    # the SE kernel matrix is semidefinite to rounding: clip the tiny negative ones
    R_x = V * np.sqrt(np.maximum(w, 0.0))
    z = rng.standard_normal(tasks * (n + n_test))
    F = (KronOperator(np.linalg.cholesky(K_task), R_x) @ z).reshape(tasks, -1)
    Y = F[:, :n] + np.sqrt(sig2)[:, None] * rng.standard_normal((tasks, n))
    return X_all[:n], Y, X_all[n:], F[:, n:], (K_task, ell, sig2)


# ------------------------------------------------------------------------- driver


def correlation(K: np.ndarray) -> np.ndarray:
    d = np.sqrt(np.diag(K))
    return K / np.outer(d, d)


def rel(a: np.ndarray | float, b: np.ndarray | float) -> float:
    return float(np.linalg.norm(np.subtract(a, b)) / np.linalg.norm(b))


def rmse(a: np.ndarray, b: np.ndarray, axis=None):
    return np.sqrt(np.mean((a - b) ** 2, axis=axis))


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def ratio(x: float) -> str:
    return f"{x:.0f}×" if x >= 10 else f"{x:.2g}×"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="CI size (< 20 s)")
    p.add_argument(
        "--n", type=int, default=None, help="training inputs (300; quick 60)"
    )
    p.add_argument(
        "--n-test", type=int, default=None, help="held-out inputs (200; quick 60)"
    )
    p.add_argument("--tasks", type=int, default=4, help="number of tasks T (4)")
    p.add_argument("--dim", type=int, default=1, choices=(1, 2), help="input dimension")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--maxiter", type=int, default=200, help="L-BFGS-B iterations")
    p.add_argument(
        "--repeat", type=int, default=None, help="timing repeats (5; quick 3)"
    )
    p.add_argument("--figure", type=Path, default=DEFAULT_FIGURE)
    p.add_argument("--no-figure", action="store_true")
    args = p.parse_args(argv)
    if args.n is None:
        args.n = 60 if args.quick else 300
    if args.n_test is None:
        args.n_test = 60 if args.quick else 200
    if args.repeat is None:
        args.repeat = 3 if args.quick else 5
    if min(args.n, args.n_test, args.repeat, args.maxiter) < 1 or args.tasks < 2:
        p.error("--n, --n-test, --repeat, --maxiter must be ≥ 1 and --tasks ≥ 2")
    return args


def save_figure(path: Path, X, Y, Xs, Fs, mean_multi, mean_indep) -> str:
    try:
        import matplotlib
    except ImportError:
        return (
            "figure skipped: matplotlib is not installed (pip install kronop[examples])"
        )
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = Y.shape[0]
    fig, axes = plt.subplots(1, tasks, figsize=(3.2 * tasks, 3.2), squeeze=False)
    for t, ax in enumerate(axes[0]):
        if X.shape[1] == 1:
            order = np.argsort(Xs[:, 0])
            xs = Xs[order, 0]
            ax.plot(X[:, 0], Y[t], ".", color="0.6", ms=3, label="data")
            ax.plot(xs, Fs[t, order], "k-", lw=1.5, label="held-out truth")
            ax.plot(xs, mean_multi[t, order], "-", color="C0", label="multi-task")
            ax.plot(xs, mean_indep[t, order], "--", color="C1", label="independent")
            ax.set_xlabel("x")
        else:
            ax.plot(Fs[t], mean_indep[t], ".", color="C1", ms=4, label="independent")
            ax.plot(Fs[t], mean_multi[t], ".", color="C0", ms=4, label="multi-task")
            lim = [Fs[t].min(), Fs[t].max()]
            ax.plot(lim, lim, "k-", lw=1)
            ax.set_xlabel("held-out truth f(x*)")
            ax.set_ylabel("posterior mean")
        ax.set_title(f"task {t + 1}")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Multi-task GP (kronop, K_task⊗K_x + D⊗I) vs independent GPs")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"figure saved to {path}"


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the example; return the measured differences, errors and times.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    dict
        ``nll_rel_diff`` and ``pred_rel_diff`` (kronop vs dense at the fitted
        hyperparameters), ``rmse_multi`` and ``rmse_indep`` (held-out, against the
        noise-free truth), ``corr_err`` (largest error of the fitted task
        correlations), ``time_ratio_nll`` and ``time_ratio_predict`` (dense / kronop
        median times), and the supporting numbers.

    Examples
    --------
    >>> r = main(["--quick", "--no-figure", "--n", "20", "--n-test", "10",
    ...           "--maxiter", "20", "--repeat", "1"])  # doctest: +ELLIPSIS
    Multi-task GP...
    >>> bool(r["nll_rel_diff"] < 1e-10 and r["pred_rel_diff"] < 1e-8)
    True
    """
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    T, n = args.tasks, args.n
    X, Y, Xs, Fs, (K_true, ell_true, sig2_true) = make_data(
        rng, n, args.n_test, T, args.dim
    )
    eps = float(np.finfo(np.float64).eps)
    print(
        f"Multi-task GP: T = {T} tasks, n = {n} shared {args.dim}-D inputs "
        f"(nT = {n * T}), {args.n_test} held-out inputs, seed {args.seed}, float64"
    )
    print(
        "  covariance K_task ⊗ K_x + diag(σ²) ⊗ I_n; kronop: KronOperator(K̃_task, K_x)"
        ".eigh() shifted by 1 after whitening by diag(σ²), and KronPlusDiagonal"
    )

    # start from the sample task covariance, a guessed lengthscale and 20 % noise
    K0 = np.cov(Y) + 1e-6 * np.eye(T)
    ell0 = 0.2
    theta0 = pack(K0, ell0, 0.2 * np.var(Y, axis=1))
    res = minimize(
        nll_kronop, theta0, args=(X, Y, {}), method="L-BFGS-B",
        options={"maxiter": args.maxiter},
    )  # fmt: skip
    K_fit, ell_fit, sig2_fit = unpack(res.x, T)
    theta_true = pack(K_true, ell_true, sig2_true)
    print(
        f"\nFit by L-BFGS-B, forward-difference gradients ({res.x.size} parameters): "
        f"{res.nit} iterations, {res.nfev} NLL evaluations, success={res.success}"
    )
    nll_start, nll_true = nll_kronop(theta0, X, Y), nll_kronop(theta_true, X, Y)
    print(
        f"  NLL at the start {nll_start:.4f}, fitted {res.fun:.4f}, at the true "
        f"hyperparameters {nll_true:.4f}"
    )
    iu = np.triu_indices(T, 1)
    C_true, C_fit = correlation(K_true), correlation(K_fit)
    corr_err = float(np.max(np.abs(C_fit - C_true)[iu]))
    with np.printoptions(precision=3, suppress=True):
        print(f"  task correlations true   {C_true[iu]}")
        print(f"                    fitted {C_fit[iu]}  (max error {corr_err:.3f})")
        print(f"  task variances    true   {np.diag(K_true)}")
        print(f"                    fitted {np.diag(K_fit)}")
        print(f"  noise σ_t         true   {np.sqrt(sig2_true)}")
        print(f"                    fitted {np.sqrt(sig2_fit)}")
    print(f"  lengthscale ℓ     true   {ell_true:.4f}, fitted {ell_fit:.4f}")

    print("\nkronop vs dense (np.kron + cho_factor) at the fitted hyperparameters")
    nll_k, nll_d = nll_kronop(res.x, X, Y), nll_dense(res.x, X, Y)
    nll_kpd = nll_kron_plus_diagonal(res.x, X, Y)
    nll_diff = abs(nll_k - nll_d) / abs(nll_d)
    nll_diff_kpd = abs(nll_kpd - nll_d) / abs(nll_d)
    mean_k = predict_kronop(res.x, X, Y, Xs)
    mean_d = predict_dense(res.x, X, Y, Xs)
    pred_diff = rel(mean_k, mean_d)
    # C is symmetric positive definite: its 2-norm condition from the spectrum
    w_C = np.linalg.eigvalsh(
        dense_covariance(K_fit, se_kernel(X, X, ell_fit), sig2_fit)
    )
    cond = float(w_C[-1] / w_C[0])
    print(
        f"  NLL kronop {nll_k:.10f}, dense {nll_d:.10f}: relative difference "
        f"{nll_diff:.1e}"
    )
    print(
        f"  NLL through KronPlusDiagonal.solve/.logdet: relative difference "
        f"{nll_diff_kpd:.1e}"
    )
    print(
        f"  posterior means: relative difference {pred_diff:.1e} "
        f"(cond(C) = {cond:.1e}, ε·cond = {eps * cond:.1e})"
    )

    mean_i, res_i = fit_independent(X, Y, Xs, ell0, args.maxiter)
    r_multi = rmse(mean_k, Fs, axis=1)
    r_indep = rmse(mean_i, Fs, axis=1)
    rm, ri = float(rmse(mean_k, Fs)), float(rmse(mean_i, Fs))
    print(
        "\nHeld-out RMSE against the noise-free truth (independent GPs: "
        f"{sum(r.nfev for r in res_i)} NLL evaluations in all)"
    )
    print(f"  {'task':>6} {'noise σ':>8} {'multi-task':>11} {'independent':>12}")
    for t in range(T):
        print(
            f"  {t + 1:>6} {np.sqrt(sig2_true[t]):>8.3f} {r_multi[t]:>11.4f} "
            f"{r_indep[t]:>12.4f}"
        )
    print(f"  {'all':>6} {'':>8} {rm:>11.4f} {ri:>12.4f}   (independent / multi = "
          f"{ri / rm:.2f})")  # fmt: skip

    print(
        f"\nMedian times over {args.repeat} runs, from scratch (factorization included "
        "unless said)"
    )
    warm: dict = {}
    nll_kronop(res.x, X, Y, warm)
    t_nll_d = median_time(lambda: nll_dense(res.x, X, Y), args.repeat)
    t_pred_d = median_time(lambda: predict_dense(res.x, X, Y, Xs), args.repeat)
    rows = {}
    for key, name, fk, td in (
        ("nll", "NLL, whitened eigh", lambda: nll_kronop(res.x, X, Y), t_nll_d),
        ("nll_kpd", "NLL, KronPlusDiagonal",
         lambda: nll_kron_plus_diagonal(res.x, X, Y), t_nll_d),
        ("nll_warm", "NLL, K_x eigh reused", lambda: nll_kronop(res.x, X, Y, warm),
         t_nll_d),
        ("predict", "posterior mean", lambda: predict_kronop(res.x, X, Y, Xs),
         t_pred_d),
    ):  # fmt: skip
        tk = median_time(fk, args.repeat)
        rows[key] = td / tk
        print(
            f"  {name:<22} kronop {tk * 1e3:8.2f} ms   dense {td * 1e3:8.2f} ms   "
            f"dense / kronop {ratio(td / tk)}"
        )
    print(
        f"  (dense stores the {n * T}×{n * T} matrix, "
        f"{(n * T) ** 2 * 8 / 2**20:.1f} MiB; kronop the {T}×{T} and {n}×{n} factors)"
    )

    if args.no_figure:
        print("figure skipped (--no-figure)")
    else:
        print(save_figure(args.figure, X, Y, Xs, Fs, mean_k, mean_i))

    return {
        "eps": eps,
        "nll_kronop": nll_k,
        "nll_dense": nll_d,
        "nll_rel_diff": nll_diff,
        "pred_rel_diff": pred_diff,
        "cond": cond,
        "rmse_multi": rm,
        "rmse_indep": ri,
        "rmse_multi_per_task": r_multi.tolist(),
        "rmse_indep_per_task": r_indep.tolist(),
        "corr_err": corr_err,
        "ell_fit": ell_fit,
        "ell_true": ell_true,
        "nll_start": nll_start,
        "nll_fit": float(res.fun),
        "nll_true": nll_true,
        "nfev": int(res.nfev),
        "nll_rel_diff_kron_plus_diagonal": nll_diff_kpd,
        "time_ratio_nll": rows["nll"],
        "time_ratio_nll_kron_plus_diagonal": rows["nll_kpd"],
        "time_ratio_nll_warm": rows["nll_warm"],
        "time_ratio_predict": rows["predict"],
    }


if __name__ == "__main__":
    main()
