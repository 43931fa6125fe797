"""The real files in ../shared/data against the numbers in their SOURCE.md (skip if absent)."""

from __future__ import annotations

import numpy as np
import pytest

from spikegrad import datasets
from spikegrad.datasets.fmnist import read_fmnist
from spikegrad.datasets.nmnist import find_samples, read_samples


def test_fashion_mnist_train(shared_data):
    folder = shared_data / "fashion_mnist"
    if not folder.is_dir():
        pytest.skip("no fashion_mnist folder")
    images, labels = read_fmnist(folder, "train")
    assert images.shape == (60000, 28, 28)
    np.testing.assert_array_equal(np.bincount(labels), [6000] * 10)
    np.testing.assert_array_equal(labels[:10], [9, 0, 0, 3, 0, 2, 7, 2, 5, 5])
    assert round(float(images.mean()), 2) == 72.94 and round(float(images.std()), 2) == 90.02
    assert round(100 * float((images == 0).mean()), 1) == 50.2
    ds = datasets.load("fmnist", root=shared_data)
    assert (len(ds), ds.n_inputs, ds.T) == (60000, 784, 100)
    # a pixel spikes iff x > 0.20136, i.e. value >= 52; at most one spike per pixel
    assert ds.n_events == int((images >= 52).sum())
    assert ds.t.max() <= 99 and ds.t.min() == 4  # value 255 -> step 4
    with pytest.raises(datasets.MissingDataError, match="t10k"):  # the test split is held back
        datasets.load("fmnist", root=shared_data, split="test")


@pytest.mark.parametrize(
    ("split", "hist", "first", "stats"),
    [
        (
            "train",
            [97, 116, 99, 93, 105, 92, 94, 117, 87, 100],
            [5, 0, 4, 1, 9, 2, 1, 3, 1, 4],
            (1112, 4133.2, 4180.5, 7152),
        ),
        (
            "test",
            [8, 14, 8, 11, 14, 7, 10, 15, 2, 11],
            [7, 2, 1, 0, 4, 1, 4, 9, 5, 9],
            (1069, 3856.0, 3913, 6326),
        ),
    ],
)
def test_nmnist_subset(shared_data, split, hist, first, stats):
    folder = shared_data / "nmnist"
    if not folder.is_dir():
        pytest.skip("no nmnist folder")
    files, labels = find_samples(folder, split)
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), hist)
    np.testing.assert_array_equal(labels[:10], first)
    raw = np.diff(read_samples(files)["offsets"])
    assert (raw.min(), round(raw.mean(), 1), np.median(raw), raw.max()) == stats
    ds = datasets.load("nmnist", root=shared_data, split=split)
    assert (len(ds), ds.n_inputs, ds.T) == (sum(hist), 1156, 300)
    binned = ds.events_per_sample
    assert (binned <= raw).all() and binned.min() > 0.5 * raw.min()
    assert ds.extra["id"][0] == (1 if split == "train" else 60001)
