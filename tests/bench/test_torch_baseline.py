"""The PyTorch baseline is written as a competent PyTorch user would, and computes spikegrad's
gradients. Skipped without torch (an optional extra: ``pip install -e ".[bench]"``)."""

from __future__ import annotations

import ast
import inspect
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import dense_events, spiking_net

import spikegrad as sg
from spikegrad.bench import peers
from spikegrad.bench import torch_baseline as tb
from spikegrad.ops.rlif import rlif_backward_dense, rlif_forward
from spikegrad.ops.surrogate import sigma_prime_masked

torch = pytest.importorskip("torch")


def _node_counts(loss) -> Counter:
    seen, todo, counts = set(), [loss.grad_fn], Counter()
    while todo:
        fn = todo.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        counts[type(fn).__name__] += 1
        todo.extend(f for f, _ in fn.next_functions)
    return counts


@pytest.mark.parametrize("readout", ["max", "sum", "last"])
def test_no_per_step_indexing_in_the_graph(readout):
    """Indexing ``h[:, t]`` adds one Select/Slice node per step whose backward writes a
    full-size gradient (O(T^2)); per-step views from ``unbind`` add one node per layer."""
    counts = {}
    for T in (6, 12):
        net = spiking_net(readout)
        bl = tb.TorchBPTT(net, "cpu")
        x, y = dense_events(4, T, 12)
        counts[T] = _node_counts(bl.loss(bl.prepare(x), bl.labels(y)))
    index_nodes = [k for k in counts[12] if "Select" in k or "Slice" in k or "Index" in k]
    for k in index_nodes:
        assert counts[12][k] == counts[6][k], (k, counts)
    assert counts[12]["UnbindBackward0"] == counts[6]["UnbindBackward0"] == 3  # 2 LIF + readout


def test_time_loops_walk_unbind_views():
    tree = ast.parse(inspect.getsource(tb.TorchBPTT))
    loops = [n for n in ast.walk(tree) if isinstance(n, ast.For)]

    def is_unbind0(it: ast.expr) -> bool:
        return (
            isinstance(it, ast.Call)
            and getattr(it.func, "attr", "") == "unbind"
            and [ast.literal_eval(a) for a in it.args] == [0]
        )

    time_loops = [lp for lp in loops if is_unbind0(lp.iter)]
    assert len(time_loops) == 4  # the LIF, CuBa and ALIF scans and the readout scan
    for lp in time_loops:  # per-step views only: no indexing inside a time loop
        subscripts = [n for st in lp.body for n in ast.walk(st) if isinstance(n, ast.Subscript)]
        assert not subscripts, ast.unparse(subscripts[0])
    for lp in loops:  # and no batch-major `[:, t]` anywhere in a loop
        for n in ast.walk(lp):
            if isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Tuple):
                assert not isinstance(n.slice.elts[0], ast.Slice), ast.unparse(n)


@pytest.mark.parametrize(
    "readout, reg",
    [("max", None), ("sum", None), ("last", None), ("sum", {"f_up": 0.05, "f_low": 0.5})],
)
def test_gradients_equal_spikegrad_dense(readout, reg):
    net = spiking_net(readout, reg)
    x, y = dense_events(5, 15, 12, seed=1)
    _, gd, st = net.loss_and_grad(x, y, mode="dense")
    assert min(st["spike_rate"]) > 0
    bl = tb.TorchBPTT(net, "cpu")
    xd = bl.prepare(x)
    assert np.array_equal(xd.numpy(), x.to_dense(np.float64).transpose(1, 0, 2))
    g = bl.grads(xd, bl.labels(y))
    for k in gd:
        assert np.allclose(g[k], gd[k], rtol=1e-9, atol=1e-9 * np.abs(gd[k]).max()), k


@pytest.mark.parametrize(
    "recurrent, per_neuron, readout, reg",
    [
        (True, False, "sum", None),
        ([True, False], True, "max", None),
        ([False, True], False, "last", {"f_up": 0.05, "f_low": 0.5}),
    ],
)
def test_recurrent_gradients_equal_spikegrad_dense(recurrent, per_neuron, readout, reg):
    """Recurrent, mixed and per-neuron-alpha networks: the baseline's float64 gradients
    (W, R, W_out) equal spikegrad's dense mode (which equals tests/reference.py) to 1e-9."""
    rng = np.random.default_rng(2)
    alpha = [rng.uniform(0.6, 0.95, 9), 0.85] if per_neuron else 0.9
    net = spiking_net(readout, reg, recurrent=recurrent, alpha=alpha)
    x, y = dense_events(5, 15, 12, seed=1)
    _, gd, st = net.loss_and_grad(x, y, mode="dense")
    assert min(st["spike_rate"]) > 0 and min(st["active_fraction"]) > 0.01
    assert {k for k in gd if k.startswith("R")} == {
        f"R{l}" for l, rec in enumerate(net.recurrent, start=1) if rec
    }
    bl = tb.TorchBPTT(net, "cpu")
    g = bl.grads(bl.prepare(x), bl.labels(y))
    assert set(g) == set(gd)
    for k in gd:
        assert np.abs(gd[k]).max() > 0, k
        assert np.allclose(g[k], gd[k], rtol=1e-9, atol=1e-9 * np.abs(gd[k]).max()), k


