"""CuBa and ALIF layers (ALGORITHM.md §8, issue 21): sparse == dense == the plain reference in
float64 for every kind x feed-forward/recurrent x readout x regulariser x per-neuron
constants x B_th (incl. inf) and mixed stacks; finite differences of the reference's
backward for both kinds; ALIF with beta_adapt = 0 is LIF; the short form's API."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from helpers import REG, TOL, ref_rs, rel_err, spikes

import spikegrad as sg
from spikegrad import native
from spikegrad.errors import BadValueError
from spikegrad.neurons import ALIF, LIF, CuBa

SIZES = [14, 12, 10, 3]
RHO, BETA = 0.8, 1.8  # an adaptation strong enough to move the threshold within T = 20 steps
# (mean, spread) x 1/sqrt(fan_in) of the weights into a layer of each kind: every layer spikes
# at a moderate rate with many active entries (CuBa's current sums ~1 / (1 - alpha_syn) inputs)
WEIGHTS = {"lif": (0.3, 1.2), "cuba": (0.1, 0.5), "alif": (0.4, 1.4)}


def constants(kind: str, per_neuron: bool, n: int, rng) -> dict:
    """The short form's arguments of one layer of ``kind``: scalars or (n,) arrays."""

    def one(lo: float, hi: float, scalar: float):
        return rng.uniform(lo, hi, n) if per_neuron else scalar

    c = {"alpha": one(0.7, 0.95, 0.9)}
    if kind == "cuba":
        c["alpha_syn"] = one(0.3, 0.8, 0.6)
    if kind == "alif":
        c.update(alpha_adapt=one(0.7, 0.9, RHO), beta_adapt=one(1.0, 2.5, BETA))
    return c


def make(kinds, recurrent, per_neuron=False, seed=0, **kw) -> sg.Network:
    """An active float64 network with hidden layers of ``kinds`` (one per hidden layer)."""
    rng = np.random.default_rng(seed + 100)
    cs = [constants(k, per_neuron, n, rng) for k, n in zip(kinds, SIZES[1:-1], strict=True)]
    args = {
        key: [c.get(key) for c in cs] for key in ("alpha", "alpha_syn", "alpha_adapt", "beta_adapt")
    }
    args = {k: v for k, v in args.items() if any(x is not None for x in v)}
    net = sg.Network(SIZES, neuron=list(kinds), recurrent=recurrent, dtype="float64", **args,
                     **kw)  # fmt: skip
    params = {}
    for k, shape in net.param_shapes().items():
        l = int(k[1:]) - 1 if k[1:].isdigit() else -1
        mu, sd = WEIGHTS[kinds[l]] if l >= 0 else (0.3, 1.2)
        mu = 0.0 if k.startswith("R") else mu
        params[k] = rng.normal(mu, sd, shape) / np.sqrt(shape[0])
    net.params = params
    return net


def ref_params(net: sg.Network) -> tuple[dict, list, np.ndarray]:
    """The reference's settings (with every kind's constants) and weights of ``net``."""
    p = {
        "alpha": list(net.alphas),
        "alpha_out": net.alpha_out,
        "theta": net.threshold,
        "readout": net.readout,
        "kind": list(net.neurons),
    }
    for key in ("alpha_syn", "alpha_adapt", "beta_adapt"):
        p[key] = [getattr(s.neuron, key, None) for s in net.hidden]
    Ws = [np.asarray(net.params[f"W{l}"]) for l in range(1, net.n_hidden + 1)]
    return p, Ws, np.asarray(net.params["W_out"])


def reference(net, x, y, reg):
    p, Ws, W_out = ref_params(net)
    f, fp = ref.heaviside(net.threshold), ref.masked_surrogate(net.threshold, net.beta_s, net.b_th)
    return ref.loss_and_grad(x.astype(float), y, Ws, W_out, p, f, fp, reg, ref_rs(net))


def check_meaningful(net, x, stats):
    """Every layer spikes and has active entries; an ALIF layer's threshold moves (its reset
    subtracts more than theta somewhere)."""
    assert min(stats["n_active"]) >= 10 and min(stats["spike_rate"]) > 0.02, stats
    assert max(stats["spike_rate"]) < 0.8, stats
    if "alif" in net.neurons:
        p, Ws, W_out = ref_params(net)
        kept: list = []
        ref.forward(x.astype(float), Ws, W_out, p, ref.heaviside(net.threshold), ref_rs(net),
                    kept=kept)  # fmt: skip
        for l, kind in enumerate(net.neurons):
            if kind == "alif":
                assert kept[l].max() > net.threshold + 0.2, l


