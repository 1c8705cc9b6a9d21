"""Sphinx configuration for the kronop documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html`` (warnings are errors).
The examples gallery is rendered from a copy of ``examples/*.py`` that this file
writes into ``docs/_gallery_src`` (git-ignored), so nothing is written into
``examples/`` and no example is executed during the build.
"""

from __future__ import annotations

import ast
import re
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

import kronop

project = "kronop"
author = "the kronop developers"
copyright = "the kronop developers"
release = kronop.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

exclude_patterns = ["_build", "_gallery_src", "**.ipynb_checkpoints"]
templates_path = ["_templates"]
root_doc = "index"
nitpicky = False

# -- autodoc / autosummary / numpydoc --------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set[str] = set()
numpydoc_xref_param_type = False
numpydoc_use_plots = False

# -- doctest (``sphinx-build -b doctest``; pytest runs the same blocks) ----------
doctest_global_setup = "import numpy as np"
doctest_default_flags = (
    __import__("doctest").ELLIPSIS
    | __import__("doctest").NORMALIZE_WHITESPACE
    | __import__("doctest").DONT_ACCEPT_TRUE_FOR_1
)

# -- HTML --------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"kronop {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path: list[str] = []


# -- docstrings: a bar is text, not a substitution ----------------------------------
# Docstrings write |x| for absolute values and |det A| for determinants, which reST
# reads as substitution references. Bars in prose are escaped; code, doctests, math
# and other directive blocks are left alone.
_SPANS = re.compile(r"(``.+?``|`[^`]*`)")


def _escape_line(line: str, chars: str) -> str:
    bar = re.compile(r"(?<!\\)([" + re.escape(chars) + "])")
    parts = _SPANS.split(line)
    return "".join(p if i % 2 else bar.sub(r"\\\1", p) for i, p in enumerate(parts))


def escape_bars(lines: list[str], chars: str = "|") -> list[str]:
    """Escape ``chars`` in the prose of reST lines (not in code, math or doctests)."""
    out: list[str] = []
    block_indent: int | None = None  # inside a directive or literal block
    in_doctest = False
    for line in lines:
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if block_indent is not None:
            if stripped and indent <= block_indent:
                block_indent = None
            else:
                out.append(line)
                continue
        if in_doctest:
            in_doctest = bool(stripped)
            if in_doctest:
                out.append(line)
                continue
        if stripped.startswith(">>>"):
            in_doctest = True
            out.append(line)
            continue
        if stripped.startswith(".. "):
            block_indent = indent
            out.append(line)
            continue
        if stripped.endswith("::"):
            block_indent = indent
        out.append(_escape_line(line, chars))
    return out


def _process_docstring(app, what, name, obj, options, lines) -> None:
    lines[:] = escape_bars(lines)


def setup(app) -> None:
    """Hook the docstring escaping and the gallery copies into the build."""
    app.connect("autodoc-process-docstring", _process_docstring, priority=900)
    # before sphinx-gallery reads the copies (its handler has the default priority)
    app.connect("builder-inited", _prepare_gallery, priority=100)
    app.connect("builder-inited", _performance_plots)


# -- the performance page's plots ---------------------------------------------------
# Drawn from docs/_data/*.json (the benchmarks' --json output) by docs/_plots.py into
# docs/_build/perf_plots (git-ignored), with the reST that shows them; the page
# includes that reST, which is empty without matplotlib or data (tables only).
PLOTS_DIR = DOCS / "_build" / "perf_plots"
PLOTS_RST = PLOTS_DIR / "plots.rst.inc"


def _performance_plots(app=None) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "kronop_docs_plots", DOCS / "_plots.py"
    )
    plots = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plots)
    PLOTS_DIR.mkdir(parents=True, exist_ok=True)
    text = plots.write_plots(PLOTS_DIR, "/_build/perf_plots")
    # an unchanged file keeps the page from being read again
    if not PLOTS_RST.exists() or PLOTS_RST.read_text(encoding="utf-8") != text:
        PLOTS_RST.write_text(text, encoding="utf-8")


# -- the examples gallery ---------------------------------------------------------
GALLERY_SRC = DOCS / "_gallery_src"
FIGURES = ROOT / "examples" / "figures"


