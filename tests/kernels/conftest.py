"""Fixtures of the kernel tests: the NVRTC binding, the CPU emulation, the tolerance table.

The tools (``nvrtc_tool.py``, ``cuda_emu.py``, ``cuda_cpu.h``) live beside this file; they
are test tools, not backends.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spikegrad import kernels as K

HERE = Path(__file__).resolve().parent

# Normwise relative error bound max|got - ref| / max|ref| per dtype, for kernel vs twin and
# CuPy vs NumPy. float64: the two sides differ only in summation order (sequential vs pairwise
# or BLAS), so errors stay near T * N * 2**-52 ~ 1e-12 at the test sizes; 1e-9 is the issue's
# bound and leaves three decades of margin. float32: the same argument at 2**-23 gives ~1e-5
# at our sizes; 1e-4 is the bound.
TOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-4}


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


@pytest.fixture(scope="session")
def emu(tmp_path_factory):
    """A CpuLauncher over g++ builds of every .cu file (skips without g++)."""
    if shutil.which("g++") is None:
        pytest.skip("g++ not found: the CPU emulation compiles the kernels as C++")
    tool = _load("cuda_emu")
    out = tmp_path_factory.mktemp("cuda_emu")
    jobs = {stem: tool.build(stem, out) for stem in K.KERNELS}
    libs = {}
    for stem, job in jobs.items():
        if isinstance(job, subprocess.Popen):
            log, _ = job.communicate()
            assert job.returncode == 0, f"g++ failed on {stem}.cu:\n{log}"
            job = job.lib
        libs[stem] = job
    return tool.CpuLauncher(libs)


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
