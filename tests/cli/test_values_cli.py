"""Every bad value gets one line naming it (exit 2 for options, 1 for files and the library);
training that would do nothing is refused before anything is written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from spikegrad.cli import cli

from spikegrad.errors import BadValueError, ConfigError
from spikegrad.train import folder
from spikegrad.train import run as runs
from spikegrad.train.config import load_config

from .conftest import TINY


def _usage_error(res, option: str, value: str) -> str:
    """Exit 2, no traceback, and the one ``Error:`` line names the option and the value."""
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, res.output
    assert f"'{option}'" in errors[0] and f"got {value}" in errors[0], errors[0]
    return errors[0]


def _one_line_error(res) -> str:
    assert res.exit_code == 1, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    return lines[0]


@pytest.mark.parametrize(
    "option,value,shown",
    [
        ("--seed", "-1", "-1"),
        ("--lr", "nan", "nan"),
        ("--lr", "inf", "inf"),
        ("--b-th", "nan", "nan"),
        ("--val-fraction", "nan", "nan"),
        ("--val-fraction", "1", "1.0"),
        ("--epochs", "0", "0"),
        ("--batch-size", "0", "0"),
        ("--limit", "-1", "-1"),
        ("--hidden", "0", "[0]"),
        ("--b-th", "0", "0.0"),
    ],
)
def test_bad_option_values_exit_2_naming_option_and_value(runner, option, value, shown):
    res = runner.invoke(cli, ["train", "--print-config", option, value])
    _usage_error(res, option, shown)


@pytest.mark.parametrize(
    "line,shown",
    [
        ("seed = -3", "seed must be an integer >= 0 (below 2**63); got -3"),
        ('epochs = "three"', "epochs must be an integer >= 1; got 'three'"),
        ("epochs = 2.5", "epochs must be an integer >= 1; got 2.5"),
        ("epochs = true", "epochs must be an integer >= 1; got True"),
        ("hidden = 200", "hidden must be a list of >= 1 integers >= 1, e.g. [200, 200]; got 200"),
        (
            'hidden = [200, "a"]',
            "hidden must be a list of >= 1 integers >= 1, e.g. [200, 200]; got [200, 'a']",
        ),
        ("lr = nan", "lr must be a finite number > 0; got nan"),
        ("lr = inf", "lr must be a finite number > 0; got inf"),
        ("val_fraction = nan", "val_fraction must be a finite number in [0, 1); got nan"),
    ],
)
def test_bad_toml_values_one_line_naming_file_key_value(runner, tmp_path, line, shown):
    path = tmp_path / "bad.toml"
    path.write_text(line + "\n", encoding="utf-8")
    err = _one_line_error(runner.invoke(cli, ["train", "--print-config", "--config", str(path)]))
    assert err == f"Error: {path}: {shown}"
    with pytest.raises(ConfigError, match="must be"):
        load_config(path)


def test_an_option_overrides_a_good_toml_value_and_is_still_checked(runner, tiny_toml):
    res = runner.invoke(cli, ["train", "--print-config", "--config", str(tiny_toml)])
    assert res.exit_code == 0 and "seed = 0" in res.output
    res = runner.invoke(
        cli, ["train", "--print-config", "--config", str(tiny_toml), "--seed", "-2"]
    )
    _usage_error(res, "--seed", "-2")


def test_datasets_verify_synthetic_says_there_is_nothing_to_verify(runner):
    res = runner.invoke(cli, ["datasets", "verify", "synthetic"])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == "synthetic: built in (generated on the fly); no files to verify"
    res = runner.invoke(cli, ["datasets", "verify", "synthetic", "--json"])
    assert res.exit_code == 0 and res.output.strip() == "{}"


@pytest.fixture
def tiny_run(runner, tiny_toml):
    """A finished one-epoch run folder "run" (made in the runner's folder)."""
    res = runner.invoke(
        cli, ["train", "-q", "--config", str(tiny_toml), "--epochs", "1", "--out", "run"]
    )
    assert res.exit_code == 0, res.output
    return "run"


@pytest.mark.parametrize(
    "args,option,shown",
    [
        (["--out", "x.xyz"], "--out", "'x.xyz'"),
        (["--out", "noext"], "--out", "'noext'"),
        (["--out", "missing/dir/x.png"], "--out", "'missing/dir/x.png'"),
        (["--sample", "100000"], "--sample", "100000"),
    ],
)
def test_plot_refuses_bad_out_and_sample_before_writing(runner, tiny_run, args, option, shown):
    pytest.importorskip("matplotlib")
    res = runner.invoke(cli, ["plot", tiny_run, *args])
    _usage_error(res, option, shown)
    written = {p.name for p in Path(".").iterdir()} | {p.name for p in Path(tiny_run).iterdir()}
    assert not written & {"run.png", "x.xyz", "noext", "missing"}


def test_an_epoch_without_updates_is_refused_before_writing(runner, tmp_path):
    cfg = TINY.replace(limit=40, batch_size=64, drop_last=True)  # 30 training samples
    with pytest.raises(ConfigError, match=r"30 training samples .* fill no batch of 64"):
        runs.fit(cfg, tmp_path / "lib")
    assert not (tmp_path / "lib").exists()
    path = tmp_path / "drop.toml"
    path.write_text(cfg.replace(limit=0).to_toml(), encoding="utf-8")
    res = runner.invoke(cli, ["train", "--config", str(path), "--limit", "40", "--out", "cli"])
    err = _one_line_error(res)
    assert "would make no update" in err and "limit 40" in err
    assert not (tmp_path / "cli").exists()
    # without drop_last the incomplete batch is trained: one update per epoch
    res = runs.fit(cfg.replace(drop_last=False, epochs=1), None, log=lambda s: None)
    assert res.history[0]["step"] == 1


def test_resuming_a_finished_run_is_refused(runner, tiny_run):
    metrics = (folder.read_metrics(tiny_run), open(f"{tiny_run}/last.npz", "rb").read())
    err = _usage_error(
        runner.invoke(cli, ["train", "--resume", tiny_run, "--epochs", "1"]), "--epochs", "1"
    )
    assert "already trained 1 epochs" in err
    err = _one_line_error(runner.invoke(cli, ["train", "--resume", tiny_run]))
    assert "epochs must be > 1 to train on" in err
    with pytest.raises(BadValueError, match="already trained 1 epochs"):
        runs.fit(TINY.replace(epochs=1), tiny_run, resume=tiny_run)
    assert (folder.read_metrics(tiny_run), open(f"{tiny_run}/last.npz", "rb").read()) == metrics
    res = runner.invoke(cli, ["train", "-q", "--resume", tiny_run, "--epochs", "2"])
    assert res.exit_code == 0, res.output
    assert [r["epoch"] for r in folder.read_metrics(tiny_run)] == [1, 2]


def test_garbage_checkpoint_via_the_cli(runner, tmp_path):
    path = tmp_path / "g.npz"
    np.savez(path, meta=np.array([{"a": 1}], dtype=object))
    err = _one_line_error(runner.invoke(cli, ["evaluate", str(path)]))
    assert "corrupt or not a spikegrad checkpoint" in err and "allow_pickle" not in err


def test_numeric_options_take_type_and_range_from_the_one_declaration():
    from spikegrad.cli import Setting

    from spikegrad.checks import RANGES

    numeric = {
        (cmd, p.name): p
        for cmd in ("train", "evaluate", "export")
        for p in cli.commands[cmd].params
        if isinstance(p.type, Setting)
    }
    assert {("train", "lr"), ("train", "b_th"), ("evaluate", "limit"), ("export", "dt")} <= set(
        numeric
    )
    for (_, name), p in numeric.items():
        assert p.type.range is RANGES[name] and p.help.endswith(f"[{RANGES[name].describe()}]")
    typed = {p.name for p in cli.commands["train"].params if p.type.name in ("integer", "float")}
    assert typed - {n for c, n in numeric if c == "train"} == {"seed"}  # checked by check_seed
