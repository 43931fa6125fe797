"""Training and evaluation loops over an EventDataset; no I/O beyond a callback."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .backend import to_numpy
from .datasets.base import EventDataset
from .datasets.batching import prefetch
from .network import Network
from .optim import Adam


def epoch_seed(seed: int, epoch: int) -> int:
    """The shuffle seed of one epoch: a fresh, reproducible permutation every epoch."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def n_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """Batches per epoch over ``n`` samples."""
    return n // batch_size if drop_last else -(-n // batch_size)


@dataclass
class EpochStats:
    """Running sums of one epoch (JSON-friendly, so an unfinished epoch can be checkpointed)."""

    loss: float = 0.0
    correct: int = 0
    n: int = 0
    batches: int = 0
    active: list[float] = field(default_factory=list)
    rate: list[float] = field(default_factory=list)
    forward_s: float = 0.0
    backward_s: float = 0.0
    step_s: float = 0.0
    epoch_s: float = 0.0

    def add(
        self, loss: float, y: np.ndarray, st: dict[str, Any], step_s: float, wall_s: float
    ) -> None:
        """Account one batch: its loss, labels, ``loss_and_grad`` stats and timings."""
        if not self.active:
            self.active, self.rate = (
                [0.0] * len(st["active_fraction"]),
                [0.0] * len(st["spike_rate"]),
            )
        self.loss += loss * len(y)
        self.correct += int((to_numpy(st["scores"]).argmax(1) == y).sum())
        self.n += len(y)
        self.batches += 1
        self.active = [a + b for a, b in zip(self.active, st["active_fraction"], strict=True)]
        self.rate = [a + b for a, b in zip(self.rate, st["spike_rate"], strict=True)]
        self.forward_s += st["forward_s"]
        self.backward_s += st["backward_s"]
        self.step_s += step_s
        self.epoch_s += wall_s

    def summary(self) -> dict[str, Any]:
        """Mean loss, accuracy, per-layer active fraction and spike rate, seconds."""
        n, nb = max(self.n, 1), max(self.batches, 1)
        return {
            "loss": self.loss / n,
            "train_accuracy": self.correct / n,
            "active_fraction": [a / nb for a in self.active],
            "spike_rate": [r / nb for r in self.rate],
            "forward_s": self.forward_s,
            "backward_s": self.backward_s,
            "step_s": self.step_s,
            "epoch_s": self.epoch_s,
            "samples": self.n,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def train_epoch(
    net: Network,
    opt: Adam,
    data: EventDataset,
    batch_size: int,
    mode: str = "sparse",
    seed: int = 0,
    epoch: int = 0,
    on_batch: Callable[[int, float], Any] | None = None,
    *,
    start: int = 0,
    stats: EpochStats | None = None,
    drop_last: bool = False,
) -> dict[str, Any]:
    """One pass over ``data`` with Adam; returns ``stats.summary()``.

    The batch order is drawn from ``epoch_seed(seed, epoch)``. ``start`` skips the first
    batches (resuming an unfinished epoch whose sums are ``stats``, updated in place).
    ``on_batch(batches_done, loss)`` runs after every complete update; it may raise to stop.
    """
    stats = EpochStats() if stats is None else stats
    t_prev = time.perf_counter()
    seed_e, backend = epoch_seed(seed, epoch), net.backend
    with prefetch(data, batch_size, seed_e, drop_last=drop_last, start=start, backend=backend) as b:
        for done, (x, y) in enumerate(b, start=start + 1):
            loss, grads, st = net.loss_and_grad(x, y, mode=mode)
            t0 = time.perf_counter()
            opt.step(grads)
            t1 = time.perf_counter()
            stats.add(loss, y, st, t1 - t0, t1 - t_prev)
            if on_batch is not None:
                on_batch(done, loss)
            t_prev = time.perf_counter()
    return stats.summary()


def evaluate(net: Network, data: EventDataset, batch_size: int = 256) -> dict[str, Any]:
    """Accuracy, mean cross-entropy and confusion matrix (rows: true class) on ``data``."""
    from .ops.readout import cross_entropy

    K = net.sizes[-1]
    conf = np.zeros((K, K), dtype=np.int64)
    loss = 0.0
    for x, y in data.batches(batch_size, shuffle=False, prepare=True):
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
