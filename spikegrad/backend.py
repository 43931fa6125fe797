"""The backend seam: an array module (``xp``), its sparse module, and the op registry.

Model code never branches on the device. It calls ``call(op, *args)``, which finds the
array module of the arguments and dispatches to the implementation registered for that
backend (each op family of :mod:`spikegrad.ops` registers its NumPy twin for "numpy", its
native C wrapper for "native" and its CUDA host code for "cupy" when it is loaded, so this
module imports none of them). On NumPy arrays an op with a native C kernel runs that kernel
while :func:`spikegrad.native.enabled` says so. Only this module and the kernel launcher
import CuPy.
"""

from __future__ import annotations

import functools
import itertools
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import BackendUnavailableError, ConfigError, KernelError

if TYPE_CHECKING:  # pragma: no cover
    import cupy

    Array = np.ndarray | cupy.ndarray
else:
    Array = Any

BACKENDS = ("auto", "numpy", "cupy")
CUPY_MIN = "13.3"  # the oldest CuPy admitted: the first with NumPy 2 support (cupy-cuda13x: 13.6)

_REGISTRY: dict[tuple[str, str], Callable[..., Any]] = {}
_GENERIC: set[str] = set()


@dataclass(frozen=True)
class Backend:
    """An array module, chosen once per Network."""

    name: str
    xp: ModuleType

    def asarray(self, a: Any, dtype: Any = None) -> Array:
        """Copy or move ``a`` onto this backend."""
        return self.xp.asarray(a, dtype=dtype)


def _version(v: str) -> tuple[int, int]:
    """(major, minor) of a version string such as "13.3.0" or "14.0.0rc1"; (0, 0) if unreadable."""
    m = re.match(r"(\d+)\.(\d+)", v)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def _import_cupy() -> ModuleType:
    try:
        import cupy
    except ImportError as exc:
        raise BackendUnavailableError(
            "backend 'cupy' needs CuPy: pip install 'spikegrad[cuda12]' (CUDA 12) "
            "or 'spikegrad[cuda13]' (CUDA 13)"
        ) from exc
    found = getattr(cupy, "__version__", None)  # stand-ins for CuPy may have none
    if found is not None and _version(str(found)) < _version(CUPY_MIN):
        raise BackendUnavailableError(
            f"backend 'cupy' needs CuPy >= {CUPY_MIN}, found {found}: "
            f"pip install -U 'cupy-cuda12x>={CUPY_MIN}' (CUDA 12) or 'cupy-cuda13x>=13.6' (CUDA 13)"
        )
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError when no driver is loaded
        raise BackendUnavailableError(
            f"backend 'cupy': CuPy is installed but no CUDA driver/GPU was found ({exc})"
        ) from exc
    if n < 1:
        raise BackendUnavailableError("backend 'cupy': CuPy is installed but no GPU was found")
    return cupy


def cupy_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    try:
        _import_cupy()
    except BackendUnavailableError:
        return False
    return True


@functools.cache
def _auto_note() -> None:
    warnings.warn(
        "backend='auto': no usable GPU/CuPy found, using the NumPy backend",
        RuntimeWarning,
        stacklevel=4,
    )


def get_backend(name: str = "numpy") -> Backend:
    """Resolve a backend name ("numpy", "cupy" or "auto") to a :class:`Backend`.

    "auto" picks CuPy only when a usable GPU is present, else NumPy (saying so once).
    """
    if name not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}; got {name!r}")
    if name == "auto":
        if cupy_available():
            name = "cupy"
        else:
            _auto_note()
            name = "numpy"
    if name == "numpy":
        return Backend("numpy", np)
    return Backend("cupy", _import_cupy())


def get_xp(*arrays: Any) -> ModuleType:
    """The array module of the arguments: cupy if any is a CuPy array (or a list holding one,
    looking at its first element), else numpy."""
    for a in arrays:
        if isinstance(a, (list, tuple)) and a:
            a = a[0]
        if type(a).__module__.startswith("cupy"):
            import cupy

            return cupy
    return np


def backend_name(*arrays: Any) -> str:
    """ "cupy" or "numpy", from the arguments' array types."""
    return "cupy" if get_xp(*arrays) is not np else "numpy"


def to_numpy(a: Any) -> np.ndarray:
    """A host copy of ``a`` (no copy for NumPy arrays)."""
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


class Timer:
    """Marks on the timeline of the array module's device: CUDA events on CuPy (recording
    them does not wait for the device), ``time.perf_counter`` on NumPy."""

    def __init__(self, xp: ModuleType) -> None:
        self.xp = xp
        self.marks: list[Any] = []

    def mark(self) -> None:
        """Mark now (on CuPy: when the device reaches the work queued so far)."""
        if self.xp is np:
            self.marks.append(time.perf_counter())
        else:
            event = self.xp.cuda.Event()
            event.record()
            self.marks.append(event)

    def intervals(self) -> list[float]:
        """Seconds between consecutive marks; on CuPy this waits for the last mark (one sync)."""
        if self.xp is np:
            return [b - a for a, b in itertools.pairwise(self.marks)]
        if self.marks:
            self.marks[-1].synchronize()
        return [
            self.xp.cuda.get_elapsed_time(a, b) / 1e3 for a, b in itertools.pairwise(self.marks)
        ]


def register(op: str, backend: str, *, xp_generic: bool = False) -> Callable:
    """Decorator: register ``fn`` as the implementation of ``op`` for ``backend``.

    ``xp_generic=True`` marks a NumPy twin written with ``get_xp`` that also runs on CuPy
    arrays when no CuPy kernel is registered.
    """

    def deco(fn: Callable) -> Callable:
        _REGISTRY[(op, backend)] = fn
        if xp_generic:
            _GENERIC.add(op)
        return fn

    return deco


def registered(op: str, backend: str) -> bool:
    """Whether ``op`` has an implementation registered for ``backend`` itself (no fallback,
    nothing loaded)."""
    return (op, backend) in _REGISTRY


def implementation(op: str, backend: str) -> Callable:
    """The function registered for ``op`` on ``backend`` itself (no native preference, no
    xp-generic fallback); KernelError if there is none."""
    fn = _REGISTRY.get((op, backend))
    if fn is None:
        raise KernelError(f"no implementation of op {op!r} registered for {backend!r}")
    return fn


def lookup(op: str, backend: str) -> Callable:
    """The implementation of ``op`` for ``backend`` (see :func:`register`); for "numpy",
    the native kernel of ``op`` when there is one and native kernels are enabled."""
    if backend == "numpy" and (op, "native") in _REGISTRY:
        from . import native

        if native.enabled():
            return _REGISTRY[(op, "native")]
    fn = _REGISTRY.get((op, backend))
    if fn is None and op in _GENERIC:
        fn = _REGISTRY.get((op, "numpy"))
    if fn is None:
        raise KernelError(f"no implementation of op {op!r} for backend {backend!r}")
    return fn


def call(op: str, *args: Any, **kwargs: Any) -> Any:
    """Run ``op`` on the backend of its array arguments."""
    return lookup(op, backend_name(*args))(*args, **kwargs)
