"""Neuron kinds: one module each, registered by name (docs/neuron-kinds.md).

A kind module (:mod:`.lif`, :mod:`.cuba`, :mod:`.alif`) owns, as small records and pure functions:

* its constants: ``CONSTANTS`` (:class:`~.base.Constant` records: ranges, defaults, help, the
  config option that sets each) and the constants record class (e.g. :class:`~.lif.LIF`),
* its state update (``initial_state``, ``fire``, ``distance``, ``update``, ``step``, ``record``,
  ``record_distance``) and adjoint filter (``initial_adjoint``, ``adjoint``, ``current_grad``),
  over ``params(like, *args)`` in the data's dtype,
* the ops of its layers (``OPS[recurrent]``, ``FORWARD_ARGS``, ``ADJOINT_ARGS``, ``op_args``),
  whose NumPy twins are the drivers of :mod:`spikegrad.ops.kind_twin` over these functions,
* its model-file fields (``model_fields``, ``from_model_fields``) and its NIR mapping
  (``NIR_NODES``, ``to_nir``, ``NIR_EXPORT_WARNING``, and ``from_nir`` when it reads a node).

Every kind has its ops registered when :mod:`spikegrad.ops` loads: the twin drivers of
:mod:`spikegrad.ops.kind_twin` (LIF: its own twins), and the native C and CUDA drivers
instantiated with the kind's pieces (``spikegrad/neurons/<kind>.h``; docs/adding-a-neuron-kind.md).
A kind without pieces trains on NumPy; on CuPy its dense mode runs, its sparse mode and
inference are refused with a KernelError naming it.

Recurrence is not a kind: any kind is run feed-forward or recurrent by its layer
(:class:`spikegrad.layers.Hidden`).
"""

from __future__ import annotations

from types import ModuleType

from ..errors import ConfigError
from . import alif, cuba, lif
from .alif import ALIF
from .base import Constant, OpNames
from .cuba import CuBa
from .lif import LIF

# What a kind module must define (checked when it is registered).
REQUIRED = (
    "NAME CONSTANTS FORWARD_ARGS ADJOINT_ARGS OPS op_args params initial_state fire distance "
    "update step record record_distance initial_adjoint adjoint current_grad init_decay "
    "model_fields from_model_fields NIR_NODES NIR_EXPORT_WARNING to_nir"
).split()  # and from_nir when NIR_NODES is not empty

KINDS: dict[str, ModuleType] = {}


def register(kind: ModuleType) -> ModuleType:
    """Add a kind module to the registry under its ``NAME``."""
    need = [*REQUIRED, "from_nir"] if getattr(kind, "NIR_NODES", ()) else REQUIRED
    missing = [k for k in need if not hasattr(kind, k)]
    if missing:
        raise ConfigError(f"neuron kind {kind.__name__} lacks {', '.join(missing)}")
    KINDS[kind.NAME] = kind
    return kind


def get(name: str) -> ModuleType:
    """The kind registered as ``name``; ConfigError naming it and the known kinds if none."""
    if name not in KINDS:
        raise ConfigError(f"unknown neuron kind {name!r}; known: {', '.join(sorted(KINDS))}")
    return KINDS[name]


def kind_of(constants: object) -> ModuleType:
    """The kind of a constants record (its class's ``KIND``)."""
    return get(getattr(type(constants), "KIND", type(constants).__name__))


for _kind in (lif, cuba, alif):
    register(_kind)

__all__ = [
    "ALIF",
    "KINDS",
    "LIF",
    "Constant",
    "CuBa",
    "OpNames",
    "alif",
    "cuba",
    "get",
    "kind_of",
    "lif",
    "register",
]