def test_retained_bytes_grow_linearly_with_T():
    kept = {}
    for T in (10, 20):
        net = spiking_net()
        bl = tb.TorchBPTT(net, "cpu")
        x, y = dense_events(4, T, 12)
        kept[T] = bl.retained_bytes(bl.prepare(x), bl.labels(y))
    assert 0 < kept[10] and 1.8 < kept[20] / kept[10] < 2.2


def test_time_step_on_cpu():
    net = spiking_net()
    x, y = dense_events(4, 10, 12)
    r = tb.time_step(net, x, y, warmup=1, repeats=2, compile=False)
    assert r["step_s"] >= r["backward_s"] > 0 and r["forward_s"] > 0 and r["prepare_s"] > 0
    assert isinstance(r["peak_bytes"], int) and r["peak_bytes"] >= 0  # host RSS growth
    assert r["device"] == "cpu" and set(r["grads"]) == set(net.params)
    assert r["variant"] == "eager" and r["compiled_step_s"] is None
    assert r["eager_step_s"] == r["step_s"]
    assert tb.unavailable(cuda=False) is None


def _fake_compile(monkeypatch, make):
    """Replace torch.compile: ``make(fn)`` gives the "compiled" function (or raises)."""
    monkeypatch.setattr(torch, "compile", lambda fn, mode=None: make(fn))


def test_compiled_variant_is_checked_timed_and_the_faster_is_reported(monkeypatch):
    net = spiking_net()
    x, y = dense_events(4, 10, 12)
    _fake_compile(monkeypatch, lambda fn: fn)  # "compiles" to the same function
    r = tb.time_step(net, x, y, warmup=1, repeats=2, compile=True)
    assert r["compiled_step_s"] > 0 and r["eager_step_s"] > 0 and r["compile_s"] > 0
    faster = "torch.compile" if r["compiled_step_s"] < r["eager_step_s"] else "eager"
    assert r["variant"] == faster and r["step_s"] == min(r["compiled_step_s"], r["eager_step_s"])
    assert r["variant_note"].startswith(f"{faster}: step") and "compiled in" in r["variant_note"]
    _, gd, _ = net.loss_and_grad(x, y, mode="dense")
    for k in gd:  # the reported gradients are from before any update, whichever variant won
        assert np.allclose(r["grads"][k], gd[k], rtol=1e-9, atol=1e-9 * np.abs(gd[k]).max()), k


def test_compile_failure_or_wrong_gradients_fall_back_to_eager(monkeypatch):
    net = spiking_net()
    x, y = dense_events(4, 10, 12)

    def broken(fn):
        raise RuntimeError("no C++ compiler\nmore")

    _fake_compile(monkeypatch, broken)
    r = tb.time_step(net, x, y, warmup=0, repeats=1, compile=True)
    assert r["variant"] == "eager" and r["compiled_step_s"] is None
    assert r["variant_note"] == "eager (torch.compile failed (RuntimeError: no C++ compiler))"
    _fake_compile(monkeypatch, lambda fn: lambda a, b: 2 * fn(a, b))  # wrong gradients
    r = tb.time_step(net, x, y, warmup=0, repeats=1, compile=True)
    assert r["variant"] == "eager" and "differ from eager (rel. err 1.0e+00)" in r["variant_note"]


@pytest.mark.slow
def test_real_torch_compile_matches_eager():
    """The real torch.compile (inductor, a C++ compiler): compiles, checks, times (~1 min)."""
    net = spiking_net(sizes=(12, 9, 3))
    x, y = dense_events(3, 6, 12)
    r = tb.time_step(net, x, y, warmup=1, repeats=2, compile=True)
    if r["compiled_step_s"] is None:  # e.g. no C++ compiler: said, and eager reported
        assert r["variant"] == "eager" and "torch.compile failed" in r["variant_note"]
    else:
        assert r["compile_s"] > 0 and r["variant"] in ("eager", "torch.compile")
    _, gd, _ = net.loss_and_grad(x, y, mode="dense")
    for k in gd:
        assert np.allclose(r["grads"][k], gd[k], rtol=1e-9, atol=1e-9 * np.abs(gd[k]).max()), k


def test_reset_restores_weights_and_optimiser():
    net = spiking_net()
    x, y = dense_events(4, 10, 12)
    bl = tb.TorchBPTT(net, "cpu")
    xd, yd = bl.prepare(x), bl.labels(y)
    tb._step(bl, bl.loss, xd, yd)
    assert not np.array_equal(bl.params["W1"].detach().numpy(), net.params["W1"])
    bl.reset()
    assert np.array_equal(bl.params["W1"].detach().numpy(), net.params["W1"])
    assert not bl.opt.state


