"""The whole engine on the fake CuPy 13.3: Network(backend="cupy") with the CUDA kernels run
by the CPU emulation, against the NumPy backend (float64, 1e-9), and its host syncs."""

from __future__ import annotations

import numpy as np
import pytest
from fake_cupy import SYNCS

import spikegrad as sg

TOL = 1e-9  # float64: the two sides differ in summation order only (tests/kernels/conftest.py)
SIZES = [10, 30, 20, 4]


def _data(seed: int = 9):
    rng = np.random.default_rng(seed)
    return (rng.random((3, 12, 10)) < 0.3).astype(np.uint8), rng.integers(0, 4, 3)


def _rel(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-300))


def _pair(readout: str, reg):
    kw = dict(sizes=SIZES, b_th=0.4, readout=readout, reg=reg, dtype="float64", seed=3)
    return sg.Network(**kw), sg.Network(**kw, backend="cupy")


def test_the_fake_refuses_what_cupy_13_3_lacks(fake_cp):
    a = fake_cp.arange(6.0).reshape(2, 3)
    assert not hasattr(fake_cp, "put_along_axis")
    with pytest.raises(TypeError, match="put_along_axis"):
        np.put_along_axis(a, fake_cp.zeros((1, 3), dtype=np.int64), 1.0, axis=0)
    with pytest.raises(ValueError, match="cannot be specified as `repeats`"):
        fake_cp.repeat(fake_cp.arange(3), fake_cp.arange(3))
    with pytest.raises(ValueError, match="cannot be specified as `repeats`"):
        fake_cp.arange(3).repeat(fake_cp.arange(3))
    with pytest.raises(TypeError):
        np.asarray(a)
    with pytest.raises(TypeError):
        _ = a + np.ones(3)
    with pytest.raises(TypeError):
        _ = np.ones(3) * a
    assert type(a.sum()) is type(a) and a.sum().shape == ()
    SYNCS.reset()
    float(a.sum()), fake_cp.flatnonzero(a), a[a > 1.0], a.get(), fake_cp.asnumpy(a)
    assert SYNCS.total == 5


@pytest.mark.parametrize("reg", [None, {}], ids=["noreg", "reg"])
@pytest.mark.parametrize("readout", ["max", "sum", "last"])
@pytest.mark.parametrize("mode", ["dense", "sparse"])
def test_step_matches_numpy(fake_cp, mode, readout, reg):
    x, y = _data()
    ref, net = _pair(readout, reg)
    assert net.backend.name == "cupy" and isinstance(net.params["W1"], fake_cp.ndarray)
    loss_ref, g_ref, st_ref = ref.loss_and_grad(x, y, mode=mode)
    loss, g, st = net.loss_and_grad(x, y, mode=mode)
    assert st["n_active"] == st_ref["n_active"] and min(st["n_active"]) > 0
    assert st["spike_rate"] == st_ref["spike_rate"]
    assert _rel(float(loss), float(loss_ref)) <= TOL
    assert abs(float(st["loss_reg"]) - float(st_ref["loss_reg"])) <= TOL * float(loss_ref)
    assert (float(st["loss_reg"]) > 0) == (reg is not None)
    for k in g_ref:
        assert isinstance(g[k], fake_cp.ndarray)
        assert _rel(g[k].get(), g_ref[k]) <= TOL, k
    sg.Adam(ref.params, lr=1e-2).step(g_ref)
    sg.Adam(net.params, lr=1e-2).step(g)
    for k in ref.params:
        assert _rel(net.params[k].get(), ref.params[k]) <= TOL, k
    x2, _ = _data(10)
    assert _rel(net.forward(x2).get(), ref.forward(x2)) <= TOL
    assert np.array_equal(net.predict(x2), ref.predict(x2))
    for got, want in zip(net.hidden_spikes(x2), ref.hidden_spikes(x2), strict=True):
        assert np.array_equal(got.to_dense(), want.to_dense())


@pytest.mark.parametrize("reg", [None, {}], ids=["noreg", "reg"])
@pytest.mark.parametrize("mode", ["dense", "sparse"])
def test_host_syncs_of_one_step(fake_cp, mode, reg):
    """One step (loss_and_grad + Adam) reads the device once per hidden layer (the sparse
    forward sizes its outputs; the dense one compacts its spikes), and nothing else until
    the caller asks; Adam's finiteness check (on unless a loop checks by itself) is one read."""
    x, y = _data()
    _, net = _pair("max", reg)
    opt = sg.Adam(net.params, lr=1e-2)
    L = net.n_hidden
    for _ in range(2):  # the second step has Adam's moments already
        SYNCS.reset()
        loss, g, st = net.loss_and_grad(x, y, mode=mode)
        opt.step(g, check_finite=False)
        assert SYNCS.total == L, dict(SYNCS.by_reason)
    if mode == "dense":
        assert SYNCS.by_reason["flatnonzero"] == L
    float(loss)
    assert SYNCS.total == L + 1
    st["spike_rate"], st["retained_bytes"], st["scores"], st["forward_s"]
    assert SYNCS.total == L + 1 and st["forward_s"] is None
    st["n_active"], st["active_fraction"]  # dense on CuPy: one read for all layers
    assert SYNCS.total == L + 1 + (mode == "dense")
    st["loss_ce"], st["loss_reg"]
    assert SYNCS.total == L + 2 + (mode == "dense")
    SYNCS.reset()
    opt.step(g)
    assert SYNCS.total == 1, dict(SYNCS.by_reason)


def test_timing_reads_the_device_once(fake_cp):
    x, y = _data()
    _, net = _pair("max", None)
    SYNCS.reset()
    _, _, st = net.loss_and_grad(x, y, timing=True)
    assert SYNCS.total == net.n_hidden
    assert st["forward_s"] > 0 and st["backward_s"] > 0
    assert SYNCS.by_reason["Event.synchronize"] == 1 and SYNCS.total == net.n_hidden + 1


@pytest.mark.parametrize("wd", ["float16", "bfloat16"])
@pytest.mark.parametrize("mode", ["dense", "sparse"])
def test_half_weights_match_numpy(fake_cp, mode, wd):
    """weight_dtype float16/bfloat16 on the GPU path: the copy made on the device (ops/half),
    read by the kernels' 16-bit instances, refreshed after Adam's update: the NumPy backend's
    16-bit network to float32 rounding, the same spikes."""
    x, y = _data()
    kw = dict(sizes=SIZES, b_th=0.4, seed=3, weight_dtype=wd)
    ref, net = sg.Network(**kw), sg.Network(**kw, backend="cupy")
    assert all(isinstance(w, fake_cp.ndarray) for w in net.weights.values())
    for _ in range(2):
        loss_ref, g_ref, st_ref = ref.loss_and_grad(x, y, mode=mode)
        loss, g, st = net.loss_and_grad(x, y, mode=mode)
        assert st["n_active"] == st_ref["n_active"] and min(st["n_active"]) > 0
        assert _rel(float(loss), float(loss_ref)) <= 1e-6
        for k in g_ref:
            assert g[k].dtype == np.float32 and _rel(g[k].get(), g_ref[k]) <= 1e-5, k
        sg.Adam(ref.params, lr=1e-2).step(g_ref)
        sg.Adam(net.params, lr=1e-2).step(g)
        for k in ref.params:
            assert np.array_equal(net.weights[k].get(), ref.weights[k]), k
