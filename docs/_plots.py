"""The plots of the performance page, drawn from the benchmarks' JSON output.

``docs/conf.py`` calls :func:`write_plots` when the documentation builds. It reads
``docs/_data/compare.json`` (``python benchmarks/compare.py ... --json PATH``) and
``docs/_data/poisson_cases.json`` (``python benchmarks/poisson_cases.py ... --json
PATH``), draws PNG files with matplotlib's Agg canvas (no pyplot, so no global
backend is chosen for the rest of the build) and returns the reST that shows them,
with the command, the machine and the date each file records. Nothing is
benchmarked here.

Without matplotlib, or without a data file, that part is left out and the page
shows its tables only. Run ``python docs/_plots.py OUTDIR`` to draw the plots
outside a build.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path

DATA = Path(__file__).resolve().parent / "_data"
COMPARE = "compare.json"
POISSON = "poisson_cases.json"

# one colour and marker per implementation, the same in every plot
STYLE = {
    "kronop": ("#1f77b4", "o"),
    "kronop_numpy": ("#17becf", "s"),
    "pykronecker": ("#ff7f0e", "^"),
    "pylops": ("#2ca02c", "v"),
    "pyfastkron": ("#9467bd", "D"),
    "tensordot": ("#8c564b", "P"),
    "shuffle": ("#e377c2", "X"),
    "dense": ("#7f7f7f", "*"),
    "sparse": ("#bcbd22", "h"),
}


def have_matplotlib() -> bool:
    """Whether matplotlib can be imported (without importing it).

    Examples
    --------
    >>> isinstance(have_matplotlib(), bool)
    True
    """
    return importlib.util.find_spec("matplotlib") is not None


def load(path: Path) -> dict | None:
    """The JSON document at ``path``, or None when there is no such file.

    Examples
    --------
    >>> load(Path("no-such-file.json")) is None
    True
    """
    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def _figure(ncols: int, width: float = 4.2, height: float = 3.6):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def _save(fig, path: Path) -> None:
    # no software/version stamp, so an unchanged plot is an unchanged file
    fig.savefig(path, dpi=110, metadata={"Software": None})


def _families(cases: Sequence[dict]) -> list[tuple[str, list[dict]]]:
    """Cases of cubes that differ only in n, at least two sizes per family."""
    groups: dict[tuple, list[dict]] = {}
    for case in cases:
        if not case["square"] or len({m for m, _ in case["shapes"]}) != 1:
            continue
        key = (case["d"], case["k"], case["sparse"])
        groups.setdefault(key, []).append(case)
    out = []
    for (d, k, sparse), members in sorted(groups.items()):
        if len(members) < 2:
            continue
        title = f"{'tridiagonal ' if sparse else ''}d = {d}" + (
            f", k = {k}" if k > 1 else ""
        )
        out.append((title, sorted(members, key=lambda c: c["n_in"])))
    return out


def _limits(case: dict) -> float:
    return max(case["copy_seconds"] or 0.0, case["dgemm_peak_seconds"] or 0.0)


def plot_products(doc: dict, path: Path) -> bool:
    """Product time against N per implementation, with the machine's limits.

    One panel per family of cubes (d factors of n × n, n varying). The dashed
    line is the copy of the vector (the memory limit), the dotted one the time
    the case's flops take at the DGEMM rate measured in the same run. Returns
    False (and writes nothing) when no family has two sizes.

    Examples
    --------
    >>> plot_products({"cases": [], "impls": []}, Path("unused.png"))
    False
    """
    families = _families(doc["cases"])
    if not families:
        return False
    from matplotlib.ticker import NullFormatter

    fig, axes = _figure(len(families))
    labels = doc.get("labels", {})
    for ax, (title, members) in zip(axes, families, strict=True):
        ns = [c["n_in"] for c in members]
        for impl in doc["impls"]:
            pts = [
                (c["n_in"], c["cells"][impl]["seconds"])
                for c in members
                if impl in c["cells"] and c["cells"][impl]["seconds"] is not None
            ]
            if not pts:
                continue
            colour, marker = STYLE.get(impl, ("black", "."))
            ax.plot(
                *zip(*pts, strict=True),
                color=colour,
                marker=marker,
                lw=2.0 if impl == "kronop" else 1.2,
                label=labels.get(impl, impl),
            )
        ax.plot(
            ns,
            [c["copy_seconds"] for c in members],
            color="black",
            ls="--",
            lw=1,
            label="copy of the vector (memory limit)",
        )
        ax.plot(
            ns,
            [c["dgemm_peak_seconds"] for c in members],
            color="black",
            ls=":",
            lw=1.5,
            label="flops at DGEMM peak",
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(
            title + ": n = " + ", ".join(str(c["shapes"][0][0]) for c in members),
            fontsize=10,
        )
        ax.set_xlabel("N (vector length)")
        # a family spanning less than a decade gets crowded minor labels
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("seconds per product")
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=4, fontsize=8)
    _save(fig, path)
    return True


def plot_product_ratios(doc: dict, path: Path) -> bool:
    """Every case: each implementation's time over the machine's lower bound.

    The bound is the larger of the copy time and the flops at DGEMM peak, so
    1 is the best any implementation can do. Returns False when there are no
    cases.

    Examples
    --------
    >>> plot_product_ratios({"cases": [], "impls": []}, Path("unused.png"))
    False
    """
    cases = doc["cases"]
    if not cases:
        return False
    fig, (ax,) = _figure(1, width=max(6.0, 0.65 * len(cases) + 2.5), height=4.0)
    labels = doc.get("labels", {})
    nimpl = len(doc["impls"])
    for j, impl in enumerate(doc["impls"]):
        xs, ys = [], []
        for i, case in enumerate(cases):
            cell = case["cells"].get(impl)
            bound = _limits(case)
            if cell is None or cell["seconds"] is None or bound <= 0:
                continue
            xs.append(i + 0.6 * (j - (nimpl - 1) / 2) / max(nimpl, 1))
            ys.append(cell["seconds"] / bound)
        if xs:
            colour, marker = STYLE.get(impl, ("black", "."))
            ax.scatter(
                xs, ys, color=colour, marker=marker, s=28, label=labels.get(impl, impl)
            )
    ax.axhline(1.0, color="black", lw=1)
    ax.set_yscale("log")
    ax.set_xticks(range(len(cases)))
    ax.set_xticklabels([c["key"] for c in cases], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("time / max(copy, flops at DGEMM peak)")
    ax.grid(True, axis="y", which="major", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, ncols=2)
    _save(fig, path)
    return True


def plot_poisson(doc: dict, path: Path) -> bool:
    """Poisson matvec (fused, numpy, CSR, copy) and solve times against n.

    Returns False when the document has neither matvec rows nor sizes.

    Examples
    --------
    >>> plot_poisson({"matvec": [], "sizes": []}, Path("unused.png"))
    False
    """
    rows = [
        r
        for r in doc.get("matvec") or []
        if r["operator"].startswith("laplacian") and "wrong" not in r
    ]
    sizes = sorted(doc.get("sizes") or [], key=lambda s: s["n"])
    if not rows and not sizes:
        return False
    panels = int(bool(rows)) + int(bool(sizes))
    fig, axes = _figure(panels)
    ax_iter = iter(axes)
    if rows:
        ax = next(ax_iter)
        ns = [r["n"] for r in rows]
        for key, label, colour, marker in (
            ("fused", "KronSum, fused kernels", STYLE["kronop"][0], "o"),
            ("numpy", "KronSum, numpy kernels", STYLE["kronop_numpy"][0], "s"),
            ("csr", "CSR (scipy.sparse)", "#d62728", "^"),
            ("copy", "copy of the vector (memory limit)", "black", None),
        ):
            ax.plot(
                ns,
                [r[key] for r in rows],
                color=colour,
                marker=marker,
                ls="--" if key == "copy" else "-",
                lw=1 if key == "copy" else 1.6,
                label=label,
            )
        ax.set_title("matvec L @ x, L = laplacian((n,)*3)", fontsize=10)
        _n_axis(ax, ns)
        ax.set_ylabel("seconds")
        ax.legend(fontsize=8)
    if sizes:
        ax = next(ax_iter)
        ns = [s["n"] for s in sizes]
        for key, label, colour, marker, ls in (
            ("kronop_direct", "kronop direct solve", STYLE["kronop"][0], "o", "-"),
            ("eigh_gemm", "eigh + GEMM yardstick", "#7f7f7f", "s", ":"),
            ("dstn", "scipy.fft.dstn yardstick", "#bcbd22", "D", ":"),
            ("cg_kronsum", "cg on KronSum", STYLE["kronop"][0], "v", "--"),
            ("cg_csr", "cg on CSR", "#d62728", "^", "--"),
            ("pyamg", "pyamg SA (setup + solve)", STYLE["pylops"][0], "P", "-"),
        ):
            pts = [(s["n"], s.get(key)) for s in sizes if s.get(key) is not None]
            if pts:
                ax.plot(
                    *zip(*pts, strict=True),
                    color=colour,
                    marker=marker,
                    ls=ls,
                    lw=1.4,
                    label=label,
                )
        ax.set_title("solve −Δu = f to rtol 1e-8 (cg) or directly", fontsize=10)
        _n_axis(ax, ns)
        ax.legend(fontsize=8)
    _save(fig, path)
    return True


def _n_axis(ax, ns: Sequence[int]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(list(ns))
    ax.set_xticklabels([str(n) for n in ns])
    ax.minorticks_off()
    ax.set_xlabel("n (N = n³)")
    ax.grid(True, which="major", alpha=0.3)


def _source_rst(what: str, name: str, doc: dict, machine: str) -> list[str]:
    """Where a plot's numbers come from: the file, the date, the command, the machine."""
    return [
        f"{what}: ``docs/_data/{name}``, measured on {doc['date'][:10]} with::",
        "",
        "    " + doc["command"],
        "",
        f"Machine: {machine}.",
        "",
    ]


