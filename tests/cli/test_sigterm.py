"""SIGTERM (what cluster schedulers send before a kill) is handled like Ctrl-C: a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from spikegrad.cli import cli

from spikegrad.train import checkpoint as ck


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name != "posix", reason="POSIX signals")
def test_sigterm_saves_last_exits_143_and_resumes_bitwise(runner, tiny_toml):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "spikegrad", "train", "--config", str(tiny_toml)]
    proc = subprocess.Popen(
        [*cmd, "--epochs", "1000", "--out", "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        for line in proc.stdout:  # the handler is installed once epochs run
            if line.startswith("epoch   1"):
                break
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=120)[1]
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert "terminated (SIGTERM) at epoch" in err and "--resume run" in err, err
    assert "Traceback" not in err
    saved = ck.load("run/last.npz")
    assert 1 <= saved.epoch < 1000
    done = saved.epoch + 1  # resume and finish the epoch it was in
    res = runner.invoke(cli, ["train", "--resume", "run", "--epochs", str(done), "-q"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        cli, ["train", "--config", str(tiny_toml), "--epochs", str(done), "-q", "--out", "ref"]
    )
    assert res.exit_code == 0, res.output
    got, want = ck.load("run/last.npz"), ck.load("ref/last.npz")
    assert (got.epoch, got.batch) == (want.epoch, want.batch) == (done, 0)
    assert all(np.array_equal(got.params[k], want.params[k]) for k in want.params)
