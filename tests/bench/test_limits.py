"""The machine read at run time (CPU model, caches, SIMD flags), the bandwidth probe, and the
bytes and adds a sparse step cannot avoid (issue 23, items 2 and 5)."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

import spikegrad as sg
from spikegrad.bench import limits, machine

MiB = 2**20


def test_cache_sizes_parse():
    entries = [("1\n", "Data\n", "48K\n"), ("1", "Instruction", "32K"), ("2", "Unified", "2048K"),
               ("3", "Unified", "307200K")]  # fmt: skip
    assert machine.parse_caches(entries) == {"L1d": 48 * 1024, "L2": 2 * MiB, "L3": 300 * MiB}
    assert machine.parse_caches([]) == {"L1d": None, "L2": None, "L3": None}
    assert machine._size("4 MiB (2 instances)") == 4 * MiB and machine._size("n/a") is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's /proc and /sys")
def test_cpu_info_is_read_from_this_machine():
    info = machine.cpu_info()
    assert info["model"] and info["cores"] >= 1
    assert all(isinstance(v, int) and v > 0 for v in info["caches"].values()), info
    assert info["caches"]["L1d"] < info["caches"]["L2"] < info["caches"]["L3"]
    with open("/proc/cpuinfo") as f:
        flags = set(re.search(r"^flags\s*:(.*)$", f.read(), re.M).group(1).split())
    assert info["simd"] == [f for f in machine.SIMD_FLAGS if f in flags]
    line = machine.cpu_line(info)
    assert line.startswith(f"cpu: {info['model']}; L1d ") and " per core, L3 " in line


def test_header_states_date_command_and_machine():
    date, cpu = machine.header(["somewhere/spikegrad/bench/__main__.py", "--case", "shd"])
    assert re.fullmatch(
        r"date: \d{4}-\d\d-\d\d \d\d:\d\d UTC; command: python -m spikegrad.bench --case shd", date
    )
    assert cpu == machine.cpu_line()
    assert machine.program("x/tools/band_sweep.py") == "python tools/band_sweep.py"
    assert machine.program("x/bin/spikegrad") == "spikegrad"
    assert machine.program("x/spikegrad/__main__.py") == "python -m spikegrad"


def test_copy_bandwidth_and_working_sets():
    bw = machine.copy_bandwidth(256 * 1024, min_seconds=0.01)
    assert 1e8 < bw < 1e13  # bytes per second, read + written
    ws = machine.working_sets({"L1d": 1, "L2": 2 * MiB, "L3": 300 * MiB})
    assert ws == {"L2": MiB, "L3": 8 * MiB, "DRAM": 600 * MiB}
    assert machine.working_sets({"L2": 2 * MiB, "L3": 6 * MiB})["L3"] == 3 * MiB
    assert machine.working_sets({})["DRAM"] == 256 * MiB


def test_unavoidable_counts_by_hand():
    """A 4-3r-2 CuBa network, B = 1, T = 2: every count written out."""
    net = sg.Network([4, 3, 2], neuron="cuba", recurrent=True)
    x = sg.SpikeEvents(np.array([0, 0]), np.array([0, 1]), np.array([1, 3]), (1, 2, 4))
    c = limits.unavoidable(net, x, spikes=[1], n_active=[2])
    # forward: 2 input spikes + 1 own spike -> 3 rows of 3; 2 state words x 6 neuron-steps;
    # readout: 1 spike x 2 classes + 4 class-steps
    fwd = 3 * 3 + 2 * 6 + 1 * 2 + 4
    # backward: dW and dR rows per input and own spike (3 x 3), R rows per active entry
    # (2 x 3), 2 adjoint words x 6; readout: (1 spike + 2 active) x 2 + 4
    bwd = 3 * 3 + 2 * 3 + 2 * 6 + 3 * 2 + 4
    largest, weights = 4 * 3 + 3 * 3, 4 * 3 + 3 * 3 + 3 * 2
    assert c["forward"] == {"bytes": 4 * fwd, "adds": fwd, "working_set": 4 * largest}
    assert c["backward"] == {"bytes": 4 * bwd, "adds": bwd, "working_set": 8 * largest}
    assert c["adam"] == {"bytes": 4 * 7 * weights, "adds": 0, "working_set": 16 * weights}


def test_dx_is_fetched_at_the_previous_layers_active_entries():
    net = sg.Network([4, 3, 5, 2])  # LIF, feed-forward
    x = sg.SpikeEvents(np.array([0]), np.array([0]), np.array([2]), (1, 3, 4))
    c = limits.unavoidable(net, x, spikes=[2, 1], n_active=[6, 4])
    fwd = 1 * 3 + 3 * 3 + 2 * 5 + 3 * 5 + 1 * 2 + 3 * 2
    # layer 1: 1 input spike x 3 + 9; layer 2: 2 input spikes x 5 + 6 active in layer 1 x 5
    # + 15; readout (1 + 4) x 2 + 6
    bwd = 1 * 3 + 3 * 3 + 2 * 5 + 6 * 5 + 3 * 5 + (1 + 4) * 2 + 3 * 2
    assert c["forward"]["adds"] == fwd and c["backward"]["adds"] == bwd
    assert c["forward"]["working_set"] == 4 * 3 * 5


def test_fractions_pick_the_level_of_the_working_set():
    caches = {"L1d": 48 * 1024, "L2": 2 * MiB, "L3": 32 * MiB}
    assert limits.level_for(MiB, caches) == "L2"
    assert limits.level_for(3 * MiB, caches) == "L3"
    assert limits.level_for(64 * MiB, caches) == "DRAM"
    assert limits.level_for(MiB, {"L2": None, "L3": None}) == "DRAM"
    bw = {"L2": {"working_set": MiB, "bytes_per_s": 1e11},
          "L3": {"working_set": 16 * MiB, "bytes_per_s": 4e10},
          "DRAM": {"working_set": 64 * MiB, "bytes_per_s": 1e10}}  # fmt: skip
    counts = {
        "forward": {"bytes": 1e9, "adds": 2.5e8, "working_set": MiB},
        "backward": {"bytes": 2e9, "adds": 5e8, "working_set": 2 * MiB},
        "adam": {"bytes": 4e8, "adds": 0, "working_set": 40 * MiB},
    }
    measured = {"forward": 0.02, "backward": 0.2, "step": 0.5}
    f = limits.fractions(counts, measured, bw, caches)
    assert f["forward"]["level"] == "L2" and f["forward"]["limit_s"] == pytest.approx(0.01)
    assert f["forward"]["fraction"] == pytest.approx(0.5)
    assert f["backward"]["level"] == "L2" and f["backward"]["fraction"] == pytest.approx(0.1)
    step = f["step"]  # the sum of its parts, each at its own level: 10 + 20 + 40 ms
    assert step["level"] == "L2+L2+DRAM" and step["limit_s"] == pytest.approx(0.07)
    assert (
        step["bytes"] == 3.4e9 and step["adds"] == 7.5e8 and step["fraction"] == pytest.approx(0.14)
    )
    text = "\n".join(limits.lines(f, bw))
    assert "L2 100 GB/s (1 MiB), L3 40 GB/s (16 MiB), DRAM 10 GB/s (64 MiB)" in text
    assert "sparse forward  cannot avoid  1000.0 MB,  250.0 M adds" in text
    assert "-> L2: limit  10.00 ms = 50.0% of 20.0 ms (target >= 50%: met)" in text
    assert "-> L2+L2+DRAM: limit  70.00 ms = 14.0% of 500.0 ms (target >= 50%: NOT met)" in text
