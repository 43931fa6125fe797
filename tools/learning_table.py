"""Neuron kinds and recurrence at equal parameter count: train each, print one table.

For each task and neuron kind (LIF, CuBa, ALIF at their kinds' default constants), one
recurrent hidden layer of N neurons (W: N0 x N, R: N x N, W_out: N x K) against one
feed-forward hidden layer of H neurons, H chosen so that N0 H + H K is the closest to
N0 N + N N + N K (the table prints both counts). The kinds add no trained parameter, so all
six models of a task have the same count. Same data, epochs, seeds and every other setting.
Runs on the CPU (NumPy backend, native kernels where built) and writes nothing.

Settings per task, over its preset: "synthetic" is the built-in task as preset; "nmnist" (the
paper preset: T 300 at 1 ms, 1156 inputs) uses batch 64, lr 2e-3 with a cosine schedule and
keeps the last incomplete batch, since the 1,000-recording subset makes only 3 full batches of
the paper's 256 per epoch; "fsdd" is its paper preset (SHD's settings at a 4 ms step, batch
64) with tau_mem 50 ms, lr 1.5e-3 cosine and 80 epochs: the FSDD recipe of LIF layers from
before the neuron kinds (docs/audio.md, run I), so the kinds meet on its ground.

    python tools/learning_table.py --task fsdd nmnist --data-dir DATA --seeds 0 1 2 --jobs 2
    python tools/learning_table.py --task synthetic --epochs 10 --neuron lif
    python tools/learning_table.py --task nmnist --data-dir DATA --json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from spikegrad.bench import machine
from spikegrad.neurons import KINDS
from spikegrad.train.build import load_data
from spikegrad.train.config import TrainConfig, layer_sizes, preset
from spikegrad.train.run import fit

# over the task's paper preset (see the module docstring)
TASK_SETTINGS: dict[str, dict[str, Any]] = {
    "synthetic": {},
    "nmnist": {"batch_size": 64, "lr": 2e-3, "lr_schedule": "cosine", "drop_last": False},
    "fsdd": {"tau_mem": 50e-3, "lr": 1.5e-3, "lr_schedule": "cosine", "epochs": 80},
}
# the recurrent width N per task (FSDD: 700-200r-10 against 700-256-10)
WIDTH = {"synthetic": 128, "nmnist": 128, "fsdd": 200}


def ff_width(n_in: int, n: int, k: int) -> int:
    """The feed-forward hidden width whose parameter count is the closest to that of a
    recurrent layer of ``n`` neurons: argmin_H |(n_in + k) H - (n_in n + n n + n k)|."""
    return max(1, round((n_in * n + n * n + n * k) / (n_in + k)))


def configs(
    task: str, n: int, seed: int, neuron: str = "lif", **changes: Any
) -> list[tuple[str, TrainConfig]]:
    """The pair (recurrent N, feed-forward of equal parameter count) of ``neuron``."""
    base = preset(task, "paper").replace(
        **TASK_SETTINGS[task], seed=seed, backend="numpy", neuron=neuron, **changes
    )
    train, _ = load_data(base)
    h = ff_width(train.n_inputs, n, train.n_classes)
    return [
        ("recurrent", base.replace(hidden=(n,), recurrent=True)),
        ("feed-forward", base.replace(hidden=(h,), recurrent=False)),
    ]


def n_params(n_in: int, hidden: int, k: int, recurrent: bool) -> int:
    """Weights of one hidden layer network: W (n_in, hidden), R (hidden, hidden), W_out."""
    return n_in * hidden + recurrent * hidden * hidden + hidden * k


def run(model: str, config: TrainConfig) -> dict[str, Any]:
    """Train ``config`` (no run folder); the best and last validation accuracy, wall time."""
    train, _ = load_data(config)
    n_in, k, (n,) = train.n_inputs, train.n_classes, config.hidden
    t0 = time.perf_counter()
    res = fit(config, None, log=lambda s: None, note=lambda s: None)
    wall = time.perf_counter() - t0
    return {
        "task": config.dataset,
        "neuron": config.neuron_layers[0],
        "model": model,
        "layers": f"{n_in}-{layer_sizes(config.hidden, config.recurrent_layers)}-{k}",
        "params": n_params(n_in, n, k, config.recurrent_layers[0]),
        "seed": config.seed,
        "epochs": config.epochs,
        "best_val": res.best["score"],
        "best_epoch": res.best["epoch"],
        "last_val": res.history[-1].get("val_accuracy"),
        "wall_s": wall,
    }


def summary(rows: list[dict[str, Any]]) -> list[str]:
    """A Markdown table: per task, kind and model the mean best validation accuracy over the
    seeds with its range, and the seconds per run."""
    out = ["| task | neuron | model | layers | params | best val, mean (range) | s/run |"]
    out.append("|---|---|---|---|---|---|---|")
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["task"], r["neuron"], r["model"]), []).append(r)
    for (task, kind, model), g in groups.items():
        acc = [r["best_val"] for r in g]
        wall = statistics.mean(r["wall_s"] for r in g)
        spread = f"{min(acc):.2%}-{max(acc):.2%}"
        out.append(
            f"| {task} | {kind} | {model} | {g[0]['layers']} | {g[0]['params']:,} | "
            f"{statistics.mean(acc):.2%} ({spread}, {len(g)} seeds) | {wall:.0f} |"
        )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", choices=sorted(TASK_SETTINGS), nargs="+", default=["synthetic"])
    p.add_argument("--data-dir", default="", help="data root (N-MNIST, FSDD)")
    p.add_argument("--neuron", choices=sorted(KINDS), nargs="+", default=["lif", "cuba", "alif"])
    p.add_argument("--hidden", type=int, default=0, help="recurrent width N (0: per task)")
    p.add_argument("--epochs", type=int, default=0, help="0: the task's")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--limit", type=int, default=0, help="training samples (0: all)")
    p.add_argument("--grad", choices=("sparse", "dense"), default="sparse")
    p.add_argument("--jobs", type=int, default=1, help="runs at once, one thread each")
    p.add_argument("--json", action="store_true", help="one JSON line per run instead")
    a = p.parse_args()
    if a.jobs > 1:
        os.environ["SPIKEGRAD_THREADS"] = "1"  # read by each worker's native library
    changes = {"limit": a.limit, "grad": a.grad, "data_dir": a.data_dir}
    changes.update({"epochs": a.epochs} if a.epochs else {})
    jobs = [
        job
        for task in a.task
        for seed in a.seeds
        for kind in a.neuron
        for job in configs(task, a.hidden or WIDTH[task], seed, kind, **changes)
    ]
    if not a.json:
        print("\n".join(machine.header()))
        print(
            f"{'task':9s} {'neuron':6s} {'model':12s} {'layers':16s} {'params':>7s} {'seed':>4s} "
            f"{'best val':>8s} {'(ep)':>4s} {'last val':>8s} {'wall s':>7s}"
        )
    rows = []
    with contextlib.ExitStack() as stack:
        mapper = map
        if a.jobs > 1:  # spawn: no fork of a process with OpenMP threads
            spawn = multiprocessing.get_context("spawn")
            mapper = stack.enter_context(ProcessPoolExecutor(a.jobs, spawn)).map
        for r in mapper(run, *zip(*jobs, strict=True)):
            rows.append(r)
            if a.json:
                print(json.dumps(r), flush=True)
                continue
            print(
                f"{r['task']:9s} {r['neuron']:6s} {r['model']:12s} {r['layers']:16s} "
                f"{r['params']:7d} {r['seed']:4d} {r['best_val']:8.2%} {r['best_epoch']:4d} "
                f"{r['last_val']:8.2%} {r['wall_s']:7.1f}",
                flush=True,
            )
    if not a.json:
        print("\n".join(["", *summary(rows)]))


if __name__ == "__main__":
    main()