def _compare_machine(doc: dict) -> str:
    m = doc["machine"]
    blas = "; ".join(
        f"{b.get('internal_api')} {b.get('version')} ({b.get('architecture')}, "
        f"{b.get('num_threads')} threads)"
        for b in m.get("blas") or []
    )
    return (
        f"{m['cpu']}, {m['ncpu']} logical cores; BLAS: {blas or 'unknown'}; DGEMM "
        f"{m['dgemm_gflops_peak']:.1f} GFLOP/s and copy "
        f"{m['copy_gbs']:.1f} GB/s measured in the same run; {doc['versions']}"
    )


def _poisson_machine(doc: dict) -> str:
    m = doc["machine"]
    return (
        f"{m['cpu']}, {m['ncpu']} logical cores; BLAS: {m['blas_line']}; DGEMM "
        f"{m['dgemm_gflops']:.0f} GFLOP/s measured in the same run; numpy "
        f"{m['numpy']}, scipy {m['scipy']}, kronop {m['kronop']}, fused kernels "
        f"{'on' if m['fused'] else 'off'}"
    )


def _figure_rst(src: str, alt: str, caption: str) -> list[str]:
    return [
        f".. figure:: {src}",
        f"   :alt: {alt}",
        "   :width: 100%",
        "",
        f"   {caption}",
        "",
    ]


