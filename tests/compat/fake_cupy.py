"""A stand-in for CuPy 13.3 on the CPU, for running the backend-generic code without a GPU.

:func:`make` builds a module to install as ``sys.modules["cupy"]``. Its :class:`ndarray`
wraps a NumPy array (``type(a).__module__`` is "cupy", so ``spikegrad.backend.get_xp`` picks
this module) and the module exposes only names of the committed CuPy 13.3 snapshot, each
forwarding to NumPy. Where CuPy differs from NumPy, it behaves like CuPy:

* reductions and scalar indexing return 0-d arrays, never NumPy scalars;
* ``np.asarray(a)`` (implicit conversion) raises TypeError; ``a.get()`` / ``asnumpy`` copy;
* a NumPy ndarray in an operator, a ufunc or a module function (other than ``asarray`` and
  friends) raises TypeError; NumPy scalars and Python numbers are fine;
* ``np.f(a)`` dispatches to this module's ``f``, or raises TypeError when CuPy 13.3 lacks it
  (``np.put_along_axis``); ``repeat`` refuses an array of repeats with CuPy's message.

It counts host synchronisations in :data:`SYNCS`: every read of device data (``float``,
``int``, ``bool``, ``item``, ``tolist``, ``get``, ``asnumpy``, ``repr``, waiting on an event or
a stream) and the implicit ones CuPy makes where an output size depends on the data
(``nonzero``, ``flatnonzero``, ``argwhere``, ``unique``, ``compress``, ``extract``,
one-argument ``where``, boolean-mask indexing; ``bincount`` makes two).
"""

from __future__ import annotations

import json
import threading
import time
import types
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

SNAPSHOT = json.loads(
    (Path(__file__).resolve().parent / "cupy_13.3_namespace.json").read_text(encoding="utf-8")
)


class SyncCounter:
    """Host synchronisations of the main thread by reason (``total``: their number); those of
    other threads (the batch prefetcher's, which do not stall the training loop) are counted
    apart in ``background``."""

    def __init__(self) -> None:
        self.by_reason: Counter[str] = Counter()
        self.background: Counter[str] = Counter()

    def add(self, reason: str, n: int = 1) -> None:
        main = threading.current_thread() is threading.main_thread()
        (self.by_reason if main else self.background)[reason] += n

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())

    def reset(self) -> None:
        self.by_reason.clear()
        self.background.clear()


SYNCS = SyncCounter()

# functions whose output size depends on the data: CuPy reads a count back (syncs per call)
_DATA_SIZED = {
    "nonzero": 1,
    "flatnonzero": 1,
    "argwhere": 1,
    "unique": 1,
    "compress": 1,
    "extract": 1,
    "bincount": 2,  # (x < 0).any() and int(x.max()) in CuPy 13.3
}
# module functions that accept host (NumPy) arrays
_FROM_HOST = {"asarray", "array", "asanyarray", "ascontiguousarray"}


def _refuse_host(values: Any) -> None:
    for v in values:
        if isinstance(v, np.ndarray):
            raise TypeError(f"Unsupported type {type(v)}")
        if isinstance(v, (list, tuple)):
            _refuse_host(v)


def _unwrap(x: Any) -> Any:
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v) for v in x)
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _wrap(r: Any) -> Any:
    if isinstance(r, np.ndarray):
        return ndarray(r)
    if isinstance(r, np.generic):
        return ndarray(np.asarray(r))
    if isinstance(r, tuple):
        return tuple(_wrap(v) for v in r)
    if isinstance(r, list):
        return [_wrap(v) for v in r]
    return r


def _is_mask(k: Any) -> bool:
    return isinstance(k, (np.ndarray, ndarray)) and k.dtype == bool


def _index(key: Any) -> Any:
    keys = key if isinstance(key, tuple) else (key,)
    if any(_is_mask(k) for k in keys):
        SYNCS.add("boolean mask indexing")
    return _unwrap(key)


