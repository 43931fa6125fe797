"""Where a training step's time goes, op by op: ``python tools/step_parts.py --case fmnist``.

The bench case's network (calibrated as ``spikegrad bench`` does) runs ``loss_and_grad`` in
the chosen mode ``--steps`` times after ``--warmup`` untimed steps; every op reached through
the backend registry (``spikegrad.backend.call``: the fused kernels, the readout's scans, the
spike products, ...) is timed where it is called from outside another op, and the rest of the
step (Python and NumPy between the ops) is reported beside them. Milliseconds per step, wall
clock, on the host backend. ``--silent``: the same network on an input without spikes, so the
fused kernels do only the neuron updates (every neuron, every step, every sample) and no row
sums, dW updates or key lists: the floor of a step whatever the spikes.
"""

from __future__ import annotations

import argparse
import contextlib
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from spikegrad import backend, native
from spikegrad.bench import machine
from spikegrad.bench.cases import CASES, Case, build_network, calibrate, make_inputs
from spikegrad.spikes import as_spike_matrix, spike_matrix_from_keys


@contextlib.contextmanager
def timed_ops(acc: dict[str, float]) -> Iterator[None]:
    """Add each outermost op call's seconds to ``acc[op]`` while the block runs."""
    real, depth = backend.lookup, [0]

    def lookup(op: str, name: str) -> Callable[..., Any]:
        fn = real(op, name)

        def run(*args: Any, **kwargs: Any) -> Any:
            if depth[0]:
                return fn(*args, **kwargs)
            depth[0] += 1
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                acc[op] += time.perf_counter() - t0
                depth[0] -= 1

        return run

    backend.lookup = lookup
    try:
        yield
    finally:
        backend.lookup = real


def step_parts(
    case: Case, steps: int, warmup: int, mode: str, silent: bool = False
) -> dict[str, float]:
    """Seconds per step of each op and ``"(outside the ops)"``, and ``"step"`` in all;
    ``silent``: on an input without spikes (the weights calibrated on the case's input)."""
    x, y = make_inputs(case)
    net = build_network(case, "numpy")
    calibrate(net, x, y, case.target_active, r_gain=case.r_gain)
    xm = as_spike_matrix(net.backend.xp, x, case.sizes[0])
    if silent:
        xm = spike_matrix_from_keys(np, np.zeros(0, np.int64), xm.T, xm.B, xm.N)
    acc: dict[str, float] = defaultdict(float)
    with warnings.catch_warnings(), timed_ops(acc):
        if silent:  # no active neuron anywhere: said once per layer and step, known here
            warnings.simplefilter("ignore", RuntimeWarning)
        for _ in range(warmup):
            net.loss_and_grad(xm, y, mode=mode)
        acc.clear()
        t0 = time.perf_counter()
        for _ in range(steps):
            net.loss_and_grad(xm, y, mode=mode)
        total = time.perf_counter() - t0
    parts = {op: s / steps for op, s in sorted(acc.items(), key=lambda kv: -kv[1])}
    parts["(outside the ops)"] = (total - sum(acc.values())) / steps
    parts["step"] = total / steps
    return parts


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=sorted(CASES), default="fmnist")
    ap.add_argument("--mode", choices=("sparse", "dense"), default="sparse")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--silent", action="store_true", help="an input without spikes")
    ap.add_argument("--threads", type=int, default=None, help="native threads (default: all)")
    a = ap.parse_args(argv)
    native.set_threads(a.threads)
    parts = step_parts(CASES[a.case], a.steps, a.warmup, a.mode, a.silent)
    print("\n".join(machine.header()))
    what = f"{a.case} {a.mode} loss_and_grad{' (silent input)' if a.silent else ''}"
    print(f"{what}, {native.describe(path=False)}, {a.steps} steps")
    step = parts.pop("step")
    for op, s in parts.items():
        print(f"  {op:<32} {1e3 * s:8.2f} ms  {100 * s / step:5.1f} %")
    print(f"  {'step':<32} {1e3 * step:8.2f} ms")


if __name__ == "__main__":
    main()