def compare(net, x, y, reg):
    loss_r, g_r = reference(net, x, y, reg)
    assert set(g_r) == set(net.param_shapes())
    stats = {}
    for mode in ("dense", "sparse"):
        loss, g, stats[mode] = net.loss_and_grad(x, y, mode=mode)
        assert loss == pytest.approx(loss_r, rel=TOL["f64"]), mode
        for k in net.params:
            assert np.abs(g_r[k]).max() > 0, k
            assert rel_err(g[k], g_r[k]) <= TOL["f64"], (mode, k)
    assert stats["sparse"]["n_active"] == stats["dense"]["n_active"]
    check_meaningful(net, x, stats["sparse"])


@pytest.mark.parametrize("kind", ["cuba", "alif"])
@pytest.mark.parametrize("recurrent", [False, True], ids=["ff", "rec"])
@pytest.mark.parametrize("readout", ["max", "sum", "last"])
@pytest.mark.parametrize("reg", [None, REG], ids=["noreg", "reg"])
@pytest.mark.parametrize("per_neuron", [False, True], ids=["scalar", "per-neuron"])
@pytest.mark.parametrize("b_th", [0.3, np.inf], ids=["band", "inf"])
def test_sparse_equals_dense_equals_reference(kind, recurrent, readout, reg, per_neuron, b_th):
    seed = sum(map(ord, kind)) + 2 * recurrent + 5 * per_neuron
    net = make([kind, kind], recurrent, per_neuron, seed=seed, b_th=b_th, readout=readout, reg=reg)
    rng = np.random.default_rng(seed)
    x, y = spikes(rng, 3, 20, SIZES[0], 0.3), rng.integers(0, 3, 3)
    compare(net, x, y, reg)


@pytest.mark.parametrize(
    ("kinds", "recurrent"),
    [
        (["alif", "lif"], [True, False]),
        (["lif", "alif"], False),
        (["cuba", "alif"], [False, True]),
        (["alif", "cuba"], True),
        (["lif", "cuba"], [True, False]),
    ],
)
def test_mixed_stacks(kinds, recurrent):
    net = make(kinds, recurrent, per_neuron=True, seed=3, b_th=0.3, readout="sum", reg=REG)
    rng = np.random.default_rng(11)
    x, y = spikes(rng, 3, 20, SIZES[0], 0.3), rng.integers(0, 3, 3)
    compare(net, x, y, REG)


@pytest.mark.parametrize("kind", ["cuba", "alif"])
def test_reference_backward_by_finite_differences(kind):
    """The reference's backward of both kinds is the true gradient of a smooth stand-in with
    the reset amounts held fixed (what detaching the reset means), so the agreement above
    checks the formulas of §8, not only two implementations."""
    net = make([kind, kind], True, per_neuron=True, seed=5)
    rng = np.random.default_rng(6)
    x, y = spikes(rng, 3, 16, SIZES[0], 0.3).astype(float), rng.integers(0, 3, 3)
    p, Ws, W_out = ref_params(net)
    Rs = ref_rs(net)
    f, fp = ref.fast_sigmoid(net.threshold, beta=4.0)
    kept: list = []
    ref.forward(x, Ws, W_out, p, f, Rs, kept=kept)
    assert any(np.any(r > 0) for r in kept)

    def loss():
        return ref.loss_and_grad(x, y, Ws, W_out, p, f, fp, dict(REG, f_low=0.5), Rs, kept)

    grads = loss()[1]
    h = 1e-6
    for name, arr in [("W1", Ws[0]), ("R1", Rs[0]), ("W2", Ws[1]), ("R2", Rs[1])]:
        for idx in [tuple(rng.integers(0, s) for s in arr.shape) for _ in range(5)]:
            old = arr[idx]
            arr[idx] = old + h
            lp = loss()[0]
            arr[idx] = old - h
            lm = loss()[0]
            arr[idx] = old
            fd = (lp - lm) / (2 * h)
            assert abs(fd - grads[name][idx]) <= TOL["fd"] * max(abs(fd), 1e-3), (name, idx)


@pytest.mark.parametrize("recurrent", [False, True], ids=["ff", "rec"])
def test_alif_without_adaptation_is_lif_bit_for_bit(recurrent):
    rng = np.random.default_rng(2)
    alpha = rng.uniform(0.7, 0.95, 12)
    kw = dict(reg=REG, init="normal", dtype="float64", readout="sum", b_th=0.4)

    def net(record):
        layers = [sg.Hidden(12, record, recurrent=recurrent), sg.Hidden(10, LIF(alpha=0.8))]
        return sg.Network.from_layers(SIZES[0], layers, 3, **kw)

    a = net(ALIF(alpha=alpha, alpha_adapt=0.9, beta_adapt=0.0))
    b = net(LIF(alpha=alpha))
    a.params = b.params = {k: v * 3 for k, v in b.params.items()}
    x, y = spikes(rng, 4, 25, SIZES[0], 0.3), rng.integers(0, 3, 4)
    with native.mode("0"):  # the LIF ops' twins: the same drivers
        for mode in ("sparse", "dense"):
            (la, ga, sa), (lb, gb, _) = a.loss_and_grad(x, y, mode), b.loss_and_grad(x, y, mode)
            assert sa["n_active"][0] > 0 and sa["spike_rate"][0] > 0
            assert la == lb and all(np.array_equal(ga[k], gb[k]) for k in ga), mode
    assert np.array_equal(a.forward(x), b.forward(x))


