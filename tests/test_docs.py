"""The documentation: its pages' doctests, its API coverage, its gallery, its build.

The doctests of every hand-written page under ``docs/`` run here (a few seconds);
``python -m pytest --doctest-glob="*.rst" docs`` runs the same ones. The full
``sphinx-build -W`` runs when Sphinx and the theme and extensions are installed
(the ``docs`` extra) and is skipped otherwise.
"""

from __future__ import annotations

import ast
import doctest
import importlib.util
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import kronop

DOCS = Path(__file__).resolve().parent.parent / "docs"
GENERATED = {"_build", "_gallery_src", "auto_examples", "generated", "_templates"}
PAGES = sorted(
    p
    for p in DOCS.rglob("*.rst")
    if not GENERATED.intersection(p.relative_to(DOCS).parts)
)
DOCTEST_PAGES = [p for p in PAGES if ">>>" in p.read_text(encoding="utf-8")]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _load_conf():
    spec = importlib.util.spec_from_file_location("kronop_docs_conf", DOCS / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


def test_pages_found():
    names = {p.relative_to(DOCS).as_posix() for p in PAGES}
    for page in (
        "index.rst",
        "getting_started.rst",
        "conventions.rst",
        "api/index.rst",
    ):
        assert page in names


@pytest.mark.parametrize(
    "page", DOCTEST_PAGES, ids=lambda p: p.relative_to(DOCS).as_posix()
)
def test_page_doctests(page):
    text = page.read_text(encoding="utf-8")
    test = doctest.DocTestParser().get_doctest(text, {}, page.name, str(page), 0)
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    result = runner.run(test, out=report.append)
    assert result.failed == 0, "".join(report)


def test_api_reference_lists_every_public_name():
    text = (DOCS / "api" / "index.rst").read_text(encoding="utf-8")
    listed = set(re.findall(r"^   (\w+)$", text, flags=re.MULTILINE))
    missing = sorted(set(kronop.__all__) - listed)
    assert not missing, f"not in docs/api/index.rst: {missing}"


def test_api_reference_lists_the_dask_functions():
    kdask = pytest.importorskip("kronop.dask")
    text = (DOCS / "api" / "index.rst").read_text(encoding="utf-8")
    listed = set(re.findall(r"^   (\w+)$", text, flags=re.MULTILINE))
    public = {n for n in kdask.__all__ if inspect.isfunction(getattr(kdask, n))}
    assert public <= listed, f"not in docs/api/index.rst: {sorted(public - listed)}"


def test_escape_bars_leaves_code_math_and_doctests_alone():
    conf = _load_conf()
    lines = [
        "the |det A| of A, and ``|x|`` in code",
        "",
        ".. math:: \\|S\\|_F = |s|",
        "   |t|",
        "",
        ">>> abs(-1) | 2",
        "3",
        "",
        "literal::",
        "",
        "    |kept|",
        "back |here|",
    ]
    out = conf.escape_bars(lines)
    assert out[0] == "the \\|det A\\| of A, and ``|x|`` in code"
    assert out[2:4] == lines[2:4]
    assert out[5:7] == lines[5:7]
    assert out[10] == lines[10]
    assert out[11] == "back \\|here\\|"


@pytest.mark.parametrize(
    "script", sorted((DOCS.parent / "examples").glob("*.py")), ids=lambda p: p.name
)
def test_gallery_copy_has_a_title_and_clean_rest(script, tmp_path, monkeypatch):
    pytest.importorskip("docutils")
    conf = _load_conf()
    monkeypatch.setattr(conf, "GALLERY_SRC", tmp_path)
    dst = tmp_path / script.name
    conf._gallery_copy(script, dst)
    tree = ast.parse(dst.read_text(encoding="utf-8"))  # still valid Python
    doc = ast.get_docstring(tree, clean=False)
    if ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) is None:
        assert doc is None
        return
    title, underline = doc.splitlines()[:2]
    assert title.strip()
    assert set(underline) == {"="}
    assert len(underline) == len(title)
    assert not conf._rst_problems(doc)
    # the code after the docstring is untouched
    original = ast.parse(script.read_text(encoding="utf-8"))
    assert [ast.dump(n) for n in tree.body[1:]] == [
        ast.dump(n) for n in original.body[1:]
    ]


def test_sphinx_build(tmp_path):
    for mod in ("sphinx", "numpydoc", "pydata_sphinx_theme", "sphinx_gallery"):
        pytest.importorskip(mod)
    out = tmp_path / "html"
    cmd = [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html"]
    cmd += ["-d", str(tmp_path / "doctrees"), str(DOCS), str(out)]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    for page in ("index", "conventions", "api/index", "auto_examples/index"):
        assert (out / f"{page}.html").exists()
