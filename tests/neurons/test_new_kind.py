"""A kind registered from outside the package runs through every part without a change to
layers, Network, model files or NIR: here "lifcopy", the LIF kind's functions under another
name, record class and op names, with its ops the twin drivers of spikegrad.ops.kind_twin."""

from __future__ import annotations

import dataclasses
import types
from typing import ClassVar

import numpy as np
import pytest
from helpers import REG, spikes

import spikegrad as sg
from spikegrad import backend, native, neurons
from spikegrad.neurons import LIF, lif
from spikegrad.ops import kind_twin as twin


@dataclasses.dataclass(frozen=True)
class LIFCopy(LIF):
    KIND: ClassVar[str] = "lifcopy"


def _ops(kind, prefix: str) -> dict:
    """The eight twins of a kind, with the LIF ops' signatures (ops/lif/twin.py, rlif/twin.py)."""
    return {
        f"{prefix}_forward": lambda h, *a: twin.forward_dense(kind, h, None, a),
        f"{prefix}_forward_sparse_spikes": lambda ip, ix, w, al, th, bs, bt, tb: (
            twin.forward_sparse_spikes(kind, ip, ix, w, None, (al, th), bs, bt, tb)
        ),
        f"{prefix}_backward_dense": lambda g, sp, x, w, al, nd: twin.backward_dense(
            kind, g, sp, x, None, w, None, (al,), nd
        )[::2],
        f"{prefix}_backward_sparse": lambda g, act, x, w, al, prev, shape: twin.backward_sparse(
            kind, g, act, x, None, w, None, (al,), prev, shape
        )[::2],
        f"r{prefix}_forward": lambda h, r, *a: twin.forward_dense(kind, h, r, a),
        f"r{prefix}_forward_sparse_spikes": lambda ip, ix, w, r, al, th, bs, bt, tb: (
            twin.forward_sparse_spikes(kind, ip, ix, w, r, (al, th), bs, bt, tb)
        ),
        f"r{prefix}_backward_dense": lambda g, sp, x, s, w, r, al, nd: twin.backward_dense(
            kind, g, sp, x, s, w, r, (al,), nd
        ),
        f"r{prefix}_backward_sparse": lambda g, act, x, s, w, r, al, prev, shape: (
            twin.backward_sparse(kind, g, act, x, s, w, r, (al,), prev, shape)
        ),
    }


@pytest.fixture
def lifcopy(monkeypatch):
    kind = types.ModuleType("lifcopy")
    kind.__dict__.update({k: v for k, v in vars(lif).items() if not k.startswith("__")})
    kind.NAME = "lifcopy"
    kind.OPS = {
        rec: neurons.OpNames(
            *(f"{'r' if rec else ''}lifcopy_{op}" for op in lif.OPS[False]._fields)
        )
        for rec in (False, True)
    }
    kind.from_model_fields = lambda entry, arrays, l: LIFCopy(
        **vars(lif.from_model_fields(entry, arrays, l))
    )
    monkeypatch.setattr(backend, "_REGISTRY", dict(backend._REGISTRY))
    for name, fn in _ops(kind, "lifcopy").items():
        backend.register(name, "numpy")(fn)
    monkeypatch.setattr(neurons, "KINDS", dict(neurons.KINDS))
    return neurons.register(kind)


def test_a_new_kind_trains_saves_and_loads(lifcopy, tmp_path):
    rng = np.random.default_rng(0)
    alpha = np.linspace(0.7, 0.95, 9)

    def net(record):
        layers = [sg.Hidden(9, record(alpha=alpha), recurrent=True), sg.Hidden(7, record())]
        return sg.Network.from_layers(12, layers, 4, reg=REG, init="normal", dtype="float64")

    ref, new = net(LIF), net(LIFCopy)
    assert [layer.ops.forward for layer in new.layers] == ["rlifcopy_forward", "lifcopy_forward"]
    x, y = spikes(rng, 5, 30, 12, 0.3), rng.integers(0, 4, 5)
    with native.mode("0"):  # the LIF ops' twins: the same drivers over the same functions
        for mode in ("sparse", "dense"):
            (la, ga, _), (lb, gb, _) = ref.loss_and_grad(x, y, mode), new.loss_and_grad(x, y, mode)
            assert la == lb and all(np.array_equal(ga[k], gb[k]) for k in ga), mode
    back = sg.Network.load(new.save(tmp_path / "m.npz"))
    assert [type(s.neuron) for s in back.hidden] == [LIFCopy, LIFCopy]
    assert np.array_equal(back.forward(x), new.forward(x))
