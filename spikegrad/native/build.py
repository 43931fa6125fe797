"""The native library: the op families' C sources and function declarations, compiled into
one shared library and loaded with ctypes, once per process.

A family declares itself with :func:`c_family` (from its ``glue.py``, at import): the source
files beside it, untyped ones (included once), typed ones (included once per float type
after :file:`typed.h`, with ``SG_T``, ``SG_FN`` ... set) and per-kind ones (drivers written
over a neuron kind's pieces, included once per float type and kind of :data:`KINDS`, after the
kind's header ``spikegrad/neurons/<kind>.h``), and the C functions it exports, each as
``name: (return code, argument codes)``; codes: ``p`` pointer, ``i64`` int64_t, ``int`` int,
``F`` the float type of the instance, ``void`` (return only). A typed function ``f`` is
exported as ``f_f32`` and ``f_f64``, a per-kind one as ``<kind>_f_f32`` ... :func:`function`
returns the declared ctypes function.

Sources that read weights (``typed_weights``, ``per_kind_weights``) are included once more per
weight storage of :data:`WEIGHT_MACROS` (float32: float, and the 16-bit copies of
spikegrad/ops/half), their functions (named in ``reads_weights``) exported as ``f_f32``,
``f_f32h`` (float16 weights), ``f_f32b`` (bfloat16 weights) and ``f_f64``.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..errors import BackendUnavailableError
from ..userdirs import user_cache_dir
from . import threads

BASE_FLAGS = ("-O3", "-ffp-contract=off", "-std=c99", "-fPIC", "-shared")
# Tried in order; the first that compiles wins (compilers without OpenMP or -march=native).
EXTRA_FLAGS = (("-march=native", "-fopenmp"), ("-fopenmp",), ("-march=native",), ())
HERE = Path(__file__).resolve().parent
NEURONS = HERE.parent / "neurons"
KINDS = (
    "lif",
    "cuba",
    "alif",
)  # the neuron kinds whose C pieces (neurons/<kind>.h) the drivers take
# Per float type: the macros a typed source sees.
FLOAT_MACROS = {
    "_f32": {"SG_T": "float", "SG_SQRT": "sqrtf", "SG_V": "sg_vec_f32", "SG_TINY": "FLT_MIN"},
    "_f64": {"SG_T": "double", "SG_SQRT": "sqrt", "SG_V": "sg_vec_f64", "SG_TINY": "DBL_MIN"},
}
SUFFIX = {np.dtype(np.float32): "_f32", np.dtype(np.float64): "_f64"}
# Per float type: the weight storages of the weight-reading sources (SG_W the stored element,
# SG_WSUF appended to the instance's name, SG_WVEC(p) the SG_V of floats at p, SG_WGET(x) one
# stored element as SG_T); "" reads SG_T itself, so its instance is the plain typed one.
_PLAIN = {"SG_W": "SG_T", "SG_WVEC(p)": "(*(const SG_V *)(p))", "SG_WGET(x)": "(x)"}
_HALF = {"SG_W": "uint16_t"}
WEIGHT_MACROS = {
    "_f32": {
        "": _PLAIN,
        "h": {**_HALF, "SG_WVEC(p)": "sg_fp16_vec(p)", "SG_WGET(x)": "sg_fp16(x)"},
        "b": {**_HALF, "SG_WVEC(p)": "sg_bf16_vec(p)", "SG_WGET(x)": "sg_bf16(x)"},
    },
    "_f64": {"": _PLAIN},
}
WEIGHT_SUFFIX = {np.dtype(np.float16): "h", np.dtype(np.uint16): "b"}  # ops/half storage
_CODES: dict[str, Any] = {"p": ctypes.c_void_p, "i64": ctypes.c_int64, "int": ctypes.c_int}
_CODES["u64"] = ctypes.c_uint64  # code u64: uint64_t (ops/cochlea: a generator seed)


@dataclass
class _Table:
    """Every family's sources (in declaration order) and functions."""

    once: list[Path] = field(default_factory=list)
    typed: list[Path] = field(default_factory=list)
    per_kind: list[Path] = field(default_factory=list)
    typed_weights: list[Path] = field(default_factory=list)
    per_kind_weights: list[Path] = field(default_factory=list)
    functions: dict[str, tuple[str, str, bool]] = field(default_factory=dict)
    weighted: set[str] = field(default_factory=set)  # instantiated per weight storage too


_TABLE = _Table()


def c_family(
    module_file: str,
    *,
    once: tuple[str, ...] = (),
    typed: tuple[str, ...] = (),
    per_kind: tuple[str, ...] = (),
    typed_weights: tuple[str, ...] = (),
    per_kind_weights: tuple[str, ...] = (),
    functions: dict[str, tuple[str, str]] | None = None,
    typed_functions: dict[str, tuple[str, str]] | None = None,
    kind_functions: dict[str, tuple[str, str]] | None = None,
    reads_weights: tuple[str, ...] = (),
) -> None:
    """Add a family's C sources (file names beside ``module_file``) and exported functions;
    ``reads_weights``: the typed or per-kind functions (of ``typed_weights`` and
    ``per_kind_weights``) instantiated per weight storage too."""
    if _build.cache_info().currsize:
        raise RuntimeError("c_family after the native library was built")
    folder = Path(module_file).resolve().parent
    for names, into in (
        (once, _TABLE.once),
        (typed, _TABLE.typed),
        (per_kind, _TABLE.per_kind),
        (typed_weights, _TABLE.typed_weights),
        (per_kind_weights, _TABLE.per_kind_weights),
    ):
        into += [folder / n for n in names if folder / n not in into]
    for name in reads_weights:
        if name in (typed_functions or {}):
            _TABLE.weighted.add(name)
        elif name in (kind_functions or {}):
            _TABLE.weighted |= {f"{kind}_{name}" for kind in KINDS}
        else:
            raise ValueError(f"reads_weights: {name!r} is no typed or per-kind function here")
    kinds = {
        f"{kind}_{name}": sig for kind in KINDS for name, sig in (kind_functions or {}).items()
    }
    for table, is_typed in ((functions or {}, False), ({**(typed_functions or {}), **kinds}, True)):
        for name, (ret, args) in table.items():
            _TABLE.functions[name] = (ret, args, is_typed)


