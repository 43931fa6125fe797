"""Training speed on SHD-shaped synthetic data: ``python tools/train_speed.py``.

An :class:`~spikegrad.datasets.base.EventDataset` is built in memory from the ``shd-large``
case (700 inputs, T = 500, 20 classes, Poisson spikes at SHD's 1.5 % input rate, random
labels; ``--pool`` distinct batches, reshuffled every epoch), the 700-400-400-20 network's
weights are scaled to the paper's activity on its first batch (as the benchmark does), then
``spikegrad.train.train_epoch`` (the trainer's own batching, ``loss_and_grad`` and Adam) runs
``--warmup`` updates untimed and ``--steps`` timed updates, wall clock until the device has
finished. Reported: updates per second, and the projected time of a 200-epoch SHD run at
B = 256 (200 x floor(8,156 / 256) = 6,200 updates; data loading from disk not included).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
import warnings
from typing import Any

import numpy as np

from spikegrad.bench import machine
from spikegrad.bench.cases import CASES, Case, build_network, calibrate, case_fields, make_inputs
from spikegrad.bench.timing import device_sync
from spikegrad.datasets.base import EventDataset
from spikegrad.network import Network
from spikegrad.optim import Adam
from spikegrad.train.loop import train_epoch

SHD_TRAIN_SAMPLES = 8156
PAPER_EPOCHS = 200


def paper_updates(batch_size: int) -> int:
    """Updates of a 200-epoch run over SHD's training set (last partial batch dropped)."""
    return PAPER_EPOCHS * (SHD_TRAIN_SAMPLES // batch_size)


def synthetic_dataset(case: Case, n_batches: int, seed: int = 0) -> EventDataset:
    """``n_batches * case.B`` samples with the case's input statistics, events of each sample
    in (t, i) order. Shapes: T = case.T, n_inputs = case.sizes[0], n_classes = case.sizes[-1]."""
    x, y = make_inputs(dataclasses.replace(case, B=case.B * n_batches), seed)
    order = np.lexsort((x.i, x.t, x.b))
    b, t, i = x.b[order], x.t[order], x.i[order]
    n = len(y)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(b, minlength=n), out=offsets[1:])
    return EventDataset(
        t=t, i=i, offsets=offsets, labels=y, T=case.T, n_inputs=case.sizes[0],
        n_classes=case.sizes[-1], name=f"synthetic-{case.name}",
    )  # fmt: skip


class _Done(Exception):
    """Raised from ``on_batch`` once enough updates ran."""


def _updates(net: Network, opt: Adam, data: EventDataset, B: int, n: int, mode: str) -> None:
    """Run exactly ``n`` updates of ``train_epoch`` over as many epochs as needed."""
    epoch, done = 0, 0

    def stop(_: int, __: float) -> None:
        nonlocal done
        done += 1
        if done == n:
            raise _Done

    while n > 0:
        try:
            train_epoch(net, opt, data, B, mode, seed=0, epoch=epoch, on_batch=stop)
        except _Done:
            return
        epoch += 1


def run(
    case: Case,
    steps: int = 50,
    warmup: int = 3,
    pool: int = 4,
    backend: str = "auto",
    mode: str = "sparse",
    lr: float = 1e-3,
) -> dict[str, Any]:
    """Time ``steps`` training updates (after ``warmup``); returns the figures as a dict."""
    t0 = time.perf_counter()
    data = synthetic_dataset(case, pool)
    net = build_network(case, backend)
    x, y = data.batch(np.arange(case.B))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        active = calibrate(net, x, y, case.target_active, r_gain=case.r_gain)
    setup_s = time.perf_counter() - t0
    opt = Adam(net.params, lr=lr)
    sync = device_sync(net) or (lambda: None)
    _updates(net, opt, data, case.B, warmup, mode)
    sync()
    t1 = time.perf_counter()
    _updates(net, opt, data, case.B, steps, mode)
    sync()
    wall = time.perf_counter() - t1
    rate = steps / wall
    return {
        **case_fields(case, net),
        "mode": mode,
        "events_per_batch": data.n_events / pool,
        "calibrated_active_fraction": active,
        "setup_s": setup_s,
        "warmup": warmup,
        "steps": steps,
        "updates": opt.step_count,  # warm-up included
        "seconds": wall,
        "steps_per_s": rate,
        "paper_updates": paper_updates(case.B),
        "projected_s": paper_updates(case.B) / rate,
    }


def format_result(r: dict[str, Any]) -> str:
    """Two lines: what ran, and the speed with the projection."""
    act = " / ".join(f"{a:.2%}" for a in r["calibrated_active_fraction"])
    return (
        f"train_speed {r['case']}  {r['shape']}  B={r['B']} T={r['T']}  "
        f"backend={r['backend']} {r['dtype']} {r['mode']}; {r['events_per_batch']:.0f} input "
        f"events per batch; calibrated active fraction {act}\n"
        f"  {r['steps']} updates in {r['seconds']:.2f} s (after {r['warmup']} untimed): "
        f"{r['steps_per_s']:.2f} steps/s; projected {r['paper_updates']} updates "
        f"(200 SHD epochs at B={r['B']}): {r['projected_s'] / 60:.1f} min"
    )


def main(argv: list[str] | None = None) -> None:
    """Command-line entry (``--help`` lists the options)."""
    ap = argparse.ArgumentParser(
        prog="python tools/train_speed.py", description=(__doc__ or "").split("\n")[0]
    )
    ap.add_argument("--steps", type=int, default=50, help="timed updates (default 50)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed updates first (default 3)")
    ap.add_argument("--pool", type=int, default=4, help="distinct batches in the data set")
    ap.add_argument("--backend", default="auto", choices=["numpy", "cupy", "auto"])
    ap.add_argument("--mode", default="sparse", choices=["sparse", "dense"])
    ap.add_argument("--batch-size", type=int, help="default: the case's (256)")
    ap.add_argument("--T", type=int, help="time steps (default: the case's, 500)")
    ap.add_argument(
        "--sizes", type=int, nargs="+", help="layer sizes (default 700 400 400 20; small: tests)"
    )
    ap.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    a = ap.parse_args(argv)
    case = CASES["shd-large"]
    if a.sizes and len(a.sizes) != len(case.sizes):
        ap.error(f"--sizes needs {len(case.sizes)} numbers (inputs, two hidden layers, classes)")
    case = dataclasses.replace(
        case,
        B=a.batch_size or case.B,
        T=a.T or case.T,
        sizes=tuple(a.sizes) if a.sizes else case.sizes,
    )
    r = run(case, a.steps, a.warmup, a.pool, a.backend, a.mode)
    print("\n".join(machine.header()))
    print(format_result(r))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=1)


if __name__ == "__main__":
    main()