class ndarray(NDArrayOperatorsMixin):
    """A device array: a NumPy array behind CuPy's rules (see the module docstring)."""

    __module__ = "cupy"

    def __init__(self, a: np.ndarray) -> None:
        self._a = a

    # ------------------------------------------------------------------ host reads
    def get(self, stream: Any = None) -> np.ndarray:
        SYNCS.add("get")
        return self._a.copy()

    def item(self) -> Any:
        SYNCS.add("item")
        return self._a.item()

    def tolist(self) -> Any:
        SYNCS.add("tolist")
        return self._a.tolist()

    def __float__(self) -> float:
        SYNCS.add("float")
        return float(self._a)

    def __int__(self) -> int:
        SYNCS.add("int")
        return int(self._a)

    def __index__(self) -> int:
        SYNCS.add("index")
        return self._a.__index__()

    def __bool__(self) -> bool:
        SYNCS.add("bool")
        return bool(self._a)

    def __repr__(self) -> str:
        SYNCS.add("repr")
        return f"array({self._a.tolist()!r}, dtype={self._a.dtype})"

    def set(self, arr: np.ndarray, stream: Any = None) -> None:
        """A host-to-device copy (asynchronous on a GPU: no sync)."""
        if not isinstance(arr, np.ndarray) or arr.shape != self._a.shape:
            raise ValueError("ndarray.set: a host array of the same shape is needed")
        self._a[...] = arr

    def nonzero(self) -> tuple[ndarray, ...]:
        SYNCS.add("nonzero")
        return _wrap(self._a.nonzero())

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError(
            "Implicit conversion to a NumPy array is not allowed. "
            "Please use `.get()` to construct a NumPy array explicitly."
        )

    # ------------------------------------------------------------------ metadata
    @property
    def data(self) -> types.SimpleNamespace:
        return types.SimpleNamespace(ptr=self._a.ctypes.data)

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self):
        return (_wrap(v) for v in self._a)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in SNAPSHOT["cupy.ndarray"]:
            raise AttributeError(f"CuPy 13.3's ndarray has no attribute {name!r}")
        attr = getattr(self._a, name)
        if not callable(attr):
            return _wrap(attr) if isinstance(attr, np.ndarray) else attr

        def method(*args: Any, **kwargs: Any) -> Any:
            _refuse_host(args)
            _refuse_host(kwargs.values())
            if name == "repeat" and isinstance(args[0] if args else None, ndarray):
                raise ValueError("cupy.ndaray cannot be specified as `repeats` argument.")
            return _wrap(attr(*_unwrap(args), **_unwrap(kwargs)))

        return method

    # ------------------------------------------------------------------ indexing
    def __getitem__(self, key: Any) -> ndarray:
        return _wrap(self._a[_index(key)])

    def __setitem__(self, key: Any, value: Any) -> None:
        self._a[_index(key)] = _unwrap(value)

    # ------------------------------------------------------------------ NumPy protocols
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out", ())
        _refuse_host(inputs)
        _refuse_host(out)
        if ufunc.__name__ not in SNAPSHOT["cupy"]:
            raise TypeError(f"CuPy 13.3 has no ufunc {ufunc.__name__}")
        if out:
            kwargs["out"] = tuple(_unwrap(o) for o in out)
        r = getattr(ufunc, method)(*_unwrap(inputs), **kwargs)
        if out:
            return out[0] if len(out) == 1 else out
        return _wrap(r)

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        fn = MODULE.__dict__.get(func.__name__)
        if fn is None:
            raise TypeError(f"CuPy 13.3 has no {func.__name__}: numpy.{func.__name__} refused")
        return fn(*args, **kwargs)


# ufunc.at in CuPy 13.3 (its messages, in cupy/_core/_routines_indexing): the dtypes it takes
_AT_DTYPES = {
    "add": ("int32", "float16", "float32", "float64", "uint32", "uint64"),
    "subtract": ("int32", "uint32"),
    "maximum": ("int32", "float32", "float64", "uint32", "uint64"),
    "minimum": ("int32", "float32", "float64", "uint32", "uint64"),
}


class _Ufunc:
    """A ufunc of the fake module (call, reduce, accumulate, outer, at)."""

    def __init__(self, uf: np.ufunc) -> None:
        self._uf = uf
        self.__name__ = uf.__name__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _call(self._uf, "__call__", args, kwargs)

    def reduce(self, *args: Any, **kwargs: Any) -> Any:
        return _call(self._uf, "reduce", args, kwargs)

    def accumulate(self, *args: Any, **kwargs: Any) -> Any:
        return _call(self._uf, "accumulate", args, kwargs)

    def outer(self, *args: Any, **kwargs: Any) -> Any:
        return _call(self._uf, "outer", args, kwargs)

    def at(self, a: ndarray, indices: Any, b: Any = None) -> None:
        _refuse_host((a, indices, b))
        allowed = _AT_DTYPES.get(self.__name__)
        if allowed is None or np.dtype(a.dtype).name not in allowed:
            raise TypeError(f"cupy.{self.__name__}.at only supports {allowed} as data type")
        self._uf.at(_unwrap(a), _unwrap(indices), *(() if b is None else (_unwrap(b),)))