def test_no_compile_beyond_compile_max_steps(monkeypatch):
    net = spiking_net()
    x, y = dense_events(4, 10, 12)

    def never(fn):
        raise AssertionError("compiled although T > compile_max_steps")

    _fake_compile(monkeypatch, never)
    r = tb.time_step(net, x, y, warmup=0, repeats=1, compile=True, compile_max_steps=9)
    assert r["variant"] == "eager" and r["compiled_step_s"] is None and r["compile_s"] == 0
    assert "not tried: T = 10 > 9" in r["variant_note"]


@pytest.mark.parametrize("per_neuron", [False, True])
@pytest.mark.parametrize("model", [tb.TorchBPTT, peers.SnnTorchBPTT])
def test_recurrent_layer_equals_the_rlif_twin(model, per_neuron):
    """One recurrent layer of the baseline (and of snnTorch's RLeaky) against the NumPy twins
    in float64: the same spikes, and dW, dR of sum(S * G) to 1e-9 (plain BPTT)."""
    if model is peers.SnnTorchBPTT:
        pytest.importorskip("snntorch")
    rng = np.random.default_rng(4)
    T, B, N_in, N = 15, 5, 12, 9
    x = (rng.random((T, B, N_in)) < 0.3).astype(np.float64)
    w, r = rng.normal(0.15, 0.5, (N_in, N)), rng.normal(0.0, 0.6, (N, N))
    alpha = rng.uniform(0.5, 0.95, N) if per_neuron else 0.9
    net = SimpleNamespace(
        dtype=np.dtype(np.float64), params={"W1": w, "R1": r}, weights={"W1": w, "R1": r},
        threshold=1.0, beta_s=100.0,
        b_th=0.4, alphas=[alpha], recurrent=[True], sizes=[N_in, N],
    )  # fmt: skip
    g = rng.normal(size=(T, B, N))
    bl = model(net, "cpu")
    s = bl._lif(torch.tensor(x) @ bl.params["W1"], 1)
    (s * torch.tensor(g)).sum().backward()
    v = (x.reshape(T * B, N_in) @ w).reshape(T, B, N)
    s_ref = rlif_forward(v, r, alpha, 1.0)  # v now holds V
    assert np.array_equal(s.detach().numpy(), s_ref) and 0.05 < s_ref.mean() < 0.5
    sp = sigma_prime_masked(v, 1.0, 100.0, 0.4)
    assert np.count_nonzero(sp) > 0.05 * sp.size
    x2, s2 = x.reshape(T * B, N_in), s_ref.reshape(T * B, N).astype(np.float64)
    dw, dr, _ = rlif_backward_dense(g, sp, x2, s2, w, r, alpha, False)
    for got, ref in ((bl.params["W1"].grad, dw), (bl.params["R1"].grad, dr)):
        assert np.allclose(got.numpy(), ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())


@pytest.mark.parametrize(
    "neuron, recurrent, per_neuron",
    [
        ("cuba", [True, True], False),
        ("cuba", [False, True], True),
        ("alif", [True, True], False),
        ("alif", [True, False], True),
    ],
)
def test_cuba_and_alif_gradients_equal_spikegrad_dense(neuron, recurrent, per_neuron):
    """CuBa and ALIF (ALGORITHM.md §8), recurrent and feed-forward, per-neuron constants: the
    baseline's float64 gradients (W, R, W_out) equal spikegrad's dense mode to 1e-9."""
    rng = np.random.default_rng(5)
    extra = {
        "cuba": {"alpha_syn": [rng.uniform(0.3, 0.9, 9), 0.6] if per_neuron else 0.7},
        "alif": {
            "alpha_adapt": [rng.uniform(0.8, 0.99, 9), 0.95] if per_neuron else 0.9,
            "beta_adapt": [rng.uniform(0.0, 2.0, 9), 1.5] if per_neuron else 0.8,
        },
    }[neuron]
    net = sg.Network(
        [12, 9, 7, 3], readout="sum", dtype="float64", seed=3, alpha=0.9, recurrent=recurrent,
        neuron=neuron, b_th=0.4, **extra,
    )  # fmt: skip
    net.params = {k: v * (4.0 if k.startswith("W") else 1.5) for k, v in net.params.items()}
    x, y = dense_events(5, 20, 12, seed=1)
    _, gd, st = net.loss_and_grad(x, y, mode="dense")
    assert min(st["spike_rate"]) > 0.02 and min(st["active_fraction"]) > 0.01, st
    bl = tb.TorchBPTT(net, "cpu")
    assert [k for k, _ in bl.kinds] == [neuron, neuron]
    g = bl.grads(bl.prepare(x), bl.labels(y))
    assert set(g) == set(gd) and {k for k in gd if k.startswith("R")} == {
        f"R{l}" for l, rec in enumerate(recurrent, start=1) if rec
    }
    for k in gd:
        assert np.abs(gd[k]).max() > 0, k
        assert np.allclose(g[k], gd[k], rtol=1e-9, atol=1e-9 * np.abs(gd[k]).max()), k
