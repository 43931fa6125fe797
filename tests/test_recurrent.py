"""Recurrent layers and per-neuron alpha (issue 13): sparse == dense == the plain reference,
finite differences of the reference's recurrent backward, the API and what the tape keeps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import reference as ref
from helpers import REG, TOL, active_net, ref_params, ref_rs, rel_err, spikes

import spikegrad as sg

pytestmark = pytest.mark.usefixtures("cpu_kernels")  # native C kernels and NumPy twins

# (sizes, recurrent): all-recurrent and mixed stacks of 1-3 hidden layers
STACKS = {
    "r": ([30, 20, 4], True),
    "rr": ([30, 20, 16, 4], True),
    "rf": ([30, 20, 16, 4], [True, False]),
    "fr": ([30, 20, 16, 4], [False, True]),
    "rfr": ([30, 20, 16, 12, 4], [True, False, True]),
}


def hetero(sizes, seed=0):
    """Per-layer alpha: a float for layer 1, per-neuron arrays in (0.6, 0.97) after it."""
    rng = np.random.default_rng(seed)
    return [0.9] + [rng.uniform(0.6, 0.97, n) for n in sizes[2:-1]]


def rnet(stack, per_neuron=False, **kw):
    sizes, rec = STACKS[stack]
    alpha = hetero(sizes) if per_neuron else math.exp(-0.1)
    return active_net(sizes, gain=1.0, recurrent=rec, alpha=alpha, **kw)


@pytest.mark.parametrize("stack", list(STACKS))
@pytest.mark.parametrize("b_th", [0.05, 0.2, np.inf])
@pytest.mark.parametrize("readout", ["max", "sum", "last"])
@pytest.mark.parametrize("reg", [None, REG])
@pytest.mark.parametrize("per_neuron", [False, True])
def test_sparse_equals_dense(stack, b_th, readout, reg, per_neuron):
    rng = np.random.default_rng(len(stack) * 10 + int(min(b_th, 9) * 10))
    net = rnet(stack, per_neuron, b_th=b_th, readout=readout, reg=reg)
    x, y = spikes(rng, 5, 40, 30), rng.integers(0, 4, 5)
    loss_d, g_d, st_d = net.loss_and_grad(x, y, mode="dense")
    loss_s, g_s, st_s = net.loss_and_grad(x, y, mode="sparse")
    assert min(st_s["n_active"]) >= 15  # every layer really active
    assert st_s["n_active"] == st_d["n_active"]
    assert st_s["spike_rate"] == st_d["spike_rate"]
    assert loss_s == pytest.approx(loss_d, rel=TOL["f64"])
    assert set(g_s) == set(net.param_shapes())
    for k in net.params:
        assert np.abs(g_d[k]).max() > 0, k
        assert rel_err(g_s[k], g_d[k]) <= TOL["f64"], k


@pytest.mark.parametrize("stack", list(STACKS))
@pytest.mark.parametrize("readout", ["max", "sum", "last"])
@pytest.mark.parametrize("reg", [None, REG])
@pytest.mark.parametrize("per_neuron", [False, True])
def test_both_modes_match_plain_reference(stack, readout, reg, per_neuron):
    rng = np.random.default_rng(7 + len(stack))
    net = rnet(stack, per_neuron, b_th=0.3, readout=readout, reg=reg)
    x, y = spikes(rng, 4, 25, 30), rng.integers(0, 4, 4)
    p, Ws, W_out = ref_params(net)
    f, fp = ref.heaviside(net.threshold), ref.masked_surrogate(net.threshold, net.beta_s, net.b_th)
    loss_r, g_r = ref.loss_and_grad(x.astype(float), y, Ws, W_out, p, f, fp, reg, ref_rs(net))
    assert set(g_r) == set(net.param_shapes())
    for mode in ("dense", "sparse"):
        loss, g, _ = net.loss_and_grad(x, y, mode=mode)
        assert loss == pytest.approx(loss_r, rel=TOL["f64"])
        for k in net.params:
            assert np.abs(g_r[k]).max() > 0, k
            assert rel_err(g[k], g_r[k]) <= TOL["f64"], (mode, k)


@pytest.mark.parametrize("b_th", [0.2, np.inf])
def test_per_neuron_alpha_feed_forward_matches_reference(b_th):
    rng = np.random.default_rng(4)
    sizes = [30, 20, 16, 4]
    net = active_net(sizes, alpha=[rng.uniform(0.5, 0.97, 20), 0.8], b_th=b_th, reg=REG)
    x, y = spikes(rng, 4, 30, 30), rng.integers(0, 4, 4)
    p, Ws, W_out = ref_params(net)
    f, fp = ref.heaviside(net.threshold), ref.masked_surrogate(net.threshold, net.beta_s, net.b_th)
    loss_r, g_r = ref.loss_and_grad(x.astype(float), y, Ws, W_out, p, f, fp, REG)
    for mode in ("dense", "sparse"):
        loss, g, _ = net.loss_and_grad(x, y, mode=mode)
        assert loss == pytest.approx(loss_r, rel=TOL["f64"])
        for k in net.params:
            assert rel_err(g[k], g_r[k]) <= TOL["f64"], (mode, k)


def test_reference_recurrent_backward_by_finite_differences():
    """The reference's recurrent backward is the true gradient of a smooth stand-in (FD), so
    the agreement above checks the formulas, not only two implementations."""
    rng = np.random.default_rng(3)
    net = rnet("rr", per_neuron=True)
    x, y = spikes(rng, 3, 20, 30).astype(float), rng.integers(0, 4, 3)
    p, Ws, W_out = ref_params(net)
    Rs = ref_rs(net)
    f, fp = ref.fast_sigmoid(net.threshold, beta=4.0)
    reg = dict(REG, f_low=0.5)
    _, grads = ref.loss_and_grad(x, y, Ws, W_out, p, f, fp, reg, Rs)
    h = 1e-6
    for name, arr in [("W1", Ws[0]), ("R1", Rs[0]), ("R2", Rs[1]), ("W2", Ws[1])]:
        for idx in [tuple(rng.integers(0, s) for s in arr.shape) for _ in range(6)]:
            old = arr[idx]
            arr[idx] = old + h
            lp = ref.loss_and_grad(x, y, Ws, W_out, p, f, fp, reg, Rs)[0]
            arr[idx] = old - h
            lm = ref.loss_and_grad(x, y, Ws, W_out, p, f, fp, reg, Rs)[0]
            arr[idx] = old
            fd = (lp - lm) / (2 * h)
            assert abs(fd - grads[name][idx]) <= TOL["fd"] * max(abs(fd), 1e-3), (name, idx)


def test_zero_recurrence_is_the_feed_forward_network(rng):
    ff = active_net([30, 20, 16, 4], reg=REG)
    rec = sg.Network([30, 20, 16, 4], recurrent=True, dtype="float64", reg=REG)
    rec.params = {**ff.params, "R1": np.zeros((20, 20)), "R2": np.zeros((16, 16))}
    x, y = spikes(rng, 4, 30, 30), rng.integers(0, 4, 4)
    for mode in ("dense", "sparse"):
        l_f, g_f, _ = ff.loss_and_grad(x, y, mode=mode)
        l_r, g_r, _ = rec.loss_and_grad(x, y, mode=mode)
        assert l_r == pytest.approx(l_f, rel=TOL["f64"])
        for k in g_f:
            assert rel_err(g_r[k], g_f[k]) <= TOL["f64"], (mode, k)
        assert np.abs(g_r["R1"]).max() > 0


@pytest.mark.parametrize("stack", ["rr", "fr"])
def test_inference_matches_the_plain_reference(stack, rng):
    net = rnet(stack, per_neuron=True)
    x = spikes(rng, 3, 25, 30)
    p, Ws, W_out = ref_params(net)
    f = ref.heaviside(net.threshold)
    m, _, rec, _ = ref.forward(x.astype(float), Ws, W_out, p, f, ref_rs(net))
    got = net.hidden_spikes(sg.SpikeEvents.from_dense(x))
    for ev, (_, _, out) in zip(got, rec, strict=True):
        assert out.sum() > 0
        np.testing.assert_array_equal(ev.to_dense(), out)
    assert rel_err(net.forward(x), m) <= TOL["f64"]
    np.testing.assert_array_equal(net.predict(x), m.argmax(axis=1))


def test_sparse_tape_keeps_no_more_than_feed_forward(rng):
    """A recurrent layer's own spikes are the next layer's input, shared: no extra bytes, and
    no (B, T, N)-sized float array (ALGORITHM.md §5)."""
    net = sg.Network([200, 100, 100, 10], init="normal", recurrent=True)
    x, y = spikes(rng, 16, 100, 200, p=0.02), rng.integers(0, 10, 16)
    _, tape, _ = net._run(x, "sparse")
    assert tape.layers[0].s is tape.layers[1].x
    assert tape.layers[1].s is tape.last.operand
    for a in tape._arrays():
        assert a.size < 16 * 100 * 100 or (a.dtype == np.int32 and a.size <= 16 * 100 + 1)
    own = sum(a.nbytes for lt in tape.layers for a in (lt.act.idx, lt.act.sp))
    inputs = sum(m.nbytes for m in (tape.layers[0].x, tape.layers[1].x, tape.last.operand))
    assert tape.nbytes() == own + inputs + (tape.arg.nbytes if tape.arg is not None else 0)
    _, _, sd = net.loss_and_grad(x, y, mode="dense")
    _, _, ss = net.loss_and_grad(x, y, mode="sparse")
    assert ss["retained_bytes"] < 0.15 * sd["retained_bytes"]


def test_float32_close_to_float64(rng):
    x, y = spikes(rng, 6, 40, 30), rng.integers(0, 4, 6)
    net64 = rnet("rf", per_neuron=True)
    net32 = sg.Network([30, 20, 16, 4], recurrent=[True, False], alpha=net64.alphas)
    net32.params = {k: v.astype(np.float32).astype(np.float64) for k, v in net64.params.items()}
    net64.params = dict(net32.params)
    _, g64, _ = net64.loss_and_grad(x, y, mode="sparse")
    for mode in ("sparse", "dense"):
        _, g32, _ = net32.loss_and_grad(x, y, mode=mode)
        for k in g64:
            assert g32[k].dtype == np.float32
            assert rel_err(g32[k], g64[k]) <= TOL["f32"], (mode, k)


# ------------------------------------------------------------------------------------- API
def test_param_order_and_feed_forward_init_unchanged():
    net = sg.Network([12, 9, 7, 3], recurrent=[True, False], seed=4, dtype="float64")
    assert list(net.param_shapes().items()) == [
        ("W1", (12, 9)),
        ("R1", (9, 9)),
        ("W2", (9, 7)),
        ("W_out", (7, 3)),
    ]
    assert net.recurrent == [True, False]
    rng = np.random.default_rng(4)  # draw order W1, R1, W2, W_out; R bound 1/sqrt(N_l)
    for k, (fan_in, n) in net.param_shapes().items():
        b = 1 / np.sqrt(fan_in)
        np.testing.assert_array_equal(net.params[k], rng.uniform(-b, b, (fan_in, n)))
    ff = sg.Network([12, 9, 7, 3], seed=4, dtype="float64", init="normal", alpha=0.8)
    rng = np.random.default_rng(4)
    for k, (fan_in, n) in ff.param_shapes().items():
        want = rng.normal(0.0, 20 * (1 - 0.8) / np.sqrt(fan_in), (fan_in, n))
        np.testing.assert_array_equal(ff.params[k], want)
    assert ff.alpha == 0.8 and ff.alphas == [0.8, 0.8] and ff.recurrent == [False, False]


def test_normal_init_per_neuron_alpha_per_column():
    a = np.array([0.5] * 100 + [0.95] * 100)
    net = sg.Network([3000, 200, 2], alpha=[a], recurrent=True, init="normal", dtype="float64")
    assert net.alpha is None
    np.testing.assert_array_equal(net.alphas[0], a)
    for k, fan_in in (("W1", 3000), ("R1", 200)):
        w = net.params[k]
        for cols, al in ((slice(0, 100), 0.5), (slice(100, 200), 0.95)):
            want = 20 * (1 - al) / np.sqrt(fan_in)
            assert np.std(w[:, cols]) == pytest.approx(want, rel=0.05), (k, al)
    want = 20 * (1 - a.mean()) / np.sqrt(200)  # W_out: the last hidden layer's mean alpha
    assert np.std(net.params["W_out"]) == pytest.approx(want, rel=0.15)


def test_alpha_and_recurrent_forms():
    net = sg.Network([5, 4, 3, 2], alpha=[0.7, 0.7], recurrent=np.array([True, False]))
    assert net.alpha == 0.7 and net.recurrent == [True, False]
    assert [(layer.recurrent, layer.kind.NAME) for layer in net.layers] == [
        (True, "lif"),
        (False, "lif"),
    ]
    assert (
        net.layers[0].ops.forward == "rlif_forward" and net.layers[1].ops.forward == "lif_forward"
    )
    assert sg.Network([5, 4, 3, 2], alpha=[0.7, 0.8]).alpha is None
    per = sg.Network([5, 4, 3, 2], alpha=[np.full(4, 0.7), 0.8], dtype="float64")
    assert per.layers[0].fwd[0].dtype == np.float64 and per.layers[1].fwd == (0.8, 1.0)
    assert per.layers[0].adj[0] is per.layers[0].fwd[0]  # one device copy of alpha


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"recurrent": [True]}, "recurrent must be .*list of 2"),
        ({"recurrent": [True, 1]}, "recurrent must be"),
        ({"recurrent": "yes"}, "recurrent must be"),
        ({"alpha": [0.9]}, "alpha must be .*list of 2"),
        ({"alpha": [0.9, np.full(3, 0.9)]}, r"alpha\[2\] must be .*4 numbers"),
        ({"alpha": [0.9, [0.9, 0.9, 1.5, 0.9]]}, r"alpha\[2\]\[2\] must be in \[0, 1\]"),
        ({"alpha": [np.nan, 0.9]}, r"alpha\[1\] must be"),
        ({"alpha": 1.2}, "alpha must be"),
        ({"alpha": [0.9, ["a"] * 4]}, r"alpha\[2\] must be"),
        ({"alpha": np.full(6, 0.9)}, r"list of 2 .*got an array of shape \(6,\)$"),
        ({"alpha": [0.9, np.full(40, 0.9)]}, r"alpha\[2\] .*got an array of shape \(40,\)$"),
    ],
)
def test_bad_recurrent_and_alpha_refused(kw, match):
    with pytest.raises(sg.ConfigError, match=match) as e:
        sg.Network([5, 6, 4, 2], **kw)
    assert "\n" not in str(e.value)


def test_settings_are_fixed_once_built():
    net = sg.Network([5, 4, 3], recurrent=True)
    with pytest.raises(sg.ConfigError, match=r"Network\.b_th is fixed at construction"):
        net.b_th = 0.5
    assert net.layers[0].b_th == 0.2
    net.params = dict(net.params)  # parameters stay replaceable
