"""The neuron-kind registry: lookup by name, what a kind must define, Hidden records."""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from spikegrad import neurons
from spikegrad.errors import ConfigError
from spikegrad.layers import Hidden
from spikegrad.neurons import ALIF, LIF, CuBa, alif, cuba, lif


def test_lookup_by_name():
    assert neurons.get("lif") is lif and neurons.KINDS["lif"] is lif
    assert neurons.kind_of(LIF()) is lif
    assert neurons.kind_of(CuBa()) is cuba and neurons.kind_of(ALIF()) is alif
    assert sorted(neurons.KINDS) == ["alif", "cuba", "lif"]


def test_unknown_kind_is_one_config_error_naming_it():
    with pytest.raises(ConfigError, match=r"^unknown neuron kind 'izh'; known: alif, cuba, lif$"):
        neurons.get("izh")


def test_a_kind_must_define_every_piece():
    bare = types.ModuleType("spikegrad.neurons.bare")
    bare.NAME = "bare"
    with pytest.raises(ConfigError, match=r"neuron kind spikegrad\.neurons\.bare lacks CONSTANTS"):
        neurons.register(bare)
    assert "bare" not in neurons.KINDS
    for kind in neurons.KINDS.values():
        assert all(hasattr(kind, k) for k in neurons.REQUIRED)
        assert hasattr(kind, "from_nir") == bool(kind.NIR_NODES)  # ALIF reads no NIR node


def test_hidden_record_checks_its_values():
    @dataclass(frozen=True)
    class Izh:
        a: float = 0.02
        KIND: ClassVar[str] = "izh"

    with pytest.raises(ConfigError, match="unknown neuron kind 'izh'"):
        Hidden(4, Izh())
    with pytest.raises(ConfigError, match=r"^n must be an integer >= 1"):
        Hidden(0)
    with pytest.raises(ConfigError, match=r"^recurrent must be true or false"):
        Hidden(4, recurrent="yes")
    with pytest.raises(ConfigError, match=r"^alpha must be a number or 4 numbers"):
        Hidden(4, LIF(alpha=np.full(3, 0.9)))
    h = Hidden(3, LIF(alpha=[0.5, 0.6, 0.7]), recurrent=np.bool_(True))
    assert h.kind is lif and h.recurrent is True and h.neuron.alpha.dtype == np.float64
    assert Hidden(5) == Hidden(5, LIF(), recurrent=False)
