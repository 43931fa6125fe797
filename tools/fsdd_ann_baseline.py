"""Non-spiking reference networks (PyTorch) on the same FSDD spikes the SNN recipe trains on.

How much of the spoken digits do the encoded spikes still carry? This trains a GRU or a
temporal CNN on spike counts of the training split (20 ms x 5 channels: 50 steps x 140
inputs, standardised per input), with the same seeded 10 % validation slice as
``spikegrad train --dataset fsdd --seed S``, and prints the validation accuracy per epoch and
the best. PyTorch is not a spikegrad dependency: ``pip install torch``.

    python tools/fsdd_ann_baseline.py --data-dir DATA --model cnn --seed 0
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import spikegrad as sg

STEP, BAND = 5, 5  # 5 steps of 4 ms, 5 channels


def counts(data: sg.datasets.EventDataset) -> tuple[np.ndarray, np.ndarray]:
    """Spike counts per (sample, 20 ms, 5 channels). Shapes: -> (n, T/5, N/5), (n,)."""
    x = np.zeros((len(data), data.T // STEP, data.n_inputs // BAND), np.float32)
    s = np.repeat(np.arange(len(data)), data.events_per_sample)
    np.add.at(x, (s, data.t // STEP, data.i // BAND), 1.0)
    return x, data.labels


def network(torch: Any, model: str, n_in: int, n_classes: int) -> Any:
    """A GRU of 128 (mean over time) or three temporal convolutions (max over time), both
    after a dropout of 0.2 on the input."""
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.drop = nn.Dropout(0.2)
            if model == "gru":
                self.gru = nn.GRU(n_in, 128, batch_first=True)
            else:
                layers: list[Any] = []
                for k, width, pool in ((5, n_in, True), (5, 128, True), (3, 128, False)):
                    layers += [nn.Conv1d(width, 128, k, padding=k // 2), nn.BatchNorm1d(128)]
                    layers += [nn.ReLU(), nn.MaxPool1d(2) if pool else nn.Dropout(0.3)]
                self.conv = nn.Sequential(*layers)
            self.out = nn.Linear(128, n_classes)  # last: the runs' order of draws

        def forward(self, x: Any) -> Any:
            x = self.drop(x)
            if model == "gru":
                return self.out(self.gru(x)[0].mean(1))
            return self.out(self.conv(x.transpose(1, 2)).amax(2))

    return Net()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True, help="The folder holding fsdd/.")
    p.add_argument("--model", choices=("gru", "cnn"), default="cnn")
    p.add_argument("--seed", type=int, default=0, help="Validation slice and initial weights.")
    p.add_argument("--epochs", type=int, default=40)
    a = p.parse_args()
    import torch  # not a spikegrad dependency

    torch.set_num_threads(1)
    data = sg.datasets.load("fsdd", root=a.data_dir, split="train")
    train, val = data.split(0.1, seed=a.seed)
    (xt, yt), (xv, yv) = (tuple(map(torch.tensor, counts(d))) for d in (train, val))
    mean, std = xt.mean((0, 1)), xt.std((0, 1)) + 1e-3
    xt, xv = (xt - mean) / std, (xv - mean) / std
    torch.manual_seed(a.seed)
    net = network(torch, a.model, xt.shape[2], data.n_classes)
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    best = 0.0
    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        net.train()
        order = torch.randperm(len(xt))
        for k in range(0, len(xt), 64):
            idx = order[k : k + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            acc = (net(xv).argmax(1) == yv).float().mean().item()
        best = max(best, acc)
        print(f"epoch {epoch} val {acc:.4f} ({time.perf_counter() - t0:.1f} s)", flush=True)
    print(f"best val accuracy {best:.4f} ({a.model}, seed {a.seed}, {len(val)} recordings)")


if __name__ == "__main__":
    main()
