"""Checkpoints: round trip, atomic writes, and one clear error per kind of bad file."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from spikegrad.errors import ConfigError, DataError
from spikegrad.optim import Adam
from spikegrad.train import checkpoint as ck
from spikegrad.train.build import build_network

from .conftest import TINY


def _state(seed=0):
    net = build_network(TINY, 40, 10)
    opt = Adam(net.params, lr=TINY.lr)
    rng = np.random.default_rng(seed)
    opt.step({k: rng.normal(size=p.shape).astype(p.dtype) for k, p in net.params.items()})
    return net, opt


def test_round_trip_is_exact(tmp_path):
    net, opt = _state()
    path = ck.save(
        ck.capture(TINY, net, opt, 2, 5, {"best": {"epoch": 2, "score": 0.5}}), tmp_path / "a.npz"
    )
    back = ck.load(path)
    assert (back.epoch, back.batch, back.adam_step, back.config) == (2, 5, 1, TINY)
    assert back.state["best"] == {"epoch": 2, "score": 0.5}
    net2, opt2 = build_network(TINY.replace(seed=9), 40, 10), None
    opt2 = Adam(net2.params, lr=TINY.lr)
    ck.restore(back, net2, opt2)
    for k in net.params:
        assert np.array_equal(net.params[k], net2.params[k]) and net2.params[k].dtype == np.float32
        assert np.array_equal(opt.m[k], opt2.m[k]) and np.array_equal(opt.v[k], opt2.v[k])
    assert opt2.step_count == 1
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]  # no temporary file left


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    net, opt = _state()
    path = ck.save(ck.capture(TINY, net, opt, 1, 0, {}), tmp_path / "last.npz")
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        ck.save(ck.capture(TINY, net, opt, 2, 0, {}), path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["last.npz"]


def test_corrupt_truncated_and_foreign_files(tmp_path):
    net, opt = _state()
    good = ck.save(ck.capture(TINY, net, opt, 1, 0, {}), tmp_path / "good.npz").read_bytes()
    (tmp_path / "trunc.npz").write_bytes(good[: len(good) // 2])
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    np.savez(tmp_path / "foreign.npz", a=np.zeros(3))
    for name in ("trunc", "junk", "foreign"):
        with pytest.raises(DataError, match=f"{name}.npz"):
            ck.load(tmp_path / f"{name}.npz")
    with pytest.raises(DataError, match="no such checkpoint"):
        ck.load(tmp_path / "absent.npz")


def _rewrite_meta(src, dst, **changes):
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    meta.update(changes)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(dst, **arrays)


def test_newer_format_version(tmp_path):
    net, opt = _state()
    src = ck.save(ck.capture(TINY, net, opt, 1, 0, {}), tmp_path / "a.npz")
    _rewrite_meta(src, tmp_path / "new.npz", version=ck.FORMAT_VERSION + 1)
    with pytest.raises(DataError, match="newer than this spikegrad reads"):
        ck.load(tmp_path / "new.npz")
    assert zipfile.is_zipfile(tmp_path / "new.npz")


def test_different_architecture(tmp_path):
    net, opt = _state()
    saved = ck.load(ck.save(ck.capture(TINY, net, opt, 1, 0, {}), tmp_path / "a.npz"))
    other = build_network(TINY.replace(hidden=(24, 17)), 40, 10)
    with pytest.raises(ConfigError, match="different architecture"):
        ck.restore(saved, other)


def test_resolve_folder(tmp_path):
    net, opt = _state()
    ck.save(ck.capture(TINY, net, opt, 1, 0, {}), tmp_path / "last.npz")
    assert ck.resolve(tmp_path, ("best", "last")).name == "last.npz"
    with pytest.raises(DataError, match="no checkpoint here"):
        ck.resolve(tmp_path, ("best",))
