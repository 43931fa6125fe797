"""How many threads the CPU kernels use, where that number came from, and the OpenMP waits.

One setting serves the native C kernels (OpenMP) and the NumPy backend's thread pool
(:mod:`spikegrad.ops.threads`). In order of precedence:

1. :func:`spikegrad.native.set_threads` (``set_threads(None)`` goes back to the next ones);
2. ``SPIKEGRAD_THREADS`` (a positive integer);
3. ``OMP_NUM_THREADS`` (its first entry; OpenMP reads it too);
4. the cores this process may run on (``os.sched_getaffinity``; not ``os.cpu_count``: a
   container or ``taskset`` may allow fewer).

The environment is read once, on first use. The OpenMP runtime reads its own environment when
the kernel library loads: :func:`load_env` puts the chosen thread count (and
:data:`OMP_DEFAULTS`) there for that moment only, so every thread that calls a kernel sees it,
and child processes inherit nothing. After the load, ``set_threads`` changes the count through
``omp_set_num_threads``, which OpenMP applies to kernels called from the calling thread.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator, Mapping
from typing import NamedTuple

from ..errors import ConfigError

ENV = "SPIKEGRAD_THREADS"
HOW_TO_CHANGE = f"{ENV}=N in the environment, or spikegrad.native.set_threads(N)"
# Settings of the OpenMP runtime's waits that the library applies when the kernel library
# loads, only where the user has set none of OMP_WAIT_VARS: idle threads sleep instead of
# spinning (a spinning thread keeps a core from a neighbour: measured in README, "Threads").
OMP_DEFAULTS: dict[str, str] = {"OMP_WAIT_POLICY": "passive"}
# The OpenMP variables that ``spikegrad info`` and the contention benchmark report.
OMP_WAIT_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


class ThreadSetting(NamedTuple):
    """A thread count and where it came from: "set_threads()", "SPIKEGRAD_THREADS",
    "OMP_NUM_THREADS" or "affinity"."""

    n: int
    source: str


_override: int | None = None


def affinity_cores() -> int:
    """The cores this process may run on (``os.cpu_count()`` where affinity is unknown)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no sched_getaffinity (macOS, Windows)
        return os.cpu_count() or 1


def parse_count(name: str, value: str) -> int:
    """A positive thread count from the text of variable ``name``; ConfigError naming it."""
    text = value.strip()
    first = text.split(",")[0].strip() if name == "OMP_NUM_THREADS" else text
    try:
        n = int(first)
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError(f"{name} must be a positive integer (threads); got {value!r}")
    return n


def resolve(environ: Mapping[str, str], cores: int) -> ThreadSetting:
    """The setting the environment ``environ`` asks for, on a process allowed ``cores`` cores
    (empty variables count as unset)."""
    for name in (ENV, "OMP_NUM_THREADS"):
        value = environ.get(name, "")
        if value.strip():
            return ThreadSetting(parse_count(name, value), name)
    return ThreadSetting(max(1, cores), "affinity")


@functools.cache
def _from_environment() -> ThreadSetting:
    return resolve(os.environ, affinity_cores())


def current() -> ThreadSetting:
    """The setting in effect now; ConfigError when a thread variable has a bad value."""
    if _override is not None:
        return ThreadSetting(_override, "set_threads()")
    return _from_environment()


def set_override(n: int | None) -> None:
    """Record a count from :func:`spikegrad.native.set_threads` (None: back to the environment)."""
    global _override
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ConfigError(f"set_threads needs a positive integer or None; got {n!r}")
    _override = n


def omp_env(environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """The OpenMP wait variables as the kernels see them at load: the user's value, else the
    library's default from :data:`OMP_DEFAULTS`, else None (the runtime's default)."""
    env = os.environ if environ is None else environ
    if any(env.get(k) for k in OMP_WAIT_VARS):
        return {k: env.get(k) or None for k in OMP_WAIT_VARS}
    return {k: OMP_DEFAULTS.get(k) for k in OMP_WAIT_VARS}


@contextlib.contextmanager
def load_env() -> Iterator[None]:
    """While the kernel library loads: ``OMP_NUM_THREADS`` = the chosen count (unless it is the
    source) and :data:`OMP_DEFAULTS` where unset; the environment is restored afterwards."""
    setting = current()
    extra = {k: v for k, v in omp_env().items() if v is not None and not os.environ.get(k)}
    if setting.source != "OMP_NUM_THREADS":
        extra["OMP_NUM_THREADS"] = str(setting.n)
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