def test_short_form_is_from_layers():
    alpha_syn = np.linspace(0.2, 0.8, 10)
    short = sg.Network(
        [14, 12, 10, 3],
        neuron=["alif", "cuba"],
        recurrent=[True, False],
        alpha=0.9,
        alpha_syn=[None, alpha_syn],
        alpha_adapt=0.95,
        beta_adapt=[1.0, None],
        seed=4,
    )
    long = sg.Network.from_layers(
        14,
        [
            sg.Hidden(12, ALIF(alpha=0.9, alpha_adapt=0.95, beta_adapt=1.0), recurrent=True),
            sg.Hidden(10, CuBa(alpha=0.9, alpha_syn=alpha_syn)),
        ],
        3,
        seed=4,
    )
    assert short.neurons == ["alif", "cuba"] and long.neurons == short.neurons
    assert all(np.array_equal(short.params[k], long.params[k]) for k in long.params)
    assert [layer.ops.forward for layer in short.layers] == ["ralif_forward", "cuba_forward"]
    assert short.hidden[1].neuron.alpha_syn.tolist() == alpha_syn.tolist()
    with pytest.raises(sg.ConfigError, match=r"^Network\.neurons is fixed at construction"):
        short.neurons = ["lif", "lif"]


def test_defaults_are_the_stated_ones():
    cuba, alif = sg.Network([4, 3, 2], neuron="cuba"), sg.Network([4, 3, 2], neuron="alif")
    assert cuba.hidden[0].neuron.alpha_syn == pytest.approx(np.exp(-1 / 5))  # tau_syn 5 ms
    assert alif.hidden[0].neuron.alpha_adapt == pytest.approx(np.exp(-1 / 200))  # 200 ms
    assert alif.hidden[0].neuron.beta_adapt == 1.8


@pytest.mark.parametrize(
    ("kw", "err", "match"),
    [
        (dict(neuron="izhikevich"), sg.ConfigError, r"unknown neuron kind 'izhikevich'; known"),
        (dict(neuron=["lif"]), BadValueError, r"^neuron must be"),
        (dict(alpha_syn=0.5), sg.ConfigError, r"^alpha_syn is a constant of cuba layers"),
        (dict(neuron="cuba", alpha_syn=1.5), BadValueError, r"^alpha_syn must be"),
        (dict(neuron="alif", beta_adapt=-1.0), BadValueError, r"^beta_adapt must be"),
        (dict(neuron="alif", alpha_adapt=[0.5]), BadValueError, r"^alpha_adapt must be"),
        (dict(neuron=["lif", "alif"], beta_adapt=[1.0, 1.0]), sg.ConfigError, r"beta_adapt\[1\]"),
        (dict(neuron=["cuba", "lif"], alpha_syn=[0.5, [0.5]]), sg.ConfigError, r"alpha_syn\[2\]"),
        (dict(neuron="cuba", alpha_syn=[[0.5, 0.5], None]), BadValueError, r"^alpha_syn must"),
    ],
)
def test_bad_arguments_are_refused_in_one_line(kw, err, match):
    with pytest.raises(err, match=match):
        sg.Network([4, 3, 2, 2], **kw)


@pytest.mark.parametrize("kind", ["cuba", "alif"])
def test_kinds_run_in_float32(kind):
    """float32 (the default dtype) trains: sparse and dense agree to float32 rounding."""
    net = make([kind, kind], True, seed=1)
    net32 = sg.Network(
        SIZES, neuron=kind, recurrent=True, alpha=0.9, dtype="float32",
        **{k: v for k, v in constants(kind, False, 0, None).items() if k != "alpha"},
    )  # fmt: skip
    net32.params = net.params
    rng = np.random.default_rng(0)
    x, y = spikes(rng, 3, 20, SIZES[0], 0.3), rng.integers(0, 3, 3)
    _, g64, _ = net.loss_and_grad(x, y, "dense")
    for mode in ("dense", "sparse"):
        _, g, _ = net32.loss_and_grad(x, y, mode)
        assert all(g[k].dtype == np.float32 for k in g)
        for k in g:
            assert rel_err(g[k], g64[k]) <= 1e-3, (mode, k)
