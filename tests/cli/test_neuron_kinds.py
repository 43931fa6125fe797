"""The run's neuron settings come from the kind registry: a kind registered from outside the
package ("biaslif": LIF plus its own constant, a bias current) gets its config key, its CLI
option with help and range, TOML, a run, --resume, evaluate and export with no change to
spikegrad.train or the CLI; unknown kinds, per-layer values, unused options and old config
files."""

from __future__ import annotations

import dataclasses
import json
import math
import types
from typing import Any, ClassVar, NamedTuple

import numpy as np
import pytest
from spikegrad.cli import cli

import spikegrad as sg
from spikegrad import backend, neurons
from spikegrad.errors import BadValueError, ConfigError
from spikegrad.neurons import lif
from spikegrad.neurons.base import Constant, check_constants, from_model, to_model
from spikegrad.ops import kind_twin as twin
from spikegrad.train import build, neuron
from spikegrad.train import checkpoint as ck
from spikegrad.train import run as runs
from spikegrad.train.config import from_dict, load_config, preset
from spikegrad.train.toml import loads_toml

from .conftest import TINY, quiet
from .test_values_cli import _usage_error

BIAS = Constant(
    "bias",
    None,
    None,
    option="bias_current",
    default=0.0,
    help="A constant input current added every step (biaslif layers).",
)


@dataclasses.dataclass(frozen=True)
class BiasLIF:
    alpha: Any = lif.ALPHA
    theta: float = 1.0
    bias: float = 0.0

    KIND: ClassVar[str] = "biaslif"

    def checked(self, n: int) -> BiasLIF:
        return check_constants(self, CONSTANTS, n)


CONSTANTS = (*lif.CONSTANTS, BIAS)


class Params(NamedTuple):
    alpha: Any
    theta: Any = None
    bias: Any = None


def _kind() -> types.ModuleType:
    """LIF's functions with V[t+1] = alpha V[t] + h[t] + bias - theta S[t]; its own name,
    record, constants and op names."""
    kind = types.ModuleType("biaslif")
    kind.__dict__.update({k: v for k, v in vars(lif).items() if not k.startswith("__")})

    def params(like, alpha, theta=None, bias=None):
        p = lif.params(like, alpha, theta)
        return Params(p.alpha, p.theta, None if bias is None else like.dtype.type(bias))

    def update(p, st, s, h):
        return lif.State(st.v * p.alpha + h + p.bias - p.theta * s)

    def step(p, st, h):
        s = lif.fire(p, st)
        return update(p, st, s, h), s, lif.distance(p, st)

    kind.__dict__.update(
        NAME="biaslif",
        CONSTANTS=CONSTANTS,
        RECORD=BiasLIF,
        FORWARD_ARGS=("alpha", "theta", "bias"),
        params=params,
        update=update,
        step=step,
        op_args=lambda c, asarray: {**lif.op_args(c, asarray), "bias": c.bias},
        model_fields=lambda c, l: to_model(c, CONSTANTS, l),
        from_model_fields=lambda e, a, l: from_model(BiasLIF, CONSTANTS, e, a, l),
        NIR_NODES=(),
        OPS={
            rec: neurons.OpNames(*(f"{'r' * rec}biaslif_{op}" for op in lif.OPS[False]._fields))
            for rec in (False, True)
        },
    )
    return kind


def _ops(kind) -> dict:
    """The twins of the kind's ops: the LIF ops' signatures with its forward arguments."""
    return {
        "biaslif_forward": lambda h, *a: twin.forward_dense(kind, h, None, a),
        "biaslif_forward_sparse_spikes": lambda ip, ix, w, *a: twin.forward_sparse_spikes(
            kind, ip, ix, w, None, a[:-3], *a[-3:]
        ),
        "biaslif_backward_dense": lambda g, sp, x, w, *a: twin.backward_dense(
            kind, g, sp, x, None, w, None, a[:-1], a[-1]
        )[::2],
        "biaslif_backward_sparse": lambda g, act, x, w, *a: twin.backward_sparse(
            kind, g, act, x, None, w, None, a[:-2], *a[-2:]
        )[::2],
        "rbiaslif_forward": lambda h, r, *a: twin.forward_dense(kind, h, r, a),
        "rbiaslif_forward_sparse_spikes": lambda ip, ix, w, r, *a: twin.forward_sparse_spikes(
            kind, ip, ix, w, r, a[:-3], *a[-3:]
        ),
        "rbiaslif_backward_dense": lambda g, sp, x, s, w, r, *a: twin.backward_dense(
            kind, g, sp, x, s, w, r, a[:-1], a[-1]
        ),
        "rbiaslif_backward_sparse": lambda g, act, x, s, w, r, *a: twin.backward_sparse(
            kind, g, act, x, s, w, r, a[:-2], *a[-2:]
        ),
    }


