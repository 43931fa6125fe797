"""Fixtures of the compatibility tests: the fake CuPy 13.3 as the "cupy" backend, its kernel
ops bound to the g++ CPU emulation of the .cu files (``emu`` of tests/kernels)."""

from __future__ import annotations

import ast
import functools
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from spikegrad import backend
from spikegrad.kernels import host

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import fake_cupy  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "sg_compat_kernels_conftest", HERE.parent / "kernels" / "conftest.py"
)
_kernels_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_kernels_conftest)
emu = _kernels_conftest.emu  # the session fixture: g++ builds of every .cu file


def cupy_ops() -> list[str]:
    """The ops spikegrad/kernels/launch.py registers for "cupy" (read by AST: importing it
    needs CuPy). Each has a host-glue function of the same name in spikegrad.kernels.host."""
    tree = ast.parse(Path(host.__file__).with_name("launch.py").read_text(encoding="utf-8"))
    ops = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for d in node.decorator_list:
                if isinstance(d, ast.Call) and getattr(d.func, "id", "") == "register":
                    ops.append(d.args[0].value)
    return ops


class FakeDeviceLauncher:
    """The launcher protocol of spikegrad.kernels.host over the CPU emulation, for fake
    device arrays: a host (NumPy) array passed to a kernel is an error, as on a GPU."""

    def __init__(self, cpu) -> None:
        self.cpu = cpu

    def __call__(self, stem: str, kernel: str, targs: tuple, grid: int, args: tuple) -> None:
        for pos, a in enumerate(args):
            if isinstance(a, np.ndarray):
                raise TypeError(f"{kernel}: argument {pos} is a host array")
        self.cpu(stem, kernel, targs, grid, tuple(fake_cupy.host_view(a) for a in args))

    def ptr(self, a) -> int:
        if not isinstance(a, fake_cupy.ndarray):
            raise TypeError(f"ptr of a {type(a).__name__}, not a device array")
        return a.data.ptr


@pytest.fixture
def fake_cp(monkeypatch, emu):
    """Install the fake CuPy as ``cupy`` and its kernel ops; yields the module."""
    cp = fake_cupy.make()
    monkeypatch.setitem(sys.modules, "cupy", cp)
    monkeypatch.setattr(backend, "_import_cupy", lambda: cp)
    if "spikegrad.kernels.launch" not in sys.modules:  # the real launchers need real CuPy
        monkeypatch.setitem(
            sys.modules, "spikegrad.kernels.launch", types.ModuleType("spikegrad.kernels.launch")
        )
    launcher = FakeDeviceLauncher(emu)
    for op in cupy_ops():
        fn = functools.partial(getattr(host, op), launcher)
        monkeypatch.setitem(backend._REGISTRY, (op, "cupy"), fn)
    fake_cupy.SYNCS.reset()
    yield cp
    fake_cupy.SYNCS.reset()
