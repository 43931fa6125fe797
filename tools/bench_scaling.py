"""How the sparse step grows with the hidden width N at the paper's activity.

For each N: a 700-N-N-20 network on the SHD-like case's inputs (B 64, T 500), each hidden
layer's weights scaled until its active fraction matches the case's targets, then the median
forward, backward and whole ``loss_and_grad`` time of the sparse mode over --repeats calls.
The work of the backward's sampled products (dW from the layer's input spikes, dL/dx at the
previous layer's active entries) is input spikes x N and active entries x N: with active
entries proportional to N the second hidden layer's part grows as N^2, the rest as N. The
last column is the growth exponent between successive widths.

Usage: python tools/bench_scaling.py [--widths 100 200 400 800] [--repeats 9]
"""

from __future__ import annotations

import argparse
import dataclasses
import math

from spikegrad import native
from spikegrad.bench import machine
from spikegrad.bench.cases import CASES, build_network, calibrate, make_inputs
from spikegrad.bench.timing import WallClock, time_mode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--widths", type=int, nargs="+", default=[100, 200, 400, 800])
    ap.add_argument("--repeats", type=int, default=9)
    a = ap.parse_args()
    base = CASES["shd"]
    print("\n".join(machine.header()))
    print(f"cpu ops: {native.describe(path=False)}")
    print(f"{'N':>5s} {'active %':>13s} {'forward ms':>11s} {'backward ms':>12s} {'exp.':>5s}")
    prev = None
    for n in a.widths:
        case = dataclasses.replace(base, sizes=(base.sizes[0], n, n, base.sizes[-1]))
        x, y = make_inputs(case)
        net = build_network(case)
        act = calibrate(net, x, y, case.target_active, r_gain=case.r_gain)
        t = time_mode(net, x, y, "sparse", WallClock(), 1, a.repeats)
        bwd = t["backward_s"]
        grow = "" if prev is None else f"{math.log(bwd / prev[1]) / math.log(n / prev[0]):5.2f}"
        frac = " / ".join(f"{v:.2%}" for v in act)
        print(f"{n:5d} {frac:>13s} {t['forward_s'] * 1e3:11.1f} {bwd * 1e3:12.1f} {grow}")
        prev = (n, bwd)


if __name__ == "__main__":
    main()
