"""Dense vs sparse benchmark: ``python -m spikegrad.bench`` (or ``spikegrad bench``).

For each case: build the network with the paper's initialisation, scale each layer's weights
so that its active fraction sits at the paper's level (calibration, printed), **validate**
that sparse and dense gradients agree (and, with ``torch_baseline``, that a PyTorch
dense-BPTT step computes the same gradients), then time ``loss_and_grad`` forward and
backward and the whole step (with Adam) for both modes side by side, and report the bytes
each mode keeps from the forward for the backward. Every figure is a median of ``repeats``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import native
from .backend import to_numpy
from .network import Network
from .optim import Adam
from .spikes import SpikeEvents


@dataclass(frozen=True)
class Case:
    """One benchmark shape with its input statistics and target active fraction."""

    name: str
    sizes: tuple[int, ...]
    B: int
    T: int
    alpha: float
    alpha_out: float
    readout: str
    init: str
    input: str  # "poisson": i.i.d. spikes at `rate`; "latency": <= 1 spike per input
    rate: float
    target_active: tuple[float, ...]  # per hidden layer: the paper's measured fractions


# Active-fraction targets: PAPER.md §4.2, mean over training at N = 200 (SHD 1.72 / 1.08 %,
# F-MNIST 1.06 / 0.87 %) and N = 400 (SHD 1.75 / 0.84 %).
_SHD = dict(alpha=math.exp(-0.2), alpha_out=math.exp(-0.1), readout="sum", init="uniform")
_SHD_IN = dict(input="poisson", rate=0.015)
CASES = {
    "shd": Case("shd", (700, 200, 200, 20), B=64, T=500, **_SHD, **_SHD_IN,
                target_active=(0.0172, 0.0108)),
    "fmnist": Case("fmnist", (784, 200, 200, 10), B=256, T=100, alpha=math.exp(-0.1),
                   alpha_out=math.exp(-0.1), readout="max", init="normal", input="latency",
                   rate=0.5, target_active=(0.0106, 0.0087)),
    "shd-large": Case("shd-large", (700, 400, 400, 20), B=256, T=500, **_SHD, **_SHD_IN,
                      target_active=(0.0175, 0.0084)),
}  # fmt: skip


def make_inputs(case: Case, seed: int = 0) -> tuple[SpikeEvents, np.ndarray]:
    """Random spikes with the case's statistics, as events, and random labels."""
    rng = np.random.default_rng(seed)
    B, T, N = case.B, case.T, case.sizes[0]
    if case.input == "poisson":
        n = rng.binomial(B * T * N, case.rate)
        flat = np.unique(rng.integers(0, B * T * N, n))
        b, rem = np.divmod(flat, T * N)
        t, i = np.divmod(rem, N)
    else:  # latency code: a fraction `rate` of inputs spikes once, at steps 4..T-1
        b, i = np.nonzero(rng.random((B, N)) < case.rate)
        t = rng.integers(min(4, T - 1), T, b.size)
    y = rng.integers(0, case.sizes[-1], B)
    return SpikeEvents(b, t, i, (B, T, N)), y


def calibrate(
    net: Network, x: Any, y: Any, target: tuple[float, ...], iters: int = 14
) -> list[float]:
    """Scale each hidden layer's weights (bisection in log scale, layer by layer) so that its
    active fraction is close to ``target[l]``. Returns the reached fractions."""
    for l, goal in enumerate(target, start=1):
        key = f"W{l}"
        w0 = net.params[key].copy()
        lo, hi = -3.0, 3.0
        for _ in range(iters):
            mid = (lo + hi) / 2
            net.params[key] = w0 * net.dtype.type(math.exp(mid))
            with warnings.catch_warnings():  # silent layers are expected while searching
                warnings.simplefilter("ignore", RuntimeWarning)
                frac = net.loss_and_grad(x, y, mode="sparse")[2]["active_fraction"][l - 1]
            lo, hi = (mid, hi) if frac < goal else (lo, mid)
    return net.loss_and_grad(x, y, mode="sparse")[2]["active_fraction"]


