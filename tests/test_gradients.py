"""Sparse vs dense gradients, and the dense mode against the plain reference and FD."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from helpers import REG, TOL, active_net, ref_params, rel_err, spikes

import spikegrad as sg

pytestmark = pytest.mark.usefixtures("cpu_kernels")  # native C kernels and NumPy twins

SIZES = {1: [30, 20, 4], 2: [30, 20, 16, 4], 3: [30, 20, 16, 12, 4]}


@pytest.mark.parametrize("n_hidden", [1, 2, 3])
@pytest.mark.parametrize("b_th", [0.05, 0.2, 1.0, np.inf])
@pytest.mark.parametrize("readout", ["max", "sum", "last"])
@pytest.mark.parametrize("reg", [None, REG])
def test_sparse_equals_dense(n_hidden, b_th, readout, reg):
    rng = np.random.default_rng(n_hidden * 100 + int(min(b_th, 9) * 10))
    net = active_net(SIZES[n_hidden], b_th=b_th, readout=readout, reg=reg)
    x, y = spikes(rng, 5, 40, 30), rng.integers(0, 4, 5)
    loss_d, g_d, st_d = net.loss_and_grad(x, y, mode="dense")
    loss_s, g_s, st_s = net.loss_and_grad(x, y, mode="sparse")
    # every layer really active, and both modes see the same active set
    assert min(st_s["n_active"]) >= 50
    assert st_s["n_active"] == st_d["n_active"]
    assert loss_s == pytest.approx(loss_d, rel=TOL["f64"])
    for k in net.params:
        assert np.abs(g_d[k]).max() > 0, k
        assert rel_err(g_s[k], g_d[k]) <= TOL["f64"], k


@pytest.mark.parametrize("n_hidden", [1, 2, 3])
@pytest.mark.parametrize("readout", ["max", "sum", "last"])
@pytest.mark.parametrize("reg", [None, REG])
def test_dense_matches_plain_reference(n_hidden, readout, reg):
    rng = np.random.default_rng(7 + n_hidden)
    net = active_net(SIZES[n_hidden], b_th=0.3, readout=readout, reg=reg)
    x, y = spikes(rng, 4, 25, 30), rng.integers(0, 4, 4)
    p, Ws, W_out = ref_params(net)
    f, fp = ref.heaviside(net.threshold), ref.masked_surrogate(net.threshold, net.beta_s, net.b_th)
    loss_r, g_r = ref.loss_and_grad(x.astype(float), y, Ws, W_out, p, f, fp, reg)
    loss_d, g_d, _ = net.loss_and_grad(x, y, mode="dense")
    assert loss_d == pytest.approx(loss_r, rel=TOL["f64"])
    for k in net.params:
        assert rel_err(g_d[k], g_r[k]) <= TOL["f64"], k


@pytest.mark.parametrize("readout", ["max", "sum", "last"])
def test_reference_backward_by_finite_differences(readout):
    """The reference's backward is the true gradient of a smooth stand-in (checked by FD).

    Together with test_dense_matches_plain_reference this checks the engine's backward
    formulas, not only its agreement with a second implementation.
    """
    rng = np.random.default_rng(3)
    net = active_net(SIZES[2], readout=readout)
    x, y = spikes(rng, 3, 20, 30).astype(float), rng.integers(0, 4, 3)
    p, Ws, W_out = ref_params(net)
    f, fp = ref.fast_sigmoid(net.threshold, beta=4.0)
    reg = dict(REG, f_low=0.5)  # make the low-rate term non-zero for the smooth counts
    _, grads = ref.loss_and_grad(x, y, Ws, W_out, p, f, fp, reg)

    def loss_at(Ws_, W_out_):
        return ref.loss_and_grad(x, y, Ws_, W_out_, p, f, fp, reg)[0]

    h = 1e-6
    for name, arr in [("W1", Ws[0]), ("W2", Ws[1]), ("W_out", W_out)]:
        for idx in [tuple(rng.integers(0, s) for s in arr.shape) for _ in range(6)]:
            old = arr[idx]
            arr[idx] = old + h
            lp = loss_at(Ws, W_out)
            arr[idx] = old - h
            lm = loss_at(Ws, W_out)
            arr[idx] = old
            fd = (lp - lm) / (2 * h)
            assert abs(fd - grads[name][idx]) <= TOL["fd"] * max(abs(fd), 1e-3), (name, idx)


def test_readout_gradient_by_finite_differences():
    """W_out does not change spikes: the engine's dW_out is the true gradient (FD)."""
    rng = np.random.default_rng(5)
    for readout in ("max", "sum", "last"):
        net = active_net(SIZES[2], readout=readout, reg=REG)
        x, y = spikes(rng, 4, 30, 30), rng.integers(0, 4, 4)
        _, g, _ = net.loss_and_grad(x, y, mode="sparse")
        w = net.params["W_out"]
        h = 1e-6
        for idx in [tuple(rng.integers(0, s) for s in w.shape) for _ in range(5)]:
            old = w[idx]
            w[idx] = old + h
            lp = net.loss_and_grad(x, y, mode="sparse")[0]
            w[idx] = old - h
            lm = net.loss_and_grad(x, y, mode="sparse")[0]
            w[idx] = old
            fd = (lp - lm) / (2 * h)
            assert abs(fd - g["W_out"][idx]) <= TOL["fd"] * max(abs(fd), 1e-3)


def test_float32_close_to_float64():
    rng = np.random.default_rng(11)
    x, y = spikes(rng, 6, 40, 30), rng.integers(0, 4, 6)
    net64 = active_net(SIZES[2])
    net32 = sg.Network(SIZES[2], dtype="float32")
    net32.params = {k: v.astype(np.float32).astype(np.float64) for k, v in net64.params.items()}
    net64.params = dict(net32.params)
    _, g64, _ = net64.loss_and_grad(x, y, mode="sparse")
    for mode in ("sparse", "dense"):
        _, g32, _ = net32.loss_and_grad(x, y, mode=mode)
        for k in g64:
            assert g32[k].dtype == np.float32
            assert rel_err(g32[k], g64[k]) <= TOL["f32"], (mode, k)


def test_event_and_dense_input_agree():
    rng = np.random.default_rng(2)
    net = active_net(SIZES[2])
    x, y = spikes(rng, 4, 30, 30), rng.integers(0, 4, 4)
    ev = sg.SpikeEvents.from_dense(x)
    l1, g1, _ = net.loss_and_grad(x, y)
    l2, g2, _ = net.loss_and_grad(ev, y)
    assert l1 == l2
    for k in g1:
        np.testing.assert_array_equal(g1[k], g2[k])
