"""SHD reader on tiny HDF5 files written here in the real layout (no real SHD data exists here)."""

from __future__ import annotations

import numpy as np
import pytest

import spikegrad as sg
from spikegrad import datasets
from spikegrad.datasets import shd

# sample 0: two spikes of unit 3 in bin 1 (-> one), unit 699 at t = 0.0049 s -> round(2.45) = 2,
# a spike exactly at T * dt = 1.0 s (dropped) and one beyond it (dropped)
TIMES = [[0.0021, 0.0029, 0.0049, 1.0, 1.3], [0.0, 0.998], []]
UNITS = [[3, 3, 699, 5, 6], [0, 1], []]
LABELS = [7, 19, 0]


@pytest.fixture
def folder(tmp_path, write_shd):
    d = tmp_path / "shd"
    d.mkdir()
    write_shd(d / "shd_train.h5", TIMES, UNITS, LABELS, speaker=[4, 5, 4])
    return d


def test_decodes_bins_and_clamps(folder):
    ds = datasets.load("shd", root=folder.parent)
    assert (len(ds), ds.T, ds.n_inputs, ds.n_classes) == (3, 500, 700, 20)
    np.testing.assert_array_equal(ds.labels, LABELS)
    np.testing.assert_array_equal(ds.offsets, [0, 2, 4, 4])
    np.testing.assert_array_equal(ds.t, [1, 2, 0, 499])
    np.testing.assert_array_equal(ds.i, [3, 699, 0, 1])
    assert ds.class_names[19] == "word19"
    np.testing.assert_array_equal(ds.extra["speaker"], [4, 5, 4])
    x, y = ds.batch(np.arange(3))
    np.testing.assert_array_equal(y, LABELS)
    dense = x.to_dense()
    assert dense.shape == (3, 500, 700) and dense.max() == 1 and dense.sum() == 4


def test_options_dt_and_T(folder):
    ds = datasets.load("shd", root=folder.parent, dt=1e-3, T=3)
    # 0.0021 -> 2, 0.0029 -> 3 (dropped, T = 3), 0.0049 -> 5 dropped; 0.0 -> 0
    np.testing.assert_array_equal(ds.offsets, [0, 1, 2, 2])
    np.testing.assert_array_equal(ds.t, [2, 0])


def test_gzipped_and_float16_file(tmp_path, write_shd):
    d = tmp_path / "shd"
    d.mkdir()
    write_shd(d / "shd_test.h5.gz", TIMES, UNITS, LABELS, gz=True, times_dtype=np.float16)
    ds = datasets.load("shd", root=tmp_path, split="test")
    assert len(ds) == 3 and ds.offsets[-1] == 4


def test_sample_count_from_file(tmp_path, write_shd):
    d = tmp_path / "shd"
    d.mkdir()
    rng = np.random.default_rng(0)
    n = 37
    times = [np.sort(rng.uniform(0, 1.2, rng.integers(0, 50))) for _ in range(n)]
    units = [rng.integers(0, 700, len(t)) for t in times]
    write_shd(d / "shd_train.h5", times, units, rng.integers(0, 20, n), keys=None)
    ds = datasets.load("shd", root=tmp_path)
    assert len(ds) == n and ds.class_names[0] == "null" and ds.class_names[10] == "zero"


def test_second_load_reads_no_raw_file(folder, monkeypatch):
    first = datasets.load("shd", root=folder.parent)

    def boom(path):
        raise AssertionError("raw file read although a cache entry exists")

    monkeypatch.setattr(shd, "read_shd", boom)
    second = datasets.load("shd", root=folder.parent)
    np.testing.assert_array_equal(first.t, second.t)
    np.testing.assert_array_equal(first.extra["speaker"], second.extra["speaker"])
    with pytest.raises(AssertionError):  # other encoding: another entry, so the file is read
        datasets.load("shd", root=folder.parent, T=100)


def test_truncated_hdf5(folder):
    f = folder / "shd_train.h5"
    f.write_bytes(f.read_bytes()[:1500])
    with pytest.raises(sg.DataError, match=r"shd_train\.h5"):
        datasets.load("shd", root=folder.parent, cache=False)


def test_corrupt_hdf5(folder):
    (folder / "shd_train.h5").write_bytes(b"not an hdf5 file" * 100)
    with pytest.raises(sg.DataError, match=r"shd_train\.h5: not a readable HDF5"):
        datasets.load("shd", root=folder.parent)


def test_corrupt_gzip(tmp_path):
    d = tmp_path / "shd"
    d.mkdir()
    (d / "shd_train.h5.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(sg.DataError, match=r"shd_train\.h5\.gz: corrupt or truncated gzip"):
        datasets.load("shd", root=tmp_path)


@pytest.mark.parametrize("key", ["spikes/times", "spikes/units", "labels"])
def test_missing_key(tmp_path, write_shd, key):
    d = tmp_path / "shd"
    d.mkdir()
    write_shd(d / "shd_train.h5", TIMES, UNITS, LABELS, skip=(key,))
    with pytest.raises(sg.DataError, match=f"shd_train.h5: HDF5 key /{key} is missing"):
        datasets.load("shd", root=tmp_path)


def test_wrong_dtype(tmp_path, write_shd):
    d = tmp_path / "shd"
    d.mkdir()
    write_shd(d / "shd_train.h5", TIMES, UNITS, LABELS, units_dtype=np.float32)
    with pytest.raises(sg.DataError, match="spikes/units must be a 1-D variable-length int"):
        datasets.load("shd", root=tmp_path)


@pytest.mark.parametrize(
    ("times", "labels", "units", "msg"),
    [
        (TIMES, [7, 20, 0], UNITS, r"labels outside 0\.\.19"),
        (TIMES, LABELS, [[3, 3, 700, 5, 6], [0, 1], []], "units outside"),
        ([[-0.1, 0, 0, 0, 0], [0, 0], []], LABELS, UNITS, "spike times must be finite and >= 0"),
    ],
)
def test_values_out_of_range(tmp_path, write_shd, times, labels, units, msg):
    d = tmp_path / "shd"
    d.mkdir()
    write_shd(d / "shd_train.h5", times, units, labels)
    with pytest.raises(sg.DataError, match=rf"shd_train\.h5: {msg}"):
        datasets.load("shd", root=tmp_path)


def test_empty_folder_names_files_and_urls(tmp_path):
    (tmp_path / "shd").mkdir()
    with pytest.raises(sg.DataError) as err:
        datasets.load("shd", root=tmp_path)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(tmp_path / "shd") in msg and "shd_train.h5" in msg
    assert "https://zenkelab.org/datasets/shd_train.h5.gz" in msg
