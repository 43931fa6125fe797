"""The peak-memory probe of the benchmark (:func:`spikegrad.bench.timing.peak_rss`)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from spikegrad.bench import timing

MB = 2**20


def _alloc(nbytes: int) -> float:
    """A step that allocates and touches ``nbytes`` (and frees them before it returns)."""
    a = np.ones(nbytes // 8)
    return float(a[:: 4096 // 8].sum())


@pytest.mark.parametrize("method", ["rss", "tracemalloc"])
def test_peak_sees_a_100_mb_step(method):
    if method == "rss" and not sys.platform.startswith("linux"):
        pytest.skip("VmHWM is Linux's")
    peak, how = timing.peak_rss(lambda: _alloc(100 * MB), method)
    assert how == method
    assert 97 * MB <= peak <= 140 * MB, peak / MB
    small, _ = timing.peak_rss(lambda: _alloc(MB), method)
    assert small < 30 * MB, small / MB
    again, _ = timing.peak_rss(lambda: _alloc(100 * MB), method)  # freed memory is not reused
    assert again >= 97 * MB, again / MB


def test_auto_uses_rss_on_linux():
    peak, how = timing.peak_rss(lambda: _alloc(50 * MB))
    assert how == ("rss" if sys.platform.startswith("linux") else "tracemalloc")
    assert peak >= 48 * MB


def test_time_mode_reports_a_step_peak(tiny_shd):
    from spikegrad.bench.cases import build_network, calibrate, make_inputs

    net = build_network(tiny_shd)
    x, y = make_inputs(tiny_shd)
    calibrate(net, x, y, (0.05, 0.05))
    before = {k: v.copy() for k, v in net.params.items()}
    clock = timing.WallClock()
    r = timing.time_mode(net, x, y, "dense", clock, 0, 1, peak=True)
    assert isinstance(r["peak_bytes"], int) and r["peak_bytes"] >= 0
    assert "peak_bytes" not in timing.time_mode(net, x, y, "sparse", clock, 0, 1)
    assert all(np.array_equal(net.params[k], v) for k, v in before.items())
