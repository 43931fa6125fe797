"""Native CPU kernels: C twins of the NumPy backend's hottest ops, built on first use.

``cpu_ops.c`` (beside this module) holds C versions of the sparse mode's fused layer forward
(input spikes x W, and for a recurrent layer its own spikes x R, inside the LIF scan, emitting
spikes and the active set) and fused layer backward (one reverse sweep: eps, with the
recurrent term at the active entries, dW from the input spikes, dR from the layer's own
spikes, dL/dx at the previous layer's active entries), the plain LIF scan, the leaky scans,
the sampled row dot products and the two spike-event products. The first time the NumPy
backend runs one of those ops, this module compiles the file with the system C
compiler (``$CC``, else ``cc``; ``-O3 -march=native``, OpenMP when the compiler has it) into
``<user cache>/spikegrad/native/`` (key: source, flags, compiler, CPU), loads it with ctypes,
and from then on the registry (:func:`spikegrad.backend.lookup`) hands those ops to the C
versions registered in :mod:`spikegrad.ops.native`. The NumPy twins stay the reference (tests
compare the two) and the fallback.

``SPIKEGRAD_NATIVE`` (read at import) or :func:`set_mode`: ``auto`` (default: use the kernels
when they build, else warn once and use the NumPy twins), ``0`` (never), ``1`` (required: an
error when they cannot be built). Threads (the C kernels' and the NumPy ops' pool):
``SPIKEGRAD_THREADS`` or :func:`set_threads`, else ``OMP_NUM_THREADS``, else the cores this
process may use (:mod:`.threads`).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import BackendUnavailableError, ConfigError
from . import threads

MODES = ("auto", "0", "1")
SOURCES = ("cpu_ops.c", "cpu_ops.h", "cpu_input.h", "cpu_events.h")
BASE_FLAGS = ("-O3", "-ffp-contract=off", "-std=c99", "-fPIC", "-shared")
# Tried in order; the first that compiles wins (compilers without OpenMP or -march=native).
EXTRA_FLAGS = (("-march=native", "-fopenmp"), ("-fopenmp",), ("-march=native",), ())

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


def library() -> ctypes.CDLL:
    """The loaded kernel library (builds it if needed)."""
    built = _build()
    if built.lib is None:
        raise BackendUnavailableError(built.reason)
    return built.lib


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


def _declare_threads(lib: ctypes.CDLL) -> None:
    """Declare ``sg_set_num_threads`` and apply the setting to the loading thread (OpenMP keeps
    the count per thread; the others got it from the environment at load)."""
    lib.sg_set_num_threads.argtypes, lib.sg_set_num_threads.restype = [ctypes.c_int], None
    lib.sg_set_num_threads(threads.current().n)


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


def _source_dir() -> Path:
    return Path(str(resources.files(__package__)))


def _compiler() -> str | None:
    cc = os.environ.get("CC", "cc")
    return shutil.which(cc)


def _cache_dirs() -> list[Path]:
    from ..datasets.datafiles import user_cache_dir

    return [user_cache_dir() / "native", Path(tempfile.gettempdir()) / "spikegrad-native"]


def _cpu_id() -> str:
    """What -march=native depends on: the machine and, on Linux, the CPU model and flags."""
    parts = [platform.machine(), platform.system()]
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "flags", "Features")):
                parts.append(line)
            if line.strip() == "":
                break
    return "\n".join(parts)


class Built(NamedTuple):
    """The outcome of :func:`_build`: the library, or None and the reason."""

    lib: ctypes.CDLL | None
    reason: str = ""
    path: str = ""
    flags: tuple[str, ...] = ()


@functools.cache
def _build() -> Built:
    """Compile (or reuse) and load the library, once per process."""
    cc = _compiler()
    if cc is None:
        return Built(None, f"no C compiler found (looked for {os.environ.get('CC', 'cc')!r})")
    src_dir = _source_dir()
    text = b"".join((src_dir / name).read_bytes() for name in SOURCES)
    try:
        version = subprocess.run(
            [cc, "--version"], capture_output=True, text=True, timeout=30
        ).stdout.splitlines()[:1]
    except (OSError, subprocess.SubprocessError) as exc:
        return Built(None, f"C compiler {cc} does not run ({exc})")
    errors = []
    for extra in EXTRA_FLAGS:
        flags = BASE_FLAGS + extra
        key = hashlib.sha256(
            b"\0".join([text, " ".join(flags).encode(), str(version).encode(), _cpu_id().encode()])
        ).hexdigest()[:16]
        for folder in _cache_dirs():
            path = folder / f"cpu_ops-{key}.so"
            if not path.exists():
                err = _compile(cc, flags, src_dir / SOURCES[0], path)
                if err:
                    errors.append(err)
                    if err.startswith("cannot write"):
                        continue  # try the next folder
                    break  # these flags do not compile: try the next set
            try:
                with threads.load_env():
                    lib = ctypes.CDLL(str(path))
            except OSError as exc:
                errors.append(f"cannot load {path.name}: {exc}")
                continue
            _declare(lib)
            _declare_threads(lib)
            return Built(lib, path=str(path), flags=flags)
    return Built(None, f"the C compiler failed: {errors[-1] if errors else 'unknown error'}")


def _compile(cc: str, flags: tuple[str, ...], src: Path, out: Path) -> str:
    """Compile ``src`` into ``out`` through a temporary file (atomic); "" or an error line."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=out.parent)
        os.close(fd)
    except OSError as exc:
        return f"cannot write {out.parent}: {exc}"
    try:
        job = subprocess.run(
            [cc, *flags, str(src), "-o", tmp], capture_output=True, text=True, timeout=300
        )
        if job.returncode != 0:
            lines = [ln for ln in job.stderr.splitlines() if ln.strip()]
            return f"{cc} {' '.join(flags)}: {lines[0] if lines else 'exit ' + str(job.returncode)}"
        os.replace(tmp, out)
        return ""
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{cc}: {exc}"
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


