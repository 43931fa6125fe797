"""The CPU emulation itself: launch orders, atomics under real concurrency, strict warp
collectives and barriers (errors, not hangs), 64-bit offsets, mode coverage, sanitizers.

Probe kernels (probe.cu) test the emulator's rules directly; the package kernels are then run
where those rules matter: the atomic kernels with colliding updates from several OS threads
(a plain ``+=`` loses some), gathers at offsets beyond 2**31 elements (an int32 truncation
reads the wrong row) and the whole kernel test module under AddressSanitizer +
UndefinedBehaviorSanitizer and ThreadSanitizer (in subprocesses that preload the runtime).
test_mutations.py proves that each check fails on the bug it targets.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from spikegrad import kernels as K
from spikegrad.ops import lif as lif_twin
from spikegrad.ops import spmm as spmm_twin
from spikegrad.spikes import spike_matrix_from_keys

from .conftest import HERE, assert_close, host, load_emu

PROBES = [
    "probe_order_kernel",
    "probe_add_kernel",
    "probe_warp_kernel",
    "probe_barrier_kernel",
    "probe_undeclared_kernel",
]
PROBE_COOP = frozenset({"probe_warp_kernel", "probe_barrier_kernel"})
FULL = np.int32(-1)  # mask 0xffffffff as the kernel's int parameter


@pytest.fixture(scope="module")
def probe(emu_build_dir):
    """A CpuLauncher over probe.cu (double instances); timeouts 2 s unless a test says."""
    tool = load_emu()
    exprs = [f"{k}<double>" for k in PROBES]
    job = tool.build("probe", emu_build_dir, src=HERE, exprs=exprs, cooperative=PROBE_COOP)
    launcher = tool.CpuLauncher({"probe": tool.finish(job, "probe.cu")}, {"probe": exprs})
    launcher.configure(timeout_s=2.0)
    yield launcher
    launcher.configure()


def _run(probe, kernel, grid, *args):
    probe("probe", kernel, ("double",), grid, args)


@pytest.mark.parametrize("order", ["ascending", "descending", "shuffled"])
def test_thread_order(probe, order):
    n = 3 * K.BLOCK
    runs = []
    for _ in range(2):
        probe.configure(order, seed=7, timeout_s=2.0)
        got, counter = np.full(n, -1, np.int32), np.zeros(1, np.int32)
        _run(probe, "probe_order_kernel", 3, got, counter)
        runs.append(got)
    probe.configure(timeout_s=2.0)
    assert counter[0] == n and np.array_equal(np.sort(runs[0]), np.arange(n))
    assert np.array_equal(runs[0], runs[1])  # the shuffle is seeded
    want = {"ascending": np.arange(n), "descending": np.arange(n)[::-1]}.get(order)
    if want is not None:
        assert np.array_equal(runs[0], want)
    else:
        assert not np.array_equal(runs[0], np.arange(n))
        assert not np.array_equal(runs[0], np.arange(n)[::-1])


def test_atomics_are_atomic_and_workers_overlap(probe):
    """Two OS workers: atomicAdd loses nothing, a plain += loses updates (so races show)."""
    grid, reps = 16, 4000
    want = grid * K.BLOCK * reps / 2
    probe.configure(workers=2, timeout_s=2.0)
    try:
        out = np.zeros(2)
        _run(probe, "probe_add_kernel", grid, out, np.int32(reps), np.int32(1))
        assert np.array_equal(out, [want, want])
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 5.0:
            out = np.zeros(2)
            _run(probe, "probe_add_kernel", grid, out, np.int32(reps), np.int32(0))
            if (out < want).any():
                return
    finally:
        probe.configure(timeout_s=2.0)
    pytest.skip("two workers never overlapped in 5 s (a busy machine): only TSan sees races now")


def _warp(probe, mask, case, n=K.BLOCK):
    x = np.arange(1, n + 1, dtype=np.float64)
    out = np.full(n, -7.0)
    _run(probe, "probe_warp_kernel", 1, x, out, np.int32(np.uint32(mask).view(np.int32)), case)
    return x, out


def test_warp_collectives_honour_the_mask(probe):
    x, out = _warp(probe, 0xFFFFFFFF, np.int32(0))
    assert out[0] == x[:32].sum() and out[32] == x[32:64].sum()
    x, out = _warp(probe, 0x0000FFFF, np.int32(0))  # half-warps: lanes 16.. take no part
    assert out[0] == x[:16].sum() and out[32] == x[32:48].sum()
    assert (out[16:32] == -7.0).all() and (out[48:64] == -7.0).all()
    x, out = _warp(probe, 0x0000FFFF, np.int32(5))  # xor 1 swaps neighbours inside the mask
    assert np.array_equal(out[:16], x[:16].reshape(8, 2)[:, ::-1].ravel())
    x, out = _warp(probe, 0x00007FFF, np.int32(5))  # lane 14 would read lane 15: undefined
    assert np.isnan(out[14]) and out[13] == x[12] and (out[15:32] == -7.0).all()
    x = np.where(np.arange(K.BLOCK) % 3 == 0, 1.0, -1.0)
    out = np.zeros(K.BLOCK)
    _run(probe, "probe_warp_kernel", 1, x, out, FULL, np.int32(6))
    bits = sum(1 << q for q in range(32) if x[q] > 0)
    assert (out[:32] == bits).all()


@pytest.mark.parametrize(
    ("case", "mask", "message"),
    [
        (1, 0xFFFFFFFF, "returned from the kernel|end of the kernel"),
        (2, 0x0000FFFF, "does not name it"),
        (3, 0xFFFFFFFF, r"while lanes 0x[0-9a-f]+ of its warp wait at __shfl_down_sync \(line"),
        (4, 0xFFFFFFFF, "__syncthreads"),
        (7, 0xFFFFFFFF, "timeout after 0.2 s at __shfl_down_sync"),
    ],
    ids=["half-warp-skips", "lane-outside-mask", "two-call-sites", "shfl-vs-barrier", "late"],
)
def test_warp_errors_are_reported_not_hung(probe, case, mask, message):
    """Found as soon as the lanes meet; only the late lanes (case 7) need the timeout."""
    probe.configure(timeout_s=0.2 if case == 7 else 3.0)
    t0 = time.perf_counter()
    try:
        with pytest.raises(load_emu().EmulationError, match=message):
            _warp(probe, mask, np.int32(case))
    finally:
        probe.configure(timeout_s=2.0)
    assert time.perf_counter() - t0 < 10.0


def test_barrier_errors(probe):
    err = load_emu().EmulationError
    with pytest.raises(err, match="returned"):
        _run(probe, "probe_barrier_kernel", 2, np.zeros(2 * K.BLOCK))
    with pytest.raises(err, match="COOPERATIVE"):
        _run(probe, "probe_undeclared_kernel", 1, np.zeros(K.BLOCK))
    _warp(probe, 0xFFFFFFFF, np.int32(0))  # the launcher still works afterwards


# ------------------------------------------------------------ the package's atomic kernels
_ATOMIC = re.compile(r"\batomic[A-Z]\w*\s*\(")
_KERNEL = re.compile(r"__global__\s+void\s+__launch_bounds__\([^)]*\)\s+(\w+)\s*\(")


def _atomic_kernels() -> set[str]:
    """Kernels of the table whose body calls an atomic (source text, comments stripped)."""
    out = set()
    for stem in K.KERNELS:
        code = re.sub(r"//.*", "", K.source(stem))
        for chunk in re.split(r"\ntemplate\s*<", code):
            name = _KERNEL.search(chunk)
            if name and _ATOMIC.search(chunk):
                out.add(name.group(1))
    return out


def _collide_spike_tmatmul(emu, rng) -> tuple[np.ndarray, np.ndarray]:
    """X^T e, 3 columns hit by most rows: ~10**6 updates of 12 addresses from 100k rows."""
    n = 100_000  # long enough for the workers to overlap
    x = spike_matrix_from_keys(np, np.flatnonzero(rng.random(n * 3) < 0.9), n, 1, 3)
    e = rng.integers(-3, 4, (n, 4)).astype(np.float64)  # integer sums: exact in any order
    want = spmm_twin.spike_tmatmul(x.indptr, x.indices, e, 3)
    got = host.spike_tmatmul(emu, x.indptr, x.indices, e, 3)
    return got, want


ATOMIC_DRIVERS = {"spmm_csr_t_atomic_kernel": _collide_spike_tmatmul}


def check_atomics(launcher, repeats: int = 3) -> None:
    """Every atomic kernel's colliding driver, repeated: results exact (AssertionError)."""
    assert _atomic_kernels() <= set(ATOMIC_DRIVERS), "add a colliding driver for new atomics"
    for kernel, drive in ATOMIC_DRIVERS.items():
        for seed in range(repeats):
            got, want = drive(launcher, np.random.default_rng(seed))
            assert any(c.startswith(kernel) for c in launcher.calls[-3:])
            assert np.array_equal(got, want), f"{kernel}: lost updates"


