"""TrainConfig: the paper's presets, TOML round trips, precedence and errors."""

from __future__ import annotations

import math

import pytest

from spikegrad.errors import ConfigError
from spikegrad.train.config import (
    DATASETS,
    dumps_toml,
    from_dict,
    load_config,
    loads_toml,
    make_config,
    preset,
)


@pytest.mark.parametrize("name", DATASETS)
def test_preset_toml_round_trip(name):
    cfg = preset(name)
    assert from_dict(loads_toml(cfg.to_toml())) == cfg


def test_presets_are_the_papers_settings():
    fm, nm, shd = (preset(d, "paper") for d in ("fmnist", "nmnist", "shd"))
    assert fm.alpha == pytest.approx(0.904837, abs=1e-6) and fm.alpha_out == pytest.approx(
        0.904837, abs=1e-6
    )
    assert shd.alpha == pytest.approx(0.818731, abs=1e-6) and shd.alpha_out == pytest.approx(
        0.904837, abs=1e-6
    )
    assert (fm.lr, nm.lr, shd.lr) == (2e-4, 2e-4, 1e-3)
    assert fm.batch_size == nm.batch_size == shd.batch_size == 256
    assert (fm.init, nm.init, shd.init) == ("normal", "uniform", "uniform")
    assert (fm.reg["f_up"], nm.reg["f_up"], shd.reg["f_up"]) == (1.0, 1.0, 10.0)
    assert fm.reg["lambda_up"] == 0.06 and fm.reg["lambda_low"] == 100 and fm.reg["f_low"] == 1e-3
    assert (
        fm.encoding["T"] == 100
        and nm.encoding["T"] == 300
        and shd.encoding == {"dt": 2e-3, "T": 500}
    )
    assert fm.hidden == nm.hidden == shd.hidden == (200, 200)


def test_toml_writer_special_values():
    cfg = preset().replace(b_th=math.inf, reg=None, data_dir='we"ird\\path')
    back = from_dict(loads_toml(cfg.to_toml()))
    assert back == cfg and back.reg is None and math.isinf(back.b_th)
    assert loads_toml(dumps_toml({"a b": [1, 2.5], "t": {"x": True}})) == {
        "a b": [1, 2.5],
        "t": {"x": True},
    }


def test_precedence_preset_file_options(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('dataset = "shd"\nlr = 0.01\nepochs = 3\n', encoding="utf-8")
    cfg = make_config(None, f, epochs=5)
    assert (cfg.dataset, cfg.lr, cfg.epochs, cfg.batch_size) == ("shd", 0.01, 5, 256)
    with pytest.raises(ConfigError, match="is for data set 'shd'"):
        make_config("fmnist", f)


@pytest.mark.parametrize(
    "text, match",
    [
        ("colour = 1\n", "unknown config keys"),
        ("grad = 'fast'\n", "grad must be one of"),
        ("val_fraction = 1.5\n", "val_fraction"),
        ("lr = [\n", "invalid TOML"),
        ("[encoding]\ndt = 0.5\n", "encoding.dt must equal dt"),
        ("[reg]\nf_up = 2\nfoo = 1\n", "unknown keys"),
    ],
)
def test_bad_config_files(tmp_path, text, match):
    f = tmp_path / "bad.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=match):
        load_config(f)
