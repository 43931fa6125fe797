"""Presets: "tuned" (the default, the recipe the README recommends) and "paper" (exactly)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from spikegrad.cli import cli

import spikegrad as sg
from spikegrad.train.config import from_dict, make_config, preset


def test_paper_preset_is_the_papers_fmnist_setting():
    c = preset("fmnist", "paper")
    assert (c.batch_size, c.lr, c.epochs, c.lr_schedule) == (256, 2e-4, 100, "constant")
    assert c.preset == "paper" and c.hidden == (200, 200)


def test_tuned_preset_is_the_default_and_the_measured_recipe():
    c = preset("fmnist")
    assert c.preset == "tuned"
    assert (c.batch_size, c.lr, c.epochs, c.lr_schedule) == (64, 2e-3, 30, "cosine")
    paper = preset("fmnist", "paper")
    same = {k for k in paper.to_dict() if getattr(c, k) == getattr(paper, k)}
    assert set(paper.to_dict()) - same == {"preset", "batch_size", "lr", "epochs", "lr_schedule"}
    assert preset("shd").replace(preset="paper") == preset("shd", "paper")  # no recipe yet


def test_preset_precedence_and_toml(tmp_path):
    assert make_config("fmnist", preset="paper", lr=1e-3).batch_size == 256
    path = tmp_path / "c.toml"
    path.write_text('dataset = "fmnist"\npreset = "paper"\nepochs = 3\n')
    c = make_config(None, path)
    assert (c.preset, c.batch_size, c.epochs) == ("paper", 256, 3)
    assert from_dict({"dataset": "fmnist", "preset": "tuned"}).batch_size == 64
    with pytest.raises(
        sg.ConfigError, match="preset must be one of tuned, paper, recurrent; got 'best'"
    ):
        preset("fmnist", "best")


def test_cli_names_the_preset_and_refuses_a_bad_one(tmp_path):
    r = CliRunner().invoke(cli, ["train", "--dataset", "fmnist", "--preset", "paper",
                                 "--print-config"])  # fmt: skip
    assert r.exit_code == 0 and 'preset = "paper"' in r.output and "batch_size = 256" in r.output
    r = CliRunner().invoke(cli, ["train", "--preset", "best"])
    assert r.exit_code == 2 and "best" in r.output
    assert preset("fmnist").describe().startswith("preset   tuned: the paper's settings with")
    assert preset("fmnist", "paper").describe().startswith("preset   paper: the paper's settings")
