"""Test tool: run spikegrad's .cu kernels on the CPU (g++ + ctypes), behind the host code.

``build(stem, outdir)`` compiles ``<stem>.cu`` as C++ with ``cuda_cpu.h`` and one
``extern "C"`` wrapper per template instance of the kernel table
(:data:`spikegrad.kernels.KERNELS`); the wrappers of :data:`spikegrad.kernels.COOPERATIVE`
kernels run each block's threads concurrently (see cuda_cpu.h), all others sequentially in a
configurable order. :class:`CpuLauncher` implements the launcher protocol of
:mod:`spikegrad.kernels.host`, so the same host code that drives the GPU drives these builds.
Before each launch it checks every argument against the kernel's C signature (array dtype vs
pointee type, exact scalar types), the check CuPy itself does not make; an error inside the
emulated grid (a broken barrier or shuffle, a timeout) raises :class:`EmulationError`.

Environment (read by ``conftest.py``, used by the mutation and sanitizer tests, which run
pytest in a subprocess): ``SG_EMU_SRC`` a folder of .cu/.cuh files to build instead of the
package's; ``SG_EMU_SANITIZE`` "address" (ASan + UBSan) or "thread" (TSan); ``SG_EMU_CACHE``
a build folder shared between runs; ``SG_EMU_STEMS`` "a,b" builds only those .cu files.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
from collections import defaultdict
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
# Extra g++ flags per sanitizer; the runtime must be preloaded into Python (runtime_preload).
SANITIZE = {
    "address": [
        "-O0",  # compiles twice as fast as -O1; the test sizes are small
        "-g",
        "-fno-omit-frame-pointer",
        "-fsanitize=address,undefined",
        "-fno-sanitize-recover=all",
    ],
    "thread": ["-O0", "-g", "-fsanitize=thread"],
}
_RUNTIME = {"address": "libasan.so", "thread": "libtsan.so"}
ORDERS = {"ascending": 0, "descending": 1, "shuffled": 2}

_ARRAY_CODES = {
    "float32": "F",
    "float64": "D",
    "int32": "I",
    "int64": "Q",
    "bool": "B",
    "uint8": "B",
    "uint64": "U",
    "float16": "H",  # a 16-bit weight copy (spikegrad/ops/half; common.cuh: sg_f16)
    "uint16": "W",  # bfloat16 bits (sg_bf16)
}
_SCALAR_CODES = {np.float32: "f", np.float64: "d", np.int32: "i", np.int64: "q"}
_CTYPES = {
    np.float32: ctypes.c_float,
    np.float64: ctypes.c_double,
    np.int32: ctypes.c_int,
    np.int64: ctypes.c_longlong,
}


class EmulationError(RuntimeError):
    """A kernel broke a CUDA rule inside the emulated grid (message from cuda_cpu.h)."""


def source_dir(stem: str) -> Path:
    """The folder of ``<stem>.cu`` to build: ``$SG_EMU_SRC`` or its op family's folder."""
    return Path(os.environ.get("SG_EMU_SRC") or K.source_path(stem).parent)


def package_sources() -> list[Path]:
    """Every .cu file of the kernel table, every shared header (.cuh) they may include and the
    neuron kinds' pieces (.h of the further include folders)."""
    dirs = {d for stem in K.KERNELS for d in K.include_dirs(stem)}
    pieces = {d for stem in K.KERNELS for d in K.include_dirs(stem)[2:]}
    cu = [K.source_path(stem) for stem in K.KERNELS]
    cuh = sorted(p for d in dirs for p in d.glob("*.cuh"))
    return cu + cuh + sorted(p for d in pieces for p in d.glob("*.h"))


def runtime_preload(sanitize: str) -> str:
    """Path of the sanitizer runtime that LD_PRELOAD must name for ctypes to load the build."""
    name = _RUNTIME[sanitize]
    out = subprocess.run(["g++", f"-print-file-name={name}"], capture_output=True, text=True)
    return out.stdout.strip()


def wrapper_source(stem: str, exprs: list[str], cooperative: frozenset[str]) -> str:
    """C++ that includes the .cu file and exports a runner and a signature per instance."""
    lines = ['#include "cuda_cpu.h"', f'#include "{stem}.cu"']
    for k, expr in enumerate(exprs):
        launch = "sg_launch_threads" if expr.split("<")[0] in cooperative else "sg_launch"
        lines.append(
            f'extern "C" int sg_run_{k}(unsigned g, unsigned b, void** a) '
            f"{{ return {launch}(&{expr}, g, b, a); }}"
        )
        lines.append(f'extern "C" const char* sg_sig_{k}() {{ return sg_signature(&{expr}); }}')
    return "\n".join(lines) + "\n"


