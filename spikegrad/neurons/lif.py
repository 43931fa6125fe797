r"""The leaky integrate-and-fire neuron (LIF, ALGORITHM.md §2-4), with subtractive reset.

One time step, h[t] the input current (x[t] @ W, plus S[t] @ R in a recurrent layer)::

    S[t]   = V[t] > theta                              (fire)
    V[t+1] = alpha V[t] + h[t] - theta S[t]            (update; V[0] = 0)

Its adjoint, the reset-free reverse filter (§4), g[t] = dL/dS[t], sp[t] = sigma'(V[t])::

    dv[t] = g[t] sp[t] + alpha dv[t+1]                 (dv[T] = 0; dv = the spec's eps = dL/dV)
    dL/dh[t] = dv[t+1]

alpha = exp(-dt / tau_mem): one number per layer or one per neuron ((N,), broadcast along j).
Everything here is pure (new records out, nothing written) and xp-generic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np

from ..backend import Array, get_xp
from ..checks import check_float, check_int
from ..errors import BadValueError
from .base import Constant, OpNames, Spread, check_constants, from_model, tau_of, to_model

NAME = "lif"
ALPHA = math.exp(-0.1)  # dt = 1 ms, tau = 10 ms: the paper's F-MNIST / N-MNIST setting

CONSTANTS = (
    Constant(
        "alpha",
        0.0,
        1.0,
        option="tau_mem",
        default=10e-3,
        decay=True,
        per_neuron=True,
        help="Membrane time constant tau_mem in seconds; the decay per step is "
        "alpha = exp(-dt / tau_mem).",
    ),
    Constant(
        "theta",
        0.0,
        None,
        option="threshold",
        default=1.0,
        lo_open=True,
        help="Firing threshold theta (also subtracted at the reset).",
    ),
)


@dataclass(frozen=True)
class LIF:
    """The constants of a LIF layer: alpha (a float, or (N,) one per neuron) and theta.

    Values are checked when a layer takes them (:class:`spikegrad.layers.Hidden`).
    """

    alpha: float | np.ndarray = ALPHA
    theta: float = 1.0

    KIND: ClassVar[str] = NAME

    def checked(self, n: int) -> LIF:
        """This record with its values checked for a layer of ``n`` neurons (canonical: a
        float or a host (n,) float64 copy); BadValueError naming alpha or theta."""
        return check_constants(self, CONSTANTS, n)


RECORD = LIF  # the constants record of this kind

# --------------------------------------------------------------------------- the ops' side
# The layer ops take the forward constants (alpha, theta) and the adjoint's (alpha) in these
# orders, after their arrays; alpha on the backend in the network's dtype when per neuron.
FORWARD_ARGS = ("alpha", "theta")
ADJOINT_ARGS = ("alpha",)


OPS = {
    False: OpNames(
        "lif_forward", "lif_forward_sparse_spikes", "lif_backward_dense", "lif_backward_sparse"
    ),
    True: OpNames(
        "rlif_forward", "rlif_forward_sparse_spikes", "rlif_backward_dense", "rlif_backward_sparse"
    ),
}


def op_args(c: LIF, asarray: Any) -> dict[str, Any]:
    """The constants as the ops take them; ``asarray`` puts a per-neuron array on the
    backend in the network's dtype."""
    return {"alpha": c.alpha if np.ndim(c.alpha) == 0 else asarray(c.alpha), "theta": c.theta}


class Params(NamedTuple):
    """The constants in the dtype and array module of the data (the step functions' input):
    alpha a scalar or (N,); theta a scalar (None where only the adjoint runs)."""

    alpha: Any
    theta: Any = None


def params(like: Array, alpha: float | Array, theta: float | None = None) -> Params:
    """:class:`Params` in the dtype and array module of ``like``."""
    dt = like.dtype.type
    a = dt(alpha) if np.ndim(alpha) == 0 else get_xp(like).asarray(alpha, dtype=like.dtype)
    return Params(a, None if theta is None else dt(theta))


# ----------------------------------------------------------------------- the pure step functions
class State(NamedTuple):
    """The neuron's state at step t. Shapes: v (B, N)."""

    v: Array


class Adjoint(NamedTuple):
    """The adjoint state at step t: dv = dL/dV[t]. Shapes: dv (B, N)."""

    dv: Array


def initial_state(xp: Any, shape: tuple[int, int], dtype: Any) -> State:
    """V[0] = 0."""
    return State(xp.zeros(shape, dtype=dtype))


