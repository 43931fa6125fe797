r"""The records every hidden layer shares (ALGORITHM.md §2-4): signals, tapes, init.

A hidden layer (:class:`~spikegrad.layers.hidden.HiddenLayer`: a neuron kind, run
feed-forward or recurrent) has one forward function per mode and one backward function per
gradient mode (:mod:`.feedforward`, :mod:`.recurrent`), over the records below.
:class:`~spikegrad.network.Network` only chains them:

* ``layer.forward(params, x, mode, counts)`` -> (out :class:`Signal`, :class:`Tape` or None)
* ``layer.backward(params, tape, g, prev)`` -> (grads of the layer's parameters, g for the
  previous layer or None)

Modes: ``"dense"`` (plain BPTT over full tensors), ``"sparse"`` (S3GD: only active sets and
spike events are kept) and None (inference: nothing is recorded). The gradient ``g`` = dL/dS
of a layer has the form of its tape: (T, B, N) for a :class:`DenseTape`, (A,) at the active
entries for a :class:`SparseTape`; each tape converts the readout's and the regulariser's
gradients into its form, so the network never branches on the mode.

Write contract: every function returns fresh arrays (``=``, never ``+=`` into an input).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..backend import Array, call, get_xp
from ..ops.half import widen
from ..ops.surrogate import ActiveSet
from ..spikes import SpikeMatrix, spike_matrix_from_keys

if TYPE_CHECKING:
    from .hidden import HiddenLayer

INITS = ("uniform", "normal")


def init_weight(
    rng: np.random.Generator, scheme: str, fan_in: int, n: int, alpha: float | np.ndarray
) -> np.ndarray:
    """A weight matrix of the paper's initialisation (ALGORITHM.md §7).

    "uniform": U(+-1/sqrt(fan_in)); "normal": N(0, (20 (1 - alpha_j) / sqrt(fan_in))^2) per
    column j, alpha_j the receiving neuron's decay (one float: the same for every column).
    Shapes: alpha float or (n,) -> (fan_in, n) float64.
    """
    if scheme == "uniform":
        bound = 1 / math.sqrt(fan_in)
        return rng.uniform(-bound, bound, size=(fan_in, n))
    return rng.normal(0.0, 20 * (1 - alpha) / math.sqrt(fan_in), (fan_in, n))


def array_leaves(x: Any) -> Iterator[Array]:
    """The arrays of a kept operand: a SpikeMatrix's two, a dense array itself, None none."""
    if isinstance(x, SpikeMatrix):
        yield from (x.indices, x.indptr)
    elif x is not None:
        yield x


@dataclass
class Signal:
    """One layer's spikes as the next layer and the readout consume them.

    Shapes: spikes (T * B, N) CSR; rows (T * B, N) float 0/1 in the dense mode, else None.
    """

    spikes: SpikeMatrix
    rows: Array | None = None

    @property
    def operand(self) -> Any:
        """What a backward multiplies with: the dense rows, else the SpikeMatrix."""
        return self.spikes if self.rows is None else self.rows

    def matmul(self, w: Array) -> Array:
        """``x @ w`` (w or its 16-bit copy, read as float32). Shapes: w (N, M) -> (T * B, M)."""
        return self.spikes.matmul(w) if self.rows is None else self.rows @ widen(w)

    def tmatmul(self, e: Array) -> Array:
        """``x^T @ e``. Shapes: e (T * B, M) -> (N, M)."""
        return self.spikes.tmatmul(e) if self.rows is None else self.rows.T @ e


def input_signal(xs: SpikeMatrix, mode: str | None, dtype: Any) -> Signal:
    """The network input as the first layer of ``mode`` consumes it."""
    return Signal(xs, xs.dense_rows(dtype) if mode == "dense" else None)


def spikes_signal(xp: Any, keys: Array, shape: tuple[int, int, int]) -> Signal:
    """A sparse-mode (or inference) output from sorted flat spike keys ``(t * B + b) * N + j``."""
    return Signal(spike_matrix_from_keys(xp, keys, *shape))


