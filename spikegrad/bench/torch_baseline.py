"""The peer baseline: a PyTorch dense-BPTT step of the same network (benchmark only).

The paper's speedups were measured against this kind of implementation, written as a competent
PyTorch user writes it: tensors are time-major (T, B, N); each layer's input current is one
matrix product over all steps, and the time loop walks per-step views of it (``h.unbind(0)``),
so autograd's backward is linear in T (indexing ``h[:, t]`` of a batch-major tensor would make
every step's backward write a full-size gradient: O(T^2)); a surrogate spike function (the
engine's band-truncated fast sigmoid, a custom ``autograd.Function``), the reset detached from
the graph, the leaky readout, cross-entropy, the spike-count regulariser when the network has
one, and ``torch.optim.Adam``, in the network's dtype (float32 in the benchmarks). A recurrent
layer keeps the one feed-forward product over all steps; only its recurrence is in the time
loop, one (B, N) x (N, N) product ``S[t] @ R`` per step whose spikes carry the surrogate
gradient (plain BPTT through the recurrence); the per-step spikes go to a Python list,
``torch.stack``-ed once (no slicing of a growing tensor). Per-neuron alpha is an (N,) tensor
broadcast along the neurons. Every neuron kind of ALGORITHM.md §8 has its scan, with the kind's
detachments: CuBa (:meth:`TorchBPTT._cuba`: the synaptic current filter, spikes reach V one step
later) and ALIF (:meth:`TorchBPTT._alif`: the adaptive threshold A = theta + beta_a a, the band
surrogate on V - A, the reset A S detached (both factors), the adaptation path a not detached); a
kind's per-neuron constants are (N,) tensors too. On the CPU it is timed eager and, where T is short
enough to compile (:data:`COMPILE_MAX_STEPS`), as ``torch.compile(loss)`` too, compiled and checked
before any timing; the faster is reported. The peer libraries (:mod:`.peers`) subclass
:class:`TorchBPTT`. torch is an optional extra (``bench``), never an engine dependency; this module
imports it only when used.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..backend import to_numpy
from ..network import Network
from ..ops.half import widen
from ..spikes import SpikeEvents
from .timing import WallClock, median_time, peak_rss


def unavailable(cuda: bool) -> str | None:
    """Why the baseline cannot run (torch missing, or no CUDA device for it), else None."""
    try:
        import torch
    except ImportError:
        return "torch is not installed (pip install 'spikegrad[bench]')"
    if cuda and not torch.cuda.is_available():
        return f"torch {torch.__version__} sees no CUDA device"
    return None


class TorchCudaClock:
    """CUDA events on torch's current stream (the :mod:`.timing` clock interface)."""

    def __init__(self) -> None:
        import torch

        self.torch = torch

    def mark(self) -> Any:
        ev = self.torch.cuda.Event(enable_timing=True)
        ev.record()
        return ev

    def elapsed(self, a: Any, b: Any) -> float:
        b.synchronize()
        return a.elapsed_time(b) * 1e-3


def spike_function(theta: float, beta_s: float, b_th: float) -> Callable[[Any], Any]:
    """spikegrad's spike as a torch function of V: S = [V > theta], and the band-truncated
    fast-sigmoid surrogate dS/dV = 1 / (beta_s |V - theta| + 1)^2 where |V - theta| < b_th."""
    import torch

    class Spike(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, v: Any) -> Any:
            ctx.save_for_backward(v)
            return (v > theta).to(v.dtype)

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            (v,) = ctx.saved_tensors
            d = (v - theta).abs()
            return g * torch.where(d < b_th, 1.0 / (beta_s * d + 1.0) ** 2, 0.0)

    return Spike.apply


