"""The front end end to end: FSDD wav folders and SHD-layout files through the CLI."""

from __future__ import annotations

import json
import wave

import numpy as np
import pytest
from click.testing import CliRunner
from spikegrad.cli import cli

from spikegrad import audio, datasets
from spikegrad.audio.shd import write_shd

SR = 8000
FREQS = (300, 2500)  # two "words": a low and a high tone


def _tone(freq, k, seconds=0.25):
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(k)
    return 0.5 * np.sin(2 * np.pi * freq * (1 + 0.03 * rng.normal()) * t)


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPIKEGRAD_CACHE", str(tmp_path / "cache"))
    return CliRunner()


def _write_wav(path, x):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


@pytest.mark.filterwarnings("ignore:layer . has no active neuron")
def test_encoder_output_as_shd_file_reads_and_trains(runner, tmp_path):
    (tmp_path / "shd").mkdir()
    for split, n in (("train", 24), ("test", 8)):
        labels = [k % 2 for k in range(n)]
        spikes = [
            audio.encode(_tone(FREQS[y], 100 * (split == "test") + k), SR)
            for k, y in enumerate(labels)
        ]
        keys = [f"word{k}" for k in range(20)]
        write_shd(tmp_path / "shd" / f"shd_{split}.h5", spikes, labels, [0] * n, keys)
    ds = datasets.load("shd", root=tmp_path, split="train")
    assert (len(ds), ds.n_inputs, ds.T) == (24, 700, 500) and ds.class_names[1] == "word1"
    t, u = spikes[0]  # the first test sample: its events are the 2 ms binned encoder output
    test = datasets.load("shd", root=tmp_path, split="test")
    step = np.rint(t.astype(np.float32).astype(np.float64) / 2e-3).astype(np.int64)
    a, b = test.offsets[:2]
    got = test.t[a:b].astype(np.int64) * 700 + test.i[a:b]
    np.testing.assert_array_equal(np.sort(got), np.unique(step * 700 + u))

    args = ["--dataset", "shd", "--data-dir", "shd", "--hidden", "32", "--batch-size", "8"]
    res = runner.invoke(
        cli, ["train", *args, "--epochs", "4", "--val-fraction", "0", "--json", "--out", "r"]
    )
    assert res.exit_code == 0, res.output
    history = json.loads(res.stdout)["history"]
    assert len(history) == 4 and history[-1]["samples"] == 24
    res = runner.invoke(cli, ["evaluate", "r", "--split", "test", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["accuracy"] >= 0.75  # two tones an octave and more apart


def test_fsdd_train_evaluate_and_plot(runner, tmp_path):
    rec = tmp_path / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    for digit in (0, 1):
        for speaker in ("ann", "ben"):
            for idx in (1, 5, 6, 7):
                _write_wav(rec / f"{digit}_{speaker}_{idx}.wav", _tone(FREQS[digit], idx))
    common = ["--dataset", "fsdd", "--data-dir", str(tmp_path)]
    res = runner.invoke(
        cli,
        [
            "train",
            *common,
            "--epochs",
            "1",
            "--hidden",
            "16",
            "--val-speaker",
            "ben",
            "--json",
            "--out",
            "r",
        ],
    )
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout)["history"][0]
    assert row["samples"] == 6 and "val_accuracy" in row  # ann trains, ben validates
    res = runner.invoke(cli, ["evaluate", "r", *common, "--split", "test", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["n"] == 4
    res = runner.invoke(cli, ["datasets", "verify", "fsdd", "--data-dir", str(tmp_path)])
    assert res.exit_code == 0 and "12 files (wav)" in res.output, res.output
    res = runner.invoke(cli, ["train", *common, "--val-speaker", "zed", "--epochs", "1"])
    assert res.exit_code != 0 and "val_speaker must be one of ann, ben" in res.output

    pytest.importorskip("matplotlib")
    res = runner.invoke(cli, ["plot", str(rec / "0_ann_5.wav"), "--out", "rec.png"])
    assert res.exit_code == 0, res.output
    assert open("rec.png", "rb").read(4) == b"\x89PNG"