def fire(p: Params, st: State) -> Array:
    """S[t] = V[t] > theta. Shapes: -> (B, N) bool."""
    return st.v > p.theta


def distance(p: Params, st: State) -> Array:
    """|V[t] - theta|, the distance to threshold of the surrogate and the active band."""
    return get_xp(st.v).abs(st.v - p.theta)


def update(p: Params, st: State, s: Array, h: Array) -> State:
    """V[t+1] = alpha V[t] + h[t] - theta S[t]. Shapes: s (B, N) bool, h (B, N)."""
    return State(st.v * p.alpha + h - p.theta * s)


def step(p: Params, st: State, h: Array) -> tuple[State, Array, Array]:
    """One feed-forward step: (state at t+1, S[t], |V[t] - theta|)."""
    s = fire(p, st)
    return update(p, st, s, h), s, distance(p, st)


def record(p: Params, st: State) -> Array:
    """What the dense mode keeps of step t for the surrogate: V[t]."""
    return st.v


def record_distance(p: Params, rec: Array) -> Array:
    """|V - theta| from the dense mode's record. Shapes: rec (T, B, N) or flat -> same."""
    return get_xp(rec).abs(rec - p.theta)


def initial_adjoint(xp: Any, shape: tuple[int, int], dtype: Any) -> Adjoint:
    """dv[T] = 0."""
    return Adjoint(xp.zeros(shape, dtype=dtype))


def adjoint(p: Params, adj: Adjoint, g: Array, sp: Array) -> Adjoint:
    """dv[t] = g[t] sigma'[t] + alpha dv[t+1] (the reset detached). Shapes: g, sp (B, N)."""
    return Adjoint(g * sp + adj.dv * p.alpha)


def current_grad(adj: Adjoint) -> Array:
    """dL/dh[t] from the adjoint at t+1: dv[t+1]."""
    return adj.dv


# ---------------------------------------------------------------------------- initialisation
def init_decay(c: LIF) -> float | np.ndarray:
    """The decay in the paper's "normal" initialisation of the weights into this layer."""
    return c.alpha


def heterogeneous_alpha(
    tau_mem: float, spread: float, dt: float, n: int, rng: np.random.Generator
) -> np.ndarray:
    """Per-neuron decays alpha_j = exp(-dt / tau_j), tau_j ~ Gamma(mean tau_mem, CV spread).

    Shape k = 1 / spread**2, scale tau_mem * spread**2, as in Perez-Nieves et al. 2021,
    "Neural heterogeneity promotes robust learning" (their SHD default: k = 3). ``spread`` 0
    gives every neuron exp(-dt / tau_mem) exactly and draws nothing from ``rng``. A tau_j that
    underflows to 0 (possible only for a very large spread) gives alpha_j = 0.

    Shapes: -> (n,) float64, values in [0, 1).
    """
    tau_mem = check_float("tau_mem", tau_mem, 0, lo_open=True)
    spread = check_float("tau_mem_spread", spread, 0)
    dt = check_float("dt", dt, 0, lo_open=True)
    n = check_int("n", n, 1)
    if not isinstance(rng, np.random.Generator):
        raise BadValueError("rng", rng, "a numpy.random.Generator")
    if spread == 0:
        return np.full(n, np.exp(-dt / tau_mem))
    k = 1.0 / spread**2
    tau = rng.gamma(k, tau_mem / k, size=n)
    with np.errstate(divide="ignore"):
        return np.exp(-dt / tau)


SPREADS = (
    Spread(
        "alpha",
        option="tau_mem_spread",
        draw=heterogeneous_alpha,
        help="Per-neuron tau_mem: Gamma with mean --tau-mem and this coefficient of variation, "
        "drawn once from --seed and saved with the checkpoints (0: one tau_mem for all).",
    ),
)


# ------------------------------------------------------------------------------- model files
def model_fields(c: LIF, l: int) -> tuple[dict, dict]:
    """Layer ``l``'s constants as model-file fields: meta {"alpha": float | None, "theta":
    float} and, for per-neuron alpha, the array "alpha.<l>" (N,) float64."""
    return to_model(c, CONSTANTS, l)


def from_model_fields(entry: dict, arrays: Any, l: int) -> LIF:
    """The constants of layer ``l`` from :func:`model_fields`' fields."""
    return from_model(LIF, CONSTANTS, entry, arrays, l)


