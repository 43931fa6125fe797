"""N-MNIST reader: 40-bit event files written here, in the official tree and the flat layout."""

from __future__ import annotations

import numpy as np
import pytest

import spikegrad as sg
from spikegrad import datasets
from spikegrad.datasets import nmnist

# (x, y, p, t_us): two events in one 1 ms bin and unit (-> one spike), an ON and an OFF event
# at the same pixel, a time at 299.6 ms (-> step 300, dropped) and one at 299.4 ms (-> 299)
EVENTS = (
    [1, 1, 33, 33, 0, 5],
    [2, 2, 33, 33, 0, 6],
    [1, 1, 1, 0, 0, 1],
    [100, 400, 1000, 1200, 299_600, 299_400],
)


def test_decode_events(nmnist_bytes):
    ev = nmnist.decode_events(nmnist_bytes([33, 0], [0, 33], [1, 0], [8_388_607, 5]))
    np.testing.assert_array_equal(ev["x"], [33, 0])
    np.testing.assert_array_equal(ev["y"], [0, 33])
    np.testing.assert_array_equal(ev["p"], [1, 0])
    np.testing.assert_array_equal(ev["t_us"], [2**23 - 1, 5])


@pytest.fixture
def tree(tmp_path, nmnist_bytes):
    root = tmp_path / "nmnist"
    for split, label, name in (
        ("Train", 3, "00001.bin"),
        ("Train", 0, "00002.bin"),
        ("Test", 9, "00007.bin"),
    ):
        (root / split / str(label)).mkdir(parents=True, exist_ok=True)
        (root / split / str(label) / name).write_bytes(nmnist_bytes(*EVENTS))
    return root


def test_official_tree_merge(tree):
    ds = datasets.load("nmnist", root=tree.parent)
    assert (len(ds), ds.T, ds.n_inputs) == (2, 300, 1156)
    np.testing.assert_array_equal(ds.labels, [0, 3])  # sorted by digit folder
    k = 1 + 34 * 2
    # bins: (0, 69) once; (1, 33 + 34 * 33) for both polarities -> one; (299, 5 + 34 * 6)
    np.testing.assert_array_equal(ds.t[: ds.offsets[1]], [0, 1, 299])
    np.testing.assert_array_equal(ds.i[: ds.offsets[1]], [k, 33 + 34 * 33, 5 + 34 * 6])
    np.testing.assert_array_equal(ds.extra["id"], [2, 1])
    test = datasets.load("nmnist", root=tree.parent, split="test")
    np.testing.assert_array_equal(test.labels, [9])


def test_official_tree_both_polarities(tree):
    ds = datasets.load("nmnist", root=tree.parent, polarity="both", dt=2e-3, T=10)
    assert ds.n_inputs == 2312
    # 1000 and 1200 µs -> step 0 and 1 (round half to even: 0.5 -> 0, 0.6 -> 1)
    np.testing.assert_array_equal(ds.t[: ds.offsets[1]], [0, 0, 1])
    np.testing.assert_array_equal(
        ds.i[: ds.offsets[1]], [1156 + 69, 1156 + 33 + 34 * 33, 33 + 34 * 33]
    )
    with pytest.raises(sg.ConfigError, match="polarity"):
        datasets.load("nmnist", root=tree.parent, polarity="on")


@pytest.fixture
def flat(tmp_path, nmnist_bytes):
    d = tmp_path / "nmnist" / "NMNISTsmall"
    d.mkdir(parents=True)
    for k in (1, 2, 60001):
        (d / f"{k}.bs2").write_bytes(nmnist_bytes(*EVENTS))
    (d / "train1K.txt").write_text("#sample\t#class\n1\t5\n2\t0\n")
    (d / "test100.txt").write_text("#sample\t#class\n60001\t7\n")
    return d


def test_flat_layout(flat):
    ds = datasets.load("nmnist", root=flat.parent.parent)
    np.testing.assert_array_equal(ds.labels, [5, 0])
    np.testing.assert_array_equal(ds.extra["id"], [1, 2])
    test = datasets.load("nmnist", root=flat.parent.parent, split="test")
    np.testing.assert_array_equal(test.labels, [7])
    assert test.events_per_sample.tolist() == [3]


def test_size_not_multiple_of_5(flat):
    (flat / "2.bs2").write_bytes((flat / "2.bs2").read_bytes()[:-2])
    with pytest.raises(sg.DataError, match=r"2\.bs2: size 28 bytes is not a multiple of 5"):
        datasets.load("nmnist", root=flat.parent.parent)


@pytest.mark.parametrize(("x", "y"), [(34, 0), (0, 200)])
def test_address_out_of_range(flat, nmnist_bytes, x, y):
    (flat / "2.bs2").write_bytes(nmnist_bytes([0, x], [0, y], [0, 0], [1, 2]))
    with pytest.raises(sg.DataError, match=r"2\.bs2: event address outside 0\.\.33"):
        datasets.load("nmnist", root=flat.parent.parent)


def test_label_out_of_range(flat, tree):
    (flat / "train1K.txt").write_text("#sample\t#class\n1\t12\n")
    with pytest.raises(sg.DataError, match=r"train1K\.txt: line 2: label 12 outside 0\.\.9"):
        nmnist.load_nmnist(flat, "train", 1e-3, 300)
    (tree / "Train" / "10").mkdir()
    with pytest.raises(sg.DataError, match=r"Train/10: label 10 outside 0\.\.9"):
        datasets.load("nmnist", root=tree.parent)


def test_list_names_missing_file(flat):
    (flat / "train1K.txt").write_text("#sample\t#class\n1\t5\n3\t1\n")
    with pytest.raises(sg.DataError, match=r"train1K\.txt: line 3: no file 3\.bs2"):
        datasets.load("nmnist", root=flat.parent.parent)


def test_empty_folders(tmp_path):
    (tmp_path / "nmnist" / "Train" / "0").mkdir(parents=True)
    with pytest.raises(sg.DataError, match=r"Train: no \.bin files"):
        datasets.load("nmnist", root=tmp_path)
    with pytest.raises(datasets.MissingDataError, match=r"Test/<digit>/\*\.bin .*Test\.zip"):
        datasets.load("nmnist", root=tmp_path, split="test")


def test_cache_is_keyed_by_file_stats(flat, nmnist_bytes):
    a = datasets.load("nmnist", root=flat.parent.parent)
    (flat / "1.bs2").write_bytes(nmnist_bytes([0], [0], [0], [0]))
    b = datasets.load("nmnist", root=flat.parent.parent)
    assert a.events_per_sample[0] == 3 and b.events_per_sample[0] == 1
