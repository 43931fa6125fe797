"""The peer baseline: a PyTorch dense-BPTT step of the same network (benchmark only).

The paper's speedups were measured against exactly this: an autograd loop over time with a
surrogate spike function and a detached reset. torch is an optional extra (``bench``), never
an engine dependency; this module imports it only when called.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from .backend import to_numpy
from .network import Network
from .spikes import SpikeEvents


def time_step(net: Network, x: SpikeEvents, y: np.ndarray, repeats: int = 5) -> dict[str, Any]:
    """Median backward and whole-step (forward, backward, Adam) seconds, and the gradients."""
    import torch

    dt = torch.float64 if net.dtype == np.float64 else torch.float32
    dev = "cuda" if net.backend.name == "cupy" else "cpu"
    theta, beta_s, b_th = net.threshold, net.beta_s, net.b_th

    class Spike(torch.autograd.Function):
        @staticmethod
        def forward(ctx, v):
            ctx.save_for_backward(v)
            return (v > theta).to(v.dtype)

        @staticmethod
        def backward(ctx, g):
            (v,) = ctx.saved_tensors
            d = (v - theta).abs()
            return g * torch.where(d < b_th, 1.0 / (beta_s * d + 1.0) ** 2, torch.zeros_like(d))

    params = {
        k: torch.tensor(to_numpy(v), dtype=dt, device=dev, requires_grad=True)
        for k, v in net.params.items()
    }
    xd = torch.tensor(x.to_dense(np.float32), dtype=dt, device=dev)
    yt = torch.tensor(np.asarray(y), device=dev)
    reg = net.reg

    def loss_fn() -> torch.Tensor:
        inp, total = xd, 0.0
        for l in range(1, net.n_hidden + 1):
            h = inp @ params[f"W{l}"]
            v = torch.zeros_like(h[:, 0])
            out = []
            for t in range(h.shape[1]):
                s = Spike.apply(v)
                out.append(s)
                v = net.alpha * v + h[:, t] - theta * s.detach()
            inp = torch.stack(out, 1)
            if reg is not None:
                c = inp.sum(1)
                n = c.shape[1]
                up = reg.lambda_up * torch.clamp(c.sum(1) / n - reg.f_up, min=0) ** reg.p_up
                low = reg.lambda_low / n * (torch.clamp(reg.f_low - c, min=0) ** 2).sum(1)
                total = total + (up + low).mean()
        hr = inp @ params["W_out"]
        u = torch.zeros_like(hr[:, 0])
        us = [u]
        for t in range(hr.shape[1] - 1):
            u = net.alpha_out * u + (1 - net.alpha_out) * hr[:, t]
            us.append(u)
        U = torch.stack(us, 1)
        m = {"max": lambda: U.max(1).values, "sum": lambda: U.sum(1), "last": lambda: U[:, -1]}[
            net.readout
        ]()
        return torch.nn.functional.cross_entropy(m, yt) + total

    opt = torch.optim.Adam(list(params.values()), lr=1e-6)
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    bwd, step = [], []
    for i in range(repeats + 1):  # first round is warm-up
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn()
        sync()
        t1 = time.perf_counter()
        loss.backward()
        sync()
        t2 = time.perf_counter()
        if i == 0:
            grads = {k: p.grad.detach().cpu().numpy().copy() for k, p in params.items()}
            continue
        opt.step()
        sync()
        bwd.append(t2 - t1)
        step.append(time.perf_counter() - t0)
    return {"backward_s": statistics.median(bwd), "step_s": statistics.median(step), "grads": grads}
