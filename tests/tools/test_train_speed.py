"""``python tools/train_speed.py`` on the CPU with tiny sizes."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import train_speed

from spikegrad.bench import CASES, make_inputs


def test_paper_projection_counts_updates():
    assert train_speed.paper_updates(256) == 6200


def test_synthetic_dataset_holds_the_case_inputs():
    case = dataclasses.replace(CASES["shd-large"], sizes=(30, 8, 8, 4), B=5, T=30, rate=0.05)
    data = train_speed.synthetic_dataset(case, 3)
    assert (len(data), data.T, data.n_inputs, data.n_classes) == (15, 30, 30, 4)
    x, y = make_inputs(dataclasses.replace(case, B=15))
    assert np.array_equal(data.labels, y) and data.n_events == x.n_events
    for k in (0, 7, 14):  # each sample's events, in (t, i) order, are the case's events
        sl = slice(data.offsets[k], data.offsets[k + 1])
        keys = data.t[sl] * 30 + data.i[sl]
        assert np.all(np.diff(keys) > 0)
        assert np.array_equal(keys, np.sort((x.t * 30 + x.i)[x.b == k]))


def test_cli_tiny(tmp_path, capsys):
    out = tmp_path / "ts.json"
    argv = ["--steps", "5", "--warmup", "2", "--pool", "2", "--batch-size", "4", "--T", "30"]
    argv += ["--sizes", "40", "20", "20", "5", "--backend", "numpy", "--json", str(out)]
    train_speed.main(argv)
    text = capsys.readouterr().out
    r = json.loads(out.read_text())
    assert r["updates"] == 7 and r["steps"] == 5 and r["steps_per_s"] > 0
    assert r["paper_updates"] == 200 * (8156 // 4)
    assert r["projected_s"] == r["paper_updates"] / r["steps_per_s"]
    assert f"{r['steps_per_s']:.2f} steps/s" in text and "projected 407800 updates" in text
