"""Fixtures of the CLI and training-run tests: a runner, a tiny synthetic config, the real data."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

from spikegrad.train.config import preset

# a small synthetic job (about 0.2 s per epoch) for the resume and error-path tests
TINY = preset("synthetic").replace(
    encoding={**preset("synthetic").encoding, "n_samples": 400, "n_inputs": 40, "T": 30},
    hidden=(24, 16),
    batch_size=32,
    epochs=3,
    backend="numpy",
)


@pytest.fixture
def runner(tmp_path, monkeypatch):
    """A CliRunner whose commands run in a fresh temporary folder."""
    monkeypatch.chdir(tmp_path)
    return CliRunner()


@pytest.fixture
def tiny_toml(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.to_toml(), encoding="utf-8")
    return path


@pytest.fixture
def shared_data() -> Path:
    """The real data folder (../shared/data next to the repo, or $SPIKEGRAD_SHARED_DATA)."""
    env = os.environ.get("SPIKEGRAD_SHARED_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"real data folder {path} not present")
    return path


def quiet(_line: str) -> None:
    """A log function that prints nothing."""


class CtrlCAt:
    """A progress hook that presses Ctrl-C (a real SIGINT) at one (epoch, batch)."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.at, self.epoch = (epoch, batch), 0

    def start(self, epoch, total, done):
        self.epoch = epoch

    def update(self, done, loss):
        if (self.epoch, done) == self.at:
            os.kill(os.getpid(), signal.SIGINT)

    def end(self):
        pass
