"""Downloads from a local HTTP server: success, bad checksum, truncation, interruption, resume."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import importlib
import io
import zipfile

import numpy as np
import pytest

import spikegrad as sg
from spikegrad import datasets
from spikegrad.datasets import registry
from spikegrad.datasets.datafiles import _unzip, download_files, fetch, verify_files

# the module (the package attribute ``download`` is the public function of the same name)
dl = importlib.import_module("spikegrad.datasets.datafiles")
PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
MD5 = hashlib.md5(PAYLOAD).hexdigest()


def _no_partial(folder):
    return not [p for p in folder.rglob("*") if p.name.endswith(".part")]


def test_success_and_existing_good_file_kept(tmp_path, http_server, capsys):
    http_server.files["/f.bin"] = PAYLOAD
    dest = tmp_path / "f.bin"
    assert fetch([http_server.url("/f.bin")], dest, MD5, progress=True) == dest
    assert dest.read_bytes() == PAYLOAD and _no_partial(tmp_path)
    assert "100.0%" in capsys.readouterr().err
    fetch([http_server.url("/f.bin")], dest, MD5, progress=False)
    assert len(http_server.log) == 1  # the good file was not fetched again


def test_checksum_mismatch_never_replaces_a_good_file(tmp_path, http_server):
    http_server.files["/f.bin"] = PAYLOAD[:-1] + b"X"
    dest = tmp_path / "f.bin"
    with pytest.raises(sg.DataError, match=r"f\.bin: download failed .*checksum mismatch"):
        fetch([http_server.url("/f.bin")], dest, MD5, progress=False)
    assert not dest.exists() and _no_partial(tmp_path)
    dest.write_bytes(b"good old file")  # a present file with another checksum (e.g. older)
    with pytest.raises(sg.DataError, match="checksum mismatch"):
        fetch([http_server.url("/f.bin")], dest, MD5, progress=False)
    assert dest.read_bytes() == b"good old file" and _no_partial(tmp_path)


def test_truncated_transfer_then_resume_with_range(tmp_path, http_server):
    http_server.files["/f.bin"] = PAYLOAD
    http_server.modes["/f.bin"] = "truncate"
    dest = tmp_path / "f.bin"
    with pytest.raises(sg.DataError, match=r"f\.bin: download failed"):
        fetch([http_server.url("/f.bin")], dest, MD5, progress=False)
    assert not dest.exists()  # nothing under the final name
    part = tmp_path / "f.bin.part"
    assert part.stat().st_size == len(PAYLOAD) // 2
    http_server.modes["/f.bin"] = "ok"
    fetch([http_server.url("/f.bin")], dest, MD5, progress=False)
    assert dest.read_bytes() == PAYLOAD and not part.exists()
    assert http_server.log[-1] == ("/f.bin", f"bytes={len(PAYLOAD) // 2}-")


def test_keyboard_interrupt_leaves_only_the_part_file(tmp_path, http_server, monkeypatch):
    http_server.files["/f.bin"] = PAYLOAD
    monkeypatch.setattr(dl, "CHUNK", 1 << 16)

    def interrupt(self, n):
        raise KeyboardInterrupt

    dest = tmp_path / "f.bin"
    with monkeypatch.context() as m:
        m.setattr(dl._Progress, "update", interrupt)
        with pytest.raises(KeyboardInterrupt):
            fetch([http_server.url("/f.bin")], dest, MD5, progress=False)
    assert not dest.exists() and (tmp_path / "f.bin.part").stat().st_size == 1 << 16
    fetch([http_server.url("/f.bin")], dest, MD5, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert http_server.log[-1] == ("/f.bin", f"bytes={1 << 16}-")


def test_interrupted_resume_on_server_without_range(tmp_path, http_server):
    http_server.files["/f.bin"] = PAYLOAD
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD[:1000])
    http_server.modes["/f.bin"] = "norange"  # answers 200 with the whole file: start over
    fetch([http_server.url("/f.bin")], tmp_path / "f.bin", MD5, progress=False)
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD


def test_complete_part_file_is_finished_without_transfer(tmp_path, http_server):
    http_server.files["/f.bin"] = PAYLOAD
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD)  # interrupted just before the rename
    fetch([http_server.url("/f.bin")], tmp_path / "f.bin", MD5, progress=False)
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD


def test_mirror_fallback_and_offline_message(tmp_path, http_server):
    http_server.files["/mirror/f.bin"] = PAYLOAD
    urls = [http_server.url("/gone/f.bin"), http_server.url("/mirror/f.bin")]
    fetch(urls, tmp_path / "f.bin", MD5, progress=False)
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD
    dead = ["http://127.0.0.1:9/f.bin"]  # discard port: connection refused, as offline
    with pytest.raises(
        sg.DataError, match=r"g\.bin: download failed \(http://127\.0\.0\.1:9/f\.bin: "
    ):
        fetch(dead, tmp_path / "g.bin", MD5, progress=False)


def _local(info, http_server, prefix):
    """``info`` with every URL pointing at the local server."""
    files = tuple(
        dataclasses.replace(f, urls=(http_server.url(f"{prefix}/{f.name}"),)) for f in info.files
    )
    md5_list = (http_server.url(f"{prefix}/md5sums.txt"),) if info.md5_list else ()
    return dataclasses.replace(info, files=files, md5_list=md5_list)


def test_shd_uses_its_md5sums_txt(tmp_path, http_server, write_shd):
    src = write_shd(tmp_path / "src.h5.gz", [[0.01]], [[3]], [4], gz=True).read_bytes()
    md5 = hashlib.md5(src).hexdigest()
    http_server.files.update(
        {
            "/shd/shd_train.h5.gz": src,
            "/shd/shd_test.h5.gz": src,
            "/shd/md5sums.txt": f"{md5}  shd_train.h5.gz\n{'0' * 32}  shd_test.h5.gz\n".encode(),
        }
    )
    info = _local(registry.SHD, http_server, "/shd")
    root = tmp_path / "root"
    paths = download_files(info, root, "train", progress=False)
    assert paths == [root / "shd" / "shd_train.h5.gz"]
    assert (root / "shd" / "md5sums.txt").is_file()
    with pytest.raises(
        sg.DataError, match=r"shd_test\.h5\.gz: download failed .*checksum mismatch"
    ):
        download_files(info, root, "test", progress=False)
    report = verify_files(info, root)
    assert report["shd_train.h5.gz"]["md5_ok"] is True
    assert report["shd_test.h5.gz"]["present"] is False
    assert len(datasets.load("shd", root=root)) == 1


def test_nmnist_zip_is_checked_and_unpacked(tmp_path, http_server, nmnist_bytes):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("Train/4/00001.bin", nmnist_bytes([1], [1], [0], [10]))
    data = buf.getvalue()
    http_server.files["/n/Train.zip"] = data
    info = _local(registry.NMNIST, http_server, "/n")
    files = (dataclasses.replace(info.files[0], md5=hashlib.md5(data).hexdigest()),)
    info = dataclasses.replace(info, files=files)
    download_files(info, tmp_path, progress=False)
    ds = datasets.load("nmnist", root=tmp_path)
    np.testing.assert_array_equal(ds.labels, [4])
    bad = io.BytesIO()
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("../evil.bin", b"x")
    (tmp_path / "Test.zip").write_bytes(bad.getvalue())
    with pytest.raises(sg.DataError, match="unsafe path"):
        _unzip(tmp_path / "Test.zip", tmp_path, "Test")


def test_load_with_download_true(tmp_path, http_server, monkeypatch, idx_bytes):
    images = np.full((2, 28, 28), 255, np.uint8)
    blobs = {
        "train-images-idx3-ubyte.gz": gzip.compress(idx_bytes(images)),
        "train-labels-idx1-ubyte.gz": gzip.compress(idx_bytes([3, 1])),
    }
    for name, blob in blobs.items():
        http_server.files[f"/fm/{name}"] = blob
    info = _local(registry.FMNIST, http_server, "/fm")
    files = tuple(
        dataclasses.replace(f, md5=hashlib.md5(blobs[f.name]).hexdigest()) if f.name in blobs else f
        for f in info.files
    )
    monkeypatch.setitem(registry.DATASETS, "fmnist", dataclasses.replace(info, files=files))
    with pytest.raises(datasets.MissingDataError):
        datasets.load("fmnist", root=tmp_path)
    ds = datasets.load("fmnist", root=tmp_path, download=True)
    np.testing.assert_array_equal(ds.labels, [3, 1])
    assert ds.events_per_sample.tolist() == [784, 784]
    assert {r["md5_ok"] for n, r in datasets.verify("fmnist", tmp_path).items() if n in blobs} == {
        True
    }


def test_offline_download_says_what_to_put_where(tmp_path, http_server):
    info = _local(registry.NMNIST, http_server, "/nothing-here")  # every URL answers 404
    with pytest.raises(sg.DataError) as err:
        download_files(info, tmp_path, "test", progress=False)
    msg = str(err.value)
    assert "\n" not in msg and "Test.zip: download failed" in msg
    assert f"to install by hand put Test.zip ({http_server.url('/nothing-here/Test.zip')}" in msg
    assert str(tmp_path / "nmnist") in msg and _no_partial(tmp_path)
