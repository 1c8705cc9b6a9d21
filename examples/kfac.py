r"""K-FAC natural-gradient steps for a small numpy MLP, with the vec convention made explicit.

The problem
-----------
A tanh MLP ``d → 64 → 32 → k`` (``--quick``: ``d → 16 → 8 → k``) is fitted by least
squares to a synthetic regression task (targets from a random teacher network plus
noise). Every dense layer computes s = W a with W of shape (out, in+1) and ``a`` the
layer input with a bias entry 1 appended. Per sample, the gradient of the loss with
respect to W is ``dW = g aᵀ`` with ``g = ∂ℓ/∂s``, and the Fisher block of the layer is
F = E[vec(dW) vec(dW)ᵀ]. K-FAC (Martens & Grosse, 2015) approximates it by a Kronecker
product of A = E[a aᵀ] ((in+1)×(in+1)) and G = E[g gᵀ] (out×out), with ``g`` drawn from
the model's own predictive distribution (sampled targets, the "true" Fisher).

The order convention
--------------------
Everything hinges on how ``dW`` is flattened. With the C-order ravel kronop and NumPy use,
``dW.ravel()[i·(in+1) + j] = g_i a_j``, i.e. ``dW.ravel() = g ⊗ a``, so per sample

.. math:: \operatorname{vec}_C(dW)\operatorname{vec}_C(dW)^T = (g g^T) \otimes (a a^T),
          \qquad F \approx G \otimes A \quad (\text{C order}),

and the right operator is ``KronOperator(G, A)``: it acts as
``(G ⊗ A) vec_C(V) = vec_C(G V Aᵀ)`` (kronop is row-major). The textbook identity
``(A ⊗ G) vec(V) = vec(G V Aᵀ)`` uses the column-major ``vec`` (stack the columns):
there ``vec(dW) = a ⊗ g`` and F ≈ A ⊗ G. Both describe the same matrix up to the
perfect-shuffle permutation; mixing them — ``KronOperator(A, G)`` applied to
``dW.ravel()`` — silently computes something else. ``kronop.vec`` / ``kronop.unvec``
make the textbook form right: ``unvec(KronOperator(A, G).solve(vec(dW)), dW.shape)``.

The script checks the derivation on single samples, where the Kronecker factorization
is exact (the dense Fisher of one sample is ``np.outer(dW.ravel(), dW.ravel())``), and
measures how far the batch K-FAC block is from the dense Fisher built from per-sample
outer products in each order.

The steps
---------
For each layer, with damping λ (``--damping``) and γ = √λ:

- damped K-FAC (factored Tikhonov damping): ((G + γI) ⊗ (A + γI))⁻¹ vec_C(∇W) =
  vec_C((G + γI)⁻¹ ∇W (A + γI)⁻¹), by ``KronOperator(G + γI, A + γI).solve`` and
  ``.inv()``;
- exact damped: (G ⊗ A + λI)⁻¹ vec_C(∇W) = (V_G ⊗ V_A) diag(1/(μ_G ⊗ μ_A + λ))
  (V_G ⊗ V_A)ᵀ vec_C(∇W) from the factor eigendecompositions, by
  ``KronOperator(G, A).eigh().solve(grad, shift=λ)``;
- dense references: the D×D matrices F[(i,j),(k,l)] = G[i,k]·A[j,l] (written by index
  with ``np.einsum``, so they use no Kronecker routine and no order convention other
  than ``dW.ravel()``'s) solved by ``np.linalg.solve``.

All layers together are one ``BlockDiag`` of ``KronOperator`` blocks. Finally plain
gradient descent and damped K-FAC (full batch, Fisher factors recomputed every step)
are run for a few steps each.

Run
---
``python examples/kfac.py`` (``--quick`` for the CI size, ``--repeat R`` for timings,
``--steps``, ``--damping``, ``--figure PATH`` / ``--no-figure``).

What is printed
---------------
The single-sample convention check; per layer the relative errors of the right order,
the textbook order through ``vec``/``unvec``, and the naive wrong order against the
dense solves, with median times of the kronop and dense solves and their ratio; the
distance of the batch K-FAC block (both orders) to the dense per-sample Fisher; the
same for the whole network; and the loss curves of gradient descent and K-FAC with
median time per step. A figure of loss against step is saved when matplotlib is
installed.

The layers are small, so the times are dominated by BLAS call overhead: on a machine
with few cores and other load, OpenBLAS's thread pools can cost milliseconds per small
call (``OPENBLAS_NUM_THREADS=1`` shows the single-thread times).
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from scipy.linalg import block_diag

from kronop import BlockDiag, KronOperator, unvec, vec

DEFAULT_FIGURE = Path(__file__).resolve().parent / "figures" / "kfac.png"


# --------------------------------------------------------------------------- model


def make_problem(rng: np.random.Generator, n: int, d: int, k: int):
    """Inputs and targets of a synthetic regression task (a noisy random teacher)."""
    X = rng.standard_normal((n, d))
    W1 = rng.standard_normal((d, 32)) / np.sqrt(d)
    W2 = rng.standard_normal((32, k)) / np.sqrt(32)
    Y = np.tanh(2.0 * X @ W1) @ W2 * 2.0 + 0.05 * rng.standard_normal((n, k))
    return X, Y


def init_params(rng: np.random.Generator, sizes: Sequence[int]) -> list[np.ndarray]:
    """Weights W of shape (out, in + 1): the last column is the bias."""
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        W = np.zeros((fan_out, fan_in + 1))
        W[:, :fan_in] = rng.standard_normal((fan_out, fan_in)) / np.sqrt(fan_in)
        params.append(W)
    return params


def with_bias(h: np.ndarray) -> np.ndarray:
    return np.hstack([h, np.ones((h.shape[0], 1))])


def forward(params: list[np.ndarray], X: np.ndarray):
    """Layer inputs (bias column appended), hidden activations and the output."""
    acts, hidden = [], []
    h = X
    for i, W in enumerate(params):
        a = with_bias(h)
        acts.append(a)
        s = a @ W.T
        if i < len(params) - 1:
            h = np.tanh(s)
            hidden.append(h)
        else:
            h = s
    return acts, hidden, h


def backward(params, hidden, dout: np.ndarray) -> list[np.ndarray]:
    """Per-sample pre-activation gradients g = ∂ℓₙ/∂s of every layer, (N, out) each."""
    gs = [dout]
    g = dout
    for i in range(len(params) - 1, 0, -1):
        # drop the bias column: the bias does not feed the layer below
        g = (g @ params[i][:, :-1]) * (1.0 - hidden[i - 1] ** 2)
        gs.append(g)
    return gs[::-1]


def loss(params, X, Y) -> float:
    return 0.5 * float(np.mean(np.sum((forward(params, X)[2] - Y) ** 2, axis=1)))


def gradients_and_factors(params, X, Y, rng):
    """Mean-loss gradients, per-layer inputs a and Fisher gradients g, and A, G."""
    acts, hidden, out = forward(params, X)
    n = X.shape[0]
    gs = backward(params, hidden, out - Y)
    grads = [g.T @ a / n for g, a in zip(gs, acts, strict=True)]
    # the Fisher uses targets sampled from the model, y ~ N(out, I), so ∂ℓ/∂out = −ε:
    # the sign does not matter in g gᵀ
    gf = backward(params, hidden, rng.standard_normal(out.shape))
    A = [a.T @ a / n for a in acts]
    G = [g.T @ g / n for g in gf]
    return grads, acts, gf, A, G


# ------------------------------------------------------------------ preconditioning


def rel(x: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(x - ref) / np.linalg.norm(ref))


def dense_kfac(G: np.ndarray, A: np.ndarray) -> np.ndarray:
    """F[(i,j),(k,l)] = G[i,k]·A[j,l], rows and columns indexed like ``dW.ravel()``."""
    out, inp = G.shape[0], A.shape[0]
    return np.einsum("ik,jl->ijkl", G, A).reshape(out * inp, out * inp)


def ratio(x: float) -> str:
    return f"{x:.0f}×" if x >= 10 else f"{x:.2g}×"


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def convention_check(acts, gf) -> dict:
    """One sample per layer: its dense Fisher against both Kronecker orders."""
    right = wrong = textbook = 0.0
    for a_all, g_all in zip(acts, gf, strict=True):
        a, g = a_all[0], g_all[0]
        dW = np.outer(g, a)  # the per-sample gradient, shape (out, in+1)
        F1 = np.outer(dW.ravel(), dW.ravel())
        aa, gg = np.outer(a, a), np.outer(g, g)
        right = max(right, rel(KronOperator(gg, aa).toarray(), F1))
        wrong = max(wrong, rel(KronOperator(aa, gg).toarray(), F1))
        # column-major vec: the textbook order A ⊗ G is the right one there
        textbook = max(
            textbook, rel(KronOperator(aa, gg).toarray(), np.outer(vec(dW), vec(dW)))
        )
    return {"right": right, "wrong": wrong, "textbook": textbook}


def fisher_distance(a: np.ndarray, g: np.ndarray, G, A) -> tuple[float, float]:
    """‖F − K‖/‖F‖ for the dense per-sample Fisher F and K-FAC K in both orders."""
    v = (g[:, :, None] * a[:, None, :]).reshape(a.shape[0], -1)  # rows: dWₙ.ravel()
    F = v.T @ v / a.shape[0]
    return (
        rel(KronOperator(G, A).toarray(), F),
        rel(KronOperator(A, G).toarray(), F),
    )


def layer_steps(grad, G, A, lam: float) -> dict:
    """Every form of the damped K-FAC step for one layer, and its dense references."""
    gam = np.sqrt(lam)
    Gd, Ad = G + gam * np.eye(len(G)), A + gam * np.eye(len(A))
    b = grad.ravel()
    ref_fac = np.linalg.solve(dense_kfac(Gd, Ad), b)
    ref_exact = np.linalg.solve(dense_kfac(G, A) + lam * np.eye(b.size), b)
    K = KronOperator(Gd, Ad)
    wG, wA = np.linalg.eigvalsh(G), np.linalg.eigvalsh(A)
    return {
        "right": rel(K.solve(b), ref_fac),
        "right_inv": rel(K.inv() @ b, ref_fac),
        "matrix": rel(
            np.linalg.solve(Gd, np.linalg.solve(Ad, grad.T).T).ravel(), ref_fac
        ),
        "textbook": rel(
            unvec(KronOperator(Ad, Gd).solve(vec(grad)), grad.shape).ravel(), ref_fac
        ),
        "wrong": rel(KronOperator(Ad, Gd).solve(b), ref_fac),
        "exact": rel(KronOperator(G, A).eigh().solve(b, shift=lam), ref_exact),
        "exact_textbook": rel(
            unvec(
                KronOperator(A, G).eigh().solve(vec(grad), shift=lam), grad.shape
            ).ravel(),
            ref_exact,
        ),
        "exact_wrong": rel(KronOperator(A, G).eigh().solve(b, shift=lam), ref_exact),
        # 2-norm condition numbers of the two damped matrices, for the tolerances
        "cond_factored": float(
            (wG[-1] + gam)
            * (wA[-1] + gam)
            / ((max(wG[0], 0) + gam) * (max(wA[0], 0) + gam))
        ),
        "cond_exact": float((wG[-1] * wA[-1] + lam) / (max(wG[0] * wA[0], 0) + lam)),
    }


def kfac_operator(G, A, lam: float) -> BlockDiag:
    """The damped K-FAC curvature of the network: diag((Gₗ + γI) ⊗ (Aₗ + γI))."""
    gam = np.sqrt(lam)
    return BlockDiag(
        [
            KronOperator(g + gam * np.eye(len(g)), a + gam * np.eye(len(a)))
            for g, a in zip(G, A, strict=True)
        ]
    )


def split(x: np.ndarray, shapes) -> list[np.ndarray]:
    out, start = [], 0
    for shape in shapes:
        size = shape[0] * shape[1]
        out.append(x[start : start + size].reshape(shape))
        start += size
    return out


def kfac_direction(grads, G, A, lam):
    b = np.concatenate([g.ravel() for g in grads])
    return split(kfac_operator(G, A, lam).solve(b), [g.shape for g in grads])


def dense_direction(grads, G, A, lam):
    """The same step from the assembled block-diagonal matrix (the alternative)."""
    gam = np.sqrt(lam)
    F = block_diag(
        *[
            dense_kfac(g + gam * np.eye(len(g)), a + gam * np.eye(len(a)))
            for g, a in zip(G, A, strict=True)
        ]
    )
    b = np.concatenate([g.ravel() for g in grads])
    return split(np.linalg.solve(F, b), [g.shape for g in grads])


def train(params, X, Y, method: str, steps: int, lr: float, lam: float, seed: int):
    """Full-batch descent; returns the loss after each step and the time per step."""
    params = [W.copy() for W in params]
    rng = np.random.default_rng(seed)
    losses, times = [loss(params, X, Y)], []
    for _ in range(steps):
        t0 = time.perf_counter()
        grads, _, _, A, G = gradients_and_factors(params, X, Y, rng)
        step = grads if method == "sgd" else kfac_direction(grads, G, A, lam)
        params = [W - lr * s for W, s in zip(params, step, strict=True)]
        times.append(time.perf_counter() - t0)
        losses.append(loss(params, X, Y))
    return np.array(losses), times


# --------------------------------------------------------------------------- driver


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="CI size (< 20 s)")
    p.add_argument(
        "--repeat", type=int, default=None, help="timing repeats (5; quick 3)"
    )
    p.add_argument(
        "--steps", type=int, default=None, help="training steps (40; quick 15)"
    )
    p.add_argument("--damping", type=float, default=1e-3, help="λ (default 1e-3)")
    p.add_argument("--lr-sgd", type=float, default=0.2, help="gradient descent step")
    p.add_argument("--lr-kfac", type=float, default=0.2, help="K-FAC step")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--figure", type=Path, default=DEFAULT_FIGURE)
    p.add_argument("--no-figure", action="store_true")
    args = p.parse_args(argv)
    if args.repeat is None:
        args.repeat = 3 if args.quick else 5
    if args.steps is None:
        args.steps = 15 if args.quick else 40
    if args.repeat < 1 or args.steps < 1:
        p.error("--repeat and --steps must be at least 1")
    if args.damping <= 0:
        p.error("--damping must be positive")
    return args


def save_figure(path: Path, curves: dict) -> str:
    try:
        import matplotlib
    except ImportError:
        return (
            "figure skipped: matplotlib is not installed (pip install kronop[examples])"
        )
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, y in curves.items():
        ax.semilogy(np.arange(len(y)), y, marker=".", label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title("Gradient descent vs K-FAC (kronop)")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return f"figure saved to {path}"


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the example; return the measured errors, losses and times.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    dict
        Relative errors of the right, textbook and wrong conventions against the
        dense solves (maxima over layers), the condition numbers behind them, the
        K-FAC-to-Fisher distances, and the training losses and times.

    Examples
    --------
    >>> r = main(["--quick", "--no-figure", "--steps", "2", "--repeat", "1"])  # doctest: +ELLIPSIS
    K-FAC...
    >>> bool(r["err_right"] < 1e-10 < r["err_wrong"])
    True
    """
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    n, d, k, hidden = (256, 8, 3, (16, 8)) if args.quick else (1024, 16, 4, (64, 32))
    sizes = (d, *hidden, k)
    X, Y = make_problem(rng, n, d, k)
    params = init_params(rng, sizes)
    lam = args.damping
    eps = float(np.finfo(np.float64).eps)
    print(
        f"K-FAC on a tanh MLP {' → '.join(map(str, sizes))}, {n} samples, "
        f"damping λ = {lam:g} (factor damping γ = √λ = {np.sqrt(lam):.3g}), float64"
    )
    grads, acts, gf, A, G = gradients_and_factors(
        params, X, Y, np.random.default_rng(1)
    )

    print(
        "\nConvention, one sample (K-FAC is exact there): dense Fisher outer(dW.ravel())"
    )
    conv = convention_check(acts, gf)
    print(
        f"  KronOperator(g gᵀ, a aᵀ)  [right, C order]      rel. error {conv['right']:.1e}"
    )
    print(
        f"  KronOperator(a aᵀ, g gᵀ)  [textbook order, wrong] rel. error {conv['wrong']:.1e}"
    )
    print(
        f"  KronOperator(a aᵀ, g gᵀ) vs outer(vec(dW)) [textbook with column-major vec] "
        f"{conv['textbook']:.1e}"
    )

    print("\nPer layer: relative error against the dense np.linalg.solve")
    header = (
        f"  {'layer':>9} {'D':>5} {'G⊗A':>8} {'.inv()':>8} {'unvec(A⊗G)':>10} "
        f"{'A⊗G wrong':>9} | {'exact':>8} {'unvec':>8} {'wrong':>8} | "
        f"{'kronop':>8} {'dense':>8} {'ratio':>6}"
    )
    print(header)
    keys = ("right", "right_inv", "matrix", "textbook", "wrong")
    keys += ("exact", "exact_textbook", "exact_wrong", "cond_factored", "cond_exact")
    worst = dict.fromkeys(keys, 0.0)
    fisher_right = fisher_wrong = 0.0
    for i, (g, A_, G_) in enumerate(zip(grads, A, G, strict=True)):
        r = layer_steps(g, G_, A_, lam)
        for key in worst:
            worst[key] = max(worst[key], r[key])
        gam = np.sqrt(lam)
        Gd, Ad = G_ + gam * np.eye(len(G_)), A_ + gam * np.eye(len(A_))
        b = g.ravel()
        # factorizations are part of the step (the factors change every step)
        t_k = median_time(
            lambda Gd=Gd, Ad=Ad, b=b: KronOperator(Gd, Ad).solve(b), args.repeat
        )
        t_d = median_time(
            lambda Gd=Gd, Ad=Ad, b=b: np.linalg.solve(dense_kfac(Gd, Ad), b),
            args.repeat,
        )
        fr, fw = fisher_distance(acts[i], gf[i], G_, A_)
        fisher_right, fisher_wrong = max(fisher_right, fr), max(fisher_wrong, fw)
        print(
            f"  {f'{A_.shape[0]}→{G_.shape[0]}':>9} {b.size:>5} {r['right']:>8.1e} "
            f"{r['right_inv']:>8.1e} {r['textbook']:>10.1e} {r['wrong']:>9.1e} | "
            f"{r['exact']:>8.1e} {r['exact_textbook']:>8.1e} {r['exact_wrong']:>8.1e} | "
            f"{t_k * 1e3:>6.2f}ms {t_d * 1e3:>6.1f}ms {ratio(t_d / t_k):>6}"
        )
    print(
        "  (G⊗A = KronOperator(G+γI, A+γI).solve(dW.ravel()); unvec(A⊗G) = the textbook "
        "order on kronop.vec(dW);\n   exact = KronOperator(G, A).eigh().solve(·, shift=λ) "
        "against solve(F + λI); ratio = dense / kronop time)"
    )
    print(
        f"  matrix form (G+γI)⁻¹ dW (A+γI)⁻¹: rel. error {worst['matrix']:.1e}; "
        f"condition numbers ≤ {worst['cond_factored']:.1e} (factored), "
        f"{worst['cond_exact']:.1e} (exact)"
    )
    print(
        "  batch K-FAC block vs dense per-sample Fisher mean(outer(dWₙ.ravel())): "
        f"G⊗A {fisher_right:.2f}, A⊗G {fisher_wrong:.2f} (relative Frobenius, worst layer)"
    )

    print(
        "\nWhole network: BlockDiag of KronOperator blocks vs the assembled block diagonal"
    )
    net = kfac_direction(grads, G, A, lam)
    dense = dense_direction(grads, G, A, lam)
    err_net = rel(
        np.concatenate([x.ravel() for x in net]),
        np.concatenate([x.ravel() for x in dense]),
    )
    t_net = median_time(lambda: kfac_direction(grads, G, A, lam), args.repeat)
    t_dense = median_time(lambda: dense_direction(grads, G, A, lam), args.repeat)
    print(
        f"  rel. error {err_net:.1e}; kronop {t_net * 1e3:.2f} ms, dense "
        f"{t_dense * 1e3:.1f} ms ({ratio(t_dense / t_net)})"
    )

    print(
        f"\nTraining, {args.steps} full-batch steps (median time per step over {args.repeat} runs)"
    )
    runs = {}
    for method, lr in (("sgd", args.lr_sgd), ("kfac", args.lr_kfac)):
        step_times = []
        for _ in range(args.repeat):
            losses, times = train(
                params, X, Y, method, args.steps, lr, lam, args.seed + 1
            )
            step_times.extend(times)
        runs[method] = (losses, float(np.median(step_times)))
    every = max(1, args.steps // 10)
    shown = sorted(set(range(0, args.steps + 1, every)) | {args.steps})
    print(f"  {'step':>5} {'gradient descent':>17} {'K-FAC':>12}")
    for s in shown:
        print(f"  {s:>5} {runs['sgd'][0][s]:>17.4e} {runs['kfac'][0][s]:>12.4e}")
    t_sgd, t_kfac = runs["sgd"][1], runs["kfac"][1]
    print(
        f"  time per step: gradient descent {t_sgd * 1e3:.2f} ms, K-FAC "
        f"{t_kfac * 1e3:.2f} ms ({t_kfac / t_sgd:.1f}× per step); final loss ratio "
        f"GD / K-FAC = {runs['sgd'][0][-1] / runs['kfac'][0][-1]:.1f}"
    )

    if args.no_figure:
        print("figure skipped (--no-figure)")
    else:
        print(
            save_figure(
                args.figure,
                {"gradient descent": runs["sgd"][0], "K-FAC (kronop)": runs["kfac"][0]},
            )
        )

    return {
        "eps": eps,
        "sample_right": conv["right"],
        "sample_wrong": conv["wrong"],
        "sample_textbook": conv["textbook"],
        "err_right": worst["right"],
        "err_right_inv": worst["right_inv"],
        "err_matrix": worst["matrix"],
        "err_textbook": worst["textbook"],
        "err_wrong": worst["wrong"],
        "err_exact": worst["exact"],
        "err_exact_textbook": worst["exact_textbook"],
        "err_exact_wrong": worst["exact_wrong"],
        "cond_factored": worst["cond_factored"],
        "cond_exact": worst["cond_exact"],
        "fisher_right": fisher_right,
        "fisher_wrong": fisher_wrong,
        "err_network": err_net,
        "sgd_losses": runs["sgd"][0],
        "kfac_losses": runs["kfac"][0],
        "sgd_final_loss": float(runs["sgd"][0][-1]),
        "kfac_final_loss": float(runs["kfac"][0][-1]),
        "time_sgd_step": t_sgd,
        "time_kfac_step": t_kfac,
    }


if __name__ == "__main__":
    main()
