"""The machine a table was measured on, read at run time, and its measured memory bandwidth.

:func:`cpu_info` reads the CPU model, the data cache sizes (L1d and L2 per core, L3 per
instance) and the SIMD instruction set (the AVX2 / AVX-512 flags) from Linux
(``/proc/cpuinfo``, ``/sys/devices/system/cpu/cpu0/cache/index*``, ``lscpu`` as a fallback);
where a figure cannot be read it says "?". :func:`header` gives the lines every benchmark table
starts with: that, the date (UTC) and the command. :func:`bandwidth` measures the copy
bandwidth (bytes read + written per second, a NumPy ``copyto`` of float32 arrays, the best of
several runs) for working sets of L2, L3 and DRAM size, the bound a memory-bound step is held
against (:mod:`.limits`).
"""

from __future__ import annotations

import datetime
import glob
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from functools import cache
from typing import Any

import numpy as np

KiB = 1024
SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni")


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _size(text: str) -> int | None:
    """ "48K", "2048K", "300 MiB", "1M" -> bytes; None if unreadable."""
    m = re.match(r"\s*([\d.]+)\s*([KMG]?)(i?B)?", text.strip(), re.I)
    if not m:
        return None
    return int(float(m.group(1)) * {"": 1, "K": KiB, "M": KiB**2, "G": KiB**3}[m.group(2).upper()])


def _lscpu() -> dict[str, str]:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in out.splitlines())}


def parse_caches(entries: list[tuple[str, str, str]]) -> dict[str, int | None]:
    """(level, type, size) of each cache of cpu0 -> {"L1d", "L2", "L3": bytes or None}."""
    out: dict[str, int | None] = {"L1d": None, "L2": None, "L3": None}
    for level, kind, size in entries:
        key = {"1": "L1d" if kind.strip() == "Data" else "", "2": "L2", "3": "L3"}.get(
            level.strip()
        )
        if key:
            out[key] = _size(size)
    return out


@cache
def cpu_info() -> dict[str, Any]:
    """{"model", "caches": {"L1d", "L2", "L3": bytes or None}, "simd": [flags], "cores"}, read
    from this machine (cached: it does not change while the process runs)."""
    cpuinfo = _read("/proc/cpuinfo")
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", cpuinfo, re.M)
    entries = [
        (_read(f"{d}/level"), _read(f"{d}/type"), _read(f"{d}/size"))
        for d in sorted(glob.glob("/sys/devices/system/cpu/cpu0/cache/index*"))
    ]
    caches = parse_caches(entries)
    ls = _lscpu() if not (model and flags and all(caches.values())) else {}
    for key, name in (("L1d", "L1d cache"), ("L2", "L2 cache"), ("L3", "L3 cache")):
        if caches[key] is None and name in ls:  # lscpu's totals: per core for L1d and L2
            n = re.search(r"\((\d+) instances?\)", ls[name])
            total = _size(ls[name])
            if total is not None:
                caches[key] = total // int(n.group(1)) if n else total
    have = set((flags.group(1) if flags else ls.get("Flags", "")).split())
    return {
        "model": (model.group(1).strip() if model else ls.get("Model name"))
        or platform.processor()
        or platform.machine(),
        "caches": caches,
        "simd": [f for f in SIMD_FLAGS if f in have] if have else None,
        "cores": os.cpu_count(),
    }


def _fmt_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, k in (("GiB", KiB**3), ("MiB", KiB**2), ("KiB", KiB)):
        if (n >= k and n % k == 0) or n >= 10 * k:
            return f"{n / k:g} {unit}"
    return f"{n} B"


def cpu_line(info: dict[str, Any] | None = None) -> str:
    """One line: model, caches (L1d and L2 per core, L3), SIMD flags, cores, OS."""
    i = info or cpu_info()
    c = i["caches"]
    simd = " ".join(i["simd"]) if i["simd"] is not None else "?"
    return (
        f"cpu: {i['model']}; L1d {_fmt_bytes(c['L1d'])}, L2 {_fmt_bytes(c['L2'])} per core, "
        f"L3 {_fmt_bytes(c['L3'])}; SIMD {simd or 'none of ' + ' '.join(SIMD_FLAGS)}; "
        f"{i['cores']} CPUs seen; {platform.system()}"
    )


def header(command: list[str] | None = None) -> list[str]:
    """The lines every benchmark table starts with: date (UTC) and command, then
    :func:`cpu_line`. ``command``: default the running process's ``sys.argv``."""
    argv = sys.argv if command is None else command
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cmd = " ".join([program(argv[0] if argv else "?"), shlex.join(argv[1:])]).rstrip()
    return [f"date: {date}; command: {cmd}", cpu_line()]


def program(argv0: str) -> str:
    """How the command was started, without this machine's paths: "spikegrad", "python -m
    spikegrad.bench" (a package's ``__main__.py``), "python tools/band_sweep.py" (a script)."""
    parent, name = os.path.split(argv0)
    pkg = os.path.basename(parent)
    if name == "__main__.py":
        return f"python -m {pkg if pkg == 'spikegrad' else 'spikegrad.' + pkg}"
    if name.endswith(".py"):
        return f"python {pkg + '/' if pkg else ''}{name}"
    return name


def copy_bandwidth(nbytes: int, min_seconds: float = 0.2, max_runs: int = 200) -> float:
    """Bytes moved per second (read + written) by ``np.copyto`` between two float32 arrays
    of ``nbytes`` // 2 bytes each (working set ``nbytes``): the fastest of repeated copies,
    run for about ``min_seconds`` (at least 3)."""
    n = max(nbytes // 8, 1024)
    src = np.ones(n, dtype=np.float32)
    dst = np.empty_like(src)
    best, spent, runs = float("inf"), 0.0, 0
    while runs < 3 or (spent < min_seconds and runs < max_runs):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        dt = time.perf_counter() - t0
        best, spent, runs = min(best, dt), spent + dt, runs + 1
    return 2 * src.nbytes / best


def working_sets(caches: dict[str, int | None]) -> dict[str, int]:
    """The probe's working set per level: half of L2 (one core's); for L3 four times L2 but at
    most half of L3 (a large shared L3, as a VM reports it, is mostly other cores' slices);
    twice L3 (DRAM; at least 256 MiB). Unknown sizes: 1 MiB L2, 32 MiB L3."""
    l2 = caches.get("L2") or KiB**2
    l3 = caches.get("L3") or 32 * KiB**2
    return {"L2": l2 // 2, "L3": min(4 * l2, l3 // 2), "DRAM": max(2 * l3, 256 * KiB**2)}


@cache
def bandwidth() -> dict[str, dict[str, float]]:
    """{"L2", "L3", "DRAM": {"working_set": bytes, "bytes_per_s": measured}} (cached: measured
    once per process)."""
    sets = working_sets(cpu_info()["caches"])
    return {
        level: {"working_set": float(ws), "bytes_per_s": copy_bandwidth(ws)}
        for level, ws in sets.items()
    }
