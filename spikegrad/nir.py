"""NIR export and import: :func:`to_nir`, :func:`from_nir`, :func:`write_nir`.

NIR (the Neuromorphic Intermediate Representation, ``pip install 'spikegrad[nir]'``) states
neuron models as continuous-time ODEs. :func:`to_nir` writes a network as the graph::

    input -> w1 -> lif1 -> w2 -> lif2 -> ... -> w_out -> readout -> output
                   lif1 -> r1 -> lif1          (a loop edge for each recurrent layer)

with ``w<l>``, ``r<l>``, ``w_out`` :class:`nir.Linear` nodes (NIR's weight is (out, in):
``W_l.T``), ``<kind><l>`` the hidden neurons (``lif<l>`` :class:`nir.LIF`, ``cuba<l>``
:class:`nir.CubaLIF`) and ``readout`` :class:`nir.LI`. Each neuron kind maps its own nodes
(``to_nir`` and ``from_nir`` of its module in :mod:`spikegrad.neurons`); this module walks
the graph.

The mapping, exact. One spikegrad step is the time ``dt`` (seconds; stored in the graph's
metadata). Its input current (the weighted spikes of step t) is held constant over the step
(zero-order hold) and NIR's ODE is integrated exactly over it:
``tau dv/dt = (v_leak - v) + r I`` gives ``v[t+1] = a v[t] + (1 - a) r I[t]``, a = exp(-dt/tau).
Hence, per neuron j (alpha may differ per neuron)::

    LIF  tau = -dt / ln(alpha_j), r = 1 / (1 - alpha_j), v_leak = 0, v_threshold = theta
    CuBa CubaLIF: tau_mem and r as LIF's, tau_syn = -dt / ln(alpha_syn_j),
         w_in = 1 / (1 - alpha_syn_j)    (I[t+1] = a_s I + (1 - a_s) w_in h; V sees I[t])
    LI   tau = -dt / ln(alpha_out), r = 1, v_leak = 0       (u[t+1] = a u + (1 - a) S W_out)

ALIF has no NIR node (NIR has no adaptive threshold): :func:`to_nir` refuses it with one
error naming the layer, unless ``approximate=True``, which writes it as a LIF with the base
threshold (its adaptation dropped, kept in the node's metadata) and warns.

alpha must lie in (0, 1) (0 and 1 have no finite positive tau). NIR's spike condition
``v > v_threshold`` is spikegrad's (strict), and V starts at 0 as NIR's state does.

What NIR cannot express, kept in node metadata:

* Reset. NIR's LIF resets to ``v_reset`` at the spike; spikegrad subtracts theta, one step
  after the spike (``V[t+1] = alpha V[t] + h[t] - theta S[t]``). The LIF nodes carry
  ``v_reset = 0`` and ``metadata["reset"] = "subtract"``; another tool that ignores the
  metadata resets to zero instead (:func:`to_nir` warns once per export).
* The score of the readout (max / sum / last over time) and ``dt``: graph metadata.
* The exact float alpha (``metadata["alpha"]``, and CuBa's ``metadata["alpha_syn"]``): used
  on import when it agrees with
  exp(-dt/tau) to 1e-12, so that a round trip restores the parameters bit for bit.

:func:`from_nir` reads such graphs, and others where they mean exactly a spikegrad network:
weight nodes Linear, or Affine with a zero bias; hidden neurons LIF, CubaLIF with
``tau_syn = 0`` (no synaptic filter: a LIF layer) or CubaLIF with ``tau_syn > 0`` (a CuBa
layer); the readout LI; ``v_leak = 0``; one threshold for all neurons of a layer. A neuron's
input gain ``g = r (1 - alpha)`` (times ``w_in (1 - alpha_syn)`` for CubaLIF) that is not 1
is folded into the weights that feed it (exact but for rounding). Anything else is
refused with one error naming the node and why; a LIF that resets to ``v_reset`` (not
spikegrad's subtraction) is refused unless ``approximate=True``, which imports it with the
subtraction reset and a warning naming the nodes.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import neurons
from .backend import to_numpy
from .checks import check_float
from .errors import ConfigError, DataError
from .layers import Hidden
from .network import Network
from .neurons.base import tau_of
from .npzfile import atomic_write

if TYPE_CHECKING:
    import nir as nir_types

FORMAT_VERSION = 1
GAIN_RTOL = 1e-9  # a gain within this of 1 is 1 (r (1 - alpha) rounds to 1 +- a few ulp)
ALPHA_RTOL = 1e-12  # metadata alpha vs exp(-dt / tau)


def _nir() -> Any:
    try:
        import nir
    except ImportError:
        raise ConfigError("NIR export and import need nir: pip install 'spikegrad[nir]'") from None
    return nir


# ---------------------------------------------------------------------------------- export
def to_nir(net: Network, dt: float = 1e-3, approximate: bool = False) -> nir_types.NIRGraph:
    """The NIR graph of ``net`` with one step = ``dt`` seconds (mapping: module docstring).
    A layer without an exact NIR node (ALIF) is refused with a ConfigError naming it, unless
    ``approximate`` (then written approximately, with a warning).

    Shapes: weight nodes (N_l, N_{l-1}) = W_l.T in the network's dtype; neuron parameters
    (N_l,) float64.
    """
    nir = _nir()
    dt = check_float("dt", dt, 0, lo_open=True)
    sizes = net.sizes
    host = {k: np.asarray(to_numpy(a)) for k, a in net.params.items()}
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([sizes[0]])})}
    edges: list[tuple[str, str]] = [("input", "w1")]
    for l, spec in enumerate(net.hidden, start=1):
        lif = f"{spec.kind.NAME}{l}"
        nodes[f"w{l}"] = nir.Linear(weight=np.ascontiguousarray(host[f"W{l}"].T))
        nodes[lif] = spec.kind.to_nir(nir, spec.neuron, spec.n, dt, f"layer {l}", approximate)
        edges.append((f"w{l}", lif))
        if spec.recurrent:
            nodes[f"r{l}"] = nir.Linear(weight=np.ascontiguousarray(host[f"R{l}"].T))
            edges += [(lif, f"r{l}"), (f"r{l}", lif)]
        edges.append((lif, f"w{l + 1}" if l < net.n_hidden else "w_out"))
    k = sizes[-1]
    nodes["w_out"] = nir.Linear(weight=np.ascontiguousarray(host["W_out"].T))
    nodes["readout"] = nir.LI(
        tau=np.full(k, tau_of(net.alpha_out, dt, "readout")),
        r=np.ones(k),
        v_leak=np.zeros(k),
        metadata={"alpha": np.full(k, net.alpha_out)},
    )
    nodes["output"] = nir.Output(output_type={"output": np.array([k])})
    edges += [("w_out", "readout"), ("readout", "output")]
    meta = {"spikegrad_nir": FORMAT_VERSION, "dt": dt, "readout": net.readout}
    for why in dict.fromkeys(spec.kind.NIR_EXPORT_WARNING for spec in net.hidden):
        warnings.warn(why, UserWarning, stacklevel=2)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def write_nir(net: Network, path: str | Path, dt: float = 1e-3, approximate: bool = False) -> Path:
    """Write :func:`to_nir` ``(net, dt, approximate)`` to the NIR (HDF5) file ``path``,
    atomically."""
    nir = _nir()
    graph = to_nir(net, dt, approximate)
    return atomic_write(path, lambda f: nir.write(f, graph))


# ---------------------------------------------------------------------------------- import
def _read(path: Path) -> Any:
    nir = _nir()
    if not path.is_file():
        raise DataError(f"{path}: no such NIR file")
    try:
        return nir.read(path)
    except Exception as exc:  # h5py and nir raise many kinds; all mean "not a NIR file"
        why = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(f"{path}: not a readable NIR graph ({why})") from None


class _Reader:
    """Walks a NIR graph from its input to its output and collects a network's parts."""

    def __init__(self, graph: Any, src: str, approximate: bool) -> None:
        self.nir, self.src, self.approximate = _nir(), src, approximate
        self.nodes: dict[str, Any] = dict(graph.nodes)
        self.succ: dict[str, list[str]] = {k: [] for k in self.nodes}
        self.pred: dict[str, list[str]] = {k: [] for k in self.nodes}
        for a, b in graph.edges:
            for name in (a, b):
                if name not in self.nodes:
                    raise DataError(
                        f"{src}: an edge names node {name!r}, which is not in the graph"
                    )
            self.succ[a].append(b)
            self.pred[b].append(a)
        nir = self.nir
        ok = (nir.Input, nir.Output, nir.Linear, nir.Affine, nir.LI)
        self.kinds = {t: kind for kind in neurons.KINDS.values() for t in kind.NIR_NODES}
        for name, node in self.nodes.items():
            if not isinstance(node, ok) and type(node).__name__ not in self.kinds:
                known = ", ".join(["Linear", "Affine", *self.kinds, "LI"])
                raise self.error(
                    name,
                    f"{type(node).__name__} is not supported (spikegrad reads {known} nodes "
                    "in a chain)",
                )
        self.seen: set[str] = set()
        self.reset_to_value: list[str] = []

    def error(self, name: str, why: str) -> DataError:
        """The error to raise for node ``name``: one line naming the source and the node."""
        return DataError(f"{self.src}: node {name!r}: {why}")

    def one(self, names: list[str], after: str, what: str) -> str:
        if len(names) != 1:
            found = ", ".join(repr(n) for n in names) or "nothing"
            raise self.error(after, f"must be followed by one {what}; found {found}")
        return names[0]

    def vec(self, name: str, node: Any, key: str, n: int) -> np.ndarray:
        v = np.asarray(getattr(node, key), np.float64)
        try:
            return np.broadcast_to(v, (n,)).copy()
        except ValueError:
            raise self.error(name, f"{key} has shape {v.shape}; expected ({n},)") from None

    def weight(self, name: str, n_in: int) -> np.ndarray:
        node = self.nodes[name]
        if not isinstance(node, (self.nir.Linear, self.nir.Affine)):
            raise self.error(
                name, f"{type(node).__name__} where a Linear or Affine weight node belongs"
            )
        w = np.asarray(node.weight)
        if w.ndim != 2 or w.shape[1] != n_in:
            raise self.error(name, f"weight of shape {w.shape}; expected (N, {n_in})")
        if not np.issubdtype(w.dtype, np.floating):
            raise self.error(name, f"weight of dtype {w.dtype}; expected a float type")
        if isinstance(node, self.nir.Affine) and np.any(np.asarray(node.bias) != 0):
            raise self.error(
                name, "Affine with a non-zero bias (spikegrad's networks have no biases)"
            )
        self.seen.add(name)
        return w.T

    def alpha(self, name: str, node: Any, tau: np.ndarray, dt: float) -> np.ndarray:
        if not np.all(np.isfinite(tau) & (tau > 0)):
            raise self.error(name, "tau must be finite and > 0")
        alpha = np.exp(-dt / tau)
        hint = node.metadata.get("alpha") if isinstance(node.metadata, dict) else None
        if hint is not None:
            h = np.broadcast_to(np.asarray(hint, np.float64), alpha.shape)
            if np.allclose(h, alpha, rtol=ALPHA_RTOL, atol=0):
                alpha = h.copy()
        return alpha

    def neuron(self, name: str, n: int, dt: float) -> tuple[Hidden, np.ndarray]:
        """(the layer's neuron constants, input gain (n,)) of a hidden neuron node, read by
        the kind that reads its NIR type."""
        node = self.nodes[name]
        kind = self.kinds.get(type(node).__name__)
        if kind is None:
            want = " or ".join(self.kinds)
            raise self.error(name, f"{type(node).__name__} where a hidden {want} belongs")
        neuron, gain = kind.from_nir(self, name, n, dt)
        self.seen.add(name)
        return neuron, gain

    def readout(self, name: str, k: int, dt: float) -> tuple[float, np.ndarray]:
        """(alpha_out, gain (k,)) of the LI readout node."""
        node = self.nodes[name]
        if not isinstance(node, self.nir.LI):
            raise self.error(name, f"{type(node).__name__} where the LI readout belongs")
        if np.any(self.vec(name, node, "v_leak", k) != 0):
            raise self.error(name, "v_leak != 0 (a constant drive spikegrad's readout lacks)")
        alpha = self.alpha(name, node, self.vec(name, node, "tau", k), dt)
        if np.unique(alpha).size != 1:
            raise self.error(
                name, "tau differs between outputs; spikegrad's readout has one alpha_out"
            )
        gain = self.vec(name, node, "r", k)
        self.seen.add(name)
        return float(alpha[0]), gain


