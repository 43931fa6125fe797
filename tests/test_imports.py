"""The package's import graph: every module imports, no import circle among spikegrad's
modules, and the lower layers never import the higher ones at module level.

The graph comes from each module's top-level imports (AST; imports inside functions are
deferred and not edges). Importing ``a.b.c`` from outside package ``a.b`` also runs
``a.b/__init__``: an edge to each such package too, except the root ``spikegrad`` (the
public API facade every module's import passes through).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "spikegrad"
# the lower layers and what they must never import at module level
LOWER = (
    "errors",
    "checks",
    "backend",
    "spikes",
    "ops",
    "native",
    "kernels",
    "neurons",
    "layers",
    "datasets",
)
HIGHER = ("train", "cli", "bench", "workflow")


def _modules() -> dict[str, Path]:
    """{dotted name: file} of every module of the package (cli/ is spikegrad.cli)."""
    out = {}
    for base, prefix in ((PKG, "spikegrad"), (ROOT / "cli", "spikegrad.cli")):
        for path in sorted(base.rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([prefix, *parts])] = path
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(module: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The spikegrad modules a top-level import statement of ``module`` names."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.startswith("spikegrad")]
    if node.level:
        here = module.split(".") if _is_package(module) else module.split(".")[:-1]
        base = ".".join(here[: len(here) - node.level + 1])
        base = f"{base}.{node.module}" if node.module else base
    else:
        base = node.module or ""
    if not base.startswith("spikegrad"):
        return []
    names = [f"{base}.{a.name}" for a in node.names]
    return [n for n in names if n in MODULES] or [base]


def _edges(module: str, deferred: bool = False) -> set[str]:
    """The spikegrad modules ``module`` imports at module level (with ``deferred``, inside
    functions too), and the packages that importing them runs (outside its own package and
    the root)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree) if deferred else tree.body:
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        for target in _resolve(module, node):
            while target not in MODULES and "." in target:
                target = target.rsplit(".", 1)[0]
            parts = target.split(".")
            for k in range(2, len(parts) + 1):
                pkg = ".".join(parts[:k])
                if pkg in MODULES and not module.startswith(pkg + ".") and pkg != module:
                    out.add(pkg)
    return out


GRAPH = {m: _edges(m) for m in MODULES}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (as a path that returns to its start), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return [*stack[stack.index(n) :], n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def _layer(name: str) -> str:
    return name.split(".")[1] if name.count(".") else ""


def test_the_graph_sees_the_imports():
    assert "spikegrad.checks" in GRAPH["spikegrad.network"]
    assert "spikegrad.train.config" in GRAPH["spikegrad.train.run"]
    assert "spikegrad.train" in GRAPH["spikegrad.export"]  # runs train/__init__


def test_the_circle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"b"}}) == ["b", "c", "b"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle():
    assert _cycle(GRAPH) is None, " -> ".join(_cycle(GRAPH) or [])


def test_lower_layers_do_not_import_higher_ones():
    """Not at module level, and not inside a function either."""
    bad = [
        f"{m} -> {n}"
        for m in MODULES
        if _layer(m) in LOWER
        for n in _edges(m, deferred=True)
        if _layer(n) in HIGHER
    ]
    assert not bad, bad


@pytest.mark.parametrize("name", [m for m in MODULES if not m.endswith("__main__")])
def test_every_module_imports(name):
    importlib.import_module(name)
