"""Every command through Click's CliRunner: end to end, quiet/JSON output and error paths."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import signal
import sys

import numpy as np
import pytest
from spikegrad.cli import cli

from spikegrad.datasets.registry import DATASETS
from spikegrad.train import checkpoint as ck
from spikegrad.train import folder
from spikegrad.train import run as runs
from spikegrad.train.config import preset

COMMANDS = [
    "train",
    "evaluate",
    "plot",
    "bench",
    "datasets",
    "datasets list",
    "datasets download",
    "datasets verify",
    "datasets info",
    "info",
]


def _one_line_error(res, code=1):
    assert res.exit_code == code, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    return lines[0]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_has_examples(runner, cmd):
    res = runner.invoke(cli, [*cmd.split(), "--help"])
    assert res.exit_code == 0 and "Usage:" in res.output
    if cmd != "datasets":
        assert "Example" in res.output


def test_train_evaluate_plot_end_to_end(runner):
    res = runner.invoke(cli, ["train", "--epochs", "2", "--out", "run"])
    assert res.exit_code == 0, res.output
    for text in (
        "synthetic",
        "alpha 0.904837",
        "lr 0.005",
        "epoch   2",
        "active",
        "done: best val",
    ):
        assert text in res.output
    rows = folder.read_metrics("run")
    assert len(rows) == 2

    res = runner.invoke(cli, ["evaluate", "run", "--split", "val", "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    best = max(rows, key=lambda r: r["val_accuracy"])
    assert r["accuracy"] == best["val_accuracy"] and r["n"] == 1000 and len(r["confusion"]) == 10
    assert r["accuracy"] > 0.2  # chance is 0.1

    pytest.importorskip("matplotlib")
    res = runner.invoke(cli, ["plot", "run", "--out", "fig.png"])
    assert res.exit_code == 0, res.output
    assert open("fig.png", "rb").read(4) == b"\x89PNG"


def test_train_json_quiet_and_print_config(runner, tiny_toml):
    res = runner.invoke(
        cli, ["train", "--config", str(tiny_toml), "--epochs", "1", "--json", "--out", "r"]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["status"] == "finished" and summary["history"][0]["epoch"] == 1
    res = runner.invoke(
        cli, ["train", "--config", str(tiny_toml), "--epochs", "1", "-q", "--out", "r2"]
    )
    assert res.exit_code == 0 and res.output == ""
    res = runner.invoke(
        cli, ["train", "--dataset", "shd", "--hidden", "300", "100", "--print-config"]
    )
    assert 'dataset = "shd"' in res.output and "hidden = [300, 100]" in res.output
    assert "tau_out = 0.02" in res.output and not os.path.exists("runs")


def test_evaluate_human_output_and_test_split(runner, tiny_toml):
    assert (
        runner.invoke(
            cli, ["train", "--config", str(tiny_toml), "--epochs", "1", "-q", "--out", "run"]
        ).exit_code
        == 0
    )
    res = runner.invoke(cli, ["evaluate", "run/last.npz", "--split", "test", "--limit", "100"])
    assert res.exit_code == 0, res.output
    for text in (
        "synthetic test: 100 samples",
        "accuracy",
        "per-class accuracy",
        "manifold 9",
        "confusion",
    ):
        assert text in res.output


def test_no_arguments_means_the_synthetic_preset(runner):
    res = runner.invoke(cli, ["train", "--print-config"])
    assert res.exit_code == 0 and res.output == preset("synthetic").to_toml()


def test_default_out_folder(runner, tiny_toml):
    res = runner.invoke(cli, ["train", "--config", str(tiny_toml), "--epochs", "1", "-q"])
    assert res.exit_code == 0, res.output
    (run,) = os.listdir("runs")
    assert run.startswith("synthetic-") and os.path.isfile(f"runs/{run}/best.npz")


def test_resume_through_the_cli_is_bitwise(runner, tiny_toml):
    assert (
        runner.invoke(cli, ["train", "--config", str(tiny_toml), "-q", "--out", "a"]).exit_code == 0
    )
    assert (
        runner.invoke(
            cli, ["train", "--config", str(tiny_toml), "-q", "--epochs", "2", "--out", "b"]
        ).exit_code
        == 0
    )
    res = runner.invoke(cli, ["train", "--resume", "b", "--epochs", "3"])
    assert res.exit_code == 0 and "resumed from" in res.output, res.output
    pa, pb = ck.load("a/last.npz").params, ck.load("b/last.npz").params
    assert all(np.array_equal(pa[k], pb[k]) for k in pa)


def test_ctrl_c_saves_last_and_exits_130(runner, tiny_toml, monkeypatch):
    real = runs.train_epoch

    def pressing_ctrl_c(*args, **kw):
        hook = args[7]

        def on_batch(done, loss):
            hook(done, loss)
            if done == 3:
                os.kill(os.getpid(), signal.SIGINT)
                hook(done, loss)  # the handler only raised a flag: the hook stops the epoch

        return real(*args[:7], on_batch, **kw)

    monkeypatch.setattr(runs, "train_epoch", pressing_ctrl_c)
    res = runner.invoke(cli, ["train", "--config", str(tiny_toml), "--out", "run"])
    assert res.exit_code == 130, res.output
    assert "interrupted at epoch 1, batch 3" in res.output and "--resume run" in res.output
    saved = ck.load("run/last.npz")
    assert (saved.epoch, saved.batch) == (0, 3)


def test_interrupt_inside_an_update_keeps_checkpoints(runner, tiny_toml, monkeypatch):
    assert (
        runner.invoke(
            cli, ["train", "--config", str(tiny_toml), "--epochs", "1", "-q", "--out", "run"]
        ).exit_code
        == 0
    )
    before = open("run/last.npz", "rb").read()

    def second_ctrl_c(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(runs, "train_epoch", second_ctrl_c)
    res = runner.invoke(cli, ["train", "--resume", "run", "--epochs", "2"])
    assert res.exit_code == 130 and "checkpoints left as they were" in res.output
    assert open("run/last.npz", "rb").read() == before


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--grad", "fast"],
        ["train", "--epochs", "0"],
        ["train", "--hidden", "20", "x"],
        ["train", "--val-fraction", "1"],
        ["train", "--bogus"],
        ["evaluate"],
        ["evaluate", "missing.npz"],
        ["evaluate", ".", "--split", "dev"],
        ["plot"],
        ["datasets", "info", "mnist"],
        ["bench", "--case", "nope"],
        ["train", "--config", "absent.toml"],
    ],
)
def test_usage_errors_exit_2(runner, args):
    assert runner.invoke(cli, args).exit_code == 2


def test_resume_with_training_options_is_a_usage_error(runner, tiny_toml):
    assert (
        runner.invoke(
            cli, ["train", "--config", str(tiny_toml), "--epochs", "1", "-q", "--out", "run"]
        ).exit_code
        == 0
    )
    res = runner.invoke(cli, ["train", "--resume", "run", "--lr", "0.1"])
    assert res.exit_code == 2 and "--lr" in res.output


def test_data_and_file_errors_exit_1_with_one_line(runner, tiny_toml, tmp_path):
    os.mkdir("empty")
    line = _one_line_error(
        runner.invoke(cli, ["train", "--dataset", "fmnist", "--data-dir", "empty", "--out", "r"])
    )
    assert "fmnist" in line or "empty" in line
    open("bad.npz", "wb").write(b"garbage")
    assert "bad.npz" in _one_line_error(runner.invoke(cli, ["evaluate", "bad.npz"]))
    assert "no checkpoint here" in _one_line_error(runner.invoke(cli, ["evaluate", "empty"]))
    assert (
        "backend 'cupy'"
        in _one_line_error(
            runner.invoke(
                cli, ["train", "--config", str(tiny_toml), "--backend", "cupy", "--out", "g"]
            )
        )
        or sys.modules.get("cupy") is not None
    )
    assert (
        runner.invoke(
            cli, ["train", "--config", str(tiny_toml), "--epochs", "1", "-q", "--out", "run"]
        ).exit_code
        == 0
    )
    assert "already holds a run" in _one_line_error(
        runner.invoke(cli, ["train", "--config", str(tiny_toml), "--out", "run"])
    )
    bad = tmp_path / "bad.toml"
    bad.write_text("lr = -1\n")
    assert "bad.toml" in _one_line_error(runner.invoke(cli, ["train", "--config", str(bad)]))


def test_debug_re_raises(runner):
    open("bad.npz", "wb").write(b"garbage")
    res = runner.invoke(cli, ["--debug", "evaluate", "bad.npz"])
    assert res.exit_code == 1 and type(res.exception).__name__ == "DataError"


def test_evaluate_other_architecture(runner, tiny_toml):
    assert (
        runner.invoke(
            cli, ["train", "--config", str(tiny_toml), "--epochs", "1", "-q", "--out", "run"]
        ).exit_code
        == 0
    )
    saved = ck.load("run/last.npz")
    saved.params["W1"] = saved.params["W1"][:, :5]
    ck.save(saved, "odd.npz")
    assert "different architecture" in _one_line_error(
        runner.invoke(cli, ["evaluate", "odd.npz", "--split", "val"])
    )


def test_plot_without_matplotlib(runner, tiny_toml, monkeypatch):
    assert (
        runner.invoke(
            cli, ["train", "--config", str(tiny_toml), "--epochs", "1", "-q", "--out", "run"]
        ).exit_code
        == 0
    )
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert "pip install 'spikegrad[plot]'" in _one_line_error(runner.invoke(cli, ["plot", "run"]))


def test_info(runner):
    res = runner.invoke(cli, ["info", "--json"])
    assert res.exit_code == 0
    d = json.loads(res.stdout)
    assert d["auto_backend"] in ("numpy", "cupy") and d["auto_reason"] and "kernel_cache_dir" in d
    assert d["versions"]["numpy"] == np.__version__
    res = runner.invoke(cli, ["info"])
    assert res.exit_code == 0 and "backend auto ->" in res.output and "kernel cache" in res.output


def test_datasets_commands(runner, monkeypatch, tmp_path):
    res = runner.invoke(cli, ["datasets", "list", "--json"])
    assert res.exit_code == 0
    assert [d["name"] for d in json.loads(res.stdout)["datasets"]] == list(DATASETS)
    assert "fmnist" in runner.invoke(cli, ["datasets", "list"]).output
    res = runner.invoke(cli, ["datasets", "info", "fmnist"])
    assert (
        res.exit_code == 0
        and "8d4fb7e6c68d591d4c3dfef9ec88bf0d" in res.output
        and "Ankle boot" in res.output
    )
    assert (
        json.loads(runner.invoke(cli, ["datasets", "info", "shd", "--json"]).stdout)["n_inputs"]
        == 700
    )
    res = runner.invoke(cli, ["datasets", "verify", "fmnist", "--data-dir", str(tmp_path)])
    assert res.exit_code == 1 and "missing" in res.output and "4 of 4 files" in res.output
    from spikegrad import datasets as sg_data
    from spikegrad.errors import DataError

    monkeypatch.setattr(sg_data, "download", lambda name, root, progress: [tmp_path / "x.gz"])
    res = runner.invoke(cli, ["datasets", "download", "fmnist", "-q"])
    assert res.exit_code == 0 and "ok " in res.output

    def offline(name, root, progress):
        raise DataError("https://example.invalid/x.gz: cannot connect")

    monkeypatch.setattr(sg_data, "download", offline)
    assert "cannot connect" in _one_line_error(runner.invoke(cli, ["datasets", "download", "shd"]))


def test_bench(runner, monkeypatch):
    from spikegrad import bench as sg_bench

    tiny = dataclasses.replace(
        sg_bench.CASES["fmnist"], name="tiny", sizes=(30, 20, 20, 5), B=8, T=20
    )
    monkeypatch.setattr(
        sg_bench,
        "run",
        lambda cases, backend, repeats, torch, peers, compile, weights: [
            sg_bench.run_case(tiny, backend, repeats, torch, peers, compile, weights)
        ],
    )
    res = runner.invoke(cli, ["bench", "--repeats", "1", "--no-torch"])
    assert res.exit_code == 0 and "tiny" in res.output and "sparse" in res.output, res.output
    has_torch = importlib.util.find_spec("torch") is not None  # CI installs no torch
    half = ["bench", "--repeats", "1", "--weight-dtype", "bfloat16", "--json"]
    res = runner.invoke(cli, half if has_torch else [*half, "--no-torch"])
    out = json.loads(res.stdout)
    assert out["dtype"] == "float32 (weights bfloat16)", out
    assert not has_torch or out["torch_rel_err"] < 1e-4, out
    res = runner.invoke(cli, ["bench", "--repeats", "1", "--no-torch", "--json"])
    assert json.loads(res.stdout)["case"] == "tiny"
    res = runner.invoke(cli, ["bench", "--repeats", "1", "--no-torch", "--peers", "--json"])
    out = json.loads(res.stdout)
    assert len(out["peers"]) + len(out["peers_missing"]) == 3, res.output


@pytest.mark.filterwarnings("ignore:layer . has no active neuron")
@pytest.mark.parametrize("name, limit", [("fmnist", 512), ("nmnist", 256)])
def test_presets_start_on_real_data(runner, shared_data, name, limit):
    folder = shared_data / {"fmnist": "fashion_mnist", "nmnist": "nmnist"}[name]
    res = runner.invoke(
        cli,
        [
            "train",
            "--dataset",
            name,
            "--data-dir",
            str(folder),
            "--epochs",
            "1",
            "--limit",
            str(limit),
            "--batch-size",
            "128",
            "--json",
            "--out",
            "r",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["history"][0]["samples"] > 0


def test_progress_bar_shows_loss_and_rate(capsys):
    from spikegrad.cli.train import _Bar

    bar = _Bar(batch_size=8)
    bar.start(epoch=2, total=4, done=1)
    for done in (2, 3, 4):
        bar.update(done, loss=0.5)
    bar.end()
    assert "epoch 2" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:layer . has no active neuron")
def test_shd_preset_starts_on_a_file_in_the_official_layout(runner):
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(0)
    os.mkdir("shd")
    with h5py.File("shd/shd_train.h5", "w") as f:
        for key, dt in (("spikes/times", np.float32), ("spikes/units", np.uint16)):
            d = f.create_dataset(key, (40,), dtype=h5py.vlen_dtype(np.dtype(dt)))
            for k in range(40):
                r = np.random.default_rng(k)
                d[k] = (r.random(300) if dt is np.float32 else r.integers(0, 700, 300)).astype(dt)
        f.create_dataset("labels", data=rng.integers(0, 20, 40).astype(np.uint8))
        f.create_dataset("extra/keys", data=np.array([f"w{k}".encode() for k in range(20)]))
    res = runner.invoke(
        cli,
        [
            "train",
            "--dataset",
            "shd",
            "--data-dir",
            "shd",
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "--hidden",
            "32",
            "32",
            "--json",
            "--out",
            "r",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["history"][0]["samples"] == 32  # 36 training samples, drop last
