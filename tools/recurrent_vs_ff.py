"""Recurrent against feed-forward at equal parameter count: train both, print a table.

For each task, one recurrent hidden layer of N neurons (W: N0 x N, R: N x N, W_out: N x K)
against one feed-forward hidden layer of H neurons, H chosen so that N0 H + H K is the
closest to N0 N + N N + N K (the table prints both counts). Same data, epochs, seeds and
every other setting. Runs on the CPU (NumPy backend) and writes nothing.

Settings per task, over its preset: "synthetic" is the built-in task as preset; "nmnist"
(the paper preset: T 300 at 1 ms, 1156 inputs) uses batch 64, lr 2e-3 and keeps the last
incomplete batch, since the 1,000-recording subset makes only 3 full batches of the paper's
256 per epoch.

    python tools/recurrent_vs_ff.py --task synthetic --epochs 10
    python tools/recurrent_vs_ff.py --task nmnist --data-dir PATH --epochs 5 --hidden 64
    python tools/recurrent_vs_ff.py --task synthetic --seeds 0 1 2 --json
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from spikegrad.bench import machine
from spikegrad.train.build import load_data
from spikegrad.train.config import TrainConfig, layer_sizes, preset
from spikegrad.train.run import fit

# over the task's preset (see the module docstring)
TASK_SETTINGS: dict[str, dict[str, Any]] = {
    "synthetic": {},
    "nmnist": {"batch_size": 64, "lr": 2e-3, "drop_last": False},
}


def ff_width(n_in: int, n: int, k: int) -> int:
    """The feed-forward hidden width whose parameter count is the closest to that of a
    recurrent layer of ``n`` neurons: argmin_H |(n_in + k) H - (n_in n + n n + n k)|."""
    return max(1, round((n_in * n + n * n + n * k) / (n_in + k)))


def configs(task: str, n: int, seed: int, **changes: Any) -> list[tuple[str, TrainConfig]]:
    """The pair (recurrent N, feed-forward of equal parameter count) for ``task``."""
    base = preset(task).replace(**TASK_SETTINGS[task], seed=seed, backend="numpy", **changes)
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", choices=sorted(TASK_SETTINGS), nargs="+", default=["synthetic"])
    p.add_argument("--data-dir", default="", help="data root (N-MNIST)")
    p.add_argument("--hidden", type=int, default=128, help="recurrent layer width N")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--limit", type=int, default=0, help="training samples (0: all)")
    p.add_argument("--grad", choices=("sparse", "dense"), default="sparse")
    p.add_argument("--tau-mem-spread", type=float, default=0.0, help="for both models")
    p.add_argument("--json", action="store_true", help="one JSON line per run instead")
    a = p.parse_args()
    changes = {
        "epochs": a.epochs,
        "limit": a.limit,
        "grad": a.grad,
        "tau_mem_spread": a.tau_mem_spread,
        "data_dir": a.data_dir,
    }
    head = f"{'task':9s} {'model':12s} {'layers':16s} {'params':>7s} {'seed':>4s} "
    head += f"{'best val':>8s} {'(ep)':>4s} {'last val':>8s} {'wall s':>7s}"
    if not a.json:
        print("\n".join(machine.header()))
        print(head)
    for task in a.task:
        for seed in a.seeds:
            for model, config in configs(task, a.hidden, seed, **changes):
                r = run(model, config)
                if a.json:
                    print(json.dumps(r), flush=True)
                    continue
                print(
                    f"{r['task']:9s} {r['model']:12s} {r['layers']:16s} {r['params']:7d} "
                    f"{r['seed']:4d} {r['best_val']:8.2%} {r['best_epoch']:4d} "
                    f"{r['last_val']:8.2%} {r['wall_s']:7.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
