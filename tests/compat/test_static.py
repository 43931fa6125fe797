"""Every array-module attribute the package uses exists in CuPy 13.3 (the oldest admitted).

Found by AST in every module of the package: ``xp.<name>``, ``cupy.<name>`` / ``cp.<name>``,
``<anything>.xp.<name>`` (``self.backend.xp``), ``get_xp(...).<name>``, names bound to one of
those (``m = get_xp(a)``), and one level below ``cuda`` (``cupy.cuda.Event``). Each must be in
the committed snapshot (tests/compat/cupy_13.3_namespace.json).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PKG = HERE.parents[1] / "spikegrad"
SNAPSHOT = json.loads((HERE / "cupy_13.3_namespace.json").read_text(encoding="utf-8"))

# the backend-generic modules: they must exist (a rename must update this list) and are
# checked together with every other module of the package
GENERIC = (
    "network.py",
    "spikes.py",
    "ops/readout/twin.py",
    "ops/common.py",
    "ops/surrogate.py",
    "loss.py",
    "optim.py",
    "train/loop.py",
    "train/run.py",
    "train/evaluate.py",
    "train/diagnosis.py",
    "kernels/host.py",
    "ops/lif/glue.py",
    "ops/rlif/glue.py",
    "ops/spmm/glue.py",
    "ops/readout/glue.py",
    "ops/adam/glue.py",
)
_MODULE_NAMES = {"xp", "cupy", "cp"}


def _is_module(node: ast.AST, aliases: set[str]) -> bool:
    """Does ``node`` evaluate to the array module?"""
    if isinstance(node, ast.Name):
        return node.id in _MODULE_NAMES or node.id in aliases
    if isinstance(node, ast.Attribute):
        return node.attr == "xp"
    if isinstance(node, ast.Call):
        return isinstance(node.func, ast.Name) and node.func.id == "get_xp"
    return False


def array_module_names(source: str) -> list[tuple[str, str, int]]:
    """(namespace, name, line) of every array-module attribute used in ``source``; namespace
    is "cupy" or "cupy.cuda"."""
    tree = ast.parse(source)
    aliases: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _is_module(node.value, aliases):
            aliases |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or node.attr.startswith("__"):
            continue
        if _is_module(node.value, aliases) and node.attr != "xp":
            out.append(("cupy", node.attr, node.lineno))
        elif (
            isinstance(node.value, ast.Attribute)
            and node.value.attr == "cuda"
            and _is_module(node.value.value, aliases)
        ):
            out.append(("cupy.cuda", node.attr, node.lineno))
    return out


def missing(source: str) -> list[str]:
    """``namespace.name (line n)`` for every used name CuPy 13.3 lacks."""
    return [
        f"{ns}.{name} (line {line})"
        for ns, name, line in array_module_names(source)
        if name not in SNAPSHOT[ns]
    ]


def test_generic_modules_exist():
    gone = [m for m in GENERIC if not (PKG / m).is_file()]
    assert not gone, f"backend-generic modules missing (update GENERIC): {gone}"


@pytest.mark.parametrize("path", sorted(PKG.rglob("*.py")), ids=lambda p: str(p.relative_to(PKG)))
def test_only_cupy_13_3_names(path):
    assert not missing(path.read_text(encoding="utf-8")), (
        f"{path.relative_to(PKG)} uses names CuPy 13.3 does not have"
    )


def test_the_scan_is_not_vacuous():
    """It finds the array-module uses of the modules that have most of them."""
    found = {m: len(array_module_names((PKG / m).read_text(encoding="utf-8"))) for m in GENERIC}
    assert all(found[m] >= 5 for m in ("network.py", "spikes.py", "ops/spmm/glue.py")), found


@pytest.mark.parametrize(
    "snippet",
    [
        "def f(a, i, v):\n    xp = get_xp(a)\n    xp.put_along_axis(a, i, v, axis=0)\n",
        "def f(a, i, v):\n    get_xp(a).put_along_axis(a, i, v, axis=0)\n",
        "def f(self, a):\n    self.backend.xp.put_along_axis(a, 0, 0, 0)\n",
        "def f(a):\n    m = get_xp(a)\n    return m.put_along_axis\n",
        "import cupy\ncupy.put_along_axis\n",
        "import cupy as cp\ne = cp.cuda.StopWatch()\n",
    ],
)
def test_catches_names_cupy_13_3_lacks(snippet):
    assert len(missing(snippet)) == 1


def test_admits_names_cupy_13_3_has():
    src = (
        "def f(a):\n    xp = get_xp(a)\n    e = xp.cuda.Event()\n"
        "    return xp.take_along_axis(a, xp.argsort(a), 0), xp.cuda.get_elapsed_time(e, e)\n"
    )
    assert len(array_module_names(src)) == 6 and not missing(src)  # xp.cuda counts too
