"""Build and load ``cochlea.c`` (the hair cell and bushy cell loop) on first use.

Self-contained for now: compiled with ``$CC`` (else ``cc``) ``-O3 -ffp-contract=off`` into
``<user cache>/spikegrad/audio/`` under a key of source, flags and compiler, loaded with ctypes.
Without a compiler :func:`library` returns None and the NumPy twin runs (same bits, slower).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..errors import BackendUnavailableError

FLAGS = ("-O3", "-ffp-contract=off", "-std=c99", "-fPIC", "-shared")
SOURCE = Path(__file__).with_name("cochlea.c")


def _cache_dir() -> Path:
    from ..datasets.datafiles import user_cache_dir

    return user_cache_dir() / "audio"


@functools.cache
def _build() -> tuple[ctypes.CDLL | None, str]:
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        return None, "no C compiler found"
    text = SOURCE.read_bytes()
    key = hashlib.sha256(text + " ".join(FLAGS).encode() + cc.encode()).hexdigest()[:16]
    for folder in (_cache_dir(), Path(tempfile.gettempdir()) / "spikegrad-audio"):
        path = folder / f"cochlea-{key}.so"
        if not path.exists():
            try:
                folder.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(suffix=".so", dir=folder)
                os.close(fd)
            except OSError:
                continue
            job = subprocess.run(
                [cc, *FLAGS, str(SOURCE), "-o", tmp], capture_output=True, text=True, timeout=120
            )
            if job.returncode:
                Path(tmp).unlink(missing_ok=True)
                return None, f"{cc} failed on {SOURCE.name}: {job.stderr.strip()[:200]}"
            os.replace(tmp, path)
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as exc:
            return None, f"cannot load {path}: {exc}"
        f = lib.sg_cochlea_hair_bushy
        f.restype = None
        f.argtypes = [
            ctypes.c_void_p,
            ctypes.c_int64,
            ctypes.c_int64,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int64,
            ctypes.c_uint64,
            ctypes.c_void_p,
        ]
        return lib, ""
    return None, "no writable folder for the compiled cochlea"


def library(required: bool = False) -> ctypes.CDLL | None:
    """The loaded library, or None (``required``: BackendUnavailableError instead)."""
    lib, reason = _build()
    if lib is None and required:
        raise BackendUnavailableError(f"audio front end: {reason}")
    return lib


def binomial_ratios(n: int) -> np.ndarray:
    """(n,) float64: (n - j) / (j + 1), the ratio of binomial terms j+1 and j over p/(1-p)."""
    j = np.arange(n, dtype=np.float64)
    return (n - j) / (j + 1)


def hair_bushy(
    lib: ctypes.CDLL, bm: np.ndarray, hair: np.ndarray, bushy: np.ndarray, n_fib: int, seed: int
) -> np.ndarray:
    """``sg_cochlea_hair_bushy`` on C-contiguous float32 ``bm`` (C, N) -> uint8 (C, N)."""
    out = np.empty(bm.shape, np.uint8)
    hair = np.ascontiguousarray(hair, np.float64)
    bushy = np.ascontiguousarray(bushy, np.float64)
    ratio = binomial_ratios(n_fib)
    lib.sg_cochlea_hair_bushy(
        bm.ctypes.data,
        bm.shape[0],
        bm.shape[1],
        hair.ctypes.data,
        bushy.ctypes.data,
        ratio.ctypes.data,
        int(n_fib),
        int(seed) & (2**64 - 1),
        out.ctypes.data,
    )
    return out
