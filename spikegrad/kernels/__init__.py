"""CUDA kernels of the CuPy backend: sources, their template instances and the build options.

The ``.cu`` files beside this module are the CUDA twins of :mod:`spikegrad.ops`; the
device-independent host code and the table of kernel ops live in :mod:`spikegrad.kernels.host`,
the CuPy launcher in :mod:`spikegrad.kernels.launch` (the only module here that imports CuPy,
and only on the first launch). Loading this package registers every kernel op for the "cupy"
backend (the import at the end); nothing here needs CuPy, so a CPU-only install (and the NVRTC /
CPU-emulation tests) can read the kernel table.

Deterministic mode: every kernel is deterministic except the weight gradient ``dW = x^T e1``,
the one product with float atomics. Both consumers of that product, the sparse backward's
hidden layers and the readout's ``dW_out = S^L^T dhr`` (``SpikeMatrix.tmatmul``), go through
the ``spike_tmatmul`` op (spmm.cu), which has two modes:

- deterministic (the default, see ``DETERMINISTIC_DEFAULT``): no float atomics; every output
  is a sum in an order fixed by the data alone, so results are bitwise reproducible run to
  run and on any grid. Narrow outputs (the readout's N_L x K) sum per-chunk partials of the
  CSR events in chunk order; wider ones sort the events by (column, row) on the device and
  sum fixed-length segments, cut columns fixed up in segment order (heavy columns are spread
  over many segments). Each (event, j) term is read once, as the atomic kernel adds it once;
  the extra work is the O(nnz) integer sort and partials of at most a quarter of the terms.
- atomic: ``atomicAdd`` from every (row, j) of e1; the order of the float additions, so the
  last bits, may vary from run to run.

``set_deterministic(flag)`` switches for every later launch; the environment variable
``SPIKEGRAD_DETERMINISTIC`` (1/true/yes or 0/false/no), read at import, overrides the default.
The default is one line for the GPU benchmark to settle (``python -m spikegrad.bench_gpu``
times both modes per layer).
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
        "lif_spikes_count_kernel": ("T", "I"),
        "lif_spikes_emit_kernel": ("T", "I"),
    },
    "lif_backward": {
        "delta_scatter_kernel": ("T", "I"),
        "eps_shift_scan_kernel": ("T",),
        "dense_eps_kernel": ("T",),
        "gather_rowdot_kernel": ("T", "I"),
        "gather_rowdot_warp_kernel": ("T", "I"),
    },
    "rlif": {
        "rlif_spikes_count_kernel": ("T", "I"),
        "rlif_spikes_emit_kernel": ("T", "I"),
        "rlif_backward_kernel": ("T", "I"),
    },
    "spmm": {
        "spmm_csr_kernel": ("T", "I"),
        "spmm_csr_t_atomic_kernel": ("T", "I"),
        "spmm_t_seg_kernel": ("T", "I"),
        "spmm_t_seg_fix_kernel": ("T", "I"),
        "spmm_t_chunk_kernel": ("T", "I"),
        "sum_leading_kernel": ("T",),
    },
    "readout": {
        "leaky_scan_kernel": ("T",),
        "leaky_scan_reverse_kernel": ("T",),
        "leaky_scan_reduce_kernel": ("T",),
        "leaky_scan_carry_kernel": ("T",),
        "leaky_scan_chunk_kernel": ("T",),
        "leaky_scan_reverse_reduce_kernel": ("T",),
        "leaky_scan_reverse_chunk_kernel": ("T",),
    },
    "adam": {
        "adam_update_multi_kernel": ("T",),
    },
}

# Kernels using block cooperation (warp shuffles, __syncthreads, shared memory). The CPU
# emulation of tests/kernels runs these one OS thread per CUDA thread; all others sequentially.
COOPERATIVE = frozenset(
    {
        "gather_rowdot_warp_kernel",
        "rlif_spikes_count_kernel",
        "rlif_spikes_emit_kernel",
        "rlif_backward_kernel",
    }
)

_INCLUDE = re.compile(r'^#include "(\w+\.cuh)"[ \t]*$', re.MULTILINE)

# The default dW mode. Deterministic: same float traffic as the atomic kernel without its
# hot-spot contention (the readout's ~20 x nnz atomics land on N_L x K addresses), plus an
# O(nnz) integer sort for the hidden layers. Flip to False if the GPU benchmark says so.
DETERMINISTIC_DEFAULT = True

_deterministic = os.environ.get(
    "SPIKEGRAD_DETERMINISTIC", "1" if DETERMINISTIC_DEFAULT else "0"
).lower() in ("1", "true", "yes")


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


from . import launch  # noqa: E402, F401  (registers the kernel ops for "cupy"; imports no CuPy)
