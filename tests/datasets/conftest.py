"""Fixtures of the dataset tests: tiny files in each real format, a local HTTP server, isolation.

Nothing here touches the internet: downloads are served from 127.0.0.1.
"""

from __future__ import annotations

import gzip
import http.server
import os
import threading
from pathlib import Path
from typing import ClassVar

import h5py
import numpy as np
import pytest

SHD_KEYS = [f"word{k}" for k in range(20)]


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Every test gets its own event cache and no SPIKEGRAD_DATA from the environment."""
    monkeypatch.setenv("SPIKEGRAD_CACHE", str(tmp_path / "event-cache"))
    monkeypatch.delenv("SPIKEGRAD_DATA", raising=False)


def _write_shd(
    path,
    times,
    units,
    labels,
    keys=SHD_KEYS,
    speaker=None,
    skip=(),
    times_dtype=np.float32,
    units_dtype=np.uint16,
    gz=False,
):
    """An HDF5 file in the SHD layout (optionally gzipped); ``skip`` leaves keys out."""
    path = Path(path)
    plain = path.with_suffix("") if gz else path
    n = len(labels)
    with h5py.File(plain, "w") as f:
        for key, data, dt in (
            ("spikes/times", times, times_dtype),
            ("spikes/units", units, units_dtype),
        ):
            if key in skip:
                continue
            d = f.create_dataset(key, (n,), dtype=h5py.vlen_dtype(np.dtype(dt)))
            for k, a in enumerate(data):
                d[k] = np.asarray(a, dtype=dt)
        if "labels" not in skip:
            f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint8))
        if keys is not None:
            f.create_dataset("extra/keys", data=np.array([k.encode() for k in keys]))
        if speaker is not None:
            f.create_dataset("extra/speaker", data=np.asarray(speaker, dtype=np.uint16))
    if gz:
        path.write_bytes(gzip.compress(plain.read_bytes()))
        plain.unlink()
    return path


@pytest.fixture
def write_shd():
    return _write_shd


def _nmnist_bytes(x, y, p, t_us):
    """40-bit N-MNIST events: x, y, polarity bit, 23-bit µs timestamp, big-endian."""
    x, y, p, t = (np.asarray(a, dtype=np.int64) for a in (x, y, p, t_us))
    b = np.stack([x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF], axis=1)
    return b.astype(np.uint8).tobytes()


@pytest.fixture
def nmnist_bytes():
    return _nmnist_bytes


def _idx_bytes(arr, magic=None):
    arr = np.asarray(arr, dtype=np.uint8)
    magic = magic if magic is not None else 0x0800 | arr.ndim
    head = magic.to_bytes(4, "big") + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    return head + arr.tobytes()


def _write_fmnist(folder, images, labels, prefix="train", gz=True):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for kind, data in (("images-idx3", images), ("labels-idx1", labels)):
        raw = _idx_bytes(data)
        name = f"{prefix}-{kind}-ubyte" + (".gz" if gz else "")
        (folder / name).write_bytes(gzip.compress(raw) if gz else raw)
    return folder


@pytest.fixture
def idx_bytes():
    return _idx_bytes


@pytest.fixture
def write_fmnist():
    return _write_fmnist


@pytest.fixture
def shared_data():
    """The real data folder (../shared/data next to the repo, or $SPIKEGRAD_SHARED_DATA)."""
    env = os.environ.get("SPIKEGRAD_SHARED_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"real data folder {path} not present")
    return path


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``files``; per path a mode: ok | truncate (half, then close) | norange | missing."""

    files: ClassVar[dict[str, bytes]] = {}
    modes: ClassVar[dict[str, str]] = {}
    log: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self):
        rng = self.headers.get("Range")
        self.log.append((self.path, rng))
        mode = self.modes.get(self.path, "ok")
        if self.path not in self.files or mode == "missing":
            self.send_error(404)
            return
        data = self.files[self.path]
        start = 0
        if rng and mode != "norange":
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "truncate":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    """A local server: fill ``files``/``modes`` of the returned handler; ``url(path)`` -> URL."""

    class Handler(_Handler):
        files, modes, log = {}, {}, []

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    Handler.url = staticmethod(lambda p: f"http://127.0.0.1:{server.server_port}{p}")
    yield Handler
    server.shutdown()
    server.server_close()
