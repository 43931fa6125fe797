"""fit(): bitwise resume, Ctrl-C mid-epoch, non-finite stop, run-folder contents."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spikegrad.errors import ConfigError, TrainingError
from spikegrad.network import Network
from spikegrad.train import checkpoint as ck
from spikegrad.train import run as runs

from .conftest import TINY, CtrlCAt, quiet


def _params(path):
    return ck.load(path).params


def _same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted 3-epoch run."""
    out = tmp_path_factory.mktemp("ref") / "run"
    res = runs.fit(TINY, out, log=quiet)
    assert res.status == "finished" and res.epoch == 3
    return out


def test_run_folder(reference):
    names = sorted(p.name for p in reference.iterdir())
    assert names == ["best.npz", "config.toml", "last.npz", "metrics.jsonl"]
    rows = [json.loads(line) for line in (reference / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    for key in (
        "loss",
        "train_accuracy",
        "val_accuracy",
        "active_fraction",
        "spike_rate",
        "forward_s",
        "backward_s",
        "step_s",
        "epoch_s",
    ):
        assert key in rows[0]
    assert len(rows[0]["active_fraction"]) == len(rows[0]["spike_rate"]) == 2
    best = max(rows, key=lambda r: r["val_accuracy"])
    assert ck.load(reference / "best.npz").epoch == best["epoch"]
    assert ck.load(reference / "last.npz").epoch == 3


def test_resume_after_an_epoch_is_bitwise(reference, tmp_path):
    out = tmp_path / "run"
    runs.fit(TINY.replace(epochs=2), out, log=quiet)
    res = runs.fit(TINY, out, resume=out, log=quiet)
    assert res.status == "finished"
    assert _same(_params(out / "last.npz"), _params(reference / "last.npz"))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    ref = [json.loads(line) for line in (reference / "metrics.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["loss"], r["val_accuracy"]) for r in rows] == [
        (r["epoch"], r["loss"], r["val_accuracy"]) for r in ref
    ]


def test_ctrl_c_mid_epoch_then_resume_is_bitwise(reference, tmp_path):
    out = tmp_path / "run"
    res = runs.fit(TINY, out, log=quiet, progress=CtrlCAt(epoch=2, batch=4))
    assert (res.status, res.epoch, res.batch) == ("interrupted", 1, 4)
    saved = ck.load(out / "last.npz")
    assert (saved.epoch, saved.batch, saved.adam_step) == (1, 4, 10 + 4)
    assert saved.state["stats"]["batches"] == 4
    res = runs.fit(TINY, out, resume=out / "last.npz", log=quiet)
    assert res.status == "finished" and len(res.history) == 3
    assert _same(_params(out / "last.npz"), _params(reference / "last.npz"))
    ref = [
        json.loads(line)["loss"] for line in (reference / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["loss"] for r in res.history] == ref


def test_non_finite_loss_stops_and_keeps_last_good(tmp_path, monkeypatch):
    out = tmp_path / "run"
    runs.fit(TINY.replace(epochs=1), out, log=quiet)
    good = _params(out / "last.npz")
    real, calls = Network.loss_and_grad, {"n": 0}

    def poisoned(self, x, y, mode="sparse", **kw):
        loss, grads, st = real(self, x, y, mode, **kw)
        calls["n"] += 1
        return (float("nan") if calls["n"] == 5 else loss), grads, st

    monkeypatch.setattr(Network, "loss_and_grad", poisoned)
    with pytest.raises(TrainingError, match=r"non-finite loss .* epoch 2, batch 5"):
        runs.fit(TINY, out, resume=out, log=quiet)
    assert _same(_params(out / "last.npz"), good)


def test_resume_refuses_changed_settings_and_fresh_run_refuses_used_folder(reference):
    with pytest.raises(ConfigError, match="differs from the checkpoint's in lr"):
        runs.fit(TINY.replace(lr=1e-2), reference, resume=reference, log=quiet)
    with pytest.raises(ConfigError, match="already holds a run"):
        runs.fit(TINY, reference, log=quiet)
