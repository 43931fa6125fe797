"""Model files: exact round trips (parameters, settings, forward scores) and one clear error
per kind of bad file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import REG, active_net, spikes

import spikegrad as sg
from spikegrad import modelfile
from spikegrad.errors import DataError

needs_recurrence = pytest.mark.skipif(
    not modelfile.supports_recurrence(), reason="Network has no recurrent= yet (issue 13)"
)


def _same(a: sg.Network, b: sg.Network, x) -> None:
    assert b.sizes == a.sizes and b.dtype == a.dtype
    assert modelfile.layer_recurrent(b) == modelfile.layer_recurrent(a)
    for p, q in zip(modelfile.layer_alphas(a), modelfile.layer_alphas(b), strict=True):
        assert np.array_equal(p, q) and np.isscalar(p) == np.isscalar(q)
    for k in ("alpha_out", "threshold", "b_th", "beta_s", "readout", "init", "seed", "reg"):
        assert getattr(b, k) == getattr(a, k), k
    assert list(b.params) == list(a.params)
    for k in a.params:
        assert b.params[k].dtype == a.params[k].dtype
        assert np.array_equal(b.params[k], a.params[k]), k
    assert np.array_equal(b.forward(x), a.forward(x))
    ev = lambda n: [(s.b.tolist(), s.t.tolist(), s.i.tolist()) for s in n.hidden_spikes(x)]  # noqa: E731
    assert ev(b) == ev(a)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_feed_forward_round_trip_is_exact(tmp_path, dtype):
    net = sg.Network(
        [12, 9, 7, 4],
        alpha=0.83,
        alpha_out=0.6,
        threshold=0.7,
        b_th=0.3,
        surrogate_scale=50.0,
        readout="sum",
        reg=REG,
        init="normal",
        dtype=dtype,
        seed=5,
    )
    path = net.save(tmp_path / "m.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary file left
    back = sg.Network.load(path)
    _same(net, back, spikes(np.random.default_rng(1), 3, 20, 12, 0.4))
    back.reg = None  # a regulariser of None is kept as None too
    _same(back, sg.Network.load(back.save(tmp_path / "n.npz")), np.zeros((1, 3, 12)))


def test_trained_weights_round_trip(tmp_path):
    net = active_net([10, 8, 3], seed=3)
    x = spikes(np.random.default_rng(0), 4, 25, 10, 0.3)
    assert sum(s.i.size for s in net.hidden_spikes(x)) > 0  # the compared spikes exist
    _same(net, sg.Network.load(net.save(tmp_path / "m.npz")), x)


@needs_recurrence
def test_recurrent_per_neuron_alpha_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    net = sg.Network(
        [10, 6, 5, 3],
        alpha=[rng.uniform(0.5, 0.95, 6), 0.9],
        recurrent=[True, False],
        dtype="float64",
        seed=2,
    )
    assert list(net.param_shapes()) == ["W1", "R1", "W2", "W_out"]
    back = sg.Network.load(net.save(tmp_path / "r.npz"))
    _same(net, back, spikes(rng, 3, 30, 10, 0.4))


def _rewrite(src, dst, meta_changes=None, drop=(), **arrays):
    with np.load(src) as z:
        a = {k: z[k] for k in z.files if k not in drop}
    meta = json.loads(str(a["meta"]))
    meta.update(meta_changes or {})
    a["meta"] = np.array(json.dumps(meta))
    a.update(arrays)
    np.savez(dst, **a)
    return dst


def test_bad_files_one_error_naming_the_file(tmp_path):
    good = sg.Network([6, 5, 2], seed=1).save(tmp_path / "good.npz")
    raw = good.read_bytes()
    (tmp_path / "trunc.npz").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    np.savez(tmp_path / "foreign.npz", a=np.zeros(2))
    cases = {
        "trunc": "corrupt or not a spikegrad model file",
        "junk": "not a .npz",
        "foreign": "no 'meta' record",
        "absent": "no such model file",
    }
    v = modelfile.FORMAT_VERSION
    for name, meta, drop, arrays, why in (
        ("newer", {"version": v + 1}, (), {}, "newer than this spikegrad reads"),
        ("ckpt", {"format": "spikegrad-checkpoint"}, (), {}, "not a spikegrad model file"),
        ("nosizes", {"sizes": None}, (), {}, "meta record: bad or missing"),
        ("noparam", {}, ("param.W1",), {}, "parameters"),
        ("shape", {}, (), {"param.W1": np.zeros((6, 4), np.float32)}, "param W1"),
        ("dtype", {}, (), {"param.W1": np.zeros((6, 5))}, "param W1: float64"),
        ("alpha", {"alpha": [2.0]}, (), {}, "alpha must be"),
        ("layers", {"recurrent": [False, False]}, (), {}, "one entry per hidden layer"),
    ):
        _rewrite(good, tmp_path / f"{name}.npz", meta, drop, **arrays)
        cases[name] = why
    for name, why in cases.items():
        path = tmp_path / f"{name}.npz"
        with pytest.raises(DataError, match=why) as info:
            sg.Network.load(path)
        msg = str(info.value)
        assert msg.startswith(str(path)) and "\n" not in msg, msg


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    net = sg.Network([6, 5, 2], seed=1)
    path = net.save(tmp_path / "m.npz")
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        sg.Network([6, 5, 2], seed=2).save(path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["m.npz"]
