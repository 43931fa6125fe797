"""NIR export and import: the mapping (pinned values and an independent simulation of the
exported ODEs), exact round trips, and one-line refusals naming the node."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from helpers import TOL, active_net, rel_err, spikes

import spikegrad as sg
from spikegrad.errors import ConfigError, DataError
from spikegrad.layers import Hidden
from spikegrad.neurons import ALIF, LIF, CuBa

nir = pytest.importorskip("nir")
from spikegrad.nir import from_nir, to_nir, write_nir  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:NIR's LIF resets to v_reset")


def _dense(events) -> np.ndarray:
    s = np.zeros(events.shape, bool)
    s[events.b, events.t, events.i] = True
    return s


def _simulate(graph, x: np.ndarray, dt: float, readout: str):
    """The exported ODEs integrated exactly over each step with the step's input held
    (zero-order hold), from the NIR node fields alone (no spikegrad code): hidden spikes
    per layer (B, T, N_l) and scores (B, K). spikegrad's reset (metadata "subtract"):
    theta is subtracted one step after the spike."""
    nodes, B, T, _ = graph.nodes, *x.shape
    inp, out = x.astype(np.float64), []
    l = 1
    while f"lif{l}" in nodes:
        w, lif = nodes[f"w{l}"].weight, nodes[f"lif{l}"]
        assert lif.metadata["reset"] == "subtract"
        rec = nodes[f"r{l}"].weight if f"r{l}" in nodes else None
        a = np.exp(-dt / lif.tau)
        v, s = np.zeros((B, w.shape[0])), np.zeros((B, T, w.shape[0]), bool)
        for t in range(T):
            s[:, t] = v > lif.v_threshold
            cur = inp[:, t] @ w.T + (s[:, t] @ rec.T if rec is not None else 0)
            v = a * v + (1 - a) * lif.r * cur - lif.v_threshold * s[:, t]
        out.append(s)
        inp, l = s.astype(np.float64), l + 1
    li, w = nodes["readout"], nodes["w_out"].weight
    a = np.exp(-dt / li.tau)
    u = np.zeros((B, T, w.shape[0]))
    for t in range(1, T):
        u[:, t] = a * u[:, t - 1] + (1 - a) * li.r * (inp[:, t - 1] @ w.T)
    score = {"max": u.max(axis=1), "sum": u.sum(axis=1), "last": u[:, -1]}[readout]
    return out, score


def test_mapping_values():
    dt, alpha = 2e-3, 0.83
    net = sg.Network([5, 4, 3], alpha=alpha, alpha_out=0.6, threshold=0.7, seed=1)
    with pytest.warns(UserWarning, match="subtracts the threshold one step after the spike"):
        g = to_nir(net, dt=dt)
    assert g.edges == [
        ("input", "w1"),
        ("w1", "lif1"),
        ("lif1", "w_out"),
        ("w_out", "readout"),
        ("readout", "output"),
    ]
    lif, li = g.nodes["lif1"], g.nodes["readout"]
    assert np.allclose(lif.tau, -dt / np.log(alpha), rtol=1e-15)  # alpha = exp(-dt / tau)
    assert np.allclose(lif.r, 1 / (1 - alpha), rtol=1e-15)  # (1 - alpha) r = 1
    assert np.all(lif.v_leak == 0) and np.all(lif.v_reset == 0)
    assert np.all(lif.v_threshold == 0.7) and lif.metadata["reset"] == "subtract"
    assert np.allclose(li.tau, -dt / np.log(0.6), rtol=1e-15) and np.all(li.r == 1)
    assert np.array_equal(g.nodes["w1"].weight, np.asarray(net.params["W1"]).T)
    assert g.nodes["w1"].weight.dtype == np.float32
    assert g.metadata["dt"] == dt and g.metadata["readout"] == "max"


@pytest.mark.parametrize("readout", ["max", "sum", "last"])
def test_independent_simulation_of_the_exported_graph(readout):
    dt = 1e-3
    net = active_net([12, 9, 7, 4], seed=2, readout=readout, alpha=0.85, alpha_out=0.7)
    x = spikes(np.random.default_rng(3), 5, 40, 12, 0.3)
    s_sim, m_sim = _simulate(to_nir(net, dt), x, dt, readout)
    s_net = [_dense(e) for e in net.hidden_spikes(x)]
    assert all(s.sum() > 20 for s in s_net)  # both layers spike: the comparison bites
    for a, b in zip(s_sim, s_net, strict=True):
        assert np.array_equal(a, b)
    assert rel_err(m_sim, np.asarray(net.forward(x))) < TOL["f64"]


def test_independent_simulation_recurrent():
    dt, rng = 1e-3, np.random.default_rng(4)
    net = sg.Network(
        [12, 9, 7, 4],
        alpha=[rng.uniform(0.6, 0.95, 9), 0.8],
        recurrent=[True, False],
        dtype="float64",
        seed=3,
    )
    net.params = {k: rng.normal(0.3, 1.0, s) / np.sqrt(s[0]) for k, s in net.param_shapes().items()}
    g = to_nir(net, dt)
    assert ("lif1", "r1") in g.edges and ("r1", "lif1") in g.edges
    x = spikes(rng, 4, 40, 12, 0.3)
    s_sim, m_sim = _simulate(g, x, dt, "max")
    s_net = [_dense(e) for e in net.hidden_spikes(x)]
    assert s_net[0].sum() > 20
    for a, b in zip(s_sim, s_net, strict=True):
        assert np.array_equal(a, b)
    assert rel_err(m_sim, np.asarray(net.forward(x))) < TOL["f64"]


def _same(a: sg.Network, b: sg.Network, x) -> None:
    assert b.sizes == a.sizes and b.dtype == a.dtype and b.readout == a.readout
    assert (b.threshold, b.alpha_out) == (a.threshold, a.alpha_out)
    assert b.recurrent == a.recurrent
    for p, q in zip(a.alphas, b.alphas, strict=True):
        assert np.array_equal(p, q)
    assert list(b.params) == list(a.params)
    for k in a.params:
        assert b.params[k].dtype == a.params[k].dtype
        assert np.array_equal(b.params[k], a.params[k]), k
    assert np.array_equal(b.forward(x), a.forward(x))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("alpha", [0.83, 0.9048374180359595, 0.5])
def test_round_trip_graph_and_file_is_exact(tmp_path, dtype, alpha):
    net = sg.Network(
        [10, 8, 6, 3], alpha=alpha, alpha_out=0.77, threshold=0.9, readout="sum", dtype=dtype
    )
    x = spikes(np.random.default_rng(0), 3, 30, 10, 0.4)
    _same(net, from_nir(to_nir(net, dt=5e-4)), x)
    path = write_nir(net, tmp_path / "m.nir", dt=5e-4)
    assert [p.name for p in tmp_path.iterdir()] == ["m.nir"]  # no temporary file left
    _same(net, from_nir(path), x)
    _same(net, from_nir(nir.read(path)), x)


def test_recurrent_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(1)
    net = sg.Network(
        [10, 8, 6, 3], alpha=[0.9, rng.uniform(0.5, 0.95, 6)], recurrent=[True, True], seed=4
    )
    _same(net, from_nir(write_nir(net, tmp_path / "r.nir")), spikes(rng, 3, 30, 10, 0.4))


def _graph(**over):
    """A small valid foreign-style graph (no spikegrad metadata but the reset), with nodes
    replaced by ``over``."""
    rng = np.random.default_rng(0)
    tau, dt = 0.01, 1e-3
    a = np.exp(-dt / tau)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([4])}),
        "fc": nir.Affine(weight=rng.normal(size=(3, 4)), bias=np.zeros(3)),
        "neu": nir.LIF(
            tau=np.full(3, tau),
            r=np.full(3, 1 / (1 - a)),
            v_leak=np.zeros(3),
            v_threshold=np.ones(3),
            metadata={"reset": "subtract"},
        ),
        "out_fc": nir.Linear(weight=rng.normal(size=(2, 3))),
        "li": nir.LI(tau=np.full(2, tau), r=np.ones(2), v_leak=np.zeros(2)),
        "output": nir.Output(output_type={"output": np.array([2])}),
    }
    nodes.update(over)
    edges = [("input", "fc"), ("fc", "neu"), ("neu", "out_fc"), ("out_fc", "li"), ("li", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def test_foreign_graph_import_and_gain_folding():
    g = _graph()
    net = from_nir(g, dt=1e-3)
    assert net.sizes == [4, 3, 2] and net.dtype == np.float64 and net.readout == "max"
    assert net.alpha == pytest.approx(np.exp(-0.1), rel=1e-15)
    assert np.array_equal(net.params["W1"], g.nodes["fc"].weight.T)
    # r = 2 / (1 - a) doubles the input current: folded into W1 exactly (times 2)
    g2 = _graph()
    g2.nodes["neu"].r = g2.nodes["neu"].r * 2
    assert np.array_equal(from_nir(g2, dt=1e-3).params["W1"], 2 * g.nodes["fc"].weight.T)
    # CubaLIF without a synaptic filter (tau_syn 0) is a LIF with gain r w_in (1 - a)
    cuba = nir.CubaLIF(
        tau_syn=np.zeros(3),
        tau_mem=np.full(3, 0.01),
        r=g.nodes["neu"].r,
        v_leak=np.zeros(3),
        v_threshold=np.ones(3),
        w_in=3.0,
        metadata={"reset": "subtract"},
    )
    net3 = from_nir(_graph(neu=cuba), dt=1e-3)
    assert np.allclose(net3.params["W1"], 3 * g.nodes["fc"].weight.T, rtol=1e-15)


def test_reset_to_value_refused_unless_approximate():
    lif = _graph().nodes["neu"]
    lif.metadata = {}
    with pytest.raises(DataError, match="node 'neu': resets to v_reset"):
        from_nir(_graph(neu=lif), dt=1e-3)
    with pytest.warns(RuntimeWarning, match="nodes neu reset to v_reset"):
        net = from_nir(_graph(neu=lif), dt=1e-3, approximate=True)
    assert net.sizes == [4, 3, 2]


def _refusals():
    g0 = _graph()
    lif = lambda **kw: nir.LIF(  # noqa: E731
        **{
            "tau": np.full(3, 0.01),
            "r": g0.nodes["neu"].r,
            "v_leak": np.zeros(3),
            "v_threshold": np.ones(3),
            "metadata": {"reset": "subtract"},
            **kw,
        }
    )
    return {
        "bias": (
            {"fc": nir.Affine(weight=np.ones((3, 4)), bias=np.ones(3))},
            "node 'fc': Affine with a non-zero bias",
        ),
        "leak": ({"neu": lif(v_leak=np.ones(3))}, "node 'neu': v_leak != 0"),
        "tau": ({"neu": lif(tau=np.zeros(3))}, "node 'neu': tau must be finite and > 0"),
        "thr": (
            {"neu": lif(v_threshold=np.array([1.0, 2.0, 1.0]))},
            "node 'neu': v_threshold must be one value",
        ),
        "syn": (
            {
                "neu": nir.CubaLIF(
                    tau_syn=np.array([0.0, 0.005, 0.005]),
                    tau_mem=np.full(3, 0.01),
                    r=np.ones(3),
                    v_leak=np.zeros(3),
                    v_threshold=np.ones(3),
                )
            },
            r"node 'neu': tau_syn is 0 for some neurons only \(one kind per layer\)",
        ),
        "type": (
            {"neu": nir.Threshold(threshold=np.ones(3))},
            "node 'neu': Threshold is not supported",
        ),
        "shape": (
            {"out_fc": nir.Linear(weight=np.ones((2, 5)))},
            r"node 'out_fc': weight of shape \(2, 5\); expected \(N, 3\)",
        ),
        "li_tau": (
            {"li": nir.LI(tau=np.array([0.01, 0.02]), r=np.ones(2), v_leak=np.zeros(2))},
            "node 'li': tau differs between outputs",
        ),
        "no_hidden": (
            {"neu": nir.LI(tau=np.full(3, 0.01), r=np.ones(3), v_leak=np.zeros(3))},
            "node 'neu': an LI node is the readout; it must be followed by the Output, not",
        ),
    }


@pytest.mark.parametrize("case", list(_refusals()))
def test_refusals_name_the_node_in_one_line(case):
    over, why = _refusals()[case]
    with pytest.raises(DataError, match=why) as info:
        from_nir(_graph(**over), dt=1e-3)
    assert "\n" not in str(info.value) and str(info.value).startswith("NIR graph: ")


def test_structure_refusals():
    g = _graph()
    g.nodes["extra"] = nir.Linear(weight=np.ones((3, 3)))
    with pytest.raises(DataError, match="node 'extra': is not on the chain"):
        from_nir(g, dt=1e-3)
    g = _graph()
    g.edges.append(("neu", "li"))
    with pytest.raises(DataError, match="node 'neu': must be followed by one weight node"):
        from_nir(g, dt=1e-3)
    g = _graph()
    g.nodes["back"] = nir.Linear(weight=np.ones((3, 3)))
    g.edges = [e for e in g.edges if e[0] != "neu"] + [("neu", "back"), ("back", "neu")]
    with pytest.raises(DataError, match="node 'neu': must be followed by one weight node"):
        from_nir(g, dt=1e-3)  # only a loop after the hidden layer: no way on to the readout
    square = {"input": nir.Input(input_type={"input": np.array([3])})}
    g = _graph(**square, fc=nir.Linear(weight=np.eye(3)))
    g.edges = [e for e in g.edges if e[0] != "neu"] + [("neu", "fc")]  # back to the first weight
    with pytest.raises(DataError, match="node 'neu': is reached twice"):
        from_nir(g, dt=1e-3)
    with pytest.raises(ConfigError, match="does not state its time step; pass dt="):
        from_nir(_graph())
    g = _graph()
    g.metadata = {"spikegrad_nir": 99, "dt": 1e-3}
    with pytest.raises(DataError, match="newer spikegrad"):
        from_nir(g)
    g = _graph()
    g.nodes = {k: v for k, v in g.nodes.items() if k not in ("neu", "out_fc")}
    g.edges = [("input", "fc"), ("fc", "li"), ("li", "output")]
    g.nodes["fc"] = nir.Linear(weight=np.ones((2, 4)))
    with pytest.raises(DataError, match="no hidden LIF layer between the input and the LI"):
        from_nir(g, dt=1e-3)
    with pytest.raises(DataError, match=r"expected a nir\.NIRGraph; got LIF"):
        from_nir(_graph().nodes["neu"], dt=1e-3)


def test_bad_files(tmp_path):
    with pytest.raises(DataError, match=r"absent\.nir: no such NIR file"):
        from_nir(tmp_path / "absent.nir")
    (tmp_path / "junk.nir").write_bytes(b"not hdf5")
    np.savez(tmp_path / "model.npz", a=np.zeros(2))
    for name in ("junk.nir", "model.npz"):
        with pytest.raises(DataError, match=f"{name}: not a readable NIR graph") as info:
            from_nir(tmp_path / name)
        assert "\n" not in str(info.value)


def test_export_refuses_alpha_without_tau():
    with pytest.raises(ConfigError, match="layer 1: alpha 1 has no NIR time constant"):
        to_nir(sg.Network([3, 2, 2], alpha=1.0))
    with pytest.raises(ConfigError, match="readout: alpha 0 has no NIR time constant"):
        to_nir(sg.Network([3, 2, 2], alpha_out=0.0))


def test_without_nir_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "nir", None)  # import nir -> ImportError
    with pytest.raises(ConfigError, match=r"pip install 'spikegrad\[nir\]'"):
        to_nir(sg.Network([3, 2, 2]))


def test_layers_with_their_own_thresholds_round_trip():
    layers = [Hidden(6, LIF(alpha=0.8, theta=0.6), recurrent=True), Hidden(4, LIF(theta=1.3))]
    net = sg.Network.from_layers(5, layers, 3, dtype="float64", seed=2)
    with pytest.warns(UserWarning, match="subtracts the threshold"):
        g = to_nir(net)
    assert np.all(g.nodes["lif1"].v_threshold == 0.6) and np.all(g.nodes["lif2"].v_threshold == 1.3)
    back = from_nir(g)
    assert [s.neuron.theta for s in back.hidden] == [0.6, 1.3] and back.threshold is None
    x = np.random.default_rng(3).random((3, 25, 5)) < 0.5
    _same(net, back, x)


# ------------------------------------------------------------------------- CuBa and ALIF
def _kinds_equal(a: sg.Network, b: sg.Network) -> None:
    assert b.neurons == a.neurons
    for sa, sb in zip(a.hidden, b.hidden, strict=True):
        for k, v in vars(sa.neuron).items():
            assert np.array_equal(v, getattr(sb.neuron, k)), k


def _cuba_net(rng, recurrent=(True, False), dtype="float64") -> sg.Network:
    layers = [
        Hidden(9, CuBa(alpha=rng.uniform(0.6, 0.95, 9), alpha_syn=0.7), recurrent=recurrent[0]),
        Hidden(7, CuBa(alpha=0.85, alpha_syn=rng.uniform(0.3, 0.9, 7)), recurrent=recurrent[1]),
    ]
    net = sg.Network.from_layers(12, layers, 4, dtype=dtype, seed=3, readout="sum")
    net.params = {
        k: rng.normal(0.15, 0.6, s) / np.sqrt(s[0]) for k, s in net.param_shapes().items()
    }
    return net


def test_cuba_mapping_and_independent_simulation():
    """CuBa layers export as CubaLIF nodes whose ODEs, integrated per node with the input
    held over the step (no spikegrad code), give the network's spikes and scores."""
    dt, rng = 1e-3, np.random.default_rng(5)
    net = _cuba_net(rng)
    with pytest.warns(UserWarning, match="subtracts the threshold one step after the spike"):
        g = to_nir(net, dt)
    node = g.nodes["cuba1"]
    assert isinstance(node, nir.CubaLIF) and ("cuba1", "r1") in g.edges
    a_s = np.exp(-dt / node.tau_syn)
    assert np.allclose(a_s, 0.7, rtol=1e-15) and np.allclose(node.w_in * (1 - a_s), 1, rtol=1e-14)
    assert node.metadata["reset"] == "subtract" and np.all(node.metadata["alpha_syn"] == 0.7)
    x = spikes(rng, 4, 40, 12, 0.3)
    B, T, _ = x.shape
    inp, out = x.astype(np.float64), []
    for l in (1, 2):
        w, c = g.nodes[f"w{l}"].weight, g.nodes[f"cuba{l}"]
        rec = g.nodes[f"r{l}"].weight if f"r{l}" in g.nodes else None
        a, a_s = np.exp(-dt / c.tau_mem), np.exp(-dt / c.tau_syn)
        v, i = np.zeros((B, w.shape[0])), np.zeros((B, w.shape[0]))
        s = np.zeros((B, T, w.shape[0]), bool)
        for t in range(T):
            s[:, t] = v > c.v_threshold
            cur = inp[:, t] @ w.T + (s[:, t] @ rec.T if rec is not None else 0)
            v, i = (
                a * v + (1 - a) * c.r * i - c.v_threshold * s[:, t],
                a_s * i + (1 - a_s) * c.w_in * cur,
            )
        out.append(s)
        inp = s.astype(np.float64)
    s_net = [_dense(e) for e in net.hidden_spikes(x)]
    assert all(s.sum() > 20 for s in s_net)
    for sim, got in zip(out, s_net, strict=True):
        assert np.array_equal(sim, got)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuba_round_trip_graph_and_file_is_exact(tmp_path, dtype):
    rng = np.random.default_rng(6)
    net = _cuba_net(rng, dtype=dtype)
    x = spikes(rng, 3, 30, 12, 0.4)
    with pytest.warns(UserWarning):
        back = from_nir(write_nir(net, tmp_path / "c.nir", dt=5e-4))
    _same(net, back, x)
    _kinds_equal(net, back)


