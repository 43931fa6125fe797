"""Training and evaluation loops over an EventDataset; no I/O beyond a log callback."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .backend import to_numpy
from .datasets.base import EventDataset
from .network import Network
from .optim import Adam


def epoch_seed(seed: int, epoch: int) -> int:
    """The shuffle seed of one epoch: a fresh, reproducible permutation every epoch."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def train_epoch(
    net: Network,
    opt: Adam,
    data: EventDataset,
    batch_size: int,
    mode: str = "sparse",
    seed: int = 0,
    epoch: int = 0,
    on_batch: Callable[[int, float], Any] | None = None,
) -> dict[str, Any]:
    """One pass over ``data`` with Adam. Returns mean loss, accuracy and per-layer statistics."""
    n_layers = net.n_hidden
    tot = {"loss": 0.0, "correct": 0, "n": 0, "forward_s": 0.0, "backward_s": 0.0, "step_s": 0.0}
    act, rate = np.zeros(n_layers), np.zeros(n_layers)
    n_batches = 0
    t_start = time.perf_counter()
    for x, y in data.batches(batch_size, shuffle=True, seed=epoch_seed(seed, epoch)):
        t0 = time.perf_counter()
        loss, grads, st = net.loss_and_grad(x, y, mode=mode)
        opt.step(grads)
        tot["step_s"] += time.perf_counter() - t0
        n_batches += 1
        tot["loss"] += loss * len(y)
        tot["n"] += len(y)
        tot["forward_s"] += st["forward_s"]
        tot["backward_s"] += st["backward_s"]
        tot["correct"] += int((to_numpy(st["scores"]).argmax(1) == y).sum())
        act += st["active_fraction"]
        rate += st["spike_rate"]
        if on_batch is not None:
            on_batch(n_batches, loss)
    n = max(tot["n"], 1)
    return {
        "loss": tot["loss"] / n,
        "train_accuracy": tot["correct"] / n,
        "active_fraction": (act / max(n_batches, 1)).tolist(),
        "spike_rate": (rate / max(n_batches, 1)).tolist(),
        "forward_s": tot["forward_s"],
        "backward_s": tot["backward_s"],
        "step_s": tot["step_s"],
        "epoch_s": time.perf_counter() - t_start,
    }


def evaluate(net: Network, data: EventDataset, batch_size: int = 256) -> dict[str, Any]:
    """Accuracy, mean cross-entropy and confusion matrix (rows: true class) on ``data``."""
    from .ops.readout import cross_entropy

    K = net.sizes[-1]
    conf = np.zeros((K, K), dtype=np.int64)
    loss = 0.0
    for x, y in data.batches(batch_size, shuffle=False):
        m = net.forward(x)
        ce, _ = cross_entropy(m, net.backend.asarray(y))
        loss += float(ce) * len(y)
        np.add.at(conf, (y, to_numpy(m.argmax(axis=1))), 1)
    n = max(len(data), 1)
    per_class = conf.diagonal() / np.maximum(conf.sum(axis=1), 1)
    return {
        "accuracy": float(conf.trace() / n),
        "loss": loss / n,
        "per_class_accuracy": per_class.tolist(),
        "confusion": conf.tolist(),
    }