def write_plots(out_dir: Path, url: str, data_dir: Path = DATA) -> str:
    """Draw the plots into ``out_dir`` and return the reST that shows them.

    Parameters
    ----------
    out_dir : Path
        Where the PNG files go (created when missing).
    url : str
        ``out_dir`` as the page's figures refer to it (``/`` is the
        documentation's source directory).
    data_dir : Path, optional
        Where ``compare.json`` and ``poisson_cases.json`` are read.

    Returns
    -------
    str
        The reST to include; empty when matplotlib is missing or there is no
        data, so that the page shows its tables only.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     write_plots(Path(tmp), "/plots", data_dir=Path(tmp))
    ''
    """
    if not have_matplotlib():
        return ""
    compare = load(data_dir / COMPARE)
    poisson = load(data_dir / POISSON)
    if compare is None and poisson is None:
        return ""
    out_dir.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    if compare is not None:
        intro = _source_rst("Products", COMPARE, compare, _compare_machine(compare))
        figures: list[str] = []
        if plot_products(compare, out_dir / "products.png"):
            figures += _figure_rst(
                f"{url}/products.png",
                "product time against N for each implementation",
                "Time of one product ``K @ x`` (float64, median of the timed "
                "calls) against the vector length N, for the cases that differ "
                "only in n. Dashed: a copy of the vector, the memory limit; "
                "dotted: the case's flops at the DGEMM rate of the same run. "
                "The higher of the two is what no implementation can beat.",
            )
        if plot_product_ratios(compare, out_dir / "product_ratios.png"):
            figures += _figure_rst(
                f"{url}/product_ratios.png",
                "each implementation's time over the machine's bound, per case",
                "Every case of the run: each implementation's time divided by "
                "the larger of the two limits (1 is the machine's bound; lower "
                "is better). A missing marker is a cell that was not timed "
                "(not supported, over 10 s, or not installed).",
            )
        if figures:
            lines += intro + figures
    if poisson is not None and plot_poisson(poisson, out_dir / "poisson.png"):
        lines += [
            *_source_rst("Poisson", POISSON, poisson, _poisson_machine(poisson)),
            *_figure_rst(
                f"{url}/poisson.png",
                "Poisson matvec and solve times against n",
                "Left: one matvec with the 3-D Laplacian, kronop's ``KronSum`` "
                "with and without its fused kernels against the assembled CSR "
                "matrix and the copy of the vector (least time over interleaved "
                "repetitions). Right: the direct solve against its two "
                "yardsticks, and ``cg`` on the CSR matrix and on the "
                "``KronSum`` (one run each).",
            ),
        ]
    return "\n".join(lines) + "\n" if lines else ""


def main(argv: Sequence[str] | None = None) -> int:
    """Draw the plots into the directory given on the command line.

    Examples
    --------
    >>> main(["a", "b"])
    Traceback (most recent call last):
    ...
    SystemExit: usage: python docs/_plots.py OUTDIR
    """
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) != 1:
        raise SystemExit("usage: python docs/_plots.py OUTDIR")
    out = Path(args[0])
    text = write_plots(out, str(out))
    if not text:
        print("no plots: matplotlib is missing or docs/_data has no data")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