_P = ctypes.c_void_p
_I64 = ctypes.c_int64
# name -> argument types after the float suffix; "F" is the float type of the instance.
SIGNATURES: dict[str, tuple[Any, ...]] = {
    # alpha of the LIF ops: a pointer to n_alpha values (1: one alpha; N: one per neuron)
    "lif_forward": (_P, _P, _I64, _I64, _P, _I64, "F"),
    "lif_spike_forward": (_P, _P, _P, _P, _I64, _I64, _I64, _P, _I64, "F", "F", "F", _P),
    # g sp idx n_act | x CSR w r s CSR | n_in n prev n_prev nt nb alpha n_alpha | dw dr dx part
    "lif_spike_backward": (
        *(_P, _P, _P, _I64),
        *(_P,) * 6,
        *(_I64, _I64, _P, _I64, _I64, _I64, _P, _I64),
        *(_P,) * 4,
    ),
    "leaky_scan_reverse": (_P, _I64, _I64, _P, _I64),
    "leaky_scan": (_P, _P, _I64, _I64, "F", "F"),
    "adam_update": (_P, _P, _P, _P, _I64, "F", "F", "F", "F", "F", "F", "F", "F", "F"),
    "gather_rowdot": (_P, _I64, _P, _P, _P, _I64, _P),
    "spike_matmul": (_P, _P, _I64, _P, _I64, _P),
    "spike_tmatmul": (_P, _P, _I64, _P, _I64, _I64, _P),
}
RETURNS_STATUS = frozenset({"spike_tmatmul", "lif_spike_backward"})  # 0, or -1: out of memory
RETURNS_POINTER = frozenset({"lif_spike_forward"})  # an sg_forward result, NULL: out of memory


def _declare(lib: ctypes.CDLL) -> None:
    for suffix, ftype in (("_f32", ctypes.c_float), ("_f64", ctypes.c_double)):
        for name, args in SIGNATURES.items():
            fn = getattr(lib, name + suffix)
            fn.argtypes = [ftype if a == "F" else a for a in args]
            fn.restype = (
                ctypes.c_int
                if name in RETURNS_STATUS
                else (_P if name in RETURNS_POINTER else None)
            )
    for name in ("sg_openmp", "sg_num_threads"):
        getattr(lib, name).restype = ctypes.c_int
    for name in ("sg_forward_chunks", "sg_backward_chunks"):
        getattr(lib, name).argtypes = [_I64]
        getattr(lib, name).restype = _I64
    lib.sg_forward_take.argtypes = [_P, _P, _P, ctypes.c_int, _P]
    lib.sg_forward_take.restype = ctypes.c_int
    lib.sg_events_csr.argtypes = [_P, _P, _P, _I64, _I64, _I64, _P, _P, _P]
    lib.sg_events_csr.restype = _I64
    lib.sg_keys_csr.argtypes = [_P, _I64, _I64, _I64, _P, _P]
    lib.sg_keys_csr.restype = None
