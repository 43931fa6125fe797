r"""The current-based LIF neuron (CuBa, ALGORITHM.md §8): a synaptic current I between the
weights and the membrane, with subtractive reset. The model of Zenke's SpyTorch tutorials and
of the SHD paper's baselines (Cramer et al. 2020); NIR's CubaLIF.

One time step, h[t] the input current (x[t] @ W, plus S[t] @ R in a recurrent layer)::

    S[t]   = V[t] > theta                              (fire)
    V[t+1] = alpha V[t] + I[t] - theta S[t]            (update; V[0] = 0)
    I[t+1] = alpha_syn I[t] + h[t]                     (I[0] = 0)

so h[t] first reaches V at t + 2 (alpha_syn = 0 is LIF delayed by one step). Its adjoint,
the reset-free reverse filters (reset detached), g[t] = dL/dS[t], sp[t] = sigma'(V[t])::

    dv[t] = g[t] sp[t] + alpha dv[t+1]                 (dv = dL/dV, the spec's eps)
    di[t] = alpha_syn di[t+1] + dv[t+1]                (di = dL/dI, the spec's eps_I)
    dL/dh[t] = di[t+1]

alpha, alpha_syn: one number per layer or one per neuron ((N,), broadcast along j); theta one
per layer. Everything here is pure and xp-generic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np

from ..backend import Array, get_xp
from . import lif
from .base import Constant, OpNames, check_constants, from_model, tau_of, to_model

NAME = "cuba"
ALPHA_SYN = math.exp(-1 / 5)  # dt = 1 ms, tau_syn = 5 ms: the SHD paper's synapse (Cramer 2020)

CONSTANTS = (
    lif.CONSTANTS[0],  # alpha, set by tau_mem
    Constant(
        "alpha_syn",
        0.0,
        1.0,
        option="tau_syn",
        default=5e-3,
        decay=True,
        per_neuron=True,
        help="Synaptic time constant tau_syn in seconds (CuBa layers); the current's decay "
        "per step is alpha_syn = exp(-dt / tau_syn).",
    ),
    lif.CONSTANTS[1],  # theta, set by threshold
)


@dataclass(frozen=True)
class CuBa:
    """The constants of a CuBa LIF layer: alpha (membrane decay), alpha_syn (synaptic-current
    decay; default exp(-1/5): tau_syn 5 ms at dt 1 ms, the SHD paper's model), each a float or
    (N,) one per neuron, and theta (one per layer).

    Values are checked when a layer takes them (:class:`spikegrad.layers.Hidden`).
    """

    alpha: float | np.ndarray = lif.ALPHA
    alpha_syn: float | np.ndarray = ALPHA_SYN
    theta: float = 1.0

    KIND: ClassVar[str] = NAME

    def checked(self, n: int) -> CuBa:
        """This record with its values checked for a layer of ``n`` neurons."""
        return check_constants(self, CONSTANTS, n)


RECORD = CuBa  # the constants record of this kind
SPREADS = lif.SPREADS  # per-neuron tau_mem draws (--tau-mem-spread), as LIF

# --------------------------------------------------------------------------- the ops' side
FORWARD_ARGS = ("alpha", "alpha_syn", "theta")
ADJOINT_ARGS = ("alpha", "alpha_syn")

OPS = {
    False: OpNames(
        "cuba_forward", "cuba_forward_sparse_spikes", "cuba_backward_dense", "cuba_backward_sparse"
    ),
    True: OpNames(
        "rcuba_forward",
        "rcuba_forward_sparse_spikes",
        "rcuba_backward_dense",
        "rcuba_backward_sparse",
    ),
}


def op_args(c: CuBa, asarray: Any) -> dict[str, Any]:
    """The constants as the ops take them (a per-neuron array on the backend)."""

    def one(v: Any) -> Any:
        return v if np.ndim(v) == 0 else asarray(v)

    return {"alpha": one(c.alpha), "alpha_syn": one(c.alpha_syn), "theta": c.theta}


class Params(NamedTuple):
    """The constants in the data's dtype: alpha, alpha_syn scalars or (N,); theta a scalar
    (None where only the adjoint runs)."""

    alpha: Any
    alpha_syn: Any
    theta: Any = None


def params(
    like: Array, alpha: float | Array, alpha_syn: float | Array, theta: float | None = None
) -> Params:
    """:class:`Params` in the dtype and array module of ``like``."""
    a, syn = lif.params(like, alpha, theta), lif.params(like, alpha_syn)
    return Params(a.alpha, syn.alpha, a.theta)


# ----------------------------------------------------------------------- the pure step functions
class State(NamedTuple):
    """The state at step t: membrane v and synaptic current i. Shapes: (B, N) each."""

    v: Array
    i: Array


class Adjoint(NamedTuple):
    """The adjoint at step t: dv = dL/dV[t], di = dL/dI[t]. Shapes: (B, N) each."""

    dv: Array
    di: Array


def initial_state(xp: Any, shape: tuple[int, int], dtype: Any) -> State:
    """V[0] = I[0] = 0."""
    return State(xp.zeros(shape, dtype=dtype), xp.zeros(shape, dtype=dtype))


def fire(p: Params, st: State) -> Array:
    """S[t] = V[t] > theta. Shapes: -> (B, N) bool."""
    return st.v > p.theta


def distance(p: Params, st: State) -> Array:
    """|V[t] - theta|, the distance of the surrogate and the active band."""
    return get_xp(st.v).abs(st.v - p.theta)


def update(p: Params, st: State, s: Array, h: Array) -> State:
    """V[t+1] = alpha V[t] + I[t] - theta S[t], I[t+1] = alpha_syn I[t] + h[t]."""
    return State(st.v * p.alpha + st.i - p.theta * s, st.i * p.alpha_syn + h)


def step(p: Params, st: State, h: Array) -> tuple[State, Array, Array]:
    """One feed-forward step: (state at t+1, S[t], |V[t] - theta|)."""
    s = fire(p, st)
    return update(p, st, s, h), s, distance(p, st)


def record(p: Params, st: State) -> Array:
    """What the dense mode keeps of step t for the surrogate: V[t]."""
    return st.v


def record_distance(p: Params, rec: Array) -> Array:
    """|V - theta| from the dense mode's record. Shapes: any -> same."""
    return get_xp(rec).abs(rec - p.theta)


def initial_adjoint(xp: Any, shape: tuple[int, int], dtype: Any) -> Adjoint:
    """dv[T] = di[T] = 0."""
    return Adjoint(xp.zeros(shape, dtype=dtype), xp.zeros(shape, dtype=dtype))


def adjoint(p: Params, adj: Adjoint, g: Array, sp: Array) -> Adjoint:
    """dv[t] = g[t] sigma'[t] + alpha dv[t+1], di[t] = alpha_syn di[t+1] + dv[t+1] (the reset
    detached; ``adj`` holds step t+1)."""
    return Adjoint(g * sp + adj.dv * p.alpha, adj.di * p.alpha_syn + adj.dv)


def current_grad(adj: Adjoint) -> Array:
    """dL/dh[t] from the adjoint at t+1: di[t+1]."""
    return adj.di


def init_decay(c: CuBa) -> float | np.ndarray:
    """The decay in the paper's "normal" initialisation of the weights into this layer."""
    return c.alpha


# ------------------------------------------------------------------------------- model files
def model_fields(c: CuBa, l: int) -> tuple[dict, dict]:
    """Layer ``l``'s constants as model-file fields (alpha, alpha_syn, theta; a per-neuron
    value as the array "<name>.<l>")."""
    return to_model(c, CONSTANTS, l)


def from_model_fields(entry: dict, arrays: Any, l: int) -> CuBa:
    """The constants of layer ``l`` from :func:`model_fields`' fields."""
    return from_model(CuBa, CONSTANTS, entry, arrays, l)


# ------------------------------------------------------------------------------------- NIR
# NIR's CubaLIF, each ODE integrated over one step with its input held (zero-order hold, as
# for LIF): tau_syn dI/dt = -I + w_in x gives I[t+1] = a_s I[t] + (1 - a_s) w_in x[t], and
# tau_mem dv/dt = -v + r I gives v[t+1] = a v[t] + (1 - a) r I[t]. Hence w_in = 1 / (1 - a_s)
# and r = 1 / (1 - a) make both gains 1: spikegrad's CuBa step exactly.
NIR_NODES = ("CubaLIF",)


def to_nir(nir: Any, c: CuBa, n: int, dt: float, what: str, approximate: bool = False) -> Any:
    """The nir.CubaLIF node of a layer: tau_mem = -dt / ln(alpha_j), r = 1 / (1 - alpha_j),
    tau_syn = -dt / ln(alpha_syn_j), w_in = 1 / (1 - alpha_syn_j), v_leak = 0, v_threshold =
    theta; the reset and the exact decays in its metadata. Exact (``approximate`` changes
    nothing). Shapes: parameters (n,)."""
    a = np.broadcast_to(np.asarray(c.alpha, np.float64), (n,)).copy()
    syn = np.broadcast_to(np.asarray(c.alpha_syn, np.float64), (n,)).copy()
    return nir.CubaLIF(
        tau_syn=tau_of(syn, dt, f"{what} (alpha_syn)"),
        tau_mem=tau_of(a, dt, what),
        r=1 / (1 - a),
        v_leak=np.zeros(n),
        v_threshold=np.full(n, c.theta),
        v_reset=np.zeros(n),
        w_in=1 / (1 - syn),
        metadata={"reset": lif.RESET, "alpha": a, "alpha_syn": syn},
    )


NIR_EXPORT_WARNING = lif.NIR_EXPORT_WARNING.replace("NIR's LIF", "NIR's LIF and CubaLIF")


def from_nir(rd: Any, name: str, n: int, dt: float) -> tuple[Any, np.ndarray]:
    """(constants, input gain (n,)) of NIR CubaLIF node ``name``. One with tau_syn = 0 for
    every neuron has no synaptic filter: a LIF layer (:func:`lif.from_nir`); tau_syn > 0 for
    every neuron gives a CuBa layer, the gain w_in (1 - alpha_syn) r (1 - alpha) folded into
    the weights (I is linear in them). v_leak = 0, one threshold; the reset as for LIF."""
    node = rd.nodes[name]
    tau_syn = rd.vec(name, node, "tau_syn", n)
    if np.all(tau_syn == 0):
        return lif.from_nir(rd, name, n, dt)
    if np.any(tau_syn == 0):
        raise rd.error(name, "tau_syn is 0 for some neurons only (one kind per layer)")
    tau = rd.vec(name, node, "tau_mem", n)
    c, gain_mem = lif.membrane_from_nir(rd, name, node, tau, n, dt)
    meta = node.metadata if isinstance(node.metadata, dict) else {}
    syn = rd.alpha(name, _Hint(meta.get("alpha_syn")), tau_syn, dt)
    gain = gain_mem * rd.vec(name, node, "w_in", n) * (1 - syn)
    one = float(syn[0]) if np.unique(syn).size == 1 else syn
    return CuBa(alpha=c.alpha, alpha_syn=one, theta=c.theta), gain


class _Hint(NamedTuple):
    """What the reader's ``alpha`` reads of a node: the exact decay hint (metadata)."""

    alpha: Any

    @property
    def metadata(self) -> dict:
        return {} if self.alpha is None else {"alpha": self.alpha}
