"""--recurrent, --tau-mem-spread and the recurrent SHD preset: parsing, TOML, bad values."""

from __future__ import annotations

import math

import pytest
from spikegrad.cli import cli

from spikegrad.errors import BadValueError
from spikegrad.train.config import TrainConfig, from_dict, load_config, make_config, preset

from .test_values_cli import _one_line_error, _usage_error

REC_NEED = "recurrent must be true, false or a list of 2 of them (one per hidden layer)"


def _config(runner, *args: str) -> TrainConfig:
    res = runner.invoke(cli, ["train", "--print-config", *args])
    assert res.exit_code == 0, res.output
    return from_dict(_toml(res.output))


def _toml(text: str) -> dict:
    from spikegrad.train.config import loads_toml

    return loads_toml(text)


@pytest.mark.parametrize(
    "args,want",
    [
        ([], (False, False)),
        (["--recurrent"], (True, True)),
        (["--recurrent", "all"], (True, True)),
        (["--recurrent", "none"], (False, False)),
        (["--recurrent", "0,1"], (False, True)),
        (["--recurrent", "1,0"], (True, False)),
        (["--recurrent", "--hidden", "8", "9"], (True, True)),  # a bare flag before an option
    ],
)
def test_recurrent_option_per_layer(runner, args, want):
    c = _config(runner, "--hidden", "20", "30", *args)
    assert c.recurrent_layers == want


def test_recurrent_toml_forms_round_trip(tmp_path):
    for line, want in (
        ("recurrent = true", (True, True)),
        ("recurrent = [false, true]", (False, True)),
    ):
        path = tmp_path / "r.toml"
        path.write_text(f"hidden = [20, 30]\n{line}\ntau_mem_spread = 0.25\n")
        c = load_config(path)
        assert c.recurrent_layers == want and c.tau_mem_spread == 0.25
        again = tmp_path / "again.toml"
        again.write_text(c.to_toml())
        assert load_config(again) == c


def test_older_configs_without_the_keys_are_feed_forward(tmp_path):
    d = _toml(preset("synthetic").to_toml())
    del d["recurrent"], d["tau_mem_spread"]
    path = tmp_path / "old.toml"
    path.write_text("\n".join(f"{k} = {v!r}" for k, v in d.items() if k == "epochs") + "\n")
    c = load_config(path)
    assert (c.recurrent, c.tau_mem_spread, c.recurrent_layers) == (False, 0.0, (False, False))
    assert from_dict(d) == preset("synthetic")


@pytest.mark.parametrize(
    "args,option,shown",
    [
        (["--recurrent", "x"], "--recurrent", "'x'"),
        (["--recurrent", "0,2"], "--recurrent", "'0,2'"),
        (["--hidden", "5", "6", "--recurrent", "0,1,1"], "--recurrent", "(False, True, True)"),
        (["--tau-mem-spread", "-0.5"], "--tau-mem-spread", "-0.5"),
        (["--tau-mem-spread", "nan"], "--tau-mem-spread", "nan"),
        (["--tau-mem-spread", "inf"], "--tau-mem-spread", "inf"),
    ],
)
def test_bad_option_values_exit_2(runner, args, option, shown):
    err = _usage_error(runner.invoke(cli, ["train", "--print-config", *args]), option, shown)
    assert "Invalid value" in err


@pytest.mark.parametrize(
    "line,shown",
    [
        ("recurrent = 1", f"{REC_NEED}; got 1"),
        ("recurrent = [1, 0]", f"{REC_NEED}; got [1, 0]"),
        ("recurrent = []", f"{REC_NEED}; got []"),
        ("recurrent = [true]", f"{REC_NEED}; got [True]"),
        ("tau_mem_spread = -1", "tau_mem_spread must be a finite number >= 0; got -1.0"),
        ('tau_mem_spread = "wide"', "tau_mem_spread must be a finite number >= 0; got 'wide'"),
    ],
)
def test_bad_toml_values_one_line(runner, tmp_path, line, shown):
    path = tmp_path / "bad.toml"
    path.write_text(line + "\n", encoding="utf-8")
    err = _one_line_error(runner.invoke(cli, ["train", "--print-config", "--config", str(path)]))
    assert err == f"Error: {path}: {shown}"


def test_recurrent_shd_preset_parses_and_is_the_documented_recipe(runner, tmp_path):
    c = preset("shd", "recurrent")
    paper = preset("shd", "paper")
    assert (c.hidden, c.recurrent_layers, c.tau_mem, c.batch_size, c.lr, c.epochs) == (
        (128,),
        (True,),
        20e-3,
        64,
        1e-3,
        150,
    )
    assert c.tau_mem_spread == pytest.approx(1 / math.sqrt(3)) and c.readout == "max"
    assert (c.dt, c.encoding, c.reg, c.init) == (paper.dt, paper.encoding, paper.reg, paper.init)
    assert "network  hidden 128r," in c.describe()
    res = runner.invoke(cli, ["train", "--dataset", "shd", "--preset", "recurrent",
                              "--print-config"])  # fmt: skip
    assert res.exit_code == 0 and 'preset = "recurrent"' in res.output
    path = tmp_path / "shd.toml"
    path.write_text(res.output)
    assert load_config(path) == c == make_config(None, path)
    assert make_config("shd", preset="recurrent", recurrent=False).recurrent_layers == (False,)


def test_recurrent_preset_is_for_shd_only(runner):
    with pytest.raises(BadValueError, match="recurrent exists for fsdd, shd"):
        preset("fmnist", "recurrent")
    res = runner.invoke(cli, ["train", "--dataset", "nmnist", "--preset", "recurrent"])
    _usage_error(res, "--preset", "'recurrent'")


def test_describe_marks_recurrent_layers_and_the_spread():
    c = preset("synthetic").replace(recurrent=(False, True), tau_mem_spread=0.5)
    lines = c.describe().splitlines()
    line = next(s for s in lines if s.startswith("network"))
    neuron = next(s for s in lines if s.startswith("neuron"))
    assert "hidden 128-128r," in line and "tau_mem_spread 0.5" in neuron
