"""The one dataset interface: samples stored as compact event arrays, batched into SpikeEvents.

Every reader (shd, nmnist, fmnist, synthetic) returns an :class:`EventDataset`. Samples are
kept concatenated: ``t[o[k]:o[k+1]]`` and ``i[o[k]:o[k+1]]`` are the time steps and units of
sample k's spikes, binned, de-duplicated and in the engine's order (by t, then i; the
dataset sorts once at construction when a reader gives another order). So a batch is a
gather, not a decode, and its spike matrix is an O(E) placement, not a sort
(:meth:`EventDataset.batch_matrix`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, DataError
from ..spikes import SpikeEvents, SpikeMatrix, place_sorted_events
from .augment import Augment

CHUNK = 1 << 22  # events per step of the order check (bounds its temporary memory)


@dataclass
class EventDataset:
    """Binned spike samples with labels; each sample's events strictly increasing in (t, i).

    Shapes: t, i (E,) int; offsets (n + 1,) int64; labels (n,) int64; every array in
    ``extra`` (per-sample metadata such as SHD speaker ids or file ids) (n,).
    """

    t: np.ndarray
    i: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    T: int
    n_inputs: int
    n_classes: int
    class_names: list[str] = field(default_factory=list)
    name: str = ""
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.offsets = np.asarray(self.offsets, dtype=np.int64)
        n = self.labels.size
        if (
            self.offsets.shape != (n + 1,)
            or self.offsets[0] != 0
            or self.offsets[-1] != self.t.size
        ):
            raise DataError(f"{self.name}: offsets do not match the event arrays")
        if n and (self.labels.min() < 0 or self.labels.max() >= self.n_classes):
            raise DataError(
                f"{self.name}: labels outside 0..{self.n_classes - 1} "
                f"(found {self.labels.min()}..{self.labels.max()})"
            )
        for key, a in self.extra.items():
            if len(a) != n:
                raise DataError(f"{self.name}: extra[{key!r}] has {len(a)} entries for {n} samples")
        if not self.class_names:
            self.class_names = [str(k) for k in range(self.n_classes)]
        self.t, self.i = np.asarray(self.t), np.asarray(self.i)
        for name, a, n in (("t", self.t, self.T), ("i", self.i, self.n_inputs)):
            if a.ndim != 1 or a.size != self.offsets[-1] or (a.size and a.dtype.kind not in "iu"):
                raise DataError(f"{self.name}: {name} must be 1-D integers, one per event")
            if a.size and (a.min() < 0 or a.max() >= n):
                raise DataError(
                    f"{self.name}: {name} outside 0..{n - 1} (found {a.min()}..{a.max()})"
                )
        if not self._in_order():
            self._sort_events()

    def _in_order(self) -> bool:
        """Whether every sample's events are strictly increasing in (t, i) (chunked, O(E))."""
        starts = self.offsets[1:-1]  # where the key may fall: a new sample begins
        for lo in range(0, self.n_events, CHUNK):
            hi = min(lo + CHUNK + 1, self.n_events)
            key = self.t[lo:hi].astype(np.int64) * self.n_inputs + self.i[lo:hi].astype(np.int64)
            drop = np.flatnonzero(key[1:] <= key[:-1]) + lo + 1
            pos = np.minimum(np.searchsorted(starts, drop), max(starts.size - 1, 0))
            if drop.size and not (starts.size and np.all(starts[pos] == drop)):
                return False
        return True

    def _sort_events(self) -> None:
        """Put every sample's events in (t, i) order and drop repeated (t, i) bins."""
        n, T, N = len(self), self.T, self.n_inputs
        sample = np.repeat(np.arange(n, dtype=np.int64), np.diff(self.offsets))
        key = (sample * T + self.t.astype(np.int64)) * N + self.i.astype(np.int64)
        key.sort(kind="stable")  # timsort: fast on keys already grouped by sample
        key = key[np.diff(key, prepend=-1) != 0]
        self.i = (key % N).astype(self.i.dtype)
        key //= N
        self.t = (key % T).astype(self.t.dtype)
        self.offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(key // T, minlength=n), out=self.offsets[1:])

    def __len__(self) -> int:
        return int(self.labels.size)

    @property
    def n_events(self) -> int:
        return int(self.t.size)

    @property
    def events_per_sample(self) -> np.ndarray:
        """Spikes (distinct (t, i) bins) of every sample. Shapes: -> (n,) int64."""
        return np.diff(self.offsets)

    def subset(self, idx: np.ndarray) -> EventDataset:
        """A new dataset holding samples ``idx`` (in that order)."""
        idx = np.asarray(idx, dtype=np.int64)
        t, i, lengths = self._take(idx)
        offsets = np.zeros(idx.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return EventDataset(
            t,
            i,
            offsets,
            self.labels[idx],
            self.T,
            self.n_inputs,
            self.n_classes,
            list(self.class_names),
            self.name,
            {k: a[idx] for k, a in self.extra.items()},
        )

    def split(self, val_fraction: float, seed: int = 0) -> tuple[EventDataset, EventDataset]:
        """(train, validation) by a seeded permutation; validation gets round(n * fraction)."""
        if not 0 <= val_fraction < 1:
            raise ConfigError(f"val_fraction must be in [0, 1); got {val_fraction}")
        perm = np.random.default_rng(seed).permutation(len(self))
        n_val = round(len(self) * val_fraction)
        return self.subset(np.sort(perm[n_val:])), self.subset(np.sort(perm[:n_val]))

    def _take(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Events of samples ``idx`` concatenated (one slice copy per sample, no index array).

        Shapes: idx (m,) -> t, i (E',), events per sample (m,) int64.
        """
        lo, hi = self.offsets[idx], self.offsets[idx + 1]
        spans = list(zip(lo.tolist(), hi.tolist(), strict=True))
        t = np.concatenate([self.t[a:b] for a, b in spans] + [self.t[:0]])
        return t, np.concatenate([self.i[a:b] for a, b in spans] + [self.i[:0]]), hi - lo

    def batch_matrix(
        self, idx: np.ndarray, augment: Augment | None = None, seed: int = 0
    ) -> tuple[SpikeMatrix, np.ndarray]:
        """Samples ``idx`` as one prepared batch: (SpikeMatrix, labels), built in O(E), no sort;
        ``augment`` transforms each sample with draws seeded by ``seed`` and its index.

        Shapes: idx (B,) -> SpikeMatrix T x B rows (t * B + b) of N columns on the host,
        labels (B,) int64.
        """
        idx = np.asarray(idx, dtype=np.int64)
        t, i, lengths = self._take(idx)
        if augment:
            t, i, lengths = augment.apply(t, i, lengths, self.T, self.n_inputs, idx, seed)
        b = np.repeat(np.arange(idx.size), lengths)
        x = place_sorted_events(np, b, t, i, self.T, idx.size, self.n_inputs)
        return x, self.labels[idx]

    def batch(self, idx: np.ndarray) -> tuple[SpikeEvents, np.ndarray]:
        """Samples ``idx`` as one batch: (SpikeEvents of shape (len(idx), T, N), labels)."""
        idx = np.asarray(idx, dtype=np.int64)
        t, i, lengths = self._take(idx)
        b = np.repeat(np.arange(idx.size), lengths)
        x = SpikeEvents(b, t, i, (idx.size, self.T, self.n_inputs))
        return x, self.labels[idx]

    def batch_order(
        self, batch_size: int, shuffle: bool = True, seed: int = 0, drop_last: bool = False
    ) -> list[np.ndarray]:
        """The sample indices of every batch of one pass, in order (what ``batches`` yields).

        A shuffled order is drawn from ``seed`` (vary it per epoch).
        """
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1; got {batch_size}")
        order = (
            np.random.default_rng(seed).permutation(len(self)) if shuffle else np.arange(len(self))
        )
        stop = len(self) - (len(self) % batch_size if drop_last else 0)
        return [order[lo : lo + batch_size] for lo in range(0, stop, batch_size)]

    def batches(
        self,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        prepare: bool = False,
    ) -> Iterator[tuple[SpikeEvents | SpikeMatrix, np.ndarray]]:
        """Yield (x, y) batches in :meth:`batch_order`; x is SpikeEvents, or with ``prepare``
        the engine's SpikeMatrix (:meth:`batch_matrix`)."""
        make = self.batch_matrix if prepare else self.batch
        for idx in self.batch_order(batch_size, shuffle, seed, drop_last):
            yield make(idx)

    def __repr__(self) -> str:
        return (
            f"EventDataset({self.name!r}, n={len(self)}, T={self.T}, n_inputs={self.n_inputs}, "
            f"n_classes={self.n_classes}, events={self.n_events})"
        )
