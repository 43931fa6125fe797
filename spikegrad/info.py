"""What this installation can do: versions, the backend "auto" picks and why, GPU, NVRTC,
the native CPU kernels and their threads.

CuPy is imported only inside :func:`_cuda`, guarded, so this works on a CPU-only install.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from . import native
from .backend import get_backend
from .datasets import data_root
from .errors import SpikegradError
from .kernels import is_deterministic

_PACKAGES = (
    "spikegrad",
    "numpy",
    "scipy",
    "h5py",
    "click",
    "cupy-cuda12x",
    "cupy-cuda13x",
    "matplotlib",
    "torch",
)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cuda() -> dict[str, Any]:
    """GPU, driver, runtime and NVRTC facts, or the reason CuPy cannot run."""
    out: dict[str, Any] = {"cupy_usable": False}
    try:
        get_backend("cupy")
    except SpikegradError as exc:
        out["reason"] = str(exc)
        return out
    import cupy

    rt = cupy.cuda.runtime
    props = rt.getDeviceProperties(cupy.cuda.Device().id)
    name = props["name"]
    out.update(
        cupy_usable=True,
        device_count=rt.getDeviceCount(),
        gpu=name.decode() if isinstance(name, bytes) else str(name),
        compute_capability=f"{props['major']}.{props['minor']}",
        memory_gib=round(props["totalGlobalMem"] / 2**30, 1),
        driver_version=_cuda_version(rt.driverGetVersion()),
        runtime_version=_cuda_version(rt.runtimeGetVersion()),
    )
    try:
        out["nvrtc_version"] = ".".join(map(str, cupy.cuda.nvrtc.getVersion()))
    except Exception as exc:  # NVRTC library missing or broken: say so, do not fail
        out["nvrtc_version"] = None
        out["nvrtc_error"] = f"{type(exc).__name__}: {exc}"
    return out


def _cuda_version(v: int) -> str:
    return f"{v // 1000}.{v % 1000 // 10}"


def collect() -> dict[str, Any]:
    """Everything ``spikegrad info`` shows, as one JSON-friendly dict."""
    cuda = _cuda()
    auto = "cupy" if cuda["cupy_usable"] else "numpy"
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": {p: _version(p) for p in _PACKAGES},
        "auto_backend": auto,
        "auto_reason": "CuPy sees a GPU" if auto == "cupy" else cuda["reason"],
        "cuda": cuda,
        "kernel_cache_dir": os.environ.get("CUPY_CACHE_DIR")
        or str(Path.home() / ".cupy" / "kernel_cache"),
        "deterministic_kernels": is_deterministic(),
        "native_cpu_kernels": native.status(),
        "cpu_threads": native.thread_status(),
        "data_root": str(data_root()),
    }


_SOURCES = {
    "set_threads()": "set by spikegrad.native.set_threads()",
    "SPIKEGRAD_THREADS": "from SPIKEGRAD_THREADS",
    "OMP_NUM_THREADS": "from OMP_NUM_THREADS",
    "affinity": "= the cores this process may use",
}


def format_threads(t: dict[str, Any]) -> str:
    """:func:`spikegrad.native.thread_status` as one line: count, source, how to change it."""
    line = f"{t['threads']} ({_SOURCES[t['source']]}"
    if t["source"] != "affinity":
        line += f"; this process may use {t['affinity_cores']} cores"
    line += ")"
    if t["kernel_threads"] is not None and t["kernel_threads"] != t["threads"]:
        line += f", but the C kernels report {t['kernel_threads']}"
    waits = [f"{k}={v}" for k, v in t["omp_env"].items() if v is not None]
    line += f"; OpenMP waits: {', '.join(waits) or 'runtime default'}"
    return f"{line}; change: {t['change']}"


def format_info(d: dict[str, Any]) -> str:
    """``collect()`` as aligned ``key: value`` lines."""
    lines = [f"python       {d['python']} ({d['platform']})"]
    lines += [f"{k:12s} {v or 'not installed'}" for k, v in d["versions"].items()]
    lines.append(f"backend auto -> {d['auto_backend']}: {d['auto_reason']}")
    c = d["cuda"]
    if c["cupy_usable"]:
        lines += [
            f"gpu          {c['gpu']} (compute {c['compute_capability']}, {c['memory_gib']} GiB, "
            f"{c['device_count']} device(s))",
            f"cuda         driver {c['driver_version']}, runtime {c['runtime_version']}",
            f"nvrtc        {c['nvrtc_version'] or 'unavailable: ' + c.get('nvrtc_error', '')}",
        ]
    lines += [
        f"kernel cache {d['kernel_cache_dir']}",
        f"determinism  {'on: no float atomics on the GPU' if d['deterministic_kernels'] else 'off'}"
        " (SPIKEGRAD_DETERMINISTIC=0|1)",
        f"cpu kernels  {native.describe(d['native_cpu_kernels'])}",
        f"cpu threads  {format_threads(d['cpu_threads'])}",
        f"data root    {d['data_root']}",
    ]
    return "\n".join(lines)