def test_atomic_kernels_lose_no_update(emu_launcher, deterministic_off):
    """Every atomic kernel, 4 OS workers on few addresses: exact (a plain += would lose)."""
    emu_launcher.configure(workers=4, mode="atomics")
    try:
        check_atomics(emu_launcher)
    finally:
        emu_launcher.configure()


@pytest.fixture
def deterministic_off():
    old = K.is_deterministic()
    K.set_deterministic(False)
    yield
    K.set_deterministic(old)


# ------------------------------------------------------------- offsets beyond 2**31
@pytest.mark.parametrize("idx_dtype", [np.int32, np.int64])
def test_offsets_beyond_int32(emu_launcher, idx_dtype):
    """Rows 2**25.. of a (2**25 + 16, 64) float32 operand: flat offsets pass 2**31.

    The operand is 8 GiB of untouched calloc pages (virtual); only the rows used are written.
    """
    rng = np.random.default_rng(12)
    m, base = 64, 2**25
    try:
        big = np.zeros((base + 16, m), np.float32)
    except MemoryError:
        pytest.skip("this machine refuses 8 GiB of virtual memory (overcommit settings)")
    assert big.size > 2**31
    big[base:] = rng.normal(size=(16, m))
    small = rng.normal(size=(5, m)).astype(np.float32)
    rows = (base + rng.integers(0, 16, 40)).astype(idx_dtype)
    cols = rng.integers(0, 5, 40).astype(idx_dtype)
    for variant in (1, 2):
        got = host.gather_rowdot(emu_launcher, big, rows, small, cols, variant)
        assert_close(got, lif_twin.gather_rowdot(big, rows, small, cols), np.float32)
    indptr = np.array([0, 3, 3, 7], idx_dtype)
    indices = rows[:7].copy()
    got = host.spike_matmul(emu_launcher, indptr, indices, big)
    want = np.stack([big[indices[:3]].sum(0), np.zeros(m), big[indices[3:7]].sum(0)])
    assert_close(got, want, np.float32)


