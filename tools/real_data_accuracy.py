"""Train on the real N-MNIST subset and on Fashion-MNIST with the paper's settings; print accuracy.

* N-MNIST: the 1,000-recording training list, evaluated on the 100-recording test list
  (unbalanced: a smoke test, not an accuracy claim); 1156-200-200-10, uniform init, T = 300.
* Fashion-MNIST: training split only. The last 10,000 training images are the validation
  slice (the official test split is never touched); training uses the first ``--fmnist-train``
  of the other 50,000. Latency encoding, 784-200-200-10, normal init, T = 100.

Both: batch 256, max-over-time readout, regulariser with the paper's constants (f_up = 1),
Adam with the paper's lr 2e-4 and, for comparison, ``--lr`` values given; sparse and dense.
Every epoch prints validation accuracy, train loss/accuracy, the active fractions and times.

Usage: python tools/real_data_accuracy.py --data DATA_ROOT [--which nmnist fmnist]
       [--epochs-nmnist 20] [--epochs-fmnist 5] [--lr 2e-4 1e-3] [--modes sparse dense]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np

import spikegrad as sg
from spikegrad import datasets
from spikegrad.bench import machine
from spikegrad.train.evaluate import evaluate
from spikegrad.train.loop import train_epoch

REG = {"lambda_up": 0.06, "f_up": 1.0, "p_up": 1.0, "lambda_low": 100.0, "f_low": 1e-3}


def data_sets(name: str, root: Path, n_train: int) -> tuple[object, object, str]:
    """(train, validation, what the validation set is)."""
    if name == "nmnist":
        train = datasets.load("nmnist", root=root, split="train")
        return train, datasets.load("nmnist", root=root, split="test"), "test100 list"
    full = datasets.load("fmnist", root=root, split="train")
    val = full.subset(np.arange(len(full) - 10_000, len(full)))
    train = full.subset(np.arange(min(n_train, len(full) - 10_000)))
    return train, val, "last 10,000 training images"


def run(name: str, train, val, mode: str, lr: float, epochs: int, seed: int) -> None:
    init = "normal" if name == "fmnist" else "uniform"
    net = sg.Network([train.n_inputs, 200, 200, 10], readout="max", reg=REG, init=init, seed=seed)
    opt = sg.Adam(net.params, lr=lr)
    print(f"\n== {name} {mode} lr {lr:g}: train {len(train)}, validation {len(val)}", flush=True)
    for ep in range(epochs):
        t0 = time.perf_counter()
        st = train_epoch(
            net,
            opt,
            train,
            256,
            mode=mode,
            seed=seed,
            epoch=ep,
            drop_last=name == "fmnist",
            timing=True,
        )
        t_train = time.perf_counter() - t0
        ev = evaluate(net, val)
        act = "/".join(f"{100 * a:.2f}" for a in st["active_fraction"])
        print(
            f"{name} {mode:6s} lr {lr:g} epoch {ep + 1:2d}: val acc {100 * ev['accuracy']:5.2f} % "
            f"(loss {ev['loss']:.3f}) | train loss {st['loss']:.3f} acc "
            f"{100 * st['train_accuracy']:5.2f} % | active {act} % | "
            f"epoch {t_train:6.1f} s (fwd {st['forward_s']:.1f} s, bwd {st['backward_s']:.1f} s), "
            f"eval {time.perf_counter() - t0 - t_train:.1f} s",
            flush=True,
        )


def main() -> None:
    default = os.environ.get("SPIKEGRAD_DATA")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--data",
        type=Path,
        default=default,
        required=default is None,
        help="data root (default: $SPIKEGRAD_DATA)",
    )
    ap.add_argument(
        "--which", nargs="+", default=["nmnist", "fmnist"], choices=["nmnist", "fmnist"]
    )
    ap.add_argument("--epochs-nmnist", type=int, default=20)
    ap.add_argument("--epochs-fmnist", type=int, default=5)
    ap.add_argument("--fmnist-train", type=int, default=50_000, help="training images used")
    ap.add_argument("--lr", type=float, nargs="+", default=[2e-4, 1e-3])
    ap.add_argument("--modes", nargs="+", default=["sparse", "dense"], choices=["sparse", "dense"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    warnings.simplefilter("ignore", RuntimeWarning)  # "no active neuron" early in training
    print("\n".join(machine.header()))
    print(f"NumPy backend; data root {args.data}")
    for name in args.which:
        t0 = time.perf_counter()
        train, val, what = data_sets(name, args.data, args.fmnist_train)
        print(f"{name}: loaded in {time.perf_counter() - t0:.1f} s; validation = {what}")
        epochs = args.epochs_nmnist if name == "nmnist" else args.epochs_fmnist
        for lr in args.lr:
            for mode in args.modes:
                run(name, train, val, mode, lr, epochs, args.seed)


if __name__ == "__main__":
    main()