def v1_layers(meta: dict) -> list[dict]:
    """The layer entries of a version-1 model file (LIF layers only: per-layer "alpha" and
    "recurrent" lists, one network-wide "threshold"; per-neuron alpha in "alpha.<l>")."""
    if len(meta["alpha"]) != len(meta["recurrent"]):
        raise ValueError("alpha and recurrent of different lengths")
    return [
        {"kind": NAME, "recurrent": bool(r), "alpha": a, "theta": meta["threshold"]}
        for a, r in zip(meta["alpha"], meta["recurrent"], strict=True)
    ]


# ------------------------------------------------------------------------------------- NIR
# NIR states neurons as ODEs; one step is dt seconds, the input held over it (zero-order
# hold): tau dv/dt = (v_leak - v) + r I gives v[t+1] = a v[t] + (1 - a) r I[t], a = exp(-dt/tau).
NIR_NODES = ("LIF",)  # the NIR node types this kind reads (a CubaLIF via the CuBa kind)
RESET = "subtract"  # metadata["reset"] of spikegrad's LIF nodes


def to_nir(nir: Any, c: LIF, n: int, dt: float, what: str, approximate: bool = False) -> Any:
    """The nir.LIF node of a layer: tau = -dt / ln(alpha_j), r = 1 / (1 - alpha_j),
    v_leak = 0, v_threshold = theta; the reset (subtract theta one step after the spike,
    which NIR cannot state) and the exact alpha in its metadata. Exact, so ``approximate``
    changes nothing. Shapes: parameters (n,)."""
    a = np.broadcast_to(np.asarray(c.alpha, np.float64), (n,)).copy()
    return nir.LIF(
        tau=tau_of(a, dt, what),
        r=1 / (1 - a),
        v_leak=np.zeros(n),
        v_threshold=np.full(n, c.theta),
        v_reset=np.zeros(n),
        metadata={"reset": RESET, "alpha": a},
    )


NIR_EXPORT_WARNING = (
    "NIR's LIF resets to v_reset; spikegrad subtracts the threshold one step after the "
    "spike: the LIF nodes say so in metadata['reset'], tools that ignore it reset to 0"
)


def from_nir(rd: Any, name: str, n: int, dt: float) -> tuple[LIF, np.ndarray]:
    """(constants, input gain (n,)) of NIR node ``name``: a LIF, or a CubaLIF without a
    synaptic filter (tau_syn = 0; the CuBa kind hands those over); v_leak = 0 and one
    threshold for all neurons. A node that resets to v_reset is refused unless
    ``rd.approximate`` (then noted in ``rd.reset_to_value``). ``rd``: the graph reader of
    :mod:`spikegrad.nir`."""
    node = rd.nodes[name]
    if type(node).__name__ == "CubaLIF":
        if np.any(rd.vec(name, node, "tau_syn", n) != 0):
            raise rd.error(
                name,
                "CubaLIF with tau_syn > 0 filters its input current; "
                "spikegrad's LIF neurons have no synaptic filter",
            )
        tau, gain_in = rd.vec(name, node, "tau_mem", n), rd.vec(name, node, "w_in", n)
    else:
        tau, gain_in = rd.vec(name, node, "tau", n), np.ones(n)
    c, gain = membrane_from_nir(rd, name, node, tau, n, dt)
    return c, gain * gain_in


def membrane_from_nir(
    rd: Any, name: str, node: Any, tau: np.ndarray, n: int, dt: float
) -> tuple[LIF, np.ndarray]:
    """(constants, membrane gain r (1 - alpha) (n,)) of a NIR neuron node with membrane time
    constants ``tau`` (n,): the checks of :func:`from_nir` on v_leak, v_threshold and the
    reset (shared with the CuBa kind's CubaLIF)."""
    if np.any(rd.vec(name, node, "v_leak", n) != 0):
        raise rd.error(name, "v_leak != 0 (a constant drive spikegrad's neurons lack)")
    theta = np.unique(rd.vec(name, node, "v_threshold", n))
    if theta.size != 1 or not theta[0] > 0:
        raise rd.error(name, f"v_threshold must be one value > 0 for all neurons; got {theta}")
    meta = node.metadata if isinstance(node.metadata, dict) else {}
    if meta.get("reset") != RESET:
        if not rd.approximate:
            raise rd.error(
                name,
                "resets to v_reset; spikegrad subtracts the threshold one step after "
                "the spike (from_nir(..., approximate=True) imports it so, with a warning)",
            )
        rd.reset_to_value.append(name)
    alpha = rd.alpha(name, node, tau, dt)
    gain = rd.vec(name, node, "r", n) * (1 - alpha)
    one = float(alpha[0]) if np.unique(alpha).size == 1 else alpha
    return LIF(alpha=one, theta=float(theta[0])), gain