def _call(uf: np.ufunc, method: str, args: tuple, kwargs: dict) -> Any:
    _refuse_host(args)
    out = kwargs.get("out", ())
    out = out if isinstance(out, tuple) else (out,)
    if out and out != (None,):
        kwargs["out"] = tuple(_unwrap(o) for o in out)
        getattr(uf, method)(*_unwrap(args), **kwargs)
        return out[0]
    kwargs.pop("out", None)
    return _wrap(getattr(uf, method)(*_unwrap(args), **kwargs))


def _function(name: str, f: Any) -> Any:
    def fn(*args: Any, **kwargs: Any) -> Any:
        if name not in _FROM_HOST:
            _refuse_host(args)
            _refuse_host(kwargs.values())
        repeats = kwargs.get("repeats", args[1] if len(args) > 1 else None)
        if name == "repeat" and isinstance(repeats, ndarray):
            raise ValueError("cupy.ndaray cannot be specified as `repeats` argument.")
        if name in _DATA_SIZED or (name == "where" and len(args) == 1):
            SYNCS.add(name, _DATA_SIZED.get(name, 1))
        r = f(*_unwrap(args), **_unwrap(kwargs))
        if name in _FROM_HOST and not isinstance(args[0], ndarray):
            r = np.array(r, copy=True)  # host to device is a copy
        return _wrap(r)

    fn.__name__ = name
    return fn


def host_view(a: Any) -> Any:
    """The NumPy array behind a fake device array (anything else unchanged): for emulators."""
    return a._a if isinstance(a, ndarray) else a


def _asnumpy(a: Any, stream: Any = None) -> np.ndarray:
    if isinstance(a, ndarray):
        return a.get()
    return np.asarray(a)


# -------------------------------------------------------------------------- cupy.cuda
class Event:
    """cupy.cuda.Event: records a host clock (the fake device runs synchronously)."""

    def __init__(self, block: bool = False, disable_timing: bool = False, interprocess=False):
        self.t: float | None = None

    def record(self, stream: Any = None) -> None:
        self.t = time.perf_counter()

    def synchronize(self) -> None:
        SYNCS.add("Event.synchronize")

    @property
    def done(self) -> bool:
        return True


class _Context:
    def __enter__(self) -> _Context:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class Stream(_Context):
    """cupy.cuda.Stream (the null stream only)."""

    def __init__(self, null: bool = False, non_blocking: bool = False, ptr: int = 0) -> None:
        pass

    def synchronize(self) -> None:
        SYNCS.add("Stream.synchronize")


class Device(_Context):
    """cupy.cuda.Device (device 0 only)."""

    def __init__(self, device: int | None = None) -> None:
        self.id = 0


def _elapsed_ms(start: Event, end: Event) -> float:
    if start.t is None or end.t is None:
        raise RuntimeError("cudaErrorInvalidResourceHandle: event not recorded")
    return (end.t - start.t) * 1e3


def _cuda() -> types.ModuleType:
    cuda = types.ModuleType("cupy.cuda")
    parts = {
        "Event": Event,
        "Stream": Stream,
        "get_elapsed_time": _elapsed_ms,
        "get_current_stream": Stream,
        "Device": Device,
        "alloc_pinned_memory": bytearray,
        "runtime": types.SimpleNamespace(getDeviceCount=lambda: 1),
    }
    for name, value in parts.items():
        assert name in SNAPSHOT["cupy.cuda"], name
        setattr(cuda, name, value)
    return cuda


def _module() -> types.ModuleType:
    mod = types.ModuleType("cupy", "A CPU stand-in for CuPy 13.3 (tests/compat/fake_cupy.py).")
    mod.__version__ = SNAPSHOT["version"]
    special = {
        "ndarray": ndarray,
        "cuda": _cuda(),
        "asnumpy": _asnumpy,
        "get_array_module": lambda *a: mod if any(isinstance(x, ndarray) for x in a) else np,
    }
    for name in SNAPSHOT["cupy"]:
        if name in special:
            setattr(mod, name, special[name])
            continue
        f = getattr(np, name, None)
        if f is None or isinstance(f, types.ModuleType):
            continue  # CuPy-only names and submodules (linalg, random...) are not emulated
        if isinstance(f, np.ufunc):
            setattr(mod, name, _Ufunc(f))
        elif isinstance(f, type) or not callable(f):
            setattr(mod, name, f)  # dtypes (cupy.float32 is numpy.float32) and constants
        else:
            setattr(mod, name, _function(name, f))
    return mod


MODULE = _module()


def make() -> types.ModuleType:
    """The fake ``cupy`` module (one per process; :data:`SYNCS` counts its syncs)."""
    return MODULE
