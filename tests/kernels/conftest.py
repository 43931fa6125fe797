"""Fixtures of the kernel tests: the NVRTC binding, the CPU emulation, the tolerance table.

The tools (``nvrtc_tool.py``, ``cuda_emu.py``, ``cuda_cpu.h``) live beside this file; they
are test tools, not backends.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from spikegrad import kernels as K
from spikegrad.kernels import host as kernel_host
from spikegrad.ops import surrogate
from spikegrad.ops.adam import glue as adam_glue
from spikegrad.ops.lif import glue as lif_glue
from spikegrad.ops.readout import glue as readout_glue
from spikegrad.ops.rlif import glue as rlif_glue
from spikegrad.ops.spmm import glue as spmm_glue
from spikegrad.userdirs import user_cache_dir

HERE = Path(__file__).resolve().parent

# Normwise relative error bound max|got - ref| / max|ref| per dtype, for kernel vs twin and
# CuPy vs NumPy. float64: the two sides differ only in summation order (sequential vs pairwise
# or BLAS), so errors stay near T * N * 2**-52 ~ 1e-12 at the test sizes; 1e-9 is the issue's
# bound and leaves three decades of margin. float32: the same argument at 2**-23 gives ~1e-5
# at our sizes; 1e-4 is the bound.
TOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-4}


class _HostOps:
    """The CUDA host code of every op family in one namespace: ``host.<op>(launcher, ...)`` is
    the op's host function (:data:`spikegrad.kernels.host.OPS`); other names are the families'
    and :mod:`spikegrad.kernels.host`'s own, read from their module (monkeypatch the module:
    ``kernel_host``, ``spmm_glue``, ``rlif_glue``, ...)."""

    _MODULES = (kernel_host, lif_glue, rlif_glue, spmm_glue, readout_glue, adam_glue)

    def _owner(self, name: str):
        for mod in self._MODULES:
            if hasattr(mod, name):
                return mod
        raise AttributeError(name)

    def __getattr__(self, name: str):
        if name in kernel_host.OPS:
            return kernel_host.OPS[name]
        return getattr(self._owner(name), name)

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"set {name} on {self._owner(name).__name__}, not on host")


host = _HostOps()


def rel_err(got, ref) -> float:
    """max|got - ref| / max|ref| (0 for two empty arrays), computed in float64 on the host."""
    got = np.asarray(got.get() if hasattr(got, "get") else got, dtype=np.float64)
    ref = np.asarray(ref.get() if hasattr(ref, "get") else ref, dtype=np.float64)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    if ref.size == 0:
        return 0.0
    return float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-300))


def assert_close(got, ref, dtype) -> None:
    """rel_err(got, ref) <= TOL[dtype]."""
    err = rel_err(got, ref)
    assert err <= TOL[np.dtype(dtype)], f"rel. error {err:.2e} > {TOL[np.dtype(dtype)]:.0e}"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"sg_test_{name}", HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def nvrtc():
    """The ctypes NVRTC binding (skips when no libnvrtc is installed)."""
    tool = _load("nvrtc_tool")
    path = tool.find_libnvrtc()
    if path is None:
        pytest.skip("libnvrtc not found: pip install -e '.[test]' installs nvidia-cuda-nvrtc")
    return tool.Nvrtc(path)


def load_emu():
    """The cuda_emu tool module (also for the tests of the emulator itself)."""
    return sys.modules.get("sg_test_cuda_emu") or _load("cuda_emu")


def build_cache() -> Path:
    """The emulation's build cache: ``$SG_EMU_CACHE``, else a folder of the user cache. Builds
    are named by a digest of everything they are made from and renamed into place when
    complete, so sessions (and the sanitizer subprocesses) share them safely and compile a
    kernel file again only when its text, a header or the flags change."""
    cache = os.environ.get("SG_EMU_CACHE")
    path = Path(cache) if cache else user_cache_dir() / "test-emu"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def emu_build_dir() -> Path:
    """Where the emulation builds go (:func:`build_cache`)."""
    if shutil.which("g++") is None:
        pytest.skip("g++ not found: the CPU emulation compiles the kernels as C++")
    return build_cache()


@pytest.fixture(scope="session")
def emu_cache() -> Path:
    """The build folder of the subprocesses of the sanitizer and mutation tests (shared)."""
    return build_cache()


@pytest.fixture(scope="session")
def emu_launcher(emu_build_dir):
    """A CpuLauncher over g++ builds of every .cu file (of ``$SG_EMU_SRC`` if set)."""
    tool = load_emu()
    stems = os.environ.get("SG_EMU_STEMS")
    sanitize = os.environ.get("SG_EMU_SANITIZE") or None
    libs = tool.build_all(emu_build_dir, stems and stems.split(","), sanitize=sanitize)
    return tool.CpuLauncher(libs)


# Launch modes of the `emu` fixture: every kernel test runs in each (SG_EMU_MODES=a,b selects).
# plain:   the host's grid, threads in ascending order, one OS thread.
# stress:  grid capped at 1 block (every grid-stride loop iterates), threads in descending
#          order, int64 indices forced on small data (the `long long` instances).
# shuffle: grid capped at 1 block, threads in a seeded shuffled order, spread over 2 OS
#          threads that run at the same time (atomics must be atomic).
EMU_MODES = {
    "plain": dict(cap=None, int64=False, order="ascending", workers=1),
    "stress": dict(cap=1, int64=True, order="descending", workers=1),
    "shuffle": dict(cap=1, int64=False, order="shuffled", workers=2),
}


def _modes() -> list[str]:
    chosen = os.environ.get("SG_EMU_MODES")
    return chosen.split(",") if chosen else list(EMU_MODES)


# The checks of the stress and shuffle modes (grid-stride loops, int64 indices, thread order,
# concurrent workers) are the same code for both float types: those two modes run every
# float64 case, and of the float32 cases of a test only those that bring a parameter value not
# yet run (so every kernel instance and variant still runs in every mode); the plain mode runs
# all. SG_EMU_FULL=1 runs every case in every mode.
FULL = os.environ.get("SG_EMU_FULL", "") not in ("", "0")


def pytest_collection_modifyitems(config, items):
    if FULL:
        return
    keep, drop, seen = [], [], set()
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        mode = params.get("emu", "plain")
        if mode == "plain" or params.get("dtype") is not np.float32:
            keep.append(item)
            continue
        values = {
            (item.module.__name__, item.originalname, mode, k, repr(v)) for k, v in params.items()
        }
        (keep if values - seen else drop).append(item)
        seen |= values
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@contextlib.contextmanager
def emu_mode(launcher, name: str):
    """Configure launcher, host grid cap and index switch for mode ``name``; restore after."""
    mode = EMU_MODES[name]
    timeout = float(os.environ.get("SG_EMU_TIMEOUT", "10"))
    int64_from = surrogate.INT64_FROM
    launcher.configure(mode["order"], 1234, mode["workers"], timeout, name)
    surrogate.INT64_FROM = 0 if mode["int64"] else int64_from
    K.set_grid_cap(mode["cap"])
    try:
        yield launcher
    finally:
        K.set_grid_cap(None)
        surrogate.INT64_FROM = int64_from
        launcher.configure(timeout_s=timeout)


@pytest.fixture(params=_modes())
def emu(request, emu_launcher):
    """The CpuLauncher, configured for one launch mode of EMU_MODES (restored afterwards)."""
    with emu_mode(emu_launcher, request.param) as launcher:
        yield launcher


@pytest.fixture(params=[np.float64, np.float32], ids=["f64", "f32"])
def dtype(request) -> np.dtype:
    return np.dtype(request.param)


@pytest.fixture
def deterministic(request):
    """Parametrize indirectly with True/False; restores the flag afterwards."""
    old = K.is_deterministic()
    K.set_deterministic(request.param)
    yield request.param
    K.set_deterministic(old)