def dense_signal(s: Array, dtype: Any) -> Signal:
    """A dense-mode output from the spikes. Shapes: s (T, B, N) bool."""
    T, B, N = s.shape
    xp = get_xp(s)
    rows = s.reshape(T * B, N).astype(dtype)
    return Signal(spike_matrix_from_keys(xp, xp.flatnonzero(s), T, B, N), rows)


@dataclass
class Tape:
    """What the forward keeps of one hidden layer for the backward (common part).

    x: the layer input (dense rows or SpikeMatrix, see :attr:`Signal.operand`); s: the
    layer's own output in the same form (recurrent layers only; the same object as the next
    layer's input, so it is never counted twice); counts (B, N) spike counts (only with the
    regulariser); shape (T, B, N).
    """

    x: Any
    shape: tuple[int, int, int]
    s: Any = None
    counts: Array | None = None
    n_active: int | Array = 0  # dense mode on CuPy: a 0-d device array (read when asked)
    n_spikes: int = 0

    def arrays(self) -> Iterator[Array]:
        """Every array kept (possibly shared with other tapes)."""
        yield from array_leaves(self.x)
        yield from array_leaves(self.s)
        if self.counts is not None:
            yield self.counts


@dataclass
class DenseTape(Tape):
    """Dense mode: also the masked surrogate. Shapes: sp (T, B, N); g (T, B, N)."""

    sp: Array | None = None

    def arrays(self) -> Iterator[Array]:
        yield from super().arrays()
        yield self.sp

    def grad_from(self, dy: Array, w: Array) -> Array:
        """dL/dS = dy @ w^T. Shapes: dy (T * B, M), w (N, M) -> (T, B, N)."""
        return (dy @ widen(w).T).reshape(self.shape)

    def add_rate_grad(self, g: Array, greg: Array) -> Array:
        """g + a per-(b, j) gradient, the same at every t. Shapes: greg (B, N)."""
        return g + greg[None]


@dataclass
class SparseTape(Tape):
    """Sparse mode: also the active set. Shapes: g (A,) at ``act``'s entries."""

    act: ActiveSet | None = None

    def arrays(self) -> Iterator[Array]:
        yield from super().arrays()
        yield from (self.act.idx, self.act.sp)

    def grad_from(self, dy: Array, w: Array) -> Array:
        """dL/dS = dy @ w^T at the active entries only. Shapes: dy (T * B, M), w (N, M) -> (A,)."""
        N, idx = self.shape[2], self.act.idx
        return call("gather_rowdot", dy, idx // N, w, idx % N)

    def add_rate_grad(self, g: Array, greg: Array) -> Array:
        """g + greg[b, j] at each active (t, b, j). Shapes: greg (B, N)."""
        _, B, N = self.shape
        idx = self.act.idx
        return g + greg.reshape(-1)[(idx // N) % B * N + idx % N]


def masked_surrogate(d: Array, beta_s: float, b_th: float) -> Array:
    """sigma' = 1 / (beta_s d + 1)^2 on the active band d < b_th, 0 elsewhere (ALGORITHM.md
    §3), from the distance to threshold d. Shapes: any -> same."""
    xp, one = get_xp(d), d.dtype.type(1)
    sp = one / (d.dtype.type(beta_s) * d + one) ** 2
    return xp.where(d < b_th, sp, d.dtype.type(0))


def dense_tape(layer: HiddenLayer, x: Signal, rec: Array, own: Signal | None) -> DenseTape:
    """The dense mode's tape from the kind's record (LIF: V). Shapes: rec (T, B, N)."""
    d = layer.kind.record_distance(layer.kind.params(rec, *layer.fwd), rec)
    sp = masked_surrogate(d, layer.beta_s, layer.b_th)
    s = own.rows if own is not None else None
    return DenseTape(x.rows, rec.shape, s=s, sp=sp, n_active=get_xp(sp).count_nonzero(sp))


def sparse_tape(
    layer: HiddenLayer, x: Signal, act: ActiveSet, shape: tuple, own: Signal | None
) -> SparseTape:
    """The sparse mode's tape: the input spikes and the active set (and the own spikes)."""
    s = own.spikes if own is not None else None
    return SparseTape(x.spikes, shape, s=s, act=act, n_active=int(act.idx.size))