def sources() -> list[Path]:
    """Every C file of the library (in the order of the translation unit)."""
    kinds = [NEURONS / f"{kind}.h" for kind in KINDS]
    return [
        HERE / "core.h",
        *_TABLE.once,
        HERE / "typed.h",
        *_TABLE.typed,
        *_TABLE.typed_weights,
        *kinds,
        *_TABLE.per_kind,
        *_TABLE.per_kind_weights,
    ]


def _with_weights(suffix: str, files: list[Path]) -> list[str]:
    """The lines that include ``files`` once per weight storage of float type ``suffix``."""
    lines: list[str] = []
    for wsuf, macros in WEIGHT_MACROS[suffix].items():
        lines += [f"#define {k} {v}" for k, v in macros.items()] + [f"#define SG_WSUF {wsuf}"]
        lines += [f'#include "{p}"' for p in files]
        lines += [f"#undef {k.split('(')[0]}" for k in (*macros, "SG_WSUF")]
    return lines


def translation_unit() -> str:
    """The C text compiled: core.h, the untyped sources, then per float type the typed ones (and
    the weight-reading ones per weight storage) and, per neuron kind, its header and the
    per-kind drivers (and the weight-reading ones per weight storage)."""
    lines = [f'#include "{HERE / "core.h"}"']
    lines += [f'#include "{p}"' for p in _TABLE.once]
    for suffix, macros in FLOAT_MACROS.items():
        lines += [f"#define {k} {v}" for k, v in macros.items()] + [f"#define SG_SUF {suffix}"]
        lines += [f'#include "{p}"' for p in (HERE / "typed.h", *_TABLE.typed)]
        lines += _with_weights(suffix, _TABLE.typed_weights)
        for kind in KINDS:
            lines += [f"#define SG_KIND_NAME {kind}", f'#include "{NEURONS / f"{kind}.h"}"']
            lines += [f'#include "{p}"' for p in _TABLE.per_kind]
            lines += [*_with_weights(suffix, _TABLE.per_kind_weights), "#undef SG_KIND_NAME"]
        lines += [f"#undef {k}" for k in (*macros, "SG_SUF")]
    return "\n".join(lines) + "\n"


def function(name: str, dtype: Any = None, weights: Any = None) -> Any:
    """The declared ctypes function ``name`` (typed: the instance of float ``dtype``; one that
    reads weights: of the weights' dtype ``weights``, a 16-bit copy or None/``dtype`` itself)."""
    lib = library()
    if dtype is None:
        return getattr(lib, name)
    wsuf = "" if weights is None else WEIGHT_SUFFIX.get(np.dtype(weights), "")
    return getattr(lib, name + SUFFIX[np.dtype(dtype)] + wsuf)


def library() -> ctypes.CDLL:
    """The loaded library (built if needed); BackendUnavailableError with the reason when it
    cannot be built."""
    built = _build()
    if built.lib is None:
        raise BackendUnavailableError(built.reason)
    return built.lib


def _declare(lib: ctypes.CDLL, prefix: str = "") -> None:
    """Declare every function (those whose name starts with ``prefix``) and apply the thread
    setting."""
    for name, (ret, args, is_typed) in _TABLE.functions.items():
        if not name.startswith(prefix):
            continue
        for suffix, ftype in (("_f32", ctypes.c_float), ("_f64", ctypes.c_double)):
            codes = {**_CODES, "F": ftype}
            wsufs = WEIGHT_MACROS[suffix] if name in _TABLE.weighted else ("",)
            for wsuf in wsufs:
                fn = getattr(lib, name + suffix + wsuf if is_typed else name)
                fn.argtypes = [codes[c] for c in args.split()]
                fn.restype = None if ret == "void" else codes[ret]
            if not is_typed:
                break
    threads_fns = {"sg_openmp": [], "sg_num_threads": [], "sg_set_num_threads": [ctypes.c_int]}
    for name, argtypes in threads_fns.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = argtypes, (None if argtypes else ctypes.c_int)
    lib.sg_set_num_threads(threads.current().n)  # OpenMP keeps the count per thread


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CC", "cc"))


def _cache_dirs() -> list[Path]:
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
    unit = translation_unit()
    text = b"".join([unit.encode(), *(p.read_bytes() for p in sources())])
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
                err = _compile(cc, flags, unit, path)
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
            return Built(lib, path=str(path), flags=flags)
    return Built(None, f"the C compiler failed: {errors[-1] if errors else 'unknown error'}")


def _compile(cc: str, flags: tuple[str, ...], unit: str, out: Path) -> str:
    """Compile the C text ``unit`` into ``out`` through temporary files (atomic); "" or an
    error line."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=out.parent)
        os.close(fd)
    except OSError as exc:
        return f"cannot write {out.parent}: {exc}"
    src = Path(tmp).with_suffix(".c")
    try:
        src.write_text(unit)
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
        for p in (tmp, src):
            with contextlib.suppress(OSError):
                os.unlink(p)
