"""``python tools/contention.py`` on a tiny case with a few steps per block."""

from __future__ import annotations

import dataclasses
import json
import statistics
import subprocess

import contention
import pytest

from spikegrad.bench import CASES

TINY = dataclasses.replace(CASES["shd"], sizes=(40, 20, 20, 5), B=4, T=30)
TINY_ARGS = ["--batch-size", "4", "--T", "30", "--sizes", "40", "20", "20", "5"]


@pytest.fixture
def popens(monkeypatch):
    """Every process the tool starts, to check that none is left running."""
    started: list[subprocess.Popen] = []

    class Recorded(subprocess.Popen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(contention.subprocess, "Popen", Recorded)
    return started


def test_settings_grid_is_every_combination():
    grid = contention.settings_grid([1, None], ["default", "passive"], [None, 1000])
    assert len(grid) == 8 and grid[0] == {"SPIKEGRAD_THREADS": "1"}
    assert {
        "SPIKEGRAD_THREADS": "1",
        "OMP_WAIT_POLICY": "passive",
        "GOMP_SPINCOUNT": "1000",
    } in grid
    assert {} in grid and {"GOMP_SPINCOUNT": "1000"} in grid


@pytest.mark.parametrize(
    "bad",
    [
        ["--threads", "0"],
        ["--threads", "1,x"],
        ["--wait-policy", "lazy"],
        ["--spincount", "-1"],
        ["--repeats", "0"],
    ],
)
def test_bad_options_are_usage_errors(bad, capsys):
    with pytest.raises(SystemExit) as exit_:
        contention.main(bad)
    assert exit_.value.code == 2 and bad[0] in capsys.readouterr().err


def test_tiny_run_blocks_settings_ratios_and_cleanup(tmp_path, capsys, popens):
    out = tmp_path / "c.json"
    argv = [*TINY_ARGS, "--neighbour", "spin", "--neighbour", "train", "--threads", "1"]
    contention.main([*argv, "--wait-policy", "passive", "--repeats", "3", "--warmup", "1"])
    text = capsys.readouterr().out
    contention.main([*argv, "--repeats", "3", "--warmup", "0", "--json", str(out)])
    r = json.loads(out.read_text())
    (s,) = r["settings"]
    assert s["env"] == {"SPIKEGRAD_THREADS": "1"} and s["case"]["shape"] == "40-20-20-5"
    assert (s["threads"]["threads"], s["threads"]["source"]) == (1, "SPIKEGRAD_THREADS")
    labels = [b["block"] for b in s["blocks"]]
    assert labels == ["alone", "beside spin", "alone", "beside train", "alone"]
    assert all(
        len(b["times_s"]) == 3 and b["min_s"] <= b["median_s"] <= b["max_s"] for b in s["blocks"]
    )
    alone = [t for b in s["blocks"] if b["neighbour"] is None for t in b["times_s"]]
    assert s["alone_s"] == statistics.median(alone)
    assert s["ratios"] == {b["neighbour"]: b["median_s"] / s["alone_s"] for b in s["blocks"][1::2]}
    assert s["active_fraction"] is not None  # the worker calibrated (fresh weights per run)
    # the text report of the first run: its setting, the blocks, one ratio per neighbour
    assert (
        "setting SPIKEGRAD_THREADS=1 OMP_WAIT_POLICY=passive: 1 thread (SPIKEGRAD_THREADS)" in text
    )
    assert sum(ln.startswith("  beside ") for ln in text.splitlines()) == 2
    assert "worst beside / alone: " in text and "target <= 1.3" in text
    # worker, spin and train neighbour of both runs, all stopped
    assert len(popens) == 6 and all(p.poll() is not None for p in popens)


def test_a_neighbour_that_never_gets_busy_is_an_error_and_stops_the_worker(monkeypatch, popens):
    monkeypatch.setitem(contention._NEIGHBOUR_CODE, "spin", "pass")
    with pytest.raises(RuntimeError, match="spin neighbour ended"):
        contention.run(TINY, [{}], ["spin"], repeats=1, warmup=0)
    assert len(popens) == 2 and all(p.poll() is not None for p in popens)
