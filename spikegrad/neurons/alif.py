r"""The adaptive LIF neuron (ALIF, ALGORITHM.md §8): the LSNN neuron of Bellec et al. 2018
(and the adaptive SRNN of Yin et al. 2021), a LIF whose threshold rises with each spike and
decays back, with subtractive reset of the adaptive threshold.

One time step, h[t] the input current (x[t] @ W, plus S[t] @ R in a recurrent layer)::

    A[t]   = theta + beta_adapt a[t]                   (the threshold at step t)
    S[t]   = V[t] > A[t]                               (fire)
    V[t+1] = alpha V[t] + h[t] - A[t] S[t]             (update; V[0] = 0)
    a[t+1] = rho a[t] + (1 - rho) S[t]                 (a[0] = 0; rho = alpha_adapt)

beta_adapt = 0 is LIF exactly. The surrogate and the active band use the distance to the
adaptive threshold |V[t] - A[t]|. The adjoint (the reset, with S and A in it, detached; the
adaptation path not), g[t] = dL/dS[t], sp[t] = sigma'(V[t] - A[t])::

    delta[t] = sp[t] (g[t] + (1 - rho) da[t+1])        (0 off the active set)
    dv[t]    = delta[t] + alpha dv[t+1]                (dv = dL/dV, the spec's eps)
    da[t]    = rho da[t+1] - beta_adapt delta[t]       (da = dL/da, the spec's eps_a)
    dL/dh[t] = dv[t+1]

Between two active entries of a neuron both filters only decay. alpha, alpha_adapt and
beta_adapt: one number per layer or one per neuron ((N,), broadcast along j); theta one per
layer. Everything here is pure and xp-generic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np

from ..backend import Array, get_xp
from ..errors import ConfigError
from . import lif
from .base import Constant, OpNames, check_constants, from_model, to_model

NAME = "alif"
ALPHA_ADAPT = math.exp(-1 / 200)  # dt = 1 ms, tau_adapt = 200 ms (LSNN, Bellec et al. 2018/2020)
BETA_ADAPT = 1.8  # LSNN's adaptation strength (Bellec et al. 2018)

CONSTANTS = (
    lif.CONSTANTS[0],  # alpha, set by tau_mem
    Constant(
        "alpha_adapt",
        0.0,
        1.0,
        option="tau_adapt",
        default=200e-3,
        decay=True,
        per_neuron=True,
        help="Threshold adaptation time constant tau_adapt in seconds (ALIF layers); the "
        "adaptation's decay per step is alpha_adapt = exp(-dt / tau_adapt).",
    ),
    Constant(
        "beta_adapt",
        0.0,
        None,
        option="beta_adapt",
        default=BETA_ADAPT,
        per_neuron=True,
        help="Threshold adaptation strength beta_adapt >= 0 (ALIF layers): the threshold is "
        "theta + beta_adapt a, a the spikes' trace; 0 is LIF.",
    ),
    lif.CONSTANTS[1],  # theta, set by threshold
)


@dataclass(frozen=True)
class ALIF:
    """The constants of an ALIF layer: alpha (membrane decay), alpha_adapt (rho, the decay
    of the adaptation trace; default exp(-1/200): tau_adapt 200 ms at dt 1 ms) and
    beta_adapt (default 1.8, LSNN's), each a float or (N,) one per neuron, and theta (the base
    threshold, one per layer). beta_adapt = 0 is LIF.

    Values are checked when a layer takes them (:class:`spikegrad.layers.Hidden`).
    """

    alpha: float | np.ndarray = lif.ALPHA
    alpha_adapt: float | np.ndarray = ALPHA_ADAPT
    beta_adapt: float | np.ndarray = BETA_ADAPT
    theta: float = 1.0

    KIND: ClassVar[str] = NAME

    def checked(self, n: int) -> ALIF:
        """This record with its values checked for a layer of ``n`` neurons."""
        return check_constants(self, CONSTANTS, n)


RECORD = ALIF  # the constants record of this kind
SPREADS = lif.SPREADS  # per-neuron tau_mem draws (--tau-mem-spread), as LIF

# --------------------------------------------------------------------------- the ops' side
FORWARD_ARGS = ("alpha", "alpha_adapt", "beta_adapt", "theta")
ADJOINT_ARGS = ("alpha", "alpha_adapt", "beta_adapt")

OPS = {
    False: OpNames(
        "alif_forward", "alif_forward_sparse_spikes", "alif_backward_dense", "alif_backward_sparse"
    ),
    True: OpNames(
        "ralif_forward",
        "ralif_forward_sparse_spikes",
        "ralif_backward_dense",
        "ralif_backward_sparse",
    ),
}


def op_args(c: ALIF, asarray: Any) -> dict[str, Any]:
    """The constants as the ops take them (a per-neuron array on the backend)."""

    def one(v: Any) -> Any:
        return v if np.ndim(v) == 0 else asarray(v)

    names = ("alpha", "alpha_adapt", "beta_adapt")
    return {**{k: one(getattr(c, k)) for k in names}, "theta": c.theta}


class Params(NamedTuple):
    """The constants in the data's dtype: alpha, rho (alpha_adapt), its complement 1 - rho
    and beta (beta_adapt), scalars or (N,); theta a scalar (None where only the adjoint
    runs)."""

    alpha: Any
    rho: Any
    gain: Any
    beta: Any
    theta: Any = None


def params(
    like: Array,
    alpha: float | Array,
    alpha_adapt: float | Array,
    beta_adapt: float | Array,
    theta: float | None = None,
) -> Params:
    """:class:`Params` in the dtype and array module of ``like``."""
    a = lif.params(like, alpha, theta)
    rho, beta = lif.params(like, alpha_adapt).alpha, lif.params(like, beta_adapt).alpha
    return Params(a.alpha, rho, like.dtype.type(1) - rho, beta, a.theta)


# ----------------------------------------------------------------------- the pure step functions
class State(NamedTuple):
    """The state at step t: membrane v and adaptation trace a. Shapes: (B, N) each."""

    v: Array
    a: Array


class Adjoint(NamedTuple):
    """The adjoint at step t: dv = dL/dV[t], da = dL/da[t]. Shapes: (B, N) each."""

    dv: Array
    da: Array


def initial_state(xp: Any, shape: tuple[int, int], dtype: Any) -> State:
    """V[0] = a[0] = 0."""
    return State(xp.zeros(shape, dtype=dtype), xp.zeros(shape, dtype=dtype))


def threshold(p: Params, st: State) -> Array:
    """A[t] = theta + beta_adapt a[t]. Shapes: -> (B, N)."""
    return p.theta + p.beta * st.a


def fire(p: Params, st: State) -> Array:
    """S[t] = V[t] > A[t]. Shapes: -> (B, N) bool."""
    return st.v > threshold(p, st)


def distance(p: Params, st: State) -> Array:
    """|V[t] - A[t]|, the distance to the adaptive threshold."""
    return get_xp(st.v).abs(record(p, st))


def update(p: Params, st: State, s: Array, h: Array) -> State:
    """V[t+1] = alpha V[t] + h[t] - A[t] S[t], a[t+1] = rho a[t] + (1 - rho) S[t]."""
    return State(st.v * p.alpha + h - threshold(p, st) * s, st.a * p.rho + p.gain * s)


def step(p: Params, st: State, h: Array) -> tuple[State, Array, Array]:
    """One feed-forward step: (state at t+1, S[t], |V[t] - A[t]|)."""
    s = fire(p, st)
    return update(p, st, s, h), s, distance(p, st)


def record(p: Params, st: State) -> Array:
    """What the dense mode keeps of step t for the surrogate: V[t] - A[t]."""
    return st.v - threshold(p, st)


def record_distance(p: Params, rec: Array) -> Array:
    """|V - A| from the dense mode's record V - A. Shapes: any -> same."""
    return get_xp(rec).abs(rec)


