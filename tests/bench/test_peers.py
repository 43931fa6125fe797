"""The peer libraries (snnTorch, SpikingJelly, Norse) in the CPU benchmark: the harness with a
fake peer (no torch needed), then the real ones where they are installed."""

from __future__ import annotations

import dataclasses
import json
import sys

import numpy as np
import pytest
from helpers import dense_events, spiking_net

import spikegrad as sg
from spikegrad.bench import cpu, peers, report

# --- the harness, without torch --------------------------------------------------------------


def _fake_timer(seconds: float):
    """A stand-in for torch_baseline.time_step: fixed figures, the gradients it is given."""

    def timer(net, x, y, warmup, repeats, compile, model):
        assert compile is False and model is object  # peers run eager, with their own model
        g = {k: v * 1.5 for k, v in net.params.items()}
        return {
            "forward_s": seconds / 3, "backward_s": seconds / 2, "step_s": seconds,
            "prepare_s": 1e-4, "retained_bytes": 3 * 2**20, "peak_bytes": 7 * 2**20,
            "grads": g, "device": "cpu",
        }  # fmt: skip

    return timer


FAKE = peers.Peer("fake", "FakeSNN", "json", "pytest", "fake: same model", object)
MISSING = peers.Peer("gone", "GoneSNN", "no_such_module_spikegrad_test", "nope", "", object)


