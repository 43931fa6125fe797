"""Peer libraries on the same network, weights and inputs (benchmark only): snnTorch,
SpikingJelly and Norse, each written as a competent user of that library writes it.

Every peer is a :class:`~.torch_baseline.TorchBPTT` whose hidden LIF layers are the library's
neuron: one matrix product per layer over the whole time-major sequence (T, B, N), then the
library's time loop (snnTorch ``Leaky`` and Norse ``LIFBoxCell`` step by step over
``unbind(0)`` views; SpikingJelly's multi-step ``LIFNode``, one call on its CPU backend;
snnTorch ``RLeaky`` for a recurrent layer). The
readout (spikegrad's leaky integrator and score), the loss, ``torch.optim.Adam``, the input
tensor and the timing are the PyTorch baseline's, so rows differ only in the LIF layers. Each
:class:`Peer` says in ``note`` how its model differs from spikegrad's. The libraries are
optional (extra ``peers``); one that cannot be imported, or cannot express the network (a
recurrent layer, per-neuron alpha), is reported with the reason, not an error.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..network import Network
from ..spikes import SpikeEvents
from .cases import grad_err
from .torch_baseline import TorchBPTT, spike_function, time_step


class SnnTorchBPTT(TorchBPTT):
    """snnTorch 1.x: ``snn.Leaky(beta=alpha, threshold=theta, reset_mechanism="subtract")``
    (its reset is detached) with spikegrad's surrogate as ``spike_grad``; a recurrent layer is
    ``snn.RLeaky`` (``all_to_all``, ``linear_features=N``, the same arguments) whose
    recurrent ``Linear`` is replaced by the bias-free product ``S @ R`` with spikegrad's R (the
    function of ``Linear(N, N, bias=False)`` with weight R^T). RLeaky adds ``recurrent(spk)``
    of its previous spike, which is spikegrad's S[t] @ R. Per-neuron alpha is a ``beta``
    tensor. A Leaky or RLeaky fed h[t] returns spikegrad's S[t+1], so each layer emits a zero
    step first and skips the last input step (never used by spikegrad either): the same model,
    the same gradients.

    A CuBa layer is ``snn.Synaptic(alpha=alpha_syn, beta=alpha, ...)``, the same arguments
    otherwise: fed h[t] at its step t, its current is spikegrad's I[t+1], its membrane V[t+2]
    and its spike S[t+2], so the layer emits two zero steps first. In a recurrent CuBa layer
    the loop adds S[t] @ R (the spike two steps back) to the input of step t: ``RSynaptic``
    feeds back the previous step's spike, S[t+1], a recurrence one step shorter than
    spikegrad's (another model). snnTorch has no adaptive-threshold neuron (ALIF)."""

    def __init__(self, net: Network, device: str, lr: float = 1e-6) -> None:
        super().__init__(net, device, lr)
        import snntorch as snn

        torch = self.torch
        spike0 = spike_function(0.0, net.beta_s, net.b_th)  # snnTorch passes V - theta

        class SpikesTimesR(torch.nn.Module):
            def __init__(self, r: Any) -> None:
                super().__init__()
                self.r = r

            def forward(self, s: Any) -> Any:
                return s @ self.r

        self.layers = []
        for l, rec in enumerate(net.recurrent, start=1):
            kw = dict(
                beta=torch.as_tensor(self.alphas[l - 1], dtype=self.dtype),
                threshold=torch.tensor(net.threshold, dtype=self.dtype),
                spike_grad=spike0,
                reset_mechanism="subtract",
            )
            kind, consts = self.kinds[l - 1]
            if kind == "cuba":
                alpha_syn = torch.as_tensor(consts["alpha_syn"], dtype=self.dtype)
                lif = snn.Synaptic(alpha=alpha_syn, **kw)
            elif rec:
                lif = snn.RLeaky(linear_features=net.sizes[l], all_to_all=True, **kw)
                lif.recurrent = SpikesTimesR(self.params[f"R{l}"])
            else:
                lif = snn.Leaky(**kw)
            self.layers.append(lif.to(device))

    def _cuba(self, h: Any, l: int) -> Any:
        syn_lif, r = self.layers[l - 1], self.params.get(f"R{l}")
        syn, mem = syn_lif.reset_mem()
        zero = self.torch.zeros_like(h[0])
        out = [zero, zero]  # S[0] = S[1] = 0: h[t] first reaches V at t + 2
        for t, h_t in enumerate(h[:-2].unbind(0)):
            spk, syn, mem = syn_lif(h_t if r is None else h_t + out[t] @ r, syn, mem)
            out.append(spk)
        return self.torch.stack(out)

    def _lif(self, h: Any, l: int) -> Any:
        lif = self.layers[l - 1]
        rec = self.net.recurrent[l - 1]
        spk, mem = lif.reset_mem() if rec else (None, lif.reset_mem())
        out = [self.torch.zeros_like(h[0])]
        for h_t in h[:-1].unbind(0):
            spk, mem = lif(h_t, spk, mem) if rec else lif(h_t, mem)
            out.append(spk)
        return self.torch.stack(out)


