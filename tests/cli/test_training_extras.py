"""Schedules, weight decay, clipping, early stopping and neuron parameters: config, CLI, fit()."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from spikegrad.cli import cli

from spikegrad.errors import ConfigError
from spikegrad.train import build
from spikegrad.train import checkpoint as ck
from spikegrad.train import run as runs
from spikegrad.train.config import load_config, make_config

from .conftest import TINY, CtrlCAt, quiet

EXTRAS = TINY.replace(
    lr_schedule="cosine",
    lr_min=1e-3,
    warmup_epochs=1,
    weight_decay=0.05,
    clip_grad_norm=0.5,
    augment={"shift": 2, "time_shift": 1, "drop": 0.1},
)


def _rows(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_schedule_and_extras_resume_bit_for_bit(tmp_path):
    """Ctrl-C mid-epoch, then --resume: the schedule continues at the saved Adam step."""
    ref = tmp_path / "ref"
    assert runs.fit(EXTRAS, ref, log=quiet).status == "finished"
    out = tmp_path / "run"
    res = runs.fit(EXTRAS, out, log=quiet, progress=CtrlCAt(epoch=2, batch=3))
    assert res.status == "interrupted"
    res = runs.fit(EXTRAS, out, resume=out, log=quiet)
    assert res.status == "finished"
    a, b = ck.load(out / "last.npz").params, ck.load(ref / "last.npz").params
    assert all(np.array_equal(a[k], b[k]) for k in a)
    lrs = [r["lr"] for r in _rows(ref)]
    assert [r["lr"] for r in _rows(out)] == lrs
    steps = [r["step"] for r in _rows(ref)]  # cosine from lr (after 1 warm-up epoch) to lr_min
    warm, total = steps[0], steps[-1]
    assert lrs[0] == TINY.lr  # the last warm-up update
    for s, lr in zip(steps[1:], lrs[1:], strict=True):
        frac = (s - 1 - warm) / (total - warm)
        assert lr == pytest.approx(1e-3 + (TINY.lr - 1e-3) * 0.5 * (1 + math.cos(math.pi * frac)))
    plain = tmp_path / "plain"  # the extras change the result
    runs.fit(TINY, plain, log=quiet)
    c = ck.load(plain / "last.npz").params
    assert not np.array_equal(a["W1"], c["W1"])


def test_step_schedule_in_metrics(tmp_path):
    cfg = TINY.replace(lr_schedule="step", lr_step_epochs=1, lr_gamma=0.5)
    res = runs.fit(cfg, None, log=quiet)
    assert [r["lr"] for r in res.history] == [TINY.lr * 0.5**e for e in range(3)]


def test_early_stopping_and_its_resume(tmp_path, monkeypatch):
    scores = iter([0.5, 0.6, 0.55, 0.58, 0.9, 0.9, 0.9, 0.9])

    def fake_evaluate(net, data, batch_size=256, comm=None):
        return {"accuracy": next(scores), "loss": 1.0}

    monkeypatch.setattr(runs, "evaluate", fake_evaluate)
    lines: list[str] = []
    out = tmp_path / "run"
    res = runs.fit(TINY.replace(epochs=6, patience=2), out, log=lines.append)
    assert (res.status, res.epoch, len(res.history)) == ("stopped early", 4, 4)
    assert res.best == {"epoch": 2, "score": 0.6}
    assert any(line.startswith("early stop: no better val accuracy in 2 epochs") for line in lines)
    assert ck.load(out / "last.npz").epoch == 4 and ck.load(out / "best.npz").epoch == 2
    res = runs.fit(TINY.replace(epochs=8, patience=2), out, resume=out, log=quiet)
    assert (res.status, res.epoch, len(res.history)) == ("stopped early", 4, 4)  # no new epoch
    assert len(_rows(out)) == 4


def test_cosine_run_refuses_new_epochs_on_resume(tmp_path):
    out = tmp_path / "run"
    runs.fit(EXTRAS.replace(epochs=1), out, log=quiet)
    with pytest.raises(ConfigError, match="cosine schedule's length"):
        runs.fit(EXTRAS.replace(epochs=2), out, resume=out, log=quiet)


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("lr_schedule", "linear", "lr_schedule must be one of"),
        ("lr_min", 1.0, "lr_min must be"),
        ("lr_gamma", 0.0, "lr_gamma must be"),
        ("lr_step_epochs", 1.5, "lr_step_epochs must be an integer"),
        ("warmup_epochs", -1, "warmup_epochs must be"),
        ("weight_decay", float("nan"), "weight_decay must be"),
        ("clip_grad_norm", -1.0, "clip_grad_norm must be"),
        ("patience", True, "patience must be an integer"),
    ],
)
def test_bad_extra_values_name_key_and_value(tmp_path, key, value, match):
    with pytest.raises(ConfigError, match=match) as exc:
        TINY.replace(**{key: value})
    assert repr(value) in str(exc.value)


def test_cli_options_reach_the_config_and_toml_round_trips(runner):
    args = ["--lr-schedule", "step", "--lr-step-epochs", "4", "--lr-gamma", "0.3"]
    args += ["--warmup-epochs", "2", "--weight-decay", "1e-4", "--clip-grad-norm", "2"]
    args += ["--patience", "5", "--tau-mem", "20e-3", "--tau-out", "5e-3", "--threshold", "0.8"]
    args += ["--augment", "shift=3,drop=0.25"]
    res = runner.invoke(cli, ["train", *args, "--print-config"])
    assert res.exit_code == 0, res.output
    with open("cfg.toml", "w", encoding="utf-8") as f:
        f.write(res.output)
    cfg = load_config("cfg.toml")
    got = {k: getattr(cfg, k) for k in ("lr_schedule", "lr_step_epochs", "lr_gamma")}
    assert got == {"lr_schedule": "step", "lr_step_epochs": 4, "lr_gamma": 0.3}
    assert (cfg.warmup_epochs, cfg.weight_decay, cfg.clip_grad_norm, cfg.patience) == (
        2,
        1e-4,
        2.0,
        5,
    )
    assert (cfg.tau_mem, cfg.tau_out, cfg.threshold) == (20e-3, 5e-3, 0.8)
    assert cfg.alpha == pytest.approx(math.exp(-1e-3 / 20e-3))
    assert cfg.augment == {"shift": 3, "drop": 0.25}
    assert cfg == make_config(None, "cfg.toml")
    net = build.build_network(cfg, 10, 3)
    assert net.alpha == pytest.approx(cfg.alpha) and net.threshold == 0.8


@pytest.mark.parametrize(
    "args",
    [
        ["--lr-schedule", "linear"],
        ["--lr-gamma", "1.5"],
        ["--lr-step-epochs", "0"],
        ["--weight-decay", "-1"],
        ["--patience", "-2"],
        ["--tau-mem", "0"],
        ["--threshold", "-1"],
        ["--dt", "0"],
        ["--augment", "shift=-1"],
        ["--augment", "drop=x"],
        ["--augment", "stretch=2"],
    ],
)
def test_bad_cli_values_exit_2(runner, args):
    res = runner.invoke(cli, ["train", *args, "--print-config"])
    assert res.exit_code == 2 and args[0] in res.output


def test_dt_is_set_in_one_place():
    """--dt moves the encoding's time step with it; an explicit mismatch is refused."""
    cfg = make_config("shd", dt=1e-3)
    assert cfg.dt == cfg.encoding["dt"] == 1e-3
    assert make_config("synthetic", dt=2e-3).encoding == make_config("synthetic").encoding
    with pytest.raises(ConfigError, match=r"encoding\.dt must equal dt"):
        make_config("shd", dt=1e-3, encoding={"dt": 2e-3})