def test_cubalif_without_synaptic_filter_still_reads_as_lif():
    g = _graph()
    cuba = nir.CubaLIF(
        tau_syn=np.zeros(3), tau_mem=np.full(3, 0.01), r=g.nodes["neu"].r, v_leak=np.zeros(3),
        v_threshold=np.ones(3), metadata={"reset": "subtract"},
    )  # fmt: skip
    assert from_nir(_graph(neu=cuba), dt=1e-3).neurons == ["lif"]
    cuba.tau_syn = np.full(3, 0.005)
    net = from_nir(_graph(neu=cuba), dt=1e-3)
    assert net.neurons == ["cuba"] and net.hidden[0].neuron.alpha_syn == pytest.approx(np.exp(-0.2))
    # the gain w_in (1 - alpha_syn) r (1 - alpha) = 1 - alpha_syn is folded into W1
    w = np.asarray(g.nodes["fc"].weight.T)
    assert np.allclose(net.params["W1"], w * (1 - np.exp(-0.2)), rtol=1e-14)


def test_alif_export_refused_unless_approximate(tmp_path):
    layers = [Hidden(6, LIF(alpha=0.8)), Hidden(4, ALIF(alpha=0.9, beta_adapt=[0, 1, 2, 3.0]))]
    net = sg.Network.from_layers(5, layers, 3, dtype="float64", seed=2)
    with pytest.raises(ConfigError, match=r"^layer 2: ALIF has no NIR node") as info:
        to_nir(net)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=r"^layer 2: ALIF"):
        write_nir(net, tmp_path / "a.nir")
    assert not (tmp_path / "a.nir").exists()
    with pytest.warns(UserWarning, match="without their threshold adaptation"):
        g = to_nir(net, approximate=True)
    node = g.nodes["alif2"]
    assert isinstance(node, nir.LIF) and np.all(node.v_threshold == 1.0)
    assert node.metadata["beta_adapt"].tolist() == [0, 1, 2, 3]
    with pytest.warns(UserWarning):
        back = from_nir(write_nir(net, tmp_path / "a.nir", approximate=True))
    assert back.neurons == ["lif", "lif"]  # what NIR states: the adaptation is gone
    assert np.array_equal(back.params["W2"], net.params["W2"])