def initial_adjoint(xp: Any, shape: tuple[int, int], dtype: Any) -> Adjoint:
    """dv[T] = da[T] = 0."""
    return Adjoint(xp.zeros(shape, dtype=dtype), xp.zeros(shape, dtype=dtype))


def adjoint(p: Params, adj: Adjoint, g: Array, sp: Array) -> Adjoint:
    """delta = (g[t] + (1 - rho) da[t+1]) sigma'[t]; dv[t] = delta + alpha dv[t+1]; da[t] =
    rho da[t+1] - beta_adapt delta (``adj`` holds step t+1; sp 0 off the active set)."""
    delta = (g + p.gain * adj.da) * sp
    return Adjoint(delta + adj.dv * p.alpha, adj.da * p.rho - p.beta * delta)


def current_grad(adj: Adjoint) -> Array:
    """dL/dh[t] from the adjoint at t+1: dv[t+1]."""
    return adj.dv


def init_decay(c: ALIF) -> float | np.ndarray:
    """The decay in the paper's "normal" initialisation of the weights into this layer."""
    return c.alpha


# ------------------------------------------------------------------------------- model files
def model_fields(c: ALIF, l: int) -> tuple[dict, dict]:
    """Layer ``l``'s constants as model-file fields (alpha, alpha_adapt, beta_adapt, theta; a
    per-neuron value as the array "<name>.<l>")."""
    return to_model(c, CONSTANTS, l)


def from_model_fields(entry: dict, arrays: Any, l: int) -> ALIF:
    """The constants of layer ``l`` from :func:`model_fields`' fields."""
    return from_model(ALIF, CONSTANTS, entry, arrays, l)


# ------------------------------------------------------------------------------------- NIR
NIR_NODES: tuple[str, ...] = ()  # NIR has no adaptive-threshold neuron: none is read


def to_nir(nir: Any, c: ALIF, n: int, dt: float, what: str, approximate: bool = False) -> Any:
    """Refused (ConfigError naming ``what``): NIR has no adaptive threshold. With
    ``approximate``, the nir.LIF node of a LIF layer with the base threshold theta (the
    adaptation dropped; its constants kept in metadata "alpha_adapt" and "beta_adapt")."""
    if not approximate:
        raise ConfigError(
            f"{what}: ALIF has no NIR node (NIR has no adaptive threshold); "
            "export with approximate=True writes it as a LIF without its adaptation"
        )
    node = lif.to_nir(nir, lif.LIF(alpha=c.alpha, theta=c.theta), n, dt, what)
    for k in ("alpha_adapt", "beta_adapt"):
        node.metadata[k] = np.broadcast_to(np.asarray(getattr(c, k), np.float64), (n,)).copy()
    return node


NIR_EXPORT_WARNING = (
    "ALIF layers are written as NIR LIF nodes without their threshold adaptation "
    "(approximate=True): the graph computes a different network; " + lif.NIR_EXPORT_WARNING
)
