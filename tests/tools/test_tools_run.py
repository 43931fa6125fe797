"""Every Python lab tool in tools/ that takes options imports and answers ``--help`` (a tool
broken by a move or rename of the code it uses fails here, not on the day someone runs it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import spikegrad

TOOLS = Path(__file__).resolve().parents[2] / "tools"
WITH_OPTIONS = sorted(p.name for p in TOOLS.glob("*.py") if "argparse" in p.read_text())


def test_the_tools_are_found():
    assert {"band_sweep.py", "contention.py", "train_speed.py"} <= set(WITH_OPTIONS)


@pytest.mark.parametrize("name", WITH_OPTIONS)
def test_tool_answers_help(name):
    here = str(Path(spikegrad.__file__).resolve().parents[1])  # the spikegrad under test
    env = {**os.environ, "PYTHONPATH": here}
    res = subprocess.run(
        [sys.executable, str(TOOLS / name), "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode == 0 and "usage:" in res.stdout, res.stderr
