"""Fixtures of the compatibility tests: the fake CuPy 13.3 as the "cupy" backend, its kernel
ops bound to the g++ CPU emulation of the .cu files (``emu`` of tests/kernels)."""

from __future__ import annotations

import functools
import importlib.util
import sys
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
# the session fixtures of tests/kernels: g++ builds of every .cu file and their launcher
emu_build_dir, emu_launcher = _kernels_conftest.emu_build_dir, _kernels_conftest.emu_launcher


@pytest.fixture
def emu(emu_launcher):
    """The emulation in its plain launch mode (tests/kernels runs every mode)."""
    with _kernels_conftest.emu_mode(emu_launcher, "plain") as launcher:
        yield launcher


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
    launcher = FakeDeviceLauncher(emu)
    for op, fn in host.OPS.items():  # the table launch.py registers, on the emulation
        monkeypatch.setitem(backend._REGISTRY, (op, "cupy"), functools.partial(fn, launcher))
    fake_cupy.SYNCS.reset()
    yield cp
    fake_cupy.SYNCS.reset()