def build(
    stem: str,
    outdir: Path,
    *,
    src: Path | None = None,
    sanitize: str | None = None,
    exprs: list[str] | None = None,
    cooperative: frozenset[str] | None = None,
) -> subprocess.Popen | Path:
    """Start compiling ``<src>/<stem>.cu`` (returns the process), or the cached library path.

    src defaults to :func:`source_dir`; headers are looked up in src, then the stem's include
    folders (:func:`spikegrad.kernels.include_dirs`); exprs and cooperative default to the
    kernel table's instances of the stem and :data:`spikegrad.kernels.COOPERATIVE` (tests of
    the emulator pass others).
    """
    src = Path(src or source_dir(stem))
    exprs = K.name_expressions(stem) if exprs is None else exprs
    coop = K.COOPERATIVE if cooperative is None else cooperative
    text = wrapper_source(stem, exprs, coop)
    flags = [*CXX, *SANITIZE.get(sanitize or "", []), f"-DSG_BLOCK={K.BLOCK}"]
    pkg = K.include_dirs(stem) if stem in K.KERNELS else [K.kernel_dir()]  # probe.cu: not
    incs = [src, *(d for d in pkg if d != src)]  # the package's headers serve the rest
    pieces = [p for d in incs for p in sorted(Path(d).glob("*.h"))]  # e.g. neurons/lif.h
    cuh = [p for d in incs for p in sorted(Path(d).glob("*.cuh"))]
    headers = "".join(p.read_text() for p in cuh + pieces)
    parts = [text, " ".join(flags), (src / f"{stem}.cu").read_text(), headers]
    parts.append((HERE / "cuda_cpu.h").read_text())
    digest = hashlib.sha1("\0".join(parts).encode()).hexdigest()[:12]
    lib = outdir / f"{stem}_{digest}.so"
    if lib.exists():
        return lib
    cpp = outdir / f"{stem}_{digest}.cpp"
    cpp.write_text(text)
    tmp = outdir / f"{stem}_{digest}.{os.getpid()}.tmp.so"  # renamed when complete
    cmd = [*flags, f"-I{HERE}", *(f"-I{d}" for d in incs), str(cpp), "-o", str(tmp)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    proc.lib = lib  # type: ignore[attr-defined]
    proc.tmp = tmp  # type: ignore[attr-defined]
    return proc


def finish(job: subprocess.Popen | Path, what: str) -> Path:
    """Wait for a build of :func:`build`; its library path (AssertionError with g++'s log)."""
    if isinstance(job, Path):
        return job
    log, _ = job.communicate()
    assert job.returncode == 0, f"g++ failed on {what}:\n{log}"
    os.replace(job.tmp, job.lib)  # type: ignore[attr-defined]
    return job.lib  # type: ignore[attr-defined]


def build_all(outdir: Path, stems: list[str] | None = None, **kw: Any) -> dict[str, Path]:
    """The stems (default: all of the kernel table), compiled in parallel (kw: see build)."""
    jobs = {stem: build(stem, outdir, **kw) for stem in stems or K.KERNELS}
    return {stem: finish(job, f"{stem}.cu") for stem, job in jobs.items()}


class CpuLauncher:
    """Launcher protocol of spikegrad.kernels.host on top of the g++ builds.

    ``mode`` labels the launches recorded in ``ran`` (mode -> kernel instances run), which
    the coverage test reads; ``calls`` lists every kernel launched, in order.
    """

    def __init__(self, libs: dict[str, Path], exprs: dict[str, list[str]] | None = None) -> None:
        self.libs = dict(libs)
        self.fns: dict[tuple[str, str], tuple[Any, str, Any]] = {}
        self.dlls: list[Any] = []
        self.calls: list[str] = []
        self.mode = "direct"
        self.ran: dict[str, set[str]] = defaultdict(set)
        for stem, path in libs.items():
            dll = ctypes.CDLL(str(path))
            dll.sg_configure.argtypes = [
                ctypes.c_int,
                ctypes.c_ulonglong,
                ctypes.c_int,
                ctypes.c_double,
            ]
            dll.sg_last_error.restype = ctypes.c_char_p
            self.dlls.append(dll)
            names = exprs[stem] if exprs is not None else K.name_expressions(stem)
            for k, expr in enumerate(names):
                sig = getattr(dll, f"sg_sig_{k}")
                sig.restype = ctypes.c_char_p
                run = getattr(dll, f"sg_run_{k}")
                run.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p]
                run.restype = ctypes.c_int
                self.fns[(stem, expr)] = (run, sig().decode(), dll)
        self.configure()

    def configure(
        self,
        order: str = "ascending",
        seed: int = 0,
        workers: int = 1,
        timeout_s: float = 10.0,
        mode: str = "direct",
    ) -> None:
        """Thread order and OS workers of sequential kernels, the wait timeout, the label."""
        for dll in self.dlls:
            dll.sg_configure(ORDERS[order], seed, workers, timeout_s)
        self.mode = mode

    def ptr(self, a: np.ndarray) -> int:
        return int(a.ctypes.data)

    def __call__(
        self, stem: str, kernel: str, targs: tuple[str, ...], grid: int, args: tuple
    ) -> None:
        expr = K.name_expression(kernel, targs)
        run, sig, dll = self.fns[(stem, expr)]
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
        self.ran[self.mode].add(expr)
        if run(grid, K.BLOCK, argv):
            raise EmulationError(f"{expr} (grid {grid}): {dll.sg_last_error().decode()}")