def _median_time(fn, repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _time_mode(net: Network, x: Any, y: Any, mode: str, repeats: int) -> dict[str, float]:
    fwd, bwd, step, kept = [], [], [], 0
    saved = {k: v.copy() for k, v in net.params.items()}
    opt = Adam(net.params, lr=1e-6)
    net.loss_and_grad(x, y, mode=mode)  # warm-up
    for _ in range(repeats):
        t0 = time.perf_counter()
        _, g, st = net.loss_and_grad(x, y, mode=mode, timing=True)
        opt.step(g)
        step.append(time.perf_counter() - t0)
        fwd.append(st["forward_s"])
        bwd.append(st["backward_s"])
        kept = st["retained_bytes"]
    net.params.update(saved)
    return {
        "forward_s": statistics.median(fwd),
        "backward_s": statistics.median(bwd),
        "step_s": statistics.median(step),
        "retained_bytes": kept,
    }


def run_case(
    case: Case, backend: str = "numpy", repeats: int = 5, torch_baseline: bool = True
) -> dict:
    """Calibrate, validate, then time one case. Returns a flat dict of every figure."""
    x, y = make_inputs(case)
    net = Network(
        list(case.sizes),
        alpha=case.alpha,
        alpha_out=case.alpha_out,
        readout=case.readout,
        init=case.init,
        backend=backend,
        seed=0,
    )
    active = calibrate(net, x, y, case.target_active)
    _, gd, sd = net.loss_and_grad(x, y, mode="dense")
    _, gs, _ = net.loss_and_grad(x, y, mode="sparse")
    err = max(_rel(gs[k], gd[k]) for k in gd)
    res: dict[str, Any] = {
        "case": case.name,
        "cpu_ops": native.describe(path=False) if net.backend.name == "numpy" else None,
        "shape": "-".join(map(str, case.sizes)),
        "B": case.B,
        "T": case.T,
        "backend": net.backend.name,
        "dtype": str(net.dtype),
        "active_fraction": active,
        "spike_rate": sd["spike_rate"],
        "input_rate": x.n_events / (case.B * case.T * case.sizes[0]),
        "sparse_vs_dense_rel_err": err,
    }
    for mode in ("dense", "sparse"):
        for k, v in _time_mode(net, x, y, mode, repeats).items():
            res[f"{mode}_{k}"] = v
    res["backward_speedup"] = res["dense_backward_s"] / res["sparse_backward_s"]
    res["step_speedup"] = res["dense_step_s"] / res["sparse_step_s"]
    res["retained_ratio"] = res["sparse_retained_bytes"] / res["dense_retained_bytes"]
    if torch_baseline:
        from . import bench_torch

        tb = bench_torch.time_step(net, x, y, repeats)
        res["torch_rel_err"] = max(_rel(tb["grads"][k], gd[k]) for k in gd)
        res["torch_backward_s"], res["torch_step_s"] = tb["backward_s"], tb["step_s"]
        res["torch_step_vs_sparse_step"] = tb["step_s"] / res["sparse_step_s"]
        res["torch_backward_vs_sparse_backward"] = tb["backward_s"] / res["sparse_backward_s"]
    return res


def _rel(a: Any, b: Any) -> float:
    a, b = to_numpy(a).astype(np.float64), to_numpy(b).astype(np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def run(
    cases: list[str] | None = None,
    backend: str = "numpy",
    repeats: int = 5,
    torch_baseline: bool = True,
) -> list[dict]:
    """Run the named cases (default: shd and fmnist)."""
    return [
        run_case(CASES[c], backend, repeats, torch_baseline) for c in cases or ["shd", "fmnist"]
    ]


def format_table(results: list[dict]) -> str:
    """A plain-text table of the results, one block per case."""
    lines = [f"machine: {platform.processor() or platform.machine()}, {platform.system()}"]
    for r in results:
        act = " / ".join(f"{a:.2%}" for a in r["active_fraction"])
        lines += [
            "",
            f"{r['case']}  {r['shape']}  B={r['B']} T={r['T']}  "
            f"backend={r['backend']} {r['dtype']}",
            *([f"  cpu ops: {r['cpu_ops']}"] if r["cpu_ops"] else []),
            f"  active fraction per layer {act}; input spike rate {r['input_rate']:.2%}; "
            f"sparse vs dense grad rel. err {r['sparse_vs_dense_rel_err']:.1e}",
            f"  {'':10s}{'forward ms':>12s}{'backward ms':>13s}{'step ms':>10s}{'kept MB':>10s}",
        ]
        for m in ("dense", "sparse"):
            lines.append(
                f"  {m:10s}{r[m + '_forward_s'] * 1e3:12.1f}{r[m + '_backward_s'] * 1e3:13.1f}"
                f"{r[m + '_step_s'] * 1e3:10.1f}{r[m + '_retained_bytes'] / 2**20:10.2f}"
            )
        if "torch_step_s" in r:
            lines.append(
                f"  {'torch BPTT':10s}{'':12s}{r['torch_backward_s'] * 1e3:13.1f}"
                f"{r['torch_step_s'] * 1e3:10.1f}"
                f"   (grad rel. err vs dense {r['torch_rel_err']:.1e})"
            )
        lines.append(
            f"  ratios: backward dense/sparse {r['backward_speedup']:.1f}x, step dense/sparse "
            f"{r['step_speedup']:.1f}x, kept sparse/dense {r['retained_ratio']:.1%}"
            + (
                f", torch step/sparse step {r['torch_step_vs_sparse_step']:.1f}x, torch backward/"
                f"sparse backward {r['torch_backward_vs_sparse_backward']:.1f}x"
                if "torch_step_s" in r
                else ""
            )
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: ``python -m spikegrad.bench [--case NAME ...] [--json]``."""
    ap = argparse.ArgumentParser(
        prog="python -m spikegrad.bench", description=__doc__.split("\n")[0]
    )
    ap.add_argument(
        "--case", action="append", choices=sorted(CASES), help="repeatable; default shd, fmnist"
    )
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy", "auto"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch dense-BPTT baseline")
    ap.add_argument("--json", action="store_true", help="print one JSON object per case")
    a = ap.parse_args(argv)
    res = run(a.case, a.backend, a.repeats, not a.no_torch)
    if a.json:
        for r in res:
            print(json.dumps(r))
    else:
        print(format_table(res))


if __name__ == "__main__":
    main()