def test_time_peers_harness_with_a_fake_peer(tmp_path, monkeypatch):
    broken = tmp_path / "broken_peer_mod.py"
    broken.write_text("raise RuntimeError('half installed')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    bad = peers.Peer("bad", "BadSNN", "broken_peer_mod", "nope", "", object)
    net = spiking_net()
    ref = {k: v * 1.0 for k, v in net.params.items()}
    x, y = dense_events(2, 5, 12)
    res = peers.time_peers(net, x, y, ref, peers=(FAKE, MISSING, bad), timer=_fake_timer(0.06))
    assert [p["name"] for p in res["peers"]] == ["fake"]
    assert res["peers"][0]["version"] == peers.version(FAKE) and res["peers"][0]["note"]
    assert res["peers_missing"] == {
        "GoneSNN": "not installed",
        "BadSNN": "cannot import: RuntimeError: half installed",
    }
    assert res["fake_step_s"] == 0.06 and res["fake_peak_bytes"] == 7 * 2**20
    assert res["fake_rel_err"] == pytest.approx(0.5)
    assert "fake_grads" not in res and "broken_peer_mod" not in sys.modules


def _result(peer_steps: dict[str, float], torch_step: float | None = 0.05) -> dict:
    r = {
        "case": "c1", "shape": "10-5-2", "B": 4, "T": 7, "backend": "numpy",
        "dtype": "float32", "cpu_ops": None, "active_fraction": [0.0125], "input_rate": 0.02,
        "sparse_vs_dense_rel_err": 3e-6, "peers": [], "peers_missing": {"Norse": "not installed"},
    }  # fmt: skip
    steps = {"dense": 0.010, "sparse": 0.002, **({"torch": torch_step} if torch_step else {})}
    for row, s in {**steps, **peer_steps}.items():
        r[f"{row}_forward_s"], r[f"{row}_backward_s"], r[f"{row}_step_s"] = s / 4, s / 2, s
        r[f"{row}_retained_bytes"], r[f"{row}_peak_bytes"] = 2**20, 5 * 2**20
    if torch_step:
        r["torch_rel_err"], r["torch_variant"] = 4e-7, "torch.compile"
        r["torch_variant_note"] = "torch.compile: step 50.0 ms; eager 80.0 ms; compiled in 9 s"
    for name in peer_steps:
        label = {"snntorch": "snnTorch", "spikingjelly": "SpikingJelly"}[name]
        r["peers"].append({"name": name, "label": label, "version": "9.9", "note": "n " + name})
        r[f"{name}_rel_err"] = 0.25
    return report.add_ratios(r)


def test_ratios_name_the_fastest_peer():
    r = _result({"snntorch": 0.03, "spikingjelly": 0.04})
    assert r["snntorch_step_vs_sparse_step"] == pytest.approx(15.0)
    assert r["spikingjelly_step_vs_sparse_step"] == pytest.approx(20.0)
    assert r["torch_step_vs_sparse_step"] == pytest.approx(25.0)
    assert r["fastest_peer"] == "snntorch"
    assert r["fastest_peer_step_vs_sparse_step"] == pytest.approx(15.0)
    r = _result({"snntorch": 0.09}, torch_step=0.05)
    assert r["fastest_peer"] == "torch" and r["fastest_peer_step_vs_sparse_step"] == 25.0
    r = _result({"spikingjelly": 0.09}, torch_step=None)
    assert r["fastest_peer"] == "spikingjelly" and "torch_step_vs_sparse_step" not in r
    json.loads(report.json_lines([r]))  # every field is JSON


def test_case_block_with_peers_and_peak():
    lines = report.case_block(_result({"snntorch": 0.03, "spikingjelly": 0.04}), peak=True)
    head = lines.index(next(ln for ln in lines if "forward ms" in ln))
    assert lines[head].startswith("  " + " " * 12 + "  forward ms")  # widest label: 12
    assert lines[head].split()[-2:] == ["peak", "MB"]
    rows = lines[head + 1 : head + 6]
    assert [r.split()[0] for r in rows] == ["dense", "sparse", "torch", "snnTorch", "SpikingJelly"]
    assert (
        rows[0] == "  dense" + " " * 7 + f"{2.5:12.1f}{5.0:13.1f}{10.0:10.1f}{1.0:10.2f}{5.0:10.1f}"
    )
    assert rows[2].endswith("   (torch.compile; grad rel. err vs dense 4.0e-07)")
    assert rows[3].endswith(f"{5.0:10.1f}   (grad rel. err vs dense 2.5e-01)")
    tail = lines[head + 6 :]
    assert tail[1] == (
        "  peer step / sparse step: snnTorch 15.0x, SpikingJelly 20.0x; "
        "fastest peer / sparse step 15.0x (snnTorch)"
    )
    assert tail[2:] == [
        "  snnTorch 9.9: n snntorch",
        "  SpikingJelly 9.9: n spikingjelly",
        "  torch BPTT: torch.compile: step 50.0 ms; eager 80.0 ms; compiled in 9 s",
        "  Norse: not installed",
    ]


def test_cpu_report_peers_rows_or_not_installed_lines(tiny_fmnist):
    r = cpu.run_case(tiny_fmnist, repeats=1, with_torch=False, with_peers=True)
    ran = {p["label"] for p in r["peers"]}
    assert ran | set(r["peers_missing"]) == {"snnTorch", "SpikingJelly", "Norse"}
    assert not ran & set(r["peers_missing"])
    for p in r["peers"]:
        assert r[f"{p['name']}_step_s"] > 0 and r[f"{p['name']}_step_vs_sparse_step"] > 0
    for mode in ("dense", "sparse"):  # peak RSS growth of a step, for every row
        assert isinstance(r[f"{mode}_peak_bytes"], int) and r[f"{mode}_peak_bytes"] >= 0
    table = cpu.format_table([r])
    for label in r["peers_missing"]:
        assert f"  {label}: " in table
    assert "peak MB" in table


def test_peers_say_why_they_cannot_model_a_network():
    by_name = {p.name: p for p in peers.PEERS}
    ff, rec = spiking_net(), spiking_net(recurrent=[False, True])
    hetero = spiking_net(alpha=[0.9, np.full(7, 0.8)])
    for net in (ff, rec, hetero):
        assert by_name["snntorch"].unsupported(net) is None
    for name in ("spikingjelly", "norse"):
        assert by_name[name].unsupported(ff) is None
        assert by_name[name].unsupported(rec).startswith("not run (recurrent network): ")
        assert "one time constant per layer" in by_name[name].unsupported(hetero)
    x, y = dense_events(2, 5, 12)
    fake = dataclasses.replace(FAKE, unsupported=by_name["norse"].unsupported)
    res = peers.time_peers(rec, x, y, {}, peers=(fake,), timer=_fake_timer(0.06))
    assert res["peers"] == [] and res["peers_missing"]["FakeSNN"].startswith("not run (rec")


def _kind_net(neuron: str, recurrent=True, per_neuron: bool = False, dtype: str = "float64"):
    """A small CuBa or ALIF network whose weights make every layer spike."""
    rng = np.random.default_rng(6)
    extra = {
        "cuba": {"alpha_syn": [rng.uniform(0.3, 0.9, 9), 0.6] if per_neuron else 0.7},
        "alif": {"alpha_adapt": 0.9, "beta_adapt": 0.8},
    }[neuron]
    net = sg.Network(
        [12, 9, 7, 3], readout="sum", dtype=dtype, seed=3, alpha=0.9, recurrent=recurrent,
        neuron=neuron, b_th=0.4, **extra,
    )  # fmt: skip
    net.params = {k: v * (4.0 if k.startswith("W") else 1.5) for k, v in net.params.items()}
    return net


def test_peers_say_why_they_cannot_model_cuba_or_alif():
    by_name = {p.name: p for p in peers.PEERS}
    cuba, alif = _kind_net("cuba"), _kind_net("alif")
    assert by_name["snntorch"].unsupported(cuba) is None
    assert "no adaptive-threshold (ALIF) neuron" in by_name["snntorch"].unsupported(alif)
    assert "no current-based (CuBa) neuron" in by_name["spikingjelly"].unsupported(cuba)
    assert "no adaptive-threshold (ALIF)" in by_name["spikingjelly"].unsupported(alif)
    assert "LIFCell has a synaptic current" in by_name["norse"].unsupported(cuba)
    assert "LSNNCell" in by_name["norse"].unsupported(alif)


# --- the real libraries ------------------------------------------------------------------


def _model(name: str):
    pytest.importorskip("torch")
    peer = next(p for p in peers.PEERS if p.name == name)
    if why := peers.unavailable(peer):
        pytest.skip(f"{peer.label}: {why}")
    return peer.model


@pytest.mark.parametrize(
    "readout, recurrent, alpha",
    [
        ("max", False, 0.9),
        ("sum", False, 0.9),
        ("last", False, 0.9),
        ("sum", True, 0.9),  # RLeaky
        ("max", [False, True], [0.8, np.linspace(0.6, 0.95, 7)]),  # per-neuron beta
    ],
)
def test_snntorch_computes_spikegrads_gradients(readout, recurrent, alpha):
    model = _model("snntorch")
    net = spiking_net(readout, recurrent=recurrent, alpha=alpha)
    x, y = dense_events(5, 15, 12, seed=1)
    loss, gd, st = net.loss_and_grad(x, y, mode="dense")
    assert min(st["spike_rate"]) > 0
    m = model(net, "cpu")
    xd, yd = m.prepare(x), m.labels(y)
    assert m.loss(xd, yd).item() == pytest.approx(loss, rel=1e-12)
    g = m.grads(xd, yd)
    for k in gd:
        assert np.allclose(g[k], gd[k], rtol=1e-9, atol=1e-9 * np.abs(gd[k]).max()), k


@pytest.mark.parametrize(
    "recurrent, per_neuron", [(False, False), (True, False), ([False, True], True)]
)
def test_snntorch_synaptic_computes_spikegrads_cuba_gradients(recurrent, per_neuron):
    """snnTorch's Synaptic (recurrence added by the loop) is spikegrad's CuBa: the same loss
    and, in float64, the same gradients to 1e-9."""
    model = _model("snntorch")
    net = _kind_net("cuba", recurrent, per_neuron)
    x, y = dense_events(5, 20, 12, seed=1)
    loss, gd, st = net.loss_and_grad(x, y, mode="dense")
    assert min(st["spike_rate"]) > 0.02 and min(st["active_fraction"]) > 0.01
    m = model(net, "cpu")
    xd, yd = m.prepare(x), m.labels(y)
    assert m.loss(xd, yd).item() == pytest.approx(loss, rel=1e-12)
    g = m.grads(xd, yd)
    for k in gd:
        assert np.abs(gd[k]).max() > 0, k
        assert np.allclose(g[k], gd[k], rtol=1e-9, atol=1e-9 * np.abs(gd[k]).max()), k


def test_spikingjelly_and_norse_run_one_model():
    """Both fire in the step of their input with the reset decaying with V: with the same
    weights (Norse's divided by its input gain 1 - alpha) they give the same loss, and it is
    not spikegrad's (the dynamics differ, as their notes say)."""
    sj, norse = _model("spikingjelly"), _model("norse")
    net = spiking_net("max", dtype="float32")
    x, y = dense_events(5, 15, 12, seed=2)
    loss = [m.loss(m.prepare(x), m.labels(y)).item() for m in (sj(net, "cpu"), norse(net, "cpu"))]
    assert loss[0] == pytest.approx(loss[1], rel=1e-5)
    assert abs(loss[0] - net.loss_and_grad(x, y, mode="dense")[0]) > 1e-3


def test_time_peers_real(tiny_shd):
    pytest.importorskip("torch")
    if all(peers.unavailable(p) for p in peers.PEERS):
        pytest.skip("no peer library installed")
    from spikegrad.bench.cases import build_network, calibrate, make_inputs

    net = build_network(tiny_shd)
    x, y = make_inputs(tiny_shd)
    calibrate(net, x, y, (0.05, 0.05))
    _, gd, _ = net.loss_and_grad(x, y, mode="dense")
    res = peers.time_peers(net, x, y, gd, warmup=1, repeats=2)
    assert res["peers"]
    for p in res["peers"]:
        n = p["name"]
        assert res[f"{n}_step_s"] >= res[f"{n}_backward_s"] > 0 and res[f"{n}_forward_s"] > 0
        assert res[f"{n}_retained_bytes"] > 0 and res[f"{n}_peak_bytes"] >= 0
        assert np.isfinite(res[f"{n}_rel_err"])
    if "snntorch" in [p["name"] for p in res["peers"]]:
        assert res["snntorch_rel_err"] < 1e-4  # float32: the same model
