"""Layers: hidden layers of any neuron kind, run feed-forward (:mod:`.feedforward`) or
recurrent (:mod:`.recurrent`), and the readout; records and tapes in :mod:`.base`."""

from __future__ import annotations

from .base import INITS, DenseTape, Signal, SparseTape, Tape
from .hidden import Hidden, HiddenLayer
from .readout import Readout

__all__ = [
    "INITS",
    "DenseTape",
    "Hidden",
    "HiddenLayer",
    "Readout",
    "Signal",
    "SparseTape",
    "Tape",
]
