"""Network API: construction, validation, determinism, edge cases, retained memory, Adam."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import reference as ref
from helpers import REG, TOL, active_net, ref_params, rel_err, spikes

import spikegrad as sg

pytestmark = pytest.mark.usefixtures("cpu_kernels")  # native C kernels and NumPy twins


def test_params_shapes_and_init_scales():
    net = sg.Network([40, 30, 20, 5], init="uniform")
    assert {k: v.shape for k, v in net.params.items()} == {
        "W1": (40, 30),
        "W2": (30, 20),
        "W_out": (20, 5),
    }
    assert np.abs(net.params["W1"]).max() <= 1 / np.sqrt(40)
    assert net.params["W1"].dtype == np.float32
    big = sg.Network([2000, 300, 2], init="normal", alpha=0.9, dtype="float64")
    assert np.std(big.params["W1"]) == pytest.approx(20 * 0.1 / np.sqrt(2000), rel=0.02)


def test_determinism_for_fixed_seed(rng):
    x, y = spikes(rng, 4, 30, 30), rng.integers(0, 4, 4)
    runs = []
    for _ in range(2):
        net = sg.Network([30, 20, 16, 4], init="normal", seed=5)
        opt = sg.Adam(net.params, lr=1e-2)
        for _ in range(3):
            loss, g, _ = net.loss_and_grad(x, y)
            opt.step(g)
        runs.append((loss, {k: v.copy() for k, v in net.params.items()}))
    assert runs[0][0] == runs[1][0]
    for k in runs[0][1]:
        np.testing.assert_array_equal(runs[0][1][k], runs[1][1][k])
    other = sg.Network([30, 20, 16, 4], init="normal", seed=6)
    assert not np.array_equal(
        other.params["W1"], sg.Network([30, 20, 16, 4], init="normal", seed=5).params["W1"]
    )


def test_adam_against_formula(rng):
    p0 = rng.normal(size=(3, 4))
    params = {"w": p0.copy()}
    opt = sg.Adam(params, lr=0.01, betas=(0.8, 0.99), eps=1e-6)
    m = v = np.zeros_like(p0)
    p = p0.copy()
    for t in range(1, 5):
        g = rng.normal(size=p0.shape)
        opt.step({"w": g})
        m = 0.8 * m + 0.2 * g
        v = 0.99 * v + 0.01 * g * g
        p = p - 0.01 * (m / (1 - 0.8**t)) / (np.sqrt(v / (1 - 0.99**t)) + 1e-6)
        np.testing.assert_allclose(params["w"], p, rtol=1e-12)
    assert opt.step_count == 4


@pytest.mark.parametrize("B,T", [(1, 30), (4, 1), (1, 1)])
@pytest.mark.parametrize("mode", ["dense", "sparse"])
def test_edge_shapes(B, T, mode, rng):
    net = active_net([30, 20, 16, 4], b_th=np.inf, reg=REG)
    x, y = spikes(rng, B, T, 30), rng.integers(0, 4, B)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        loss, g, _ = net.loss_and_grad(x, y, mode=mode)
        loss2, g2, _ = net.loss_and_grad(x, y, mode="dense" if mode == "sparse" else "sparse")
    assert np.isfinite(loss) and loss == pytest.approx(loss2, rel=TOL["f64"])
    for k in g:
        assert g[k].shape == net.params[k].shape and np.all(np.isfinite(g[k]))
        assert rel_err(g[k], g2[k]) <= TOL["f64"] or np.abs(g2[k]).max() == 0


@pytest.mark.parametrize("mode", ["dense", "sparse"])
def test_silent_network_warns_and_gives_zero_hidden_grads(mode, rng):
    net = sg.Network([30, 20, 16, 4], dtype="float64")
    net.params = {k: np.zeros(v.shape) for k, v in net.params.items()}
    x, y = spikes(rng, 3, 20, 30), rng.integers(0, 4, 3)
    with pytest.warns(RuntimeWarning, match="no active neuron"):
        loss, g, st = net.loss_and_grad(x, y, mode=mode)
    assert loss == pytest.approx(np.log(4))
    assert st["n_active"] == [0, 0]
    for k in g:
        assert np.all(g[k] == 0)


def test_empty_input_is_finite(rng):
    net = active_net([30, 20, 16, 4], reg=REG)
    x, y = np.zeros((3, 20, 30), np.uint8), rng.integers(0, 4, 3)
    with pytest.warns(RuntimeWarning):
        loss, g, _ = net.loss_and_grad(x, y)
    assert loss == pytest.approx(np.log(4) + 2 * 100 * 1e-6)  # L_low of silent layers
    assert all(np.all(np.isfinite(v)) for v in g.values())
    ev = sg.SpikeEvents([], [], [], (3, 20, 30))
    with pytest.warns(RuntimeWarning):
        assert net.loss_and_grad(ev, y)[0] == loss


def test_all_active_network(rng):
    net = active_net([30, 20, 16, 4], b_th=np.inf)
    x, y = spikes(rng, 3, 20, 30), rng.integers(0, 4, 3)
    _, _, st = net.loss_and_grad(x, y)
    assert st["active_fraction"] == [1.0, 1.0]


def test_sparse_keeps_no_dense_float_tensor(rng):
    """Sparse mode keeps far fewer bytes, and no (B, T, N)-sized float array (ALGORITHM §5)."""
    net = sg.Network([200, 100, 100, 10], init="normal")
    x, y = spikes(rng, 16, 100, 200, p=0.02), rng.integers(0, 10, 16)
    _, _, sd = net.loss_and_grad(x, y, mode="dense")
    _, _, ss = net.loss_and_grad(x, y, mode="sparse")
    assert 0 < max(ss["active_fraction"]) < 0.2
    assert ss["retained_bytes"] < 0.15 * sd["retained_bytes"]
    _, tape, _ = net._run(x, "sparse")
    for a in tape._arrays():
        assert a.size < 16 * 100 * 100 or (a.dtype == np.int32 and a.size <= 16 * 100 + 1)


def test_bad_inputs_are_refused(rng):
    net = sg.Network([30, 20, 4])
    x, y = spikes(rng, 2, 10, 30), np.array([0, 1])
    with pytest.raises(sg.InputError, match="only 0 and 1"):
        net.loss_and_grad(x * 2, y)
    with pytest.raises(sg.InputError, match="only 0 and 1"):
        net.forward(x * 0.5)
    with pytest.raises(sg.ShapeError, match="30"):
        net.forward(spikes(rng, 2, 10, 31))
    with pytest.raises(sg.InputError, match="labels"):
        net.loss_and_grad(x, np.array([0, 4]))
    with pytest.raises(sg.ShapeError):
        net.loss_and_grad(x, np.array([0]))
    with pytest.raises(sg.InputError):
        sg.SpikeEvents([0], [10], [0], (2, 10, 30))
    with pytest.raises(sg.ConfigError):
        net.loss_and_grad(x, y, mode="fast")
    for bad in (
        {"readout": "mean"},
        {"b_th": 0},
        {"init": "xavier"},
        {"dtype": "float16"},
        {"reg": {"lam": 1}},
    ):
        with pytest.raises(sg.ConfigError):
            sg.Network([30, 20, 4], **bad)
    with pytest.raises(sg.ConfigError):
        sg.Network([30, 4])


def test_params_setter_validates():
    net = sg.Network([30, 20, 4])
    with pytest.raises(sg.ShapeError):
        net.params = {"W1": np.zeros((30, 20)), "W_out": np.zeros((20, 5))}
    with pytest.raises(sg.ShapeError):
        net.params = {"W1": np.zeros((30, 20))}


def test_backend_auto_and_missing_cupy(monkeypatch):
    from spikegrad import backend

    monkeypatch.setattr(backend, "cupy_available", lambda: False)
    backend._auto_note.cache_clear()
    with pytest.warns(RuntimeWarning, match="NumPy"):
        net = sg.Network([30, 20, 4], backend="auto")
    assert net.backend.name == "numpy"
    with pytest.raises(sg.ConfigError):
        sg.Network([30, 20, 4], backend="tpu")


def test_hidden_spikes_match_the_plain_reference(rng):
    net = active_net([30, 20, 16, 4])
    x = spikes(rng, 3, 25, 30)
    p, Ws, W_out = ref_params(net)
    _, _, rec, _ = ref.forward(x.astype(float), Ws, W_out, p, ref.heaviside(net.threshold))
    got = net.hidden_spikes(sg.SpikeEvents.from_dense(x))
    for ev, (_, _, out) in zip(got, rec, strict=True):
        np.testing.assert_array_equal(ev.to_dense(), out)


def test_public_names():
    assert sg.datasets.load is not None and sg.DataError is sg.datasets.DataError
    assert issubclass(sg.DataError, ValueError)


@pytest.mark.parametrize("mode", ["dense", "sparse"])
def test_step_stats_and_opt_in_timing(mode, rng):
    net = active_net([30, 20, 16, 4], reg=REG)
    x, y = spikes(rng, 3, 20, 30), rng.integers(0, 4, 3)
    loss, _, st = net.loss_and_grad(x, y, mode=mode)
    assert set(st) == set(sg.network.StepStats.KEYS) == set(st.keys()) and len(st) == 9
    assert "forward_s" in st and "nope" not in st
    with pytest.raises(KeyError):
        st["nope"]
    assert st["forward_s"] is None and st["backward_s"] is None
    assert st["loss_ce"] + st["loss_reg"] == pytest.approx(float(loss), rel=TOL["f64"])
    assert st["loss_reg"] > 0 and st["scores"].shape == (3, 4)
    counts = st.active_counts()
    assert counts.tolist() == st["n_active"] and min(st["n_active"]) > 0
    np.testing.assert_array_equal(st.active_fraction_on_device(), st["active_fraction"])
    _, _, timed = net.loss_and_grad(x, y, mode=mode, timing=True)
    assert timed["forward_s"] > 0 and timed["backward_s"] > 0
    assert "forward_s=" in repr(timed) and "scores" not in repr(timed)


def test_max_readout_scores_are_argmax_with_ties_and_nan():
    from spikegrad.ops.readout import readout_scores

    u = np.random.default_rng(3).normal(size=(30, 4, 5))
    u[7, 1, 2] = u[9, 1, 2] = 50.0  # a tie: the first wins
    u[4, 2, 3] = u[6, 2, 3] = np.nan  # NaN wins, the first one
    m, arg = readout_scores(u, "max")
    want = u.argmax(axis=0)
    np.testing.assert_array_equal(arg, want)
    np.testing.assert_array_equal(m, np.take_along_axis(u, want[None], axis=0)[0])
    assert arg[1, 2] == 7 and arg[2, 3] == 4 and np.isnan(m[2, 3])


@pytest.mark.parametrize(
    "short",
    [
        {"sizes": [12, 9, 4]},
        {"sizes": [12, 9, 7, 4], "recurrent": [True, False], "alpha": 0.83, "threshold": 0.7},
        {"sizes": [12, 9, 7, 4], "alpha": [np.linspace(0.6, 0.9, 9), 0.8], "recurrent": True},
    ],
)
@pytest.mark.parametrize("init", ["uniform", "normal"])
def test_from_layers_is_the_short_form(rng, short, init):
    """Network.from_layers with the short form's layers: the same parameters, scores and
    gradients, bit for bit."""
    from spikegrad.layers import Hidden
    from spikegrad.neurons import LIF

    sizes = short["sizes"]
    settings = dict(init=init, seed=4, readout="sum", reg=REG, b_th=0.3, dtype="float64")
    a = sg.Network(**short, **settings)
    alphas = short.get("alpha", LIF().alpha)
    alphas = alphas if isinstance(alphas, list) else [alphas] * (len(sizes) - 2)
    rec = short.get("recurrent", False)
    rec = rec if isinstance(rec, list) else [rec] * (len(sizes) - 2)
    theta = short.get("threshold", 1.0)
    layers = [
        Hidden(n, LIF(alpha=al, theta=theta), recurrent=r)
        for n, al, r in zip(sizes[1:-1], alphas, rec, strict=True)
    ]
    b = sg.Network.from_layers(sizes[0], layers, sizes[-1], **settings)
    assert b.sizes == a.sizes and b.recurrent == a.recurrent and b.threshold == a.threshold
    for p, q in zip(a.hidden, b.hidden, strict=True):
        assert (p.n, p.recurrent, p.neuron.theta) == (q.n, q.recurrent, q.neuron.theta)
        assert np.array_equal(p.neuron.alpha, q.neuron.alpha)
    assert list(b.params) == list(a.params)
    for k in a.params:
        assert np.array_equal(a.params[k], b.params[k]), k
    x, y = spikes(rng, 5, 30, sizes[0], 0.3), rng.integers(0, sizes[-1], 5)
    for mode in ("sparse", "dense"):
        (la, ga, _), (lb, gb, _) = a.loss_and_grad(x, y, mode), b.loss_and_grad(x, y, mode)
        assert la == lb and all(np.array_equal(ga[k], gb[k]) for k in ga), mode


def test_from_layers_refuses_bad_layers():
    from spikegrad.layers import Hidden

    with pytest.raises(sg.ConfigError, match=r"^layers must be a list of >= 1 Hidden"):
        sg.Network.from_layers(5, [], 2)
    with pytest.raises(sg.ConfigError, match=r"^layers\[1\] must be a spikegrad\.layers\.Hidden"):
        sg.Network.from_layers(5, [Hidden(3), 4], 2)
    with pytest.raises(sg.ConfigError, match=r"^n_in must be an integer >= 1"):
        sg.Network.from_layers(0, [Hidden(3)], 2)
    with pytest.raises(sg.ConfigError, match=r"^readout must be one of"):
        sg.Network.from_layers(5, [Hidden(3)], 2, readout="mean")