class SpikingJellyBPTT(TorchBPTT):
    """SpikingJelly 2.x: multi-step ``neuron.LIFNode(step_mode="m")`` (its CPU backend) with
    ``tau = 1 / (1 - alpha)``, ``decay_input=False``, soft reset (``v_reset=None``),
    ``detach_reset=True`` and the built-in ``SoftSign(alpha=beta_s)`` surrogate."""

    def __init__(self, net: Network, device: str, lr: float = 1e-6) -> None:
        super().__init__(net, device, lr)
        from spikingjelly.activation_based import neuron, surrogate

        self.layers = [
            neuron.LIFNode(
                tau=1.0 / (1.0 - float(alpha)),
                decay_input=False,
                v_threshold=net.threshold,
                v_reset=None,
                surrogate_function=surrogate.SoftSign(alpha=net.beta_s),
                detach_reset=True,
                step_mode="m",
            ).to(device)
            for alpha in self.alphas
        ]

    def _lif(self, h: Any, l: int) -> Any:
        node = self.layers[l - 1]
        node.reset()  # a new batch: V = 0
        return node(h)


class NorseBPTT(TorchBPTT):
    """Norse 1.x: ``LIFBoxCell`` (a LIF without synaptic current, Norse's fastest match) with
    ``dt * tau_mem_inv = 1 - alpha``, ``reset_subtract`` and the SuperSpike surrogate. Its
    input gain is ``1 - alpha``, so the hidden weights are copied divided by ``1 - alpha``."""

    def __init__(self, net: Network, device: str, lr: float = 1e-6) -> None:
        super().__init__(net, device, lr)
        from norse.torch import LIFBoxCell, LIFBoxParameters
        from norse.torch.functional.reset import reset_subtract

        torch, dt = self.torch, 1e-3

        def tensor(v: float) -> Any:
            return torch.tensor(v, dtype=self.dtype, device=device)

        self.layers = [
            LIFBoxCell(
                LIFBoxParameters(
                    tau_mem_inv=tensor((1.0 - float(alpha)) / dt),
                    v_leak=tensor(0.0),
                    v_th=tensor(net.threshold),
                    v_reset=tensor(0.0),
                    method="super",
                    alpha=tensor(net.beta_s),
                    reset_method=reset_subtract,
                ),
                dt=dt,
            )
            for alpha in self.alphas
        ]

    def weight_scale(self, key: str) -> float:
        if key == "W_out":
            return 1.0
        return 1.0 / (1.0 - float(self.net.alphas[int(key[1:]) - 1]))

    def _lif(self, h: Any, l: int) -> Any:
        cell, state, out = self.layers[l - 1], None, []
        for h_t in h.unbind(0):
            z, state = cell(h_t, state)
            out.append(z)
        return self.torch.stack(out)


def _any_model(net: Network) -> str | None:
    """Every network maps."""
    return None


def _kinds(net: Network) -> set[str]:
    return set(getattr(net, "neurons", ["lif"]))


def _snntorch_model(net: Network) -> str | None:
    """snnTorch maps LIF (Leaky, RLeaky, a per-neuron beta) and CuBa (Synaptic), not ALIF."""
    if "alif" in _kinds(net):
        return (
            "not run: snnTorch has no adaptive-threshold (ALIF) neuron; its Leaky with a "
            "learnable threshold is another model"
        )
    return None


# Why SpikingJelly and Norse do not run CuBa or ALIF networks
_NO_KIND = {
    "SpikingJelly": {
        "cuba": "SpikingJelly has no current-based (CuBa) neuron",
        "alif": "SpikingJelly has no adaptive-threshold (ALIF) neuron",
    },
    "Norse": {
        "cuba": "Norse's LIFCell has a synaptic current but fires in the step of its input, "
        "scales its input by dt / tau_syn and does not detach the reset: another model",
        "alif": "Norse's LSNNCell has an adaptive threshold but also a synaptic current, and "
        "fires in the step of its input: another model",
    },
}