@pytest.fixture
def biaslif(monkeypatch):
    kind = _kind()
    monkeypatch.setattr(backend, "_REGISTRY", dict(backend._REGISTRY))
    for name, fn in _ops(kind).items():
        backend.register(name, "numpy")(fn)
    monkeypatch.setattr(neurons, "KINDS", dict(neurons.KINDS))
    return neurons.register(kind)


def test_a_kind_from_outside_gets_its_config_key_toml_and_cli_option(biaslif, runner):
    opts = neuron.options()
    assert opts["bias_current"].kinds == ("biaslif",) and opts["bias_current"].default == 0.0
    assert opts["tau_mem"].kinds[:: len(neurons.KINDS) - 1] == ("lif", "biaslif")  # one entry
    assert list(opts).count("threshold") == 1
    c = TINY.replace(neuron=("biaslif", "lif"), bias_current=-0.25)
    assert c.bias_current == -0.25 and c.neuron_layers == ("biaslif", "lif")
    text = c.to_toml()
    assert 'neuron = ["biaslif", "lif"]' in text and "bias_current = -0.25" in text
    assert from_dict(loads_toml(text)) == c
    assert "biaslif/lif: tau_mem 10 ms" in c.describe() and "bias_current -0.25" in c.describe()
    with pytest.raises(BadValueError, match=r"^bias_current must be a finite number; got nan"):
        TINY.replace(bias_current=float("nan"))
    res = runner.invoke(cli, ["train", "-h"])
    assert "--bias-current" in res.output and "[biaslif; a finite number; default 0]" in " ".join(
        res.output.split()
    )
    assert "A constant input current added every step" in " ".join(res.output.split())
    assert f"[{'|'.join(neurons.KINDS)}][,...]" in res.output and "|biaslif]" in res.output
    res = runner.invoke(cli, ["train", "--print-config", "--bias-current", "nan"])
    _usage_error(res, "--bias-current", "nan")
    res = runner.invoke(
        cli, ["train", "--print-config", "--neuron", "biaslif", "--bias-current", "0.5"]
    )
    assert res.exit_code == 0 and "bias_current = 0.5" in res.output


def test_a_kind_from_outside_trains_resumes_evaluates_and_exports(biaslif, runner, tiny_toml):
    base = ["train", "-q", "--config", str(tiny_toml), "--neuron", "biaslif,lif"]
    args = [*base, "--bias-current", "0.05,0", "--recurrent", "1,0"]
    res = runner.invoke(cli, [*args, "--epochs", "2", "--out", "full"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, [*args, "--epochs", "1", "--out", "r"])
    assert res.exit_code == 0, res.output
    saved = ck.load("r/last.npz")
    assert [type(s.neuron) for s in saved.layers] == [BiasLIF, lif.LIF]
    assert saved.layers[0].neuron.bias == 0.05 and saved.layers[0].recurrent
    res = runner.invoke(cli, ["train", "-q", "--resume", "r", "--epochs", "2"])
    assert res.exit_code == 0, res.output
    a, b = ck.load("r/last.npz").params, ck.load("full/last.npz").params
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)  # bitwise
    res = runner.invoke(cli, ["evaluate", "r", "--split", "val", "--json"])
    assert res.exit_code == 0, res.output
    ev = json.loads(res.output)
    res = runner.invoke(cli, ["export", "r", "--model", "m.npz"])
    assert res.exit_code == 0, res.output
    net = sg.Network.load("m.npz")
    assert [type(s.neuron) for s in net.hidden] == [BiasLIF, lif.LIF]
    res = runner.invoke(cli, ["evaluate", "m.npz", "--split", "val", "--json"])
    assert res.exit_code == 0, res.output
    assert (json.loads(res.output)["accuracy"], json.loads(res.output)["loss"]) == (
        ev["accuracy"],
        ev["loss"],
    )
    # the kind's constant reaches its ops: another bias, another loss
    cfg = TINY.replace(neuron="biaslif")
    x, y = next(iter(build.load_data(cfg)[0].batches(16, shuffle=False, prepare=True)))
    losses = {
        build.build_network(cfg.replace(bias_current=v), 40, 10).loss_and_grad(x, y)[0]
        for v in (0.0, 0.3)
    }
    assert len(losses) == 2


def test_an_unknown_kind_is_one_line_naming_the_option_and_the_known_kinds(runner, tmp_path):
    res = runner.invoke(cli, ["train", "--print-config", "--neuron", "nope"])
    err = _usage_error(res, "--neuron", "'nope'")
    known = ", ".join(neurons.KINDS)
    assert f"must be one of {known}, or one per hidden layer" in err
    res = runner.invoke(cli, ["train", "--print-config", "--neuron", "lif,nope"])
    _usage_error(res, "--neuron", "'lif,nope'")
    for line, shown in (
        ('neuron = "nope"', "'nope'"),
        ('neuron = ["lif"]', "['lif']"),  # two hidden layers
        ("neuron = 3", "3"),
    ):
        path = tmp_path / "bad.toml"
        path.write_text(f"hidden = [8, 8]\n{line}\n", encoding="utf-8")
        res = runner.invoke(cli, ["train", "--print-config", "--config", str(path)])
        lines = [s for s in res.output.splitlines() if s.strip()]
        assert res.exit_code == 1 and len(lines) == 1, res.output
        assert lines[0].startswith(f"Error: {path}: neuron must be one of {known}, or a list")
        assert lines[0].endswith(f"(one per hidden layer); got {shown}")
    with pytest.raises(ConfigError, match=r"^neuron must be one of lif"):
        TINY.replace(neuron="nope")


