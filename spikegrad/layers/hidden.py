"""Hidden layers: a neuron kind with its constants, run feed-forward or recurrent.

:class:`Hidden` is the public record a network is built from
(:meth:`spikegrad.Network.from_layers`); :class:`HiddenLayer` is the same layer placed in a
network (its index, input size, the constants as the ops take them, the surrogate's
settings), with its forward and backward per mode from :mod:`.feedforward` or
:mod:`.recurrent`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from .. import neurons
from ..backend import Array
from ..checks import check_int
from ..errors import BadValueError
from . import feedforward, recurrent
from .base import Signal, Tape, init_weight


@dataclass(frozen=True)
class Hidden:
    """One hidden layer: ``n`` neurons of the kind of ``neuron`` (a constants record, e.g.
    ``spikegrad.neurons.LIF(alpha=0.9, theta=1.0)``), ``recurrent``: adds the parameter
    R (N, N) and S[t] @ R to the input current.

    The values are checked here; per-neuron values become host (n,) float64 copies.
    """

    n: int
    neuron: Any = field(default_factory=neurons.LIF)
    recurrent: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", check_int("n", self.n, 1))
        if not isinstance(self.recurrent, (bool, np.bool_)):
            raise BadValueError("recurrent", self.recurrent, "true or false")
        object.__setattr__(self, "recurrent", bool(self.recurrent))
        neurons.kind_of(self.neuron)  # a registered kind
        object.__setattr__(self, "neuron", self.neuron.checked(self.n))

    @property
    def kind(self) -> ModuleType:
        """The neuron kind's module (:mod:`spikegrad.neurons`)."""
        return neurons.kind_of(self.neuron)


@dataclass(frozen=True)
class HiddenLayer:
    """Hidden layer l (1-based ``index``) of a network: its record ``spec``, input size,
    the kind's forward and adjoint constants as the ops take them (``fwd``, ``adj``: alpha
    per neuron on the backend in the network's dtype), and the surrogate's beta_s and b_th."""

    index: int
    n_in: int
    spec: Hidden
    fwd: tuple
    adj: tuple
    beta_s: float
    b_th: float

    @classmethod
    def place(
        cls, spec: Hidden, index: int, n_in: int, asarray: Any, beta_s: float, b_th: float
    ) -> HiddenLayer:
        """``spec`` as layer ``index`` with ``n_in`` inputs; ``asarray`` puts a per-neuron
        constant on the backend in the network's dtype."""
        kind = spec.kind
        args = kind.op_args(spec.neuron, asarray)
        fwd = tuple(args[k] for k in kind.FORWARD_ARGS)
        adj = tuple(args[k] for k in kind.ADJOINT_ARGS)
        return cls(index, n_in, spec, fwd, adj, beta_s, b_th)

    @property
    def n(self) -> int:
        return self.spec.n

    @property
    def kind(self) -> ModuleType:
        return self.spec.kind

    @property
    def neuron(self) -> Any:
        """The kind's constants record (host values)."""
        return self.spec.neuron

    @property
    def recurrent(self) -> bool:
        return self.spec.recurrent

    @property
    def ops(self) -> Any:
        """The kind's op names for this layer's form (feed-forward or recurrent)."""
        return self.kind.OPS[self.recurrent]

    @property
    def _driver(self) -> ModuleType:
        return recurrent if self.recurrent else feedforward

    def param_shapes(self) -> dict[str, tuple[int, int]]:
        """Names and shapes of the layer's parameters, in init and checkpoint order."""
        return self._driver.param_shapes(self)

    def init(self, rng: np.random.Generator, scheme: str) -> dict[str, np.ndarray]:
        """Default initialisation: every matrix by :func:`init_weight`, fan_in its rows, the
        decay the kind's ``init_decay``."""
        alpha = self.kind.init_decay(self.neuron)
        return {
            k: init_weight(rng, scheme, fan_in, n, alpha)
            for k, (fan_in, n) in self.param_shapes().items()
        }

    def forward(
        self, params: dict[str, Array], x: Signal, mode: str | None, counts: bool
    ) -> tuple[Signal, Tape | None]:
        """The layer's output spikes and (unless mode is None) its tape; ``counts``: keep
        the spike counts for the regulariser."""
        out, tape = self._driver.FORWARD[mode](self, params, x)
        if tape is not None:
            tape.n_spikes = out.spikes.nnz
            if counts:
                tape.counts = out.spikes.counts()
        return out, tape

    def backward(
        self, params: dict[str, Array], tape: Tape, g: Array, prev: Tape | None
    ) -> tuple[dict[str, Array], Array | None]:
        """Gradients of the layer's parameters and dL/dS of the previous layer (in ``prev``'s
        form; None for the first layer) from g = dL/dS of this layer (in ``tape``'s form)."""
        return self._driver.BACKWARD[type(tape)](self, params, tape, g, prev)