class TorchBPTT:
    """``net``'s parameters copied into torch tensors on ``device``, and its dense-BPTT loss.

    Subclasses (the peers, :mod:`.peers`) replace :meth:`_lif` (and :meth:`_cuba`, where the
    library has that neuron) and may rescale weights
    (:meth:`weight_scale`); the readout, loss, optimiser and timing stay shared.
    Shapes: inputs (T, B, N0) float (time-major), labels (B,) int64.
    """

    def __init__(self, net: Network, device: str, lr: float = 1e-6) -> None:
        import torch

        self.torch, self.net, self.device = torch, net, device
        self.dtype = torch.float64 if net.dtype == np.float64 else torch.float32
        self.params = {
            k: torch.tensor(
                to_numpy(widen(v)) * self.weight_scale(k), dtype=self.dtype, device=device
            ).requires_grad_()
            for k, v in net.weights.items()  # a 16-bit copy: its values (ops/half)
        }
        self.init = {k: p.detach().clone() for k, p in self.params.items()}
        self.lr = lr
        self.opt = torch.optim.Adam(list(self.params.values()), lr=lr)
        self.spike = spike_function(net.threshold, net.beta_s, net.b_th)
        self.spike0 = spike_function(0.0, net.beta_s, net.b_th)  # of V - A (ALIF)
        self.alphas = [self._const(a) for a in net.alphas]  # a float, or (N,) per neuron
        # per hidden layer: (kind name, its constants other than alpha and theta); a network
        # without layer records (a stand-in in tests) is LIF
        self.kinds = [
            (h.kind.NAME, {k: self._const(v) for k, v in vars(h.neuron).items()})
            for h in getattr(net, "hidden", [])
        ] or [("lif", {})] * len(net.alphas)

    def _const(self, a: Any) -> Any:
        """A neuron constant: a float, or an (N,) tensor of per-neuron values on the device."""
        if np.ndim(a) == 0:
            return float(a)
        return self.torch.tensor(a, dtype=self.dtype, device=self.device)

    def weight_scale(self, key: str) -> float:
        """Factor applied to ``net.params[key]`` when copied (1: the same weights)."""
        return 1.0

    def prepare(self, x: SpikeEvents) -> Any:
        """Host events -> the dense time-major 0/1 input on the device, built there."""
        torch = self.torch
        B, T, N = x.shape
        idx = [torch.as_tensor(a, device=self.device) for a in (x.t, x.b, x.i)]
        out = torch.zeros((T, B, N), dtype=self.dtype, device=self.device)
        out[idx[0], idx[1], idx[2]] = 1
        return out

    def labels(self, y: Any) -> Any:
        return self.torch.as_tensor(np.asarray(to_numpy(y), dtype=np.int64), device=self.device)

    def _lif(self, h: Any, l: int) -> Any:
        """Spikes (T, B, N) of hidden layer ``l`` driven by the feed-forward current h
        (T, B, N); V[0] = 0; a recurrent layer adds S[t] @ R to step t's current."""
        alpha, theta, r = self.alphas[l - 1], self.net.threshold, self.params.get(f"R{l}")
        v = self.torch.zeros_like(h[0])
        out = []
        for h_t in h.unbind(0):
            s = self.spike(v)
            out.append(s)
            v = alpha * v + (h_t if r is None else h_t + s @ r) - theta * s.detach()
        return self.torch.stack(out)

    def _cuba(self, h: Any, l: int) -> Any:
        """Spikes (T, B, N) of a CuBa layer (ALGORITHM.md §8): I[t+1] = alpha_syn I[t] + h[t],
        V[t+1] = alpha V[t] + I[t] - theta S[t] (reset detached); a recurrent layer adds
        S[t] @ R to h[t]."""
        alpha, theta, r = self.alphas[l - 1], self.net.threshold, self.params.get(f"R{l}")
        alpha_syn = self.kinds[l - 1][1]["alpha_syn"]
        v = self.torch.zeros_like(h[0])
        i = self.torch.zeros_like(h[0])
        out = []
        for h_t in h.unbind(0):
            s = self.spike(v)
            out.append(s)
            v = alpha * v + i - theta * s.detach()
            i = alpha_syn * i + (h_t if r is None else h_t + s @ r)
        return self.torch.stack(out)

    def _alif(self, h: Any, l: int) -> Any:
        """Spikes (T, B, N) of an ALIF layer (ALGORITHM.md §8): A[t] = theta + beta_a a[t],
        S[t] = V[t] > A[t] with the band surrogate on V[t] - A[t], V[t+1] = alpha V[t] + h[t]
        - A[t] S[t] (the reset detached, A included), a[t+1] = rho a[t] + (1 - rho) S[t] (not
        detached: the gradient flows through a into later thresholds)."""
        alpha, theta, r = self.alphas[l - 1], self.net.threshold, self.params.get(f"R{l}")
        c = self.kinds[l - 1][1]
        rho, beta_a = c["alpha_adapt"], c["beta_adapt"]
        v = self.torch.zeros_like(h[0])
        a = self.torch.zeros_like(h[0])
        out = []
        for h_t in h.unbind(0):
            thr = theta + beta_a * a
            s = self.spike0(v - thr)
            out.append(s)
            v = alpha * v + (h_t if r is None else h_t + s @ r) - (thr * s).detach()
            a = rho * a + (1 - rho) * s
        return self.torch.stack(out)

    def _hidden(self, h: Any, l: int) -> Any:
        """Spikes (T, B, N) of hidden layer ``l`` of its kind, from the feed-forward current."""
        kind = self.kinds[l - 1][0]
        return {"lif": self._lif, "cuba": self._cuba, "alif": self._alif}[kind](h, l)

    def loss(self, x: Any, y: Any) -> Any:
        """Cross-entropy (+ regulariser) of the network on time-major input ``x``."""
        torch, net = self.torch, self.net
        inp, reg_total = x, 0.0
        for l in range(1, net.n_hidden + 1):
            inp = self._hidden(inp @ self.params[f"W{l}"], l)
            if net.reg is not None:
                r, c = net.reg, inp.sum(0)  # spike counts (B, N)
                n = c.shape[1]
                up = r.lambda_up * torch.clamp(c.sum(1) / n - r.f_up, min=0) ** r.p_up
                low = r.lambda_low / n * (torch.clamp(r.f_low - c, min=0) ** 2).sum(1)
                reg_total = reg_total + (up + low).mean()
        hr = inp @ self.params["W_out"]
        ar = net.alpha_out
        u = torch.zeros_like(hr[0])
        us = [u]
        for hr_t in hr[:-1].unbind(0):
            u = ar * u + (1 - ar) * hr_t
            us.append(u)
        U = torch.stack(us)
        m = {"max": lambda: U.max(0).values, "sum": lambda: U.sum(0), "last": lambda: U[-1]}[
            net.readout
        ]()
        return torch.nn.functional.cross_entropy(m, y) + reg_total

    def reset(self) -> None:
        """Parameters back to ``net``'s values, and a fresh optimiser."""
        with self.torch.no_grad():
            for k, p in self.params.items():
                p.copy_(self.torch.as_tensor(self.init[k]))
        self.opt = self.torch.optim.Adam(list(self.params.values()), lr=self.lr)

    def grads(
        self, x: Any, y: Any, loss: Callable[[Any, Any], Any] | None = None
    ) -> dict[str, np.ndarray]:
        """Gradients of every parameter on the host (no update), of ``loss`` (default
        :meth:`loss`)."""
        for p in self.params.values():
            p.grad = None
        (loss or self.loss)(x, y).backward()
        return {k: p.grad.detach().cpu().numpy().copy() for k, p in self.params.items()}

    def retained_bytes(self, x: Any, y: Any) -> int:
        """Bytes autograd keeps from the forward for the backward (saved tensors, each storage
        counted once, parameters excluded)."""
        torch = self.torch
        skip = {p.data_ptr() for p in self.params.values()}
        seen: dict[int, int] = {}

        def pack(t: Any) -> Any:
            st = t.untyped_storage()
            if st.data_ptr() not in skip:
                seen[st.data_ptr()] = st.nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = self.loss(x, y)
        del loss
        return sum(seen.values())


