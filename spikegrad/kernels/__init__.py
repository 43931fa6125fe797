"""The generic side of the CUDA kernels: the table of kernel modules, build options, the
deterministic switch and the CuPy launcher (:mod:`.launch`, module cache per device).

Each op family (``spikegrad/ops/<family>/``) keeps its ``.cu`` files beside its twin and
registers them with :func:`add_module` from its ``glue.py`` (stem -> folder, kernels and their
template parameters); its host code uses :mod:`.host` (checks, grids, :func:`.host.cuda_op`).
Shared device headers (``common.cuh``) live beside this module. Nothing here needs CuPy, so a
CPU-only install (and the NVRTC / CPU-emulation tests) can read the kernel table.

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
The default is one line for the GPU benchmark to settle (it times both modes per layer; see
docs/benchmarks.md).
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
# neuron kind -> the C++ type of its pieces (kinds.cuh), the "K" template parameter
KIND_TYPES = {"lif": "sg_lif", "cuba": "sg_cuba", "alif": "sg_alif"}
INDEX_TYPES = {np.dtype(np.int32): "int", np.dtype(np.int64): "long long"}
# the weights' storage, the "W" template parameter of a weight-reading kernel: the float type
# itself, or a 16-bit copy of float32 weights (spikegrad/ops/half; common.cuh: sg_wload)
WEIGHT_TYPES = {
    **FLOAT_TYPES,
    np.dtype(np.float16): "sg_f16",
    np.dtype(np.uint16): "sg_bf16",
}
# the (T, W) pairs instantiated (common.cuh: SG_WEIGHT_PAIRS)
WEIGHT_PAIRS = (("float", "float"), ("double", "double"), ("float", "sg_f16"), ("float", "sg_bf16"))

# stem -> kernel -> template parameters ("K": neuron kind, "T": float type, "W": the weights'
# storage, "I": index type);
# filled by the op
# families' glue (add_module), as is the folder of each stem's .cu file.
KERNELS: dict[str, dict[str, tuple[str, ...]]] = {}
_FOLDERS: dict[str, Path] = {}
_INCLUDES: dict[str, tuple[Path, ...]] = {}

# Kernels using block cooperation (warp shuffles, __syncthreads, shared memory). The CPU
# emulation of tests/kernels runs these one OS thread per CUDA thread; all others sequentially.
COOPERATIVE: set[str] = set()


def add_module(
    stem: str,
    module_file: str,
    kernels: dict[str, tuple[str, ...]],
    cooperative: tuple[str, ...] = (),
    include: tuple[Path, ...] = (),
) -> None:
    """Register ``<stem>.cu`` beside ``module_file`` with its kernels' template parameters,
    the ones of them that cooperate within a block, and further folders of headers it includes
    (e.g. the neuron kinds' pieces)."""
    KERNELS[stem] = kernels
    _FOLDERS[stem] = Path(module_file).resolve().parent
    _INCLUDES[stem] = tuple(Path(d) for d in include)
    COOPERATIVE.update(cooperative)


_INCLUDE = re.compile(r'^#include "(\w+\.(?:cuh|h))"[ \t]*(//.*)?$', re.MULTILINE)

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
    """The folder of the shared headers (``*.cuh``) that every .cu file may include."""
    return Path(str(resources.files(__name__)))


def source_path(stem: str) -> Path:
    """The path of ``<stem>.cu`` (a real path: NVRTC and the emulation include from it)."""
    return _FOLDERS[stem] / f"{stem}.cu"


def include_dirs(stem: str) -> list[Path]:
    """Where the includes of ``<stem>.cu`` are looked up: its folder, kernel_dir(), then the
    folders it was registered with."""
    return [_FOLDERS[stem], kernel_dir(), *_INCLUDES[stem]]


def source(stem: str) -> str:
    """The text of ``<stem>.cu``."""
    return source_path(stem).read_text(encoding="utf-8")


def module_source(stem: str) -> str:
    """``<stem>.cu`` with its ``#include "<name>.cuh"`` / ``"<name>.h"`` lines replaced by the
    header text.

    This is what the launcher compiles: CuPy keys its compile cache on the source text alone,
    so a changed header must change the text (a header's own includes are inlined too:
    kinds.cuh includes the kinds' pieces, once each).
    """

    def header(m: re.Match) -> str:
        for folder in include_dirs(stem):
            if (folder / m.group(1)).is_file():
                return _INCLUDE.sub(header, (folder / m.group(1)).read_text(encoding="utf-8"))
        raise FileNotFoundError(f"{stem}.cu includes {m.group(1)}, found in none of its folders")

    return _INCLUDE.sub(header, source(stem))


def options(arch: str | None = None) -> tuple[str, ...]:
    """NVRTC options of every module; ``arch`` like "sm_90" (CuPy picks the device's if None).

    ``--fmad=false`` keeps a * b + c as two roundings, as in the NumPy twins, so spikes and
    active sets agree with the twin bit for bit in float64.
    """
    opts = ("-std=c++17", "--fmad=false", f"-DSG_BLOCK={BLOCK}")
    return (*opts, f"--gpu-architecture={arch}") if arch else opts


def template_args(
    dtype: np.dtype,
    index_dtype: np.dtype | None = None,
    kind: str | None = None,
    weights: np.dtype | None = None,
) -> tuple[str, ...]:
    """C++ template arguments for a float dtype (and an index dtype), after the neuron kind's
    type when ``kind`` (a kind name) is given; with ``weights`` (a weight-reading kernel: the
    weights' dtype) the float type is followed by the weights' storage. Raises DTypeError."""
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_TYPES:
        raise DTypeError(f"CUDA kernels support float32 and float64; got {dtype}")
    args = ((KIND_TYPES[kind],) if kind is not None else ()) + (FLOAT_TYPES[dtype],)
    if weights is not None:
        pair = (FLOAT_TYPES[dtype], WEIGHT_TYPES.get(np.dtype(weights), ""))
        if pair not in WEIGHT_PAIRS:
            raise DTypeError(
                f"CUDA kernels read {dtype} weights, or float16/bfloat16 copies for float32; "
                f"got {np.dtype(weights)}"
            )
        args += (pair[1],)
    if index_dtype is None:
        return args
    index_dtype = np.dtype(index_dtype)
    if index_dtype not in INDEX_TYPES:
        raise DTypeError(f"CUDA kernels support int32 and int64 indices; got {index_dtype}")
    return (*args, INDEX_TYPES[index_dtype])


def name_expression(kernel: str, targs: tuple[str, ...]) -> str:
    """``kernel<float, int>``: the name NVRTC lowers and CuPy looks up."""
    return f"{kernel}<{', '.join(targs)}>"


def name_expressions(stem: str) -> list[str]:
    """Every explicitly instantiated kernel of ``<stem>.cu``."""
    out = []
    for kernel, params in KERNELS[stem].items():
        types = {"K": KIND_TYPES, "T": FLOAT_TYPES, "W": WEIGHT_TYPES, "I": INDEX_TYPES}
        for combo in itertools.product(*(types[p].values() for p in params)):
            tw = tuple(c for p, c in zip(params, combo, strict=True) if p in "TW")
            if "W" not in params or tw in WEIGHT_PAIRS:
                out.append(name_expression(kernel, combo))
    return out