def _fold(w: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """W with column j scaled by gain_j, unless every gain is 1 to GAIN_RTOL."""
    if np.allclose(gain, 1, rtol=0, atol=GAIN_RTOL):
        return w
    return w * gain.astype(w.dtype)


def from_nir(
    graph_or_path: Any,
    dt: float | None = None,
    readout: str | None = None,
    backend: str = "numpy",
    approximate: bool = False,
) -> Network:
    """The spikegrad network a NIR graph (or a NIR file) describes exactly.

    ``dt``: seconds per step (default: the graph's metadata, as :func:`to_nir` writes it).
    ``readout``: the score over time (default: the graph's metadata, else "max").
    ``approximate``: import LIF nodes that reset to v_reset with spikegrad's subtraction
    reset, with a warning (else they are refused). The network's dtype is float64 when any
    weight is float64, else float32.

    Shapes: NIR weight nodes (N_l, N_{l-1}) become W_l = weight.T (N_{l-1}, N_l); neuron
    parameters are (N_l,) or anything that broadcasts to it.
    """
    nir = _nir()
    if isinstance(graph_or_path, (str, Path)):
        src, graph = str(graph_or_path), _read(Path(graph_or_path))
    else:
        src, graph = "NIR graph", graph_or_path
    if not isinstance(graph, nir.NIRGraph):
        raise DataError(f"{src}: expected a nir.NIRGraph; got {type(graph).__name__}")
    meta = graph.metadata if isinstance(graph.metadata, dict) else {}
    if int(meta.get("spikegrad_nir", 0)) > FORMAT_VERSION:
        raise DataError(
            f"{src}: written by a newer spikegrad (NIR metadata version "
            f"{meta['spikegrad_nir']} > {FORMAT_VERSION}); upgrade spikegrad"
        )
    if dt is None:
        if "dt" not in meta:
            raise ConfigError(f"{src}: the graph does not state its time step; pass dt=")
        dt = float(meta["dt"])
    dt = check_float("dt", dt, 0, lo_open=True)
    rd = _Reader(graph, src, approximate)
    inputs = [k for k, v in rd.nodes.items() if isinstance(v, nir.Input)]
    if len(inputs) != 1:
        raise DataError(f"{src}: needs one Input node; found {len(inputs)}")
    cur = inputs[0]
    rd.seen.add(cur)
    size = np.asarray(next(iter(rd.nodes[cur].input_type.values()))).reshape(-1)
    if size.size != 1:
        raise rd.error(cur, f"input shape {tuple(size)}; spikegrad takes a flat vector of inputs")
    sizes, ws, layers = [int(size[0])], [], []
    params: dict[str, np.ndarray] = {}
    while True:
        wname = rd.one(rd.succ[cur], cur, "weight node")
        w = rd.weight(wname, sizes[-1])
        nxt = rd.one(rd.succ[wname], wname, "neuron node")
        if nxt in rd.seen:
            raise rd.error(nxt, "is reached twice: the graph is not a chain of layers")
        n = w.shape[1]
        if isinstance(rd.nodes[nxt], nir.LI):
            alpha_out, gain = rd.readout(nxt, n, dt)
            ws.append(("W_out", _fold(w, gain)))
            sizes.append(n)
            out = rd.one(rd.succ[nxt], nxt, "Output node (an LI node is the readout)")
            if not isinstance(rd.nodes[out], nir.Output):
                raise rd.error(
                    nxt,
                    f"an LI node is the readout; it must be followed by the Output, not {out!r}",
                )
            rd.seen.add(out)
            break
        l = len(sizes)
        neuron, gain = rd.neuron(nxt, n, dt)
        loops = [p for p in rd.pred[nxt] if p != wname]
        if len(loops) > 1 or any(p not in rd.succ[nxt] for p in loops):
            raise rd.error(
                nxt, f"inputs {rd.pred[nxt]}: one weight node, plus at most one recurrent loop"
            )
        ws.append((f"W{l}", _fold(w, gain)))
        if loops:
            r = rd.weight(loops[0], n)
            if r.shape != (n, n) or rd.pred[loops[0]] != [nxt]:
                raise rd.error(
                    loops[0], f"a recurrent weight node must map {nxt!r} ({n}) onto itself"
                )
            ws.append((f"R{l}", _fold(r, gain)))
        layers.append((n, neuron, bool(loops)))
        sizes.append(n)
        cur = nxt
        rd.succ[cur] = [s for s in rd.succ[cur] if s not in loops]
    if len(sizes) < 3:
        raise DataError(f"{src}: no hidden LIF layer between the input and the LI readout")
    left = sorted(set(rd.nodes) - rd.seen)
    if left:
        raise rd.error(left[0], "is not on the chain from the Input to the Output")
    if rd.reset_to_value:
        warnings.warn(
            f"{src}: nodes {', '.join(rd.reset_to_value)} reset to v_reset in NIR; imported "
            "with spikegrad's reset (subtract the threshold one step after the spike)",
            RuntimeWarning,
            stacklevel=2,
        )
    params.update(ws)
    dtype = "float64" if any(a.dtype == np.float64 for a in params.values()) else "float32"
    readout = readout or str(meta.get("readout", "max"))
    hidden = [Hidden(n, neuron, recurrent=rec) for n, neuron, rec in layers]
    net = Network.from_layers(
        sizes[0], hidden, sizes[-1], alpha_out=alpha_out, readout=readout, dtype=dtype,
        backend=backend,
    )  # fmt: skip
    net.params = params
    return net


__all__ = ["from_nir", "to_nir", "write_nir"]
