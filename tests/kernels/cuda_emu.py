"""Test tool: run spikegrad's .cu kernels on the CPU (g++ + ctypes), behind the host code.

``build(stem, outdir)`` compiles ``spikegrad/kernels/<stem>.cu`` as C++ with ``cuda_cpu.h``
and one ``extern "C"`` wrapper per template instance of the kernel table
(:data:`spikegrad.kernels.KERNELS`); the wrappers of :data:`spikegrad.kernels.COOPERATIVE`
kernels run each block's threads concurrently (see cuda_cpu.h), all others sequentially.
:class:`CpuLauncher` implements the launcher protocol of :mod:`spikegrad.kernels.host`, so
the same host code that drives the GPU drives these builds.
Before each launch it checks every argument against the kernel's C signature (array dtype vs
pointee type, exact scalar types), the check CuPy itself does not make.
"""

from __future__ import annotations

import ctypes
import hashlib
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from spikegrad import kernels as K

HERE = Path(__file__).resolve().parent
CXX = [
    "g++",
    "-std=c++20",
    "-pthread",
    "-O2",
    "-ffp-contract=off",
    "-fPIC",
    "-shared",
    "-Wall",
    "-Werror",
    "-Wno-unused-function",
]

_ARRAY_CODES = {
    "float32": "F",
    "float64": "D",
    "int32": "I",
    "int64": "Q",
    "bool": "B",
    "uint8": "B",
    "uint64": "U",
}
_SCALAR_CODES = {np.float32: "f", np.float64: "d", np.int32: "i", np.int64: "q"}
_CTYPES = {
    np.float32: ctypes.c_float,
    np.float64: ctypes.c_double,
    np.int32: ctypes.c_int,
    np.int64: ctypes.c_longlong,
}


def _launcher(expr: str) -> str:
    """sg_launch_threads for the COOPERATIVE kernels, else the sequential sg_launch."""
    return "sg_launch_threads" if expr.split("<")[0] in K.COOPERATIVE else "sg_launch"


def wrapper_source(stem: str) -> str:
    """C++ that includes the .cu file and exports a runner and a signature per instance."""
    lines = ['#include "cuda_cpu.h"', f'#include "{stem}.cu"']
    for k, expr in enumerate(K.name_expressions(stem)):
        lines.append(
            f'extern "C" void sg_run_{k}(unsigned g, unsigned b, void** a) '
            f"{{ {_launcher(expr)}(&{expr}, g, b, a); }}"
        )
        lines.append(f'extern "C" const char* sg_sig_{k}() {{ return sg_signature(&{expr}); }}')
    return "\n".join(lines) + "\n"


def build(stem: str, outdir: Path) -> subprocess.Popen | Path:
    """Start compiling ``<stem>.cu`` (returns the process), or the cached library path."""
    src = wrapper_source(stem)
    digest = hashlib.sha1(
        (
            src
            + K.source(stem)
            + (K.kernel_dir() / "common.cuh").read_text()
            + (HERE / "cuda_cpu.h").read_text()
        ).encode()
    ).hexdigest()[:12]
    lib = outdir / f"{stem}_{digest}.so"
    if lib.exists():
        return lib
    cpp = outdir / f"{stem}_{digest}.cpp"
    cpp.write_text(src)
    cmd = [
        *CXX,
        f"-DSG_BLOCK={K.BLOCK}",
        f"-I{HERE}",
        f"-I{K.kernel_dir()}",
        str(cpp),
        "-o",
        str(lib),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    proc.lib = lib  # type: ignore[attr-defined]
    return proc


class CpuLauncher:
    """Launcher protocol of spikegrad.kernels.host on top of the g++ builds."""

    def __init__(self, libs: dict[str, Path]) -> None:
        self.fns: dict[tuple[str, str], tuple[Any, str]] = {}
        self.calls: list[str] = []  # every kernel launched, in order (tests inspect it)
        for stem, path in libs.items():
            dll = ctypes.CDLL(str(path))
            for k, expr in enumerate(K.name_expressions(stem)):
                sig = getattr(dll, f"sg_sig_{k}")
                sig.restype = ctypes.c_char_p
                run = getattr(dll, f"sg_run_{k}")
                run.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p]
                run.restype = None
                self.fns[(stem, expr)] = (run, sig().decode())

    def ptr(self, a: np.ndarray) -> int:
        return int(a.ctypes.data)

    def __call__(
        self, stem: str, kernel: str, targs: tuple[str, ...], grid: int, args: tuple
    ) -> None:
        expr = K.name_expression(kernel, targs)
        run, sig = self.fns[(stem, expr)]
        if len(args) != len(sig):
            raise TypeError(f"{expr}: {len(args)} arguments for signature {sig}")
        holders = []
        for pos, (a, code) in enumerate(zip(args, sig, strict=True)):
            if isinstance(a, np.ndarray):
                got = _ARRAY_CODES.get(a.dtype.name, "?")
                if not a.flags.c_contiguous:
                    raise TypeError(f"{expr}: argument {pos} is not C-contiguous")
                holders.append(ctypes.c_void_p(a.ctypes.data))
            else:
                got = _SCALAR_CODES.get(type(a), "?")
                holders.append(_CTYPES[type(a)](a) if got != "?" else None)
            if got != code:
                raise TypeError(
                    f"{expr}: argument {pos} is {type(a).__name__} "
                    f"{getattr(a, 'dtype', '')}, the kernel wants '{code}' ({sig})"
                )
        argv = (ctypes.c_void_p * len(holders))(
            *[ctypes.cast(ctypes.pointer(h), ctypes.c_void_p) for h in holders]
        )
        if not 0 < grid <= K.MAX_GRID:
            raise ValueError(f"{expr}: grid {grid} out of range")
        self.calls.append(expr)
        run(grid, K.BLOCK, argv)
