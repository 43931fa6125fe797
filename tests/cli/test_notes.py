"""Library warnings become short notes (once per kind, with the epoch); NaN stops are named."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from spikegrad.errors import TrainingError
from spikegrad.network import Network
from spikegrad.optim import Adam
from spikegrad.train import run as runs

from .conftest import TINY

DEAD = TINY.replace(b_th=1e-12, epochs=2)  # an empty active band: every layer warns every batch


def test_warnings_are_notes_once_per_kind_with_the_epoch():
    seen = []
    result = runs.fit(DEAD, log=lambda s: None, note=seen.append)
    assert seen == result.notes and len(seen) == 2  # hidden layers 1 and 2, over two epochs
    for l, text in enumerate(seen, start=1):
        assert text.startswith(f"note: epoch 1: layer {l} has no active neuron"), text
    assert result.to_dict()["notes"] == seen


def test_no_raw_warning_in_cli_output_even_quiet(tmp_path):
    path = tmp_path / "dead.toml"
    path.write_text(DEAD.replace(epochs=1).to_toml(), encoding="utf-8")
    cmd = [sys.executable, "-m", "spikegrad", "train", "--config", str(path), "-q", "--out", "r"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert lines and all(line.startswith("note: epoch 1: layer ") for line in lines), res.stderr
    assert len(lines) == len(set(lines)) == 2 and "Warning" not in res.stderr


def _partial_batch_spoils(monkeypatch, what):
    """The last (partial) batch of every epoch gets a NaN loss or a NaN gradient of W_out."""
    real = Network.loss_and_grad

    def spoiled(self, x, y, *args, **kw):
        loss, grads, st = real(self, x, y, *args, **kw)
        if len(y) < TINY.batch_size:
            if what == "loss":
                loss = loss * np.nan
            else:
                grads = {**grads, "W_out": grads["W_out"] * np.nan}
        return loss, grads, st

    monkeypatch.setattr(Network, "loss_and_grad", spoiled)


@pytest.mark.parametrize(
    ("what", "named"),
    [
        ("loss", "non-finite loss (nan) at epoch 1, batch 10"),
        ("grad", "non-finite gradient of W_out at epoch 1, batch 10 (loss "),
    ],
)
def test_nan_stop_names_the_loss_or_the_gradient(monkeypatch, what, named):
    _partial_batch_spoils(monkeypatch, what)
    with pytest.raises(TrainingError) as info:
        runs.fit(TINY, log=lambda s: None)
    assert str(info.value).startswith(named), info.value
    assert "no checkpoint yet" in str(info.value)


def test_nan_stop_names_the_parameter_an_update_spoiled(monkeypatch, tmp_path):
    real = Adam.step

    def spoiling(self, grads, **kw):
        real(self, grads, **kw)
        if self.step_count == 14:  # epoch 2 (10 batches an epoch), batch 4
            self.params["W1"][0, 0] = np.inf

    monkeypatch.setattr(Adam, "step", spoiling)
    with pytest.raises(TrainingError) as info:
        runs.fit(TINY, tmp_path / "run", log=lambda s: None)
    msg = str(info.value)
    assert msg.startswith("parameter W1 became non-finite in the update at epoch 2, batch 4 ("), msg
    assert "every gradient finite" in msg and f"kept {tmp_path / 'run' / 'last.npz'}" in msg


def test_other_commands_show_library_warnings_as_notes(tmp_path):
    """``backend = "auto"`` on a machine without a GPU says so once, as a note, also when a
    run is evaluated in a fresh process; never a raw RuntimeWarning with its source line."""
    path = tmp_path / "auto.toml"
    path.write_text(TINY.replace(epochs=1, backend="auto").to_toml(), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    for args in (["train", "--config", str(path), "-q", "--out", "r"], ["evaluate", "r"]):
        cmd = [sys.executable, "-m", "spikegrad", *args]
        res = subprocess.run(
            cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300
        )
        assert res.returncode == 0, res.stderr
        assert "Warning" not in res.stderr
        assert all(line.startswith("note: ") for line in res.stderr.splitlines()), res.stderr
