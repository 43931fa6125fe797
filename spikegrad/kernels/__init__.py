"""CUDA kernels of the CuPy backend: sources, their template instances and the build options.

The ``.cu`` files beside this module are the CUDA twins of :mod:`spikegrad.ops`; the CuPy
launchers live in :mod:`spikegrad.kernels.launch` (the only module here that imports CuPy) and
the device-independent host code in :mod:`spikegrad.kernels.host`. This module is pure Python,
so a CPU-only install (and the NVRTC / CPU-emulation tests) can read the kernel table.

Deterministic mode: by default the weight gradient of the sparse backward (``dW = x^T e1``)
accumulates with float ``atomicAdd``, so its last bits may vary from run to run. With
``set_deterministic(True)``, or the environment variable ``SPIKEGRAD_DETERMINISTIC=1`` read at
import, that product instead sorts the spike events by column (a radix sort, deterministic) and
sums each output entry sequentially: no float atomics. Every other kernel is deterministic in
both modes. (Products the engine still hands to cuSPARSE, such as ``SpikeMatrix.tmatmul`` for
the readout's weight gradient, are outside this guarantee unless they call the
``spike_matmul`` / ``spike_tmatmul`` ops.)
"""

from __future__ import annotations

import itertools
import os
import re
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import DTypeError

BLOCK = 256  # threads per block; passed to NVRTC as -DSG_BLOCK (__launch_bounds__)
MAX_GRID = 1 << 16  # blocks per launch at most; every kernel loops grid-stride

FLOAT_TYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
INDEX_TYPES = {np.dtype(np.int32): "int", np.dtype(np.int64): "long long"}

# stem -> kernel -> template parameters ("T": float type, "I": index type)
KERNELS: dict[str, dict[str, tuple[str, ...]]] = {
    "lif": {
        "lif_forward_kernel": ("T",),
        "lif_count_kernel": ("T",),
        "lif_emit_kernel": ("T", "I"),
    },
    "lif_backward": {
        "delta_scatter_kernel": ("T", "I"),
        "eps_shift_scan_kernel": ("T",),
        "dense_eps_kernel": ("T",),
        "gather_rowdot_kernel": ("T", "I"),
        "gather_rowdot_warp_kernel": ("T", "I"),
    },
    "spmm": {
        "spmm_csr_kernel": ("T", "I"),
        "spmm_csr_t_atomic_kernel": ("T", "I"),
    },
    "readout": {
        "leaky_scan_kernel": ("T",),
        "leaky_scan_reverse_kernel": ("T",),
    },
    "adam": {
        "adam_update_multi_kernel": ("T",),
    },
}

# Kernels using block cooperation (warp shuffles, __syncthreads, shared memory). The CPU
# emulation of tests/kernels runs these one OS thread per CUDA thread; all others sequentially.
COOPERATIVE = frozenset({"gather_rowdot_warp_kernel"})

_INCLUDE = re.compile(r'^#include "(\w+\.cuh)"[ \t]*$', re.MULTILINE)

_deterministic = os.environ.get("SPIKEGRAD_DETERMINISTIC", "0").lower() in ("1", "true", "yes")


def set_deterministic(flag: bool) -> None:
    """Select the deterministic kernels (no float atomics) for every later launch."""
    global _deterministic
    _deterministic = bool(flag)


def is_deterministic() -> bool:
    """True when the deterministic kernels are selected (see the module docstring)."""
    return _deterministic


# --- test hook (tests/kernels): the CPU emulation caps launches at 1 block, so that every
# grid-stride loop of every kernel runs more than one pass on small data.
_grid_cap = MAX_GRID


def set_grid_cap(blocks: int | None) -> None:
    """Cap every launch at ``blocks`` blocks (None: MAX_GRID). A test hook."""
    global _grid_cap
    _grid_cap = MAX_GRID if blocks is None else max(1, min(int(blocks), MAX_GRID))


def grid_cap() -> int:
    """The most blocks a launch gets (MAX_GRID unless a test lowered it)."""
    return _grid_cap


# --- end of test hook


def kernel_dir() -> Path:
    """The folder holding the .cu/.cuh files (a real path: NVRTC includes from it)."""
    return Path(str(resources.files(__name__)))


def source(stem: str) -> str:
    """The text of ``<stem>.cu``."""
    return resources.files(__name__).joinpath(f"{stem}.cu").read_text(encoding="utf-8")


def module_source(stem: str) -> str:
    """``<stem>.cu`` with its ``#include "<name>.cuh"`` lines replaced by the header text.

    This is what the launcher compiles: CuPy keys its compile cache on the source text alone,
    so a changed header must change the text (the headers include nothing local themselves).
    """
    pkg = resources.files(__name__)
    return _INCLUDE.sub(
        lambda m: pkg.joinpath(m.group(1)).read_text(encoding="utf-8"), source(stem)
    )


def options(arch: str | None = None) -> tuple[str, ...]:
    """NVRTC options of every module; ``arch`` like "sm_90" (CuPy picks the device's if None).

    ``--fmad=false`` keeps a * b + c as two roundings, as in the NumPy twins, so spikes and
    active sets agree with the twin bit for bit in float64.
    """
    opts = ("-std=c++17", "--fmad=false", f"-DSG_BLOCK={BLOCK}")
    return (*opts, f"--gpu-architecture={arch}") if arch else opts


def template_args(dtype: np.dtype, index_dtype: np.dtype | None = None) -> tuple[str, ...]:
    """C++ template arguments for a float dtype (and an index dtype). Raises DTypeError."""
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_TYPES:
        raise DTypeError(f"CUDA kernels support float32 and float64; got {dtype}")
    if index_dtype is None:
        return (FLOAT_TYPES[dtype],)
    index_dtype = np.dtype(index_dtype)
    if index_dtype not in INDEX_TYPES:
        raise DTypeError(f"CUDA kernels support int32 and int64 indices; got {index_dtype}")
    return FLOAT_TYPES[dtype], INDEX_TYPES[index_dtype]


def name_expression(kernel: str, targs: tuple[str, ...]) -> str:
    """``kernel<float, int>``: the name NVRTC lowers and CuPy looks up."""
    return f"{kernel}<{', '.join(targs)}>"


def name_expressions(stem: str) -> list[str]:
    """Every explicitly instantiated kernel of ``<stem>.cu``."""
    out = []
    for kernel, params in KERNELS[stem].items():
        choices = [FLOAT_TYPES.values() if p == "T" else INDEX_TYPES.values() for p in params]
        out += [name_expression(kernel, combo) for combo in itertools.product(*choices)]
    return out
