"""Fashion-MNIST reader (IDX files written here) and the paper's latency encoding."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pytest

import spikegrad as sg
from spikegrad import datasets
from spikegrad.datasets import fmnist


def test_latency_times():
    x = np.array([[1.0, 0.2, 0.0, 0.2013, 0.2014, 0.5]])
    t, i, offsets = fmnist.latency_encode(x)
    # x = 1 -> floor(20 ln 1.25) = 4; x <= 0.2 never; threshold 0.2 e^5 / (e^5 - 1) = 0.20136
    assert math.isclose(0.2 * math.e**5 / (math.e**5 - 1), 0.20136, abs_tol=1e-5)
    np.testing.assert_array_equal(i, [0, 4, 5])
    np.testing.assert_array_equal(t, [4, 99, math.floor(20 * math.log(0.5 / 0.3))])
    np.testing.assert_array_equal(offsets, [0, 3])


def test_latency_options_and_chunks():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (9000, 20)).astype(np.uint8)
    t, i, offsets = fmnist.latency_encode(x, T=30, tau_eff=10.0, thr=0.3, vmax=255.0)
    v = x / 255.0
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = np.where(v > 0.3, np.floor(10 * np.log(v / (v - 0.3))), np.inf)
    s, j = np.nonzero(ref < 30)
    np.testing.assert_array_equal(i, j)
    np.testing.assert_array_equal(t, ref[s, j])
    np.testing.assert_array_equal(offsets, np.r_[0, np.cumsum(np.bincount(s, minlength=9000))])


IMAGES = np.zeros((3, 28, 28), np.uint8)
IMAGES[0, 0, 0] = 255  # -> unit 0 at step 4
IMAGES[1, 27, 27] = 51  # x = 0.2 -> no spike
IMAGES[2, 1, 2] = 128  # unit 30


@pytest.mark.parametrize("gz", [True, False])
def test_reads_official_names(tmp_path, write_fmnist, gz):
    write_fmnist(tmp_path / "fmnist", IMAGES, [9, 0, 3], gz=gz)
    write_fmnist(tmp_path / "fmnist", IMAGES[:2], [1, 2], prefix="t10k", gz=gz)
    ds = datasets.load("fmnist", root=tmp_path)
    assert (len(ds), ds.T, ds.n_inputs, ds.n_classes) == (3, 100, 784, 10)
    np.testing.assert_array_equal(ds.labels, [9, 0, 3])
    np.testing.assert_array_equal(ds.offsets, [0, 1, 1, 2])
    np.testing.assert_array_equal(ds.i, [0, 30])
    assert ds.t[0] == 4 and ds.class_names[9] == "Ankle boot"
    test = datasets.load("fmnist", root=tmp_path, split="test")
    np.testing.assert_array_equal(test.labels, [1, 2])
    x, _ = test.batch([0, 1])
    assert x.to_dense().sum() == 1


def test_second_load_reads_no_raw_file(tmp_path, write_fmnist, monkeypatch):
    write_fmnist(tmp_path / "fmnist", IMAGES, [9, 0, 3])
    first = datasets.load("fmnist", root=tmp_path)
    monkeypatch.setattr(fmnist, "read_fmnist", None)  # any call would fail
    second = datasets.load("fmnist", root=tmp_path)
    np.testing.assert_array_equal(first.i, second.i)
    np.testing.assert_array_equal(second.extra["index"], [0, 1, 2])


def test_root_may_be_the_data_set_folder(tmp_path, write_fmnist):
    write_fmnist(tmp_path / "my-images", IMAGES, [9, 0, 3])
    ds = datasets.load("fmnist", root=tmp_path / "my-images")
    np.testing.assert_array_equal(ds.labels, [9, 0, 3])
    with pytest.raises(datasets.MissingDataError, match=str(tmp_path / "fmnist")):
        datasets.load("fmnist", root=tmp_path)  # a miss names the canonical folder


def test_wrong_magic(tmp_path, write_fmnist, idx_bytes):
    d = write_fmnist(tmp_path / "fmnist", IMAGES, [9, 0, 3])
    (d / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(IMAGES, magic=0x0801)))
    with pytest.raises(
        sg.DataError, match=r"train-images-idx3-ubyte\.gz: wrong magic number 0x00000801"
    ):
        datasets.load("fmnist", root=tmp_path)
    with pytest.raises(sg.DataError, match="wrong magic number 0x12345678"):
        fmnist.read_idx(_raw(tmp_path, b"\x12\x34\x56\x78" + bytes(8)))


def _raw(tmp_path, data):
    p = tmp_path / "x-idx1-ubyte"
    p.write_bytes(data)
    return p


def test_size_does_not_match_header(tmp_path, write_fmnist, idx_bytes):
    d = write_fmnist(tmp_path / "fmnist", IMAGES, [9, 0, 3])
    (d / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes([9, 0, 3])[:-1]))
    with pytest.raises(
        sg.DataError, match=r"train-labels-idx1-ubyte\.gz: 10 bytes but the header \(3,\) needs 11"
    ):
        datasets.load("fmnist", root=tmp_path)
    with pytest.raises(sg.DataError, match="header truncated"):
        fmnist.read_idx(_raw(tmp_path, b"\x00\x00\x08\x03" + bytes(6)))


def test_label_count_and_range(tmp_path, write_fmnist):
    write_fmnist(tmp_path / "fmnist", IMAGES, [9, 0])
    with pytest.raises(sg.DataError, match=r"train-labels-idx1-ubyte\.gz: 2 labels for 3 images"):
        datasets.load("fmnist", root=tmp_path)
    write_fmnist(tmp_path / "fmnist", IMAGES, [9, 10, 0])
    with pytest.raises(sg.DataError, match=r"train-labels-idx1-ubyte\.gz: labels outside 0\.\.9"):
        datasets.load("fmnist", root=tmp_path)


def test_truncated_gzip(tmp_path, write_fmnist):
    d = write_fmnist(tmp_path / "fmnist", IMAGES, [9, 0, 3])
    f = d / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:40])
    with pytest.raises(
        sg.DataError, match=r"train-images-idx3-ubyte\.gz: corrupt or truncated gzip"
    ):
        datasets.load("fmnist", root=tmp_path)


def test_empty_folder(tmp_path):
    (tmp_path / "fmnist").mkdir()
    with pytest.raises(sg.DataError) as err:
        datasets.load("fmnist", root=tmp_path, split="test")
    msg = str(err.value)
    assert "t10k-images-idx3-ubyte.gz" in msg and str(tmp_path / "fmnist") in msg
    assert (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-images-idx3-ubyte.gz"
        in msg
    )
