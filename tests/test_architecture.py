"""The house rules of docs/architecture.md, measured on the code as it is.

- Layers: ``channels/`` imports nothing of ``posts/`` or ``scheduler/``; ``posts/`` never
  imports ``scheduler/`` (the review page and the CLI share ``posts/``, the engine stays
  out of it).
- No circle of imports between modules (a function-level import counts: it is a circle
  all the same, only hidden until the function runs).
- No module over 450 lines (migrations aside: they are written once and never edited).
- The CLI holds no database code: its commands parse, call ``posts/`` (or the engine) and
  render, so a rule cannot hide in a command where the web page would miss it.

The graph is read from the source with ``ast``, so the rules hold for code that is never
imported by a test too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("channels", "posts", "scheduler")
MAX_LINES = 450


def modules() -> dict[str, Path]:
    """Every module of the three packages by dotted name (migrations left out)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports, at module level or inside functions."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in known else base)
    resolved = set()
    for target in targets:
        while target and target not in known:  # "posts.models.Campaign" -> "posts.models"
            target = target.rpartition(".")[0]
        if target and target != name:
            resolved.add(target)
    return resolved


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(name, path, set(found)) for name, path in found.items()}


def test_channels_import_nothing_above_them_and_posts_never_imports_scheduler(graph):
    wrong = sorted(
        f"{name} imports {target}"
        for name, targets in graph.items()
        for target in targets
        if (name.startswith("channels") and target.startswith(("posts", "scheduler")))
        or (name.startswith("posts") and target.startswith("scheduler"))
    )
    assert wrong == []


def test_no_circle_of_imports(graph):
    """Tarjan's strongly connected components: any with two or more modules is a circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert circles == []


def test_no_module_is_over_450_lines():
    long = {
        str(path.relative_to(ROOT)): lines
        for path in modules().values()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


@pytest.mark.parametrize("package", ["scheduler.cli", "scheduler.web"])
def test_the_cli_and_the_review_page_hold_no_database_code(graph, package: str):
    """Both call ``posts/`` for every query and rule, so neither can decide differently."""
    cli = {name: path for name, path in modules().items() if name.startswith(package)}
    assert cli, f"{package} is a package of modules"
    database = ("sqlalchemy", "sqlmodel", "posts.models", "posts.store")
    found = []
    for name, path in cli.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(database):
                if not (node.module == "posts.store" and _only_errors(node)):
                    found.append(f"{name}: from {node.module} import ...")
            elif isinstance(node, ast.Import) and any(
                a.name.startswith(database) for a in node.names
            ):
                found.append(f"{name}: import {', '.join(a.name for a in node.names)}")
            elif isinstance(node, ast.Attribute) and node.attr in ("exec", "execute", "query"):
                if isinstance(node.value, ast.Name) and node.value.id == "session":
                    found.append(f"{name}:{node.lineno}: session.{node.attr}")
    assert found == []


def _only_errors(node: ast.ImportFrom) -> bool:
    """Importing the store's error types (to say what went wrong) is not database code."""
    return all(alias.name.endswith(("Error", "Unreachable", "describe")) for alias in node.names)
