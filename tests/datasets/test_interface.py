"""The one interface: load/describe/data_root, splits, batches, determinism, the event cache."""

from __future__ import annotations

import numpy as np
import pytest

import spikegrad as sg
from spikegrad import datasets
from spikegrad.datasets import cache as event_cache
from spikegrad.datasets.binning import bin_events
from spikegrad.datasets.datafiles import user_cache_dir
from spikegrad.train.config import paper_training


def test_names_and_describe():
    assert datasets.NAMES == ("shd", "nmnist", "fmnist", "synthetic", "fsdd")
    d = datasets.describe("shd")
    assert (d["n_inputs"], d["n_classes"], d["T"], d["dt"]) == (700, 20, 500, 2e-3)
    assert d["urls"]["shd_train.h5.gz"][0] == "https://zenkelab.org/datasets/shd_train.h5.gz"
    assert d["md5_list"][0] == "https://zenkelab.org/datasets/md5sums.txt"
    assert datasets.describe("nmnist")["md5"]["Train.zip"] == "20959b8e626244a1b502305a9e6e2031"
    f = datasets.describe("fmnist")
    paper = paper_training("fmnist")  # the run layer's "paper" preset, shown by datasets info
    assert paper["lr"] == 2e-4 and paper["init"] == "normal" and f["n_inputs"] == 784
    assert datasets.describe("synthetic")["files"] == []
    with pytest.raises(sg.ConfigError, match="unknown data set 'mnist'"):
        datasets.describe("mnist")


def test_data_root_precedence(tmp_path, monkeypatch):
    assert datasets.data_root() == user_cache_dir() / "data"
    monkeypatch.setenv("SPIKEGRAD_DATA", str(tmp_path / "env"))
    assert datasets.data_root() == tmp_path / "env"
    assert datasets.data_root(tmp_path / "opt") == tmp_path / "opt"


def test_bad_arguments(tmp_path):
    with pytest.raises(sg.ConfigError, match="split"):
        datasets.load("shd", root=tmp_path, split="val")
    with pytest.raises(sg.ConfigError, match="unknown option"):
        datasets.load("fmnist", root=tmp_path, dt=1e-3)
    with pytest.raises(sg.ConfigError, match="T must be an integer >= 1; got 0"):
        datasets.load("shd", root=tmp_path, T=0)
    with pytest.raises(sg.ConfigError, match="unknown data set"):
        datasets.load("cifar", root=tmp_path)


def test_bin_events_rounds_drops_and_dedups():
    times = np.array([0.0, 0.4, 0.6, 1.5, 2.5, 9.4, 9.6, 3.0])
    units = np.array([1, 1, 0, 2, 2, 0, 0, 1])
    t, i, off = bin_events(times, units, [0, 7, 7, 8], 1.0, 10, 3)
    # 0.0, 0.4 -> (0, 1) once; 0.6 -> (1, 0); 1.5 -> 2 and 2.5 -> 2 (ties to even) -> (2, 2)
    # once; 9.4 -> 9; 9.6 -> 10 dropped; empty sample; 3.0 -> 3
    np.testing.assert_array_equal(t, [0, 1, 2, 9, 3])
    np.testing.assert_array_equal(i, [1, 0, 2, 0, 1])
    np.testing.assert_array_equal(off, [0, 4, 4, 5])


def test_bin_events_chunks_agree():
    rng = np.random.default_rng(0)
    off = np.r_[0, np.cumsum(rng.integers(0, 50, 300))]
    times, units = rng.uniform(0, 1.2, off[-1]), rng.integers(0, 70, off[-1])
    whole = bin_events(times, units, off, 0.01, 100, 70)
    for chunk in (1, 37):
        for a, b in zip(whole, bin_events(times, units, off, 0.01, 100, 70, chunk), strict=True):
            np.testing.assert_array_equal(a, b)


def test_split_batches_and_fresh_shuffle():
    ds = datasets.load("synthetic", n_samples=100, download=True, cache=False)
    train, val = ds.split(0.2, seed=3)
    assert (len(train), len(val)) == (80, 20)
    again = ds.split(0.2, seed=3)
    np.testing.assert_array_equal(train.labels, again[0].labels)
    assert not set(map(tuple, _rows(train))) & set(map(tuple, _rows(val)))
    first = [y for _, y in train.batches(16, seed=1)]
    second = [y for _, y in train.batches(16, seed=2)]
    repeat = [y for _, y in train.batches(16, seed=1)]
    assert all(np.array_equal(a, b) for a, b in zip(first, repeat, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    x, y = next(train.batches(16, shuffle=False))
    assert x.to_dense().shape == (16, train.T, train.n_inputs) and y.shape == (16,)
    sizes = [len(y) for _, y in train.batches(32, drop_last=True)]
    assert sizes == [32, 32]


def _rows(ds):
    x, _ = ds.batch(np.arange(len(ds)))
    return x.to_dense().reshape(len(ds), -1)


def test_cache_roundtrip_and_corrupt_entry(tmp_path):
    ds = datasets.load("synthetic", n_samples=20)
    ds.extra["id"] = np.arange(20)
    path = tmp_path / "c" / "x.npz"
    event_cache.save(path, ds)
    back = event_cache.load(path)
    for k in ("t", "i", "offsets", "labels"):
        np.testing.assert_array_equal(getattr(back, k), getattr(ds, k))
    assert (back.T, back.n_inputs, back.class_names, back.name) == (
        ds.T,
        ds.n_inputs,
        ds.class_names,
        ds.name,
    )
    np.testing.assert_array_equal(back.extra["id"], np.arange(20))
    assert [p.name for p in path.parent.iterdir()] == ["x.npz"]  # no temporary left behind
    path.write_bytes(b"PK\x03\x04broken")
    assert event_cache.load(path) is None
    built = []
    got = event_cache.cached("x", "train", {}, [], lambda: built.append(1) or ds, tmp_path / "c2")
    got = event_cache.cached("x", "train", {}, [], lambda: built.append(1) or ds, tmp_path / "c2")
    assert built == [1] and len(got) == 20
    assert event_cache.cache_dir(False) is None


def test_subset_keeps_extra():
    ds = datasets.load("synthetic", n_samples=10)
    ds.extra["id"] = np.arange(10) * 10
    np.testing.assert_array_equal(ds.subset([3, 1]).extra["id"], [30, 10])
