"""Test tool: compile a .cu file with NVRTC through ctypes, without a GPU or CuPy.

libnvrtc comes from the ``nvidia-cuda-nvrtc`` wheel of the test extra (``nvidia/cu13/lib``),
or any libnvrtc on the loader path. ``compile_cu`` returns the CUBIN and the lowered name
of every name expression, or raises ``NvrtcError`` with the compiler log.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
from dataclasses import dataclass


class NvrtcError(RuntimeError):
    """NVRTC failed; the message holds the program log."""


def find_libnvrtc() -> str | None:
    """Path of libnvrtc from the nvidia wheels, else from the loader path, else None."""
    try:
        import nvidia

        for root in nvidia.__path__:
            hits = sorted(glob.glob(os.path.join(root, "*", "lib", "libnvrtc.so*")))
            hits = [h for h in hits if "builtins" not in h]
            if hits:
                return hits[-1]
    except ImportError:
        pass
    return ctypes.util.find_library("nvrtc")


@dataclass
class Compiled:
    cubin: bytes
    lowered: dict[str, str]
    log: str


class Nvrtc:
    """A thin ctypes binding of the NVRTC calls the tests need."""

    def __init__(self, path: str) -> None:
        self.lib = ctypes.CDLL(path)
        major, minor = ctypes.c_int(), ctypes.c_int()
        self._check(self.lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)), "nvrtcVersion")
        self.version = (major.value, minor.value)

    def _check(self, rc: int, what: str, log: str = "") -> None:
        if rc != 0:
            self.lib.nvrtcGetErrorString.restype = ctypes.c_char_p
            msg = self.lib.nvrtcGetErrorString(rc).decode()
            raise NvrtcError(f"{what}: {msg}\n{log}")

    def compile_cu(self, src: str, name: str, options: list[str], exprs: list[str]) -> Compiled:
        lib, prog = self.lib, ctypes.c_void_p()
        self._check(
            lib.nvrtcCreateProgram(ctypes.byref(prog), src.encode(), name.encode(), 0, None, None),
            "nvrtcCreateProgram",
        )
        try:
            for e in exprs:
                self._check(
                    lib.nvrtcAddNameExpression(prog, e.encode()), f"nvrtcAddNameExpression({e})"
                )
            opts = (ctypes.c_char_p * len(options))(*[o.encode() for o in options])
            rc = lib.nvrtcCompileProgram(prog, len(options), opts)
            size = ctypes.c_size_t()
            lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
            buf = ctypes.create_string_buffer(size.value)
            lib.nvrtcGetProgramLog(prog, buf)
            log = buf.value.decode(errors="replace")
            self._check(rc, f"nvrtcCompileProgram({name}, {' '.join(options)})", log)
            lowered = {}
            for e in exprs:
                out = ctypes.c_char_p()
                self._check(lib.nvrtcGetLoweredName(prog, e.encode(), ctypes.byref(out)), e)
                lowered[e] = out.value.decode()
            self._check(lib.nvrtcGetCUBINSize(prog, ctypes.byref(size)), "nvrtcGetCUBINSize")
            cubin = ctypes.create_string_buffer(size.value)
            self._check(lib.nvrtcGetCUBIN(prog, cubin), "nvrtcGetCUBIN")
            return Compiled(cubin.raw, lowered, log)
        finally:
            lib.nvrtcDestroyProgram(ctypes.byref(prog))