# --------------------------------------------------------------------- mode coverage
def test_modes_cover_every_kernel(request, emu_launcher):
    """Every kernel instance ran in every launch mode (int instances in plain, long long in
    stress), when this session ran the kernel tests (test_emulation*.py) in those modes."""
    from .conftest import EMU_MODES

    ran = emu_launcher.ran
    modes = [m for m in EMU_MODES if ran.get(m)]
    if not modes:
        pytest.skip("run with tests/kernels/test_emulation.py: no kernel test ran this session")
    for mode in modes:
        index = "long long" if mode == "stress" else "int"
        want = set()
        for table in K.KERNELS.values():
            for kernel, params in table.items():
                kinds = K.KIND_TYPES.values() if "K" in params else [None]
                pairs = (
                    K.WEIGHT_PAIRS
                    if "W" in params
                    else [(ft, None) for ft in K.FLOAT_TYPES.values()]
                )
                for ft, wt in pairs:
                    for kt in kinds:
                        types = {"K": kt, "T": ft, "W": wt, "I": index}
                        want.add(K.name_expression(kernel, tuple(types[p] for p in params)))
        missing = sorted(want - ran[mode])
        assert not missing, f"mode {mode}: these kernel instances never ran: {missing}"


# ------------------------------------------------------------------------ sanitizers
def _pytest_under(sanitize: str | None, env_extra: dict[str, str], args: list[str], cache: Path):
    """Run pytest on args in a subprocess, with the sanitizer's build and runtime if given."""
    env = dict(os.environ, SG_EMU_CACHE=str(cache), **env_extra)
    if sanitize:
        env.update(
            LD_PRELOAD=load_emu().runtime_preload(sanitize),
            ASAN_OPTIONS="detect_leaks=0",
            TSAN_OPTIONS="halt_on_error=1:exitcode=66",
            SG_EMU_SANITIZE=sanitize,
        )
    # -s: a sanitizer ends the process with its report on stderr, which capture would lose
    cmd = [sys.executable, "-m", "pytest", "-q", "-s", "-x", "-p", "no:cacheprovider", *args]
    return subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=600, cwd=HERE.parent.parent
    )


SANITIZED = [str(HERE / "test_emulation.py"), "-k", "f64 and not loss_and_grad"]


@pytest.mark.slow
def test_address_and_ub_sanitizers(emu_cache):
    """Every kernel test (float64) in the stress mode under ASan + UBSan, in a subprocess."""
    out = _pytest_under("address", {"SG_EMU_MODES": "stress"}, SANITIZED, emu_cache)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert " passed" in out.stdout


@pytest.mark.slow
def test_thread_sanitizer(emu_cache):
    """The kernels with atomics or block cooperation under TSan, with concurrent workers."""
    args = [
        str(HERE / "test_emulation.py"),
        "-k",
        "f64 and (spike_products or gather_rowdot) and not 300",
        str(HERE / "test_emulator.py") + "::test_atomic_kernels_lose_no_update",
    ]
    env = {"SG_EMU_MODES": "shuffle", "SG_EMU_STEMS": "spmm,lif_backward"}
    out = _pytest_under("thread", env, args, emu_cache)
    if "FATAL: ThreadSanitizer" in out.stderr:  # e.g. an unsupported memory layout
        pytest.skip(f"ThreadSanitizer cannot run here: {out.stderr.strip()[:300]}")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert " passed" in out.stdout
