"""The lab tools in the top-level tools/ folder (run as ``python tools/NAME.py``, not installed)
are imported here by their file names: tools/ goes on sys.path, never the checkout root (which
would shadow an installed spikegrad)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))


@pytest.fixture
def tiny_shd():
    from spikegrad.bench import CASES

    return dataclasses.replace(CASES["shd"], name="tiny-shd", sizes=(40, 24, 24, 5), B=6, T=40)
