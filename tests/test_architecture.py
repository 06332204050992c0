"""The package's layers, enforced on its import graph (imports inside functions included).

``course_lib/README.md`` explains the layers.  A module may import modules of
its own layer's package and of lower layers, never of a higher layer nor of a
sibling package of its layer, and no chain of imports may come back to where
it started.  The graph is read from the source (``ast``), so an import that
runs only inside a function counts as much as one at the top of a file.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = "course_lib"
LAYERS: tuple[tuple[str, ...], ...] = (
    ("settings", "errors", "resources"),
    ("processes",),
    ("tracking",),
    ("data",),
    ("model",),
    ("serving",),
    ("deploy", "monitoring"),
    ("search",),
    ("course", "checks", "bench"),
    ("cli",),
    ("__main__",),
)
"""Lowest first.  Each name is a top-level module or subpackage of ``course_lib``;
names that share a layer are independent siblings (neither imports the other)."""
LEGACY = ("wrapper", "baseline")
"""Import paths kept for models logged before the split: above every layer, and
imported by nothing in the package (see their docstrings)."""


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.importer} imports {self.imported} (line {self.line})"


def modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package by dotted name (a package is its ``__init__``)."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _targets(node: ast.AST, module: str, is_package: bool, known: set[str]) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            anchor = module.split(".")
            anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            yield submodule if submodule in known else base


def import_graph(root: Path, package: str = PACKAGE) -> list[Edge]:
    """Every import of one package module by another, wherever it is written."""
    found = modules(root, package)
    known = set(found)
    edges = []
    for module, path in found.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            for target in _targets(node, module, is_package, known):
                while target and target not in known:  # `import a.b.c` of a name in a.b
                    target = target.rpartition(".")[0]
                if target and target != module:
                    edges.append(Edge(module, target, getattr(node, "lineno", 0)))
    return edges


def component(module: str, package: str = PACKAGE) -> str:
    """``course_lib.serving.app`` → ``serving``; the package itself → ``settings``'s layer."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "settings"


def layer_of(name: str) -> int | None:
    return next((i for i, names in enumerate(LAYERS) if name in names), None)


def layer_violations(edges: list[Edge], package: str = PACKAGE) -> list[str]:
    problems = []
    for edge in edges:
        source, target = component(edge.importer, package), component(edge.imported, package)
        if target in LEGACY:
            problems.append(f"{edge}: nothing in the package may use a legacy import path")
            continue
        if source in LEGACY or source == target:
            continue
        low, high = layer_of(target), layer_of(source)
        if low is None or high is None:
            problems.append(f"{edge}: {source if high is None else target} is in no layer")
        elif low > high:
            problems.append(f"{edge}: {source} (layer {high}) imports a higher layer ({target})")
        elif low == high:
            problems.append(f"{edge}: {source} and {target} are independent siblings")
    return problems


def cycles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected groups of two or more modules (Tarjan's algorithm)."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.importer, set()).add(edge.imported)
        graph.setdefault(edge.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for following in sorted(graph[node]):
            if following not in index:
                visit(following)
                low[node] = min(low[node], low[following])
            elif following in on_stack:
                low[node] = min(low[node], index[following])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def problems(root: Path) -> list[str]:
    edges = import_graph(root)
    found = layer_violations(edges)
    found += [f"import cycle: {' -> '.join(group)}" for group in cycles(edges)]
    return found


def test_every_subpackage_has_a_layer():
    tops = {component(name) for name in modules(ROOT, PACKAGE)}
    assigned = {name for names in LAYERS for name in names} | set(LEGACY)
    assert tops <= assigned, f"give these a layer in LAYERS: {sorted(tops - assigned)}"


def test_no_upward_import_and_no_cycle():
    assert problems(ROOT) == []


def test_the_graph_sees_imports_inside_functions():
    edges = {(e.importer, e.imported) for e in import_graph(ROOT)}
    # tracking_server is imported inside serve(), never at the top of serving.app
    assert ("course_lib.serving.app", "course_lib.tracking.server") in edges


def _copy_package(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / PACKAGE, tmp_path / PACKAGE, ignore=shutil.ignore_patterns("resources", "*.pyc")
    )
    return tmp_path


def test_a_planted_cycle_through_a_function_import_fails(tmp_path):
    """The cycle the split removed (a helper in the wrong module), planted back."""
    root = _copy_package(tmp_path)
    registry = root / PACKAGE / "tracking" / "registry.py"
    registry.write_text(
        registry.read_text()
        + "\n\ndef default_config():\n"
        + "    from course_lib.model.training import TrainConfig\n\n"
        + "    return TrainConfig()\n"
    )
    found = problems(root)
    assert any(
        "course_lib.tracking.registry imports course_lib.model.training" in p
        and "higher layer" in p
        for p in found
    ), found
    assert any(
        p.startswith("import cycle:")
        and "course_lib.model.training" in p
        and "course_lib.tracking.registry" in p
        for p in found
    ), found


def test_a_planted_sibling_import_and_legacy_use_fail(tmp_path):
    root = _copy_package(tmp_path)
    checks = root / PACKAGE / "checks" / "app0.py"
    checks.write_text(checks.read_text() + "\nfrom course_lib.bench import timing  # noqa\n")
    client = root / PACKAGE / "serving" / "client.py"
    client.write_text(client.read_text() + "\nfrom course_lib.wrapper import FastTextClassifier\n")
    found = problems(root)
    assert any("checks and bench are independent siblings" in p for p in found), found
    assert any("legacy import path" in p and "serving.client" in p for p in found), found


def test_a_cycle_inside_one_package_fails(tmp_path):
    package = tmp_path / PACKAGE
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "data" / "__init__.py").write_text("")
    (package / "data" / "a.py").write_text("def f():\n    from . import b\n")
    (package / "data" / "b.py").write_text("from course_lib.data.a import f\n")
    assert problems(tmp_path) == ["import cycle: course_lib.data.a -> course_lib.data.b"]


HEAVY = ("fasttext", "mlflow", "nltk", "sklearn")


@pytest.mark.parametrize(
    "module", ["course_lib.serving.client", "course_lib.serving.limits", "course_lib.cli"]
)
def test_light_modules_do_not_load_the_ml_stack(module):
    """The HTTP client runs where no model does; `course --help` must start at once."""
    code = f"import sys, {module}; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip
    loaded = out.stdout.split()
    allowed = {"fasttext"} if module == "course_lib.cli" else set()
    assert set(loaded) <= allowed, f"{module} loads {loaded}"
