"""The GPU-only glue of the GPU report (CUDA-event clock, copy bandwidth, pool peak), run
against a minimal stand-in for the few ``cupy`` names it uses. Only the arithmetic and the
calls are checked here; tools/gpu_check.sh runs them on a GPU."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from spikegrad.bench import gpu, timing


class _Event:
    clock = 0.0  # ms; every record advances the fake device clock by 2 ms

    def record(self) -> None:
        _Event.clock += 2.0
        self.t = _Event.clock

    def synchronize(self) -> None:
        self.synced = True


class _Hook:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


class _Pool:
    used = 100

    def used_bytes(self) -> int:
        return self.used

    def free_all_blocks(self) -> None:
        pass


@pytest.fixture
def fake_cupy(monkeypatch):
    cp = types.ModuleType("cupy")
    cp.cuda = types.SimpleNamespace(
        Event=_Event,
        get_elapsed_time=lambda a, b: b.t - a.t,
        MemoryHook=_Hook,
        Device=lambda: types.SimpleNamespace(synchronize=lambda: None),
    )
    cp.ones, cp.empty_like, cp.copyto = np.ones, np.empty_like, np.copyto
    cp.get_default_memory_pool = _Pool
    monkeypatch.setitem(sys.modules, "cupy", cp)
    return cp


def test_cupy_clock_times_between_events(fake_cupy):
    clock = timing.CupyClock()
    a, b = clock.mark(), clock.mark()
    assert clock.elapsed(a, b) == pytest.approx(2e-3) and b.synced


def test_copy_bandwidth_counts_read_and_write(fake_cupy):
    # each copy takes 2 ms on the fake clock: 2 * 1 MiB / 2 ms
    assert gpu.copy_bandwidth(1 << 20, repeats=4) == pytest.approx(2 * (1 << 20) / 2e-3 / 1e9)


def test_peak_hook_tracks_the_largest_use(fake_cupy):
    hook = gpu._peak_hook()
    with hook:
        hook.malloc_postprocess(device_id=0, size=50, mem_size=64, mem_ptr=1, pmem_id=0)
        hook.malloc_postprocess(device_id=0, size=10, mem_size=16, mem_ptr=2, pmem_id=0)
        hook.free_postprocess(device_id=0, mem_size=64, mem_ptr=1, pmem_id=0)
        hook.malloc_postprocess(device_id=0, size=20, mem_size=32, mem_ptr=3, pmem_id=0)
    assert hook.peak == 100 + 64 + 16 and hook.cur == 100 + 16 + 32
