"""``spikegrad export`` (model file, NIR) and ``spikegrad evaluate`` of a model file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from spikegrad.cli import cli

import spikegrad as sg
from spikegrad.export import trained_network
from spikegrad.train import checkpoint as ck

from .conftest import TINY


def _one_line_error(res, code=1):
    assert res.exit_code == code, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    return lines[0]


@pytest.fixture
def run(runner, tiny_toml):
    res = runner.invoke(
        cli, ["train", "--config", str(tiny_toml), "--epochs", "1", "-q", "--out", "run"]
    )
    assert res.exit_code == 0, res.output
    return runner


def test_export_model_and_evaluate_it_like_the_run(run):
    res = run.invoke(cli, ["export", "run", "--model", "m.npz", "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["source"].endswith("best.npz") and r["model"] == "m.npz" and r["nir"] is None
    saved = ck.load("run/best.npz")
    net = sg.Network.load("m.npz")
    assert net.sizes == [40, *TINY.hidden, 10] and net.alpha == TINY.alpha
    for k, a in saved.params.items():
        assert np.array_equal(net.params[k], a)
    by_run = run.invoke(cli, ["evaluate", "run", "--split", "val", "--json"])
    by_model = run.invoke(cli, ["evaluate", "m.npz", "--split", "val", "--json"])
    assert by_run.exit_code == by_model.exit_code == 0, by_model.output
    a, b = json.loads(by_run.stdout), json.loads(by_model.stdout)
    assert b["epoch"] is None and b["checkpoint"] == "m.npz"
    for key in ("accuracy", "loss", "confusion", "n", "dataset"):
        assert a[key] == b[key], key
    human = run.invoke(cli, ["evaluate", "m.npz", "--split", "val"])
    assert human.exit_code == 0 and human.output.startswith("m.npz on synthetic val")


def test_export_nir_matches_the_network(run):
    pytest.importorskip("nir")
    from spikegrad.nir import from_nir

    res = run.invoke(cli, ["export", "run/last.npz", "--nir", "m.nir", "--dt", "0.002"])
    assert res.exit_code == 0, res.output
    assert "dt 0.002 s -> m.nir" in res.output and "note: NIR's LIF resets" in res.output
    net, _, _ = trained_network("run/last.npz")
    back = from_nir("m.nir")
    assert back.alpha == net.alpha and back.alpha_out == net.alpha_out
    x = (np.random.default_rng(0).random((4, 30, 40)) < 0.2).astype(np.uint8)
    assert np.array_equal(back.forward(x), net.forward(x))


def test_export_and_evaluate_errors(run):
    assert "--model" in run.invoke(cli, ["export", "run"]).output
    assert run.invoke(cli, ["export", "run"]).exit_code == 2
    open("bad.npz", "wb").write(b"garbage")
    assert "bad.npz" in _one_line_error(run.invoke(cli, ["export", "bad.npz", "--model", "m.npz"]))
    sg.Network([40, 8, 10]).save("bare.npz")
    line = _one_line_error(run.invoke(cli, ["evaluate", "bare.npz"]))
    assert "bare.npz: the model file holds no run config; name the --dataset" in line
    sg.Network([7, 8, 10]).save("odd.npz")
    line = _one_line_error(run.invoke(cli, ["evaluate", "odd.npz", "--dataset", "synthetic"]))
    assert "odd.npz: the model takes 7 inputs" in line
    res = run.invoke(cli, ["export", "--help"])
    assert res.exit_code == 0 and "Examples:" in res.output


def test_export_of_an_alif_run_needs_approximate(runner, tiny_toml):
    pytest.importorskip("nir")
    from spikegrad.nir import from_nir

    args = ["train", "--config", str(tiny_toml), "--epochs", "1", "-q", "--out", "alif"]
    res = runner.invoke(cli, [*args, "--neuron", "alif"])
    assert res.exit_code == 0, res.output
    line = _one_line_error(runner.invoke(cli, ["export", "alif", "--nir", "a.nir"]))
    assert "ALIF has no NIR node" in line and "approximate" in line
    res = runner.invoke(cli, ["export", "alif", "--nir", "a.nir", "--approximate"])
    assert res.exit_code == 0, res.output
    assert "note:" in res.output  # the approximation is said, not silent
    assert set(from_nir("a.nir").neurons) == {"lif"}  # written as the nearest node
