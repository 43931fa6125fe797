"""One definition of the built-in synthetic task: the library's and the command line's agree."""

from __future__ import annotations

import numpy as np
from spikegrad.cli import cli

import spikegrad as sg
from spikegrad.datasets.registry import SYNTHETIC_TASK
from spikegrad.train import build
from spikegrad.train import checkpoint as ck
from spikegrad.train import evaluate as evaluation
from spikegrad.train.config import preset
from spikegrad.train.evaluate import evaluate


def _same(a: sg.datasets.EventDataset, b: sg.datasets.EventDataset) -> bool:
    return (
        (a.n_inputs, a.T, a.n_classes) == (b.n_inputs, b.T, b.n_classes)
        and np.array_equal(a.labels, b.labels)
        and np.array_equal(a.offsets, b.offsets)
        and np.array_equal(a.t, b.t)
        and np.array_equal(a.i, b.i)
    )


def test_preset_encoding_is_the_library_task():
    assert preset("synthetic").encoding == SYNTHETIC_TASK
    assert sg.datasets.describe("synthetic")["encoding"] == SYNTHETIC_TASK
    for split in ("train", "test"):
        lib = sg.datasets.load("synthetic", split=split)
        cli_data, _ = build.load_data(preset("synthetic").replace(val_fraction=0), split)
        assert len(lib) == SYNTHETIC_TASK["n_samples"] and _same(lib, cli_data)


def test_cli_trained_model_scores_the_same_on_the_library_task(runner):
    res = runner.invoke(cli, ["train", "--epochs", "3", "-q", "--out", "run"])
    assert res.exit_code == 0, res.output
    want = evaluation.evaluate_run("run", split="test")
    saved = ck.load("run/best.npz")
    net = build.build_network(saved.config, 100, 10)
    ck.restore(saved, net)
    got = evaluate(net, sg.datasets.load("synthetic", split="test"))
    assert got["accuracy"] == want["accuracy"] and got["loss"] == want["loss"]
    assert got["accuracy"] > 0.5  # chance is 0.1; the old mismatched task scored 0.088