def _step(bl: TorchBPTT, loss_fn: Callable[[Any, Any], Any], xd: Any, yd: Any) -> None:
    """One training step: zero the gradients, loss, backward, Adam."""
    bl.opt.zero_grad()
    loss_fn(xd, yd).backward()
    bl.opt.step()


def time_loss(
    bl: TorchBPTT,
    loss_fn: Callable[[Any, Any], Any],
    xd: Any,
    yd: Any,
    clock: Any,
    warmup: int,
    repeats: int,
    peak: bool = False,
) -> dict[str, Any]:
    """Medians of forward (``loss_fn``), backward and whole step (with ``bl.opt``) of a torch
    model; with ``peak`` also the host RSS growth of one more step (:func:`.timing.peak_rss`).

    Returns forward_s, backward_s, step_s, peak_bytes (None without ``peak``).
    """
    fwd, bwd, step = [], [], []
    for i in range(warmup + repeats):
        t0 = clock.mark()
        bl.opt.zero_grad()
        loss = loss_fn(xd, yd)
        t1 = clock.mark()
        loss.backward()
        t2 = clock.mark()
        bl.opt.step()
        t3 = clock.mark()
        if i >= warmup:
            fwd.append((t0, t1))
            bwd.append((t1, t2))
            step.append((t0, t3))
    del loss
    return {
        "forward_s": statistics.median(clock.elapsed(*p) for p in fwd),
        "backward_s": statistics.median(clock.elapsed(*p) for p in bwd),
        "step_s": statistics.median(clock.elapsed(*p) for p in step),
        "peak_bytes": peak_rss(lambda: _step(bl, loss_fn, xd, yd))[0] if peak else None,
    }


