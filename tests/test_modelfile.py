"""Model files: exact round trips (parameters, settings, forward scores) and one clear error
per kind of bad file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import REG, active_net, spikes

import spikegrad as sg
from spikegrad import modelfile
from spikegrad.errors import DataError
from spikegrad.layers import Hidden
from spikegrad.neurons import ALIF, LIF, CuBa

DATA = Path(__file__).parent / "data"


def _same(a: sg.Network, b: sg.Network, x) -> None:
    assert b.sizes == a.sizes and b.dtype == a.dtype
    assert b.recurrent == a.recurrent
    for p, q in zip(a.hidden, b.hidden, strict=True):
        assert type(p.neuron) is type(q.neuron)
        for k in vars(p.neuron):  # every constant of the kind
            u, v = getattr(p.neuron, k), getattr(q.neuron, k)
            assert np.array_equal(u, v) and np.isscalar(u) == np.isscalar(v), k
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


def test_layers_with_their_own_thresholds_round_trip(tmp_path):
    layers = [Hidden(7, LIF(alpha=0.8, theta=0.6), recurrent=True), Hidden(5, LIF(theta=1.4))]
    net = sg.Network.from_layers(9, layers, 3, dtype="float64", seed=3)
    assert net.threshold is None
    back = sg.Network.load(net.save(tmp_path / "t.npz"))
    _same(net, back, spikes(np.random.default_rng(2), 3, 30, 9, 0.4))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuba_and_alif_layers_round_trip(tmp_path, dtype):
    """Every kind's constants (numbers and per-neuron arrays) come back bit for bit, and the
    loaded network computes the same spikes, scores and gradients."""
    rng = np.random.default_rng(4)
    layers = [
        Hidden(8, ALIF(alpha=0.9, alpha_adapt=rng.uniform(0.8, 0.99, 8), beta_adapt=1.2),
               recurrent=True),
        Hidden(7, CuBa(alpha=rng.uniform(0.7, 0.9, 7), alpha_syn=0.6, theta=0.8)),
        Hidden(5, LIF(alpha=0.85)),
    ]  # fmt: skip
    net = sg.Network.from_layers(9, layers, 3, dtype=dtype, seed=3, reg=REG, readout="sum")
    net.params = {k: v * 3 for k, v in net.params.items()}
    path = net.save(tmp_path / "k.npz")
    with np.load(path) as a:
        meta, names = json.loads(str(a["meta"])), sorted(a.files)
    assert [e["kind"] for e in meta["layers"]] == ["alif", "cuba", "lif"]
    assert meta["layers"][0]["alpha_adapt"] is None and meta["layers"][0]["beta_adapt"] == 1.2
    assert meta["layers"][1]["alpha_syn"] == 0.6 and meta["layers"][1]["theta"] == 0.8
    assert {"alpha_adapt.1", "alpha.2"} <= set(names)
    back = sg.Network.load(path)
    assert back.neurons == ["alif", "cuba", "lif"]
    x, y = spikes(rng, 3, 25, 9, 0.4), rng.integers(0, 3, 3)
    _same(net, back, x)
    assert sum(len(s.b) for s in net.hidden_spikes(x)) > 50
    la, ga, _ = net.loss_and_grad(x, y)
    lb, gb, _ = back.loss_and_grad(x, y)
    assert la == lb and all(np.array_equal(ga[k], gb[k]) for k in ga)


def test_version_1_file_still_loads(tmp_path):
    """tests/data/model_v1.npz was written by the code before neuron kinds (format version 1:
    per-layer alpha and recurrent lists, one threshold): a recurrent layer with per-neuron
    alpha, then a feed-forward one. Its scores on a fixed input were recorded then."""
    net = sg.Network.load(DATA / "model_v1.npz")
    assert net.sizes == [6, 5, 4, 3] and net.recurrent == [True, False]
    assert net.threshold == 0.8 and net.alphas[1] == 0.85 and net.alphas[0].shape == (5,)
    assert (net.alpha_out, net.readout, net.b_th, net.beta_s) == (0.7, "sum", 0.3, 50.0)
    assert net.reg.f_up == 2.0 and net.dtype == np.float64
    rng = np.random.default_rng(0)
    rng.uniform(0.5, 0.95, 5)  # the draw of alpha[0] when the file was made
    x = rng.random((2, 12, 6)) < 0.4
    want = [
        [1.2092819815369904, 5.0198627044524065, 8.143214969484044],
        [0.26290471368620105, 1.5624161683372049, -7.4236608714940315],
    ]
    assert net.forward(x).tolist() == want
    _same(net, sg.Network.load(net.save(tmp_path / "v2.npz")), x)  # written as version 2


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
    lif = {"kind": "lif", "recurrent": False, "alpha": 0.9, "theta": 1.0}
    for name, meta, drop, arrays, why in (
        ("newer", {"version": v + 1}, (), {}, "newer than this spikegrad reads"),
        ("ckpt", {"format": "spikegrad-checkpoint"}, (), {}, "not a spikegrad model file"),
        ("nosizes", {"sizes": None}, (), {}, "meta record: bad or missing"),
        ("noparam", {}, ("param.W1",), {}, "parameters"),
        ("shape", {}, (), {"param.W1": np.zeros((6, 4), np.float32)}, "param W1"),
        ("dtype", {}, (), {"param.W1": np.zeros((6, 5))}, "param W1: float64"),
        ("alpha", {"layers": [{**lif, "alpha": 2.0}]}, (), {}, "alpha must be"),
        ("layers", {"layers": [lif, lif]}, (), {}, "one entry per hidden layer"),
        ("kind", {"layers": [{**lif, "kind": "izh"}]}, (), {}, "unknown neuron kind 'izh'"),
        ("nokind", {"layers": [{"alpha": 0.9}]}, (), {}, "layers: bad or missing 'kind'"),
        ("rec", {"layers": [{**lif, "recurrent": 1}]}, (), {}, "recurrent must be"),
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
