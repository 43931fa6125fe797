"""Native CPU kernels: C twins of the NumPy backend's hottest ops, built on first use.

Each op family (``spikegrad/ops/<family>/``) holds its C source beside its twin and declares,
in its ``glue.py``, the source files and the C functions it exports with :func:`c_family`
(the one place a C signature is written for ctypes). The first time the NumPy backend runs a
native op, :mod:`.build` compiles every family's source with :file:`core.h` into one library
with the system C compiler (``$CC``, else ``cc``; ``-O3 -march=native``, OpenMP when the
compiler has it) into ``<user cache>/spikegrad/native/`` (key: sources, flags, compiler,
CPU), loads it with ctypes and declares every function; from then on the registry
(:func:`spikegrad.backend.lookup`) hands those ops to the native wrappers. The NumPy twins
stay the reference (tests compare the two) and the fallback.

``SPIKEGRAD_NATIVE`` (read at import) or :func:`set_mode`: ``auto`` (default: use the kernels
when they build, else warn once and use the NumPy twins), ``0`` (never), ``1`` (required: an
error when they cannot be built). Threads (the C kernels' and the NumPy ops' pool):
``SPIKEGRAD_THREADS`` or :func:`set_threads`, else ``OMP_NUM_THREADS``, else the cores this
process may use (:mod:`.threads`). The neuron blocks of the fused layer kernels:
``SPIKEGRAD_BLOCK_KIB`` or :func:`set_block` (:mod:`.blocks`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from collections.abc import Iterator
from typing import Any

from ..errors import BackendUnavailableError, ConfigError
from . import blocks, threads
from .blocks import set_block
from .build import Built, _build, c_family, function, library

__all__ = [
    "Built",
    "blocks",
    "c_family",
    "describe",
    "enabled",
    "function",
    "library",
    "mode",
    "set_block",
    "set_mode",
    "set_threads",
    "status",
    "thread_status",
]

MODES = ("auto", "0", "1")

_mode = os.environ.get("SPIKEGRAD_NATIVE", "auto").strip().lower() or "auto"


def set_mode(mode: str) -> None:
    """Use the native kernels: "auto" (when they build), "0" (never) or "1" (required)."""
    global _mode
    mode = str(mode).strip().lower()
    if mode not in MODES:
        raise ConfigError(f"SPIKEGRAD_NATIVE must be one of {', '.join(MODES)}; got {mode!r}")
    _mode = mode


@contextlib.contextmanager
def mode(value: str) -> Iterator[None]:
    """Run a block with another mode, e.g. ``with native.mode("0"):`` for the NumPy twins."""
    old = _mode
    set_mode(value)
    try:
        yield
    finally:
        set_mode(old)


def enabled() -> bool:
    """True when the registry should hand ops to the native kernels now (builds on first call).

    Raises BackendUnavailableError in mode "1" when the kernels cannot be built.
    """
    if _checked_mode() == "0":
        return False
    built = _build()
    if built.lib is not None:
        return True
    if _mode == "1":
        raise BackendUnavailableError(f"SPIKEGRAD_NATIVE=1 but {built.reason}")
    _warn_once(built.reason)
    return False


def set_threads(n: int | None) -> None:
    """Use ``n`` threads in the CPU kernels and the NumPy ops' pool from now on (None: back to
    ``SPIKEGRAD_THREADS`` / ``OMP_NUM_THREADS`` / the cores this process may use). Once the
    kernel library is loaded, OpenMP applies it to kernels called from the calling thread."""
    threads.set_override(n)
    if _build.cache_info().currsize and (lib := _build().lib) is not None:
        lib.sg_set_num_threads(threads.current().n)


def thread_status() -> dict[str, Any]:
    """Facts for ``spikegrad info``: the thread count, its source, how to change it, the
    OpenMP wait variables, and what the C side reports when its library is loaded."""
    setting = threads.current()
    lib = _build().lib if _build.cache_info().currsize else None
    return {
        "threads": setting.n,
        "source": setting.source,
        "affinity_cores": threads.affinity_cores(),
        "kernel_threads": int(lib.sg_num_threads()) if lib is not None else None,
        "omp_env": threads.omp_env(),
        "change": threads.HOW_TO_CHANGE,
    }


def status() -> dict[str, Any]:
    """Facts for ``spikegrad info``: mode, whether the kernels run, library, flags, threads."""
    out: dict[str, Any] = {"mode": _checked_mode()}
    if _mode == "0":
        return {**out, "active": False, "reason": "disabled (SPIKEGRAD_NATIVE=0)"}
    built = _build()
    if built.lib is None:
        return {**out, "active": False, "reason": built.reason}
    return {
        **out,
        "active": True,
        "library": built.path,
        "flags": " ".join(built.flags),
        "openmp": bool(built.lib.sg_openmp()),
        "threads": int(built.lib.sg_num_threads()),
    }


def describe(st: dict[str, Any] | None = None, path: bool = True) -> str:
    """One line on the CPU ops in use, from :func:`status` (taken now when None); ``path``:
    end with the library's path."""
    st = status() if st is None else st
    if not st["active"]:
        return f"NumPy ops only: {st['reason']}"
    omp = f"OpenMP, {st['threads']} threads" if st["openmp"] else "no OpenMP: 1 thread"
    line = f"native C ({omp}; SPIKEGRAD_NATIVE={st['mode']})"
    return f"{line} {st['library']}" if path else line


def _checked_mode() -> str:
    if _mode not in MODES:
        set_mode(_mode)  # a bad SPIKEGRAD_NATIVE value: one clear error
    return _mode


@functools.cache
def _warn_once(reason: str) -> None:
    warnings.warn(
        f"spikegrad: native CPU kernels unavailable ({reason}); using the NumPy ops "
        "(slower). SPIKEGRAD_NATIVE=0 silences this.",
        RuntimeWarning,
        stacklevel=4,
    )