def compile_loss(
    bl: TorchBPTT, xd: Any, yd: Any, ref: dict[str, np.ndarray], mode: str | None = None
) -> tuple[Callable[[Any, Any], Any] | None, str, float, dict[str, np.ndarray]]:
    """``torch.compile(bl.loss)``, compiled by warm-up calls and checked: its gradients must match
    ``ref`` (the eager gradients) to the dtype's tolerance (float32 1e-4, float64 1e-9, relative
    to the largest entry). Returns (compiled loss or None, why not or "", compile seconds, its
    gradients). Leaves ``bl``'s parameters updated once (call ``bl.reset()``)."""
    torch = bl.torch
    tol = 1e-9 if bl.dtype == torch.float64 else 1e-4
    t0 = time.perf_counter()
    try:
        fn = torch.compile(bl.loss, mode=mode)
        grads = bl.grads(xd, yd, fn)
        _step(bl, fn, xd, yd)  # the backward and optimiser paths compiled too
        seconds = time.perf_counter() - t0
    except Exception as e:  # no C++ compiler, a dynamo or inductor error: the eager baseline
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return None, f"torch.compile failed ({type(e).__name__}: {first[:120]})", 0.0, {}
    err = max(
        float(np.abs(grads[k] - ref[k]).max() / max(np.abs(ref[k]).max(), 1e-30)) for k in ref
    )
    if not err <= tol:
        return None, f"torch.compile gradients differ from eager (rel. err {err:.1e})", seconds, {}
    return fn, "", seconds, grads


# torch.compile unrolls the time loops into one graph whose compile time grows with T: on a
# 2-core VM (torch 2.13, mode "default") T = 100 (F-MNIST-like) compiled in ~2.5 min and ran
# ~1.7x faster than eager; T = 500 (SHD-like) compiled in ~25 min and ran ~1.5x slower.
COMPILE_MAX_STEPS = 200


def time_step(
    net: Network,
    x: SpikeEvents,
    y: Any,
    warmup: int = 1,
    repeats: int = 5,
    compile: bool = False,
    compile_mode: str | None = None,
    model: type[TorchBPTT] = TorchBPTT,
    compile_max_steps: int | None = None,
) -> dict[str, Any]:
    """Validate and time a torch model of ``net`` (default: the baseline) on ``net``'s device
    (CUDA when the network is on CuPy).

    The input is prepared on the device once, outside the timed steps (``prepare_s``: its own
    median). On the CPU, with ``compile``, the eager loss and ``torch.compile(loss)`` (compiled
    and checked before any timing, :func:`compile_loss`) are both timed and the faster one is
    reported (``variant``, ``variant_note`` say which and why, "" if not compiled; eager if
    compiling fails, or if T > ``compile_max_steps``).
    Returns forward_s, backward_s, step_s (medians; CUDA events on the GPU), prepare_s,
    retained_bytes, peak_bytes (GPU: torch's allocator; CPU: host RSS growth; one step),
    grads (host arrays, before any update), device, variant, variant_note,
    eager_step_s, compiled_step_s (None if not compiled), compile_s.
    """
    import torch

    cuda = net.backend.name == "cupy"
    device = "cuda" if cuda else "cpu"
    bl = model(net, device)
    sync = torch.cuda.synchronize if cuda else None
    prepare_s = median_time(lambda: bl.prepare(x), WallClock(sync), 1, repeats)
    xd, yd = bl.prepare(x), bl.labels(y)
    grads = bl.grads(xd, yd)
    kept = bl.retained_bytes(xd, yd)
    clock = TorchCudaClock() if cuda else WallClock()
    compiled, why, compile_s, cgrads = None, "", 0.0, {}
    T = x.shape[1]
    if compile and not cuda and compile_max_steps is not None and T > compile_max_steps:
        why = (
            f"torch.compile not tried: T = {T} > {compile_max_steps}, its unrolled graph "
            "compiles for tens of minutes and ran slower than eager"
        )
    elif compile and not cuda:
        compiled, why, compile_s, cgrads = compile_loss(bl, xd, yd, grads, compile_mode)
    bl.reset()
    eager = time_loss(bl, bl.loss, xd, yd, clock, warmup, repeats, peak=not cuda)
    best, variant, note = eager, "eager", f"eager ({why})" if why else ""
    comp = None
    if compiled is not None:
        bl.reset()
        comp = time_loss(bl, compiled, xd, yd, clock, warmup, repeats, peak=True)
        faster = comp["step_s"] < eager["step_s"]
        variant = "torch.compile" if faster else "eager"
        best = comp if faster else eager
        grads = cgrads if faster else grads
        note = (
            f"{variant}: step {best['step_s'] * 1e3:.1f} ms; "
            f"{'eager' if faster else 'torch.compile'} "
            f"{(eager if faster else comp)['step_s'] * 1e3:.1f} ms; compiled in {compile_s:.0f} s"
        )
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        _step(bl, bl.loss, xd, yd)
        torch.cuda.synchronize()
        best["peak_bytes"] = int(torch.cuda.max_memory_allocated())
    return {
        **best,
        "prepare_s": prepare_s,
        "retained_bytes": kept,
        "grads": grads,
        "device": device,
        "variant": variant,
        "variant_note": note,
        "eager_step_s": eager["step_s"],
        "compiled_step_s": comp["step_s"] if comp else None,
        "compile_s": compile_s,
    }