def test_old_config_files_without_neuron_load_as_lif(tmp_path):
    old = "\n".join(s for s in TINY.to_toml().splitlines() if not s.startswith("neuron ="))
    assert "tau_mem = 0.01" in old and "threshold = 1.0" in old
    path = tmp_path / "old.toml"
    path.write_text(old, encoding="utf-8")
    c = load_config(path)
    assert c == TINY and c.neuron == "lif"
    assert [type(s.neuron) for s in neuron.hidden_layers(c)] == [lif.LIF, lif.LIF]


def test_per_layer_values_from_the_cli_and_config(runner, tmp_path):
    args = ["train", "--print-config", "--hidden", "20", "30"]
    res = runner.invoke(cli, [*args, "--tau-mem", "20e-3,10e-3", "--threshold", "1,0.8"])
    assert res.exit_code == 0, res.output
    assert "tau_mem = [0.02, 0.01]" in res.output and "threshold = [1.0, 0.8]" in res.output
    path = tmp_path / "c.toml"
    path.write_text(res.output, encoding="utf-8")
    c = load_config(path)
    assert c.tau_mem == (0.02, 0.01) and c.alpha == (math.exp(-1 / 20), math.exp(-1 / 10))
    net = build.build_network(c.replace(backend="numpy"), 40, 10)
    assert net.alphas == [math.exp(-1 / 20), math.exp(-1 / 10)]
    assert [s.neuron.theta for s in net.hidden] == [1.0, 0.8] and net.threshold is None
    assert "tau_mem 20/10 ms (alpha 0.951229/0.904837), threshold 1/0.8" in c.describe()
    res = runner.invoke(cli, [*args, "--tau-mem", "1e-2,0"])
    _usage_error(res, "--tau-mem", "0.0")
    res = runner.invoke(cli, [*args, "--tau-mem", "1e-2,2e-2,3e-2"])
    err = _usage_error(res, "--tau-mem", "(0.01, 0.02, 0.03)")
    assert "a list of 2 of them (one per hidden layer)" in err
    res = runner.invoke(cli, [*args, "--tau-mem", "fast"])
    _usage_error(res, "--tau-mem", "'fast'")


def test_an_option_no_layer_uses_is_kept_and_ignored_with_a_note(biaslif, runner, tiny_toml):
    cfg = TINY.replace(epochs=1, bias_current=0.1)
    res = runs.fit(cfg, None, log=quiet, note=quiet)
    want = (
        "bias_current 0.1 is ignored: no hidden layer is of a kind that uses it "
        "(biaslif; the layers are lif)"
    )
    assert res.notes == [f"note: before training: {want}"]
    assert "bias_current" not in cfg.describe() and cfg.bias_current == 0.1
    assert neuron.unused(TINY) == [] and neuron.unused(cfg.replace(neuron="biaslif")) == []
    args = ["train", "-q", "--config", str(tiny_toml), "--epochs", "1"]
    res = runner.invoke(cli, [*args, "--bias-current", "0.1", "--out", "r"])
    assert res.exit_code == 0 and f"note: before training: {want}" in res.output
    assert ck.load("r/last.npz").config.bias_current == 0.1


def test_presets_and_the_spread_come_through_the_kind():
    rec = preset("shd", "recurrent")
    assert (rec.neuron, rec.tau_mem, rec.tau_mem_spread) == ("lif", 20e-3, 1 / math.sqrt(3))
    layers = neuron.hidden_layers(rec)
    assert layers[0].neuron.alpha.shape == (128,) and layers[0].recurrent
    want = lif.heterogeneous_alpha(
        20e-3, 1 / math.sqrt(3), 2e-3, 128, np.random.default_rng(np.random.SeedSequence([0, 2]))
    )
    assert np.array_equal(layers[0].neuron.alpha, want)
    # two layers draw in turn from one stream, as before the kinds came from the registry
    two = TINY.replace(tau_mem_spread=0.5, seed=3)
    rng = np.random.default_rng(np.random.SeedSequence([3, 2]))
    want = [lif.heterogeneous_alpha(10e-3, 0.5, 1e-3, n, rng) for n in TINY.hidden]
    got = [s.neuron.alpha for s in neuron.hidden_layers(two)]
    assert all(map(np.array_equal, got, want))
    assert neuron.summary(preset("fmnist", "paper")) == {
        "neuron": "lif",
        "tau_mem": 10e-3,
        "alpha": math.exp(-0.1),
        "tau_mem_spread": 0.0,
        "threshold": 1.0,
    }