def _rst_problems(text: str) -> list[str]:
    """The docutils warnings and errors in ``text``, other than Sphinx's roles."""
    import io

    from docutils import nodes
    from docutils.core import publish_doctree
    from docutils.parsers.rst import directives, roles

    # plain docutils: Sphinx's own directives need a build environment
    saved = dict(directives._directives), dict(roles._roles)
    directives._directives.clear()
    roles._roles.clear()
    try:
        doctree = publish_doctree(
            text,
            settings_overrides={
                "report_level": 5,
                "halt_level": 5,
                "warning_stream": io.StringIO(),
            },
        )
    finally:
        directives._directives.update(saved[0])
        roles._roles.update(saved[1])
    sphinx_only = ("Unknown interpreted text role", "Unknown directive type")
    return [
        m.astext()
        for m in doctree.findall(nodes.system_message)
        if m["level"] >= 2 and not any(k in m.astext() for k in sphinx_only)
    ]


def _gallery_copy(src: Path, dst: Path) -> None:
    """Copy an example, turning the first line of its docstring into a title.

    The examples are command-line scripts whose docstring starts with a one-line
    summary; sphinx-gallery wants a reST title. A figure the script saved under
    ``examples/figures`` is shown below the docstring and used as the thumbnail.
    """
    text = src.read_text(encoding="utf-8")
    tree = ast.parse(text)
    doc = ast.get_docstring(tree, clean=False)
    if doc is None:
        shutil.copyfile(src, dst)
        return
    node = tree.body[0].value  # the docstring's string literal
    lines = text.splitlines(keepends=True)
    start = sum(len(s) for s in lines[: node.lineno - 1]) + node.col_offset
    end = sum(len(s) for s in lines[: node.end_lineno - 1]) + node.end_col_offset
    first, _, rest = doc.lstrip().partition("\n")
    title = first.strip().rstrip(".")
    lines = rest.strip().splitlines()
    rest = "\n".join(escape_bars(lines))
    if _rst_problems(rest):
        # an asterisk in prose (X*, K_{*x}) that reST reads as emphasis
        rest = "\n".join(escape_bars(lines, "|*"))
    if _rst_problems(rest):
        # not reST: shown as it stands
        rest = "::\n\n" + "\n".join("    " + line for line in lines)
    body = f"{title}\n{'=' * len(title)}\n\n{rest}\n"
    figure = FIGURES / f"{src.stem}.png"
    extra = ""
    if figure.exists():
        fig_dir = GALLERY_SRC / "figures"
        fig_dir.mkdir(exist_ok=True)
        shutil.copyfile(figure, fig_dir / figure.name)
        body += (
            f"\nThe figure the script saves (``examples/figures/{figure.name}``):\n\n"
            f".. image:: /_gallery_src/figures/{figure.name}\n"
            f"   :alt: {src.stem} figure\n"
        )
        extra = (
            f"\n# sphinx_gallery_thumbnail_path = "
            f"'_gallery_src/figures/{figure.name}'\n"
        )
    prefix = "r" if "\\" in body else ""
    quote = '"""' if '"""' not in body else "'''"
    literal = f"{prefix}{quote}{body}{quote}"
    dst.write_text(text[:start] + literal + extra + text[end:], encoding="utf-8")


def _prepare_gallery(app=None) -> None:
    if GALLERY_SRC.exists():
        shutil.rmtree(GALLERY_SRC)
    GALLERY_SRC.mkdir()
    (GALLERY_SRC / "GALLERY_HEADER.rst").write_text(
        "Examples\n========\n\n"
        "The scripts in ``examples/`` of the repository. Each is a command-line\n"
        "program (``python examples/NAME.py --help``); they are shown here, not run\n"
        "during the documentation build.\n",
        encoding="utf-8",
    )
    for src in sorted((ROOT / "examples").glob("*.py")):
        _gallery_copy(src, GALLERY_SRC / src.name)


sphinx_gallery_conf = {
    "examples_dirs": "_gallery_src",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"^$",  # never execute an example
    "plot_gallery": "False",
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
    "remove_config_comments": True,
    "show_signature": False,
    "image_srcset": [],
}
