"""Training and evaluation loops over an EventDataset; no I/O beyond a callback."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .backend import Array, to_numpy
from .datasets.base import EventDataset
from .datasets.batching import prefetch
from .distributed import MPIComm, reduce_grads, shard
from .errors import ConfigError, TrainingError
from .network import Network, StepStats
from .optim import Adam


def epoch_seed(seed: int, epoch: int) -> int:
    """The shuffle seed of one epoch: a fresh, reproducible permutation every epoch."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def n_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """Batches per epoch over ``n`` samples."""
    return n // batch_size if drop_last else -(-n // batch_size)


def batch_len(n: int, batch_size: int, k: int) -> int:
    """Samples in batch ``k`` (1-based) of a pass over ``n`` samples."""
    return min(batch_size, n - (k - 1) * batch_size)


@dataclass
class EpochStats:
    """Running sums of one epoch (JSON-friendly, so an unfinished epoch can be checkpointed).

    forward_s and backward_s are summed only over batches timed with ``timing=True``;
    comm_s: seconds in the collectives of data-parallel training (0 in one process).
    """

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
    comm_s: float = 0.0
    timed: bool = False

    def summary(self) -> dict[str, Any]:
        """Mean loss, accuracy, per-layer active fraction and spike rate, seconds (forward_s
        and backward_s None when no batch was timed)."""
        n, nb = max(self.n, 1), max(self.batches, 1)
        return {
            "loss": self.loss / n,
            "train_accuracy": self.correct / n,
            "active_fraction": [a / nb for a in self.active],
            "spike_rate": [r / nb for r in self.rate],
            "forward_s": self.forward_s if self.timed else None,
            "backward_s": self.backward_s if self.timed else None,
            "step_s": self.step_s,
            "epoch_s": self.epoch_s,
            "comm_s": self.comm_s,
            "samples": self.n,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _DeviceSums:
    """The sums of an epoch that come from device values (loss, correct predictions, active
    fractions) and the first non-finite batch, kept on the device and read every few batches.

    They start from the host values of ``stats`` and add batch by batch in float64 in the
    order of the host sums, so reading them at other batches changes no bit.
    """

    def __init__(self, xp: Any, stats: EpochStats) -> None:
        self.xp, self.stats = xp, stats
        self.loss = xp.asarray(stats.loss, dtype=xp.float64)
        self.correct = xp.asarray(stats.correct, dtype=xp.int64)
        self.active = xp.asarray(stats.active, dtype=xp.float64) if stats.active else None
        self.bad = xp.asarray([-1.0, 0.0])  # (first non-finite batch or -1, its loss)
        self.last = xp.asarray(float("nan"))

    def add(self, loss: Any, n: int, correct: Any, frac: Array, done: int, params: dict) -> None:
        """Account one batch of ``n`` samples (its update done): no read of the device.

        Shapes: loss () mean over the batch, correct () int, frac (L,) active fractions.
        """
        xp = self.xp
        loss = xp.asarray(loss, dtype=xp.float64)
        self.loss = self.loss + loss * n
        self.correct = self.correct + correct
        self.active = frac if self.active is None else self.active + frac
        values = [loss.reshape(1)] + [p.reshape(-1) for p in params.values()]
        finite = xp.isfinite(xp.concatenate(values)).all()  # loss and parameters: one reduction
        first = (~finite) & (self.bad[0] < 0)
        self.bad = xp.where(first, xp.stack([xp.asarray(float(done)), loss]), self.bad)
        self.last = loss

    def read(self, epoch: int) -> float:
        """Copy the sums into ``stats`` (one read of the device); the last batch's loss.

        Raises TrainingError if a batch left a non-finite loss or parameter.
        """
        xp = self.xp
        parts = [self.loss, self.correct.astype(xp.float64), self.last]
        head = xp.stack(parts)
        active = self.active if self.active is not None else xp.zeros(0)
        vals = xp.concatenate([head, self.bad, active]).tolist()
        self.stats.loss, self.stats.correct = vals[0], int(vals[1])
        self.stats.active = vals[5:]
        if vals[3] >= 0:
            raise TrainingError(
                f"non-finite loss or parameters at epoch {epoch + 1}, batch {int(vals[3])} "
                f"(loss {vals[4]})"
            )
        return vals[2]


def data_parallel_step(
    net: Network, x: Any, y: np.ndarray, mode: str, timed: dict, comm: MPIComm, n: int
) -> tuple[Any, dict[str, Array], Any, Array, list[float], StepStats | None, float]:
    """One global batch of ``n`` samples of which this rank holds (x, y), possibly none.

    Returns the batch's mean loss, gradients (mean over the global batch), correct
    predictions, active fractions and spike rates, all reduced over the ranks; this rank's
    StepStats (None for an empty share); and the seconds spent in the collectives.
    Shapes: x (b, T, N0) with b = len(y) <= n; active fractions (L,), rates [L].
    """
    xp, w = net.backend.xp, len(y) / n
    if len(y):
        loss, grads, st = net.loss_and_grad(x, y, mode=mode, **timed)
        correct = (st["scores"].argmax(axis=1) == xp.asarray(y)).sum()
        head = xp.stack([xp.asarray(loss, dtype=xp.float64) * w, correct.astype(xp.float64)])
        terms = xp.concatenate([head, st.active_fraction_on_device() * w])
        rate = np.asarray(st["spike_rate"], dtype=np.float64) * w
    else:
        st = None
        grads = {k: xp.zeros(shape, dtype=net.dtype) for k, shape in net.param_shapes().items()}
        terms, rate = xp.zeros(2 + net.n_hidden), np.zeros(net.n_hidden)
    t0 = time.perf_counter()
    grads = reduce_grads(comm, grads, w)
    comm.allreduce(terms)
    comm.allreduce_host(rate)
    spent = time.perf_counter() - t0
    return terms[0], grads, terms[1].astype(xp.int64), terms[2:], rate.tolist(), st, spent


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
    read_every: int = 10,
    timing: bool = False,
    comm: MPIComm | None = None,
) -> dict[str, Any]:
    """One pass over ``data`` with Adam; returns ``stats.summary()``.

    The batch order is drawn from ``epoch_seed(seed, epoch)``. ``start`` skips the first
    batches (resuming an unfinished epoch whose sums are ``stats``, updated in place).
    ``on_batch(batches_done, loss)`` runs after every complete update; it may raise to stop
    (``stats`` is brought up to date first). The device is read after the first batch, every
    ``read_every`` batches and at the end (one read each): ``loss`` is the latest loss read,
    and a non-finite loss or parameter raises TrainingError naming its batch.
    ``timing=True`` times forward and backward of every batch (one more read per batch).
    ``comm``: data-parallel training (spikegrad.distributed): this rank computes on its share
    of every batch of ``batch_size`` (the global batch), gradients and sums are reduced over
    the ranks, so every rank makes the same update and ends with the same ``stats``
    (``comm_s``: seconds in the collectives; forward and backward times are this rank's).
    """
    if read_every < 1:
        raise ConfigError(f"read_every must be >= 1; got {read_every}")
    stats = EpochStats() if stats is None else stats
    xp = net.backend.xp
    sums = _DeviceSums(xp, stats)
    timed = {"timing": True} if timing else {}
    last = float("nan")
    t_prev = time.perf_counter()
    seed_e, backend = epoch_seed(seed, epoch), net.backend
    part = None if comm is None else lambda n: shard(n, comm.rank, comm.size)
    kw = {"drop_last": drop_last, "start": start, "backend": backend, "part": part}
    with prefetch(data, batch_size, seed_e, **kw) as b:
        for done, (x, y) in enumerate(b, start=start + 1):
            if comm is None:
                loss, grads, st = net.loss_and_grad(x, y, mode=mode, **timed)
                n, correct = len(y), (st["scores"].argmax(axis=1) == xp.asarray(y)).sum()
                frac, rate = st.active_fraction_on_device(), st["spike_rate"]
            else:
                n = batch_len(len(data), batch_size, done)
                loss, grads, correct, frac, rate, st, spent = data_parallel_step(
                    net, x, y, mode, timed, comm, n
                )
                stats.comm_s += spent
            t0 = time.perf_counter()
            opt.step(grads, check_finite=False)  # checked below with the loss, no device read
            t1 = time.perf_counter()
            sums.add(loss, n, correct, frac, done, net.params)
            if not stats.rate:
                stats.rate = [0.0] * len(rate)
            stats.rate = [a + b for a, b in zip(stats.rate, rate, strict=True)]
            stats.n += n
            stats.batches += 1
            stats.step_s += t1 - t0
            stats.epoch_s += t1 - t_prev
            if timing and st is not None:
                stats.forward_s += st["forward_s"]
                stats.backward_s += st["backward_s"]
                stats.timed = True
            if done == start + 1 or done % read_every == 0:
                last = sums.read(epoch)
            if on_batch is not None:
                try:
                    on_batch(done, last)
                except BaseException:
                    sums.read(epoch)
                    raise
            t_prev = time.perf_counter()
    sums.read(epoch)
    return stats.summary()


def evaluate(
    net: Network, data: EventDataset, batch_size: int = 256, comm: MPIComm | None = None
) -> dict[str, Any]:
    """Accuracy, mean cross-entropy and confusion matrix (rows: true class) on ``data``.

    ``comm``: every rank evaluates its contiguous share of ``data`` and the sums are reduced,
    so every rank returns the result over all of ``data``.
    """
    from .ops.readout import cross_entropy

    K = net.sizes[-1]
    xp = net.backend.xp
    n = max(len(data), 1)
    if comm is not None:
        data = data.subset(np.arange(len(data))[shard(len(data), comm.rank, comm.size)])
    conf = np.zeros((K, K), dtype=np.int64)
    loss = xp.zeros((), dtype=xp.float64)  # summed on the device; predictions come to the host
    for x, y in data.batches(batch_size, shuffle=False, prepare=True):
        m = net.forward(x)
        ce, _ = cross_entropy(m, net.backend.asarray(y))
        loss = loss + xp.asarray(ce, dtype=xp.float64) * len(y)
        np.add.at(conf, (y, to_numpy(m.argmax(axis=1))), 1)
    if comm is not None:
        sums = comm.allreduce_host(np.concatenate([[float(loss)], conf.ravel()]))
        loss, conf = sums[0], sums[1:].astype(np.int64).reshape(K, K)
    per_class = conf.diagonal() / np.maximum(conf.sum(axis=1), 1)
    return {
        "accuracy": float(conf.trace() / n),
        "loss": float(loss) / n,
        "per_class_accuracy": per_class.tolist(),
        "confusion": conf.tolist(),
    }
