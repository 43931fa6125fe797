"""The training loop over an EventDataset: one step function, one epoch; no I/O beyond a
callback. One process and a data-parallel job run the same code (the communicator of one
process makes every collective the identity)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ..backend import Array
from ..datasets.augment import Augment
from ..datasets.base import EventDataset
from ..datasets.batching import prefetch
from ..distributed import SINGLE, Comm, shard
from ..errors import ConfigError, TrainingError
from ..network import Network, StepStats
from ..optim import Adam


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

    def add(self, r: Step, n: int, step_s: float, batch_s: float, timing: bool) -> None:
        """Account the host values of one step of ``n`` samples (the device sums are
        :class:`_DeviceSums`'): spike rates, counts, seconds (forward and backward with
        ``timing``)."""
        self.rate = [a + b for a, b in zip(self.rate or [0.0] * len(r.rate), r.rate, strict=True)]
        self.n += n
        self.batches += 1
        self.step_s += step_s
        self.epoch_s += batch_s
        self.comm_s += r.comm_s
        if timing and r.stats is not None:
            self.forward_s += r.stats["forward_s"]
            self.backward_s += r.stats["backward_s"]
            self.timed = True


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


class Step(NamedTuple):
    """One update's worth of a global batch, reduced over the ranks (so the same on each).

    Shapes: loss () float64 (mean over the global batch), grads {name: param shape},
    correct () int64, frac (L,) float64 active fractions, rate [L] spike rates; stats: this
    rank's StepStats (None for an empty share); comm_s: seconds in the collectives.
    """

    loss: Any
    grads: dict[str, Array]
    correct: Any
    frac: Array
    rate: list[float]
    stats: StepStats | None
    comm_s: float


def step(
    net: Network, x: Any, y: np.ndarray, mode: str, comm: Comm, n: int, timing: bool = False
) -> Step:
    """Loss, gradients and sums of one global batch of ``n`` samples of which this rank holds
    (x, y), possibly none; each rank's terms are weighted by its share ``len(y) / n`` and
    summed over the ranks. ``timing``: time forward and backward (StepStats).

    Shapes: x (b, T, N0) with b = len(y) <= n.
    """
    xp, w, busy = net.backend.xp, len(y) / n, comm.busy_s
    if len(y):
        loss, grads, st = net.loss_and_grad(x, y, mode=mode, **({"timing": True} if timing else {}))
        correct = (st["scores"].argmax(axis=1) == xp.asarray(y)).sum()
        head = xp.stack([xp.asarray(loss, dtype=xp.float64) * w, correct.astype(xp.float64)])
        terms = xp.concatenate([head, st.active_fraction_on_device() * w])
        rate = np.asarray(st["spike_rate"], dtype=np.float64) * w
    else:
        st = None
        grads = {k: xp.zeros(shape, dtype=net.dtype) for k, shape in net.param_shapes().items()}
        terms, rate = xp.zeros(2 + net.n_hidden), np.zeros(net.n_hidden)
    grads = comm.reduce_grads(grads, w)
    comm.allreduce(terms)
    comm.allreduce_host(rate)
    correct = terms[1].astype(xp.int64)
    return Step(terms[0], grads, correct, terms[2:], rate.tolist(), st, comm.busy_s - busy)


def batches(
    data: EventDataset, batch_size: int, seed: int, epoch: int, comm: Comm, **kw: Any
) -> Any:
    """The batches of epoch ``epoch`` (order from :func:`epoch_seed`), this rank's share of
    each, prefetched (``kw``: ``drop_last``, ``start``, ``backend``); a context manager."""
    part = lambda m: shard(m, comm.rank, comm.size)  # noqa: E731
    return prefetch(data, batch_size, epoch_seed(seed, epoch), part=part, **kw)


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
    augment: Augment | None = None,
    read_every: int = 10,
    timing: bool = False,
    comm: Comm = SINGLE,
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
    sums = _DeviceSums(net.backend.xp, stats)
    last = float("nan")
    t_prev = time.perf_counter()
    kw = {"drop_last": drop_last, "start": start, "backend": net.backend, "augment": augment}
    with batches(data, batch_size, seed, epoch, comm, **kw) as each:
        for done, (x, y) in enumerate(each, start=start + 1):
            n = batch_len(len(data), batch_size, done)
            r = step(net, x, y, mode, comm, n, timing)
            t0 = time.perf_counter()
            opt.step(r.grads, check_finite=False)  # checked below with the loss, no device read
            t1 = time.perf_counter()
            sums.add(r.loss, n, r.correct, r.frac, done, net.params)
            stats.add(r, n, t1 - t0, t1 - t_prev, timing)
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