def _scalar_ff_only(library: str, recurrent_why: str) -> Callable[[Network], str | None]:
    """A check for a library whose matching neuron is a feed-forward LIF with one alpha per
    layer: returns why it cannot model ``net`` (another kind; ``recurrent_why`` for a recurrent
    layer), else None."""

    def why(net: Network) -> str | None:
        other = sorted(_kinds(net) - {"lif"})
        if other:
            return f"not run: {'; '.join(_NO_KIND[library][k] for k in other)}"
        if any(net.recurrent):
            return f"not run (recurrent network): {recurrent_why}"
        if any(np.ndim(a) for a in net.alphas):
            return "not run: its matching neuron takes one time constant per layer"
        return None

    return why


@dataclass(frozen=True)
class Peer:
    """A peer library: result-row key ``name``, display ``label``, the import that must work,
    its distribution name (for the version), how its model differs (``note``), its model, and
    ``unsupported(net)``: why it cannot express ``net``, else None."""

    name: str
    label: str
    module: str
    dist: str
    note: str
    model: type[TorchBPTT]
    unsupported: Callable[[Network], str | None] = _any_model


_READOUT = "readout, loss and Adam as the torch row"
PEERS = (
    Peer("snntorch", "snnTorch", "snntorch", "snntorch",
         "Leaky (RLeaky for a recurrent layer, its recurrent Linear the bias-free S @ R), "
         "subtract reset detached, spikegrad's surrogate as spike_grad, output shifted one "
         f"step: spikegrad's model; CuBa: Synaptic, recurrence S[t] @ R added by the loop, "
         f"output shifted two steps: spikegrad's model; {_READOUT}", SnnTorchBPTT,
         _snntorch_model),
    Peer("spikingjelly", "SpikingJelly", "spikingjelly.activation_based.neuron", "spikingjelly",
         "multi-step LIFNode (CPU backend), soft reset detached; differs: fires at V >= theta in "
         "the step of its input (no one-step delay), reset decays with V, surrogate SoftSign(100) "
         f"= 50x an untruncated fast sigmoid; {_READOUT}", SpikingJellyBPTT,
         _scalar_ff_only("SpikingJelly",
                         "SpikingJelly has no recurrent LIF neuron; its recurrent containers "
                         "put the feed-forward product inside the time loop and fire in the "
                         "step of their input")),
    Peer("norse", "Norse", "norse.torch", "norse",
         "LIFBoxCell loop, subtract reset; differs: fires in the step of its input, reset decays "
         "with V and is not detached, surrogate SuperSpike 1/(|V-theta|+1)^2 untruncated (Norse "
         f"1.1 ignores its alpha), hidden weights / (1 - alpha); {_READOUT}", NorseBPTT,
         _scalar_ff_only("Norse",
                         "Norse's recurrent cells (LIFRecurrentCell, ...) add a synaptic "
                         "current and hold the input weights in the step: another model")),
)  # fmt: skip


def unavailable(peer: Peer) -> str | None:
    """Why ``peer`` cannot run ("not installed", or its import error), else None."""
    try:
        importlib.import_module(peer.module)
    except ModuleNotFoundError as e:
        top = peer.module.split(".")[0]
        return "not installed" if e.name in (top, "torch") else f"cannot import: {e}"
    except Exception as e:  # a broken install: report it, never crash the bench
        return f"cannot import: {type(e).__name__}: {e}"
    return None


def version(peer: Peer) -> str:
    try:
        return importlib.metadata.version(peer.dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def time_peers(
    net: Network,
    x: SpikeEvents,
    y: Any,
    ref: dict[str, np.ndarray],
    warmup: int = 1,
    repeats: int = 5,
    peers: tuple[Peer, ...] = PEERS,
    timer: Callable[..., dict[str, Any]] = time_step,
) -> dict[str, Any]:
    """Time each available peer's whole training step on ``net``'s weights and inputs.

    Returns flat fields ``{name}_{figure}`` (forward_s, backward_s, step_s, prepare_s,
    retained_bytes, peak_bytes, rel_err: gradient vs ``ref``, spikegrad's dense gradients),
    ``peers``: [{name, label, version, note}] of those that ran, and ``peers_missing``:
    {label: why} of those that did not.
    """
    res: dict[str, Any] = {"peers": [], "peers_missing": {}}
    for p in peers:
        if why := unavailable(p) or p.unsupported(net):
            res["peers_missing"][p.label] = why
            continue
        t = timer(net, x, y, warmup, repeats, compile=False, model=p.model)
        res[f"{p.name}_rel_err"] = grad_err(t["grads"], ref)
        for k in ("forward_s", "backward_s", "step_s", "prepare_s", "retained_bytes"):
            res[f"{p.name}_{k}"] = t[k]
        res[f"{p.name}_peak_bytes"] = t["peak_bytes"]
        res["peers"].append(
            {"name": p.name, "label": p.label, "version": version(p), "note": p.note}
        )
    return res
