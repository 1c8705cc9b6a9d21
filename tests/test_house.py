"""The package's structure: imports only point down, the engine knows no operator.

These are the house rules that keep kronop extensible (DESIGN.md §4): an import
graph without cycles, so a new operator module never needs a function-local import
to dodge one; the engine never imports an operator; only ``_factor`` knows the kinds
of factor; operators and contracts stay small.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "kronop"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """kronop modules imported by ``path`` (at any depth, type-only ones excluded)."""
    tree = ast.parse(path.read_text())
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only.update(id(n) for n in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            mod = node.module or ""
            target = (base + "." + mod if mod else base) if node.level else mod
            if not target.startswith("kronop"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(
                    sub
                    if (ROOT.parent / Path(*sub.split("."))).exists()
                    or (ROOT.parent / (sub.replace(".", "/") + ".py")).exists()
                    else target
                )
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("kronop"))
    out.discard(name)
    return out


def import_graph() -> dict[str, set[str]]:
    """Module → the kronop modules it imports."""
    graph = {}
    for path in sorted(ROOT.rglob("*.py")):
        graph[_module_name(path)] = _imports(path)
    for mod, deps in graph.items():
        # importing kronop.x.y imports the package kronop.x first
        graph[mod] = {d for d in deps if d in graph}
    return graph


def floors(graph: dict[str, set[str]]) -> list[list[str]]:
    """Modules by floor: floor k imports only from floors below k. Raises on a cycle."""
    left = {m: set(d) for m, d in graph.items() if m != "kronop"}
    out = []
    placed: set[str] = set()
    while left:
        floor = sorted(m for m, deps in left.items() if deps - {"kronop"} <= placed)
        if not floor:
            raise AssertionError(f"import cycle among {sorted(left)}")
        out.append(floor)
        placed.update(floor)
        for m in floor:
            del left[m]
    return out


def test_no_import_cycle():
    floors(import_graph())


def test_engine_and_factors_import_no_operator():
    graph = import_graph()
    operators = {
        "kronop.kron",
        "kronop.kronsum",
        "kronop.shifted",
        "kronop.decomposition",
        "kronop.identity",
        "kronop.gallery",
        "kronop._base",
    }
    for mod, deps in graph.items():
        if mod.startswith(("kronop._engine", "kronop._factor", "kronop._transforms")):
            assert not deps & operators, (mod, deps & operators)


@pytest.mark.parametrize("path", sorted(ROOT.rglob("*.py")), ids=lambda p: p.name)
def test_only_the_factor_module_knows_the_kinds(path):
    if path.name == "_factor.py":
        return
    text = path.read_text()
    for kind in (
        "DenseFactor",
        "SparseFactor",
        "OperatorFactor",
        "IdentityFactor",
        "TransformFactor",
        "EigenSolveFactor",
    ):
        assert kind not in text, f"{path.name} switches on {kind}"


def _code_lines(path: Path, cls: str) -> int:
    """Lines of code (not docstrings, comments or blanks) of a class."""
    src = path.read_text()
    lines = src.splitlines()
    node = next(
        n for n in ast.parse(src).body if isinstance(n, ast.ClassDef) and n.name == cls
    )
    doc: set[int] = set()
    for m in ast.walk(node):
        body = getattr(m, "body", None)
        if (
            isinstance(m, ast.FunctionDef | ast.ClassDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            doc.update(range(body[0].lineno, body[0].end_lineno + 1))
    return sum(
        1
        for i in range(node.lineno, node.end_lineno + 1)
        if i not in doc and lines[i - 1].strip() and lines[i - 1].strip()[0] != "#"
    )


def test_operators_are_not_their_own_solvers():
    # KronSum held 909 lines of code (75 methods) while it was also its eig, Schur
    # and generalized solver and its norm library; it keeps what a sum *is*
    assert _code_lines(ROOT / "kronsum.py", "KronSum") < 400
    assert _code_lines(ROOT / "kron.py", "KronOperator") < 300


if __name__ == "__main__":  # print the floors (python tests/test_house.py)
    for k, floor in enumerate(floors(import_graph())):
        print(k, " ".join(m.removeprefix("kronop.") for m in floor))
